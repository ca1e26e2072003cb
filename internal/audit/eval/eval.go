// Package eval evaluates packet spaces against a configuration of the
// auditor's IR (audit/ruleset): Compile lowers every line's matches into
// cubes of the packet algebra (audit/packet), Eval walks a space down the
// base chains of a direction and splits it by verdict and deciding lines,
// and Shadowed finds the lines no packet reaches. It is the engine the
// analysis (package audit) asks its questions of; it knows nothing of
// plans, flows or findings.
package eval

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/teamsgate/teamsgate/internal/audit/packet"
	"github.com/teamsgate/teamsgate/internal/audit/ruleset"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/view"
)

// maxDepth bounds chain nesting; iptables and nft refuse loops, and the
// kernel's own limit for nft jumps is 16 levels (the evaluator allows more
// so that no valid ruleset is cut short).
const maxDepth = 64

// Engine is a compiled configuration: every line's matches as cubes over
// one interface Universe, ready to evaluate packet spaces. An Engine is not
// safe for concurrent use.
type Engine struct {
	Config   *ruleset.Config
	Universe *packet.Universe
	lines    map[*ruleset.Line]*cline
	chains   map[*ruleset.Chain]*cchain
	none     map[view.Direction]*ruleset.Line
}

type cline struct {
	l     *ruleset.Line
	cc    *cchain // the chain holding the line
	space packet.Space
	box   box
	// idx is the line's position in the configuration; gen marks it as
	// seen by the current shadowing query.
	idx, gen int
}

type cchain struct {
	c     *ruleset.Chain
	lines []*cline
}

// Compile lowers the configuration's matches into cubes. ifaces names the
// interfaces queries will use besides those the configuration mentions.
func Compile(cfg *ruleset.Config, ifaces ...string) (*Engine, error) {
	pats := append([]string(nil), ifaces...)
	for _, ch := range cfg.Chains {
		for _, l := range ch.Lines {
			for _, m := range l.Matches {
				for _, c := range m.In {
					pats = append(pats, c.Patterns...)
				}
				for _, c := range m.Out {
					pats = append(pats, c.Patterns...)
				}
			}
		}
	}
	u, err := packet.NewUniverse(pats)
	if err != nil {
		return nil, err
	}
	e := &Engine{Config: cfg, Universe: u, lines: map[*ruleset.Line]*cline{}, chains: map[*ruleset.Chain]*cchain{}}
	n := 0
	for _, ch := range cfg.Chains {
		cc := &cchain{c: ch}
		for _, l := range ch.Lines {
			n++
			cl := &cline{l: l, cc: cc, space: e.matchSpace(l), idx: n}
			cl.box = boxOf(cl.space)
			e.lines[l] = cl
			cc.lines = append(cc.lines, cl)
		}
		e.chains[ch] = cc
	}
	return e, nil
}

// MatchSpace returns the packets a line's matches select. For a line of
// the compiled configuration it is the space Compile made, which callers
// must not modify.
func (e *Engine) MatchSpace(l *ruleset.Line) packet.Space {
	if cl, ok := e.lines[l]; ok {
		return cl.space[:len(cl.space):len(cl.space)]
	}
	return e.matchSpace(l)
}

func (e *Engine) matchSpace(l *ruleset.Line) packet.Space {
	var s packet.Space
	for _, m := range l.Matches {
		c, ok := e.cube(m)
		if !ok {
			continue
		}
		s = s.Union(packet.Space{c})
	}
	return s
}

func (e *Engine) cube(m ruleset.Match) (packet.Cube, bool) {
	if m.Never {
		return packet.Cube{}, false
	}
	in, out := e.Universe.All(), e.Universe.All()
	for _, c := range m.In {
		in &= e.ifaceSet(c)
	}
	for _, c := range m.Out {
		out &= e.ifaceSet(c)
	}
	c := packet.Cube{Proto: m.Proto, State: m.State, In: in, Out: out, Src: m.Src, Dst: m.Dst, SPort: m.SPort, DPort: m.DPort}
	return c, !c.IsEmpty()
}

func (e *Engine) ifaceSet(c ruleset.IfaceCond) packet.IfaceSet {
	var s packet.IfaceSet
	for _, p := range c.Patterns {
		s |= e.Universe.Match(p)
	}
	if c.Neg {
		return e.Universe.All() &^ s
	}
	return s
}

// Fragment is a part of an evaluated packet space and what the
// configuration does with it.
type Fragment struct {
	Space   packet.Space
	Verdict model.Verdict
	// Lines: for a deny, the line (or policy) that dropped the packets; for
	// an allow, the accepting line (or policy) of every chain crossed, in
	// order. Empty when no chain filters the direction.
	Lines []*ruleset.Line
	// Unresolved lists lines that cannot be evaluated exactly and whose
	// resolvable part matched these packets on their way: the verdict may
	// differ depending on what they stand for.
	Unresolved []*ruleset.Line
}

