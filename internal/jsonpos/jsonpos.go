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
	// A path longer than MaxPath is cut, and ends in "…": the value's own
	// path would cost its bytes for every value below it, which a hostile
	// document (one long key, then a million values) makes quadratic.
	Path string
}

// Field is one member of an object.
type Field struct {
	Key   string
	Value *Value
}

// The limits of Parse. The documents it reads are exports of firewalls (an
// NSG has at most 1,000 rules, some 2 MB and 30,000 values; `nft -j list
// ruleset` takes about 320 bytes and 25 values a rule; a dump of an
// account's security groups about 15 values a rule) and Microsoft's data
// files (the service tags file is 5 MB and 150,000 values). A Value costs
// about 200 bytes and its path up to MaxPath, so the most hostile document
// within the limits ("[1,1,1,…" under a long key, 4 MB) takes some 650 MB
// and a second or two.
const (
	// MaxBytes is the largest document Parse reads: 32 MiB (80,000 nft
	// rules, up to MaxValues, take 26 MB).
	MaxBytes = 32 << 20

	// MaxValues is the most values (objects, arrays, members and items) a
	// document may hold: 2,000,000, some 80,000 nft rules or 500,000 set
	// elements.
	MaxValues = 2_000_000

	// MaxDepth bounds nesting, so that hostile input cannot exhaust the
	// stack; the formats read nest fewer than 15 levels.
	MaxDepth = 200

	// MaxPath is the longest Value.Path kept whole: 128 bytes. The longest
	// paths of the formats read are under 100, such as
	// "$.value[12].properties.securityRules[999].properties.destinationApplicationSecurityGroups[9].id".
	MaxPath = 128

	// MaxDiagnostics is how many duplicate keys Parse reports, in document
	// order, before one last diagnostic that counts the others.
	MaxDiagnostics = 100
)

// Parse decodes one JSON document (RFC 8259). Duplicate keys are errors
// (the last one would silently win in encoding/json), each reported once,
// at the duplicate, with the line of the first; a syntax error ends the
// parse. The value is nil when there is any error. The scanner is its own,
// because encoding/json's token API is several times slower on large
// exports and reports no positions. Its work is linear in the size of the
// document.
func Parse(data []byte) (*Value, diag.List) { return parse(data, MaxValues) }

// parse is Parse with a limit on values that tests can lower.
func parse(data []byte, maxValues int) (*Value, diag.List) {
	var ds diag.List
	if len(data) > MaxBytes {
		ds.Errorf(diag.Pos{Line: 1, Col: 1}, "", "the document is %d bytes; the limit is %d MiB", len(data), MaxBytes>>20)
		return nil, ds
	}
	p := &parser{data: data, lines: lineStarts(data), maxValues: maxValues}
	p.ws()
	v, err := p.value("$", 0)
	if err == nil {
		p.ws()
		if p.off < len(p.data) {
			err = p.fail("unexpected data after the JSON value")
		}
	}
	ds = p.dups
	if err != nil {
		se := err.(*syntaxError)
		if len(ds) < MaxDiagnostics {
			ds.Errorf(p.pos(se.off), "", "invalid JSON: %s", se.msg)
		} else {
			p.omit(se.off)
		}
	}
	if p.more > 0 {
		ds.Errorf(p.morePos, "", "and %d more %s (only the first %d are shown)", p.more, plural(p.more, "error", "errors"), MaxDiagnostics)
	}
	if len(ds) > 0 {
		return nil, ds
	}
	return v, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

type parser struct {
	data   []byte
	off    int
	lines  []int
	line   int // index in lines of the line of the last position asked for
	values int
	// maxValues is MaxValues, but in tests.
	maxValues int
	// dups holds the first MaxDiagnostics duplicate keys; more counts the
	// errors left out, the first of them at morePos.
	dups    diag.List
	more    int
	morePos diag.Pos
}

// omit counts an error left out, at off.
func (p *parser) omit(off int) {
	if p.more == 0 {
		p.morePos = p.pos(off)
	}
	p.more++
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

// pos converts a byte offset into a 1-based line and column. Offsets come
// mostly in increasing order, a line or none apart, so it looks at the
// line of the last one and the next before searching.
func (p *parser) pos(off int) diag.Pos {
	off = max(off, 0)
	switch next := p.line + 1; {
	case off >= p.lines[p.line] && (next == len(p.lines) || off < p.lines[next]):
	case next < len(p.lines) && off >= p.lines[next] && (next+1 == len(p.lines) || off < p.lines[next+1]):
		p.line = next
	default:
		p.line = sort.Search(len(p.lines), func(i int) bool { return p.lines[i] > off }) - 1
	}
	return diag.Pos{Line: p.line + 1, Col: off - p.lines[p.line] + 1}
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

// cut marks a path cut at MaxPath.
const cut = "…"

// member is the path of member key of the object at path, cut at MaxPath.
func member(path, key string) string {
	if strings.HasSuffix(path, cut) {
		return path
	}
	if len(path)+len(key)+1 > MaxPath {
		return path + cut // a quoted key is longer still
	}
	if c := childPath(path, key); len(c) <= MaxPath {
		return c
	}
	return path + cut
}

// item is the path of item i of the array at path, cut at MaxPath.
func item(path string, i int) string {
	if strings.HasSuffix(path, cut) {
		return path
	}
	if c := Index(path, i); len(c) <= MaxPath {
		return c
	}
	return path + cut
}

func (p *parser) value(path string, depth int) (*Value, error) {
	if depth >= MaxDepth {
		return nil, p.fail("nesting deeper than %d levels", MaxDepth)
	}
	if p.off >= len(p.data) {
		return nil, p.fail("unexpected end of input")
	}
	if p.values++; p.values > p.maxValues {
		return nil, p.fail("more than %d values in the document", p.maxValues)
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
		// The offsets of the keys kept, to find and place duplicates: in
		// an array while there are few, then in a map.
		var small [8]int
		var seen map[string]int
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
			first, dup := -1, false
			if seen != nil {
				first, dup = seen[key]
			} else {
				for i, f := range v.Fields {
					if f.Key == key {
						first, dup = small[i], true
						break
					}
				}
			}
			switch n := len(v.Fields); {
			case dup:
				p.duplicate(key, koff, first)
			case seen != nil:
				seen[key] = koff
			case n < len(small):
				small[n] = koff
			default:
				seen = make(map[string]int, 2*n)
				for i, f := range v.Fields {
					seen[f.Key] = small[i]
				}
				seen[key] = koff
			}
			p.ws()
			if p.off >= len(p.data) || p.data[p.off] != ':' {
				return nil, p.fail("expected ':' after key %q", key)
			}
			p.off++
			p.ws()
			item, err := p.value(member(path, key), depth+1)
			if err != nil {
				return nil, err
			}
			if !dup {
				v.Fields = append(v.Fields, Field{Key: key, Value: item})
			}
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
			it, err := p.value(item(path, len(v.Items)), depth+1)
			if err != nil {
				return nil, err
			}
			v.Items = append(v.Items, it)
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

// duplicate records a key given twice, at koff; first is the offset of
// the first.
func (p *parser) duplicate(key string, koff, first int) {
	if len(p.dups) >= MaxDiagnostics {
		p.omit(koff)
		return
	}
	line := p.pos(first).Line
	p.dups.Errorf(p.pos(koff), "", "key %q given twice (first at line %d)", key, line)
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
