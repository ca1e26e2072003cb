package audit

// Too open: what else does the configuration permit on the deployment's
// hosts (Batfish's searchFilters)? Everything the plan neither requires
// nor denies is evaluated, and each rule that allows some of it is
// reported; so is every rule that allows a flow the plan denies.

import (
	"fmt"

	"github.com/teamsgate/teamsgate/internal/audit/eval"
	"github.com/teamsgate/teamsgate/internal/audit/packet"
	"github.com/teamsgate/teamsgate/internal/audit/ruleset"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/view"
)

// allowedDenied reports the parts of a flow the plan denies that the
// configuration allows: an error, whatever the flow's other findings.
func (a *auditor) allowedDenied(f *flow, allowed []eval.Fragment, res *FlowResult) {
	r := f.rule
	res.AllowedBy = nil
	for _, fr := range allowed {
		res.Status = FlowFail
		a.add(Finding{Kind: TooOpen, Severity: SevError, Flow: r.ID, Direction: f.dir.String(), Rule: refPtr(fr.Decider()), Reference: r.Reference.Cite(),
			Message:    fmt.Sprintf("the plan denies this flow (%s) but %s allows %s", r.Purpose, lineName(fr.Decider()), a.spaceText(fr.Space)),
			Packets:    a.describe(fr.Space, 0),
			Unresolved: refs(fr.Unresolved)})
	}
}

// tooOpen evaluates what the plan does not need, on the scoped hosts, and
// reports every rule that allows some of it.
func (a *auditor) tooOpen() {
	if a.hosts.IsEmpty() {
		a.rep.Notes = append(a.rep.Notes, "no role of the plan is bound to addresses, so nothing is checked for being too open")
		return
	}
	dirs := []view.Direction{view.Forward}
	switch {
	case a.opt.Scope != "":
		dirs = []view.Direction{view.Inbound, view.Outbound}
	case a.e.Config.Directional:
		dirs = []view.Direction{view.Inbound, view.Outbound}
	}
	for _, d := range dirs {
		in, out := a.ifaces(d)
		base := packet.Cube{Proto: packet.AllProtos(), State: packet.StateSet(packet.StateNew), In: in, Out: out, Src: packet.AllAddrs(), Dst: packet.AllAddrs(), SPort: packet.AllPorts(), DPort: packet.AllPorts()}
		var u packet.Space
		switch d {
		case view.Inbound:
			c := base
			c.Dst = a.hosts
			u = packet.Space{c}
		case view.Outbound:
			c := base
			c.Src = a.hosts
			u = packet.Space{c}
		default:
			c1, c2 := base, base
			c1.Src = a.hosts
			c2.Dst = a.hosts
			c2.Src = packet.AllAddrs().Difference(a.hosts)
			u = packet.Space{c1, c2}
		}
		var q packet.Space
		for _, c := range u {
			sp, _ := a.familySplit(c)
			q = append(q, sp...)
		}
		all := q
		q = q.Subtract(a.tolerated[d]).Subtract(a.denied[d])
		if len(q) == 0 {
			continue
		}
		for _, fr := range a.e.Eval(d, q) {
			if fr.Verdict != model.VerdictAllow {
				continue
			}
			l := fr.Decider()
			var whole packet.Space
			if l != nil {
				whole = a.e.MatchSpace(l).Intersect(all)
			}
			if a.platformDefault(l) {
				a.rep.Notes = append(a.rep.Notes, fmt.Sprintf("%s, a default rule of the platform, allows %s traffic the plan does not require: %s (a deny rule above it narrows it)",
					lineName(l), d, a.exceptText(fr.Space, whole)))
				continue
			}
			sev, why := tooOpenSeverity(fr.Space)
			a.add(Finding{Kind: TooOpen, Severity: sev, Direction: d.String(), Rule: refPtr(l),
				Message:    fmt.Sprintf("%s allows %s traffic the plan does not require%s: %s", lineName(l), d, why, a.exceptText(fr.Space, whole)),
				Packets:    a.describe(fr.Space, 0),
				Unresolved: refs(fr.Unresolved),
				space:      fr.Space})
		}
	}
}

// platformDefault reports whether a line is a rule the platform puts in
// every configuration (Azure's default security rules, AWS's implied
// default egress rule), rather than a chain policy or a rule the user
// wrote. What such a rule allows beyond the plan is the platform's
// baseline, which the configuration did not write: it is listed in the
// report's notes, not as a finding (docs/audit.md, "Platform defaults").
func (a *auditor) platformDefault(l *ruleset.Line) bool {
	if l == nil || !l.Default {
		return false
	}
	for _, ch := range a.e.Config.Chains {
		if ch.Policy == l {
			return false
		}
	}
	return true
}

// tooOpenSeverity ranks traffic a rule allows beyond the plan by its risk:
// a warning, but a note when the traffic is only ICMP (no service listens
// on it). Exposed management ports are errors (exposed.go), whatever rule
// allows them.
func tooOpenSeverity(s packet.Space) (Severity, string) {
	icmp := packet.Protos(1, 58)
	for _, c := range s {
		if !icmp.Covers(c.Proto) {
			return SevWarning, ""
		}
	}
	return SevNote, " (ICMP only)"
}
