package azurensg_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/teamsgate/teamsgate/internal/render/azurensg"
	"github.com/teamsgate/teamsgate/internal/render/clistub"
	"github.com/teamsgate/teamsgate/internal/render/clistub/az"
	"github.com/teamsgate/teamsgate/internal/view"
)

// userRule is a rule of the user's in an existing NSG: nsg.sh must leave
// it alone. Its priority is one the renders below do not use.
var userRule = az.Rule{
	Name: "admin-ssh", Priority: 3000, Direction: "Inbound", Access: "Allow", Protocol: "Tcp",
	Src: []string{"192.0.2.200/32"}, SrcPorts: []string{"*"}, Dst: []string{"*"}, DstPorts: []string{"22"},
}

// shEnv is a rendered nsg.sh on disk with the az stub first on PATH.
type shEnv struct {
	script string
	state  string
	cwd    string // where nsg.sh runs: not its own directory
	path   string
	want   []az.Rule // the template's rules
}

// newShEnv renders an example spec and writes its files into a directory
// whose name has a space.
func newShEnv(t *testing.T, example string, opts view.Options) *shEnv {
	t.Helper()
	out, dir, cwd := clistub.Render(t, azurensg.New(), example, opts)
	return &shEnv{
		script: filepath.Join(dir, azurensg.ScriptFile),
		state:  filepath.Join(t.TempDir(), "state.json"),
		cwd:    cwd,
		path:   clistub.Path(t, "az", "./testdata/azstub"),
		want:   templateRules(t, out.Files[azurensg.TemplateFile]),
	}
}

// templateRules reads the template's rules in the stub's form.
func templateRules(t *testing.T, b []byte) []az.Rule {
	t.Helper()
	var tm struct {
		Resources []struct {
			Properties struct {
				SecurityRules []struct {
					Name       string
					Properties struct {
						Priority                   int
						Direction, Access          string
						Protocol, Description      string
						SourceAddressPrefix        string
						SourceAddressPrefixes      []string
						SourcePortRange            string
						SourcePortRanges           []string
						DestinationAddressPrefix   string
						DestinationAddressPrefixes []string
						DestinationPortRange       string
						DestinationPortRanges      []string
					}
				}
			}
		}
	}
	if err := json.Unmarshal(b, &tm); err != nil {
		t.Fatal(err)
	}
	list := func(one string, many []string) []string {
		if one != "" {
			return []string{one}
		}
		return many
	}
	var out []az.Rule
	for _, r := range tm.Resources[0].Properties.SecurityRules {
		p := r.Properties
		out = append(out, az.Rule{
			Name: r.Name, Priority: p.Priority, Direction: p.Direction, Access: p.Access, Protocol: p.Protocol,
			Src: list(p.SourceAddressPrefix, p.SourceAddressPrefixes), SrcPorts: list(p.SourcePortRange, p.SourcePortRanges),
			Dst: list(p.DestinationAddressPrefix, p.DestinationAddressPrefixes), DstPorts: list(p.DestinationPortRange, p.DestinationPortRanges),
			Description: p.Description,
		})
	}
	return out
}

// setState starts the stub with the resource group "rg", and in it the NSG
// "teamsgate-test" with the given rules unless existing is nil.
func (e *shEnv) setState(t *testing.T, existing []az.Rule) {
	t.Helper()
	st := &az.State{ResourceGroups: map[string]*az.ResourceGroup{"rg": {NSGs: map[string]*az.NSG{}}}}
	if existing != nil {
		st.ResourceGroups["rg"].NSGs["teamsgate-test"] = &az.NSG{Tags: map[string]string{"owner": "network team"}, Rules: slices.Clone(existing)}
	}
	clistub.Save(t, e.state, st)
}

func (e *shEnv) run(t *testing.T, extra ...string) (int, string) {
	t.Helper()
	env := []string{"PATH=" + e.path, az.EnvState + "=" + e.state, "RESOURCE_GROUP=rg", "NSG_NAME=teamsgate-test"}
	return clistub.Bash(t, e.cwd, append(env, extra...), e.script)
}

func (e *shEnv) load(t *testing.T) *az.State {
	t.Helper()
	return clistub.Load[az.State](t, e.state)
}

// nsgOf returns the test NSG, or nil.
func nsgOf(st *az.State) *az.NSG {
	if rg := st.ResourceGroups["rg"]; rg != nil {
		return rg.NSGs["teamsgate-test"]
	}
	return nil
}

func ruleStrings(rs []az.Rule) []string { return clistub.Keys(rs, az.Rule.String) }

// checkApplied checks that the NSG holds the template's rules and the
// given others.
func (e *shEnv) checkApplied(t *testing.T, st *az.State, others ...az.Rule) {
	t.Helper()
	g := nsgOf(st)
	if g == nil {
		t.Fatal("no NSG")
	}
	if diff := cmp.Diff(ruleStrings(append(slices.Clone(e.want), others...)), ruleStrings(g.Rules)); diff != "" {
		t.Errorf("NSG rules (-want +got):\n%s", diff)
	}
}

