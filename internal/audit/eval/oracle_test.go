package eval_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/teamsgate/teamsgate/internal/audit/eval"
	"github.com/teamsgate/teamsgate/internal/audit/packet"
	"github.com/teamsgate/teamsgate/internal/audit/ruleset"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/view"
)

// A brute-force oracle for the set algebra and the evaluator: in a small
// packet space (8 addresses of two families, 4 ports, 3 protocols, 2
// states, 2 interface classes per side) every point is checked against
// the bitmaps that the operations must produce.

var (
	oAddrs  = append(hostsOf("10.0.0.0/30"), hostsOf("2001:db8::/126")...)
	oProtos = []uint8{1, 6, 17}
	oStates = []packet.State{packet.StateNew, packet.StateEstablished}
)

const oPorts = 4

var oAll = packet.AddrSetOf(netip.MustParsePrefix("10.0.0.0/30"), netip.MustParsePrefix("2001:db8::/126"))

func hostsOf(p string) []netip.Addr {
	pf := netip.MustParsePrefix(p)
	var out []netip.Addr
	for a := pf.Addr(); pf.Contains(a); a = a.Next() {
		out = append(out, a)
	}
	return out
}

// oPointsCache holds oPoints by interface pair. Every trial of the
// oracles walks the same points, and building them (1.7 MB a time) was a
// good part of a trial under -race.
var oPointsCache sync.Map // [2]int → []packet.Packet

// oPoints enumerates the small space. ifaces are the two interface
// classes each side may take. The slice is shared: callers must not
// modify it.
func oPoints(ifaces [2]int) []packet.Packet {
	if pts, ok := oPointsCache.Load(ifaces); ok {
		return pts.([]packet.Packet)
	}
	pts, _ := oPointsCache.LoadOrStore(ifaces, enumPoints(ifaces))
	return pts.([]packet.Packet)
}

func enumPoints(ifaces [2]int) []packet.Packet {
	out := make([]packet.Packet, 0, len(oProtos)*len(oStates)*4*len(oAddrs)*len(oAddrs)*oPorts*oPorts)
	for _, pr := range oProtos {
		for _, st := range oStates {
			for _, in := range ifaces {
				for _, o := range ifaces {
					for _, s := range oAddrs {
						for _, d := range oAddrs {
							for sp := uint16(0); sp < oPorts; sp++ {
								for dp := uint16(0); dp < oPorts; dp++ {
									out = append(out, packet.Packet{Proto: pr, State: st, In: in, Out: o, Src: s, Dst: d, SPort: sp, DPort: dp})
								}
							}
						}
					}
				}
			}
		}
	}
	return out
}

func randAddrSet(r *rand.Rand) packet.AddrSet {
	var ps []netip.Prefix
	for i := r.IntN(3); i >= 0; i-- {
		a := oAddrs[r.IntN(len(oAddrs))]
		bits := a.BitLen() - r.IntN(3)
		p, _ := a.Prefix(bits)
		ps = append(ps, p)
	}
	return packet.AddrSetOf(ps...)
}

// The random address sets stay inside the small space: prefixes of up to
// 2 bits below a host address stay within its /30 or /126.

func randPortSet(r *rand.Rand) model.PortSet {
	var rs []model.PortRange
	for i := r.IntN(3); i >= 0; i-- {
		a, b := uint16(r.IntN(oPorts)), uint16(r.IntN(oPorts))
		if a > b {
			a, b = b, a
		}
		rs = append(rs, model.PortRange{First: a, Last: b})
	}
	return model.NewPortSet(rs...)
}

// randCube returns a random cube of the small space; each field is
// the whole field with probability wide, so that cubes cover one another
// often enough for shadowing to happen.
func randCube(r *rand.Rand, wide float64) packet.Cube {
	var ps packet.ProtoSet
	for ps.IsEmpty() {
		for _, p := range oProtos {
			if r.IntN(2) == 0 {
				ps = ps.Or(packet.Protos(p))
			}
		}
	}
	c := packet.Cube{
		Proto: ps,
		State: packet.StateSet(1 + r.IntN(3)),
		In:    packet.IfaceSet(1 + r.IntN(3)), Out: packet.IfaceSet(1 + r.IntN(3)),
		Src: randAddrSet(r), Dst: randAddrSet(r),
		SPort: randPortSet(r), DPort: randPortSet(r),
	}
	// "Whole" means the whole small space, so that every cube stays
	// inside it and the point-by-point oracle sees all of it.
	full := func() bool { return r.Float64() < wide }
	if full() {
		c.Proto = packet.Protos(oProtos...)
	}
	if full() {
		c.State = packet.StateSet(packet.StateNew | packet.StateEstablished)
	}
	if full() {
		c.Src = oAll
	}
	if full() {
		c.Dst = oAll
	}
	if full() {
		c.SPort = model.NewPortSet(model.PortRange{First: 0, Last: oPorts - 1})
	}
	if full() {
		c.DPort = model.NewPortSet(model.PortRange{First: 0, Last: oPorts - 1})
	}
	return c
}

