package azurensg

// These tests are inside the package: they build small nsg.json documents
// with the template's own types.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/teamsgate/teamsgate/internal/render"
	"github.com/teamsgate/teamsgate/internal/render/clistub"
	"github.com/teamsgate/teamsgate/internal/render/clistub/az"
	"github.com/teamsgate/teamsgate/internal/render/clistub/statefile"
	"github.com/teamsgate/teamsgate/internal/testutil"
	"github.com/teamsgate/teamsgate/internal/view"
)

// deltaEnv runs scripts against the az stub, on the NSG "teamsgate-test"
// of the resource group "rg".
type deltaEnv struct {
	path  string // PATH with the stub first
	state string
	dir   string // where the scripts are written
	cwd   string // where they run: not their own directory
}

func newDeltaEnv(t *testing.T) *deltaEnv {
	t.Helper()
	root := t.TempDir()
	e := &deltaEnv{
		path:  clistub.Path(t, "az", "./testdata/azstub"),
		state: filepath.Join(root, "state.json"),
		dir:   filepath.Join(root, "rendered rules"),
		cwd:   filepath.Join(root, "elsewhere"),
	}
	for _, d := range []string{e.dir, e.cwd} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// setState starts the stub with the resource group "rg" and, unless rules
// is nil, the NSG in it with those rules.
func (e *deltaEnv) setState(t *testing.T, rules []az.Rule) {
	t.Helper()
	st := &az.State{ResourceGroups: map[string]*az.ResourceGroup{"rg": {NSGs: map[string]*az.NSG{}}}}
	if rules != nil {
		st.ResourceGroups["rg"].NSGs["teamsgate-test"] = &az.NSG{Rules: slices.Clone(rules)}
	}
	clistub.Save(t, e.state, st)
}

// run writes script as name and runs it with bash.
func (e *deltaEnv) run(t *testing.T, name string, script []byte, extra ...string) (int, string) {
	t.Helper()
	f := filepath.Join(e.dir, name)
	if err := os.WriteFile(f, script, 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + e.path, az.EnvState + "=" + e.state, "RESOURCE_GROUP=rg", "NSG_NAME=teamsgate-test"}
	return clistub.Bash(t, e.cwd, append(env, extra...), f)
}

// mustRun runs a script that must succeed.
func (e *deltaEnv) mustRun(t *testing.T, name string, script []byte) {
	t.Helper()
	if code, stderr := e.run(t, name, script); code != 0 {
		t.Fatalf("%s exited %d:\n%s\n--- script\n%s", name, code, stderr, script)
	}
}

func (e *deltaEnv) load(t *testing.T) *az.State { return clistub.Load[az.State](t, e.state) }

// rules returns the test NSG's rules, each as az.Rule.String and its
// description, sorted; nil without the NSG.
func (e *deltaEnv) rules(t *testing.T) []string {
	t.Helper()
	rg := e.load(t).ResourceGroups["rg"]
	if rg == nil || rg.NSGs["teamsgate-test"] == nil {
		return nil
	}
	return clistub.Keys(rg.NSGs["teamsgate-test"].Rules, func(r az.Rule) string { return r.String() + " # " + r.Description })
}

// commands returns each call's command words and first option.
func commands(st *az.State) []string {
	var out []string
	for _, c := range st.Calls {
		out = append(out, strings.Join(c.Args[:min(len(c.Args), 4)], " "))
	}
	return out
}

// deltaCase is one render of an example spec: the golden renders' options
// (azurensg_test.go).
type deltaCase struct {
	example, scope string
	fqdn           view.FQDNMode
}

var deltaCases = []deltaCase{
	{"messaging-bot", "", view.FQDNViaProxy},
	{"messaging-bot", "bot", view.FQDNSkip},
	{"calling-bot", "", view.FQDNViaProxy},
	{"calling-bot", "bot", view.FQDNSkip},
	{"pexip", "", view.FQDNSkip},
	{"pexip", "teams-connector-instances", view.FQDNViaProxy},
	{"teamspro", "clients", view.FQDNViaProxy},
	{"combined", "", view.FQDNViaProxy},
	{"combined", "teams-connector-instances", view.FQDNSkip},
}

func (c deltaCase) options() view.Options {
	opt := view.Options{Scope: c.scope, FQDN: c.fqdn}
	if c.fqdn == view.FQDNViaProxy {
		opt.Proxy = netip.MustParseAddrPort("192.0.2.3:3128")
	}
	return opt
}

func (c deltaCase) name() string {
	if c.scope == "" {
		return c.example + "/perimeter"
	}
	return c.example + "/" + c.scope
}

// scriptCalls returns the az calls of a script, one line each (a call's
// continuation lines joined), with the line before each: a call starts a
// line or is a command substitution ("$(az …)").
func scriptCalls(script []byte) (calls, comments []string) {
	lines := strings.Split(string(script), "\n")
	for i := 0; i < len(lines); i++ {
		call := lines[i]
		if _, sub, ok := strings.Cut(call, `"$(az `); ok {
			call = "az " + sub
		} else if !strings.HasPrefix(call, "az ") {
			continue
		}
		comment := ""
		if i > 0 {
			comment = lines[i-1]
		}
		for strings.HasSuffix(call, ` \`) && i+1 < len(lines) {
			i++
			call = strings.TrimSuffix(call, `\`) + strings.TrimSpace(lines[i])
		}
		calls = append(calls, call)
		comments = append(comments, comment)
	}
	return calls, comments
}

// verbs returns the rule calls' verbs (create, update, delete), in order.
func verbs(calls []string) []string {
	var out []string
	for _, c := range calls {
		if v, ok := strings.CutPrefix(c, "az network nsg rule "); ok {
			out = append(out, strings.Fields(v)[0])
		}
	}
	return out
}

// TestDeltaApplies: for every example render, the old render's nsg.sh
// (the late-2020 Microsoft 365 data) and then the delta to the derived
// data (52.120.0.0/14 → 52.122.0.0/15 in the Teams sets) leave the NSG
// with the rules a fresh run of the new render's nsg.sh gives, description
// and all; a second run of the delta changes nothing.
func TestDeltaApplies(t *testing.T) {
	oldCat := testutil.M365Overlay(t, "testdata/data/m365/worldwide-2020-12.json", "2020122300")
	newCat := testutil.M365Overlay(t, "testdata/data/m365/worldwide-2020-12-derived.json", "2021010100")
	r := New()
	changed := 0
	for _, c := range deltaCases {
		t.Run(c.name(), func(t *testing.T) {
			oldOut, ds := r.Render(testutil.Plan(t, testutil.ExamplePath(c.example), oldCat), c.options())
			if ds.HasErrors() {
				t.Fatal(ds)
			}
			newOut, ds := r.Render(testutil.Plan(t, testutil.ExamplePath(c.example), newCat), c.options())
			if ds.HasErrors() {
				t.Fatal(ds)
			}
			delta, err := r.Delta(oldOut, newOut)
			if err != nil {
				t.Fatalf("the fixture changes only address lists, but: %v", err)
			}
			script := delta.Files[DeltaFileName]
			if got := len(delta.Files); got != 1 || script == nil {
				t.Fatalf("delta files: %d, %s missing: %v", got, DeltaFileName, script == nil)
			}
			// The catalog version is the embedded catalog's and the overlay's.
			for _, want := range []*regexp.Regexp{
				regexp.MustCompile(`\n# from: cloud worldwide, catalog \S*data\.worldwide-2020122300\n`),
				regexp.MustCompile(`\n# to:   cloud worldwide, catalog \S*data\.worldwide-2021010100\n`),
				regexp.MustCompile(`\nset -euo pipefail\n`),
			} {
				if !want.Match(script) {
					t.Errorf("delta lacks %s:\n%s", want, script)
				}
			}
			calls, _ := scriptCalls(script)
			if len(verbs(calls)) > 0 {
				changed++
			}
			t.Logf("rule calls: %q", verbs(calls))
			// A create is written as nsg.sh writes it.
			for _, call := range calls {
				if strings.HasPrefix(call, "az network nsg rule create ") {
					full, _ := scriptCalls(newOut.Files[ScriptFile])
					if !slices.Contains(full, call) {
						t.Errorf("the delta's create is not the new nsg.sh's:\n%s", call)
					}
				}
			}

			e := newDeltaEnv(t)
			e.setState(t, nil)
			e.mustRun(t, ScriptFile, newOut.Files[ScriptFile])
			want := e.rules(t)

			e.setState(t, nil)
			e.mustRun(t, ScriptFile, oldOut.Files[ScriptFile])
			before := e.rules(t)
			e.mustRun(t, DeltaFileName, script)
			if diff := cmp.Diff(want, e.rules(t)); diff != "" {
				t.Errorf("old nsg.sh + delta is not the new nsg.sh (-new +old+delta):\n%s\n--- delta\n%s", diff, script)
			}
			if len(verbs(calls)) == 0 && !slices.Equal(before, want) {
				t.Errorf("the renders' rules differ but the delta changes nothing:\n%s", script)
			}
			e.mustRun(t, DeltaFileName, script)
			if diff := cmp.Diff(want, e.rules(t)); diff != "" {
				t.Errorf("a second run of the delta changed the NSG (-new +again):\n%s", diff)
			}
		})
	}
	if changed == 0 {
		t.Fatal("no example's azure-nsg render changed with the fixture: the test proves nothing")
	}
}

