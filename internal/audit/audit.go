// Package audit checks a firewall configuration a user already runs
// against a deployment's plan.
//
// The parsers under audit/parse lower each format into one model (Config):
// ordered first-match chains with jumps for iptables, nftables and Azure
// NSGs, an order-free union of allow rules for AWS security groups. The
// engine compiles every rule's match into cubes over the packet header
// fields and evaluates packet spaces against the chains as exact set
// arithmetic (netipx.IPSet for addresses, port intervals), never per
// address or per port. On top of it, Run answers the three questions of
// Batfish's filter analysis for the plan: is each required flow permitted
// (testFilters), what else is permitted on the deployment's hosts
// (searchFilters), and which rules can never match (filterLineReachability).
package audit

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/render"
)

// Options are the user's choices for an audit.
type Options struct {
	// Scope audits the host or subnet firewall of one role's machines, as
	// render --scope renders it: inbound flows to the role, outbound flows
	// from it. Empty audits the perimeter (forward) view.
	Scope string
	// Tags resolves Azure service tags in the plan and in NSG rules.
	Tags Tags
	// FQDN says what to do with flows given only by host names, as render
	// does: render.FQDNViaProxy checks the allow to Proxy instead;
	// render.FQDNSkip leaves them out (listed as skipped); the default
	// checks that the service is allowed to some address at all (an
	// address-based firewall cannot show which addresses the names resolve
	// to), and reports the flow missing when it is allowed to none.
	FQDN  render.FQDNMode
	Proxy netip.AddrPort
	// InIfaces and OutIfaces are the interfaces the deployment's traffic
	// arrives on and leaves by (nft iifname/oifname patterns). Empty means
	// any interface but loopback.
	InIfaces, OutIfaces []string
	// NoShadow skips the shadowed-rule analysis.
	NoShadow bool
	// Progress, when set, is told how far the audit is: the stage and,
	// where the stage counts, how many of how many are done. It is called
	// from the auditing goroutine and must return quickly.
	Progress func(stage string, done, total int)
}

// progress reports a stage's advance, when the caller asked.
func (a *auditor) progress(stage string, done, total int) {
	if a.opt.Progress != nil {
		a.opt.Progress(stage, done, total)
	}
}

// Run audits cfg against the plan. The diagnostics are errors that keep
// the audit from running (an unknown scope, a service tag without data).
func Run(p *model.Plan, cfg *Config, opt Options) (*Report, diag.List) {
	return RunContext(context.Background(), p, cfg, opt)
}

// RunContext is Run that stops between flows, and between stages, once ctx
// is done; it then returns no report and ctx's error as a diagnostic.
func RunContext(ctx context.Context, p *model.Plan, cfg *Config, opt Options) (*Report, diag.List) {
	var ds diag.List
	stopped := func() bool {
		if err := ctx.Err(); err != nil {
			ds.Errorf(diag.Pos{}, "", "audit stopped: %v", context.Cause(ctx))
			return true
		}
		return false
	}
	e, err := Compile(cfg, append(append([]string(nil), opt.InIfaces...), opt.OutIfaces...)...)
	if err != nil {
		ds.Errorf(diag.Pos{}, cfg.Format, "%v", err)
		return nil, ds
	}
	prep, pds := render.Prepare(p, cfg.Format, render.Caps{FQDN: true, ServiceTags: true, Deny: true}, render.Options{Scope: opt.Scope})
	if pds.HasErrors() {
		return nil, pds.Errors()
	}
	ds.Append(pds.Warnings())
	a := &auditor{e: e, plan: p, opt: opt, rep: &Report{
		Format: cfg.Format, Scope: opt.Scope, Cloud: p.Cloud, Catalog: p.CatalogVersion, Notes: append([]string(nil), cfg.Notes...),
	}}
	a.hosts = a.scopeHosts()
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
	a.rep.sort()
	return a.rep, ds
}

