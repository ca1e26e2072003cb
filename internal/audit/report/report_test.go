package report_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/teamsgate/teamsgate/internal/audit"
	"github.com/teamsgate/teamsgate/internal/audit/formats/iptables"
	"github.com/teamsgate/teamsgate/internal/audit/report"
	"github.com/teamsgate/teamsgate/internal/audit/ruleset"
	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/servicetag"
	"github.com/teamsgate/teamsgate/internal/testutil"
	"github.com/teamsgate/teamsgate/internal/view"
)

// calling-bot.rules is a host firewall for the calling bot with every
// finding kind (internal/audit TestFindings explains each).
func auditReport(t *testing.T) *audit.Report {
	t.Helper()
	tags, ds := servicetag.ParseFile(filepath.Join("..", "testdata", "servicetags.json"))
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	cfg, ds := iptables.ParseFile(filepath.Join("testdata", "calling-bot.rules"))
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	p := testutil.Plan(t, testutil.ExamplePath("calling-bot"), "")
	rep, ds := audit.Run(p, cfg, audit.Options{Scope: "bot", FQDN: view.FQDNSkip, Tags: ruleset.ServiceTags{Data: tags}})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	rep.Config = "testdata/calling-bot.rules"
	return rep
}

// fieldsReport is a report written by hand with every field a format
// shows: a flow's reference, facts folded into a finding, an accepted
// finding, an expired acceptance, an entry that names nothing.
func fieldsReport() *audit.Report {
	at := func(line int) diag.Pos { return diag.Pos{Line: line, Col: 1} }
	rule := func(id string, line int, text string) *audit.RuleRef {
		return &audit.RuleRef{ID: id, Chain: "filter/INPUT", Action: "accept", Text: text, Pos: at(line)}
	}
	policy := &audit.RuleRef{ID: "filter/INPUT policy DROP", Chain: "filter/INPUT", Action: "drop", Text: ":INPUT DROP [0:0]", Pos: at(2), Default: true}
	udp := rule("filter/INPUT#3", 7, "-A INPUT -s 198.18.128.0/17 -p udp -m udp --dport 8445 -j ACCEPT")
	r := &audit.Report{Format: "iptables", Config: "host.rules", Scope: "bot", Cloud: "worldwide", Catalog: "2026.12.1",
		Findings: []audit.Finding{
			{Kind: audit.Missing, Severity: audit.SevError, Flow: "teams-calling-bot.in.media-control", Direction: "inbound", Rule: policy, Reference: "001 §4b",
				Message: "inbound flow teams-calling-bot.in.media-control is blocked: tcp from 198.18.128.0/17 to 198.51.100.20/31 port 8445 blocked by filter/INPUT policy DROP",
				Packets: []audit.PacketSet{{Protocol: "tcp", Text: "tcp from 198.18.128.0/17 to 198.51.100.20/31 port 8445"}},
				Facts: []audit.Fact{
					{Kind: audit.Mismatch, Rule: udp, Message: "filter/INPUT#3 allows udp where the plan requires tcp: udp from 198.18.128.0/17 to 198.51.100.20/31 port 8445"},
					{Kind: audit.TooOpen, Rule: udp, Message: "filter/INPUT#3 allows inbound traffic the plan does not require: udp from 198.18.128.0/17 to 198.51.100.20/31 port 8445"},
				}},
			{Kind: audit.Missing, Severity: audit.SevError, Flow: "teams-calling-bot.in.signaling", Direction: "inbound", Rule: policy, Reference: "001 §4a",
				Message: "inbound flow teams-calling-bot.in.signaling is blocked: tcp from 52.112.0.0/14 to 198.51.100.20/31 port 443 blocked by filter/INPUT policy DROP"},
			{Kind: audit.TooOpen, Severity: audit.SevWarning, Direction: "inbound", Rule: rule("filter/INPUT#4", 8, "-A INPUT -p tcp -m tcp --dport 3389 -j ACCEPT"),
				Message: "filter/INPUT#4 allows inbound traffic the plan does not require: tcp from any IPv4 to 198.51.100.20/31 port 3389"},
			{Kind: audit.Shadowed, Severity: audit.SevNote, Rule: rule("filter/INPUT#5", 9, "-A INPUT -s 52.112.0.0/16 -p udp -m udp --dport 16000:16100 -j ACCEPT"),
				Message: "filter/INPUT#5 can never match: earlier rules (filter/INPUT#1) cover it"},
		},
		Flows: []audit.FlowResult{
			{ID: "teams-calling-bot.in.media-control", Required: true, Action: "allow", Direction: "inbound", Status: audit.FlowFail},
			{ID: "teams-calling-bot.in.signaling", Required: true, Action: "allow", Direction: "inbound", Status: audit.FlowFail},
		},
	}
	in := func(line int) diag.Pos { return diag.Pos{File: "accept.yaml", Line: line, Col: 5} }
	r.Accept("accept.yaml", []audit.Acceptance{
		{Finding: "missing/teams-calling-bot.in.signaling", Reason: "the load balancer in front carries it (CHG-1234)", By: "alice@example.com", Expires: audit.MustParseDate("2027-03-01"), Pos: in(2)},
		{Finding: "too-open/filter/INPUT#4", Reason: "RDP for the vendor until the migration", By: "bob@example.com", Expires: audit.MustParseDate("2027-01-15"), Pos: in(6)},
		{Finding: "missing/teams-calling-bot.in.media-control", Reason: "media control after the pilot", By: "carol@example.com", Expires: audit.MustParseDate("2026-12-01"), Pos: in(10)},
		{Finding: "shadowed/filter/INPUT#12", Reason: "cleanup pending", By: "dave@example.com", Expires: audit.MustParseDate("2027-02-01"), Pos: in(14)},
	}, func() time.Time { return time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC) })
	return r
}

