package plan_test

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/teamsgate/teamsgate/internal/catalog"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/plan"
	"github.com/teamsgate/teamsgate/internal/planfile"
	"github.com/teamsgate/teamsgate/internal/spec"
	"github.com/teamsgate/teamsgate/internal/testutil"
)

// TestGolden plans every example spec and compares each output format with
// testdata/golden (go test ./internal/plan -update rewrites them).
func TestGolden(t *testing.T) {
	for _, name := range testutil.Examples() {
		for _, format := range plan.Formats {
			t.Run(name+"/"+format, func(t *testing.T) {
				p := testutil.Plan(t, testutil.ExamplePath(name), "")
				var buf bytes.Buffer
				if err := plan.WriteFormat(&buf, p, format); err != nil {
					t.Fatal(err)
				}
				ext := map[string]string{"table": "txt", "json": "json", "csv": "csv", "markdown": "md"}[format]
				testutil.Golden(t, filepath.Join("testdata", "golden", name+"."+ext), buf.Bytes())
			})
		}
	}
}

func build(t *testing.T, src string) (*model.Plan, string) {
	t.Helper()
	cat, _ := catalog.Embedded()
	s, ds := spec.Parse([]byte(src), "deploy.yaml", cat)
	if ds.HasErrors() {
		t.Fatalf("spec: %s", ds)
	}
	p, ds := plan.Build(cat, s)
	return p, ds.String()
}

// buildWith is build with a catalog overlay directory.
func buildWith(t *testing.T, src, overlay string) (*model.Plan, string) {
	t.Helper()
	cat, ds := planfile.Catalog(overlay)
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	s, ds := spec.Parse([]byte(src), "deploy.yaml", cat)
	if ds.HasErrors() {
		t.Fatalf("spec: %s", ds)
	}
	p, ds := plan.Build(cat, s)
	return p, ds.String()
}

func ids(p *model.Plan) []string {
	var out []string
	for _, r := range p.Rules {
		out = append(out, r.ID)
	}
	return out
}

func TestConditions(t *testing.T) {
	const bot = "cloud: worldwide\nintegrations:\n  teams-messaging-bot:\n    roles: { bot: { addresses: [198.51.100.1] } }\n"
	p, _ := build(t, bot)
	want := []string{"teams-messaging-bot.in.activity", "teams-messaging-bot.out.login", "teams-messaging-bot.out.botframework", "teams-messaging-bot.out.openid", "teams-messaging-bot.out.reply"}
	if diff := cmp.Diff(want, ids(p)); diff != "" {
		t.Errorf("messaging bot without graph (-want +got):\n%s", diff)
	}
	p, _ = build(t, bot+"    parameters: { graph: true }\n")
	if p.Rule("teams-messaging-bot.out.graph") == nil {
		t.Errorf("graph: true must plan the graph flow")
	}

	const pexip = "cloud: worldwide\nintegrations:\n  pexip-teams-connector:\n    roles:\n      conferencing-nodes: { addresses: [203.0.113.10] }\n      teams-connector-lb: { addresses: [198.51.100.40] }\n      teams-connector-instances: { addresses: [198.51.100.64/28] }\n"
	p, _ = build(t, pexip)
	deny := p.Rule("pexip-teams-connector.rdp-deny")
	if deny == nil || deny.Action != model.Deny || !deny.Source.Any || deny.DestPorts.String() != "3389" {
		t.Errorf("no management addresses: want the RDP deny rule, got %+v", deny)
	}
	if p.Rule("pexip-teams-connector.mgmt-to-instance.rdp") != nil || p.Rule("pexip-teams-connector.mgmt-node-to-eventhub") != nil {
		t.Errorf("RDP allow or event hub planned without their conditions: %v", ids(p))
	}
	p, _ = build(t, pexip+"      management: { addresses: [192.0.2.0/28] }\n")
	if p.Rule("pexip-teams-connector.rdp-deny") != nil {
		t.Errorf("management given: the deny must give way to the allow")
	}
	if r := p.Rule("pexip-teams-connector.mgmt-to-instance.rdp"); r == nil || r.Source.Prefixes[0].String() != "192.0.2.0/28" {
		t.Errorf("management RDP allow: %+v", r)
	}
}

