package egress_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/teamsgate/teamsgate/internal/catalog"
	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/egress"
	"github.com/teamsgate/teamsgate/internal/egress/policy"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/planfile"
	"github.com/teamsgate/teamsgate/internal/testutil"
)

// graphBotHead is a messaging bot that calls Graph, six lines before the
// egress: section.
const graphBotHead = `name: t
cloud: worldwide
integrations:
  teams-messaging-bot:
    roles:
      bot: {addresses: [198.51.100.10]}
    parameters: {graph: true}
`

// sectionConfig plans spec text, written as name in a temporary directory, and
// builds the proxy's configuration from its egress: section, with every
// diagnostic of the steps.
func sectionConfig(t *testing.T, src string) (*egress.Config, diag.List) {
	t.Helper()
	cat, ds := catalog.Embedded()
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	pl, ds := planfile.Read(cat, []byte(src), filepath.Join(t.TempDir(), "spec.yaml"))
	if pl == nil {
		t.Fatalf("spec and plan: %s", ds)
	}
	return egress.FromSection(pl.Spec.Egress, pl.Spec.File, pl.Plan)
}

func mustSectionConfig(t *testing.T, src string) *egress.Config {
	t.Helper()
	cfg, ds := sectionConfig(t, src)
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	return cfg
}

// TestSectionStrict: unknown keys, values of the wrong kind and bad
// values are errors at their line and column naming the key, all of them
// at once.
func TestSectionStrict(t *testing.T) {
	tests := []struct {
		name    string
		section string
		want    []string // "line:col: the start of the message", each error once
	}{
		{
			name:    "unknown keys and wrong kinds",
			section: "egress:\n  listn: 127.0.0.1:3128\n  limits:\n    rate: fast\n    max_tunnels: [1]\n  allow_non_tls: maybe\n",
			want: []string{
				`9:3: egress: unknown key "listn" (did you mean "listen"?)`,
				`11:11: egress.limits.rate: want a number`,
				`12:18: egress.limits.max_tunnels: want a whole number`,
				`13:18: egress.allow_non_tls: want true or false`,
			},
		},
		{
			name: "bad values",
			section: `egress:
  listen: proxy.example:3128
  mode: block
  identity: ip
  allow_ranges: [10.0.0.1/8, 0.0.0.0/0]
  dns: [ns.example, "[2001:db8::53]:0"]
  tls_ports: [443, 70000]
  pac_proxy: 0.0.0.0:3128
  admin: {listen: "0.0.0.0:9091"}
  limits:
    burst: 0
    rate: -1
    connect_timeout: 10
    idle_timeout: 0s
    max_header_bytes: 2MiB
    dns_cache: 2h
`,
			want: []string{
				`9:11: egress: listen address "proxy.example:3128": the host must be an IP address`,
				`10:9: egress: mode "block": want enforce or report`,
				`11:13: egress: identity "ip": want none, source or certificate`,
				`12:18: egress: prefix "10.0.0.1/8" has host bits set (did you mean 10.0.0.0/8?)`,
				`12:30: egress: allow range 0.0.0.0/0 is every address`,
				`13:9: egress: name server "ns.example": want an IP address`,
				`13:21: egress: name server "[2001:db8::53]:0": want a unicast address and a port above 0`,
				`14:20: egress: port range "70000"`,
				`15:14: egress: pac_proxy "0.0.0.0:3128": want the IP address and port`,
				`16:19: egress: admin listener "0.0.0.0:9091" listens on every address`,
				`18:12: egress: 0: want 1 to`,
				`19:11: egress: rate -1: want requests per second`,
				`20:22: egress: duration "10": want e.g. 5s`,
				`21:19: egress: duration "0s": want a positive duration`,
				`22:23: egress: size "2MiB": at most 1048576 bytes`,
				`23:16: egress: dns_cache 2h0m0s: at most 1h0m0s`,
			},
		},
		{
			name:    "scope and clients",
			section: "egress:\n  scope: [bto, teams-messaging-bot/bot, bot]\n  identity: source\n  clients:\n    - {role: teams-calling-bot/bot, prefixes: [192.0.2.0/24]}\n    - {role: bot}\n",
			want: []string{
				`9:11: egress: "bto" is no role of the spec (did you mean "bot"?)`,
				`9:41: egress: role teams-messaging-bot/bot is in scope twice`,
				`13:7: egress: a client needs its prefixes`,
				`12:14: egress: "teams-calling-bot/bot" is no role of the spec`,
			},
		},
		{
			name:    "tls and identity",
			section: "egress:\n  identity: certificate\n  clients: [{role: bot, prefixes: [192.0.2.0/24]}]\n  tls: {cert: missing.crt, crls: [a.crl]}\n",
			want: []string{
				`10:12: egress: clients map source addresses to roles: they need identity: source`,
				`11:8: egress: tls.key is required`,
				`11:8: egress: identity: certificate needs tls.client_ca`,
				`11:15: egress: tls.cert: "`,
				`11:34: egress: tls.crls revoke client certificates: they need tls.client_ca`,
				`11:35: egress: tls.crls.0: "`,
			},
		},
		{
			name:    "empty lists",
			section: "egress:\n  scope: []\n  tls_ports: []\n",
			want: []string{
				`9:10: egress: scope is empty`,
				`10:14: egress: tls_ports is empty`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, ds := sectionConfig(t, graphBotHead+tt.section)
			if cfg != nil {
				t.Errorf("a configuration despite the errors")
			}
			errs := ds.Errors()
			var got []string
			for _, d := range errs {
				got = append(got, strings.TrimPrefix(d.String(), d.Pos.File+":"))
			}
			for _, w := range tt.want {
				found := false
				for _, g := range got {
					found = found || strings.HasPrefix(g, w)
				}
				if !found {
					t.Errorf("no error %q in:\n  %s", w, strings.Join(got, "\n  "))
				}
			}
			if len(got) != len(tt.want) {
				t.Errorf("%d errors, want %d:\n  %s", len(got), len(tt.want), strings.Join(got, "\n  "))
			}
		})
	}
}

