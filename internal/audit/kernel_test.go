package audit_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go4.org/netipx"

	"github.com/teamsgate/teamsgate/internal/audit/eval"
	"github.com/teamsgate/teamsgate/internal/audit/formats/iptables"
	"github.com/teamsgate/teamsgate/internal/audit/formats/nftables"
	"github.com/teamsgate/teamsgate/internal/audit/packet"
	"github.com/teamsgate/teamsgate/internal/audit/ruleset"
	"github.com/teamsgate/teamsgate/internal/model"
	riptables "github.com/teamsgate/teamsgate/internal/render/iptables"
	rnftables "github.com/teamsgate/teamsgate/internal/render/nftables"
	"github.com/teamsgate/teamsgate/internal/testutil"
	"github.com/teamsgate/teamsgate/internal/view"
)

// The differential test loads a configuration into a network namespace
// ("host"), sends real first packets of TCP and UDP flows through it, and
// compares what the kernel lets through with the evaluator's verdict for
// the same packet. Only documentation ranges are used (RFC 5737 and RFC
// 2544's 198.18.0.0/15); 198.19.254.0/23 carries the links between the
// namespaces and is never a flow address.
//
//	client ns  c0 198.19.255.2/30 ──veth── h0 198.19.255.1/30  host ns
//	sink ns    s0 198.19.254.2/30 ──veth── d0 198.19.254.1/30  host ns
//
// Forwarded and locally sent packets leave by d0 towards the sink.
//
// Inbound: packets from the client to addresses the host treats as local
// (route type local for 198.51.100.0/24 and 203.0.113.0/24); an nft table
// at the very end of the input hook (priority 2^31-1) records each packet
// that got there. Outbound: packets the host itself sends (raw socket) to
// 192.0.2.0/24 and 198.18.0.0/15 via d0, recorded at the end of
// postrouting. Forward: packets from the client routed through the host to
// d0, recorded at the end of postrouting.

var (
	linkNet   = netip.MustParsePrefix("198.19.254.0/23")
	localNets = []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("203.0.113.0/24")}
	farNets   = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("198.18.0.0/15")}
)

// addrPool is a set of addresses flows may use on one side.
func addrPool(ps []netip.Prefix) *netipx.IPSet {
	var b netipx.IPSetBuilder
	for _, p := range ps {
		b.AddPrefix(p)
	}
	b.RemovePrefix(linkNet)
	s, _ := b.IPSet()
	return s
}

// testbed is a pair of namespaces set up for one direction.
type testbed struct {
	dir                view.Direction
	client, host, sink *netns
	src, dst           *netipx.IPSet
}