func randSpace(r *rand.Rand) packet.Space {
	var s packet.Space
	for i := r.IntN(3); i >= 0; i-- {
		if c := randCube(r, 0.2); !c.IsEmpty() {
			s = s.Union(packet.Space{c})
		}
	}
	return s
}

// The oracles read spaces and rules point by point (s.Contains, matches),
// but walk a set's points field by field: a cube, and a rule's match, are
// products of one set per field, so a point is in one exactly when each
// of its fields is. pointFilter says which values of each field of the
// small space a set holds; eachPoint makes each test once per field value
// instead of once per point, which gives the same bitmaps as the point by
// point reading (TestOracleBitmap checks that) at a fraction of the cost.
type pointFilter struct {
	proto        func(uint8) bool
	state        func(packet.State) bool
	in, out      func(class int) bool
	src, dst     func(netip.Addr) bool
	sport, dport func(uint16) bool
}

// cubeFilter makes the tests of Cube.Contains.
func cubeFilter(c *packet.Cube) pointFilter {
	return pointFilter{
		proto: c.Proto.Has,
		state: func(st packet.State) bool { return c.State&packet.StateSet(st) != 0 },
		in:    func(cl int) bool { return c.In&(1<<cl) != 0 },
		out:   func(cl int) bool { return c.Out&(1<<cl) != 0 },
		src:   c.Src.Contains, dst: c.Dst.Contains,
		sport: c.SPort.Contains, dport: c.DPort.Contains,
	}
}

// matchFilter makes the tests of matches for one match of a line.
func matchFilter(m *ruleset.Match, e *eval.Engine) pointFilter {
	return pointFilter{
		proto: m.Proto.Has,
		state: func(st packet.State) bool { return packet.StateSet(st)&m.State != 0 },
		in:    func(cl int) bool { return ifaceOK(m.In, cl, e) },
		out:   func(cl int) bool { return ifaceOK(m.Out, cl, e) },
		src:   m.Src.Contains, dst: m.Dst.Contains,
		sport: m.SPort.Contains, dport: m.DPort.Contains,
	}
}

// eachPoint calls fn with the index in oPoints(ifaces) of every point of
// the small space whose fields all pass f; oPoints nests the fields in
// this order.
func eachPoint(f pointFilter, ifaces [2]int, fn func(k int)) {
	var prs, sts, ins, outs, srcs, dsts, sps, dps []int
	for i, p := range oProtos {
		if f.proto(p) {
			prs = append(prs, i)
		}
	}
	for i, st := range oStates {
		if f.state(st) {
			sts = append(sts, i)
		}
	}
	for i, cl := range ifaces {
		if f.in(cl) {
			ins = append(ins, i)
		}
		if f.out(cl) {
			outs = append(outs, i)
		}
	}
	for i, a := range oAddrs {
		if f.src(a) {
			srcs = append(srcs, i)
		}
		if f.dst(a) {
			dsts = append(dsts, i)
		}
	}
	for p := 0; p < oPorts; p++ {
		if f.sport(uint16(p)) {
			sps = append(sps, p)
		}
		if f.dport(uint16(p)) {
			dps = append(dps, p)
		}
	}
	nA := len(oAddrs)
	for _, pr := range prs {
		for _, st := range sts {
			for _, in := range ins {
				for _, o := range outs {
					for _, sa := range srcs {
						for _, da := range dsts {
							for _, sp := range sps {
								for _, dp := range dps {
									fn(((((((pr*len(oStates)+st)*2+in)*2+o)*nA+sa)*nA+da)*oPorts+sp)*oPorts + dp)
								}
							}
						}
					}
				}
			}
		}
	}
}

// bitmap returns, for every point of oPoints(ifaces), whether s holds it.
func bitmap(s packet.Space, ifaces [2]int) []bool {
	out := make([]bool, len(oPoints(ifaces)))
	for i := range s {
		eachPoint(cubeFilter(&s[i]), ifaces, func(k int) { out[k] = true })
	}
	return out
}

// lineBitmap returns, for every point of oPoints(ifaces), whether the line
// matches it.
func lineBitmap(l *ruleset.Line, ifaces [2]int, e *eval.Engine) []bool {
	out := make([]bool, len(oPoints(ifaces)))
	for i := range l.Matches {
		eachPoint(matchFilter(&l.Matches[i], e), ifaces, func(k int) { out[k] = true })
	}
	return out
}

