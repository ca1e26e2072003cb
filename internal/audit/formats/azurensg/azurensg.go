// Package azurensg reads an Azure network security group into the audit
// model: the ARM resource JSON (portal "JSON view", REST GET,
// `az resource show`) with rules under properties.securityRules, and the
// flattened form `az network nsg show` prints, with every rule's fields at
// the top level of the rule.
//
// Semantics from Microsoft Learn, "Network security groups": rules are processed by priority per
// direction, lowest number first, and processing stops at the first match;
// the default rules AllowVNetInBound (65000), AllowAzureLoadBalancerInBound
// (65001), DenyAllInbound (65500), AllowVnetOutBound (65000),
// AllowInternetOutBound (65001) and DenyAllOutBound (65500) always exist,
// whether the export lists them or not. Singular and plural fields
// (sourceAddressPrefix and sourceAddressPrefixes, …) are a union. Protocol
// names are case-insensitive, as terraform-provider-azurerm treats them
// (suppress.CaseDifference). The lowering into priority-ordered ACLs per
// direction is Batfish's (NetworkSecurityGroup.java).
package azurensg

import (
	"fmt"
	"net/netip"
	"os"
	"sort"
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
	// Tags resolves service tags; a tag it cannot resolve makes the rule
	// unresolvable (reported), never an empty set.
	Tags ruleset.ServiceTags
}

// ruleFields are the fields of a security rule (ARM SecurityRulePropertiesFormat).
var ruleFields = []string{
	"protocol", "sourcePortRange", "sourcePortRanges", "destinationPortRange", "destinationPortRanges",
	"sourceAddressPrefix", "sourceAddressPrefixes", "destinationAddressPrefix", "destinationAddressPrefixes",
	"sourceApplicationSecurityGroups", "destinationApplicationSecurityGroups",
	"access", "priority", "direction", "description", "provisioningState",
}

// metaFields carry no semantics.
var metaFields = []string{"name", "id", "etag", "type", "resourceGroup", "properties", "apiVersion"}

type defaultRule struct {
	name, dir, access, src, dst string
	priority                    int
}

// defaults are the six default rules (Microsoft Learn, "Network security
// groups", "Default security rules").
var defaults = []defaultRule{
	{"AllowVnetInBound", "Inbound", "Allow", "VirtualNetwork", "VirtualNetwork", 65000},
	{"AllowAzureLoadBalancerInBound", "Inbound", "Allow", "AzureLoadBalancer", "*", 65001},
	{"DenyAllInBound", "Inbound", "Deny", "*", "*", 65500},
	{"AllowVnetOutBound", "Outbound", "Allow", "VirtualNetwork", "VirtualNetwork", 65000},
	{"AllowInternetOutBound", "Outbound", "Allow", "*", "Internet", 65001},
	{"DenyAllOutBound", "Outbound", "Deny", "*", "*", 65500},
}

type parser struct {
	ds  diag.List
	opt Options
}

type rule struct {
	line *ruleset.Line
	dir  string
}

// Parse reads an NSG in either JSON shape.
func Parse(data []byte, opt Options) (*ruleset.Config, diag.List) {
	n, ds := ParseNSG(data, opt)
	if n == nil {
		return nil, ds
	}
	return n.Config, ds
}

