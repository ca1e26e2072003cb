package audit_test

import (
	"strings"
	"testing"

	"github.com/teamsgate/teamsgate/internal/audit"
	"github.com/teamsgate/teamsgate/internal/audit/formats/iptables"
	"github.com/teamsgate/teamsgate/internal/audit/ruleset"
	"github.com/teamsgate/teamsgate/internal/testutil"
	"github.com/teamsgate/teamsgate/internal/view"
)

// callingBotHost is a host firewall for the calling bot with one example
// of every finding kind.
const callingBotHost = `*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT DROP [0:0]
-A INPUT -s 52.112.0.0/14 -d 198.51.100.20/31 -p udp -m udp --dport 16000:16500 -j ACCEPT
-A INPUT -d 198.51.100.20/31 -p tcp -m tcp --dport 443 -j ACCEPT
-A INPUT -s 198.18.128.0/17 -d 198.51.100.20/31 -p udp -m udp --dport 8445 -j ACCEPT
-A INPUT -d 198.51.100.20/31 -p tcp -m tcp --dport 3389 -j ACCEPT
-A INPUT -s 52.112.0.0/16 -d 198.51.100.20/31 -p udp -m udp --dport 16000:16100 -j ACCEPT
-A INPUT -s 52.112.0.0/14 -d 198.51.100.20/31 -p udp -m udp --dport 16050 -j DROP
-A OUTPUT -s 198.51.100.20/31 -p tcp -m tcp --dport 443 -j ACCEPT
-A OUTPUT -s 198.51.100.20/31 -p tcp -m tcp --dport 80 -j ACCEPT
-A OUTPUT -s 198.51.100.20/31 -p udp -m udp --dport 3478:3481 -j ACCEPT
COMMIT
`

// TestFindings checks each finding kind against a configuration written
// to have exactly one or two of each.
func sevRank(s audit.Severity) int {
	return map[audit.Severity]int{audit.SevError: 0, audit.SevWarning: 1, audit.SevNote: 2}[s]
}

