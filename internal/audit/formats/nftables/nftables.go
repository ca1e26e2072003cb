// Package nftables reads `nft -j list ruleset` output (libnftables JSON,
// libnftables-json(5)) into the audit model.
//
// Semantics from nft(8) and the nftables wiki ("Netfilter hooks",
// "Configuring chains", "Jumping to chain"): a packet crosses, for each
// hook on its way, every base chain registered there in priority order
// (lowest first) in tables of its family (ip, ip6, or inet for both). In a
// chain, rules are tried in order; accept ends that base chain (the next
// base chain still sees the packet), drop and reject end everything, jump
// returns after the called chain, goto does not, return goes back to the
// caller, and a base chain's policy decides what falls off its end. Chains
// of type nat are not evaluated (they rewrite addresses), nor are tables of
// the arp, bridge and netdev families.
package nftables

import (
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"

	"go4.org/netipx"

	"github.com/teamsgate/teamsgate/internal/audit/packet"
	"github.com/teamsgate/teamsgate/internal/audit/ruleset"
	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/jsonpos"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/view"
)

// hooks gives, per direction, the hooks a packet crosses in order.
var hooks = map[view.Direction][]string{
	view.Inbound:  {"prerouting", "input"},
	view.Outbound: {"output", "postrouting"},
	view.Forward:  {"prerouting", "forward", "postrouting"},
}

type tableKey struct{ family, name string }

type chainInfo struct {
	chain *ruleset.Chain
	v     *jsonpos.Value
	typ   string
	order int
	key   tableKey
	fam   ruleset.Family
}

type setInfo struct {
	v     *jsonpos.Value
	typ   string
	isMap bool
	data  string
}

type parser struct {
	ds     diag.List
	cfg    *ruleset.Config
	tables map[tableKey]bool
	chains map[tableKey]map[string]*chainInfo
	sets   map[tableKey]map[string]*setInfo
	order  []*chainInfo
	rules  []*jsonpos.Value
}

// Parse reads `nft -j list ruleset` output.
func Parse(data []byte) (*ruleset.Config, diag.List) {
	root, ds := jsonpos.Parse(data)
	if ds.HasErrors() {
		return nil, ds
	}
	p := &parser{
		cfg:    &ruleset.Config{Format: "nftables", Paths: map[view.Direction][]*ruleset.Chain{}},
		tables: map[tableKey]bool{},
		chains: map[tableKey]map[string]*chainInfo{},
		sets:   map[tableKey]map[string]*setInfo{},
	}
	list := root.Get("nftables")
	if root.Kind != jsonpos.Object || list == nil || list.Kind != jsonpos.Array {
		p.ds.Errorf(root.Pos, root.Path, "not `nft -j list ruleset` output: no \"nftables\" array")
		return nil, p.ds
	}
	for _, it := range list.Items {
		p.object(it)
	}
	for _, r := range p.rules {
		p.rule(r)
	}
	p.paths()
	p.cfg.BreakJumpLoops(&p.ds)
	return p.cfg, p.ds
}

// ParseFile reads and parses an nft JSON file.
func ParseFile(name string) (*ruleset.Config, diag.List) {
	b, err := os.ReadFile(name)
	if err != nil {
		var ds diag.List
		ds.Errorf(diag.Pos{File: name}, "", "cannot read: %s", diag.FileReason(err))
		return nil, ds
	}
	c, ds := Parse(b)
	return c, ds.WithFile(name)
}

func str(v *jsonpos.Value) string {
	if v == nil || v.Kind != jsonpos.String {
		return ""
	}
	return v.Str
}

func familyOf(f string) (ruleset.Family, bool) {
	switch f {
	case "ip":
		return ruleset.FamilyV4, true
	case "ip6":
		return ruleset.FamilyV6, true
	case "inet":
		return ruleset.FamilyBoth, true
	}
	return 0, false
}

