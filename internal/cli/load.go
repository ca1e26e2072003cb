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
	c.Flags().StringVar(&dir, "catalog", "", "directory of catalog entries that add to or override the embedded catalog")
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
