// Package yamlx decodes YAML strictly and with positions: unknown and
// duplicate keys, values of the wrong kind and syntax errors are reported at
// their line and column, in the user's terms, and every problem is reported
// at once rather than the first only.
//
// go.yaml.in/yaml/v3 parses the document into a node tree; yamlx checks the
// tree before yaml.v3 decodes it, because yaml.v3's own checks give a line
// without a column, name Go types ("cannot unmarshal !!seq into
// spec.wireSpec"), report a duplicate key once per pair, and look for
// duplicates by comparing every key of a mapping with every other, which
// takes minutes on a hostile file. yamlx finds duplicates with a map, drops
// them (and every value it has reported) from the tree, and refuses
// documents over the limits below, so what yaml.v3 is left to decode is
// small and has nothing more to say.
package yamlx

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/teamsgate/teamsgate/internal/diag"
)

// The limits of Decode. A deployment spec has a handful of integrations,
// roles and parameters; the largest file of the embedded catalog
// (data/integrations/pexip-teams-connector.yaml) is 12 KB and 623 values,
// no catalog file has a mapping of more than 12 keys or nests more than 7
// levels (TestEmbeddedCatalogWithinLimits keeps each under a tenth of
// each limit). The limits are far above what a real file needs, and low
// enough that decoding a document at any of them takes well under a
// second (BenchmarkDecodeAtLimits: 0.1 to 0.3 s).
const (
	// MaxBytes is the largest input Decode reads: 1 MiB, 80 times the
	// largest catalog file, and room for some 40,000 role addresses. It
	// bounds the work of yaml.v3's parser, which builds its whole tree
	// before any other limit can be checked: 1 MiB of the most hostile
	// input ("[a,a,a,…") takes it about 0.3 s and 120 MB.
	MaxBytes = 1 << 20

	// MaxKeysPerMapping is the most keys one mapping may have: 1,000.
	// yaml.v3 compares every key of a mapping with every other each time
	// it decodes the mapping, half a million comparisons at 1,000 keys
	// (and 5 billion at the 100,000 keys that 1 MiB can hold: minutes).
	MaxKeysPerMapping = 1000

	// MaxNodes is the most values (scalars, lists and mappings, keys
	// included) a document may hold: 100,000, counting the value an alias
	// names once for each use of the alias, as the decoder sees it. It
	// stops "billion laughs" expansion and, with MaxKeysPerMapping, bounds
	// yaml.v3's key comparisons to 25 million.
	MaxNodes = 100_000

	// MaxDepth is the deepest a value may be nested, counting through
	// aliases: 100. A spec nests 7 levels (integrations, roles, addresses).
	MaxDepth = 100

	// MaxDiagnostics is how many problems Decode reports: 100. A file with
	// more is reported with its first 100, in file order, and one last
	// diagnostic that counts the others; nobody reads further before
	// fixing the first and trying again.
	MaxDiagnostics = 100
)

// Doc is a decoded document: its node tree, for positions, and its file name.
type Doc struct {
	File string
	// Root is the document's top-level value node. It is nil when the
	// document is unusable: empty, malformed, over a limit, or not of the
	// target's kind (a list where a mapping is wanted).
	Root *yaml.Node
}

// Decode parses data as a single YAML document into v (a pointer to a struct
// with yaml tags). Unknown keys, duplicate keys, values of the wrong kind,
// syntax errors and exceeded limits are returned as error diagnostics with
// positions in file, sorted by position and at most MaxDiagnostics of them
// (and one that counts the rest). v holds whatever could be decoded: a
// duplicate key's first value, and the zero value for a value that is
// reported.
func Decode(data []byte, file string, v any) (Doc, diag.List) {
	doc := Doc{File: file}
	var ds diag.List
	if len(data) > MaxBytes {
		ds.Errorf(diag.Pos{File: file, Line: 1, Col: 1}, "", "the file is %d bytes; the limit is %s", len(data), size(MaxBytes))
		return doc, ds
	}
	root, pds := parse(data, file)
	ds.Append(pds)
	if root == nil {
		return doc, capList(ds)
	}
	s := shape{file: file, ds: &ds, sizes: map[*yaml.Node]extent{}}
	s.walk(root, 1)
	if s.refused {
		return doc, capList(ds)
	}
	tc := typeCheck{file: file, ds: &ds, fields: map[reflect.Type]map[string]reflect.Type{}, unknown: map[*yaml.Node]bool{}}
	if !tc.check(&root, reflect.TypeOf(v)) {
		return doc, capList(ds)
	}
	doc.Root = root
	if err := root.Decode(v); err != nil {
		ds.Append(fromDecodeError(err, file))
	}
	return doc, capList(ds)
}

