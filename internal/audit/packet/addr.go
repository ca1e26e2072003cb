package packet

import (
	"fmt"
	"net/netip"
	"strings"

	"go4.org/netipx"

	"github.com/teamsgate/teamsgate/internal/model"
)

// AddrSet is an immutable set of IPv4 and IPv6 addresses: a netipx.IPSet
// with its ranges cached, because the evaluator tests overlap and coverage
// millions of times and IPSet.Ranges copies on every call. Unions,
// intersections and differences go through netipx.IPSetBuilder. The zero
// value is the empty set.
type AddrSet struct {
	set *netipx.IPSet
	rr  []netipx.IPRange
}

var (
	allV4 = netip.MustParsePrefix("0.0.0.0/0")
	allV6 = netip.MustParsePrefix("::/0")
)

// NewAddrSet wraps an IPSet. A nil set is the empty set.
func NewAddrSet(s *netipx.IPSet) AddrSet {
	if s == nil {
		return AddrSet{}
	}
	rr := s.Ranges()
	if len(rr) == 0 {
		return AddrSet{}
	}
	return AddrSet{set: s, rr: rr}
}

// AddrSetOf returns the set of the given prefixes.
func AddrSetOf(ps ...netip.Prefix) AddrSet {
	var b netipx.IPSetBuilder
	for _, p := range ps {
		b.AddPrefix(p.Masked())
	}
	s, _ := b.IPSet()
	return NewAddrSet(s)
}

// AllAddrs is every IPv4 and IPv6 address.
func AllAddrs() AddrSet { return allAddrs }

// V4Addrs is every IPv4 address; V6Addrs every IPv6 address.
func V4Addrs() AddrSet { return allV4Addrs }

// V6Addrs is every IPv6 address.
func V6Addrs() AddrSet { return allV6Addrs }

var (
	allAddrs   = AddrSetOf(allV4, allV6)
	allV4Addrs = AddrSetOf(allV4)
	allV6Addrs = AddrSetOf(allV6)
	internet   = NewAddrSet(model.Internet())
	// the public Internet of each family, for Strings
	publicOf = map[bool]AddrSet{false: internet.Intersect(allV4Addrs), true: internet.Intersect(allV6Addrs)}
)

// Internet is the public Internet (model.Internet: the unicast space less
// the special-use blocks), the one set both a plan's Internet endpoint and
// an NSG's service tag Internet stand for.
func Internet() AddrSet { return internet }

// IPSet returns the set as a netipx.IPSet (never nil). A non-empty set
// returns the same IPSet every time, so that it can key a cache.
func (a AddrSet) IPSet() *netipx.IPSet {
	if a.set == nil {
		return &netipx.IPSet{}
	}
	return a.set
}

// IsEmpty reports whether the set holds no address.
func (a AddrSet) IsEmpty() bool { return len(a.rr) == 0 }

// Ranges returns the cached ranges; callers must not modify them.
func (a AddrSet) Ranges() []netipx.IPRange { return a.rr }

// Contains reports whether ip is in the set.
func (a AddrSet) Contains(ip netip.Addr) bool {
	lo, hi := 0, len(a.rr)
	for lo < hi {
		m := (lo + hi) / 2
		switch {
		case a.rr[m].To().Less(ip):
			lo = m + 1
		case ip.Less(a.rr[m].From()):
			hi = m
		default:
			return true
		}
	}
	return false
}

// Overlaps reports whether the sets share an address, by a merge walk of
// the sorted ranges (netipx's own Overlaps compares every pair).
func (a AddrSet) Overlaps(b AddrSet) bool {
	if len(a.rr) == 0 || len(b.rr) == 0 {
		return false
	}
	if a.rr[len(a.rr)-1].To().Less(b.rr[0].From()) || b.rr[len(b.rr)-1].To().Less(a.rr[0].From()) {
		return false
	}
	i, j := 0, 0
	for i < len(a.rr) && j < len(b.rr) {
		x, y := a.rr[i], b.rr[j]
		switch {
		case x.To().Less(y.From()):
			i++
		case y.To().Less(x.From()):
			j++
		default:
			return true
		}
	}
	return false
}

// Covers reports whether every address of b is in a.
func (a AddrSet) Covers(b AddrSet) bool {
	if len(b.rr) == 0 {
		return true
	}
	if len(a.rr) == 0 {
		return false
	}
	i := 0
	for _, y := range b.rr {
		for i < len(a.rr) && a.rr[i].To().Less(y.From()) {
			i++
		}
		if i == len(a.rr) {
			return false
		}
		x := a.rr[i]
		if y.From().Less(x.From()) || x.To().Less(y.To()) {
			return false
		}
	}
	return true
}

