package nftables

import (
	"fmt"
	"slices"
	"strings"

	"github.com/teamsgate/teamsgate/internal/render"
)

// DeltaFileName is the name of the file Delta writes.
const DeltaFileName = "teamsgate-delta.nft"

var _ render.Deltaer = (*Renderer)(nil)

// rendered is a parsed teamsgate.nft: its header comment lines, the
// elements of each named set, and its skeleton — the file without header
// and elements — which two renders must share for a delta to apply.
type rendered struct {
	header   []string
	sets     map[string][]string
	order    []string
	skeleton string
}

// Delta implements render.Deltaer: "delete element" and "add element" on
// the named sets of the table, in one nft transaction. The kernel applies
// an nft -f file as one transaction, all of it or none, so no packet sees
// a set between the deletes and the adds, and a ruleset that is not the
// old render (an element to delete missing) is left untouched by the
// failed transaction. A change to anything but set elements (a set or a
// rule added, a port changed) wraps render.ErrFullRender.
func (r *Renderer) Delta(old, new render.Output) (render.Output, error) {
	o, err := parseRendered(old.Files[FileName])
	if err != nil {
		return render.Output{}, fmt.Errorf("the old render: %w", err)
	}
	n, err := parseRendered(new.Files[FileName])
	if err != nil {
		return render.Output{}, fmt.Errorf("the new render: %w", err)
	}
	if o.skeleton != n.skeleton {
		return render.Output{}, fmt.Errorf("%w: %s", render.ErrFullRender, structuralChange(o, n))
	}
	var dels, adds []string
	for _, name := range n.order {
		added, removed := diffElements(o.sets[name], n.sets[name])
		if len(removed) > 0 {
			dels = append(dels, fmt.Sprintf("delete element inet %s %s { %s }", Table, name, strings.Join(removed, ", ")))
		}
		if len(added) > 0 {
			adds = append(adds, fmt.Sprintf("add element inet %s %s { %s }", Table, name, strings.Join(added, ", ")))
		}
	}
	var b strings.Builder
	b.WriteString("#!/usr/sbin/nft -f\n")
	b.WriteString("# teamsgate nftables delta\n")
	b.WriteString("# from: " + strings.TrimPrefix(firstLine(o.header), "teamsgate nftables configuration: ") + "\n")
	b.WriteString("# to:   " + strings.TrimPrefix(firstLine(n.header), "teamsgate nftables configuration: ") + "\n")
	b.WriteString("#\n# Apply with: nft -f " + DeltaFileName + ", to the table the old render loaded.\n")
	b.WriteString("# One transaction: every change is made, or none (an element to delete that\n")
	b.WriteString("# is not there fails it); no packet sees a set between the deletes and the adds.\n")
	if len(dels)+len(adds) == 0 {
		b.WriteString("# No set changes.\n")
	} else {
		b.WriteString("\n")
	}
	for _, l := range append(dels, adds...) {
		b.WriteString(l + "\n")
	}
	return render.Output{Files: map[string][]byte{DeltaFileName: []byte(b.String())}}, nil
}

func firstLine(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return lines[0]
}

// parseRendered reads a file Render wrote. It knows only that format.
func parseRendered(data []byte) (*rendered, error) {
	if data == nil {
		return nil, fmt.Errorf("no %s", FileName)
	}
	r := &rendered{sets: map[string][]string{}}
	var skel strings.Builder
	lines := strings.Split(string(data), "\n")
	inBody := false
	set := ""
	inElements := false
	for i, l := range lines {
		switch {
		case !inBody && strings.HasPrefix(l, "table inet "):
			inBody = true
		case !inBody:
			if h, ok := strings.CutPrefix(l, "# "); ok {
				r.header = append(r.header, h)
			}
			continue
		}
		t := strings.TrimSpace(l)
		switch {
		case inElements && t == "}":
			inElements = false
		case inElements:
			for _, e := range strings.Split(t, ",") {
				if e = strings.TrimSpace(e); e != "" {
					r.sets[set] = append(r.sets[set], e)
				}
			}
			continue
		case strings.HasPrefix(t, "set ") && strings.HasSuffix(t, " {"):
			set = strings.TrimSuffix(strings.TrimPrefix(t, "set "), " {")
			if _, dup := r.sets[set]; dup {
				return nil, fmt.Errorf("line %d: set %s defined twice", i+1, set)
			}
			r.sets[set] = nil
			r.order = append(r.order, set)
		case t == "elements = {":
			if set == "" {
				return nil, fmt.Errorf("line %d: elements outside a set", i+1)
			}
			inElements = true
		}
		skel.WriteString(l + "\n")
	}
	if !inBody {
		return nil, fmt.Errorf("not a teamsgate nftables render: no table")
	}
	r.skeleton = skel.String()
	return r, nil
}

// structuralChange names what differs beyond set elements.
func structuralChange(o, n *rendered) string {
	var added, removed []string
	for _, s := range n.order {
		if _, ok := o.sets[s]; !ok {
			added = append(added, s)
		}
	}
	for _, s := range o.order {
		if _, ok := n.sets[s]; !ok {
			removed = append(removed, s)
		}
	}
	var parts []string
	if len(added) > 0 {
		parts = append(parts, "sets added: "+strings.Join(added, ", "))
	}
	if len(removed) > 0 {
		parts = append(parts, "sets removed: "+strings.Join(removed, ", "))
	}
	if len(parts) == 0 {
		parts = append(parts, "rules or set definitions differ, not only set elements")
	}
	return strings.Join(parts, "; ")
}

func diffElements(old, new []string) (added, removed []string) {
	for _, e := range new {
		if !slices.Contains(old, e) {
			added = append(added, e)
		}
	}
	for _, e := range old {
		if !slices.Contains(new, e) {
			removed = append(removed, e)
		}
	}
	return added, removed
}
