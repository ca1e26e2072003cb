package yamlx

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/suggest"
)

// typeCheck walks the node tree alongside the target type and reports, at
// their line and column, keys the type does not declare and values of the
// wrong kind. A value it reports is replaced by null in the tree, so that
// yaml.v3 leaves it zero instead of reporting it again in Go's terms. It
// follows aliases, each of which counts against MaxNodes, so the walk is
// bounded by the limits shape checked.
type typeCheck struct {
	file    string
	ds      *diag.List
	fields  map[reflect.Type]map[string]reflect.Type
	unknown map[*yaml.Node]bool // unknown keys reported, reached again through an alias
	path    []string
}

var (
	nodeType                = reflect.TypeOf(yaml.Node{})
	durationType            = reflect.TypeOf(time.Duration(0))
	unmarshalerType         = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
	obsoleteUnmarshalerType = reflect.TypeOf((*interface{ UnmarshalYAML(func(any) error) error })(nil)).Elem()
)

const (
	nullTag   = "!!null"
	maxQuoted = 40 // runes of a value quoted in a message
)

// where words the path of the value being checked: "integrations.x.roles",
// "items[0]".
func (c *typeCheck) where() string {
	var b strings.Builder
	for i, p := range c.path {
		if i > 0 && !strings.HasPrefix(p, "[") {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}

func (c *typeCheck) errorf(n *yaml.Node, format string, args ...any) {
	c.ds.Errorf(diag.Pos{File: c.file, Line: n.Line, Col: n.Column}, c.where(), format, args...)
}

// custom reports whether yaml.v3 hands values of t to the type itself, or
// keeps them as a node: yamlx has no say over those.
func custom(t reflect.Type) bool {
	return t == nodeType || t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) ||
		t.Implements(obsoleteUnmarshalerType) || reflect.PointerTo(t).Implements(obsoleteUnmarshalerType)
}

// check checks the value in *slot against t. It returns false when the
// value is of the wrong kind, having reported it and set *slot to null.
func (c *typeCheck) check(slot **yaml.Node, t reflect.Type) bool {
	n := *slot
	if n == nil || t == nil {
		return true
	}
	for t.Kind() == reflect.Pointer {
		if custom(t) {
			return true
		}
		t = t.Elem()
	}
	if custom(t) {
		return true
	}
	v := n
	if v.Kind == yaml.AliasNode {
		v = v.Alias
	}
	if v.Kind == yaml.ScalarNode && v.ShortTag() == nullTag {
		return true // null leaves any value at its zero
	}
	switch t.Kind() {
	case reflect.Struct:
		if v.Kind != yaml.MappingNode {
			return c.wrong(slot, t)
		}
		c.mapping(v, t)
	case reflect.Map:
		if v.Kind != yaml.MappingNode {
			return c.wrong(slot, t)
		}
		c.mapping(v, t)
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 && v.Kind == yaml.ScalarNode {
			return c.scalar(slot, v, t) // bytes from a string or !!binary
		}
		if v.Kind != yaml.SequenceNode {
			return c.wrong(slot, t)
		}
		for i := range v.Content {
			c.path = append(c.path, "["+strconv.Itoa(i)+"]")
			c.check(&v.Content[i], t.Elem())
			c.path = c.path[:len(c.path)-1]
		}
	case reflect.Interface:
		// Anything goes; shape has checked tagged scalars.
	case reflect.Bool, reflect.String, reflect.Float32, reflect.Float64,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if v.Kind != yaml.ScalarNode {
			return c.wrong(slot, t)
		}
		if t.Kind() == reflect.String && v.Style&yaml.TaggedStyle == 0 {
			return true // any untagged scalar reads as a string
		}
		if whole(t) && v.ShortTag() == "!!float" {
			return c.wrong(slot, t) // yaml.v3 would drop the fraction
		}
		return c.scalar(slot, v, t)
	}
	return true
}

// mapping checks the keys and values of a mapping (and of the mappings it
// merges) against a struct or map type.
func (c *typeCheck) mapping(m *yaml.Node, t reflect.Type) {
	var fields map[string]reflect.Type
	if t.Kind() == reflect.Struct {
		fields = c.structFields(t)
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		if isMerge(k) {
			c.merged(m.Content[i+1], t)
			continue
		}
		name := keyValue(k)
		et := reflect.Type(nil)
		if fields != nil {
			ft, ok := fields[name]
			if !ok {
				if !c.unknown[k] {
					c.unknown[k] = true
					c.errorf(k, "unknown key %q%s", name, suggestKey(name, fields))
				}
				continue
			}
			et = ft
		} else {
			et = t.Elem()
			if kt := t.Key(); kt.Kind() != reflect.String && kt.Kind() != reflect.Interface {
				c.check(&m.Content[i], kt)
			}
		}
		c.path = append(c.path, name)
		c.check(&m.Content[i+1], et)
		c.path = c.path[:len(c.path)-1]
	}
}

// merged checks the mappings a merge key brings in against t.
func (c *typeCheck) merged(v *yaml.Node, t reflect.Type) {
	if v.Kind == yaml.SequenceNode {
		for _, m := range v.Content {
			c.merged(m, t)
		}
		return
	}
	if v.Kind == yaml.AliasNode {
		v = v.Alias
	}
	if v != nil && v.Kind == yaml.MappingNode {
		c.mapping(v, t)
	}
}

// scalar decodes the scalar v into a t, the way yaml.v3 will, and reports a
// scalar that does not fit.
func (c *typeCheck) scalar(slot **yaml.Node, v *yaml.Node, t reflect.Type) bool {
	if err := v.Decode(reflect.New(t).Interface()); err == nil {
		return true
	}
	if v.Style&yaml.TaggedStyle != 0 && t.Kind() == reflect.String {
		c.errorf(*slot, "%s", badTag(v))
	} else {
		c.errorf(*slot, "want %s, got %s", want(t), describe(v))
	}
	c.null(slot)
	return false
}

// wrong reports a value of the wrong kind for t, and sets it to null.
func (c *typeCheck) wrong(slot **yaml.Node, t reflect.Type) bool {
	n := *slot
	v := n
	if v.Kind == yaml.AliasNode {
		v = v.Alias
	}
	hint := ""
	if (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) && v.Kind == yaml.ScalarNode && v.Style&(yaml.TaggedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
		hint = fmt.Sprintf(" (write [%s] for a list of one)", v.Value)
		if v.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
			hint = fmt.Sprintf(" (write [%s] for a list of one)", strconv.Quote(v.Value))
		}
		if utf8.RuneCountInString(v.Value) > maxQuoted || strings.ContainsAny(v.Value, "\n") {
			hint = ""
		}
	}
	c.errorf(n, "want %s, got %s%s", want(t), describe(n), hint)
	c.null(slot)
	return false
}

