package plan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/teamsgate/teamsgate/internal/model"
)

// Delta is how a deployment's rules change between two catalogs (plan
// --since): the rules to add, the rules to remove, and the rules whose
// addresses, hosts or ports change. It is what a firewall change request
// after a Microsoft data update lists.
type Delta struct {
	Cloud      model.Cloud
	OldVersion string
	NewVersion string
	Added      []model.Rule
	Removed    []model.Rule
	Changed    []RuleChange
}

// RuleChange is one rule present in both plans with a different content.
type RuleChange struct {
	ID          string
	Old, New    model.Rule
	Source      SideChange
	Destination SideChange
	// Other lists what else changed, as "ports 443 → 80,443".
	Other []string
}

// SideChange is how one side of a rule changes: prefixes as the plan lists
// them (a prefix split in two is one removed and two added), host
// patterns, service tags, and the any/Internet markers.
type SideChange struct {
	AddedPrefixes   []netip.Prefix
	RemovedPrefixes []netip.Prefix
	AddedHosts      []model.Host
	RemovedHosts    []model.Host
	AddedTags       []string
	RemovedTags     []string
	Other           []string
}

// Empty reports whether the side is unchanged.
func (s SideChange) Empty() bool {
	return len(s.AddedPrefixes)+len(s.RemovedPrefixes)+len(s.AddedHosts)+len(s.RemovedHosts)+len(s.AddedTags)+len(s.RemovedTags)+len(s.Other) == 0
}

// Empty reports whether nothing changes.
func (d Delta) Empty() bool { return len(d.Added)+len(d.Removed)+len(d.Changed) == 0 }

// Diff compares two plans of one spec, rule by rule id. Both must be of
// the same cloud.
func Diff(old, new *model.Plan) Delta {
	d := Delta{Cloud: new.Cloud, OldVersion: old.CatalogVersion, NewVersion: new.CatalogVersion}
	oldByID := map[string]model.Rule{}
	for _, r := range old.Rules {
		oldByID[r.ID] = r
	}
	newIDs := map[string]bool{}
	for _, r := range new.Rules {
		newIDs[r.ID] = true
		o, ok := oldByID[r.ID]
		if !ok {
			d.Added = append(d.Added, r)
			continue
		}
		if c := compare(o, r); c != nil {
			d.Changed = append(d.Changed, *c)
		}
	}
	for _, r := range old.Rules {
		if !newIDs[r.ID] {
			d.Removed = append(d.Removed, r)
		}
	}
	byID := func(a, b model.Rule) int { return strings.Compare(a.ID, b.ID) }
	slices.SortFunc(d.Added, byID)
	slices.SortFunc(d.Removed, byID)
	slices.SortFunc(d.Changed, func(a, b RuleChange) int { return strings.Compare(a.ID, b.ID) })
	return d
}

func compare(o, n model.Rule) *RuleChange {
	c := RuleChange{ID: n.ID, Old: o, New: n, Source: sideDiff(o.Source, n.Source), Destination: sideDiff(o.Destination, n.Destination)}
	other := func(what, a, b string) {
		if a != b {
			c.Other = append(c.Other, fmt.Sprintf("%s %s → %s", what, a, b))
		}
	}
	other("action", o.Action.String(), n.Action.String())
	other("protocol", o.Proto.String(), n.Proto.String())
	other("source ports", o.SourcePorts.String(), n.SourcePorts.String())
	other("ports", o.DestPorts.String(), n.DestPorts.String())
	other("status", o.Status.String(), n.Status.String())
	other("required", fmt.Sprint(o.Required), fmt.Sprint(n.Required))
	if c.Source.Empty() && c.Destination.Empty() && len(c.Other) == 0 {
		return nil
	}
	return &c
}

func sideDiff(o, n model.Target) SideChange {
	var s SideChange
	s.AddedPrefixes, s.RemovedPrefixes = diffPrefixes(o.Prefixes, n.Prefixes)
	s.AddedHosts, s.RemovedHosts = diffHosts(o.Hosts, n.Hosts)
	s.AddedTags, s.RemovedTags = diffStrings(o.ServiceTags, n.ServiceTags)
	if o.Any != n.Any {
		s.Other = append(s.Other, fmt.Sprintf("any %t → %t", o.Any, n.Any))
	}
	if o.Internet != n.Internet {
		s.Other = append(s.Other, fmt.Sprintf("internet %t → %t", o.Internet, n.Internet))
	}
	return s
}

func diffPrefixes(old, new []netip.Prefix) (added, removed []netip.Prefix) {
	in := func(ps []netip.Prefix) map[netip.Prefix]bool {
		m := make(map[netip.Prefix]bool, len(ps))
		for _, p := range ps {
			m[p.Masked()] = true
		}
		return m
	}
	o, n := in(old), in(new)
	for p := range n {
		if !o[p] {
			added = append(added, p)
		}
	}
	for p := range o {
		if !n[p] {
			removed = append(removed, p)
		}
	}
	cmp := func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	}
	slices.SortFunc(added, cmp)
	slices.SortFunc(removed, cmp)
	return added, removed
}

func diffHosts(old, new []model.Host) (added, removed []model.Host) {
	return diffBy(old, new, model.Host.String)
}

func diffStrings(old, new []string) (added, removed []string) {
	return diffBy(old, new, func(s string) string { return s })
}