func (p *parser) object(it *jsonpos.Value) {
	if it.Kind != jsonpos.Object || len(it.Fields) != 1 {
		p.ds.Errorf(it.Pos, it.Path, "each element of \"nftables\" must be an object with one key")
		return
	}
	f := it.Fields[0]
	v := f.Value
	if v.Kind != jsonpos.Object && f.Key != "metainfo" {
		p.ds.Errorf(v.Pos, v.Path, "%s must be an object, not %s", f.Key, v.Describe())
		return
	}
	key := tableKey{str(v.Get("family")), str(v.Get("table"))}
	switch f.Key {
	case "metainfo":
	case "table":
		k := tableKey{str(v.Get("family")), str(v.Get("name"))}
		if k.family == "" || k.name == "" {
			p.ds.Errorf(v.Pos, v.Path, "table needs a family and a name")
			return
		}
		p.tables[k] = true
		if _, ok := familyOf(k.family); !ok {
			p.cfg.Notes = append(p.cfg.Notes, fmt.Sprintf("table %s %s is not evaluated: the audit checks IP traffic (ip, ip6 and inet tables)", k.family, k.name))
		}
	case "chain":
		p.chain(v, key)
	case "set", "map":
		name := str(v.Get("name"))
		if name == "" || !p.tables[key] {
			p.ds.Errorf(v.Pos, v.Path, "%s needs a name and a declared table", f.Key)
			return
		}
		si := &setInfo{v: v, isMap: f.Key == "map"}
		if t := v.Get("type"); t != nil && t.Kind == jsonpos.String {
			si.typ = t.Str
		} else if t != nil && t.Kind == jsonpos.Array {
			si.typ = "concat"
		}
		si.data = str(v.Get("map"))
		if p.sets[key] == nil {
			p.sets[key] = map[string]*setInfo{}
		}
		p.sets[key][name] = si
	case "rule":
		p.rules = append(p.rules, v)
	case "element":
		p.ds.Warnf(v.Pos, v.Path, "separate element objects are ignored; `nft -j list ruleset` lists elements inside their set")
	default:
		// flowtable, counter, quota, ct helper, limit, secmark, synproxy:
		// named objects that do not filter by themselves.
	}
}

func (p *parser) chain(v *jsonpos.Value, key tableKey) {
	name := str(v.Get("name"))
	if name == "" || !p.tables[key] {
		p.ds.Errorf(v.Pos, v.Path, "chain needs a name and a declared table")
		return
	}
	fam, ipFamily := familyOf(key.family)
	ci := &chainInfo{v: v, key: key, fam: fam, typ: str(v.Get("type")), order: len(p.order)}
	ch := &ruleset.Chain{Name: key.family + " " + key.name + " " + name, Table: key.family + " " + key.name, Family: fam, Pos: v.Pos}
	ci.chain = ch
	if p.chains[key] == nil {
		p.chains[key] = map[string]*chainInfo{}
	}
	if _, dup := p.chains[key][name]; dup {
		p.ds.Errorf(v.Pos, ch.Name, "chain declared twice")
		return
	}
	p.chains[key][name] = ci
	if hook := str(v.Get("hook")); hook != "" {
		ch.Hook = hook
		prio, ok := v.Get("prio").Int()
		if !ok {
			p.ds.Errorf(v.Pos, ch.Name, "base chain without a numeric prio")
		}
		ch.Priority = int(prio)
		pol := str(v.Get("policy"))
		act := ruleset.Accept
		switch pol {
		case "", "accept":
			pol = "accept"
		case "drop":
			act = ruleset.Drop
		default:
			p.ds.Errorf(v.Get("policy").Pos, ch.Name, "policy must be accept or drop, not %q", pol)
		}
		ch.Policy = &ruleset.Line{ID: ch.Name + " policy " + pol, Chain: ch.Name, Text: "policy " + pol, Pos: v.Pos, Action: act, Default: true, Matches: []ruleset.Match{ruleset.NewMatch()}}
	}
	if ipFamily {
		p.cfg.Chains = append(p.cfg.Chains, ch)
		p.order = append(p.order, ci)
	}
}

// paths lists each direction's base chains by hook and priority.
func (p *parser) paths() {
	var fams ruleset.Family
	for dir, hs := range hooks {
		var cs []*chainInfo
		for _, ci := range p.order {
			if ci.chain.Hook == "" {
				continue
			}
			if ci.typ == "nat" {
				continue
			}
			for _, h := range hs {
				if ci.chain.Hook == h {
					cs = append(cs, ci)
				}
			}
		}
		hookIdx := func(h string) int {
			for i, x := range hs {
				if x == h {
					return i
				}
			}
			return 0
		}
		sort.SliceStable(cs, func(i, j int) bool {
			a, b := cs[i], cs[j]
			if hookIdx(a.chain.Hook) != hookIdx(b.chain.Hook) {
				return hookIdx(a.chain.Hook) < hookIdx(b.chain.Hook)
			}
			if a.chain.Priority != b.chain.Priority {
				return a.chain.Priority < b.chain.Priority
			}
			return a.order < b.order
		})
		for _, ci := range cs {
			p.cfg.Paths[dir] = append(p.cfg.Paths[dir], ci.chain)
			fams |= ci.fam
		}
	}
	for _, ci := range p.order {
		if ci.typ == "nat" {
			p.cfg.Notes = append(p.cfg.Notes, fmt.Sprintf("chain %s (type nat) is not evaluated: nat chains rewrite addresses and ports", ci.chain.Name))
		}
	}
	if fams == 0 {
		fams = ruleset.FamilyBoth
		p.cfg.Notes = append(p.cfg.Notes, "the ruleset has no IP base chain of type filter: nothing is filtered")
	}
	// A family no base chain filters is still let through: the audit
	// evaluates it (every chain passes it) rather than leaving it out.
	p.cfg.Families = ruleset.FamilyBoth
}

