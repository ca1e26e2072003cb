package eval

// Shadowing follows Batfish's filterLineReachability answer
// (pybatfish docs/source/notebooks/filters.ipynb): a line is unreachable
// when the lines before it that end evaluation cover its match, singly or
// together ("BLOCKING_LINES"), or when its own match is empty
// ("INDEPENDENTLY_UNMATCHABLE"); the answer names the blocking lines and
// whether one of them has a different action. For an order-free union (AWS
// security groups) the question becomes whether the other rules cover the
// line, which makes it redundant.
//
// Batfish asks it of one filter. Here "before it" is every line a packet
// crosses on its way to the line (reach.go): the earlier lines of its
// chain, those before the jumps and gotos that lead to the chain, up to
// the base chains, and the base chains of the same hook that run first. A
// user chain no base chain leads to, whatever the packet, is one finding
// for the chain rather than one per line.

import (
	"math/bits"

	"github.com/teamsgate/teamsgate/internal/audit/packet"
	"github.com/teamsgate/teamsgate/internal/audit/ruleset"
)

// ShadowReason says why a line is unreachable.
type ShadowReason string

// The reasons, named as in Batfish.
const (
	BlockingLines ShadowReason = "blocking-lines"
	Unmatchable   ShadowReason = "unmatchable"
	Redundant     ShadowReason = "redundant"
	// NoPath: no jump or goto that leads to the line's chain matches any
	// of its packets (no line blocks them; none is sent there).
	NoPath ShadowReason = "no-path"
	// UnusedChain: no base chain leads to the chain, by jumps and gotos,
	// whatever the packet; the Shadow stands for every line of the chain.
	UnusedChain ShadowReason = "unused-chain"
)

// Shadow is a line that no packet reaches.
type Shadow struct {
	Line   *ruleset.Line
	Reason ShadowReason
	// Blocking lists the lines that together stop every packet of the
	// line before it (for a union: the other lines that cover it): earlier
	// lines of its chain, lines of the chains that lead to it, of the
	// chains those jump to, and of base chains that run before its own.
	Blocking []*ruleset.Line
	// Chain is the chain of an UnusedChain finding; Line is then its first
	// line.
	Chain *ruleset.Chain
	// DifferentAction: some blocking line has another action, so the line
	// states an intent the configuration does not carry out.
	DifferentAction bool
}

// String describes the shadow in one line, for tests and logs: the line
// (for an unused chain, the chain), the reason, and the blocking lines
// after "by".
func (s Shadow) String() string {
	w := s.Line.ID
	if s.Reason == UnusedChain {
		w = s.Chain.Name
	}
	w += " " + string(s.Reason)
	for i, b := range s.Blocking {
		if i == 0 {
			w += " by " + b.ID
		} else {
			w += ", " + b.ID
		}
	}
	return w
}

// Shadowed returns every unreachable line of the configuration, in chain
// and line order. Default lines (policies, platform defaults) are never
// reported, and lines that cannot be evaluated exactly are left out; a
// chain no base chain leads to is reported once, as its first line.
func (e *Engine) Shadowed() (out []Shadow, gaveUp []*ruleset.Line) {
	r := e.reachability()
	for _, ch := range e.Config.Chains {
		cc := e.chains[ch]
		switch {
		case ch.Union:
			o, g := e.redundant(cc)
			out, gaveUp = append(out, o...), append(gaveUp, g...)
			continue
		case !r.used[ch]:
			if len(ch.Lines) > 0 {
				out = append(out, Shadow{Line: ch.Lines[0], Reason: UnusedChain, Chain: ch})
			}
			continue
		}
		for _, ln := range cc.lines {
			if len(ln.l.Unresolved) > 0 || ln.l.Default {
				continue
			}
			switch sh, ok, budget := r.shadowOf(ln); {
			case budget:
				gaveUp = append(gaveUp, ln.l)
			case ok:
				out = append(out, sh)
			}
		}
	}
	return out, gaveUp
}

// shadowOf checks one line of a first-match chain.
func (r *reachability) shadowOf(ln *cline) (sh Shadow, shadowed, budget bool) {
	if len(ln.space) == 0 {
		return Shadow{Line: ln.l, Reason: Unmatchable}, true, false
	}
	q := r.query(nil)
	if q.lineReached(ln) {
		return Shadow{}, false, q.gaveUp
	}
	if len(q.blocking) == 0 || !r.query([]*ruleset.Line{}).lineReached(ln) {
		// Unreachable even when no line stops a packet: the lines that
		// overlap it are beside the point. In a base chain, its match
		// holds no packet of the chain's families.
		if r.base[ln.cc.c] {
			return Shadow{Line: ln.l, Reason: Unmatchable}, true, false
		}
		return Shadow{Line: ln.l, Reason: NoPath}, true, false
	}
	blocking := minimise(q.blocking, func(keep []*ruleset.Line) bool {
		return !r.query(keep).lineReached(ln)
	})
	return blocked(ln.l, BlockingLines, blocking), true, false
}

