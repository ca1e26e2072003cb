package plan_test

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/plan"
	"github.com/teamsgate/teamsgate/internal/testutil"
)

const (
	contextID = "9188040d-6c67-4c5b-b112-36a304b66dad"
	// trSection is a tenant_restrictions: section at the end of a spec.
	trSection = "tenant_restrictions:\n  tenants: [contoso.com, 72F988BF-86F1-41AF-91AB-2D7CD011DB47]\n  context: " + contextID + "\n"
	// faq is how the plan cites 001's FAQ on tenant restrictions.
	faq = `001 §FAQ "Can I activate Azure AD tenant restrictions with the Azure Bot Service?"`
)

// messagingBot and callingBot are the integrations of a spec with their
// parameters in a flow mapping ("" for none).
func messagingBot(params string) string {
	s := "  teams-messaging-bot:\n    roles: { bot: { addresses: [198.51.100.1] } }\n"
	if params != "" {
		s += "    parameters: { " + params + " }\n"
	}
	return s
}

func callingBot(params string) string {
	s := "  teams-calling-bot:\n    roles: { bot: { addresses: [198.51.100.2] } }\n"
	if params != "" {
		s += "    parameters: { " + params + " }\n"
	}
	return s
}

// tenantRow is one tenant of the plan's list, for comparison.
type tenantRow struct {
	Tenant      string
	Integration string
	Reference   string
}

func tenantRows(tr *model.TenantRestrictions) []tenantRow {
	var out []tenantRow
	for _, e := range tr.Tenants {
		r := tenantRow{Tenant: e.Tenant.String(), Integration: e.Integration}
		if e.Reference.Doc != "" {
			r.Reference = e.Reference.Cite()
		}
		out = append(out, r)
	}
	return out
}

