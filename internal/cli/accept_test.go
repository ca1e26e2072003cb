package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/teamsgate/teamsgate/internal/audit"
	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/testutil"
)

// TestParseAccept: an accept file decodes strictly; every problem is
// reported at its line and column, and an entry without its finding,
// reason, author or expiry day is refused.
func TestParseAccept(t *testing.T) {
	today := audit.MustParseDate("2026-12-06")
	entry := func(finding, reason, by, expires string) string {
		return "  - finding: " + finding + "\n    reason: " + reason + "\n    by: " + by + "\n    expires: " + expires + "\n"
	}
	for _, tc := range []struct {
		name string
		file string
		want []string // the diagnostics, in order
	}{
		{name: "malformed", file: "accept: [\n", want: []string{"accept.yaml:1:9: unclosed [ opened here: the file ends before its ]"}},
		{name: "not a list", file: "accept: too-open/SSH\n", want: []string{`accept.yaml:1:9: accept: want a list, got "too-open/SSH" (write [too-open/SSH] for a list of one)`}},
		{name: "unknown key", file: "accept:\n" + entry("too-open/SSH", "bastion", "alice", "2027-01-01") + "    owner: bob\n",
			want: []string{`accept.yaml:6:5: accept[0]: unknown key "owner"`}},
		{name: "nothing but the finding", file: "accept:\n  - finding: too-open/SSH\n", want: []string{
			"accept.yaml:2:5: accept[0]: by is required: who accepted it",
			"accept.yaml:2:5: accept[0]: expires is required: the day (YYYY-MM-DD) from which it no longer accepts the finding, at most 366 days ahead",
			"accept.yaml:2:5: accept[0]: reason is required: why the finding is accepted",
		}},
		{name: "empty values", file: "accept:\n" + entry(`""`, `" "`, "alice", "2027-01-01"), want: []string{
			"accept.yaml:2:14: accept[0]: finding is required: the key (KIND/NAME) or the fingerprint of the finding accepted",
			"accept.yaml:3:13: accept[0]: reason is required: why the finding is accepted",
		}},
		{name: "bad date", file: "accept:\n" + entry("too-open/SSH", "bastion", "alice", "2027-02-30"),
			want: []string{`accept.yaml:5:14: accept[0]: expires: "2027-02-30" is not a date YYYY-MM-DD`}},
		{name: "a timestamp", file: "accept:\n" + entry("too-open/SSH", "bastion", "alice", "2027-01-01T00:00:00Z"),
			want: []string{`accept.yaml:5:14: accept[0]: expires: "2027-01-01T00:00:00Z" is not a date YYYY-MM-DD`}},
		{name: "too far ahead", file: "accept:\n" + entry("too-open/SSH", "bastion", "alice", "2027-12-08"),
			want: []string{"accept.yaml:5:14: accept[0]: expires 2027-12-08 is more than 366 days ahead (the latest is 2027-12-07): accept a finding for a year at most, and look at it again then"}},
		{name: "bad finding", file: "accept:\n" + entry("open/SSH", "bastion", "alice", "2027-01-01") + entry("SSH", "bastion", "alice", "2027-01-01"), want: []string{
			`accept.yaml:2:14: accept[0]: finding: "open/SSH": "open" is not a kind of finding that can be accepted (want exposed, missing, mismatch, too-open, shadowed)`,
			`accept.yaml:6:14: accept[1]: finding: "SSH" is neither a finding key (KIND/NAME) nor a fingerprint (16 hexadecimal digits)`,
		}},
		{name: "named twice", file: "accept:\n" + entry("0123456789abcdef", "a", "alice", "2027-01-01") + entry("0123456789ABCDEF", "b", "bob", "2027-01-01"),
			want: []string{"accept.yaml:6:14: accept[1]: 0123456789ABCDEF is accepted already at line 2"}},
		{name: "every problem at once", file: "accept:\n" + entry("open/SSH", "a", "alice", "2099-01-01") + "  - finding: too-open/SSH\n    reason: b\n    by: bob\n", want: []string{
			`accept.yaml:2:14: accept[0]: finding: "open/SSH": "open" is not a kind of finding that can be accepted (want exposed, missing, mismatch, too-open, shadowed)`,
			"accept.yaml:5:14: accept[0]: expires 2099-01-01 is more than 366 days ahead (the latest is 2027-12-07): accept a finding for a year at most, and look at it again then",
			"accept.yaml:6:5: accept[1]: expires is required: the day (YYYY-MM-DD) from which it no longer accepts the finding, at most 366 days ahead",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			entries, ds := parseAccept([]byte(tc.file), "accept.yaml", today)
			ds.Sort()
			var got []string
			for _, d := range ds {
				got = append(got, d.String())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("diagnostics (-want +got):\n%s", diff)
			}
			if !ds.HasErrors() {
				t.Errorf("accepted: %+v", entries)
			}
		})
	}
	// A good file: every entry, trimmed, at its place; the last day
	// allowed is accepted.
	entries, ds := parseAccept([]byte("# reviewed weekly\naccept:\n"+entry("too-open/SSH", "bastion only ", "alice", "2027-12-07")+
		entry("0123456789abcdef", "'vendor: until March'", "bob@example.com", "'2027-03-01'")), "accept.yaml", today)
	if len(ds) != 0 {
		t.Fatal(ds)
	}
	want := []audit.Acceptance{
		{Finding: "too-open/SSH", Reason: "bastion only", By: "alice", Expires: audit.MustParseDate("2027-12-07"), Pos: diag.Pos{File: "accept.yaml", Line: 3, Col: 5}},
		{Finding: "0123456789abcdef", Reason: "vendor: until March", By: "bob@example.com", Expires: audit.MustParseDate("2027-03-01"), Pos: diag.Pos{File: "accept.yaml", Line: 7, Col: 5}},
	}
	if diff := cmp.Diff(want, entries, cmp.Comparer(func(a, b audit.Date) bool { return a == b })); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
}