func TestFindings(t *testing.T) {
	p := testutil.Plan(t, testutil.ExamplePath("calling-bot"), "")
	cfg, ds := iptables.Parse([]byte(callingBotHost))
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	rep, ds := audit.Run(p, cfg, audit.Options{Scope: "bot", FQDN: view.FQDNSkip, Tags: ruleset.ServiceTags{Data: testTags(t)}})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	type want struct {
		kind audit.Kind
		sev  audit.Severity
		flow string
		rule string
		msg  []string // substrings of the message
		// in: the want is a fact of the finding of this kind and flow
		// (one defect, one finding)
		in *want
	}
	missingOf := func(flow string) *want {
		return &want{kind: audit.Missing, flow: flow}
	}
	wants := []want{
		// in.media needs udp 16000-17000 from 52.112.0.0/14 and
		// 52.120.0.0/14 (which holds 52.122.0.0/15); only 16000-16500 from
		// 52.112.0.0/14 passes.
		{audit.Missing, audit.SevError, "teams-calling-bot.in.media", "filter/INPUT policy DROP", []string{"partly blocked", "udp from 52.112.0.0/14 52.120.0.0/14 to 198.51.100.20/31 port 16501-17000", "udp from 52.120.0.0/14 to 198.51.100.20/31 port 16000-16500"}, nil},
		// ... because the rule meant for it is too narrow, and narrower
		// than the 1,000 ports 001 §4b requires
		{audit.Mismatch, audit.SevError, "teams-calling-bot.in.media", "filter/INPUT#1", []string{"allows ports 16000-16500, narrower than the plan's udp 16000-17000", "16501-17000 is blocked",
			"001 §4b Inbound/ingress rules for calling bot requires at least 1,000 ports for this range, and the rule allows 501"}, missingOf("teams-calling-bot.in.media")},
		// in.media-control: tcp 8445 from AzureCloud; the rule is udp.
		{audit.Missing, audit.SevError, "teams-calling-bot.in.media-control", "filter/INPUT policy DROP", []string{"is blocked", "port 8445"}, nil},
		{audit.Mismatch, audit.SevError, "teams-calling-bot.in.media-control", "filter/INPUT#3", []string{"allows udp where the plan requires tcp", "udp from 198.18.128.0/17"}, missingOf("teams-calling-bot.in.media-control")},
		// ... and that udp rule is itself more than the plan needs: all
		// one defect
		{audit.TooOpen, audit.SevWarning, "", "filter/INPUT#3", []string{"udp from 198.18.128.0/17 to 198.51.100.20/31 port 8445"}, missingOf("teams-calling-bot.in.media-control")},
		// in.signaling: tcp 443 from AzureCloud, allowed from anywhere.
		{audit.TooOpen, audit.SevWarning, "", "filter/INPUT#2", []string{"tcp from any IPv4 except 198.18.128.0/17 198.19.0.0/16 to 198.51.100.20/31 port 443"}, nil},
		// RDP from anywhere: an exposed management port, an error; that
		// it is more than the plan needs is a fact of it
		{audit.Exposed, audit.SevError, "", "filter/INPUT#4", []string{"exposed management port", "RDP (tcp/3389)", "tcp from any IPv4 to 198.51.100.20/31 port 3389"}, nil},
		{audit.TooOpen, audit.SevWarning, "", "filter/INPUT#4", []string{"tcp from any IPv4 to 198.51.100.20/31 port 3389"}, &want{kind: audit.Exposed}},
		// OUTPUT allows 80/443 to any address: the m365 sets need them to
		// their own prefixes, the host-name flows to any address (which is
		// tolerated). udp 3478-3481 is only needed to the Teams prefixes.
		{audit.TooOpen, audit.SevWarning, "", "filter/OUTPUT#3", []string{"udp from 198.51.100.20/31 to any IPv4 except 52.112.0.0/14 52.122.0.0/15 port 3478-3481"}, nil},
		// Line 5 is covered by line 1 (same action: a note); line 6 by
		// line 1 and its action differs (a warning).
		{audit.Shadowed, audit.SevNote, "", "filter/INPUT#5", []string{"earlier rules (filter/INPUT#1) cover it"}, nil},
		{audit.Shadowed, audit.SevWarning, "", "filter/INPUT#6", []string{"filter/INPUT#1", "different action"}, nil},
	}
	used := map[int]bool{}
	for _, w := range wants {
		found := false
		for i, f := range rep.Findings {
			if w.in != nil {
				// a fact of the enclosing finding
				if f.Kind != w.in.kind || f.Flow != w.in.flow {
					continue
				}
				for _, x := range f.Facts {
					if x.Kind != w.kind || x.Rule == nil || x.Rule.ID != w.rule {
						continue
					}
					found = true
					for _, m := range w.msg {
						if !strings.Contains(x.Message, m) {
							t.Errorf("fact %s %s %s: message %q lacks %q", w.kind, w.flow, w.rule, x.Message, m)
						}
					}
				}
				if found {
					if sevRank(f.Severity) > sevRank(w.sev) {
						t.Errorf("%s %s: severity %s, below its fact's %s", f.Kind, f.Flow, f.Severity, w.sev)
					}
					break
				}
				continue
			}
			if used[i] || f.Kind != w.kind || f.Flow != w.flow || f.Rule == nil || f.Rule.ID != w.rule {
				continue
			}
			found = true
			used[i] = true
			if f.Severity != w.sev {
				t.Errorf("%s %s %s: severity %s, want %s", w.kind, w.flow, w.rule, f.Severity, w.sev)
			}
			for _, m := range w.msg {
				if !strings.Contains(f.Message, m) {
					t.Errorf("%s %s %s: message %q lacks %q", w.kind, w.flow, w.rule, f.Message, m)
				}
			}
			if len(f.Packets) == 0 && f.Kind != audit.Mismatch {
				t.Errorf("%s %s %s: no packets", w.kind, w.flow, w.rule)
			}
			if f.Flow != "" && f.Reference == "" {
				t.Errorf("%s %s %s: no reference", w.kind, w.flow, w.rule)
			}
			break
		}
		if !found {
			t.Errorf("no %s finding for %q by %s", w.kind, w.flow, w.rule)
		}
	}
	for i, f := range rep.Findings {
		if !used[i] {
			t.Errorf("unexpected finding: %s %s %s: %s", f.Severity, f.Kind, f.Flow, f.Message)
		}
	}
	if !rep.Failed(audit.SevWarning) {
		t.Error("the audit does not fail")
	}
	// Flow results: what passes, fails, is skipped.
	status := map[string]audit.FlowStatus{}
	for _, f := range rep.Flows {
		status[f.ID] = f.Status
	}
	for id, want := range map[string]audit.FlowStatus{
		"teams-calling-bot.in.signaling":       audit.FlowPass,
		"teams-calling-bot.in.media":           audit.FlowFail,
		"teams-calling-bot.out.m365.set11-udp": audit.FlowPass,
		"teams-calling-bot.out.login":          audit.FlowSkipped,
	} {
		if status[id] != want {
			t.Errorf("flow %s: %s, want %s", id, status[id], want)
		}
	}
}

// TestPlanDeny: a flow the plan denies (Pexip's RDP rule without
// management addresses) that the configuration allows is an error.
func TestPlanDeny(t *testing.T) {
	p := testutil.Plan(t, testutil.ExamplePath("combined"), "")
	cfg, ds := iptables.Parse([]byte(`*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -s 192.0.2.0/24 -p tcp -m tcp --dport 3389 -j ACCEPT
COMMIT
`))
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	rep, ds := audit.Run(p, cfg, audit.Options{Scope: "teams-connector-instances"})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	for _, f := range rep.Findings {
		if f.Flow == "pexip-teams-connector.rdp-deny" {
			if f.Kind != audit.TooOpen || f.Severity != audit.SevError || !strings.Contains(f.Message, "tcp from 192.0.2.0/24 to 198.51.100.64/28 port 3389") {
				t.Errorf("rdp-deny finding: %+v", f)
			}
			return
		}
	}
	t.Error("no finding for the denied RDP flow")
}

// TestUnresolvedNamed: a blocked flow that an unresolvable rule might
// allow names that rule.
func TestUnresolvedNamed(t *testing.T) {
	p := testutil.Plan(t, testutil.ExamplePath("messaging-bot"), "")
	cfg, _ := iptables.Parse([]byte(`*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp -m set --match-set teams src -m tcp --dport 443 -j ACCEPT
COMMIT
`))
	rep, _ := audit.Run(p, cfg, audit.Options{Scope: "bot"})
	for _, f := range rep.Findings {
		if f.Kind == audit.Missing && f.Flow == "teams-messaging-bot.in.activity" {
			if len(f.Unresolved) != 1 || f.Unresolved[0].ID != "filter/INPUT#1" {
				t.Errorf("unresolved = %+v", f.Unresolved)
			}
			return
		}
	}
	t.Error("no missing finding")
}
