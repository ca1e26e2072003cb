package cli

import (
	"encoding/json"
	"encoding/xml"
	"strings"
	"testing"

	"github.com/teamsgate/teamsgate/internal/testutil"
)

// TestProbeCommand: the formats, the exit codes, and bad input refused
// before anything is sent. The name server is a closed port on loopback:
// every flow fails its DNS, and nothing leaves the machine.
func TestProbeCommand(t *testing.T) {
	spec := testutil.ExamplePath("messaging-bot")
	base := []string{"probe", spec, "--role", "bot", "--dns", "127.0.0.1:9", "--timeout", "1s"}
	code, out, errs := run(t, append(base, "-o", "json")...)
	var doc struct {
		Role    string
		OK      bool
		Results []struct{ Rule, Outcome, Check string }
		Summary map[string]int
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != ExitFindings || doc.OK || doc.Summary["dns-failure"] != 5 || len(doc.Results) != 5 {
		t.Fatalf("json: exit %d, %v, %+v\n%s", code, err, doc, errs)
	}
	code, out, _ = run(t, append(base, "-o", "junit")...)
	var suite struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Cases    []struct {
			Name    string `xml:"name,attr"`
			Failure *struct {
				Type string `xml:"type,attr"`
			} `xml:"failure"`
		} `xml:"testcase"`
	}
	if err := xml.Unmarshal([]byte(out), &suite); err != nil || code != ExitFindings || suite.Tests != 5 || suite.Failures != 5 || suite.Cases[0].Failure.Type != "dns-failure" {
		t.Errorf("junit: exit %d, %v, %+v", code, err, suite)
	}
	code, out, _ = run(t, base...)
	if code != ExitFindings || !strings.Contains(out, "dns-failure  teams-messaging-bot.out.login") || !strings.HasSuffix(out, "\n5 dns-failure\n") {
		t.Errorf("text: exit %d\n%s", code, out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"probe", spec, "--role", "nobody"}, `no rule of the plan has role "nobody" as its source`},
		{[]string{"probe", spec, "--role", "bot", "--timeout", "0s"}, "--timeout"},
		{[]string{"probe", spec, "--role", "bot", "--concurrency", "0"}, "--concurrency"},
		{[]string{"probe", spec, "--role", "bot", "--fqdn-via-proxy", "proxy"}, "want ADDR:PORT"},
		{[]string{"probe", testutil.ExamplePath("pexip"), "--role", "teams-connector-instances", "--peer", "conferencing-nodes"}, "want ROLE=ADDR"},
		{[]string{"probe", testutil.ExamplePath("pexip"), "--role", "teams-connector-instances", "--peer", "conferencing-nodes=192.0.2.77"}, "is not an address the plan binds conferencing-nodes to"},
		{[]string{"probe", testutil.ExamplePath("pexip"), "--role", "teams-connector-instances", "--peer", "management-node=203.0.113.5"}, "no rule of the plan goes from teams-connector-instances to management-node"},
		{[]string{"probe", "listen", spec, "--role", "nobody", "--for", "1s"}, "no rule of the plan has nobody as its destination"},
	} {
		code, _, errs := run(t, tc.args...)
		if code != ExitError || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d %q, want %q", tc.args[2:], code, errs, tc.want)
		}
	}
}