// runAt runs the command line with the clock at now.
func runAt(t *testing.T, now time.Time, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := mainWith(context.Background(), args, streams{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, now: func() time.Time { return now }})
	return code, out.String(), errb.String()
}

// TestAuditAccept: findings accepted by key and by fingerprint fail
// nothing, until their entries expire by the injected clock; an entry
// that names nothing is a note at its line; JSON and SARIF carry it all.
func TestAuditAccept(t *testing.T) {
	dir := t.TempDir()
	spec := testutil.ExamplePath("messaging-bot")
	// The activity flow is missing (an error) and 8080 is open (a warning).
	cfg := botHost(t, dir, "host.rules", "web")
	audit := []string{"audit", spec, "--config", cfg, "--scope", "bot", "--fqdn-skip"}
	dec6 := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	code, out, _ := runAt(t, dec6, append(audit, "-o", "json")...)
	var doc struct {
		Findings []struct {
			Kind        string `json:"kind"`
			Key         string `json:"key"`
			Fingerprint string `json:"fingerprint"`
			Acceptance  *struct {
				Finding string `json:"finding"`
				Expired bool   `json:"expired"`
				Pos     struct {
					File string `json:"file"`
					Line int    `json:"line"`
				} `json:"pos"`
			} `json:"acceptance"`
		} `json:"findings"`
		Accepted []struct {
			Key        string `json:"key"`
			Acceptance struct {
				Reason  string `json:"reason"`
				By      string `json:"by"`
				Expires string `json:"expires"`
			} `json:"acceptance"`
		} `json:"accepted"`
		Summary struct {
			Accepted int `json:"accepted"`
		} `json:"summary"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != ExitFindings || len(doc.Findings) != 2 {
		t.Fatalf("exit %d, %v: %s", code, err, out)
	}
	fp := map[string]string{}
	for _, f := range doc.Findings {
		fp[f.Kind] = f.Fingerprint
	}
	accept := writeFile(t, dir, "accept.yaml", `accept:
  - finding: missing/teams-messaging-bot.in.activity
    reason: the bot is not live yet (PROJ-12)
    by: alice@example.com
    expires: 2027-01-31
  - finding: `+fp["too-open"]+`
    reason: the vendor's console during the rollout
    by: bob@example.com
    expires: 2026-12-10
  - finding: too-open/filter/INPUT#9
    reason: an old rule
    by: carol@example.com
    expires: 2027-01-31
`)
	audit = append(audit, "--accept", accept)

	// On 6 December both findings are accepted: nothing fails but the
	// stale entry, a note.
	code, out, errs := runAt(t, dec6, append(audit, "-o", "json")...)
	doc.Findings, doc.Accepted = nil, nil
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != ExitOK {
		t.Fatalf("exit %d, %v: %s%s", code, err, out, errs)
	}
	var keys []string
	for _, a := range doc.Accepted {
		keys = append(keys, a.Key+" by "+a.Acceptance.By+" until "+a.Acceptance.Expires)
	}
	if diff := cmp.Diff([]string{
		"missing/teams-messaging-bot.in.activity by alice@example.com until 2027-01-31",
		"too-open/filter/INPUT#1 by bob@example.com until 2026-12-10",
	}, keys); diff != "" || doc.Summary.Accepted != 2 {
		t.Errorf("accepted (-want +got):\n%s", diff)
	}
	if len(doc.Findings) != 1 || doc.Findings[0].Kind != "unused-acceptance" || doc.Findings[0].Acceptance == nil ||
		doc.Findings[0].Acceptance.Pos.File != accept || doc.Findings[0].Acceptance.Pos.Line != 10 {
		t.Errorf("want the stale entry as the one finding, at line 10: %+v", doc.Findings)
	}
	if code, _, _ := runAt(t, dec6, append(audit, "--fail-on", "note")...); code != ExitFindings {
		t.Errorf("--fail-on note with a stale entry: exit %d, want %d", code, ExitFindings)
	}
	code, out, _ = runAt(t, dec6, append(audit, "-o", "sarif")...)
	var sarif struct {
		Runs []struct {
			Results []struct {
				RuleID              string            `json:"ruleId"`
				PartialFingerprints map[string]string `json:"partialFingerprints"`
				Suppressions        []struct {
					Kind          string `json:"kind"`
					Status        string `json:"status"`
					Justification string `json:"justification"`
				} `json:"suppressions"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(out), &sarif); err != nil || code != ExitOK {
		t.Fatalf("sarif: exit %d, %v", code, err)
	}
	suppressed := map[string]string{}
	for _, r := range sarif.Runs[0].Results {
		if len(r.PartialFingerprints["teamsgate/v1"]) != 16 {
			t.Errorf("%s result without its fingerprint: %v", r.RuleID, r.PartialFingerprints)
		}
		for _, s := range r.Suppressions {
			suppressed[r.RuleID] = s.Kind + " " + s.Status + ": " + s.Justification
		}
	}
	if diff := cmp.Diff(map[string]string{
		"missing":  "external accepted: the bot is not live yet (PROJ-12)",
		"too-open": "external accepted: the vendor's console during the rollout",
	}, suppressed); diff != "" {
		t.Errorf("sarif suppressions (-want +got):\n%s", diff)
	}

	// On 10 December the fingerprint's entry has expired: 8080 fails the
	// audit again, with the expiry noted.
	code, out, _ = runAt(t, time.Date(2026, 12, 10, 0, 0, 0, 0, time.UTC), audit...)
	if code != ExitFindings || !strings.Contains(out, "acceptance expired on 2026-12-10 (the vendor's console during the rollout, bob@example.com)") ||
		!strings.Contains(out, "1 accepted by "+accept) {
		t.Errorf("after the expiry: exit %d\n%s", code, out)
	}
}