func TestTenantRestrictions(t *testing.T) {
	listed := []tenantRow{{Tenant: "contoso.com"}, {Tenant: "72f988bf-86f1-41af-91ab-2d7cd011db47"}}
	botframework := func(integrations string) tenantRow {
		return tenantRow{Tenant: "botframework.com", Integration: integrations, Reference: faq}
	}
	tests := []struct {
		name  string
		cloud string
		integ string
		tail  string
		// wantNil: the plan has no tenant restrictions.
		wantNil  bool
		want     []tenantRow
		warnings []string
		// notWarned are warnings that must not appear.
		notWarned []string
	}{
		{
			name:      "multi-tenant bot",
			integ:     messagingBot("app-type: multi-tenant"),
			tail:      trSection,
			want:      append(listed, botframework("teams-messaging-bot")),
			notWarned: []string{"no app type given", "botframework.com tenant; set the app type"},
		},
		{
			name:  "app type left to the default",
			integ: messagingBot(""),
			tail:  trSection,
			want:  append(listed, botframework("teams-messaging-bot")),
			warnings: []string{
				`deploy.yaml:3:3: warning: teams-messaging-bot: no app type given: planned as multi-tenant, the SDKs' default when MicrosoftAppType is empty; give it, for it decides which tenant the tenant restrictions must permit (` + faq + ")",
			},
		},
		{
			// The spec's own botframework.com stays the spec's: the plan
			// adds no second one.
			name:  "botframework.com listed",
			integ: messagingBot("app-type: multi-tenant"),
			tail:  "tenant_restrictions:\n  tenants: [BotFramework.com]\n  context: " + contextID + "\n",
			want:  []tenantRow{{Tenant: "botframework.com"}},
		},
		{
			name:      "single-tenant bot listed",
			integ:     messagingBot("app-type: single-tenant, app-tenant: Contoso.COM"),
			tail:      trSection,
			want:      listed,
			notWarned: []string{"does not list that tenant", "no app-tenant"},
		},
		{
			name:      "single-tenant bot listed by directory ID",
			integ:     messagingBot("app-type: single-tenant, app-tenant: 72f988bf-86f1-41af-91ab-2d7cd011db47"),
			tail:      trSection,
			want:      listed,
			notWarned: []string{"does not list that tenant"},
		},
		{
			name:  "single-tenant bot missing",
			integ: messagingBot("app-type: single-tenant, app-tenant: fabrikam.com"),
			tail:  trSection,
			want:  listed,
			warnings: []string{
				`deploy.yaml:7:12: warning: teams-messaging-bot: app type single-tenant: the bot's token comes from its own tenant (001, FAQ "Can I activate Azure AD tenant restrictions with the Azure Bot Service?"), and tenant_restrictions.tenants does not list that tenant, fabrikam.com: behind a proxy that sets this list, Entra ID refuses the bot's token (AADSTS500021); add it.`,
			},
		},
		{
			// A domain and a directory ID are not known to name one
			// tenant: the warning says how to compare them.
			name:  "single-tenant bot named by another domain",
			integ: messagingBot("app-type: single-tenant, app-tenant: contoso.onmicrosoft.com"),
			tail:  trSection,
			want:  listed,
			warnings: []string{
				"does not list that tenant, contoso.onmicrosoft.com",
				"compare https://login.microsoftonline.com/<tenant>/v2.0/.well-known/openid-configuration for both",
			},
		},
		{
			name:  "single-tenant bot without its tenant",
			integ: messagingBot("app-type: single-tenant"),
			tail:  trSection,
			want:  listed,
			warnings: []string{
				`deploy.yaml:5:19: warning: teams-messaging-bot: app type single-tenant: the bot's token comes from its own tenant (001, FAQ "Can I activate Azure AD tenant restrictions with the Azure Bot Service?"), but no app-tenant is given; give the bot's tenant so that the plan can check that tenant_restrictions.tenants permits it`,
			},
		},
		{
			name:  "user-assigned-msi bot missing",
			integ: callingBot("app-type: user-assigned-msi, app-tenant: fabrikam.com"),
			tail:  trSection,
			want:  listed,
			warnings: []string{
				`deploy.yaml:7:12: warning: teams-calling-bot: app type user-assigned-msi: the managed identity's token comes from the bot's own tenant, as a single-tenant bot's does (001, FAQ`,
				"does not list that tenant, fabrikam.com",
			},
		},
		{
			name:      "user-assigned-msi bot listed",
			integ:     callingBot("app-type: user-assigned-msi, app-tenant: contoso.com"),
			tail:      trSection,
			want:      listed,
			notWarned: []string{"does not list that tenant"},
		},
		{
			// One botframework.com entry names both bots.
			name:      "two multi-tenant bots",
			integ:     messagingBot("app-type: multi-tenant") + callingBot("app-type: multi-tenant"),
			tail:      trSection,
			want:      append(listed, botframework("teams-calling-bot, teams-messaging-bot")),
			notWarned: []string{"no app type given"},
		},
		{
			name:  "a multi-tenant and a single-tenant bot",
			integ: messagingBot("app-type: multi-tenant") + callingBot("app-type: single-tenant, app-tenant: fabrikam.com"),
			tail:  trSection,
			want:  append(listed, botframework("teams-messaging-bot")),
			warnings: []string{
				"deploy.yaml:10:12: warning: teams-calling-bot: app type single-tenant:",
				"does not list that tenant, fabrikam.com",
			},
			notWarned: []string{"teams-messaging-bot: app type"},
		},
		{
			name:    "no section",
			integ:   messagingBot("app-type: single-tenant, app-tenant: fabrikam.com"),
			wantNil: true,
			// Without tenant restrictions nothing is checked against a
			// list, and the default app type needs no mention.
			notWarned: []string{"does not list that tenant", "no app type given", "sign-in host"},
		},
		{
			name:      "enabled: false",
			integ:     messagingBot(""),
			tail:      "tenant_restrictions:\n  enabled: false\n  tenants: [contoso.com]\n  context: " + contextID + "\n",
			wantNil:   true,
			notWarned: []string{"no app type given"},
		},
		{
			// Told with or without tenant restrictions: the tenant is
			// not the one that issues the bot's token.
			name:    "tenant given for a multi-tenant bot",
			integ:   messagingBot("app-type: multi-tenant, app-tenant: contoso.com"),
			wantNil: true,
			warnings: []string{
				"deploy.yaml:5:43: warning: teams-messaging-bot: the bot's tenant contoso.com is given, but its app type is multi-tenant, whose token comes from the botframework.com tenant; set the app type to single-tenant or user-assigned-msi if the bot's identity lives in contoso.com",
			},
		},
		{
			name:  "tenant given for a multi-tenant bot, in force",
			integ: messagingBot("app-type: multi-tenant, app-tenant: fabrikam.com"),
			tail:  trSection,
			want:  append(listed, botframework("teams-messaging-bot")),
			warnings: []string{
				"deploy.yaml:5:43: warning: teams-messaging-bot: the bot's tenant fabrikam.com is given, but its app type is multi-tenant",
			},
			notWarned: []string{"does not list that tenant"},
		},
		{
			name:  "no bot",
			integ: "  teamspro-saas:\n    roles: { clients: { addresses: [198.51.100.0/24] } }\n",
			tail:  trSection,
			want:  listed,
		},
		{
			// The US Government sign-in host is not one of tenant
			// restrictions v1; a multi-tenant bot's token comes from
			// MicrosoftServices.onmicrosoft.us there.
			name:  "gcch",
			cloud: "gcch",
			integ: messagingBot("app-type: multi-tenant"),
			tail:  trSection,
			want:  append(listed, tenantRow{Tenant: "microsoftservices.onmicrosoft.us", Integration: "teams-messaging-bot", Reference: faq}),
			warnings: []string{
				"deploy.yaml:6:1: warning: tenant_restrictions: no planned flow goes to a sign-in host of tenant restrictions v1 (login.microsoftonline.com, login.microsoft.com, login.windows.net): the headers reach nothing this deployment sends.",
				"login.microsoftonline.us is not covered",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cloud := tt.cloud
			if cloud == "" {
				cloud = "worldwide"
			}
			p, diags := build(t, "cloud: "+cloud+"\nintegrations:\n"+tt.integ+tt.tail)
			warnings := strings.Join(p.Warnings, "\n")
			for _, w := range tt.warnings {
				if !strings.Contains(diags, w) {
					t.Errorf("diagnostics:\n%s\nwant one containing:\n%s", diags, w)
				}
				// The plan's warnings carry the message without the
				// position.
				if _, msg, ok := strings.Cut(w, "warning: "); ok && !strings.Contains(warnings, strings.SplitN(msg, "\n", 2)[0]) {
					t.Errorf("plan warnings:\n%s\nwant one containing:\n%s", warnings, msg)
				}
			}
			for _, w := range tt.notWarned {
				if strings.Contains(diags, w) {
					t.Errorf("diagnostics:\n%s\nwant none containing %q", diags, w)
				}
			}
			tr := p.TenantRestrictions
			if tt.wantNil {
				if tr != nil {
					t.Fatalf("tenant restrictions planned: %+v", tr)
				}
				return
			}
			if tr == nil {
				t.Fatal("no tenant restrictions planned")
			}
			if diff := cmp.Diff(tt.want, tenantRows(tr)); diff != "" {
				t.Errorf("tenants (-want +got):\n%s", diff)
			}
			if tr.Context.String() != contextID {
				t.Errorf("context %q, want %s", tr.Context, contextID)
			}
			var hosts []string
			for _, h := range tr.Hosts {
				hosts = append(hosts, h.String())
			}
			if diff := cmp.Diff([]string{"login.microsoftonline.com", "login.microsoft.com", "login.windows.net"}, hosts); diff != "" {
				t.Errorf("hosts (-want +got):\n%s", diff)
			}
		})
	}
}