// TestGolden writes every format for two reports: a real audit, and one
// with every field; the outputs are deterministic (go test -update
// rewrites them).
func TestGolden(t *testing.T) {
	for name, build := range map[string]func() *audit.Report{
		"calling-bot": func() *audit.Report { return auditReport(t) },
		"fields":      fieldsReport,
	} {
		rep := build()
		for _, f := range report.Formats {
			t.Run(name+"/"+f, func(t *testing.T) {
				var b bytes.Buffer
				if err := report.Write(&b, rep, f); err != nil {
					t.Fatal(err)
				}
				testutil.Golden(t, filepath.Join("testdata", name+"."+f), b.Bytes())
				var again bytes.Buffer
				if err := report.Write(&again, build(), f); err != nil || !bytes.Equal(b.Bytes(), again.Bytes()) {
					t.Error("a second audit wrote different output")
				}
			})
		}
	}
}

// TestSARIFFields checks the SARIF 2.1.0 objects the new fields use, by
// their property names in the specification: partialFingerprints
// (§3.27.17), suppressions (§3.27.23, §3.35), relatedLocations (§3.27.22,
// §3.28), and the reference and key properties.
func TestSARIFFields(t *testing.T) {
	type text struct {
		Text string `json:"text"`
	}
	type location struct {
		ID       *int `json:"id"`
		Physical struct {
			Artifact struct{ URI string }    `json:"artifactLocation"`
			Region   struct{ StartLine int } `json:"region"`
		} `json:"physicalLocation"`
		Message text `json:"message"`
	}
	type result struct {
		RuleID              string            `json:"ruleId"`
		Message             text              `json:"message"`
		Locations           []location        `json:"locations"`
		PartialFingerprints map[string]string `json:"partialFingerprints"`
		RelatedLocations    []location        `json:"relatedLocations"`
		Suppressions        *[]map[string]any `json:"suppressions"`
		Properties          map[string]string `json:"properties"`
	}
	parse := func(rep *audit.Report) []result {
		var b bytes.Buffer
		if err := report.SARIF(&b, rep); err != nil {
			t.Fatal(err)
		}
		var log struct {
			Runs []struct {
				Results []result `json:"results"`
			} `json:"runs"`
		}
		if err := json.Unmarshal(b.Bytes(), &log); err != nil {
			t.Fatal(err)
		}
		return log.Runs[0].Results
	}
	rep := fieldsReport()
	results := parse(rep)
	all := append(append([]audit.Finding{}, rep.Findings...), rep.Accepted...)
	if len(results) != len(all) {
		t.Fatalf("%d results for %d findings and accepted findings", len(results), len(all))
	}
	for i, res := range results {
		f := all[i]
		if diff := cmp.Diff(map[string]string{"teamsgate/v1": f.Fingerprint}, res.PartialFingerprints); diff != "" || len(f.Fingerprint) != 16 {
			t.Errorf("%s: partialFingerprints (-want +got):\n%s", f.Key, diff)
		}
		if res.Suppressions == nil {
			t.Errorf("%s: no suppressions array, though an accept file was applied (§3.27.23: on every result or none)", f.Key)
			continue
		}
		accepted := i >= len(rep.Findings)
		if !accepted && len(*res.Suppressions) != 0 {
			t.Errorf("%s: suppressed, but not accepted: %+v", f.Key, *res.Suppressions)
		}
		if accepted {
			want := []map[string]any{{"kind": "external", "status": "accepted", "justification": f.Acceptance.Reason,
				"location": map[string]any{"physicalLocation": map[string]any{
					"artifactLocation": map[string]any{"uri": "accept.yaml"},
					"region":           map[string]any{"startLine": float64(f.Acceptance.Pos.Line), "startColumn": float64(5)}}},
				"properties": map[string]any{"by": f.Acceptance.By, "expires": f.Acceptance.Expires.String()}}}
			if diff := cmp.Diff(want, *res.Suppressions); diff != "" {
				t.Errorf("%s: suppressions (-want +got):\n%s", f.Key, diff)
			}
		}
		if f.Reference != "" && (res.Properties["reference"] != f.Reference || !strings.Contains(res.Message.Text, "Required by "+f.Reference)) {
			t.Errorf("%s: reference not in the properties and message: %+v", f.Key, res)
		}
		if res.Properties["key"] != f.Key {
			t.Errorf("%s: key property %q", f.Key, res.Properties["key"])
		}
		if len(res.RelatedLocations) != len(f.Facts) {
			t.Errorf("%s: %d related locations for %d facts", f.Key, len(res.RelatedLocations), len(f.Facts))
		}
		for j, loc := range res.RelatedLocations {
			fc := f.Facts[j]
			if loc.ID == nil || *loc.ID != j || loc.Physical.Artifact.URI != "host.rules" || loc.Physical.Region.StartLine != fc.Rule.Pos.Line || loc.Message.Text != string(fc.Kind)+": "+fc.Rule.ID {
				t.Errorf("%s: related location %d: %+v", f.Key, j, loc)
			}
			if !strings.Contains(res.Message.Text, fc.Message) {
				t.Errorf("%s: fact %q not in the message", f.Key, fc.Message)
			}
		}
		if f.Acceptance != nil && f.Acceptance.Expired && f.Kind != audit.UnusedAcceptance && !strings.Contains(res.Message.Text, "acceptance expired on "+f.Acceptance.Expires.String()) {
			t.Errorf("%s: the expired acceptance is not in the message: %q", f.Key, res.Message.Text)
		}
		if f.Kind == audit.UnusedAcceptance && (len(res.Locations) != 1 || res.Locations[0].Physical.Artifact.URI != "accept.yaml" || res.Locations[0].Physical.Region.StartLine != 14) {
			t.Errorf("unused acceptance not located at its entry: %+v", res.Locations)
		}
	}
	// Without an accept file, no result has suppressions.
	for _, res := range parse(auditReport(t)) {
		if res.Suppressions != nil {
			t.Errorf("%s: suppressions without an accept file", res.RuleID)
		}
	}
}