// TestSectionDefaults: an empty section is the proxy on 127.0.0.1:3128 for every
// role with outbound flows, enforcing, no identity, TLS checked on 443,
// Defaults' limits, the admin listener on 127.0.0.1:9091, the PAC file
// pointing at the listener.
func TestSectionDefaults(t *testing.T) {
	for _, section := range []string{"egress: {}\n", "egress:\n"} {
		cfg := mustSectionConfig(t, graphBotHead+section)
		if cfg.Listen != egress.DefaultListen || cfg.AdminListen != egress.DefaultAdminListen || cfg.Mode != egress.Enforce ||
			cfg.Identity != egress.IdentityNone || cfg.TLS != nil || cfg.AllowNonTLS || cfg.Tenant != nil || cfg.AdminTokenFile != "" {
			t.Errorf("%q: %+v", section, cfg)
		}
		if diff := cmp.Diff(egress.Defaults, cfg.Limits); diff != "" {
			t.Errorf("%q: limits (-defaults +got):\n%s", section, diff)
		}
		if !cfg.TLSPorts.Equal(model.MustParsePortSet("443")) {
			t.Errorf("tls ports %s", cfg.TLSPorts)
		}
		if cfg.PACProxy != netip.MustParseAddrPort(egress.DefaultListen) {
			t.Errorf("pac proxy %s", cfg.PACProxy)
		}
		if len(cfg.Rules) != 5 || len(cfg.Skipped) != 0 {
			t.Errorf("%d rules, skipped %q", len(cfg.Rules), cfg.Skipped)
		}
	}
}

