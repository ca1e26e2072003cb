// Package audit checks a firewall configuration a user already runs
// against a deployment's plan.
//
// The plan is read as render reads it, through the view of one firewall
// (internal/view: scope, direction, host-name handling). The configuration
// arrives lowered by a parser of audit/formats into the auditor's IR
// (audit/ruleset), and the evaluator (audit/eval) answers questions about
// packet spaces (audit/packet) with exact set arithmetic, never per
// address or per port. On top of it, Run answers the three questions of
// Batfish's filter analysis for the plan, a file each: is each required
// flow permitted (testFilters: missing.go, with the near misses in
// mismatch.go), what else is permitted on the deployment's hosts
// (searchFilters: tooopen.go), and which rules can never match
// (filterLineReachability: shadowed.go).
package audit

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/teamsgate/teamsgate/internal/audit/eval"
	"github.com/teamsgate/teamsgate/internal/audit/packet"
	"github.com/teamsgate/teamsgate/internal/audit/ruleset"
	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/view"
)

// Options are the user's choices for an audit.
type Options struct {
	// Scope audits the host or subnet firewall of one role's machines, as
	// render --scope renders it: inbound flows to the role, outbound flows
	// from it. Empty audits the perimeter (forward) view.
	Scope string
	// Tags resolves Azure service tags in the plan and in NSG rules.
	Tags ruleset.ServiceTags
	// FQDN says what to do with flows given only by host names, as render
	// does: view.FQDNViaProxy checks the allow to Proxy instead;
	// view.FQDNSkip leaves them out (listed as skipped); the default
	// checks that the service is allowed to some address at all (an
	// address-based firewall cannot show which addresses the names resolve
	// to), and reports the flow missing when it is allowed to none.
	FQDN  view.FQDNMode
	Proxy netip.AddrPort
	// InIfaces and OutIfaces are the interfaces the deployment's traffic
	// arrives on and leaves by (nft iifname/oifname patterns). Empty means
	// any interface but loopback.
	InIfaces, OutIfaces []string
	// ManagementPorts are the ports no host of the deployment may expose
	// to the Internet, besides the ports of the plan's management flows;
	// nil means DefaultManagementPorts, an empty list none.
	ManagementPorts []ManagementPort
	// NoShadow skips the shadowed-rule analysis.
	NoShadow bool
	// Progress, when set, is told how far the audit is: the stage and,
	// where the stage counts, how many of how many are done. It is called
	// from the auditing goroutine and must return quickly.
	Progress func(stage string, done, total int)
}

// Run audits cfg against the plan. The diagnostics are errors that keep
// the audit from running (an unknown scope, a service tag without data).
func Run(p *model.Plan, cfg *ruleset.Config, opt Options) (*Report, diag.List) {
	return RunContext(context.Background(), p, cfg, opt)
}

// RunContext is Run that stops between flows, and between stages, once ctx
// is done; it then returns no report and ctx's error as a diagnostic.
func RunContext(ctx context.Context, p *model.Plan, cfg *ruleset.Config, opt Options) (*Report, diag.List) {
	if cfg.Groups != nil {
		return runEstate(ctx, p, cfg, opt)
	}
	var ds diag.List
	stopped := func() bool {
		if err := ctx.Err(); err != nil {
			ds.Errorf(diag.Pos{}, "", "audit stopped: %v", context.Cause(ctx))
			return true
		}
		return false
	}
	e, err := eval.Compile(cfg, append(append([]string(nil), opt.InIfaces...), opt.OutIfaces...)...)
	if err != nil {
		ds.Errorf(diag.Pos{}, cfg.Format, "%v", err)
		return nil, ds
	}
	prep, pds := view.Prepare(p, cfg.Format, view.Caps{FQDN: true, ServiceTags: true, Internet: true, Deny: true}, view.Options{Scope: opt.Scope})
	if pds.HasErrors() {
		return nil, pds.Errors()
	}
	ds.Append(pds.Warnings())
	a := &auditor{e: e, plan: p, opt: opt, rep: &Report{
		Format: cfg.Format, Scope: opt.Scope, Cloud: p.Cloud, Catalog: p.CatalogVersion, Notes: append([]string(nil), cfg.Notes...),
	}}
	a.hosts = a.scopeHosts()
	a.skipOutside(prep.Outside)
	for _, it := range prep.Items {
		a.addFlow(it, &ds)
	}
	if ds.HasErrors() {
		return nil, ds
	}
	for i, f := range a.flows {
		if stopped() {
			return nil, ds
		}
		a.progress("checking flows", i, len(a.flows))
		a.checkFlow(f)
	}
	if stopped() {
		return nil, ds
	}
	a.progress("looking for traffic the plan does not require", 0, 0)
	a.tooOpen()
	a.exposed()
	if !opt.NoShadow {
		if stopped() {
			return nil, ds
		}
		a.progress("looking for shadowed rules", 0, 0)
		a.shadowed()
	}
	if stopped() {
		return nil, ds
	}
	a.group()
	a.rep.sort()
	return a.rep, ds
}

