package audit_test

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/teamsgate/teamsgate/internal/audit"
	"github.com/teamsgate/teamsgate/internal/audit/formats/azurensg"
	"github.com/teamsgate/teamsgate/internal/audit/formats/iptables"
	"github.com/teamsgate/teamsgate/internal/audit/ruleset"
	"github.com/teamsgate/teamsgate/internal/testutil"
	"github.com/teamsgate/teamsgate/internal/view"
)

// fpHost is a calling-bot host firewall with findings of every kind: two
// flows missing with their near misses, rules too open, and rules
// shadowed (line 10 twice, so that two findings share an identity).
var fpHost = []string{
	"-A INPUT -s 52.112.0.0/14 -d 198.51.100.20/31 -p udp -m udp --dport 16000:16500 -j ACCEPT",
	"-A INPUT -d 198.51.100.20/31 -p tcp -m tcp --dport 443 -j ACCEPT",
	"-A INPUT -s 198.18.128.0/17 -d 198.51.100.20/31 -p udp -m udp --dport 8445 -j ACCEPT",
	"-A INPUT -d 198.51.100.20/31 -p tcp -m tcp --dport 3389 -j ACCEPT",
	"-A INPUT -s 52.112.0.0/16 -d 198.51.100.20/31 -p udp -m udp --dport 16000:16100 -j ACCEPT",
	"-A INPUT -s 52.112.0.0/16 -d 198.51.100.20/31 -p udp -m udp --dport 16000:16100 -j ACCEPT",
	"-A INPUT -s 52.112.0.0/14 -d 198.51.100.20/31 -p udp -m udp --dport 16050 -j DROP",
	"-A OUTPUT -s 198.51.100.20/31 -p tcp -m tcp --dport 443 -j ACCEPT",
	"-A OUTPUT -s 198.51.100.20/31 -p tcp -m tcp --dport 80 -j ACCEPT",
	"-A OUTPUT -s 198.51.100.20/31 -p udp -m udp --dport 3478:3481 -j ACCEPT",
}

// unrelated are rules that change no finding, for inserting above the
// others: they drop what no flow of the plan uses.
var unrelated = []string{
	"-A INPUT -s 203.0.113.0/24 -p tcp -m tcp --dport 9999 -j DROP",
	"-A OUTPUT -d 203.0.113.0/24 -p tcp -m tcp --dport 9999 -j DROP",
	"-A INPUT -s 203.0.113.7/32 -p tcp -m tcp --dport 9998 -j DROP",
}

func iptablesSave(rules []string) string {
	return "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT DROP [0:0]\n" + strings.Join(rules, "\n") + "\nCOMMIT\n"
}

func auditIptables(t *testing.T, text string) *audit.Report {
	t.Helper()
	cfg, ds := iptables.Parse([]byte(text))
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	p := testutil.Plan(t, testutil.ExamplePath("calling-bot"), "")
	rep, ds := audit.Run(p, cfg, audit.Options{Scope: "bot", FQDN: view.FQDNSkip, Tags: ruleset.ServiceTags{Data: testTags(t)}})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	return rep
}

// fingerprints maps each finding's fingerprint to what it is, and fails
// on a fingerprint that is empty or that two findings share.
func fingerprints(t *testing.T, rep *audit.Report) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, f := range rep.Findings {
		what := string(f.Kind) + " " + f.Flow + " " + f.Direction
		if f.Rule != nil {
			what += " " + f.Rule.Text
		}
		if len(f.Fingerprint) != 16 {
			t.Errorf("%s: fingerprint %q, want 16 hexadecimal digits", what, f.Fingerprint)
		}
		if other, dup := out[f.Fingerprint]; dup {
			t.Errorf("%s and %s share the fingerprint %s", other, what, f.Fingerprint)
		}
		out[f.Fingerprint] = what
	}
	return out
}