// ruleState is one rule being lowered.
type ruleState struct {
	p     *parser
	key   tableKey
	v     *jsonpos.Value
	ci    *chainInfo
	m     ruleset.Match
	text  []string
	unres []string
	errs  bool
	// flagMask is the mask of a "tcp flags & MASK" operand.
	flagMask int
}

func (st *ruleState) errorf(v *jsonpos.Value, format string, args ...any) {
	pos := st.v.Pos
	if v != nil {
		pos = v.Pos
	}
	st.p.ds.Errorf(pos, st.ci.chain.Name, format, args...)
	st.errs = true
}

func (p *parser) rule(v *jsonpos.Value) {
	key := tableKey{str(v.Get("family")), str(v.Get("table"))}
	ci := p.chains[key][str(v.Get("chain"))]
	if ci == nil {
		p.ds.Errorf(v.Pos, v.Path, "rule for chain %q of table %s %s, which is not declared", str(v.Get("chain")), key.family, key.name)
		return
	}
	if _, ok := familyOf(key.family); !ok {
		return
	}
	exprs := v.Get("expr")
	if exprs == nil || exprs.Kind != jsonpos.Array {
		p.ds.Errorf(v.Pos, v.Path, "rule without an expr array")
		return
	}
	st := &ruleState{p: p, key: key, v: v, ci: ci, m: ruleset.NewMatch()}
	ch := ci.chain
	handle := v.Get("handle")
	var lines []*ruleset.Line
	verdict := false
	for _, e := range exprs.Items {
		if verdict {
			break
		}
		if e.Kind != jsonpos.Object || len(e.Fields) != 1 {
			st.errorf(e, "a statement must be an object with one key")
			continue
		}
		f := e.Fields[0]
		switch f.Key {
		case "match":
			st.match(f.Value)
		case "accept", "drop", "reject", "return", "continue", "queue":
			act := map[string]ruleset.Action{"accept": ruleset.Accept, "drop": ruleset.Drop, "reject": ruleset.Drop, "return": ruleset.Return, "continue": ruleset.Continue, "queue": ruleset.Drop}[f.Key]
			if f.Key == "queue" {
				st.unres = append(st.unres, "queue: a userspace program decides")
			}
			st.text = append(st.text, f.Key)
			lines = append(lines, st.line(act, nil, ""))
			verdict = f.Key != "continue"
		case "jump", "goto":
			target := str(f.Value.Get("target"))
			tc := p.chains[key][target]
			if tc == nil {
				st.errorf(f.Value, "%s to chain %q, which table %s %s does not declare", f.Key, target, key.family, key.name)
				continue
			}
			act := ruleset.Jump
			if f.Key == "goto" {
				act = ruleset.Goto
			}
			st.text = append(st.text, f.Key+" "+target)
			lines = append(lines, st.line(act, tc.chain, ""))
			verdict = true
		case "vmap":
			lines = append(lines, st.vmap(f.Value)...)
			verdict = false
		case "counter", "log", "meta", "ct", "mangle", "notrack", "set", "dup", "fwd", "snat", "dnat", "masquerade", "redirect", "tproxy", "flow", "xt", "synproxy", "secmark", "last", "objref", "quota", "limit":
			// Statements without a verdict. limit and quota stop the rule
			// when their budget is spent, which the model cannot know.
			if f.Key == "limit" || f.Key == "quota" {
				st.unres = append(st.unres, f.Key+" statement (the verdict depends on the rate so far)")
			}
			if f.Key == "xt" {
				st.unres = append(st.unres, "xt statement (an iptables extension the JSON does not describe)")
			}
			st.text = append(st.text, f.Key)
		default:
			st.errorf(f.Value, "unknown statement %q", f.Key)
		}
	}
	if !verdict && len(lines) == 0 {
		lines = append(lines, st.line(ruleset.Continue, nil, ""))
	}
	if st.errs {
		return
	}
	for _, l := range lines {
		l.Index = len(ch.Lines) + 1
		l.ID = fmt.Sprintf("%s#%d", ch.Name, l.Index)
		if handle != nil {
			l.ID += " (handle " + handle.Str + ")"
		}
		ch.Lines = append(ch.Lines, l)
	}
}

