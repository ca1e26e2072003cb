package awssg

// An estate is an account-wide describe-security-groups export read as
// what it is: many groups, each attached to its own hosts. Which roles of
// the deployment a group protects is the value of a tag on the group (the
// spec's audit.aws.role_tag): role references as --scope takes them,
// "INTEGRATION/ROLE" or "ROLE", separated by spaces, since a group may
// protect several roles and AWS allows one value per tag key. The tag
// lives with the group, where Terraform or CloudFormation manage it, so a
// new group for a role is audited without editing the spec. Attachments
// (which network interface has which groups) are not in a
// describe-security-groups export; the groups one role names are taken as
// attached together to each of its hosts.

import (
	"strings"

	"github.com/teamsgate/teamsgate/internal/audit/ruleset"
	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/jsonpos"
	"github.com/teamsgate/teamsgate/internal/view"
)

var tagFields = []string{"Key", "Value"}

// estateGroup lowers one group of an estate into its own chains.
func (p *parser) estateGroup(g *jsonpos.Value, id, name string) {
	p.in = &ruleset.Chain{Name: "ingress", Hook: "inbound", Family: ruleset.FamilyBoth, Union: true, Pos: g.Pos}
	p.out = &ruleset.Chain{Name: "egress", Hook: "outbound", Family: ruleset.FamilyBoth, Union: true, Pos: g.Pos}
	notes := len(p.cfg.Notes)
	p.group(g, id)
	grp := &ruleset.Group{ID: id, Name: name, Pos: g.Pos,
		Chains: map[view.Direction]*ruleset.Chain{view.Inbound: p.in, view.Outbound: p.out},
		Notes:  append([]string(nil), p.cfg.Notes[notes:]...)}
	p.cfg.Notes = p.cfg.Notes[:notes]
	for _, ch := range []*ruleset.Chain{p.in, p.out} {
		for i, l := range ch.Lines {
			l.Index = i + 1
			l.Chain = id + " " + ch.Name
		}
	}
	grp.Roles, grp.RolesPos = p.roleTag(g, id)
	p.cfg.Groups = append(p.cfg.Groups, grp)
	p.cfg.Chains = append(p.cfg.Chains, p.in, p.out)
}

// roleTag returns the role references of a group's role tag, and where
// the tag's value is.
func (p *parser) roleTag(g *jsonpos.Value, id string) ([]string, diag.Pos) {
	for _, t := range p.items(g, "Tags", id) {
		for _, f := range t.Unknown(tagFields...) {
			p.ds.Warnf(f.Value.Pos, f.Value.Path, "unknown field %q ignored", f.Key)
		}
		k, v := t.Get("Key"), t.Get("Value")
		if k == nil || k.Kind != jsonpos.String {
			p.ds.Errorf(posOrPerm(k, t), id, "a tag's Key must be a string, not %s", k.Describe())
			continue
		}
		if k.Str != p.opt.RoleTag {
			continue
		}
		if v == nil || v.Kind != jsonpos.String {
			p.ds.Errorf(posOrPerm(v, t), id, "tag %s: Value must be a string, not %s", k.Str, v.Describe())
			return nil, t.Pos
		}
		return strings.Fields(v.Str), v.Pos
	}
	return nil, g.Pos
}

// estate finishes an estate: no base chains (the auditor attaches groups
// per role), and an error when no group carries the role tag, since then
// nothing of the deployment would be checked.
func (p *parser) estate(groups *jsonpos.Value) {
	p.cfg.Chains = p.cfg.Chains[:0:0]
	p.cfg.Paths = map[view.Direction][]*ruleset.Chain{}
	p.cfg.RoleTag = p.opt.RoleTag
	tagged := 0
	for _, g := range p.cfg.Groups {
		p.cfg.Chains = append(p.cfg.Chains, g.Chains[view.Inbound], g.Chains[view.Outbound])
		if len(g.Roles) > 0 {
			tagged++
		}
	}
	if tagged == 0 && len(p.cfg.Groups) > 0 {
		p.ds.Errorf(groups.Pos, groups.Path, "no security group carries the tag %q that names the roles it protects (the spec's audit.aws.role_tag): tag the groups of the deployment's roles (value INTEGRATION/ROLE, several separated by spaces), or select the groups of one host with --sg", p.opt.RoleTag)
	}
}
