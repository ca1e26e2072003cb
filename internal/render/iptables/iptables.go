// Package iptables renders a plan as two iptables-restore files, rules.v4
// for iptables-restore and rules.v6 for ip6tables-restore. Each replaces
// the filter table: default-drop policies on the chains the render manages,
// established and related traffic accepted, and the plan's flows in a
// custom chain per direction. See README.md.
package iptables

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/render"
	"github.com/teamsgate/teamsgate/internal/view"
)

// Name is the target's name on the command line.
const Name = "iptables"

// The rendered files.
const (
	FileV4 = "rules.v4"
	FileV6 = "rules.v6"
)

// The custom chains, one per direction.
const (
	ChainIn      = "teamsgate-in"
	ChainOut     = "teamsgate-out"
	ChainForward = "teamsgate-fwd"
)

// maxComment is the longest comment the comment match keeps, in bytes
// (XT_MAX_COMMENT_LEN is 256 with the terminating NUL).
const maxComment = 255

// maxMultiport is how many ports one multiport match takes; a range counts
// as two (XT_MULTI_PORTS, iptables-extensions(8) "multiport").
const maxMultiport = 15

// Renderer is the iptables target.
type Renderer struct{}

var _ render.Renderer = (*Renderer)(nil)

// New returns the iptables target.
func New() *Renderer { return &Renderer{} }

// Name implements render.Renderer.
func (*Renderer) Name() string { return Name }

// Description implements render.Renderer.
func (*Renderer) Description() string {
	return "iptables-restore and ip6tables-restore files (rules.v4, rules.v6): filter table, default-drop policies"
}

// Caps implements render.Renderer: addresses and ports only, with explicit
// drops.
func (*Renderer) Caps() view.Caps {
	return view.Caps{Deny: true, AddressesOnly: true, Reads: view.ChoiceFQDN | view.ChoiceServiceTags}
}

// builtin is a built-in chain and, when the render manages it, the custom
// chain it jumps to.
type builtin struct {
	name   string
	custom string // empty: not managed, policy ACCEPT, no rules
	dir    view.Direction
	host   bool
}

// Render implements render.Renderer.
func (r *Renderer) Render(p *model.Plan, opt view.Options) (render.Output, diag.List) {
	prep, ds := view.Prepare(p, Name, r.Caps(), opt)
	if ds.HasErrors() {
		return render.Output{}, ds
	}
	chains := []builtin{{name: "INPUT"}, {name: "FORWARD", custom: ChainForward, dir: view.Forward}, {name: "OUTPUT"}}
	if opt.Scope != "" {
		chains = []builtin{
			{name: "INPUT", custom: ChainIn, dir: view.Inbound, host: true},
			{name: "FORWARD"},
			{name: "OUTPUT", custom: ChainOut, dir: view.Outbound, host: true},
		}
	}
	var warnings []string
	body := map[bool]map[string][]string{false: {}, true: {}}
	for _, c := range chains {
		if c.custom == "" {
			continue
		}
		// Drops first: a plan deny holds whatever an allow says.
		for _, action := range []model.Action{model.Deny, model.Allow} {
			for _, it := range prep.Items {
				if it.Dir != c.dir || it.Rule.Action != action {
					continue
				}
				byFam, err := ruleLines(c.custom, it)
				if err != nil {
					ds.Errorf(diag.Pos{}, it.Rule.ID, "%s: %v", Name, err)
					continue
				}
				if len(byFam[false])+len(byFam[true]) == 0 {
					// view.Prepare refuses such a rule; never leave one
					// out quietly.
					ds.Errorf(diag.Pos{}, it.Rule.ID, "%s: the source and the destination have no address family in common, so no packet can match", Name)
					continue
				}
				for _, v6 := range []bool{false, true} {
					if len(byFam[v6]) == 0 {
						continue
					}
					lines := body[v6][c.custom]
					lines = append(lines, "# "+oneLine(view.Comment(it)))
					if ref := reference(it.Rule.Reference); ref != "" {
						lines = append(lines, "#   source: "+oneLine(ref))
					}
					body[v6][c.custom] = append(lines, byFam[v6]...)
				}
			}
		}
	}
	if ds.HasErrors() {
		return render.Output{}, ds
	}
	header := append(view.Header(p, Name, opt, prep), warnings...)
	out := render.Output{
		Files: map[string][]byte{
			FileV4: file(header, chains, body[false], false),
			FileV6: file(header, chains, body[true], true),
		},
		Warnings: append(append([]string(nil), prep.Header...), warnings...),
	}
	return out, ds
}

