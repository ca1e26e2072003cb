package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/teamsgate/teamsgate/internal/audit/formats"
	"github.com/teamsgate/teamsgate/internal/catalog"
	"github.com/teamsgate/teamsgate/internal/planfile"
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
	maxConfigBytes = formats.MaxBytes
	// maxCertBytes bounds a certificate, key, password or roots file: a
	// PFX with its chain is a few KiB, the system's root bundle 200 KiB.
	maxCertBytes = 16 << 20
)

// catalogFlag adds --catalog to a command and returns where its value goes.
func catalogFlag(c *cobra.Command) *string {
	var dir string
	c.Flags().StringVar(&dir, "catalog", os.Getenv(catalogEnv), "directory of catalog entries that add to or override the embedded catalog, such as the one catalog update keeps (default $"+catalogEnv+")")
	_ = c.MarkFlagDirname("catalog")
	return &dir
}

// loadCatalog returns the embedded catalog, with dir laid over it when
// given.
func loadCatalog(dir string) (*catalog.Catalog, error) {
	if dir != "" {
		st, err := os.Stat(dir)
		switch {
		case err != nil:
			return nil, inputError(fileError("--catalog", dir, err))
		case !st.IsDir():
			return nil, inputError(fmt.Errorf("--catalog %q is a file: give the directory of an overlay (docs/catalog.md)", dir))
		}
	}
	c, ds := planfile.Catalog(dir)
	if ds.HasErrors() {
		return nil, inputError(ds.Err())
	}
	return c, nil
}

// specName is how diagnostics name a spec: its file name, or <stdin>.
func specName(file string) string {
	if file == "-" {
		return "<stdin>"
	}
	return file
}

// loadPlan reads the catalog and the spec (a file, or standard input for
// "-") and plans the deployment. Any error diagnostic makes it fail with
// every problem listed.
func (e *env) loadPlan(catalogDir, specFile string) (*planfile.Planned, error) {
	pl, err := e.loadPlanQuiet(catalogDir, specFile)
	if err != nil {
		return nil, err
	}
	e.warnStale(pl.Catalog, pl.Plan.Cloud)
	return pl, nil
}

// loadPlanQuiet is loadPlan without the warning about old data, for a
// baseline (--since) whose age does not matter.
func (e *env) loadPlanQuiet(catalogDir, specFile string) (*planfile.Planned, error) {
	cat, err := loadCatalog(catalogDir)
	if err != nil {
		return nil, err
	}
	data, err := e.readInput("spec", specFile, maxSpecBytes)
	if err != nil {
		return nil, inputError(err)
	}
	pl, ds := planfile.Read(cat, data, specName(specFile))
	if pl == nil {
		return nil, inputError(ds.Err())
	}
	return pl, nil
}

// loadPlans plans one spec (read once: it may be standard input) with the
// catalog directory sinceDir and with catalogDir, for --since. Only the
// second warns about old data.
func (e *env) loadPlans(sinceDir, catalogDir, specFile string) (old, cur *planfile.Planned, err error) {
	if sinceDir == "" {
		return nil, nil, inputError(fmt.Errorf("--since needs a catalog directory"))
	}
	if st, err := os.Stat(sinceDir); err == nil && !st.IsDir() {
		return nil, nil, inputError(fmt.Errorf("--since %q is a file: give the catalog directory to compare with (after catalog update, DIR.previous)", sinceDir))
	}
	oldCat, err := loadCatalog(sinceDir)
	if err != nil {
		return nil, nil, err
	}
	cat, err := loadCatalog(catalogDir)
	if err != nil {
		return nil, nil, err
	}
	data, err := e.readInput("spec", specFile, maxSpecBytes)
	if err != nil {
		return nil, nil, inputError(err)
	}
	old, ds := planfile.Read(oldCat, data, specName(specFile))
	if old == nil {
		return nil, nil, inputError(fmt.Errorf("planning with the --since catalog %s: %w", sinceDir, ds.Err()))
	}
	cur, ds = planfile.Read(cat, data, specName(specFile))
	if cur == nil {
		return nil, nil, inputError(ds.Err())
	}
	e.warnStale(cur.Catalog, cur.Plan.Cloud)
	return old, cur, nil
}
