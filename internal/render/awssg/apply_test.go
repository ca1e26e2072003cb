package awssg_test

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/teamsgate/teamsgate/internal/render/awssg"
	"github.com/teamsgate/teamsgate/internal/render/clistub"
	"github.com/teamsgate/teamsgate/internal/render/clistub/aws"
	"github.com/teamsgate/teamsgate/internal/view"
)

// applyEnv is a rendered apply.sh on disk with the aws stub first on PATH:
// each security group of the render has an id, and the stub's state starts
// with every group as AWS creates it.
type applyEnv struct {
	script string            // path of apply.sh
	state  string            // the stub's state file
	cwd    string            // where apply.sh runs: not its own directory
	ids    map[string]string // environment variable → group id
	want   map[string]aws.Group
	path   string // PATH with the stub first
}

// envName is the variable apply.sh reads a group's id from: SG_ID for a
// scoped render, SG_INTEGRATION_ROLE per role.
func envName(key string) string {
	if key == "" {
		return "SG_ID"
	}
	b := []byte(strings.ToUpper(key))
	for i, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	return "SG_" + string(b)
}

// newApplyEnv renders an example spec (or a spec file: a path ending in
// .yaml), writes the files into a directory
// whose name has a space, and the stub's state with one default group per
// rendered group.
func newApplyEnv(t *testing.T, example string, opts view.Options) *applyEnv {
	t.Helper()
	out, dir, cwd := clistub.Render(t, awssg.New(), example, opts)
	e := &applyEnv{
		script: filepath.Join(dir, awssg.ScriptFile),
		state:  filepath.Join(t.TempDir(), "state.json"),
		cwd:    cwd,
		ids:    map[string]string{},
		want:   map[string]aws.Group{},
		path:   stubPath(t),
	}
	for _, name := range slices.Sorted(maps.Keys(out.Files)) {
		if name == awssg.ScriptFile {
			continue
		}
		base := strings.TrimSuffix(name, ".json")
		key, dir := "", base
		if i := strings.LastIndex(base, "."); i >= 0 {
			key, dir = base[:i], base[i+1:]
		}
		env := envName(key)
		if e.ids[env] == "" {
			e.ids[env] = fmt.Sprintf("sg-%017d", len(e.ids)+1)
		}
		rules := rulesOf(checkInput(t, name, out.Files[name]))
		g := e.want[e.ids[env]]
		if dir == "ingress" {
			g.Ingress = rules
		} else {
			g.Egress = rules
		}
		e.want[e.ids[env]] = g
	}
	e.reset(t)
	return e
}

// reset puts every group back to AWS's defaults and clears the call log.
func (e *applyEnv) reset(t *testing.T) {
	t.Helper()
	st := &aws.State{Groups: map[string]*aws.Group{}}
	for _, id := range e.ids {
		st.Groups[id] = &aws.Group{Ingress: []aws.Rule{}, Egress: slices.Clone(defaultEgress)}
	}
	clistub.Save(t, e.state, st)
}

// run runs apply.sh from e.cwd with the given extra environment.
func (e *applyEnv) run(t *testing.T, extra ...string) (exit int, stderr string) {
	t.Helper()
	env := []string{"PATH=" + e.path, aws.EnvState + "=" + e.state}
	for name, id := range e.ids {
		env = append(env, name+"="+id)
	}
	return clistub.Bash(t, e.cwd, append(env, extra...), e.script)
}

func (e *applyEnv) load(t *testing.T) *aws.State {
	t.Helper()
	return clistub.Load[aws.State](t, e.state)
}

func keys(rs []aws.Rule) []string { return clistub.Keys(rs, aws.Rule.Key) }

func contains(have []aws.Rule, want []aws.Rule) bool {
	ks := keys(have)
	for _, r := range want {
		if _, ok := slices.BinarySearch(ks, r.Key()); !ok {
			return false
		}
	}
	return true
}