// chainHits returns the lineBitmap of every line, by chain and line.
func chainHits(cfg *ruleset.Config, ifaces [2]int, e *eval.Engine) map[*ruleset.Chain][][]bool {
	hits := map[*ruleset.Chain][][]bool{}
	for _, ch := range cfg.Chains {
		for _, l := range ch.Lines {
			hits[ch] = append(hits[ch], lineBitmap(l, ifaces, e))
		}
	}
	return hits
}

// TestOracleBitmap checks the oracles' field-by-field walks against the
// point by point readings: bitmap against Space.Contains, lineBitmap
// against matches.
func TestOracleBitmap(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, ifaces := range [][2]int{{0, 1}, {2, 3}, {1, 1}} {
		pts := oPoints(ifaces)
		for trial := 0; trial < 10; trial++ {
			s := randSpace(r)
			if ifaces != [2]int{0, 1} {
				// Move the interface fields onto the classes.
				for i := range s {
					s[i].In = s[i].In << ifaces[0] & (1<<ifaces[0] | 1<<ifaces[1])
					s[i].Out = s[i].Out << ifaces[0] & (1<<ifaces[0] | 1<<ifaces[1])
				}
			}
			b := bitmap(s, ifaces)
			for k := range pts {
				if b[k] != s.Contains(pts[k]) {
					t.Fatalf("ifaces %v trial %d: bitmap says %v at %+v, Contains %v", ifaces, trial, b[k], pts[k], !b[k])
				}
			}
		}
	}
	lines, withIface, multi := 0, 0, 0
	for trial := 0; lines < 30 || withIface < 5 || multi < 3; trial++ {
		cfg := oracleConfig(r, 0.3)
		e, err := eval.Compile(cfg, "i0", "i1")
		if err != nil {
			t.Fatal(err)
		}
		ifaces := [2]int{e.Universe.Class("i0"), e.Universe.Class("i1")}
		pts := oPoints(ifaces)
		for _, ch := range cfg.Chains {
			for _, l := range ch.Lines {
				b := lineBitmap(l, ifaces, e)
				for k := range pts {
					if b[k] != matches(l, pts[k], e) {
						t.Fatalf("trial %d: %s: lineBitmap says %v at %+v, matches %v", trial, l.ID, b[k], pts[k], !b[k])
					}
				}
				lines++
				if len(l.Matches[0].In)+len(l.Matches[0].Out) > 0 {
					withIface++
				}
				if len(l.Matches) > 1 {
					multi++
				}
			}
		}
	}
}

// checkDisjoint verifies the Space invariant: cubes pairwise disjoint and
// non-empty.
func checkDisjoint(t *testing.T, what string, s packet.Space) {
	t.Helper()
	for i := range s {
		if s[i].IsEmpty() {
			t.Fatalf("%s: cube %d is empty", what, i)
		}
		for j := i + 1; j < len(s); j++ {
			if s[i].Overlaps(s[j]) {
				t.Fatalf("%s: cubes %d and %d overlap", what, i, j)
			}
		}
	}
}

func TestSetAlgebraOracle(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	ifaces := [2]int{0, 1}
	pts := oPoints(ifaces)
	for trial := 0; trial < 150; trial++ {
		a, b := randSpace(r), randSpace(r)
		ba, bb := bitmap(a, ifaces), bitmap(b, ifaces)
		inter, diff, union := a.Intersect(b), a.Subtract(b), a.Union(b)
		for name, s := range map[string]packet.Space{"intersect": inter, "subtract": diff, "union": union} {
			checkDisjoint(t, name, s)
		}
		bi, bd, bu := bitmap(inter, ifaces), bitmap(diff, ifaces), bitmap(union, ifaces)
		covers, overlap := true, false
		for i := range pts {
			if bi[i] != (ba[i] && bb[i]) {
				t.Fatalf("trial %d: intersect wrong at %+v", trial, pts[i])
			}
			if bd[i] != (ba[i] && !bb[i]) {
				t.Fatalf("trial %d: subtract wrong at %+v", trial, pts[i])
			}
			if bu[i] != (ba[i] || bb[i]) {
				t.Fatalf("trial %d: union wrong at %+v", trial, pts[i])
			}
			if bb[i] && !ba[i] {
				covers = false
			}
			if ba[i] && bb[i] {
				overlap = true
			}
		}
		if got := a.Covers(b); got != covers {
			t.Fatalf("trial %d: Covers = %v, oracle %v", trial, got, covers)
		}
		gotOverlap := false
		for _, c := range b {
			gotOverlap = gotOverlap || a.Overlaps(c)
		}
		if gotOverlap != overlap {
			t.Fatalf("trial %d: Overlaps = %v, oracle %v", trial, gotOverlap, overlap)
		}
	}
}

