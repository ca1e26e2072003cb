package cli

import (
	"bytes"
	"html"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/teamsgate/teamsgate/internal/testutil"
)

// TestDiagramCommand: -o FILE picks the format from the extension, -o
// FORMAT writes to standard output, the default is the text, and a wrong
// -o is refused before anything is written.
func TestDiagramCommand(t *testing.T) {
	dir := t.TempDir()
	spec := testutil.ExamplePath("pexip")
	docs := filepath.Join(testutil.Root(), "docs", "diagrams")
	for _, ext := range []string{".svg", ".mmd", ".dot", ".txt"} {
		out := filepath.Join(dir, "pexip"+ext)
		if code, _, errs := run(t, "diagram", spec, "-o", out); code != ExitOK {
			t.Fatalf("-o %s: %s", out, errs)
		}
		got, _ := os.ReadFile(out)
		want, _ := os.ReadFile(filepath.Join(docs, "pexip"+ext))
		if !bytes.Equal(got, want) {
			t.Errorf("-o pexip%s differs from docs/diagrams/pexip%s", ext, ext)
		}
	}
	code, out, _ := run(t, "diagram", spec)
	want, _ := os.ReadFile(filepath.Join(docs, "pexip.txt"))
	if code != ExitOK || out != string(want) {
		t.Errorf("default output: exit %d, not the text description", code)
	}
	code, out, _ = run(t, "diagram", spec, "-o", "mermaid")
	if code != ExitOK || !strings.HasPrefix(out, "---\ntitle: Flows of contoso-cvi") || !strings.Contains(out, "flowchart LR") {
		t.Errorf("-o mermaid: exit %d %q", code, out[:min(len(out), 80)])
	}
	for _, bad := range []string{"flows.png", "json", filepath.Join(dir, "nodir", "x.svg")} {
		code, _, errs := run(t, "diagram", spec, "-o", bad)
		if code != ExitError || errs == "" {
			t.Errorf("-o %s: exit %d %q", bad, code, errs)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "nodir")); err == nil {
		t.Errorf("a directory was made")
	}
}

// TestDocsReport: the report of the combined example in docs/diagrams is
// what report writes today (make diagrams rewrites it), and writing it
// twice gives the same bytes.
func TestDocsReport(t *testing.T) {
	dir := t.TempDir()
	var outs [][]byte
	for i := range 2 {
		f := filepath.Join(dir, "r"+string(rune('0'+i))+".html")
		if code, _, errs := run(t, "report", testutil.ExamplePath("combined"), "-o", f, "--calls", "90"); code != ExitOK {
			t.Fatalf("report: %s", errs)
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, b)
	}
	if !bytes.Equal(outs[0], outs[1]) {
		t.Errorf("two reports of one spec differ")
	}
	testutil.Golden(t, filepath.Join(testutil.Root(), "docs", "diagrams", "combined-report.html"), outs[0])
	for _, fetch := range []string{"src=\"http", "href=\"http", "src=\"//", "<link", "@import", "url("} {
		if bytes.Contains(outs[0], []byte(fetch)) {
			t.Errorf("the report holds %q: it must not fetch anything", fetch)
		}
	}
}

// TestReportFlags: the flags of --audit and --certs go with them, and -o
// must name an HTML file.
func TestReportFlags(t *testing.T) {
	spec := testutil.ExamplePath("messaging-bot")
	out := filepath.Join(t.TempDir(), "r.html")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-o", "r.json"}, "the report is an HTML file"},
		{[]string{"-o", out, "--scope", "bot"}, "--scope goes with --audit"},
		{[]string{"-o", out, "--name", "x.example"}, "--name goes with --certs"},
		{[]string{"-o", out, "--certs", "x.pem"}, "--certs needs --role"},
		{[]string{"-o", out, "--calls", "0"}, "--calls"},
	} {
		code, _, errs := run(t, append([]string{"report", spec}, tc.args...)...)
		if code != ExitError || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d %q, want %q", tc.args, code, errs, tc.want)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("a failed report wrote %s", out)
	}
}