// Decider returns the line that decided the fragment: the dropping line,
// or the last accepting line that is a rule rather than the policy of a
// chain without rules.
func (f Fragment) Decider() *ruleset.Line {
	if len(f.Lines) == 0 {
		return nil
	}
	if f.Verdict != model.VerdictAllow {
		return f.Lines[0]
	}
	for i := len(f.Lines) - 1; i >= 0; i-- {
		if !f.Lines[i].Default {
			return f.Lines[i]
		}
	}
	for i := len(f.Lines) - 1; i >= 0; i-- {
		if !f.Lines[i].Weak {
			return f.Lines[i]
		}
	}
	return f.Lines[len(f.Lines)-1]
}

type touch struct {
	space packet.Space
	line  *ruleset.Line
}

type evalState struct {
	e       *Engine
	touched []touch
	// pick, when set, gives the lines of a chain that may match a space, in
	// order (the shadowing analysis's index); otherwise every line is
	// walked.
	pick func(cc *cchain, q packet.Space) []*cline
	// limit, when positive, bounds the cubes run walks (steps counts
	// them); past it, run stops and sets over.
	limit, steps int
	over         bool
}

type decided struct {
	space  packet.Space
	accept bool
	line   *ruleset.Line
}

// Eval evaluates a packet space against the base chains of a direction
// and returns the fragments by verdict and deciding lines.
func (e *Engine) Eval(dir view.Direction, q packet.Space) []Fragment {
	st := &evalState{e: e}
	alive := []Fragment{{Space: q, Verdict: model.VerdictAllow}}
	if len(e.Config.Paths[dir]) == 0 {
		// Nothing filters this direction: everything passes, and the
		// finding names that fact as its rule.
		alive[0].Lines = []*ruleset.Line{e.unfiltered(dir)}
	}
	var out []Fragment
	for _, ch := range e.Config.Paths[dir] {
		cc := e.chains[ch]
		dom := e.domain(ch.Family)
		var next []Fragment
		for _, f := range alive {
			in := f.Space.IntersectCube(dom)
			if rest := f.Space.SubtractCube(dom); len(rest) > 0 {
				next = append(next, Fragment{Space: rest, Verdict: model.VerdictAllow, Lines: f.Lines})
			}
			if len(in) == 0 {
				continue
			}
			dec, ret := st.run(cc, in, 0)
			if len(ret) > 0 {
				dec = append(dec, decided{space: ret, accept: ch.Policy.Action == ruleset.Accept, line: ch.Policy})
			}
			for _, d := range dec {
				if d.accept {
					lines := append(append([]*ruleset.Line(nil), f.Lines...), d.line)
					next = append(next, Fragment{Space: d.space, Verdict: model.VerdictAllow, Lines: lines})
				} else {
					out = append(out, Fragment{Space: d.space, Verdict: model.VerdictDeny, Lines: []*ruleset.Line{d.line}})
				}
			}
		}
		alive = next
	}
	out = append(out, alive...)
	out = mergeFragments(out)
	for i := range out {
		for _, t := range st.touched {
			if overlapsSpace(out[i].Space, t.space) && !containsLine(out[i].Unresolved, t.line) {
				out[i].Unresolved = append(out[i].Unresolved, t.line)
			}
		}
	}
	return out
}

// domain returns the cube of every address of the families, on both
// sides: what a base chain of those families sees.
func (e *Engine) domain(f ruleset.Family) packet.Cube {
	return packet.Cube{Proto: packet.AllProtos(), State: packet.AllStates, In: e.Universe.All(), Out: e.Universe.All(),
		Src: f.Addrs(), Dst: f.Addrs(), SPort: packet.AllPorts(), DPort: packet.AllPorts()}
}

// unfiltered returns the pseudo-line that stands for "no chain filters
// this direction".
func (e *Engine) unfiltered(dir view.Direction) *ruleset.Line {
	if e.none == nil {
		e.none = map[view.Direction]*ruleset.Line{}
	}
	if l, ok := e.none[dir]; ok {
		return l
	}
	l := &ruleset.Line{ID: fmt.Sprintf("(no %s chain: %s traffic is not filtered)", e.Config.Format, dir), Action: ruleset.Accept, Default: true, Matches: []ruleset.Match{ruleset.NewMatch()}}
	e.none[dir] = l
	return l
}

