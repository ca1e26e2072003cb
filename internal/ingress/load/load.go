// Package load builds the gateway's configuration from a deployment spec
// file: planfile reads and plans it, and package ingress decodes the spec's
// gateway: section against the plan. It is the one place where the spec
// meets the gateway, so that package ingress never imports the spec, the
// catalog or the planner.
package load

import (
	"github.com/teamsgate/teamsgate/internal/catalog"
	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/ingress"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/planfile"
	"github.com/teamsgate/teamsgate/internal/spec"
)

// File reads and plans the spec file against cat and returns the
// gateway configuration, with every problem of the three steps.
func File(cat *catalog.Catalog, name string) (*ingress.Config, diag.List) {
	return planfile.Section(cat, name, func(s *spec.Spec, p *model.Plan) (*ingress.Config, diag.List) {
		return Config(cat, s, p)
	})
}

// EmbeddedFile is File against the embedded catalog alone (no overlays),
// for tools that run a gateway configuration outside the command line.
func EmbeddedFile(name string) (*ingress.Config, error) {
	cat, ds := catalog.Embedded()
	if ds.HasErrors() {
		return nil, ds.Err()
	}
	cfg, ds := File(cat, name)
	if ds.HasErrors() {
		return nil, ds.Err()
	}
	return cfg, nil
}

// Config returns the gateway configuration of a parsed spec and its plan:
// package ingress decodes the spec's gateway: section itself. Service tags
// among the trusted proxies come from the section's sources.service_tags
// file or, without one, from cat's service tags for the spec's cloud
// (catalog update --service-tags), so that the trust follows the catalog.
func Config(cat *catalog.Catalog, s *spec.Spec, p *model.Plan) (*ingress.Config, diag.List) {
	var tags ingress.TagSource
	if cat != nil {
		if t := cat.TagsFor(p.Cloud); t != nil {
			tags = t
		}
	}
	return ingress.FromSection(s.Gateway, s.File, p, tags)
}