// checkSafe checks the invariant apply.sh keeps at every step: a group
// that has lost any of its default egress rules has every rendered rule of
// its own, in and out.
func (e *applyEnv) checkSafe(t *testing.T, st *aws.State, when string) {
	t.Helper()
	for id, want := range e.want {
		g := st.Groups[id]
		if contains(g.Egress, defaultEgress) {
			continue
		}
		if !contains(g.Ingress, want.Ingress) || !contains(g.Egress, want.Egress) {
			t.Errorf("%s: group %s lost its default egress before its rules were in:\ningress %q\negress %q", when, id, keys(g.Ingress), keys(g.Egress))
		}
	}
}

// checkApplied checks that every group holds exactly its rendered rules.
func (e *applyEnv) checkApplied(t *testing.T, st *aws.State) {
	t.Helper()
	for id, want := range e.want {
		g := st.Groups[id]
		if diff := cmp.Diff(keys(want.Ingress), keys(g.Ingress)); diff != "" {
			t.Errorf("group %s ingress (-rendered +applied):\n%s", id, diff)
		}
		if diff := cmp.Diff(keys(want.Egress), keys(g.Egress)); diff != "" {
			t.Errorf("group %s egress (-rendered +applied):\n%s", id, diff)
		}
	}
}

// TestApplyFromAnotherDirectory runs every golden render's apply.sh from a
// directory other than its own, which has a space in its path.
func TestApplyFromAnotherDirectory(t *testing.T) {
	for _, c := range goldenCases {
		if c.wantErr {
			continue
		}
		t.Run(c.name()+"/"+c.variant, func(t *testing.T) {
			e := newApplyEnv(t, c.path(), c.options())
			if code, stderr := e.run(t); code != 0 {
				t.Fatalf("apply.sh exited %d:\n%s", code, stderr)
			}
			st := e.load(t)
			e.checkApplied(t, st)
			for _, call := range st.Calls {
				if call.Dir != e.cwd {
					t.Errorf("aws ran in %s, want the caller's directory %s", call.Dir, e.cwd)
				}
			}
		})
	}
}

// TestApplyStopsSafely makes each call of apply.sh fail in turn: the script
// stops there, and no group is left without egress while its rendered rules
// are not all in. It runs in the script's own directory, so that it tests
// the order alone.
func TestApplyStopsSafely(t *testing.T) {
	for _, c := range []struct {
		name  string
		scope string
	}{
		{name: "perimeter"},
		{name: "scoped", scope: "teams-connector-instances"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newApplyEnv(t, specPath(pexipBound), view.Options{Scope: c.scope, FQDN: view.FQDNSkip})
			e.cwd = filepath.Dir(e.script)
			if code, stderr := e.run(t); code != 0 {
				t.Fatalf("apply.sh exited %d:\n%s", code, stderr)
			}
			clistub.FailEach(t, "apply.sh", e.load(t).Calls, func(k int, when string) (int, int) {
				status := []string{"254", "255"}[k%2]
				e.reset(t)
				code, stderr := e.run(t, fmt.Sprintf("%s=%d", aws.EnvFail, k), aws.EnvFailStatus+"="+status)
				st := e.load(t)
				if !strings.Contains(stderr, "apply.sh: stopped") {
					t.Errorf("%s: no message saying where apply.sh stopped:\n%s", when, stderr)
				}
				e.checkSafe(t, st, when)
				return code, len(st.Calls)
			})
		})
	}
}

// TestApplyDefaultRuleAlreadyGone: a group without the IPv6 default rule
// (a VPC without an IPv6 block) or without any, under the older and the
// newer EC2 API, is no error.
func TestApplyDefaultRuleAlreadyGone(t *testing.T) {
	e := newApplyEnv(t, specPath(pexipBound), view.Options{FQDN: view.FQDNSkip})
	for _, api := range []string{"notfound", "unknown"} {
		for _, egress := range [][]aws.Rule{defaultEgress[:1], {}} {
			t.Run(fmt.Sprintf("%s/%d-default-rules", api, len(egress)), func(t *testing.T) {
				e.reset(t)
				st := e.load(t)
				for _, g := range st.Groups {
					g.Egress = slices.Clone(egress)
				}
				clistub.Save(t, e.state, st)
				if code, stderr := e.run(t, aws.EnvRevoke+"="+api); code != 0 {
					t.Fatalf("apply.sh exited %d:\n%s", code, stderr)
				}
				e.checkApplied(t, e.load(t))
			})
		}
	}
}

