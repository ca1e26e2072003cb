package kerneltest

import (
	"net/netip"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/render"
	"github.com/teamsgate/teamsgate/internal/render/iptables"
	"github.com/teamsgate/teamsgate/internal/render/nftables"
	"github.com/teamsgate/teamsgate/internal/servicetag"
	"github.com/teamsgate/teamsgate/internal/testutil"
	"github.com/teamsgate/teamsgate/internal/view"
)

// overlay maps the Teams address sets and Microsoft 365 data of the
// worldwide cloud into documentation ranges.
var overlay = filepath.Join("testdata", "catalog")

// Addresses no set of the test catalog or specs holds: the "other source".
var (
	outsider4 = netip.MustParseAddr("203.0.113.250")
	outsider6 = netip.MustParseAddr("2001:db8:ee::250")
	// mgmtWorkstation is in the Pexip spec's management network, and is
	// probed in the spec without one too.
	mgmtWorkstation = netip.MustParseAddr("192.0.2.5")
)

// anySportBase is where the probes' source ports start when the plan
// allows any: above Linux's ephemeral range, so no socket of the kernel's
// choosing collides with them, and one port per probe.
const anySportBase = 61000

// targetsUnderTest are the targets proven in the kernel.
func targetsUnderTest() []render.Renderer {
	return []render.Renderer{nftables.New(), iptables.New()}
}

// check is a probe that must be among those sent, with a verdict stated
// by the test (and which must agree with the plan's).
type check struct {
	why   string
	proto string
	src   string
	sport uint16 // 0: any
	dst   string
	dport uint16
	want  bool
}

// kernelCase is a spec rendered for one role's host firewall, or as a
// perimeter between a client and a server namespace.
type kernelCase struct {
	name  string
	spec  string // testdata/specs/NAME.yaml
	scope string
	// inside, for a perimeter render (no scope), lists the roles the
	// server namespace behind the firewall holds; the probes test the
	// flows towards them.
	inside []string
	tags   bool // expand service tags from testdata/servicetags.json
	// extraSources are client addresses probed on top of the plan's.
	extraSources []netip.Addr
	// extraHosts are addresses the host (server) namespace holds on top
	// of the plan's destinations, for checks that must be dropped there.
	extraHosts []netip.Addr
	checks     []check
}