// Equal reports whether the sets hold the same addresses.
func (a AddrSet) Equal(b AddrSet) bool {
	if len(a.rr) != len(b.rr) {
		return false
	}
	for i := range a.rr {
		if a.rr[i] != b.rr[i] {
			return false
		}
	}
	return true
}

// Union returns the addresses in a or b.
func (a AddrSet) Union(b AddrSet) AddrSet {
	switch {
	case a.Covers(b):
		return a
	case b.Covers(a):
		return b
	}
	var s netipx.IPSetBuilder
	s.AddSet(a.IPSet())
	s.AddSet(b.IPSet())
	r, _ := s.IPSet()
	return NewAddrSet(r)
}

// Intersect returns the addresses in both a and b.
func (a AddrSet) Intersect(b AddrSet) AddrSet {
	switch {
	case !a.Overlaps(b):
		return AddrSet{}
	case a.Covers(b):
		return b
	case b.Covers(a):
		return a
	}
	var s netipx.IPSetBuilder
	s.AddSet(a.IPSet())
	s.Intersect(b.IPSet())
	r, _ := s.IPSet()
	return NewAddrSet(r)
}

// Difference returns the addresses in a and not in b.
func (a AddrSet) Difference(b AddrSet) AddrSet {
	switch {
	case !a.Overlaps(b):
		return a
	case b.Covers(a):
		return AddrSet{}
	}
	var s netipx.IPSetBuilder
	s.AddSet(a.IPSet())
	s.RemoveSet(b.IPSet())
	r, _ := s.IPSet()
	return NewAddrSet(r)
}

// Complement returns every address not in a.
func (a AddrSet) Complement() AddrSet { return AllAddrs().Difference(a) }

// Prefixes returns the minimal sorted prefixes covering the set.
func (a AddrSet) Prefixes() []netip.Prefix {
	if a.set == nil {
		return nil
	}
	return a.set.Prefixes()
}

// First returns the lowest address of a non-empty set.
func (a AddrSet) First() netip.Addr { return a.rr[0].From() }

// Last returns the highest address of a non-empty set.
func (a AddrSet) Last() netip.Addr { return a.rr[len(a.rr)-1].To() }

// maxListed is how many prefixes Strings lists before abbreviating; the
// exact sets are in Prefixes (and in the JSON report).
const maxListed = 16

// Strings describes the set for people, per address family: "any IPv4"
// for a whole family ("any" for both), "public IPv4" for the family's
// public Internet ("public Internet" for both), "any IPv4 except P…" or
// "public IPv4 except P…" when what the set leaves out of the family, or
// of its public Internet, is shorter than the set itself, otherwise the
// prefixes.
func (a AddrSet) Strings() []string {
	if a.IsEmpty() {
		return []string{"none"}
	}
	var out []string
	for _, fam := range []AddrSet{allV4Addrs, allV6Addrs} {
		part := a.Intersect(fam)
		if part.IsEmpty() {
			continue
		}
		name := "any IPv4"
		if fam.First().Is6() {
			name = "any IPv6"
		}
		if part.Equal(fam) {
			out = append(out, name)
			continue
		}
		pub, pubName := publicOf[fam.First().Is6()], "public "+strings.TrimPrefix(name, "any ")
		if part.Equal(pub) {
			out = append(out, pubName)
			continue
		}
		in := part.Prefixes()
		if len(in) > 2 {
			ex := fam.Difference(part).Prefixes()
			if pub.Covers(part) {
				if exPub := pub.Difference(part).Prefixes(); len(exPub) < len(ex) {
					ex, name = exPub, pubName
				}
			}
			if len(ex) < len(in) && len(ex) <= maxListed {
				out = append(out, name+" except "+joinPrefixes(ex))
				continue
			}
		}
		for i, p := range in {
			if i == maxListed {
				out = append(out, fmt.Sprintf("(and %d more prefixes)", len(in)-maxListed))
				break
			}
			out = append(out, p.String())
		}
	}
	if len(out) == 2 && out[0] == "any IPv4" && out[1] == "any IPv6" {
		return []string{"any"}
	}
	if len(out) == 2 && out[0] == "public IPv4" && out[1] == "public IPv6" {
		return []string{"public Internet"}
	}
	return out
}

// String joins Strings with spaces.
func (a AddrSet) String() string { return strings.Join(a.Strings(), " ") }

func joinPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, " ")
}
