// Package archtest holds the test that keeps the layers pointing one way
// (DESIGN.md: catalog → spec → plan → render / audit / serve): the model
// imports nothing of teamsgate, and nothing downstream of the plan imports
// the catalog's or the spec's wire packages.
package archtest

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/teamsgate/teamsgate/"

func TestLayers(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	rules := []struct {
		pkgPrefix string
		forbidden []string
	}{
		{pkgPrefix: "internal/model", forbidden: []string{module + "internal/"}},
		{pkgPrefix: "internal/diag", forbidden: []string{module + "internal/"}},
		{pkgPrefix: "internal/render/", forbidden: []string{module + "internal/catalog", module + "internal/spec", module + "internal/yamlx"}},
		{pkgPrefix: "internal/audit", forbidden: []string{module + "internal/catalog", module + "internal/yamlx"}},
		{pkgPrefix: "internal/botauth", forbidden: []string{module + "internal/catalog", module + "internal/spec"}},
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module)
		for _, r := range rules {
			if !strings.HasPrefix(pkg, r.pkgPrefix) || strings.HasSuffix(pkg, "test") {
				continue
			}
			checked++
			for _, imp := range fields[1:] {
				for _, f := range r.forbidden {
					if strings.HasPrefix(imp, f) {
						t.Errorf("%s imports %s: the layers point one way (DESIGN.md)", pkg, imp)
					}
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no package checked")
	}
}
