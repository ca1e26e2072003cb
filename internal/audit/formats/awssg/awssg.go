// Package awssg reads `aws ec2 describe-security-groups` output into the
// audit model.
//
// Semantics from the EC2 documentation ("Security group rules"): security
// groups are stateful and allow-only; an instance's traffic is allowed when
// any rule of any of its groups allows it (the order of rules does not
// matter), and everything else is denied. Each group of the file is taken
// as attached to the audited hosts unless Options.Groups selects some, or
// Options.RoleTag reads the file as an estate of groups each attached to
// the hosts of the roles its tag names (estate.go). A
// rule that references another security group or a managed prefix list
// matches the members of that group or list, which the output does not
// hold: such rules are reported as unresolvable unless Options.Members
// gives them. An IpPermissionsEgress that is absent (not merely empty)
// stands for the default egress rule AWS creates with every group: all
// traffic to 0.0.0.0/0.
package awssg

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/teamsgate/teamsgate/internal/audit/packet"
	"github.com/teamsgate/teamsgate/internal/audit/ruleset"
	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/jsonpos"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/view"
)

// Options are what the parser needs besides the file.
type Options struct {
	// Members gives the addresses behind security group ids ("sg-…") and
	// prefix list ids ("pl-…").
	Members map[string][]netip.Prefix
	// Groups selects the groups attached to the audited hosts, by id or
	// name; empty means every group in the file.
	Groups []string
	// RoleTag, when set, reads the file as an estate (estate.go): every
	// group kept apart, in Config.Groups, with the roles the value of its
	// tag RoleTag names; the auditor checks each role through the union of
	// its groups. Groups must then be empty.
	RoleTag string
}

var groupFields = []string{"Description", "GroupId", "GroupName", "IpPermissions", "IpPermissionsEgress", "OwnerId", "Tags", "VpcId", "SecurityGroupArn"}

var permFields = []string{"IpProtocol", "FromPort", "ToPort", "IpRanges", "Ipv6Ranges", "PrefixListIds", "UserIdGroupPairs"}

type parser struct {
	ds  diag.List
	opt Options
	cfg *ruleset.Config
	in  *ruleset.Chain
	out *ruleset.Chain
}

// Parse reads describe-security-groups JSON (an object with
// SecurityGroups, or a bare array of groups).
func Parse(data []byte, opt Options) (*ruleset.Config, diag.List) {
	root, ds := jsonpos.Parse(data)
	if ds.HasErrors() {
		return nil, ds
	}
	p := &parser{opt: opt}
	groups := root
	if root.Kind == jsonpos.Object {
		groups = root.Get("SecurityGroups")
		for _, f := range root.Unknown("SecurityGroups", "NextToken") {
			p.ds.Warnf(f.Value.Pos, f.Value.Path, "unknown field %q ignored", f.Key)
		}
	}
	if groups == nil || groups.Kind != jsonpos.Array {
		p.ds.Errorf(root.Pos, root.Path, "not describe-security-groups output: no SecurityGroups array")
		return nil, p.ds
	}
	p.cfg = &ruleset.Config{Format: "aws-sg", Directional: true, NoSourcePorts: true, Families: ruleset.FamilyBoth, Paths: map[view.Direction][]*ruleset.Chain{}}
	p.in = &ruleset.Chain{Name: "ingress", Hook: "inbound", Family: ruleset.FamilyBoth, Union: true, Pos: groups.Pos}
	p.out = &ruleset.Chain{Name: "egress", Hook: "outbound", Family: ruleset.FamilyBoth, Union: true, Pos: groups.Pos}
	selected := 0
	found := map[string]bool{}
	for _, g := range groups.Items {
		if g.Kind != jsonpos.Object {
			p.ds.Errorf(g.Pos, g.Path, "a security group must be an object, not %s", g.Describe())
			continue
		}
		id, name := str(g.Get("GroupId")), str(g.Get("GroupName"))
		if id == "" {
			p.ds.Errorf(g.Pos, g.Path, "security group without GroupId")
			continue
		}
		if !p.wanted(id, name, found) {
			continue
		}
		selected++
		if opt.RoleTag != "" {
			p.estateGroup(g, id, name)
			continue
		}
		p.group(g, id)
	}
	for _, want := range opt.Groups {
		if !found[want] {
			p.ds.Errorf(groups.Pos, want, "security group %q is not in the file", want)
		}
	}
	if selected == 0 && len(opt.Groups) == 0 {
		p.ds.Errorf(groups.Pos, groups.Path, "the file holds no security group")
	}
	if opt.RoleTag != "" {
		p.estate(groups)
		return p.cfg, p.ds
	}
	for _, ch := range []*ruleset.Chain{p.in, p.out} {
		ch.Policy = &ruleset.Line{ID: ch.Name + " (no rule allows it)", Chain: ch.Name, Action: ruleset.Drop, Default: true, Matches: []ruleset.Match{ruleset.NewMatch()}}
		for i, l := range ch.Lines {
			l.Index = i + 1
			l.Chain = ch.Name
		}
	}
	p.cfg.Chains = []*ruleset.Chain{p.in, p.out}
	p.cfg.Paths[view.Inbound] = []*ruleset.Chain{p.in}
	p.cfg.Paths[view.Outbound] = []*ruleset.Chain{p.out}
	if selected > 1 {
		p.cfg.Notes = append(p.cfg.Notes, fmt.Sprintf("the rules of %d security groups are audited as one union, as for an instance that has all of them attached (select groups with --sg)", selected))
	}
	return p.cfg, p.ds
}

