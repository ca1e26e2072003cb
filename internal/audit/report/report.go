// Package report writes an audit report as text for people (grouped by
// severity), JSON (schema in docs/audit.md), SARIF 2.1.0 for code-scanning
// UIs, and JUnit XML with one test case per required flow.
package report

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/teamsgate/teamsgate/internal/audit"
	"github.com/teamsgate/teamsgate/internal/diag"
)

// Formats lists the output formats.
var Formats = []string{"text", "json", "sarif", "junit"}

// Write writes the report in one of Formats.
func Write(w io.Writer, r *audit.Report, format string) error {
	switch format {
	case "text", "":
		return Text(w, r)
	case "json":
		return JSON(w, r)
	case "sarif":
		return SARIF(w, r)
	case "junit":
		return JUnit(w, r)
	}
	return fmt.Errorf("unknown output format %q (want %s)", format, strings.Join(Formats, ", "))
}

// JSONVersion is the version of the JSON report schema (docs/audit.md).
const JSONVersion = 1

// JSON writes the report as indented JSON. List fields are always
// present ([] when empty), never null.
func JSON(w io.Writer, r *audit.Report) error {
	c := *r
	c.Findings = append([]audit.Finding{}, r.Findings...)
	for i := range c.Findings {
		f := &c.Findings[i]
		f.Blocking = nonNilRefs(f.Blocking)
		f.Unresolved = nonNilRefs(f.Unresolved)
		if f.Packets == nil {
			f.Packets = []audit.PacketSet{}
		}
		if f.Rule != nil && f.Rule.Unresolved == nil {
			rr := *f.Rule
			rr.Unresolved = []string{}
			f.Rule = &rr
		}
		for j := range f.Blocking {
			f.Blocking[j].Unresolved = nonNilStrings(f.Blocking[j].Unresolved)
		}
		for j := range f.Unresolved {
			f.Unresolved[j].Unresolved = nonNilStrings(f.Unresolved[j].Unresolved)
		}
	}
	c.Flows = append([]audit.FlowResult{}, r.Flows...)
	for i := range c.Flows {
		c.Flows[i].AllowedBy = nonNilRefs(c.Flows[i].AllowedBy)
		for j := range c.Flows[i].AllowedBy {
			c.Flows[i].AllowedBy[j].Unresolved = nonNilStrings(c.Flows[i].AllowedBy[j].Unresolved)
		}
	}
	c.Notes = nonNilStrings(c.Notes)
	if c.Diagnostics == nil {
		c.Diagnostics = diag.List{}
	}
	out := struct {
		Version int `json:"version"`
		*audit.Report
		Summary summary `json:"summary"`
	}{JSONVersion, &c, summarize(r)}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func nonNilRefs(rs []audit.RuleRef) []audit.RuleRef {
	if rs == nil {
		return []audit.RuleRef{}
	}
	return append([]audit.RuleRef{}, rs...)
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

type summary struct {
	Errors   int            `json:"errors"`
	Warnings int            `json:"warnings"`
	Notes    int            `json:"notes"`
	Kinds    map[string]int `json:"kinds"`
	Flows    map[string]int `json:"flows"`
	Clean    bool           `json:"clean"`
}

func summarize(r *audit.Report) summary {
	s := summary{Errors: r.Count(audit.SevError), Warnings: r.Count(audit.SevWarning), Notes: r.Count(audit.SevNote),
		Kinds: map[string]int{}, Flows: map[string]int{}, Clean: r.Clean()}
	for _, k := range []audit.Kind{audit.Missing, audit.TooOpen, audit.Shadowed, audit.Mismatch} {
		s.Kinds[string(k)] = 0
	}
	for _, f := range r.Findings {
		s.Kinds[string(f.Kind)]++
	}
	for _, st := range []audit.FlowStatus{audit.FlowPass, audit.FlowFail, audit.FlowSkipped} {
		s.Flows[string(st)] = 0
	}
	for _, f := range r.Flows {
		s.Flows[string(f.Status)]++
	}
	return s
}

func plural(n int, one string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %ss", n, one)
}

// Text writes the report for people: a summary line, findings grouped by
// severity, the flows, and the notes.
func Text(w io.Writer, r *audit.Report) error {
	ew := &errWriter{w: w}
	scope := "perimeter (forward) view"
	if r.Scope != "" {
		scope = "host firewall of role " + r.Scope
	}
	cfg := r.Config
	if cfg == "" {
		cfg = "(input)"
	}
	ew.printf("audit of %s configuration %s against the plan (cloud %s, catalog %s), %s\n", r.Format, cfg, r.Cloud, r.Catalog, scope)
	if r.Clean() {
		ew.printf("no findings: every checked flow is allowed, nothing else is, and no rule is shadowed\n")
	} else {
		ew.printf("%s: %s, %s, %s\n", plural(len(r.Findings), "finding"), plural(r.Count(audit.SevError), "error"),
			plural(r.Count(audit.SevWarning), "warning"), plural(r.Count(audit.SevNote), "note"))
	}
	for _, sev := range audit.Severities {
		first := true
		for _, f := range r.Findings {
			if f.Severity != sev {
				continue
			}
			if first {
				ew.printf("\n%sS\n", strings.ToUpper(string(sev)))
				first = false
			}
			subject := f.Flow
			if subject == "" && f.Rule != nil {
				subject = f.Rule.ID
			}
			if f.Direction != "" {
				subject += " (" + f.Direction + ")"
			}
			ew.printf("  %-9s %s\n", f.Kind, subject)
			ew.printf("%s\n", indent(f.Message, "            "))
			if f.Rule != nil {
				ew.printf("            at %s\n", where(r, f.Rule))
			}
			for _, u := range f.Unresolved {
				ew.printf("            may depend on %s, which cannot be evaluated: %s\n", u.ID, strings.Join(u.Unresolved, "; "))
			}
		}
	}
	counts := map[audit.FlowStatus]int{}
	for _, f := range r.Flows {
		counts[f.Status]++
	}
	ew.printf("\nFLOWS: %d checked: %d pass, %d fail, %d skipped\n", len(r.Flows), counts[audit.FlowPass], counts[audit.FlowFail], counts[audit.FlowSkipped])
	for _, f := range r.Flows {
		req := "required"
		if !f.Required {
			req = "optional"
		}
		if f.Action == "deny" {
			req = "must be denied"
		}
		ew.printf("  %-4s %s (%s, %s)\n", strings.ToUpper(map[audit.FlowStatus]string{audit.FlowPass: "pass", audit.FlowFail: "fail", audit.FlowSkipped: "skip"}[f.Status]), f.ID, f.Direction, req)
		if f.Status == audit.FlowSkipped && f.Detail != "" {
			ew.printf("%s\n", indent(f.Detail, "       "))
		}
	}
	if len(r.Notes) > 0 || len(r.Diagnostics) > 0 {
		ew.printf("\nNOTES\n")
		for _, n := range r.Notes {
			ew.printf("  - %s\n", n)
		}
		for _, d := range r.Diagnostics {
			ew.printf("  - %s\n", d)
		}
	}
	return ew.err
}

func where(r *audit.Report, ref *audit.RuleRef) string {
	pos := ref.Pos
	if pos.File == "" {
		pos.File = r.Config
	}
	p := pos.String()
	if p == "" {
		return ref.ID
	}
	return p + " " + ref.ID
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}

// SARIF 2.1.0 (OASIS), the subset code-scanning UIs read: one run, the
// four finding kinds as rules, one result per finding located in the
// configuration file.
type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID               string       `json:"id"`
	ShortDescription sarifMessage `json:"shortDescription"`
	FullDescription  sarifMessage `json:"fullDescription"`
	DefaultConfig    sarifConfig  `json:"defaultConfiguration"`
}

type sarifConfig struct {
	Level string `json:"level"`
}

type sarifMessage struct {
	Text string `json:"text"`
}

type sarifResult struct {
	RuleID     string          `json:"ruleId"`
	Level      string          `json:"level"`
	Message    sarifMessage    `json:"message"`
	Locations  []sarifLocation `json:"locations,omitempty"`
	Properties map[string]any  `json:"properties,omitempty"`
}

type sarifLocation struct {
	Physical sarifPhysical `json:"physicalLocation"`
}

type sarifPhysical struct {
	Artifact sarifArtifact `json:"artifactLocation"`
	Region   *sarifRegion  `json:"region,omitempty"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

type sarifRegion struct {
	StartLine   int `json:"startLine"`
	StartColumn int `json:"startColumn,omitempty"`
}

var kindText = map[audit.Kind][2]string{
	audit.Missing:  {"A flow the plan requires is denied", "A flow of the deployment's plan is denied, wholly or partly, by a rule or default of the configuration."},
	audit.TooOpen:  {"The configuration allows traffic the plan does not require", "The configuration allows traffic to or from the deployment's hosts beyond what the plan requires, or traffic the plan explicitly denies."},
	audit.Shadowed: {"A rule can never match", "Earlier rules (or, for an order-free rule set, the other rules) cover this rule, or its match is empty (Batfish filterLineReachability)."},
	audit.Mismatch: {"A rule nearly carries a required flow", "A rule allows the other transport protocol than the plan requires, or a port range narrower than the plan's."},
}

// SARIF writes the report as a SARIF 2.1.0 log.
func SARIF(w io.Writer, r *audit.Report) error {
	run := sarifRun{Tool: sarifTool{Driver: sarifDriver{Name: "teamsgate", InformationURI: "https://github.com/teamsgate/teamsgate/blob/main/docs/audit.md"}}, Results: []sarifResult{}}
	for _, k := range []audit.Kind{audit.Missing, audit.TooOpen, audit.Shadowed, audit.Mismatch} {
		level := "error"
		if k == audit.TooOpen {
			level = "warning"
		}
		if k == audit.Shadowed {
			level = "note"
		}
		run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, sarifRule{ID: string(k), ShortDescription: sarifMessage{kindText[k][0]}, FullDescription: sarifMessage{kindText[k][1]}, DefaultConfig: sarifConfig{level}})
	}
	for _, f := range r.Findings {
		res := sarifResult{RuleID: string(f.Kind), Level: string(f.Severity), Message: sarifMessage{f.Message}, Properties: map[string]any{}}
		if f.Flow != "" {
			res.Properties["flow"] = f.Flow
		}
		if f.Direction != "" {
			res.Properties["direction"] = f.Direction
		}
		if f.Rule != nil {
			res.Properties["rule"] = f.Rule.ID
			uri := f.Rule.Pos.File
			if uri == "" {
				uri = r.Config
			}
			if uri != "" {
				loc := sarifLocation{Physical: sarifPhysical{Artifact: sarifArtifact{URI: uri}}}
				if f.Rule.Pos.Line > 0 {
					loc.Physical.Region = &sarifRegion{StartLine: f.Rule.Pos.Line, StartColumn: f.Rule.Pos.Col}
				}
				res.Locations = append(res.Locations, loc)
			}
		}
		run.Results = append(run.Results, res)
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(sarifLog{Schema: "https://json.schemastore.org/sarif-2.1.0.json", Version: "2.1.0", Runs: []sarifRun{run}})
}

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

// JUnit writes the report as JUnit XML: a suite "flows" with one test case
// per required flow (failing with its missing and mismatch findings), and a
// suite "configuration" with one case each for too-open and shadowed rules.
func JUnit(w io.Writer, r *audit.Report) error {
	byFlow := map[string][]audit.Finding{}
	var configLevel = map[audit.Kind][]audit.Finding{}
	for _, f := range r.Findings {
		if f.Flow != "" {
			byFlow[f.Flow+"\x00"+f.Direction] = append(byFlow[f.Flow+"\x00"+f.Direction], f)
			continue
		}
		configLevel[f.Kind] = append(configLevel[f.Kind], f)
	}
	flows := junitSuite{Name: "flows"}
	for _, fl := range r.Flows {
		if !fl.Required {
			continue
		}
		integ, _, _ := strings.Cut(fl.ID, ".")
		c := junitCase{Name: fl.ID + " (" + fl.Direction + ")", Classname: "teamsgate.audit." + integ}
		switch fl.Status {
		case audit.FlowSkipped:
			c.Skipped = &junitSkipped{Message: fl.Detail}
			flows.Skipped++
		case audit.FlowFail:
			fs := byFlow[fl.ID+"\x00"+fl.Direction]
			var msgs []string
			kinds := map[string]bool{}
			for _, f := range fs {
				msgs = append(msgs, fmt.Sprintf("[%s] %s", f.Kind, f.Message))
				kinds[string(f.Kind)] = true
			}
			c.Failure = &junitFailure{Message: firstLine(fs), Type: strings.Join(sortedKeys(kinds), ","), Text: strings.Join(msgs, "\n")}
			flows.Failures++
		}
		flows.Cases = append(flows.Cases, c)
	}
	flows.Tests = len(flows.Cases)
	conf := junitSuite{Name: "configuration"}
	for _, k := range []audit.Kind{audit.TooOpen, audit.Shadowed} {
		c := junitCase{Name: map[audit.Kind]string{audit.TooOpen: "nothing beyond the plan is allowed", audit.Shadowed: "no rule is shadowed"}[k], Classname: "teamsgate.audit.configuration"}
		if fs := configLevel[k]; len(fs) > 0 {
			var msgs []string
			for _, f := range fs {
				msgs = append(msgs, f.Message)
			}
			c.Failure = &junitFailure{Message: fmt.Sprintf("%d %s findings", len(fs), k), Type: string(k), Text: strings.Join(msgs, "\n")}
			conf.Failures++
		}
		conf.Cases = append(conf.Cases, c)
	}
	conf.Tests = len(conf.Cases)
	all := junitSuites{Name: "teamsgate audit", Suites: []junitSuite{flows, conf}}
	for _, s := range all.Suites {
		all.Tests += s.Tests
		all.Failures += s.Failures
		all.Skipped += s.Skipped
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(all); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func firstLine(fs []audit.Finding) string {
	if len(fs) == 0 {
		return ""
	}
	s := fs[0].Message
	if i := strings.IndexByte(s, ':'); i > 0 && i < 200 {
		return s[:i]
	}
	return s
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
