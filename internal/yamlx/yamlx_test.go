package yamlx

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/teamsgate/teamsgate/internal/diag"
)

type inner struct {
	Name  string   `yaml:"name"`
	Ports []string `yaml:"ports"`
}

type outer struct {
	Cloud string           `yaml:"cloud"`
	Items []inner          `yaml:"items"`
	Map   map[string]inner `yaml:"map"`
	Free  any              `yaml:"free"`
}

// typed has a field of each scalar kind the wire types use.
type typed struct {
	Port  uint16        `yaml:"port"`
	Count *int          `yaml:"count"`
	On    bool          `yaml:"on"`
	Rate  *float64      `yaml:"rate"`
	Wait  time.Duration `yaml:"wait"`
	Tags  []string      `yaml:"tags"`
	Sub   *inner        `yaml:"sub"`
}

func decodeStrings(t *testing.T, in string, v any) []string {
	t.Helper()
	_, ds := Decode([]byte(in), "f.yaml", v)
	out := []string{}
	for _, d := range ds {
		out = append(out, d.String())
	}
	return out
}

// goInternals matches what must never reach a message: Go types and
// package names. What the user wrote, quoted values and YAML tags (!!int),
// is taken out first.
var (
	goInternals = regexp.MustCompile(`\b(yamlx|spec|catalog|yaml|reflect|time)\.[A-Za-z]|\[\]\w|\bmap\[|\b(u?int(8|16|32|64)?|float(32|64)|bool|interface|struct|unmarshal|wireSpec|specShape)\b|!!`)
	userText    = regexp.MustCompile(`"(?:[^"\\]|\\.)*"…?|!!\w+|[*&]\S+`)
)

func checkNoGoInternals(t *testing.T, ds diag.List) {
	t.Helper()
	for _, d := range ds {
		if m := goInternals.FindString(userText.ReplaceAllString(d.Message, "")); m != "" {
			t.Errorf("message names Go internals (%q): %s", m, d)
		}
	}
}