// TestAddrSetOracle checks AddrSet operations address by address.
func TestAddrSetOracle(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for trial := 0; trial < 500; trial++ {
		a, b := randAddrSet(r), randAddrSet(r)
		ops := map[string]struct {
			got  packet.AddrSet
			want func(x, y bool) bool
		}{
			"union":        {a.Union(b), func(x, y bool) bool { return x || y }},
			"intersect":    {a.Intersect(b), func(x, y bool) bool { return x && y }},
			"difference":   {a.Difference(b), func(x, y bool) bool { return x && !y }},
			"complement a": {a.Complement(), func(x, y bool) bool { return !x }},
		}
		covers, overlap := true, false
		for _, ip := range oAddrs {
			x, y := a.Contains(ip), b.Contains(ip)
			for name, op := range ops {
				if op.got.Contains(ip) != op.want(x, y) {
					t.Fatalf("%s of %s and %s wrong at %s", name, a, b, ip)
				}
			}
			covers = covers && (!y || x)
			overlap = overlap || (x && y)
		}
		if a.Covers(b) != covers || a.Overlaps(b) != overlap {
			t.Fatalf("Covers/Overlaps of %s and %s: %v/%v, oracle %v/%v", a, b, a.Covers(b), a.Overlaps(b), covers, overlap)
		}
	}
}

// oracleConfig builds a random two-chain configuration over the small
// space: a base chain and a user chain, with jumps, gotos and returns.
func oracleConfig(r *rand.Rand, wide float64) *ruleset.Config {
	base := &ruleset.Chain{Name: "base", Hook: "input", Family: ruleset.FamilyBoth}
	user := &ruleset.Chain{Name: "user", Family: ruleset.FamilyBoth}
	mk := func(ch *ruleset.Chain, i int) *ruleset.Line {
		c := randCube(r, wide)
		m := ruleset.Match{Proto: c.Proto, State: c.State, Src: c.Src, Dst: c.Dst, SPort: c.SPort, DPort: c.DPort}
		if r.IntN(3) == 0 {
			m.In = []ruleset.IfaceCond{{Patterns: []string{"i0"}, Neg: r.IntN(2) == 0}}
		}
		if r.IntN(3) == 0 {
			m.Out = []ruleset.IfaceCond{{Patterns: []string{"i1"}}}
		}
		l := &ruleset.Line{ID: fmt.Sprintf("%s#%d", ch.Name, i+1), Chain: ch.Name, Index: i + 1, Matches: []ruleset.Match{m}}
		acts := []ruleset.Action{ruleset.Accept, ruleset.Drop, ruleset.Continue, ruleset.Return}
		if ch == base {
			acts = append(acts, ruleset.Jump, ruleset.Goto)
		}
		l.Action = acts[r.IntN(len(acts))]
		if l.Action == ruleset.Jump || l.Action == ruleset.Goto {
			l.Target = user
		}
		if r.IntN(6) == 0 {
			// a second match: the line matches the union
			c2 := randCube(r, wide)
			l.Matches = append(l.Matches, ruleset.Match{Proto: c2.Proto, State: c2.State, Src: c2.Src, Dst: c2.Dst, SPort: c2.SPort, DPort: c2.DPort})
		}
		return l
	}
	for i, n := 0, r.IntN(8); i < n; i++ {
		base.Lines = append(base.Lines, mk(base, i))
	}
	for i, n := 0, r.IntN(5); i < n; i++ {
		user.Lines = append(user.Lines, mk(user, i))
	}
	pol := ruleset.Accept
	if r.IntN(2) == 0 {
		pol = ruleset.Drop
	}
	base.Policy = &ruleset.Line{ID: "base policy", Chain: "base", Action: pol, Default: true, Matches: []ruleset.Match{ruleset.NewMatch()}}
	return &ruleset.Config{Format: "oracle", Chains: []*ruleset.Chain{base, user}, Families: ruleset.FamilyBoth,
		Paths: map[view.Direction][]*ruleset.Chain{view.Inbound: {base}}}
}

// matches is the per-packet reading of a line, independent of cubes.
func matches(l *ruleset.Line, p packet.Packet, u *eval.Engine) bool {
	for _, m := range l.Matches {
		if m.Proto.Has(p.Proto) && packet.StateSet(p.State)&m.State != 0 &&
			m.Src.Contains(p.Src) && m.Dst.Contains(p.Dst) &&
			m.SPort.Contains(p.SPort) && m.DPort.Contains(p.DPort) &&
			ifaceOK(m.In, p.In, u) && ifaceOK(m.Out, p.Out, u) {
			return true
		}
	}
	return false
}

