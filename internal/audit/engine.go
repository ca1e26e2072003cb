package audit

import (
	"fmt"
	"net/netip"
	"strings"

	"go4.org/netipx"

	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/render"
)

// maxDepth bounds chain nesting; iptables and nft refuse loops, and the
// kernel's own limit for nft jumps is 16 levels (the evaluator allows more
// so that no valid ruleset is cut short).
const maxDepth = 64

// Engine is a compiled configuration: every line's matches as cubes over
// one interface Universe, ready to evaluate packet spaces. An Engine is not
// safe for concurrent use.
type Engine struct {
	Config   *Config
	Universe *Universe
	lines    map[*Line]*cline
	chains   map[*Chain]*cchain
	texts    map[*netipx.IPSet]string
	none     map[render.Direction]*Line
}

type cline struct {
	l     *Line
	space Space
	box   box
	// idx is the line's position in the configuration; gen marks it as
	// seen by the current shadowing query.
	idx, gen int
}

type cchain struct {
	c     *Chain
	lines []*cline
}

// Compile lowers the configuration's matches into cubes. ifaces names the
// interfaces queries will use besides those the configuration mentions.
func Compile(cfg *Config, ifaces ...string) (*Engine, error) {
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
	u, ok := NewUniverse(pats)
	if !ok {
		return nil, fmt.Errorf("the configuration names more than %d distinct interfaces or interface wildcards", maxIfaceClasses-2)
	}
	e := &Engine{Config: cfg, Universe: u, lines: map[*Line]*cline{}, chains: map[*Chain]*cchain{}}
	n := 0
	for _, ch := range cfg.Chains {
		cc := &cchain{c: ch}
		for _, l := range ch.Lines {
			n++
			cl := &cline{l: l, space: e.MatchSpace(l), idx: n}
			cl.box = boxOf(cl.space)
			e.lines[l] = cl
			cc.lines = append(cc.lines, cl)
		}
		e.chains[ch] = cc
	}
	return e, nil
}

// MatchSpace returns the packets a line's matches select.
func (e *Engine) MatchSpace(l *Line) Space {
	var s Space
	for _, m := range l.Matches {
		c, ok := e.cube(m)
		if !ok {
			continue
		}
		s = s.Union(Space{c})
	}
	return s
}

func (e *Engine) cube(m Match) (Cube, bool) {
	if m.Never {
		return Cube{}, false
	}
	in, out := e.Universe.All(), e.Universe.All()
	for _, c := range m.In {
		in &= e.ifaceSet(c)
	}
	for _, c := range m.Out {
		out &= e.ifaceSet(c)
	}
	c := Cube{Proto: m.Proto, State: m.State, In: in, Out: out, Src: m.Src, Dst: m.Dst, SPort: m.SPort, DPort: m.DPort}
	return c, !c.IsEmpty()
}

func (e *Engine) ifaceSet(c IfaceCond) IfaceSet {
	var s IfaceSet
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
	Space   Space
	Verdict model.Verdict
	// Lines: for a deny, the line (or policy) that dropped the packets; for
	// an allow, the accepting line (or policy) of every chain crossed, in
	// order. Empty when no chain filters the direction.
	Lines []*Line
	// Unresolved lists lines that cannot be evaluated exactly and whose
	// resolvable part matched these packets on their way: the verdict may
	// differ depending on what they stand for.
	Unresolved []*Line
}

// Decider returns the line that decided the fragment: the dropping line,
// or the last accepting line that is a rule rather than the policy of a
// chain without rules.
func (f Fragment) Decider() *Line {
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
	space Space
	line  *Line
}

type evalState struct {
	e       *Engine
	touched []touch
}

type decided struct {
	space  Space
	accept bool
	line   *Line
}

