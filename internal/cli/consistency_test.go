package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/teamsgate/teamsgate/internal/testutil"
)

// goInternals matches what must never reach a user: Go package and type
// names, system call names, temporary file names.
var goInternals = regexp.MustCompile(`strconv\.|netip\.|Parse(Prefix|Addr|Int|Uint|Bool)\b|unmarshal|\bwire[A-Z]|spec\.|catalog\.[A-Z]|\.tmp-|invalid argument|\[\]string|\[\]interface|map\[string\]|goroutine|panic:|(^|\s)yaml: (line|unmarshal|did not)|(^|\s)json: (cannot|unknown|invalid)|\*[a-z]+\.[A-Z]\w+|\bopen /|\brename |\bmkdir |\blstat |\bstat /|syscall|errors\.New`)

// errorLine is the one style of every error and warning line: a position,
// or "teamsgate:".
var errorLine = regexp.MustCompile(`^(teamsgate: |<stdin>(:\d+){0,2}: |[^\s:]*[/.][^\s:]*(:\d+){0,2}: )`)

// TestBadInputSpeaksPlainly runs the command line on bad input of many
// kinds: each is refused with exit 1, on lines in the one error style,
// without Go internals, and with nothing on standard output.
func TestBadInputSpeaksPlainly(t *testing.T) {
	dir := t.TempDir()
	spec := testutil.ExamplePath("messaging-bot")
	file := writeFile(t, dir, "afile", "x")
	writeFile(t, dir, "overlay/catalog.yaml", "version: x\naddress_sets: [1]\n")
	files := map[string]string{
		"list.yaml":      "- a\n- b\n",
		"scalar.yaml":    "hello\n",
		"types.yaml":     "cloud: [worldwide]\nintegrations: 7\n",
		"dupkey.yaml":    "cloud: worldwide\ncloud: worldwide\nintegrations:\n  teamspro-saas: {}\n",
		"bracket.yaml":   "cloud: worldwide\nintegrations:\n  teams-messaging-bot:\n    roles:\n      bot: { addresses: [198.51.100.10 }\n",
		"tabs.yaml":      "cloud: worldwide\nintegrations:\n\tteamspro-saas: {}\n",
		"badaddr.yaml":   "cloud: worldwide\nintegrations:\n  teams-messaging-bot:\n    roles:\n      bot: { addresses: [198.51.100.300, abc, 10.0.0.0/33] }\n",
		"badport.yaml":   "cloud: worldwide\nintegrations:\n  teams-calling-bot:\n    roles: { bot: { addresses: [198.51.100.1] } }\n    parameters: { media-ports: abc }\n",
		"badbool.yaml":   "cloud: worldwide\nintegrations:\n  teams-messaging-bot:\n    roles: { bot: { addresses: [198.51.100.1] } }\n    parameters: { graph: maybe }\n",
		"typo.yaml":      "cloud: worldwide\nintegrations:\n  teams-messaging-bto:\n    roles: { bot: { addresses: [198.51.100.1] } }\n",
		"roletypo.yaml":  "cloud: worldwide\nintegrations:\n  teams-messaging-bot:\n    roles: { bto: { addresses: [198.51.100.1] } }\n",
		"empty.yaml":     "",
		"binary.yaml":    "\x00\x01\x02\xff\xfe",
		"addrlist.yaml":  "cloud: worldwide\nintegrations:\n  teams-messaging-bot:\n    roles:\n      bot: { addresses: 198.51.100.10 }\n",
		"nsg.json":       `{"properties": {"securityRules": [{"name": "x", "properties": {"priority": "high"}}]}}`,
		"truncated.json": `{"properties": {"securityRules": [`,
		"garbage.rules":  "*filter\n-A INPUT -p tcp --dport abc -j ACCEPT\nCOMMIT\n",
		"badnft.json":    `{"nftables": [{"rule": {"family": "inet", "expr": 7}}]}`,
	}
	for name, data := range files {
		writeFile(t, dir, name, data)
	}
	p := func(n string) string { return filepath.Join(dir, n) }
	tests := [][]string{
		{"plan"},
		{"plan", "a", "b"},
		{"plan", p("nope.yaml")},
		{"plan", dir},
		{"plan", p("list.yaml")},
		{"plan", p("scalar.yaml")},
		{"plan", p("types.yaml")},
		{"plan", p("dupkey.yaml")},
		{"plan", p("bracket.yaml")},
		{"plan", p("tabs.yaml")},
		{"plan", p("badaddr.yaml")},
		{"plan", p("badport.yaml")},
		{"plan", p("badbool.yaml")},
		{"plan", p("typo.yaml")},
		{"plan", p("roletypo.yaml")},
		{"plan", p("empty.yaml")},
		{"plan", p("binary.yaml")},
		{"plan", p("addrlist.yaml")},
		{"plan", spec, "--catalog", file},
		{"plan", spec, "--catalog", p("nodir")},
		{"plan", spec, "--catalog", p("overlay")},
		{"plan", spec, "-o", "xml"},
		{"plan", spec, "--bogus"},
		{"plan", spec, "--outptu", "json"},
		{"render", spec},
		{"render", spec, "--target", "nftable"},
		{"render", spec, "--target", "nftables", "--proxy", "1.2.3.4:3128"},
		{"render", spec, "--target", "nftables", "--fqdn-via-proxy", "proxy:3128"},
		{"render", spec, "--target", "nftables", "--fqdn-skip", "--scope", "bto"},
		{"render", spec, "--target", "nftables", "--fqdn-skip", "--service-tags", p("nope.json")},
		{"render", spec, "--target", "nftables", "--fqdn-skip", "--service-tags", p("list.yaml")},
		{"render", spec, "--target", "nftables", "--fqdn-skip", "-o", "json"},
		{"render", spec, "--target", "nftables", "--fqdn-skip", "--out-dir", file},
		{"render", spec, "--target", "nftables", "--fqdn-skip", "--out-dir", filepath.Join(file, "sub")},
		{"render", spec, "--target", "azure-nsg", "--fqdn-skip", "--service-tags", p("x")},
		{"render", spec, "--target", "pac"},
		{"audit", spec},
		{"audit", spec, "--config", p("nope")},
		{"audit", spec, "--config", dir},
		{"audit", spec, "--config", p("list.yaml")},
		{"audit", spec, "--config", p("nsg.json"), "--format", "azure-nsg"},
		{"audit", spec, "--config", p("truncated.json"), "--format", "azure-nsg"},
		{"audit", spec, "--config", p("garbage.rules")},
		{"audit", spec, "--config", p("badnft.json"), "--format", "nftables"},
		{"audit", spec, "--config", p("garbage.rules"), "--format", "pf"},
		{"audit", spec, "--config", p("garbage.rules"), "--vnet", "10.0.0.0/8"},
		{"audit", spec, "--config", p("nsg.json"), "--format", "azure-nsg", "--vnet", "10.0.0.0/33"},
		{"audit", spec, "--config", p("nsg.json"), "--fqdn-via-proxy", "x"},
		{"audit", "-", "--config", "-"},
		{"capacity"},
		{"capacity", "--calls", "abc"},
		{"capacity", "--calls", "0"},
		{"capacity", "--calls", "99999999999999999999"},
		{"capacity", "--calls", "10", "--region", "westeurpoe"},
		{"capacity", "--calls", "10", "--instance-type", "huge"},
		{"capacity", "--calls", "10", "--cloud", "mars"},
		{"catalog", "show", "teams-calling-bto"},
		{"catalog", "list", "-o", "yaml"},
		{"catalog", "list", "--catalog", p("overlay")},
		{"certs", "check", p("nope.pem"), "--role", "bot-endpoint", "--name", "x"},
		{"certs", "check", file, "--role", "bot-endpoint", "--name", "x"},
		{"certs", "check", file, "--role", "bot", "--name", "x"},
		{"certs", "check", file, "--role", "bot-endpoint"},
		{"certs", "check", file, "--role", "bot-endpoint", "--name", "x", "--warn-days", "soon"},
		{"certs", "convert", file, "--to", "pfx"},
		{"certs", "convert", file, "--to", "der", "--out", p("x.der")},
		{"tls", "check", "127.0.0.1:1", "--timeout", "fast"},
		{"tls", "check", "127.0.0.1:1", "--timeout", "-1s"},
		{"serve", "-"},
		{"serve", p("nope.yaml")},
		{"serve", spec, "--log-level", "loud"},
		{"version", "extra"},
		{"nosuchcommand"},
	}
	for _, args := range tests {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, out, errs := run(t, args...)
			if code != ExitError {
				t.Errorf("exit %d, want %d\nstderr:\n%s", code, ExitError, errs)
			}
			if out != "" {
				t.Errorf("stdout: %.300q", out)
			}
			if strings.TrimSpace(errs) == "" {
				t.Fatal("no error message")
			}
			for _, l := range strings.Split(strings.TrimRight(errs, "\n"), "\n") {
				if strings.HasPrefix(l, "  ") {
					continue // a continuation of the line before
				}
				if !errorLine.MatchString(l) {
					t.Errorf("line not in the error style (POS: or teamsgate:): %q", l)
				}
			}
			if m := goInternals.FindString(errs); m != "" {
				t.Errorf("Go internals (%q) in:\n%s", m, errs)
			}
		})
	}
}

