// Package awssg renders a plan as AWS security group rules: for each
// security group, the JSON that `aws ec2 authorize-security-group-ingress
// --cli-input-json` and `authorize-security-group-egress --cli-input-json`
// take, and a script that applies them. Security groups are allow-only and
// match addresses and ports only. See README.md.
package awssg

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/render"
)

// Name is the target's name on the command line.
const Name = "aws-sg"

// ScriptFile applies the rendered JSON files with the AWS CLI.
const ScriptFile = "apply.sh"

// GroupID is the placeholder group id in the JSON files. apply.sh passes the
// real one with --group-id, which takes precedence over the JSON's value.
const GroupID = "sg-REPLACE_ME"

// maxRules is AWS's default quota "Inbound or outbound rules per security
// group" (Amazon VPC User Guide, "Amazon VPC quotas"): 60 inbound and 60
// outbound, counted separately for IPv4 and IPv6, one rule per address range
// and port range.
const maxRules = 60

// maxDescription is the longest rule description, and descChars the
// characters it may hold (EC2 API reference, IpRange.Description).
const (
	maxDescription = 255
	descChars      = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ._-:/()#,@[]+=&;{}!$*"
)

// Renderer is the AWS security group target.
type Renderer struct{}

var _ render.Renderer = (*Renderer)(nil)

// New returns the AWS security group target.
func New() *Renderer { return &Renderer{} }

// Name implements render.Renderer.
func (*Renderer) Name() string { return Name }

// Description implements render.Renderer.
func (*Renderer) Description() string {
	return "AWS security groups: authorize-security-group-ingress/egress --cli-input-json files and apply.sh"
}

// Caps implements render.Renderer: addresses and ports, allow only.
func (*Renderer) Caps() render.Caps { return render.Caps{AddressesOnly: true} }

// group is one security group: the machines of one role.
type group struct {
	key     string // file name prefix; "" for a scoped render
	label   string // for messages: "role bot of teams-calling-bot"
	envVar  string // apply.sh variable holding the group id
	ingress *direction
	egress  *direction
}

type direction struct {
	perms map[permKey]*permission
	order []permKey
	// rules counts the quota rules per address family.
	rules map[int]int
}

type permKey struct {
	proto    string
	from, to int
}

type permission struct {
	key    permKey
	ranges map[netip.Prefix][]string // range → flow ids
	order  []netip.Prefix
}

// Render implements render.Renderer.
func (r *Renderer) Render(p *model.Plan, opt render.Options) (render.Output, diag.List) {
	prep, ds := render.Prepare(p, Name, r.Caps(), opt)
	if ds.HasErrors() {
		return render.Output{}, ds
	}
	groups := map[string]*group{}
	var order []string
	groupFor := func(integ, role string) *group {
		key, label, env := "", "role "+opt.Scope, "SG_ID"
		if opt.Scope == "" {
			key = integ + "." + role
			label = "role " + role + " of " + integ
			env = "SG_" + envName(integ+"_"+role)
		}
		g := groups[key]
		if g == nil {
			g = &group{key: key, label: label, envVar: env}
			groups[key] = g
			order = append(order, key)
		}
		return g
	}
	var warnings []string
	for i := range prep.Items {
		it := &prep.Items[i]
		rule := &it.Rule
		type place struct {
			g    *group
			in   bool
			peer model.Target
		}
		var places []place
		switch it.Dir {
		case render.Inbound:
			places = append(places, place{groupFor("", ""), true, rule.Source})
		case render.Outbound:
			places = append(places, place{groupFor("", ""), false, rule.Destination})
		default:
			if ours(rule.Destination) {
				places = append(places, place{groupFor(rule.Integration, rule.Destination.Role), true, rule.Source})
			}
			if ours(rule.Source) {
				places = append(places, place{groupFor(rule.Integration, rule.Source.Role), false, rule.Destination})
			}
		}
		if len(places) == 0 {
			ds.Errorf(diag.Pos{}, rule.ID, "%s: neither side is a role bound to addresses, so no security group of this deployment carries the rule", Name)
			continue
		}
		perms, err := permKeys(rule)
		if err != nil {
			ds.Errorf(diag.Pos{}, rule.ID, "%s: %v", Name, err)
			continue
		}
		if rule.Proto.HasPorts() && !rule.SourcePorts.IsAny() && !rule.SourcePorts.IsEphemeral() {
			warnings = append(warnings, fmt.Sprintf("%s: source ports %s widened to any: a security group rule has no source port", rule.ID, rule.SourcePorts))
		}
		for _, pl := range places {
			d := &pl.g.egress
			if pl.in {
				d = &pl.g.ingress
			}
			if *d == nil {
				*d = &direction{perms: map[permKey]*permission{}, rules: map[int]int{}}
			}
			before := maps.Clone((*d).rules)
			(*d).add(rule.ID, perms, peers(pl.peer))
			for _, fam := range []int{4, 6} {
				if n := (*d).rules[fam]; n > maxRules && before[fam] <= maxRules {
					ds.Errorf(diag.Pos{}, rule.ID, "%s: with this flow the security group of %s needs %d %s %s rules, more than the %d AWS allows by default (Amazon VPC quotas, \"Inbound or outbound rules per security group\"; one rule per address range and port range); ask AWS to raise the quota, or narrow the flow's addresses",
						Name, pl.g.label, n, map[bool]string{true: "inbound", false: "outbound"}[pl.in], map[int]string{4: "IPv4", 6: "IPv6"}[fam], maxRules)
				}
			}
		}
	}
	if ds.HasErrors() {
		return render.Output{}, ds
	}
	header := render.Header(p, Name, opt, prep)
	header = append(header, warnings...)
	files := map[string][]byte{}
	for _, key := range order {
		g := groups[key]
		for _, d := range []struct {
			dir  *direction
			name string
		}{{g.ingress, "ingress"}, {g.egress, "egress"}} {
			if d.dir == nil {
				continue
			}
			b, err := d.dir.json()
			if err != nil {
				ds.Errorf(diag.Pos{}, "", "%s: %v", Name, err)
				continue
			}
			files[fileName(g, d.name)] = b
		}
	}
	files[ScriptFile] = script(groups, order, header)
	if ds.HasErrors() {
		return render.Output{}, ds
	}
	return render.Output{Files: files, Warnings: append(append([]string(nil), prep.Header...), warnings...)}, ds
}

