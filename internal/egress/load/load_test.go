package load

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/teamsgate/teamsgate/internal/catalog"
	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/egress"
	"github.com/teamsgate/teamsgate/internal/planfile"
	"github.com/teamsgate/teamsgate/internal/testutil"
)

func embedded(t *testing.T) *catalog.Catalog {
	t.Helper()
	c, ds := catalog.Embedded()
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	return c
}

// proxy reads spec text, plans it and builds the proxy's configuration,
// with every diagnostic of the steps.
func proxy(t *testing.T, src string) (*egress.Config, diag.List) {
	t.Helper()
	pl, ds := planfile.Read(embedded(t), []byte(src), filepath.Join(t.TempDir(), "spec.yaml"))
	if pl == nil {
		t.Fatalf("spec and plan: %s", ds)
	}
	cfg, cds := Config(pl.Spec, pl.Plan)
	ds.Append(cds)
	return cfg, ds
}

// TestExample: the shipped example loads without a warning: the bot's
// five flows on 443, and the PAC file sending exactly their hosts through
// the proxy's listener.
func TestExample(t *testing.T) {
	cfg, ds := File(embedded(t), testutil.ExamplePath("egress"))
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	if len(ds) != 0 {
		t.Errorf("warnings: %s", ds)
	}
	var hosts []string
	for _, r := range cfg.Rules {
		if r.Ports.String() != "443" || r.Role != "teams-messaging-bot/bot" {
			t.Errorf("rule %s: role %s, ports %s", r.FlowID, r.Role, r.Ports)
		}
		for _, h := range r.Hosts {
			hosts = append(hosts, h.String())
		}
	}
	want := "login.microsoftonline.com api.botframework.com graph.microsoft.com login.botframework.com smba.trafficmanager.net"
	if got := strings.Join(hosts, " "); got != want {
		t.Errorf("hosts %q, want %q", got, want)
	}
	pac := string(cfg.PAC)
	if !strings.Contains(pac, `var teamsgateListed = "PROXY 127.0.0.1:3128";`) || !strings.Contains(pac, `var teamsgateOther = "DIRECT";`) {
		t.Errorf("PAC file does not send the listed hosts to the proxy:\n%s", pac)
	}
	for _, h := range hosts {
		if !strings.Contains(pac, `h == "`+h+`"`) {
			t.Errorf("PAC file lacks %s", h)
		}
	}
	if strings.Contains(pac, "bot.contoso.example") || strings.Contains(pac, "teams-messaging-bot.in.activity") {
		t.Errorf("PAC file names the inbound flow:\n%s", pac)
	}
}

// TestPAC: the PAC file names pac_proxy; with several roles in scope it
// holds each one's hosts; with no address for clients, or no host name,
// there is none, and a warning says why.
func TestPAC(t *testing.T) {
	two := `name: t
cloud: worldwide
integrations:
  teams-messaging-bot:
    roles:
      bot: {addresses: [198.51.100.10]}
  teamspro-saas:
    roles:
      clients: {addresses: [192.0.2.128/25]}
`
	tests := []struct {
		name, section string
		// want are strings of the PAC file; none means no file, and a
		// warning holding warn.
		want []string
		warn string
	}{
		{
			name:    "pac_proxy",
			section: "egress:\n  listen: 0.0.0.0:3128\n  admin: {listen: 127.0.0.1:0}\n  pac_proxy: 192.0.2.3:3128\n",
			want:    []string{`"PROXY 192.0.2.3:3128"`, `h == "api.botframework.com"`, `teamsgateOneLabel(h, "teams-pro.com")`, "scope: perimeter"},
		},
		{
			name:    "one role",
			section: "egress:\n  scope: [teamspro-saas/clients]\n  pac_proxy: \"[2001:db8::3]:3128\"\n",
			want:    []string{`"PROXY [2001:db8::3]:3128"`, `teamsgateOneLabel(h, "teams-pro.com")`, "scope: host/subnet firewall of role teamspro-saas/clients"},
		},
		{
			name:    "every address, no pac_proxy",
			section: "egress:\n  listen: \":3128\"\n",
			warn:    `no proxy.pac: the listener ":3128" names no one address`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, ds := proxy(t, two+tt.section)
			if ds.HasErrors() {
				t.Fatal(ds)
			}
			pac := string(cfg.PAC)
			if tt.want == nil {
				if pac != "" || !strings.Contains(ds.Warnings().String(), tt.warn) {
					t.Errorf("PAC file %d bytes; warnings:\n%s", len(pac), ds)
				}
				return
			}
			for _, w := range tt.want {
				if !strings.Contains(pac, w) {
					t.Errorf("PAC file lacks %q:\n%s", w, pac)
				}
			}
			if tt.name == "one role" && strings.Contains(pac, "botframework") {
				t.Errorf("PAC file names a host of a role out of scope")
			}
		})
	}
}

// TestPACNoHosts: an allow list with no host name for a PAC file (RDP to
// the Teams Connector's addresses) has none, and says why.
func TestPACNoHosts(t *testing.T) {
	src, err := os.ReadFile(testutil.ExamplePath("pexip"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, ds := proxy(t, string(src)+"egress:\n  scope: [management]\n")
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	if len(cfg.Rules) == 0 || cfg.PAC != nil || !strings.Contains(ds.Warnings().String(), "egress: no proxy.pac: pac: nothing to render") {
		t.Errorf("%d rules, PAC %d bytes, warnings:\n%s", len(cfg.Rules), len(cfg.PAC), ds)
	}
}

// TestNoSection: a spec without the section is an error naming it.
func TestNoSection(t *testing.T) {
	cfg, ds := File(embedded(t), testutil.ExamplePath("messaging-bot"))
	if cfg != nil || !strings.Contains(ds.Errors().String(), "the spec has no egress: section") {
		t.Errorf("config %v, diagnostics:\n%s", cfg, ds)
	}
}