func newTestbed(t *testing.T, dir view.Direction) *testbed {
	t.Helper()
	tb := &testbed{dir: dir, client: newNetns(t), host: newNetns(t), sink: newNetns(t)}
	h, c, s := tb.host, tb.client, tb.sink
	// Each step is one "ip -batch" process: the commands run in order and
	// the first failure stops the batch (forking an ip per command was
	// most of the set-up time).
	ipBatch(t, "",
		"link add c0 netns "+c.name+" type veth peer name h0 netns "+h.name,
		"link add s0 netns "+s.name+" type veth peer name d0 netns "+h.name)
	ipBatch(t, s.name,
		"link set lo up",
		"addr add 198.19.254.2/30 dev s0",
		"link set s0 up")
	ipBatch(t, h.name,
		"link set lo up",
		"addr add 198.19.255.1/30 dev h0",
		"link set h0 up",
		"addr add 198.19.254.1/30 dev d0",
		"link set d0 up")
	h.must(t, nil, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0", "net.ipv4.conf.h0.rp_filter=0", "net.ipv4.ip_forward=1")
	ipBatch(t, c.name,
		"link set lo up",
		"addr add 198.19.255.2/30 dev c0",
		"link set c0 up",
		"route add default via 198.19.255.1")
	var routes []string
	switch dir {
	case view.Inbound:
		for _, p := range localNets {
			routes = append(routes, "route add local "+p.String()+" dev lo")
		}
		routes = append(routes, "route add default via 198.19.255.2")
		tb.src, tb.dst = addrPool(farNets), addrPool(localNets)
	case view.Outbound:
		for _, p := range farNets {
			routes = append(routes, "route add "+p.String()+" via 198.19.254.2")
		}
		tb.src, tb.dst = addrPool(localNets), addrPool(farNets)
	default:
		for _, p := range append(append([]netip.Prefix(nil), farNets...), localNets...) {
			routes = append(routes, "route add "+p.String()+" via 198.19.254.2")
		}
		all := append(append([]netip.Prefix(nil), farNets...), localNets...)
		tb.src, tb.dst = addrPool(all), addrPool(all)
	}
	ipBatch(t, h.name, routes...)
	return tb
}

// ipBatch runs ip commands in one process, in the namespace ns (or, for
// "", in the test's own namespace).
func ipBatch(t *testing.T, ns string, cmds ...string) {
	t.Helper()
	args := []string{"ip", "-batch", "-"}
	if ns != "" {
		args = []string{"ip", "-n", ns, "-batch", "-"}
	}
	if out, err := command([]byte(strings.Join(cmds, "\n")+"\n"), args...); err != nil {
		t.Fatalf("ip %s: %v: %s\n%s", ns, err, out, strings.Join(cmds, "\n"))
	}
}

// observe adds the recording table; it must come after the configuration
// is listed, so that it is not part of what is audited. Besides the set of
// packets that reached the end of the path, it counts the probes where
// they enter the host's path (prerouting from h0, or the output hook for
// the host's own packets), before any rule of the configuration, so that
// run knows when the kernel has seen them all.
func (tb *testbed) observe(t *testing.T) {
	hook, first := "postrouting", `type filter hook prerouting priority -1000; policy accept;
		iifname "h0" meta l4proto { tcp, udp } counter name "arrived"`
	switch tb.dir {
	case view.Inbound:
		hook = "input"
	case view.Outbound:
		first = `type filter hook output priority -1000; policy accept;
		meta l4proto { tcp, udp } counter name "arrived"`
	}
	rules := fmt.Sprintf(`table ip tgobserve {
	counter arrived {
	}
	set seen {
		type ipv4_addr . ipv4_addr . inet_proto . inet_service . inet_service
		flags dynamic
		size 65535
	}
	chain first {
		%s
	}
	chain obs {
		type filter hook %s priority 2147483647; policy accept;
		meta l4proto { tcp, udp } add @seen { ip saddr . ip daddr . meta l4proto . th sport . th dport }
	}
}
`, first, hook)
	tb.host.must(t, []byte(rules), "nft", "-f", "-")
}

// arrivalTimeout bounds the wait for the probes to reach the host. It is
// only reached when a probe is lost before the host's first hook; the
// comparison then goes ahead with what the kernel recorded.
const arrivalTimeout = 5 * time.Second

// awaitArrival waits until the host has counted n probes at the first hook
// of the path. Past that hook a packet's way to the recording chain (or to
// its drop) runs on in the same softirq, with bottom halves disabled, in
// microseconds, while listing the set takes a new process; so once all are
// counted, the set is complete. The host's own packets (outbound) go
// through every hook within sendto, so they are counted on return.
func (tb *testbed) awaitArrival(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(arrivalTimeout)
	for {
		out := tb.host.must(t, nil, "nft", "-j", "list", "counter", "ip", "tgobserve", "arrived")
		var doc struct {
			Nftables []struct {
				Counter *struct {
					Packets int `json:"packets"`
				} `json:"counter"`
			} `json:"nftables"`
		}
		if err := json.Unmarshal(out, &doc); err != nil {
			t.Fatalf("arrival counter: %v", err)
		}
		got := -1
		for _, obj := range doc.Nftables {
			if obj.Counter != nil {
				got = obj.Counter.Packets
			}
		}
		if got < 0 {
			t.Fatalf("arrival counter missing: %s", out)
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Logf("%s: %d of %d probes reached the host within %s", tb.dir, got, n, arrivalTimeout)
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// run sends the probes and returns which reached the end of the path.
func (tb *testbed) run(t *testing.T, probes []probe) map[string]bool {
	from := tb.client
	if tb.dir == view.Outbound {
		from = tb.host
	}
	if err := sendProbes(from.name, probes); err != nil {
		t.Fatal(err)
	}
	tb.awaitArrival(t, len(probes))
	out := tb.host.must(t, nil, "nft", "-j", "list", "set", "ip", "tgobserve", "seen")
	var doc struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("observer set: %v", err)
	}
	seen := map[string]bool{}
	for _, obj := range doc.Nftables {
		raw, ok := obj["set"]
		if !ok {
			continue
		}
		var set struct {
			Elem []struct {
				Concat []any `json:"concat"`
			} `json:"elem"`
		}
		if err := json.Unmarshal(raw, &set); err != nil {
			t.Fatalf("observer set: %v", err)
		}
		for _, e := range set.Elem {
			if len(e.Concat) != 5 {
				t.Fatalf("observer element %v", e.Concat)
			}
			proto := fmt.Sprint(e.Concat[2])
			if n, ok := packet.ParseProtoName(proto); ok {
				proto = strconv.Itoa(int(n))
			}
			seen[fmt.Sprintf("%v %v %s %v %v", e.Concat[0], e.Concat[1], proto, num(e.Concat[3]), num(e.Concat[4]))] = true
		}
	}
	return seen
}

func num(v any) string {
	switch x := v.(type) {
	case float64:
		return strconv.Itoa(int(x))
	case string:
		if p, ok := map[string]int{"http": 80, "https": 443, "ssh": 22, "domain": 53}[x]; ok {
			return strconv.Itoa(p)
		}
		return x
	}
	return fmt.Sprint(v)
}

func (p probe) key() string {
	return fmt.Sprintf("%s %s %d %d %d", p.src, p.dst, p.proto, p.sport, p.dport)
}

// boundaries collects the edges of every address and port set the
// configuration uses, so that generated flows sit on and around them.
func boundaries(cfg *ruleset.Config) (addrs []netip.Addr, ports []uint16) {
	seenA := map[netip.Addr]bool{}
	seenP := map[uint16]bool{}
	addA := func(a netip.Addr) {
		if a.IsValid() && a.Is4() && !seenA[a] {
			seenA[a] = true
			addrs = append(addrs, a)
		}
	}
	addP := func(p int) {
		if p >= 0 && p <= 65535 && !seenP[uint16(p)] {
			seenP[uint16(p)] = true
			ports = append(ports, uint16(p))
		}
	}
	for _, ch := range cfg.Chains {
		for _, l := range ch.Lines {
			for _, m := range l.Matches {
				for _, s := range []packet.AddrSet{m.Src, m.Dst} {
					if s.Equal(packet.AllAddrs()) || s.Equal(packet.V4Addrs()) {
						continue
					}
					for _, r := range s.Ranges() {
						addA(r.From())
						addA(r.To())
						addA(r.From().Prev())
						addA(r.To().Next())
					}
				}
				for _, ps := range []model.PortSet{m.SPort, m.DPort} {
					if ps.IsAny() {
						continue
					}
					for _, r := range ps.Ranges() {
						addP(int(r.First) - 1)
						addP(int(r.First))
						addP(int(r.Last))
						addP(int(r.Last) + 1)
					}
				}
			}
		}
	}
	sort.Slice(addrs, func(i, j int) bool { return addrs[i].Less(addrs[j]) })
	sort.Slice(ports, func(i, j int) bool { return ports[i] < ports[j] })
	return addrs, ports
}

// randomAddr picks a uniformly random address of a set.
func randomAddr(r *rand.Rand, s *netipx.IPSet) netip.Addr {
	rs := s.Ranges()
	var total uint64
	sizes := make([]uint64, len(rs))
	for i, x := range rs {
		a, b := x.From().As4(), x.To().As4()
		sizes[i] = uint64(be32(b)-be32(a)) + 1
		total += sizes[i]
	}
	n := r.Uint64N(total)
	for i, x := range rs {
		if n < sizes[i] {
			a := x.From().As4()
			v := be32(a) + uint32(n)
			return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
		}
		n -= sizes[i]
	}
	return rs[0].From()
}

func be32(b [4]byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// genProbes makes n distinct probes for a testbed: half on the
// configuration's boundaries, half random.
func genProbes(r *rand.Rand, tb *testbed, cfg *ruleset.Config, n int) []probe {
	addrs, ports := boundaries(cfg)
	var srcB, dstB []netip.Addr
	for _, a := range addrs {
		if tb.src.Contains(a) {
			srcB = append(srcB, a)
		}
		if tb.dst.Contains(a) {
			dstB = append(dstB, a)
		}
	}
	pickAddr := func(pool *netipx.IPSet, edges []netip.Addr) netip.Addr {
		if len(edges) > 0 && r.IntN(2) == 0 {
			return edges[r.IntN(len(edges))]
		}
		return randomAddr(r, pool)
	}
	pickPort := func() uint16 {
		switch {
		case len(ports) > 0 && r.IntN(3) > 0:
			return ports[r.IntN(len(ports))]
		case r.IntN(4) == 0:
			return uint16(r.IntN(1024))
		}
		return uint16(r.IntN(65536))
	}
	seen := map[string]bool{}
	var out []probe
	for tries := 0; len(out) < n && tries < n*20; tries++ {
		p := probe{proto: []uint8{6, 17}[r.IntN(2)], src: pickAddr(tb.src, srcB), dst: pickAddr(tb.dst, dstB), sport: pickPort(), dport: pickPort()}
		if p.src == p.dst || p.sport == 0 || p.dport == 0 || seen[p.key()] {
			continue
		}
		seen[p.key()] = true
		out = append(out, p)
	}
	return out
}

// lineProbes makes, for every line of the configuration, probes inside
// its match (as far as it lies in the testbed's address pools), so that
// every rule is exercised, not only those random packets happen to hit.
// e is the configuration compiled with the testbed's interfaces.
func lineProbes(r *rand.Rand, tb *testbed, cfg *ruleset.Config, e *eval.Engine, perLine int) []probe {
	var out []probe
	for _, ch := range cfg.Chains {
		for _, l := range ch.Lines {
			out = append(out, probesIn(r, tb, e, e.MatchSpace(l), perLine)...)
		}
	}
	return out
}

// probesIn makes up to n probes inside a space, as far as it lies in the
// testbed's address pools.
func probesIn(r *rand.Rand, tb *testbed, e *eval.Engine, s packet.Space, n int) []probe {
	pool := packet.Cube{
		Proto: packet.Protos(6, 17), State: packet.AllStates, In: e.Universe.All(), Out: e.Universe.All(),
		Src: packet.NewAddrSet(tb.src), Dst: packet.NewAddrSet(tb.dst),
		SPort: model.NewPortSet(model.PortRange{First: 1, Last: 65535}), DPort: model.NewPortSet(model.PortRange{First: 1, Last: 65535}),
	}
	sp := s.IntersectCube(pool)
	var out []probe
	for i := 0; i < n && len(sp) > 0; i++ {
		c := sp[r.IntN(len(sp))]
		protos := c.Proto.List()
		p := probe{proto: protos[r.IntN(len(protos))], src: randomIn(r, c.Src), dst: randomIn(r, c.Dst), sport: randomPort(r, c.SPort), dport: randomPort(r, c.DPort)}
		if p.src != p.dst {
			out = append(out, p)
		}
	}
	return out
}

func randomIn(r *rand.Rand, s packet.AddrSet) netip.Addr { return randomAddr(r, s.IPSet()) }

func randomPort(r *rand.Rand, ps model.PortSet) uint16 {
	rs := ps.Ranges()
	x := rs[r.IntN(len(rs))]
	return x.First + uint16(r.IntN(x.Len()))
}

// probesFor combines line probes with boundary and random ones, distinct.
func probesFor(r *rand.Rand, tb *testbed, cfg *ruleset.Config, e *eval.Engine, n int) []probe {
	seen := map[string]bool{}
	var out []probe
	for _, p := range append(lineProbes(r, tb, cfg, e, 2), genProbes(r, tb, cfg, n)...) {
		if seen[p.key()] {
			continue
		}
		seen[p.key()] = true
		out = append(out, p)
	}
	return out
}

// diffStats counts the comparisons of one run.
type diffStats struct {
	configs, flows, agree, accepted int
}

// compile compiles a configuration the kernel listed, with the testbed's
// interfaces; the probes and the comparison share the engine.
func compile(t *testing.T, cfg *ruleset.Config) *eval.Engine {
	t.Helper()
	e, err := eval.Compile(cfg, "h0", "d0")
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// compare sends probes through the loaded configuration and checks the
// evaluator's verdict for each.
func compare(t *testing.T, tb *testbed, e *eval.Engine, probes []probe, st *diffStats) {
	t.Helper()
	tb.observe(t)
	seen := tb.run(t, probes)
	in, out := 0, 0 // class "other": no interface
	switch tb.dir {
	case view.Inbound:
		in = e.Universe.Class("h0")
	case view.Outbound:
		out = e.Universe.Class("d0")
	default:
		in, out = e.Universe.Class("h0"), e.Universe.Class("d0")
	}
	st.configs++
	for _, p := range probes {
		fr := e.Verdict(tb.dir, packet.Packet{Proto: p.proto, State: packet.StateNew, In: in, Out: out, Src: p.src, Dst: p.dst, SPort: p.sport, DPort: p.dport})
		ours := fr.Verdict == model.VerdictAllow
		kernel := seen[p.key()]
		st.flows++
		if kernel {
			st.accepted++
		}
		if ours == kernel {
			st.agree++
			continue
		}
		lines := ""
		for _, l := range fr.Lines {
			lines += " " + l.ID
		}
		t.Errorf("%s %s: kernel %s, evaluator %s (by%s)", tb.dir, p, verdictWord(kernel), verdictWord(ours), lines)
	}
}

func verdictWord(ok bool) string {
	if ok {
		return "accepts"
	}
	return "drops"
}

// TestKernelDifferentialIptables loads random and rendered iptables
// rulesets with iptables-restore and compares verdicts.
func TestKernelDifferentialIptables(t *testing.T) {
	needKernel(t, "nft", "iptables-restore", "iptables-save")
	t.Parallel() // every load has namespaces of its own
	r := rand.New(rand.NewPCG(4, 2026))
	var st diffStats
	var configs []string
	for i := 0; i < 12; i++ {
		configs = append(configs, genIptables(r))
	}
	configs = append(configs, renderedIptables(t)...)
	for i, rules := range configs {
		for _, dir := range []view.Direction{view.Inbound, view.Outbound, view.Forward} {
			tb := newTestbed(t, dir)
			if out, err := tb.host.run([]byte(rules), "iptables-restore"); err != nil {
				t.Fatalf("config %d: iptables-restore: %v: %s\n%s", i, err, out, rules)
			}
			saved := tb.host.must(t, nil, "iptables-save")
			cfg, ds := iptables.Parse(saved)
			if ds.HasErrors() {
				t.Fatalf("config %d: parse iptables-save: %s\n%s", i, ds, saved)
			}
			e := compile(t, cfg)
			compare(t, tb, e, probesFor(r, tb, cfg, e, 40), &st)
		}
	}
	t.Logf("iptables: %d loads (ruleset × direction), %d flows compared, %d agreements (%d accepted by the kernel)", st.configs, st.flows, st.agree, st.accepted)
	if st.flows < 300 {
		t.Errorf("only %d flows compared", st.flows)
	}
}

// TestKernelDifferentialNftables does the same with nft rulesets, read
// back with nft -j list ruleset.
func TestKernelDifferentialNftables(t *testing.T) {
	needKernel(t, "nft")
	t.Parallel()
	r := rand.New(rand.NewPCG(7, 2026))
	var st diffStats
	var configs []string
	for i := 0; i < 12; i++ {
		configs = append(configs, genNft(r))
	}
	configs = append(configs, renderedNft(t)...)
	for i, rules := range configs {
		for _, dir := range []view.Direction{view.Inbound, view.Outbound, view.Forward} {
			tb := newTestbed(t, dir)
			f := filepath.Join(t.TempDir(), "rules.nft")
			if err := os.WriteFile(f, []byte(rules), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := tb.host.run(nil, "nft", "-f", f); err != nil {
				t.Fatalf("config %d: nft -f: %v: %s\n%s", i, err, out, numbered(rules))
			}
			js := tb.host.must(t, nil, "nft", "-j", "list", "ruleset")
			cfg, ds := nftables.Parse(js)
			if ds.HasErrors() {
				t.Fatalf("config %d: parse nft -j: %s\n%s", i, ds, rules)
			}
			e := compile(t, cfg)
			compare(t, tb, e, probesFor(r, tb, cfg, e, 40), &st)
		}
	}
	t.Logf("nftables: %d loads (ruleset × direction), %d flows compared, %d agreements (%d accepted by the kernel)", st.configs, st.flows, st.agree, st.accepted)
	if st.flows < 300 {
		t.Errorf("only %d flows compared", st.flows)
	}
}

func numbered(s string) string {
	lines := strings.Split(s, "\n")
	for i := range lines {
		lines[i] = fmt.Sprintf("%3d %s", i+1, lines[i])
	}
	return strings.Join(lines, "\n")
}

// renderedIptables returns the IPv4 renders of the example specs.
func renderedIptables(t *testing.T) []string {
	var out []string
	for _, c := range rtCases {
		p := testutil.Plan(t, testutil.ExamplePath(c.example), "")
		o, ds := riptables.New().Render(p, c.renderOptions(t))
		if ds.HasErrors() {
			t.Fatal(ds)
		}
		out = append(out, string(o.Files["rules.v4"]))
	}
	return out
}

func renderedNft(t *testing.T) []string {
	var out []string
	for _, c := range rtCases {
		p := testutil.Plan(t, testutil.ExamplePath(c.example), "")
		o, ds := rnftables.New().Render(p, c.renderOptions(t))
		if ds.HasErrors() {
			t.Fatal(ds)
		}
		out = append(out, string(o.Files[rnftables.FileName]))
	}
	return out
}
