// Package plan turns a deployment spec and the catalog into the Plan: every
// rule the deployment must allow (or, for the Pexip RDP rule, deny), each
// resolved to concrete prefixes, hosts and ports, with its provenance.
package plan

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/teamsgate/teamsgate/internal/catalog"
	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/m365"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/spec"
)

// Build plans a deployment. Errors (a role a flow needs but the spec leaves
// unbound, an address set without a value for the cloud) make the plan
// unusable; warnings are also copied into the plan's Warnings.
func Build(cat *catalog.Catalog, s *spec.Spec) (*model.Plan, diag.List) {
	p := &model.Plan{
		CatalogVersion: cat.Version,
		Cloud:          s.Cloud,
		Roles:          map[string]model.Target{},
	}
	var ds diag.List
	for _, u := range s.Uses {
		in := cat.Integrations[u.Integration]
		b := &builder{cat: cat, spec: s, in: in, use: u, plan: p, ds: &ds, warnedRole: map[string]bool{}}
		b.run()
	}
	p.TenantRestrictions = tenantRestrictions(cat, s, p, &ds)
	for _, d := range ds.Warnings() {
		p.Warnings = append(p.Warnings, warningText(d))
	}
	return p, ds
}

func warningText(d diag.Diagnostic) string {
	if d.Subject != "" {
		return d.Subject + ": " + d.Message
	}
	return d.Message
}

type builder struct {
	cat        *catalog.Catalog
	spec       *spec.Spec
	in         *catalog.Integration
	use        *spec.Use
	plan       *model.Plan
	ds         *diag.List
	warnedRole map[string]bool
}

func (b *builder) pos(path ...string) diag.Pos {
	return b.spec.KeyAt(append([]string{"integrations", b.in.ID}, path...)...)
}

func (b *builder) run() {
	b.plan.Integrations = append(b.plan.Integrations, b.in.ID)
	for _, rn := range b.in.RoleNames() {
		if t, ok := b.use.Roles[rn]; ok {
			b.plan.Roles[b.in.ID+"/"+rn] = t
		}
	}
	for _, pn := range b.in.ParamNames() {
		prm := b.in.Params[pn]
		if msg, ok := prm.Warn[prm.Format(b.use.Params[pn])]; ok {
			b.ds.Warnf(b.pos("parameters", pn), b.in.ID, "%s: %s", pn, msg)
		}
	}
	for i := range b.in.Flows {
		f := &b.in.Flows[i]
		if !f.AppliesTo(b.spec.Cloud) {
			b.ds.Warnf(b.pos(), f.ID, "not planned: the catalog defines this flow for %s only, not for cloud %s; check the vendor's documentation for %s", cloudList(f.Clouds), b.spec.Cloud, b.spec.Cloud)
			continue
		}
		if !b.holds(f.Condition) {
			continue
		}
		b.flow(f)
	}
}

func cloudList(cs []model.Cloud) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = string(c)
	}
	return strings.Join(s, ", ")
}

// holds evaluates a condition for this integration's use.
func (b *builder) holds(c model.Condition) bool {
	if c.IsAlways() {
		return true
	}
	var v bool
	if c.Role {
		_, v = b.use.Roles[c.Name]
	} else {
		v = b.use.Params[c.Name].Bool
	}
	return v != c.Negate
}

// side is a resolved endpoint and what it adds to the rule's status.
type side struct {
	target model.Target
	status model.Status
	reason string
	ok     bool
}

func (b *builder) flow(f *model.Flow) {
	sp, ok1 := b.ports(f, f.SourcePorts)
	dp, ok2 := b.ports(f, f.DestPorts)
	src := b.endpoint(f, f.Source)
	if f.Destination.Kind == model.EndpointM365 {
		if ok1 && src.ok {
			b.expandM365(f, src, sp)
		}
		return
	}
	dst := b.endpoint(f, f.Destination)
	if !ok1 || !ok2 || !src.ok || !dst.ok {
		return
	}
	r := b.rule(f, f.ID)
	r.Source, r.Destination = src.target, dst.target
	r.SourcePorts, r.DestPorts = sp, dp
	if p := b.in.Params[f.DestPorts.Param]; p != nil && f.DestPorts.Param != "" {
		r.MinDestPorts = p.MinPorts
	}
	for _, s := range []side{src, dst} {
		if s.status > r.Status {
			r.Status, r.StatusReason = s.status, s.reason
		}
	}
	if !b.families(&r) {
		return
	}
	b.add(r)
}

