package diagram

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/goccy/go-graphviz"

	"github.com/teamsgate/teamsgate/internal/model"
)

// Colours of the arrows by direction and of the zones. They keep a
// contrast ratio of at least 4.5:1 against white (WCAG 2.1 AA) so that
// the labels drawn in them stay readable.
const (
	colInbound  = "#1f4e9c" // blue
	colOutbound = "#1d6b32" // green
	colInternal = "#555555" // grey
	colDeny     = "#b3261e" // red
)

var zoneFill = map[Zone]string{
	ZoneYours:    "#eef4ee",
	ZoneDMZ:      "#fdf3e3",
	ZoneAzure:    "#e8f1fb",
	ZoneM365:     "#f0ecf7",
	ZoneInternet: "#f2f2f2",
}

func (a Arrow) colour() string {
	switch {
	case a.Deny, a.probeFailed():
		return colDeny
	case a.Dir == Inbound:
		return colInbound
	case a.Dir == Outbound:
		return colOutbound
	}
	return colInternal
}

// style is the line of an arrow: documented solid, derived dashed, to be
// confirmed dotted.
func style(s model.Status) (dot, mermaid string) {
	switch s {
	case model.Derived:
		return "dashed", "-.->"
	case model.ToBeConfirmed:
		return "dotted", "-.->"
	}
	return "solid", "-->"
}

// label is an arrow's text: its number and its protocols and ports.
func (a Arrow) label() string {
	l := fmt.Sprintf("%d: %s", a.N, strings.Join(a.Labels, ", "))
	if a.Deny {
		l += " (deny)"
	}
	switch {
	case a.probeFailed():
		l += " ✗ " + a.Probe
	case a.Probe == "pass":
		l += " ✓"
	}
	return l
}

// DOT renders the diagram as a Graphviz digraph: zones as clusters laid
// out left to right, and every arrow drawn from the party nearer your
// network to the one further away (dir=back for inbound ones), so that a
// flow added later does not reorder the zones.
func (d *Diagram) DOT() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "digraph flows {\n")
	fmt.Fprintf(&b, "  graph [rankdir=LR, fontname=\"Helvetica\", fontsize=12, nodesep=0.45, ranksep=1.6, newrank=true, labelloc=t, label=%s];\n",
		q(d.title()))
	fmt.Fprintf(&b, "  node [shape=box, style=\"rounded,filled\", fillcolor=\"#ffffff\", fontname=\"Helvetica\", fontsize=11, margin=\"0.45,0.1\"];\n")
	fmt.Fprintf(&b, "  edge [fontname=\"Helvetica\", fontsize=9, arrowsize=0.7];\n")
	for _, z := range Zones {
		var ps []Party
		for _, p := range d.Parties {
			if p.Zone == z {
				ps = append(ps, p)
			}
		}
		if len(ps) == 0 {
			continue
		}
		fmt.Fprintf(&b, "  subgraph cluster_%s {\n    label=%s; style=\"rounded,filled\"; fillcolor=%q; color=\"#999999\"; fontsize=12;\n", z.id(), q(z.String()), zoneFill[z])
		for _, p := range ps {
			label := p.Label
			if p.Detail != "" {
				label += "\n" + p.Detail
			}
			fmt.Fprintf(&b, "    %s [label=%s];\n", q(p.ID), q(label))
		}
		fmt.Fprintf(&b, "  }\n")
	}
	// One column per zone, in Zones order: the parties of a zone share a
	// rank, and invisible edges chain the columns.
	var prev string
	for _, z := range Zones {
		var ids []string
		for _, p := range d.Parties {
			if p.Zone == z {
				ids = append(ids, q(p.ID))
			}
		}
		if len(ids) == 0 {
			continue
		}
		fmt.Fprintf(&b, "  { rank=same; %s; }\n", strings.Join(ids, "; "))
		if prev != "" {
			fmt.Fprintf(&b, "  %s -> %s [style=invis, weight=10];\n", prev, ids[0])
		}
		prev = ids[0]
	}
	for _, a := range d.Arrows {
		ds, _ := style(a.Status)
		from, to, dir := a.From, a.To, ""
		if d.Party(a.From).Zone.column() > d.Party(a.To).Zone.column() {
			from, to, dir = a.To, a.From, ", dir=back"
		}
		if a.probeFailed() {
			dir += ", penwidth=2.5"
		}
		fmt.Fprintf(&b, "  %s -> %s [label=%s, color=%q, fontcolor=%q, style=%s%s];\n", q(from), q(to), q(a.label()), a.colour(), a.colour(), ds, dir)
	}
	legend := legendDOT
	for _, a := range d.Arrows {
		if a.Probe != "" {
			legend = strings.Replace(legend, `      <tr><td colspan="2" align="left">N: its number`, `      <tr><td align="left">✓ / <font color="`+colDeny+`">✗</font></td><td align="left">probe: passed / failed (bold)</td></tr>
      <tr><td colspan="2" align="left">N: its number`, 1)
			break
		}
	}
	b.WriteString(legend)
	b.WriteString("}\n")
	return b.Bytes()
}