func TestNarrowToServiceTag(t *testing.T) {
	const src = "cloud: worldwide\nintegrations:\n  teams-calling-bot:\n    roles: { bot: { addresses: [198.51.100.1] } }\n"
	p, _ := build(t, src)
	if r := p.Rule("teams-calling-bot.in.signaling"); !r.Source.Any {
		t.Errorf("default signaling source must be any: %+v", r.Source)
	}
	p, _ = build(t, src+"    parameters: { azurecloud-only: true }\n")
	if r := p.Rule("teams-calling-bot.in.signaling"); r.Source.Any || len(r.Source.ServiceTags) != 1 || r.Source.ServiceTags[0] != "AzureCloud" {
		t.Errorf("azurecloud-only: want tag AzureCloud, got %+v", r.Source)
	}
}

func TestCloudsAndWarnings(t *testing.T) {
	p, diags := build(t, "cloud: gcch\nintegrations:\n  teams-calling-bot:\n    roles: { bot: { addresses: [198.51.100.1] } }\n    parameters: { hosting: other }\n")
	if p.Rule("teams-calling-bot.out.oauth-scope") != nil {
		t.Errorf("a worldwide/gcc-only flow was planned for gcch")
	}
	for _, want := range []string{
		"teams-calling-bot.out.oauth-scope: not planned: the catalog defines this flow for worldwide, gcc only, not for cloud gcch",
		"calling bots can only be hosted on Microsoft Azure",
	} {
		if !strings.Contains(diags, want) || !strings.Contains(strings.Join(p.Warnings, "\n"), want) {
			t.Errorf("warnings %q\nwant one containing %q", diags, want)
		}
	}
	if r := p.Rule("teams-calling-bot.out.login"); r.Destination.Hosts[0].String() != "login.microsoftonline.us" {
		t.Errorf("gcch sign-in host: %v", r.Destination.Hosts)
	}
	if r := p.Rule("teams-calling-bot.out.m365.set7-udp"); r == nil || r.DestPorts.String() != "3478-3481" {
		t.Errorf("gcch media set 7 missing: %v", ids(p))
	}

	p, diags = build(t, "cloud: dod\nintegrations:\n  teams-messaging-bot:\n    roles: { bot: { addresses: [198.51.100.1] } }\n")
	r := p.Rule("teams-messaging-bot.in.activity")
	if r.Status != model.ToBeConfirmed || r.Source.Prefixes[0].String() != "52.181.167.113/32" {
		t.Errorf("dod activity source: %+v", r)
	}
	if !strings.Contains(diags, "to be confirmed") {
		t.Errorf("want a to-be-confirmed warning, got %q", diags)
	}
}

func TestMissingRoleIsPositionedError(t *testing.T) {
	_, diags := build(t, "cloud: worldwide\nintegrations:\n  pexip-teams-connector:\n    roles:\n      conferencing-nodes: { addresses: [203.0.113.10] }\n")
	for _, want := range []string{
		`deploy.yaml:4:5: pexip-teams-connector: role "teams-connector-lb" has no addresses; flow pexip-teams-connector.cn-to-lb.signaling needs it`,
		`role "teams-connector-instances" has no addresses`,
	} {
		if !strings.Contains(diags, want) {
			t.Errorf("diagnostics:\n%s\nwant one containing %q", diags, want)
		}
	}
}