// TestSectionValues: every key read into the configuration.
func TestSectionValues(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"proxy.crt", "proxy.key", "clients.pem", "a.crl", "admin.token"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	src := graphBotHead + `egress:
  listen: "[::]:3129"
  mode: report
  scope: [bot]
  identity: certificate
  tls: {cert: proxy.crt, key: proxy.key, client_ca: clients.pem, crls: [a.crl]}
  allow_ranges: [127.0.0.0/8, "::1"]
  dns: [192.0.2.53, "[2001:db8::53]:5353", "127.0.0.1:5300"]
  tls_ports: [443, 8443-8445]
  allow_non_tls: true
  pac_proxy: "[2001:db8::3]:3129"
  admin: {listen: 192.0.2.1:9999, token_file: admin.token}
  limits:
    max_tunnels: 100
    max_conns: 200
    rate: 2.5
    burst: 5
    connect_timeout: 1s
    dns_timeout: 2s
    header_timeout: 3s
    idle_timeout: 4m
    peek_timeout: 5s
    dns_cache: 0s
    max_header_bytes: 8KiB
`
	name := filepath.Join(dir, "spec.yaml")
	if err := os.WriteFile(name, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cat, _ := catalog.Embedded()
	pl, ds := planfile.ReadFile(cat, name)
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	cfg, ds := egress.FromSection(pl.Spec.Egress, name, pl.Plan)
	if ds.HasErrors() || len(ds) > 0 {
		t.Fatal(ds)
	}
	want := egress.Config{
		Listen:   "[::]:3129",
		Mode:     egress.Report,
		Rules:    cfg.Rules,
		Identity: egress.IdentityCertificate,
		TLS: &egress.TLS{
			CertFile: filepath.Join(dir, "proxy.crt"), KeyFile: filepath.Join(dir, "proxy.key"),
			ClientCAFile: filepath.Join(dir, "clients.pem"), CRLFiles: []string{filepath.Join(dir, "a.crl")},
		},
		AllowRanges: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
		DNS: []netip.AddrPort{
			netip.MustParseAddrPort("192.0.2.53:53"), netip.MustParseAddrPort("[2001:db8::53]:5353"), netip.MustParseAddrPort("127.0.0.1:5300"),
		},
		TLSPorts:    model.MustParsePortSet("443,8443-8445"),
		AllowNonTLS: true,
		Limits: egress.Limits{
			MaxTunnels: 100, MaxConns: 200, Rate: 2.5, Burst: 5,
			ConnectTimeout: 1e9, DNSTimeout: 2e9, HeaderTimeout: 3e9, IdleTimeout: 240e9, PeekTimeout: 5e9, DNSCache: -1,
			MaxHeaderBytes: 8 << 10,
		},
		PACProxy:       netip.MustParseAddrPort("[2001:db8::3]:3129"),
		AdminListen:    "192.0.2.1:9999",
		AdminTokenFile: filepath.Join(dir, "admin.token"),
	}
	if diff := cmp.Diff(&want, cfg, cmp.Comparer(func(a, b model.PortSet) bool { return a.Equal(b) }), cmpopts.EquateComparable(model.Host{}, netip.Prefix{}, netip.AddrPort{})); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
}

// allowLines renders an allow list as "FLOW ROLE HOSTS PREFIXES PORTS" lines.
func allowLines(rules []policy.Rule) []string {
	var out []string
	for _, r := range rules {
		var hosts, prefixes []string
		for _, h := range r.Hosts {
			hosts = append(hosts, h.String())
		}
		for _, p := range r.Prefixes {
			prefixes = append(prefixes, p.String())
		}
		out = append(out, strings.Join([]string{r.FlowID, r.Role, strings.Join(hosts, ","), strings.Join(prefixes, ","), r.Ports.String()}, " "))
	}
	return out
}

// TestAllowListExamples: the allow list of the example deployments, and
// what the proxy leaves to the firewall.
func TestAllowListExamples(t *testing.T) {
	tests := []struct {
		example string
		section string
		want    []string
		// skipped are the ids of the skipped flows, and a word of why.
		skipped []string
	}{
		{
			example: "messaging-bot",
			want: []string{
				"teams-messaging-bot.out.login teams-messaging-bot/bot login.microsoftonline.com  443",
				"teams-messaging-bot.out.botframework teams-messaging-bot/bot api.botframework.com  443",
				"teams-messaging-bot.out.graph teams-messaging-bot/bot graph.microsoft.com  443",
				"teams-messaging-bot.out.openid teams-messaging-bot/bot login.botframework.com  443",
				"teams-messaging-bot.out.reply teams-messaging-bot/bot smba.trafficmanager.net  443",
			},
		},
		{
			example: "teamspro",
			want: []string{
				"teamspro-saas.apps teamspro-saas/clients *.teams-pro.com  443",
				"teamspro-saas.metrics teamspro-saas/clients *.msecnd.net,*.visualstudio.com  443",
				"teamspro-saas.blob-cache teamspro-saas/clients *.windows.net  443",
				"teamspro-saas.graph-access teamspro-saas/clients *.microsoft.com  443",
				"teamspro-saas.web-app teamspro-saas/clients *.teams-pro.com  443",
				"teamspro-saas.help-center teamspro-saas/clients docs.teams-pro.com  443",
				"teamspro-saas.trust-center teamspro-saas/clients trust.teams-pro.com  443",
				"teamspro-saas.admin-center teamspro-saas/clients admin.teams-pro.com  443",
				"teamspro-saas.subscription teamspro-saas/clients subscription.witivio.com  443",
				"teamspro-saas.app-insights teamspro-saas/clients az416426.vo.msecnd.net,dc.services.visualstudio.com  443",
				"teamspro-saas.graph teamspro-saas/clients graph.microsoft.com  443",
				"teamspro-saas.chargebee teamspro-saas/clients *.chargebee.com  443",
				"teamspro-saas.intercom teamspro-saas/clients *.intercom.com  443",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.example, func(t *testing.T) {
			src, err := os.ReadFile(testutil.ExamplePath(tt.example))
			if err != nil {
				t.Fatal(err)
			}
			cfg := mustSectionConfig(t, string(src)+"egress: {}\n")
			if diff := cmp.Diff(tt.want, allowLines(cfg.Rules)); diff != "" {
				t.Errorf("allow list (-want +got):\n%s", diff)
			}
			if len(cfg.Skipped) != 0 {
				t.Errorf("skipped %q", cfg.Skipped)
			}
		})
	}
}

// TestAllowListCallingBot: the calling bot's outbound TCP flows to host
// names and to the Microsoft 365 sets' prefixes are allowed, each with its
// ports; its UDP flows are left to the firewall, saying so.
func TestAllowListCallingBot(t *testing.T) {
	src, err := os.ReadFile(testutil.ExamplePath("calling-bot"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := mustSectionConfig(t, string(src)+"egress: {}\n")
	got := strings.Join(allowLines(cfg.Rules), "\n")
	for _, want := range []string{
		"teams-calling-bot.out.login teams-calling-bot/bot login.microsoftonline.com  443",
		"teams-calling-bot.out.graph teams-calling-bot/bot graph.microsoft.com  443",
		"teams-calling-bot.out.m365.set19-tcp teams-calling-bot/bot adl.windows.com  80,443",
		"teams-calling-bot.out.m365.set12-tcp teams-calling-bot/bot ",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("allow list lacks %q:\n%s", want, got)
		}
	}
	i := ruleIndex(t, cfg.Rules, "teams-calling-bot.out.m365.set12-tcp")
	if i < 0 {
		t.Fatal("set 12 not allowed")
	}
	if set12 := cfg.Rules[i]; len(set12.Prefixes) == 0 || !set12.Ports.Equal(model.MustParsePortSet("80,443")) {
		t.Errorf("set 12: prefixes %v, ports %s", set12.Prefixes, set12.Ports)
	}
	for _, r := range cfg.Rules {
		if r.Role != "teams-calling-bot/bot" || strings.HasSuffix(r.FlowID, "-udp") {
			t.Errorf("rule %s of %s", r.FlowID, r.Role)
		}
	}
	if len(cfg.Skipped) != 1 || !strings.HasPrefix(cfg.Skipped[0], "teams-calling-bot.out.m365.set11-udp: udp: the proxy carries TCP only") {
		t.Errorf("skipped %q", cfg.Skipped)
	}
}

// TestAllowListSkipped: flows in scope the proxy cannot carry are listed with why:
// to the public Internet (an unbound role), and UDP; flows of roles out of
// scope are neither allowed nor listed.
func TestAllowListSkipped(t *testing.T) {
	src, err := os.ReadFile(testutil.ExamplePath("pexip"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := mustSectionConfig(t, string(src)+"egress:\n  scope: [teams-connector-instances]\n")
	want := map[string]string{
		"pexip-teams-connector.instance-to-cn.media":       "udp: the proxy carries TCP only",
		"pexip-teams-connector.instance-to-teams.media":    "udp: the proxy carries TCP only",
		"pexip-teams-connector.instance-to-ocsp":           "to the public Internet (ocsp-responder)",
		"pexip-teams-connector.instance-to-windows-update": "to the public Internet (windows-update)",
	}
	for _, s := range cfg.Skipped {
		id, why, _ := strings.Cut(s, ": ")
		if w, ok := want[id]; !ok || !strings.HasPrefix(why, w) {
			t.Errorf("skipped %q", s)
		}
		delete(want, id)
	}
	for id := range want {
		t.Errorf("%s not skipped", id)
	}
	for _, r := range cfg.Rules {
		if r.Role != "pexip-teams-connector/teams-connector-instances" {
			t.Errorf("rule %s of role %s, out of scope", r.FlowID, r.Role)
		}
	}
	if ruleIndex(t, cfg.Rules, "pexip-teams-connector.instance-to-eventhub") < 0 {
		t.Error("the event hub (host names) is not allowed")
	}
}

// TestEmptyAllowList: a scope with no flow the proxy can carry is a
// warning, not an error.
func TestEmptyAllowList(t *testing.T) {
	src, err := os.ReadFile(testutil.ExamplePath("pexip"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, ds := sectionConfig(t, string(src)+"egress:\n  scope: [teams-connector-lb]\n")
	if ds.HasErrors() || cfg == nil {
		t.Fatal(ds)
	}
	w := ds.Warnings().String()
	if len(cfg.Rules) != 0 || !strings.Contains(w, "the allow list is empty") || !strings.Contains(w, "role pexip-teams-connector/teams-connector-lb has no outbound flow the proxy can carry") {
		t.Errorf("rules %d, warnings:\n%s", len(cfg.Rules), w)
	}
}

// TestIdentitySourceClients: with identity source, a client is known by its
// role's bound addresses and the section's clients; a role bound to host
// names only is a warning.
func TestIdentitySourceClients(t *testing.T) {
	cfg := mustSectionConfig(t, `name: t
cloud: worldwide
integrations:
  teams-messaging-bot:
    roles:
      bot: {addresses: [198.51.100.10, "2001:db8::10"]}
  teamspro-saas:
    roles:
      clients: {addresses: [192.0.2.128/25]}
egress:
  identity: source
  clients:
    - {role: bot, prefixes: [198.51.100.11, 198.51.100.12/31]}
    - {role: teamspro-saas/clients, prefixes: ["2001:db8:1::/48"]}
`)
	want := []egress.Client{
		{Role: "teams-messaging-bot/bot", Prefixes: mustPrefixes("198.51.100.10/31", "198.51.100.12/31", "2001:db8::10/128")},
		{Role: "teamspro-saas/clients", Prefixes: mustPrefixes("192.0.2.128/25", "2001:db8:1::/48")},
	}
	if diff := cmp.Diff(want, cfg.Clients, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("clients (-want +got):\n%s", diff)
	}

	_, ds := sectionConfig(t, `name: t
cloud: worldwide
integrations:
  teams-messaging-bot:
    roles:
      bot: {hosts: [bot.contoso.example]}
egress:
  identity: source
`)
	if !strings.Contains(ds.String(), "role teams-messaging-bot/bot has no addresses to know its clients by") ||
		!strings.Contains(ds.Errors().String(), "no role in scope has addresses") {
		t.Errorf("a role bound to names only:\n%s", ds)
	}
}

// TestTenantRestrictionsNeedThePlan: tenant_restrictions takes the
// tenants from the plan; without them in force it is an error, and
// without its CA too.
func TestTenantRestrictionsNeedThePlan(t *testing.T) {
	_, ds := sectionConfig(t, graphBotHead+"egress:\n  tenant_restrictions: {ca_cert: ca.crt}\n")
	got := ds.Errors().String()
	for _, want := range []string{"needs ca_cert and ca_key", `tenant_restrictions.ca_cert: "`, "no tenant restrictions in force"} {
		if !strings.Contains(got, want) {
			t.Errorf("no error %q in:\n%s", want, got)
		}
	}
}

// TestNoSection: FromSection of a spec without the section says so.
func TestNoSection(t *testing.T) {
	cfg, ds := sectionConfig(t, graphBotHead)
	if cfg != nil || !strings.Contains(ds.String(), "no egress: section") {
		t.Errorf("config %v, diagnostics %s", cfg, ds)
	}
}

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

func ruleIndex(t *testing.T, rules []policy.Rule, id string) int {
	t.Helper()
	for i, r := range rules {
		if r.FlowID == id {
			return i
		}
	}
	return -1
}