// families checks that a packet can go from the rule's source to its
// destination: that their addresses share an address family. A catalog
// side that also has host names keeps only those when its addresses do not
// fit (the host names resolve in the other family, or go through a proxy).
// Otherwise a required rule is an error naming both sides, and an optional
// one is left out with a warning: no firewall can express a rule from an
// IPv4 range to an IPv6 address, so every target would have to drop it.
func (b *builder) families(r *model.Rule) bool {
	if model.CommonFamily(r.Source, r.Destination) {
		return true
	}
	for _, t := range []*model.Target{&r.Source, &r.Destination} {
		if t.Role == "" && len(t.Hosts) > 0 && !t.Any && !t.Internet {
			b.ds.Warnf(b.pos(), r.ID, "the addresses of %s share no address family with the other side (%s); the rule goes by its host names only", withFamily(*t), other(r, t).FamilyLabel())
			t.Prefixes = nil
			return true
		}
	}
	at := b.pos()
	for _, t := range []model.Target{r.Destination, r.Source} {
		if t.Role != "" {
			at = b.pos("roles", t.Role, "addresses")
			break
		}
	}
	hint := familyHint(r)
	if r.Required {
		b.ds.Errorf(at, r.ID, "the source %s and the destination %s have no address family in common, so no firewall can express this required flow; %s",
			withFamily(r.Source), withFamily(r.Destination), hint)
		return false
	}
	b.ds.Warnf(at, r.ID, "not planned (optional flow): the source %s and the destination %s have no address family in common; %s",
		withFamily(r.Source), withFamily(r.Destination), hint)
	return false
}

// withFamily describes a target with its address families:
// "bot (2001:db8::10/128, IPv6 only)".
func withFamily(t model.Target) string {
	d := Describe(t, 3)
	if strings.HasSuffix(d, ")") {
		return strings.TrimSuffix(d, ")") + ", " + t.FamilyLabel() + ")"
	}
	return d + " (" + t.FamilyLabel() + ")"
}

func other(r *model.Rule, t *model.Target) model.Target {
	if t == &r.Source {
		return r.Destination
	}
	return r.Source
}

// familyHint says how to give a rule a common address family.
func familyHint(r *model.Rule) string {
	var roles, sets []string
	for _, t := range []model.Target{r.Source, r.Destination} {
		v4, _, _ := t.Families()
		want := "IPv6"
		if !v4 {
			want = "IPv4"
		}
		switch {
		case t.Role != "":
			roles = append(roles, fmt.Sprintf("bind role %s to an %s address as well", t.Role, want))
		case strings.HasPrefix(t.Set, "m365:"):
			sets = append(sets, fmt.Sprintf("Microsoft 365 endpoint set %s has no %s range in the catalog's data", strings.TrimPrefix(t.Set, "m365:"), want))
		case t.Set != "":
			sets = append(sets, fmt.Sprintf("give %s %s prefixes in a catalog overlay (--catalog)", t.Set, want))
		}
	}
	return strings.Join(append(roles, sets...), ", or ")
}

func (b *builder) rule(f *model.Flow, id string) model.Rule {
	return model.Rule{
		ID:           id,
		FlowID:       f.ID,
		Integration:  f.Integration,
		Proto:        f.Proto,
		Action:       f.Action,
		App:          f.App,
		Purpose:      f.Purpose,
		Notes:        f.Notes,
		Condition:    f.Condition,
		Required:     f.Required,
		Status:       f.Status,
		StatusReason: f.StatusReason,
		Reference:    f.Reference,
		Requirements: f.Requirements,
		Hints:        f.Hints,
	}
}

func (b *builder) add(r model.Rule) {
	if r.Status == model.ToBeConfirmed {
		b.ds.Warnf(b.pos(), r.ID, "to be confirmed: %s", r.StatusReason)
	}
	b.plan.Rules = append(b.plan.Rules, r)
}

func (b *builder) ports(f *model.Flow, ref model.PortsRef) (model.PortSet, bool) {
	if ref.Param == "" {
		return ref.Set, true
	}
	v, ok := b.use.Params[ref.Param]
	if !ok {
		b.ds.Errorf(b.pos(), f.ID, "parameter %q has no value", ref.Param)
		return model.PortSet{}, false
	}
	return v.Ports, true
}

