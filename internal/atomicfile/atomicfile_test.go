package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.txt")
	if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	st, _ := os.Stat(p)
	if string(b) != "new" || st.Mode().Perm() != 0o600 {
		t.Errorf("content %q mode %v", b, st.Mode())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
}

// TestWriteFilesAllOrNothing makes the second file unwritable and checks
// that neither is written and no temporary file remains.
func TestWriteFilesAllOrNothing(t *testing.T) {
	// A regular file where a directory must go fails even for root, who
	// ignores permissions.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "blocker"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	err := WriteFiles(dir, map[string][]byte{
		"a.conf":          []byte("a"),
		"blocker/b.conf":  []byte("b"), // blocker is a file: cannot hold b.conf
		"c/nested/c.conf": []byte("c"),
	}, 0o644)
	if err == nil {
		t.Fatal("WriteFiles succeeded with an impossible path")
	}
	for _, name := range []string{"a.conf", "c/nested/c.conf"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			t.Errorf("%s was written although another file failed", name)
		}
	}
	var left []string
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && filepath.Base(p) != "blocker" {
			left = append(left, p)
		}
		return nil
	})
	if len(left) != 0 {
		t.Errorf("files left behind: %v", left)
	}
}

func TestWriteFilesDirectoryInTheWay(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "rules.v6"), 0o755); err != nil {
		t.Fatal(err)
	}
	err := WriteFiles(dir, map[string][]byte{"rules.v4": []byte("4"), "rules.v6": []byte("6")}, 0o644)
	if err == nil {
		t.Fatal("WriteFiles succeeded over a directory")
	}
	if _, err := os.Stat(filepath.Join(dir, "rules.v4")); err == nil {
		t.Errorf("rules.v4 written although rules.v6 could not be")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
}
