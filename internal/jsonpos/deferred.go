package jsonpos

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/teamsgate/teamsgate/internal/diag"
)

// Deferred collects diagnostics about values named by JSON path, for
// parsers that decode with encoding/json: it is fast on large files but
// reports no positions. List finds the positions by parsing the document
// again, so well-formed input pays nothing for them.
type Deferred struct {
	ds    diag.List
	paths []string
}

// Errorf records an error about the value at path ("$[3].ips[1]",
// "$.values[5].properties"), in the form Value.Path gives.
func (d *Deferred) Errorf(path, subject, format string, args ...any) {
	d.ds.Errorf(diag.Pos{}, subject, format, args...)
	d.paths = append(d.paths, path)
}

// Len is the number of diagnostics recorded.
func (d *Deferred) Len() int { return len(d.ds) }

// List returns the diagnostics, each at the line and column of its value
// in data. A path that names no value (a member that is missing, or spelt
// in another case, which encoding/json accepts) takes the position of its
// nearest enclosing value. If data cannot be parsed here (jsonpos refuses
// duplicate keys, which encoding/json takes), the diagnostics keep no
// position rather than a wrong one.
func (d *Deferred) List(data []byte) diag.List {
	if len(d.ds) == 0 {
		return nil
	}
	out := append(diag.List(nil), d.ds...)
	root, ds := Parse(data)
	if ds.HasErrors() {
		return out
	}
	want := map[string]diag.Pos{}
	for _, p := range d.paths {
		for ; p != ""; p = parent(p) {
			want[p] = diag.Pos{}
		}
	}
	root.walk(func(v *Value) bool {
		if _, ok := want[v.Path]; !ok {
			return false // nothing wanted below a value that is not wanted itself
		}
		want[v.Path] = v.Pos
		return true
	})
	for i, p := range d.paths {
		for ; p != ""; p = parent(p) {
			if pos := want[p]; pos.Line > 0 {
				out[i].Pos = pos
				break
			}
		}
	}
	return out
}

// walk calls f for v and, while f returns true, for its children.
func (v *Value) walk(f func(*Value) bool) {
	if !f(v) {
		return
	}
	for _, it := range v.Items {
		it.walk(f)
	}
	for _, fl := range v.Fields {
		fl.Value.walk(f)
	}
}

// parent is the path of the value enclosing the one at path, "" above the
// root or for a path that is not one Value.Path would give.
func parent(path string) string {
	if !strings.HasPrefix(path, "$") {
		return ""
	}
	last := -1 // where the last segment starts
	for i := 1; i < len(path); {
		last = i
		switch {
		case path[i] == '.':
			i++
			for i < len(path) && path[i] != '.' && path[i] != '[' {
				i++
			}
		case strings.HasPrefix(path[i:], `["`):
			q, err := strconv.QuotedPrefix(path[i+1:])
			if err != nil || !strings.HasPrefix(path[i+1+len(q):], "]") {
				return ""
			}
			i += 1 + len(q) + 1
		case path[i] == '[':
			j := strings.IndexByte(path[i:], ']')
			if j < 0 {
				return ""
			}
			i += j + 1
		default:
			return ""
		}
	}
	if last < 0 {
		return ""
	}
	return path[:last]
}

// Index is the path of item i of the array at path.
func Index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// Member is the path of member key of the object at path.
func Member(path, key string) string { return childPath(path, key) }

// ErrorPos is the line and column of the byte offset an encoding/json
// error names (a syntax or type error); the zero Pos for other errors.
func ErrorPos(data []byte, err error) diag.Pos {
	var off int64
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	default:
		return diag.Pos{}
	}
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	return diag.Pos{Line: bytes.Count(before, []byte("\n")) + 1, Col: int(off) - bytes.LastIndexByte(before, '\n')}
}
