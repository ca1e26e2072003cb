package policy

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/teamsgate/teamsgate/internal/model"
)

func hosts(s ...string) []model.Host {
	out := make([]model.Host, len(s))
	for i, h := range s {
		out[i] = model.MustParseHost(h)
	}
	return out
}

func prefixes(s ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(s))
	for i, p := range s {
		out[i] = netip.MustParsePrefix(p)
	}
	return out
}

var testRules = []Rule{
	{FlowID: "bot-graph", Role: "bot/bot", Hosts: hosts("graph.microsoft.com"), Ports: model.MustParsePortSet("443")},
	{FlowID: "teamspro-app", Role: "teamspro/app", Hosts: hosts("*.teams-pro.com"), Ports: model.MustParsePortSet("443")},
	{FlowID: "api-https", Role: "bot/bot", Hosts: hosts("api.example.com", "bücher.example"), Ports: model.MustParsePortSet("443")},
	{FlowID: "api-http", Role: "teamspro/app", Hosts: hosts("api.example.com"), Ports: model.MustParsePortSet("80")},
	{FlowID: "teams-media", Role: "bot/bot", Prefixes: prefixes("52.112.0.0/14", "2603:1063::/38"), Ports: model.MustParsePortSet("443,3478-3481")},
	{FlowID: "wild-later", Role: "bot/bot", Hosts: hosts("*.example.com", "x.example.com"), Ports: model.MustParsePortSet("443")},
	{FlowID: "exact-later", Role: "bot/bot", Hosts: hosts("app.teams-pro.com"), Ports: model.MustParsePortSet("443")},
	{FlowID: "no-ports", Role: "bot/bot", Hosts: hosts("noports.example.net")},
}