// progress reports a stage's advance, when the caller asked.
func (a *auditor) progress(stage string, done, total int) {
	if a.opt.Progress != nil {
		a.opt.Progress(stage, done, total)
	}
}

type auditor struct {
	e     *eval.Engine
	plan  *model.Plan
	opt   Options
	rep   *Report
	hosts packet.AddrSet
	flows []*flow
	// tolerated and denied are, per direction, the packets the plan allows
	// and explicitly denies.
	tolerated map[view.Direction]packet.Space
	denied    map[view.Direction]packet.Space
	// texts remembers how addrText describes each address set, by its
	// ranges.
	texts map[string]string
}

// flow is one plan rule as packets, checked in one direction.
type flow struct {
	rule  model.Rule
	dir   view.Direction
	space packet.Space
	// outside is the part of the flow in an address family the
	// configuration does not filter.
	outside packet.Space
	note    string
}

func (a *auditor) add(f Finding) { a.rep.Findings = append(a.rep.Findings, f) }

// scopeHosts returns the deployment's machines the audit is about: the
// scoped role's addresses, or every bound role's but those the spec marks
// outside the firewall.
func (a *auditor) scopeHosts() packet.AddrSet {
	integ, name, qualified := strings.Cut(a.opt.Scope, "/")
	if !qualified {
		integ, name = "", a.opt.Scope
	}
	var ps []netip.Prefix
	for key, t := range a.plan.Roles {
		ki, kr, _ := strings.Cut(key, "/")
		if a.opt.Scope != "" && (kr != name || (integ != "" && ki != integ)) || a.opt.Scope == "" && t.Outside {
			continue
		}
		ps = append(ps, t.Prefixes...)
	}
	return packet.AddrSetOf(ps...)
}

func (a *auditor) isDeployment(t model.Target, integ string) bool {
	if t.Role == "" || t.Outside {
		return false
	}
	_, ok := a.plan.Roles[integ+"/"+t.Role]
	return ok
}

// side resolves a plan rule's endpoint to addresses; hostOnly when it is
// given by host names alone.
func (a *auditor) side(t model.Target) (s packet.AddrSet, hostOnly bool, err error) {
	switch {
	case t.Any:
		s = packet.AllAddrs()
	case t.Internet:
		// The public Internet is the same set the NSG service tag
		// Internet resolves to (ruleset.ServiceTags.Resolve), so a flow
		// to it is exactly what AllowInternetOutBound allows.
		s = packet.Internet().Union(packet.AddrSetOf(t.Prefixes...))
	default:
		s = packet.AddrSetOf(t.Prefixes...)
	}
	for _, name := range t.ServiceTags {
		ts, err := a.opt.Tags.Resolve(name)
		if err != nil {
			return packet.AddrSet{}, false, err
		}
		s = s.Union(ts)
	}
	return s, s.IsEmpty() && len(t.Hosts) > 0, nil
}

