package diagram_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/teamsgate/teamsgate/internal/diagram"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/planfile"
	"github.com/teamsgate/teamsgate/internal/testutil"
)

// docs is where the diagrams of the example specs are kept: the README
// and docs/diagram.md show them, and they are this test's golden files
// (make diagrams rewrites them).
var docs = filepath.Join(testutil.Root(), "docs", "diagrams")

// build draws an example spec as diagram does: titled with the spec's
// name.
func build(t *testing.T, name string) *diagram.Diagram {
	t.Helper()
	cat, ds := planfile.Catalog("")
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	pl, ds := planfile.ReadFile(cat, testutil.ExamplePath(name))
	if pl == nil {
		t.Fatal(ds)
	}
	return diagram.Build(pl.Plan, pl.Spec.Name)
}

// TestDocsDiagrams: the Mermaid, DOT, text and SVG of every example spec
// are those in docs/diagrams, byte for byte.
func TestDocsDiagrams(t *testing.T) {
	for _, name := range testutil.Examples() {
		t.Run(name, func(t *testing.T) {
			d := build(t, name)
			svg, err := d.SVG(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for ext, data := range map[string][]byte{".mmd": d.Mermaid(), ".dot": d.DOT(), ".txt": d.Text(), ".svg": svg} {
				testutil.Golden(t, filepath.Join(docs, name+ext), data)
			}
		})
	}
}

// TestDeterministic: drawing twice gives the same bytes.
func TestDeterministic(t *testing.T) {
	for _, name := range testutil.Examples() {
		a, b := build(t, name), build(t, name)
		sa, err := a.SVG(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		sb, _ := b.SVG(context.Background())
		if !bytes.Equal(sa, sb) || !bytes.Equal(a.DOT(), b.DOT()) || !bytes.Equal(a.Mermaid(), b.Mermaid()) || !bytes.Equal(a.Text(), b.Text()) {
			t.Errorf("%s: two drawings differ", name)
		}
	}
}

// TestSVG: the SVG is well-formed XML and shows every party and every
// arrow number.
func TestSVG(t *testing.T) {
	for _, name := range testutil.Examples() {
		d := build(t, name)
		svg, err := d.SVG(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var texts []string
		dec := xml.NewDecoder(bytes.NewReader(svg))
		dec.Strict = true
		inText := false
		for {
			tok, err := dec.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: the SVG is not XML: %v", name, err)
			}
			switch tok := tok.(type) {
			case xml.StartElement:
				inText = tok.Name.Local == "text"
			case xml.EndElement:
				inText = false
			case xml.CharData:
				if inText {
					texts = append(texts, string(tok))
				}
			}
		}
		all := strings.Join(texts, "\n")
		for _, p := range d.Parties {
			if !strings.Contains(all, p.Label) {
				t.Errorf("%s: party %q is not in the SVG", name, p.Label)
			}
		}
		for _, a := range d.Arrows {
			if !regexp.MustCompile(`(?m)^` + fmt.Sprint(a.N) + `: `).MatchString(all) {
				t.Errorf("%s: arrow %d is not in the SVG", name, a.N)
			}
		}
	}
}

// TestMerged: parallel flows between two parties are one arrow, and every
// rule is on exactly one arrow, with the same number in the text.
func TestMerged(t *testing.T) {
	p := testutil.Plan(t, testutil.ExamplePath("combined"), "")
	d := diagram.Build(p, "combined")
	if len(p.Rules) < 40 || len(d.Arrows) > len(p.Rules)/2+1 {
		t.Errorf("%d rules drawn as %d arrows: parallel flows are not merged", len(p.Rules), len(d.Arrows))
	}
	seen := map[string]bool{}
	for _, a := range d.Arrows {
		pairs := map[[2]string]bool{}
		for _, r := range a.Rules {
			if seen[r.ID] {
				t.Errorf("rule %s on two arrows", r.ID)
			}
			seen[r.ID] = true
			if d.ArrowOf(r.ID) != a.N {
				t.Errorf("ArrowOf(%s) = %d, want %d", r.ID, d.ArrowOf(r.ID), a.N)
			}
			pairs[[2]string{a.From, a.To}] = true
		}
		if len(pairs) != 1 {
			t.Errorf("arrow %d joins several pairs of parties", a.N)
		}
	}
	for _, r := range p.Rules {
		if !seen[r.ID] {
			t.Errorf("rule %s is on no arrow", r.ID)
		}
	}
	text := string(d.Text())
	for _, a := range d.Arrows {
		for _, r := range a.Rules {
			if !regexp.MustCompile(`(?s)\n` + fmt.Sprint(a.N) + `\. [^\n]*\n(   - [^\n]*\n)*   - ` + regexp.QuoteMeta(r.ID) + `:`).MatchString(text) {
				t.Errorf("the text does not list %s under arrow %d", r.ID, a.N)
			}
		}
	}
}

// TestStatusAndDirection: an arrow is as sure as its least sure rule, and
// its colour and line say direction and status.
func TestStatusAndDirection(t *testing.T) {
	d := build(t, "combined")
	dot := string(d.DOT())
	for _, a := range d.Arrows {
		for _, r := range a.Rules {
			if r.Status > a.Status {
				t.Errorf("arrow %d is %s but carries %s (%s)", a.N, a.Status, r.ID, r.Status)
			}
		}
		line := regexp.MustCompile(`(?m)^  .* \[label="` + fmt.Sprint(a.N) + `: [^\n]*$`).FindString(dot)
		wantStyle := map[model.Status]string{model.Documented: "style=solid", model.Derived: "style=dashed", model.ToBeConfirmed: "style=dotted"}[a.Status]
		if !strings.Contains(line, wantStyle) {
			t.Errorf("arrow %d (%s): %q lacks %s", a.N, a.Status, line, wantStyle)
		}
		if a.Deny && !strings.Contains(line, "#b3261e") {
			t.Errorf("deny arrow %d is not red: %q", a.N, line)
		}
	}
	var tbc, deny bool
	for _, a := range d.Arrows {
		tbc = tbc || a.Status == model.ToBeConfirmed
		deny = deny || a.Deny
	}
	if !tbc || !deny {
		t.Errorf("the combined example has to-be-confirmed flows and the RDP deny: to-be-confirmed %v, deny %v", tbc, deny)
	}
}

// TestStableWhenAFlowIsAdded: adding a flow (Graph for the messaging bot)
// adds its party and arrow; every other party keeps its column and its
// place in it, and the arrows before it keep their numbers.
func TestStableWhenAFlowIsAdded(t *testing.T) {
	const spec = "name: s\ncloud: worldwide\nintegrations:\n  teams-messaging-bot:\n    roles: { bot: { addresses: [198.51.100.10] } }\n"
	before := diagram.Build(testutil.PlanBytes(t, spec+"    parameters: { graph: false }\n", ""), "s")
	after := diagram.Build(testutil.PlanBytes(t, spec+"    parameters: { graph: true }\n", ""), "s")
	columns := func(d *diagram.Diagram) []string {
		return regexp.MustCompile(`(?m)^  \{ rank=same; .*$`).FindAllString(string(d.DOT()), -1)
	}
	b, a := columns(before), columns(after)
	if len(a) != len(b) {
		t.Fatalf("columns %d → %d", len(b), len(a))
	}
	for i := range a {
		if strings.ReplaceAll(a[i], ` "graph";`, "") != b[i] {
			t.Errorf("column %d: %s → %s", i, b[i], a[i])
		}
	}
	if len(after.Arrows) != len(before.Arrows)+1 {
		t.Errorf("arrows %d → %d", len(before.Arrows), len(after.Arrows))
	}
	for i, x := range before.Arrows {
		if y := after.Arrows[i]; y.N != x.N || y.From != x.From || y.To != x.To {
			t.Errorf("arrow %d moved: %+v → %+v", x.N, x, y)
		}
	}
}

// TestMarkProbe: a probe run's outcomes mark the arrows: the worst of an
// arrow's rules, a failure red and bold with its outcome, a pass ticked,
// and the legend says so.
func TestMarkProbe(t *testing.T) {
	d := build(t, "messaging-bot")
	d.MarkProbe(map[string]string{
		"teams-messaging-bot.out.login":        "pass",
		"teams-messaging-bot.out.botframework": "pass",
		"teams-messaging-bot.out.reply":        "blocked",
		"teams-messaging-bot.out.openid":       "skipped",
	})
	dot := string(d.DOT())
	for _, want := range []string{`"2: TCP 443 ✓", color="#1d6b32"`, `"3: TCP 443 ✗ blocked", color="#b3261e"`, "penwidth=2.5", "probe: passed / failed"} {
		if !strings.Contains(dot, want) {
			t.Errorf("DOT lacks %q:\n%s", want, dot)
		}
	}
	if strings.Contains(dot, `"1: TCP 443 ✓"`) || strings.Contains(dot, `"1: TCP 443 ✗`) {
		t.Errorf("an arrow with no probed rule is marked:\n%s", dot)
	}
	if _, err := d.SVG(context.Background()); err != nil {
		t.Fatal(err)
	}
}