// parse parses the first document of data, and reports any other.
func parse(data []byte, file string) (*yaml.Node, diag.List) {
	var ds diag.List
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var n yaml.Node
	if err := dec.Decode(&n); err != nil {
		if errors.Is(err, io.EOF) {
			ds.Errorf(diag.Pos{File: file, Line: 1, Col: 1}, "", "empty document")
			return nil, ds
		}
		ds.Append(syntaxError(data, file, err))
		return nil, ds
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		ds.Errorf(diag.Pos{File: file, Line: extra.Line, Col: extra.Column}, "", "more than one YAML document; put everything in one")
	case !errors.Is(err, io.EOF):
		ds.Append(syntaxError(data, file, err))
	}
	if n.Kind != yaml.DocumentNode || len(n.Content) != 1 {
		ds.Errorf(diag.Pos{File: file, Line: 1, Col: 1}, "", "empty document")
		return nil, ds
	}
	return n.Content[0], ds
}

// capList sorts ds and keeps its first MaxDiagnostics, adding one that
// counts the others at the position of the first left out, so that it
// sorts after the ones kept.
func capList(ds diag.List) diag.List {
	ds.Sort()
	if len(ds) <= MaxDiagnostics {
		return ds
	}
	more := len(ds) - MaxDiagnostics
	at := ds[MaxDiagnostics].Pos
	out := append(diag.List(nil), ds[:MaxDiagnostics]...)
	out.Errorf(at, "", "and %d more %s (only the first %d are shown)", more, plural(more, "error", "errors"), MaxDiagnostics)
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// size words a byte count in MiB or KiB, to one decimal.
func size(n int) string {
	unit, div := "bytes", 1.0
	switch {
	case n >= 1<<20:
		unit, div = "MiB", 1<<20
	case n >= 1<<10:
		unit, div = "KiB", 1<<10
	}
	s := strconv.FormatFloat(float64(n)/div, 'f', 1, 64)
	return strings.TrimSuffix(s, ".0") + " " + unit
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
	if parent != nil && parent.Kind == yaml.AliasNode {
		parent = parent.Alias
	}
	if parent != nil && parent.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(parent.Content); i += 2 {
			if keyValue(parent.Content[i]) == path[len(path)-1] {
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
			if keyValue(n.Content[i]) == key {
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

// keyValue is the text of a mapping key, through an alias.
func keyValue(k *yaml.Node) string {
	if k.Kind == yaml.AliasNode && k.Alias != nil {
		k = k.Alias
	}
	return k.Value
}

// Section is a value of a document that its parent's type keeps as a raw
// node (a *yaml.Node field), for the component that owns it to decode with
// its own types, as Caddy hands each app its raw configuration. The
// document was checked whole by Decode: its limits, syntax and duplicate
// keys; Decode on the section checks the section's keys and kinds.
type Section struct {
	Doc  Doc
	Node *yaml.Node
	// Path is where the section sits in the document ("gateway").
	Path []string
}

// IsZero reports whether the section is absent from its document.
func (s Section) IsZero() bool { return s.Node == nil }

// Decode decodes the section into v (a pointer to a struct with yaml tags)
// with the checks and positions of Decode; subjects name the section's
// path ("gateway.sources: unknown key …").
func (s Section) Decode(v any) diag.List {
	var ds diag.List
	if s.Node == nil {
		return ds
	}
	tc := typeCheck{file: s.Doc.File, ds: &ds, fields: map[reflect.Type]map[string]reflect.Type{}, unknown: map[*yaml.Node]bool{}, path: append([]string(nil), s.Path...)}
	root := s.Node
	if !tc.check(&root, reflect.TypeOf(v)) {
		return capList(ds)
	}
	if err := root.Decode(v); err != nil {
		ds.Append(fromDecodeError(err, s.Doc.File))
	}
	return capList(ds)
}

// At returns the position of the value at path within the section, or of
// its deepest existing ancestor (see Doc.At).
func (s Section) At(path ...string) diag.Pos {
	return s.Doc.At(append(append([]string(nil), s.Path...), path...)...)
}

// KeyAt returns the position of the key at the end of path within the
// section (see Doc.KeyAt).
func (s Section) KeyAt(path ...string) diag.Pos {
	return s.Doc.KeyAt(append(append([]string(nil), s.Path...), path...)...)
}