// TestTenantRestrictionsReason checks why each tenant is on the list, as
// the outputs say it.
func TestTenantRestrictionsReason(t *testing.T) {
	p, _ := build(t, "cloud: worldwide\nintegrations:\n"+messagingBot("app-type: multi-tenant")+trSection)
	var got []string
	for _, e := range p.TenantRestrictions.Tenants {
		got = append(got, e.Reason)
	}
	want := []string{
		"listed in the spec (tenant_restrictions.tenants)",
		"listed in the spec (tenant_restrictions.tenants)",
		"a multi-tenant bot gets its token from the botframework.com tenant; the plan adds it",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("reasons (-want +got):\n%s", diff)
	}
	if ref := p.TenantRestrictions.Tenants[2].Reference; ref.Doc != "001" || ref.Title == "" {
		t.Errorf("botframework.com reference %+v: want 001 with its title", ref)
	}
}

// TestTenantOutputs checks that each output for people carries the
// headers and the tenants, and that a plan without tenant restrictions
// says nothing of them.
func TestTenantOutputs(t *testing.T) {
	with, _ := build(t, "cloud: worldwide\nintegrations:\n"+messagingBot("app-type: multi-tenant")+trSection)
	without, _ := build(t, "cloud: worldwide\nintegrations:\n"+messagingBot("app-type: multi-tenant"))
	tests := []struct {
		format string
		want   []string
	}{
		{
			format: "table",
			want: []string{
				"\nTenant restrictions (v1): a TLS-inspecting proxy sets on every request to login.microsoftonline.com, login.microsoft.com, login.windows.net:\n" +
					"  Restrict-Access-To-Tenants: contoso.com,72f988bf-86f1-41af-91ab-2d7cd011db47,botframework.com\n" +
					"  Restrict-Access-Context: " + contextID + "\n",
				"\nTENANT                                WHY\n",
				"\ncontoso.com                           listed in the spec (tenant_restrictions.tenants)\n",
				"\nbotframework.com                      teams-messaging-bot: a multi-tenant bot gets its token from the botframework.com tenant; the plan adds it (" + faq + ")\n",
			},
		},
		{
			format: "markdown",
			want: []string{
				"\n## Tenant restrictions (v1)\n\nA TLS-inspecting proxy sets these headers on every request to `login.microsoftonline.com`, `login.microsoft.com`, `login.windows.net`, replacing any the client sent:\n",
				"| `Restrict-Access-To-Tenants` | `contoso.com,72f988bf-86f1-41af-91ab-2d7cd011db47,botframework.com` |\n",
				"| `Restrict-Access-Context` | `" + contextID + "` |\n",
				"| `contoso.com` | listed in the spec (tenant_restrictions.tenants) |\n",
				"| `botframework.com` | teams-messaging-bot: a multi-tenant bot gets its token from the botframework.com tenant; the plan adds it (001 §FAQ \"Can I activate Azure AD tenant restrictions with the Azure Bot Service?\") |\n",
			},
		},
		{
			format: "json",
			want: []string{
				`"tenant_restrictions": {`,
				`"Restrict-Access-To-Tenants": "contoso.com,72f988bf-86f1-41af-91ab-2d7cd011db47,botframework.com"`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			var buf bytes.Buffer
			if err := plan.WriteFormat(&buf, with, tt.format); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(buf.String(), w) {
					t.Errorf("output:\n%s\nwant it to contain:\n%s", buf.String(), w)
				}
			}
			buf.Reset()
			if err := plan.WriteFormat(&buf, without, tt.format); err != nil {
				t.Fatal(err)
			}
			for _, no := range []string{"Tenant restrictions", "tenant_restrictions", "Restrict-Access", "botframework.com tenant"} {
				if strings.Contains(buf.String(), no) {
					t.Errorf("without tenant restrictions the output has %q:\n%s", no, buf.String())
				}
			}
		})
	}
}