func file(header []string, chains []builtin, body map[string][]string, v6 bool) []byte {
	var b strings.Builder
	cmd, fam := "iptables-restore", "IPv4"
	if v6 {
		cmd, fam = "ip6tables-restore", "IPv6"
	}
	for _, h := range header {
		b.WriteString("# " + oneLine(h) + "\n")
	}
	fmt.Fprintf(&b, "#\n# %s rules. Apply with: %s < %s\n", fam, cmd, map[bool]string{false: FileV4, true: FileV6}[v6])
	b.WriteString("# This replaces the whole filter table. Chains this render does not manage keep\n")
	b.WriteString("# policy ACCEPT and no rules.\n")
	b.WriteString("*filter\n")
	for _, c := range chains {
		policy := "ACCEPT"
		if c.custom != "" {
			policy = "DROP"
		}
		fmt.Fprintf(&b, ":%s %s [0:0]\n", c.name, policy)
	}
	for _, c := range chains {
		if c.custom != "" {
			fmt.Fprintf(&b, ":%s - [0:0]\n", c.custom)
		}
	}
	for _, c := range chains {
		if c.custom == "" {
			continue
		}
		fmt.Fprintf(&b, "-A %s -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n", c.name)
		fmt.Fprintf(&b, "-A %s -m conntrack --ctstate INVALID -j DROP\n", c.name)
		if c.host {
			lo := "-i lo"
			if c.name == "OUTPUT" {
				lo = "-o lo"
			}
			fmt.Fprintf(&b, "-A %s %s -m comment --comment \"loopback\" -j ACCEPT\n", c.name, lo)
			if v6 {
				// Without neighbour discovery IPv6 stops working on the
				// link; RFC 4861: valid ND messages have hop limit 255.
				for _, t := range []string{"router-solicitation", "router-advertisement", "neighbour-solicitation", "neighbour-advertisement"} {
					fmt.Fprintf(&b, "-A %s -p ipv6-icmp -m icmp6 --icmpv6-type %s -m hl --hl-eq 255 -m comment --comment \"IPv6 neighbour discovery (RFC 4861)\" -j ACCEPT\n", c.name, t)
				}
			}
		}
		fmt.Fprintf(&b, "-A %s -j %s\n", c.name, c.custom)
	}
	for _, c := range chains {
		if c.custom == "" {
			continue
		}
		for _, l := range body[c.custom] {
			b.WriteString(l + "\n")
		}
	}
	b.WriteString("COMMIT\n")
	return []byte(b.String())
}

// ruleLines renders one prepared item as rules of chain, per address
// family (false: IPv4, true: IPv6): one rule per source prefix,
// destination prefix and multiport chunk.
func ruleLines(chain string, it view.Item) (map[bool][]string, error) {
	r := it.Rule
	if !r.Proto.HasPorts() && (restricted(r.SourcePorts) || restricted(r.DestPorts)) {
		return nil, fmt.Errorf("protocol %s cannot carry the ports %s → %s", r.Proto, r.SourcePorts, r.DestPorts)
	}
	if r.Proto.HasPorts() && (r.SourcePorts.IsEmpty() || r.DestPorts.IsEmpty()) {
		return nil, fmt.Errorf("empty port set (%s → %s)", r.SourcePorts, r.DestPorts)
	}
	src, dst := split(r.Source), split(r.Destination)
	if !src.any && len(src.v4)+len(src.v6) == 0 {
		return nil, fmt.Errorf("the source has no address")
	}
	if !dst.any && len(dst.v4)+len(dst.v6) == 0 {
		return nil, fmt.Errorf("the destination has no address")
	}
	target := "ACCEPT"
	if r.Action == model.Deny {
		target = "DROP"
	}
	tail := " -m comment --comment " + quote(view.Comment(it)) + " -j " + target
	out := map[bool][]string{}
	for _, v6 := range []bool{false, true} {
		if !(src.any || len(src.of(v6)) > 0) || !(dst.any || len(dst.of(v6)) > 0) {
			continue
		}
		matches := portMatches(r.Proto, r.SourcePorts, r.DestPorts, v6)
		for _, s := range addrs(src, v6) {
			for _, d := range addrs(dst, v6) {
				for _, m := range matches {
					line := "-A " + chain
					if s.IsValid() {
						line += " -s " + s.String()
					}
					if d.IsValid() {
						line += " -d " + d.String()
					}
					out[v6] = append(out[v6], line+m+tail)
				}
			}
		}
	}
	return out, nil
}

