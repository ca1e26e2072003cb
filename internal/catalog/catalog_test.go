package catalog

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/yamlx"
)

func TestEmbeddedCompiles(t *testing.T) {
	c, ds := Embedded()
	if len(ds) > 0 {
		t.Fatalf("embedded catalog has diagnostics:\n%s", ds)
	}
	want := []string{"pexip-teams-connector", "teams-calling-bot", "teams-messaging-bot", "teamspro-saas"}
	if diff := cmp.Diff(want, c.IntegrationNames()); diff != "" {
		t.Errorf("integrations (-want +got):\n%s", diff)
	}
}

type seedRow struct {
	Doc         string `yaml:"doc"`
	Row         string `yaml:"row"`
	Flow        string `yaml:"flow"`
	Proto       string `yaml:"proto"`
	From        string `yaml:"from"`
	To          string `yaml:"to"`
	SourcePorts string `yaml:"source_ports"`
	Ports       string `yaml:"ports"`
	Status      string `yaml:"status"`
	Action      string `yaml:"action"`
	When        string `yaml:"when"`
}

type seedSet struct {
	Set      string   `yaml:"set"`
	Cloud    string   `yaml:"cloud"`
	Contains []string `yaml:"contains"`
}

func portsString(r model.PortsRef) string {
	if r.Param != "" {
		return "$" + r.Param
	}
	return r.Set.String()
}

// TestSeedRows checks that every row of the source documents' tables
// (testdata/seed-rows.yaml) is a flow of the catalog with the document's
// protocol, endpoints and ports, and that every flow of the catalog is on
// the checklist.
func TestSeedRows(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "seed-rows.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Rows []seedRow `yaml:"rows"`
		Sets []seedSet `yaml:"sets"`
	}
	if _, ds := yamlx.Decode(data, "seed-rows.yaml", &list); ds.HasErrors() {
		t.Fatal(ds)
	}
	c, _ := Embedded()
	covered := map[string]bool{}
	for _, row := range list.Rows {
		t.Run(row.Flow, func(t *testing.T) {
			covered[row.Flow] = true
			in, f := c.Flow(row.Flow)
			if f == nil {
				t.Fatalf("%s row %q: no flow %s", row.Doc, row.Row, row.Flow)
			}
			if in.Document != row.Doc {
				t.Errorf("document %s, want %s", in.Document, row.Doc)
			}
			sp := row.SourcePorts
			if sp == "" {
				sp = "any"
			}
			action := row.Action
			if action == "" {
				action = "allow"
			}
			status := row.Status
			if status == "" {
				status = "documented"
			}
			got := []string{f.Proto.String(), f.Source.String(), portsString(f.SourcePorts), f.Destination.String(), portsString(f.DestPorts), f.Status.String(), f.Action.String(), f.Condition.String()}
			want := []string{row.Proto, row.From, sp, row.To, row.Ports, status, action, row.When}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s row %q (-want +got):\n%s", row.Doc, row.Row, diff)
			}
			if f.Reference.Section == "" || f.Purpose == "" {
				t.Errorf("flow without reference section or purpose")
			}
		})
	}
	for _, id := range c.IntegrationNames() {
		for _, f := range c.Integrations[id].Flows {
			if !covered[f.ID] {
				t.Errorf("flow %s is in the catalog but not on the seed checklist", f.ID)
			}
		}
	}
	for _, s := range list.Sets {
		v, ok := c.SetValue(s.Set, model.Cloud(s.Cloud))
		if !ok {
			t.Errorf("set %s has no value for %s", s.Set, s.Cloud)
			continue
		}
		for _, p := range s.Contains {
			found := false
			for _, q := range v.Prefixes {
				found = found || q == netip.MustParsePrefix(p)
			}
			if !found {
				t.Errorf("set %s in %s lacks %s (has %v)", s.Set, s.Cloud, p, v.Prefixes)
			}
		}
	}
}