func TestAllowListCheck(t *testing.T) {
	l := NewAllowList(testRules)
	tests := []struct {
		name   string
		target string // a CONNECT authority
		roles  []string
		want   Verdict
	}{
		{name: "exact", target: "graph.microsoft.com:443", want: Verdict{Reason: Allowed, FlowID: "bot-graph", Detail: "graph.microsoft.com"}},
		{name: "CVE-2022-24825", target: "GRAPH.Microsoft.COM.:443", want: Verdict{Reason: Allowed, FlowID: "bot-graph", Detail: "graph.microsoft.com"}},
		{name: "percent-encoded", target: "%67raph.microsoft.com:443", want: Verdict{Reason: Allowed, FlowID: "bot-graph", Detail: "graph.microsoft.com"}},
		{name: "port refused", target: "graph.microsoft.com:8443", want: Verdict{Reason: PortNotAllowed, Detail: `host "graph.microsoft.com" is allowed on port 443, not 8443`}},
		{name: "ports of every rule named", target: "api.example.com:8443", want: Verdict{Reason: PortNotAllowed, Detail: `host "api.example.com" is allowed on port 80,443, not 8443`}},
		{name: "second rule's port", target: "api.example.com:80", want: Verdict{Reason: Allowed, FlowID: "api-http", Detail: "api.example.com"}},
		{name: "rule without ports", target: "noports.example.net:443", want: Verdict{Reason: PortNotAllowed, Detail: `host "noports.example.net" is allowed on port none, not 443`}},

		{name: "wildcard", target: "app.teams-pro.com:443", want: Verdict{Reason: Allowed, FlowID: "teamspro-app", Detail: "*.teams-pro.com"}},
		{name: "wildcard apex", target: "teams-pro.com:443", want: Verdict{Reason: HostNotAllowed, Detail: `no rule allows host "teams-pro.com"`}},
		{name: "wildcard depth", target: "a.b.teams-pro.com:443", want: Verdict{Reason: HostNotAllowed, Detail: `no rule allows host "a.b.teams-pro.com"`}},
		{name: "suffix attack", target: "evil-teams-pro.com:443", want: Verdict{Reason: HostNotAllowed, Detail: `no rule allows host "evil-teams-pro.com"`}},
		{name: "suffix attack no dash", target: "evilteams-pro.com:443", want: Verdict{Reason: HostNotAllowed, Detail: `no rule allows host "evilteams-pro.com"`}},
		{name: "prefix attack", target: "teams-pro.com.evil.example:443", want: Verdict{Reason: HostNotAllowed, Detail: `no rule allows host "teams-pro.com.evil.example"`}},
		{name: "wildcard prefix attack", target: "app.teams-pro.com.evil.example:443", want: Verdict{Reason: HostNotAllowed, Detail: `no rule allows host "app.teams-pro.com.evil.example"`}},
		{name: "exact suffix attack", target: "xgraph.microsoft.com:443", want: Verdict{Reason: HostNotAllowed, Detail: `no rule allows host "xgraph.microsoft.com"`}},

		{name: "first rule names the flow: wildcard before exact", target: "app.teams-pro.com:443", roles: []string{"bot/bot", "teamspro/app"}, want: Verdict{Reason: Allowed, FlowID: "teamspro-app", Detail: "*.teams-pro.com"}},
		{name: "a rule names its exact pattern before its wildcard", target: "x.example.com:443", want: Verdict{Reason: Allowed, FlowID: "wild-later", Detail: "x.example.com"}},
		{name: "first rule names the flow: exact rule first", target: "api.example.com:443", want: Verdict{Reason: Allowed, FlowID: "api-https", Detail: "api.example.com"}},

		{name: "IDNA U-label", target: "bücher.example:443", want: Verdict{Reason: Allowed, FlowID: "api-https", Detail: "xn--bcher-kva.example"}},
		{name: "IDNA A-label", target: "XN--BCHER-KVA.example:443", want: Verdict{Reason: Allowed, FlowID: "api-https", Detail: "xn--bcher-kva.example"}},

		{name: "IPv4 in prefix", target: "52.112.0.1:443", want: Verdict{Reason: Allowed, FlowID: "teams-media", Detail: "52.112.0.0/14"}},
		{name: "IPv4 last of prefix", target: "52.115.255.255:3481", want: Verdict{Reason: Allowed, FlowID: "teams-media", Detail: "52.112.0.0/14"}},
		{name: "IPv4 past prefix", target: "52.116.0.0:443", want: Verdict{Reason: AddrNotAllowed, Detail: "no rule allows address 52.116.0.0"}},
		{name: "IPv4 port refused", target: "52.112.0.1:80", want: Verdict{Reason: AddrNotAllowed, Detail: "address 52.112.0.1 is allowed on port 443,3478-3481, not 80"}},
		{name: "IPv6 in prefix", target: "[2603:1063::1]:3478", want: Verdict{Reason: Allowed, FlowID: "teams-media", Detail: "2603:1063::/38"}},
		{name: "IPv4-mapped is not the IPv4 address", target: "[::ffff:52.112.0.1]:443", want: Verdict{Reason: AddrNotAllowed, Detail: "no rule allows address ::ffff:52.112.0.1"}},
		{name: "address of an allowed name", target: "192.0.2.1:443", want: Verdict{Reason: AddrNotAllowed, Detail: "no rule allows address 192.0.2.1"}},

		{name: "role applies", target: "graph.microsoft.com:443", roles: []string{"bot/bot"}, want: Verdict{Reason: Allowed, FlowID: "bot-graph", Detail: "graph.microsoft.com"}},
		{name: "role does not apply", target: "graph.microsoft.com:443", roles: []string{"teamspro/app"}, want: Verdict{Reason: HostNotAllowed, Detail: `no rule allows host "graph.microsoft.com" for roles [teamspro/app]`}},
		{name: "role picks the rule", target: "api.example.com:443", roles: []string{"teamspro/app"}, want: Verdict{Reason: PortNotAllowed, Detail: `host "api.example.com" is allowed on port 80, not 443 for roles [teamspro/app]`}},
		{name: "no roles", target: "graph.microsoft.com:443", roles: []string{}, want: Verdict{Reason: HostNotAllowed, Detail: `no rule allows host "graph.microsoft.com" for roles []`}},
		{name: "role of prefix", target: "52.112.0.1:443", roles: []string{"teamspro/app"}, want: Verdict{Reason: AddrNotAllowed, Detail: "no rule allows address 52.112.0.1 for roles [teamspro/app]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target, err := ParseConnect(tt.target)
			if err != nil {
				t.Fatal(err)
			}
			got := l.Check(target, tt.roles)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Check(%v, %q) (-want +got):\n%s", target, tt.roles, diff)
			}
			if got.Allowed() != (tt.want.Reason == Allowed) {
				t.Errorf("Allowed() = %v for %s", got.Allowed(), got.Reason)
			}
		})
	}
	if v := l.Check(Target{}, nil); v.Reason != BadTarget {
		t.Errorf("Check(zero Target) = %+v, want %s", v, BadTarget)
	}
}

