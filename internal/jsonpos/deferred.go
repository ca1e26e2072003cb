package jsonpos

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
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

// ErrorPos is the line and column an encoding/json error names: the byte a
// syntax error was found at (or just past the end, when the input ends too
// soon), or where the value of the wrong type starts (the errors' offsets
// are just past those); the zero Pos for other errors.
func ErrorPos(data []byte, err error) diag.Pos {
	var off int64
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
		if off > 0 && off <= int64(len(data)) && se.Error() != "unexpected end of JSON input" {
			off--
		}
	case errors.As(err, &te):
		off = tokenStart(data, min(max(te.Offset, 0), int64(len(data))))
	default:
		return diag.Pos{}
	}
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	return diag.Pos{Line: bytes.Count(before, []byte("\n")) + 1, Col: int(off) - bytes.LastIndexByte(before, '\n')}
}

// tokenStart backs up from end, just past a JSON token, to the token's
// first byte: an opening bracket, a string's opening quote, or the first
// character of a number or literal.
func tokenStart(data []byte, end int64) int64 {
	if end == 0 {
		return 0
	}
	i := end - 1
	switch c := data[i]; {
	case c == '[' || c == '{':
		return i
	case c == '"':
		for i--; i >= 0; i-- {
			if data[i] != '"' {
				continue
			}
			n := 0 // backslashes before the quote: an odd count escapes it
			for j := i - 1; j >= 0 && data[j] == '\\'; j-- {
				n++
			}
			if n%2 == 0 {
				return i
			}
		}
		return 0
	}
	for i > 0 && bytes.IndexByte([]byte("0123456789+-.eEtrufalsn"), data[i-1]) >= 0 {
		i--
	}
	return i
}

// Describe words an encoding/json decoding error for the person who wrote
// the document: a type error names the member by its JSON field path
// ("values.properties.addressPrefixes") and the kinds of value wanted and
// found, not the Go types behind them. field is that path ("" for other
// errors, whose own message is returned).
func Describe(err error) (field, msg string) {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) || te.Type == nil {
		return "", err.Error()
	}
	want := "a value of another kind"
	switch t := te.Type; t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		want = "a number"
	case reflect.String:
		want = "a string"
	case reflect.Bool:
		want = "true or false"
	case reflect.Slice, reflect.Array:
		want = "an array"
	case reflect.Map, reflect.Struct:
		want = "an object"
	}
	if te.Field == "" {
		return "", fmt.Sprintf("want %s, got %s", want, te.Value)
	}
	return te.Field, fmt.Sprintf("%s: want %s, got %s", te.Field, want, te.Value)
}

// Dotted is the path of the member that a dotted JSON field path, as
// Describe gives it, names under path.
func Dotted(path, dotted string) string {
	for _, k := range strings.Split(dotted, ".") {
		if k != "" {
			path = Member(path, k)
		}
	}
	return path
}