var kernelCases = []kernelCase{
	{
		name: "messaging-bot", spec: "messaging-bot", scope: "bot",
		checks: []check{
			{why: "activity from Teams", proto: "tcp", src: "198.18.1.1", dst: "198.51.100.10", dport: 443, want: true},
			{why: "activity from Teams over IPv6", proto: "tcp", src: "2001:db8:1801::1", dst: "2001:db8:100::10", dport: 443, want: true},
			{why: "UDP where TCP is required", proto: "udp", src: "198.18.1.1", dst: "198.51.100.10", dport: 443, want: false},
			{why: "another source", proto: "tcp", src: "203.0.113.250", dst: "198.51.100.10", dport: 443, want: false},
			{why: "another source over IPv6", proto: "tcp", src: "2001:db8:ee::250", dst: "2001:db8:100::10", dport: 443, want: false},
			{why: "another port", proto: "tcp", src: "198.18.1.1", dst: "198.51.100.10", dport: 80, want: false},
		},
	},
	{
		name: "calling-bot", spec: "calling-bot", scope: "bot", tags: true,
		checks: []check{
			{why: "media, first port", proto: "udp", src: "198.18.2.1", dst: "198.51.100.20", dport: 16000, want: true},
			{why: "media, last port", proto: "udp", src: "198.18.2.1", dst: "198.51.100.20", dport: 17000, want: true},
			{why: "media, above the range", proto: "udp", src: "198.18.2.1", dst: "198.51.100.20", dport: 17001, want: false},
			{why: "TCP where UDP is required", proto: "tcp", src: "198.18.2.1", dst: "198.51.100.20", dport: 16000, want: false},
			{why: "signaling from AzureCloud", proto: "tcp", src: "198.18.128.1", dst: "198.51.100.20", dport: 443, want: true},
			{why: "signaling from AzureCloud over IPv6", proto: "tcp", src: "2001:db8:a2c::1", dst: "2001:db8:100::20", dport: 443, want: true},
			{why: "signaling from outside AzureCloud", proto: "tcp", src: "203.0.113.250", dst: "198.51.100.20", dport: 443, want: false},
			{why: "media control from AzureCloud", proto: "tcp", src: "198.18.128.1", dst: "198.51.100.20", dport: 8445, want: true},
		},
	},
	{
		name: "pexip", spec: "pexip", scope: "teams-connector-instances",
		extraSources: []netip.Addr{mgmtWorkstation},
		checks: []check{
			{why: "signaling from a conferencing node", proto: "tcp", src: "203.0.113.10", sport: 33000, dst: "198.51.100.65", dport: 443, want: true},
			{why: "signaling from a conferencing node over IPv6", proto: "tcp", src: "2001:db8:113::10", sport: 39999, dst: "2001:db8:64::1", dport: 443, want: true},
			{why: "signaling from outside the signaling port range", proto: "tcp", src: "203.0.113.10", sport: 32999, dst: "198.51.100.65", dport: 443, want: false},
			{why: "media from a conferencing node", proto: "udp", src: "203.0.113.10", sport: 40000, dst: "198.51.100.65", dport: 54999, want: true},
			{why: "RDP from the management network", proto: "tcp", src: "192.0.2.5", dst: "198.51.100.65", dport: 3389, want: true},
			{why: "RDP from elsewhere", proto: "tcp", src: "203.0.113.250", dst: "198.51.100.65", dport: 3389, want: false},
		},
	},
	{
		name: "pexip-no-management", spec: "pexip-no-management", scope: "teams-connector-instances",
		extraSources: []netip.Addr{mgmtWorkstation},
		checks: []check{
			{why: "RDP without management addresses (rdp-deny)", proto: "tcp", src: "192.0.2.5", dst: "198.51.100.65", dport: 3389, want: false},
			{why: "RDP from a conferencing node (rdp-deny)", proto: "tcp", src: "203.0.113.10", sport: 33000, dst: "198.51.100.65", dport: 3389, want: false},
			{why: "RDP over IPv6 (rdp-deny)", proto: "tcp", src: "2001:db8:113::10", dst: "2001:db8:64::1", dport: 3389, want: false},
			{why: "media from Teams", proto: "udp", src: "198.18.3.1", dst: "198.51.100.65", dport: 55000, want: true},
		},
	},
	{
		name: "pexip-perimeter", spec: "pexip", inside: []string{"teams-connector-lb", "teams-connector-instances"},
		extraSources: []netip.Addr{mgmtWorkstation},
		checks: []check{
			{why: "signaling to the load balancer", proto: "tcp", src: "203.0.113.10", sport: 35000, dst: "198.51.100.40", dport: 443, want: true},
			{why: "Teams signaling to the load balancer, last port", proto: "tcp", src: "198.18.3.1", dst: "198.51.100.40", dport: 12399, want: true},
			{why: "Teams signaling to the load balancer, above the ranges", proto: "tcp", src: "198.18.3.1", dst: "198.51.100.40", dport: 12400, want: false},
			{why: "RDP through the load balancer's NAT pool", proto: "tcp", src: "192.0.2.5", dst: "198.51.100.40", dport: 50399, want: true},
			{why: "RDP to an instance from the management network", proto: "tcp", src: "192.0.2.5", dst: "198.51.100.65", dport: 3389, want: true},
			{why: "RDP to an instance from elsewhere", proto: "tcp", src: "203.0.113.250", dst: "198.51.100.65", dport: 3389, want: false},
			{why: "media to an instance over IPv6", proto: "udp", src: "2001:db8:113::10", sport: 45000, dst: "2001:db8:64::1", dport: 52000, want: true},
		},
	},
	{
		// The Teams Connector's flows to services on the Internet: the
		// roles ocsp-responder and windows-update are left at their
		// default, the public Internet. The server holds the first address
		// of each family of the Internet set (1.0.0.1, 2000::1: public
		// addresses, inside the test's own namespaces only) and private
		// and special-use addresses that "any" would have let through.
		name: "pexip-internet", spec: "pexip", inside: []string{"ocsp-responder", "windows-update"},
		extraHosts: []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("100.64.0.1"), netip.MustParseAddr("fd00::1")},
		checks: []check{
			{why: "OCSP to a public address", proto: "tcp", src: "198.51.100.65", dst: "1.0.0.1", dport: 80, want: true},
			{why: "Windows Update to a public address", proto: "tcp", src: "198.51.100.65", dst: "1.0.0.1", dport: 443, want: true},
			{why: "Windows Update to a public address over IPv6", proto: "tcp", src: "2001:db8:64::1", dst: "2000::1", dport: 443, want: true},
			{why: "OCSP to a private address", proto: "tcp", src: "198.51.100.65", dst: "10.0.0.1", dport: 80, want: false},
			{why: "Windows Update to shared address space", proto: "tcp", src: "198.51.100.65", dst: "100.64.0.1", dport: 443, want: false},
			{why: "Windows Update to a unique-local address", proto: "tcp", src: "2001:db8:64::1", dst: "fd00::1", dport: 443, want: false},
			{why: "a public address on another port", proto: "tcp", src: "198.51.100.65", dst: "1.0.0.1", dport: 8080, want: false},
		},
	},
}

