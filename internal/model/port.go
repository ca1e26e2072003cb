package model

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// PortRange is an inclusive range of port numbers. The zero value is the
// single port 0, which is valid but matches nothing real; ranges come from
// ParsePortRange or a literal with First <= Last.
type PortRange struct {
	First, Last uint16
}

// AllPorts is the whole port space, 0-65535.
var AllPorts = PortRange{0, 65535}

// Port returns the range holding the single port p.
func Port(p uint16) PortRange { return PortRange{p, p} }

// ParsePortRange parses "443" or "16000-17000" (an en dash is accepted, as the
// vendor documents print one). A range must not be inverted.
func ParsePortRange(s string) (PortRange, error) {
	s = strings.TrimSpace(s)
	lo, hi, isRange := strings.Cut(strings.ReplaceAll(s, "–", "-"), "-")
	first, err := parsePort(lo)
	if err != nil {
		return PortRange{}, fmt.Errorf("port range %q: %w", s, err)
	}
	if !isRange {
		return PortRange{first, first}, nil
	}
	last, err := parsePort(hi)
	if err != nil {
		return PortRange{}, fmt.Errorf("port range %q: %w", s, err)
	}
	if last < first {
		return PortRange{}, fmt.Errorf("port range %q is inverted (%d > %d)", s, first, last)
	}
	return PortRange{first, last}, nil
}

func parsePort(s string) (uint16, error) {
	s = strings.TrimSpace(s)
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%q is not a port number", s)
	}
	if n > 65535 {
		return 0, fmt.Errorf("port %d out of range 0-65535", n)
	}
	return uint16(n), nil
}

// MustParsePortRange is ParsePortRange for tests; it panics on error.
func MustParsePortRange(s string) PortRange {
	r, err := ParsePortRange(s)
	if err != nil {
		panic(err)
	}
	return r
}

// IsValid reports whether First <= Last.
func (r PortRange) IsValid() bool { return r.First <= r.Last }

// Len returns the number of ports in the range.
func (r PortRange) Len() int { return int(r.Last) - int(r.First) + 1 }

// Contains reports whether p is in the range.
func (r PortRange) Contains(p uint16) bool { return r.First <= p && p <= r.Last }

// String returns "443" or "16000-17000".
func (r PortRange) String() string {
	if r.First == r.Last {
		return strconv.Itoa(int(r.First))
	}
	return strconv.Itoa(int(r.First)) + "-" + strconv.Itoa(int(r.Last))
}

