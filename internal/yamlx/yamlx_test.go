package yamlx

import (
	"strings"
	"testing"

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
	for name, tc := range map[string]struct{ in, want string }{
		"two documents": {in: "cloud: a\n---\ncloud: b\n", want: "f.yaml:2:1: more than one YAML document"},
		"duplicate key": {in: "cloud: a\ncloud: b\n", want: `f.yaml:2:1: key "cloud" given twice`},
		"empty":         {in: "# nothing\n", want: "f.yaml:1:1: empty document"},
		"type":          {in: "items: 3\n", want: "f.yaml:1: cannot unmarshal a number `3` into []yamlx.inner"},
		"syntax":        {in: "items: [\n", want: "f.yaml:1: malformed YAML"},
		"tab":           {in: "cloud:\n\t- x\n", want: "malformed YAML"},
	} {
		t.Run(name, func(t *testing.T) {
			var v outer
			_, ds := Decode([]byte(tc.in), "f.yaml", &v)
			if !strings.Contains(ds.String(), tc.want) {
				t.Errorf("diagnostics %q, want one containing %q", ds.String(), tc.want)
			}
		})
	}
}

func TestAliasesAreChecked(t *testing.T) {
	var v outer
	_, ds := Decode([]byte("base: &b { name: a, bogus: 1 }\nmap: { k: *b }\n"), "f.yaml", &v)
	if !strings.Contains(ds.String(), `unknown key "bogus"`) || !strings.Contains(ds.String(), `unknown key "base"`) {
		t.Errorf("diagnostics %q", ds.String())
	}
}
