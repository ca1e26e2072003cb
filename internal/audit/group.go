package audit

// One defect, one finding: a single wrong rule shows up in several
// analyses at once. A rule written for UDP where the plan needs TCP leaves
// the flow missing, nearly carries it (a mismatch) and allows UDP the plan
// does not need (too open); an allow placed after a deny leaves the flow
// missing and is itself shadowed. group folds those into the missing
// finding they explain, as its facts, so the report has one finding per
// thing to fix.

import (
	"sort"

	"github.com/teamsgate/teamsgate/internal/audit/packet"
	"github.com/teamsgate/teamsgate/internal/audit/ruleset"
)

// group folds the findings a missing flow's defect causes into that
// missing finding, and what a rule exposing a management port also allows
// into the exposed finding. Run calls it once every analysis is done.
func (a *auditor) group() {
	fs := a.rep.Findings
	if len(fs) < 2 {
		return
	}
	keys := make([]string, len(fs))
	// too-open findings without a flow, by direction and rule; mismatches
	// by flow and direction; the shadowed allows with their packets
	tooOpen := map[string][]int{}
	var tooOpenDir = map[string][]int{}
	mismatch := map[string][]int{}
	type shadow struct {
		i     int
		space packet.Space
	}
	var shadows []shadow
	var missing, exposed []int
	var lines map[string]*ruleset.Line
	for i := range fs {
		f := &fs[i]
		keys[i] = ruleKey(f.Rule)
		switch f.Kind {
		case TooOpen:
			if f.Flow == "" {
				tooOpenDir[f.Direction] = append(tooOpenDir[f.Direction], i)
			}
			tooOpen[f.Direction+"\x00"+keys[i]] = append(tooOpen[f.Direction+"\x00"+keys[i]], i)
		case Mismatch:
			mismatch[f.Flow+"\x00"+f.Direction] = append(mismatch[f.Flow+"\x00"+f.Direction], i)
		case Missing:
			missing = append(missing, i)
		case Exposed:
			exposed = append(exposed, i)
		case Shadowed:
			if lines == nil {
				lines = map[string]*ruleset.Line{}
				for _, l := range a.e.Config.Lines() {
					lines[ruleKey(refPtr(l))] = l
				}
			}
			if l := lines[keys[i]]; l != nil && l.Action == ruleset.Accept {
				shadows = append(shadows, shadow{i, a.e.MatchSpace(l)})
			}
		}
	}
	if len(missing) == 0 && len(exposed) == 0 {
		return
	}
	folded := make([]bool, len(fs))
	// an exposed management port is the defect; what the same rule allows
	// beyond the plan is one of its facts
	for _, i := range exposed {
		for _, j := range tooOpen[fs[i].Direction+"\x00"+keys[i]] {
			if !folded[j] {
				a.fold(&fs[i], &fs[j])
				folded[j] = true
			}
		}
	}
	// Missing findings in report order, so that a rule that explains two
	// flows is folded into the first, the same one every run.
	sort.SliceStable(missing, func(x, y int) bool {
		return findingLess(&fs[missing[x]], &fs[missing[y]])
	})
	for _, mi := range missing {
		m := &fs[mi]
		// the near misses of this flow, and what their rules allow beyond
		// the plan
		for _, j := range mismatch[m.Flow+"\x00"+m.Direction] {
			if folded[j] {
				continue
			}
			a.fold(m, &fs[j])
			folded[j] = true
			for _, k := range tooOpen[m.Direction+"\x00"+keys[j]] {
				if !folded[k] && fs[k].Flow == "" {
					a.fold(m, &fs[k])
					folded[k] = true
				}
			}
		}
		// an allow for the flow's endpoints on the wrong ports
		mf := a.meantFor(m.space)
		for _, j := range tooOpenDir[m.Direction] {
			if !folded[j] && mf(fs[j].space) {
				a.fold(m, &fs[j])
				folded[j] = true
			}
		}
		// an allow the flow would have taken, had an earlier rule not
		// blocked it
		for _, s := range shadows {
			if !folded[s.i] && len(s.space.Intersect(m.space)) > 0 {
				a.fold(m, &fs[s.i])
				folded[s.i] = true
			}
		}
	}
	out := fs[:0]
	for i := range fs {
		if !folded[i] {
			out = append(out, fs[i])
		}
	}
	a.rep.Findings = out
}

// fold adds f to m as a fact; m takes the more serious severity of the two.
func (a *auditor) fold(m, f *Finding) {
	m.Facts = append(m.Facts, Fact{Kind: f.Kind, Rule: f.Rule, Message: f.Message, Packets: f.Packets})
	if sevRank(f.Severity) < sevRank(m.Severity) {
		m.Severity = f.Severity
	}
	for _, u := range f.Unresolved {
		m.Unresolved = appendRuleRef(m.Unresolved, u)
	}
}

// meantFor returns whether packets a rule allows beyond the plan go
// between the same endpoints, with the same protocol, as the blocked
// packets of a flow, and from no source the flow does not have: the rule
// was written for the flow, with the wrong ports. A rule for everyone
// (ssh from any) is not a rule for this flow.
func (a *auditor) meantFor(blocked packet.Space) func(extra packet.Space) bool {
	var anyPort packet.Space
	var peers packet.AddrSet
	for _, c := range blocked {
		peers = peers.Union(c.Src)
		c.DPort = packet.AllPorts()
		c.SPort = packet.AllPorts()
		anyPort = append(anyPort, c)
	}
	return func(extra packet.Space) bool {
		if len(extra) == 0 || len(anyPort) == 0 {
			return false
		}
		for _, c := range extra {
			if !peers.Covers(c.Src) {
				return false
			}
		}
		for _, c := range extra {
			if anyPort.Overlaps(c) {
				return true
			}
		}
		return false
	}
}

func sevRank(s Severity) int {
	switch s {
	case SevError:
		return 0
	case SevWarning:
		return 1
	}
	return 2
}

func appendRuleRef(rs []RuleRef, r RuleRef) []RuleRef {
	for _, x := range rs {
		if x.ID == r.ID && x.Chain == r.Chain {
			return rs
		}
	}
	return append(rs, r)
}
