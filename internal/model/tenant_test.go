package model

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseTenant(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		wantID  bool
		wantErr string
	}{
		{name: "domain", in: "contoso.com", want: "contoso.com"},
		{name: "onmicrosoft domain", in: "fabrikam.onmicrosoft.com", want: "fabrikam.onmicrosoft.com"},
		{name: "domain case and trailing dot", in: " Contoso.COM. ", want: "contoso.com"},
		{name: "domain IDNA", in: "Bücher.example", want: "xn--bcher-kva.example"},
		{name: "directory ID", in: "72f988bf-86f1-41af-91ab-2d7cd011db47", want: "72f988bf-86f1-41af-91ab-2d7cd011db47", wantID: true},
		{name: "directory ID upper case", in: "72F988BF-86F1-41AF-91AB-2D7CD011DB47", want: "72f988bf-86f1-41af-91ab-2d7cd011db47", wantID: true},
		{name: "directory ID spaces", in: "\t72f988bf-86f1-41af-91ab-2d7cd011db47 ", want: "72f988bf-86f1-41af-91ab-2d7cd011db47", wantID: true},
		{name: "botframework.com", in: "botframework.com", want: "botframework.com"},
		{
			name:    "empty",
			in:      "",
			wantErr: `tenant "" is empty (want a domain of the tenant, such as contoso.com, or its directory ID)`,
		},
		{
			name:    "blank",
			in:      "  ",
			wantErr: `tenant "  " is empty`,
		},
		{
			name:    "wildcard",
			in:      "*.contoso.com",
			wantErr: `tenant "*.contoso.com": a tenant is one domain or directory ID, not a wildcard`,
		},
		{
			name:    "bare star",
			in:      "*",
			wantErr: `tenant "*" is neither a directory ID nor a domain: host "*": a wildcard may only be the whole left-most label`,
		},
		{
			name:    "bare label",
			in:      "contoso",
			wantErr: `tenant "contoso" is neither a directory ID (a GUID) nor a domain (such as contoso.com)`,
		},
		{
			// Without its hyphens a directory ID is one label, not a GUID.
			name:    "GUID without hyphens",
			in:      "72f988bf86f141af91ab2d7cd011db47",
			wantErr: `tenant "72f988bf86f141af91ab2d7cd011db47" is neither a directory ID (a GUID) nor a domain`,
		},
		{
			name:    "GUID in braces",
			in:      "{72f988bf-86f1-41af-91ab-2d7cd011db47}",
			wantErr: `tenant "{72f988bf-86f1-41af-91ab-2d7cd011db47}" is neither a directory ID nor a domain: host`,
		},
		{
			name:    "not hexadecimal",
			in:      "72f988bg-86f1-41af-91ab-2d7cd011db47",
			wantErr: `tenant "72f988bg-86f1-41af-91ab-2d7cd011db47" is neither a directory ID (a GUID) nor a domain`,
		},
		{
			name:    "IP address",
			in:      "192.0.2.1",
			wantErr: `tenant "192.0.2.1" is neither a directory ID nor a domain: host "192.0.2.1": an IP address or prefix is not a host name`,
		},
		{
			name:    "URL",
			in:      "https://login.microsoftonline.com/contoso.com",
			wantErr: `tenant "https://login.microsoftonline.com/contoso.com" is neither a directory ID nor a domain`,
		},
		{
			name:    "space inside",
			in:      "contoso .com",
			wantErr: `tenant "contoso .com" is neither a directory ID nor a domain`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTenant(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("ParseTenant(%q) = %v, %v; want the error %q", tt.in, got, err, tt.wantErr)
				}
				if got.IsValid() {
					t.Errorf("ParseTenant(%q) failed but returned the valid tenant %v", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTenant(%q): %v", tt.in, err)
			}
			if got.String() != tt.want || got.IsID() != tt.wantID || !got.IsValid() {
				t.Errorf("ParseTenant(%q) = %q (ID %v); want %q (ID %v)", tt.in, got, got.IsID(), tt.want, tt.wantID)
			}
			back, err := ParseTenant(got.String())
			if err != nil || back != got {
				t.Errorf("round trip %q → %q → %v, %v", tt.in, got, back, err)
			}
		})
	}
}

