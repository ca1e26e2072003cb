// Package azurensg renders a plan as an Azure network security group: an
// ARM template holding one Microsoft.Network/networkSecurityGroups resource
// and the same rules as an `az network nsg rule create` script. See
// README.md.
package azurensg

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"go4.org/netipx"

	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/render"
	"github.com/teamsgate/teamsgate/internal/view"
)

// Name is the target's name on the command line.
const Name = "azure-nsg"

// The rendered files.
const (
	TemplateFile = "nsg.json"
	ScriptFile   = "nsg.sh"
)

// APIVersion is the Microsoft.Network API version of the template's
// resource, the one the armnetwork v7 SDK models.
const APIVersion = "2025-01-01"

// NSG limits. Priorities, names and descriptions: Microsoft Learn, "Network
// security groups" (security rules table) and the REST reference of
// SecurityRule ("description: restricted to 140 chars"). Address counts:
// "Azure subscription and service limits", networking limits: "IP
// addresses and ranges specified for source or destination in a security
// group: 4,000 (the limit applies separately to source and destination)".
const (
	minPriority = 100
	maxPriority = 4096
	// priorityStep leaves room between rendered rules for the user's own.
	priorityStep = 10
	// denyAllPriority is the last custom priority: the rendered default deny.
	denyAllPriority = maxPriority
	maxName         = 80
	maxDescription  = 140
	maxPrefixes     = 4000
)

// rdpPriority is the priority of the Pexip Teams Connector's "RDP" rule:
// source document 002 states that the connector's NSG has an RDP rule at
// priority 1000 that allows the management addresses, or denies RDP when
// none are given.
const rdpPriority = 1000

// HintPriority is the catalog hint that pins a flow's rule at a priority;
// the catalog gives it to the flows of that RDP rule. Only rdpPriority is
// supported: the other rules are numbered around it.
const HintPriority = "azure-nsg-priority"

// Renderer is the Azure NSG target.
type Renderer struct{}

var _ render.Renderer = (*Renderer)(nil)

// New returns the Azure NSG target.
func New() *Renderer { return &Renderer{} }

// Name implements render.Renderer.
func (*Renderer) Name() string { return Name }

// Description implements render.Renderer.
func (*Renderer) Description() string {
	return "Azure network security group: ARM template and az network nsg rule create script"
}

// Caps implements render.Renderer: addresses, ports and service tags
// (among them Internet, the public Internet), with explicit denies; no host
// names.
func (*Renderer) Caps() view.Caps {
	return view.Caps{ServiceTags: true, Internet: true, Deny: true, AddressesOnly: true, Reads: view.ChoiceFQDN}
}

// Direction values of a security rule.
const (
	inbound  = "Inbound"
	outbound = "Outbound"
)

// secRule is one NSG security rule before it is written out.
type secRule struct {
	name        string
	ruleID      string // the plan rule it comes from, for errors
	rule        *model.Rule
	dir         string
	access      string
	protocol    string
	srcPorts    []string
	dstPorts    []string
	src, dst    side
	description string
	priority    int
	pinned      bool // the RDP rule, at rdpPriority
	denyAll     bool // the rendered default deny of its direction
}

// side is one address alternative of a rule side: "*", one service tag, or
// prefixes of one address family (an NSG rule cannot mix IPv4 and IPv6).
type side struct {
	label    string
	family   int // 4, 6, or 0 for both
	addrs    []string
	prefixes []netip.Prefix
	open     bool // "*" or a service tag: matches addresses teamsgate cannot list
}