func TestAllowListRules(t *testing.T) {
	in := slices.Clone(testRules)
	in[0].Hosts = hosts("graph.microsoft.com")
	l := NewAllowList(in)
	in[0].Hosts[0] = model.MustParseHost("evil.example") // the list keeps its own copy
	got := l.Rules()
	if diff := cmp.Diff(testRules, got, cmp.AllowUnexported(model.Host{}, model.PortSet{}), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("Rules() (-want +got):\n%s", diff)
	}
	got[0].Hosts[0] = model.MustParseHost("evil.example") // and gives out copies
	if v := l.Check(name("evil.example", 443), nil); v.Allowed() {
		t.Errorf("a change to Rules()' result changed the list: %+v", v)
	}
}

// TestAllowListOracle checks the indexed lookup against model.Host.Matches
// over every rule in order, for random rules and names over a small
// alphabet, so that exact names, wildcards, apexes and deeper names meet.
func TestAllowListOracle(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	labels := []string{"a", "b", "c"}
	randName := func() string {
		n := labels[r.IntN(3)] + ".x"
		for range r.IntN(3) {
			n = labels[r.IntN(3)] + "." + n
		}
		return n
	}
	ports := []uint16{80, 443, 8443}
	roles := []string{"r1", "r2"}
	for range 300 {
		var rules []Rule
		for i := range 1 + r.IntN(6) {
			var hs []string
			for range 1 + r.IntN(2) {
				h := randName()
				if r.IntN(2) == 0 {
					h = "*." + h
				}
				hs = append(hs, h)
			}
			rules = append(rules, Rule{
				FlowID: fmt.Sprint("f", i), Role: roles[r.IntN(2)], Hosts: hosts(hs...),
				Ports: model.NewPortSet(model.Port(ports[r.IntN(3)]), model.Port(ports[r.IntN(3)])),
			})
		}
		l := NewAllowList(rules)
		for range 20 {
			target := name(randName(), ports[r.IntN(3)])
			var rs []string
			if r.IntN(2) == 0 {
				rs = roles[:1]
			}
			want := Verdict{Reason: HostNotAllowed}
			for _, rule := range rules {
				if rs != nil && !slices.Contains(rs, rule.Role) || !slices.ContainsFunc(rule.Hosts, func(h model.Host) bool { return h.Matches(target.Host) }) {
					continue
				}
				if rule.Ports.Contains(target.Port) {
					want = Verdict{Reason: Allowed, FlowID: rule.FlowID}
					break
				}
				want.Reason = PortNotAllowed
			}
			got := l.Check(target, rs)
			if got.Reason != want.Reason || got.FlowID != want.FlowID {
				t.Fatalf("rules %v, Check(%v, %v) = %+v; want %s %s", rules, target, rs, got, want.Reason, want.FlowID)
			}
		}
	}
}

// manyRules is an allow list the size of a large estate's: n rules, each
// with an exact name, a wildcard and a prefix.
func manyRules(n int) []Rule {
	rules := make([]Rule, n)
	for i := range rules {
		rules[i] = Rule{
			FlowID:   fmt.Sprint("flow-", i),
			Role:     fmt.Sprint("role-", i%10),
			Hosts:    hosts(fmt.Sprintf("svc%d.tenant%d.example.com", i, i%50), fmt.Sprintf("*.t%d.example.net", i)),
			Prefixes: []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{20, byte(i >> 8), byte(i), 0}), 24)},
			Ports:    model.MustParsePortSet("443"),
		}
	}
	return rules
}

func TestAllowListAllocs(t *testing.T) {
	l := NewAllowList(manyRules(1000))
	for _, target := range []Target{name("svc500.tenant0.example.com", 443), name("a.t999.example.net", 443), addr("20.3.231.1", 443)} {
		if n := testing.AllocsPerRun(100, func() { l.Check(target, nil) }); n != 0 {
			t.Errorf("Check(%v) allocates %v times; an allowed target must not allocate", target, n)
		}
	}
}

func BenchmarkCheck(b *testing.B) {
	l := NewAllowList(manyRules(5000))
	for _, bc := range []struct {
		name   string
		target Target
		roles  []string
	}{
		{name: "exact", target: name("svc4321.tenant21.example.com", 443)},
		{name: "wildcard", target: name("api.t4999.example.net", 443)},
		{name: "roles", target: name("api.t4999.example.net", 443), roles: []string{"role-1", "role-9"}},
		{name: "host refused", target: name("evil.example.org", 443)},
		{name: "port refused", target: name("svc4321.tenant21.example.com", 8443)},
		{name: "address", target: addr("20.19.135.7", 443)},
		{name: "address refused", target: addr("198.51.100.1", 443)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				l.Check(bc.target, bc.roles)
			}
		})
	}
}
