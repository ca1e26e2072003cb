// Package archtest holds the test that keeps the layers pointing one way
// (DESIGN.md: catalog → spec → plan → render / audit / serve): the model
// imports nothing of teamsgate, nothing downstream of the plan imports the
// catalog's or the spec's wire packages, the siblings render and audit
// share the view of the plan (internal/view) but never import each other
// (STYLE.md rule 17), and inside audit the parsers see only the IR and the
// set algebra.
package archtest

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/teamsgate/teamsgate/"

// match reports whether a package path (relative to the module) matches a
// pattern: "x/..." is x and every package below it, as in go list; any
// other pattern is that one package.
func match(pattern, pkg string) bool {
	if tree, ok := strings.CutSuffix(pattern, "/..."); ok {
		return pkg == tree || strings.HasPrefix(pkg, tree+"/")
	}
	return pkg == pattern
}

func TestLayers(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	rules := []struct {
		pkg       string   // the packages the rule is about
		forbidden []string // what they must not import
		only      []string // when set, the only packages of the module they may import
	}{
		{pkg: "internal/model/...", forbidden: []string{"internal/..."}},
		{pkg: "internal/diag/...", forbidden: []string{"internal/..."}},
		{pkg: "internal/render/...", forbidden: []string{"internal/catalog/...", "internal/spec/...", "internal/yamlx/..."}},
		{pkg: "internal/audit/...", forbidden: []string{"internal/catalog/...", "internal/yamlx/..."}},
		{pkg: "internal/botauth/...", forbidden: []string{"internal/catalog/...", "internal/spec/..."}},
		// The gateway owns its section of the spec (a raw yamlx.Section)
		// and takes the plan as a model value: it reads neither the spec,
		// the catalog nor the planner. Only its loader, ingress/load, ties
		// a spec file to it.
		{pkg: "internal/ingress", forbidden: []string{"internal/catalog/...", "internal/spec/...", "internal/plan/...", "internal/planfile/..."}},
		// Render and audit are siblings: both read the plan through the view,
		// and the view belongs to neither.
		{pkg: "internal/render/...", forbidden: []string{"internal/audit/..."}},
		{pkg: "internal/audit/...", forbidden: []string{"internal/render/..."}},
		{pkg: "internal/view/...", forbidden: []string{"internal/render/...", "internal/audit/...", "internal/catalog/...", "internal/spec/...", "internal/yamlx/..."}},
		// Inside audit the layers point one way: the set algebra, the IR
		// built on it, the evaluator and the parsers, the analysis. A parser
		// needs only the IR and the set algebra, never the evaluator or the
		// analysis; the IR lives apart from the engine that evaluates it.
		{pkg: "internal/audit/packet/...", only: []string{"internal/model/..."}},
		{pkg: "internal/audit/ruleset/...", only: []string{"internal/audit/packet/...", "internal/view/...", "internal/model/...", "internal/diag/...", "internal/servicetag/..."}},
		{pkg: "internal/audit/eval/...", only: []string{"internal/audit/packet/...", "internal/audit/ruleset/...", "internal/view/...", "internal/model/..."}},
		{pkg: "internal/audit/formats/...", only: []string{"internal/audit/formats/...", "internal/audit/packet/...", "internal/audit/ruleset/...", "internal/view/...", "internal/model/...", "internal/diag/...", "internal/jsonpos/..."}},
	}
	checked := make([]int, len(rules))
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module)
		for i, r := range rules {
			if !match(r.pkg, pkg) || strings.HasSuffix(pkg, "test") {
				continue
			}
			checked[i]++
			for _, imp := range fields[1:] {
				rel, ours := strings.CutPrefix(imp, module)
				if !ours {
					continue
				}
				for _, f := range r.forbidden {
					if match(f, rel) {
						t.Errorf("%s imports %s: the layers point one way (DESIGN.md)", pkg, imp)
					}
				}
				if r.only != nil && !slices.ContainsFunc(r.only, func(p string) bool { return match(p, rel) }) {
					t.Errorf("%s imports %s: it may import only %s of teamsgate (internal/audit/README.md)", pkg, imp, strings.Join(r.only, ", "))
				}
			}
		}
	}
	for i, r := range rules {
		if checked[i] == 0 {
			t.Errorf("the rule for %s checked no package: a package moved and the rule did not follow", r.pkg)
		}
	}
}
