// Package clistub runs the shell scripts that render targets generate
// against stand-in CLIs: small Go programs that keep the cloud's state in a
// file (see statefile) and answer as the real CLI does. It builds a stub
// once per test binary and puts it first on PATH, runs a script with it,
// and makes each of a script's calls fail in turn.
//
// A stub is a program of its own, not the test binary started under
// another name: a script calls it hundreds of times per test, and a small
// binary starts some forty times faster.
//
// A test package that calls Path calls Main from its TestMain, which
// removes the stubs when the tests are done.
package clistub

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/teamsgate/teamsgate/internal/render"
	"github.com/teamsgate/teamsgate/internal/render/clistub/statefile"
	"github.com/teamsgate/teamsgate/internal/testutil"
	"github.com/teamsgate/teamsgate/internal/view"
)

// build is the outcome of building one stub.
type build struct {
	pkg string
	err error
}

var (
	mu     sync.Mutex
	binDir string               // holds every stub built; Main removes it
	builds = map[string]build{} // by the stub's name
)

// Main runs the tests of a package that uses Path, removes the stubs Path
// built and exits with the tests' status. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	mu.Lock()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	mu.Unlock()
	os.Exit(code)
}

// Path returns a PATH whose first directory holds the Go program in pkgDir
// (relative to the test's package, as "./testdata/awsstub") built as name.
// It builds each stub once per test binary.
func Path(t testing.TB, name, pkgDir string) string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	b, ok := builds[name]
	if !ok {
		b = build{pkg: pkgDir, err: buildStub(name, pkgDir)}
		builds[name] = b
	}
	if b.err != nil {
		t.Fatal(b.err)
	}
	if b.pkg != pkgDir {
		t.Fatalf("clistub: %q is built from %s, not %s", name, b.pkg, pkgDir)
	}
	return binDir + string(os.PathListSeparator) + os.Getenv("PATH")
}

// buildStub builds pkgDir into binDir as name. Called with mu held.
func buildStub(name, pkgDir string) error {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	if binDir == "" {
		if binDir, err = os.MkdirTemp("", "clistub"); err != nil {
			return err
		}
	}
	out, err := exec.Command(goTool, "build", "-o", filepath.Join(binDir, name), pkgDir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkgDir, err, out)
	}
	return nil
}

// Bash runs bash with args in dir, with env added to the environment, and
// returns its exit status and standard error. It skips the test where bash
// is not installed.
func Bash(t testing.TB, dir string, env []string, args ...string) (exit int, stderr string) {
	t.Helper()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash is not installed: the scripts cannot be run")
	}
	cmd := exec.Command(bash, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		var x *exec.ExitError
		if errors.As(err, &x) {
			return x.ExitCode(), errb.String()
		}
		t.Fatal(err)
	}
	return 0, errb.String()
}

// Load reads a stub's state file, failing the test if it cannot.
func Load[S any](t testing.TB, path string) *S {
	t.Helper()
	st, err := statefile.Load[S](path)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// Save writes a stub's state file, failing the test if it cannot.
func Save(t testing.TB, path string, st any) {
	t.Helper()
	if err := statefile.Save(path, st); err != nil {
		t.Fatal(err)
	}
}

// FailEach makes each call of a script fail in turn, and checks that the
// script stops there: it exits non-zero, having made no call after the
// failing one. clean is the stub's log of a clean run, and what names the
// script (and its setting) in messages.
//
// For each call k of the clean run, fail puts the stub's state back to
// where the clean run started, runs the script with call k failing and
// returns its exit status and the number of calls the stub logged. It also
// checks what the script must keep true at every step, using when, which
// says which call failed, in its messages.
func FailEach(t testing.TB, what string, clean []statefile.Call, fail func(k int, when string) (exit, calls int)) {
	t.Helper()
	if len(clean) == 0 {
		t.Fatalf("%s made no calls", what)
	}
	for k := 1; k <= len(clean); k++ {
		when := fmt.Sprintf("%s, call %d of %d failing (%s)", what, k, len(clean), strings.Join(clean[k-1].Args, " "))
		exit, calls := fail(k, when)
		if exit == 0 {
			t.Errorf("%s: exited 0", when)
		}
		if calls != k {
			t.Errorf("%s: made %d calls, want it to stop at the failing one", when, calls)
		}
	}
}

// Render renders an example spec (or, for a name ending in .yaml, the
// spec file of that path) with r, failing the test on error diagnostics,
// and writes the files into a new directory whose name has a space. It
// returns the output, that directory, and another directory to run the
// script from: a script must work wherever the user put it and from
// wherever it is run.
func Render(t testing.TB, r render.Renderer, example string, opts view.Options) (out render.Output, dir, cwd string) {
	t.Helper()
	spec := example
	if !strings.HasSuffix(spec, ".yaml") {
		spec = testutil.ExamplePath(example)
	}
	out, ds := r.Render(testutil.Plan(t, spec, ""), opts)
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	root := t.TempDir()
	dir, cwd = filepath.Join(root, "rendered rules"), filepath.Join(root, "elsewhere")
	for _, d := range []string{dir, cwd} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, b := range out.Files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return out, dir, cwd
}

// Keys returns the keys of rules, sorted, for comparing rule lists as the
// cloud does: by what identifies a rule there, whatever their order. It
// returns an empty list, not nil, for no rules, so that cmp.Diff sees no
// difference between two empty lists.
func Keys[R any](rules []R, key func(R) string) []string {
	out := make([]string, 0, len(rules))
	for _, r := range rules {
		out = append(out, key(r))
	}
	slices.Sort(out)
	return out
}
