package nftables_test

import (
	"bytes"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/teamsgate/teamsgate/internal/render/nftables"
	"github.com/teamsgate/teamsgate/internal/servicetag"
	"github.com/teamsgate/teamsgate/internal/testutil"
	"github.com/teamsgate/teamsgate/internal/view"
)

// proxy is the egress proxy the golden renders send host-name flows to.
var proxy = netip.MustParseAddrPort("192.0.2.3:3128")

// goldenCase is one render of an example spec.
type goldenCase struct {
	example string
	variant string // golden file: testdata/EXAMPLE.VARIANT.nft
	scope   string
	fqdn    view.FQDNMode
	tags    bool // expand service tags from testdata/servicetags.json
}

// goldenCases renders every example as a perimeter and, where the spec has
// roles, scoped to one of them.
var goldenCases = []goldenCase{
	{example: "messaging-bot", variant: "perimeter", fqdn: view.FQDNViaProxy},
	{example: "messaging-bot", variant: "bot", scope: "bot", fqdn: view.FQDNSkip},
	{example: "calling-bot", variant: "perimeter", fqdn: view.FQDNViaProxy, tags: true},
	{example: "calling-bot", variant: "bot", scope: "bot", fqdn: view.FQDNSkip, tags: true},
	{example: "pexip", variant: "perimeter", fqdn: view.FQDNSkip},
	{example: "pexip", variant: "teams-connector-instances", scope: "teams-connector-instances", fqdn: view.FQDNViaProxy},
	{example: "pexip", variant: "conferencing-nodes", scope: "conferencing-nodes"},
	{example: "teamspro", variant: "perimeter", fqdn: view.FQDNViaProxy},
	{example: "teamspro", variant: "clients", scope: "clients", fqdn: view.FQDNViaProxy},
	{example: "combined", variant: "perimeter", fqdn: view.FQDNViaProxy},
	{example: "combined", variant: "calling-bot", scope: "teams-calling-bot/bot", fqdn: view.FQDNSkip},
}

func (c goldenCase) options(t *testing.T) view.Options {
	opt := view.Options{Scope: c.scope, FQDN: c.fqdn}
	if c.fqdn == view.FQDNViaProxy {
		opt.Proxy = proxy
	}
	if c.tags {
		data, ds := servicetag.ParseFile(filepath.Join("testdata", "servicetags.json"))
		if ds.HasErrors() {
			t.Fatal(ds)
		}
		opt.ServiceTags = data
	}
	return opt
}

