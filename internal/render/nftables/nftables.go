// Package nftables renders a plan as an `nft -f` script: one inet table,
// "teamsgate", with a named interval set per address group and
// default-drop base chains that accept established traffic and the plan's
// flows. The table is deleted and recreated in the same transaction, so
// applying the file twice gives the same ruleset. See README.md.
package nftables

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/render"
	"github.com/teamsgate/teamsgate/internal/view"
)

// Name is the target's name on the command line.
const Name = "nftables"

// FileName is the name of the rendered file.
const FileName = "teamsgate.nft"

// Table is the name of the inet table the file owns. Nothing outside it is
// touched.
const Table = "teamsgate"

// maxComment is the longest rule comment nft accepts, in bytes
// (NFTNL_UDATA_COMMENT_MAXLEN; nft rejects longer ones with "comment too
// long, 128 characters maximum allowed").
const maxComment = 128

// Renderer is the nftables target.
type Renderer struct{}

var _ render.Renderer = (*Renderer)(nil)

// New returns the nftables target.
func New() *Renderer { return &Renderer{} }

// Name implements render.Renderer.
func (*Renderer) Name() string { return Name }

// Description implements render.Renderer.
func (*Renderer) Description() string {
	return "nft -f script: inet table with named address sets, default-drop chains (IPv4 and IPv6)"
}

// Caps implements render.Renderer: addresses and ports only, with explicit
// drops.
func (*Renderer) Caps() view.Caps {
	return view.Caps{Deny: true, AddressesOnly: true, Reads: view.ChoiceFQDN | view.ChoiceServiceTags}
}

// chain is a base chain of the table.
type chain struct {
	name string
	hook string
	// host is true for the input and output chains of a scoped (host)
	// render, which also accept loopback and IPv6 neighbour discovery.
	host  bool
	dir   view.Direction
	rules []string
}

// Render implements render.Renderer.
func (r *Renderer) Render(p *model.Plan, opt view.Options) (render.Output, diag.List) {
	prep, ds := view.Prepare(p, Name, r.Caps(), opt)
	if ds.HasErrors() {
		return render.Output{}, ds
	}
	sets := newSetNamer(prep.Items)
	var chains []*chain
	if opt.Scope == "" {
		chains = []*chain{{name: "forward", hook: "forward", dir: view.Forward}}
	} else {
		chains = []*chain{
			{name: "input", hook: "input", host: true, dir: view.Inbound},
			{name: "output", hook: "output", host: true, dir: view.Outbound},
		}
	}
	for _, c := range chains {
		// Drops first: a plan deny holds whatever an allow says.
		for _, action := range []model.Action{model.Deny, model.Allow} {
			for _, it := range prep.Items {
				if it.Dir != c.dir || it.Rule.Action != action {
					continue
				}
				lines, err := ruleLines(it, sets)
				if err != nil {
					ds.Errorf(diag.Pos{}, it.Rule.ID, "%s: %v", Name, err)
					continue
				}
				c.rules = append(c.rules, "# "+oneLine(view.Comment(it)))
				if ref := reference(it.Rule.Reference); ref != "" {
					c.rules = append(c.rules, "#   source: "+oneLine(ref))
				}
				c.rules = append(c.rules, lines...)
			}
		}
	}
	if ds.HasErrors() {
		return render.Output{}, ds
	}
	header := view.Header(p, Name, opt, prep)
	var b strings.Builder
	b.WriteString("#!/usr/sbin/nft -f\n")
	for _, h := range header {
		b.WriteString("# " + oneLine(h) + "\n")
	}
	b.WriteString("#\n# Apply with: nft -f " + FileName + "\n")
	b.WriteString("# The table is created if missing, then deleted and defined again, all in one\n")
	b.WriteString("# transaction: applying this file twice leaves the same ruleset.\n\n")
	fmt.Fprintf(&b, "table inet %s\ndelete table inet %s\n\n", Table, Table)
	fmt.Fprintf(&b, "table inet %s {\n", Table)
	for _, s := range sets.sorted() {
		writeSet(&b, s)
	}
	for i, c := range chains {
		if i > 0 {
			b.WriteString("\n")
		}
		writeChain(&b, c)
	}
	b.WriteString("}\n")
	out := render.Output{
		Files:    map[string][]byte{FileName: []byte(b.String())},
		Warnings: append([]string(nil), prep.Header...),
	}
	return out, ds
}