func (st *ruleState) line(act ruleset.Action, target *ruleset.Chain, suffix string) *ruleset.Line {
	return &ruleset.Line{
		Chain: st.ci.chain.Name, Text: strings.Join(st.text, " ") + suffix, Pos: st.v.Pos,
		Matches: []ruleset.Match{st.m}, Action: act, Target: target, Unresolved: append([]string(nil), st.unres...),
		Comment: str(st.v.Get("comment")),
	}
}

// vmap expands a verdict map into one line per element: the rule's
// matches so far and the key in the element.
func (st *ruleState) vmap(v *jsonpos.Value) []*ruleset.Line {
	key := v.Get("key")
	data := v.Get("data")
	fk, ftext, ok := st.field(key)
	if !ok {
		return nil
	}
	var elems []*jsonpos.Value
	if data != nil && data.Kind == jsonpos.String && strings.HasPrefix(data.Str, "@") {
		si := st.p.sets[st.key][data.Str[1:]]
		if si == nil || !si.isMap || si.data != "verdict" {
			st.errorf(data, "verdict map %s is not declared", data.Str)
			return nil
		}
		if e := si.v.Get("elem"); e != nil && e.Kind == jsonpos.Array {
			elems = e.Items
		}
	} else if s := data.Get("set"); s != nil && s.Kind == jsonpos.Array {
		elems = s.Items
	} else {
		st.errorf(data, "vmap data must be a set or a named map")
		return nil
	}
	var out []*ruleset.Line
	base := st.m
	for _, el := range elems {
		if el.Kind != jsonpos.Array || len(el.Items) != 2 || el.Items[1].Kind != jsonpos.Object || len(el.Items[1].Fields) != 1 {
			st.errorf(el, "a verdict map element must be [key, verdict]")
			continue
		}
		vf := el.Items[1].Fields[0]
		st.m = base
		st.apply(fk, "==", el.Items[0], el)
		var act ruleset.Action
		var target *ruleset.Chain
		switch vf.Key {
		case "accept":
			act = ruleset.Accept
		case "drop", "reject":
			act = ruleset.Drop
		case "return":
			act = ruleset.Return
		case "continue":
			act = ruleset.Continue
		case "jump", "goto":
			tc := st.p.chains[st.key][str(vf.Value.Get("target"))]
			if tc == nil {
				st.errorf(vf.Value, "%s to an undeclared chain", vf.Key)
				continue
			}
			act, target = ruleset.Jump, tc.chain
			if vf.Key == "goto" {
				act = ruleset.Goto
			}
		default:
			st.errorf(vf.Value, "unknown verdict %q", vf.Key)
			continue
		}
		out = append(out, st.line(act, target, fmt.Sprintf(" %s vmap { %s : %s }", ftext, valueText(el.Items[0]), vf.Key)))
	}
	st.m = base
	return out
}

// fieldKind is what a match's left side selects.
type fieldKind uint8

const (
	fSrc fieldKind = iota + 1
	fDst
	fSPort
	fDPort
	fProto
	fState
	fIn
	fOut
	fICMPType
	fICMPv6Type
	fNFProto
	fTCPFlags
)