// ParseNSG reads an NSG in either JSON shape, with its name and
// associations (path.go).
func ParseNSG(data []byte, opt Options) (*NSG, diag.List) {
	p := &parser{opt: opt}
	root, ds := jsonpos.Parse(data)
	if ds.HasErrors() {
		return nil, ds
	}
	nsg := p.findNSG(root)
	if nsg == nil {
		return nil, p.ds
	}
	cfg := &ruleset.Config{Format: "azure-nsg", Directional: true, Families: ruleset.FamilyBoth, Paths: map[view.Direction][]*ruleset.Chain{}}
	props := nsg
	if pr := nsg.Get("properties"); pr != nil && pr.Kind == jsonpos.Object {
		props = pr
	}
	n := &NSG{Name: str(nsg.Get("name")), Config: cfg, Subnets: p.associations(props, "subnets"), NICs: p.associations(props, "networkInterfaces")}
	var rules []rule
	seen := map[string]*ruleset.Line{}
	for _, key := range []string{"securityRules", "defaultSecurityRules"} {
		list := props.Get(key)
		if list.IsNull() {
			continue
		}
		if list.Kind != jsonpos.Array {
			p.ds.Errorf(list.Pos, list.Path, "%s must be an array, not %s", key, list.Describe())
			continue
		}
		for _, rv := range list.Items {
			r, ok := p.rule(rv, key == "defaultSecurityRules")
			if !ok {
				continue
			}
			k := r.dir + "/" + fmt.Sprint(r.line.Priority)
			if prev, dup := seen[k]; dup {
				p.ds.Errorf(r.line.Pos, r.line.ID, "priority %d is used twice for %s rules (also by %s); Azure refuses that", r.line.Priority, strings.ToLower(r.dir), prev.ID)
				continue
			}
			seen[k] = r.line
			rules = append(rules, r)
		}
	}
	for _, d := range defaults {
		if _, ok := seen[d.dir+"/"+fmt.Sprint(d.priority)]; ok {
			continue
		}
		rules = append(rules, p.implied(d, nsg.Pos))
		cfg.Notes = append(cfg.Notes, fmt.Sprintf("default rule %s (%s, priority %d) is not in the export and is implied", d.name, strings.ToLower(d.dir), d.priority))
	}
	sort.SliceStable(rules, func(i, j int) bool { return rules[i].line.Priority < rules[j].line.Priority })
	for _, dir := range []string{"Inbound", "Outbound"} {
		ch := &ruleset.Chain{Name: dir, Hook: strings.ToLower(dir), Family: ruleset.FamilyBoth, Pos: nsg.Pos}
		for _, r := range rules {
			if r.dir != dir {
				continue
			}
			r.line.Chain = dir
			r.line.Index = len(ch.Lines) + 1
			ch.Lines = append(ch.Lines, r.line)
		}
		ch.Policy = &ruleset.Line{ID: dir + " (no rule matched)", Chain: dir, Action: ruleset.Drop, Default: true, Matches: []ruleset.Match{ruleset.NewMatch()}}
		cfg.Chains = append(cfg.Chains, ch)
		if dir == "Inbound" {
			cfg.Paths[view.Inbound] = []*ruleset.Chain{ch}
		} else {
			cfg.Paths[view.Outbound] = []*ruleset.Chain{ch}
		}
	}
	for _, tag := range []string{"VirtualNetwork"} {
		if _, err := p.opt.Tags.Resolve(tag); err != nil {
			cfg.Notes = append(cfg.Notes, "rules using the VirtualNetwork tag are not evaluated: the virtual network's address space is not known (give --vnet CIDR,...)")
		}
	}
	return n, p.ds
}

// ParseFile reads and parses an NSG file.
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

// isNSG reports whether an object looks like a network security group in
// either shape.
func isNSG(v *jsonpos.Value) bool {
	if v == nil || v.Kind != jsonpos.Object {
		return false
	}
	if t := v.Get("type"); t != nil && strings.EqualFold(t.Str, "Microsoft.Network/networkSecurityGroups") {
		return true
	}
	pr := v.Get("properties")
	return v.Get("securityRules") != nil || v.Get("defaultSecurityRules") != nil ||
		(pr != nil && (pr.Get("securityRules") != nil || pr.Get("defaultSecurityRules") != nil))
}

func isRule(v *jsonpos.Value) bool {
	if v == nil || v.Kind != jsonpos.Object {
		return false
	}
	if pr := v.Get("properties"); pr != nil {
		v = pr
	}
	return v.Get("priority") != nil && v.Get("direction") != nil
}

