package audit

// Missing: is each flow the plan requires permitted (Batfish's
// testFilters)? A flow's packets are evaluated whole; what the
// configuration blocks is reported with the rules that block it.

import (
	"fmt"
	"strings"

	"github.com/teamsgate/teamsgate/internal/audit/eval"
	"github.com/teamsgate/teamsgate/internal/audit/packet"
	"github.com/teamsgate/teamsgate/internal/audit/ruleset"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/view"
)

// missing reports the parts of an allowed flow that the configuration
// blocks, with the rules that block them, and looks for the near misses
// behind them (mismatch.go).
func (a *auditor) missing(f *flow, allowed, blocked []eval.Fragment, res *FlowResult) {
	r := f.rule
	sev := SevError
	if !r.Required {
		sev = SevWarning
	}
	res.Status = FlowFail
	var blockedSpace packet.Space
	for _, fr := range blocked {
		blockedSpace = append(blockedSpace, fr.Space...)
	}
	whole := len(allowed) == 0
	main := blocked[0]
	msg := a.missingText(f, blocked, whole)
	fd := Finding{Kind: Missing, Severity: sev, Flow: r.ID, Direction: f.dir.String(), Rule: refPtr(main.Decider()), Message: msg,
		Packets: a.describe(blockedSpace, 0), Reference: r.Reference.Cite(), space: blockedSpace}
	for _, fr := range blocked[1:] {
		fd.Blocking = append(fd.Blocking, ref(fr.Decider()))
	}
	for _, fr := range blocked {
		for _, u := range fr.Unresolved {
			fd.Unresolved = appendRef(fd.Unresolved, u)
		}
	}
	a.add(fd)
	a.mismatches(f, allowed, blocked, blockedSpace, sev)
	res.Detail = joinNote(res.Detail, msg)
}

func (a *auditor) missingText(f *flow, blocked []eval.Fragment, whole bool) string {
	var parts []string
	for _, fr := range blocked {
		parts = append(parts, fmt.Sprintf("%s blocked by %s", a.spaceText(fr.Space), lineName(fr.Decider())))
	}
	how := "partly blocked"
	if whole {
		how = "blocked"
	}
	return fmt.Sprintf("%s flow %s (%s) is %s: %s", f.dir, f.rule.ID, f.rule.Purpose, how, strings.Join(parts, "; "))
}

// hostFlow checks a flow given only by host names: the addresses the
// names stand for are unknown, so the flow is reported as skipped when the
// service is allowed to some address, and as missing when it is allowed to
// none.
func (a *auditor) hostFlow(it view.Item, d view.Direction, c packet.Cube) {
	r := it.Rule
	res := FlowResult{ID: r.ID, Required: r.Required, Action: r.Action.String(), Direction: d.String(), Status: FlowSkipped}
	if r.Action == model.Deny {
		res.Detail = "the destination is given only by host names (" + hostList(r.Destination.Hosts) + "), which an address-based firewall cannot deny"
		a.rep.Flows = append(a.rep.Flows, res)
		return
	}
	c.In, c.Out = a.ifaces(d)
	sp, _ := a.familySplit(c)
	var allowed []*ruleset.Line
	var blocked []eval.Fragment
	var allowedTo packet.AddrSet
	for _, fr := range a.e.Eval(d, sp) {
		if fr.Verdict == model.VerdictAllow {
			for _, x := range fr.Space {
				allowedTo = allowedTo.Union(x.Dst)
			}
			if l := fr.Decider(); l != nil {
				allowed = append(allowed, l)
				res.AllowedBy = appendRef(res.AllowedBy, l)
			}
		} else {
			blocked = append(blocked, fr)
		}
	}
	if len(sp) > 0 && len(allowed) == 0 && len(blocked) > 0 {
		sev := SevError
		if !r.Required {
			sev = SevWarning
		}
		res.Status = FlowFail
		msg := fmt.Sprintf("%s flow %s (%s) to %s is blocked: the configuration allows %s %s to no address at all (%s)",
			d, r.ID, r.Purpose, hostList(r.Destination.Hosts), r.Proto, portText(c.DPort), lineName(blocked[0].Decider()))
		fd := Finding{Kind: Missing, Severity: sev, Flow: r.ID, Direction: d.String(), Rule: refPtr(blocked[0].Decider()), Message: msg, Packets: a.describe(sp, 0),
			Reference: r.Reference.Cite(), space: sp}
		for _, fr := range blocked[1:] {
			fd.Blocking = append(fd.Blocking, ref(fr.Decider()))
		}
		a.add(fd)
		res.Detail = msg
		a.rep.Flows = append(a.rep.Flows, res)
		return
	}
	res.Detail = "the destination is given only by host names (" + hostList(r.Destination.Hosts) + "), which an address-based firewall cannot check; " +
		r.Proto.String() + " " + portText(c.DPort) + " is allowed to " + allowedTo.String() + " and tolerated to any address; use --fqdn-via-proxy to check the allow to the egress proxy"
	a.rep.Flows = append(a.rep.Flows, res)
}
