package model

import (
	"errors"
	"fmt"
	"strings"
)

// Tenant names a Microsoft Entra tenant the way the tenant restrictions
// header takes it: "Any domain that is registered with a tenant can be used
// to identify the tenant in this list, and the directory ID itself"
// (Microsoft Entra, "Restrict access to a tenant", Proxy configuration;
// docs/reference/botauth.md §5.1). A domain is normalised as a Host is
// (lower case, no trailing dot, IDNA A-labels), a directory ID to lower case.
// The zero value is the empty, invalid tenant.
type Tenant struct {
	name string
	id   bool
}

// ErrNotTenantID is wrapped by ParseTenantID's error for a domain given
// where only a directory ID will do.
var ErrNotTenantID = errors.New("not a directory ID")

// ParseTenant parses a tenant domain ("contoso.com",
// "contoso.onmicrosoft.com") or directory ID (a GUID).
func ParseTenant(s string) (Tenant, error) {
	t := strings.TrimSpace(s)
	if isGUID(t) {
		return Tenant{name: strings.ToLower(t), id: true}, nil
	}
	if t == "" {
		return Tenant{}, fmt.Errorf("tenant %q is empty (want a domain of the tenant, such as contoso.com, or its directory ID)", s)
	}
	if strings.HasPrefix(t, "*.") {
		return Tenant{}, fmt.Errorf("tenant %q: a tenant is one domain or directory ID, not a wildcard", s)
	}
	h, err := ParseHost(t)
	if err != nil {
		return Tenant{}, fmt.Errorf("tenant %q is neither a directory ID nor a domain: %w", s, err)
	}
	if !strings.Contains(h.Domain(), ".") {
		return Tenant{}, fmt.Errorf("tenant %q is neither a directory ID (a GUID) nor a domain (such as contoso.com)", s)
	}
	return Tenant{name: h.Domain()}, nil
}

// ParseTenantID parses a tenant's directory ID, a GUID such as
// 72f988bf-86f1-41af-91ab-2d7cd011db47: Restrict-Access-Context takes "a
// single directory ID" and no domain.
func ParseTenantID(s string) (Tenant, error) {
	t, err := ParseTenant(s)
	if err != nil {
		return Tenant{}, err
	}
	if !t.id {
		return Tenant{}, fmt.Errorf("%q is a domain, %w: want the tenant's directory ID, a GUID (Microsoft Entra admin center, Overview, Tenant ID)", s, ErrNotTenantID)
	}
	return t, nil
}

// MustParseTenant is ParseTenant for tests; it panics on error.
func MustParseTenant(s string) Tenant {
	t, err := ParseTenant(s)
	if err != nil {
		panic(err)
	}
	return t
}

// isGUID reports whether s has the 8-4-4-4-12 hexadecimal form of a
// directory ID.
func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// IsValid reports whether t is not the zero value.
func (t Tenant) IsValid() bool { return t.name != "" }

// IsID reports whether t is a directory ID rather than a domain.
func (t Tenant) IsID() bool { return t.id }

// String returns the normalised domain or directory ID.
func (t Tenant) String() string { return t.name }