func fileName(g *group, dir string) string {
	if g.key == "" {
		return dir + ".json"
	}
	return g.key + "." + dir + ".json"
}

// envName turns a role into a shell variable name.
func envName(s string) string {
	b := []byte(strings.ToUpper(s))
	for i, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	return string(b)
}

// ours reports whether a rule side is machines of the deployment: a role
// bound to addresses.
func ours(t model.Target) bool { return t.Role != "" && !t.Any && len(t.Prefixes) > 0 }

// permKeys lists the protocol and port ranges of a rule as security group
// permissions: one per destination port range; ICMP and other protocols
// without ports as -1; any protocol as "-1".
func permKeys(r *model.Rule) ([]permKey, error) {
	restricted := !r.DestPorts.IsAny() && !r.DestPorts.IsEphemeral()
	switch {
	case r.Proto == model.ProtoTCP || r.Proto == model.ProtoUDP:
		if r.DestPorts.IsEmpty() {
			return nil, fmt.Errorf("empty destination port set")
		}
		if !restricted {
			return []permKey{{proto: r.Proto.String(), from: 0, to: 65535}}, nil
		}
		var out []permKey
		for _, pr := range r.DestPorts.Ranges() {
			out = append(out, permKey{proto: r.Proto.String(), from: int(pr.First), to: int(pr.Last)})
		}
		return out, nil
	case restricted:
		return nil, fmt.Errorf("protocol %s with destination ports %s: a security group rule gives ports only for tcp and udp", r.Proto, r.DestPorts)
	case r.Proto == model.ProtoAny:
		return []permKey{{proto: "-1"}}, nil
	case r.Proto == model.ProtoICMP:
		return []permKey{{proto: "icmp", from: -1, to: -1}}, nil
	}
	return []permKey{{proto: strconv.Itoa(int(r.Proto))}}, nil
}

// peers lists the address ranges of the other side of a rule.
func peers(t model.Target) []netip.Prefix {
	if t.Any {
		return []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}
	}
	return t.Prefixes
}

func family(p netip.Prefix) int {
	if p.Addr().Is4() {
		return 4
	}
	return 6
}

// add merges a flow into the direction's permissions. A range already in a
// permission only gains the flow id in its description: AWS rejects the same
// rule twice.
func (d *direction) add(id string, keys []permKey, ranges []netip.Prefix) {
	for _, k := range keys {
		for _, pr := range ranges {
			pk := k
			if k.proto == "icmp" && family(pr) == 6 {
				pk.proto = "icmpv6"
			}
			perm := d.perms[pk]
			if perm == nil {
				perm = &permission{key: pk, ranges: map[netip.Prefix][]string{}}
				d.perms[pk] = perm
				d.order = append(d.order, pk)
			}
			if _, ok := perm.ranges[pr]; !ok {
				perm.order = append(perm.order, pr)
				d.rules[family(pr)]++
			}
			if ids := perm.ranges[pr]; len(ids) == 0 || ids[len(ids)-1] != id {
				perm.ranges[pr] = append(ids, id)
			}
		}
	}
}

// The JSON shapes of AuthorizeSecurityGroupIngressInput and
// AuthorizeSecurityGroupEgressInput as the AWS CLI's --cli-input-json takes
// them (member names of the EC2 API: IpPermission, IpRange, Ipv6Range).
type input struct {
	GroupID       string         `json:"GroupId"`
	IPPermissions []ipPermission `json:"IpPermissions"`
}

