// Package atomicfile writes output files so that a reader never sees a
// half-written one: data goes to a temporary file in the same directory,
// which is synced and then renamed over the target.
package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// WriteFile writes data to path atomically with the given permissions.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	tmp, err := stage(path, data, perm)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %q: %w", path, err)
	}
	return nil
}

// WriteFiles writes every file (name relative to dir) atomically. All files
// are staged first; if any staging fails, nothing is renamed into place and
// the staged files are removed.
func WriteFiles(dir string, files map[string][]byte, perm os.FileMode) error {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	staged := make(map[string]string, len(names))
	cleanup := func() {
		for _, t := range staged {
			os.Remove(t)
		}
	}
	for _, n := range names {
		p := filepath.Join(dir, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			cleanup()
			return fmt.Errorf("write %q: %w", p, err)
		}
		t, err := stage(p, files[n], perm)
		if err != nil {
			cleanup()
			return err
		}
		staged[p] = t
	}
	// A directory where a file must go would make its rename fail after
	// others succeeded: refuse before renaming anything.
	for _, n := range names {
		p := filepath.Join(dir, n)
		if st, err := os.Lstat(p); err == nil && st.IsDir() {
			cleanup()
			return fmt.Errorf("write %q: is a directory", p)
		}
	}
	var errs []error
	for _, n := range names {
		p := filepath.Join(dir, n)
		if err := os.Rename(staged[p], p); err != nil {
			errs = append(errs, fmt.Errorf("write %q: %w", p, err))
			os.Remove(staged[p])
		}
	}
	return errors.Join(errs...)
}

func stage(path string, data []byte, perm os.FileMode) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("write %q: %w", path, err)
	}
	name := f.Name()
	_, werr := f.Write(data)
	if werr == nil {
		werr = f.Chmod(perm)
	}
	if werr == nil {
		werr = f.Sync()
	}
	cerr := f.Close()
	if werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(name)
		return "", fmt.Errorf("write %q: %w", path, werr)
	}
	return name, nil
}
