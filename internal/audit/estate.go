package audit

// An estate audit: every security group of an account-wide AWS export
// checked in one run, each against the roles it protects
// (formats/awssg/estate.go reads which from a tag on the group). A host
// with several groups attached is allowed what any of them allows, so each
// role is audited, as --scope ROLE audits it, through the union of the
// groups that name it (ruleset.Config.Attach); the findings of every role
// make one report, each naming its groups. Groups that name no role are
// not audited: what they allow is nothing the plan can judge.
//
// Shadowing is the exception to the union: a rule is reported redundant
// when the other rules of its own group cover it. That holds wherever the
// group is attached; that another group covers it holds only where both
// are attached, which the export does not say, and deleting such a rule
// could break the hosts that have the one group without the other.

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/teamsgate/teamsgate/internal/audit/eval"
	"github.com/teamsgate/teamsgate/internal/audit/ruleset"
	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/suggest"
	"github.com/teamsgate/teamsgate/internal/view"
)

// maxListed is how many groups a message or note lists by name; the JSON
// report's groups fields list every one.
const maxListed = 5

// estate is the state of one estate audit.
type estate struct {
	plan *model.Plan
	cfg  *ruleset.Config
	opt  Options
	rep  *Report
	ds   diag.List
	// groups holds, per role key ("INTEGRATION/ROLE"), the groups that
	// protect it, in file order.
	groups map[string][]*ruleset.Group
	// owner maps every rule of a group, by chain and id, to its group.
	owner map[string]*ruleset.Group
	// checked marks the plan rules a role's audit checked, by id and
	// direction.
	checked map[string]bool
	// defects indexes the merged findings by what identifies a defect.
	defects map[string]int
	// byID finds a group by its id.
	byID map[string]*ruleset.Group
}

// runEstate audits an estate (ruleset.Config.Groups): every role of the
// spec behind the groups through the union of those that name it, and
// every such group for its redundant rules, in one report.
func runEstate(ctx context.Context, p *model.Plan, cfg *ruleset.Config, opt Options) (*Report, diag.List) {
	es := &estate{plan: p, cfg: cfg, opt: opt, groups: map[string][]*ruleset.Group{}, owner: map[string]*ruleset.Group{}, checked: map[string]bool{}, defects: map[string]int{}, byID: map[string]*ruleset.Group{},
		rep: &Report{Format: cfg.Format, Scope: opt.Scope, Cloud: p.Cloud, Catalog: p.CatalogVersion, Notes: append([]string(nil), cfg.Notes...)}}
	unmapped := es.mapGroups()
	roles, ok := es.roles()
	if !ok {
		return nil, es.ds
	}
	var merged []Finding
	for i, key := range roles {
		gs := es.groups[key]
		if len(gs) == 0 {
			continue
		}
		sub := opt
		sub.Scope, sub.NoShadow = key, true
		if opt.Progress != nil {
			sub.Progress = func(stage string, done, total int) {
				opt.Progress(fmt.Sprintf("role %s (%d of %d): %s", key, i+1, len(roles), stage), done, total)
			}
		}
		r, rds := RunContext(ctx, p, cfg.Attach(gs), sub)
		if rds.HasErrors() {
			return nil, rds
		}
		es.ds.Append(rds)
		merged = es.merge(merged, r, key, gs)
	}
	if err := ctx.Err(); err != nil {
		es.ds.Errorf(diag.Pos{}, "", "audit stopped: %v", context.Cause(ctx))
		return nil, es.ds
	}
	if !opt.NoShadow {
		merged = es.shadowed(merged, roles)
	}
	for i := range merged {
		merged[i].Message += es.suffix(merged[i])
	}
	es.rep.Findings = merged
	if opt.Scope == "" {
		es.unchecked()
	}
	es.rep.Notes = append([]string{es.summary(roles)}, es.rep.Notes...)
	if len(unmapped) > 0 {
		es.rep.Notes = append(es.rep.Notes, fmt.Sprintf("%d security groups protect no role of the spec (no tag %s naming one): not audited, so what they allow is not checked for being too open: %s",
			len(unmapped), cfg.RoleTag, groupList(unmapped)))
	}
	es.rep.Notes = dedupe(es.rep.Notes)
	es.rep.sort()
	return es.rep, es.diagnostics()
}

