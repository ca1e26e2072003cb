// Package atomicfile writes output files so that a reader never sees a
// half-written one: data goes to a temporary file in the same directory,
// which is synced and then renamed over the target.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"syscall"
)

// Error is a failure to write an output file, in the user's terms: the
// path and the system's reason, without the system call's name or the
// temporary file's.
type Error struct {
	Path string
	Err  error
}

func (e *Error) Error() string { return fmt.Sprintf("cannot write %q: %s", e.Path, Reason(e.Err)) }

func (e *Error) Unwrap() error { return e.Err }

// Reason returns the system's reason for a file error ("no such file or
// directory", "permission denied"), without the operation and path that
// *fs.PathError and *os.LinkError add.
func Reason(err error) string {
	var pe *fs.PathError
	var le *os.LinkError
	var se *os.SyscallError
	switch {
	case errors.As(err, &pe):
		return pe.Err.Error()
	case errors.As(err, &le):
		return le.Err.Error()
	case errors.As(err, &se):
		return se.Err.Error()
	}
	return err.Error()
}

func fail(path string, err error) error { return &Error{Path: path, Err: err} }

// errIsDir is the reason when a directory is where an output file must go.
var errIsDir = errors.New("a directory is in the way")

// WriteFile writes data to path atomically with the given permissions.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fail(path, errIsDir)
	}
	tmp, err := stage(path, data, perm)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fail(path, err)
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
			if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, fs.ErrExist) {
				return fail(p, fmt.Errorf("%s is a file, not a directory", firstFile(filepath.Dir(p))))
			}
			return fail(p, err)
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
			return fail(p, errIsDir)
		}
	}
	var errs []error
	for _, n := range names {
		p := filepath.Join(dir, n)
		if err := os.Rename(staged[p], p); err != nil {
			errs = append(errs, fail(p, err))
			os.Remove(staged[p])
		}
	}
	return errors.Join(errs...)
}

func stage(path string, data []byte, perm os.FileMode) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", fail(path, err)
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
		return "", fail(path, werr)
	}
	return name, nil
}

// firstFile returns the first ancestor of dir, from the root down, that
// exists and is not a directory: the one in the way of MkdirAll.
func firstFile(dir string) string {
	var chain []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		chain = append(chain, d)
		if next := filepath.Dir(d); next == d {
			break
		}
	}
	for i := len(chain) - 1; i >= 0; i-- {
		if st, err := os.Stat(chain[i]); err == nil && !st.IsDir() {
			return fmt.Sprintf("%q", chain[i])
		}
	}
	return fmt.Sprintf("%q", dir)
}