// TestDidYouMean: a typo in an integration, role, target, scope, flag,
// format or catalog id gets the closest name.
func TestDidYouMean(t *testing.T) {
	dir := t.TempDir()
	spec := testutil.ExamplePath("messaging-bot")
	tests := []struct {
		args []string
		want string
	}{
		{args: []string{"plan", writeFile(t, dir, "a.yaml", "cloud: worldwide\nintegrations:\n  teams-messaging-bto:\n    roles: { bot: { addresses: [198.51.100.1] } }\n")}, want: `unknown integration "teams-messaging-bto" (did you mean "teams-messaging-bot"?)`},
		{args: []string{"plan", writeFile(t, dir, "b.yaml", "cloud: worldwide\nintegrations:\n  teams-messaging-bot:\n    roles: { bto: { addresses: [198.51.100.1] } }\n")}, want: `unknown role "bto" (did you mean "bot"?)`},
		{args: []string{"render", spec, "--target", "iptable"}, want: `unknown target "iptable" (did you mean "iptables"?)`},
		{args: []string{"render", spec, "--target", "nftables", "--fqdn-skip", "--scope", "bto"}, want: `--scope "bto" matches no rule of the plan (did you mean "bot"?)`},
		{args: []string{"plan", spec, "--outptu", "json"}, want: `unknown flag --outptu (did you mean --output?)`},
		{args: []string{"plan", spec, "-o", "jsno"}, want: `unknown output format "jsno" (did you mean "json"?)`},
		{args: []string{"audit", spec, "--config", spec, "--format", "iptable"}, want: `unknown configuration format "iptable" (did you mean "iptables"?)`},
		{args: []string{"catalog", "show", "teams-calling-bto"}, want: `no integration or flow "teams-calling-bto" (did you mean "teams-calling-bot"?)`},
		{args: []string{"catalog", "show", "teams-calling-bot.in.medai"}, want: `(did you mean "teams-calling-bot.in.media"?)`},
		{args: []string{"certs", "check", spec, "--role", "bot-endpiont", "--name", "x"}, want: `unknown role "bot-endpiont" (did you mean "bot-endpoint"?)`},
	}
	for _, tt := range tests {
		code, _, errs := run(t, tt.args...)
		if code != ExitError || !strings.Contains(errs, tt.want) {
			t.Errorf("%v: exit %d\n%s\nwant %q", tt.args, code, errs, tt.want)
		}
	}
}