// ParseFile reads and parses a describe-security-groups file.
func ParseFile(name string, opt Options) (*ruleset.Config, diag.List) {
	b, err := os.ReadFile(name)
	if err != nil {
		var ds diag.List
		ds.Errorf(diag.Pos{File: name}, "", "cannot read: %s", diag.FileReason(err))
		return nil, ds
	}
	c, ds := Parse(b, opt)
	return c, ds.WithFile(name)
}

func (p *parser) wanted(id, name string, found map[string]bool) bool {
	if len(p.opt.Groups) == 0 {
		return true
	}
	for _, w := range p.opt.Groups {
		if w == id || w == name {
			found[w] = true
			return true
		}
	}
	return false
}

func str(v *jsonpos.Value) string {
	if v == nil || v.Kind != jsonpos.String {
		return ""
	}
	return v.Str
}

func (p *parser) group(g *jsonpos.Value, id string) {
	for _, f := range g.Unknown(groupFields...) {
		p.ds.Warnf(f.Value.Pos, f.Value.Path, "unknown field %q ignored", f.Key)
	}
	for _, dir := range []struct {
		key   string
		chain *ruleset.Chain
		label string
	}{{"IpPermissions", p.in, "ingress"}, {"IpPermissionsEgress", p.out, "egress"}} {
		perms := g.Get(dir.key)
		if perms == nil {
			if dir.key == "IpPermissionsEgress" {
				m := ruleset.NewMatch()
				m.Dst = packet.V4Addrs()
				dir.chain.Lines = append(dir.chain.Lines, &ruleset.Line{ID: id + " egress (default rule)", Text: "-1 to 0.0.0.0/0 (the default egress rule, implied)", Pos: g.Pos, Action: ruleset.Accept, Default: true, Matches: []ruleset.Match{m}})
				p.cfg.Notes = append(p.cfg.Notes, fmt.Sprintf("%s has no IpPermissionsEgress; AWS's default egress rule (all traffic to 0.0.0.0/0) is implied", id))
			}
			continue
		}
		if perms.Kind != jsonpos.Array {
			p.ds.Errorf(perms.Pos, perms.Path, "%s must be an array, not %s", dir.key, perms.Describe())
			continue
		}
		for i, perm := range perms.Items {
			p.permission(perm, fmt.Sprintf("%s %s#%d", id, dir.label, i+1), dir.chain, dir.label == "ingress")
		}
	}
}