// TestApplyTwice: a second run stops at its first authorization, which
// AWS answers with InvalidPermission.Duplicate, and changes nothing.
func TestApplyTwice(t *testing.T) {
	e := newApplyEnv(t, specPath(pexipBound), view.Options{FQDN: view.FQDNSkip})
	if code, stderr := e.run(t); code != 0 {
		t.Fatalf("first run exited %d:\n%s", code, stderr)
	}
	first := e.load(t)
	code, stderr := e.run(t)
	if code == 0 || !strings.Contains(stderr, "InvalidPermission.Duplicate") {
		t.Errorf("second run exited %d, want a stop at InvalidPermission.Duplicate:\n%s", code, stderr)
	}
	second := e.load(t)
	if len(second.Calls) != len(first.Calls)+1 {
		t.Errorf("second run made %d calls, want 1", len(second.Calls)-len(first.Calls))
	}
	e.checkApplied(t, second)
}

// TestApplyChecksBeforeChanging: a missing group id or JSON file stops
// apply.sh before its first call.
func TestApplyChecksBeforeChanging(t *testing.T) {
	e := newApplyEnv(t, specPath(pexipBound), view.Options{FQDN: view.FQDNSkip})
	last := envName("pexip-teams-connector.management")
	if _, ok := e.ids[last]; !ok {
		t.Fatalf("no group %s in %v", last, e.ids)
	}
	code, stderr := e.run(t, last+"=")
	if code == 0 || !strings.Contains(stderr, last) {
		t.Errorf("without %s: exit %d:\n%s", last, code, stderr)
	}
	if n := len(e.load(t).Calls); n != 0 {
		t.Errorf("without %s: %d calls before stopping", last, n)
	}
	e.reset(t)
	missing := filepath.Join(filepath.Dir(e.script), "pexip-teams-connector.management.egress.json")
	if err := os.Remove(missing); err != nil {
		t.Fatal(err)
	}
	code, stderr = e.run(t)
	if code == 0 || !strings.Contains(stderr, missing) {
		t.Errorf("without %s: exit %d:\n%s", missing, code, stderr)
	}
	if n := len(e.load(t).Calls); n != 0 {
		t.Errorf("without %s: %d calls before stopping", missing, n)
	}
}

// TestStubFileRelativeToCaller: the stub, like the AWS CLI, reads a
// relative file:// path from its working directory, which is what made
// apply.sh fail outside its own directory.
func TestStubFileRelativeToCaller(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ingress.json"), []byte(`{"GroupId":"sg-1","IpPermissions":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state.json")
	clistub.Save(t, state, &aws.State{Groups: map[string]*aws.Group{"sg-1": {}}})
	for _, c := range []struct {
		cwd        string
		wantStatus int
	}{
		{cwd: dir, wantStatus: 0},
		{cwd: t.TempDir(), wantStatus: 252},
	} {
		env := []string{"PATH=" + stubPath(t), aws.EnvState + "=" + state}
		status, stderr := clistub.Bash(t, c.cwd, env, "-c", "aws ec2 authorize-security-group-ingress --group-id sg-1 --cli-input-json file://ingress.json")
		if status != c.wantStatus {
			t.Errorf("in %s: exit %d, want %d:\n%s", c.cwd, status, c.wantStatus, stderr)
		}
		if c.wantStatus != 0 && !strings.Contains(stderr, "Unable to load paramfile file://ingress.json: [Errno 2] No such file or directory: 'ingress.json'") {
			t.Errorf("in %s: %s", c.cwd, stderr)
		}
	}
}
