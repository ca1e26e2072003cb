package report_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"path/filepath"
	"testing"

	"github.com/teamsgate/teamsgate/internal/audit"
	"github.com/teamsgate/teamsgate/internal/audit/formats/iptables"
	"github.com/teamsgate/teamsgate/internal/audit/report"
	"github.com/teamsgate/teamsgate/internal/audit/ruleset"
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

// TestGolden writes every format for one report; the outputs are
// deterministic (go test -update rewrites them).
func TestGolden(t *testing.T) {
	rep := auditReport(t)
	for _, f := range report.Formats {
		t.Run(f, func(t *testing.T) {
			var b bytes.Buffer
			if err := report.Write(&b, rep, f); err != nil {
				t.Fatal(err)
			}
			testutil.Golden(t, filepath.Join("testdata", "calling-bot."+f), b.Bytes())
			var again bytes.Buffer
			if err := report.Write(&again, auditReport(t), f); err != nil || !bytes.Equal(b.Bytes(), again.Bytes()) {
				t.Error("a second audit wrote different output")
			}
		})
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
		} `json:"findings"`
		Summary struct {
			Errors int            `json:"errors"`
			Kinds  map[string]int `json:"kinds"`
			Clean  bool           `json:"clean"`
		} `json:"summary"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Version != report.JSONVersion || doc.Summary.Clean || doc.Summary.Errors == 0 {
		t.Errorf("json summary %+v", doc.Summary)
	}
	for _, k := range []string{"missing", "too-open", "shadowed", "mismatch"} {
		if doc.Summary.Kinds[k] == 0 {
			t.Errorf("no %s finding in the json report", k)
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
