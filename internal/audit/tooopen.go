package audit

// Too open: what else does the configuration permit on the deployment's
// hosts (Batfish's searchFilters)? Everything the plan neither requires
// nor denies is evaluated, and each rule that allows some of it is
// reported; so is every rule that allows a flow the plan denies.

import (
	"fmt"

	"github.com/teamsgate/teamsgate/internal/audit/eval"
	"github.com/teamsgate/teamsgate/internal/audit/packet"
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
		a.add(Finding{Kind: TooOpen, Severity: SevError, Flow: r.ID, Direction: f.dir.String(), Rule: refPtr(fr.Decider()),
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
		q = q.Subtract(a.tolerated[d]).Subtract(a.denied[d])
		if len(q) == 0 {
			continue
		}
		for _, fr := range a.e.Eval(d, q) {
			if fr.Verdict != model.VerdictAllow {
				continue
			}
			l := fr.Decider()
			a.add(Finding{Kind: TooOpen, Severity: SevWarning, Direction: d.String(), Rule: refPtr(l),
				Message:    fmt.Sprintf("%s allows %s traffic the plan does not require: %s", lineName(l), d, a.spaceText(fr.Space)),
				Packets:    a.describe(fr.Space, 0),
				Unresolved: refs(fr.Unresolved)})
		}
	}
}