// TestFlagsThatDoNotApply: a flag the chosen target or configuration
// format does not act on is refused, not ignored.
func TestFlagsThatDoNotApply(t *testing.T) {
	spec := testutil.ExamplePath("teamspro")
	nsg := sampleFile("azure-nsg-arm-export.batfish-VM1-nsg.json")
	tests := []struct {
		args []string
		want string
	}{
		{args: []string{"render", spec, "--target", "nftables", "--direct"}, want: "--direct does not apply to target nftables (it applies to pac)"},
		{args: []string{"render", spec, "--target", "nftables", "--proxy", "192.0.2.3:3128"}, want: "--proxy does not apply to target nftables (it applies to squid, pac)"},
		{args: []string{"render", spec, "--target", "squid", "--fqdn-skip"}, want: "--fqdn-skip does not apply to target squid (it applies to nftables, iptables, azure-nsg, aws-sg, kubernetes)"},
		{args: []string{"render", spec, "--target", "azure-firewall", "--fqdn-via-proxy", "192.0.2.3:3128"}, want: "--fqdn-via-proxy does not apply to target azure-firewall"},
		{args: []string{"render", spec, "--target", "azure-nsg", "--fqdn-skip", "--service-tags", sampleFile("ServiceTags_Public.changeNumber398.json.gz")}, want: "--service-tags does not apply to target azure-nsg"},
		{args: []string{"render", spec, "--target", "squid", "--proxy", "192.0.2.3:3128", "--direct"}, want: "--direct does not apply to target squid"},
		{args: []string{"audit", testutil.ExamplePath("messaging-bot"), "--config", nsg, "--scope", "bot", "--in-iface", "eth0"}, want: "--in-iface does not apply to a azure-nsg configuration (it applies to iptables, nftables)"},
		{args: []string{"audit", testutil.ExamplePath("messaging-bot"), "--config", nsg, "--scope", "bot", "--sg", "sg-1"}, want: "--sg does not apply to a azure-nsg configuration (it applies to aws-sg)"},
	}
	for _, tt := range tests {
		code, out, errs := run(t, tt.args...)
		if code != ExitError || !strings.Contains(errs, tt.want) || out != "" {
			t.Errorf("%v: exit %d\n%s\nwant %q", tt.args, code, errs, tt.want)
		}
	}
	// The flags a target does act on are still taken.
	for _, args := range [][]string{
		{"render", spec, "--target", "pac", "--proxy", "192.0.2.3:3128", "--direct"},
		{"render", spec, "--target", "squid", "--proxy", "192.0.2.3:3128"},
		{"render", spec, "--target", "nftables", "--fqdn-via-proxy", "192.0.2.3:3128"},
	} {
		if code, _, errs := run(t, args...); code != ExitOK {
			t.Errorf("%v: exit %d\n%s", args, code, errs)
		}
	}
}

