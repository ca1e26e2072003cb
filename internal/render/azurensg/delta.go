package azurensg

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/teamsgate/teamsgate/internal/render"
)

// DeltaFileName is the name of the file Delta writes.
const DeltaFileName = "nsg-delta.sh"

var _ render.Deltaer = (*Renderer)(nil)

// maxReasons is how many rules an ErrFullRender error names before it
// counts the rest: a shift of priorities touches every rule after it.
const maxReasons = 8

// rendered is a parsed nsg.json: its header comment lines, the NSG's
// default name and its security rules in template order, with an index by
// lower-case name (Azure treats rule names case-insensitively: "Network
// security groups", security rules, "Name: a unique name within the
// network security group").
type rendered struct {
	header  []string
	nsgName string
	rules   []armRule
	byName  map[string]*armRule
}

// ruleUpdate is one `az network nsg rule update`: the rule, and the
// options to give, each followed by its values, already quoted.
type ruleUpdate struct {
	rule armRule // the new render's rule
	opts []string
}

// changes is what the delta script does, in its order.
type changes struct {
	creates []armRule
	updates []ruleUpdate
	deletes []armRule
}

// Delta implements render.Deltaer: an az script that changes the NSG the
// old render configured into the new render's rules in place. It creates
// the rules only in new, updates the address lists, port ranges and
// descriptions of rules in both, and deletes the allows only in old, in
// that order, so that nothing is taken away before what replaces it is in:
// a create adds, an update PUTs the rule with its whole new list in one
// request (no moment with neither list), and a delete comes only once
// every create and update has succeeded.
//
// It wraps render.ErrFullRender when the change is not of that kind:
//
//   - a rule in both renders whose priority, direction, access or protocol
//     changed: priorities move together (a rule added before others shifts
//     them all), and moving them one by one in place would collide with the
//     rules not yet moved; a changed access or protocol changes what the
//     rule means, not which addresses it names;
//   - a rule only in new whose priority and direction a rule of old holds:
//     Azure refuses two rules with the same priority and direction
//     (SecurityRuleConflict), and the old rule goes only after the creates;
//   - a deny only in old: deleting it lets through what it denied;
//   - a default deny (priority denyAllPriority) that is not the same in
//     both renders: nsg.sh creates it only after every allow, and a delta
//     never takes it away.
func (r *Renderer) Delta(old, new render.Output) (render.Output, error) {
	o, err := parseRendered(old.Files[TemplateFile])
	if err != nil {
		return render.Output{}, fmt.Errorf("the old render: %w", err)
	}
	n, err := parseRendered(new.Files[TemplateFile])
	if err != nil {
		return render.Output{}, fmt.Errorf("the new render: %w", err)
	}
	if o.nsgName != n.nsgName {
		return render.Output{}, fmt.Errorf("the renders are of different NSGs (%s and %s): render both with the same spec and options", o.nsgName, n.nsgName)
	}
	c, err := diffRules(o, n)
	if err != nil {
		return render.Output{}, err
	}
	return render.Output{Files: map[string][]byte{DeltaFileName: deltaScript(o, n, c)}}, nil
}