func TestParseTenantID(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr string
		notID   bool
	}{
		{name: "lower", in: "72f988bf-86f1-41af-91ab-2d7cd011db47", want: "72f988bf-86f1-41af-91ab-2d7cd011db47"},
		{name: "upper", in: "72F988BF-86F1-41AF-91AB-2D7CD011DB47", want: "72f988bf-86f1-41af-91ab-2d7cd011db47"},
		{
			name:    "domain",
			in:      "Contoso.com",
			wantErr: `"Contoso.com" is a domain, not a directory ID: want the tenant's directory ID, a GUID`,
			notID:   true,
		},
		{name: "empty", in: "", wantErr: `tenant "" is empty`},
		{name: "bare label", in: "contoso", wantErr: `tenant "contoso" is neither a directory ID (a GUID) nor a domain`},
		{name: "short GUID", in: "72f988bf-86f1-41af-91ab-2d7cd011db4", wantErr: `tenant "72f988bf-86f1-41af-91ab-2d7cd011db4" is neither a directory ID (a GUID) nor a domain`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTenantID(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("ParseTenantID(%q) = %v, %v; want the error %q", tt.in, got, err, tt.wantErr)
				}
				if errors.Is(err, ErrNotTenantID) != tt.notID {
					t.Errorf("errors.Is(%v, ErrNotTenantID) = %v, want %v", err, !tt.notID, tt.notID)
				}
				if got.IsValid() {
					t.Errorf("ParseTenantID(%q) failed but returned %v", tt.in, got)
				}
				return
			}
			if err != nil || got.String() != tt.want || !got.IsID() {
				t.Errorf("ParseTenantID(%q) = %q (ID %v), %v; want %q", tt.in, got, got.IsID(), err, tt.want)
			}
		})
	}
}

