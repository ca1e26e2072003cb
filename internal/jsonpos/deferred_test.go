package jsonpos

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/teamsgate/teamsgate/internal/diag"
)

func TestDeferredPositions(t *testing.T) {
	data := []byte("{\n  \"values\": [\n    {\"name\": \"A\"},\n    {\"name\": \"B\",\n     \"a]\\\"b\": [1, 2]}\n  ]\n}")
	var d Deferred
	d.Errorf(Index(Member("$", "values"), 1), "B", "bad set")
	d.Errorf(Index(Member(Index("$.values", 1), `a]"b`), 1), "B", "bad item")
	d.Errorf(Member(Index("$.values", 0), "missing"), "A", "no such member: its object")
	d.Errorf("$.nothing.below", "", "nothing: the root")
	d.Errorf("not a path", "", "no position")
	got := d.List(data)
	want := diag.List{
		{Severity: diag.Error, Pos: diag.Pos{Line: 4, Col: 5}, Subject: "B", Message: "bad set"},
		{Severity: diag.Error, Pos: diag.Pos{Line: 5, Col: 19}, Subject: "B", Message: "bad item"},
		{Severity: diag.Error, Pos: diag.Pos{Line: 3, Col: 5}, Subject: "A", Message: "no such member: its object"},
		{Severity: diag.Error, Pos: diag.Pos{Line: 1, Col: 1}, Message: "nothing: the root"},
		{Severity: diag.Error, Message: "no position"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	if d.Len() != 5 {
		t.Errorf("Len = %d", d.Len())
	}
}

// TestDeferredUnparsable: a document jsonpos refuses (a duplicate key,
// which encoding/json accepts) leaves the diagnostics without positions.
func TestDeferredUnparsable(t *testing.T) {
	var d Deferred
	d.Errorf("$.a", "", "bad")
	got := d.List([]byte(`{"a": 1, "a": 2}`))
	if len(got) != 1 || got[0].Pos != (diag.Pos{}) || got[0].Message != "bad" {
		t.Errorf("List = %v", got)
	}
	if (&Deferred{}).List([]byte("{")) != nil {
		t.Error("no diagnostics should give nil, without parsing")
	}
}

// TestParentOracle: for every value of a document, parent of its path is
// its enclosing value's path.
func TestParentOracle(t *testing.T) {
	data := []byte(`{"a": [{"b.c": [1, {"[x]": 2, "q\"]": [3]}]}, 4], "d": {"e": {"f": null}}, "": 5}`)
	root, ds := Parse(data)
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	n := 0
	var visit func(v *Value, up string)
	visit = func(v *Value, up string) {
		n++
		if got := parent(v.Path); got != up {
			t.Errorf("parent(%q) = %q, want %q", v.Path, got, up)
		}
		for _, it := range v.Items {
			visit(it, v.Path)
		}
		for _, f := range v.Fields {
			visit(f.Value, v.Path)
		}
	}
	visit(root, "")
	if n != 14 {
		t.Errorf("visited %d values, want 14", n)
	}
	for _, bad := range []string{"", "x", "$x", `$["open`, "$[1"} {
		if got := parent(bad); got != "" {
			t.Errorf("parent(%q) = %q, want \"\"", bad, got)
		}
	}
}

func TestDescribe(t *testing.T) {
	var v struct {
		A struct {
			B []string `json:"b"`
		} `json:"a"`
		N int `json:"n"`
	}
	for _, tc := range []struct{ in, field, msg string }{
		{in: `{"a": {"b": [1]}}`, field: "a.b", msg: "a.b: want a string, got number"},
		{in: `{"n": "x"}`, field: "n", msg: "n: want a number, got string"},
		{in: `{"a": []}`, field: "a", msg: "a: want an object, got array"},
		{in: `[]`, msg: "want an object, got array"},
		{in: `{`, msg: "unexpected end of JSON input"},
	} {
		field, msg := Describe(json.Unmarshal([]byte(tc.in), &v))
		if field != tc.field || msg != tc.msg {
			t.Errorf("Describe(%s) = %q, %q; want %q, %q", tc.in, field, msg, tc.field, tc.msg)
		}
	}
	if got := Dotted("$[2]", "a.b"); got != "$[2].a.b" {
		t.Errorf("Dotted = %q", got)
	}
}

// TestErrorPos: a type error is placed where its value starts, a syntax
// error where it was found.
func TestErrorPos(t *testing.T) {
	var v struct {
		N int      `json:"n"`
		S string   `json:"s"`
		L []string `json:"l"`
	}
	for _, tc := range []struct {
		in        string
		line, col int
	}{
		{in: "{\n  \"n\": \"a\\\"b\\\\\"}", line: 2, col: 8},
		{in: "{\"s\": -12.5e3}", line: 1, col: 7},
		{in: "{\"s\": true}", line: 1, col: 7},
		{in: "{\"l\": [1]}", line: 1, col: 8},
		{in: "{\"l\":\n {}}", line: 2, col: 2},
		{in: "{\"n\": 1,,}", line: 1, col: 9},
		{in: "{\"n\": 1", line: 1, col: 8},
	} {
		got := ErrorPos([]byte(tc.in), json.Unmarshal([]byte(tc.in), &v))
		if got.Line != tc.line || got.Col != tc.col {
			t.Errorf("ErrorPos(%s) = %d:%d, want %d:%d", tc.in, got.Line, got.Col, tc.line, tc.col)
		}
	}
	if got := ErrorPos(nil, errors.New("other")); got != (diag.Pos{}) {
		t.Errorf("ErrorPos(other) = %v", got)
	}
}