// field decodes the left side of a match.
func (st *ruleState) field(left *jsonpos.Value) (k fieldKind, text string, ok bool) {
	if left == nil || left.Kind != jsonpos.Object || len(left.Fields) != 1 {
		st.errorf(left, "unsupported match operand %s", left.Describe())
		return 0, "", false
	}
	f := left.Fields[0]
	switch f.Key {
	case "payload":
		proto, field := str(f.Value.Get("protocol")), str(f.Value.Get("field"))
		text = proto + " " + field
		switch {
		case proto == "ip" && field == "saddr":
			st.m.Src = st.m.Src.Intersect(packet.V4Addrs())
			return fSrc, text, true
		case proto == "ip" && field == "daddr":
			st.m.Dst = st.m.Dst.Intersect(packet.V4Addrs())
			return fDst, text, true
		case proto == "ip6" && field == "saddr":
			st.m.Src = st.m.Src.Intersect(packet.V6Addrs())
			return fSrc, text, true
		case proto == "ip6" && field == "daddr":
			st.m.Dst = st.m.Dst.Intersect(packet.V6Addrs())
			return fDst, text, true
		case proto == "ip" && field == "protocol":
			st.m.Src = st.m.Src.Intersect(packet.V4Addrs())
			return fProto, text, true
		case proto == "ip6" && field == "nexthdr":
			st.m.Src = st.m.Src.Intersect(packet.V6Addrs())
			return fProto, text, true
		case (proto == "tcp" || proto == "udp" || proto == "sctp" || proto == "udplite" || proto == "dccp" || proto == "th") && (field == "sport" || field == "dport"):
			if proto != "th" {
				n, _ := packet.ParseProtoName(proto)
				st.m.Proto = st.m.Proto.And(packet.Protos(n))
			}
			if field == "sport" {
				return fSPort, text, true
			}
			return fDPort, text, true
		case proto == "icmp" && field == "type":
			st.m.Proto = st.m.Proto.And(packet.Protos(1))
			return fICMPType, text, true
		case (proto == "icmpv6" || proto == "ip6-icmp") && field == "type":
			st.m.Proto = st.m.Proto.And(packet.Protos(58))
			return fICMPv6Type, text, true
		case proto == "tcp" && field == "flags":
			st.m.Proto = st.m.Proto.And(packet.Protos(6))
			return fTCPFlags, text, true
		}
		st.unres = append(st.unres, "match on "+text)
		return 0, text, true
	case "meta":
		key := str(f.Value.Get("key"))
		text = "meta " + key
		switch key {
		case "l4proto":
			return fProto, text, true
		case "nfproto":
			return fNFProto, text, true
		case "iifname", "iif":
			return fIn, text, true
		case "oifname", "oif":
			return fOut, text, true
		}
		st.unres = append(st.unres, "match on "+text)
		return 0, text, true
	case "ct":
		key := str(f.Value.Get("key"))
		text = "ct " + key
		if key == "state" {
			return fState, text, true
		}
		st.unres = append(st.unres, "match on "+text)
		return 0, text, true
	case "&":
		if f.Value.Kind == jsonpos.Array && len(f.Value.Items) == 2 {
			inner := f.Value.Items[0]
			if inner.Kind == jsonpos.Object && len(inner.Fields) == 1 && inner.Fields[0].Key == "payload" &&
				str(inner.Fields[0].Value.Get("protocol")) == "tcp" && str(inner.Fields[0].Value.Get("field")) == "flags" {
				st.m.Proto = st.m.Proto.And(packet.Protos(6))
				st.flagMask = flagSet(f.Value.Items[1])
				return fTCPFlags, "tcp flags & " + valueText(f.Value.Items[1]), true
			}
		}
	}
	st.unres = append(st.unres, "match on "+f.Key+" expression")
	return 0, f.Key, true
}

func (st *ruleState) match(v *jsonpos.Value) {
	op := str(v.Get("op"))
	if op == "" {
		op = "=="
	}
	st.flagMask = 0
	k, text, ok := st.field(v.Get("left"))
	if !ok {
		return
	}
	right := v.Get("right")
	st.text = append(st.text, text+opText(op)+valueText(right))
	if k == 0 {
		return
	}
	st.apply(k, op, right, v)
}

func opText(op string) string {
	switch op {
	case "==", "in":
		return " "
	}
	return " " + op + " "
}