func writeSet(b *strings.Builder, s *addrSet) {
	typ := "ipv4_addr"
	if s.v6 {
		typ = "ipv6_addr"
	}
	fmt.Fprintf(b, "\t# %s\n", oneLine(s.label))
	fmt.Fprintf(b, "\tset %s {\n\t\ttype %s\n\t\tflags interval\n\t\telements = {", s.name, typ)
	for i, p := range s.prefixes {
		if i > 0 {
			b.WriteString(",")
		}
		if i%4 == 0 {
			b.WriteString("\n\t\t\t")
		} else {
			b.WriteString(" ")
		}
		b.WriteString(element(p))
	}
	b.WriteString("\n\t\t}\n\t}\n\n")
}

func writeChain(b *strings.Builder, c *chain) {
	fmt.Fprintf(b, "\tchain %s {\n", c.name)
	fmt.Fprintf(b, "\t\ttype filter hook %s priority filter; policy drop;\n", c.hook)
	b.WriteString("\t\tct state established,related accept\n")
	b.WriteString("\t\tct state invalid drop\n")
	if c.host {
		if c.hook == "input" {
			b.WriteString("\t\tiif \"lo\" accept comment \"loopback\"\n")
		} else {
			b.WriteString("\t\toif \"lo\" accept comment \"loopback\"\n")
		}
		// Without neighbour discovery IPv6 stops working on the link;
		// RFC 4861 §7.1.1 and §6.1.1: valid ND messages have hop limit 255.
		b.WriteString("\t\ticmpv6 type { nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert } ip6 hoplimit 255 accept comment \"IPv6 neighbour discovery (RFC 4861)\"\n")
	}
	for _, r := range c.rules {
		b.WriteString("\t\t" + r + "\n")
	}
	b.WriteString("\t}\n")
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

// ruleLines renders one prepared item: a line per address family that both
// sides have (one family-less line when both sides are any). A rule whose
// sides share no family is an error: view.Prepare already refuses it, and
// a rule is never left out quietly.
func ruleLines(it view.Item, sets *setNamer) ([]string, error) {
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
	verdict := "accept"
	if r.Action == model.Deny {
		verdict = "drop"
	}
	tail := " " + verdict + " comment " + quote(view.Comment(it))
	if src.any && dst.any {
		return []string{join(match(r, 0), tail)}, nil
	}
	var lines []string
	for _, v6 := range []bool{false, true} {
		if !(src.any || len(src.of(v6)) > 0) || !(dst.any || len(dst.of(v6)) > 0) {
			continue
		}
		fam := "ip"
		famN := 4
		if v6 {
			fam, famN = "ip6", 6
		}
		var parts []string
		if !src.any {
			parts = append(parts, fam+" saddr @"+sets.name(r, r.Source, v6))
		}
		if !dst.any {
			parts = append(parts, fam+" daddr @"+sets.name(r, r.Destination, v6))
		}
		parts = append(parts, match(r, famN)...)
		lines = append(lines, join(parts, tail))
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("the source and the destination have no address family in common, so no packet can match")
	}
	return lines, nil
}

// restricted reports whether a port set names particular ports.
func restricted(s model.PortSet) bool { return !s.IsAny() && !s.IsEmpty() }

func join(parts []string, tail string) string { return strings.Join(parts, " ") + tail }

// match renders the protocol and port matches. fam is 4 or 6 for a line of
// one family, 0 for a family-less line.
func match(r model.Rule, fam int) []string {
	p := r.Proto
	if p.HasPorts() {
		var out []string
		if !r.SourcePorts.IsAny() {
			out = append(out, p.String()+" sport "+ports(r.SourcePorts))
		}
		if !r.DestPorts.IsAny() {
			out = append(out, p.String()+" dport "+ports(r.DestPorts))
		}
		if len(out) == 0 {
			out = append(out, "meta l4proto "+p.String())
		}
		return out
	}
	switch {
	case p == model.ProtoAny:
		return nil
	case p == model.ProtoICMP && fam == 4:
		return []string{"meta l4proto icmp"}
	case p == model.ProtoICMP && fam == 6:
		return []string{"meta l4proto ipv6-icmp"}
	case p == model.ProtoICMP:
		return []string{"meta l4proto { icmp, ipv6-icmp }"}
	}
	return []string{"meta l4proto " + strconv.Itoa(int(p))}
}

// ports renders a port set: "443", "16000-17000" or "{ 80, 443 }".
func ports(s model.PortSet) string {
	rs := s.Ranges()
	if len(rs) == 1 {
		return rs[0].String()
	}
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.String()
	}
	return "{ " + strings.Join(parts, ", ") + " }"
}

