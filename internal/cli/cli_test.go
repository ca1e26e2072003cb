package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/teamsgate/teamsgate/internal/testutil"
)

// run runs the command line in-process and returns its exit code and
// output.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), args, strings.NewReader(""), &out, &errb)
	return code, out.String(), withoutStale(errb.String())
}

// withoutStale drops the warnings about the age of the catalog's data: they
// depend on the day the tests run (TestStaleWarning tests them with a fixed
// clock).
func withoutStale(s string) string {
	var keep []string
	for _, l := range strings.SplitAfter(s, "\n") {
		if !strings.Contains(l, " days old (over 90): run catalog update") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "")
}

func writeFile(t *testing.T, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPlanCommand(t *testing.T) {
	code, out, errs := run(t, "plan", testutil.ExamplePath("messaging-bot"))
	if code != ExitOK || !strings.Contains(out, "teams-messaging-bot.in.activity") || errs != "" {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	code, out, _ = run(t, "plan", testutil.ExamplePath("pexip"), "-o", "json")
	var doc map[string]any
	if code != ExitOK || json.Unmarshal([]byte(out), &doc) != nil || doc["cloud"] != "worldwide" {
		t.Fatalf("plan -o json: exit %d, output %.200s", code, out)
	}
	for _, f := range []string{"csv", "markdown"} {
		if code, out, _ := run(t, "plan", testutil.ExamplePath("teamspro"), "-o", f); code != ExitOK || !strings.Contains(out, "teamspro-saas.intercom") {
			t.Errorf("plan -o %s: exit %d", f, code)
		}
	}
}

func TestPlanBadInput(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, spec string
		args       []string
		want       string
	}{
		{name: "media range too small", spec: "cloud: worldwide\nintegrations:\n  teams-calling-bot:\n    roles: { bot: { addresses: [198.51.100.1] } }\n    parameters: { media-ports: 16000-16100 }\n", want: "spec.yaml:5:32: teams-calling-bot: parameter \"media-ports\": 16000-16100 holds 101 ports; it must hold at least 1000"},
		{name: "missing role", spec: "cloud: worldwide\nintegrations:\n  teams-messaging-bot: {}\n", want: `teams-messaging-bot: role "bot" has no addresses; flow teams-messaging-bot.in.activity needs it`},
		{name: "malformed", spec: "cloud: [\n", want: "spec.yaml:1:8: unclosed [ opened here"},
		{name: "unknown format", spec: "cloud: worldwide\nintegrations: {teamspro-saas: {}}\n", args: []string{"-o", "xml"}, want: `unknown output format "xml"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, dir, "spec.yaml", tt.spec)
			code, out, errs := run(t, append([]string{"plan", p}, tt.args...)...)
			if code != ExitError || !strings.Contains(errs, tt.want) || out != "" {
				t.Errorf("exit %d, stdout %q\nstderr:\n%s\nwant exit 1 and %q", code, out, errs, tt.want)
			}
		})
	}
	if code, _, errs := run(t, "plan", filepath.Join(dir, "nope.yaml")); code != ExitError || !strings.Contains(errs, `nope.yaml": no such file`) {
		t.Errorf("missing file: exit %d %s", code, errs)
	}
	if code, _, errs := run(t, "plan"); code != ExitError || !strings.Contains(errs, "accepts 1 arg") {
		t.Errorf("no args: exit %d %s", code, errs)
	}
	if code, _, errs := run(t, "plan", "--bogus", "x"); code != ExitError || !strings.Contains(errs, "unknown flag") {
		t.Errorf("bad flag: exit %d %s", code, errs)
	}
}

func TestCatalogOverlay(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "catalog.yaml", "version: local1\naddress_sets:\n  teams-service:\n    values:\n      worldwide: { prefixes: [198.18.0.0/24] }\n")
	code, out, errs := run(t, "plan", testutil.ExamplePath("messaging-bot"), "--catalog", dir, "-o", "json")
	if code != ExitOK || !strings.Contains(out, `"198.18.0.0/24"`) || !strings.Contains(out, `"2026.12.1+local1"`) {
		t.Fatalf("exit %d %s\n%.300s", code, errs, out)
	}
	writeFile(t, dir, "catalog.yaml", "version: local1\naddress_setz: {}\n")
	if code, _, errs := run(t, "plan", testutil.ExamplePath("messaging-bot"), "--catalog", dir); code != ExitError || !strings.Contains(errs, `catalog.yaml:2:1: unknown key "address_setz"`) {
		t.Errorf("bad overlay: exit %d\n%s", code, errs)
	}
	if code, _, _ := run(t, "plan", testutil.ExamplePath("messaging-bot"), "--catalog", filepath.Join(dir, "catalog.yaml")); code != ExitError {
		t.Errorf("a file as --catalog must be refused")
	}
}

func TestCatalogCommands(t *testing.T) {
	code, out, _ := run(t, "catalog", "list")
	if code != ExitOK || !strings.Contains(out, "pexip-teams-connector.rdp-deny") || !strings.Contains(out, "teamspro-saas.chargebee") {
		t.Errorf("catalog list: exit %d\n%s", code, out)
	}
	code, out, _ = run(t, "catalog", "show", "pexip-teams-connector.instance-to-cn.signaling")
	if code != ExitOK || !strings.Contains(out, "to-be-confirmed") || !strings.Contains(out, "4277") {
		t.Errorf("catalog show flow: exit %d\n%s", code, out)
	}
	code, out, _ = run(t, "catalog", "show", "teams-calling-bot", "-o", "json")
	if code != ExitOK || !strings.Contains(out, `"teams-calling-bot.in.media"`) {
		t.Errorf("catalog show integration json: exit %d", code)
	}
	if code, _, errs := run(t, "catalog", "show", "nope"); code != ExitError || !strings.Contains(errs, `no integration or flow "nope"`) {
		t.Errorf("unknown id: exit %d %s", code, errs)
	}
}

func TestCapacityCommand(t *testing.T) {
	code, out, _ := run(t, "capacity", "--calls", "90", "-o", "json")
	var res struct {
		Instances        int `json:"instances"`
		QuotaRecommended int `json:"quota_recommended_vcpus"`
	}
	if code != ExitOK || json.Unmarshal([]byte(out), &res) != nil || res.Instances != 6 || res.QuotaRecommended != 40 {
		t.Errorf("capacity: exit %d %s", code, out)
	}
	if code, _, errs := run(t, "capacity", "--calls", "10", "--cloud", "gcch", "--region", "usgovvirginia"); code != ExitError || !strings.Contains(errs, "Virginia") {
		t.Errorf("gcch virginia: exit %d %s", code, errs)
	}
	if code, _, errs := run(t, "capacity"); code != ExitError || !strings.Contains(errs, "calls") {
		t.Errorf("missing --calls: exit %d %s", code, errs)
	}
}

// TestHelpStatesExitCodes: each command's help lists the exit codes it can
// return, and only those: plan never returns 3, audit and the checks do,
// serve has its own.
func TestHelpStatesExitCodes(t *testing.T) {
	tests := []struct {
		args    []string
		want    []string
		notWant []string
	}{
		{args: []string{"--help"}, want: []string{"0    ok", "1    usage or input error", "3    findings", "130  interrupted by SIGINT", "143  terminated by SIGTERM"}},
		{args: []string{"plan", "--help"}, want: []string{"0    ok", "1    usage", "130", "143"}, notWant: []string{"\n  3 "}},
		{args: []string{"render", "--help"}, want: []string{"0    ok", "130", "143"}, notWant: []string{"\n  3 "}},
		{args: []string{"capacity", "--help"}, want: []string{"0    ok", "130"}, notWant: []string{"\n  3 "}},
		{args: []string{"audit", "--help"}, want: []string{"3    findings: the configuration does not satisfy the plan", "143"}},
		{args: []string{"certs", "check", "--help"}, want: []string{"3    a check failed"}},
		{args: []string{"certs", "convert", "--help"}, want: []string{"0    ok", "143"}, notWant: []string{"\n  3 "}},
		{args: []string{"tls", "check", "--help"}, want: []string{"3    a check failed"}},
		{args: []string{"catalog", "--help"}, want: []string{"0    ok", "1    usage"}, notWant: []string{"\n  3 "}},
		{args: []string{"catalog", "show", "--help"}, want: []string{"0    ok", "1    usage"}, notWant: []string{"\n  3 "}},
		{args: []string{"completion", "--help"}, want: []string{"0    ok", "1    usage"}, notWant: []string{"\n  3 "}},
		{args: []string{"completion", "bash", "--help"}, want: []string{"0    ok"}},
		{args: []string{"version", "--help"}, want: []string{"0    ok"}, notWant: []string{"\n  3 "}},
		{args: []string{"serve", "--help"}, want: []string{"0    stopped by SIGTERM or SIGINT after a graceful shutdown", "1    usage or input error, or a listener"}, notWant: []string{"130", "143", "\n  3 "}},
	}
	for _, tt := range tests {
		code, out, _ := run(t, tt.args...)
		if code != ExitOK || !strings.Contains(out, "Exit codes:") {
			t.Errorf("%v: exit %d, help without exit codes:\n%s", tt.args, code, out)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v: help lacks %q", tt.args, w)
			}
		}
		for _, w := range tt.notWant {
			if strings.Contains(out, w) {
				t.Errorf("%v: help has %q, a code the command cannot return", tt.args, w)
			}
		}
	}
}