// apply narrows the match by "field op right".
func (st *ruleState) apply(k fieldKind, op string, right, at *jsonpos.Value) {
	neg := false
	switch op {
	case "==", "in":
	case "!=":
		neg = true
	case "<", ">", "<=", ">=":
		if k != fSPort && k != fDPort {
			st.errorf(at, "operator %s is only supported for ports", op)
			return
		}
		n, ok := right.Int()
		if !ok || n < 0 || n > 65535 {
			st.errorf(right, "operator %s needs a port number", op)
			return
		}
		var r model.PortRange
		switch op {
		case "<":
			if n == 0 {
				st.m.Never = true
				return
			}
			r = model.PortRange{First: 0, Last: uint16(n - 1)}
		case "<=":
			r = model.PortRange{First: 0, Last: uint16(n)}
		case ">":
			if n == 65535 {
				st.m.Never = true
				return
			}
			r = model.PortRange{First: uint16(n + 1), Last: 65535}
		case ">=":
			r = model.PortRange{First: uint16(n), Last: 65535}
		}
		st.ports(k, model.NewPortSet(r), false)
		return
	default:
		st.errorf(at, "unsupported operator %q", op)
		return
	}
	elems, ok := st.elements(right)
	if !ok {
		return
	}
	switch k {
	case fSrc, fDst:
		var b netipx.IPSetBuilder
		for _, e := range elems {
			if err := addAddr(&b, e); err != nil {
				st.errorf(e, "%v", err)
				return
			}
		}
		s, _ := b.IPSet()
		set := packet.NewAddrSet(s)
		if neg {
			// The field already limits the match to its family.
			set = set.Complement()
		}
		if k == fSrc {
			st.m.Src = st.m.Src.Intersect(set)
		} else {
			st.m.Dst = st.m.Dst.Intersect(set)
		}
	case fSPort, fDPort:
		var rs []model.PortRange
		for _, e := range elems {
			r, err := portOf(e)
			if err != nil {
				st.errorf(e, "%v", err)
				return
			}
			rs = append(rs, r)
		}
		st.ports(k, model.NewPortSet(rs...), neg)
	case fProto:
		var ps packet.ProtoSet
		for _, e := range elems {
			n, ok := protoOf(e)
			if !ok {
				st.errorf(e, "unknown protocol %s", e.Describe())
				return
			}
			ps = ps.Or(packet.Protos(n))
		}
		if neg {
			ps = ps.Not()
		}
		st.m.Proto = st.m.Proto.And(ps)
	case fState:
		var s packet.StateSet
		for _, e := range elems {
			x, ok := packet.ParseState(str(e))
			if !ok {
				st.errorf(e, "unknown ct state %s", e.Describe())
				return
			}
			s |= packet.StateSet(x)
		}
		if neg {
			s = packet.AllStates &^ s
		}
		st.m.State &= s
	case fIn, fOut:
		var pats []string
		for _, e := range elems {
			switch e.Kind {
			case jsonpos.String:
				pats = append(pats, strings.ReplaceAll(e.Str, "\\*", "*"))
			case jsonpos.Number:
				st.unres = append(st.unres, "interface index "+e.Str)
				return
			default:
				st.errorf(e, "an interface must be a name, not %s", e.Describe())
				return
			}
		}
		c := ruleset.IfaceCond{Patterns: pats, Neg: neg}
		if k == fIn {
			st.m.In = append(st.m.In, c)
		} else {
			st.m.Out = append(st.m.Out, c)
		}
	case fICMPType, fICMPv6Type:
		var rs []model.PortRange
		for _, e := range elems {
			t, ok := icmpTypeOf(e, k == fICMPv6Type)
			if !ok {
				st.errorf(e, "unknown ICMP type %s", e.Describe())
				return
			}
			rs = append(rs, model.PortRange{First: uint16(t) << 8, Last: uint16(t)<<8 | 255})
		}
		st.ports(fDPort, model.NewPortSet(rs...), neg)
	case fNFProto:
		var fam packet.AddrSet
		for _, e := range elems {
			switch str(e) {
			case "ipv4":
				fam = fam.Union(packet.V4Addrs())
			case "ipv6":
				fam = fam.Union(packet.V6Addrs())
			default:
				st.errorf(e, "meta nfproto must be ipv4 or ipv6")
				return
			}
		}
		if neg {
			fam = fam.Complement()
		}
		st.m.Src = st.m.Src.Intersect(fam)
		st.m.Dst = st.m.Dst.Intersect(fam)
	case fTCPFlags:
		st.tcpFlags(op, elems, neg)
	}
}

func (st *ruleState) ports(k fieldKind, ps model.PortSet, neg bool) {
	if neg {
		ps = model.NewPortSet(model.AllPorts).Difference(ps)
	}
	if k == fSPort {
		st.m.SPort = st.m.SPort.Intersect(ps)
	} else {
		st.m.DPort = st.m.DPort.Intersect(ps)
	}
}

// tcp flag bits (nft's tcp_flag type).
var tcpFlagBits = map[string]int{"fin": 1, "syn": 2, "rst": 4, "psh": 8, "ack": 16, "urg": 32, "ecn": 64, "cwr": 128}

func flagSet(v *jsonpos.Value) int {
	var out int
	vals := []*jsonpos.Value{v}
	if v.Kind == jsonpos.Array {
		vals = v.Items
	}
	for _, x := range vals {
		out |= tcpFlagBits[str(x)]
	}
	return out
}