// Render implements render.Renderer.
func (r *Renderer) Render(p *model.Plan, opt view.Options) (render.Output, diag.List) {
	prep, ds := view.Prepare(p, Name, r.Caps(), opt)
	if ds.HasErrors() {
		return render.Output{}, ds
	}
	var rules []*secRule
	for i := range prep.Items {
		if h, ok := prep.Items[i].Rule.Hints[HintPriority]; ok && h != strconv.Itoa(rdpPriority) {
			ds.Errorf(diag.Pos{}, prep.Items[i].Rule.ID, "%s: catalog hint %s %q: only %d (the Pexip RDP rule) is supported", Name, HintPriority, h, rdpPriority)
			continue
		}
		rs, err := securityRules(&prep.Items[i])
		if err != nil {
			ds.Errorf(diag.Pos{}, prep.Items[i].Rule.ID, "%s: %v", Name, err)
			continue
		}
		rules = append(rules, rs...)
	}
	if ds.HasErrors() {
		return render.Output{}, ds
	}
	uniqueNames(rules)
	var ordered []*secRule
	for _, dir := range []string{inbound, outbound} {
		rs, err := prioritise(rules, dir)
		if err != nil {
			ds.Errorf(diag.Pos{}, "", "%s: %v", Name, err)
			continue
		}
		ordered = append(ordered, rs...)
	}
	ds.Append(checkLimits(ordered))
	if ds.HasErrors() {
		return render.Output{}, ds
	}
	header := view.Header(p, Name, opt, prep)
	nsgName := "teamsgate"
	if opt.Scope != "" {
		nsgName = ruleName("teamsgate-" + strings.ReplaceAll(opt.Scope, "/", "-"))
	}
	tmpl, err := template(ordered, header, nsgName)
	if err != nil {
		ds.Errorf(diag.Pos{}, "", "%s: %v", Name, err)
		return render.Output{}, ds
	}
	return render.Output{
		Files: map[string][]byte{
			TemplateFile: tmpl,
			ScriptFile:   script(ordered, header, nsgName),
		},
		Warnings: append([]string(nil), prep.Header...),
	}, ds
}

// directions says which NSG directions carry an item. A scoped render
// knows; the perimeter view renders one NSG for all of the deployment's
// machines, so a rule goes inbound where its destination is a role bound to
// addresses and outbound where its source is.
func directions(it *view.Item) ([]string, error) {
	switch it.Dir {
	case view.Inbound:
		return []string{inbound}, nil
	case view.Outbound:
		return []string{outbound}, nil
	}
	var dirs []string
	if ours(it.Rule.Destination) {
		dirs = append(dirs, inbound)
	}
	if ours(it.Rule.Source) {
		dirs = append(dirs, outbound)
	}
	if len(dirs) == 0 {
		return nil, fmt.Errorf("neither side is a role bound to addresses, so no NSG of this deployment carries the rule")
	}
	return dirs, nil
}

// ours reports whether a rule side is machines of the deployment: a role
// bound to addresses (not a role left at "any", nor one named only by host
// names).
func ours(t model.Target) bool { return t.Role != "" && !t.Any && len(t.Prefixes) > 0 }