// checkSafe checks what nsg.sh keeps true at every step: the user's rules
// stay, and a default deny is in only once every other rendered rule is.
func (e *shEnv) checkSafe(t *testing.T, st *az.State, when string, user []az.Rule) {
	t.Helper()
	g := nsgOf(st)
	if g == nil {
		if user != nil {
			t.Errorf("%s: the existing NSG is gone", when)
		}
		return
	}
	have := ruleStrings(g.Rules)
	for _, r := range user {
		if !slices.Contains(have, r.String()) {
			t.Errorf("%s: the user's rule %s is gone", when, r.Name)
		}
	}
	if user != nil && g.Tags["owner"] == "" {
		t.Errorf("%s: the NSG lost its tags: it was replaced", when)
	}
	denies := false
	for _, r := range g.Rules {
		denies = denies || strings.HasPrefix(r.Name, "teamsgate-deny-all-")
	}
	if !denies {
		return
	}
	for _, r := range e.want {
		if !strings.HasPrefix(r.Name, "teamsgate-deny-all-") && !slices.Contains(have, r.String()) {
			t.Errorf("%s: a default deny is in before rule %s", when, r.Name)
		}
	}
}

// TestScriptRuns runs every golden render's nsg.sh, from a directory other
// than its own, on a new NSG and on an existing one with a rule of the
// user's, and twice.
func TestScriptRuns(t *testing.T) {
	for _, c := range goldenCases {
		if c.wantErr {
			continue
		}
		t.Run(c.example+"/"+c.variant, func(t *testing.T) {
			e := newShEnv(t, c.example, c.options())
			for _, r := range e.want {
				if r.Priority == userRule.Priority && r.Direction == userRule.Direction {
					t.Fatalf("the render uses the priority of the user's rule: %s", r)
				}
			}
			for _, existing := range [][]az.Rule{nil, {userRule}} {
				e.setState(t, existing)
				for run := 1; run <= 2; run++ {
					if code, stderr := e.run(t); code != 0 {
						t.Fatalf("existing NSG %v, run %d: nsg.sh exited %d:\n%s", existing != nil, run, code, stderr)
					}
					st := e.load(t)
					e.checkApplied(t, st, existing...)
					e.checkSafe(t, st, fmt.Sprintf("run %d", run), existing)
					for _, call := range st.Calls {
						if call.Dir != e.cwd {
							t.Errorf("az ran in %s, want the caller's directory %s", call.Dir, e.cwd)
						}
					}
				}
			}
		})
	}
}

// TestScriptStopsSafely makes each call of nsg.sh fail in turn, on a new
// NSG and on an existing one: the script stops there, the user's rules
// stay, and no default deny is in before the other rules.
func TestScriptStopsSafely(t *testing.T) {
	e := newShEnv(t, "pexip", view.Options{FQDN: view.FQDNSkip})
	for _, existing := range [][]az.Rule{nil, {userRule}} {
		e.setState(t, existing)
		if code, stderr := e.run(t); code != 0 {
			t.Fatalf("nsg.sh exited %d:\n%s", code, stderr)
		}
		what := fmt.Sprintf("nsg.sh, existing NSG %v", existing != nil)
		clistub.FailEach(t, what, e.load(t).Calls, func(k int, when string) (int, int) {
			e.setState(t, existing)
			code, _ := e.run(t, fmt.Sprintf("%s=%d", az.EnvFail, k))
			st := e.load(t)
			e.checkSafe(t, st, when, existing)
			return code, len(st.Calls)
		})
	}
}

// TestScriptShowFails: when az network nsg show fails for a reason other
// than a missing NSG, nsg.sh stops before changing anything.
func TestScriptShowFails(t *testing.T) {
	e := newShEnv(t, "pexip", view.Options{Scope: "teams-connector-instances", FQDN: view.FQDNSkip})
	for _, c := range []struct {
		name     string
		existing []az.Rule
		noGroup  bool
		want     string
	}{
		{name: "no NSG, show not authorized", want: "AuthorizationFailed"},
		{name: "existing NSG, show not authorized", existing: []az.Rule{userRule}, want: "AuthorizationFailed"},
		// Also exit status 3, but not the NSG that is missing.
		{name: "no resource group", noGroup: true, want: "ResourceGroupNotFound"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e.setState(t, c.existing)
			var extra []string
			if c.noGroup {
				clistub.Save(t, e.state, &az.State{ResourceGroups: map[string]*az.ResourceGroup{}})
			} else {
				extra = append(extra, az.EnvFailCmd+"=network nsg show")
			}
			before := e.load(t)
			code, stderr := e.run(t, extra...)
			st := e.load(t)
			if code == 0 || !strings.Contains(stderr, c.want) || !strings.Contains(stderr, "nothing was changed") {
				t.Errorf("nsg.sh exited %d, want a stop saying why:\n%s", code, stderr)
			}
			var cmds []string
			for _, call := range st.Calls {
				cmds = append(cmds, strings.Join(call.Args[:3], " "))
			}
			if !slices.Equal(cmds, []string{"network nsg show"}) {
				t.Errorf("calls %q, want only the show", cmds)
			}
			st.Calls = nil
			if diff := cmp.Diff(before, st); diff != "" {
				t.Errorf("state changed (-before +after):\n%s", diff)
			}
		})
	}
}