// null replaces *slot by a null scalar at the same position. The slot is
// the parent's reference: a value that an alias names elsewhere is not
// changed.
func (c *typeCheck) null(slot **yaml.Node) {
	n := *slot
	*slot = &yaml.Node{Kind: yaml.ScalarNode, Tag: nullTag, Line: n.Line, Column: n.Column}
}

func (c *typeCheck) structFields(t reflect.Type) map[string]reflect.Type {
	if f, ok := c.fields[t]; ok {
		return f
	}
	f := structFields(t)
	c.fields[t] = f
	return f
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

// whole reports whether t holds whole numbers (and is not a duration).
func whole(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return t != durationType
	}
	return false
}

// want words what a value of type t must be, in YAML's terms.
func want(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == durationType {
		return `a duration such as "30s" or "5m"`
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Int, reflect.Int64:
		return "a whole number"
	case reflect.Uint, reflect.Uint64, reflect.Uintptr:
		return "a whole number, 0 or more"
	case reflect.Int8, reflect.Int16, reflect.Int32:
		bits := t.Bits()
		return fmt.Sprintf("a whole number from %d to %d", int64(-1)<<(bits-1), int64(1)<<(bits-1)-1)
	case reflect.Uint8, reflect.Uint16, reflect.Uint32:
		return fmt.Sprintf("a whole number from 0 to %d", uint64(math.MaxUint64)>>(64-t.Bits()))
	case reflect.Struct, reflect.Map:
		return "a mapping"
	case reflect.Slice, reflect.Array:
		return "a list"
	}
	return "a value of another kind"
}

// describe words a node for a message: a mapping, a list, or the quoted
// text of a scalar.
func describe(n *yaml.Node) string {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return describe(n.Alias)
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return quote(n.Value)
}

// quote quotes a scalar's text, cut to maxQuoted runes.
func quote(s string) string {
	if utf8.RuneCountInString(s) > maxQuoted {
		r := []rune(s)
		return strconv.Quote(string(r[:maxQuoted-1])) + "…"
	}
	return strconv.Quote(s)
}

// suggestKey returns a " (did you mean ...?)" hint when a declared key is
// close to an unknown one.
func suggestKey(key string, fields map[string]reflect.Type) string {
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	return suggest.Hint(key, names)
}
