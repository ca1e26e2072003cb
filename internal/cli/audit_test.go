package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/teamsgate/teamsgate/internal/diag"
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
	host := sampleFile("iptables-save.batfish-example-host1.iptables")
	badAccept := writeFile(t, dir, "bad-accept.yaml", "accept:\n  - finding: too-open/SSH\n    reason: r\n")
	lateAccept := writeFile(t, dir, "late-accept.yaml", "accept:\n  - finding: too-open/SSH\n    reason: r\n    by: b\n    expires: 2099-01-01\n")
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
		{name: "unknown --fail-on", args: []string{"audit", spec, "--config", host, "--fail-on", "fatal"}, want: `--fail-on "fatal": want error, warning, note`},
		{name: "--strict against --fail-on", args: []string{"audit", spec, "--config", host, "--strict", "--fail-on", "warning"}, want: "--strict means --fail-on note, which --fail-on warning contradicts"},
		{name: "accept entry incomplete", args: []string{"audit", spec, "--config", host, "--accept", badAccept}, want: "bad-accept.yaml:2:5: accept[0]: by is required: who accepted it"},
		{name: "accept entry too long", args: []string{"audit", spec, "--config", host, "--accept", lateAccept}, want: "late-accept.yaml:5:14: accept[0]: expires 2099-01-01 is more than 366 days ahead"},
		{name: "accept file missing", args: []string{"audit", spec, "--config", host, "--accept", filepath.Join(dir, "nope.yaml")}, want: "no such file"},
		{name: "accept and config on stdin", args: []string{"audit", spec, "--config", "-", "--accept", "-"}, want: "only one of the spec, --config and --accept can be read from standard input"},
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

// botHost is an iptables-save of the messaging bot's host firewall with
// the given rules: the activity flow's allow (activity), a copy of it
// (shadowed with the same action: a note), tcp 8080 from anywhere (too
// open: a warning). Without activity the flow is missing (an error).
func botHost(t *testing.T, dir, name string, rules ...string) string {
	t.Helper()
	text := map[string]string{
		"activity": "-A INPUT -s 52.112.0.0/14 -d 198.51.100.10/32 -p tcp -m tcp --dport 443 -j ACCEPT",
		"web":      "-A INPUT -d 198.51.100.10/32 -p tcp -m tcp --dport 8080 -j ACCEPT",
	}
	var b strings.Builder
	b.WriteString("*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT DROP [0:0]\n")
	for _, r := range rules {
		b.WriteString(text[r] + "\n")
	}
	b.WriteString("COMMIT\n")
	return writeFile(t, dir, name, b.String())
}

// TestAuditFailOn: each --fail-on level (and --strict, its former
// spelling for note) against each mix of findings.
func TestAuditFailOn(t *testing.T) {
	dir := t.TempDir()
	spec := testutil.ExamplePath("messaging-bot")
	mixes := []struct {
		name  string
		rules []string
		// exit code per level; "" is no flag, "strict" is --strict
		want map[string]int
	}{
		{name: "no finding", rules: []string{"activity"},
			want: map[string]int{"": ExitOK, "error": ExitOK, "warning": ExitOK, "note": ExitOK, "strict": ExitOK}},
		{name: "a note", rules: []string{"activity", "activity"},
			want: map[string]int{"": ExitOK, "error": ExitOK, "warning": ExitOK, "note": ExitFindings, "strict": ExitFindings}},
		{name: "a warning and a note", rules: []string{"activity", "activity", "web"},
			want: map[string]int{"": ExitFindings, "error": ExitOK, "warning": ExitFindings, "note": ExitFindings, "strict": ExitFindings}},
		{name: "an error and a warning", rules: []string{"web"},
			want: map[string]int{"": ExitFindings, "error": ExitFindings, "warning": ExitFindings, "note": ExitFindings, "strict": ExitFindings}},
	}
	for i, mix := range mixes {
		cfg := botHost(t, dir, fmt.Sprintf("mix%d.rules", i), mix.rules...)
		for _, level := range []string{"", "error", "warning", "note", "strict"} {
			t.Run(mix.name+"/"+level, func(t *testing.T) {
				args := []string{"audit", spec, "--config", cfg, "--scope", "bot", "--fqdn-skip"}
				switch level {
				case "":
				case "strict":
					args = append(args, "--strict")
				default:
					args = append(args, "--fail-on", level)
				}
				code, out, errs := run(t, args...)
				if code != mix.want[level] {
					t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, mix.want[level], out, errs)
				}
			})
		}
	}
	// --strict with --fail-on note says the same thing twice.
	if code, out, errs := run(t, "audit", spec, "--config", botHost(t, dir, "note.rules", "activity", "activity"), "--scope", "bot", "--fqdn-skip", "--strict", "--fail-on", "note"); code != ExitFindings {
		t.Errorf("--strict --fail-on note with a note: exit %d, want %d\n%s%s", code, ExitFindings, out, errs)
	}
	// --help states the levels and the exit code.
	_, out, _ := run(t, "audit", "--help")
	for _, want := range []string{"--fail-on string", "error, warning or note", "--strict", "former spelling of --fail-on note", "--accept string"} {
		if !strings.Contains(out, want) {
			t.Errorf("audit --help does not say %q", want)
		}
	}
}

