package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/teamsgate/teamsgate/internal/testutil"
)

// TestAuditCorpus runs the seeded-defect corpus (testdata/audit-corpus,
// README there) as a user runs it: for each of the four formats, one
// correct configuration of a deployment with a messaging bot, a calling bot
// and a Pexip Teams Connector, and one file per defect class, each the
// correct file with exactly one change. The correct files must audit
// clean (no finding at all, exit 0); each defect file must yield exactly
// its one finding, with the facts the same defect causes folded into it.
func TestAuditCorpus(t *testing.T) {
	type fact struct{ kind, rule string }
	type want struct {
		kind string
		// name is the flow for missing findings, the rule otherwise
		name  string
		sev   string
		facts []fact
		// msg are substrings of the finding's or a fact's message
		msg []string
	}
	type tc struct {
		file string
		args []string
		want *want // nil: the configuration audits clean
		// pass are flows that must pass
		pass []string
	}
	corpus := func(p string) string { return filepath.Join(testutil.Root(), "testdata", "audit-corpus", p) }
	spec, specAWS := corpus("deployment.yaml"), corpus("deployment-aws.yaml")
	// The corpus's configurations were written for the late-2020 Microsoft
	// 365 data: they are audited with it.
	data2020 := testutil.M365Overlay(t, "testdata/data/m365/worldwide-2020-12.json", "2020122300")
	vnet := []string{"--vnet", "198.51.100.0/24"}
	cases := []tc{
		// iptables: a perimeter router, one user chain per role
		{file: "iptables/correct.rules", pass: []string{"pexip-teams-connector.instance-to-ocsp", "teams-messaging-bot.in.activity"}},
		{file: "iptables/missing-flow.rules", want: &want{kind: "missing", name: "teams-messaging-bot.in.activity", sev: "error",
			msg: []string{"blocked by filter/FORWARD policy DROP"}}},
		{file: "iptables/media-range.rules", want: &want{kind: "missing", name: "teams-calling-bot.in.media", sev: "error",
			facts: []fact{{"mismatch", "filter/CALL-BOT#3"}, {"mismatch", "filter/CALL-BOT#4"}},
			msg:   []string{"narrower than the plan's udp 16000-16999", "001 §4b Inbound/ingress rules for calling bot requires at least 1,000 ports for this range, and the rule allows 500"}}},
		{file: "iptables/rdp-open.rules", want: &want{kind: "exposed", name: "filter/TC#8", sev: "error",
			facts: []fact{{"too-open", "filter/TC#8"}},
			msg:   []string{"exposed management port", "RDP (tcp/3389)", "tcp from any IPv4 to 198.51.100.64/28 port 3389"}}},
		{file: "iptables/shadowed-allow.rules", want: &want{kind: "missing", name: "teams-calling-bot.in.media", sev: "error",
			facts: []fact{{"shadowed", "filter/CALL-BOT#4"}, {"shadowed", "filter/CALL-BOT#5"}},
			msg:   []string{"blocked by filter/CALL-BOT#3", "earlier rules (filter/CALL-BOT#3) cover it"}}},
		{file: "iptables/broad-source.rules", want: &want{kind: "too-open", name: "filter/MSG-BOT#1", sev: "warning",
			msg: []string{"tcp from any IPv4 except 52.112.0.0/14 198.51.100.10/32 198.51.100.20/31 to 198.51.100.10/32 port 443"}}},
		{file: "iptables/udp-for-tcp.rules", want: &want{kind: "missing", name: "teams-calling-bot.in.media-control", sev: "error",
			facts: []fact{{"mismatch", "filter/CALL-BOT#2"}, {"too-open", "filter/CALL-BOT#2"}},
			msg:   []string{"allows udp where the plan requires tcp"}}},
		{file: "iptables/shadowed-across-chains.rules", want: &want{kind: "missing", name: "teams-messaging-bot.in.activity", sev: "error",
			facts: []fact{{"shadowed", "filter/MSG-BOT#1"}},
			msg:   []string{"blocked by filter/FORWARD#2", "rules on the way to it (filter/FORWARD#2) cover it"}}},

		// nftables: the same router as nft -j list ruleset prints it
		{file: "nftables/correct.json", pass: []string{"pexip-teams-connector.instance-to-windows-update"}},
		{file: "nftables/missing-flow.json", want: &want{kind: "missing", name: "teams-messaging-bot.in.activity", sev: "error"}},
		{file: "nftables/media-range.json", want: &want{kind: "missing", name: "teams-calling-bot.in.media", sev: "error",
			facts: []fact{{"mismatch", "ip filter call_bot#3 (handle 21)"}},
			msg:   []string{"requires at least 1,000 ports"}}},
		{file: "nftables/rdp-open.json", want: &want{kind: "exposed", name: "ip filter tc#4 (handle 32)", sev: "error",
			facts: []fact{{"too-open", "ip filter tc#4 (handle 32)"}}}},
		{file: "nftables/shadowed-allow.json", want: &want{kind: "missing", name: "teams-calling-bot.in.media", sev: "error",
			facts: []fact{{"shadowed", "ip filter call_bot#4 (handle 22)"}}}},
		{file: "nftables/broad-source.json", want: &want{kind: "too-open", name: "ip filter msg_bot#1 (handle 26)", sev: "warning",
			msg: []string{"tcp from any IPv4 except 52.112.0.0/14"}}},
		{file: "nftables/udp-for-tcp.json", want: &want{kind: "missing", name: "teams-calling-bot.in.media-control", sev: "error",
			facts: []fact{{"mismatch", "ip filter call_bot#2 (handle 19)"}, {"too-open", "ip filter call_bot#2 (handle 19)"}}}},
		{file: "nftables/shadowed-across-chains.json", want: &want{kind: "missing", name: "teams-messaging-bot.in.activity", sev: "error",
			facts: []fact{{"shadowed", "ip filter msg_bot#1 (handle 27)"}},
			msg:   []string{"rules on the way to it (ip filter forward#2 (handle 11)) cover it"}}},
		{file: "nftables/shadowed-across-base-chains.json", want: &want{kind: "missing", name: "teams-messaging-bot.in.activity", sev: "error",
			facts: []fact{{"shadowed", "ip filter msg_bot#1 (handle 28)"}},
			msg:   []string{"rules on the way to it (ip filter prefilter#1 (handle 8)) cover it"}}},

		// Azure NSG: the subnet's NSG, with Azure's default rules
		{file: "azure-nsg/correct.json", args: vnet, pass: []string{"pexip-teams-connector.instance-to-ocsp", "teams-calling-bot.out.m365.set12-tcp"}},
		{file: "azure-nsg/teams-connector.json", args: append([]string{"--scope", "teams-connector-instances"}, vnet...),
			pass: []string{"pexip-teams-connector.instance-to-ocsp", "pexip-teams-connector.instance-to-windows-update", "pexip-teams-connector.instance-to-teams.signaling"}},
		{file: "azure-nsg/missing-flow.json", args: vnet, want: &want{kind: "missing", name: "teams-messaging-bot.in.activity", sev: "error",
			msg: []string{"blocked by DenyAllInBound"}}},
		{file: "azure-nsg/media-range.json", args: vnet, want: &want{kind: "missing", name: "teams-calling-bot.in.media", sev: "error",
			facts: []fact{{"mismatch", "AllowCallingBotMedia"}}, msg: []string{"requires at least 1,000 ports"}}},
		{file: "azure-nsg/rdp-open.json", args: vnet, want: &want{kind: "exposed", name: "RDP", sev: "error",
			facts: []fact{{"too-open", "RDP"}}}},
		{file: "azure-nsg/shadowed-allow.json", args: vnet, want: &want{kind: "missing", name: "teams-calling-bot.in.media", sev: "error",
			facts: []fact{{"shadowed", "AllowCallingBotMedia"}}, msg: []string{"earlier rules (DenyUdpToCallingBot) cover it"}}},
		{file: "azure-nsg/broad-source.json", args: vnet, want: &want{kind: "too-open", name: "AllowTeamsToMessagingBot", sev: "warning",
			msg: []string{"tcp from any IPv4 except"}}},
		{file: "azure-nsg/udp-for-tcp.json", args: vnet, want: &want{kind: "missing", name: "teams-calling-bot.in.media-control", sev: "error",
			facts: []fact{{"mismatch", "AllowCallingBotMediaControl"}, {"too-open", "AllowCallingBotMediaControl"}}}},

		// AWS: every security group of the account at once, by role tag
		{file: "aws-sg/correct.json", pass: []string{"pexip-teams-connector.any-to-cn.dial-instructions", "teams-calling-bot.in.media"}},
		{file: "aws-sg/missing-flow.json", want: &want{kind: "missing", name: "teams-messaging-bot.in.activity", sev: "error",
			msg: []string{"security group sg-0a00000000000001 (messaging-bot)"}}},
		{file: "aws-sg/media-range.json", want: &want{kind: "missing", name: "teams-calling-bot.in.media", sev: "error",
			facts: []fact{{"mismatch", "sg-0a00000000000002 ingress#3"}}, msg: []string{"requires at least 1,000 ports"}}},
		{file: "aws-sg/rdp-open.json", want: &want{kind: "exposed", name: "sg-0a00000000000002 ingress#4", sev: "error",
			facts: []fact{{"too-open", "sg-0a00000000000002 ingress#4"}}}},
		{file: "aws-sg/broad-source.json", want: &want{kind: "too-open", name: "sg-0a00000000000001 ingress#1", sev: "warning",
			msg: []string{"tcp from any IPv4 except 52.112.0.0/14"}}},
		{file: "aws-sg/udp-for-tcp.json", want: &want{kind: "missing", name: "teams-calling-bot.in.media-control", sev: "error",
			facts: []fact{{"mismatch", "sg-0a00000000000002 ingress#2"}, {"too-open", "sg-0a00000000000002 ingress#2"}}}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			s := spec
			if strings.HasPrefix(c.file, "aws-sg/") {
				s = specAWS
			}
			args := append([]string{"audit", s, "--config", corpus(c.file), "-o", "json", "--catalog", data2020}, c.args...)
			code, out, errs := run(t, args...)
			var doc struct {
				Findings []struct {
					Kind      string `json:"kind"`
					Severity  string `json:"severity"`
					Flow      string `json:"flow"`
					Message   string `json:"message"`
					Reference string `json:"reference"`
					Rule      struct {
						ID string `json:"id"`
					} `json:"rule"`
					Facts []struct {
						Kind    string `json:"kind"`
						Message string `json:"message"`
						Rule    struct {
							ID string `json:"id"`
						} `json:"rule"`
					} `json:"facts"`
				} `json:"findings"`
				Flows []struct {
					ID     string `json:"id"`
					Status string `json:"status"`
				} `json:"flows"`
			}
			if err := json.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatalf("exit %d: %v\n%s", code, err, errs)
			}
			for _, id := range c.pass {
				ok := false
				for _, f := range doc.Flows {
					if f.ID == id {
						ok = ok || f.Status == "pass"
						if f.Status != "pass" {
							t.Errorf("flow %s: %s, want pass", id, f.Status)
						}
					}
				}
				if !ok {
					t.Errorf("flow %s: not reported as passing", id)
				}
			}
			if c.want == nil {
				if code != ExitOK || len(doc.Findings) != 0 {
					t.Fatalf("exit %d, %d findings, want a clean audit:\n%s", code, len(doc.Findings), out)
				}
				return
			}
			if code != ExitFindings {
				t.Errorf("exit %d, want %d", code, ExitFindings)
			}
			if len(doc.Findings) != 1 {
				t.Fatalf("%d findings, want exactly one (%s %s):\n%s", len(doc.Findings), c.want.kind, c.want.name, out)
			}
			f := doc.Findings[0]
			name := f.Rule.ID
			if f.Kind == "missing" {
				name = f.Flow
				if f.Reference == "" {
					t.Errorf("missing %s cites no reference", f.Flow)
				}
			}
			if f.Kind != c.want.kind || name != c.want.name || f.Severity != c.want.sev {
				t.Errorf("finding %s %s (%s), want %s %s (%s)", f.Kind, name, f.Severity, c.want.kind, c.want.name, c.want.sev)
			}
			var got, want []string
			text := f.Message
			for _, x := range f.Facts {
				got = append(got, x.Kind+" "+x.Rule.ID)
				text += "\n" + x.Message
			}
			for _, x := range c.want.facts {
				want = append(want, x.kind+" "+x.rule)
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("facts %q, want %q", got, want)
			}
			for _, m := range c.want.msg {
				if !strings.Contains(text, m) {
					t.Errorf("the finding does not say %q:\n%s", m, text)
				}
			}
		})
	}
}

// TestAuditDocExample: the audit run the README and docs/audit.md show is
// what the command prints today, line for line.
func TestAuditDocExample(t *testing.T) {
	const cmd = "teamsgate audit examples/messaging-bot.yaml --config testdata/data/azure-nsg-arm-export.batfish-VM1-nsg.json --scope bot --fqdn-via-proxy 192.0.2.3:3128 --vnet 198.51.100.0/24,192.0.2.0/24"
	t.Chdir(testutil.Root())
	code, out, errs := run(t, strings.Fields(cmd)[1:]...)
	if code != ExitFindings || errs != "" {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, doc := range []string{"README.md", "docs/audit.md"} {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		i := strings.Index(s, "$ "+cmd+"\n")
		if i < 0 {
			t.Errorf("%s does not show the run", doc)
			continue
		}
		s = s[i+len(cmd)+3:]
		shown := s[:strings.Index(s, "$ echo $?")]
		if shown != out {
			t.Errorf("%s shows another output than the command prints; the command prints:\n%s", doc, out)
		}
	}
}
