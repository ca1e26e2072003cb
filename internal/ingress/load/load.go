// Package load builds the gateway's configuration from a deployment spec:
// the gateway: section for everything the user chose, and the plan for the
// Teams service ranges the bot must admit. It is the one place where the
// spec's types meet the gateway's, so that package ingress never imports
// the spec or the planner.
package load

import (
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go4.org/netipx"

	"github.com/teamsgate/teamsgate/internal/botauth"
	"github.com/teamsgate/teamsgate/internal/catalog"
	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/ingress"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/plan"
	"github.com/teamsgate/teamsgate/internal/servicetag"
	"github.com/teamsgate/teamsgate/internal/spec"
)

// File parses the spec file against cat, plans it and returns the gateway
// configuration, with every problem of the three steps.
func File(cat *catalog.Catalog, name string) (*ingress.Config, diag.List) {
	s, ds := spec.ParseFile(name, cat)
	if s == nil || ds.HasErrors() {
		return nil, ds
	}
	p, pds := plan.Build(cat, s)
	ds.Append(pds)
	if ds.HasErrors() {
		return nil, ds
	}
	cfg, cds := Config(s, p)
	ds.Append(cds)
	ds.Sort()
	if ds.HasErrors() {
		return nil, ds
	}
	return cfg, ds
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

// Config returns the gateway configuration of a parsed spec and its plan.
// The allowed sources are the union of the sources of the plan's rules for
// ingress.ActivityFlow (the Teams service ranges of the spec's cloud), plus
// or instead of the gateway's extra ranges. Relative file names are taken
// relative to the spec file's directory, and every named file must exist.
func Config(s *spec.Spec, p *model.Plan) (*ingress.Config, diag.List) {
	var ds diag.List
	g := s.Gateway
	if g == nil {
		ds.Errorf(s.At(), "", "the spec has no gateway: section; serve needs one (see docs/gateway.md)")
		return nil, ds
	}
	at := func(path ...string) diag.Pos { return s.At(append([]string{"gateway"}, path...)...) }
	dir := filepath.Dir(s.File)
	file := func(name string, path ...string) string {
		if name == "" {
			return ""
		}
		if !filepath.IsAbs(name) {
			name = filepath.Join(dir, name)
		}
		if _, err := os.Stat(name); err != nil {
			ds.Errorf(at(path...), "gateway", "%s: %q: %s", strings.Join(path, "."), name, diag.FileReason(err))
		}
		return name
	}

	cfg := &ingress.Config{
		Listen:         g.Listen,
		ReusePort:      g.ReusePort,
		AdminListen:    g.AdminListen,
		AdminTokenFile: file(g.AdminTokenFile, "admin", "token_file"),
		PlainHTTP:      g.PlainHTTP,
		TLS: ingress.TLSConfig{
			CertFile:       file(g.TLS.CertFile, "tls", "cert"),
			KeyFile:        file(g.TLS.KeyFile, "tls", "key"),
			ClientCAFile:   file(g.TLS.ClientCAFile, "tls", "client_ca"),
			ReloadInterval: g.TLS.ReloadInterval,
		},
		Mode:  ingress.Enforce,
		Paths: slices.Clone(g.Paths),
		Auth: botauth.Config{
			AppIDs:                slices.Clone(g.AppIDs),
			Cloud:                 botauth.Cloud(s.Cloud),
			Issuer:                g.BotAuth.Issuer,
			MetadataURL:           g.BotAuth.MetadataURL,
			AllowInsecureLoopback: g.BotAuth.AllowInsecureLoopback,
			Algorithms:            slices.Clone(g.BotAuth.Algorithms),
			Channels:              slices.Clone(g.BotAuth.Channels),
			ClockSkew:             g.BotAuth.ClockSkew,
			RefreshInterval:       g.BotAuth.RefreshInterval,
			MinRefetchInterval:    g.BotAuth.MinRefetchInterval,
		},
		AuthCAFile: file(g.BotAuth.CAFile, "botauth", "ca_file"),
		Policy: ingress.Policy{
			ServiceURLHosts: slices.Clone(g.BotAuth.ServiceURLHosts),
			Tenants:         slices.Clone(g.BotAuth.Tenants),
		},
		Limits: ingress.Limits{
			MaxBodyBytes:      g.Limits.MaxBodyBytes,
			Rate:              g.Limits.Rate,
			Burst:             g.Limits.Burst,
			MaxSources:        g.Limits.MaxSources,
			MaxConcurrent:     g.Limits.MaxConcurrent,
			MaxHeaderBytes:    g.Limits.MaxHeaderBytes,
			ReadHeaderTimeout: g.Limits.ReadHeaderTimeout,
			ReadTimeout:       g.Limits.ReadTimeout,
			WriteTimeout:      g.Limits.WriteTimeout,
			IdleTimeout:       g.Limits.IdleTimeout,
			ShutdownGrace:     g.Limits.ShutdownGrace,
			ShutdownTimeout:   g.Limits.ShutdownTimeout,

			BodyTimeout:          g.Limits.BodyTimeout,
			MaxConns:             g.Limits.MaxConns,
			MaxConnsPerSource:    g.Limits.MaxConnsPerSource,
			MaxInflightPerSource: g.Limits.MaxInflightPerSource,
			UnauthIdleTimeout:    g.Limits.UnauthIdleTimeout,
		},
		Upstreams: ingress.Upstreams{
			Active:         g.Upstreams.Active,
			CAFile:         file(g.Upstreams.CAFile, "upstreams", "ca_file"),
			ConnectTimeout: g.Upstreams.ConnectTimeout,
			DrainTimeout:   g.Upstreams.DrainTimeout,
			Health: ingress.Health{
				Path:     g.Upstreams.Health.Path,
				Interval: g.Upstreams.Health.Interval,
				Timeout:  g.Upstreams.Health.Timeout,
				Rise:     g.Upstreams.Health.Rise,
				Fall:     g.Upstreams.Health.Fall,
			},
		},
	}
	if why := ingress.AdminExposure(g.AdminListen); why != "" && g.AdminTokenFile == "" {
		ds.Errorf(at("admin", "listen"), "gateway", "admin listener %q %s: anyone who reaches it could switch upstreams and reload the configuration; give admin.token_file, or keep it on loopback", g.AdminListen, why)
	}
	if g.Mode == spec.GatewayReport {
		cfg.Mode = ingress.Report
	}
	if g.BotAuth.CacheSize != nil {
		cfg.Auth.CacheSize = *g.BotAuth.CacheSize // 0: the validator's default
	}
	for _, grp := range g.Upstreams.Groups {
		ig := ingress.Group{Name: grp.Name}
		for _, u := range grp.URLs {
			c := *u
			ig.URLs = append(ig.URLs, &c)
		}
		cfg.Upstreams.Groups = append(cfg.Upstreams.Groups, ig)
	}

	var extra, trusted netipx.IPSetBuilder
	for _, pr := range g.Sources.Extra {
		extra.AddPrefix(pr)
	}
	for _, pr := range g.Sources.TrustedProxies {
		trusted.AddPrefix(pr)
	}
	if len(g.Sources.TrustedTags) > 0 {
		// A missing file is reported by file.
		if tagFile := file(g.Sources.ServiceTagsFile, "sources", "service_tags"); exists(tagFile) {
			ds.Append(addTags(&trusted, tagFile, g.Sources.TrustedTags, at("sources", "trusted_proxies")))
		}
	}
	cfg.Sources.FrontDoorIDs = slices.Clone(g.Sources.FrontDoorIDs)
	cfg.Sources.Extra, _ = extra.IPSet()
	cfg.Sources.TrustedProxies, _ = trusted.IPSet()
	cfg.Sources.ProxyProtocol = g.Sources.ProxyProtocol
	cfg.Sources.PlanRule = ingress.ActivityFlow
	if !g.Sources.Replace {
		set, n := TeamsSources(p)
		cfg.Sources.Plan = set
		if n == 0 && len(g.Sources.Extra) == 0 {
			ds.Errorf(at(), "gateway", "nothing to admit: the plan has no %s rule (add the teams-messaging-bot integration) and gateway.sources.extra is empty", ingress.ActivityFlow)
		} else if n == 0 {
			ds.Warnf(at(), "gateway", "the plan has no %s rule (no teams-messaging-bot integration): only gateway.sources.extra is admitted", ingress.ActivityFlow)
		}
	}
	for _, grp := range cfg.Upstreams.Groups {
		for _, u := range grp.URLs {
			if u.Scheme == "http" && !isLoopbackHost(u) {
				ds.Warnf(at("upstreams", "groups", grp.Name), "gateway", "upstream %s is plain http off this host: the activity and its token cross the network unencrypted", u)
			}
		}
	}
	return cfg, ds
}

// TeamsSources returns the union of the sources of the plan's
// ingress.ActivityFlow rules and how many such rules there are.
func TeamsSources(p *model.Plan) (*netipx.IPSet, int) {
	var b netipx.IPSetBuilder
	n := 0
	for _, r := range p.Rules {
		if r.FlowID != ingress.ActivityFlow {
			continue
		}
		n++
		b.AddSet(r.Source.IPSet())
	}
	s, _ := b.IPSet()
	return s, n
}

func isLoopbackHost(u *url.URL) bool {
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.Unmap().IsLoopback()
}

func exists(name string) bool {
	_, err := os.Stat(name)
	return err == nil
}

// addTags adds the prefixes of Azure service tags, read from a service
// tags file, to b.
func addTags(b *netipx.IPSetBuilder, file string, tags []string, at diag.Pos) diag.List {
	data, ds := servicetag.ParseFile(file)
	if ds.HasErrors() {
		return ds
	}
	for _, name := range tags {
		tag, err := data.Lookup(name)
		if err != nil {
			ds.Errorf(at, "gateway", "%v", err)
			continue
		}
		for _, p := range tag.Prefixes {
			b.AddPrefix(p)
		}
	}
	return ds
}
