package eval

// Reachability across chains, for the shadowing analysis (shadow.go). A
// packet arrives at line i of chain C when it arrives at C and no earlier
// line of C stops it: an accept, drop, return or goto that matches it, or
// a jump whose target decides it (accepts or drops it rather than
// returning). It arrives at a user chain when it arrives at a jump or goto
// to the chain and matches it (the union over every such call site); at a
// base chain when it is of the chain's families and no base chain of the
// same hook that runs before it drops it (accept ends one base chain only;
// nft(8), "BASE CHAIN"). A query asks this backwards, for the packets of
// one line's match: it removes what the line's own chain stops, then asks
// the same of each call site for what is left, up to the base chains. The
// answer is exact; what is removed, and by which lines, is what names the
// blocking lines.

import (
	"slices"

	"github.com/teamsgate/teamsgate/internal/audit/packet"
	"github.com/teamsgate/teamsgate/internal/audit/ruleset"
)

// The bounds of one query (one line, or one check of the minimisation).
// Past any of them the query gives up and the line is taken as reachable:
// the analysis never reports a line it has not proven unreachable.
const (
	// subtractBudget bounds the cubes of a space being narrowed down.
	subtractBudget = 20000
	// maxReachCalls bounds the chains entered: many call sites of many
	// chains calling one another.
	maxReachCalls = 4096
	// walkBudget bounds the cubes the evaluator walks to learn what a
	// jump's target, or an earlier base chain, decides.
	walkBudget = 200000
)

// reachability is what the queries share: the chains' indexes, who calls
// each user chain, and which base chains run before each base chain.
type reachability struct {
	e     *Engine
	index map[*cchain]*lineIndex
	// callers lists the call sites (jump and goto lines, evaluable or
	// not: an unresolved jump may still jump) of each user chain, from
	// chains a base chain reaches.
	callers map[*ruleset.Chain][]*cline
	base    map[*ruleset.Chain]bool
	// used holds the chains a base chain reaches through jumps and gotos,
	// whatever they match.
	used map[*ruleset.Chain]bool
	// earlier lists, for a base chain on a path, the base chains of the
	// same hook that certainly run before it.
	earlier map[*ruleset.Chain][]*cchain
}

// reachability indexes the chains and finds the callers of each user
// chain and the order of the base chains, once for all the queries of a
// Shadowed.
func (e *Engine) reachability() *reachability {
	r := &reachability{e: e, index: map[*cchain]*lineIndex{}, callers: map[*ruleset.Chain][]*cline{},
		base: map[*ruleset.Chain]bool{}, used: map[*ruleset.Chain]bool{}, earlier: map[*ruleset.Chain][]*cchain{}}
	var todo []*ruleset.Chain
	for _, ch := range e.Config.Chains {
		if ch.Union {
			continue
		}
		r.index[e.chains[ch]] = indexChain(e.chains[ch])
		if ch.Hook != "" {
			r.base[ch] = true
			r.used[ch] = true
			todo = append(todo, ch)
		}
	}
	for len(todo) > 0 {
		ch := todo[0]
		todo = todo[1:]
		for _, ln := range e.chains[ch].lines {
			t := ln.l.Target
			if t == nil || ln.l.Action != ruleset.Jump && ln.l.Action != ruleset.Goto || r.base[t] || t.Union {
				continue
			}
			r.callers[t] = append(r.callers[t], ln)
			if !r.used[t] {
				r.used[t] = true
				todo = append(todo, t)
			}
		}
	}
	r.orderBaseChains()
	return r
}

// iptablesPriority gives the netfilter priorities of the iptables tables'
// chains (linux/netfilter_ipv4.h, NF_IP_PRI_*), which the IR leaves at 0.
var iptablesPriority = map[string]int{"raw": -300, "mangle": -150, "filter": 0, "security": 50}

// iptablesNAT is where the nat table (not in the IR) may rewrite
// addresses: NF_IP_PRI_NAT_DST on prerouting and output, NF_IP_PRI_NAT_SRC
// on input and postrouting.
var iptablesNAT = map[string]int{"prerouting": -100, "output": -100, "input": 100, "postrouting": 100}

