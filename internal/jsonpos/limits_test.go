package jsonpos

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// manyKeys is an object of n members, one a line; with dup, every key is
// the same.
func manyKeys(n int, dup bool) []byte {
	var b strings.Builder
	b.WriteString("{\n")
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(",\n")
		}
		if dup {
			fmt.Fprintf(&b, "  \"k\": %d", i)
		} else {
			fmt.Fprintf(&b, "  \"k%d\": %d", i, i)
		}
	}
	b.WriteString("\n}\n")
	return []byte(b.String())
}

func TestParseDuplicates(t *testing.T) {
	in := "{\"a\": 1,\n \"b\": {\"x\": 1, \"x\": 2},\n \"a\": 3,\n \"a\": 4}"
	_, ds := Parse([]byte(in))
	var got []string
	for _, d := range ds {
		got = append(got, d.String())
	}
	want := []string{
		`2:16: key "x" given twice (first at line 2)`,
		`3:2: key "a" given twice (first at line 1)`,
		`4:2: key "a" given twice (first at line 1)`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("diagnostics (-want +got):\n%s", diff)
	}
}

// TestParseManyKeys: 100,000 members are read in linear time (see
// BenchmarkParseManyKeys); 100,000 copies of one key are reported
// MaxDiagnostics times and counted.
func TestParseManyKeys(t *testing.T) {
	v, ds := Parse(manyKeys(100_000, false))
	if len(ds) > 0 || len(v.Fields) != 100_000 || v.Get("k99999").Str != "99999" {
		t.Fatalf("%d fields, %s", len(v.Fields), ds)
	}
	v, ds = Parse(manyKeys(100_000, true))
	if v != nil || len(ds) != MaxDiagnostics+1 {
		t.Fatalf("%d diagnostics", len(ds))
	}
	if got := ds[0].String(); got != `3:3: key "k" given twice (first at line 2)` {
		t.Errorf("first: %s", got)
	}
	if got := ds[MaxDiagnostics].String(); got != "103:3: and 99899 more errors (only the first 100 are shown)" {
		t.Errorf("last: %s", got)
	}
}

func TestParseLimits(t *testing.T) {
	const maxValues = 1000                                   // MaxValues, scaled down
	values := "[" + strings.Repeat("1,", maxValues-2) + "1]" // the array and its items
	for _, tc := range []struct {
		name, in, want string
	}{
		{name: "bytes", in: "[" + strings.Repeat(" ", MaxBytes-1) + "]", want: "1:1: the document is 33554433 bytes; the limit is 32 MiB"},
		{name: "values", in: values[:len(values)-1] + ",1]", want: fmt.Sprintf("1:%d: invalid JSON: more than %d values in the document", 2*maxValues, maxValues)},
		{name: "depth", in: strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1), want: "1:201: invalid JSON: nesting deeper than 200 levels"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, ds := parse([]byte(tc.in), maxValues)
			if v != nil || ds.String() != tc.want {
				t.Errorf("diagnostics %q, want %q", ds, tc.want)
			}
		})
	}
	if _, ds := parse([]byte(values), maxValues); len(ds) > 0 {
		t.Errorf("maxValues values refused: %s", ds)
	}
	if _, ds := Parse([]byte(strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth))); len(ds) > 0 {
		t.Errorf("MaxDepth levels refused: %s", ds)
	}
}

// TestLongPaths: a path past MaxPath is cut, and shared by the values
// below, so one long key does not cost its length for each of them; the
// positions stay exact, and Deferred places a value below the cut at the
// nearest value above it.
func TestLongPaths(t *testing.T) {
	long := strings.Repeat("k", MaxPath)
	data := []byte(`{"a": {"` + long + `": [1, 2, {"b": 3}]}}`)
	v, ds := Parse(data)
	if len(ds) > 0 {
		t.Fatal(ds)
	}
	arr := v.Get("a").Get(long)
	if want := "$.a" + cut; arr.Path != want || arr.Items[2].Get("b").Path != want {
		t.Errorf("paths %q, %q", arr.Path, arr.Items[2].Get("b").Path)
	}
	if p := arr.Items[1].Pos; p.Line != 1 || p.Col != 16+MaxPath {
		t.Errorf("position %v", p)
	}
	var d Deferred
	d.Errorf(Member(Index(Member(Member("$", "a"), long), 2), "b"), "", "bad")
	if got := d.List(data); got[0].Pos.Col != 7 {
		t.Errorf("deferred at %v, want the value of a", got[0].Pos)
	}
}

func BenchmarkParseManyKeys(b *testing.B) {
	for _, dup := range []bool{false, true} {
		data := manyKeys(100_000, dup)
		b.Run(fmt.Sprintf("dup=%v", dup), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for i := 0; i < b.N; i++ {
				Parse(data)
			}
		})
	}
}

// BenchmarkParseLongKey parses one long key above 100,000 values, which
// cost the key's length each when paths were not cut.
func BenchmarkParseLongKey(b *testing.B) {
	data := []byte(`{"` + strings.Repeat("k", 100_000) + `": [` + strings.Repeat("1,", 100_000) + `1]}`)
	b.SetBytes(int64(len(data)))
	for i := 0; i < b.N; i++ {
		if _, ds := Parse(data); len(ds) > 0 {
			b.Fatal(ds)
		}
	}
}
