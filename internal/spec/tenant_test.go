package spec

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/teamsgate/teamsgate/internal/model"
)

// botSpec is a spec with one messaging bot; tests append a parameters:
// block for it or a tenant_restrictions: section at line 6.
const botSpec = "cloud: worldwide\nintegrations:\n  teams-messaging-bot:\n    roles:\n      bot: { addresses: [198.51.100.1] }\n"

const contextID = "9188040d-6c67-4c5b-b112-36a304b66dad"

func TestTenantRestrictionsGood(t *testing.T) {
	tests := []struct {
		name        string
		tail        string
		wantEnabled bool
		wantTenants []string
		wantContext string
	}{
		{
			name:        "enabled by default",
			tail:        "tenant_restrictions:\n  tenants: [Contoso.COM, 72F988BF-86F1-41AF-91AB-2D7CD011DB47, fabrikam.onmicrosoft.com.]\n  context: 9188040D-6C67-4C5B-B112-36A304B66DAD\n",
			wantEnabled: true,
			wantTenants: []string{"contoso.com", "72f988bf-86f1-41af-91ab-2d7cd011db47", "fabrikam.onmicrosoft.com"},
			wantContext: contextID,
		},
		{
			name:        "enabled: true",
			tail:        "tenant_restrictions:\n  enabled: true\n  tenants: [contoso.com]\n  context: " + contextID + "\n",
			wantEnabled: true,
			wantTenants: []string{"contoso.com"},
			wantContext: contextID,
		},
		{
			// Checked as if in force, but not in force.
			name:        "enabled: false",
			tail:        "tenant_restrictions:\n  enabled: false\n  tenants: [bücher.example]\n  context: " + contextID + "\n",
			wantTenants: []string{"xn--bcher-kva.example"},
			wantContext: contextID,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ds := Parse([]byte(botSpec+tt.tail), "deploy.yaml", embedded(t))
			if len(ds) > 0 {
				t.Fatal(ds)
			}
			tr := s.TenantRestrictions
			if tr == nil {
				t.Fatal("no TenantRestrictions")
			}
			if tr.Enabled != tt.wantEnabled {
				t.Errorf("Enabled = %v, want %v", tr.Enabled, tt.wantEnabled)
			}
			var got []string
			for _, x := range tr.Tenants {
				got = append(got, x.String())
			}
			if diff := cmp.Diff(tt.wantTenants, got); diff != "" {
				t.Errorf("tenants (-want +got):\n%s", diff)
			}
			if tr.Context.String() != tt.wantContext || !tr.Context.IsID() {
				t.Errorf("context %q (ID %v), want %q", tr.Context, tr.Context.IsID(), tt.wantContext)
			}
		})
	}

	s, ds := Parse([]byte(botSpec), "deploy.yaml", embedded(t))
	if len(ds) > 0 {
		t.Fatal(ds)
	}
	if s.TenantRestrictions != nil {
		t.Errorf("a spec without the section has tenant restrictions: %+v", s.TenantRestrictions)
	}
}