func TestDecodePositions(t *testing.T) {
	src := "cloud: x\nitems:\n  - name: a\n    portz: [1]\nmap:\n  k: { name: b, extra: 1 }\nfree: {anything: [goes]}\n"
	var v outer
	doc, ds := Decode([]byte(src), "f.yaml", &v)
	want := []string{
		`f.yaml:4:5: items[0]: unknown key "portz" (did you mean "ports"?)`,
		`f.yaml:6:17: map.k: unknown key "extra"`,
	}
	if got := ds.String(); got != strings.Join(want, "\n") {
		t.Errorf("diagnostics:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	if v.Cloud != "x" || v.Items[0].Name != "a" || v.Map["k"].Name != "b" {
		t.Errorf("decoded %+v", v)
	}
	for _, tc := range []struct {
		path []string
		at   diag.Pos
		key  diag.Pos
	}{
		{path: []string{"cloud"}, at: diag.Pos{File: "f.yaml", Line: 1, Col: 8}, key: diag.Pos{File: "f.yaml", Line: 1, Col: 1}},
		{path: []string{"items", "0", "name"}, at: diag.Pos{File: "f.yaml", Line: 3, Col: 11}, key: diag.Pos{File: "f.yaml", Line: 3, Col: 5}},
		{path: []string{"map", "k", "missing"}, at: diag.Pos{File: "f.yaml", Line: 6, Col: 6}, key: diag.Pos{File: "f.yaml", Line: 6, Col: 6}},
	} {
		if got := doc.At(tc.path...); got != tc.at {
			t.Errorf("At(%v) = %v, want %v", tc.path, got, tc.at)
		}
		if got := doc.KeyAt(tc.path...); got != tc.key {
			t.Errorf("KeyAt(%v) = %v, want %v", tc.path, got, tc.key)
		}
	}
}

func TestDecodeDocumentProblems(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{name: "two documents", in: "cloud: a\n---\ncloud: b\n", want: []string{"f.yaml:2:1: more than one YAML document; put everything in one"}},
		{name: "empty", in: "# nothing\n", want: []string{"f.yaml:1:1: empty document"}},
		{name: "nothing", in: "", want: []string{"f.yaml:1:1: empty document"}},
		{name: "not a mapping", in: "- cloud: a\n", want: []string{"f.yaml:1:1: want a mapping, got a list"}},
		{name: "a scalar", in: "cloud\n", want: []string{`f.yaml:1:1: want a mapping, got "cloud"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, decodeStrings(t, tc.in, &outer{})); diff != "" {
				t.Errorf("diagnostics (-want +got):\n%s", diff)
			}
		})
	}
}

// TestMalformed: each kind of syntax error is reported once, where it is
// (an unclosed bracket where it opens), in plain words.
func TestMalformed(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{
			name: "unclosed list, the rest of the file after it",
			in:   "cloud: worldwide\nintegrations:\n  teams-messaging-bot:\n    roles:\n      bot:\n        addresses: [198.51.100.10\n  teamspro-saas: {}\nname: x\n",
			want: []string{"f.yaml:6:20: unclosed [ opened here: the file ends before its ]"},
		},
		{
			name: "list closed by a brace",
			in:   "cloud: worldwide\nintegrations:\n  teams-messaging-bot:\n    roles:\n      bot: { addresses: [198.51.100.10 }\n",
			want: []string{"f.yaml:5:25: unclosed [ opened here: the } at 5:40 does not close it"},
		},
		{
			name: "unclosed mapping",
			in:   "cloud: worldwide\nintegrations: {teamspro-saas: {roles: {}}\nname: x\n",
			want: []string{"f.yaml:2:15: unclosed { opened here: the file ends before its }"},
		},
		{
			name: "two unclosed",
			in:   "cloud: worldwide\nintegrations: {teams-messaging-bot: [\n",
			want: []string{
				"f.yaml:2:15: unclosed { opened here: the file ends before its }",
				"f.yaml:2:37: unclosed [ opened here: the file ends before its ]",
			},
		},
		{
			name: "unclosed on the first line",
			in:   "cloud: [\n",
			want: []string{"f.yaml:1:8: unclosed [ opened here: the file ends before its ]"},
		},
		{
			name: "closing bracket too many",
			in:   "cloud: worldwide\nname: [a, b]]\n",
			want: []string{"f.yaml:2:13: ] without a matching ["},
		},
		{
			name: "closing brace alone",
			in:   "cloud: worldwide\nname: }\n",
			want: []string{"f.yaml:2:7: } without a matching {"},
		},
		{
			name: "tab indenting a key",
			in:   "cloud: worldwide\n\tname: x\n",
			want: []string{"f.yaml:2:1: tab in indentation; indent with spaces"},
		},
		{
			name: "tab after spaces",
			in:   "integrations:\n  teamspro-saas:\n  \troles: {}\n",
			want: []string{"f.yaml:3:3: tab in indentation; indent with spaces"},
		},
		{
			name: "unterminated double quote",
			in:   "cloud: worldwide\nname: \"kernel test\nintegrations: {}\n",
			want: []string{"f.yaml:2:7: unterminated string: the \" opened here is never closed"},
		},
		{
			name: "unterminated single quote",
			in:   "name: 'kernel test\n",
			want: []string{"f.yaml:1:7: unterminated string: the ' opened here is never closed"},
		},
		{
			name: "quote closed by the next string's",
			in:   "name: \"kernel test\ncloud: \"worldwide\"\n",
			want: []string{"f.yaml:1:7: unterminated string: the \" opened here is closed only at 2:8"},
		},
		{
			name: "unknown escape",
			in:   "name: \"C:\\teamsgate\\spec\"\n",
			want: []string{`f.yaml:1:20: unknown escape \s in a "…" string; write \\ for a backslash, or use '…'`},
		},
		{
			name: "alias to nothing",
			in:   "cloud: worldwide\nname: *nope\n",
			want: []string{"f.yaml:2:7: alias *nope names no anchor (&nope) defined before it"},
		},
		{
			name: "reserved character",
			in:   "name: @home\n",
			want: []string{"f.yaml:1:7: @ cannot start a value; put the value in quotes"},
		},
		{
			name: "control character",
			in:   "name: a\x07b\n",
			want: []string{"f.yaml:1:8: control character U+0007 is not allowed; remove it"},
		},
		{
			name: "not UTF-8",
			in:   "cloud: worldwide\nname: caf\xe9\n",
			want: []string{"f.yaml:2:10: invalid UTF-8; save the file as UTF-8"},
		},
		{
			name: "colon in a value",
			in:   "name: teams: bot\n",
			want: []string{`f.yaml:1: malformed YAML: unexpected ":"; put a value that contains ": " in quotes, and check the indentation`},
		},
		{
			name: "over-indented key",
			in:   "cloud: worldwide\n  name: x\n",
			want: []string{`f.yaml:2: malformed YAML: unexpected ":"; put a value that contains ": " in quotes, and check the indentation`},
		},
		{
			name: "list item in a mapping",
			in:   "cloud: worldwide\n- name\n",
			want: []string{"f.yaml:2: malformed YAML: expected a key here; check the indentation"},
		},
		{
			name: "mapping in a list",
			in:   "- a\nname: x\n",
			want: []string{`f.yaml:2: malformed YAML: expected a list item ("- ") here; check the indentation`},
		},
		{
			name: "second document malformed",
			in:   "cloud: worldwide\n---\n[\n",
			want: []string{"f.yaml:3:1: unclosed [ opened here: the file ends before its ]"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v specShape
			doc, ds := Decode([]byte(tc.in), "f.yaml", &v)
			if diff := cmp.Diff(tc.want, strings.Split(ds.String(), "\n")); diff != "" {
				t.Errorf("diagnostics (-want +got):\n%s", diff)
			}
			if doc.Root != nil && tc.name != "second document malformed" {
				t.Errorf("a malformed document has a root")
			}
			checkNoGoInternals(t, ds)
		})
	}
}

// TestWrongKinds: a value of the wrong kind is reported at its line and
// column, in YAML's terms, and once.
func TestWrongKinds(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{name: "list for a struct", in: "sub: [a]\n", want: []string{"f.yaml:1:6: sub: want a mapping, got a list"}},
		{name: "scalar for a struct", in: "sub: x\n", want: []string{`f.yaml:1:6: sub: want a mapping, got "x"`}},
		{name: "scalar for a list", in: "tags: a\n", want: []string{`f.yaml:1:7: tags: want a list, got "a" (write [a] for a list of one)`}},
		{name: "quoted scalar for a list", in: "tags: \"a b\"\n", want: []string{`f.yaml:1:7: tags: want a list, got "a b" (write ["a b"] for a list of one)`}},
		{name: "mapping for a list", in: "tags: {a: 1}\n", want: []string{"f.yaml:1:7: tags: want a list, got a mapping"}},
		{name: "list for a string", in: "sub: {name: [a]}\n", want: []string{"f.yaml:1:13: sub.name: want a string, got a list"}},
		{name: "port out of range", in: "port: 70000\n", want: []string{`f.yaml:1:7: port: want a whole number from 0 to 65535, got "70000"`}},
		{name: "negative port", in: "port: -1\n", want: []string{`f.yaml:1:7: port: want a whole number from 0 to 65535, got "-1"`}},
		{name: "word for a number", in: "count: many\n", want: []string{`f.yaml:1:8: count: want a whole number, got "many"`}},
		{name: "fraction for a whole number", in: "count: 1.5\n", want: []string{`f.yaml:1:8: count: want a whole number, got "1.5"`}},
		{name: "word for a boolean", in: "on: yes please\n", want: []string{`f.yaml:1:5: on: want true or false, got "yes please"`}},
		{name: "word for a float", in: "rate: fast\n", want: []string{`f.yaml:1:7: rate: want a number, got "fast"`}},
		{name: "bad duration", in: "wait: soon\n", want: []string{`f.yaml:1:7: wait: want a duration such as "30s" or "5m", got "soon"`}},
		{name: "item of a list", in: "tags: [a, [b], c]\n", want: []string{"f.yaml:1:11: tags[1]: want a string, got a list"}},
		{name: "long value cut", in: "port: " + strings.Repeat("9", 60) + "\n", want: []string{`f.yaml:1:7: port: want a whole number from 0 to 65535, got "` + strings.Repeat("9", 39) + `"…`}},
		{name: "tag that does not fit", in: "tags: [!!int x]\n", want: []string{`f.yaml:1:8: "x" is not a valid !!int, the tag it is given`}},
		{name: "alias of the wrong kind", in: "sub: &s {name: a}\ntags: *s\n", want: []string{"f.yaml:2:7: tags: want a list, got a mapping"}},
		{name: "every problem at once", in: "port: x\non: maybe\ntags: z\nsub: {name: [1], bogus: 2}\n", want: []string{
			`f.yaml:1:7: port: want a whole number from 0 to 65535, got "x"`,
			`f.yaml:2:5: on: want true or false, got "maybe"`,
			`f.yaml:3:7: tags: want a list, got "z" (write [z] for a list of one)`,
			`f.yaml:4:13: sub.name: want a string, got a list`,
			`f.yaml:4:18: sub: unknown key "bogus"`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v typed
			_, ds := Decode([]byte(tc.in), "f.yaml", &v)
			if diff := cmp.Diff(tc.want, strings.Split(ds.String(), "\n")); diff != "" {
				t.Errorf("diagnostics (-want +got):\n%s", diff)
			}
			checkNoGoInternals(t, ds)
		})
	}
}

// TestWrongKindLeavesTheRest: a reported value is left zero; the values
// around it are decoded.
func TestWrongKindLeavesTheRest(t *testing.T) {
	var v typed
	_, ds := Decode([]byte("port: 70000\ncount: 3\ntags: [a, [b], c]\n"), "f.yaml", &v)
	if len(ds) != 2 {
		t.Fatalf("diagnostics:\n%s", ds)
	}
	// yaml.v3 leaves a null item out of a list.
	if v.Port != 0 || v.Count == nil || *v.Count != 3 || !cmp.Equal(v.Tags, []string{"a", "c"}) {
		t.Errorf("decoded %+v", v)
	}
}

// TestDuplicateKeys: a key given twice is an error in every mapping of the
// document, whatever its target type (or none: under an unknown key), once
// per duplicate, and the first value is kept.
func TestDuplicateKeys(t *testing.T) {
	in := "cloud: a\ncloud: b\ncloud: c\nfree: {x: 1, x: 2}\nbogus: {y: 1, y: 2}\nitems:\n  - name: n\n    name: m\n"
	var v outer
	got := decodeStrings(t, in, &v)
	want := []string{
		`f.yaml:2:1: key "cloud" given twice (first at line 1)`,
		`f.yaml:3:1: key "cloud" given twice (first at line 1)`,
		`f.yaml:4:14: key "x" given twice (first at line 4)`,
		`f.yaml:5:1: unknown key "bogus"`,
		`f.yaml:5:15: key "y" given twice (first at line 5)`,
		`f.yaml:8:5: key "name" given twice (first at line 7)`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("diagnostics (-want +got):\n%s", diff)
	}
	if v.Cloud != "a" || v.Items[0].Name != "n" || !cmp.Equal(v.Free, map[string]any{"x": 1}) {
		t.Errorf("decoded %+v", v)
	}
}

// TestDuplicateKeysInALargeMapping: duplicates are found with a map in a
// large mapping, and reported once each.
func TestDuplicateKeysInALargeMapping(t *testing.T) {
	var b strings.Builder
	b.WriteString("free:\n")
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&b, "  k%d: 1\n", i)
	}
	b.WriteString("  k7: 2\n  k7: 3\n  k39: 4\n")
	got := decodeStrings(t, b.String(), &outer{})
	want := []string{
		`f.yaml:42:3: key "k7" given twice (first at line 9)`,
		`f.yaml:43:3: key "k7" given twice (first at line 9)`,
		`f.yaml:44:3: key "k39" given twice (first at line 41)`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("diagnostics (-want +got):\n%s", diff)
	}
}

func TestAliasesAreChecked(t *testing.T) {
	var v outer
	_, ds := Decode([]byte("base: &b { name: a, bogus: 1 }\nmap: { k: *b, l: *b }\n"), "f.yaml", &v)
	want := []string{
		`f.yaml:1:1: unknown key "base"`,
		`f.yaml:1:21: map.k: unknown key "bogus"`,
	}
	if diff := cmp.Diff(want, strings.Split(ds.String(), "\n")); diff != "" {
		t.Errorf("diagnostics (-want +got):\n%s", diff)
	}
	if v.Map["l"].Name != "a" {
		t.Errorf("decoded %+v", v)
	}
}

func TestOtherShapes(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{name: "list as a key", in: "free: {? [a] : b}\n", want: []string{"f.yaml:1:10: a key must be a name or a number, not a list"}},
		{name: "merge of a scalar", in: "free: {<<: 1, a: 2}\n", want: []string{`f.yaml:1:12: << merges mappings into this one; want a mapping, an alias of one, or a list of them, got "1"`}},
		{name: "alias inside its value", in: "free: &a [1, *a]\n", want: []string{"f.yaml:1:14: alias *a is inside the value it names"}},
		{name: "merge checked against the type", in: "base: &b {name: a, bogus: 1}\nitems: [{<<: *b, name: c}]\n", want: []string{
			`f.yaml:1:1: unknown key "base"`,
			`f.yaml:1:20: items[0]: unknown key "bogus"`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, decodeStrings(t, tc.in, &outer{})); diff != "" {
				t.Errorf("diagnostics (-want +got):\n%s", diff)
			}
		})
	}
}

// TestLimits: a document over a limit is refused with one diagnostic where
// the limit is passed; one at the limit is decoded.
func TestLimits(t *testing.T) {
	nested := func(n int) string { return "free: " + strings.Repeat("[", n-1) + strings.Repeat("]", n-1) + "\n" }
	laughs := "free:\n  a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	for i, prev := range []string{"a", "b", "c", "d", "e"} {
		name := string(rune('b' + i))
		laughs += fmt.Sprintf("  %s: &%s [*%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s]\n", name, name, prev, prev, prev, prev, prev, prev, prev, prev, prev, prev)
	}
	var list strings.Builder
	list.WriteString("free: [")
	for i := 0; i < MaxNodes; i++ {
		list.WriteString("1,")
	}
	list.WriteString("]\n")
	for _, tc := range []struct {
		name string
		in   string
		want []string // nil: accepted
	}{
		{name: "bytes", in: "cloud: a\n" + strings.Repeat("#", MaxBytes-9) + "\n", want: []string{"f.yaml:1:1: the file is 1048577 bytes; the limit is 1 MiB"}},
		{name: "bytes at the limit", in: "cloud: a\n" + strings.Repeat("#", MaxBytes-10) + "\n"},
		{name: "keys", in: string(manyKeys(100_000)), want: []string{"f.yaml:6:17: a mapping of 100000 keys; the limit is 1000"}},
		{name: "keys at the limit", in: string(manyKeys(MaxKeysPerMapping))},
		{name: "values", in: list.String(), want: []string{fmt.Sprintf("f.yaml:1:%d: more than 100000 values in the document (each use of an alias counts its value again)", 8+2*(MaxNodes-3))}},
		{name: "values through aliases", in: laughs, want: []string{"f.yaml:6:38: more than 100000 values in the document (each use of an alias counts its value again)"}},
		{name: "depth", in: nested(MaxDepth + 1), want: []string{"f.yaml:1:106: values nested more than 100 deep"}},
		{name: "depth at the limit", in: nested(MaxDepth)},
		{name: "depth through aliases", in: "a: &a " + strings.Repeat("[", 60) + strings.Repeat("]", 60) + "\nfree: " + strings.Repeat("[", 45) + "*a" + strings.Repeat("]", 45) + "\n", want: []string{"f.yaml:2:52: values nested more than 100 deep (through alias *a)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v specShape
			doc, ds := Decode([]byte(tc.in), "f.yaml", &v)
			if tc.want == nil {
				if len(ds) > 0 && tc.name != "depth at the limit" {
					t.Fatalf("refused: %s", ds)
				}
				if doc.Root == nil {
					t.Error("accepted, but no root")
				}
				return
			}
			if diff := cmp.Diff(tc.want, strings.Split(ds.String(), "\n")); diff != "" {
				t.Errorf("diagnostics (-want +got):\n%s", diff)
			}
			if doc.Root != nil {
				t.Error("a refused document has a root")
			}
		})
	}
}

// TestDiagnosticsCap: a file with more than MaxDiagnostics problems gets
// the first MaxDiagnostics and a count of the rest, exact.
func TestDiagnosticsCap(t *testing.T) {
	var b strings.Builder
	b.WriteString("free: 1\n")
	for i := 0; i < MaxDiagnostics+57; i++ {
		fmt.Fprintf(&b, "bogus%d: 1\n", i)
	}
	_, ds := Decode([]byte(b.String()), "f.yaml", &outer{})
	if len(ds) != MaxDiagnostics+1 {
		t.Fatalf("%d diagnostics", len(ds))
	}
	if got := ds[MaxDiagnostics-1].String(); got != `f.yaml:101:1: unknown key "bogus99"` {
		t.Errorf("last shown: %s", got)
	}
	if got := ds[MaxDiagnostics].String(); got != "f.yaml:102:1: and 57 more errors (only the first 100 are shown)" {
		t.Errorf("count: %s", got)
	}
}

// FuzzDecode: no input makes Decode panic; every diagnostic is an error
// with a position in the file, in the user's terms; a document with no
// diagnostic has a root.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		"cloud: worldwide\nintegrations:\n  teams-messaging-bot:\n    roles:\n      bot: { addresses: [198.51.100.1] }\n",
		"cloud: [\n", "a: &a [*a]\n", "? [a]\n: b\n", "<<: {cloud: a}\n", "cloud: a\ncloud: b\n",
		"name: \"x\ncloud: 'y\n", "\tcloud: a\n", "integrations: {x: {parameters: {a: !!int b}}}\n",
		"integrations: {x: {roles: {b: {addresses: 1}}}}\n", "---\n...\n---\n", "a: |\n  [\n b: ]\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v specShape
		doc, ds := Decode(data, "fuzz.yaml", &v)
		if len(ds) == 0 && doc.Root == nil {
			t.Fatalf("no root and no diagnostic for %q", data)
		}
		if len(ds) > MaxDiagnostics+1 {
			t.Fatalf("%d diagnostics", len(ds))
		}
		for _, d := range ds {
			if d.Severity != diag.Error || d.Pos.File != "fuzz.yaml" || d.Message == "" {
				t.Fatalf("diagnostic %+v for %q", d, data)
			}
		}
		checkNoGoInternals(t, ds)
	})
}

// TestAliasOfADroppedValue: an anchor on the value of a pair that is
// reported and dropped still serves its aliases.
func TestAliasOfADroppedValue(t *testing.T) {
	var v outer
	got := decodeStrings(t, "free: 1\nfree: &x [a, b]\ncloud: c\nitems: [{name: n, ports: *x}]\n", &v)
	want := []string{`f.yaml:2:1: key "free" given twice (first at line 1)`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("diagnostics (-want +got):\n%s", diff)
	}
	if !cmp.Equal(v.Items[0].Ports, []string{"a", "b"}) || v.Free != 1 {
		t.Errorf("decoded %+v", v)
	}
}