// TestOutputFlagMeansFormat: -o is an output format everywhere; render and
// certs convert write files with --out-dir and --out, and take -o as the
// former spelling, with a warning, except where it is plainly a format.
func TestOutputFlagMeansFormat(t *testing.T) {
	dir := t.TempDir()
	spec := testutil.ExamplePath("messaging-bot")
	t.Chdir(dir)
	code, _, errs := run(t, "render", spec, "--target", "nftables", "--fqdn-skip", "-o", "json")
	if code != ExitError || !strings.Contains(errs, "render -o json: render writes configuration files and has no output formats") {
		t.Errorf("render -o json: exit %d\n%s", code, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "json")); !os.IsNotExist(err) {
		t.Errorf("render -o json created a directory named json")
	}
	code, _, errs = run(t, "render", spec, "--target", "nftables", "--fqdn-skip", "-o", "old")
	if code != ExitOK || !strings.Contains(errs, "teamsgate: warning: render -o is the former spelling of --out-dir") {
		t.Errorf("render -o DIR: exit %d\n%s", code, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "old", "teamsgate.nft")); err != nil {
		t.Errorf("render -o DIR wrote nothing: %v", err)
	}
	code, _, errs = run(t, "render", spec, "--target", "nftables", "--fqdn-skip", "--out-dir", "new")
	if code != ExitOK || strings.Contains(errs, "former spelling") {
		t.Errorf("render --out-dir: exit %d\n%s", code, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "new", "teamsgate.nft")); err != nil {
		t.Errorf("render --out-dir wrote nothing: %v", err)
	}
}