// TestTenantRestrictionsErrors checks each bad tenant_restrictions: section
// and bad app-type or app-tenant parameter: a positioned error naming what
// is wrong, and all of them reported.
func TestTenantRestrictionsErrors(t *testing.T) {
	tests := []struct {
		name string
		tail string
		want []string
	}{
		{
			name: "section with nothing",
			tail: "tenant_restrictions:\n",
			want: []string{
				"deploy.yaml:6:21: tenant_restrictions: no context given (want context: the directory ID of your own tenant",
				"deploy.yaml:6:21: tenant_restrictions: no tenants given (want tenants: the tenants your network permits",
			},
		},
		{
			name: "empty mapping",
			tail: "tenant_restrictions: {}\n",
			want: []string{
				"deploy.yaml:6:22: tenant_restrictions: no context given",
				"deploy.yaml:6:22: tenant_restrictions: no tenants given",
			},
		},
		{
			name: "no tenants",
			tail: "tenant_restrictions:\n  context: " + contextID + "\n",
			want: []string{"deploy.yaml:7:3: tenant_restrictions: no tenants given (want tenants: the tenants your network permits, as domains such as contoso.com or directory IDs)"},
		},
		{
			name: "empty list",
			tail: "tenant_restrictions:\n  tenants: []\n  context: " + contextID + "\n",
			want: []string{"deploy.yaml:7:12: tenant_restrictions: tenants is empty: Entra ID would issue no token to anyone"},
		},
		{
			name: "tenants with nothing",
			tail: "tenant_restrictions:\n  tenants:\n  context: " + contextID + "\n",
			want: []string{"deploy.yaml:7:11: tenant_restrictions: tenants is empty"},
		},
		{
			name: "tenants not a list",
			tail: "tenant_restrictions:\n  tenants: contoso.com\n  context: " + contextID + "\n",
			want: []string{`deploy.yaml:7:12: tenant_restrictions.tenants: want a list, got "contoso.com" (write [contoso.com] for a list of one)`},
		},
		{
			name: "duplicate",
			tail: "tenant_restrictions:\n  tenants:\n    - contoso.com\n    - 72f988bf-86f1-41af-91ab-2d7cd011db47\n    - Contoso.com.\n    - 72F988BF-86F1-41AF-91AB-2D7CD011DB47\n  context: " + contextID + "\n",
			want: []string{
				"deploy.yaml:10:7: tenant_restrictions: tenant contoso.com listed twice",
				"deploy.yaml:11:7: tenant_restrictions: tenant 72f988bf-86f1-41af-91ab-2d7cd011db47 listed twice",
			},
		},
		{
			name: "bad tenants",
			tail: "tenant_restrictions:\n  tenants: [contoso.com, \"*.contoso.com\", contoso, 192.0.2.1]\n  context: " + contextID + "\n",
			want: []string{
				`deploy.yaml:7:26: tenant_restrictions: tenant "*.contoso.com": a tenant is one domain or directory ID, not a wildcard`,
				`deploy.yaml:7:43: tenant_restrictions: tenant "contoso" is neither a directory ID (a GUID) nor a domain (such as contoso.com)`,
				`deploy.yaml:7:52: tenant_restrictions: tenant "192.0.2.1" is neither a directory ID nor a domain: host "192.0.2.1": an IP address or prefix is not a host name`,
			},
		},
		{
			name: "no context",
			tail: "tenant_restrictions:\n  tenants: [contoso.com]\n",
			want: []string{"deploy.yaml:7:3: tenant_restrictions: no context given (want context: the directory ID of your own tenant, which sets the policy and receives the sign-in logs of what it blocks)"},
		},
		{
			name: "context a domain",
			tail: "tenant_restrictions:\n  tenants: [contoso.com]\n  context: contoso.com\n",
			want: []string{`deploy.yaml:8:12: tenant_restrictions: context: "contoso.com" is a domain, not a directory ID: want the tenant's directory ID, a GUID (Microsoft Entra admin center, Overview, Tenant ID)`},
		},
		{
			name: "context empty",
			tail: "tenant_restrictions:\n  tenants: [contoso.com]\n  context: \"\"\n",
			want: []string{`deploy.yaml:8:12: tenant_restrictions: context: tenant "" is empty`},
		},
		{
			name: "context not a GUID",
			tail: "tenant_restrictions:\n  tenants: [contoso.com]\n  context: 9188040d-6c67-4c5b-b112\n",
			want: []string{`deploy.yaml:8:12: tenant_restrictions: context: tenant "9188040d-6c67-4c5b-b112" is neither a directory ID (a GUID) nor a domain`},
		},
		{
			name: "context a list",
			tail: "tenant_restrictions:\n  tenants: [contoso.com]\n  context: [" + contextID + "]\n",
			want: []string{"deploy.yaml:8:12: tenant_restrictions.context: want a string, got a list"},
		},
		{
			// enabled: false turns the policy off, not its checks.
			name: "enabled: false still checked",
			tail: "tenant_restrictions:\n  enabled: false\n  tenants: [\"*.contoso.com\"]\n",
			want: []string{
				`deploy.yaml:8:13: tenant_restrictions: tenant "*.contoso.com": a tenant is one domain or directory ID, not a wildcard`,
				"deploy.yaml:7:3: tenant_restrictions: no context given",
			},
		},
		{
			name: "enabled not a bool",
			tail: "tenant_restrictions:\n  enabled: maybe\n  tenants: [contoso.com]\n  context: " + contextID + "\n",
			want: []string{`deploy.yaml:7:12: tenant_restrictions.enabled: want true or false, got "maybe"`},
		},
		{
			name: "unknown key",
			tail: "tenant_restrictions:\n  tenants: [contoso.com]\n  context: " + contextID + "\n  contexts: [" + contextID + "]\n",
			want: []string{`deploy.yaml:9:3: tenant_restrictions: unknown key "contexts" (did you mean "context"?)`},
		},
		{
			name: "app type SDK spelling",
			tail: "    parameters:\n      app-type: SingleTenant\n",
			want: []string{`deploy.yaml:7:17: teams-messaging-bot: parameter "app-type": app type "SingleTenant": write MicrosoftAppType SingleTenant as single-tenant`},
		},
		{
			name: "app type unknown",
			tail: "    parameters:\n      app-type: managed-identity\n",
			want: []string{`deploy.yaml:7:17: teams-messaging-bot: parameter "app-type": unknown app type "managed-identity" (want multi-tenant, single-tenant, user-assigned-msi)`},
		},
		{
			name: "app type not a string",
			tail: "    parameters:\n      app-type: 2\n",
			want: []string{`deploy.yaml:7:17: teams-messaging-bot: parameter "app-type": want one of multi-tenant, single-tenant, user-assigned-msi, got 2`},
		},
		{
			name: "app tenant wildcard",
			tail: "    parameters:\n      app-type: single-tenant\n      app-tenant: \"*.contoso.com\"\n",
			want: []string{`deploy.yaml:8:19: teams-messaging-bot: parameter "app-tenant": tenant "*.contoso.com": a tenant is one domain or directory ID, not a wildcard`},
		},
		{
			name: "app tenant bare label",
			tail: "    parameters:\n      app-type: single-tenant\n      app-tenant: contoso\n",
			want: []string{`deploy.yaml:8:19: teams-messaging-bot: parameter "app-tenant": tenant "contoso" is neither a directory ID (a GUID) nor a domain`},
		},
		{
			name: "app tenant not a string",
			tail: "    parameters:\n      app-type: single-tenant\n      app-tenant: [contoso.com]\n",
			want: []string{`deploy.yaml:8:19: teams-messaging-bot: parameter "app-tenant": want a domain of the tenant or its directory ID, got a list`},
		},
		{
			name: "app tenant nothing",
			tail: "    parameters:\n      app-tenant:\n",
			want: []string{`deploy.yaml:7:18: teams-messaging-bot: parameter "app-tenant": want a domain of the tenant or its directory ID, got nothing`},
		},
		{
			name: "every problem at once",
			tail: "    parameters:\n      app-type: both\n      app-tenant: contoso\ntenant_restrictions:\n  tenants: [contoso.com, contoso.com]\n  context: contoso.com\n",
			want: []string{
				`deploy.yaml:7:17: teams-messaging-bot: parameter "app-type": unknown app type "both"`,
				`deploy.yaml:8:19: teams-messaging-bot: parameter "app-tenant": tenant "contoso" is neither`,
				"deploy.yaml:10:26: tenant_restrictions: tenant contoso.com listed twice",
				`deploy.yaml:11:12: tenant_restrictions: context: "contoso.com" is a domain, not a directory ID`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ds := Parse([]byte(botSpec+tt.tail), "deploy.yaml", embedded(t))
			if !ds.HasErrors() {
				t.Fatalf("no error for:\n%s", botSpec+tt.tail)
			}
			got := ds.String()
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("diagnostics:\n%s\nwant one containing:\n%s", got, w)
				}
			}
		})
	}
}

