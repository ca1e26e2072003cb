package packet

import (
	"fmt"
	"math/bits"
	"sort"
	"strconv"
	"strings"

	"github.com/teamsgate/teamsgate/internal/model"
)

// ProtoSet is a set of IP protocol numbers (0-255). The zero value is the
// empty set.
type ProtoSet [4]uint64

// AllProtos is every protocol number.
func AllProtos() ProtoSet { return ProtoSet{^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)} }

// Protos returns the set of the given protocol numbers.
func Protos(ps ...uint8) ProtoSet {
	var s ProtoSet
	for _, p := range ps {
		s[p/64] |= 1 << (p % 64)
	}
	return s
}

// Has reports whether p is in the set.
func (s ProtoSet) Has(p uint8) bool { return s[p/64]&(1<<(p%64)) != 0 }

// IsEmpty reports whether the set is empty.
func (s ProtoSet) IsEmpty() bool { return s[0]|s[1]|s[2]|s[3] == 0 }

// And returns the intersection.
func (s ProtoSet) And(o ProtoSet) ProtoSet {
	return ProtoSet{s[0] & o[0], s[1] & o[1], s[2] & o[2], s[3] & o[3]}
}

// Or returns the union.
func (s ProtoSet) Or(o ProtoSet) ProtoSet {
	return ProtoSet{s[0] | o[0], s[1] | o[1], s[2] | o[2], s[3] | o[3]}
}

// AndNot returns the protocols in s and not in o.
func (s ProtoSet) AndNot(o ProtoSet) ProtoSet {
	return ProtoSet{s[0] &^ o[0], s[1] &^ o[1], s[2] &^ o[2], s[3] &^ o[3]}
}

// Not returns the complement.
func (s ProtoSet) Not() ProtoSet { return AllProtos().AndNot(s) }

// Covers reports whether every protocol of o is in s.
func (s ProtoSet) Covers(o ProtoSet) bool { return o.AndNot(s).IsEmpty() }

// Overlaps reports whether the sets share a protocol.
func (s ProtoSet) Overlaps(o ProtoSet) bool { return !s.And(o).IsEmpty() }

// First returns the lowest protocol of a non-empty set.
func (s ProtoSet) First() uint8 {
	for i, w := range s {
		if w != 0 {
			return uint8(i*64 + bits.TrailingZeros64(w))
		}
	}
	return 0
}

// Last returns the highest protocol of a non-empty set.
func (s ProtoSet) Last() uint8 {
	for i := 3; i >= 0; i-- {
		if s[i] != 0 {
			return uint8(i*64 + 63 - bits.LeadingZeros64(s[i]))
		}
	}
	return 0
}

// Len returns the number of protocols in the set.
func (s ProtoSet) Len() int {
	return bits.OnesCount64(s[0]) + bits.OnesCount64(s[1]) + bits.OnesCount64(s[2]) + bits.OnesCount64(s[3])
}

// List returns the protocol numbers in ascending order.
func (s ProtoSet) List() []uint8 {
	var out []uint8
	for p := 0; p < 256; p++ {
		if s.Has(uint8(p)) {
			out = append(out, uint8(p))
		}
	}
	return out
}

// protoNames are the names iptables, nft, Azure and AWS use, from
// /etc/protocols (IANA "Assigned Internet Protocol Numbers").
var protoNames = map[string]uint8{
	"icmp": 1, "igmp": 2, "ipip": 4, "ipencap": 4, "tcp": 6, "egp": 8, "udp": 17, "ipv6": 41,
	"rsvp": 46, "gre": 47, "esp": 50, "ah": 51, "icmpv6": 58, "ipv6-icmp": 58, "icmp6": 58,
	"ospf": 89, "pim": 103, "vrrp": 112, "l2tp": 115, "sctp": 132, "udplite": 136,
}

// ParseProtoName parses a protocol name or number ("tcp", "6").
func ParseProtoName(s string) (uint8, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if p, ok := protoNames[s]; ok {
		return p, true
	}
	n, err := strconv.ParseUint(s, 10, 8)
	if err != nil {
		return 0, false
	}
	return uint8(n), true
}

// ProtoName returns the name of a protocol number, or the number.
func ProtoName(p uint8) string {
	switch p {
	case 1:
		return "icmp"
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 58:
		return "icmpv6"
	case 47:
		return "gre"
	case 50:
		return "esp"
	case 51:
		return "ah"
	case 132:
		return "sctp"
	}
	return strconv.Itoa(int(p))
}

// String describes the set: "any", "tcp", "tcp,udp", "any except tcp".
func (s ProtoSet) String() string {
	switch n := s.Len(); {
	case n == 0:
		return "none"
	case n == 256:
		return "any"
	case n > 128:
		var names []string
		for _, p := range s.Not().List() {
			names = append(names, ProtoName(p))
		}
		return "any except " + strings.Join(names, ",")
	}
	var names []string
	for _, p := range s.List() {
		names = append(names, ProtoName(p))
	}
	return strings.Join(names, ",")
}

// State is a connection-tracking state of a packet, as the conntrack and
// state matches (iptables-extensions(8)) and nft's "ct state" see it.
type State uint8

// The conntrack states.
const (
	StateNew State = 1 << iota
	StateEstablished
	StateRelated
	StateInvalid
	StateUntracked
)

// StateSet is a set of conntrack states. The zero value is empty.
type StateSet uint8

// AllStates is every conntrack state.
const AllStates StateSet = StateSet(StateNew | StateEstablished | StateRelated | StateInvalid | StateUntracked)

var stateNames = []struct {
	s    State
	name string
}{{StateNew, "new"}, {StateEstablished, "established"}, {StateRelated, "related"}, {StateInvalid, "invalid"}, {StateUntracked, "untracked"}}