// Hand-built renders.

// testRule is an inbound TCP allow to 198.51.100.10 port 443 from src.
func testRule(name string, priority int, src ...string) armRule {
	p := armRuleProperties{
		Description: name + ": test flow", Protocol: "Tcp", Access: "Allow", Priority: priority, Direction: inbound,
		SourcePortRange: "*", DestinationPortRange: "443", DestinationAddressPrefix: "198.51.100.10/32",
	}
	p.SourceAddressPrefix, p.SourceAddressPrefixes = one(src)
	return armRule{Name: name, Properties: p}
}

func defaultDenies() []armRule {
	var out []armRule
	for _, dir := range []string{inbound, outbound} {
		out = append(out, armRule{Name: "teamsgate-deny-all-" + strings.ToLower(dir), Properties: armRuleProperties{
			Description: "teamsgate default deny", Protocol: "*", Access: "Deny", Priority: denyAllPriority, Direction: dir,
			SourcePortRange: "*", DestinationPortRange: "*", SourceAddressPrefix: "*", DestinationAddressPrefix: "*",
		}})
	}
	return out
}

// testOutput is a render of the rules (the default denies added unless
// bare) with the catalog version in its header.
func testOutput(t *testing.T, version string, bare bool, rules ...armRule) render.Output {
	t.Helper()
	if !bare {
		rules = append(slices.Clone(rules), defaultDenies()...)
	}
	tm := armTemplate{
		Metadata:   armMetadata{Comments: []string{"teamsgate azure-nsg configuration: cloud worldwide, catalog " + version, "integrations: test"}},
		Parameters: armParameters{NSGName: armParameter{Type: "string", DefaultValue: "teamsgate-test"}},
		Resources: []armNSGResource{{
			Type: "Microsoft.Network/networkSecurityGroups", APIVersion: APIVersion, Name: "[parameters('nsgName')]",
			Properties: armNSGProperties{SecurityRules: rules},
		}},
	}
	b, err := json.MarshalIndent(tm, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return render.Output{Files: map[string][]byte{TemplateFile: b}}
}

// stubRules are a render's rules as the stub keeps them.
func stubRules(t *testing.T, out render.Output) []az.Rule {
	t.Helper()
	rd, err := parseRendered(out.Files[TemplateFile])
	if err != nil {
		t.Fatal(err)
	}
	var rs []az.Rule
	for _, r := range rd.rules {
		p := r.Properties
		rs = append(rs, az.Rule{
			Name: r.Name, Priority: p.Priority, Direction: p.Direction, Access: p.Access, Protocol: p.Protocol,
			Src: r.src(), SrcPorts: r.srcPorts(), Dst: r.dst(), DstPorts: r.dstPorts(), Description: p.Description,
		})
	}
	return rs
}

// threeWay is a change with one rule of each kind: "kept" gains a source
// prefix, "added" is new and "dropped" is gone.
func threeWay(t *testing.T) (old, new render.Output) {
	old = testOutput(t, "1", false,
		testRule("kept", 100, "192.0.2.0/24"),
		testRule("dropped", 110, "192.0.2.128/25"),
		testRule("other", 130, "203.0.113.7/32"))
	new = testOutput(t, "2", false,
		testRule("kept", 100, "192.0.2.0/24", "198.51.100.0/24"),
		testRule("added", 120, "203.0.113.0/24"),
		testRule("other", 130, "203.0.113.7/32"))
	return old, new
}

// TestDeltaOrder: the NSG is checked first, then the creates, the updates
// and the deletes last, each call after a comment with its rule's
// description.
func TestDeltaOrder(t *testing.T) {
	old, new := threeWay(t)
	delta, err := New().Delta(old, new)
	if err != nil {
		t.Fatal(err)
	}
	script := delta.Files[DeltaFileName]
	calls, comments := scriptCalls(script)
	if len(calls) == 0 || !strings.HasPrefix(calls[0], `az network nsg show --resource-group "$rg" --name "$nsg" --output none`) {
		t.Fatalf("the first call is not the NSG's show:\n%s", script)
	}
	if diff := cmp.Diff([]string{"create", "update", "delete"}, verbs(calls)); diff != "" {
		t.Errorf("rule calls (-want +got):\n%s\n%s", diff, script)
	}
	for i, c := range calls[1:] {
		name := strings.Fields(strings.SplitN(c, "--name ", 2)[1])[0]
		if want := "# " + strings.Trim(name, "'") + ": test flow"; comments[i+1] != want {
			t.Errorf("comment before %s: %q, want %q", name, comments[i+1], want)
		}
	}
	// The create is nsg.sh's, flag for flag.
	added := &secRule{
		name: "added", dir: inbound, access: "Allow", protocol: "Tcp", priority: 120, description: "added: test flow",
		srcPorts: []string{"*"}, dstPorts: []string{"443"},
		src: side{addrs: []string{"203.0.113.0/24"}}, dst: side{addrs: []string{"198.51.100.10/32"}},
	}
	full, _ := scriptCalls(nsgScript(added))
	if !slices.Contains(calls, full[len(full)-1]) {
		t.Errorf("the create differs from nsg.sh's:\n%s\n--- nsg.sh\n%s", script, full[len(full)-1])
	}
	if !strings.Contains(string(script), "\n# Rules: 1 created, 1 updated, 1 deleted.\n") {
		t.Errorf("the header does not count the changes:\n%s", script)
	}

	// Against the stub: old, then the delta, is new.
	e := newDeltaEnv(t)
	e.setState(t, stubRules(t, old))
	e.mustRun(t, DeltaFileName, script)
	e2 := newDeltaEnv(t)
	e2.setState(t, stubRules(t, new))
	if diff := cmp.Diff(e2.rules(t), e.rules(t)); diff != "" {
		t.Errorf("old + delta is not new (-new +old+delta):\n%s", diff)
	}
}

// TestDeltaFullRender: changes a delta cannot make wrap ErrFullRender and
// name the rule; address changes become one update with the full new
// lists; identical renders give a script without calls.
func TestDeltaFullRender(t *testing.T) {
	base := []armRule{
		testRule("a", 100, "192.0.2.0/24"),
		testRule("b", 110, "192.0.2.128/25"),
	}
	// change returns base with rule i changed by f.
	change := func(i int, f func(*armRule)) []armRule {
		rs := slices.Clone(base)
		f(&rs[i])
		return rs
	}
	rdpDeny := testRule("rdp-deny", 1000, "*")
	rdpDeny.Properties.Access = "Deny"
	for _, c := range []struct {
		name    string
		old     []armRule
		new     []armRule
		bareOld bool     // no default denies in old
		bareNew bool     // nor in new
		full    []string // ErrFullRender, its message holding these
		calls   []string // else the rule calls, continuation lines joined
	}{
		{name: "priority changed", new: change(0, func(r *armRule) { r.Properties.Priority = 120 }), full: []string{"rule a: priority 100 → 120"}},
		{name: "protocol changed", new: change(1, func(r *armRule) { r.Properties.Protocol = "Udp" }), full: []string{"rule b: protocol Tcp → Udp"}},
		{name: "access changed", new: change(0, func(r *armRule) { r.Properties.Access = "Deny" }), full: []string{"rule a: access Allow → Deny"}},
		{name: "direction changed", new: change(0, func(r *armRule) { r.Properties.Direction = outbound }), full: []string{"rule a: direction Inbound → Outbound"}},
		{name: "new rule at an old rule's priority", new: change(1, func(r *armRule) { r.Name = "b2" }), full: []string{"new rule b2 takes the inbound priority 110 of b"}},
		{name: "deny only in old", old: append(slices.Clone(base), rdpDeny), new: base, full: []string{"deny rdp-deny is only in the old render"}},
		{name: "default deny only in old", new: base, bareNew: true, full: []string{"default deny teamsgate-deny-all-inbound", "default deny teamsgate-deny-all-outbound"}},
		{name: "default deny only in new", bareOld: true, new: base, full: []string{"default deny teamsgate-deny-all-inbound is only in the new render"}},
		{name: "default deny changed", old: base, new: append(slices.Clone(base), func() armRule {
			d := defaultDenies()[0]
			d.Properties.Description = "another"
			return d
		}(), defaultDenies()[1]), bareNew: true, full: []string{"default deny teamsgate-deny-all-inbound changed"}},
		{
			name: "only prefixes changed",
			new: change(0, func(r *armRule) {
				r.Properties.SourceAddressPrefix, r.Properties.SourceAddressPrefixes = one([]string{"192.0.2.0/24", "203.0.113.0/24"})
			}),
			calls: []string{`az network nsg rule update --resource-group "$rg" --nsg-name "$nsg" --name 'a' ` +
				`--source-address-prefixes '192.0.2.0/24' '203.0.113.0/24' --destination-address-prefixes '198.51.100.10/32' --output none`},
		},
		{
			name: "ports and description changed",
			new: change(1, func(r *armRule) {
				r.Properties.DestinationPortRange, r.Properties.DestinationPortRanges = one([]string{"443", "8443"})
				r.Properties.Description = "b: it's new"
			}),
			calls: []string{`az network nsg rule update --resource-group "$rg" --nsg-name "$nsg" --name 'b' ` +
				`--destination-port-ranges '443' '8443' --description 'b: it'\''s new' --output none`},
		},
		{name: "identical", new: base, calls: nil},
		{name: "rule name in other case", new: change(0, func(r *armRule) { r.Name = "A" }), calls: nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			old := c.old
			if old == nil {
				old = base
			}
			oldOut := testOutput(t, "1", c.bareOld, old...)
			delta, err := New().Delta(oldOut, testOutput(t, "2", c.bareNew, c.new...))
			if c.full != nil {
				if !errors.Is(err, render.ErrFullRender) {
					t.Fatalf("err = %v, want ErrFullRender", err)
				}
				for _, want := range c.full {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q lacks %q", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			script := delta.Files[DeltaFileName]
			calls, _ := scriptCalls(script)
			var ruleCalls []string
			for _, call := range calls {
				if strings.HasPrefix(call, "az network nsg rule ") {
					ruleCalls = append(ruleCalls, call)
				}
			}
			if diff := cmp.Diff(c.calls, ruleCalls); diff != "" {
				t.Errorf("rule calls (-want +got):\n%s\n%s", diff, script)
			}
			if c.calls == nil {
				if len(calls) != 0 || !strings.Contains(string(script), "# No rule changes") {
					t.Errorf("no change, but the script makes calls or does not say so:\n%s", script)
				}
				if !strings.Contains(string(script), "\nset -euo pipefail\n") {
					t.Errorf("no set -euo pipefail:\n%s", script)
				}
			}
		})
	}
}

// TestDeltaNotARender: a delta of outputs that are not this target's
// renders, or of two NSGs, is an error, not ErrFullRender.
func TestDeltaNotARender(t *testing.T) {
	good := testOutput(t, "1", false, testRule("a", 100, "192.0.2.0/24"))
	other := testOutput(t, "1", false, testRule("a", 100, "192.0.2.0/24"))
	var tm armTemplate
	if err := json.Unmarshal(other.Files[TemplateFile], &tm); err != nil {
		t.Fatal(err)
	}
	tm.Parameters.NSGName.DefaultValue = "teamsgate-other"
	b, _ := json.Marshal(tm)
	other.Files[TemplateFile] = b
	for name, pair := range map[string][2]render.Output{
		"no nsg.json":    {{Files: map[string][]byte{ScriptFile: []byte("#!/bin/sh\n")}}, good},
		"not JSON":       {good, {Files: map[string][]byte{TemplateFile: []byte("{")}}},
		"different NSGs": {good, other},
	} {
		if _, err := New().Delta(pair[0], pair[1]); err == nil || errors.Is(err, render.ErrFullRender) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

// TestDeltaNSGMissing: without the NSG, or when the show fails, the delta
// stops after the show and changes nothing.
func TestDeltaNSGMissing(t *testing.T) {
	old, new := threeWay(t)
	delta, err := New().Delta(old, new)
	if err != nil {
		t.Fatal(err)
	}
	e := newDeltaEnv(t)
	for _, c := range []struct {
		name  string
		rules []az.Rule
		extra []string
		want  string
	}{
		{name: "no NSG", want: "NSG teamsgate-test does not exist in resource group rg"},
		{name: "show not authorized", rules: stubRules(t, old), extra: []string{az.EnvFailCmd + "=network nsg show"}, want: "AuthorizationFailed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e.setState(t, c.rules)
			before := e.rules(t)
			code, stderr := e.run(t, DeltaFileName, delta.Files[DeltaFileName], c.extra...)
			if code == 0 || !strings.Contains(stderr, c.want) || !strings.Contains(stderr, "nothing was changed") {
				t.Errorf("exited %d, want a stop saying why:\n%s", code, stderr)
			}
			if got := commands(e.load(t)); !slices.Equal(got, []string{"network nsg show --resource-group"}) {
				t.Errorf("calls %q, want only the show", got)
			}
			if diff := cmp.Diff(before, e.rules(t)); diff != "" {
				t.Errorf("the NSG changed:\n%s", diff)
			}
		})
	}
}

// TestDeltaStopsSafely makes each call of a delta fail in turn: the script
// stops there, and no rule is deleted unless every create and update went
// through.
func TestDeltaStopsSafely(t *testing.T) {
	// Two updates, so that one fails after another went through.
	old := testOutput(t, "1", false,
		testRule("kept", 100, "192.0.2.0/24"),
		testRule("dropped", 110, "192.0.2.128/25"),
		testRule("kept2", 140, "192.0.2.64/26"))
	new := testOutput(t, "2", false,
		testRule("kept", 100, "192.0.2.0/24", "198.51.100.0/24"),
		testRule("added", 120, "203.0.113.0/24"),
		testRule("kept2", 140, "192.0.2.64/27"))
	o, n := stubRules(t, old), stubRules(t, new)
	delta, err := New().Delta(old, new)
	if err != nil {
		t.Fatal(err)
	}
	script := delta.Files[DeltaFileName]
	e := newDeltaEnv(t)
	e.setState(t, o)
	e.mustRun(t, DeltaFileName, script)
	clean := e.load(t).Calls
	if got := verbs(callLines(clean)); !slices.Equal(got, []string{"create", "update", "update", "delete"}) {
		t.Fatalf("clean run: %q", got)
	}
	failedUpdate := false
	clistub.FailEach(t, DeltaFileName, clean, func(k int, when string) (int, int) {
		e.setState(t, o)
		code, _ := e.run(t, DeltaFileName, script, fmt.Sprintf("%s=%d", az.EnvFail, k))
		st := e.load(t)
		if failing := verbs(callLines(clean[k-1 : k])); len(failing) == 0 || failing[0] != "delete" {
			failedUpdate = failedUpdate || len(failing) == 1 && failing[0] == "update"
			if done := verbs(callLines(st.Calls)); slices.Contains(done, "delete") {
				t.Errorf("%s: a delete was called: %q", when, done)
			}
			if !slices.ContainsFunc(e.rules(t), func(s string) bool { return strings.HasPrefix(s, "dropped ") }) {
				t.Errorf("%s: the dropped rule is gone before every create and update went through", when)
			}
		}
		return code, len(st.Calls)
	})
	if !failedUpdate {
		t.Error("no update was made to fail")
	}
	e2 := newDeltaEnv(t)
	e2.setState(t, n)
	e.setState(t, o)
	e.mustRun(t, DeltaFileName, script)
	if diff := cmp.Diff(e2.rules(t), e.rules(t)); diff != "" {
		t.Errorf("old + delta is not new (-new +old+delta):\n%s", diff)
	}
}

// nsgScript is nsg.sh for the rules.
func nsgScript(rules ...*secRule) []byte { return script(rules, nil, "teamsgate-test") }

// callLines turns the stub's log into az command lines.
func callLines(calls []statefile.Call) []string {
	var out []string
	for _, c := range calls {
		out = append(out, "az "+strings.Join(c.Args, " "))
	}
	return out
}