// MarshalText implements encoding.TextMarshaler.
func (t Tenant) MarshalText() ([]byte, error) { return []byte(t.name), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (t *Tenant) UnmarshalText(b []byte) error {
	v, err := ParseTenant(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// AppType is how an Azure Bot resource's identity is set up, the SDKs'
// MicrosoftAppType (docs/reference/botauth.md §1.6): it decides which tenant
// issues the bot's own token. The zero value is MultiTenant, as the SDKs
// read an empty MicrosoftAppType.
type AppType uint8

// The app types.
const (
	// MultiTenant: the bot's token comes from the botframework.com tenant.
	MultiTenant AppType = iota
	// SingleTenant: from the bot's own tenant (MicrosoftAppTenantId).
	SingleTenant
	// UserAssignedMSI: a user-assigned managed identity of the bot's own
	// tenant.
	UserAssignedMSI
)

// AppTypes lists the app types in order.
var AppTypes = []AppType{MultiTenant, SingleTenant, UserAssignedMSI}

var appTypeNames = [...]string{"multi-tenant", "single-tenant", "user-assigned-msi"}

// sdkAppTypeNames are the SDKs' spellings, for a hint.
var sdkAppTypeNames = [...]string{"MultiTenant", "SingleTenant", "UserAssignedMSI"}

// ParseAppType parses "multi-tenant", "single-tenant" or
// "user-assigned-msi".
func ParseAppType(s string) (AppType, error) {
	for i, n := range appTypeNames {
		if s == n {
			return AppType(i), nil
		}
	}
	for i, n := range sdkAppTypeNames {
		if strings.EqualFold(s, n) {
			return 0, fmt.Errorf("app type %q: write MicrosoftAppType %s as %s", s, n, appTypeNames[i])
		}
	}
	return 0, fmt.Errorf("unknown app type %q (want %s)", s, AppTypeNames())
}

// AppTypeNames lists the app types as the spec writes them: "multi-tenant,
// single-tenant, user-assigned-msi".
func AppTypeNames() string { return strings.Join(appTypeNames[:], ", ") }

func (a AppType) String() string {
	if int(a) < len(appTypeNames) {
		return appTypeNames[a]
	}
	return fmt.Sprintf("AppType(%d)", uint8(a))
}

// OwnTenant reports whether the bot's identity lives in its own tenant
// (single-tenant or a user-assigned managed identity) rather than in
// botframework.com.
func (a AppType) OwnTenant() bool { return a == SingleTenant || a == UserAssignedMSI }

// MarshalText implements encoding.TextMarshaler.
func (a AppType) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (a *AppType) UnmarshalText(b []byte) error {
	v, err := ParseAppType(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// TenantRestrictionHosts are the sign-in hosts where a proxy sets the
// tenant restrictions (v1) headers: "For each outgoing request to
// login.microsoftonline.com, login.microsoft.com, and login.windows.net,
// insert two HTTP headers" (Microsoft Entra, "Restrict access to a tenant";
// docs/reference/botauth.md §5.1). Subdomains are not among them: the same
// page has device.login.microsoftonline.com and
// enterpriseregistration.windows.net left out of TLS inspection.
var TenantRestrictionHosts = []string{"login.microsoftonline.com", "login.microsoft.com", "login.windows.net"}

// TenantRestrictionExcluded are the hosts Microsoft says to keep out of
// TLS break-and-inspect and header injection, because their client
// certificate authentication breaks under it.
var TenantRestrictionExcluded = []string{"device.login.microsoftonline.com", "enterpriseregistration.windows.net"}

// The tenant restrictions (v1) headers.
const (
	// HeaderRestrictTenants carries the permitted tenants, separated by
	// commas.
	HeaderRestrictTenants = "Restrict-Access-To-Tenants"
	// HeaderRestrictContext carries the directory ID of the tenant that
	// sets the policy; blocked sign-ins are logged there.
	HeaderRestrictContext = "Restrict-Access-Context"
)

// TenantRestrictions is a deployment's tenant restrictions (v1) policy as
// planned: the tenants Restrict-Access-To-Tenants must carry, in order, each
// with why, and the Restrict-Access-Context.
type TenantRestrictions struct {
	Tenants []TenantEntry
	// Context is the directory ID of the tenant setting the policy.
	Context Tenant
	// Hosts are the sign-in hosts the headers go to
	// (TenantRestrictionHosts).
	Hosts []Host
}

// TenantEntry is one tenant of the header and why it is there.
type TenantEntry struct {
	Tenant Tenant
	// Integration is the integration whose bot needs the tenant; empty for
	// a tenant of the spec's own list.
	Integration string
	// Reason says why the tenant is on the list.
	Reason    string
	Reference Reference
}

// TenantList returns the tenants as the header lists them.
func (tr *TenantRestrictions) TenantList() []string {
	out := make([]string, len(tr.Tenants))
	for i, e := range tr.Tenants {
		out[i] = e.Tenant.String()
	}
	return out
}

// HeaderValue is the value of Restrict-Access-To-Tenants: the tenants,
// separated by commas.
func (tr *TenantRestrictions) HeaderValue() string { return strings.Join(tr.TenantList(), ",") }

// Has reports whether the list holds the tenant (as written: a domain and
// the directory ID of the same tenant are not known to be one).
func (tr *TenantRestrictions) Has(t Tenant) bool {
	for _, e := range tr.Tenants {
		if e.Tenant == t {
			return true
		}
	}
	return false
}