// tcpFlags handles the forms nft writes for "the first packet of a
// connection": "tcp flags & (fin|syn|rst|ack) == syn" and "tcp flags syn"
// checks; the model's NEW state stands for the SYN. Other flag tests are
// unresolvable.
func (st *ruleState) tcpFlags(op string, elems []*jsonpos.Value, neg bool) {
	val := 0
	for _, e := range elems {
		val |= flagSet(e)
	}
	syn := tcpFlagBits["syn"]
	mask := st.flagMask
	if mask == 0 {
		mask = val
	}
	if mask&syn != 0 && val == syn {
		if neg {
			st.m.State &^= packet.StateSet(packet.StateNew)
		} else {
			st.m.State &= packet.StateSet(packet.StateNew)
		}
		return
	}
	st.unres = append(st.unres, "tcp flags test")
}

// elements returns the values a right side stands for: one value, an
// anonymous set, a flags array, or a named set's elements.
func (st *ruleState) elements(right *jsonpos.Value) ([]*jsonpos.Value, bool) {
	if right == nil {
		st.errorf(st.v, "match without a right side")
		return nil, false
	}
	switch right.Kind {
	case jsonpos.Array:
		return right.Items, true
	case jsonpos.String:
		if strings.HasPrefix(right.Str, "@") {
			si := st.p.sets[st.key][right.Str[1:]]
			if si == nil {
				st.errorf(right, "set %s is not declared in table %s %s", right.Str, st.key.family, st.key.name)
				return nil, false
			}
			if si.typ == "concat" {
				st.unres = append(st.unres, "set "+right.Str+" of concatenated types")
				return nil, false
			}
			e := si.v.Get("elem")
			if e == nil {
				return nil, true
			}
			if e.Kind != jsonpos.Array {
				st.errorf(e, "set elements must be an array")
				return nil, false
			}
			var out []*jsonpos.Value
			for _, x := range e.Items {
				out = append(out, unwrapElem(x))
			}
			return out, true
		}
	case jsonpos.Object:
		if s := right.Get("set"); s != nil {
			if s.Kind != jsonpos.Array {
				return []*jsonpos.Value{s}, true
			}
			var out []*jsonpos.Value
			for _, x := range s.Items {
				out = append(out, unwrapElem(x))
			}
			return out, true
		}
	}
	return []*jsonpos.Value{right}, true
}

// unwrapElem removes the {"elem": {"val": …, "timeout": …}} wrapper of set
// elements with options.
func unwrapElem(v *jsonpos.Value) *jsonpos.Value {
	if e := v.Get("elem"); e != nil {
		if val := e.Get("val"); val != nil {
			return val
		}
	}
	return v
}

func addAddr(b *netipx.IPSetBuilder, v *jsonpos.Value) error {
	switch v.Kind {
	case jsonpos.String:
		a, err := netip.ParseAddr(v.Str)
		if err != nil {
			if pf, err2 := netip.ParsePrefix(v.Str); err2 == nil {
				b.AddPrefix(pf.Masked())
				return nil
			}
			return fmt.Errorf("%q is not an address", v.Str)
		}
		b.Add(a.Unmap())
		return nil
	case jsonpos.Object:
		if pf := v.Get("prefix"); pf != nil {
			a, err := netip.ParseAddr(str(pf.Get("addr")))
			n, ok := pf.Get("len").Int()
			if err != nil || !ok {
				return fmt.Errorf("bad prefix")
			}
			p, err := a.Unmap().Prefix(int(n))
			if err != nil {
				return err
			}
			b.AddPrefix(p)
			return nil
		}
		if r := v.Get("range"); r != nil && r.Kind == jsonpos.Array && len(r.Items) == 2 {
			a, err1 := netip.ParseAddr(str(r.Items[0]))
			z, err2 := netip.ParseAddr(str(r.Items[1]))
			if err1 != nil || err2 != nil || z.Less(a) {
				return fmt.Errorf("bad address range")
			}
			b.AddRange(netipx.IPRangeFrom(a.Unmap(), z.Unmap()))
			return nil
		}
	}
	return fmt.Errorf("unsupported address value %s", v.Describe())
}

func portNumber(v *jsonpos.Value) (uint16, error) {
	switch v.Kind {
	case jsonpos.Number:
		n, err := strconv.ParseUint(v.Str, 10, 16)
		if err != nil {
			return 0, fmt.Errorf("port %s out of range", v.Str)
		}
		return uint16(n), nil
	case jsonpos.String:
		if p, ok := services[v.Str]; ok {
			return p, nil
		}
		n, err := strconv.ParseUint(v.Str, 10, 16)
		if err == nil {
			return uint16(n), nil
		}
	}
	return 0, fmt.Errorf("%s is not a port", v.Describe())
}

