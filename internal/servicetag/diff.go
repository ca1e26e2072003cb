package servicetag

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"go4.org/netipx"
)

// ChangeKind says how a tag differs between two service tags files.
type ChangeKind uint8

// The kinds of change.
const (
	// Added: the tag is only in the new file.
	Added ChangeKind = iota + 1
	// Removed: the tag is only in the old file.
	Removed
	// Changed: the tag is in both files with different prefixes.
	Changed
)

func (k ChangeKind) String() string {
	switch k {
	case Added:
		return "added"
	case Removed:
		return "removed"
	case Changed:
		return "changed"
	}
	return fmt.Sprintf("ChangeKind(%d)", uint8(k))
}

// TagChange is how one tag differs between two service tags files.
//
// Added and Removed compare the prefixes as published (masked, each
// prefix once), not the addresses they cover: a prefix split into two
// smaller ones shows as one removed and two added, although no address
// changed, because the published prefixes are what a firewall holds.
// AddressDelta gives the change in addresses.
type TagChange struct {
	// Name is the tag's name as the new file spells it (the old file's,
	// for a removed tag). Names are matched case-insensitively.
	Name string
	Kind ChangeKind
	// Added are the prefixes only the new file gives the tag, Removed
	// those only the old file gives it; each is sorted in netip.Prefix
	// order (IPv4 before IPv6, then address, then length). A tag Added
	// has all its prefixes in Added, a tag Removed all in Removed.
	Added, Removed []netip.Prefix

	// The tag's address sets in the old and new files (nil for a file
	// without the tag), for AddressDelta.
	oldSet, newSet *netipx.IPSet
}

// AddressDelta returns the addresses the new file gives the tag and the
// old one did not (added), and those the old one gave it and the new one
// does not (removed). It is computed at each call, so Diff costs nothing
// for callers that do not want it. Both sets are empty for a change that
// only regroups the same addresses into other prefixes.
func (c TagChange) AddressDelta() (added, removed *netipx.IPSet) {
	return setMinus(c.newSet, c.oldSet), setMinus(c.oldSet, c.newSet)
}

// setMinus is a − b; a nil set is empty.
func setMinus(a, b *netipx.IPSet) *netipx.IPSet {
	var sb netipx.IPSetBuilder
	if a != nil {
		sb.AddSet(a)
	}
	if b != nil {
		sb.RemoveSet(b)
	}
	s, _ := sb.IPSet() // only invalid input is an error, and a set holds none
	return s
}

// String is the change in one line: "AzureCloud: changed, +2 -3 prefixes".
func (c TagChange) String() string {
	switch c.Kind {
	case Added:
		return fmt.Sprintf("%s: added, %d prefixes", c.Name, len(c.Added))
	case Removed:
		return fmt.Sprintf("%s: removed, %d prefixes", c.Name, len(c.Removed))
	}
	return fmt.Sprintf("%s: %s, +%d -%d prefixes", c.Name, c.Kind, len(c.Added), len(c.Removed))
}

// Diff returns, for each tag whose set of prefixes differs between old
// and new, how it differs: tags only in new are Added, tags only in old
// Removed, tags in both with other prefixes Changed. Tags are matched by
// name case-insensitively, so a tag whose name only changed case is not a
// change. The order of prefixes in a file, and a prefix given twice, do
// not count. The changes are sorted by name, case-insensitively. A nil
// Data is a file without tags.
func Diff(old, new *Data) []TagChange {
	var oldTags, newTags map[string]*Tag
	if old != nil {
		oldTags = old.tags
	}
	if new != nil {
		newTags = new.tags
	}
	type entry struct {
		key string // lower-case name
		c   TagChange
	}
	var out []entry
	for key, o := range oldTags {
		n, ok := newTags[key]
		if !ok {
			out = append(out, entry{key, TagChange{Name: o.Name, Kind: Removed, Removed: sortedSet(o.Prefixes), oldSet: o.set}})
			continue
		}
		if slices.Equal(o.Prefixes, n.Prefixes) {
			continue // the common case, and no need to sort
		}
		added, removed := prefixDelta(sortedSet(o.Prefixes), sortedSet(n.Prefixes))
		if len(added) == 0 && len(removed) == 0 {
			continue
		}
		out = append(out, entry{key, TagChange{Name: n.Name, Kind: Changed, Added: added, Removed: removed, oldSet: o.set, newSet: n.set}})
	}
	for key, n := range newTags {
		if _, ok := oldTags[key]; !ok {
			out = append(out, entry{key, TagChange{Name: n.Name, Kind: Added, Added: sortedSet(n.Prefixes), newSet: n.set}})
		}
	}
	// Keys are unique, so the order is total and the same on every run.
	slices.SortFunc(out, func(a, b entry) int { return strings.Compare(a.key, b.key) })
	cs := make([]TagChange, len(out))
	for i, e := range out {
		cs[i] = e.c
	}
	return cs
}

// sortedSet returns a sorted copy of ps without duplicates (nil for none).
func sortedSet(ps []netip.Prefix) []netip.Prefix {
	if len(ps) == 0 {
		return nil
	}
	out := slices.Clone(ps)
	slices.SortFunc(out, netip.Prefix.Compare)
	return slices.Compact(out)
}

// prefixDelta merges two sorted, duplicate-free lists: the prefixes only
// in n (added) and only in o (removed).
func prefixDelta(o, n []netip.Prefix) (added, removed []netip.Prefix) {
	for len(o) > 0 && len(n) > 0 {
		switch c := o[0].Compare(n[0]); {
		case c == 0:
			o, n = o[1:], n[1:]
		case c < 0:
			removed = append(removed, o[0])
			o = o[1:]
		default:
			added = append(added, n[0])
			n = n[1:]
		}
	}
	return append(added, n...), append(removed, o...)
}