type ipPermission struct {
	IPProtocol string      `json:"IpProtocol"`
	FromPort   *int        `json:"FromPort,omitempty"`
	ToPort     *int        `json:"ToPort,omitempty"`
	IPRanges   []ipRange   `json:"IpRanges,omitempty"`
	IPv6Ranges []ipv6Range `json:"Ipv6Ranges,omitempty"`
}

type ipRange struct {
	CidrIP      string `json:"CidrIp"`
	Description string `json:"Description"`
}

type ipv6Range struct {
	CidrIPv6    string `json:"CidrIpv6"`
	Description string `json:"Description"`
}

func (d *direction) json() ([]byte, error) {
	in := input{GroupID: GroupID, IPPermissions: []ipPermission{}}
	keys := append([]permKey(nil), d.order...)
	sort.SliceStable(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.proto != b.proto {
			return a.proto < b.proto
		}
		if a.from != b.from {
			return a.from < b.from
		}
		return a.to < b.to
	})
	for _, k := range keys {
		perm := d.perms[k]
		ip := ipPermission{IPProtocol: k.proto}
		if k.proto != "-1" && (k.proto == "tcp" || k.proto == "udp" || k.proto == "icmp" || k.proto == "icmpv6") {
			from, to := k.from, k.to
			ip.FromPort, ip.ToPort = &from, &to
		}
		ranges := append([]netip.Prefix(nil), perm.order...)
		sort.Slice(ranges, func(i, j int) bool {
			return ranges[i].Addr().Less(ranges[j].Addr()) || ranges[i].Addr() == ranges[j].Addr() && ranges[i].Bits() < ranges[j].Bits()
		})
		for _, pr := range ranges {
			desc := description(perm.ranges[pr])
			if family(pr) == 4 {
				ip.IPRanges = append(ip.IPRanges, ipRange{CidrIP: pr.String(), Description: desc})
			} else {
				ip.IPv6Ranges = append(ip.IPv6Ranges, ipv6Range{CidrIPv6: pr.String(), Description: desc})
			}
		}
		in.IPPermissions = append(in.IPPermissions, ip)
	}
	b, err := json.MarshalIndent(in, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// description joins the flow ids of a rule in the characters and length AWS
// allows.
func description(ids []string) string {
	s := "teamsgate " + strings.Join(ids, ", ")
	b := []byte(s)
	for i, c := range b {
		if !strings.ContainsRune(descChars, rune(c)) {
			b[i] = '_'
		}
	}
	if len(b) > maxDescription {
		b = append(b[:maxDescription-3], "..."...)
	}
	return string(b)
}

// script writes apply.sh: for each security group, revoke the default
// allow-all egress rule (a render fails closed: AWS's default lets
// everything out), then authorize the rendered rules.
func script(groups map[string]*group, order []string, header []string) []byte {
	var b strings.Builder
	b.WriteString("#!/usr/bin/env bash\n")
	for _, h := range header {
		b.WriteString("# " + strings.Join(strings.Fields(h), " ") + "\n")
	}
	b.WriteString("#\n# Authorizes the rendered rules in existing security groups. Give each group's\n")
	b.WriteString("# id in the variable named below; --group-id on the command line takes\n")
	b.WriteString("# precedence over the " + GroupID + " placeholder in the JSON files.\n")
	b.WriteString("# Every group first loses AWS's default allow-all egress rule, so that only\n")
	b.WriteString("# the rendered flows leave it (none, for a group without egress flows).\n")
	b.WriteString("set -euo pipefail\n")
	for _, key := range order {
		g := groups[key]
		fmt.Fprintf(&b, "\n# Security group of %s\n", g.label)
		fmt.Fprintf(&b, "sg=\"${%s:?set %s to the id of the security group of %s}\"\n", g.envVar, g.envVar, g.label)
		{
			b.WriteString("aws ec2 revoke-security-group-egress --group-id \"$sg\" --ip-permissions '[{\"IpProtocol\":\"-1\",\"IpRanges\":[{\"CidrIp\":\"0.0.0.0/0\"}]}]' >/dev/null 2>&1 || true\n")
			b.WriteString("aws ec2 revoke-security-group-egress --group-id \"$sg\" --ip-permissions '[{\"IpProtocol\":\"-1\",\"Ipv6Ranges\":[{\"CidrIpv6\":\"::/0\"}]}]' >/dev/null 2>&1 || true\n")
		}
		if g.ingress != nil {
			fmt.Fprintf(&b, "aws ec2 authorize-security-group-ingress --group-id \"$sg\" --cli-input-json file://%s\n", fileName(g, "ingress"))
		}
		if g.egress != nil {
			fmt.Fprintf(&b, "aws ec2 authorize-security-group-egress --group-id \"$sg\" --cli-input-json file://%s\n", fileName(g, "egress"))
		}
	}
	return []byte(b.String())
}