// ParseState parses a state name (case-insensitive; "snat"/"dnat" are
// refinements of established traffic and not modelled).
func ParseState(s string) (State, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	for _, n := range stateNames {
		if n.name == s {
			return n.s, true
		}
	}
	return 0, false
}

// String lists the states, comma-separated.
func (s StateSet) String() string {
	if s == AllStates {
		return "any"
	}
	var out []string
	for _, n := range stateNames {
		if s&StateSet(n.s) != 0 {
			out = append(out, n.name)
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ",")
}

// IfaceSet is a set of interface classes of one Universe: bit i is class
// i. The zero value is empty.
type IfaceSet uint64

// maxIfaceClasses is how many interface classes one configuration may
// distinguish.
const maxIfaceClasses = 64

// Universe gives the interface classes of a compiled configuration: every
// interface name and wildcard the configuration or the query mentions, and
// "other" for all remaining names. A wildcard "eth+" (iptables) or "eth*"
// (nft) is kept as the class of names with that prefix that no more
// specific class holds.
type Universe struct {
	classes []ifaceClass
}

type ifaceClass struct {
	name   string // exact name, or the prefix of a wildcard class
	prefix bool
	other  bool
}

// NewUniverse builds the classes for the given patterns (exact names, or
// prefixes ending in "+" or "*"). "lo" is always a class. It fails when
// the patterns make more classes than an IfaceSet holds.
func NewUniverse(patterns []string) (*Universe, error) {
	seen := map[string]bool{}
	u := &Universe{classes: []ifaceClass{{other: true}, {name: "lo"}}}
	seen["lo"] = true
	sorted := append([]string(nil), patterns...)
	sort.Strings(sorted)
	for _, p := range sorted {
		name, wild := splitIface(p)
		key := name
		if wild {
			key += "+"
		}
		if seen[key] || (wild && name == "") {
			continue
		}
		seen[key] = true
		u.classes = append(u.classes, ifaceClass{name: name, prefix: wild})
	}
	if len(u.classes) > maxIfaceClasses {
		return nil, fmt.Errorf("the configuration names more than %d distinct interfaces or interface wildcards", maxIfaceClasses-2)
	}
	return u, nil
}

func splitIface(p string) (string, bool) {
	if strings.HasSuffix(p, "+") || strings.HasSuffix(p, "*") {
		return p[:len(p)-1], true
	}
	return p, false
}

// All returns every class.
func (u *Universe) All() IfaceSet {
	if len(u.classes) == 64 {
		return ^IfaceSet(0)
	}
	return IfaceSet(1)<<len(u.classes) - 1
}

// NotLoopback returns every class but "lo": where traffic between the
// deployment's machines arrives and leaves.
func (u *Universe) NotLoopback() IfaceSet { return u.All() &^ u.Match("lo") }

// Match returns the classes a pattern matches: an exact name matches its
// class (or, when the name is not a class of its own, the wildcard class
// or "other" that holds it); a wildcard matches every class whose names
// all start with its prefix.
func (u *Universe) Match(p string) IfaceSet {
	name, wild := splitIface(p)
	var s IfaceSet
	if !wild {
		return IfaceSet(1) << u.Class(name)
	}
	for i, c := range u.classes {
		if !c.other && strings.HasPrefix(c.name, name) {
			s |= 1 << i
		}
	}
	if name == "" {
		s = u.All()
	}
	return s
}

// Class returns the class holding an exact interface name: the index of
// its bit in an IfaceSet, and Packet's In and Out.
func (u *Universe) Class(name string) int {
	best, bestLen := 0, -1
	for i, c := range u.classes {
		switch {
		case c.other:
		case !c.prefix && c.name == name:
			return i
		case c.prefix && strings.HasPrefix(name, c.name) && len(c.name) > bestLen:
			best, bestLen = i, len(c.name)
		}
	}
	return best
}

// Names describes a set of classes.
func (u *Universe) Names(s IfaceSet) string {
	if s == u.All() {
		return "any"
	}
	var out []string
	for i, c := range u.classes {
		if s&(1<<i) == 0 {
			continue
		}
		switch {
		case c.other:
			out = append(out, "(other)")
		case c.prefix:
			out = append(out, c.name+"*")
		default:
			out = append(out, c.name)
		}
	}
	return strings.Join(out, ",")
}

// portsOverlap reports whether two port sets share a port, by a merge walk.
func portsOverlap(a, b model.PortSet) bool {
	ar, br := a.Ranges(), b.Ranges()
	if len(ar) == 0 || len(br) == 0 {
		return false
	}
	if ar[len(ar)-1].Last < br[0].First || br[len(br)-1].Last < ar[0].First {
		return false
	}
	i, j := 0, 0
	for i < len(ar) && j < len(br) {
		x, y := ar[i], br[j]
		switch {
		case x.Last < y.First:
			i++
		case y.Last < x.First:
			j++
		default:
			return true
		}
	}
	return false
}

// portsCover reports whether every port of b is in a.
func portsCover(a, b model.PortSet) bool {
	ar, br := a.Ranges(), b.Ranges()
	i := 0
	for _, y := range br {
		for i < len(ar) && ar[i].Last < y.First {
			i++
		}
		if i == len(ar) || y.First < ar[i].First || ar[i].Last < y.Last {
			return false
		}
	}
	return true
}

// AllPorts returns 0-65535 as an enumerated set (model.AnyPorts is the
// plan's explicit "any"). The set is shared: callers must not modify its
// ranges.
func AllPorts() model.PortSet { return allPorts }

var allPorts = model.NewPortSet(model.AllPorts)