// findNSG accepts an NSG object, an array holding one NSG (az network nsg
// list), a REST list {"value": [...]}, an ARM template whose resources hold
// one NSG, or a bare array of rules (az network nsg rule list).
func (p *parser) findNSG(root *jsonpos.Value) *jsonpos.Value {
	if isNSG(root) {
		return root
	}
	list := root
	if root.Kind == jsonpos.Object && root.Get("value") != nil {
		list = root.Get("value")
	}
	if root.Kind == jsonpos.Object && root.Get("resources") != nil {
		list = root.Get("resources")
	}
	if list.Kind == jsonpos.Array {
		var nsgs []*jsonpos.Value
		allRules := len(list.Items) > 0
		for _, it := range list.Items {
			if isNSG(it) {
				nsgs = append(nsgs, it)
			}
			allRules = allRules && isRule(it)
		}
		switch {
		case len(nsgs) == 1:
			return nsgs[0]
		case len(nsgs) > 1:
			p.ds.Errorf(list.Pos, list.Path, "the file holds %d network security groups; audit one at a time, or a subnet's and a network interface's NSG together with --config subnet=FILE --config nic=FILE", len(nsgs))
			return nil
		case allRules:
			return &jsonpos.Value{Kind: jsonpos.Object, Pos: list.Pos, Path: list.Path, Fields: []jsonpos.Field{{Key: "securityRules", Value: list}}}
		}
	}
	p.ds.Errorf(root.Pos, root.Path, "not an Azure network security group: no securityRules, properties.securityRules or defaultSecurityRules")
	return nil
}

func (p *parser) rule(rv *jsonpos.Value, isDefault bool) (rule, bool) {
	if rv.Kind != jsonpos.Object {
		p.ds.Errorf(rv.Pos, rv.Path, "a security rule must be an object, not %s", rv.Describe())
		return rule{}, false
	}
	props := rv
	if pr := rv.Get("properties"); pr != nil {
		if pr.Kind != jsonpos.Object {
			p.ds.Errorf(pr.Pos, pr.Path, "properties must be an object")
			return rule{}, false
		}
		props = pr
		for _, f := range rv.Unknown(metaFields...) {
			p.ds.Warnf(f.Value.Pos, f.Value.Path, "unknown field %q ignored", f.Key)
		}
		for _, f := range pr.Unknown(ruleFields...) {
			p.ds.Warnf(f.Value.Pos, f.Value.Path, "unknown field %q ignored", f.Key)
		}
	} else {
		for _, f := range rv.Unknown(append(append([]string(nil), ruleFields...), metaFields...)...) {
			p.ds.Warnf(f.Value.Pos, f.Value.Path, "unknown field %q ignored", f.Key)
		}
	}
	name := str(rv.Get("name"))
	if name == "" {
		name = rv.Path
	}
	errs := len(p.ds.Errors())
	m := ruleset.NewMatch()
	l := &ruleset.Line{ID: name, Pos: rv.Pos, Default: isDefault}
	l.Comment = str(props.Get("description"))

	dir := p.enum(props, name, "direction", "Inbound", "Outbound")
	access := p.enum(props, name, "access", "Allow", "Deny")
	pv := props.Get("priority")
	prio, ok := pv.Int()
	switch {
	case !ok:
		p.ds.Errorf(posOf(pv, rv), name, "priority must be a number, not %s", pv.Describe())
	case !isDefault && (prio < 100 || prio > 4096):
		p.ds.Warnf(pv.Pos, name, "priority %d is outside 100-4096, which Azure allows for security rules", prio)
	}
	l.Priority = int(prio)

	proto := props.Get("protocol")
	switch s := strings.ToLower(str(proto)); s {
	case "*", "any":
		m.Proto = packet.AllProtos()
	case "tcp":
		m.Proto = packet.Protos(6)
	case "udp":
		m.Proto = packet.Protos(17)
	case "icmp":
		m.Proto = packet.Protos(1, 58)
	case "esp":
		m.Proto = packet.Protos(50)
	case "ah":
		m.Proto = packet.Protos(51)
	default:
		p.ds.Errorf(posOf(proto, rv), name, "protocol must be Tcp, Udp, Icmp, Esp, Ah or *, not %s", proto.Describe())
	}
	var unresolved []string
	m.SPort = p.ports(props, "sourcePortRange", "sourcePortRanges", name)
	m.DPort = p.ports(props, "destinationPortRange", "destinationPortRanges", name)
	switch {
	case !hasPorts(m.Proto):
		// Port ranges only apply to TCP and UDP.
		m.SPort, m.DPort = ruleset.NewMatch().SPort, ruleset.NewMatch().DPort
	case !m.SPort.IsAny() || !m.DPort.IsAny():
		// A packet without ports cannot meet a port condition.
		m.Proto = m.Proto.And(packet.Protos(6, 17))
	}
	var u []string
	m.Src, u = p.addrs(props, "sourceAddressPrefix", "sourceAddressPrefixes", "sourceApplicationSecurityGroups", name)
	unresolved = append(unresolved, u...)
	m.Dst, u = p.addrs(props, "destinationAddressPrefix", "destinationAddressPrefixes", "destinationApplicationSecurityGroups", name)
	unresolved = append(unresolved, u...)
	if len(p.ds.Errors()) > errs {
		return rule{}, false
	}
	l.Matches = []ruleset.Match{m}
	l.Unresolved = unresolved
	l.Action = ruleset.Accept
	if access == "Deny" {
		l.Action = ruleset.Drop
	}
	l.Text = fmt.Sprintf("%d %s %s %s from %s port %s to %s port %s", prio, dir, access, str(proto),
		strings.Join(p.list(props, "sourceAddressPrefix", "sourceAddressPrefixes"), ","),
		strings.Join(p.list(props, "sourcePortRange", "sourcePortRanges"), ","),
		strings.Join(p.list(props, "destinationAddressPrefix", "destinationAddressPrefixes"), ","),
		strings.Join(p.list(props, "destinationPortRange", "destinationPortRanges"), ","))
	return rule{line: l, dir: dir}, true
}