// securityRules turns one prepared rule into NSG security rules: one per
// direction and per compatible pair of address alternatives.
func securityRules(it *view.Item) ([]*secRule, error) {
	r := &it.Rule
	dirs, err := directions(it)
	if err != nil {
		return nil, err
	}
	proto, err := protocol(r.Proto)
	if err != nil {
		return nil, err
	}
	srcPorts, err := ports(r.Proto, r.SourcePorts)
	if err != nil {
		return nil, fmt.Errorf("source ports: %w", err)
	}
	dstPorts, err := ports(r.Proto, r.DestPorts)
	if err != nil {
		return nil, fmt.Errorf("destination ports: %w", err)
	}
	srcs, err := sides(r.Source)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	dsts, err := sides(r.Destination)
	if err != nil {
		return nil, fmt.Errorf("destination: %w", err)
	}
	access := "Allow"
	if r.Action == model.Deny {
		access = "Deny"
	}
	type pair struct{ s, d side }
	var pairs []pair
	srcLabels, dstLabels := map[string]bool{}, map[string]bool{}
	for _, s := range srcs {
		for _, d := range dsts {
			if s.family != 0 && d.family != 0 && s.family != d.family {
				continue // no packet goes from one address family to the other
			}
			pairs = append(pairs, pair{s, d})
			srcLabels[s.label], dstLabels[d.label] = true, true
		}
	}
	var out []*secRule
	for _, dir := range dirs {
		for _, pr := range pairs {
			var parts []string
			if len(dirs) > 1 {
				parts = append(parts, map[string]string{inbound: "in", outbound: "out"}[dir])
			}
			if len(srcLabels) > 1 {
				parts = append(parts, "from-"+pr.s.label)
			}
			if len(dstLabels) > 1 {
				parts = append(parts, "to-"+pr.d.label)
			}
			name := r.ID
			if len(parts) > 0 {
				name += "." + strings.Join(parts, ".")
			}
			out = append(out, &secRule{
				name:        ruleName(name),
				ruleID:      r.ID,
				rule:        r,
				dir:         dir,
				access:      access,
				protocol:    proto,
				srcPorts:    srcPorts,
				dstPorts:    dstPorts,
				src:         pr.s,
				dst:         pr.d,
				description: description(view.Comment(*it)),
				pinned:      r.Hints[HintPriority] != "",
			})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("the source (%s) and the destination (%s) have no address family in common", familyList(srcs), familyList(dsts))
	}
	return out, nil
}

// uniqueNames gives the rare rules whose names collide after cutting a
// numbered suffix: names are unique within an NSG.
func uniqueNames(rules []*secRule) {
	seen := map[string]bool{}
	for _, r := range rules {
		name := r.name
		for n := 2; seen[strings.ToLower(name)]; n++ {
			suffix := fmt.Sprintf("-%d", n)
			name = ruleName(strings.TrimRight(r.name[:min(len(r.name), maxName-len(suffix))], ".-") + suffix)
		}
		r.name = name
		seen[strings.ToLower(name)] = true
	}
}

func familyList(ss []side) string {
	var l []string
	for _, s := range ss {
		l = append(l, s.label)
	}
	return strings.Join(l, ", ")
}

// protocol maps a plan protocol to the NSG's protocol values (Tcp, Udp,
// Icmp, Esp, Ah, *).
func protocol(p model.Proto) (string, error) {
	switch p {
	case model.ProtoTCP:
		return "Tcp", nil
	case model.ProtoUDP:
		return "Udp", nil
	case model.ProtoICMP:
		return "Icmp", nil
	case model.ProtoAny:
		return "*", nil
	case 50:
		return "Esp", nil
	case 51:
		return "Ah", nil
	}
	return "", fmt.Errorf("an NSG rule cannot match protocol %s (it knows Tcp, Udp, Icmp, Esp, Ah and any)", p)
}

// ports renders a port set as NSG port ranges ("443", "16000-17000"), or
// "*" for any.
func ports(p model.Proto, s model.PortSet) ([]string, error) {
	if s.IsEmpty() {
		return nil, fmt.Errorf("empty port set")
	}
	if s.IsAny() || s.IsEphemeral() {
		return []string{"*"}, nil
	}
	if !p.HasPorts() && p != model.ProtoAny {
		return nil, fmt.Errorf("protocol %s has no ports, but the rule names %s", p, s)
	}
	return s.Strings(), nil
}

// internetTag is the service tag of the public Internet (model.Internet).
const internetTag = "Internet"

// sides splits a rule side into the alternatives an NSG rule can hold.
func sides(t model.Target) ([]side, error) {
	if t.Any {
		return []side{{label: "any", addrs: []string{"*"}, open: true}}, nil
	}
	var v4, v6 side
	v4.label, v4.family = "ipv4", 4
	v6.label, v6.family = "ipv6", 6
	for _, p := range t.Prefixes {
		s := &v4
		if p.Addr().Is6() && !p.Addr().Is4In6() {
			s = &v6
		}
		s.addrs = append(s.addrs, p.String())
		s.prefixes = append(s.prefixes, p)
	}
	var out []side
	for _, s := range []side{v4, v6} {
		if len(s.addrs) > 0 {
			out = append(out, s)
		}
	}
	for _, tag := range t.ServiceTags {
		out = append(out, side{label: tag, addrs: []string{tag}, open: true})
	}
	if t.Internet {
		// The NSG's own name for the public Internet: "The IP address
		// space that's outside the virtual network and reachable by the
		// public internet" (Microsoft Learn, "Virtual network service
		// tags"), both address families, one address prefix.
		out = append(out, side{label: internetTag, addrs: []string{internetTag}, open: true})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no address, service tag, Internet or any")
	}
	return out, nil
}

// prioritise gives the rules of one direction their priorities: plan denies
// first, then allows, each in plan order, from 100 in steps of 10; the RDP
// rule at 1000; and the default deny at 4096, in every direction.
func prioritise(all []*secRule, dir string) ([]*secRule, error) {
	var denies, allows, pinned []*secRule
	for _, r := range all {
		switch {
		case r.dir != dir:
		case r.pinned:
			pinned = append(pinned, r)
		case r.access == "Deny":
			denies = append(denies, r)
		default:
			allows = append(allows, r)
		}
	}
	// A direction without rules still gets the default deny: the NSG's
	// own defaults (AllowInternetOutBound, AllowVnetInBound, …) allow more
	// than the plan, and a render fails closed.
	if len(pinned) > priorityStep {
		return nil, fmt.Errorf("the RDP rule %s needs %d %s security rules, more than the %d priorities from %d",
			pinned[0].ruleID, len(pinned), strings.ToLower(dir), priorityStep, rdpPriority)
	}
	for i, r := range pinned {
		r.priority = rdpPriority + i
	}
	var out []*secRule
	prio := minPriority
	for _, r := range append(denies, allows...) {
		if len(pinned) > 0 && prio == rdpPriority {
			prio += priorityStep
		}
		if prio >= denyAllPriority {
			return nil, fmt.Errorf("%s: the plan needs %d %s security rules; with priorities %d-%d in steps of %d an NSG holds %d (and the default deny at %d); this is the first rule that does not fit: render fewer roles at once with --scope",
				r.ruleID, len(denies)+len(allows)+len(pinned), strings.ToLower(dir), minPriority, denyAllPriority-1, priorityStep,
				(denyAllPriority-1-minPriority)/priorityStep+1, denyAllPriority)
		}
		r.priority = prio
		prio += priorityStep
		out = append(out, r)
	}
	// The RDP rule keeps the place the seed gives it; an earlier allow that
	// overlaps a pinned deny would override it.
	for _, pr := range pinned {
		if pr.access != "Deny" {
			continue
		}
		for _, r := range out {
			if r.priority < pr.priority && r.access == "Allow" && overlaps(r, pr) {
				return nil, fmt.Errorf("%s: the allow %s (priority %d) would override the RDP deny %s at priority %d", r.ruleID, r.name, r.priority, pr.name, pr.priority)
			}
		}
	}
	out = append(out, pinned...)
	sortByPriority(out)
	desc := map[string]string{
		inbound:  "teamsgate default deny: only the rules above pass (overrides AllowVNetInBound and AllowAzureLoadBalancerInBound)",
		outbound: "teamsgate default deny: only the rules above pass (overrides AllowVnetOutBound and AllowInternetOutBound)",
	}[dir]
	out = append(out, &secRule{
		name:        "teamsgate-deny-all-" + strings.ToLower(dir),
		dir:         dir,
		access:      "Deny",
		protocol:    "*",
		srcPorts:    []string{"*"},
		dstPorts:    []string{"*"},
		src:         side{addrs: []string{"*"}, open: true},
		dst:         side{addrs: []string{"*"}, open: true},
		description: desc,
		priority:    denyAllPriority,
		denyAll:     true,
	})
	return out, nil
}

func sortByPriority(rs []*secRule) {
	for i := 1; i < len(rs); i++ {
		for j := i; j > 0 && rs[j].priority < rs[j-1].priority; j-- {
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
}

// overlaps reports whether some packet could match both rules. Service tags
// and "*" are taken to overlap everything.
func overlaps(a, b *secRule) bool {
	if a.protocol != b.protocol && a.protocol != "*" && b.protocol != "*" {
		return false
	}
	if !portsOverlap(a.rule.DestPorts, b.rule.DestPorts) || !portsOverlap(a.rule.SourcePorts, b.rule.SourcePorts) {
		return false
	}
	return sidesOverlap(a.src, b.src) && sidesOverlap(a.dst, b.dst)
}

func portsOverlap(a, b model.PortSet) bool {
	return a.IsAny() || b.IsAny() || !a.Intersect(b).IsEmpty()
}

func sidesOverlap(a, b side) bool {
	if a.open || b.open {
		return true
	}
	return ipset(a.prefixes).Overlaps(ipset(b.prefixes))
}

func ipset(ps []netip.Prefix) *netipx.IPSet {
	var b netipx.IPSetBuilder
	for _, p := range ps {
		b.AddPrefix(p)
	}
	s, _ := b.IPSet()
	return s
}

// checkLimits checks the NSG-wide address limit.
func checkLimits(rules []*secRule) diag.List {
	var ds diag.List
	var src, dst int
	srcDone, dstDone := false, false
	for _, r := range rules {
		src += len(r.src.prefixes)
		dst += len(r.dst.prefixes)
		if src > maxPrefixes && !srcDone {
			srcDone = true
			ds.Errorf(diag.Pos{}, r.ruleID, "%s: the NSG would hold more than %d source addresses and ranges, the most an NSG holds (Azure networking limits); this rule passes the limit: render fewer roles at once with --scope", Name, maxPrefixes)
		}
		if dst > maxPrefixes && !dstDone {
			dstDone = true
			ds.Errorf(diag.Pos{}, r.ruleID, "%s: the NSG would hold more than %d destination addresses and ranges, the most an NSG holds (Azure networking limits); this rule passes the limit: render fewer roles at once with --scope", Name, maxPrefixes)
		}
	}
	return ds
}

// ruleName makes a valid NSG name (Microsoft Learn, "Network security
// groups": up to 80 characters; word characters, '.', '-' and '_'; begins
// with a word character and ends with a word character or '_'). A longer
// name is cut and given a hash of the full name, so it stays unique.
func ruleName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			b[i] = '-'
		}
	}
	name := string(b)
	if len(name) > maxName {
		sum := sha256.Sum256([]byte(s))
		name = strings.TrimRight(name[:maxName-7], ".-") + "-" + hex.EncodeToString(sum[:3])
	}
	if name == "" || !isWord(name[0]) {
		name = "r" + name
	}
	if c := name[len(name)-1]; !isWord(c) {
		name = strings.TrimRight(name, ".-") + "_"
	}
	return name
}