// TestTenantZeroAndText checks the zero value and the text forms, which
// the JSON plan and the catalog's parameter values use.
func TestTenantZeroAndText(t *testing.T) {
	var zero Tenant
	if zero.IsValid() || zero.IsID() || zero.String() != "" {
		t.Errorf("zero Tenant: valid %v, ID %v, %q", zero.IsValid(), zero.IsID(), zero)
	}
	var got struct {
		Tenants []Tenant `json:"tenants"`
	}
	if err := json.Unmarshal([]byte(`{"tenants": ["Contoso.COM", "72F988BF-86F1-41AF-91AB-2D7CD011DB47"]}`), &got); err != nil {
		t.Fatal(err)
	}
	want := []Tenant{MustParseTenant("contoso.com"), MustParseTenant("72f988bf-86f1-41af-91ab-2d7cd011db47")}
	if diff := cmp.Diff(want, got.Tenants, cmp.Comparer(func(a, b Tenant) bool { return a == b })); diff != "" {
		t.Errorf("unmarshal (-want +got):\n%s", diff)
	}
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"tenants":["contoso.com","72f988bf-86f1-41af-91ab-2d7cd011db47"]}` {
		t.Errorf("marshal: %s", b)
	}
	if err := json.Unmarshal([]byte(`{"tenants": ["*.contoso.com"]}`), &got); err == nil || !strings.Contains(err.Error(), "not a wildcard") {
		t.Errorf("unmarshal of a wildcard: %v, want the ParseTenant error", err)
	}
}

func TestParseAppType(t *testing.T) {
	tests := []struct {
		in        string
		want      AppType
		ownTenant bool
		wantErr   string
	}{
		{in: "multi-tenant", want: MultiTenant},
		{in: "single-tenant", want: SingleTenant, ownTenant: true},
		{in: "user-assigned-msi", want: UserAssignedMSI, ownTenant: true},
		{in: "SingleTenant", wantErr: `app type "SingleTenant": write MicrosoftAppType SingleTenant as single-tenant`},
		{in: "userassignedmsi", wantErr: `app type "userassignedmsi": write MicrosoftAppType UserAssignedMSI as user-assigned-msi`},
		{in: "MultiTenant", wantErr: `app type "MultiTenant": write MicrosoftAppType MultiTenant as multi-tenant`},
		{in: "Single-Tenant", wantErr: `unknown app type "Single-Tenant" (want multi-tenant, single-tenant, user-assigned-msi)`},
		{in: "", wantErr: `unknown app type "" (want multi-tenant, single-tenant, user-assigned-msi)`},
		{in: "msi", wantErr: `unknown app type "msi" (want multi-tenant, single-tenant, user-assigned-msi)`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseAppType(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Errorf("ParseAppType(%q) = %v, %v; want the error %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseAppType(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
			if got.OwnTenant() != tt.ownTenant {
				t.Errorf("%v.OwnTenant() = %v, want %v", got, got.OwnTenant(), tt.ownTenant)
			}
			if got.String() != tt.in {
				t.Errorf("String() = %q, want %q", got, tt.in)
			}
		})
	}
}

func TestAppTypeText(t *testing.T) {
	var zero AppType
	if zero != MultiTenant {
		t.Errorf("zero AppType is %v, want multi-tenant (the SDKs' reading of an empty MicrosoftAppType)", zero)
	}
	if got := AppType(7).String(); got != "AppType(7)" {
		t.Errorf("out of range: %q", got)
	}
	if got := AppTypeNames(); got != "multi-tenant, single-tenant, user-assigned-msi" {
		t.Errorf("AppTypeNames() = %q", got)
	}
	for _, a := range AppTypes {
		b, err := a.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back AppType
		if err := back.UnmarshalText(b); err != nil || back != a {
			t.Errorf("text round trip %v → %s → %v, %v", a, b, back, err)
		}
	}
	var a AppType = SingleTenant
	if err := a.UnmarshalText([]byte("both")); err == nil || a != SingleTenant {
		t.Errorf("UnmarshalText(both) = %v and left %v; want an error and the value unchanged", err, a)
	}
}

func TestTenantRestrictionsHeader(t *testing.T) {
	tr := &TenantRestrictions{
		Tenants: []TenantEntry{
			{Tenant: MustParseTenant("contoso.com")},
			{Tenant: MustParseTenant("72F988BF-86F1-41AF-91AB-2D7CD011DB47")},
			{Tenant: MustParseTenant("botframework.com")},
		},
		Context: MustParseTenant("9188040d-6c67-4c5b-b112-36a304b66dad"),
	}
	if got, want := tr.HeaderValue(), "contoso.com,72f988bf-86f1-41af-91ab-2d7cd011db47,botframework.com"; got != want {
		t.Errorf("HeaderValue() = %q, want %q", got, want)
	}
	if !tr.Has(MustParseTenant("Contoso.com.")) || !tr.Has(MustParseTenant("72f988bf-86f1-41af-91ab-2d7cd011db47")) {
		t.Error("Has misses a listed tenant written another way")
	}
	// A domain and a directory ID are not known to name one tenant.
	if tr.Has(MustParseTenant("fabrikam.com")) || tr.Has(MustParseTenant("contoso.onmicrosoft.com")) {
		t.Error("Has finds a tenant that is not listed")
	}
	if got := (&TenantRestrictions{}).HeaderValue(); got != "" {
		t.Errorf("no tenants: HeaderValue() = %q", got)
	}
}

// TestPlanJSONTenantRestrictions checks the tenant_restrictions member of
// the plan's JSON form: absent without tenant restrictions, and with them
// the hosts, both headers as a proxy sets them, and each tenant with why.
func TestPlanJSONTenantRestrictions(t *testing.T) {
	p := &Plan{CatalogVersion: "test", Cloud: CloudWorldwide}
	b, err := p.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "tenant_restrictions") {
		t.Errorf("a plan without tenant restrictions has them in JSON: %s", b)
	}
	p.TenantRestrictions = &TenantRestrictions{
		Tenants: []TenantEntry{
			{Tenant: MustParseTenant("contoso.com"), Reason: "listed"},
			{
				Tenant: MustParseTenant("botframework.com"), Integration: "teams-messaging-bot", Reason: "multi-tenant",
				Reference: Reference{Doc: "001", Section: "FAQ"},
			},
		},
		Context: MustParseTenant("9188040d-6c67-4c5b-b112-36a304b66dad"),
		Hosts:   []Host{MustParseHost("login.microsoftonline.com"), MustParseHost("login.windows.net")},
	}
	b, err = p.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		TenantRestrictions json.RawMessage `json:"tenant_restrictions"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	type entry struct {
		Tenant      string `json:"tenant"`
		Integration string `json:"integration"`
		Reason      string `json:"reason"`
		Reference   string `json:"reference"`
	}
	var got struct {
		Hosts   []string          `json:"hosts"`
		Headers map[string]string `json:"headers"`
		Tenants []entry           `json:"tenants"`
	}
	dec := json.NewDecoder(strings.NewReader(string(doc.TenantRestrictions)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("tenant_restrictions %s: %v", doc.TenantRestrictions, err)
	}
	want := struct {
		Hosts   []string          `json:"hosts"`
		Headers map[string]string `json:"headers"`
		Tenants []entry           `json:"tenants"`
	}{
		Hosts: []string{"login.microsoftonline.com", "login.windows.net"},
		Headers: map[string]string{
			"Restrict-Access-To-Tenants": "contoso.com,botframework.com",
			"Restrict-Access-Context":    "9188040d-6c67-4c5b-b112-36a304b66dad",
		},
		Tenants: []entry{
			{Tenant: "contoso.com", Reason: "listed"},
			{Tenant: "botframework.com", Integration: "teams-messaging-bot", Reason: "multi-tenant", Reference: "001 §FAQ"},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tenant_restrictions (-want +got):\n%s", diff)
	}
	// No reference and no integration: the members are left out, not "".
	if strings.Contains(string(doc.TenantRestrictions), `"reference":""`) || strings.Contains(string(doc.TenantRestrictions), `"integration":""`) {
		t.Errorf("empty members written: %s", doc.TenantRestrictions)
	}
}

// FuzzParseTenant checks that an accepted tenant is valid and round-trips
// through its String form, and that ParseTenantID accepts exactly the
// directory IDs among them.
func FuzzParseTenant(f *testing.F) {
	for _, s := range []string{"contoso.com", "72F988BF-86F1-41AF-91AB-2D7CD011DB47", "*.contoso.com", "Bücher.example.", "contoso", "", "192.0.2.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tn, err := ParseTenant(s)
		if err != nil {
			return
		}
		if !tn.IsValid() {
			t.Fatalf("ParseTenant(%q) accepted the zero tenant", s)
		}
		back, err := ParseTenant(tn.String())
		if err != nil || back != tn {
			t.Errorf("round trip %q → %q → %v, %v", s, tn, back, err)
		}
		id, err := ParseTenantID(s)
		if tn.IsID() != (err == nil) || err == nil && id != tn {
			t.Errorf("ParseTenantID(%q) = %v, %v; ParseTenant says ID %v", s, id, err, tn.IsID())
		}
	})
}