// MarshalText implements encoding.TextMarshaler.
func (r PortRange) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (r *PortRange) UnmarshalText(b []byte) error {
	v, err := ParsePortRange(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// portKind distinguishes the explicit "any" and "ephemeral" port sets from an
// enumerated one.
type portKind uint8

const (
	portsListed portKind = iota
	portsAny
	portsEphemeral
)

// PortSet is a set of ports: either explicitly any port, explicitly the
// ephemeral ports a client picks (which matches like any, since the peer's
// operating system chooses them), or a normalised list of ranges (sorted,
// merged, non-overlapping). The zero value is the empty set.
type PortSet struct {
	kind   portKind
	ranges []PortRange
}

// AnyPorts returns the set of every port, printed as "any".
func AnyPorts() PortSet { return PortSet{kind: portsAny, ranges: []PortRange{AllPorts}} }

// EphemeralPorts returns the set of the ports a client's operating system
// picks for its side of a connection. It matches every port and prints as
// "ephemeral".
func EphemeralPorts() PortSet {
	return PortSet{kind: portsEphemeral, ranges: []PortRange{AllPorts}}
}

// NewPortSet returns the normalised set of the given ranges. Invalid ranges
// are ignored. A set that covers 0-65535 stays enumerated; use AnyPorts for
// the explicit value.
func NewPortSet(rs ...PortRange) PortSet {
	var in []PortRange
	for _, r := range rs {
		if r.IsValid() {
			in = append(in, r)
		}
	}
	if len(in) == 0 {
		return PortSet{}
	}
	sort.Slice(in, func(i, j int) bool { return in[i].First < in[j].First })
	out := []PortRange{in[0]}
	for _, r := range in[1:] {
		last := &out[len(out)-1]
		if int(r.First) <= int(last.Last)+1 {
			if r.Last > last.Last {
				last.Last = r.Last
			}
			continue
		}
		out = append(out, r)
	}
	return PortSet{ranges: out}
}

// ParsePortSet parses "any", "ephemeral", or a comma-separated list of ports
// and ranges ("80,443", "10101, 11000-11399").
func ParsePortSet(s string) (PortSet, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	switch t {
	case "any", "*", "<any>":
		return AnyPorts(), nil
	case "ephemeral":
		return EphemeralPorts(), nil
	case "":
		return PortSet{}, fmt.Errorf("empty port list")
	}
	var rs []PortRange
	for _, part := range strings.Split(strings.ReplaceAll(t, "/", ","), ",") {
		r, err := ParsePortRange(part)
		if err != nil {
			return PortSet{}, err
		}
		rs = append(rs, r)
	}
	return NewPortSet(rs...), nil
}

// MustParsePortSet is ParsePortSet for tests; it panics on error.
func MustParsePortSet(s string) PortSet {
	p, err := ParsePortSet(s)
	if err != nil {
		panic(err)
	}
	return p
}

// IsAny reports whether the set matches every port (explicit any, ephemeral,
// or ranges covering 0-65535).
func (s PortSet) IsAny() bool {
	return len(s.ranges) == 1 && s.ranges[0] == AllPorts
}

// IsEphemeral reports whether the set is the explicit ephemeral value.
func (s PortSet) IsEphemeral() bool { return s.kind == portsEphemeral }

// IsEmpty reports whether the set holds no port.
func (s PortSet) IsEmpty() bool { return len(s.ranges) == 0 }

// Ranges returns the normalised ranges. The caller must not modify them.
func (s PortSet) Ranges() []PortRange { return s.ranges }

// Len returns the number of ports in the set.
func (s PortSet) Len() int {
	n := 0
	for _, r := range s.ranges {
		n += r.Len()
	}
	return n
}

// Contains reports whether p is in the set.
func (s PortSet) Contains(p uint16) bool {
	i := sort.Search(len(s.ranges), func(i int) bool { return s.ranges[i].Last >= p })
	return i < len(s.ranges) && s.ranges[i].First <= p
}

// Union returns the ports in s or o.
func (s PortSet) Union(o PortSet) PortSet {
	return NewPortSet(append(append([]PortRange(nil), s.ranges...), o.ranges...)...)
}

// Intersect returns the ports in both s and o.
func (s PortSet) Intersect(o PortSet) PortSet {
	var out []PortRange
	i, j := 0, 0
	for i < len(s.ranges) && j < len(o.ranges) {
		a, b := s.ranges[i], o.ranges[j]
		lo, hi := max(a.First, b.First), min(a.Last, b.Last)
		if lo <= hi {
			out = append(out, PortRange{lo, hi})
		}
		if a.Last < b.Last {
			i++
		} else {
			j++
		}
	}
	return NewPortSet(out...)
}

// Difference returns the ports in s that are not in o.
func (s PortSet) Difference(o PortSet) PortSet {
	var out []PortRange
	for _, a := range s.ranges {
		cur := int(a.First)
		for _, b := range o.ranges {
			if int(b.Last) < cur || b.First > a.Last {
				continue
			}
			if int(b.First) > cur {
				out = append(out, PortRange{uint16(cur), b.First - 1})
			}
			cur = int(b.Last) + 1
			if cur > int(a.Last) {
				break
			}
		}
		if cur <= int(a.Last) {
			out = append(out, PortRange{uint16(cur), a.Last})
		}
	}
	return NewPortSet(out...)
}

// Covers reports whether every port of o is in s.
func (s PortSet) Covers(o PortSet) bool { return o.Difference(s).IsEmpty() }

// Equal reports whether s and o hold the same ports (the any/ephemeral
// spelling is ignored).
func (s PortSet) Equal(o PortSet) bool {
	if len(s.ranges) != len(o.ranges) {
		return false
	}
	for i := range s.ranges {
		if s.ranges[i] != o.ranges[i] {
			return false
		}
	}
	return true
}

// Strings returns the ranges as strings; nil for any or ephemeral, which is
// how the plan's JSON spells "any port".
func (s PortSet) Strings() []string {
	if s.kind != portsListed || s.IsAny() {
		return nil
	}
	out := make([]string, len(s.ranges))
	for i, r := range s.ranges {
		out[i] = r.String()
	}
	return out
}

// String returns "any", "ephemeral", "none" or the comma-separated ranges.
func (s PortSet) String() string {
	switch {
	case s.kind == portsEphemeral:
		return "ephemeral"
	case s.kind == portsAny, s.IsAny():
		return "any"
	case s.IsEmpty():
		return "none"
	}
	return strings.Join(s.Strings(), ",")
}

// MarshalText implements encoding.TextMarshaler.
func (s PortSet) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *PortSet) UnmarshalText(b []byte) error {
	v, err := ParsePortSet(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}
