// Package yamlx decodes YAML strictly and with positions: unknown and
// duplicate keys are errors at their line and column, type errors keep their
// line, and every problem is reported at once rather than the first only.
//
// gopkg.in/yaml.v3's own KnownFields reports unknown keys without a column
// and stops at some errors; walking the node tree against the target type
// first gives the user file:line:col for each.
package yamlx

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/teamsgate/teamsgate/internal/diag"
)

// Doc is a decoded document: its node tree, for positions, and its file name.
type Doc struct {
	File string
	Root *yaml.Node // the document's top-level value node; nil for an empty document
}

// Decode parses data as a single YAML document into v (a pointer to a struct
// with yaml tags). Unknown keys, duplicate keys and type mismatches are
// returned as error diagnostics with positions in file. v holds whatever
// could be decoded.
func Decode(data []byte, file string, v any) (Doc, diag.List) {
	var ds diag.List
	doc := Doc{File: file}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var n yaml.Node
	if err := dec.Decode(&n); err != nil {
		if errors.Is(err, io.EOF) {
			ds.Errorf(diag.Pos{File: file, Line: 1, Col: 1}, "", "empty document")
			return doc, ds
		}
		ds.Append(fromYAMLError(err, file))
		return doc, ds
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		ds.Errorf(doc.pos(&extra), "", "more than one YAML document; put everything in one")
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		doc.Root = n.Content[0]
	}
	if doc.Root == nil {
		ds.Errorf(diag.Pos{File: file, Line: 1, Col: 1}, "", "empty document")
		return doc, ds
	}
	checkKeys(doc.Root, reflect.TypeOf(v), file, "", &ds)
	if err := doc.Root.Decode(v); err != nil {
		ds.Append(fromYAMLError(err, file))
	}
	return doc, ds
}

// Pos returns the position of n in the document's file.
func (d Doc) Pos(n *yaml.Node) diag.Pos { return d.pos(n) }

func (d Doc) pos(n *yaml.Node) diag.Pos {
	if n == nil {
		return diag.Pos{File: d.File}
	}
	return diag.Pos{File: d.File, Line: n.Line, Col: n.Column}
}

// At returns the position of the value at path (mapping keys, or decimal
// sequence indexes). When the path does not exist, it returns the position of
// the deepest node that does, so a diagnostic about a missing key points at
// the mapping that lacks it.
func (d Doc) At(path ...string) diag.Pos {
	return d.pos(d.Lookup(path...))
}

// KeyAt returns the position of the key of the last element of path, or of
// the value when the last element is a sequence index.
func (d Doc) KeyAt(path ...string) diag.Pos {
	if len(path) == 0 {
		return d.pos(d.Root)
	}
	parent := d.lookup(path[:len(path)-1])
	if parent != nil && parent.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(parent.Content); i += 2 {
			if parent.Content[i].Value == path[len(path)-1] {
				return d.pos(parent.Content[i])
			}
		}
	}
	return d.At(path...)
}

// Lookup returns the node at path, or the deepest existing ancestor.
func (d Doc) Lookup(path ...string) *yaml.Node { return d.lookup(path) }

func (d Doc) lookup(path []string) *yaml.Node {
	n := d.Root
	for _, p := range path {
		next := child(n, p)
		if next == nil {
			return n
		}
		n = next
	}
	return n
}

func child(n *yaml.Node, key string) *yaml.Node {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				return n.Content[i+1]
			}
		}
	case yaml.SequenceNode:
		if i, err := strconv.Atoi(key); err == nil && i >= 0 && i < len(n.Content) {
			return n.Content[i]
		}
	}
	return nil
}

var lineRE = regexp.MustCompile(`^line (\d+): (.*)$`)

func fromYAMLError(err error, file string) diag.List {
	var ds diag.List
	var te *yaml.TypeError
	if errors.As(err, &te) {
		for _, e := range te.Errors {
			if m := lineRE.FindStringSubmatch(e); m != nil {
				line, _ := strconv.Atoi(m[1])
				ds.Errorf(diag.Pos{File: file, Line: line}, "", "%s", tidy(m[2]))
				continue
			}
			ds.Errorf(diag.Pos{File: file}, "", "%s", tidy(e))
		}
		return ds
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		ds.Errorf(diag.Pos{File: file, Line: line}, "", "malformed YAML: %s", m[2])
		return ds
	}
	ds.Errorf(diag.Pos{File: file}, "", "malformed YAML: %s", msg)
	return ds
}

// tidy rewrites yaml.v3's Go-flavoured type errors into the user's terms.
func tidy(s string) string {
	s = strings.ReplaceAll(s, "!!str", "a string")
	s = strings.ReplaceAll(s, "!!int", "a number")
	s = strings.ReplaceAll(s, "!!bool", "a boolean")
	s = strings.ReplaceAll(s, "!!seq", "a list")
	s = strings.ReplaceAll(s, "!!map", "a mapping")
	return s
}

var nodeType = reflect.TypeOf(yaml.Node{})

var unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()

// checkKeys walks n alongside t and reports keys that t does not declare, and
// keys given twice.
func checkKeys(n *yaml.Node, t reflect.Type, file, where string, ds *diag.List) {
	if n == nil || t == nil {
		return
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		if t.Implements(unmarshalerType) {
			return
		}
		t = t.Elem()
	}
	if t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) || t == nodeType {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return // a type error that Decode reports
		}
		fields := structFields(t)
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "<<" {
				continue
			}
			if seen[k.Value] {
				ds.Errorf(diag.Pos{File: file, Line: k.Line, Col: k.Column}, where, "key %q given twice", k.Value)
			}
			seen[k.Value] = true
			ft, ok := fields[k.Value]
			if !ok {
				ds.Errorf(diag.Pos{File: file, Line: k.Line, Col: k.Column}, where, "unknown key %q%s", k.Value, suggest(k.Value, fields))
				continue
			}
			checkKeys(v, ft, file, join(where, k.Value), ds)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if seen[k.Value] {
				ds.Errorf(diag.Pos{File: file, Line: k.Line, Col: k.Column}, where, "key %q given twice", k.Value)
			}
			seen[k.Value] = true
			checkKeys(v, t.Elem(), file, join(where, k.Value), ds)
		}
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for i, c := range n.Content {
			checkKeys(c, t.Elem(), file, fmt.Sprintf("%s[%d]", where, i), ds)
		}
	}
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

func structFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			for k, v := range structFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

// suggest returns a "; did you mean" hint when a declared key is close.
func suggest(key string, fields map[string]reflect.Type) string {
	best, bestD := "", 3
	for k := range fields {
		if d := distance(key, k); d < bestD || (d == bestD && k < best && best != "") {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