// run evaluates one chain: the packets it decides, and those that return
// from it (fall off its end, or hit a RETURN). The cubes of q are disjoint,
// so each is walked down the chain on its own: a cube skips every line whose
// bounding box it misses, and when a line matches part of it, the rest
// goes on from the next line as separate cubes. No step copies the whole
// space.
func (st *evalState) run(cc *cchain, q packet.Space, depth int) (dec []decided, ret packet.Space) {
	if depth > maxDepth {
		return []decided{{space: q, accept: false, line: &ruleset.Line{ID: cc.c.Name + " (chain nesting too deep)", Default: true}}}, nil
	}
	type item struct {
		c    packet.Cube
		from int
	}
	lines := cc.lines
	if st.pick != nil {
		lines = st.pick(cc, q)
	}
	stack := make([]item, 0, len(q))
	for i := len(q) - 1; i >= 0; i-- {
		stack = append(stack, item{q[i], 0})
	}
	for len(stack) > 0 {
		if st.limit > 0 {
			if st.steps++; st.steps > st.limit {
				st.over = true
				return dec, ret
			}
		}
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		x := packet.Space{it.c}
		xb := boxOf(x)
		decidedHere := false
		for i := it.from; i < len(lines) && !decidedHere; i++ {
			ln := lines[i]
			if !ln.box.meets(xb) {
				continue
			}
			hit := intersectSpaces(x, ln.space)
			if len(hit) == 0 {
				continue
			}
			l := ln.l
			if len(l.Unresolved) > 0 {
				if l.Action != ruleset.Continue {
					st.touched = append(st.touched, touch{space: hit, line: l})
				}
				continue
			}
			if l.Action == ruleset.Continue || (l.Action == ruleset.Jump || l.Action == ruleset.Goto) && l.Target == nil {
				continue
			}
			var onward packet.Space // packets that go on from the next line
			switch l.Action {
			case ruleset.Accept, ruleset.Drop:
				dec = append(dec, decided{space: hit, accept: l.Action == ruleset.Accept, line: l})
			case ruleset.Return:
				ret = append(ret, hit...)
			case ruleset.Jump:
				d, r := st.run(st.e.chains[l.Target], hit, depth+1)
				dec = append(dec, d...)
				onward = r
			case ruleset.Goto:
				d, r := st.run(st.e.chains[l.Target], hit, depth+1)
				dec = append(dec, d...)
				ret = append(ret, r...)
			}
			onward = append(onward, x.Subtract(ln.space)...)
			for j := len(onward) - 1; j >= 0; j-- {
				stack = append(stack, item{onward[j], i + 1})
			}
			decidedHere = true
		}
		if !decidedHere {
			ret = append(ret, it.c)
		}
	}
	return dec, ret
}

func intersectSpaces(q, m packet.Space) packet.Space {
	var out packet.Space
	for _, c := range m {
		for _, x := range q {
			if y, ok := x.Intersect(c); ok {
				out = append(out, y)
			}
		}
	}
	return out
}

func overlapsSpace(a, b packet.Space) bool {
	for _, c := range b {
		if a.Overlaps(c) {
			return true
		}
	}
	return false
}

func containsLine(ls []*ruleset.Line, l *ruleset.Line) bool {
	for _, x := range ls {
		if x == l {
			return true
		}
	}
	return false
}

// mergeFragments joins fragments with the same verdict and lines.
func mergeFragments(fs []Fragment) []Fragment {
	idx := map[string]int{}
	var out []Fragment
	for _, f := range fs {
		if len(f.Space) == 0 {
			continue
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%d", f.Verdict)
		for _, l := range f.Lines {
			fmt.Fprintf(&b, "|%p", l)
		}
		k := b.String()
		if i, ok := idx[k]; ok {
			out[i].Space = append(out[i].Space, f.Space...)
			continue
		}
		idx[k] = len(out)
		out = append(out, Fragment{Space: append(packet.Space(nil), f.Space...), Verdict: f.Verdict, Lines: f.Lines})
	}
	return out
}

// Verdict returns the verdict for one packet and the fragment's lines, by
// evaluating the single-packet space. Tests compare it with the kernel.
func (e *Engine) Verdict(dir view.Direction, p packet.Packet) Fragment {
	fs := e.Eval(dir, pointSpace(p))
	if len(fs) == 0 {
		return Fragment{Verdict: model.VerdictDeny}
	}
	return fs[0]
}

// pointSpace returns the space of one packet.
func pointSpace(p packet.Packet) packet.Space {
	return packet.Space{{
		Proto: packet.Protos(p.Proto), State: packet.StateSet(p.State),
		In: 1 << p.In, Out: 1 << p.Out,
		Src: packet.AddrSetOf(prefixOf(p.Src)), Dst: packet.AddrSetOf(prefixOf(p.Dst)),
		SPort: model.NewPortSet(model.Port(p.SPort)), DPort: model.NewPortSet(model.Port(p.DPort)),
	}}
}

func prefixOf(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, a.BitLen()) }
