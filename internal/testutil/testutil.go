// Package testutil holds helpers shared by the tests: planning the example
// specs, and golden files with -update.
package testutil

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/planfile"
)

// Update is the -update flag: rewrite golden files instead of comparing.
var Update = flag.Bool("update", false, "rewrite golden files")

// Root returns the repository root.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Examples returns the example spec names (without .yaml) that every
// renderer and the planner are tested with.
func Examples() []string {
	return []string{"messaging-bot", "calling-bot", "pexip", "teamspro", "combined"}
}

// ExamplePath returns the path of an example spec.
func ExamplePath(name string) string {
	return filepath.Join(Root(), "examples", name+".yaml")
}

// Plan plans a spec file with the embedded catalog, or with the catalog
// overlay directory when overlay is not empty. It fails the test on any
// error diagnostic.
func Plan(t testing.TB, specFile, overlay string) *model.Plan {
	t.Helper()
	cat, ds := planfile.Catalog(overlay)
	if ds.HasErrors() {
		t.Fatalf("catalog: %s", ds)
	}
	pl, ds := planfile.ReadFile(cat, specFile)
	if ds.HasErrors() {
		t.Fatalf("spec and plan: %s", ds)
	}
	return pl.Plan
}

// PlanBytes plans spec text with the embedded catalog (or overlay).
func PlanBytes(t testing.TB, specYAML, overlay string) *model.Plan {
	t.Helper()
	f := filepath.Join(t.TempDir(), "spec.yaml")
	if err := os.WriteFile(f, []byte(specYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	return Plan(t, f, overlay)
}

// Golden compares got with the golden file at path, or rewrites it under
// -update.
func Golden(t testing.TB, path string, got []byte) {
	t.Helper()
	if *Update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden file: %v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the output (-want +got):\n%s", path, cmp.Diff(string(want), string(got)))
	}
}

// M365Overlay returns a catalog overlay directory, made for the test,
// whose Worldwide (and GCC) Microsoft 365 data is the endpoints file
// m365File (relative to the repository root), with the given version, as
// catalog update would write it.
func M365Overlay(t testing.TB, m365File, version string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(Root(), m365File))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "m365"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "m365", "worldwide.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	date := version[:4] + "-" + version[4:6] + "-" + version[6:8]
	cat := "version: data.worldwide-" + version + "\nm365:\n" +
		"  worldwide: { file: m365/worldwide.json, instance: Worldwide, version: \"" + version + "\", date: \"" + date + "\" }\n" +
		"  gcc: { file: m365/worldwide.json, instance: Worldwide, version: \"" + version + "\", date: \"" + date + "\" }\n"
	if err := os.WriteFile(filepath.Join(dir, "catalog.yaml"), []byte(cat), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}
