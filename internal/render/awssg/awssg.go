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
	"github.com/teamsgate/teamsgate/internal/view"
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
func (*Renderer) Caps() view.Caps {
	return view.Caps{AddressesOnly: true, Reads: view.ChoiceFQDN | view.ChoiceServiceTags}
}

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
func (r *Renderer) Render(p *model.Plan, opt view.Options) (render.Output, diag.List) {
	prep, ds := view.Prepare(p, Name, r.Caps(), opt)
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
		case view.Inbound:
			places = append(places, place{groupFor("", ""), true, rule.Source})
		case view.Outbound:
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
		if err := internetFits(rule, len(perms)); err != nil {
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
				n, limit, why := (*d).rules[fam], maxRules, ","
				if !pl.in {
					// apply.sh authorizes the egress rules while AWS's
					// default egress rule of the family, which counts
					// against the quota, is still in the group.
					limit--
					why = fmt.Sprintf(", %d with AWS's default allow-all egress rule (apply.sh revokes it only once the rendered rules are in),", n+1)
				}
				if n > limit && before[fam] <= limit {
					ds.Errorf(diag.Pos{}, rule.ID, "%s: with this flow the security group of %s needs %d %s %s rules%s more than the %d AWS allows by default (Amazon VPC quotas, \"Inbound or outbound rules per security group\"; one rule per address range and port range); ask AWS to raise the quota, or narrow the flow's addresses",
						Name, pl.g.label, n, map[bool]string{true: "inbound", false: "outbound"}[pl.in], map[int]string{4: "IPv4", 6: "IPv6"}[fam], why, maxRules)
				}
			}
		}
	}
	if ds.HasErrors() {
		return render.Output{}, ds
	}
	header := view.Header(p, Name, opt, prep)
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
	if t.Internet {
		return t.IPSet().Prefixes()
	}
	return t.Prefixes
}