// diagnostics returns the estate's diagnostics, each once: every role's
// audit reports the plan's warnings again.
func (es *estate) diagnostics() diag.List {
	seen := map[string]bool{}
	var out diag.List
	for _, d := range es.ds {
		if k := d.String(); !seen[k] {
			seen[k] = true
			out = append(out, d)
		}
	}
	return out
}

// mapGroups resolves every group's role tag against the spec's roles, and
// returns the groups that protect none. A reference to no role of the
// spec, or to a role marked outside the firewall, is a warning at the tag:
// the same estate may hold the groups of other deployments.
func (es *estate) mapGroups() (unmapped []*ruleset.Group) {
	known := make([]string, 0, len(es.plan.Roles))
	for k := range es.plan.Roles {
		known = append(known, k)
	}
	sort.Strings(known)
	for _, g := range es.cfg.Groups {
		es.byID[g.ID] = g
		for _, ch := range g.Chains {
			for _, l := range ch.Lines {
				es.owner[l.Chain+"\x00"+l.ID] = g
			}
		}
		mapped := false
		for _, ref := range g.Roles {
			keys := es.plan.RoleKeys(ref)
			if len(keys) == 0 {
				es.ds.Warnf(g.RolesPos, g.ID, "tag %s: %q is no role of the spec%s (roles: %s); the group is not audited for it", es.cfg.RoleTag, ref, suggest.Hint(ref, known), strings.Join(known, ", "))
				continue
			}
			for _, k := range keys {
				t := es.plan.Roles[k]
				switch {
				case t.Outside:
					es.ds.Warnf(g.RolesPos, g.ID, "tag %s: role %s is marked outside the audited firewall in the spec; the group is not audited for it", es.cfg.RoleTag, k)
				case len(t.Prefixes) == 0:
					es.ds.Warnf(g.RolesPos, g.ID, "tag %s: role %s is bound to host names only; its hosts' addresses are unknown, so the group is not audited for it", es.cfg.RoleTag, k)
				default:
					if !containsGroup(es.groups[k], g) {
						es.groups[k] = append(es.groups[k], g)
					}
					mapped = true
				}
			}
		}
		if !mapped {
			unmapped = append(unmapped, g)
		}
	}
	return unmapped
}