func (b *builder) endpoint(f *model.Flow, ep model.Endpoint) side {
	if ep.Narrow != nil && b.holds(ep.NarrowWhen) {
		ep = *ep.Narrow
	}
	switch ep.Kind {
	case model.EndpointAny:
		return side{target: model.Target{Any: true}, ok: true}
	case model.EndpointInternet:
		return side{target: model.Target{Internet: true}, ok: true}
	case model.EndpointHosts:
		return side{target: model.Target{Hosts: ep.Hosts}, ok: true}
	case model.EndpointServiceTag:
		return side{target: model.Target{ServiceTags: []string{ep.Name}}, ok: true}
	case model.EndpointRole:
		return b.role(f, ep.Name)
	case model.EndpointSet:
		v, ok := b.cat.SetValue(ep.Name, b.spec.Cloud)
		if !ok {
			b.ds.Errorf(b.pos(), f.ID, "address set %q has no value for cloud %s; the flow cannot be planned (give the value in a catalog overlay)", ep.Name, b.spec.Cloud)
			return side{}
		}
		reason := v.Note
		if reason == "" {
			reason = fmt.Sprintf("address set %s in cloud %s", ep.Name, b.spec.Cloud)
		}
		return side{
			target: model.Target{Set: ep.Name, Prefixes: v.Prefixes, Hosts: v.Hosts},
			status: v.Status, reason: reason, ok: true,
		}
	}
	b.ds.Errorf(b.pos(), f.ID, "endpoint %s cannot be used here", ep)
	return side{}
}

func (b *builder) role(f *model.Flow, name string) side {
	if t, ok := b.use.Roles[name]; ok {
		return side{target: t, ok: true}
	}
	role := b.in.Roles[name]
	if role != nil && role.Default != nil {
		if !b.warnedRole[name] {
			b.warnedRole[name] = true
			b.ds.Warnf(b.pos(), b.in.ID, "role %q not bound: %s", name, role.DefaultNote)
		}
		s := b.endpoint(f, *role.Default)
		s.target.Role = name
		return s
	}
	at := b.pos("roles")
	b.ds.Errorf(at, b.in.ID, "role %q has no addresses; flow %s needs it (add integrations.%s.roles.%s.addresses)", name, f.ID, b.in.ID, name)
	return side{}
}

// expandM365 turns a flow to a Microsoft 365 service area into one rule per
// endpoint set and protocol, with the set's own ports, addresses and URLs
// (docs/reference/endpoints.md §1: "The ports apply to every ips and urls entry of
// the set").
func (b *builder) expandM365(f *model.Flow, src side, sp model.PortSet) {
	data, ok := b.cat.M365[b.spec.Cloud]
	if !ok {
		b.ds.Errorf(b.pos(), f.ID, "the catalog has no Microsoft 365 endpoint data for cloud %s", b.spec.Cloud)
		return
	}
	sets := m365.Area(data.Sets, f.Destination.Name)
	if len(sets) == 0 {
		b.ds.Errorf(b.pos(), f.ID, "the Microsoft 365 data for cloud %s has no %s endpoint sets", b.spec.Cloud, f.Destination.Name)
		return
	}
	for _, set := range sets {
		hosts, bad := set.Hosts()
		for _, err := range bad {
			b.ds.Warnf(b.pos(), f.ID, "endpoint set %d: %v; not planned, allow it on a target that takes partial wildcards", set.ID, err)
		}
		for _, pp := range []struct {
			proto model.Proto
			ports model.PortSet
		}{{model.ProtoTCP, set.TCPPorts}, {model.ProtoUDP, set.UDPPorts}} {
			if pp.ports.IsEmpty() {
				continue
			}
			r := b.rule(f, fmt.Sprintf("%s.set%d-%s", f.ID, set.ID, pp.proto))
			r.Proto = pp.proto
			r.Source, r.SourcePorts = src.target, sp
			r.Destination = model.Target{
				Set:      fmt.Sprintf("m365:%s:%d", data.Instance, set.ID),
				Prefixes: append([]netip.Prefix(nil), set.IPs...),
				Hosts:    hosts,
			}
			r.DestPorts = pp.ports
			r.Required = f.Required && set.Required
			r.Notes = m365Notes(set)
			if r.Source.Role == "" && src.status > r.Status {
				r.Status, r.StatusReason = src.status, src.reason
			}
			if !b.families(&r) {
				continue
			}
			b.add(r)
		}
	}
}

func m365Notes(s m365.EndpointSet) string {
	n := fmt.Sprintf("Microsoft 365 endpoint set %d (%s, category %s", s.ID, s.ServiceArea, s.Category)
	if s.ExpressRoute {
		n += ", ExpressRoute"
	}
	if !s.Required {
		n += ", optional"
	}
	n += ")"
	if s.Notes != "" {
		n += ": " + s.Notes
	}
	return n
}