type auditor struct {
	e     *Engine
	plan  *model.Plan
	opt   Options
	rep   *Report
	hosts AddrSet
	flows []*flow
	// tolerated and denied are, per direction, the packets the plan allows
	// and explicitly denies.
	tolerated map[render.Direction]Space
	denied    map[render.Direction]Space
}

// flow is one plan rule as packets, checked in one direction.
type flow struct {
	rule  model.Rule
	dir   render.Direction
	space Space
	// outside is the part of the flow in an address family the
	// configuration does not filter.
	outside Space
	note    string
}

// scopeHosts returns the deployment's machines the audit is about: the
// scoped role's addresses, or every bound role's.
func (a *auditor) scopeHosts() AddrSet {
	integ, name, qualified := strings.Cut(a.opt.Scope, "/")
	if !qualified {
		integ, name = "", a.opt.Scope
	}
	var ps []netip.Prefix
	for key, t := range a.plan.Roles {
		ki, kr, _ := strings.Cut(key, "/")
		if a.opt.Scope != "" && (kr != name || (integ != "" && ki != integ)) {
			continue
		}
		ps = append(ps, t.Prefixes...)
	}
	return AddrSetOf(ps...)
}

func (a *auditor) isDeployment(t model.Target, integ string) bool {
	if t.Role == "" {
		return false
	}
	_, ok := a.plan.Roles[integ+"/"+t.Role]
	return ok
}

// side resolves a plan rule's endpoint to addresses; hostOnly when it is
// given by host names alone.
func (a *auditor) side(t model.Target) (s AddrSet, hostOnly bool, err error) {
	var ps []netip.Prefix
	if t.Any {
		ps = append(ps, allV4, allV6)
	}
	ps = append(ps, t.Prefixes...)
	s = AddrSetOf(ps...)
	for _, name := range t.ServiceTags {
		ts, err := a.opt.Tags.Resolve(name)
		if err != nil {
			return AddrSet{}, false, err
		}
		s = s.Union(ts)
	}
	return s, s.IsEmpty() && len(t.Hosts) > 0, nil
}

func protoSet(p model.Proto) ProtoSet {
	if p == model.ProtoAny {
		return AllProtos()
	}
	if p == model.ProtoICMP {
		return Protos(1, 58)
	}
	return Protos(uint8(p))
}

func portsOf(p model.PortSet) model.PortSet {
	if p.IsEmpty() || p.IsAny() || p.IsEphemeral() {
		return allPorts
	}
	return p
}

// ifaces returns the interface classes for the in and out side of a
// direction's packets.
func (a *auditor) ifaces(dir render.Direction) (in, out IfaceSet) {
	u := a.e.Universe
	pick := func(names []string) IfaceSet {
		if len(names) == 0 {
			return u.NotLoopback()
		}
		var s IfaceSet
		for _, n := range names {
			s |= u.Match(n)
		}
		return s
	}
	in, out = u.All(), u.All()
	if dir != render.Outbound {
		in = pick(a.opt.InIfaces)
	}
	if dir != render.Inbound {
		out = pick(a.opt.OutIfaces)
	}
	return in, out
}