// roles returns the role keys to audit, sorted: with --scope, the roles it
// names, each of which must have a group; otherwise every role of the spec
// behind the firewall, a role without a group with a warning.
func (es *estate) roles() ([]string, bool) {
	var keys []string
	if es.opt.Scope != "" {
		keys = es.plan.RoleKeys(es.opt.Scope)
		if len(keys) == 0 {
			es.ds.Errorf(diag.Pos{}, "", "--scope %q is no role of the spec", es.opt.Scope)
			return nil, false
		}
		for _, k := range keys {
			if len(es.groups[k]) == 0 {
				es.ds.Errorf(diag.Pos{}, "", "--scope %s: no security group of the export has the tag %s naming role %s", es.opt.Scope, es.cfg.RoleTag, k)
			}
		}
		return keys, !es.ds.HasErrors()
	}
	for k, t := range es.plan.Roles {
		if t.Outside || len(t.Prefixes) == 0 || !es.hasRules(k) {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if len(es.groups[k]) == 0 {
			es.ds.Warnf(diag.Pos{}, "", "role %s: no security group of the export has the tag %s naming it, so its flows are not checked at its hosts (tag its groups, or mark the role outside: true in the spec if it is not behind them)", k, es.cfg.RoleTag)
		}
	}
	return keys, true
}

// hasRules reports whether some rule of the plan has the role as an end.
func (es *estate) hasRules(key string) bool {
	for _, r := range es.plan.Rules {
		if roleKey(r, r.Source) == key || roleKey(r, r.Destination) == key {
			return true
		}
	}
	return false
}

// merge adds one role's report to the estate's: flows and notes as they
// are, with the role and its groups; findings with the groups their rules
// belong to, one finding for the same defect found at several roles (a
// group shared by two roles).
func (es *estate) merge(merged []Finding, r *Report, key string, gs []*ruleset.Group) []Finding {
	ids := groupIDs(gs)
	for _, fl := range r.Flows {
		fl.Role, fl.Groups = key, ids
		es.rep.Flows = append(es.rep.Flows, fl)
		es.checked[fl.ID+"\x00"+fl.Direction] = true
	}
	es.rep.Notes = append(es.rep.Notes, r.Notes...)
	for _, f := range r.Findings {
		f.Roles, f.Groups = []string{key}, es.findingGroups(f, gs)
		// Fingerprinted again in the whole report, where the same rule's
		// findings at two roles are told apart.
		f.Fingerprint = ""
		k := defectKey(f)
		if i, ok := es.defects[k]; ok {
			merged[i].Roles = appendNew(merged[i].Roles, key)
			merged[i].Groups = appendNew(merged[i].Groups, f.Groups...)
			continue
		}
		es.defects[k] = len(merged)
		merged = append(merged, f)
	}
	return merged
}

// shadowed adds the rules that the other rules of their own group cover,
// for every group that protects an audited role.
func (es *estate) shadowed(merged []Finding, roles []string) []Finding {
	var gs []*ruleset.Group
	rolesOf := map[*ruleset.Group][]string{}
	for _, k := range roles {
		for _, g := range es.groups[k] {
			if rolesOf[g] == nil {
				gs = append(gs, g)
			}
			rolesOf[g] = append(rolesOf[g], k)
		}
	}
	for _, g := range gs {
		e, err := eval.Compile(es.cfg.Attach([]*ruleset.Group{g}))
		if err != nil {
			es.ds.Errorf(g.Pos, g.ID, "%v", err)
			continue
		}
		a := &auditor{e: e, plan: es.plan, opt: es.opt, rep: &Report{}}
		a.shadowed()
		for _, f := range a.rep.Findings {
			f.Roles, f.Groups = rolesOf[g], []string{g.ID}
			merged = append(merged, f)
		}
		es.rep.Notes = append(es.rep.Notes, a.rep.Notes...)
	}
	return merged
}

// findingGroups returns the groups whose rules a finding names: the group
// of its rule and of its blocking rules, or, when the rule is the implicit
// deny of the role's union, every group of the role.
func (es *estate) findingGroups(f Finding, gs []*ruleset.Group) []string {
	var out []string
	refs := append([]RuleRef(nil), f.Blocking...)
	if f.Rule != nil {
		refs = append([]RuleRef{*f.Rule}, refs...)
	}
	for _, ref := range refs {
		g := es.owner[ref.Chain+"\x00"+ref.ID]
		if g == nil {
			return groupIDs(gs)
		}
		out = appendNew(out, g.ID)
	}
	if len(out) == 0 {
		return groupIDs(gs)
	}
	return out
}

// suffix names a finding's groups and roles at the end of its message, so
// that the text report, which prints the message, names them too.
func (es *estate) suffix(f Finding) string {
	var gs []*ruleset.Group
	for _, id := range f.Groups {
		gs = append(gs, es.byID[id])
	}
	what := "security group"
	if len(gs) > 1 {
		what += "s"
	}
	role := "role"
	if len(f.Roles) > 1 {
		role += "s"
	}
	return fmt.Sprintf(" [%s %s, protecting %s %s]", what, groupList(gs), role, strings.Join(f.Roles, ", "))
}

// unchecked lists, as skipped flows with the reason, what no role's audit
// checked: a plan rule at an end behind the firewall that no group
// protects, and a rule with no end behind it.
func (es *estate) unchecked() {
	for _, r := range es.plan.Rules {
		src, dst := es.behind(r, r.Source), es.behind(r, r.Destination)
		skip := func(d view.Direction, detail string) {
			if !es.checked[r.ID+"\x00"+d.String()] {
				es.rep.Flows = append(es.rep.Flows, FlowResult{ID: r.ID, Required: r.Required, Action: r.Action.String(), Direction: d.String(), Status: FlowSkipped, Detail: detail})
			}
		}
		unprotected := func(k string) string {
			return fmt.Sprintf("no security group of the export has the tag %s naming role %s, so the flow is not checked at its hosts", es.cfg.RoleTag, k)
		}
		switch {
		case dst != "":
			skip(view.Inbound, unprotected(dst))
		case src == "":
			skip(view.Forward, fmt.Sprintf("neither end is a role behind the audited security groups (%s → %s)", view.SideName(r.Source), view.SideName(r.Destination)))
		}
		if src != "" && src != dst {
			skip(view.Outbound, unprotected(src))
		}
	}
}

// behind returns the role key of a rule side that is a role of the
// deployment behind the firewall (bound to addresses, not outside), or "".
func (es *estate) behind(r model.Rule, t model.Target) string {
	k := roleKey(r, t)
	if rt, ok := es.plan.Roles[k]; !ok || rt.Outside || len(rt.Prefixes) == 0 {
		return ""
	}
	return k
}

// summary is the first note of an estate report: what was audited.
func (es *estate) summary(roles []string) string {
	var parts []string
	for _, k := range roles {
		if n := len(es.groups[k]); n > 0 {
			parts = append(parts, fmt.Sprintf("%s through %d", k, n))
		}
	}
	return fmt.Sprintf("estate audit of %d security groups: each role checked through the union of the groups whose tag %s names it, as for a host with all of them attached (the export does not say which network interface has which groups): %s",
		len(es.cfg.Groups), es.cfg.RoleTag, strings.Join(parts, ", "))
}

// skipOutside records the rules a perimeter view left out because they do
// not cross the firewall (view.Prepared.Outside) as skipped flows.
func (a *auditor) skipOutside(items []view.Item) {
	for _, it := range items {
		r := it.Rule
		a.rep.Flows = append(a.rep.Flows, FlowResult{ID: r.ID, Required: r.Required, Action: r.Action.String(), Direction: it.Dir.String(), Status: FlowSkipped,
			Detail: fmt.Sprintf("does not cross the audited firewall: neither end (%s → %s) is behind it, and the spec marks one outside", view.SideName(r.Source), view.SideName(r.Destination))})
	}
}

// roleKey returns the plan role key of a rule side, or "".
func roleKey(r model.Rule, t model.Target) string {
	if t.Role == "" {
		return ""
	}
	return r.Integration + "/" + t.Role
}

// defectKey identifies a finding's defect across the roles' reports: the
// same kind, flow, direction, rule and message is the same defect, found
// at two roles a group protects.
func defectKey(f Finding) string {
	return strings.Join([]string{string(f.Kind), f.Flow, f.Direction, ruleKey(f.Rule), f.Message}, "\x00")
}

func groupIDs(gs []*ruleset.Group) []string {
	out := make([]string, len(gs))
	for i, g := range gs {
		out[i] = g.ID
	}
	return out
}

// groupList names groups for people: the first few, and how many more.
func groupList(gs []*ruleset.Group) string {
	var names []string
	for i, g := range gs {
		if i == maxListed {
			names = append(names, fmt.Sprintf("and %d more", len(gs)-maxListed))
			break
		}
		names = append(names, g.Label())
	}
	return strings.Join(names, ", ")
}

func containsGroup(gs []*ruleset.Group, g *ruleset.Group) bool {
	for _, x := range gs {
		if x == g {
			return true
		}
	}
	return false
}

func appendNew(ss []string, add ...string) []string {
	for _, s := range add {
		found := false
		for _, x := range ss {
			if x == s {
				found = true
				break
			}
		}
		if !found {
			ss = append(ss, s)
		}
	}
	return ss
}

func dedupe(ss []string) []string {
	seen := map[string]bool{}
	out := ss[:0:0]
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