// TestJSONSchema checks the documented plan JSON schema field by field.
func TestJSONSchema(t *testing.T) {
	p := testutil.Plan(t, testutil.ExamplePath("pexip"), "")
	var buf bytes.Buffer
	if err := plan.WriteJSON(&buf, p); err != nil {
		t.Fatal(err)
	}
	type target struct {
		Role        string   `json:"role"`
		Set         string   `json:"set"`
		CIDRs       []string `json:"cidrs"`
		Hosts       []string `json:"hosts"`
		ServiceTags []string `json:"service_tags"`
		Any         bool     `json:"any"`
		Internet    bool     `json:"internet"`
	}
	var doc struct {
		CatalogVersion string `json:"catalog_version"`
		Cloud          string `json:"cloud"`
		Integrations   []string
		Rules          []struct {
			ID               string   `json:"id"`
			Flow             string   `json:"flow"`
			Integration      string   `json:"integration"`
			Protocol         string   `json:"protocol"`
			Action           string   `json:"action"`
			Source           target   `json:"source"`
			SourcePorts      []string `json:"source_ports"`
			Destination      target   `json:"destination"`
			DestinationPorts []string `json:"destination_ports"`
			AppProtocol      string   `json:"app_protocol"`
			Purpose          string   `json:"purpose"`
			Notes            string   `json:"notes"`
			Required         bool     `json:"required"`
			Condition        string   `json:"condition"`
			Status           string   `json:"status"`
			StatusReason     string   `json:"status_reason"`
			Reference        string   `json:"reference"`
			Requirements     []string `json:"requirements"`
		} `json:"rules"`
		Warnings []string `json:"warnings"`
	}
	dec := json.NewDecoder(&buf)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("plan JSON does not match the documented schema: %v", err)
	}
	if doc.CatalogVersion == "" || doc.Cloud != "worldwide" || len(doc.Rules) != len(p.Rules) {
		t.Errorf("header: %q %q %d rules", doc.CatalogVersion, doc.Cloud, len(doc.Rules))
	}
	var sig, eh, ocsp bool
	for _, r := range doc.Rules {
		if r.ID == "pexip-teams-connector.instance-to-ocsp" {
			ocsp = true
			if !r.Destination.Internet || r.Destination.Any || r.Destination.Role != "ocsp-responder" || len(r.Destination.CIDRs) != 0 || r.Source.Internet {
				t.Errorf("OCSP rule: destination %+v, source internet %v; want the role ocsp-responder as the public Internet", r.Destination, r.Source.Internet)
			}
		}
		if r.ID == "pexip-teams-connector.cn-to-lb.signaling" {
			sig = true
			got := []any{r.Protocol, r.Source.Role, r.Source.CIDRs, r.SourcePorts, r.Destination.Role, r.DestinationPorts, r.Status, r.Required}
			want := []any{"tcp", "conferencing-nodes", []string{"203.0.113.10/32", "203.0.113.11/32"}, []string{"33000-39999"}, "teams-connector-lb", []string{"443"}, "documented", true}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("signaling rule (-want +got):\n%s", diff)
			}
		}
		if r.ID == "pexip-teams-connector.mgmt-node-to-eventhub" {
			eh = true
			if r.Condition != "event-hub" || len(r.SourcePorts) != 0 || r.AppProtocol != "amqps" {
				t.Errorf("event hub rule: condition %q source_ports %v app %q", r.Condition, r.SourcePorts, r.AppProtocol)
			}
		}
		if r.Source.CIDRs == nil || r.Destination.Hosts == nil || r.Source.ServiceTags == nil {
			t.Errorf("%s: list fields must be [] not null", r.ID)
		}
	}
	if !sig || !eh || !ocsp {
		t.Errorf("rules missing from JSON")
	}
}

func BenchmarkPlanCombined(b *testing.B) {
	cat, _ := catalog.Embedded()
	pl, ds := planfile.ReadFile(cat, testutil.ExamplePath("combined"))
	if ds.HasErrors() {
		b.Fatal(ds)
	}
	s := pl.Spec
	b.ReportAllocs()
	for b.Loop() {
		if _, ds := plan.Build(cat, s); ds.HasErrors() {
			b.Fatal(ds)
		}
	}
}

// BenchmarkPlanCombinedFromFile includes reading and parsing the spec.
func BenchmarkPlanCombinedFromFile(b *testing.B) {
	cat, _ := catalog.Embedded()
	b.ReportAllocs()
	for b.Loop() {
		if _, ds := planfile.ReadFile(cat, testutil.ExamplePath("combined")); ds.HasErrors() {
			b.Fatal(ds)
		}
	}
}