func ifaceOK(conds []ruleset.IfaceCond, class int, e *eval.Engine) bool {
	for _, c := range conds {
		hit := false
		for _, pat := range c.Patterns {
			if e.Universe.Class(pat) == class {
				hit = true
			}
		}
		if hit == c.Neg {
			return false
		}
	}
	return true
}

// interpret walks the chains for one packet, as iptables does: k is the
// packet's index in the points, hits what chainHits returns. seen, when
// set, is told of every line the packet arrives at and matches.
func interpret(ch *ruleset.Chain, k int, hits map[*ruleset.Chain][][]bool, seen func(*ruleset.Line)) (verdict ruleset.Action, line *ruleset.Line) {
	h := hits[ch]
	for i, l := range ch.Lines {
		if !h[i][k] {
			continue
		}
		if seen != nil {
			seen(l)
		}
		switch l.Action {
		case ruleset.Accept, ruleset.Drop:
			return l.Action, l
		case ruleset.Return:
			return ruleset.Return, nil
		case ruleset.Jump:
			if v, ln := interpret(l.Target, k, hits, seen); v != ruleset.Return {
				return v, ln
			}
		case ruleset.Goto:
			return interpret(l.Target, k, hits, seen)
		}
	}
	return ruleset.Return, nil
}

func TestEvalOracle(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(5, 6))
	for trial := 0; trial < 120; trial++ {
		cfg := oracleConfig(r, 0.3)
		e, err := eval.Compile(cfg, "i0", "i1")
		if err != nil {
			t.Fatal(err)
		}
		ifaces := [2]int{e.Universe.Class("i0"), e.Universe.Class("i1")}
		pts := oPoints(ifaces)
		all := packet.Cube{Proto: packet.Protos(oProtos...), State: packet.StateSet(packet.StateNew | packet.StateEstablished),
			In: 1<<e.Universe.Class("i0") | 1<<e.Universe.Class("i1"), Out: 1<<e.Universe.Class("i0") | 1<<e.Universe.Class("i1"),
			Src:   packet.AddrSetOf(netip.MustParsePrefix("10.0.0.0/30"), netip.MustParsePrefix("2001:db8::/126")),
			Dst:   packet.AddrSetOf(netip.MustParsePrefix("10.0.0.0/30"), netip.MustParsePrefix("2001:db8::/126")),
			SPort: model.NewPortSet(model.PortRange{First: 0, Last: oPorts - 1}), DPort: model.NewPortSet(model.PortRange{First: 0, Last: oPorts - 1})}
		frags := e.Eval(view.Inbound, packet.Space{all})
		// owner[k] is 1 + the index of the fragment holding pts[k] (see
		// bitmap for the walk).
		owner := make([]int, len(pts))
		for i := range frags {
			for j := range frags[i].Space {
				eachPoint(cubeFilter(&frags[i].Space[j]), ifaces, func(k int) {
					if owner[k] != 0 && owner[k] != i+1 {
						t.Fatalf("trial %d: %+v in two fragments", trial, pts[k])
					}
					owner[k] = i + 1
				})
			}
		}
		base := cfg.Chains[0]
		hits := chainHits(cfg, ifaces, e)
		for k := range pts {
			v, line := interpret(base, k, hits, nil)
			if v == ruleset.Return {
				v, line = base.Policy.Action, base.Policy
			}
			if owner[k] == 0 {
				t.Fatalf("trial %d: %+v in no fragment", trial, pts[k])
			}
			got := &frags[owner[k]-1]
			want := model.VerdictDeny
			if v == ruleset.Accept {
				want = model.VerdictAllow
			}
			if got.Verdict != want || got.Lines[len(got.Lines)-1] != line {
				t.Fatalf("trial %d: %+v: evaluator %v by %s, oracle %v by %s", trial, pts[k], got.Verdict, got.Lines[len(got.Lines)-1].ID, want, line.ID)
			}
		}
	}
}

// isPacket reports whether a point of the small space is a packet: both
// addresses of one family.
func isPacket(p packet.Packet) bool { return p.Src.Is4() == p.Dst.Is4() }