func element(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

// quote renders a rule comment as an nft string: double quotes become
// single quotes (nft strings have no escape), control characters become
// spaces, and the text is cut to nft's limit on a character boundary,
// ending in "...".
func quote(s string) string {
	return `"` + truncate(sanitize(s), maxComment) + `"`
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '"':
			return '\''
		case r < 0x20 || r == 0x7f:
			return ' '
		}
		return r
	}, s)
}

// truncate cuts s to at most max bytes, never inside a UTF-8 sequence,
// marking the cut with "...".
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max - 3
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
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

// addrSet is a named set of one address family.
type addrSet struct {
	name     string
	label    string
	v6       bool
	prefixes []netip.Prefix
}

// setNamer names the address groups of a render. A group is named after
// its role or catalog set; where the same name stands for different
// addresses (the role "bot" of two integrations), every group of that name
// is qualified with its integration, and a number is added if that is not
// enough. Names depend only on the items, never on the order of lookups.
type setNamer struct {
	names map[string]string // key → base name
	sets  map[string]*addrSet
}

// groupKey identifies an address group by its label and its addresses.
func groupKey(label string, t model.Target) string {
	var b strings.Builder
	b.WriteString(label)
	for _, p := range t.IPSet().Prefixes() {
		b.WriteString(" " + p.String())
	}
	return b.String()
}

func baseLabel(t model.Target) string {
	switch {
	case isInternet(t):
		// One set for every rule to the public Internet, whichever role
		// left at that default it stands for.
		return "internet"
	case t.Role != "":
		return t.Role
	case t.Set != "":
		return t.Set
	}
	return "addresses"
}

func newSetNamer(items []view.Item) *setNamer {
	n := &setNamer{names: map[string]string{}, sets: map[string]*addrSet{}}
	// base label → integration-qualified label → distinct group keys
	type group struct {
		qualified string
		key       string
	}
	byBase := map[string]map[string]group{}
	for _, it := range items {
		for _, t := range []model.Target{it.Rule.Source, it.Rule.Destination} {
			if t.Any {
				continue
			}
			base := baseLabel(t)
			q := base
			if t.Role != "" && !isInternet(t) {
				q = it.Rule.Integration + "_" + base
			}
			k := groupKey(base, t)
			if byBase[base] == nil {
				byBase[base] = map[string]group{}
			}
			byBase[base][k] = group{qualified: q, key: k}
		}
	}
	for base, groups := range byBase {
		if len(groups) == 1 {
			for k := range groups {
				n.names[k] = ident(base)
			}
			continue
		}
		// Qualify, then number what is still ambiguous, in key order.
		keys := make([]string, 0, len(groups))
		for k := range groups {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		count := map[string]int{}
		for _, k := range keys {
			count[groups[k].qualified]++
		}
		seen := map[string]int{}
		for _, k := range keys {
			q := groups[k].qualified
			name := ident(q)
			if count[q] > 1 {
				seen[q]++
				name += "_" + strconv.Itoa(seen[q])
			}
			n.names[k] = name
		}
	}
	return n
}

// name returns the set for the family of t's addresses, creating it.
func (n *setNamer) name(r model.Rule, t model.Target, v6 bool) string {
	k := groupKey(baseLabel(t), t)
	base := n.names[k]
	name := base + "_v4"
	if v6 {
		name = base + "_v6"
	}
	if _, ok := n.sets[name]; !ok {
		label := baseLabel(t)
		switch {
		case isInternet(t):
			label = "the public Internet: the unicast space less the special-use blocks (IANA special-purpose registries)"
		case t.Role != "":
			label = "role " + t.Role + " (" + r.Integration + ")"
		case t.Set != "":
			label = "address set " + t.Set
		}
		n.sets[name] = &addrSet{name: name, label: label, v6: v6, prefixes: split(t).of(v6)}
	}
	return name
}

// isInternet reports whether a target is the public Internet and nothing
// else (a role left at that default).
func isInternet(t model.Target) bool { return t.Internet && len(t.Prefixes) == 0 }

func (n *setNamer) sorted() []*addrSet {
	out := make([]*addrSet, 0, len(n.sets))
	for _, s := range n.sets {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// ident turns a label into an nft identifier: lower-case letters, digits
// and underscores, starting with a letter.
func ident(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	out := b.String()
	if out == "" || out[0] < 'a' || out[0] > 'z' {
		out = "s_" + out
	}
	return out
}
