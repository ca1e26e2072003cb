package eval

// Shadowing follows Batfish's filterLineReachability answer
// (pybatfish docs/source/notebooks/filters.ipynb): a line is unreachable
// when the lines before it that end evaluation cover its match, singly or
// together ("BLOCKING_LINES"), or when its own match is empty
// ("INDEPENDENTLY_UNMATCHABLE"); the answer names the blocking lines and
// whether one of them has a different action. For an order-free union (AWS
// security groups) the question becomes whether the other rules cover the
// line, which makes it redundant.

import (
	"math/bits"
	"sort"

	"github.com/teamsgate/teamsgate/internal/audit/packet"
	"github.com/teamsgate/teamsgate/internal/audit/ruleset"
	"github.com/teamsgate/teamsgate/internal/model"
)

// ShadowReason says why a line is unreachable.
type ShadowReason string

// The reasons, named as in Batfish.
const (
	BlockingLines ShadowReason = "blocking-lines"
	Unmatchable   ShadowReason = "unmatchable"
	Redundant     ShadowReason = "redundant"
)

// Shadow is a line that no packet reaches.
type Shadow struct {
	Line   *ruleset.Line
	Reason ShadowReason
	// Blocking lists the earlier lines (for a union: the other lines) that
	// together cover the line.
	Blocking []*ruleset.Line
	// DifferentAction: some blocking line has another action, so the line
	// states an intent the configuration does not carry out.
	DifferentAction bool
}

// subtractBudget bounds the cubes one shadowing check may hold. A check
// that would exceed it stops and treats the line as reachable (the analysis
// never reports a line it has not proven unreachable).
const subtractBudget = 20000

// Shadowed returns every unreachable line of the configuration, in chain
// and line order. Default lines (policies, platform defaults) are never
// reported, and lines that cannot be evaluated exactly are left out.
func (e *Engine) Shadowed() (out []Shadow, gaveUp []*ruleset.Line) {
	for _, ch := range e.Config.Chains {
		cc := e.chains[ch]
		if ch.Union {
			o, g := e.redundant(cc)
			out, gaveUp = append(out, o...), append(gaveUp, g...)
			continue
		}
		idx := newLineIndex()
		for _, ln := range cc.lines {
			l := ln.l
			if len(l.Unresolved) == 0 {
				if !l.Default {
					switch sh, ok, budget := e.shadowOf(ln, idx.candidates(ln.space)); {
					case budget:
						gaveUp = append(gaveUp, l)
					case ok:
						out = append(out, sh)
					}
				}
				if l.Action.Terminal() {
					idx.add(ln)
				}
			}
		}
	}
	return out, gaveUp
}

// shadowOf checks one line against the candidate lines before it.
func (e *Engine) shadowOf(ln *cline, cands []*cline) (sh Shadow, shadowed, budget bool) {
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
	blocking = e.minimise(ln.space, blocking)
	sh = Shadow{Line: ln.l, Reason: BlockingLines, Blocking: blocking}
	for _, b := range blocking {
		if b.Action != ln.l.Action {
			sh.DifferentAction = true
		}
	}
	return sh, true, false
}

// maxMinimise bounds the blocking lists minimise works on; longer ones are
// reported as found.
const maxMinimise = 64

// minimise drops blocking lines the others make unnecessary, earliest
// first, so that broad early lines (a conntrack rule, a drop of invalid
// packets) are named only when the coverage needs them. The result is a
// minimal (not necessarily minimum) set of blocking lines.
func (e *Engine) minimise(s packet.Space, blocking []*ruleset.Line) []*ruleset.Line {
	if len(blocking) < 2 || len(blocking) > maxMinimise {
		return blocking
	}
	keep := append([]*ruleset.Line(nil), blocking...)
	for i := 0; i < len(keep) && len(keep) > 1; {
		rest := s
		for j, l := range keep {
			if j == i {
				continue
			}
			rest = rest.Subtract(e.lines[l].space)
			if len(rest) == 0 || len(rest) > subtractBudget {
				break
			}
		}
		if len(rest) == 0 {
			keep = append(keep[:i:i], keep[i+1:]...)
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
		sh, ok, budget := e.shadowOf(ln, cands)
		switch {
		case budget:
			gaveUp = append(gaveUp, ln.l)
		case ok:
			if sh.Reason == BlockingLines {
				sh.Reason = Redundant
			}
			dropped[ln] = true
			out = append(out, sh)
		}
	}
	return out, gaveUp
}

// lineIndex finds the earlier lines whose match may overlap a space.
// Lines whose destination ports are few (at most fineMax) are filed under
// each port; lines with more ports under coarse buckets of 256 ports; the
// rest in a list every query scans. Candidates then pass a bounding-box
// test before any set operation. This keeps the shadowing pass near-linear
// for large rule sets of distinct services.
type lineIndex struct {
	fine   map[uint16][]*cline
	coarse [256][]*cline
	wide   []*cline
	gen    int
}

const (
	fineMax     = 64
	wideBuckets = 16
)

func newLineIndex() *lineIndex {
	return &lineIndex{fine: map[uint16][]*cline{}}
}

func portsOfSpace(s packet.Space) model.PortSet {
	var p model.PortSet
	for _, c := range s {
		p = p.Union(c.DPort)
	}
	return p
}

func bucketsOf(ps model.PortSet) ([]int, bool) {
	var bs []int
	last := -1
	for _, r := range ps.Ranges() {
		for b := int(r.First) >> 8; b <= int(r.Last)>>8; b++ {
			if b != last {
				bs = append(bs, b)
				last = b
				if len(bs) > wideBuckets {
					return nil, false
				}
			}
		}
	}
	return bs, true
}

func (x *lineIndex) add(ln *cline) {
	ps := portsOfSpace(ln.space)
	if ps.Len() <= fineMax {
		for _, r := range ps.Ranges() {
			for p := int(r.First); p <= int(r.Last); p++ {
				x.fine[uint16(p)] = append(x.fine[uint16(p)], ln)
			}
		}
		return
	}
	bs, ok := bucketsOf(ps)
	if !ok {
		x.wide = append(x.wide, ln)
		return
	}
	for _, b := range bs {
		x.coarse[b] = append(x.coarse[b], ln)
	}
}

// candidates returns the indexed lines overlapping s, in insertion order.
func (x *lineIndex) candidates(s packet.Space) []*cline {
	ps := portsOfSpace(s)
	sb := boxOf(s)
	x.gen++
	var out []*cline
	consider := func(ls []*cline) {
		for _, c := range ls {
			if c.gen == x.gen {
				continue
			}
			c.gen = x.gen
			if c.box.meets(sb) && overlapsSpace(s, c.space) {
				out = append(out, c)
			}
		}
	}
	if ps.Len() <= 4*fineMax {
		for _, r := range ps.Ranges() {
			for p := int(r.First); p <= int(r.Last); p++ {
				consider(x.fine[uint16(p)])
			}
		}
	} else {
		for _, ls := range x.fine {
			consider(ls)
		}
	}
	if bs, ok := bucketsOf(ps); ok {
		for _, b := range bs {
			consider(x.coarse[b])
		}
	} else {
		for _, ls := range x.coarse {
			consider(ls)
		}
	}
	consider(x.wide)
	sort.Slice(out, func(i, j int) bool { return out[i].idx < out[j].idx })
	return out
}