// TestShadowOracle checks the shadowed lines of random single chains
// against the definition: no packet of the line's match gets past the
// terminating lines before it.
func TestShadowOracle(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(7, 8))
	found := 0
	for trial := 0; trial < 200; trial++ {
		cfg := oracleConfig(r, 0.6)
		base := cfg.Chains[0]
		// A single chain without jumps, with small random cubes so that
		// shadowing happens often.
		for _, l := range base.Lines {
			if l.Action == ruleset.Jump || l.Action == ruleset.Goto {
				l.Action, l.Target = ruleset.Drop, nil
			}
		}
		cfg.Chains = cfg.Chains[:1]
		e, err := eval.Compile(cfg, "i0", "i1")
		if err != nil {
			t.Fatal(err)
		}
		ifaces := [2]int{e.Universe.Class("i0"), e.Universe.Class("i1")}
		pts := oPoints(ifaces)
		hits := chainHits(cfg, ifaces, e)[base]
		want := map[*ruleset.Line]bool{}
		for i, l := range base.Lines {
			reachable := false
			for k := range pts {
				if !hits[i][k] || !isPacket(pts[k]) {
					continue
				}
				blocked := false
				for j, o := range base.Lines[:i] {
					if o.Action != ruleset.Continue && hits[j][k] {
						blocked = true
						break
					}
				}
				if !blocked {
					reachable = true
					break
				}
			}
			if !reachable {
				want[l] = true
			}
		}
		sh, gaveUp := e.Shadowed()
		if len(gaveUp) > 0 {
			t.Fatalf("trial %d: gave up on %d lines", trial, len(gaveUp))
		}
		got := map[*ruleset.Line]bool{}
		for _, s := range sh {
			got[s.Line] = true
			// The blocking lines must really cover the line's packets.
			var cover packet.Space
			for _, b := range s.Blocking {
				cover = cover.Union(e.MatchSpace(b))
			}
			if s.Reason == eval.BlockingLines {
				for k, p := range pts {
					if isPacket(p) && hits[s.Line.Index-1][k] && !cover.Contains(p) {
						t.Fatalf("trial %d: blocking lines of %s do not cover %+v", trial, s.Line.ID, p)
					}
				}
			}
		}
		for _, l := range base.Lines {
			if got[l] != want[l] {
				t.Fatalf("trial %d: %s shadowed = %v, oracle %v", trial, l.ID, got[l], want[l])
			}
		}
		found += len(want)
	}
	if found == 0 {
		t.Fatal("the random chains never had a shadowed line; the test checks nothing")
	}
	t.Logf("%d shadowed lines found and confirmed", found)
}

// oracleChains builds a random configuration of several chains over the
// small space: one to three base chains on the forward hook (distinct
// priorities, some IPv4 only), sometimes one on the input hook, and three
// user chains that base chains and earlier user chains jump or go to (no
// loops), any of which may be left without a caller.
func oracleChains(r *rand.Rand) *ruleset.Config {
	cfg := &ruleset.Config{Format: "oracle", Families: ruleset.FamilyBoth, Paths: map[view.Direction][]*ruleset.Chain{}}
	var users []*ruleset.Chain
	for i := 0; i < 3; i++ {
		users = append(users, &ruleset.Chain{Name: fmt.Sprintf("u%d", i), Family: ruleset.FamilyBoth})
	}
	var bases []*ruleset.Chain
	prios := r.Perm(4)
	for i, n := 0, 1+r.IntN(3); i < n; i++ {
		bases = append(bases, &ruleset.Chain{Name: fmt.Sprintf("fwd%d", i), Hook: "forward", Priority: prios[i]*10 - 20, Family: ruleset.FamilyBoth})
	}
	if r.IntN(3) == 0 {
		bases = append(bases, &ruleset.Chain{Name: "in", Hook: "input", Family: ruleset.FamilyBoth})
	}
	for _, b := range bases {
		if r.IntN(4) == 0 {
			b.Family = ruleset.FamilyV4
		}
		pol := ruleset.Accept
		if r.IntN(2) == 0 {
			pol = ruleset.Drop
		}
		b.Policy = &ruleset.Line{ID: b.Name + " policy", Chain: b.Name, Action: pol, Default: true, Matches: []ruleset.Match{ruleset.NewMatch()}}
	}
	mk := func(ch *ruleset.Chain, callees []*ruleset.Chain) {
		for i, n := 0, r.IntN(6); i < n; i++ {
			c := randCube(r, 0.6)
			m := ruleset.Match{Proto: c.Proto, State: c.State, Src: c.Src, Dst: c.Dst, SPort: c.SPort, DPort: c.DPort}
			if r.IntN(4) == 0 {
				m.In = []ruleset.IfaceCond{{Patterns: []string{"i0"}, Neg: r.IntN(2) == 0}}
			}
			l := &ruleset.Line{ID: fmt.Sprintf("%s#%d", ch.Name, i+1), Chain: ch.Name, Index: i + 1, Matches: []ruleset.Match{m}}
			acts := []ruleset.Action{ruleset.Accept, ruleset.Drop, ruleset.Continue, ruleset.Return}
			if len(callees) > 0 {
				acts = append(acts, ruleset.Jump, ruleset.Jump, ruleset.Goto)
			}
			if l.Action = acts[r.IntN(len(acts))]; l.Action == ruleset.Jump || l.Action == ruleset.Goto {
				l.Target = callees[r.IntN(len(callees))]
			}
			ch.Lines = append(ch.Lines, l)
		}
	}
	for _, b := range bases {
		mk(b, users)
	}
	for i, u := range users {
		mk(u, users[i+1:])
	}
	// The chains in file order: bases and users mixed; the paths by
	// priority.
	cfg.Chains = append(append([]*ruleset.Chain(nil), users...), bases...)
	r.Shuffle(len(cfg.Chains), func(i, j int) { cfg.Chains[i], cfg.Chains[j] = cfg.Chains[j], cfg.Chains[i] })
	for _, b := range hookOrdered(bases) {
		d := view.Forward
		if b.Hook == "input" {
			d = view.Inbound
		}
		cfg.Paths[d] = append(cfg.Paths[d], b)
	}
	return cfg
}

