package jsonpos

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParsePositions(t *testing.T) {
	in := "{\n  \"a\": [1, -2.5e3, \"x\\u00e9\\n\"],\n  \"b\": {\"c d\": null, \"e\": true}\n}"
	v, ds := Parse([]byte(in))
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	a := v.Get("a")
	if a.Pos.Line != 2 || a.Pos.Col != 8 || a.Path != "$.a" {
		t.Errorf("a at %v %s", a.Pos, a.Path)
	}
	if got := a.Items[2].Str; got != "xé\n" {
		t.Errorf("escaped string = %q", got)
	}
	if a.Items[1].Str != "-2.5e3" || a.Items[1].Kind != Number {
		t.Errorf("number = %+v", a.Items[1])
	}
	cd := v.Get("b").Get("c d")
	if cd.Kind != Null || cd.Path != `$.b["c d"]` || cd.Pos.Line != 3 {
		t.Errorf("c d = %+v", cd)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in  string
		line, col int
	}{
		{name: "duplicate key", in: "{\"a\": 1,\n \"a\": 2}", line: 2, col: 2},
		{name: "trailing comma", in: "[1,\n]", line: 2, col: 1},
		{name: "bad literal", in: "  tru", line: 1, col: 3},
		{name: "unterminated", in: "{\"a\": \"x", line: 1, col: 7},
		{name: "trailing data", in: "{} {}", line: 1, col: 4},
		{name: "leading zero", in: "[01]", line: 1, col: 3},
		{name: "control character", in: "[\"a\tb\"]", line: 1, col: 4},
		{name: "empty", in: "", line: 1, col: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ds := Parse([]byte(tc.in))
			if !ds.HasErrors() {
				t.Fatal("no error")
			}
			if p := ds[0].Pos; p.Line != tc.line || p.Col != tc.col {
				t.Errorf("error at %d:%d, want %d:%d: %s", p.Line, p.Col, tc.line, tc.col, ds)
			}
		})
	}
}

// FuzzParse checks that the scanner accepts exactly what encoding/json
// accepts (apart from duplicate keys, which it refuses) and never panics.
func FuzzParse(f *testing.F) {
	for _, s := range []string{`{"a":[1,2,{"b":null}]}`, `"\ud83d\ude00"`, `[1e5, -0.5, true]`, `{"a":1,"a":2}`, "[\"\xff\"]"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, ds := Parse(b)
		valid := json.Valid(b)
		switch {
		case ds.HasErrors() && valid:
			if !refusedOnPurpose(ds[0].Message) {
				t.Fatalf("refused valid JSON %q: %s", b, ds)
			}
		case !ds.HasErrors() && !valid:
			t.Fatalf("accepted invalid JSON %q", b)
		case !ds.HasErrors():
			var x any
			if err := json.Unmarshal(b, &x); err != nil {
				return // valid syntax, but a number out of float64 range
			}
			if diff := cmp.Diff(x, plain(v)); diff != "" {
				t.Fatalf("value differs from encoding/json for %q:\n%s", b, diff)
			}
		}
	})
}

// refusedOnPurpose reports whether valid JSON was refused for a duplicate
// key or a limit.
func refusedOnPurpose(msg string) bool {
	return contains(msg, "given twice") || contains(msg, "nesting deeper") || contains(msg, "more than") || contains(msg, "the document is")
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// plain converts a tree to what encoding/json decodes into any.
func plain(v *Value) any {
	switch v.Kind {
	case Null:
		return nil
	case Bool:
		return v.Bool
	case Number:
		var f float64
		if err := json.Unmarshal([]byte(v.Str), &f); err != nil {
			return v.Str
		}
		return f
	case String:
		return v.Str
	case Array:
		out := []any{}
		for _, it := range v.Items {
			out = append(out, plain(it))
		}
		return out
	}
	out := map[string]any{}
	for _, f := range v.Fields {
		out[f.Key] = plain(f.Value)
	}
	return out
}