// TestTenantJSON decodes the plan's tenant_restrictions member strictly,
// as a tool reading the documented schema would.
func TestTenantJSON(t *testing.T) {
	p, _ := build(t, "cloud: worldwide\nintegrations:\n"+messagingBot("app-type: multi-tenant")+trSection)
	var buf bytes.Buffer
	if err := plan.WriteJSON(&buf, p); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		TenantRestrictions json.RawMessage `json:"tenant_restrictions"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	type entry struct {
		Tenant      string `json:"tenant"`
		Integration string `json:"integration,omitempty"`
		Reason      string `json:"reason"`
		Reference   string `json:"reference,omitempty"`
	}
	type trJSON struct {
		Hosts   []string          `json:"hosts"`
		Headers map[string]string `json:"headers"`
		Tenants []entry           `json:"tenants"`
	}
	var got trJSON
	dec := json.NewDecoder(bytes.NewReader(doc.TenantRestrictions))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("tenant_restrictions %s: %v", doc.TenantRestrictions, err)
	}
	want := trJSON{
		Hosts: []string{"login.microsoftonline.com", "login.microsoft.com", "login.windows.net"},
		Headers: map[string]string{
			"Restrict-Access-To-Tenants": "contoso.com,72f988bf-86f1-41af-91ab-2d7cd011db47,botframework.com",
			"Restrict-Access-Context":    contextID,
		},
		Tenants: []entry{
			{Tenant: "contoso.com", Reason: "listed in the spec (tenant_restrictions.tenants)"},
			{Tenant: "72f988bf-86f1-41af-91ab-2d7cd011db47", Reason: "listed in the spec (tenant_restrictions.tenants)"},
			{
				Tenant: "botframework.com", Integration: "teams-messaging-bot",
				Reason:    "a multi-tenant bot gets its token from the botframework.com tenant; the plan adds it",
				Reference: p.TenantRestrictions.Tenants[2].Reference.String(),
			},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tenant_restrictions (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(want.Tenants[2].Reference, "001 (") || !strings.HasSuffix(want.Tenants[2].Reference, `§FAQ "Can I activate Azure AD tenant restrictions with the Azure Bot Service?"`) {
		t.Errorf("reference %q: want 001, its title and the FAQ question", want.Tenants[2].Reference)
	}
}

// TestTenantGolden plans testdata/tenant-restrictions.yaml and compares
// each output format with testdata/golden (-update rewrites them).
func TestTenantGolden(t *testing.T) {
	for _, format := range plan.Formats {
		t.Run(format, func(t *testing.T) {
			p := testutil.Plan(t, filepath.Join("testdata", "tenant-restrictions.yaml"), "")
			var buf bytes.Buffer
			if err := plan.WriteFormat(&buf, p, format); err != nil {
				t.Fatal(err)
			}
			ext := map[string]string{"table": "txt", "json": "json", "csv": "csv", "markdown": "md"}[format]
			testutil.Golden(t, filepath.Join("testdata", "golden", "tenant-restrictions."+ext), buf.Bytes())
		})
	}
}
