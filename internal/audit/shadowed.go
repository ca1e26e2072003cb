package audit

// Shadowed: which rules can never match (Batfish's
// filterLineReachability)? The evaluator finds them (eval.Shadowed); this
// turns them into findings.

import (
	"fmt"
	"strings"

	"github.com/teamsgate/teamsgate/internal/audit/eval"
	"github.com/teamsgate/teamsgate/internal/audit/ruleset"
)

// shadowed reports the rules no packet reaches.
func (a *auditor) shadowed() {
	sh, gaveUp := a.e.Shadowed()
	for _, s := range sh {
		sev := SevNote
		if s.DifferentAction {
			sev = SevWarning
		}
		var msg string
		space := a.e.MatchSpace(s.Line)
		switch s.Reason {
		case eval.Unmatchable:
			msg = fmt.Sprintf("%s matches no packet", s.Line)
		case eval.Redundant:
			msg = fmt.Sprintf("%s is redundant: the other rules (%s) already allow everything it allows", s.Line, lineIDs(s.Blocking))
		case eval.NoPath:
			msg = fmt.Sprintf("%s can never match: no jump or goto that leads to chain %s matches its packets", s.Line, s.Line.Chain)
		case eval.UnusedChain:
			msg = fmt.Sprintf("chain %s is never used: no base chain jumps or goes to it, directly or through other chains, so none of its %d rules can match", s.Chain.Name, len(s.Chain.Lines))
			space = nil // one finding for the whole chain, which no packet reaches
		default:
			where := "earlier rules"
			for _, b := range s.Blocking {
				if b.Chain != s.Line.Chain {
					where = "rules on the way to it"
				}
			}
			msg = fmt.Sprintf("%s can never match: %s (%s) cover it", s.Line, where, lineIDs(s.Blocking))
			if s.DifferentAction {
				msg += ", and one of them has a different action"
			}
		}
		a.add(Finding{Kind: Shadowed, Severity: sev, Rule: refPtr(s.Line), Blocking: refs(s.Blocking), DifferentAction: s.DifferentAction,
			Message: msg, Packets: a.describe(space, 8)})
	}
	for _, l := range gaveUp {
		a.rep.Notes = append(a.rep.Notes, fmt.Sprintf("%s: too many overlapping earlier rules to decide whether it is shadowed; it is assumed reachable", l.ID))
	}
}

func lineIDs(ls []*ruleset.Line) string {
	const max = 6
	var ids []string
	for i, l := range ls {
		if i == max {
			ids = append(ids, fmt.Sprintf("and %d more", len(ls)-max))
			break
		}
		ids = append(ids, l.ID)
	}
	return strings.Join(ids, ", ")
}
