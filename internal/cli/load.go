package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/teamsgate/teamsgate/internal/audit/parse"
	"github.com/teamsgate/teamsgate/internal/catalog"
	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/plan"
	"github.com/teamsgate/teamsgate/internal/spec"
	"github.com/teamsgate/teamsgate/internal/yamlx"
)

// Input limits: far above any real input, they keep a wrong or hostile file
// from taking the machine's memory and time. The README lists them.
const (
	// maxSpecBytes bounds a deployment spec: the YAML reader's own limit
	// (a spec with every integration and hundreds of addresses is a few
	// KiB).
	maxSpecBytes = yamlx.MaxBytes
	// maxConfigBytes bounds a configuration to audit: the parsers' limit.
	// 100,000 iptables rules are about 10 MiB, the largest NSG or
	// account-wide describe-security-groups export a few MiB.
	maxConfigBytes = parse.MaxBytes
	// maxCertBytes bounds a certificate, key, password or roots file: a
	// PFX with its chain is a few KiB, the system's root bundle 200 KiB.
	maxCertBytes = 16 << 20
)

// catalogFlag adds --catalog to a command and returns where its value goes.
func catalogFlag(c *cobra.Command) *string {
	var dir string
	c.Flags().StringVar(&dir, "catalog", "", "directory of catalog entries that add to or override the embedded catalog")
	_ = c.MarkFlagDirname("catalog")
	return &dir
}

// loadCatalog returns the embedded catalog, with dir laid over it when
// given.
func loadCatalog(dir string) (*catalog.Catalog, error) {
	if dir == "" {
		c, ds := catalog.Embedded()
		if ds.HasErrors() {
			return nil, inputError(ds.Err())
		}
		return c, nil
	}
	st, err := os.Stat(dir)
	switch {
	case err != nil:
		return nil, inputError(fileError("--catalog", dir, err))
	case !st.IsDir():
		return nil, inputError(fmt.Errorf("--catalog %q is a file: give the directory of an overlay (docs/catalog.md)", dir))
	}
	c, ds := catalog.WithOverlay(os.DirFS(dir), filepath.Clean(dir))
	if ds.HasErrors() {
		return nil, inputError(ds.Err())
	}
	return c, nil
}

// planned is a spec with its catalog and plan.
type planned struct {
	cat  *catalog.Catalog
	spec *spec.Spec
	plan *model.Plan
	// warnings are the planning warnings, positioned.
	warnings diag.List
}

// specName is how diagnostics name a spec: its file name, or <stdin>.
func specName(file string) string {
	if file == "-" {
		return "<stdin>"
	}
	return file
}

// loadSpec reads and parses a spec file, or standard input for "-".
func (e *env) loadSpec(cat *catalog.Catalog, file string) (*spec.Spec, diag.List, error) {
	data, err := e.readInput("spec", file, maxSpecBytes)
	if err != nil {
		return nil, nil, inputError(err)
	}
	s, ds := spec.Parse(data, specName(file), cat)
	if ds.HasErrors() || s == nil {
		return nil, nil, inputError(ds.Err())
	}
	return s, ds, nil
}

// loadPlan reads the catalog and the spec and plans the deployment. Any
// error diagnostic makes it fail with every problem listed.
func (e *env) loadPlan(catalogDir, specFile string) (*planned, error) {
	cat, err := loadCatalog(catalogDir)
	if err != nil {
		return nil, err
	}
	s, ds, err := e.loadSpec(cat, specFile)
	if err != nil {
		return nil, err
	}
	p, pds := plan.Build(cat, s)
	ds.Append(pds)
	if ds.HasErrors() {
		ds.Sort()
		return nil, inputError(ds.Err())
	}
	return &planned{cat: cat, spec: s, plan: p, warnings: ds.Warnings()}, nil
}