func protoSet(p model.Proto) packet.ProtoSet {
	if p == model.ProtoAny {
		return packet.AllProtos()
	}
	if p == model.ProtoICMP {
		return packet.Protos(1, 58)
	}
	return packet.Protos(uint8(p))
}

func portsOf(p model.PortSet) model.PortSet {
	if p.IsEmpty() || p.IsAny() || p.IsEphemeral() {
		return packet.AllPorts()
	}
	return p
}

// ifaces returns the interface classes for the in and out side of a
// direction's packets.
func (a *auditor) ifaces(dir view.Direction) (in, out packet.IfaceSet) {
	u := a.e.Universe
	pick := func(names []string) packet.IfaceSet {
		if len(names) == 0 {
			return u.NotLoopback()
		}
		var s packet.IfaceSet
		for _, n := range names {
			s |= u.Match(n)
		}
		return s
	}
	in, out = u.All(), u.All()
	if dir != view.Outbound {
		in = pick(a.opt.InIfaces)
	}
	if dir != view.Inbound {
		out = pick(a.opt.OutIfaces)
	}
	return in, out
}

// familySplit keeps the same-family parts of a cube (a packet has one
// family) and splits off what the configuration does not filter.
func (a *auditor) familySplit(c packet.Cube) (in, outside packet.Space) {
	for _, fam := range []ruleset.Family{ruleset.FamilyV4, ruleset.FamilyV6} {
		x := c
		x.Src = c.Src.Intersect(fam.Addrs())
		x.Dst = c.Dst.Intersect(fam.Addrs())
		if x.IsEmpty() {
			continue
		}
		if a.e.Config.Families&fam != 0 {
			in = append(in, x)
		} else {
			outside = append(outside, x)
		}
	}
	return in, outside
}

func (a *auditor) addFlow(it view.Item, ds *diag.List) {
	r := it.Rule
	src, srcHosts, err := a.side(r.Source)
	if err == nil {
		var dst packet.AddrSet
		var dstHosts bool
		dst, dstHosts, err = a.side(r.Destination)
		if err == nil {
			a.addFlowSides(it, src, dst, srcHosts, dstHosts)
			return
		}
	}
	ds.Errorf(diag.Pos{}, r.ID, "%v", err)
}

func (a *auditor) addFlowSides(it view.Item, src, dst packet.AddrSet, srcHosts, dstHosts bool) {
	r := it.Rule
	proto, dports, sports := protoSet(r.Proto), portsOf(r.DestPorts), portsOf(r.SourcePorts)
	if a.e.Config.NoSourcePorts {
		sports = packet.AllPorts()
	}
	var note string
	switch {
	case srcHosts:
		a.rep.Flows = append(a.rep.Flows, FlowResult{ID: r.ID, Required: r.Required, Action: r.Action.String(), Direction: it.Dir.String(), Status: FlowSkipped,
			Detail: "the source is given only by host names, which an address-based firewall cannot match"})
		return
	case dstHosts && a.opt.FQDN == view.FQDNViaProxy && a.opt.Proxy.IsValid():
		dst = packet.AddrSetOf(netip.PrefixFrom(a.opt.Proxy.Addr(), a.opt.Proxy.Addr().BitLen()))
		dports = model.NewPortSet(model.Port(a.opt.Proxy.Port()))
		proto = packet.Protos(6)
		note = "checked as the allow to the egress proxy " + a.opt.Proxy.String()
	case dstHosts && a.opt.FQDN == view.FQDNSkip:
		for _, d := range a.dirs(it) {
			a.tolerate(d, packet.Cube{Proto: proto, State: packet.StateSet(packet.StateNew), Src: src, Dst: packet.AllAddrs(), SPort: sports, DPort: dports}, r.Action)
			a.rep.Flows = append(a.rep.Flows, FlowResult{ID: r.ID, Required: r.Required, Action: r.Action.String(), Direction: d.String(), Status: FlowSkipped,
				Detail: "the destination is given only by host names (" + hostList(r.Destination.Hosts) + "); not checked (--fqdn-skip); " + r.Proto.String() + " " + portText(dports) + " to any address is tolerated"})
		}
		return
	case dstHosts:
		// Not checkable by address: the same service to any address is
		// tolerated (it is how an address-based firewall carries a
		// host-name flow). If the service is allowed to no address at all,
		// the flow certainly cannot pass.
		dst = packet.AllAddrs()
		for _, d := range a.dirs(it) {
			c := packet.Cube{Proto: proto, State: packet.StateSet(packet.StateNew), Src: src, Dst: dst, SPort: sports, DPort: dports}
			a.tolerate(d, c, r.Action)
			a.hostFlow(it, d, c)
		}
		return
	}
	for _, d := range a.dirs(it) {
		in, out := a.ifaces(d)
		c := packet.Cube{Proto: proto, State: packet.StateSet(packet.StateNew), In: in, Out: out, Src: src, Dst: dst, SPort: sports, DPort: dports}
		sp, outside := a.familySplit(c)
		f := &flow{rule: r, dir: d, space: sp, outside: outside, note: note}
		a.flows = append(a.flows, f)
		a.tolerate(d, c, r.Action)
	}
}