// estateFile is a file of the estate examples.
func estateFile(name string) string {
	return filepath.Join(testutil.Root(), "examples", "estate", name)
}

// TestAuditEstate: a spec with audit.aws.role_tag audits every security
// group of an account-wide export at once, each against the roles its tag
// names, every finding naming its group; --scope narrows it to one role,
// --sg still audits the selected groups as one host's.
func TestAuditEstate(t *testing.T) {
	spec, export := estateFile("aws.yaml"), estateFile("security-groups.json")
	code, out, errs := run(t, "audit", spec, "--config", export, "-o", "json")
	if code != ExitFindings {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var doc struct {
		Findings []struct {
			Kind    string   `json:"kind"`
			Message string   `json:"message"`
			Groups  []string `json:"groups"`
			Roles   []string `json:"roles"`
			Rule    struct {
				ID  string   `json:"id"`
				Pos diag.Pos `json:"pos"`
			} `json:"rule"`
		} `json:"findings"`
		Notes []string `json:"notes"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range doc.Findings {
		got = append(got, f.Kind+" "+strings.Join(f.Groups, ",")+" "+strings.Join(f.Roles, ","))
		if len(f.Groups) != 1 || !strings.Contains(f.Message, f.Groups[0]) || !strings.HasPrefix(f.Rule.ID, f.Groups[0]) || f.Rule.Pos.Line == 0 {
			t.Errorf("%s finding does not name its group where it is: %+v", f.Kind, f)
		}
	}
	want := []string{
		"missing sg-0b07000000000001 teams-messaging-bot/bot",
		"too-open sg-0c0a000000000002 pexip-teams-connector/conferencing-nodes",
		"shadowed sg-0d0e000000000003 pexip-teams-connector/management-node",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(doc.Notes) == 0 || !strings.HasPrefix(doc.Notes[0], "estate audit of 14 security groups") {
		t.Errorf("notes: %q", doc.Notes)
	}
	code, out, _ = run(t, "audit", spec, "--config", export)
	if code != ExitFindings || !strings.Contains(out, "[security group sg-0c0a000000000002 (pexip-conferencing), protecting role pexip-teams-connector/conferencing-nodes]") {
		t.Errorf("text: exit %d\n%s", code, out)
	}
	code, out, _ = run(t, "audit", spec, "--config", export, "--scope", "conferencing-nodes")
	if code != ExitFindings || !strings.Contains(out, "1 finding:") || !strings.Contains(out, "sg-0c0a000000000002 ingress#4") {
		t.Errorf("--scope: exit %d\n%s", code, out)
	}
	// --sg: the groups of one host, as before: one union, no estate.
	code, out, _ = run(t, "audit", spec, "--config", export, "--sg", "sg-0c0a000000000002", "--scope", "conferencing-nodes", "-o", "json")
	if code != ExitFindings || strings.Contains(out, `"groups"`) || strings.Contains(out, "estate audit") || !strings.Contains(out, `"id": "sg-0c0a000000000002 ingress#4"`) {
		t.Errorf("--sg: exit %d\n%.2000s", code, out)
	}
	// The real sample has no group tagged for a role: nothing of the
	// deployment would be checked.
	code, _, errs = run(t, "audit", spec, "--config", sampleFile("aws-describe-security-groups.batfish-hybrid-cloud-aws.json"))
	if code != ExitError || !strings.Contains(errs, `aws-describe-security-groups.batfish-hybrid-cloud-aws.json:2:20: $.SecurityGroups: no security group carries the tag "teamsgate:role"`) {
		t.Errorf("untagged: exit %d: %s", code, errs)
	}
}

// TestAuditNSGPath: --config twice puts a subnet NSG and a network
// interface NSG on one path, in Azure's order; which is which is what the
// exports' associations say, or what subnet=FILE and nic=FILE say.
func TestAuditNSGPath(t *testing.T) {
	dir := t.TempDir()
	spec := testutil.ExamplePath("messaging-bot")
	subnet, nic := estateFile("subnet-nsg.json"), sampleFile("azure-nsg-arm-export.batfish-VM1-nsg.json")
	denySubnet := writeFile(t, dir, "deny-subnet.json", `{"name": "strict-subnet", "properties": {"securityRules": [
 {"name": "NoTeams", "properties": {"protocol": "Tcp", "sourcePortRange": "*", "destinationPortRange": "443", "sourceAddressPrefix": "52.112.0.0/14", "destinationAddressPrefix": "*", "access": "Deny", "priority": 100, "direction": "Inbound"}}]}}`)
	allowNIC := writeFile(t, dir, "allow-nic.json", `{"name": "open-nic", "properties": {"securityRules": [
 {"name": "Teams", "properties": {"protocol": "Tcp", "sourcePortRange": "*", "destinationPortRange": "443", "sourceAddressPrefix": "52.112.0.0/14", "destinationAddressPrefix": "*", "access": "Allow", "priority": 100, "direction": "Inbound"}}]}}`)
	tests := []struct {
		name string
		args []string
		want string // the rule the missing finding names, where
	}{
		{name: "by the exports' associations", args: []string{"--config", subnet, "--config", nic},
			want: nic + ":54:10 nic VM1-nsg/DenyAnyCustomAnyInbound"},
		{name: "declared, in any order", args: []string{"--config", "nic=" + nic, "--config", "subnet=" + subnet},
			want: nic + ":54:10 nic VM1-nsg/DenyAnyCustomAnyInbound"},
		{name: "declared against the associations", args: []string{"--config", "subnet=" + nic, "--config", "nic=" + subnet},
			want: nic + ":54:10 subnet VM1-nsg/DenyAnyCustomAnyInbound"},
		{name: "denied by the subnet, allowed by the NIC", args: []string{"--config", "subnet=" + denySubnet, "--config", "nic=" + allowNIC},
			want: denySubnet + ":2:2 subnet strict-subnet/NoTeams"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := run(t, append([]string{"audit", spec, "--scope", "bot", "--fqdn-skip"}, tt.args...)...)
			if code != ExitFindings || !strings.Contains(out, "missing   teams-messaging-bot.in.activity") || !strings.Contains(out, "at "+tt.want+"\n") {
				t.Errorf("exit %d (%s), want the missing flow at %s:\n%s", code, errs, tt.want, out)
			}
		})
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{name: "three", args: []string{"--config", subnet, "--config", nic, "--config", nic}, want: "--config is given 3 times"},
		{name: "one of a path", args: []string{"--config", "subnet=" + subnet}, want: "names one NSG of a path; give the other too"},
		{name: "two subnets declared", args: []string{"--config", "subnet=" + subnet, "--config", "subnet=" + nic}, want: "--config gives two subnet NSGs"},
		{name: "two subnets by association", args: []string{"--config", subnet, "--config", subnet}, want: "are both subnet NSGs"},
		{name: "no association", args: []string{"--config", subnet, "--config", allowNIC}, want: "allow-nic.json: the export does not say whether the NSG is a subnet's or a network interface's"},
		{name: "not an NSG", args: []string{"--config", subnet, "--config", sampleFile("aws-describe-security-groups.batfish-hybrid-cloud-aws.json")}, want: "is aws-sg: --config is given twice only for an Azure subnet NSG"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := run(t, append([]string{"audit", spec, "--scope", "bot"}, tc.args...)...)
			if code != ExitError || !strings.Contains(errs, tc.want) || out != "" {
				t.Errorf("exit %d, stderr %q (want %q), stdout %q", code, errs, tc.want, out)
			}
		})
	}
}
