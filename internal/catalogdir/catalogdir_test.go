package catalogdir

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func m365Update(data string) Update {
	return Update{M365: []M365{{
		Clouds: []string{"worldwide", "gcc"}, Instance: "Worldwide", File: "worldwide.json",
		Version: "2026120100", Date: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), Source: "test", Data: []byte(data),
	}}}
}

func read(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestApplyKeepsTheUsersFiles: update owns its keys and files; the user's
// keys, comments and other files stay.
func TestApplyKeepsTheUsersFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cat")
	user := "# my lab overlay\nversion: lab1\naddress_sets:\n  teams-service:\n    values:\n      worldwide: { prefixes: [198.18.0.0/24] } # the lab's Teams\n"
	if err := os.MkdirAll(filepath.Join(dir, "integrations"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, CatalogFile), []byte(user), 0o644)
	os.WriteFile(filepath.Join(dir, "integrations", "mine.yaml"), []byte("integration: mine\n"), 0o600)

	res, err := Apply(dir, m365Update("[1]"), nil)
	if err != nil || !res.Changed || res.Previous != dir+PreviousSuffix {
		t.Fatalf("Apply: %+v, %v", res, err)
	}
	got := read(t, filepath.Join(dir, CatalogFile))
	for _, want := range []string{"# my lab overlay", "# the lab's Teams", "198.18.0.0/24", "worldwide: {file: m365/worldwide.json, instance: Worldwide, version: \"2026120100\", date: \"2026-12-01\", source: test}", "version: data.worldwide-2026120100\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("catalog.yaml lacks %q:\n%s", want, got)
		}
	}
	if read(t, filepath.Join(dir, "integrations", "mine.yaml")) != "integration: mine\n" {
		t.Errorf("the user's integration was not kept")
	}
	if st, _ := os.Stat(filepath.Join(dir, "integrations", "mine.yaml")); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600 kept", st.Mode().Perm())
	}
	if read(t, filepath.Join(dir, M365Dir, "worldwide.json")) != "[1]" {
		t.Errorf("data file not written")
	}
	if read(t, filepath.Join(res.Previous, CatalogFile)) != user {
		t.Errorf("the previous directory does not hold the replaced catalog")
	}
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(got), &doc); err != nil {
		t.Fatal(err)
	}
}

// TestApplyNoChange: the same data again writes nothing.
func TestApplyNoChange(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cat")
	if _, err := Apply(dir, m365Update("[1]"), nil); err != nil {
		t.Fatal(err)
	}
	st1, _ := os.Stat(filepath.Join(dir, CatalogFile))
	res, err := Apply(dir, m365Update("[1]"), nil)
	if err != nil || res.Changed {
		t.Fatalf("same data: %+v %v", res, err)
	}
	st2, _ := os.Stat(filepath.Join(dir, CatalogFile))
	if !st1.ModTime().Equal(st2.ModTime()) || !os.SameFile(st1, st2) {
		t.Errorf("catalog.yaml was rewritten")
	}
}