// familySplit keeps the same-family parts of a cube (a packet has one
// family) and splits off what the configuration does not filter.
func (a *auditor) familySplit(c Cube) (in, outside Space) {
	for _, fam := range []Family{FamilyV4, FamilyV6} {
		x := c
		x.Src = c.Src.Intersect(fam.addrs())
		x.Dst = c.Dst.Intersect(fam.addrs())
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

func (a *auditor) addFlow(it render.Item, ds *diag.List) {
	r := it.Rule
	src, srcHosts, err := a.side(r.Source)
	if err == nil {
		var dst AddrSet
		var dstHosts bool
		dst, dstHosts, err = a.side(r.Destination)
		if err == nil {
			a.addFlowSides(it, src, dst, srcHosts, dstHosts)
			return
		}
	}
	ds.Errorf(diag.Pos{}, r.ID, "%v", err)
}

func (a *auditor) addFlowSides(it render.Item, src, dst AddrSet, srcHosts, dstHosts bool) {
	r := it.Rule
	proto, dports, sports := protoSet(r.Proto), portsOf(r.DestPorts), portsOf(r.SourcePorts)
	if a.e.Config.NoSourcePorts {
		sports = allPorts
	}
	var note string
	switch {
	case srcHosts:
		a.rep.Flows = append(a.rep.Flows, FlowResult{ID: r.ID, Required: r.Required, Action: r.Action.String(), Direction: it.Dir.String(), Status: FlowSkipped,
			Detail: "the source is given only by host names, which an address-based firewall cannot match"})
		return
	case dstHosts && a.opt.FQDN == render.FQDNViaProxy && a.opt.Proxy.IsValid():
		dst = AddrSetOf(netip.PrefixFrom(a.opt.Proxy.Addr(), a.opt.Proxy.Addr().BitLen()))
		dports = model.NewPortSet(model.Port(a.opt.Proxy.Port()))
		proto = Protos(6)
		note = "checked as the allow to the egress proxy " + a.opt.Proxy.String()
	case dstHosts && a.opt.FQDN == render.FQDNSkip:
		for _, d := range a.dirs(it) {
			a.tolerate(d, Cube{Proto: proto, State: StateSet(StateNew), Src: src, Dst: AllAddrs(), SPort: sports, DPort: dports}, r.Action)
			a.rep.Flows = append(a.rep.Flows, FlowResult{ID: r.ID, Required: r.Required, Action: r.Action.String(), Direction: d.String(), Status: FlowSkipped,
				Detail: "the destination is given only by host names (" + hostList(r.Destination.Hosts) + "); not checked (--fqdn-skip); " + r.Proto.String() + " " + portText(dports) + " to any address is tolerated"})
		}
		return
	case dstHosts:
		// Not checkable by address: the same service to any address is
		// tolerated (it is how an address-based firewall carries a
		// host-name flow). If the service is allowed to no address at all,
		// the flow certainly cannot pass.
		dst = AllAddrs()
		for _, d := range a.dirs(it) {
			c := Cube{Proto: proto, State: StateSet(StateNew), Src: src, Dst: dst, SPort: sports, DPort: dports}
			a.tolerate(d, c, r.Action)
			a.hostFlow(it, d, c)
		}
		return
	}
	for _, d := range a.dirs(it) {
		in, out := a.ifaces(d)
		c := Cube{Proto: proto, State: StateSet(StateNew), In: in, Out: out, Src: src, Dst: dst, SPort: sports, DPort: dports}
		sp, outside := a.familySplit(c)
		f := &flow{rule: r, dir: d, space: sp, outside: outside, note: note}
		a.flows = append(a.flows, f)
		a.tolerate(d, c, r.Action)
	}
}

// hostFlow checks a flow given only by host names: the addresses the
// names stand for are unknown, so the flow is reported as skipped when the
// service is allowed to some address, and as missing when it is allowed to
// none.
func (a *auditor) hostFlow(it render.Item, d render.Direction, c Cube) {
	r := it.Rule
	res := FlowResult{ID: r.ID, Required: r.Required, Action: r.Action.String(), Direction: d.String(), Status: FlowSkipped}
	if r.Action == model.Deny {
		res.Detail = "the destination is given only by host names (" + hostList(r.Destination.Hosts) + "), which an address-based firewall cannot deny"
		a.rep.Flows = append(a.rep.Flows, res)
		return
	}
	c.In, c.Out = a.ifaces(d)
	sp, _ := a.familySplit(c)
	var allowed []*Line
	var blocked []Fragment
	var allowedTo AddrSet
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
		fd := Finding{Kind: Missing, Severity: sev, Flow: r.ID, Direction: d.String(), Rule: refPtr(blocked[0].Decider()), Message: msg, Packets: a.e.describe(sp, 0)}
		for _, fr := range blocked[1:] {
			fd.Blocking = append(fd.Blocking, Ref(fr.Decider()))
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

func hostList(hs []model.Host) string {
	s := make([]string, len(hs))
	for i, h := range hs {
		s[i] = h.String()
	}
	return strings.Join(s, " ")
}

// dirs returns the directions a flow is checked in: the item's own, or for
// a perimeter audit of an inbound/outbound-only platform, inbound at a
// deployment destination and outbound at a deployment source.
func (a *auditor) dirs(it render.Item) []render.Direction {
	if it.Dir != render.Forward || !a.e.Config.Directional {
		return []render.Direction{it.Dir}
	}
	var ds []render.Direction
	if a.isDeployment(it.Rule.Destination, it.Rule.Integration) {
		ds = append(ds, render.Inbound)
	}
	if a.isDeployment(it.Rule.Source, it.Rule.Integration) {
		ds = append(ds, render.Outbound)
	}
	if len(ds) == 0 {
		ds = append(ds, render.Inbound)
	}
	return ds
}

func (a *auditor) tolerate(d render.Direction, c Cube, act model.Action) {
	if a.tolerated == nil {
		a.tolerated, a.denied = map[render.Direction]Space{}, map[render.Direction]Space{}
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

// checkFlow evaluates one flow: missing parts for an allow, allowed parts
// for a deny, and the near misses behind a missing part.
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
	var allowed, blocked []Fragment
	for _, fr := range frags {
		if fr.Verdict == model.VerdictAllow {
			allowed = append(allowed, fr)
			if d := fr.Decider(); d != nil {
				res.AllowedBy = append(res.AllowedBy, Ref(d))
			}
		} else {
			blocked = append(blocked, fr)
		}
	}
	sev := SevError
	if !r.Required {
		sev = SevWarning
	}
	if r.Action == model.Deny {
		res.AllowedBy = nil
		for _, fr := range allowed {
			res.Status = FlowFail
			a.add(Finding{Kind: TooOpen, Severity: SevError, Flow: r.ID, Direction: f.dir.String(), Rule: refPtr(fr.Decider()),
				Message:    fmt.Sprintf("the plan denies this flow (%s) but %s allows %s", r.Purpose, lineName(fr.Decider()), a.spaceText(fr.Space)),
				Packets:    a.e.describe(fr.Space, 0),
				Unresolved: refs(fr.Unresolved)})
		}
		a.rep.Flows = append(a.rep.Flows, res)
		return
	}
	if len(blocked) > 0 {
		res.Status = FlowFail
		var blockedSpace Space
		for _, fr := range blocked {
			blockedSpace = append(blockedSpace, fr.Space...)
		}
		whole := len(allowed) == 0
		main := blocked[0]
		msg := a.missingText(f, blocked, whole)
		fd := Finding{Kind: Missing, Severity: sev, Flow: r.ID, Direction: f.dir.String(), Rule: refPtr(main.Decider()), Message: msg,
			Packets: a.e.describe(blockedSpace, 0)}
		for _, fr := range blocked[1:] {
			fd.Blocking = append(fd.Blocking, Ref(fr.Decider()))
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
	a.rep.Flows = append(a.rep.Flows, res)
}

func appendRef(rs []RuleRef, l *Line) []RuleRef {
	for _, r := range rs {
		if r.ID == l.ID && r.Chain == l.Chain {
			return rs
		}
	}
	return append(rs, Ref(l))
}

func refPtr(l *Line) *RuleRef {
	if l == nil {
		return nil
	}
	r := Ref(l)
	return &r
}

func lineName(l *Line) string {
	if l == nil {
		return "the configuration (no chain filters this direction)"
	}
	if l.Default && l.Index == 0 && l.Action != Continue {
		return l.ID
	}
	return l.ref()
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

func (a *auditor) familyName(s Space) string {
	var v4, v6 bool
	for _, c := range s {
		v4 = v4 || c.Src.Overlaps(V4Addrs())
		v6 = v6 || c.Src.Overlaps(V6Addrs())
	}
	switch {
	case v4 && v6:
		return "IPv4 and IPv6"
	case v6:
		return "IPv6"
	}
	return "IPv4"
}

func (a *auditor) missingText(f *flow, blocked []Fragment, whole bool) string {
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

// spaceText describes a space, at most a few cubes.
func (a *auditor) spaceText(s Space) string {
	const max = 4
	var parts []string
	for _, ps := range a.e.describe(s, max) {
		parts = append(parts, ps.Text)
	}
	if len(s) > max {
		parts = append(parts, fmt.Sprintf("and %d more packet sets", len(s)-max))
	}
	return strings.Join(parts, ", ")
}

// mismatches looks for the near misses behind a blocked part: a rule for
// the other transport protocol, or an allowing rule whose port range is
// narrower than one of the plan's ranges.
func (a *auditor) mismatches(f *flow, allowed, blocked []Fragment, blockedSpace Space, sev Severity) {
	r := f.rule
	if other, ok := map[model.Proto]uint8{model.ProtoTCP: 17, model.ProtoUDP: 6}[r.Proto]; ok {
		swapped := make(Space, len(blockedSpace))
		for i, c := range blockedSpace {
			c.Proto = Protos(other)
			swapped[i] = c
		}
		for _, fr := range a.e.Eval(f.dir, swapped) {
			d := fr.Decider()
			if fr.Verdict != model.VerdictAllow || d == nil || d.Default {
				continue
			}
			a.add(Finding{Kind: Mismatch, Severity: sev, Flow: r.ID, Direction: f.dir.String(), Rule: refPtr(d),
				Message: fmt.Sprintf("%s allows %s where the plan requires %s: %s", d.ref(), ProtoName(other), r.Proto, a.spaceText(fr.Space)),
				Packets: a.e.describe(fr.Space, 0)})
		}
	}
	seen := map[*Line]bool{}
	for _, fr := range allowed {
		d := fr.Decider()
		if d == nil || d.Default || seen[d] {
			continue
		}
		seen[d] = true
		ls := a.e.lines[d].space
		lp := linePorts(ls)
		// the line's packets on any port: the blocked ports that matter
		// are those of the addresses the line already covers
		var anyPort Space
		for _, c := range ls {
			c.DPort = allPorts
			anyPort = append(anyPort, c)
		}
		for _, rg := range portsOf(r.DestPorts).Ranges() {
			req := model.NewPortSet(rg)
			if !portsOverlap(lp, req) || portsCover(lp, req) {
				continue
			}
			missingPorts := model.PortSet{}
			for _, c := range intersectSpaces(blockedSpace, anyPort) {
				missingPorts = missingPorts.Union(c.DPort.Intersect(req))
			}
			if missingPorts.IsEmpty() {
				continue
			}
			a.add(Finding{Kind: Mismatch, Severity: sev, Flow: r.ID, Direction: f.dir.String(), Rule: refPtr(d),
				Message: fmt.Sprintf("%s allows ports %s, narrower than the plan's %s %s: %s is blocked", d.ref(), lp.Intersect(req), r.Proto, rg, missingPorts)})
		}
	}
}

func linePorts(s Space) model.PortSet {
	var p model.PortSet
	for _, c := range s {
		p = p.Union(c.DPort)
	}
	return p
}

// tooOpen evaluates what the plan does not need, on the scoped hosts, and
// reports every rule that allows some of it.
func (a *auditor) tooOpen() {
	if a.hosts.IsEmpty() {
		a.rep.Notes = append(a.rep.Notes, "no role of the plan is bound to addresses, so nothing is checked for being too open")
		return
	}
	dirs := []render.Direction{render.Forward}
	switch {
	case a.opt.Scope != "":
		dirs = []render.Direction{render.Inbound, render.Outbound}
	case a.e.Config.Directional:
		dirs = []render.Direction{render.Inbound, render.Outbound}
	}
	for _, d := range dirs {
		in, out := a.ifaces(d)
		base := Cube{Proto: AllProtos(), State: StateSet(StateNew), In: in, Out: out, Src: AllAddrs(), Dst: AllAddrs(), SPort: allPorts, DPort: allPorts}
		var u Space
		switch d {
		case render.Inbound:
			c := base
			c.Dst = a.hosts
			u = Space{c}
		case render.Outbound:
			c := base
			c.Src = a.hosts
			u = Space{c}
		default:
			c1, c2 := base, base
			c1.Src = a.hosts
			c2.Dst = a.hosts
			c2.Src = AllAddrs().Difference(a.hosts)
			u = Space{c1, c2}
		}
		var q Space
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
				Packets:    a.e.describe(fr.Space, 0),
				Unresolved: refs(fr.Unresolved)})
		}
	}
}

// shadowed reports the rules no packet reaches.
func (a *auditor) shadowed() {
	sh, gaveUp := a.e.Shadowed()
	for _, s := range sh {
		sev := SevNote
		if s.DifferentAction {
			sev = SevWarning
		}
		var msg string
		switch s.Reason {
		case Unmatchable:
			msg = fmt.Sprintf("%s matches no packet", s.Line.ref())
		case Redundant:
			msg = fmt.Sprintf("%s is redundant: the other rules (%s) already allow everything it allows", s.Line.ref(), lineIDs(s.Blocking))
		default:
			msg = fmt.Sprintf("%s can never match: earlier rules (%s) cover it", s.Line.ref(), lineIDs(s.Blocking))
			if s.DifferentAction {
				msg += ", and one of them has a different action"
			}
		}
		a.add(Finding{Kind: Shadowed, Severity: sev, Rule: refPtr(s.Line), Blocking: refs(s.Blocking), DifferentAction: s.DifferentAction,
			Message: msg, Packets: a.e.describe(a.e.lines[s.Line].space, 8)})
	}
	for _, l := range gaveUp {
		a.rep.Notes = append(a.rep.Notes, fmt.Sprintf("%s: too many overlapping earlier rules to decide whether it is shadowed; it is assumed reachable", l.ID))
	}
}

func lineIDs(ls []*Line) string {
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

func (a *auditor) add(f Finding) { a.rep.Findings = append(a.rep.Findings, f) }

// sort orders findings by severity, kind, flow and rule, and flows by id,
// so reports are deterministic.
func (r *Report) sort() {
	rank := map[Severity]int{SevError: 0, SevWarning: 1, SevNote: 2}
	kind := map[Kind]int{Missing: 0, Mismatch: 1, TooOpen: 2, Shadowed: 3}
	sort.SliceStable(r.Findings, func(i, j int) bool {
		a, b := r.Findings[i], r.Findings[j]
		if rank[a.Severity] != rank[b.Severity] {
			return rank[a.Severity] < rank[b.Severity]
		}
		if kind[a.Kind] != kind[b.Kind] {
			return kind[a.Kind] < kind[b.Kind]
		}
		if a.Flow != b.Flow {
			return a.Flow < b.Flow
		}
		return ruleKey(a.Rule) < ruleKey(b.Rule)
	})
	sort.SliceStable(r.Flows, func(i, j int) bool {
		if r.Flows[i].ID != r.Flows[j].ID {
			return r.Flows[i].ID < r.Flows[j].ID
		}
		return r.Flows[i].Direction < r.Flows[j].Direction
	})
}

func ruleKey(r *RuleRef) string {
	if r == nil {
		return ""
	}
	return fmt.Sprintf("%s\x00%06d\x00%s", r.Chain, r.Index, r.ID)
}