// TestReadmeDiagramText: the README shows the combined example's picture
// with its arrows listed beside it, as the text description words them.
func TestReadmeDiagramText(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(testutil.Root(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(filepath.Join(testutil.Root(), "docs", "diagrams", "combined.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(readme, []byte(`<img src="docs/diagrams/combined.svg"`)) {
		t.Errorf("the README does not show docs/diagrams/combined.svg")
	}
	n := 0
	for _, line := range strings.Split(string(text), "\n") {
		num, rest, ok := strings.Cut(line, ". ")
		if !ok || strings.Trim(num, "0123456789") != "" || num == "" {
			continue
		}
		n++
		want := `<li value="` + num + `">` + html.EscapeString(rest) + `</li>`
		if !bytes.Contains(readme, []byte(want)) {
			t.Errorf("the README lacks arrow %s as the text words it: %s", num, want)
		}
	}
	if n < 20 {
		t.Errorf("%d arrows in combined.txt", n)
	}
}

// TestReportSections: a report with certificates and sizing shows both,
// a failing certificate as failing, and the rule table a row per rule.
func TestReportSections(t *testing.T) {
	f := writeCertFiles(t)
	out := filepath.Join(t.TempDir(), "r.html")
	code, _, errs := certsMain(t, "report", testutil.ExamplePath("pexip"), "-o", out, "--calls", "90",
		"--certs", f.tcPFX, "--certs", f.soonPEM, "--password-file", f.pw, "--role", "teams-connector",
		"--name", "tc-eu.contoso.com", "--roots", f.roots)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	for _, want := range []string{
		`<h2 id="certs-heading">Certificates</h2>`,
		`<code>` + f.tcPFX + `</code>, role teams-connector: <span class="pass">passes</span>`,
		`<code>` + f.soonPEM + `</code>, role teams-connector: <span class="fail">fails</span>`,
		`<h2 id="capacity-heading">Teams Connector sizing</h2>`,
		`Pexip Teams Connector for 90 concurrent calls`,
		`<caption>Every rule of the plan`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	if n, want := strings.Count(page, `<tr data-status=`), len(testutil.Plan(t, testutil.ExamplePath("pexip"), "").Rules); n != want {
		t.Errorf("%d rule rows, want %d", n, want)
	}
}

// TestReportProbe: a probe run's JSON puts each rule's worst outcome in the
// rule table.
func TestReportProbe(t *testing.T) {
	dir := t.TempDir()
	probeJSON := writeFile(t, dir, "probe.json", `{"role": "bot", "results": [
	  {"rule": "teams-messaging-bot.out.login", "outcome": "pass"},
	  {"rule": "teams-messaging-bot.out.graph", "outcome": "pass"},
	  {"rule": "teams-messaging-bot.out.graph", "outcome": "blocked"},
	  {"rule": "teams-messaging-bot.out.reply", "outcome": "skipped"}]}`)
	out := filepath.Join(dir, "r.html")
	if code, _, errs := run(t, "report", testutil.ExamplePath("messaging-bot"), "-o", out, "--probe", probeJSON); code != ExitOK {
		t.Fatal(errs)
	}
	b, _ := os.ReadFile(out)
	page := string(b)
	for _, want := range []string{`Probe (bot)`, `<td class="probe-blocked">blocked</td>`, `<td class="probe-pass">pass</td>`, `<td class="probe-skipped">skipped</td>`,
		`4: TCP 443 ✗ blocked`, `2: TCP 443 ✓`} {
		if !strings.Contains(page, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	bad := writeFile(t, dir, "bad.json", `[]`)
	if code, _, errs := run(t, "report", testutil.ExamplePath("messaging-bot"), "-o", out, "--probe", bad); code != ExitError || !strings.Contains(errs, "not the JSON of probe -o json") {
		t.Errorf("a wrong --probe file: exit %d %s", code, errs)
	}
}
