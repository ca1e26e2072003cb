package iptables_test

import (
	"bytes"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/render/iptables"
	"github.com/teamsgate/teamsgate/internal/servicetag"
	"github.com/teamsgate/teamsgate/internal/testutil"
	"github.com/teamsgate/teamsgate/internal/view"
)

// proxy is the egress proxy the golden renders send host-name flows to.
var proxy = netip.MustParseAddrPort("192.0.2.3:3128")

// goldenCase is one render of an example spec.
type goldenCase struct {
	example string
	variant string // golden files: testdata/EXAMPLE.VARIANT.rules.v4 and .v6
	scope   string
	fqdn    view.FQDNMode
	tags    bool // expand service tags from testdata/servicetags.json
}

// goldenCases renders every example as a perimeter and, where the spec has
// roles, scoped to one of them.
var goldenCases = []goldenCase{
	{example: "messaging-bot", variant: "perimeter", fqdn: view.FQDNViaProxy},
	{example: "messaging-bot", variant: "bot", scope: "bot", fqdn: view.FQDNSkip},
	{example: "calling-bot", variant: "perimeter", fqdn: view.FQDNViaProxy, tags: true},
	{example: "calling-bot", variant: "bot", scope: "bot", fqdn: view.FQDNSkip, tags: true},
	{example: "pexip", variant: "perimeter", fqdn: view.FQDNSkip},
	{example: "pexip", variant: "teams-connector-instances", scope: "teams-connector-instances", fqdn: view.FQDNViaProxy},
	{example: "pexip", variant: "conferencing-nodes", scope: "conferencing-nodes"},
	{example: "teamspro", variant: "perimeter", fqdn: view.FQDNViaProxy},
	{example: "teamspro", variant: "clients", scope: "clients", fqdn: view.FQDNViaProxy},
	{example: "combined", variant: "perimeter", fqdn: view.FQDNViaProxy},
	{example: "combined", variant: "calling-bot", scope: "teams-calling-bot/bot", fqdn: view.FQDNSkip},
}

func (c goldenCase) options(t *testing.T) view.Options {
	opt := view.Options{Scope: c.scope, FQDN: c.fqdn}
	if c.fqdn == view.FQDNViaProxy {
		opt.Proxy = proxy
	}
	if c.tags {
		data, ds := servicetag.ParseFile(filepath.Join("testdata", "servicetags.json"))
		if ds.HasErrors() {
			t.Fatal(ds)
		}
		opt.ServiceTags = data
	}
	return opt
}

func TestGolden(t *testing.T) {
	covered := map[string]bool{}
	for _, c := range goldenCases {
		covered[c.example] = true
		t.Run(c.example+"/"+c.variant, func(t *testing.T) {
			p := testutil.Plan(t, testutil.ExamplePath(c.example), "")
			opt := c.options(t)
			out, ds := iptables.New().Render(p, opt)
			if ds.HasErrors() {
				t.Fatalf("render: %s", ds)
			}
			if len(out.Files) != 2 {
				t.Fatalf("got %d files, want %s and %s", len(out.Files), iptables.FileV4, iptables.FileV6)
			}
			again, _ := iptables.New().Render(testutil.Plan(t, testutil.ExamplePath(c.example), ""), opt)
			for _, name := range []string{iptables.FileV4, iptables.FileV6} {
				got := out.Files[name]
				testutil.Golden(t, filepath.Join("testdata", c.example+"."+c.variant+"."+name), got)
				if !bytes.Equal(got, again.Files[name]) {
					t.Errorf("%s: rendering twice gave different output", name)
				}
				checkFile(t, name, got)
			}
		})
	}
	for _, ex := range testutil.Examples() {
		if !covered[ex] {
			t.Errorf("example %s has no golden render", ex)
		}
	}
}

// checkFile checks the shape iptables-restore needs: one *filter table
// ending in COMMIT, comments within the comment match's limit, multiport
// lists within its limit.
func checkFile(t *testing.T, name string, f []byte) {
	t.Helper()
	s := string(f)
	if strings.Count(s, "*filter\n") != 1 || !strings.HasSuffix(s, "COMMIT\n") {
		t.Errorf("%s: want one *filter table ending in COMMIT", name)
	}
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		if _, c, ok := strings.Cut(line, ` --comment "`); ok {
			c, _, _ = strings.Cut(c, `" -j`)
			if len(c) > 255 || strings.Contains(c, `"`) {
				t.Errorf("%s: comment of %d bytes or with a quote: %q", name, len(c), c)
			}
		}
		for _, opt := range []string{"--dports ", "--sports "} {
			if _, list, ok := strings.Cut(line, opt); ok {
				list, _, _ = strings.Cut(list, " ")
				cost := 0
				for _, p := range strings.Split(list, ",") {
					cost++
					if strings.Contains(p, ":") {
						cost++
					}
				}
				if cost > 15 {
					t.Errorf("%s: multiport list %s counts %d ports, more than 15", name, list, cost)
				}
			}
		}
	}
}