// hasPorts reports whether a protocol set includes TCP or UDP, the
// protocols NSG port ranges apply to.
func hasPorts(p packet.ProtoSet) bool { return p.Overlaps(packet.Protos(6, 17)) }

func (p *parser) implied(d defaultRule, pos diag.Pos) rule {
	m := ruleset.NewMatch()
	var unresolved []string
	for _, side := range []struct {
		v   string
		set *packet.AddrSet
	}{{d.src, &m.Src}, {d.dst, &m.Dst}} {
		if side.v == "*" {
			continue
		}
		s, err := p.opt.Tags.Resolve(side.v)
		if err != nil {
			unresolved = append(unresolved, err.Error())
			continue
		}
		*side.set = s
	}
	act := ruleset.Accept
	if d.access == "Deny" {
		act = ruleset.Drop
	}
	return rule{dir: d.dir, line: &ruleset.Line{
		ID: d.name, Pos: pos, Default: true, Priority: d.priority, Action: act, Matches: []ruleset.Match{m}, Unresolved: unresolved,
		Text: fmt.Sprintf("%d %s %s * from %s to %s (implied default rule)", d.priority, d.dir, d.access, d.src, d.dst),
	}}
}

func str(v *jsonpos.Value) string {
	if v == nil || v.Kind != jsonpos.String {
		return ""
	}
	return v.Str
}

func posOf(v, parent *jsonpos.Value) diag.Pos {
	if v != nil {
		return v.Pos
	}
	return parent.Pos
}

func (p *parser) enum(props *jsonpos.Value, name, key string, vals ...string) string {
	v := props.Get(key)
	for _, x := range vals {
		if v != nil && v.Kind == jsonpos.String && strings.EqualFold(v.Str, x) {
			return x
		}
	}
	p.ds.Errorf(posOf(v, props), name, "%s must be %s, not %s", key, strings.Join(vals, " or "), v.Describe())
	return vals[0]
}

// list returns the union of a singular field and its plural.
func (p *parser) list(props *jsonpos.Value, one, many string) []string {
	var out []string
	if s := props.Get(one); s != nil && s.Kind == jsonpos.String && s.Str != "" {
		out = append(out, s.Str)
	}
	if arr := props.Get(many); arr != nil && arr.Kind == jsonpos.Array {
		for _, it := range arr.Items {
			if it.Kind == jsonpos.String {
				out = append(out, it.Str)
			}
		}
	}
	return out
}

