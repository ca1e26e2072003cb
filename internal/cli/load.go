package cli

import (
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/teamsgate/teamsgate/internal/catalog"
	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/plan"
	"github.com/teamsgate/teamsgate/internal/spec"
)

// catalogFlag adds --catalog to a command and returns where its value goes.
func catalogFlag(c *cobra.Command) *string {
	var dir string
	c.Flags().StringVar(&dir, "catalog", "", "directory of catalog entries that add to or override the embedded catalog")
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
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		if err == nil {
			err = os.ErrInvalid
		}
		return nil, inputError(&diag.ListError{List: diag.List{{Pos: diag.Pos{File: dir}, Message: "catalog overlay must be a directory: " + err.Error()}}})
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

// loadPlan reads the catalog and the spec and plans the deployment. Any
// error diagnostic makes it fail with every problem listed.
func loadPlan(catalogDir, specFile string) (*planned, error) {
	cat, err := loadCatalog(catalogDir)
	if err != nil {
		return nil, err
	}
	s, ds := spec.ParseFile(specFile, cat)
	if ds.HasErrors() || s == nil {
		return nil, inputError(ds.Err())
	}
	p, pds := plan.Build(cat, s)
	ds.Append(pds)
	if ds.HasErrors() {
		return nil, inputError(ds.Err())
	}
	return &planned{cat: cat, spec: s, plan: p, warnings: ds.Warnings()}, nil
}
