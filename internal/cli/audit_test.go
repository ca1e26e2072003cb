package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"path/filepath"
	"strings"
	"testing"

	"github.com/teamsgate/teamsgate/internal/testutil"
)

func sampleFile(name string) string { return filepath.Join(testutil.Root(), "testdata", "data", name) }

// TestAuditExitCodes: a render of the plan audits clean (0), the real
// iptables sample has findings (3), unusable input is 1.
func TestAuditExitCodes(t *testing.T) {
	dir := t.TempDir()
	spec := testutil.ExamplePath("messaging-bot")
	if code, _, errs := run(t, "render", spec, "--target", "iptables", "--scope", "bot", "--fqdn-skip", "-o", dir); code != ExitOK {
		t.Fatalf("render: exit %d: %s", code, errs)
	}
	code, out, errs := run(t, "audit", spec, "--config", filepath.Join(dir, "rules.v4"), "--scope", "bot", "--fqdn-skip")
	if code != ExitOK || !strings.Contains(out, "no findings") || errs != "" {
		t.Fatalf("clean render: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	// Without --fqdn-skip the flows the render left out are missing: the
	// host firewall allows tcp 443 out to no address at all.
	code, out, _ = run(t, "audit", spec, "--config", filepath.Join(dir, "rules.v4"), "--scope", "bot")
	if code != ExitFindings || !strings.Contains(out, "missing   teams-messaging-bot.out.login (outbound)") || !strings.Contains(out, "allows tcp 443 to no address at all") {
		t.Fatalf("render without --fqdn-skip: exit %d\n%s", code, out)
	}
	code, out, _ = run(t, "audit", spec, "--config", sampleFile("iptables-save.batfish-example-host1.iptables"), "--scope", "bot")
	if code != ExitFindings || !strings.Contains(out, "missing   teams-messaging-bot.in.activity (inbound)") || !strings.Contains(out, "blocked by filter/INPUT policy DROP") {
		t.Fatalf("sample: exit %d\n%s", code, out)
	}
	bad := writeFile(t, dir, "bad.rules", "*filter\n:INPUT DROP [0:0]\n-A INPUT -s 10.0.0.300 -j ACCEPT\nCOMMIT\n")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{name: "no config", args: []string{"audit", spec}, want: "--config FILE is required"},
		{name: "missing file", args: []string{"audit", spec, "--config", filepath.Join(dir, "nope")}, want: "no such file"},
		{name: "positioned parse error", args: []string{"audit", spec, "--config", bad}, want: "bad.rules:3:1: filter/INPUT: -s \"10.0.0.300\""},
		{name: "unknown format", args: []string{"audit", spec, "--config", bad, "--format", "pf"}, want: `unknown configuration format "pf"`},
		{name: "unknown output", args: []string{"audit", spec, "--config", bad, "-o", "yaml"}, want: `unknown output format "yaml"`},
		{name: "cannot tell", args: []string{"audit", spec, "--config", writeFile(t, dir, "x.txt", "hello\n")}, want: "cannot tell the configuration's format"},
		{name: "unknown scope", args: []string{"audit", spec, "--config", sampleFile("iptables-save.batfish-example-host1.iptables"), "--scope", "nobody"}, want: `--scope "nobody" matches no rule`},
		{name: "bad members", args: []string{"audit", spec, "--config", sampleFile("aws-describe-security-groups.batfish-hybrid-cloud-aws.json"), "--sg-members", "sg-1=notacidr"}, want: `sg-1: "notacidr" is not a CIDR`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := run(t, tc.args...)
			if code != ExitError || !strings.Contains(errs, tc.want) || out != "" {
				t.Errorf("exit %d, stderr %q (want %q), stdout %q", code, errs, tc.want, out)
			}
		})
	}
}

// TestAuditFormats checks format recognition and every output format on
// the real samples.
func TestAuditFormats(t *testing.T) {
	spec := testutil.ExamplePath("combined")
	for _, sample := range []string{"azure-nsg-arm-export.batfish-VM1-nsg.json", "aws-describe-security-groups.batfish-hybrid-cloud-aws.json", "iptables-save.batfish-example-host1.iptables"} {
		t.Run(sample, func(t *testing.T) {
			code, out, errs := run(t, "audit", spec, "--config", sampleFile(sample), "-o", "json", "--fqdn-via-proxy", "192.0.2.3:3128")
			if code != ExitFindings {
				t.Fatalf("exit %d: %s", code, errs)
			}
			var doc struct {
				Version  int    `json:"version"`
				Format   string `json:"format"`
				Findings []struct {
					Kind     string `json:"kind"`
					Severity string `json:"severity"`
					Rule     *struct {
						ID  string `json:"id"`
						Pos struct {
							Line int `json:"line"`
						} `json:"pos"`
					} `json:"rule"`
				} `json:"findings"`
				Summary struct {
					Kinds map[string]int `json:"kinds"`
				} `json:"summary"`
			}
			if err := json.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatalf("json: %v", err)
			}
			if doc.Version != 1 || doc.Format == "" || len(doc.Findings) == 0 {
				t.Fatalf("json report: %+v", doc)
			}
			for _, f := range doc.Findings {
				if f.Rule == nil || f.Rule.ID == "" {
					t.Errorf("%s finding without the rule that causes it", f.Kind)
				}
			}
			code, out, _ = run(t, "audit", spec, "--config", sampleFile(sample), "-o", "sarif")
			var sarif struct {
				Version string `json:"version"`
				Runs    []struct {
					Results []struct {
						RuleID    string `json:"ruleId"`
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
					} `json:"results"`
				} `json:"runs"`
			}
			if err := json.Unmarshal([]byte(out), &sarif); err != nil || code != ExitFindings || sarif.Version != "2.1.0" || len(sarif.Runs[0].Results) == 0 {
				t.Fatalf("sarif: exit %d, %v, %.300s", code, err, out)
			}
			if loc := sarif.Runs[0].Results[0].Locations; len(loc) == 0 || !strings.HasSuffix(loc[0].Physical.Artifact.URI, sample) {
				t.Errorf("sarif result without the config location: %+v", sarif.Runs[0].Results[0])
			}
			code, out, _ = run(t, "audit", spec, "--config", sampleFile(sample), "-o", "junit")
			var junit struct {
				Suites []struct {
					Name  string `xml:"name,attr"`
					Cases []struct {
						Name string `xml:"name,attr"`
					} `xml:"testcase"`
				} `xml:"testsuite"`
			}
			if err := xml.Unmarshal([]byte(out), &junit); err != nil || code != ExitFindings || len(junit.Suites) != 2 || len(junit.Suites[0].Cases) == 0 {
				t.Fatalf("junit: exit %d, %v, %.300s", code, err, out)
			}
		})
	}
}

func TestAuditStdin(t *testing.T) {
	var out, errb bytes.Buffer
	stdin := strings.NewReader("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n")
	code := mainWith(context.Background(), []string{"audit", testutil.ExamplePath("messaging-bot"), "--config", "-", "--scope", "bot"}, streams{stdin: stdin, stdout: &out, stderr: &errb})
	if code != ExitFindings || !strings.Contains(out.String(), "<stdin>") || !strings.Contains(out.String(), "too-open") {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errb.String())
	}
}
