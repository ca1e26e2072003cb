package pac_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/render/pac"
	"github.com/teamsgate/teamsgate/internal/testutil"
	"github.com/teamsgate/teamsgate/internal/view"
)

var proxy = netip.MustParseAddrPort("192.0.2.3:3128")

// goldenCase is one render of an example spec, compared with
// testdata/EXAMPLE.VARIANT.pac (or .error.txt).
type goldenCase struct {
	example string
	variant string
	scope   string
	direct  bool
	noProxy bool
	wantErr bool
}

var goldenCases = []goldenCase{
	{example: "messaging-bot", variant: "perimeter"},
	{example: "messaging-bot", variant: "no-proxy", noProxy: true, wantErr: true},
	{example: "calling-bot", variant: "direct", direct: true},
	{example: "pexip", variant: "perimeter"},
	{example: "teamspro", variant: "perimeter"},
	{example: "teamspro", variant: "direct", direct: true},
	{example: "combined", variant: "perimeter"},
	{example: "combined", variant: "clients", scope: "clients"},
}

func (c goldenCase) options() view.Options {
	opt := view.Options{Scope: c.scope, Direct: c.direct}
	if !c.noProxy {
		opt.Proxy = proxy
	}
	return opt
}

func TestGolden(t *testing.T) {
	covered := map[string]bool{}
	for _, c := range goldenCases {
		covered[c.example] = true
		t.Run(c.example+"/"+c.variant, func(t *testing.T) {
			base := filepath.Join("testdata", c.example+"."+c.variant)
			p := testutil.Plan(t, testutil.ExamplePath(c.example), "")
			out, ds := pac.New().Render(p, c.options())
			if c.wantErr {
				if !ds.HasErrors() {
					t.Fatal("render succeeded, want an error")
				}
				testutil.Golden(t, base+".error.txt", []byte(ds.Err().Error()+"\n"))
				return
			}
			if ds.HasErrors() {
				t.Fatalf("render: %s", ds)
			}
			got := out.Files[pac.FileName]
			if len(out.Files) != 1 || got == nil {
				t.Fatalf("%d files, want only %s", len(out.Files), pac.FileName)
			}
			testutil.Golden(t, base+".pac", got)
			again, _ := pac.New().Render(testutil.Plan(t, testutil.ExamplePath(c.example), ""), c.options())
			if !bytes.Equal(got, again.Files[pac.FileName]) {
				t.Error("rendering twice gave different output")
			}
			runCases(t, got, oracleCases(p, c.options()))
		})
	}
	for _, ex := range testutil.Examples() {
		if !covered[ex] {
			t.Errorf("example %s has no golden render", ex)
		}
	}
}

// pacCase is one call of FindProxyForURL and the answer the plan wants.
type pacCase struct {
	URL  string `json:"url"`
	Host string `json:"host"`
	Want string `json:"want"`
}

// oracleCases builds calls from every host name of the plan, their apex,
// a deeper name, other ports and look-alikes, and answers them with the
// plan's own matcher (model.Host.Matches and the ports) over the flows a
// PAC file carries: TCP, outbound, to host names that are not a role's
// machines.
func oracleCases(p *model.Plan, opt view.Options) []pacCase {
	listed, other := "PROXY "+opt.Proxy.String(), "DIRECT"
	if opt.Direct {
		listed, other = other, listed
	}
	var rules []model.Rule
	for _, r := range p.Rules {
		scoped := opt.Scope == "" || r.Source.Role == opt.Scope
		if scoped && r.Proto == model.ProtoTCP && len(r.Destination.Hosts) > 0 && !(r.Destination.Role != "" && r.Destination.HasAddresses()) {
			rules = append(rules, r)
		}
	}
	answer := func(host string, port uint16) string {
		for _, r := range rules {
			if !r.DestPorts.Contains(port) {
				continue
			}
			for _, h := range r.Destination.Hosts {
				if h.Matches(host) {
					return listed
				}
			}
		}
		return other
	}
	var cases []pacCase
	add := func(url, host string, port uint16) {
		cases = append(cases, pacCase{URL: url, Host: host, Want: answer(host, port)})
	}
	for _, r := range p.Rules {
		for _, h := range r.Destination.Hosts {
			names := []string{h.Domain(), "a." + h.Domain(), "a.b." + h.Domain(), "x" + h.Domain(), h.Domain() + ".evil.example"}
			if !h.IsWildcard() {
				names = []string{h.Domain(), "a." + h.Domain(), "x" + h.Domain()}
			}
			for _, n := range names {
				add("https://"+n+"/", n, 443)
				add("http://"+n+"/path?q=1", n, 80)
				add("https://"+n+":5671/", n, 5671)
				add("https://user@"+n+":8443/x", n, 8443)
			}
			up := strings.ToUpper("a." + h.Domain())
			add("https://"+up+"./", up+".", 443)
		}
	}
	for _, u := range []struct{ url, host string }{
		{"https://[2001:db8::1]:443/", "2001:db8::1"},
		{"https://192.0.2.1/", "192.0.2.1"},
		{"ftp://files.example/", "files.example"},
		{"https://intranet/", "intranet"},
	} {
		cases = append(cases, pacCase{URL: u.url, Host: u.host, Want: other})
	}
	return cases
}

