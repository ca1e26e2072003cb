package audit_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/teamsgate/teamsgate/internal/audit"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/render"
)

// A brute-force oracle for the set algebra and the evaluator: in a small
// packet space (8 addresses of two families, 4 ports, 3 protocols, 2
// states, 2 interface classes per side) every point is checked against
// the bitmaps that the operations must produce.

var (
	oAddrs  = append(hostsOf("10.0.0.0/30"), hostsOf("2001:db8::/126")...)
	oProtos = []uint8{1, 6, 17}
	oStates = []audit.State{audit.StateNew, audit.StateEstablished}
)

const oPorts = 4

var oAll = audit.AddrSetOf(netip.MustParsePrefix("10.0.0.0/30"), netip.MustParsePrefix("2001:db8::/126"))

func hostsOf(p string) []netip.Addr {
	pf := netip.MustParsePrefix(p)
	var out []netip.Addr
	for a := pf.Addr(); pf.Contains(a); a = a.Next() {
		out = append(out, a)
	}
	return out
}

// oPoints enumerates the small space. ifaces are the two interface
// classes each side may take.
func oPoints(ifaces [2]int) []audit.Packet {
	var out []audit.Packet
	for _, pr := range oProtos {
		for _, st := range oStates {
			for _, in := range ifaces {
				for _, o := range ifaces {
					for _, s := range oAddrs {
						for _, d := range oAddrs {
							for sp := uint16(0); sp < oPorts; sp++ {
								for dp := uint16(0); dp < oPorts; dp++ {
									out = append(out, audit.Packet{Proto: pr, State: st, In: in, Out: o, Src: s, Dst: d, SPort: sp, DPort: dp})
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

func randAddrSet(r *rand.Rand) audit.AddrSet {
	var ps []netip.Prefix
	for i := r.IntN(3); i >= 0; i-- {
		a := oAddrs[r.IntN(len(oAddrs))]
		bits := a.BitLen() - r.IntN(3)
		p, _ := a.Prefix(bits)
		ps = append(ps, p)
	}
	return audit.AddrSetOf(ps...)
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
func randCube(r *rand.Rand, wide float64) audit.Cube {
	var ps audit.ProtoSet
	for ps.IsEmpty() {
		for _, p := range oProtos {
			if r.IntN(2) == 0 {
				ps = ps.Or(audit.Protos(p))
			}
		}
	}
	c := audit.Cube{
		Proto: ps,
		State: audit.StateSet(1 + r.IntN(3)),
		In:    audit.IfaceSet(1 + r.IntN(3)), Out: audit.IfaceSet(1 + r.IntN(3)),
		Src: randAddrSet(r), Dst: randAddrSet(r),
		SPort: randPortSet(r), DPort: randPortSet(r),
	}
	// "Whole" means the whole small space, so that every cube stays
	// inside it and the point-by-point oracle sees all of it.
	full := func() bool { return r.Float64() < wide }
	if full() {
		c.Proto = audit.Protos(oProtos...)
	}
	if full() {
		c.State = audit.StateSet(audit.StateNew | audit.StateEstablished)
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

func randSpace(r *rand.Rand) audit.Space {
	var s audit.Space
	for i := r.IntN(3); i >= 0; i-- {
		if c := randCube(r, 0.2); !c.IsEmpty() {
			s = s.Union(audit.Space{c})
		}
	}
	return s
}

func bitmap(s audit.Space, pts []audit.Packet) []bool {
	out := make([]bool, len(pts))
	for i, p := range pts {
		out[i] = s.Contains(p)
	}
	return out
}

// checkDisjoint verifies the Space invariant: cubes pairwise disjoint and
// non-empty.
func checkDisjoint(t *testing.T, what string, s audit.Space) {
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
	r := rand.New(rand.NewPCG(1, 2))
	pts := oPoints([2]int{0, 1})
	for trial := 0; trial < 150; trial++ {
		a, b := randSpace(r), randSpace(r)
		ba, bb := bitmap(a, pts), bitmap(b, pts)
		inter, diff, union := a.Intersect(b), a.Subtract(b), a.Union(b)
		for name, s := range map[string]audit.Space{"intersect": inter, "subtract": diff, "union": union} {
			checkDisjoint(t, name, s)
		}
		bi, bd, bu := bitmap(inter, pts), bitmap(diff, pts), bitmap(union, pts)
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
			got  audit.AddrSet
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
func oracleConfig(r *rand.Rand, wide float64) *audit.Config {
	base := &audit.Chain{Name: "base", Hook: "input", Family: audit.FamilyBoth}
	user := &audit.Chain{Name: "user", Family: audit.FamilyBoth}
	mk := func(ch *audit.Chain, i int) *audit.Line {
		c := randCube(r, wide)
		m := audit.Match{Proto: c.Proto, State: c.State, Src: c.Src, Dst: c.Dst, SPort: c.SPort, DPort: c.DPort}
		if r.IntN(3) == 0 {
			m.In = []audit.IfaceCond{{Patterns: []string{"i0"}, Neg: r.IntN(2) == 0}}
		}
		if r.IntN(3) == 0 {
			m.Out = []audit.IfaceCond{{Patterns: []string{"i1"}}}
		}
		l := &audit.Line{ID: fmt.Sprintf("%s#%d", ch.Name, i+1), Chain: ch.Name, Index: i + 1, Matches: []audit.Match{m}}
		acts := []audit.Action{audit.Accept, audit.Drop, audit.Continue, audit.Return}
		if ch == base {
			acts = append(acts, audit.Jump, audit.Goto)
		}
		l.Action = acts[r.IntN(len(acts))]
		if l.Action == audit.Jump || l.Action == audit.Goto {
			l.Target = user
		}
		if r.IntN(6) == 0 {
			// a second match: the line matches the union
			c2 := randCube(r, wide)
			l.Matches = append(l.Matches, audit.Match{Proto: c2.Proto, State: c2.State, Src: c2.Src, Dst: c2.Dst, SPort: c2.SPort, DPort: c2.DPort})
		}
		return l
	}
	for i, n := 0, r.IntN(8); i < n; i++ {
		base.Lines = append(base.Lines, mk(base, i))
	}
	for i, n := 0, r.IntN(5); i < n; i++ {
		user.Lines = append(user.Lines, mk(user, i))
	}
	pol := audit.Accept
	if r.IntN(2) == 0 {
		pol = audit.Drop
	}
	base.Policy = &audit.Line{ID: "base policy", Chain: "base", Action: pol, Default: true, Matches: []audit.Match{audit.NewMatch()}}
	return &audit.Config{Format: "oracle", Chains: []*audit.Chain{base, user}, Families: audit.FamilyBoth,
		Paths: map[render.Direction][]*audit.Chain{render.Inbound: {base}}}
}

// matches is the per-packet reading of a line, independent of cubes.
func matches(l *audit.Line, p audit.Packet, u *audit.Engine) bool {
	for _, m := range l.Matches {
		if m.Proto.Has(p.Proto) && audit.StateSet(p.State)&m.State != 0 &&
			m.Src.Contains(p.Src) && m.Dst.Contains(p.Dst) &&
			m.SPort.Contains(p.SPort) && m.DPort.Contains(p.DPort) &&
			ifaceOK(m.In, p.In, u) && ifaceOK(m.Out, p.Out, u) {
			return true
		}
	}
	return false
}

func ifaceOK(conds []audit.IfaceCond, class int, e *audit.Engine) bool {
	for _, c := range conds {
		hit := false
		for _, pat := range c.Patterns {
			if e.IfaceClass(pat) == class {
				hit = true
			}
		}
		if hit == c.Neg {
			return false
		}
	}
	return true
}

// interpret walks the chains for one packet, as iptables does.
func interpret(ch *audit.Chain, p audit.Packet, e *audit.Engine) (verdict audit.Action, line *audit.Line) {
	for _, l := range ch.Lines {
		if !matches(l, p, e) {
			continue
		}
		switch l.Action {
		case audit.Accept, audit.Drop:
			return l.Action, l
		case audit.Return:
			return audit.Return, nil
		case audit.Jump:
			if v, ln := interpret(l.Target, p, e); v != audit.Return {
				return v, ln
			}
		case audit.Goto:
			return interpret(l.Target, p, e)
		}
	}
	return audit.Return, nil
}

func TestEvalOracle(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for trial := 0; trial < 120; trial++ {
		cfg := oracleConfig(r, 0.3)
		e, err := audit.Compile(cfg, "i0", "i1")
		if err != nil {
			t.Fatal(err)
		}
		pts := oPoints([2]int{e.IfaceClass("i0"), e.IfaceClass("i1")})
		all := audit.Cube{Proto: audit.Protos(oProtos...), State: audit.StateSet(audit.StateNew | audit.StateEstablished),
			In: 1<<e.IfaceClass("i0") | 1<<e.IfaceClass("i1"), Out: 1<<e.IfaceClass("i0") | 1<<e.IfaceClass("i1"),
			Src:   audit.AddrSetOf(netip.MustParsePrefix("10.0.0.0/30"), netip.MustParsePrefix("2001:db8::/126")),
			Dst:   audit.AddrSetOf(netip.MustParsePrefix("10.0.0.0/30"), netip.MustParsePrefix("2001:db8::/126")),
			SPort: model.NewPortSet(model.PortRange{First: 0, Last: oPorts - 1}), DPort: model.NewPortSet(model.PortRange{First: 0, Last: oPorts - 1})}
		frags := e.Eval(render.Inbound, audit.Space{all})
		base := cfg.Chains[0]
		for _, p := range pts {
			v, line := interpret(base, p, e)
			if v == audit.Return {
				v, line = base.Policy.Action, base.Policy
			}
			var got *audit.Fragment
			for i := range frags {
				if frags[i].Space.Contains(p) {
					if got != nil {
						t.Fatalf("trial %d: %+v in two fragments", trial, p)
					}
					got = &frags[i]
				}
			}
			if got == nil {
				t.Fatalf("trial %d: %+v in no fragment", trial, p)
			}
			want := model.VerdictDeny
			if v == audit.Accept {
				want = model.VerdictAllow
			}
			if got.Verdict != want || got.Lines[len(got.Lines)-1] != line {
				t.Fatalf("trial %d: %+v: evaluator %v by %s, oracle %v by %s", trial, p, got.Verdict, got.Lines[len(got.Lines)-1].ID, want, line.ID)
			}
		}
	}
}

// TestShadowOracle checks the shadowed lines of random single chains
// against the definition: no point of the line's match gets past the
// terminating lines before it.
func TestShadowOracle(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	found := 0
	for trial := 0; trial < 200; trial++ {
		cfg := oracleConfig(r, 0.6)
		base := cfg.Chains[0]
		// A single chain without jumps, with small random cubes so that
		// shadowing happens often.
		for _, l := range base.Lines {
			if l.Action == audit.Jump || l.Action == audit.Goto {
				l.Action, l.Target = audit.Drop, nil
			}
		}
		cfg.Chains = cfg.Chains[:1]
		e, err := audit.Compile(cfg, "i0", "i1")
		if err != nil {
			t.Fatal(err)
		}
		pts := oPoints([2]int{e.IfaceClass("i0"), e.IfaceClass("i1")})
		want := map[*audit.Line]bool{}
		for i, l := range base.Lines {
			reachable := false
			for _, p := range pts {
				if !matches(l, p, e) {
					continue
				}
				blocked := false
				for _, o := range base.Lines[:i] {
					if o.Action != audit.Continue && matches(o, p, e) {
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
		got := map[*audit.Line]bool{}
		for _, s := range sh {
			got[s.Line] = true
			// The blocking lines must really cover the line.
			var cover audit.Space
			for _, b := range s.Blocking {
				cover = cover.Union(e.MatchSpace(b))
			}
			if s.Reason == audit.BlockingLines && !cover.Covers(e.MatchSpace(s.Line)) {
				t.Fatalf("trial %d: blocking lines of %s do not cover it", trial, s.Line.ID)
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
