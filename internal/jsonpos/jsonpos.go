// Package jsonpos decodes JSON into a tree that remembers where each value
// starts (line and column) and its JSON path, so that parsers can point at
// the exact place of a problem: the audit parsers in an NSG export, a
// describe-security-groups output or an `nft -j` ruleset; the Microsoft
// data readers (Deferred) in an endpoints response or a service tags file.
package jsonpos

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/teamsgate/teamsgate/internal/diag"
)

// Kind is the JSON type of a value.
type Kind uint8

// The JSON kinds.
const (
	Null Kind = iota
	Bool
	Number
	String
	Array
	Object
)

func (k Kind) String() string {
	return [...]string{"null", "boolean", "number", "string", "array", "object"}[k]
}

// Value is a decoded JSON value with its position.
type Value struct {
	Kind Kind
	// Str holds a string, or the literal text of a number.
	Str    string
	Bool   bool
	Items  []*Value
	Fields []Field
	Pos    diag.Pos
	// Path is the JSON path of the value, "$.properties.securityRules[0]".
	Path string
}

// Field is one member of an object.
type Field struct {
	Key   string
	Value *Value
}

// maxDepth bounds nesting, so hostile input cannot exhaust the stack.
const maxDepth = 200

// Parse decodes one JSON document (RFC 8259). Duplicate keys are errors
// (the last one would silently win in encoding/json). The scanner is its
// own, because encoding/json's token API is several times slower on large
// exports and reports no positions.
func Parse(data []byte) (*Value, diag.List) {
	var ds diag.List
	p := &parser{data: data, lines: lineStarts(data)}
	p.ws()
	v, err := p.value("$", 0)
	if err == nil {
		p.ws()
		if p.off < len(p.data) {
			err = p.fail("unexpected data after the JSON value")
		}
	}
	if err != nil {
		se := err.(*syntaxError)
		ds.Errorf(p.pos(se.off), "", "invalid JSON: %s", se.msg)
		return nil, ds
	}
	return v, ds
}

type parser struct {
	data  []byte
	off   int
	lines []int
}

type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string { return e.msg }

func (p *parser) fail(format string, args ...any) error {
	return &syntaxError{off: p.off, msg: fmt.Sprintf(format, args...)}
}

func lineStarts(b []byte) []int {
	ls := []int{0}
	for i, c := range b {
		if c == '\n' {
			ls = append(ls, i+1)
		}
	}
	return ls
}

// pos converts a byte offset into a 1-based line and column.
func (p *parser) pos(off int) diag.Pos {
	if off < 0 {
		off = 0
	}
	i := sort.Search(len(p.lines), func(i int) bool { return p.lines[i] > off }) - 1
	if i < 0 {
		i = 0
	}
	return diag.Pos{Line: i + 1, Col: off - p.lines[i] + 1}
}

func (p *parser) ws() {
	for p.off < len(p.data) {
		switch p.data[p.off] {
		case ' ', '\t', '\r', '\n':
			p.off++
		default:
			return
		}
	}
}

func (p *parser) value(path string, depth int) (*Value, error) {
	if depth > maxDepth {
		return nil, p.fail("nesting deeper than %d levels", maxDepth)
	}
	if p.off >= len(p.data) {
		return nil, p.fail("unexpected end of input")
	}
	v := &Value{Pos: p.pos(p.off), Path: path}
	switch c := p.data[p.off]; {
	case c == '{':
		v.Kind = Object
		p.off++
		p.ws()
		if p.off < len(p.data) && p.data[p.off] == '}' {
			p.off++
			return v, nil
		}
		seen := map[string]bool{}
		for {
			p.ws()
			koff := p.off
			if p.off >= len(p.data) || p.data[p.off] != '"' {
				return nil, p.fail("expected a string key")
			}
			key, err := p.str()
			if err != nil {
				return nil, err
			}
			if seen[key] {
				p.off = koff
				return nil, p.fail("key %q given twice", key)
			}
			seen[key] = true
			p.ws()
			if p.off >= len(p.data) || p.data[p.off] != ':' {
				return nil, p.fail("expected ':' after key %q", key)
			}
			p.off++
			p.ws()
			item, err := p.value(childPath(path, key), depth+1)
			if err != nil {
				return nil, err
			}
			v.Fields = append(v.Fields, Field{Key: key, Value: item})
			p.ws()
			if p.off >= len(p.data) {
				return nil, p.fail("unexpected end of input in an object")
			}
			if p.data[p.off] == ',' {
				p.off++
				continue
			}
			if p.data[p.off] == '}' {
				p.off++
				return v, nil
			}
			return nil, p.fail("expected ',' or '}' in an object")
		}
	case c == '[':
		v.Kind = Array
		p.off++
		p.ws()
		if p.off < len(p.data) && p.data[p.off] == ']' {
			p.off++
			return v, nil
		}
		for {
			p.ws()
			item, err := p.value(Index(path, len(v.Items)), depth+1)
			if err != nil {
				return nil, err
			}
			v.Items = append(v.Items, item)
			p.ws()
			if p.off >= len(p.data) {
				return nil, p.fail("unexpected end of input in an array")
			}
			if p.data[p.off] == ',' {
				p.off++
				continue
			}
			if p.data[p.off] == ']' {
				p.off++
				return v, nil
			}
			return nil, p.fail("expected ',' or ']' in an array")
		}
	case c == '"':
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		v.Kind, v.Str = String, s
	case c == 't' || c == 'f' || c == 'n':
		for _, lit := range []struct {
			text string
			kind Kind
			b    bool
		}{{"true", Bool, true}, {"false", Bool, false}, {"null", Null, false}} {
			if bytes.HasPrefix(p.data[p.off:], []byte(lit.text)) {
				p.off += len(lit.text)
				v.Kind, v.Bool = lit.kind, lit.b
				return v, nil
			}
		}
		return nil, p.fail("invalid literal")
	case c == '-' || c >= '0' && c <= '9':
		n, err := p.number()
		if err != nil {
			return nil, err
		}
		v.Kind, v.Str = Number, n
	default:
		return nil, p.fail("invalid character %q looking for a value", c)
	}
	return v, nil
}