// TestBotParameters checks the app-type and app-tenant parameters of both
// bots: the default is multi-tenant with no tenant, and given values are
// parsed and marked as set.
func TestBotParameters(t *testing.T) {
	tests := []struct {
		name        string
		integration string
		role        string
		params      string
		wantType    model.AppType
		wantTenant  string
		wantSet     []string
	}{
		{name: "messaging default", integration: "teams-messaging-bot", role: "bot", wantType: model.MultiTenant},
		{name: "calling default", integration: "teams-calling-bot", role: "bot", wantType: model.MultiTenant},
		{
			name: "messaging single-tenant", integration: "teams-messaging-bot", role: "bot",
			params:   "{ app-type: single-tenant, app-tenant: Contoso.com }",
			wantType: model.SingleTenant, wantTenant: "contoso.com", wantSet: []string{"app-tenant", "app-type"},
		},
		{
			name: "calling user-assigned-msi", integration: "teams-calling-bot", role: "bot",
			params:   "{ app-type: user-assigned-msi, app-tenant: 72F988BF-86F1-41AF-91AB-2D7CD011DB47 }",
			wantType: model.UserAssignedMSI, wantTenant: "72f988bf-86f1-41af-91ab-2d7cd011db47", wantSet: []string{"app-tenant", "app-type"},
		},
		{
			// Not a spec error: the planner warns that the tenant is
			// not used.
			name: "multi-tenant with a tenant", integration: "teams-messaging-bot", role: "bot",
			params:   "{ app-type: multi-tenant, app-tenant: contoso.com }",
			wantType: model.MultiTenant, wantTenant: "contoso.com", wantSet: []string{"app-tenant", "app-type"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "cloud: worldwide\nintegrations:\n  " + tt.integration + ":\n    roles:\n      " + tt.role + ": { addresses: [198.51.100.1] }\n"
			if tt.params != "" {
				src += "    parameters: " + tt.params + "\n"
			}
			s, ds := Parse([]byte(src), "deploy.yaml", embedded(t))
			if len(ds) > 0 {
				t.Fatal(ds)
			}
			u := s.Use(tt.integration)
			if got := u.Params["app-type"].AppType; got != tt.wantType {
				t.Errorf("app-type %v, want %v", got, tt.wantType)
			}
			if got := u.Params["app-tenant"].Tenant; got.String() != tt.wantTenant || got.IsValid() != (tt.wantTenant != "") {
				t.Errorf("app-tenant %q (valid %v), want %q", got, got.IsValid(), tt.wantTenant)
			}
			var set []string
			for _, n := range []string{"app-tenant", "app-type"} {
				if u.Set[n] {
					set = append(set, n)
				}
			}
			if diff := cmp.Diff(tt.wantSet, set); diff != "" {
				t.Errorf("parameters set (-want +got):\n%s", diff)
			}
		})
	}
}