func TestMachineFormats(t *testing.T) {
	rep := auditReport(t)
	var b bytes.Buffer
	if err := report.JSON(&b, rep); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Version  int `json:"version"`
		Findings []struct {
			Kind    string `json:"kind"`
			Packets []struct {
				Sources []string `json:"sources"`
			} `json:"packets"`
			Facts []struct {
				Kind string `json:"kind"`
			} `json:"facts"`
			Fingerprint string `json:"fingerprint"`
		} `json:"findings"`
		Accepted []json.RawMessage `json:"accepted"`
		Summary  struct {
			Errors   int            `json:"errors"`
			Accepted *int           `json:"accepted"`
			Kinds    map[string]int `json:"kinds"`
			Clean    bool           `json:"clean"`
		} `json:"summary"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Version != report.JSONVersion || doc.Summary.Clean || doc.Summary.Errors == 0 || doc.Summary.Accepted == nil || doc.Accepted == nil {
		t.Errorf("json summary %+v, accepted %v", doc.Summary, doc.Accepted)
	}
	// Every kind is there, as a finding or as a fact folded into one.
	seen := map[string]bool{}
	for _, f := range doc.Findings {
		seen[f.Kind] = true
		for _, fc := range f.Facts {
			seen[fc.Kind] = true
		}
		if len(f.Fingerprint) != 16 {
			t.Errorf("%s finding with fingerprint %q", f.Kind, f.Fingerprint)
		}
	}
	for _, k := range []string{"missing", "too-open", "shadowed", "mismatch"} {
		if !seen[k] {
			t.Errorf("no %s finding in the json report", k)
		}
		if _, ok := doc.Summary.Kinds[k]; !ok {
			t.Errorf("no count of %s findings in the summary", k)
		}
	}
	b.Reset()
	if err := report.JUnit(&b, rep); err != nil {
		t.Fatal(err)
	}
	var suites struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Suites   []struct {
			Name  string `xml:"name,attr"`
			Cases []struct {
				Name    string    `xml:"name,attr"`
				Failure *struct{} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b.Bytes(), &suites); err != nil {
		t.Fatal(err)
	}
	required := 0
	for _, f := range rep.Flows {
		if f.Required {
			required++
		}
	}
	if got := len(suites.Suites[0].Cases); got != required {
		t.Errorf("flows suite has %d cases, want one per required flow (%d)", got, required)
	}
}