func (p *parser) permission(perm *jsonpos.Value, id string, ch *ruleset.Chain, ingress bool) {
	if perm.Kind != jsonpos.Object {
		p.ds.Errorf(perm.Pos, id, "a permission must be an object, not %s", perm.Describe())
		return
	}
	for _, f := range perm.Unknown(permFields...) {
		p.ds.Warnf(f.Value.Pos, f.Value.Path, "unknown field %q ignored", f.Key)
	}
	errs := len(p.ds.Errors())
	m := ruleset.NewMatch()
	pv := perm.Get("IpProtocol")
	proto := strings.ToLower(str(pv))
	if pv != nil && pv.Kind == jsonpos.Number {
		proto = pv.Str
	}
	from, hasFrom := perm.Get("FromPort").Int()
	to, hasTo := perm.Get("ToPort").Int()
	portText := ""
	switch proto {
	case "-1", "all":
		m.Proto = packet.AllProtos()
	case "tcp", "udp", "6", "17":
		n, _ := packet.ParseProtoName(proto)
		m.Proto = packet.Protos(n)
		if !hasFrom || !hasTo || from < 0 || to > 65535 || from > to {
			p.ds.Errorf(perm.Pos, id, "%s needs FromPort and ToPort within 0-65535, FromPort <= ToPort", proto)
			return
		}
		m.DPort = model.NewPortSet(model.PortRange{First: uint16(from), Last: uint16(to)})
		portText = " port " + m.DPort.String()
	case "icmp", "icmpv6", "1", "58":
		n, _ := packet.ParseProtoName(proto)
		m.Proto = packet.Protos(n)
		// FromPort is the ICMP type and ToPort the code; -1 means all.
		switch {
		case !hasFrom || from < 0:
		case from > 255 || to > 255:
			p.ds.Errorf(perm.Pos, id, "ICMP type %d or code %d out of range", from, to)
			return
		case !hasTo || to < 0:
			m.DPort = model.NewPortSet(model.PortRange{First: uint16(from) << 8, Last: uint16(from)<<8 | 255})
		default:
			m.DPort = model.NewPortSet(model.Port(uint16(from)<<8 | uint16(to)))
		}
		if hasFrom && from >= 0 {
			portText = fmt.Sprintf(" type %d code %d", from, to)
		}
	default:
		n, err := strconv.ParseUint(proto, 10, 8)
		name, ok := packet.ParseProtoName(proto)
		switch {
		case err == nil:
			m.Proto = packet.Protos(uint8(n))
		case ok:
			m.Proto = packet.Protos(name)
		default:
			p.ds.Errorf(posOrPerm(pv, perm), id, "IpProtocol must be tcp, udp, icmp, icmpv6, -1 or a protocol number, not %s", pv.Describe())
			return
		}
	}
	side := "from"
	if !ingress {
		side = "to"
	}
	var ps []netip.Prefix
	var srcTexts, descs []string
	for _, r := range []struct{ key, field string }{{"IpRanges", "CidrIp"}, {"Ipv6Ranges", "CidrIpv6"}} {
		for _, it := range p.items(perm, r.key, id) {
			if d := str(it.Get("Description")); d != "" && !contains(descs, d) {
				descs = append(descs, d)
			}
			c := it.Get(r.field)
			pf, err := netip.ParsePrefix(str(c))
			if err != nil {
				p.ds.Errorf(posOrPerm(c, it), id, "%s.%s: %v", r.key, r.field, err)
				continue
			}
			ps = append(ps, pf.Masked())
			srcTexts = append(srcTexts, pf.String())
		}
	}
	if len(p.ds.Errors()) > errs {
		return
	}
	head := proto + " " + side
	add := func(suffix string, set packet.AddrSet, unresolved []string, text string) {
		mm := m
		if ingress {
			mm.Src = set
		} else {
			mm.Dst = set
		}
		ch.Lines = append(ch.Lines, &ruleset.Line{
			ID: id + suffix, Text: fmt.Sprintf("%s %s%s", head, text, portText), Pos: perm.Pos,
			Action: ruleset.Accept, Matches: []ruleset.Match{mm}, Unresolved: unresolved, Comment: strings.Join(descs, "; "),
		})
	}
	if len(ps) > 0 {
		add("", packet.AddrSetOf(ps...), nil, strings.Join(srcTexts, ","))
	}
	for _, it := range p.items(perm, "PrefixListIds", id) {
		ref := str(it.Get("PrefixListId"))
		p.reference(ref, "prefix list", it, id, add)
	}
	for _, it := range p.items(perm, "UserIdGroupPairs", id) {
		ref := str(it.Get("GroupId"))
		p.reference(ref, "security group", it, id, add)
	}
}

func (p *parser) reference(ref, kind string, it *jsonpos.Value, id string, add func(string, packet.AddrSet, []string, string)) {
	if ref == "" {
		p.ds.Errorf(it.Pos, id, "%s reference without an id", kind)
		return
	}
	if members, ok := p.opt.Members[ref]; ok {
		add(" "+ref, packet.AddrSetOf(members...), nil, ref)
		return
	}
	add(" "+ref, packet.AllAddrs(), []string{fmt.Sprintf("%s %s: its members are not in the output (give --sg-members %s=CIDR,...)", kind, ref, ref)}, ref)
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func posOrPerm(v, perm *jsonpos.Value) diag.Pos {
	if v != nil {
		return v.Pos
	}
	return perm.Pos
}

func (p *parser) items(perm *jsonpos.Value, key, id string) []*jsonpos.Value {
	v := perm.Get(key)
	if v.IsNull() {
		return nil
	}
	if v.Kind != jsonpos.Array {
		p.ds.Errorf(v.Pos, id, "%s must be an array, not %s", key, v.Describe())
		return nil
	}
	var out []*jsonpos.Value
	for _, it := range v.Items {
		if it.Kind != jsonpos.Object {
			p.ds.Errorf(it.Pos, id, "%s entries must be objects, not %s", key, it.Describe())
			continue
		}
		out = append(out, it)
	}
	return out
}