// parseRendered reads an nsg.json that Render wrote.
func parseRendered(data []byte) (*rendered, error) {
	if data == nil {
		return nil, fmt.Errorf("no %s", TemplateFile)
	}
	var t armTemplate
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, fmt.Errorf("%s: %w", TemplateFile, err)
	}
	if len(t.Resources) != 1 || t.Resources[0].Type != "Microsoft.Network/networkSecurityGroups" {
		return nil, fmt.Errorf("%s: not a teamsgate azure-nsg render: want one Microsoft.Network/networkSecurityGroups resource", TemplateFile)
	}
	if t.Parameters.NSGName.DefaultValue == "" {
		return nil, fmt.Errorf("%s: no default for the nsgName parameter", TemplateFile)
	}
	r := &rendered{
		header:  t.Metadata.Comments,
		nsgName: t.Parameters.NSGName.DefaultValue,
		rules:   t.Resources[0].Properties.SecurityRules,
		byName:  map[string]*armRule{},
	}
	for i := range r.rules {
		x := &r.rules[i]
		p := x.Properties
		key := strings.ToLower(x.Name)
		if _, dup := r.byName[key]; dup {
			return nil, fmt.Errorf("%s: rule name %s twice", TemplateFile, x.Name)
		}
		// The script writes direction and access unquoted, as nsg.sh
		// does: only the values Azure knows get there.
		if p.Direction != inbound && p.Direction != outbound || p.Access != "Allow" && p.Access != "Deny" {
			return nil, fmt.Errorf("%s: rule %s: direction %q, access %q", TemplateFile, x.Name, p.Direction, p.Access)
		}
		if len(x.src()) == 0 || len(x.dst()) == 0 || len(x.srcPorts()) == 0 || len(x.dstPorts()) == 0 {
			return nil, fmt.Errorf("%s: rule %s lacks an address or a port range", TemplateFile, x.Name)
		}
		r.byName[key] = x
	}
	return r, nil
}

// values is a property as one list: the singular value alone, or the
// plural list (the template gives one or the other, see one).
func values(single string, plural []string) []string {
	if single != "" {
		return []string{single}
	}
	return plural
}

func (r *armRule) src() []string {
	return values(r.Properties.SourceAddressPrefix, r.Properties.SourceAddressPrefixes)
}

func (r *armRule) dst() []string {
	return values(r.Properties.DestinationAddressPrefix, r.Properties.DestinationAddressPrefixes)
}

func (r *armRule) srcPorts() []string {
	return values(r.Properties.SourcePortRange, r.Properties.SourcePortRanges)
}

func (r *armRule) dstPorts() []string {
	return values(r.Properties.DestinationPortRange, r.Properties.DestinationPortRanges)
}

// defaultDeny reports whether a rule is a rendered default deny: prioritise
// gives denyAllPriority to those and to nothing else.
func (r *armRule) defaultDeny() bool { return r.Properties.Priority == denyAllPriority }

func (r *armRule) place() string {
	return fmt.Sprintf("%s priority %d", strings.ToLower(r.Properties.Direction), r.Properties.Priority)
}

// diffRules compares the renders rule by rule. Two names that differ only
// in case are one rule to Azure: the rule keeps the name it has.
func diffRules(o, n *rendered) (changes, error) {
	var c changes
	var reasons []string
	for i := range n.rules {
		nr := &n.rules[i]
		or := o.byName[strings.ToLower(nr.Name)]
		if or == nil {
			if nr.defaultDeny() {
				reasons = append(reasons, fmt.Sprintf("the default deny %s is only in the new render", nr.Name))
				continue
			}
			if held := holder(o, nr); held != nil {
				reasons = append(reasons, fmt.Sprintf("the new rule %s takes the %s of %s (Azure holds one rule per priority and direction)", nr.Name, nr.place(), held.Name))
				continue
			}
			c.creates = append(c.creates, *nr)
			continue
		}
		if fixed := fixedChanges(or, nr); len(fixed) > 0 {
			reasons = append(reasons, fmt.Sprintf("rule %s: %s", nr.Name, strings.Join(fixed, ", ")))
			continue
		}
		opts := updateOptions(or, nr)
		if len(opts) == 0 {
			continue
		}
		if nr.defaultDeny() {
			reasons = append(reasons, fmt.Sprintf("the default deny %s changed", nr.Name))
			continue
		}
		c.updates = append(c.updates, ruleUpdate{rule: *nr, opts: opts})
	}
	for i := range o.rules {
		or := &o.rules[i]
		if n.byName[strings.ToLower(or.Name)] != nil {
			continue
		}
		switch {
		case or.defaultDeny():
			reasons = append(reasons, fmt.Sprintf("the default deny %s is only in the old render", or.Name))
		case or.Properties.Access != "Allow":
			reasons = append(reasons, fmt.Sprintf("the deny %s is only in the old render (deleting it lets through what it denies)", or.Name))
		default:
			c.deletes = append(c.deletes, *or)
		}
	}
	if len(reasons) > 0 {
		if len(reasons) > maxReasons {
			reasons = append(reasons[:maxReasons], fmt.Sprintf("and %d more", len(reasons)-maxReasons))
		}
		return changes{}, fmt.Errorf("%w: %s", render.ErrFullRender, strings.Join(reasons, "; "))
	}
	return c, nil
}