// orderBaseChains finds, for each base chain on a path, the base chains of
// its hook that run before it: those of a strictly lower priority (at an
// equal one the kernel's order is that of registration, which a listing
// does not show), with no NAT chain at or between the two priorities (a
// rewritten address may match a rule its original one did not; NAT is
// not evaluated).
func (r *reachability) orderBaseChains() {
	cfg := r.e.Config
	onPath := map[*ruleset.Chain]bool{}
	for _, chs := range cfg.Paths {
		for _, ch := range chs {
			onPath[ch] = !ch.Union
		}
	}
	prio := func(ch *ruleset.Chain) int {
		if p, ok := iptablesPriority[ch.Table]; ok && cfg.Format == "iptables" {
			return p
		}
		return ch.Priority
	}
	nat := map[string][]int{}
	if cfg.Format == "iptables" {
		for h, p := range iptablesNAT {
			nat[h] = []int{p}
		}
	}
	for _, ch := range cfg.Chains {
		if ch.Hook != "" && !onPath[ch] && !ch.Union {
			nat[ch.Hook] = append(nat[ch.Hook], ch.Priority)
		}
	}
	for _, b := range cfg.Chains {
		if !onPath[b] {
			continue
		}
		for _, x := range cfg.Chains {
			if !onPath[x] || x == b || x.Hook != b.Hook || prio(x) >= prio(b) {
				continue
			}
			barrier := false
			for _, n := range nat[b.Hook] {
				barrier = barrier || prio(x) <= n && n <= prio(b)
			}
			if !barrier {
				r.earlier[b] = append(r.earlier[b], r.e.chains[x])
			}
		}
		slices.SortStableFunc(r.earlier[b], func(x, y *cchain) int { return prio(x.c) - prio(y.c) })
	}
}

// packets returns every packet of the families: both addresses of one
// family. (A cube may pair an IPv4 source with an IPv6 destination; no
// packet does.)
func (e *Engine) packets(f ruleset.Family) packet.Space {
	var s packet.Space
	for _, fam := range []ruleset.Family{ruleset.FamilyV4, ruleset.FamilyV6} {
		if f&fam != 0 {
			s = append(s, e.domain(fam))
		}
	}
	return s
}

// ofFamily reports whether p is a packet of the families: both addresses
// of one of them.
func ofFamily(p packet.Packet, f ruleset.Family) bool {
	fam := ruleset.FamilyV6
	if p.Src.Is4() {
		fam = ruleset.FamilyV4
	}
	return p.Src.Is4() == p.Dst.Is4() && f&fam != 0
}

// pick gives the evaluator the lines of a chain that may match a space.
func (r *reachability) pick(cc *cchain, q packet.Space) []*cline {
	return r.index[cc].candidates(q, 0, false)
}

// query is one reachability question and what answering it found.
type query struct {
	r *reachability
	// active, when set, holds the only lines allowed to stop packets (the
	// minimisation asks whether fewer lines still block the line).
	active map[*ruleset.Line]bool
	// blocking lists the lines that stopped packets on their way, in the
	// order met (not while probing).
	blocking []*ruleset.Line
	noted    map[*ruleset.Line]bool
	// probing: following witness packets, whose stops are not recorded.
	probing bool
	// stack holds the chains being crossed, against jump loops.
	stack        []*cchain
	calls, steps int
	gaveUp       bool
}

func (r *reachability) query(active []*ruleset.Line) *query {
	q := &query{r: r, noted: map[*ruleset.Line]bool{}}
	if active != nil {
		q.active = map[*ruleset.Line]bool{}
		for _, l := range active {
			q.active[l] = true
		}
	}
	return q
}

func (q *query) on(l *ruleset.Line) bool { return q.active == nil || q.active[l] }

// lineReached reports whether some packet of the line's match arrives at
// it. A query that gives up answers true.
func (q *query) lineReached(ln *cline) bool {
	return q.reach(ln.cc, ln.idx, ln.space) || q.gaveUp
}

// reach reports whether some packet of y arrives at the line of cc whose
// idx is before (every earlier line of cc is considered).
func (q *query) reach(cc *cchain, before int, y packet.Space) bool {
	q.calls++
	if q.gaveUp || q.calls > maxReachCalls || len(q.stack) > maxDepth {
		q.gaveUp = true
		return true
	}
	q.stack = append(q.stack, cc)
	defer func() { q.stack = q.stack[:len(q.stack)-1] }()
	cands := q.r.index[cc].candidates(y, before, true)
	if !q.probing && q.witness(cc, y, cands) {
		return true
	}
	rest := y
	for i, c := range cands {
		if !overlapsSpace(rest, c.space) {
			continue
		}
		if c.l.Action == ruleset.Jump {
			dec, _ := q.walk(q.r.e.chains[c.l.Target], intersectSpaces(rest, c.space))
			for _, d := range dec {
				rest = q.remove(rest, d.line, d.space)
			}
		} else {
			rest = q.remove(rest, c.l, c.space)
		}
		if len(rest) == 0 || q.gaveUp {
			break
		}
		if i%32 == 31 && !q.probing && q.witness(cc, rest, cands[i+1:]) {
			return true
		}
	}
	if q.gaveUp {
		return true
	}
	return len(rest) > 0 && q.enter(cc, rest)
}

// witness follows a corner packet of some cube of y (see corner): when
// one gets past the remaining lines of cc and into it, y is reachable.
// This settles most reachable lines without any subtraction.
func (q *query) witness(cc *cchain, y packet.Space, cands []*cline) bool {
	for i, c := range y {
		if i == 4 {
			break
		}
		for _, high := range []bool{false, true} {
			if q.point(cc, corner(c, high), cands) {
				return true
			}
		}
	}
	return false
}