func isWord(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// description cuts a rule comment to the NSG's 140 characters.
func description(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= maxDescription {
		return s
	}
	r := []rune(s)
	return string(r[:maxDescription-3]) + "..."
}

// The ARM template's shape (Microsoft Learn, "Template structure"; the
// resource's properties as in the Microsoft.Network/networkSecurityGroups
// template reference).
type armTemplate struct {
	Schema         string           `json:"$schema"`
	ContentVersion string           `json:"contentVersion"`
	Metadata       armMetadata      `json:"metadata"`
	Parameters     armParameters    `json:"parameters"`
	Resources      []armNSGResource `json:"resources"`
}

type armMetadata struct {
	Description string   `json:"description"`
	Comments    []string `json:"comments"`
}

type armParameters struct {
	NSGName  armParameter `json:"nsgName"`
	Location armParameter `json:"location"`
}

type armParameter struct {
	Type         string            `json:"type"`
	DefaultValue string            `json:"defaultValue"`
	Metadata     map[string]string `json:"metadata"`
}

type armNSGResource struct {
	Type       string           `json:"type"`
	APIVersion string           `json:"apiVersion"`
	Name       string           `json:"name"`
	Location   string           `json:"location"`
	Properties armNSGProperties `json:"properties"`
}

type armNSGProperties struct {
	SecurityRules []armRule `json:"securityRules"`
}

type armRule struct {
	Name       string            `json:"name"`
	Properties armRuleProperties `json:"properties"`
}

type armRuleProperties struct {
	Description                string   `json:"description"`
	Protocol                   string   `json:"protocol"`
	SourcePortRange            string   `json:"sourcePortRange,omitempty"`
	SourcePortRanges           []string `json:"sourcePortRanges,omitempty"`
	DestinationPortRange       string   `json:"destinationPortRange,omitempty"`
	DestinationPortRanges      []string `json:"destinationPortRanges,omitempty"`
	SourceAddressPrefix        string   `json:"sourceAddressPrefix,omitempty"`
	SourceAddressPrefixes      []string `json:"sourceAddressPrefixes,omitempty"`
	DestinationAddressPrefix   string   `json:"destinationAddressPrefix,omitempty"`
	DestinationAddressPrefixes []string `json:"destinationAddressPrefixes,omitempty"`
	Access                     string   `json:"access"`
	Priority                   int      `json:"priority"`
	Direction                  string   `json:"direction"`
}

// one returns the list as a single value when it has one element: a
// service tag or "*" must be given alone, in the singular property.
func one(l []string) (string, []string) {
	if len(l) == 1 {
		return l[0], nil
	}
	return "", l
}

func template(rules []*secRule, header []string, nsgName string) ([]byte, error) {
	t := armTemplate{
		Schema:         "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
		ContentVersion: "1.0.0.0",
		Metadata: armMetadata{
			Description: "Network security group rendered by teamsgate; deploy with: az deployment group create --resource-group RG --template-file " + TemplateFile,
			Comments:    header,
		},
		Parameters: armParameters{
			NSGName: armParameter{Type: "string", DefaultValue: nsgName,
				Metadata: map[string]string{"description": "Name of the network security group."}},
			Location: armParameter{Type: "string", DefaultValue: "[resourceGroup().location]",
				Metadata: map[string]string{"description": "Azure region of the network security group."}},
		},
	}
	res := armNSGResource{
		Type:       "Microsoft.Network/networkSecurityGroups",
		APIVersion: APIVersion,
		Name:       "[parameters('nsgName')]",
		Location:   "[parameters('location')]",
		Properties: armNSGProperties{SecurityRules: []armRule{}},
	}
	for _, r := range rules {
		p := armRuleProperties{
			Description: r.description,
			Protocol:    r.protocol,
			Access:      r.access,
			Priority:    r.priority,
			Direction:   r.dir,
		}
		p.SourcePortRange, p.SourcePortRanges = one(r.srcPorts)
		p.DestinationPortRange, p.DestinationPortRanges = one(r.dstPorts)
		p.SourceAddressPrefix, p.SourceAddressPrefixes = one(r.src.addrs)
		p.DestinationAddressPrefix, p.DestinationAddressPrefixes = one(r.dst.addrs)
		res.Properties.SecurityRules = append(res.Properties.SecurityRules, armRule{Name: r.name, Properties: p})
	}
	t.Resources = []armNSGResource{res}
	b, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// script writes the rules as Azure CLI commands. It never takes access
// away before what replaces it is in:
//
//   - it creates the NSG only when `az network nsg show` says it does not
//     exist. `az network nsg create` PUTs the whole resource with no
//     securityRules (azure-cli's generated network nsg create, api-version
//     2021-08-01: a PUT of location, tags and empty properties, no read
//     first), and a PUT sets the NSG's full rule list, so on an existing NSG
//     it would delete every rule, the user's and a previous run's, and the
//     tags. Any other failure of the show stops the script (exit status 3
//     and ResourceNotFound is azure-cli's answer for a missing resource);
//   - it creates every rule before the default denies, which go last;
//   - it stops at the first error.
//
// `az network nsg rule create` PUTs one rule by name, so a second run
// updates the rules in place. The script reads no files.
func script(rules []*secRule, header []string, nsgName string) []byte {
	var b strings.Builder
	b.WriteString("#!/usr/bin/env bash\n")
	for _, h := range header {
		b.WriteString("# " + oneLine(h) + "\n")
	}
	b.WriteString(`#
# Usage: RESOURCE_GROUP=my-rg [NSG_NAME=` + nsgName + `] bash ` + ScriptFile + `
# Creates the network security group if it is missing and creates or updates
# each rule by name. Rules of the NSG that are not in this file stay; the ARM
# template ` + TemplateFile + ` sets the whole rule list instead.
#
# Order: the NSG is created only when az network nsg show says it does not
# exist (az network nsg create on an existing NSG would replace it, without
# its rules); then every rule is created, the default denies at priority ` + strconv.Itoa(denyAllPriority) + `
# last, so that nothing is denied before the allows are in. The script stops at
# the first error, and a second run updates the same rules in place.
set -euo pipefail

rg="${RESOURCE_GROUP:?set RESOURCE_GROUP to the resource group of the NSG}"
nsg="${NSG_NAME:-` + nsgName + `}"
trap 'echo "` + ScriptFile + `: stopped: a command failed; the default deny rules are created last" >&2' ERR

show_status=0
show_err="$(az network nsg show --resource-group "$rg" --name "$nsg" --output none 2>&1 >/dev/null)" || show_status=$?
if [[ $show_status -eq 3 && $show_err == *ResourceNotFound* ]]; then
  az network nsg create --resource-group "$rg" --name "$nsg" --output none
elif [[ $show_status -ne 0 ]]; then
  printf '%s\n' "$show_err" >&2
  echo "` + ScriptFile + `: stopped: cannot tell whether NSG $nsg exists in resource group $rg (az network nsg show exited $show_status); nothing was changed" >&2
  exit 1
fi
`)
	// The default denies go last: until every allow is in, they would
	// deny what the plan allows.
	var first, last []*secRule
	for _, r := range rules {
		if r.denyAll {
			last = append(last, r)
		} else {
			first = append(first, r)
		}
	}
	for _, r := range append(first, last...) {
		b.WriteString("\n# " + oneLine(r.description) + "\n")
		fmt.Fprintf(&b, "az network nsg rule create --resource-group \"$rg\" --nsg-name \"$nsg\" --name %s \\\n", quote(r.name))
		fmt.Fprintf(&b, "  --priority %d --direction %s --access %s --protocol %s \\\n", r.priority, r.dir, r.access, quote(r.protocol))
		fmt.Fprintf(&b, "  --source-address-prefixes %s --source-port-ranges %s \\\n", quoteAll(r.src.addrs), quoteAll(r.srcPorts))
		fmt.Fprintf(&b, "  --destination-address-prefixes %s --destination-port-ranges %s \\\n", quoteAll(r.dst.addrs), quoteAll(r.dstPorts))
		fmt.Fprintf(&b, "  --description %s --output none\n", quote(r.description))
	}
	return []byte(b.String())
}

// quote single-quotes a word for the shell.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func quoteAll(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = quote(s)
	}
	return strings.Join(q, " ")
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