// TestFailedRunWritesMachineDocument: with -o json, sarif or junit, a run
// that fails still writes a document in that format, so that a pipeline
// step that uploads the file has one.
func TestFailedRunWritesMachineDocument(t *testing.T) {
	dir := t.TempDir()
	bad := writeFile(t, dir, "bad.yaml", "cloud: worldwide\nintegrations:\n  teams-messaging-bot:\n    roles:\n      bot: { adresses: [198.51.100.10] }\n")
	rules := sampleFile("iptables-save.batfish-example-host1.iptables")

	code, out, errs := run(t, "plan", bad, "-o", "json")
	var doc struct {
		OK    *bool `json:"ok"`
		Error struct {
			ExitCode    int    `json:"exit_code"`
			Message     string `json:"message"`
			Command     string `json:"command"`
			Diagnostics []struct {
				Severity string `json:"severity"`
				Pos      struct {
					File string `json:"file"`
					Line int    `json:"line"`
					Col  int    `json:"col"`
				} `json:"pos"`
				Message string `json:"message"`
			} `json:"diagnostics"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != ExitError || doc.OK == nil || *doc.OK {
		t.Fatalf("plan -o json: exit %d, %v\n%s", code, err, out)
	}
	if doc.Error.ExitCode != 1 || doc.Error.Command != "teamsgate plan" || len(doc.Error.Diagnostics) == 0 ||
		doc.Error.Diagnostics[0].Pos.Line != 5 || !strings.Contains(doc.Error.Diagnostics[0].Message, `unknown key "adresses"`) {
		t.Errorf("plan -o json error document: %+v", doc.Error)
	}
	if !strings.Contains(errs, `unknown key "adresses"`) {
		t.Errorf("stderr lost the error: %s", errs)
	}

	code, out, _ = run(t, "audit", bad, "--config", rules, "-o", "sarif")
	var sarif struct {
		Version string `json:"version"`
		Runs    []struct {
			Invocations []struct {
				ExecutionSuccessful bool `json:"executionSuccessful"`
				ExitCode            int  `json:"exitCode"`
				Notifications       []struct {
					Level     string `json:"level"`
					Locations []struct {
						Physical struct {
							Artifact struct {
								URI string `json:"uri"`
							} `json:"artifactLocation"`
							Region struct {
								StartLine int `json:"startLine"`
							} `json:"region"`
						} `json:"physicalLocation"`
					} `json:"locations"`
				} `json:"toolExecutionNotifications"`
			} `json:"invocations"`
			Results []any `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(out), &sarif); err != nil || code != ExitError || sarif.Version != "2.1.0" || len(sarif.Runs) != 1 || len(sarif.Runs[0].Invocations) != 1 {
		t.Fatalf("audit -o sarif: exit %d, %v\n%s", code, err, out)
	}
	inv := sarif.Runs[0].Invocations[0]
	if inv.ExecutionSuccessful || inv.ExitCode != 1 || len(inv.Notifications) == 0 || inv.Notifications[0].Level != "error" ||
		len(inv.Notifications[0].Locations) == 0 || inv.Notifications[0].Locations[0].Physical.Artifact.URI != bad || inv.Notifications[0].Locations[0].Physical.Region.StartLine != 5 {
		t.Errorf("sarif invocation: %+v", inv)
	}

	code, out, _ = run(t, "audit", bad, "--config", rules, "-o", "junit")
	var junit struct {
		Errors int `xml:"errors,attr"`
		Suites []struct {
			Cases []struct {
				Name  string `xml:"name,attr"`
				Error *struct {
					Message string `xml:"message,attr"`
					Text    string `xml:",chardata"`
				} `xml:"error"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal([]byte(out), &junit); err != nil || code != ExitError || junit.Errors != 1 || len(junit.Suites) != 1 || len(junit.Suites[0].Cases) != 1 || junit.Suites[0].Cases[0].Error == nil {
		t.Fatalf("audit -o junit: exit %d, %v\n%s", code, err, out)
	}
	if !strings.Contains(junit.Suites[0].Cases[0].Error.Text, `unknown key "adresses"`) {
		t.Errorf("junit error text: %q", junit.Suites[0].Cases[0].Error.Text)
	}

	// A text format writes nothing to stdout on failure.
	if code, out, _ := run(t, "plan", bad); code != ExitError || out != "" {
		t.Errorf("plan (table) failure wrote to stdout: %q", out)
	}
}

// TestPlanCSVKeepsWarnings: CSV has no place for warnings, so they go to
// standard error.
func TestPlanCSVKeepsWarnings(t *testing.T) {
	code, out, errs := run(t, "plan", testutil.ExamplePath("pexip"), "-o", "csv")
	if code != ExitOK || !strings.HasPrefix(out, "id,flow,") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if !strings.Contains(errs, "warning: pexip-teams-connector: role \"windows-update\" not bound") || !strings.Contains(errs, "warning: pexip-teams-connector.instance-to-cn.signaling: to be confirmed") {
		t.Errorf("warnings not on stderr:\n%s", errs)
	}
}

// TestPlanFromStdin: "-" reads the spec from standard input.
func TestPlanFromStdin(t *testing.T) {
	data, err := os.ReadFile(testutil.ExamplePath("messaging-bot"))
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := mainWith(context.Background(), []string{"plan", "-"}, streams{stdin: bytes.NewReader(data), stdout: &out, stderr: &errb})
	if code != ExitOK || !strings.Contains(out.String(), "teams-messaging-bot.in.activity") {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	code = mainWith(context.Background(), []string{"plan", "-"}, streams{stdin: strings.NewReader("cloud: worldwide\nintegrations:\n  teams-messaging-bot:\n    roles: { bot: { adresses: [1.2.3.4] } }\n"), stdout: &out, stderr: &errb})
	if code != ExitError || !strings.Contains(errb.String(), `<stdin>:4:21: integrations.teams-messaging-bot.roles.bot: unknown key "adresses"`) {
		t.Errorf("exit %d\n%s", code, errb.String())
	}
}

// TestScopeMergesIntegrations: --scope bot on a spec where two integrations
// have a role bot says that it takes both; INTEGRATION/ROLE takes one.
func TestScopeMergesIntegrations(t *testing.T) {
	spec := testutil.ExamplePath("combined")
	code, _, errs := run(t, "render", spec, "--target", "nftables", "--fqdn-skip", "--scope", "bot")
	if code != ExitOK || !strings.Contains(errs, "teamsgate: warning: --scope bot matches role bot of teams-calling-bot and teams-messaging-bot: their rules are taken together") {
		t.Errorf("exit %d\n%s", code, errs)
	}
	code, _, errs = run(t, "render", spec, "--target", "nftables", "--fqdn-skip", "--scope", "teams-calling-bot/bot")
	if code != ExitOK || strings.Contains(errs, "taken together") {
		t.Errorf("qualified scope: exit %d\n%s", code, errs)
	}
}

// TestProgress: long work shows its progress on a terminal, and says
// nothing elsewhere.
func TestProgress(t *testing.T) {
	args := []string{"audit", testutil.ExamplePath("messaging-bot"), "--config", sampleFile("iptables-save.batfish-example-host1.iptables"), "--scope", "bot", "--fqdn-skip"}
	yes, no := true, false
	var out, errb bytes.Buffer
	code := mainWith(context.Background(), args, streams{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, tty: &yes})
	if code != ExitFindings {
		t.Fatalf("exit %d\n%s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "\r\x1b[Kteamsgate: audit: checking flows") || !strings.HasSuffix(errb.String(), "\r\x1b[K") {
		t.Errorf("no progress, or not cleared, on a terminal: %q", errb.String())
	}
	if strings.Contains(out.String(), "\x1b[") {
		t.Errorf("progress reached stdout")
	}
	out.Reset()
	errb.Reset()
	mainWith(context.Background(), args, streams{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, tty: &no})
	if strings.Contains(errb.String(), "\x1b[") || strings.Contains(errb.String(), "checking flows") {
		t.Errorf("progress off a terminal: %q", errb.String())
	}
}

// TestVersion: teamsgate version and --version name the catalog and the
// date of the Microsoft data.
func TestVersion(t *testing.T) {
	code, out, _ := run(t, "--version")
	if code != ExitOK || !strings.HasPrefix(out, "teamsgate ") || !strings.Contains(out, "catalog 2026.12.1") || !strings.Contains(out, "Microsoft 365 data of 2026-03-31") {
		t.Errorf("--version: exit %d %q", code, out)
	}
	code, out, _ = run(t, "version", "-o", "json")
	var v struct {
		Version string `json:"version"`
		Go      string `json:"go"`
		Catalog string `json:"catalog"`
		M365    []struct {
			Cloud, Instance, Version, Date string
		} `json:"m365"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || code != ExitOK || v.Catalog != "2026.12.1" || len(v.M365) != 4 || v.M365[0].Cloud != "worldwide" || v.M365[0].Date != "2026-06-06" || v.M365[2].Version != "2026033100" {
		t.Errorf("version -o json: exit %d, %v, %+v", code, err, v)
	}
}

// TestCompletion: the completion scripts load, and values complete:
// targets, formats, roles from the spec, catalog ids.
func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		if code, out, _ := run(t, "completion", shell); code != ExitOK || !strings.Contains(out, "teamsgate") {
			t.Errorf("completion %s: exit %d", shell, code)
		}
	}
	spec := testutil.ExamplePath("combined")
	tests := []struct {
		args []string
		want []string
	}{
		{args: []string{"render", spec, "--target", ""}, want: []string{"nftables\t", "aws-sg\t", "pac\t"}},
		{args: []string{"render", spec, "--scope", ""}, want: []string{"bot", "teams-calling-bot/bot", "conferencing-nodes"}},
		{args: []string{"audit", spec, "--format", ""}, want: []string{"azure-nsg", "iptables"}},
		{args: []string{"plan", spec, "-o", ""}, want: []string{"table", "json", "csv", "markdown"}},
		{args: []string{"catalog", "show", "teams-c"}, want: []string{"teams-calling-bot", "teams-calling-bot.in.media"}},
		{args: []string{"capacity", "--cloud", ""}, want: []string{"gcch"}},
		{args: []string{"certs", "check", "x", "--role", ""}, want: []string{"teams-connector", "bot-endpoint"}},
	}
	for _, tt := range tests {
		code, out, errs := run(t, append([]string{"__complete"}, tt.args...)...)
		if code != ExitOK {
			t.Errorf("__complete %v: exit %d %s", tt.args, code, errs)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(out, w) {
				t.Errorf("__complete %v: no %q in\n%s", tt.args, w, out)
			}
		}
	}
}