// str scans a string; escapes are decoded by encoding/json, which knows
// every rule (surrogate pairs, invalid UTF-8 replaced).
func (p *parser) str() (string, error) {
	start := p.off
	p.off++
	escaped := false
	for p.off < len(p.data) {
		c := p.data[p.off]
		switch {
		case c == '"':
			p.off++
			raw := p.data[start:p.off]
			if !escaped && utf8.Valid(raw) {
				return string(raw[1 : len(raw)-1]), nil
			}
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				p.off = start
				return "", p.fail("invalid string: %v", err)
			}
			return s, nil
		case c == '\\':
			escaped = true
			p.off += 2
		case c < 0x20:
			return "", p.fail("control character in a string")
		default:
			p.off++
		}
	}
	p.off = start
	return "", p.fail("unterminated string")
}

// number scans a number by the JSON grammar.
func (p *parser) number() (string, error) {
	start := p.off
	digits := func() int {
		n := 0
		for p.off < len(p.data) && p.data[p.off] >= '0' && p.data[p.off] <= '9' {
			p.off++
			n++
		}
		return n
	}
	if p.data[p.off] == '-' {
		p.off++
	}
	if p.off < len(p.data) && p.data[p.off] == '0' {
		p.off++
	} else if digits() == 0 {
		return "", p.fail("invalid number")
	}
	if p.off < len(p.data) && p.data[p.off] == '.' {
		p.off++
		if digits() == 0 {
			return "", p.fail("invalid number")
		}
	}
	if p.off < len(p.data) && (p.data[p.off] == 'e' || p.data[p.off] == 'E') {
		p.off++
		if p.off < len(p.data) && (p.data[p.off] == '+' || p.data[p.off] == '-') {
			p.off++
		}
		if digits() == 0 {
			return "", p.fail("invalid number")
		}
	}
	return string(p.data[start:p.off]), nil
}

func childPath(path, key string) string {
	for _, c := range key {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return path + "[" + strconv.Quote(key) + "]"
		}
	}
	return path + "." + key
}

// Get returns the member with the given key, or nil.
func (v *Value) Get(key string) *Value {
	if v == nil || v.Kind != Object {
		return nil
	}
	for _, f := range v.Fields {
		if f.Key == key {
			return f.Value
		}
	}
	return nil
}

// GetFold returns the member whose key equals key case-insensitively.
func (v *Value) GetFold(key string) *Value {
	if v == nil || v.Kind != Object {
		return nil
	}
	for _, f := range v.Fields {
		if strings.EqualFold(f.Key, key) {
			return f.Value
		}
	}
	return nil
}

// IsNull reports whether v is absent or null.
func (v *Value) IsNull() bool { return v == nil || v.Kind == Null }

// Int returns a number's integer value.
func (v *Value) Int() (int64, bool) {
	if v == nil || v.Kind != Number {
		return 0, false
	}
	n, err := strconv.ParseInt(v.Str, 10, 64)
	return n, err == nil
}

// Describe names a value's kind for error messages.
func (v *Value) Describe() string {
	if v == nil {
		return "nothing"
	}
	switch v.Kind {
	case String:
		return "string " + strconv.Quote(v.Str)
	case Number:
		return "number " + v.Str
	}
	return v.Kind.String()
}

// Unknown returns the members of an object whose keys are not listed.
func (v *Value) Unknown(known ...string) []Field {
	if v == nil || v.Kind != Object {
		return nil
	}
	var out []Field
	for _, f := range v.Fields {
		ok := false
		for _, k := range known {
			if f.Key == k {
				ok = true
				break
			}
		}
		if !ok {
			out = append(out, f)
		}
	}
	return out
}
