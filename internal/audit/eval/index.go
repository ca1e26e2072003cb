package eval

import (
	"sort"

	"github.com/teamsgate/teamsgate/internal/audit/packet"
	"github.com/teamsgate/teamsgate/internal/audit/ruleset"
	"github.com/teamsgate/teamsgate/internal/model"
)

// lineIndex finds the lines of one chain whose match may overlap a space.
// Lines whose destination ports are few (at most fineMax) are filed under
// each port; lines with more ports under coarse buckets of 256 ports; the
// rest in a list every query scans. Candidates then pass a bounding-box
// test before any set operation. This keeps the shadowing pass near-linear
// for large rule sets of distinct services, and lets it walk a large
// chain for a small space without visiting every line.
type lineIndex struct {
	fine   map[uint16][]entry
	coarse [256][]entry
	wide   []entry
	gen    int
}

// entry is a line as an index bucket files it: what the scan of a bucket
// tests, side by side in memory, before it follows the pointer.
type entry struct {
	box box
	idx int
	// blocks: the line can stop a packet going on to the next line (an
	// evaluable line that ends the chain for its packets, or a jump, whose
	// target may).
	blocks bool
	ln     *cline
}

const (
	fineMax     = 64
	wideBuckets = 16
)

// indexChain files the lines of a chain that can change a packet's way:
// every line but those that continue (Continue, a jump whose target is
// gone) and those that match nothing.
func indexChain(cc *cchain) *lineIndex {
	x := &lineIndex{fine: map[uint16][]entry{}}
	for _, ln := range cc.lines {
		l := ln.l
		if len(ln.space) == 0 || l.Action == ruleset.Continue || (l.Action == ruleset.Jump || l.Action == ruleset.Goto) && l.Target == nil {
			continue
		}
		x.add(ln)
	}
	return x
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
	l := ln.l
	en := entry{box: ln.box, idx: ln.idx, ln: ln, blocks: len(l.Unresolved) == 0 && (l.Action.Terminal() || l.Action == ruleset.Jump)}
	ps := portsOfSpace(ln.space)
	if ps.Len() <= fineMax {
		for _, r := range ps.Ranges() {
			for p := int(r.First); p <= int(r.Last); p++ {
				x.fine[uint16(p)] = append(x.fine[uint16(p)], en)
			}
		}
		return
	}
	bs, ok := bucketsOf(ps)
	if !ok {
		x.wide = append(x.wide, en)
		return
	}
	for _, b := range bs {
		x.coarse[b] = append(x.coarse[b], en)
	}
}

// candidates returns the indexed lines overlapping s, in chain order:
// with before > 0, only those before the line of that idx; with
// blocking, only those that can stop a packet going on to the next line.
func (x *lineIndex) candidates(s packet.Space, before int, blocking bool) []*cline {
	sb := boxOf(s)
	return x.scan(portsOfSpace(s), before, blocking, func(en *entry) bool {
		return en.box.meets(sb) && overlapsSpace(s, en.ln.space)
	})
}

// at returns the indexed lines before the line of idx before that can
// stop the packet p and match it, in chain order.
func (x *lineIndex) at(p packet.Packet, before int) []*cline {
	src, dst := keyOf(p.Src), keyOf(p.Dst)
	return x.scan(model.NewPortSet(model.Port(p.DPort)), before, true, func(en *entry) bool {
		return en.box.holds(p, src, dst) && en.ln.space.Contains(p)
	})
}

// scan returns the lines of the buckets of the ports ps that match, once
// each, in chain order (see candidates for before and blocking).
func (x *lineIndex) scan(ps model.PortSet, before int, blocking bool, match func(*entry) bool) []*cline {
	x.gen++
	var out []*cline
	consider := func(ls []entry) {
		for i := range ls {
			en := &ls[i]
			if before > 0 && en.idx >= before {
				return // the lists are in chain order
			}
			if blocking && !en.blocks || en.ln.gen == x.gen || !match(en) {
				continue
			}
			en.ln.gen = x.gen
			out = append(out, en.ln)
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