func TestFQDNFlowsAreAnErrorByDefault(t *testing.T) {
	p := testutil.Plan(t, testutil.ExamplePath("teamspro"), "")
	out, ds := iptables.New().Render(p, view.Options{})
	if !ds.HasErrors() || out.Files != nil {
		t.Fatalf("want an error and no files, got %v", ds)
	}
	for _, want := range []string{"teamspro-saas.apps", "*.teams-pro.com", "--fqdn-via-proxy"} {
		if !strings.Contains(ds.String(), want) {
			t.Errorf("error does not mention %q:\n%s", want, ds)
		}
	}
}

// TestMultiportSplit: more than 15 ports (a range counting two) become
// several rules.
func TestMultiportSplit(t *testing.T) {
	p := testutil.Plan(t, testutil.ExamplePath("pexip"), "")
	r := p.Rule("pexip-teams-connector.any-to-cn.dial-instructions")
	var rs []model.PortRange
	for i := uint16(0); i < 14; i++ {
		rs = append(rs, model.Port(1000+10*i))
	}
	rs = append(rs, model.PortRange{First: 2000, Last: 2010}, model.Port(3000))
	r.DestPorts = model.NewPortSet(rs...)
	out, ds := iptables.New().Render(p, view.Options{FQDN: view.FQDNSkip})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	f := string(out.Files[iptables.FileV4])
	checkFile(t, iptables.FileV4, out.Files[iptables.FileV4])
	for _, want := range []string{
		"-m multiport --dports 1000,1010,1020,1030,1040,1050,1060,1070,1080,1090,1100,1110,1120,1130 ",
		"-m multiport --dports 2000:2010,3000 ",
	} {
		if !strings.Contains(f, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

// TestDenyBeforeAccept: without management addresses the Pexip plan
// denies RDP to the instances, and the DROP comes before every ACCEPT.
func TestDenyBeforeAccept(t *testing.T) {
	p := testutil.PlanBytes(t, `
name: no-management
cloud: worldwide
integrations:
  pexip-teams-connector:
    roles:
      conferencing-nodes: { addresses: [203.0.113.10] }
      teams-connector-lb: { addresses: [198.51.100.40] }
      teams-connector-instances: { addresses: [198.51.100.64/28] }
`, "")
	for _, scope := range []string{"", "teams-connector-instances"} {
		out, ds := iptables.New().Render(p, view.Options{Scope: scope, FQDN: view.FQDNSkip})
		if ds.HasErrors() {
			t.Fatal(ds)
		}
		f := string(out.Files[iptables.FileV4])
		rule := `-d 198.51.100.64/28 -p tcp -m tcp --dport 3389 -m comment --comment "pexip-teams-connector.rdp-deny`
		drop := strings.Index(f, rule)
		first := strings.Index(f, `--comment "pexip-teams-connector.`)
		if drop < 0 || drop+len(rule)-len(`--comment "pexip-teams-connector.rdp-deny`) != first || !strings.HasSuffix(strings.SplitN(f[drop:], "\n", 2)[0], "-j DROP") {
			t.Errorf("scope %q: want the rdp-deny DROP (at %d) as the first flow rule (first at %d):\n%s", scope, drop, first, f)
		}
	}
}

func TestScopedPolicies(t *testing.T) {
	p := testutil.Plan(t, testutil.ExamplePath("pexip"), "")
	out, ds := iptables.New().Render(p, view.Options{Scope: "conferencing-nodes"})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	v4, v6 := string(out.Files[iptables.FileV4]), string(out.Files[iptables.FileV6])
	for _, want := range []string{":INPUT DROP", ":FORWARD ACCEPT", ":OUTPUT DROP", "-A INPUT -i lo", "-A INPUT -j teamsgate-in", "-A OUTPUT -j teamsgate-out"} {
		if !strings.Contains(v4, want) || !strings.Contains(v6, want) {
			t.Errorf("scoped render lacks %q", want)
		}
	}
	if !strings.Contains(v6, "neighbour-solicitation") {
		t.Error("the IPv6 host render must accept neighbour discovery")
	}
	if strings.Contains(v4, "-A teamsgate-in -s 203.0.113.10/31") {
		t.Error("traffic from the conferencing nodes belongs in teamsgate-out")
	}
}

func TestLongCommentIsCut(t *testing.T) {
	p := testutil.Plan(t, testutil.ExamplePath("pexip"), "")
	p.Rules[0].Purpose = strings.Repeat("é", 200) + `"quoted"`
	out, ds := iptables.New().Render(p, view.Options{FQDN: view.FQDNSkip})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	checkFile(t, iptables.FileV4, out.Files[iptables.FileV4])
	if !strings.Contains(string(out.Files[iptables.FileV4]), `é..." -j ACCEPT`) {
		t.Error("a long comment should be cut on a character boundary and end in ...")
	}
}