// blocked makes the Shadow of a line its blocking lines cover.
func blocked(l *ruleset.Line, why ShadowReason, blocking []*ruleset.Line) Shadow {
	sh := Shadow{Line: l, Reason: why, Blocking: blocking}
	for _, b := range blocking {
		if b.Action != l.Action {
			sh.DifferentAction = true
		}
	}
	return sh
}

// coverOf checks whether the lines cands, which overlap the line, cover
// it (for an order-free union).
func (e *Engine) coverOf(ln *cline, cands []*cline) (sh Shadow, shadowed, budget bool) {
	if len(ln.space) == 0 {
		return Shadow{Line: ln.l, Reason: Unmatchable}, true, false
	}
	if len(cands) == 0 || witnessEscapes(ln.space, cands) {
		return Shadow{}, false, false
	}
	rest := ln.space
	var blocking []*ruleset.Line
	for i, c := range cands {
		if !overlapsSpace(rest, c.space) {
			continue
		}
		blocking = append(blocking, c.l)
		rest = rest.Subtract(c.space)
		if len(rest) == 0 {
			break
		}
		if len(rest) > subtractBudget {
			return Shadow{}, false, true
		}
		if i%32 == 31 && witnessEscapes(rest, cands[i+1:]) {
			return Shadow{}, false, false
		}
	}
	if len(rest) > 0 {
		return Shadow{}, false, false
	}
	blocking = minimise(blocking, func(keep []*ruleset.Line) bool {
		rest := ln.space
		for _, l := range keep {
			rest = rest.Subtract(e.lines[l].space)
			if len(rest) == 0 || len(rest) > subtractBudget {
				break
			}
		}
		return len(rest) == 0
	})
	return blocked(ln.l, Redundant, blocking), true, false
}

// maxMinimise bounds the blocking lists minimise works on; longer ones are
// reported as found.
const maxMinimise = 64

// minimise drops blocking lines the others make unnecessary, earliest
// first, so that broad early lines (a conntrack rule, a drop of invalid
// packets) are named only when the coverage needs them: covers says
// whether a set of lines still blocks the line. The result is a minimal
// (not necessarily minimum) set of blocking lines.
func minimise(blocking []*ruleset.Line, covers func([]*ruleset.Line) bool) []*ruleset.Line {
	if len(blocking) < 2 || len(blocking) > maxMinimise {
		return blocking
	}
	keep := append([]*ruleset.Line(nil), blocking...)
	for i := 0; i < len(keep) && len(keep) > 1; {
		if without := append(keep[:i:i], keep[i+1:]...); covers(without) {
			keep = without
			continue
		}
		i++
	}
	return keep
}

// witnessEscapes reports whether a corner packet of some cube of s is in
// none of the lines: then s is certainly not covered by them. It settles
// most reachable lines without any subtraction.
func witnessEscapes(s packet.Space, lines []*cline) bool {
	for i, c := range s {
		if i == 4 {
			break
		}
		for _, high := range []bool{false, true} {
			p := corner(c, high)
			covered := false
			for _, l := range lines {
				if l.space.Contains(p) {
					covered = true
					break
				}
			}
			if !covered {
				return true
			}
		}
	}
	return false
}

// corner returns the packet at the lowest (with high, the highest) value
// of every field of a non-empty cube: a witness that the cube is not
// empty.
func corner(c packet.Cube, high bool) packet.Packet {
	p := packet.Packet{
		Proto: c.Proto.First(),
		Src:   c.Src.First(), Dst: c.Dst.First(),
		SPort: c.SPort.Ranges()[0].First, DPort: c.DPort.Ranges()[0].First,
	}
	if high {
		p.Proto = c.Proto.Last()
		p.Src, p.Dst = c.Src.Last(), c.Dst.Last()
		p.SPort = c.SPort.Ranges()[len(c.SPort.Ranges())-1].Last
		p.DPort = c.DPort.Ranges()[len(c.DPort.Ranges())-1].Last
	}
	pick := func(w uint64) int {
		if high {
			return 63 - bits.LeadingZeros64(w)
		}
		return bits.TrailingZeros64(w)
	}
	p.State = packet.State(1 << pick(uint64(c.State)))
	p.In, p.Out = pick(uint64(c.In)), pick(uint64(c.Out))
	return p
}

// redundant checks an order-free union: a line is redundant when the other
// lines, less those already found redundant, cover it.
func (e *Engine) redundant(cc *cchain) (out []Shadow, gaveUp []*ruleset.Line) {
	dropped := map[*cline]bool{}
	for _, ln := range cc.lines {
		if ln.l.Default || len(ln.l.Unresolved) > 0 {
			continue
		}
		var cands []*cline
		for _, o := range cc.lines {
			if o != ln && !dropped[o] && !o.l.Default && len(o.l.Unresolved) == 0 && o.l.Action == ln.l.Action && overlapsSpace(ln.space, o.space) {
				cands = append(cands, o)
			}
		}
		sh, ok, budget := e.coverOf(ln, cands)
		switch {
		case budget:
			gaveUp = append(gaveUp, ln.l)
		case ok:
			dropped[ln] = true
			out = append(out, sh)
		}
	}
	return out, gaveUp
}