func TestOverlay(t *testing.T) {
	overlay := fstest.MapFS{
		"catalog.yaml": {Data: []byte(`
version: "test"
address_sets:
  teams-service:
    values:
      worldwide: { prefixes: [198.18.0.0/24] }
`)},
		"integrations/teams-messaging-bot.yaml": {Data: []byte(`
integration: teams-messaging-bot
flows:
  - id: teams-messaging-bot.out.extra
    from: { role: bot }
    to: { hosts: [extra.example.com] }
    ports: "8443"
    purpose: "an extra flow"
    reference: { section: "local" }
`)},
	}
	c, ds := Load(Source{FS: EmbeddedFS(), Name: "catalog"}, Source{FS: overlay, Name: "overlay"})
	if len(ds) > 0 {
		t.Fatalf("diagnostics: %s", ds)
	}
	if c.Version != "2026.12.1+test" {
		t.Errorf("version %q", c.Version)
	}
	v, _ := c.SetValue("teams-service", model.CloudWorldwide)
	if diff := cmp.Diff([]netip.Prefix{netip.MustParsePrefix("198.18.0.0/24")}, v.Prefixes, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("overridden set (-want +got):\n%s", diff)
	}
	if v, _ := c.SetValue("teams-service", model.CloudGCCHigh); v == nil || v.Prefixes[0].String() != "52.127.88.0/21" {
		t.Errorf("other clouds' values must stay: %v", v)
	}
	in := c.Integrations["teams-messaging-bot"]
	if in.Flow("teams-messaging-bot.out.extra") == nil || in.Flow("teams-messaging-bot.in.activity") == nil {
		t.Errorf("overlay must add the flow and keep the others")
	}
}

// TestInternetEndpoint: "internet: true" is the public Internet, as a
// flow's endpoint and as a role's default; the roles of 002's services on
// the Internet default to it (docs/catalog.md, "Which flows go to the
// Internet, which to any").
func TestInternetEndpoint(t *testing.T) {
	overlay := fstest.MapFS{"integrations/x.yaml": {Data: []byte(`integration: teams-messaging-bot
roles:
  crl: { description: "CRL distribution points", default: { internet: true }, default_note: "n" }
flows:
  - id: teams-messaging-bot.out.crl
    from: { role: bot }
    to: { role: crl }
    ports: "80"
    purpose: "certificate revocation lists"
    reference: { section: "local" }
  - id: teams-messaging-bot.out.web
    from: { role: bot }
    to: { internet: true }
    ports: "443"
    purpose: "a service on the Internet"
    reference: { section: "local" }
`)}}
	c, ds := Load(Source{FS: EmbeddedFS(), Name: "catalog"}, Source{FS: overlay, Name: "overlay"})
	if len(ds) > 0 {
		t.Fatalf("diagnostics: %s", ds)
	}
	in := c.Integrations["teams-messaging-bot"]
	if d := in.Roles["crl"].Default; d == nil || d.Kind != model.EndpointInternet || d.String() != "internet" {
		t.Errorf("role default = %+v, want the public Internet", d)
	}
	if f := in.Flow("teams-messaging-bot.out.web"); f == nil || f.Destination.Kind != model.EndpointInternet {
		t.Errorf("flow destination = %+v, want the public Internet", f)
	}
	pexip := c.Integrations["pexip-teams-connector"]
	for _, role := range []string{"ocsp-responder", "windows-update"} {
		if d := pexip.Roles[role].Default; d == nil || d.Kind != model.EndpointInternet {
			t.Errorf("%s default = %+v, want the public Internet", role, d)
		}
	}
	for _, id := range []string{"pexip-teams-connector.rdp-deny", "pexip-teams-connector.any-to-cn.dial-instructions"} {
		if f := pexip.Flow(id); f.Source.Kind != model.EndpointAny {
			t.Errorf("%s: source %s, want any", id, f.Source)
		}
	}
}