// dirs returns the directions a flow is checked in: the item's own, or for
// a perimeter audit of an inbound/outbound-only platform, inbound at a
// deployment destination and outbound at a deployment source.
func (a *auditor) dirs(it view.Item) []view.Direction {
	if it.Dir != view.Forward || !a.e.Config.Directional {
		return []view.Direction{it.Dir}
	}
	var ds []view.Direction
	if a.isDeployment(it.Rule.Destination, it.Rule.Integration) {
		ds = append(ds, view.Inbound)
	}
	if a.isDeployment(it.Rule.Source, it.Rule.Integration) {
		ds = append(ds, view.Outbound)
	}
	if len(ds) == 0 {
		ds = append(ds, view.Inbound)
	}
	return ds
}

func (a *auditor) tolerate(d view.Direction, c packet.Cube, act model.Action) {
	if a.tolerated == nil {
		a.tolerated, a.denied = map[view.Direction]packet.Space{}, map[view.Direction]packet.Space{}
	}
	u := a.e.Universe
	c.In, c.Out = u.All(), u.All()
	sp, _ := a.familySplit(c)
	if act == model.Deny {
		a.denied[d] = a.denied[d].Union(sp)
		return
	}
	a.tolerated[d] = a.tolerated[d].Union(sp)
}

// checkFlow evaluates one flow of the plan and records its outcome: for an
// allow, the parts the configuration blocks (missing.go); for a deny, the
// parts it allows (tooopen.go).
func (a *auditor) checkFlow(f *flow) {
	r := f.rule
	res := FlowResult{ID: r.ID, Required: r.Required, Action: r.Action.String(), Direction: f.dir.String(), Status: FlowPass, Detail: f.note}
	if len(f.outside) > 0 {
		res.Detail = joinNote(res.Detail, fmt.Sprintf("not checked for %s: the configuration does not filter that address family", a.familyName(f.outside)))
	}
	if len(f.space) == 0 {
		res.Status = FlowSkipped
		a.rep.Flows = append(a.rep.Flows, res)
		return
	}
	frags := a.e.Eval(f.dir, f.space)
	var allowed, blocked []eval.Fragment
	for _, fr := range frags {
		if fr.Verdict == model.VerdictAllow {
			allowed = append(allowed, fr)
			if d := fr.Decider(); d != nil {
				res.AllowedBy = append(res.AllowedBy, ref(d))
			}
		} else {
			blocked = append(blocked, fr)
		}
	}
	switch {
	case r.Action == model.Deny:
		a.allowedDenied(f, allowed, &res)
	case len(blocked) > 0:
		a.missing(f, allowed, blocked, &res)
	}
	a.rep.Flows = append(a.rep.Flows, res)
}
