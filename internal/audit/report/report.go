// Package report writes an audit report as text for people (grouped by
// severity), JSON (schema in docs/audit.md), SARIF 2.1.0 for code-scanning
// UIs, and JUnit XML with one test case per required flow.
package report

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"slices"
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
	c.Findings = nonNilFindings(r.Findings)
	c.Accepted = nonNilFindings(r.Accepted)
	c.Flows = append([]audit.FlowResult{}, r.Flows...)
	for i := range c.Flows {
		c.Flows[i].AllowedBy = nonNilRefs(c.Flows[i].AllowedBy)
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

// nonNilFindings copies findings with every list field non-nil, down to
// the rules' own lists and the facts' packets.
func nonNilFindings(fs []audit.Finding) []audit.Finding {
	out := append([]audit.Finding{}, fs...)
	for i := range out {
		f := &out[i]
		f.Blocking = nonNilRefs(f.Blocking)
		f.Unresolved = nonNilRefs(f.Unresolved)
		if f.Packets == nil {
			f.Packets = []audit.PacketSet{}
		}
		f.Rule = nonNilRule(f.Rule)
		f.Facts = append([]audit.Fact{}, f.Facts...)
		for j := range f.Facts {
			fc := &f.Facts[j]
			fc.Rule = nonNilRule(fc.Rule)
			if fc.Packets == nil {
				fc.Packets = []audit.PacketSet{}
			}
		}
	}
	return out
}

func nonNilRule(r *audit.RuleRef) *audit.RuleRef {
	if r == nil || r.Unresolved != nil {
		return r
	}
	rr := *r
	rr.Unresolved = []string{}
	return &rr
}

func nonNilRefs(rs []audit.RuleRef) []audit.RuleRef {
	out := append([]audit.RuleRef{}, rs...)
	for i := range out {
		out[i].Unresolved = nonNilStrings(out[i].Unresolved)
	}
	return out
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// kinds lists the finding kinds in the order the report names them.
var kinds = audit.Kinds

type summary struct {
	Errors   int            `json:"errors"`
	Warnings int            `json:"warnings"`
	Notes    int            `json:"notes"`
	Accepted int            `json:"accepted"`
	Kinds    map[string]int `json:"kinds"`
	Flows    map[string]int `json:"flows"`
	Clean    bool           `json:"clean"`
}

func summarize(r *audit.Report) summary {
	s := summary{Errors: r.Count(audit.SevError), Warnings: r.Count(audit.SevWarning), Notes: r.Count(audit.SevNote),
		Accepted: len(r.Accepted), Kinds: map[string]int{}, Flows: map[string]int{}, Clean: r.Clean()}
	for _, k := range kinds {
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
// severity, the accepted findings, the flows, and the notes.
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
	accepted := ""
	if len(r.Accepted) > 0 {
		accepted = fmt.Sprintf("; %d accepted by %s", len(r.Accepted), r.AcceptFile)
	}
	switch {
	case r.Clean() && accepted == "":
		ew.printf("no findings: every checked flow is allowed, nothing else is, and no rule is shadowed\n")
	case r.Clean():
		ew.printf("no findings but those accepted%s\n", accepted)
	default:
		ew.printf("%s: %s, %s, %s%s\n", plural(len(r.Findings), "finding"), plural(r.Count(audit.SevError), "error"),
			plural(r.Count(audit.SevWarning), "warning"), plural(r.Count(audit.SevNote), "note"), accepted)
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
			textFinding(ew, r, &f)
		}
	}
	if len(r.Accepted) > 0 {
		ew.printf("\nACCEPTED (%s, not counted)\n", r.AcceptFile)
		for _, f := range r.Accepted {
			textFinding(ew, r, &f)
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

// textFinding writes one finding: its kind and subject (the flow, with
// the source of its requirement, or the rule), the message, where the
// rule is, the facts folded into it, the acceptance, and the key and
// fingerprint an accept file names it by.
func textFinding(ew *errWriter, r *audit.Report, f *audit.Finding) {
	const pad = "            "
	subject := f.Flow
	if subject == "" && f.Rule != nil {
		subject = f.Rule.ID
	}
	if f.Kind == audit.UnusedAcceptance && f.Acceptance != nil {
		subject = f.Acceptance.Finding
	}
	if f.Direction != "" {
		subject += " (" + f.Direction + ")"
	}
	if f.Reference != "" {
		subject += ", required by " + f.Reference
	}
	ew.printf("  %-9s %s\n", f.Kind, subject)
	ew.printf("%s\n", indent(f.Message, pad))
	if f.Rule != nil {
		ew.printf("%sat %s\n", pad, where(r, f.Rule))
	}
	for _, u := range f.Unresolved {
		ew.printf("%smay depend on %s, which cannot be evaluated: %s\n", pad, u.ID, strings.Join(u.Unresolved, "; "))
	}
	for _, fc := range f.Facts {
		ew.printf("%s\n", indent("also: "+factText(fc), pad))
		if fc.Rule != nil {
			ew.printf("%s      at %s\n", pad, where(r, fc.Rule))
		}
	}
	if a := f.Acceptance; a != nil {
		switch {
		case f.Kind == audit.UnusedAcceptance:
			ew.printf("%sat %s\n", pad, a.Pos)
		case a.Expired:
			ew.printf("%s%s at %s\n", pad, expiredText(a), a.Pos)
		default:
			ew.printf("%saccepted by %s (expires %s, %s): %s\n", pad, a.By, a.Expires, a.Pos, a.Reason)
		}
	}
	if f.Kind != audit.UnusedAcceptance {
		ew.printf("%skey %s, fingerprint %s\n", pad, f.Key, f.Fingerprint)
	}
}

// factText is a fact for people: its kind and what it says.
func factText(fc audit.Fact) string { return string(fc.Kind) + ": " + fc.Message }

// expiredText says that the entry naming a finding had expired.
func expiredText(a *audit.Acceptance) string {
	return fmt.Sprintf("acceptance expired on %s (%s, %s)", a.Expires, a.Reason, a.By)
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
// finding kinds as rules, one result per finding located in the
// configuration file, with its fingerprint, the rules of its facts as
// related locations, and, when an accept file was applied, its
// suppressions.
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
	RuleID    string          `json:"ruleId"`
	Level     string          `json:"level"`
	Message   sarifMessage    `json:"message"`
	Locations []sarifLocation `json:"locations,omitempty"`
	// PartialFingerprints holds the finding's fingerprint under
	// audit.FingerprintVersion (§3.27.17).
	PartialFingerprints map[string]string `json:"partialFingerprints"`
	RelatedLocations    []sarifLocation   `json:"relatedLocations,omitempty"`
	// Suppressions is present on every result or on none (§3.27.23):
	// on every one when an accept file was applied, empty for a result
	// it does not accept.
	Suppressions *[]sarifSuppression `json:"suppressions,omitempty"`
	Properties   map[string]any      `json:"properties,omitempty"`
}

type sarifLocation struct {
	// ID numbers a related location within its result (§3.28.2).
	ID       *int          `json:"id,omitempty"`
	Physical sarifPhysical `json:"physicalLocation"`
	Message  *sarifMessage `json:"message,omitempty"`
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

// sarifSuppression is SARIF's suppression object (§3.35): an accept-file
// entry is "external" (kept outside the configuration), its status
// "accepted", its reason the justification, its place the location.
type sarifSuppression struct {
	Kind          string         `json:"kind"`
	Status        string         `json:"status"`
	Justification string         `json:"justification"`
	Location      *sarifLocation `json:"location,omitempty"`
	Properties    map[string]any `json:"properties,omitempty"`
}

var kindText = map[audit.Kind][2]string{
	audit.Missing:          {"A flow the plan requires is denied", "A flow of the deployment's plan is denied, wholly or partly, by a rule or default of the configuration."},
	audit.TooOpen:          {"The configuration allows traffic the plan does not require", "The configuration allows traffic to or from the deployment's hosts beyond what the plan requires, or traffic the plan explicitly denies."},
	audit.Shadowed:         {"A rule can never match", "Earlier rules (or, for an order-free rule set, the other rules) cover this rule, or its match is empty (Batfish filterLineReachability)."},
	audit.Mismatch:         {"A rule nearly carries a required flow", "A rule allows the other transport protocol than the plan requires, or a port range narrower than the plan's."},
	audit.Exposed:          {"A management port is open to the Internet", "The whole Internet can reach a port that administers the deployment's hosts (SSH, RDP, WinRM, the catalog's management flows), whatever the plan says."},
	audit.UnusedAcceptance: {"An accepted finding is not found", "An entry of the accept file names a finding the audit did not find: the defect is gone, or the entry names it wrongly."},
}

var kindLevel = map[audit.Kind]audit.Severity{audit.Missing: audit.SevError, audit.TooOpen: audit.SevWarning, audit.Shadowed: audit.SevNote, audit.Mismatch: audit.SevError, audit.Exposed: audit.SevError, audit.UnusedAcceptance: audit.SevNote}

// SARIF writes the report as a SARIF 2.1.0 log: the findings, then the
// accepted findings, suppressed.
func SARIF(w io.Writer, r *audit.Report) error {
	run := sarifRun{Tool: sarifTool{Driver: sarifDriver{Name: "teamsgate", InformationURI: "https://github.com/teamsgate/teamsgate/blob/main/docs/audit.md"}}, Results: []sarifResult{}}
	for _, k := range kinds {
		run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, sarifRule{ID: string(k), ShortDescription: sarifMessage{kindText[k][0]}, FullDescription: sarifMessage{kindText[k][1]}, DefaultConfig: sarifConfig{string(kindLevel[k])}})
	}
	// Every result's ruleId is a rule of the driver, a kind this writer
	// does not describe yet included.
	for _, fs := range [][]audit.Finding{r.Findings, r.Accepted} {
		for _, f := range fs {
			if !slices.ContainsFunc(run.Tool.Driver.Rules, func(ru sarifRule) bool { return ru.ID == string(f.Kind) }) {
				text := sarifMessage{"teamsgate audit finding of kind " + string(f.Kind)}
				run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, sarifRule{ID: string(f.Kind), ShortDescription: text, FullDescription: text, DefaultConfig: sarifConfig{string(f.Severity)}})
			}
		}
	}
	for _, fs := range [][]audit.Finding{r.Findings, r.Accepted} {
		for _, f := range fs {
			run.Results = append(run.Results, sarifFinding(r, &f))
		}
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(sarifLog{Schema: "https://json.schemastore.org/sarif-2.1.0.json", Version: "2.1.0", Runs: []sarifRun{run}})
}

func sarifFinding(r *audit.Report, f *audit.Finding) sarifResult {
	res := sarifResult{RuleID: string(f.Kind), Level: string(f.Severity), Message: sarifMessage{findingText(f)},
		PartialFingerprints: map[string]string{audit.FingerprintVersion: f.Fingerprint}, Properties: map[string]any{}}
	if f.Flow != "" {
		res.Properties["flow"] = f.Flow
	}
	if f.Direction != "" {
		res.Properties["direction"] = f.Direction
	}
	if f.Reference != "" {
		res.Properties["reference"] = f.Reference
	}
	res.Properties["key"] = f.Key
	if f.Rule != nil {
		res.Properties["rule"] = f.Rule.ID
		if loc, ok := sarifAt(r, f.Rule.Pos); ok {
			res.Locations = append(res.Locations, loc)
		}
	}
	a := f.Acceptance
	if f.Kind == audit.UnusedAcceptance && a != nil {
		if loc, ok := sarifAt(r, a.Pos); ok {
			res.Locations = append(res.Locations, loc)
		}
	}
	for _, fc := range f.Facts {
		if fc.Rule == nil {
			continue
		}
		if loc, ok := sarifAt(r, fc.Rule.Pos); ok {
			id := len(res.RelatedLocations)
			loc.ID = &id
			loc.Message = &sarifMessage{string(fc.Kind) + ": " + fc.Rule.ID}
			res.RelatedLocations = append(res.RelatedLocations, loc)
		}
	}
	if r.AcceptFile != "" {
		sups := []sarifSuppression{}
		if a != nil && f.Kind != audit.UnusedAcceptance && !a.Expired {
			sup := sarifSuppression{Kind: "external", Status: "accepted", Justification: a.Reason,
				Properties: map[string]any{"by": a.By, "expires": a.Expires.String()}}
			if loc, ok := sarifAt(r, a.Pos); ok {
				sup.Location = &loc
			}
			sups = append(sups, sup)
		}
		res.Suppressions = &sups
	}
	return res
}

// sarifAt is the location of a position; a position without a file is
// in the audited configuration.
func sarifAt(r *audit.Report, pos diag.Pos) (sarifLocation, bool) {
	uri := pos.File
	if uri == "" {
		uri = r.Config
	}
	if uri == "" {
		return sarifLocation{}, false
	}
	loc := sarifLocation{Physical: sarifPhysical{Artifact: sarifArtifact{URI: uri}}}
	if pos.Line > 0 {
		loc.Physical.Region = &sarifRegion{StartLine: pos.Line, StartColumn: pos.Col}
	}
	return loc, true
}

// findingText is a finding's message with what the other formats show
// beside it: the source of the flow's requirement, the facts, and an
// expired acceptance.
func findingText(f *audit.Finding) string {
	lines := []string{f.Message}
	if f.Reference != "" {
		lines = append(lines, "Required by "+f.Reference+".")
	}
	for _, fc := range f.Facts {
		lines = append(lines, "Also "+factText(fc))
	}
	if a := f.Acceptance; a != nil && a.Expired && f.Kind != audit.UnusedAcceptance {
		lines = append(lines, "The "+expiredText(a)+".")
	}
	return strings.Join(lines, "\n")
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
	// SystemOut lists the accepted findings of a case that passes
	// because of them.
	SystemOut string `xml:"system-out,omitempty"`
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
// suite "configuration" with one case each for management ports open to
// the Internet, too-open and shadowed rules, and, when an accept file was
// applied, one for its unused entries.
// Accepted findings fail no case; they are listed in the case's output.
func JUnit(w io.Writer, r *audit.Report) error {
	byFlow := map[string][]audit.Finding{}
	acceptedFlow := map[string][]audit.Finding{}
	configLevel := map[audit.Kind][]audit.Finding{}
	acceptedConfig := map[audit.Kind][]audit.Finding{}
	for _, f := range r.Findings {
		if f.Flow != "" {
			byFlow[f.Flow+"\x00"+f.Direction] = append(byFlow[f.Flow+"\x00"+f.Direction], f)
			continue
		}
		configLevel[f.Kind] = append(configLevel[f.Kind], f)
	}
	for _, f := range r.Accepted {
		if f.Flow != "" {
			acceptedFlow[f.Flow+"\x00"+f.Direction] = append(acceptedFlow[f.Flow+"\x00"+f.Direction], f)
			continue
		}
		acceptedConfig[f.Kind] = append(acceptedConfig[f.Kind], f)
	}
	flows := junitSuite{Name: "flows"}
	for _, fl := range r.Flows {
		if !fl.Required {
			continue
		}
		integ, _, _ := strings.Cut(fl.ID, ".")
		c := junitCase{Name: fl.ID + " (" + fl.Direction + ")", Classname: "teamsgate.audit." + integ}
		key := fl.ID + "\x00" + fl.Direction
		c.SystemOut = acceptedText(acceptedFlow[key])
		switch fs := byFlow[key]; {
		case fl.Status == audit.FlowSkipped:
			c.Skipped = &junitSkipped{Message: fl.Detail}
			flows.Skipped++
		case fl.Status == audit.FlowFail && (len(fs) > 0 || len(acceptedFlow[key]) == 0):
			var msgs []string
			kinds := map[string]bool{}
			for _, f := range fs {
				msgs = append(msgs, junitText(&f))
				kinds[string(f.Kind)] = true
			}
			c.Failure = &junitFailure{Message: firstLine(fs), Type: strings.Join(sortedKeys(kinds), ","), Text: strings.Join(msgs, "\n")}
			flows.Failures++
		}
		flows.Cases = append(flows.Cases, c)
	}
	flows.Tests = len(flows.Cases)
	conf := junitSuite{Name: "configuration"}
	cases := []audit.Kind{audit.Exposed, audit.TooOpen, audit.Shadowed}
	if r.AcceptFile != "" {
		cases = append(cases, audit.UnusedAcceptance)
	}
	for _, k := range cases {
		c := junitCase{Name: map[audit.Kind]string{audit.Exposed: "no management port is open to the Internet", audit.TooOpen: "nothing beyond the plan is allowed", audit.Shadowed: "no rule is shadowed", audit.UnusedAcceptance: "every accepted finding is found"}[k], Classname: "teamsgate.audit.configuration"}
		c.SystemOut = acceptedText(acceptedConfig[k])
		if fs := configLevel[k]; len(fs) > 0 {
			var msgs []string
			for _, f := range fs {
				msgs = append(msgs, strings.ReplaceAll(findingText(&f), "\n", "\n  "))
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

// junitText is a finding in a failure's text: its kind, its message, and
// its facts and expired acceptance on the lines below.
func junitText(f *audit.Finding) string {
	return "[" + string(f.Kind) + "] " + strings.ReplaceAll(findingText(f), "\n", "\n  ")
}

// acceptedText lists accepted findings for a case's output.
func acceptedText(fs []audit.Finding) string {
	var lines []string
	for _, f := range fs {
		a := f.Acceptance
		lines = append(lines, fmt.Sprintf("accepted by %s (expires %s, %s): %s\n  %s", a.By, a.Expires, a.Pos, a.Reason, junitText(&f)))
	}
	return strings.Join(lines, "\n")
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