// Eval evaluates a packet space against the base chains of a direction
// and returns the fragments by verdict and deciding lines.
func (e *Engine) Eval(dir render.Direction, q Space) []Fragment {
	st := &evalState{e: e}
	alive := []Fragment{{Space: q, Verdict: model.VerdictAllow}}
	if len(e.Config.Paths[dir]) == 0 {
		// Nothing filters this direction: everything passes, and the
		// finding names that fact as its rule.
		alive[0].Lines = []*Line{e.unfiltered(dir)}
	}
	var out []Fragment
	for _, ch := range e.Config.Paths[dir] {
		cc := e.chains[ch]
		dom := Cube{Proto: AllProtos(), State: AllStates, In: e.Universe.All(), Out: e.Universe.All(),
			Src: ch.Family.addrs(), Dst: ch.Family.addrs(), SPort: allPorts, DPort: allPorts}
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
				dec = append(dec, decided{space: ret, accept: ch.Policy.Action == Accept, line: ch.Policy})
			}
			for _, d := range dec {
				if d.accept {
					lines := append(append([]*Line(nil), f.Lines...), d.line)
					next = append(next, Fragment{Space: d.space, Verdict: model.VerdictAllow, Lines: lines})
				} else {
					out = append(out, Fragment{Space: d.space, Verdict: model.VerdictDeny, Lines: []*Line{d.line}})
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

// unfiltered returns the pseudo-line that stands for "no chain filters
// this direction".
func (e *Engine) unfiltered(dir render.Direction) *Line {
	if e.none == nil {
		e.none = map[render.Direction]*Line{}
	}
	if l, ok := e.none[dir]; ok {
		return l
	}
	l := &Line{ID: fmt.Sprintf("(no %s chain: %s traffic is not filtered)", e.Config.Format, dir), Action: Accept, Default: true, Matches: []Match{NewMatch()}}
	e.none[dir] = l
	return l
}

// run evaluates one chain: the packets it decides, and those that return
// from it (fall off its end, or hit a RETURN). The cubes of q are disjoint,
// so each is walked down the chain on its own: a cube skips every line whose
// bounding box it misses, and when a line matches part of it, the rest
// goes on from the next line as separate cubes. No step copies the whole
// space.
func (st *evalState) run(cc *cchain, q Space, depth int) (dec []decided, ret Space) {
	if depth > maxDepth {
		return []decided{{space: q, accept: false, line: &Line{ID: cc.c.Name + " (chain nesting too deep)", Default: true}}}, nil
	}
	type item struct {
		c    Cube
		from int
	}
	stack := make([]item, 0, len(q))
	for i := len(q) - 1; i >= 0; i-- {
		stack = append(stack, item{q[i], 0})
	}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		x := Space{it.c}
		xb := boxOf(x)
		decidedHere := false
		for i := it.from; i < len(cc.lines) && !decidedHere; i++ {
			ln := cc.lines[i]
			if !ln.box.meets(xb) {
				continue
			}
			hit := intersectSpaces(x, ln.space)
			if len(hit) == 0 {
				continue
			}
			l := ln.l
			if len(l.Unresolved) > 0 {
				if l.Action != Continue {
					st.touched = append(st.touched, touch{space: hit, line: l})
				}
				continue
			}
			if l.Action == Continue || (l.Action == Jump || l.Action == Goto) && l.Target == nil {
				continue
			}
			var onward Space // packets that go on from the next line
			switch l.Action {
			case Accept, Drop:
				dec = append(dec, decided{space: hit, accept: l.Action == Accept, line: l})
			case Return:
				ret = append(ret, hit...)
			case Jump:
				d, r := st.run(st.e.chains[l.Target], hit, depth+1)
				dec = append(dec, d...)
				onward = r
			case Goto:
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

func intersectSpaces(q, m Space) Space {
	var out Space
	for _, c := range m {
		for _, x := range q {
			if y, ok := x.Intersect(c); ok {
				out = append(out, y)
			}
		}
	}
	return out
}

func overlapsSpace(a, b Space) bool {
	for _, c := range b {
		if a.Overlaps(c) {
			return true
		}
	}
	return false
}

func containsLine(ls []*Line, l *Line) bool {
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
		out = append(out, Fragment{Space: append(Space(nil), f.Space...), Verdict: f.Verdict, Lines: f.Lines})
	}
	return out
}

// Verdict returns the verdict for one packet and the fragment's lines, by
// evaluating the single-packet space. Tests compare it with the kernel.
func (e *Engine) Verdict(dir render.Direction, p Packet) Fragment {
	c := Cube{
		Proto: Protos(p.Proto), State: StateSet(p.State),
		In: 1 << p.In, Out: 1 << p.Out,
		Src: AddrSetOf(prefixOf(p.Src)), Dst: AddrSetOf(prefixOf(p.Dst)),
		SPort: model.NewPortSet(model.Port(p.SPort)), DPort: model.NewPortSet(model.Port(p.DPort)),
	}
	fs := e.Eval(dir, Space{c})
	if len(fs) == 0 {
		return Fragment{Verdict: model.VerdictDeny}
	}
	return fs[0]
}

// IfaceClass returns the class index of an interface name, for Packet.
func (e *Engine) IfaceClass(name string) int { return e.Universe.classOf(name) }

func prefixOf(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, a.BitLen()) }