// legendDOT is the key: a table of what colour and line mean.
const legendDOT = `  legend [shape=plaintext, style="", fontsize=9, label=<
    <table border="1" cellborder="0" cellspacing="2" color="#999999">
      <tr><td colspan="2"><b>Legend</b></td></tr>
      <tr><td align="left"><font color="` + colInbound + `">blue</font></td><td align="left">inbound, to your roles</td></tr>
      <tr><td align="left"><font color="` + colOutbound + `">green</font></td><td align="left">outbound, from your roles</td></tr>
      <tr><td align="left"><font color="` + colInternal + `">grey</font></td><td align="left">between your roles</td></tr>
      <tr><td align="left"><font color="` + colDeny + `">red</font></td><td align="left">denied</td></tr>
      <tr><td align="left">———</td><td align="left">documented</td></tr>
      <tr><td align="left">– – –</td><td align="left">derived</td></tr>
      <tr><td align="left">·······</td><td align="left">to be confirmed</td></tr>
      <tr><td colspan="2" align="left">N: its number in the text and the table</td></tr>
    </table>>];
`

func (d *Diagram) title() string {
	name := d.Name
	if name == "" {
		name = "deployment"
	}
	return fmt.Sprintf("Flows of %s (cloud %s, catalog %s)", name, d.Cloud, d.CatalogVersion)
}

// q quotes a DOT string.
func q(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, `"`, `\"`)
	s = strings.ReplaceAll(s, "\n", `\n`)
	return `"` + s + `"`
}

// Mermaid renders the diagram as a Mermaid flowchart: zones as
// subgraphs, derived and to-be-confirmed arrows dotted, colours by
// direction.
func (d *Diagram) Mermaid() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "---\ntitle: %s\n---\nflowchart LR\n", mq(d.title()))
	node := map[string]string{}
	for i, p := range d.Parties {
		node[p.ID] = fmt.Sprintf("p%d", i+1)
	}
	for _, z := range Zones {
		first := true
		for _, p := range d.Parties {
			if p.Zone != z {
				continue
			}
			if first {
				fmt.Fprintf(&b, "  subgraph %s[\"%s\"]\n", z.id(), mq(z.String()))
				first = false
			}
			label := mq(p.Label)
			if p.Detail != "" {
				label += "<br/>" + mq(p.Detail)
			}
			fmt.Fprintf(&b, "    %s[\"%s\"]\n", node[p.ID], label)
		}
		if !first {
			fmt.Fprintf(&b, "  end\n")
		}
	}
	for _, a := range d.Arrows {
		_, arrow := style(a.Status)
		fmt.Fprintf(&b, "  %s %s|\"%s\"| %s\n", node[a.From], arrow, mq(a.label()), node[a.To])
	}
	for i, a := range d.Arrows {
		fmt.Fprintf(&b, "  linkStyle %d stroke:%s,color:%s\n", i, a.colour(), a.colour())
	}
	return b.Bytes()
}

// mq escapes text for a quoted Mermaid label.
func mq(s string) string {
	r := strings.NewReplacer(`"`, "#quot;", "<", "#lt;", ">", "#gt;")
	return r.Replace(s)
}

// Text is the numbered description of every arrow, in words: what a
// screen reader reads, and what a reviewer checks the picture against.
func (d *Diagram) Text() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s: %d numbered arrows between %d parties.\n", d.title(), len(d.Arrows), len(d.Parties))
	fmt.Fprintf(&b, "\nParties, by zone:\n")
	for _, z := range Zones {
		var names []string
		for _, p := range d.Parties {
			if p.Zone != z {
				continue
			}
			n := p.Label
			if len(p.All) > 0 {
				n += " (" + strings.Join(p.All, ", ") + ")"
			}
			names = append(names, n)
		}
		if len(names) > 0 {
			fmt.Fprintf(&b, "- %s: %s.\n", z, strings.Join(names, "; "))
		}
	}
	fmt.Fprintf(&b, "\nArrows:\n")
	for _, a := range d.Arrows {
		verb := "allowed"
		if a.Deny {
			verb = "denied"
		}
		fmt.Fprintf(&b, "%d. %s, %s: from %s [%s] to %s [%s], %s; %s.\n", a.N, strings.ToUpper(a.Dir.String()[:1])+a.Dir.String()[1:], verb,
			d.Party(a.From).Label, d.Party(a.From).Zone, d.Party(a.To).Label, d.Party(a.To).Zone, strings.Join(a.Labels, ", "), a.Status)
		for _, r := range a.Rules {
			fmt.Fprintf(&b, "   - %s: %s %s; %s", r.ID, strings.ToUpper(r.Proto.String()), portText(r), r.Purpose)
			if r.Status != model.Documented {
				fmt.Fprintf(&b, " (%s)", r.Status)
			}
			if !r.Required {
				fmt.Fprintf(&b, " (optional)")
			}
			if c := r.Reference.Cite(); c != "" {
				fmt.Fprintf(&b, " [%s]", c)
			}
			fmt.Fprintln(&b)
		}
	}
	return b.Bytes()
}

func portText(r model.Rule) string {
	if !r.Proto.HasPorts() {
		return ""
	}
	if r.DestPorts.IsAny() {
		return "any port"
	}
	return "port " + r.DestPorts.String()
}

// SVG lays the DOT out and renders it in-process (Graphviz compiled to
// WebAssembly: no external binary).
func (d *Diagram) SVG(ctx context.Context) ([]byte, error) {
	g, err := graphviz.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("graphviz: %w", err)
	}
	defer g.Close()
	graph, err := graphviz.ParseBytes(d.DOT())
	if err != nil {
		return nil, fmt.Errorf("graphviz: %w", err)
	}
	defer graph.Close()
	var b bytes.Buffer
	if err := g.Render(ctx, graph, graphviz.SVG, &b); err != nil {
		return nil, fmt.Errorf("graphviz: %w", err)
	}
	return b.Bytes(), nil
}