// TestKernel renders each case for each target, loads the rules into a
// host namespace (or, for a perimeter, a router namespace), and sends real
// packets from a client namespace: every inbound flow of the scoped plan
// (every flow towards the inside roles of a perimeter) must get through,
// and everything else the probes try must be dropped.
func TestKernel(t *testing.T) {
	requireKernel(t)
	logTools(t)
	for _, c := range kernelCases {
		for _, r := range targetsUnderTest() {
			t.Run(c.name+"/"+r.Name(), func(t *testing.T) {
				t.Parallel()
				runCase(t, c, r)
			})
		}
	}
}

func logTools(t *testing.T) {
	for _, cmd := range [][]string{{"nft", "--version"}, {"iptables", "--version"}, {"ip", "-V"}} {
		out, _ := exec.Command(cmd[0], cmd[1:]...).CombinedOutput()
		t.Logf("%s", strings.TrimSpace(string(out)))
	}
}

func (c kernelCase) options(t *testing.T) view.Options {
	opt := view.Options{Scope: c.scope, FQDN: view.FQDNSkip}
	if c.tags {
		data, ds := servicetag.ParseFile(filepath.Join("testdata", "servicetags.json"))
		if ds.HasErrors() {
			t.Fatal(ds)
		}
		opt.ServiceTags = data
	}
	return opt
}

