// Package htmlreport writes the review-ready report of a deployment: one
// self-contained HTML file (inline CSS and JavaScript, no fetches, works
// from file://) with the summary, the diagram and its text description,
// the rule table (sortable and filterable) and, when given, the audit
// findings, the certificate results and the Teams Connector sizing. It
// prints on A4 and is built for screen readers: landmarks, headings in
// order, table captions and header scopes, the picture's text alternative
// linked to it, and colours of at least 4.5:1 contrast.
//
// The same inputs give byte-identical output: nothing depends on the
// clock or on map order.
package htmlreport

import (
	"bytes"
	_ "embed"
	"html/template"
	"regexp"
	"strings"

	"github.com/teamsgate/teamsgate/internal/audit"
	"github.com/teamsgate/teamsgate/internal/capacity"
	"github.com/teamsgate/teamsgate/internal/certcheck"
	"github.com/teamsgate/teamsgate/internal/diagram"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/plan"
)

//go:embed report.html.tmpl
var page string

//go:embed report.css
var css string

//go:embed report.js
var js string

// Input is what a report shows.
type Input struct {
	Name    string
	Plan    *model.Plan
	Diagram *diagram.Diagram
	// SVG is the diagram rendered (diagram.SVG).
	SVG []byte
	// Data names the Microsoft 365 data the plan used: its version and
	// date.
	Data string
	// Warnings are the planner's, as people read them.
	Warnings []string
	Audit    *audit.Report
	Certs    []Cert
	Capacity *capacity.Result
	// Probe is the outcome of a probe run per rule (probe -o json): the
	// worst of its checks.
	Probe map[string]string
	// ProbeRole is the role the probe ran for.
	ProbeRole string
}

// Cert is one checked certificate.
type Cert struct {
	File   string
	Report *certcheck.Report
	Failed bool
}

// Render writes the report.
func Render(in Input) ([]byte, error) {
	t, err := template.New("report").Funcs(template.FuncMap{
		"describe": func(t model.Target) string { return plan.Describe(t, 0) },
		"lower":    strings.ToLower,
		"join":     strings.Join,
		"upper":    strings.ToUpper,
	}).Parse(page)
	if err != nil {
		return nil, err
	}
	v := view{Input: in, CSS: template.CSS(css), JS: template.JS(js)}
	v.SVGInline = template.HTML(inlineSVG(in.SVG))
	for _, r := range in.Plan.Rules {
		v.Rules = append(v.Rules, ruleRow{Rule: r, Arrow: in.Diagram.ArrowOf(r.ID), Probe: in.Probe[r.ID]})
		v.Counts[r.Status]++
		if !r.Required {
			v.Optional++
		}
	}
	v.Integrations = strings.Join(in.Plan.Integrations, ", ")
	if in.Audit != nil {
		for _, f := range in.Audit.Findings {
			v.Findings = append(v.Findings, findingRow{f, ruleName(f.Rule)})
		}
	}
	var b bytes.Buffer
	if err := t.Execute(&b, v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

type view struct {
	Input
	CSS          template.CSS
	JS           template.JS
	SVGInline    template.HTML
	Rules        []ruleRow
	Counts       [3]int // by model.Status
	Optional     int
	Integrations string
	Findings     []findingRow
}

type ruleRow struct {
	model.Rule
	Arrow int
	Probe string
}

type findingRow struct {
	audit.Finding
	RuleName string
}

func ruleName(r *audit.RuleRef) string {
	if r == nil {
		return ""
	}
	return r.ID
}

var (
	svgProlog  = regexp.MustCompile(`(?s)^.*?(<svg\b)`)
	svgComment = regexp.MustCompile(`(?s)<!--.*?-->\n?`)
)

// inlineSVG makes Graphviz's SVG a part of the page: without the XML
// prolog, doctype and comments, and labelled for assistive technology by
// the heading above it and the text description below it.
func inlineSVG(svg []byte) string {
	s := svgComment.ReplaceAllString(string(svg), "")
	s = svgProlog.ReplaceAllString(s, "$1")
	return strings.Replace(s, "<svg ", `<svg role="img" aria-labelledby="diagram-heading" aria-describedby="description-intro" `, 1)
}