// internetFits refuses a peer that is the public Internet when its
// prefixes cannot fit a security group: it is one rule per prefix and port
// range (116 IPv4 prefixes, more than the 60 rules per direction and family
// of the default quota, for a single port), and a security group, which
// has no deny rule, cannot write it as 0.0.0.0/0 less the special-use
// blocks either. Rendering 0.0.0.0/0 instead would also let the flow reach
// private space (the VPC itself); the render fails closed and says how to
// narrow the flow.
func internetFits(r *model.Rule, portRanges int) error {
	peer := r.Destination
	if r.Source.Internet {
		peer = r.Source
	}
	if !peer.Internet {
		return nil
	}
	n := map[int]int{}
	for _, p := range peer.IPSet().Prefixes() {
		n[family(p)] += portRanges
	}
	fam, most := 4, n[4]
	if n[6] > most {
		fam, most = 6, n[6]
	}
	if most < maxRules {
		return nil
	}
	what, hint := "the public Internet", "give the flow's addresses in the spec"
	if peer.Role != "" {
		what = fmt.Sprintf("role %s is the public Internet (its default)", peer.Role)
		hint = fmt.Sprintf("bind %s to the addresses the flow goes to (integrations.%s.roles.%s.addresses)", peer.Role, r.Integration, peer.Role)
	}
	return fmt.Errorf("%s: %d IPv4 and %d IPv6 prefixes, one rule each per port range (%d IPv%d rules here), where a security group holds %d per direction and family (Amazon VPC quotas); with no deny rule, a group cannot write it as any address less the special-use blocks either: %s, or render this flow for azure-nsg, azure-firewall, nftables, iptables or kubernetes",
		what, n[4]/portRanges, n[6]/portRanges, most, fam, maxRules, hint)
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

// cutDescriptions lists, for each rule whose flow ids do not fit in AWS's
// 255-character description, the rule and every flow id: the provenance a
// description cuts short is kept in apply.sh's comments.
func (d *direction) cutDescriptions() []string {
	var out []string
	for _, k := range d.order {
		perm := d.perms[k]
		for _, pr := range perm.order {
			ids := perm.ranges[pr]
			if len("teamsgate "+strings.Join(ids, ", ")) <= maxDescription {
				continue
			}
			ports := ""
			if k.proto == "tcp" || k.proto == "udp" {
				ports = fmt.Sprintf(" port %d", k.from)
				if k.to != k.from {
					ports = fmt.Sprintf(" ports %d-%d", k.from, k.to)
				}
			}
			out = append(out, fmt.Sprintf("%s %s%s (description cut to 255 characters) carries %s", k.proto, pr, ports, strings.Join(ids, ", ")))
		}
	}
	return out
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

// script writes apply.sh. It never takes access away before what replaces
// it is in: first every group's rendered ingress and egress rules are
// authorized, and only then does each group lose AWS's default allow-all
// egress rule (a render fails closed: the default lets everything out). It
// stops at the first error; a default rule that is not there is no error.
// The JSON files are read from the script's own directory, since the AWS
// CLI resolves a relative file:// path against the caller's working
// directory (AWS CLI User Guide, "Loading AWS CLI parameters from a file").
func script(groups map[string]*group, order []string, header []string) []byte {
	var b strings.Builder
	b.WriteString("#!/usr/bin/env bash\n")
	for _, h := range header {
		b.WriteString("# " + strings.Join(strings.Fields(h), " ") + "\n")
	}
	b.WriteString(`#
# Authorizes the rendered rules in existing security groups. Give each group's
# id in the variable named below; --group-id on the command line takes
# precedence over the ` + GroupID + ` placeholder in the JSON files. The JSON
# files are read next to this script: run it from any directory.
#
# Order: first every group's ingress and egress rules are authorized; only
# then does each group lose AWS's default allow-all egress rule (-1 to
# 0.0.0.0/0 and ::/0), so that only the rendered flows leave it (none, for a
# group without egress flows). The script stops at the first error: if an
# authorization fails, no default egress rule has been revoked. A default rule
# that is not there is fine (InvalidPermission.NotFound, or UnknownIpPermissions
# in a successful answer); any other failure to revoke stops the script.
# A second run stops at its first authorization with InvalidPermission.Duplicate,
# before revoking anything.
set -euo pipefail

here="$(CDPATH= cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
step="authorizing the rendered rules; no default egress rule has been revoked"
trap 'echo "` + ScriptFile + `: stopped: a command failed while $step" >&2' ERR

# revoke_default_egress removes AWS's default egress rule, -1 to 0.0.0.0/0 and
# to ::/0, from the group $1 (of $2). A rule that is not there is fine: the
# older EC2 API answers InvalidPermission.NotFound, the newer one succeeds and
# lists it in UnknownIpPermissions. Any other failure stops the script.
revoke_default_egress() {
  local perm err
  for perm in '[{"IpProtocol":"-1","IpRanges":[{"CidrIp":"0.0.0.0/0"}]}]' '[{"IpProtocol":"-1","Ipv6Ranges":[{"CidrIpv6":"::/0"}]}]'; do
    if ! err="$(aws ec2 revoke-security-group-egress --group-id "$1" --ip-permissions "$perm" 2>&1 >/dev/null)"; then
      if [[ $err == *"(InvalidPermission.NotFound)"* ]]; then
        continue
      fi
      printf '%s\n' "$err" >&2
      echo "` + ScriptFile + `: stopped: revoking the default egress rule $perm of the security group of $2 ($1) failed; its rendered rules are in" >&2
      exit 1
    fi
  done
}
`)
	b.WriteString("\n# The security groups: every id is checked before anything changes.\n")
	for _, key := range order {
		g := groups[key]
		fmt.Fprintf(&b, ": \"${%s:?set %s to the id of the security group of %s}\"\n", g.envVar, g.envVar, g.label)
	}
	var files []string
	for _, key := range order {
		g := groups[key]
		if g.ingress != nil {
			files = append(files, fileName(g, "ingress"))
		}
		if g.egress != nil {
			files = append(files, fileName(g, "egress"))
		}
	}
	if len(files) > 0 {
		b.WriteString("for f in")
		for _, f := range files {
			b.WriteString(" " + f)
		}
		b.WriteString("; do\n")
		b.WriteString("  [[ -r \"$here/$f\" ]] || { echo \"" + ScriptFile + ": $here/$f is missing: keep the files teamsgate rendered together\" >&2; exit 1; }\n")
		b.WriteString("done\n")
	}
	b.WriteString("\n# 1. Authorize every group's rules.\n")
	for _, key := range order {
		g := groups[key]
		fmt.Fprintf(&b, "\n# Security group of %s\n", g.label)
		for _, d := range []struct {
			dir  *direction
			name string
		}{{g.ingress, "ingress"}, {g.egress, "egress"}} {
			if d.dir == nil {
				continue
			}
			for _, l := range d.dir.cutDescriptions() {
				fmt.Fprintf(&b, "#   %s %s\n", d.name, l)
			}
		}
		if g.ingress != nil {
			fmt.Fprintf(&b, "aws ec2 authorize-security-group-ingress --group-id \"$%s\" --cli-input-json \"file://$here/%s\"\n", g.envVar, fileName(g, "ingress"))
		}
		if g.egress != nil {
			fmt.Fprintf(&b, "aws ec2 authorize-security-group-egress --group-id \"$%s\" --cli-input-json \"file://$here/%s\"\n", g.envVar, fileName(g, "egress"))
		}
	}
	b.WriteString("\n# 2. Every group's rules are in: revoke the default egress rules.\n")
	b.WriteString("step=\"revoking the default egress rules; every group's rendered rules are in\"\n")
	for _, key := range order {
		g := groups[key]
		fmt.Fprintf(&b, "revoke_default_egress \"$%s\" %s\n", g.envVar, shellQuote(g.label))
	}
	return []byte(b.String())
}

// shellQuote single-quotes a word for the shell.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
