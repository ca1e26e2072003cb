// Package planfile is the one way from files to a plan: the catalog (the
// embedded one, with an overlay directory laid over it), a spec parsed
// against it, and the plan built from both. The command line, the
// gateway's loader and the tests all read a deployment through it, so
// that it is read the same way everywhere.
package planfile

import (
	"os"
	"path/filepath"

	"github.com/teamsgate/teamsgate/internal/catalog"
	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/plan"
	"github.com/teamsgate/teamsgate/internal/spec"
)

// Planned is a spec planned against its catalog.
type Planned struct {
	Catalog *catalog.Catalog
	Spec    *spec.Spec
	Plan    *model.Plan
	// Warnings are the spec's and the planner's diagnostics that are not
	// errors, sorted by position.
	Warnings diag.List
}

// Catalog returns the embedded catalog, with the overlay directory dir
// laid over it when dir is not empty.
func Catalog(dir string) (*catalog.Catalog, diag.List) {
	if dir == "" {
		return catalog.Embedded()
	}
	return catalog.WithOverlay(os.DirFS(dir), filepath.Clean(dir))
}

// Read parses spec data, named name in diagnostics, against cat and plans
// it. Any error makes the result nil; every problem of both steps is
// reported, sorted by position.
func Read(cat *catalog.Catalog, data []byte, name string) (*Planned, diag.List) {
	s, ds := spec.Parse(data, name, cat)
	if s == nil || ds.HasErrors() {
		return nil, ds
	}
	p, pds := plan.Build(cat, s)
	ds.Append(pds)
	ds.Sort()
	if ds.HasErrors() {
		return nil, ds
	}
	return &Planned{Catalog: cat, Spec: s, Plan: p, Warnings: ds.Warnings()}, ds
}

// ReadFile reads a spec file and plans it as Read does.
func ReadFile(cat *catalog.Catalog, name string) (*Planned, diag.List) {
	data, err := os.ReadFile(name)
	if err != nil {
		var ds diag.List
		ds.Errorf(diag.Pos{File: name}, "", "cannot read the spec: %s", diag.FileReason(err))
		return nil, ds
	}
	return Read(cat, data, name)
}

// Section reads and plans the spec file name against cat and gives the
// spec and its plan to decode, which builds a daemon's configuration from
// its section: the one path from a file to the gateway's or the egress
// proxy's configuration. Every problem of the three steps is returned,
// sorted; any error makes the configuration nil.
func Section[T any](cat *catalog.Catalog, name string, decode func(*spec.Spec, *model.Plan) (*T, diag.List)) (*T, diag.List) {
	pl, ds := ReadFile(cat, name)
	if pl == nil {
		return nil, ds
	}
	cfg, cds := decode(pl.Spec, pl.Plan)
	ds.Append(cds)
	ds.Sort()
	if ds.HasErrors() {
		return nil, ds
	}
	return cfg, ds
}
