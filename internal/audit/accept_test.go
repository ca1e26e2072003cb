package audit_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/teamsgate/teamsgate/internal/audit"
	"github.com/teamsgate/teamsgate/internal/diag"
)

func TestDate(t *testing.T) {
	for _, s := range []string{"2026-12-31", "2028-02-29", "1970-01-01"} {
		d, err := audit.ParseDate(s)
		if err != nil || d.String() != s {
			t.Errorf("ParseDate(%q) = %v, %v; want it back", s, d, err)
		}
		if b, _ := d.MarshalText(); string(b) != s {
			t.Errorf("MarshalText = %q, want %q", b, s)
		}
	}
	for _, s := range []string{"", "2026-13-01", "2027-02-29", "2026-1-5", "31.12.2026", "2026-12-31T00:00:00Z", " 2026-12-31"} {
		if d, err := audit.ParseDate(s); err == nil {
			t.Errorf("ParseDate(%q) = %v, want an error", s, d)
		}
	}
	if !(audit.Date{}).IsZero() || (audit.Date{}).String() != "" {
		t.Error("the zero Date is not empty")
	}
	// DateOf takes the UTC day: 00:30 on the 1st in Paris is the 31st.
	paris := time.FixedZone("CET", 3600)
	if got := audit.DateOf(time.Date(2027, 1, 1, 0, 30, 0, 0, paris)); got != audit.MustParseDate("2026-12-31") {
		t.Errorf("DateOf = %v, want 2026-12-31", got)
	}
	if got := audit.MustParseDate("2026-12-31").AddDays(audit.MaxAcceptDays); got != audit.MustParseDate("2028-01-01") {
		t.Errorf("AddDays = %v", got)
	}
}