// holder returns the rule of old at the priority and direction of r, or
// nil.
func holder(old *rendered, r *armRule) *armRule {
	for i := range old.rules {
		x := &old.rules[i]
		if x.Properties.Priority == r.Properties.Priority && x.Properties.Direction == r.Properties.Direction {
			return x
		}
	}
	return nil
}

// fixedChanges names the changes a delta does not make to a rule in place.
func fixedChanges(o, n *armRule) []string {
	var out []string
	op, np := o.Properties, n.Properties
	if op.Priority != np.Priority {
		out = append(out, fmt.Sprintf("priority %d → %d", op.Priority, np.Priority))
	}
	for _, f := range []struct{ what, o, n string }{
		{"direction", op.Direction, np.Direction},
		{"access", op.Access, np.Access},
		{"protocol", op.Protocol, np.Protocol},
	} {
		if f.o != f.n {
			out = append(out, fmt.Sprintf("%s %s → %s", f.what, f.o, f.n))
		}
	}
	return out
}

// updateOptions returns the options of `az network nsg rule update` that
// turn rule o into n, or none when they are the same. The update reads the
// rule and PUTs it with the given lists in place of the rule's own, whole
// (azure-cli's NSGRuleUpdate, network module operations/nsg.py: it moves
// a singular property into its list, sets the list given, and makes a
// one-element list singular again), so each list given is the full new
// one. Both address lists are given when either changed: the rule is
// written with both as the new render has them.
func updateOptions(o, n *armRule) []string {
	var opts []string
	if !slices.Equal(o.src(), n.src()) || !slices.Equal(o.dst(), n.dst()) {
		opts = append(opts,
			"--source-address-prefixes "+quoteAll(n.src()),
			"--destination-address-prefixes "+quoteAll(n.dst()))
	}
	if !slices.Equal(o.srcPorts(), n.srcPorts()) {
		opts = append(opts, "--source-port-ranges "+quoteAll(n.srcPorts()))
	}
	if !slices.Equal(o.dstPorts(), n.dstPorts()) {
		opts = append(opts, "--destination-port-ranges "+quoteAll(n.dstPorts()))
	}
	if o.Properties.Description != n.Properties.Description {
		opts = append(opts, "--description "+quote(n.Properties.Description))
	}
	return opts
}

