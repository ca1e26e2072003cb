package m365

import (
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/teamsgate/teamsgate/internal/model"
)

// ChangeKind says whether an endpoint set was added, removed or changed.
type ChangeKind string

const (
	SetAdded   ChangeKind = "added"
	SetRemoved ChangeKind = "removed"
	SetChanged ChangeKind = "changed"
)

// SetChange is how one endpoint set differs between two copies of the
// data. Prefixes and URLs are compared as published: a prefix split in two
// is one removed and two added, which is what a firewall holding the
// published prefixes must do.
type SetChange struct {
	ID          int
	ServiceArea string
	Kind        ChangeKind
	AddedIPs    []netip.Prefix
	RemovedIPs  []netip.Prefix
	AddedURLs   []string
	RemovedURLs []string
	// OldTCP/NewTCP and OldUDP/NewUDP are the port lists when they changed.
	OldTCP, NewTCP model.PortSet
	OldUDP, NewUDP model.PortSet
	TCPChanged     bool
	UDPChanged     bool
	// Other lists changes of category, required and ExpressRoute, as
	// "category Allow → Optimize".
	Other []string
}

// Diff compares two copies of the endpoint data set by set, by id. Only the
// sets of the service area area are compared ("" for every area); sets
// that are the same are left out. The result is in id order.
func Diff(old, new []EndpointSet, area string) []SetChange {
	index := func(sets []EndpointSet) map[int]EndpointSet {
		m := map[int]EndpointSet{}
		for _, s := range sets {
			if area == "" || strings.EqualFold(s.ServiceArea, area) {
				m[s.ID] = s
			}
		}
		return m
	}
	o, n := index(old), index(new)
	ids := map[int]bool{}
	for id := range o {
		ids[id] = true
	}
	for id := range n {
		ids[id] = true
	}
	var out []SetChange
	for _, id := range sortedInts(ids) {
		os, inOld := o[id]
		ns, inNew := n[id]
		var c SetChange
		switch {
		case !inOld:
			c = SetChange{ID: id, ServiceArea: ns.ServiceArea, Kind: SetAdded, AddedIPs: sortedPrefixes(ns.IPs), AddedURLs: sortedStrings(ns.URLs),
				NewTCP: ns.TCPPorts, NewUDP: ns.UDPPorts, TCPChanged: !ns.TCPPorts.IsEmpty(), UDPChanged: !ns.UDPPorts.IsEmpty()}
		case !inNew:
			c = SetChange{ID: id, ServiceArea: os.ServiceArea, Kind: SetRemoved, RemovedIPs: sortedPrefixes(os.IPs), RemovedURLs: sortedStrings(os.URLs),
				OldTCP: os.TCPPorts, OldUDP: os.UDPPorts, TCPChanged: !os.TCPPorts.IsEmpty(), UDPChanged: !os.UDPPorts.IsEmpty()}
		default:
			c = SetChange{ID: id, ServiceArea: ns.ServiceArea, Kind: SetChanged}
			c.AddedIPs, c.RemovedIPs = diffPrefixes(os.IPs, ns.IPs)
			c.AddedURLs, c.RemovedURLs = diffStrings(os.URLs, ns.URLs)
			if !os.TCPPorts.Equal(ns.TCPPorts) {
				c.OldTCP, c.NewTCP, c.TCPChanged = os.TCPPorts, ns.TCPPorts, true
			}
			if !os.UDPPorts.Equal(ns.UDPPorts) {
				c.OldUDP, c.NewUDP, c.UDPChanged = os.UDPPorts, ns.UDPPorts, true
			}
			if os.Category != ns.Category {
				c.Other = append(c.Other, "category "+os.Category+" → "+ns.Category)
			}
			if os.Required != ns.Required {
				c.Other = append(c.Other, "required "+yesNo(os.Required)+" → "+yesNo(ns.Required))
			}
			if os.ExpressRoute != ns.ExpressRoute {
				c.Other = append(c.Other, "expressRoute "+yesNo(os.ExpressRoute)+" → "+yesNo(ns.ExpressRoute))
			}
			if len(c.AddedIPs)+len(c.RemovedIPs)+len(c.AddedURLs)+len(c.RemovedURLs)+len(c.Other) == 0 && !c.TCPChanged && !c.UDPChanged {
				continue
			}
		}
		out = append(out, c)
	}
	return out
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func sortedInts(m map[int]bool) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Ints(out)
	return out
}

func sortedPrefixes(ps []netip.Prefix) []netip.Prefix {
	out := slices.Clone(ps)
	slices.SortFunc(out, comparePrefix)
	return slices.Compact(out)
}

func sortedStrings(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.ToLower(s)
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// comparePrefix orders prefixes IPv4 first, then by address, then by
// length.
func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

func diffPrefixes(old, new []netip.Prefix) (added, removed []netip.Prefix) {
	o, n := map[netip.Prefix]bool{}, map[netip.Prefix]bool{}
	for _, p := range old {
		o[p] = true
	}
	for _, p := range new {
		n[p] = true
		if !o[p] {
			added = append(added, p)
		}
	}
	for _, p := range old {
		if !n[p] {
			removed = append(removed, p)
		}
	}
	return sortedPrefixes(added), sortedPrefixes(removed)
}

func diffStrings(old, new []string) (added, removed []string) {
	o, n := map[string]bool{}, map[string]bool{}
	for _, s := range old {
		o[strings.ToLower(s)] = true
	}
	for _, s := range new {
		n[strings.ToLower(s)] = true
		if !o[strings.ToLower(s)] {
			added = append(added, s)
		}
	}
	for _, s := range old {
		if !n[strings.ToLower(s)] {
			removed = append(removed, s)
		}
	}
	return sortedStrings(added), sortedStrings(removed)
}