// hookOrdered returns the base chains by priority, as they run.
func hookOrdered(bases []*ruleset.Chain) []*ruleset.Chain {
	out := append([]*ruleset.Chain(nil), bases...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Priority < out[j].Priority })
	return out
}

// chainOracle answers reachability questions about one configuration
// point by point.
type chainOracle struct {
	cfg  *ruleset.Config
	pts  []packet.Packet
	hits map[*ruleset.Chain][][]bool
	// bases groups the base chains by hook, in the order they run.
	bases map[string][]*ruleset.Chain
}

func newChainOracle(cfg *ruleset.Config, e *eval.Engine) *chainOracle {
	ifaces := [2]int{e.Universe.Class("i0"), e.Universe.Class("i1")}
	o := &chainOracle{cfg: cfg, pts: oPoints(ifaces), hits: chainHits(cfg, ifaces, e), bases: map[string][]*ruleset.Chain{}}
	for _, ch := range hookOrdered(cfg.Chains) {
		if ch.Hook != "" {
			o.bases[ch.Hook] = append(o.bases[ch.Hook], ch)
		}
	}
	return o
}

func inFamily(ch *ruleset.Chain, p packet.Packet) bool {
	fam := ruleset.FamilyV6
	if p.Src.Is4() {
		fam = ruleset.FamilyV4
	}
	return isPacket(p) && ch.Family&fam != 0
}

// reached returns the lines some packet arrives at and matches: every
// packet walks the base chains of each hook in order until one drops it.
func (o *chainOracle) reached() map[*ruleset.Line]bool {
	out := map[*ruleset.Line]bool{}
	seen := func(l *ruleset.Line) { out[l] = true }
	for _, chs := range o.bases {
		for k, p := range o.pts {
			for _, ch := range chs {
				if !inFamily(ch, p) {
					continue
				}
				if v, _ := interpret(ch, k, o.hits, seen); v == ruleset.Drop || v == ruleset.Return && ch.Policy.Action == ruleset.Drop {
					break
				}
			}
		}
	}
	return out
}

// blocks reports whether the lines of set stop packet k on its way to
// line i of ch, on every way there, reading each line as the analysis
// names it: a line of set that ends ch for the packets it matches, before
// the line; a line of set that decides the packet within a chain jumped to
// before the line; a drop of set in a base chain of the same hook that
// runs first; and the same for each call site that leads to ch. The
// other lines stop nothing.
func (o *chainOracle) blocks(set map[*ruleset.Line]bool, ch *ruleset.Chain, i, k int, stack []*ruleset.Chain) bool {
	for j, l := range ch.Lines[:i] {
		if !o.hits[ch][j][k] {
			continue
		}
		switch l.Action {
		case ruleset.Accept, ruleset.Drop, ruleset.Return, ruleset.Goto:
			if set[l] {
				return true
			}
		case ruleset.Jump:
			if v, d := interpret(l.Target, k, o.hits, nil); v != ruleset.Return && set[d] {
				return true
			}
		}
	}
	if ch.Hook != "" {
		if !inFamily(ch, o.pts[k]) {
			return true
		}
		for _, eb := range o.bases[ch.Hook] {
			if eb.Priority >= ch.Priority || !inFamily(eb, o.pts[k]) {
				continue
			}
			v, d := interpret(eb, k, o.hits, nil)
			if v == ruleset.Return {
				v, d = eb.Policy.Action, eb.Policy
			}
			if v == ruleset.Drop && set[d] {
				return true
			}
		}
		return false
	}
	for _, c := range stack {
		if c == ch {
			return true // a loop: no way in
		}
	}
	for _, caller := range o.cfg.Chains {
		for j, l := range caller.Lines {
			if l.Target == ch && (l.Action == ruleset.Jump || l.Action == ruleset.Goto) && o.hits[caller][j][k] &&
				!o.blocks(set, caller, j, k, append(stack, ch)) {
				return false
			}
		}
	}
	return true
}