// deltaScript writes the changes as Azure CLI commands.
func deltaScript(o, n *rendered, c changes) []byte {
	var b strings.Builder
	prefix := "teamsgate " + Name + " configuration: "
	b.WriteString("#!/usr/bin/env bash\n")
	b.WriteString("# teamsgate " + Name + " delta\n")
	b.WriteString("# from: " + oneLine(strings.TrimPrefix(firstLine(o.header), prefix)) + "\n")
	b.WriteString("# to:   " + oneLine(strings.TrimPrefix(firstLine(n.header), prefix)) + "\n")
	b.WriteString(`#
# Usage: RESOURCE_GROUP=my-rg [NSG_NAME=` + n.nsgName + `] bash ` + DeltaFileName + `
# Changes, in place, the NSG that the "from" render configured (with ` + ScriptFile + ` or
# ` + TemplateFile + `) into the "to" render's rules. Rules of the NSG that neither render
# has stay.
# Rules: ` + strconv.Itoa(len(c.creates)) + ` created, ` + strconv.Itoa(len(c.updates)) + ` updated, ` + strconv.Itoa(len(c.deletes)) + ` deleted.
#
# Order: the script stops, changing nothing, unless az network nsg show finds
# the NSG; then it creates the new rules, updates the address lists, port
# ranges and descriptions of the changed ones (each update writes the rule
# with its whole new lists at once), and deletes the allows the new render
# dropped last, so that nothing is taken away before what replaces it is in.
# The default denies at priority ` + strconv.Itoa(denyAllPriority) + ` stay as they are. The script stops at the
# first error; running it again is safe (deleting a rule that is already
# gone succeeds).
set -euo pipefail

rg="${RESOURCE_GROUP:?set RESOURCE_GROUP to the resource group of the NSG}"
nsg="${NSG_NAME:-` + n.nsgName + `}"
`)
	if len(c.creates)+len(c.updates)+len(c.deletes) == 0 {
		b.WriteString("\n# No rule changes: the NSG the old render configured already holds the new render's rules.\n")
		return []byte(b.String())
	}
	b.WriteString(`
show_status=0
show_err="$(az network nsg show --resource-group "$rg" --name "$nsg" --output none 2>&1 >/dev/null)" || show_status=$?
if [[ $show_status -ne 0 ]]; then
  printf '%s\n' "$show_err" >&2
  if [[ $show_status -eq 3 && $show_err == *ResourceNotFound* ]]; then
    echo "` + DeltaFileName + `: stopped: NSG $nsg does not exist in resource group $rg; this delta changes the NSG the old render configured (configure a new NSG with ` + ScriptFile + ` or ` + TemplateFile + ` of the new render); nothing was changed" >&2
  else
    echo "` + DeltaFileName + `: stopped: cannot tell whether NSG $nsg exists in resource group $rg (az network nsg show exited $show_status); nothing was changed" >&2
  fi
  exit 1
fi
trap 'echo "` + DeltaFileName + `: stopped: a command failed; rules are deleted only after every create and update" >&2' ERR
`)
	for _, r := range c.creates {
		p := r.Properties
		b.WriteString("\n# " + oneLine(p.Description) + "\n")
		fmt.Fprintf(&b, "az network nsg rule create --resource-group \"$rg\" --nsg-name \"$nsg\" --name %s \\\n", quote(r.Name))
		fmt.Fprintf(&b, "  --priority %d --direction %s --access %s --protocol %s \\\n", p.Priority, p.Direction, p.Access, quote(p.Protocol))
		fmt.Fprintf(&b, "  --source-address-prefixes %s --source-port-ranges %s \\\n", quoteAll(r.src()), quoteAll(r.srcPorts()))
		fmt.Fprintf(&b, "  --destination-address-prefixes %s --destination-port-ranges %s \\\n", quoteAll(r.dst()), quoteAll(r.dstPorts()))
		fmt.Fprintf(&b, "  --description %s --output none\n", quote(p.Description))
	}
	for _, u := range c.updates {
		b.WriteString("\n# " + oneLine(u.rule.Properties.Description) + "\n")
		fmt.Fprintf(&b, "az network nsg rule update --resource-group \"$rg\" --nsg-name \"$nsg\" --name %s \\\n", quote(u.rule.Name))
		for _, o := range u.opts {
			b.WriteString("  " + o + " \\\n")
		}
		b.WriteString("  --output none\n")
	}
	for _, r := range c.deletes {
		b.WriteString("\n# " + oneLine(r.Properties.Description) + "\n")
		fmt.Fprintf(&b, "az network nsg rule delete --resource-group \"$rg\" --nsg-name \"$nsg\" --name %s --output none\n", quote(r.Name))
	}
	return []byte(b.String())
}

func firstLine(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return lines[0]
}
