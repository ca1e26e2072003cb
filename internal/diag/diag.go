// Package diag carries positioned diagnostics from every parser and validator.
//
// A parser never stops at the first problem: it returns the value it could
// build and a List of every problem found, each with a position and a
// subject, in the manner of Prometheus' rulefmt and Terraform's tfdiags.
package diag

import (
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

// Severity says whether a diagnostic blocks the result (Error) or only
// informs (Warning). The zero value is Error, so a forgotten severity fails
// closed.
type Severity uint8

const (
	Error Severity = iota
	Warning
)

func (s Severity) String() string {
	if s == Warning {
		return "warning"
	}
	return "error"
}

// MarshalText renders the severity as "error" or "warning".
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Pos is a position in an input file. Line and Col are 1-based; zero means
// unknown. The zero Pos prints as nothing.
type Pos struct {
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
	Col  int    `json:"col,omitempty"`
}

// String renders file:line:col, leaving out the parts that are unknown.
func (p Pos) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		if b.Len() > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%d", p.Line)
		if p.Col > 0 {
			fmt.Fprintf(&b, ":%d", p.Col)
		}
	}
	return b.String()
}

// Diagnostic is one problem found in an input: where, about what, and what.
type Diagnostic struct {
	Severity Severity `json:"severity"`
	Pos      Pos      `json:"pos,omitzero"`
	// Subject names the thing the problem is about: a flow id, a role, a
	// rule name. It may be empty.
	Subject string `json:"subject,omitempty"`
	Message string `json:"message"`
}

// String renders "file:line:col: subject: message", with "warning: " before
// the message for warnings.
func (d Diagnostic) String() string {
	var parts []string
	if p := d.Pos.String(); p != "" {
		parts = append(parts, p)
	}
	if d.Severity == Warning {
		parts = append(parts, "warning")
	}
	if d.Subject != "" {
		parts = append(parts, d.Subject)
	}
	parts = append(parts, d.Message)
	return strings.Join(parts, ": ")
}

// List is an ordered collection of diagnostics. The zero value is empty and
// ready to use.
type List []Diagnostic

// Errorf appends an error at pos about subject.
func (l *List) Errorf(pos Pos, subject, format string, args ...any) {
	*l = append(*l, Diagnostic{Severity: Error, Pos: pos, Subject: subject, Message: fmt.Sprintf(format, args...)})
}

// Warnf appends a warning at pos about subject.
func (l *List) Warnf(pos Pos, subject, format string, args ...any) {
	*l = append(*l, Diagnostic{Severity: Warning, Pos: pos, Subject: subject, Message: fmt.Sprintf(format, args...)})
}

// Append adds all of other to l.
func (l *List) Append(other List) { *l = append(*l, other...) }

// HasErrors reports whether any diagnostic is an error.
func (l List) HasErrors() bool {
	for _, d := range l {
		if d.Severity == Error {
			return true
		}
	}
	return false
}

// Errors returns the error diagnostics only.
func (l List) Errors() List { return l.filter(Error) }

// Warnings returns the warning diagnostics only.
func (l List) Warnings() List { return l.filter(Warning) }

func (l List) filter(s Severity) List {
	var out List
	for _, d := range l {
		if d.Severity == s {
			out = append(out, d)
		}
	}
	return out
}

// Sort orders the list by file, line, column and message, so that output is
// deterministic whatever order the checks ran in.
func (l List) Sort() {
	sort.SliceStable(l, func(i, j int) bool {
		a, b := l[i], l[j]
		if a.Pos.File != b.Pos.File {
			return a.Pos.File < b.Pos.File
		}
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line < b.Pos.Line
		}
		if a.Pos.Col != b.Pos.Col {
			return a.Pos.Col < b.Pos.Col
		}
		return a.Message < b.Message
	})
}

// Err returns nil when the list holds no errors, and otherwise an error whose
// text is every error diagnostic, one per line. errors.As finds the list.
func (l List) Err() error {
	errs := l.Errors()
	if len(errs) == 0 {
		return nil
	}
	return &ListError{List: errs}
}

// String renders every diagnostic, one per line.
func (l List) String() string {
	lines := make([]string, len(l))
	for i, d := range l {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// WithFile sets File on every diagnostic that has none, as ParseFile does
// for a Parse that only saw bytes.
func (l List) WithFile(name string) List {
	for i := range l {
		if l[i].Pos.File == "" {
			l[i].Pos.File = name
		}
	}
	return l
}

// ListError is the error form of a List of error diagnostics.
type ListError struct{ List List }

func (e *ListError) Error() string { return e.List.String() }

// AsList returns the diagnostics behind err when it is (or wraps) a
// *ListError, and otherwise a single diagnostic holding err's text.
func AsList(err error) List {
	var le *ListError
	if errors.As(err, &le) {
		return le.List
	}
	return List{{Severity: Error, Message: err.Error()}}
}

// FileReason says why a file could not be read, in the user's terms: "no
// such file", "permission denied", "it is a directory", or the system's
// reason without the operation and path Go's file errors carry (the
// diagnostic already names the file).
func FileReason(err error) string {
	var pe *fs.PathError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "no such file"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	case errors.As(err, &pe):
		if pe.Err.Error() == "is a directory" {
			return "it is a directory, not a file"
		}
		return pe.Err.Error()
	}
	return err.Error()
}