// diffBy returns the items of new whose key old lacks and the items of old
// whose key new lacks, each sorted by key.
func diffBy[T any](old, new []T, key func(T) string) (added, removed []T) {
	index := func(xs []T) map[string]T {
		m := make(map[string]T, len(xs))
		for _, x := range xs {
			m[key(x)] = x
		}
		return m
	}
	o, n := index(old), index(new)
	for _, k := range sortedMapKeys(n) {
		if _, ok := o[k]; !ok {
			added = append(added, n[k])
		}
	}
	for _, k := range sortedMapKeys(o) {
		if _, ok := n[k]; !ok {
			removed = append(removed, o[k])
		}
	}
	return added, removed
}

func sortedMapKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// DeltaFormats lists the output formats of WriteDelta.
var DeltaFormats = []string{"table", "json"}

// WriteDelta writes a delta as a table for people or as JSON
// (docs/plan-json.md, "Delta").
func WriteDelta(w io.Writer, d Delta, format string) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		return enc.Encode(d)
	case "table", "text", "":
		writeDeltaTable(w, d)
		return nil
	}
	return fmt.Errorf("unknown output format %q (want %s)", format, strings.Join(DeltaFormats, ", "))
}

func writeDeltaTable(w io.Writer, d Delta) {
	fmt.Fprintf(w, "Rule changes for cloud %s, catalog %s → %s: ", d.Cloud, d.OldVersion, d.NewVersion)
	if d.Empty() {
		fmt.Fprintf(w, "none\n")
		return
	}
	fmt.Fprintf(w, "%d to add, %d to remove, %d to change\n", len(d.Added), len(d.Removed), len(d.Changed))
	for _, r := range d.Added {
		fmt.Fprintf(w, "\n+ %s  %s %s  %s → %s  ports %s\n", r.ID, r.Action, r.Proto, Describe(r.Source, 0), Describe(r.Destination, 0), r.DestPorts)
	}
	for _, r := range d.Removed {
		fmt.Fprintf(w, "\n- %s  %s %s  %s → %s  ports %s\n", r.ID, r.Action, r.Proto, Describe(r.Source, 0), Describe(r.Destination, 0), r.DestPorts)
	}
	for _, c := range d.Changed {
		fmt.Fprintf(w, "\n~ %s  %s %s  ports %s\n", c.ID, c.New.Action, c.New.Proto, c.New.DestPorts)
		writeSide(w, "source", c.New.Source, c.Source)
		writeSide(w, "destination", c.New.Destination, c.Destination)
		for _, o := range c.Other {
			fmt.Fprintf(w, "    %s\n", o)
		}
	}
}

func writeSide(w io.Writer, what string, t model.Target, s SideChange) {
	if s.Empty() {
		return
	}
	name := t.Role
	if name == "" {
		name = t.Set
	}
	fmt.Fprintf(w, "    %s %s\n", what, name)
	j := sideJSON(s)
	for _, a := range j.Added {
		fmt.Fprintf(w, "      + %s\n", a)
	}
	for _, r := range j.Removed {
		fmt.Fprintf(w, "      - %s\n", r)
	}
	for _, o := range j.Other {
		fmt.Fprintf(w, "      %s\n", o)
	}
}

// MarshalJSON renders the delta in its documented JSON shape
// (docs/plan-json.md, "Delta").
func (d Delta) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(deltaJSON(d)); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

type deltaDoc struct {
	Cloud      model.Cloud      `json:"cloud"`
	OldCatalog string           `json:"old_catalog"`
	NewCatalog string           `json:"new_catalog"`
	Added      []model.Rule     `json:"added"`
	Removed    []model.Rule     `json:"removed"`
	Changed    []ruleChangeJSON `json:"changed"`
}

type ruleChangeJSON struct {
	ID          string         `json:"id"`
	Source      sideChangeJSON `json:"source"`
	Destination sideChangeJSON `json:"destination"`
	Other       []string       `json:"other"`
	Rule        model.Rule     `json:"rule"`
}

type sideChangeJSON struct {
	Added   []string `json:"added"`
	Removed []string `json:"removed"`
	Other   []string `json:"other"`
}

func deltaJSON(d Delta) deltaDoc {
	doc := deltaDoc{Cloud: d.Cloud, OldCatalog: d.OldVersion, NewCatalog: d.NewVersion,
		Added: nonNil(d.Added), Removed: nonNil(d.Removed), Changed: []ruleChangeJSON{}}
	for _, c := range d.Changed {
		doc.Changed = append(doc.Changed, ruleChangeJSON{ID: c.ID, Source: sideJSON(c.Source), Destination: sideJSON(c.Destination), Other: nonNil(c.Other), Rule: c.New})
	}
	return doc
}

func sideJSON(s SideChange) sideChangeJSON {
	items := func(ps []netip.Prefix, hs []model.Host, tags []string) []string {
		out := []string{}
		for _, p := range ps {
			out = append(out, p.String())
		}
		for _, h := range hs {
			out = append(out, h.String())
		}
		for _, g := range tags {
			out = append(out, "tag:"+g)
		}
		return out
	}
	return sideChangeJSON{
		Added:   items(s.AddedPrefixes, s.AddedHosts, s.AddedTags),
		Removed: items(s.RemovedPrefixes, s.RemovedHosts, s.RemovedTags),
		Other:   nonNil(s.Other),
	}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