// harness loads a PAC file into a fresh context with nothing else defined
// (so the file must not depend on the PAC helper functions) and prints
// FindProxyForURL's answers to the cases in its second argument.
const harness = `
const fs = require("fs");
const vm = require("vm");
const ctx = vm.createContext({});
vm.runInContext(fs.readFileSync(process.argv[2], "utf8"), ctx, { filename: process.argv[2] });
const cases = JSON.parse(fs.readFileSync(process.argv[3], "utf8"));
process.stdout.write(JSON.stringify(cases.map(c => ctx.FindProxyForURL(c.url, c.host))));
`

func e2e() bool { return os.Getenv("TEAMSGATE_E2E") == "1" }

// runCases runs the PAC file under node and compares its answers.
func runCases(t *testing.T, file []byte, cases []pacCase) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		if e2e() {
			t.Fatal("node is not installed (TEAMSGATE_E2E=1): apt-get install nodejs")
		}
		t.Skip("node is not installed; apt-get install nodejs to run the rendered PAC file")
	}
	dir := t.TempDir()
	files := map[string][]byte{"proxy.pac": file, "harness.js": []byte(harness)}
	cb, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	files["cases.json"] = cb
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(node, filepath.Join(dir, "harness.js"), filepath.Join(dir, "proxy.pac"), filepath.Join(dir, "cases.json"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	var got []string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("harness output %q: %v", out, err)
	}
	if len(got) != len(cases) {
		t.Fatalf("%d answers for %d cases", len(got), len(cases))
	}
	bad := 0
	for i, c := range cases {
		if got[i] != c.Want {
			bad++
			if bad <= 10 {
				t.Errorf("FindProxyForURL(%q, %q) = %q, want %q", c.URL, c.Host, got[i], c.Want)
			}
		}
	}
	if bad > 10 {
		t.Errorf("... and %d more", bad-10)
	}
}

func TestWildcardIsOneLabel(t *testing.T) {
	out, ds := pac.New().Render(testutil.Plan(t, testutil.ExamplePath("teamspro"), ""), view.Options{Proxy: proxy})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	listed, other := "PROXY 192.0.2.3:3128", "DIRECT"
	runCases(t, out.Files[pac.FileName], []pacCase{
		{URL: "https://app.teams-pro.com/", Host: "app.teams-pro.com", Want: listed},
		{URL: "https://teams-pro.com/", Host: "teams-pro.com", Want: other},
		{URL: "https://a.b.teams-pro.com/", Host: "a.b.teams-pro.com", Want: other},
		{URL: "https://evilteams-pro.com/", Host: "evilteams-pro.com", Want: other},
		{URL: "https://app.teams-pro.com.evil.example/", Host: "app.teams-pro.com.evil.example", Want: other},
		{URL: "http://app.teams-pro.com/", Host: "app.teams-pro.com", Want: other},
		{URL: "https://APP.Teams-Pro.COM./", Host: "APP.Teams-Pro.COM.", Want: listed},
		{URL: "https://docs.teams-pro.com:443/", Host: "docs.teams-pro.com", Want: listed},
		{URL: "https://docs.teams-pro.com:8443/", Host: "docs.teams-pro.com", Want: other},
	})
}

func TestDirect(t *testing.T) {
	out, ds := pac.New().Render(testutil.Plan(t, testutil.ExamplePath("messaging-bot"), ""), view.Options{Proxy: proxy, Direct: true})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	runCases(t, out.Files[pac.FileName], []pacCase{
		{URL: "https://login.microsoftonline.com/", Host: "login.microsoftonline.com", Want: "DIRECT"},
		{URL: "https://example.com/", Host: "example.com", Want: "PROXY 192.0.2.3:3128"},
	})
}

func TestIPv6Proxy(t *testing.T) {
	opt := view.Options{Proxy: netip.MustParseAddrPort("[2001:db8::3]:3128")}
	out, ds := pac.New().Render(testutil.Plan(t, testutil.ExamplePath("messaging-bot"), ""), opt)
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	want := fmt.Sprintf("var teamsgateListed = %q;", "PROXY [2001:db8::3]:3128")
	if !bytes.Contains(out.Files[pac.FileName], []byte(want)) {
		t.Errorf("no %s", want)
	}
}