// point reports whether the packet p passes the lines cands of cc and
// arrives at cc: the exact answer for one witness, followed through the
// callers packet by packet, without building a space unless a jump's
// target or an earlier base chain must be evaluated for it.
func (q *query) point(cc *cchain, p packet.Packet, cands []*cline) bool {
	saved := q.probing
	q.probing = true
	defer func() { q.probing = saved }()
	var s packet.Space // p as a space, made only when needed
	for _, c := range cands {
		if !c.space.Contains(p) {
			continue
		}
		if c.l.Action != ruleset.Jump {
			if q.on(c.l) {
				return false
			}
			continue
		}
		if s == nil {
			s = pointSpace(p)
		}
		dec, _ := q.walk(q.r.e.chains[c.l.Target], s)
		for _, d := range dec {
			if q.on(d.line) {
				return false
			}
		}
	}
	if q.r.base[cc.c] {
		switch {
		case !ofFamily(p, cc.c.Family):
			return false
		case len(q.r.earlier[cc.c]) == 0:
			return true
		case s == nil:
			s = pointSpace(p)
		}
		return len(q.passEarlier(cc.c, s)) > 0 || q.gaveUp
	}
	for _, cs := range q.r.callers[cc.c] {
		if slices.Contains(q.stack, cs.cc) || !cs.space.Contains(p) {
			continue
		}
		if q.calls++; q.calls > maxReachCalls || len(q.stack) > maxDepth {
			q.gaveUp = true
			return true
		}
		q.stack = append(q.stack, cs.cc)
		ok := q.point(cs.cc, p, q.r.index[cs.cc].at(p, cs.idx))
		q.stack = q.stack[:len(q.stack)-1]
		if ok || q.gaveUp {
			return true
		}
	}
	return false
}

// enter reports whether some packet of y arrives at chain cc.
func (q *query) enter(cc *cchain, y packet.Space) bool {
	if q.r.base[cc.c] {
		y = intersectSpaces(y, q.r.e.packets(cc.c.Family))
		return len(y) > 0 && len(q.passEarlier(cc.c, y)) > 0 || q.gaveUp
	}
	for _, cs := range q.r.callers[cc.c] {
		if slices.Contains(q.stack, cs.cc) {
			continue // a loop adds no packet that did not arrive another way
		}
		z := intersectSpaces(y, cs.space)
		if len(z) > 0 && q.reach(cs.cc, cs.idx, z) {
			return true
		}
	}
	return false
}

// passEarlier returns the packets of y no base chain that runs before b
// drops.
func (q *query) passEarlier(b *ruleset.Chain, y packet.Space) packet.Space {
	for _, eb := range q.r.earlier[b] {
		in := intersectSpaces(y, q.r.e.packets(eb.c.Family))
		if len(in) == 0 {
			continue
		}
		dec, ret := q.walk(eb, in)
		for _, d := range dec {
			if !d.accept {
				y = q.remove(y, d.line, d.space)
			}
		}
		if pol := eb.c.Policy; pol != nil && pol.Action == ruleset.Drop && len(ret) > 0 {
			y = q.remove(y, pol, ret)
		}
		if len(y) == 0 || q.gaveUp {
			break
		}
	}
	return y
}

// walk evaluates y down chain cc: the packets it decides, by line, and
// those that return from it. Packets whose way met a line that cannot be
// evaluated exactly are in neither: that line might have sent them
// elsewhere.
func (q *query) walk(cc *cchain, y packet.Space) ([]decided, packet.Space) {
	st := &evalState{e: q.r.e, pick: q.r.pick, limit: walkBudget - q.steps}
	if st.limit <= 0 {
		q.gaveUp = true
		return nil, nil
	}
	dec, ret := st.run(cc, y, len(q.stack))
	q.steps += st.steps
	if st.over {
		q.gaveUp = true
		return nil, nil
	}
	var unsure packet.Space
	for _, t := range st.touched {
		unsure = append(unsure, t.space...)
	}
	out := dec[:0]
	for _, d := range dec {
		if _, real := q.r.e.lines[d.line]; !real {
			continue // the nesting bound's stand-in, not a rule
		}
		if len(unsure) > 0 {
			d.space = d.space.Subtract(unsure)
		}
		if len(d.space) > 0 {
			out = append(out, d)
		}
	}
	if len(unsure) > 0 {
		ret = ret.Subtract(unsure)
	}
	return out, ret
}

// remove takes from y the packets s that line l stops, when l may stop
// them, and records l when it stopped some.
func (q *query) remove(y packet.Space, l *ruleset.Line, s packet.Space) packet.Space {
	if !q.on(l) || !overlapsSpace(y, s) {
		return y
	}
	if !q.probing && !q.noted[l] {
		q.noted[l] = true
		q.blocking = append(q.blocking, l)
	}
	y = y.Subtract(s)
	if len(y) > subtractBudget {
		q.gaveUp = true
	}
	return y
}