// TestShadowOracleChains checks the shadowing of random configurations
// with jumps, gotos, returns, several base chains of one hook and chains
// without a caller against the definition: a line is shadowed when no
// packet arrives at it and matches it. For each shadowed line, the
// blocking lines must stop every packet of its match on every way to it,
// and each of them must be needed.
func TestShadowOracleChains(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(11, 12))
	found := map[eval.ShadowReason]int{}
	cross := 0
	for trial := 0; trial < 120; trial++ {
		cfg := oracleChains(r)
		e, err := eval.Compile(cfg, "i0", "i1")
		if err != nil {
			t.Fatal(err)
		}
		o := newChainOracle(cfg, e)
		reached := o.reached()
		sh, gaveUp := e.Shadowed()
		if len(gaveUp) > 0 {
			t.Fatalf("trial %d: gave up on %d lines", trial, len(gaveUp))
		}
		got := map[*ruleset.Line]bool{}
		for _, s := range sh {
			found[s.Reason]++
			if s.Reason == eval.UnusedChain {
				for _, l := range s.Chain.Lines {
					got[l] = true
				}
				continue
			}
			got[s.Line] = true
			if s.Reason != eval.BlockingLines {
				continue
			}
			set := map[*ruleset.Line]bool{}
			for _, b := range s.Blocking {
				set[b] = true
				if b.Chain != s.Line.Chain {
					cross++
				}
			}
			ch := chainOf(cfg, s.Line)
			for _, without := range append([]*ruleset.Line{nil}, s.Blocking...) {
				delete(set, without)
				stopped := true
				for k := range o.pts {
					if o.hits[ch][s.Line.Index-1][k] && !o.blocks(set, ch, s.Line.Index-1, k, nil) {
						stopped = false
						break
					}
				}
				switch {
				case without == nil && !stopped:
					t.Fatalf("trial %d: the blocking lines of %s do not stop all its packets\n%s", trial, s.Line.ID, dumpConfig(cfg))
				case without != nil && stopped:
					t.Fatalf("trial %d: %s is not needed to block %s\n%s", trial, without.ID, s.Line.ID, dumpConfig(cfg))
				}
				if without != nil {
					set[without] = true
				}
			}
		}
		for _, ch := range cfg.Chains {
			for _, l := range ch.Lines {
				if got[l] == reached[l] {
					t.Fatalf("trial %d: %s shadowed = %v, oracle %v\n%s", trial, l.ID, got[l], !reached[l], dumpConfig(cfg))
				}
			}
		}
	}
	t.Logf("shadowed, by reason: %v; blocking lines in another chain: %d", found, cross)
	for _, why := range []eval.ShadowReason{eval.BlockingLines, eval.NoPath, eval.UnusedChain} {
		if found[why] == 0 {
			t.Errorf("no %s finding in the random configurations: the test checks too little", why)
		}
	}
	if cross == 0 {
		t.Error("no blocking line in another chain: the test checks too little")
	}
}

func chainOf(cfg *ruleset.Config, l *ruleset.Line) *ruleset.Chain {
	for _, ch := range cfg.Chains {
		if ch.Name == l.Chain {
			return ch
		}
	}
	return nil
}

func dumpConfig(cfg *ruleset.Config) string {
	var b strings.Builder
	for _, ch := range cfg.Chains {
		fmt.Fprintf(&b, "chain %s hook %q prio %d family %s\n", ch.Name, ch.Hook, ch.Priority, ch.Family)
		for _, l := range ch.Lines {
			m := l.Matches[0]
			tgt := ""
			if l.Target != nil {
				tgt = " " + l.Target.Name
			}
			fmt.Fprintf(&b, "  %s: %s%s proto %v state %v src %s dst %s sport %s dport %s in %v\n", l.ID, l.Action, tgt, m.Proto.List(), m.State, m.Src, m.Dst, m.SPort, m.DPort, m.In)
		}
		if ch.Policy != nil {
			fmt.Fprintf(&b, "  policy %s\n", ch.Policy.Action)
		}
	}
	return b.String()
}
