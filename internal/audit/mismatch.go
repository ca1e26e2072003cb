package audit

// Mismatch: behind a blocked part of a flow, is there a rule that nearly
// carries it, for the other transport protocol or with a narrower port
// range? Such a rule is most often the rule meant for the flow.

import (
	"fmt"
	"strconv"

	"github.com/teamsgate/teamsgate/internal/audit/eval"
	"github.com/teamsgate/teamsgate/internal/audit/packet"
	"github.com/teamsgate/teamsgate/internal/audit/ruleset"
	"github.com/teamsgate/teamsgate/internal/model"
)

// mismatches looks for the near misses behind a blocked part: a rule for
// the other transport protocol, or an allowing rule whose port range is
// narrower than one of the plan's ranges.
func (a *auditor) mismatches(f *flow, allowed, blocked []eval.Fragment, blockedSpace packet.Space, sev Severity) {
	r := f.rule
	if other, ok := map[model.Proto]uint8{model.ProtoTCP: 17, model.ProtoUDP: 6}[r.Proto]; ok {
		swapped := make(packet.Space, len(blockedSpace))
		for i, c := range blockedSpace {
			c.Proto = packet.Protos(other)
			swapped[i] = c
		}
		for _, fr := range a.e.Eval(f.dir, swapped) {
			d := fr.Decider()
			if fr.Verdict != model.VerdictAllow || d == nil || d.Default {
				continue
			}
			a.add(Finding{Kind: Mismatch, Severity: sev, Flow: r.ID, Direction: f.dir.String(), Rule: refPtr(d), Reference: r.Reference.Cite(),
				Message: fmt.Sprintf("%s allows %s where the plan requires %s: %s", d, packet.ProtoName(other), r.Proto, a.spaceText(fr.Space)),
				Packets: a.describe(fr.Space, 0)})
		}
	}
	seen := map[*ruleset.Line]bool{}
	for _, fr := range allowed {
		d := fr.Decider()
		if d == nil || d.Default || seen[d] {
			continue
		}
		seen[d] = true
		ls := a.e.MatchSpace(d)
		lp := linePorts(ls)
		// the line's packets on any port: the blocked ports that matter
		// are those of the addresses the line already covers
		var anyPort packet.Space
		for _, c := range ls {
			c.DPort = packet.AllPorts()
			anyPort = append(anyPort, c)
		}
		for _, rg := range portsOf(r.DestPorts).Ranges() {
			req := model.NewPortSet(rg)
			if lp.Intersect(req).IsEmpty() || lp.Covers(req) {
				continue
			}
			missingPorts := model.PortSet{}
			for _, c := range blockedSpace.Intersect(anyPort) {
				missingPorts = missingPorts.Union(c.DPort.Intersect(req))
			}
			if missingPorts.IsEmpty() {
				continue
			}
			msg := fmt.Sprintf("%s allows ports %s, narrower than the plan's %s %s: %s is blocked", d, lp.Intersect(req), r.Proto, rg, missingPorts)
			if n := lp.Intersect(req).Len(); r.MinDestPorts > 0 && n < r.MinDestPorts {
				msg += fmt.Sprintf("; %s requires at least %s ports for this range, and the rule allows %s", r.Reference.Cite(), thousands(r.MinDestPorts), thousands(n))
			}
			a.add(Finding{Kind: Mismatch, Severity: sev, Flow: r.ID, Direction: f.dir.String(), Rule: refPtr(d), Reference: r.Reference.Cite(), Message: msg})
		}
	}
}

func linePorts(s packet.Space) model.PortSet {
	var p model.PortSet
	for _, c := range s {
		p = p.Union(c.DPort)
	}
	return p
}

// thousands writes n with thousands separators, as the documents do
// ("1,000 ports").
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