// TestFingerprintIptables: inserting rules above the others renumbers
// every rule (filter/INPUT#1 becomes #3) and moves every line, and
// changes no fingerprint; nor do iptables-save -c's counters. Changing the
// defect changes its fingerprint only.
func TestFingerprintIptables(t *testing.T) {
	base := fingerprints(t, auditIptables(t, iptablesSave(fpHost)))
	if len(base) < 8 {
		t.Fatalf("%d findings, want the test's ruleset to give at least 8", len(base))
	}
	counters := make([]string, len(fpHost))
	for i, r := range fpHost {
		counters[i] = "[12:3456] " + strings.ReplaceAll(r, " ", "  ")
	}
	for name, rules := range map[string][]string{
		"rules inserted above":    append(append([]string{}, unrelated...), fpHost...),
		"rules inserted between":  append(append(append([]string{}, fpHost[:3]...), unrelated...), fpHost[3:]...),
		"counters and spacing":    counters,
		"the chains interleaved":  append(append([]string{}, fpHost[7:]...), fpHost[:7]...),
		"unrelated rules at last": append(append([]string{}, fpHost...), unrelated...),
	} {
		t.Run(name, func(t *testing.T) {
			got := fingerprints(t, auditIptables(t, iptablesSave(rules)))
			if diff := cmp.Diff(slices.Sorted(maps.Keys(base)), slices.Sorted(maps.Keys(got))); diff != "" {
				t.Errorf("fingerprints changed (-before +after):\n%s\nbefore: %v\nafter: %v", diff, base, got)
			}
		})
	}
	// Another defect: the RDP rule opens 3390 instead. Its fingerprint
	// changes, and no other.
	changed := append([]string{}, fpHost...)
	changed[3] = strings.Replace(changed[3], "3389", "3390", 1)
	got := fingerprints(t, auditIptables(t, iptablesSave(changed)))
	var gone, added []string
	for fp, what := range base {
		if _, ok := got[fp]; !ok {
			gone = append(gone, what)
		}
	}
	for fp, what := range got {
		if _, ok := base[fp]; !ok {
			added = append(added, what)
		}
	}
	if len(gone) != 1 || len(added) != 1 || !strings.Contains(gone[0], "3389") || !strings.Contains(added[0], "3390") {
		t.Errorf("changing one rule changed the fingerprints of %q, and gave %q", gone, added)
	}
}

// TestFingerprintNSG: reordering securityRules, and adding a rule that
// is evaluated before all the others (which renumbers them and moves
// every line), changes no fingerprint.
func TestFingerprintNSG(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(testutil.Root(), "testdata", "data", "azure-nsg-arm-export.batfish-VM1-nsg.json"))
	if err != nil {
		t.Fatal(err)
	}
	p := testutil.Plan(t, testutil.ExamplePath("messaging-bot"), "")
	run := func(t *testing.T, data []byte) map[string]string {
		cfg, ds := azurensg.Parse(data, azurensg.Options{})
		if ds.HasErrors() {
			t.Fatal(ds)
		}
		rep, ds := audit.Run(p, cfg, audit.Options{Scope: "bot", FQDN: view.FQDNSkip})
		if ds.HasErrors() {
			t.Fatal(ds)
		}
		return fingerprints(t, rep)
	}
	base := run(t, data)
	if len(base) < 3 {
		t.Fatalf("%d findings, want the sample to give at least 3", len(base))
	}
	edit := func(t *testing.T, f func(rules []any) []any) []byte {
		var doc map[string]any
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Fatal(err)
		}
		props := doc["properties"].(map[string]any)
		props["securityRules"] = f(props["securityRules"].([]any))
		b, err := json.MarshalIndent(doc, "", "    ")
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for name, f := range map[string]func([]any) []any{
		"reversed": func(rules []any) []any {
			out := make([]any, len(rules))
			for i, r := range rules {
				out[len(rules)-1-i] = r
			}
			return out
		},
		"a rule added first": func(rules []any) []any {
			deny := map[string]any{"name": "DenyTelnet", "properties": map[string]any{
				"protocol": "Tcp", "sourcePortRange": "*", "destinationPortRange": "23", "sourceAddressPrefix": "*",
				"destinationAddressPrefix": "*", "access": "Deny", "priority": 100, "direction": "Inbound"}}
			return append([]any{deny}, rules...)
		},
	} {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(base, run(t, edit(t, f))); diff != "" {
				t.Errorf("fingerprints changed (-before +after):\n%s", diff)
			}
		})
	}
}