func TestCheckTarget(t *testing.T) {
	for _, tc := range []struct {
		target string
		want   string // a substring of the error; "" for none
	}{
		{target: "too-open/SSH"},
		{target: "missing/teams-calling-bot.in.media"},
		{target: "shadowed/filter/INPUT#5"},
		{target: "mismatch/inet filter input#2 (handle 7)"},
		{target: "0123456789abcdef"},
		{target: "0123456789ABCDEF"},
		{target: "open/SSH", want: `"open" is not a kind of finding that can be accepted`},
		{target: "unused-acceptance/too-open/SSH", want: "is not a kind of finding that can be accepted"},
		{target: "too-open/", want: "names no flow or rule"},
		{target: "0123456789abcde", want: "neither a finding key"},
		{target: "0123456789abcdeg", want: "neither a finding key"},
		{target: "SSH", want: "neither a finding key"},
	} {
		t.Run(tc.target, func(t *testing.T) {
			err := audit.CheckTarget(tc.target)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("error %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// acceptReport is a report with one finding of each severity and kind,
// fingerprinted by an empty Accept.
func acceptReport() *audit.Report {
	rule := func(id, chain, text string, line int) *audit.RuleRef {
		return &audit.RuleRef{ID: id, Chain: chain, Action: "accept", Text: text, Pos: diag.Pos{Line: line, Col: 1}}
	}
	r := &audit.Report{Format: "iptables", Config: "host.rules", Findings: []audit.Finding{
		{Kind: audit.Missing, Severity: audit.SevError, Flow: "x.in.media", Direction: "inbound", Rule: rule("filter/INPUT policy DROP", "filter/INPUT", ":INPUT DROP [0:0]", 2), Message: "blocked"},
		{Kind: audit.TooOpen, Severity: audit.SevWarning, Direction: "inbound", Rule: rule("filter/INPUT#2", "filter/INPUT", "-A INPUT -p tcp --dport 22 -j ACCEPT", 6), Message: "ssh"},
		{Kind: audit.TooOpen, Severity: audit.SevWarning, Direction: "inbound", Rule: rule("filter/INPUT#4", "filter/INPUT", "-A INPUT -p tcp --dport 3389 -j ACCEPT", 8), Message: "rdp"},
		{Kind: audit.Shadowed, Severity: audit.SevNote, Rule: rule("filter/INPUT#5", "filter/INPUT", "-A INPUT -p udp --dport 16000 -j ACCEPT", 9), Message: "never"},
	}}
	r.Accept("", nil, func() time.Time { return time.Time{} })
	r.AcceptFile = ""
	return r
}

func fingerprintOf(r *audit.Report, rule string) string {
	for _, f := range append(append([]audit.Finding{}, r.Findings...), r.Accepted...) {
		if f.Rule != nil && f.Rule.ID == rule {
			return f.Fingerprint
		}
	}
	return ""
}

// TestAccept: entries accept findings by key and by fingerprint until the
// day they expire, by the injected clock's UTC day; an expired entry
// leaves its finding standing, noted; an entry that names nothing is a
// note at its place in the file; accepted findings fail no level.
func TestAccept(t *testing.T) {
	rdp := fingerprintOf(acceptReport(), "filter/INPUT#4")
	at := func(line int) diag.Pos { return diag.Pos{File: "accept.yaml", Line: line, Col: 5} }
	entries := []audit.Acceptance{
		{Finding: "too-open/filter/INPUT#2", Reason: "bastion only", By: "alice", Expires: audit.MustParseDate("2027-01-01"), Pos: at(2)},
		{Finding: strings.ToUpper(rdp), Reason: "jump host", By: "bob", Expires: audit.MustParseDate("2026-12-07"), Pos: at(6)},
		{Finding: "missing/x.in.media", Reason: "media later", By: "carol", Expires: audit.MustParseDate("2026-12-06"), Pos: at(10)},
		{Finding: "shadowed/filter/INPUT#9", Reason: "old", By: "dave", Expires: audit.MustParseDate("2027-03-01"), Pos: at(14)},
	}
	type outcome struct {
		Accepted, Findings []string // keys; Findings with "(expired)" when an entry expired
		Failed             map[audit.Severity]bool
	}
	summarize := func(r *audit.Report) outcome {
		o := outcome{Failed: map[audit.Severity]bool{}}
		for _, f := range r.Accepted {
			if f.Acceptance == nil || f.Acceptance.Expired {
				t.Errorf("accepted %s without its entry: %+v", f.Key, f.Acceptance)
			}
			o.Accepted = append(o.Accepted, f.Key)
		}
		for _, f := range r.Findings {
			k := f.Key
			if f.Acceptance != nil && f.Acceptance.Expired {
				k += " (expired)"
			}
			o.Findings = append(o.Findings, k)
		}
		for _, s := range audit.Severities {
			o.Failed[s] = r.Failed(s)
		}
		return o
	}
	utc := func(s string) func() time.Time {
		return func() time.Time {
			tm, err := time.Parse(time.RFC3339, s)
			if err != nil {
				t.Fatal(err)
			}
			return tm
		}
	}
	// Before the missing flow's entry expires, every finding but the note
	// is accepted; failing on notes only, for the stale entry.
	before := outcome{
		Accepted: []string{"missing/x.in.media", "too-open/filter/INPUT#2", "too-open/filter/INPUT#4"},
		Findings: []string{"shadowed/filter/INPUT#5", "unused-acceptance/shadowed/filter/INPUT#9"},
		Failed:   map[audit.Severity]bool{audit.SevError: false, audit.SevWarning: false, audit.SevNote: true},
	}
	failsAll := map[audit.Severity]bool{audit.SevError: true, audit.SevWarning: true, audit.SevNote: true}
	for _, tc := range []struct {
		name string
		now  func() time.Time
		want outcome
	}{
		{name: "the day before the missing flow's entry expires", now: utc("2026-12-05T23:59:59Z"), want: before},
		{name: "on that day in Kiritimati, still the day before in UTC", now: utc("2026-12-06T10:00:00+14:00"), want: before},
		{name: "on the day it expires, UTC", now: utc("2026-12-06T00:00:00Z"), want: outcome{
			Accepted: []string{"too-open/filter/INPUT#2", "too-open/filter/INPUT#4"},
			Findings: []string{"missing/x.in.media (expired)", "shadowed/filter/INPUT#5", "unused-acceptance/shadowed/filter/INPUT#9"},
			Failed:   failsAll,
		}},
		{name: "a day later the fingerprint's entry has expired too", now: utc("2026-12-07T12:00:00Z"), want: outcome{
			Accepted: []string{"too-open/filter/INPUT#2"},
			Findings: []string{"missing/x.in.media (expired)", "too-open/filter/INPUT#4 (expired)", "shadowed/filter/INPUT#5", "unused-acceptance/shadowed/filter/INPUT#9"},
			Failed:   failsAll,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := acceptReport()
			r.Accept("accept.yaml", append([]audit.Acceptance{}, entries...), tc.now)
			if diff := cmp.Diff(tc.want, summarize(r)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if r.AcceptFile != "accept.yaml" {
				t.Errorf("AcceptFile %q", r.AcceptFile)
			}
			// The stale entry is a note at its own place in the file,
			// naming what it accepts and the file.
			last := r.Findings[len(r.Findings)-1]
			if last.Kind != audit.UnusedAcceptance || last.Severity != audit.SevNote || last.Acceptance == nil || last.Acceptance.Pos != at(14) ||
				!strings.Contains(last.Message, "accept.yaml accepts shadowed/filter/INPUT#9 (old, by dave)") || len(last.Fingerprint) != 16 {
				t.Errorf("unused entry: %+v", last)
			}
			// Accepting changes no fingerprint.
			for _, f := range append(append([]audit.Finding{}, r.Findings...), r.Accepted...) {
				if f.Rule != nil && f.Fingerprint != fingerprintOf(acceptReport(), f.Rule.ID) {
					t.Errorf("%s: fingerprint changed to %s", f.Key, f.Fingerprint)
				}
			}
		})
	}
}

// TestFingerprintRecipe pins the recipe: what enters a fingerprint (kind,
// flow, direction, the rule's identity) and what does not (positions,
// the rule's place in its chain, messages, packets, facts, severity).
// A change here is a new FingerprintVersion.
func TestFingerprintRecipe(t *testing.T) {
	fp := func(f audit.Finding) string {
		r := &audit.Report{Findings: []audit.Finding{f}}
		r.Accept("", nil, time.Now)
		return r.Findings[0].Fingerprint
	}
	rule := func(id, chain, text string) *audit.RuleRef {
		return &audit.RuleRef{ID: id, Chain: chain, Text: text}
	}
	base := audit.Finding{Kind: audit.TooOpen, Severity: audit.SevWarning, Direction: "inbound", Rule: rule("filter/INPUT#3", "filter/INPUT", "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT")}
	// The recipe, pinned (docs/audit.md "Fingerprints"): the first 8
	// bytes of the SHA-256 of "teamsgate/v1", the kind, the flow, the
	// direction, the rule's identity (chain, id without its place, text
	// without "-A CHAIN") and the accepted key (unused acceptances), each
	// ended by a NUL; computed apart with Python's hashlib.
	if got := fp(base); got != "0b79ac32c3ef2bee" {
		t.Errorf("fingerprint of the base finding is %s, want 0b79ac32c3ef2bee", got)
	}
	same := map[string]audit.Finding{}
	differ := map[string]audit.Finding{}
	with := func(change func(f *audit.Finding)) audit.Finding {
		f := base
		r := *base.Rule
		f.Rule = &r
		change(&f)
		return f
	}
	same["another place"] = with(func(f *audit.Finding) {
		f.Rule.ID, f.Rule.Index, f.Rule.Pos = "filter/INPUT#12", 12, diag.Pos{File: "x", Line: 40, Col: 1}
	})
	same["counters and spacing"] = with(func(f *audit.Finding) { f.Rule.Text = "[5:300] -A INPUT  -p tcp -m tcp --dport 22 -j ACCEPT" })
	same["inserted with -I"] = with(func(f *audit.Finding) { f.Rule.Text = "-I INPUT 1 -p tcp -m tcp --dport 22 -j ACCEPT" })
	same["message, packets, severity, facts"] = with(func(f *audit.Finding) {
		f.Message, f.Severity = "other words", audit.SevError
		f.Packets = []audit.PacketSet{{Protocol: "tcp", Text: "tcp port 22"}}
		f.Facts = []audit.Fact{{Kind: audit.Shadowed, Message: "a fact", Rule: rule("filter/INPUT#9", "filter/INPUT", "-A INPUT -j DROP")}}
		f.Blocking = []audit.RuleRef{*rule("filter/INPUT#1", "filter/INPUT", "-A INPUT -j DROP")}
	})
	differ["kind"] = with(func(f *audit.Finding) { f.Kind = audit.Shadowed })
	differ["direction"] = with(func(f *audit.Finding) { f.Direction = "outbound" })
	differ["flow"] = with(func(f *audit.Finding) { f.Flow = "x.in.ssh" })
	differ["rule text"] = with(func(f *audit.Finding) { f.Rule.Text = "-A INPUT -p tcp -m tcp --dport 23 -j ACCEPT" })
	differ["chain"] = with(func(f *audit.Finding) { f.Rule.ID, f.Rule.Chain = "filter/FORWARD#3", "filter/FORWARD" })
	for name, f := range same {
		if fp(f) != fp(base) {
			t.Errorf("%s changes the fingerprint", name)
		}
	}
	for name, f := range differ {
		if fp(f) == fp(base) {
			t.Errorf("another %s keeps the fingerprint", name)
		}
	}
	// nftables (the handle is a place too) and AWS (a permission's index).
	nft := audit.Finding{Kind: audit.Shadowed, Rule: rule("inet filter input#2 (handle 7)", "inet filter input", "ip saddr 10.0.0.0/8 tcp dport 22 accept")}
	nftMoved := nft
	nftMoved.Rule = rule("inet filter input#5 (handle 31)", "inet filter input", "ip saddr 10.0.0.0/8 tcp dport 22 accept")
	aws := audit.Finding{Kind: audit.TooOpen, Direction: "inbound", Rule: rule("sg-1 ingress#1", "ingress", "tcp from 0.0.0.0/0 port 22")}
	awsMoved := aws
	awsMoved.Rule = rule("sg-1 ingress#5", "ingress", "tcp from 0.0.0.0/0 port 22")
	awsOther := aws
	awsOther.Rule = rule("sg-2 ingress#1", "ingress", "tcp from 0.0.0.0/0 port 22")
	// Named rules are known by their names: an NSG rule whose ports
	// change is the same rule.
	nsg := audit.Finding{Kind: audit.TooOpen, Direction: "inbound", Rule: rule("SSH", "Inbound", "300 Inbound Allow TCP from * port * to * port 22")}
	nsgEdited := nsg
	nsgEdited.Rule = rule("SSH", "Inbound", "300 Inbound Allow TCP from * port * to * port 22,8080")
	for _, c := range []struct {
		name string
		a, b audit.Finding
		same bool
	}{
		{"nft rule moved", nft, nftMoved, true},
		{"aws permission moved", aws, awsMoved, true},
		{"aws rule of another group", aws, awsOther, false},
		{"nsg rule edited", nsg, nsgEdited, true},
	} {
		if (fp(c.a) == fp(c.b)) != c.same {
			t.Errorf("%s: fingerprints %s and %s, want same=%v", c.name, fp(c.a), fp(c.b), c.same)
		}
	}
	// Two findings of one identity (two identical rules, both shadowed)
	// are told apart, the first keeping the plain fingerprint.
	r := &audit.Report{Findings: []audit.Finding{nft, nftMoved}}
	r.Accept("", nil, time.Now)
	if a, b := r.Findings[0].Fingerprint, r.Findings[1].Fingerprint; a == b || a != fp(nft) {
		t.Errorf("identical rules: fingerprints %s and %s", a, b)
	}
}