func TestGolden(t *testing.T) {
	covered := map[string]bool{}
	for _, c := range goldenCases {
		covered[c.example] = true
		t.Run(c.example+"/"+c.variant, func(t *testing.T) {
			p := testutil.Plan(t, testutil.ExamplePath(c.example), "")
			opt := c.options(t)
			out, ds := nftables.New().Render(p, opt)
			if ds.HasErrors() {
				t.Fatalf("render: %s", ds)
			}
			got := out.Files[nftables.FileName]
			if len(out.Files) != 1 || got == nil {
				t.Fatalf("files = %v, want only %s", keys(out.Files), nftables.FileName)
			}
			testutil.Golden(t, filepath.Join("testdata", c.example+"."+c.variant+".nft"), got)

			// Idempotence: a second render of a fresh plan gives the same bytes.
			again, _ := nftables.New().Render(testutil.Plan(t, testutil.ExamplePath(c.example), ""), opt)
			if !bytes.Equal(got, again.Files[nftables.FileName]) {
				t.Error("rendering twice gave different output")
			}
			checkComments(t, got)
		})
	}
	for _, ex := range testutil.Examples() {
		if !covered[ex] {
			t.Errorf("example %s has no golden render", ex)
		}
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// checkComments checks that every rule comment fits nft's limit.
func checkComments(t *testing.T, file []byte) {
	t.Helper()
	for _, line := range strings.Split(string(file), "\n") {
		_, c, ok := strings.Cut(line, ` comment "`)
		if !ok {
			continue
		}
		c = strings.TrimSuffix(c, `"`)
		if len(c) > 128 || strings.Contains(c, `"`) {
			t.Errorf("comment of %d bytes or with a quote: %q", len(c), c)
		}
	}
}

func TestFQDNFlowsAreAnErrorByDefault(t *testing.T) {
	p := testutil.Plan(t, testutil.ExamplePath("messaging-bot"), "")
	out, ds := nftables.New().Render(p, view.Options{})
	if !ds.HasErrors() {
		t.Fatal("rendering host-name flows without --fqdn-via-proxy or --fqdn-skip succeeded")
	}
	if out.Files != nil {
		t.Errorf("an error still returned files: %v", keys(out.Files))
	}
	msg := ds.String()
	for _, want := range []string{"teams-messaging-bot.out.login", "login.microsoftonline.com", "--fqdn-skip", "squid"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not mention %q:\n%s", want, msg)
		}
	}
}

func TestServiceTagsNeedData(t *testing.T) {
	p := testutil.Plan(t, testutil.ExamplePath("calling-bot"), "")
	_, ds := nftables.New().Render(p, view.Options{Scope: "bot", FQDN: view.FQDNSkip})
	if !ds.HasErrors() || !strings.Contains(ds.String(), "AzureCloud") {
		t.Fatalf("want an error naming the AzureCloud tag, got %v", ds)
	}
}

// TestRealServiceTags expands AzureCloud from the stored Microsoft file into
// named sets of every one of its prefixes.
func TestRealServiceTags(t *testing.T) {
	data, ds := servicetag.ParseFile(filepath.Join(testutil.Root(), "testdata", "data", "ServiceTags_Public.changeNumber398.json.gz"))
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	p := testutil.Plan(t, testutil.ExamplePath("calling-bot"), "")
	out, ds := nftables.New().Render(p, view.Options{Scope: "bot", FQDN: view.FQDNSkip, ServiceTags: data})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	f := string(out.Files[nftables.FileName])
	for _, want := range []string{"set tag_azurecloud_v4 {", "ip saddr @tag_azurecloud_v4", "change number 398"} {
		if !strings.Contains(f, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// The bot has IPv4 addresses only, so the tag's IPv6 prefixes can
	// match nothing and get no set.
	if strings.Contains(f, "tag_azurecloud_v6") {
		t.Error("an IPv6 set for an IPv4-only bot")
	}
	set := f[strings.Index(f, "set tag_azurecloud_v4 {"):]
	set = set[:strings.Index(set, "}")]
	if n := strings.Count(set, ","); n < 1000 {
		t.Errorf("the AzureCloud set has %d elements; the tag has thousands of (merged) prefixes", n+1)
	}
}

// TestDenyBeforeAccept: without management addresses the Pexip plan
// denies RDP to the instances, and the drop comes before every accept.
func TestDenyBeforeAccept(t *testing.T) {
	p := testutil.PlanBytes(t, `
name: no-management
cloud: worldwide
integrations:
  pexip-teams-connector:
    roles:
      conferencing-nodes: { addresses: [203.0.113.10] }
      teams-connector-lb: { addresses: [198.51.100.40] }
      teams-connector-instances: { addresses: [198.51.100.64/28] }
`, "")
	for _, scope := range []string{"", "teams-connector-instances"} {
		out, ds := nftables.New().Render(p, view.Options{Scope: scope, FQDN: view.FQDNSkip})
		if ds.HasErrors() {
			t.Fatal(ds)
		}
		f := string(out.Files[nftables.FileName])
		drop := strings.Index(f, "tcp dport 3389 drop comment \"pexip-teams-connector.rdp-deny")
		accept := strings.Index(f, " accept comment \"pexip-teams-connector.")
		if drop < 0 || accept < 0 || drop > accept {
			t.Errorf("scope %q: want the rdp-deny drop (at %d) before the first flow accept (at %d):\n%s", scope, drop, accept, f)
		}
	}
}

func TestScopedChains(t *testing.T) {
	p := testutil.Plan(t, testutil.ExamplePath("pexip"), "")
	out, ds := nftables.New().Render(p, view.Options{Scope: "conferencing-nodes"})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	f := string(out.Files[nftables.FileName])
	for _, want := range []string{"chain input {", "chain output {", `iif "lo" accept`, "nd-neighbor-solicit"} {
		if !strings.Contains(f, want) {
			t.Errorf("scoped render lacks %q", want)
		}
	}
	if strings.Contains(f, "chain forward") {
		t.Error("scoped render has a forward chain")
	}
	in, outChain, _ := strings.Cut(f[strings.Index(f, "chain input {"):], "chain output {")
	if !strings.Contains(in, "instance-to-cn.signaling") || strings.Contains(in, "cn-to-lb.signaling") {
		t.Error("input chain should hold the flows to the conferencing nodes only")
	}
	if !strings.Contains(outChain, "cn-to-lb.signaling") || strings.Contains(outChain, "instance-to-cn.signaling") {
		t.Error("output chain should hold the flows from the conferencing nodes only")
	}
}

func TestLongCommentIsCut(t *testing.T) {
	p := testutil.Plan(t, testutil.ExamplePath("pexip"), "")
	long := strings.Repeat("é", 100) + `"quoted"`
	p.Rules[0].Purpose = long
	out, ds := nftables.New().Render(p, view.Options{FQDN: view.FQDNSkip})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	f := out.Files[nftables.FileName]
	checkComments(t, f)
	if !strings.Contains(string(f), `é..."`) {
		t.Error("a long comment should be cut on a character boundary and end in ...")
	}
	if !strings.Contains(string(f), "# "+p.Rules[0].ID+": "+long) {
		t.Error("the full purpose should stay in the # comment above the rule")
	}
}