// addrs lists a side's prefixes of one family; the zero prefix stands for
// any address.
func addrs(s sides, v6 bool) []netip.Prefix {
	if s.any {
		return []netip.Prefix{{}}
	}
	return s.of(v6)
}

// restricted reports whether a port set names particular ports.
func restricted(s model.PortSet) bool { return !s.IsAny() && !s.IsEmpty() }

// portMatches renders the protocol and port matches, one variant per
// combination of multiport chunks.
func portMatches(p model.Proto, sp, dp model.PortSet, v6 bool) []string {
	switch {
	case p == model.ProtoAny:
		return []string{""}
	case p == model.ProtoICMP && v6:
		return []string{" -p ipv6-icmp"}
	case p == model.ProtoICMP:
		return []string{" -p icmp"}
	case !p.HasPorts():
		return []string{" -p " + strconv.Itoa(int(p))}
	}
	proto := " -p " + p.String()
	sChunks, dChunks := chunks(sp), chunks(dp)
	var out []string
	for _, s := range sChunks {
		for _, d := range dChunks {
			var single, multi string
			switch {
			case s == nil:
			case len(s) == 1:
				single += " --sport " + portRange(s[0])
			default:
				multi += " -m multiport --sports " + portList(s)
			}
			switch {
			case d == nil:
			case len(d) == 1:
				single += " --dport " + portRange(d[0])
			default:
				multi += " -m multiport --dports " + portList(d)
			}
			m := proto
			if single != "" {
				m += " -m " + p.String() + single
			}
			out = append(out, m+multi)
		}
	}
	return out
}

// chunks splits a port set into lists that fit one multiport match; a nil
// chunk means any port.
func chunks(s model.PortSet) [][]model.PortRange {
	if s.IsAny() {
		return [][]model.PortRange{nil}
	}
	var out [][]model.PortRange
	var cur []model.PortRange
	cost := 0
	for _, r := range s.Ranges() {
		c := 1
		if r.First != r.Last {
			c = 2
		}
		if cost+c > maxMultiport {
			out = append(out, cur)
			cur, cost = nil, 0
		}
		cur = append(cur, r)
		cost += c
	}
	return append(out, cur)
}

func portRange(r model.PortRange) string {
	if r.First == r.Last {
		return strconv.Itoa(int(r.First))
	}
	return strconv.Itoa(int(r.First)) + ":" + strconv.Itoa(int(r.Last))
}

func portList(rs []model.PortRange) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = portRange(r)
	}
	return strings.Join(parts, ",")
}

// sides splits a target into its IPv4 and IPv6 prefixes, merged and
// sorted, or any.
type sides struct {
	any    bool
	v4, v6 []netip.Prefix
}

func split(t model.Target) sides {
	if t.Any {
		return sides{any: true}
	}
	var s sides
	for _, p := range t.IPSet().Prefixes() {
		if p.Addr().Is4() {
			s.v4 = append(s.v4, p)
		} else {
			s.v6 = append(s.v6, p)
		}
	}
	return s
}

func (s sides) of(v6 bool) []netip.Prefix {
	if v6 {
		return s.v6
	}
	return s.v4
}

// quote renders a comment as an iptables-restore argument: double quotes
// become single quotes, control characters spaces, and the text is cut to
// the comment match's limit on a character boundary, ending in "...".
func quote(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '"':
			return '\''
		case r == '\\':
			return '/'
		case r < 0x20 || r == 0x7f:
			return ' '
		}
		return r
	}, s)
	if len(s) > maxComment {
		cut := maxComment - 3
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return `"` + s + `"`
}

// reference renders a rule's source as "document §section", without the
// document's title, which the header of a long file would repeat on every
// rule.
func reference(r model.Reference) string {
	r.Title = ""
	return r.String()
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)), " ")
}