// services are the /etc/services names nft may print for ports.
var services = map[string]uint16{
	"ssh": 22, "http": 80, "https": 443, "domain": 53, "smtp": 25, "ftp": 21, "telnet": 23,
	"ntp": 123, "snmp": 161, "ldap": 389, "ldaps": 636, "imap": 143, "imaps": 993, "pop3": 110,
	"pop3s": 995, "submission": 587, "ms-wbt-server": 3389, "bootps": 67, "bootpc": 68,
	"http-alt": 8080, "amqps": 5671,
}

func portOf(v *jsonpos.Value) (model.PortRange, error) {
	if v.Kind == jsonpos.Object {
		if r := v.Get("range"); r != nil && r.Kind == jsonpos.Array && len(r.Items) == 2 {
			a, err := portNumber(r.Items[0])
			if err != nil {
				return model.PortRange{}, err
			}
			z, err := portNumber(r.Items[1])
			if err != nil {
				return model.PortRange{}, err
			}
			if z < a {
				return model.PortRange{}, fmt.Errorf("inverted port range")
			}
			return model.PortRange{First: a, Last: z}, nil
		}
		return model.PortRange{}, fmt.Errorf("unsupported port value %s", v.Describe())
	}
	n, err := portNumber(v)
	return model.Port(n), err
}

func protoOf(v *jsonpos.Value) (uint8, bool) {
	switch v.Kind {
	case jsonpos.String, jsonpos.Number:
		return packet.ParseProtoName(v.Str)
	}
	return 0, false
}

// icmpTypes are nft's icmp_type and icmpv6_type names.
var icmpTypes = map[string]uint8{
	"echo-reply": 0, "destination-unreachable": 3, "source-quench": 4, "redirect": 5, "echo-request": 8,
	"router-advertisement": 9, "router-solicitation": 10, "time-exceeded": 11, "parameter-problem": 12,
	"timestamp-request": 13, "timestamp-reply": 14, "info-request": 15, "info-reply": 16,
	"address-mask-request": 17, "address-mask-reply": 18,
}

var icmpv6Types = map[string]uint8{
	"destination-unreachable": 1, "packet-too-big": 2, "time-exceeded": 3, "parameter-problem": 4,
	"echo-request": 128, "echo-reply": 129, "mld-listener-query": 130, "mld-listener-report": 131,
	"mld-listener-done": 132, "nd-router-solicit": 133, "nd-router-advert": 134,
	"nd-neighbor-solicit": 135, "nd-neighbor-advert": 136, "nd-redirect": 137, "router-renumbering": 138,
	"ind-neighbor-solicit": 141, "ind-neighbor-advert": 142, "mld2-listener-report": 143,
}

func icmpTypeOf(v *jsonpos.Value, v6 bool) (uint8, bool) {
	if v.Kind == jsonpos.Number {
		n, err := strconv.ParseUint(v.Str, 10, 8)
		return uint8(n), err == nil
	}
	table := icmpTypes
	if v6 {
		table = icmpv6Types
	}
	t, ok := table[str(v)]
	return t, ok
}

// valueText renders a right side roughly as nft prints it, for the
// rule's text.
func valueText(v *jsonpos.Value) string {
	if v == nil {
		return ""
	}
	switch v.Kind {
	case jsonpos.String, jsonpos.Number:
		return v.Str
	case jsonpos.Bool:
		return strconv.FormatBool(v.Bool)
	case jsonpos.Array:
		var parts []string
		for _, it := range v.Items {
			parts = append(parts, valueText(it))
		}
		return strings.Join(parts, ",")
	case jsonpos.Object:
		if pf := v.Get("prefix"); pf != nil {
			return str(pf.Get("addr")) + "/" + pf.Get("len").Str
		}
		if r := v.Get("range"); r != nil && r.Kind == jsonpos.Array && len(r.Items) == 2 {
			return valueText(r.Items[0]) + "-" + valueText(r.Items[1])
		}
		if s := v.Get("set"); s != nil {
			if s.Kind != jsonpos.Array {
				return "{ " + valueText(s) + " }"
			}
			var parts []string
			for _, it := range s.Items {
				parts = append(parts, valueText(unwrapElem(it)))
			}
			return "{ " + strings.Join(parts, ", ") + " }"
		}
		if len(v.Fields) == 1 {
			return v.Fields[0].Key
		}
	}
	return "…"
}