func TestBadCatalog(t *testing.T) {
	tests := []struct {
		name, file, data, want string
	}{
		{name: "unknown key", file: "integrations/x.yaml", data: "integration: teams-messaging-bot\nflowz: []\n", want: `integrations/x.yaml:2:1: unknown key "flowz" (did you mean "flows"?)`},
		{name: "unknown role", file: "integrations/x.yaml", data: "integration: teams-messaging-bot\nflows:\n  - id: teams-messaging-bot.y\n    from: { role: nobody }\n    to: { any: true }\n    ports: \"1\"\n    purpose: p\n    reference: { section: s }\n", want: `unknown role "nobody"`},
		{name: "bad port", file: "integrations/x.yaml", data: "integration: teams-messaging-bot\nflows:\n  - id: teams-messaging-bot.y\n    from: { any: true }\n    to: { any: true }\n    ports: \"70000\"\n    purpose: p\n    reference: { section: s }\n", want: `x.yaml:6:12: teams-messaging-bot.y: port range "70000": port 70000 out of range 0-65535`},
		{name: "two endpoint kinds", file: "integrations/x.yaml", data: "integration: teams-messaging-bot\nflows:\n  - id: teams-messaging-bot.y\n    from: { any: true, role: bot }\n    to: { any: true }\n    ports: \"1\"\n    purpose: p\n    reference: { section: s }\n", want: `exactly one of`},
		{name: "internet with another kind", file: "integrations/x.yaml", data: "integration: teams-messaging-bot\nflows:\n  - id: teams-messaging-bot.y\n    from: { role: bot }\n    to: { internet: true, hosts: [a.example.com] }\n    ports: \"1\"\n    purpose: p\n    reference: { section: s }\n", want: `x.yaml:5:9: teams-messaging-bot.y: an endpoint needs exactly one of any, internet, role, set, hosts, service_tag or m365 (found 2)`},
		{name: "internet and any", file: "integrations/x.yaml", data: "integration: teams-messaging-bot\nroles:\n  bot: { default: { internet: true, any: true } }\n", want: `exactly one of any, internet, role`},
		{name: "internet not a bool", file: "integrations/x.yaml", data: "integration: teams-messaging-bot\nflows:\n  - id: teams-messaging-bot.y\n    from: { role: bot }\n    to: { internet: public }\n    ports: \"1\"\n    purpose: p\n    reference: { section: s }\n", want: `x.yaml:5:21: flows[0].to.internet: want true or false, got "public"`},
		{name: "internet misspelt", file: "integrations/x.yaml", data: "integration: teams-messaging-bot\nflows:\n  - id: teams-messaging-bot.y\n    from: { role: bot }\n    to: { internets: true }\n    ports: \"1\"\n    purpose: p\n    reference: { section: s }\n", want: `unknown key "internets" (did you mean "internet"?)`},
		{name: "derived without reason", file: "integrations/x.yaml", data: "integration: teams-messaging-bot\nflows:\n  - id: teams-messaging-bot.y\n    from: { any: true }\n    to: { any: true }\n    ports: \"1\"\n    purpose: p\n    status: derived\n    reference: { section: s }\n", want: `needs a status_reason`},
		{name: "host bits", file: "catalog.yaml", data: "address_sets:\n  teams-service:\n    values:\n      worldwide: { prefixes: [52.112.0.1/14] }\n", want: `host bits set (did you mean 52.112.0.0/14?)`},
		{name: "malformed yaml", file: "catalog.yaml", data: "address_sets: [\n", want: `overlay/catalog.yaml:1:15: unclosed [ opened here: the file ends before its ]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			overlay := fstest.MapFS{tt.file: {Data: []byte(tt.data)}}
			_, ds := Load(Source{FS: EmbeddedFS(), Name: "catalog"}, Source{FS: overlay, Name: "overlay"})
			if !ds.HasErrors() || !strings.Contains(ds.String(), tt.want) {
				t.Errorf("diagnostics:\n%s\nwant one containing %q", ds, tt.want)
			}
		})
	}
}

// FuzzOverlay: an overlay is user input. Any overlay files give a catalog
// or errors, never a panic, and every diagnostic names its file.
func FuzzOverlay(f *testing.F) {
	f.Add([]byte("version: \"x\"\naddress_sets:\n  teams-service:\n    values:\n      worldwide: { prefixes: [198.18.0.0/24] }\n"),
		[]byte("integration: teams-messaging-bot\nflows:\n  - id: teams-messaging-bot.out.extra\n    from: { role: bot }\n    to: { hosts: [extra.example.com] }\n    ports: \"8443\"\n    purpose: p\n    reference: { section: s }\n"))
	f.Add([]byte("address_sets: [\n"), []byte("integration: nothing\n"))
	f.Fuzz(func(t *testing.T, cat, integration []byte) {
		overlay := fstest.MapFS{}
		if len(cat) > 0 {
			overlay["catalog.yaml"] = &fstest.MapFile{Data: cat}
		}
		if len(integration) > 0 {
			overlay["integrations/x.yaml"] = &fstest.MapFile{Data: integration}
		}
		c, ds := Load(Source{FS: EmbeddedFS(), Name: "catalog"}, Source{FS: overlay, Name: "overlay"})
		for _, d := range ds {
			if d.Pos.File == "" {
				t.Errorf("diagnostic without a file: %s", d)
			}
		}
		if !ds.HasErrors() && c == nil {
			t.Error("no errors and no catalog")
		}
	})
}