func runCase(t *testing.T, c kernelCase, r render.Renderer) {
	p := testutil.Plan(t, filepath.Join("testdata", "specs", c.spec+".yaml"), overlay)
	opt := c.options(t)
	out, ds := r.Render(p, opt)
	if ds.HasErrors() {
		t.Fatalf("render: %s", ds)
	}
	// The oracle reads the same prepared rules the renderer started from.
	prep, ds := view.Prepare(p, r.Name(), r.Caps(), opt)
	if ds.HasErrors() {
		t.Fatalf("prepare: %s", ds)
	}
	// items decide the verdicts; probed are the rules the probes derive
	// from: the host's inbound rules, or the perimeter rules towards the
	// inside roles.
	var items, probed []view.Item
	if c.scope != "" {
		items = direction(prep.Items, view.Inbound)
		probed = items
	} else {
		items = direction(prep.Items, view.Forward)
		for _, it := range items {
			if contains(c.inside, it.Rule.Destination.Role) {
				probed = append(probed, it)
			}
		}
	}
	if len(probed) == 0 {
		t.Fatal("no rule of the plan to probe")
	}
	hosts := append(hostAddrs(probed), c.extraHosts...)
	// The test's own checks first, so that they win over equal derived
	// probes; then the probes derived from the plan.
	var probes []probe
	for _, ch := range c.checks {
		probes = append(probes, probe{Proto: ch.proto, Src: netip.MustParseAddr(ch.src), Sport: ch.sport, Dst: netip.MustParseAddr(ch.dst), Dport: ch.dport, Want: ch.want, Why: ch.why, check: true})
	}
	probes = append(probes, planProbes(probed, hosts)...)
	for _, src := range c.extraSources {
		for _, h := range hosts {
			if h.Is4() == src.Is4() {
				probes = append(probes, extraProbes(probed, src, h)...)
			}
		}
	}
	probes = finish(probes)
	for i := range probes {
		pr := &probes[i]
		v := verdict(items, *pr)
		if pr.check && v != pr.Want {
			t.Fatalf("check %q (%s): the plan says %s, the test says %s", pr.Why, pr, passDrop(v), passDrop(pr.Want))
		}
		pr.Want = v
	}

	var clientAddrs []netip.Addr
	seen := map[netip.Addr]bool{}
	for _, pr := range probes {
		if !seen[pr.Src] {
			seen[pr.Src] = true
			clientAddrs = append(clientAddrs, pr.Src)
		}
		if !contains(hosts, pr.Dst) {
			t.Fatalf("probe %s goes to %s, which the host does not hold", pr, pr.Dst)
		}
	}
	var top topology
	if c.scope != "" {
		top = newTopology(t, hosts, clientAddrs)
		load(t, top.host, r.Name(), out.Files)
	} else {
		top = newRoutedTopology(t, hosts, clientAddrs)
		load(t, top.router, r.Name(), out.Files)
	}
	startListener(t, top.host, listenSpecs(probes))
	results := sendProbes(t, top.client, probes)

	var pass, drop, v6 int
	through := map[string]int{} // rule id → its allowed-port probes that got through
	for i, pr := range probes {
		res := results[i]
		if res.Err != "" {
			t.Errorf("%s (%s): could not send: %s", pr, pr.Why, res.Err)
			continue
		}
		if res.Passed != pr.Want {
			t.Errorf("%s (%s): want %s, got %s (%s)", pr, pr.Why, passDrop(pr.Want), passDrop(res.Passed), res.Detail)
			continue
		}
		if res.Passed {
			pass++
			if pr.flow != "" {
				through[pr.flow]++
			}
		} else {
			drop++
		}
		if pr.Src.Is6() {
			v6++
		}
	}
	flows := 0
	for _, it := range probed {
		r := it.Rule
		if r.Action != model.Allow || !r.Proto.HasPorts() {
			continue
		}
		flows++
		if r.Required && through[r.ID] == 0 {
			t.Errorf("required flow %s: no packet got through", r.ID)
		}
	}
	t.Logf("%s, %s: %d flow(s) probed with %d packets: %d got through and %d were dropped, as the plan says (%d over IPv6)", c.name, r.Name(), flows, len(probes), pass, drop, v6)
	if pass == 0 || drop == 0 || v6 == 0 {
		t.Errorf("too few probes: %d passing, %d dropped, %d over IPv6", pass, drop, v6)
	}
}

func passDrop(b bool) string {
	if b {
		return "through"
	}
	return "dropped"
}

func contains[T comparable](as []T, a T) bool {
	for _, x := range as {
		if x == a {
			return true
		}
	}
	return false
}

// direction returns the rules of one direction.
func direction(items []view.Item, d view.Direction) []view.Item {
	var out []view.Item
	for _, it := range items {
		if it.Dir == d {
			out = append(out, it)
		}
	}
	return out
}