// values returns the union of a singular field and its plural, with
// positions, checking their types.
func (p *parser) values(props *jsonpos.Value, one, many, name string) []*jsonpos.Value {
	var out []*jsonpos.Value
	if s := props.Get(one); !s.IsNull() {
		if s.Kind != jsonpos.String {
			p.ds.Errorf(s.Pos, name, "%s must be a string, not %s", one, s.Describe())
		} else if s.Str != "" {
			out = append(out, s)
		}
	}
	if arr := props.Get(many); !arr.IsNull() {
		if arr.Kind != jsonpos.Array {
			p.ds.Errorf(arr.Pos, name, "%s must be an array, not %s", many, arr.Describe())
			return out
		}
		for _, it := range arr.Items {
			if it.Kind != jsonpos.String {
				p.ds.Errorf(it.Pos, name, "%s entries must be strings, not %s", many, it.Describe())
				continue
			}
			out = append(out, it)
		}
	}
	return out
}

func (p *parser) ports(props *jsonpos.Value, one, many, name string) model.PortSet {
	vs := p.values(props, one, many, name)
	if len(vs) == 0 {
		p.ds.Errorf(props.Pos, name, "neither %s nor %s is given", one, many)
		return model.PortSet{}
	}
	var rs []model.PortRange
	for _, v := range vs {
		if v.Str == "*" {
			rs = append(rs, model.AllPorts)
			continue
		}
		r, err := model.ParsePortRange(v.Str)
		if err != nil {
			p.ds.Errorf(v.Pos, name, "%s: %v", one, err)
			continue
		}
		rs = append(rs, r)
	}
	return model.NewPortSet(rs...)
}

// addrs resolves the address side of a rule: "*", addresses, CIDRs and
// service tags; application security groups and tags without data are
// returned as reasons the rule cannot be evaluated.
func (p *parser) addrs(props *jsonpos.Value, one, many, asgKey, name string) (packet.AddrSet, []string) {
	var unresolved []string
	vs := p.values(props, one, many, name)
	if asg := props.Get(asgKey); !asg.IsNull() {
		if asg.Kind != jsonpos.Array {
			p.ds.Errorf(asg.Pos, name, "%s must be an array, not %s", asgKey, asg.Describe())
		} else {
			for _, it := range asg.Items {
				id := str(it.Get("id"))
				if i := strings.LastIndex(id, "/"); i >= 0 {
					id = id[i+1:]
				}
				unresolved = append(unresolved, fmt.Sprintf("application security group %q (its members are not in the NSG)", id))
			}
		}
	}
	if len(vs) == 0 {
		if len(unresolved) == 0 {
			p.ds.Errorf(props.Pos, name, "neither %s nor %s is given", one, many)
		}
		return packet.AllAddrs(), unresolved
	}
	var ps []netip.Prefix
	var tagSets []packet.AddrSet
	for _, v := range vs {
		s := strings.TrimSpace(v.Str)
		switch {
		case s == "*" || strings.EqualFold(s, "any"):
			return packet.AllAddrs(), unresolved
		case strings.Contains(s, "/"):
			pf, err := netip.ParsePrefix(s)
			if err != nil {
				p.ds.Errorf(v.Pos, name, "%s %q: %v", one, s, err)
				continue
			}
			ps = append(ps, pf.Masked())
		default:
			if a, err := netip.ParseAddr(s); err == nil {
				ps = append(ps, netip.PrefixFrom(a, a.BitLen()))
				continue
			}
			set, err := p.opt.Tags.Resolve(s)
			if err != nil {
				unresolved = append(unresolved, err.Error())
				continue
			}
			tagSets = append(tagSets, set)
		}
	}
	out := packet.AddrSetOf(ps...)
	for _, t := range tagSets {
		out = out.Union(t)
	}
	return out, unresolved
}
