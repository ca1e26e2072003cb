// Package load builds the egress proxy's configuration from a deployment
// spec file: planfile reads and plans it, package egress decodes the spec's
// egress: section against the plan, and the PAC renderer writes the proxy
// auto-config file of its allow list. It is the one place where the spec
// meets the proxy, so that package egress never imports the spec, the
// catalog, the planner or a renderer.
package load

import (
	"strings"

	"github.com/teamsgate/teamsgate/internal/catalog"
	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/egress"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/planfile"
	"github.com/teamsgate/teamsgate/internal/render/pac"
	"github.com/teamsgate/teamsgate/internal/spec"
	"github.com/teamsgate/teamsgate/internal/view"
)

// File reads and plans the spec file against cat and returns the proxy's
// configuration, with every problem of the steps.
func File(cat *catalog.Catalog, name string) (*egress.Config, diag.List) {
	return planfile.Section(cat, name, Config)
}

// Config returns the proxy's configuration of a parsed spec and its plan:
// package egress decodes the spec's egress: section itself; the PAC file
// is rendered here.
func Config(s *spec.Spec, p *model.Plan) (*egress.Config, diag.List) {
	cfg, ds := egress.FromSection(s.Egress, s.File, p)
	if cfg == nil {
		return nil, ds
	}
	data, pds := PAC(p, cfg)
	cfg.PAC = data
	for i := range pds {
		pds[i].Pos = s.Egress.At()
	}
	ds.Append(pds)
	return cfg, ds
}

// PAC renders the proxy auto-config file of cfg's allow list: the plan's
// rules that the allow list holds and that name hosts, through the proxy
// at cfg.PACProxy, everything else DIRECT, as `teamsgate render --target
// pac --proxy PACPROXY` writes it (with --scope ROLE when the
// list is one role's). It returns nil, with a warning, when there is
// nothing to write: no address to send clients to, or no host name.
func PAC(p *model.Plan, cfg *egress.Config) ([]byte, diag.List) {
	var ds diag.List
	if !cfg.PACProxy.IsValid() {
		return nil, ds // FromSection has said why
	}
	hosts := map[string]bool{}
	roles := map[string]bool{}
	for _, r := range cfg.Rules {
		if len(r.Hosts) > 0 {
			hosts[r.FlowID] = true
			roles[r.Role] = true
		}
	}
	if len(hosts) == 0 {
		if len(cfg.Rules) > 0 {
			ds.Warnf(diag.Pos{}, "egress", "no proxy.pac: the allow list names no host, only prefixes")
		}
		return nil, ds
	}
	// The allow list's rules only; the outside marks shape a firewall's
	// perimeter, not what clients send through the proxy.
	sub := *p
	sub.Rules = nil
	for _, r := range p.Rules {
		if hosts[r.ID] {
			r.Source.Outside, r.Destination.Outside = false, false
			sub.Rules = append(sub.Rules, r)
		}
	}
	opt := view.Options{FQDN: view.FQDNViaProxy, Proxy: cfg.PACProxy}
	if len(roles) == 1 {
		for r := range roles {
			opt.Scope = r
		}
	}
	out, rds := pac.New().Render(&sub, opt)
	if rds.HasErrors() {
		// The proxy runs without a PAC file; say why there is none.
		var msgs []string
		for _, d := range rds.Errors() {
			msgs = append(msgs, d.String())
		}
		ds.Warnf(diag.Pos{}, "egress", "no proxy.pac: %s", strings.Join(msgs, "; "))
		return nil, ds
	}
	return out.Files[pac.FileName], ds
}