// hostAddrs picks, for each destination of the rules, one address of each
// family from its prefixes: the host (or server) namespace holds exactly
// these.
func hostAddrs(items []view.Item) []netip.Addr {
	var out []netip.Addr
	seen := map[string]bool{}
	for _, it := range items {
		d := it.Rule.Destination
		if d.Any || seen[d.Role+"|"+d.Set] {
			continue
		}
		seen[d.Role+"|"+d.Set] = true
		var v4, v6 netip.Addr
		for _, p := range d.IPSet().Prefixes() {
			a := pick(p)
			if a.Is4() && !v4.IsValid() {
				v4 = a
			}
			if a.Is6() && !v6.IsValid() {
				v6 = a
			}
		}
		for _, a := range []netip.Addr{v4, v6} {
			if a.IsValid() && !contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out
}

// pick returns the first host address of a prefix.
func pick(p netip.Prefix) netip.Addr {
	if p.IsSingleIP() {
		return p.Addr()
	}
	return p.Masked().Addr().Next()
}

// verdict is the plan's answer for a probe, the way a firewall with the
// prepared rules must decide: a matching deny drops, else a matching allow
// passes, else the default drops.
func verdict(items []view.Item, p probe) bool {
	for _, it := range items {
		if it.Rule.Action == model.Deny && matches(it.Rule, p) {
			return false
		}
	}
	for _, it := range items {
		if it.Rule.Action == model.Allow && matches(it.Rule, p) {
			return true
		}
	}
	return false
}

func matches(r model.Rule, p probe) bool {
	if r.Proto != model.ProtoAny && r.Proto.String() != p.Proto {
		return false
	}
	in := func(t model.Target, a netip.Addr) bool { return t.Any || t.IPSet().Contains(a) }
	if !in(r.Source, p.Src) || !in(r.Destination, p.Dst) {
		return false
	}
	if r.Proto.HasPorts() {
		return r.SourcePorts.Contains(p.Sport) && r.DestPorts.Contains(p.Dport)
	}
	return true
}

// samples returns the ports a probe tries from a port set: the first, the
// middle and the last port of each range; three spread ports for any.
func samples(s model.PortSet) []uint16 {
	if s.IsAny() {
		return []uint16{1024, 40000, 65535}
	}
	var out []uint16
	for _, r := range s.Ranges() {
		out = append(out, r.First, uint16((int(r.First)+int(r.Last))/2), r.Last)
	}
	return dedupe(out)
}

// outside returns the ports just below and above each range of a port
// set.
func outside(s model.PortSet) []uint16 {
	if s.IsAny() {
		return nil
	}
	var out []uint16
	for _, r := range s.Ranges() {
		if r.First > 1 {
			out = append(out, r.First-1)
		}
		if r.Last < 65535 {
			out = append(out, r.Last+1)
		}
	}
	return dedupe(out)
}

func dedupe(ps []uint16) []uint16 {
	seen := map[uint16]bool{}
	var out []uint16
	for _, p := range ps {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// planProbes derives probes from the scoped plan's inbound rules: for each
// allow, per address family the host has, packets from the rule's source
// at the boundaries and middle of its port ranges, and around it what the
// rule does not allow — the ports just outside, the other protocol, another
// source, source ports just outside. The verdicts are filled in later.
func planProbes(items []view.Item, hosts []netip.Addr) []probe {
	var out []probe
	for _, it := range items {
		r := it.Rule
		if r.Action != model.Allow || !r.Proto.HasPorts() {
			continue
		}
		proto, other := r.Proto.String(), "udp"
		if r.Proto == model.ProtoUDP {
			other = "tcp"
		}
		for _, dst := range hosts {
			if !r.Destination.Any && !r.Destination.IPSet().Contains(dst) {
				continue
			}
			src, ok := sourceFor(r.Source, dst.Is6())
			if !ok {
				continue
			}
			outsider := outsider4
			if dst.Is6() {
				outsider = outsider6
			}
			dports, sports := samples(r.DestPorts), samples(r.SourcePorts)
			sport := func(i int) uint16 {
				if r.SourcePorts.IsAny() {
					return 0
				}
				return sports[i%len(sports)]
			}
			for i, dp := range dports {
				out = append(out, probe{Proto: proto, Src: src, Sport: sport(i), Dst: dst, Dport: dp, Why: r.ID + ": allowed port", flow: r.ID})
			}
			for _, dp := range outside(r.DestPorts) {
				out = append(out, probe{Proto: proto, Src: src, Sport: sport(0), Dst: dst, Dport: dp, Why: r.ID + ": port outside the rule"})
			}
			out = append(out, probe{Proto: other, Src: src, Sport: sport(0), Dst: dst, Dport: dports[0], Why: r.ID + ": the other protocol"})
			if src != outsider {
				out = append(out, probe{Proto: proto, Src: outsider, Dst: dst, Dport: dports[0], Why: r.ID + ": another source"})
			}
			for _, sp := range outside(r.SourcePorts) {
				out = append(out, probe{Proto: proto, Src: src, Sport: sp, Dst: dst, Dport: dports[0], Why: r.ID + ": source port outside the rule"})
			}
		}
	}
	return out
}

// sourceFor picks a source address of a rule's source in one family: the
// first host address of its first prefix, or an outsider for any.
func sourceFor(t model.Target, v6 bool) (netip.Addr, bool) {
	if t.Any {
		if v6 {
			return outsider6, true
		}
		return outsider4, true
	}
	for _, p := range t.IPSet().Prefixes() {
		if p.Addr().Is6() == v6 {
			return pick(p), true
		}
	}
	return netip.Addr{}, false
}

// extraProbes tries RDP and SSH, and every inbound rule's first port,
// from an address the plan may or may not know.
func extraProbes(items []view.Item, src, dst netip.Addr) []probe {
	out := []probe{
		{Proto: "tcp", Src: src, Dst: dst, Dport: 3389, Why: "RDP from " + src.String()},
		{Proto: "tcp", Src: src, Dst: dst, Dport: 22, Why: "SSH from " + src.String()},
	}
	for _, it := range items {
		if it.Rule.Proto.HasPorts() {
			out = append(out, probe{Proto: it.Rule.Proto.String(), Src: src, Dst: dst, Dport: it.Rule.DestPorts.Ranges()[0].First, Why: it.Rule.ID + ": from " + src.String()})
		}
	}
	return out
}

// finish removes duplicate probes (keeping the first, and the flow a
// duplicate stood for) and gives those with any source port a port of
// their own.
func finish(ps []probe) []probe {
	type key struct {
		proto       string
		src, dst    netip.Addr
		sport, dprt uint16
	}
	seen := map[key]int{}
	var out []probe
	next := uint16(anySportBase)
	for _, p := range ps {
		k := key{p.Proto, p.Src, p.Dst, p.Sport, p.Dport}
		if i, ok := seen[k]; ok {
			if out[i].flow == "" {
				out[i].flow = p.flow
			}
			continue
		}
		seen[k] = len(out)
		if p.Sport == 0 {
			p.Sport = next
			next++
		}
		out = append(out, p)
	}
	return out
}

// listenSpecs lists every socket the host needs so that each probe finds
// a listener: a refused connection would also prove the packet got in.
func listenSpecs(ps []probe) []listenSpec {
	seen := map[listenSpec]bool{}
	var out []listenSpec
	for _, p := range ps {
		s := listenSpec{Proto: p.Proto, Addr: netip.AddrPortFrom(p.Dst, p.Dport)}
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Proto != out[j].Proto {
			return out[i].Proto < out[j].Proto
		}
		return out[i].Addr.Compare(out[j].Addr) < 0
	})
	return out
}