// TestApplyFirstRun: without DIR, the update creates it and a baseline
// DIR.previous that stands for the embedded catalog.
func TestApplyFirstRun(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cat")
	res, err := Apply(dir, m365Update("[1]"), nil)
	if err != nil || res.Previous != dir+PreviousSuffix {
		t.Fatalf("%+v %v", res, err)
	}
	if got := read(t, filepath.Join(res.Previous, CatalogFile)); !strings.Contains(got, "\nversion: embedded\n") {
		t.Errorf("baseline: %q", got)
	}
	// A directory with only the ClientRequestId (an online first run that
	// made it) is a baseline too once exchanged.
	dir2 := filepath.Join(t.TempDir(), "cat")
	if _, err := ClientID(dir2, func() (string, error) { return "0b3b3c50-8a37-4c51-9f39-6c1e6f8e2f10", nil }, func(string) error { return nil }); err != nil {
		t.Fatal(err)
	}
	res, err = Apply(dir2, m365Update("[1]"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(res.Previous, CatalogFile)); !strings.Contains(got, "version: embedded") {
		t.Errorf("baseline after a ClientRequestId-only directory: %q", got)
	}
	if read(t, filepath.Join(dir2, ClientIDFile)) != "0b3b3c50-8a37-4c51-9f39-6c1e6f8e2f10\n" {
		t.Errorf("the ClientRequestId was not carried into the new directory")
	}
}

// TestApplyVerifyFails: a staged catalog that does not verify leaves the
// directory exactly as it was, and no staging directory behind.
func TestApplyVerifyFails(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "cat")
	if _, err := Apply(dir, m365Update("[1]"), nil); err != nil {
		t.Fatal(err)
	}
	before := read(t, filepath.Join(dir, CatalogFile))
	_, err := Apply(dir, m365Update("[2]"), func(staged string) error {
		if read(t, filepath.Join(staged, M365Dir, "worldwide.json")) != "[2]" {
			t.Errorf("verify does not see the staged data")
		}
		return errors.New("does not load")
	})
	if err == nil || err.Error() != "does not load" {
		t.Fatalf("err %v", err)
	}
	if read(t, filepath.Join(dir, M365Dir, "worldwide.json")) != "[1]" || read(t, filepath.Join(dir, CatalogFile)) != before {
		t.Errorf("the directory changed")
	}
	entries, _ := os.ReadDir(parent)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".new-") {
			t.Errorf("staging directory left: %s", e.Name())
		}
	}
}

// TestApplyLocked: a second update of the same directory while one runs is
// refused, not interleaved.
func TestApplyLocked(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cat")
	unlock, err := lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Apply(dir, m365Update("[1]"), nil); err == nil || !strings.Contains(err.Error(), "being updated by another process") {
		t.Errorf("err %v", err)
	}
	unlock()
	if _, err := Apply(dir, m365Update("[1]"), nil); err != nil {
		t.Errorf("after unlock: %v", err)
	}
}

// TestApplyNotAMapping: a catalog.yaml update cannot edit is an error, and
// nothing changes.
func TestApplyNotAMapping(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cat")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, CatalogFile), []byte("- a list\n"), 0o644)
	if _, err := Apply(dir, m365Update("[1]"), nil); err == nil || !strings.Contains(err.Error(), "not a mapping") {
		t.Errorf("err %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, M365Dir)); err == nil {
		t.Errorf("data written")
	}
}

// FuzzEditCatalog: whatever catalog.yaml a user keeps, editing it never
// panics, and an edit that succeeds is YAML holding the update's entries.
func FuzzEditCatalog(f *testing.F) {
	f.Add([]byte("version: lab1\naddress_sets: {}\n"))
	f.Add([]byte("# c\nm365: [1, 2]\nservice_tags: x\n"))
	f.Add([]byte("m365:\n  dod: {file: a}\nversion: {a: b}\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, old []byte) {
		u := m365Update("[]")
		u.Tags = []Tags{{Cloud: "Public", ChangeNumber: 398, Date: time.Date(2026, 4, 30, 0, 0, 0, 0, time.UTC), Data: []byte("{}")}}
		out, err := editCatalog(old, u)
		if err != nil {
			return
		}
		// The user's own entries stay as they are (the catalog loader
		// judges them); the update's must be there.
		var doc struct {
			Version     any            `yaml:"version"`
			M365        map[string]any `yaml:"m365"`
			ServiceTags map[string]any `yaml:"service_tags"`
			Rest        map[string]any `yaml:",inline"`
		}
		if err := yaml.Unmarshal(out, &doc); err != nil {
			t.Fatalf("edited catalog.yaml does not parse: %v\n%s", err, out)
		}
		ww, _ := doc.M365["worldwide"].(map[string]any)
		pub, _ := doc.ServiceTags["Public"].(map[string]any)
		v, _ := doc.Version.(string)
		if ww["version"] != "2026120100" || pub["change_number"] != 398 || !strings.HasPrefix(v, "data.") {
			t.Fatalf("edited catalog.yaml lacks the update:\n%s", out)
		}
	})
}
