package ingress

import (
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go4.org/netipx"

	"github.com/teamsgate/teamsgate/internal/botauth"
	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/section"
	"github.com/teamsgate/teamsgate/internal/servicetag"
	"github.com/teamsgate/teamsgate/internal/yamlx"
)

// wireGateway is the wire form of the spec's gateway: section, which the
// spec keeps raw for this package to decode (docs/gateway.md has the
// reference).
// Durations are Go durations ("5s"), sizes are bytes or a number with a
// KiB/MiB suffix.
type wireGateway struct {
	Listen    string              `yaml:"listen"`
	ReusePort bool                `yaml:"reuse_port"`
	PlainHTTP bool                `yaml:"plain_http"`
	TLS       *gatewayTLSWire     `yaml:"tls"`
	Mode      string              `yaml:"mode"`
	AppIDs    []string            `yaml:"app_ids"`
	Paths     []string            `yaml:"paths"`
	Sources   gatewaySourcesWire  `yaml:"sources"`
	BotAuth   gatewayBotAuthWire  `yaml:"botauth"`
	Limits    gatewayLimitsWire   `yaml:"limits"`
	Upstreams gatewayUpstreamWire `yaml:"upstreams"`
	Admin     gatewayAdminWire    `yaml:"admin"`
}

type gatewayTLSWire struct {
	Cert           string `yaml:"cert"`
	Key            string `yaml:"key"`
	ClientCA       string `yaml:"client_ca"`
	ReloadInterval string `yaml:"reload_interval"`
}

type gatewaySourcesWire struct {
	Extra          []string `yaml:"extra"`
	Replace        bool     `yaml:"replace"`
	TrustedProxies []string `yaml:"trusted_proxies"`
	ProxyProtocol  bool     `yaml:"proxy_protocol"`
	ServiceTags    string   `yaml:"service_tags"`
	FrontDoorIDs   []string `yaml:"front_door_ids"`
}

type gatewayBotAuthWire struct {
	Issuer                string   `yaml:"issuer"`
	MetadataURL           string   `yaml:"metadata_url"`
	CAFile                string   `yaml:"ca_file"`
	AllowInsecureLoopback bool     `yaml:"allow_insecure_loopback"`
	Algorithms            []string `yaml:"algorithms"`
	Channels              []string `yaml:"channels"`
	ClockSkew             string   `yaml:"clock_skew"`
	RefreshInterval       string   `yaml:"refresh_interval"`
	MinRefetchInterval    string   `yaml:"min_refetch_interval"`
	CacheSize             *int     `yaml:"cache_size"`
	ServiceURLHosts       []string `yaml:"service_url_hosts"`
	Tenants               []string `yaml:"tenants"`
}

type gatewayLimitsWire struct {
	MaxBody           string   `yaml:"max_body"`
	Rate              *float64 `yaml:"rate"`
	Burst             *int     `yaml:"burst"`
	Replicas          *int     `yaml:"replicas"`
	MaxSources        *int     `yaml:"max_sources"`
	MaxConcurrent     *int     `yaml:"max_concurrent"`
	MaxHeaderBytes    string   `yaml:"max_header_bytes"`
	ReadHeaderTimeout string   `yaml:"read_header_timeout"`
	ReadTimeout       string   `yaml:"read_timeout"`
	WriteTimeout      string   `yaml:"write_timeout"`
	IdleTimeout       string   `yaml:"idle_timeout"`
	ShutdownGrace     string   `yaml:"shutdown_grace"`
	ShutdownTimeout   string   `yaml:"shutdown_timeout"`
	// Before authentication.
	BodyTimeout          string `yaml:"body_timeout"`
	MaxConns             *int   `yaml:"max_conns"`
	MaxConnsPerSource    *int   `yaml:"max_conns_per_source"`
	MaxInflightPerSource *int   `yaml:"max_inflight_per_source"`
	UnauthIdleTimeout    string `yaml:"unauth_idle_timeout"`
}

type gatewayUpstreamWire struct {
	Active         string              `yaml:"active"`
	Groups         map[string][]string `yaml:"groups"`
	CAFile         string              `yaml:"ca_file"`
	ConnectTimeout string              `yaml:"connect_timeout"`
	DrainTimeout   string              `yaml:"drain_timeout"`
	Health         gatewayHealthWire   `yaml:"health"`
}

type gatewayHealthWire struct {
	Path     string `yaml:"path"`
	Interval string `yaml:"interval"`
	Timeout  string `yaml:"timeout"`
	Rise     *int   `yaml:"rise"`
	Fall     *int   `yaml:"fall"`
}

type gatewayAdminWire struct {
	Listen    string `yaml:"listen"`
	TokenFile string `yaml:"token_file"`
}

// sourcesSpec is the gateway's sources section, checked: what FromSection
// resolves against the plan and the service tags file into Sources.
type sourcesSpec struct {
	// Extra prefixes are added to the plan's Teams service ranges, or
	// replace them when Replace is set.
	Extra   []netip.Prefix
	Replace bool
	// TrustedProxies are the peers whose X-Forwarded-For and PROXY
	// protocol headers are believed; TrustedTags are Azure service tags
	// (AzureFrontDoor.Backend) whose prefixes, read from ServiceTagsFile,
	// are trusted too, so that the trust follows Microsoft's updates.
	TrustedProxies  []netip.Prefix
	TrustedTags     []string
	ServiceTagsFile string
	ProxyProtocol   bool
	FrontDoorIDs    []string
}

var gatewayAlgorithms = []string{"RS256", "RS384", "RS512"}

// gatewayCompiler carries the diagnostics of one compileGateway call.
// gatewayCompiler checks the gateway: section; section.Checker reads the
// values every daemon section shares (listen addresses, durations, sizes,
// counts, prefixes).
type gatewayCompiler struct {
	section.Checker
}

func (c *gatewayCompiler) errorf(path []string, format string, args ...any) {
	c.Errorf(path, format, args...)
}

// compile checks the wire section and fills in the defaults: the whole
// configuration but the sources, which need the plan and the service tags
// file (FromSection resolves them), and the file names, which are as
// written.
func compile(w *wireGateway, at func(path ...string) diag.Pos) (*Config, sourcesSpec, diag.List) {
	c := &gatewayCompiler{section.Checker{At: at, Subject: "gateway"}}
	g := &Config{PlainHTTP: w.PlainHTTP, ReusePort: w.ReusePort}

	g.Listen = c.Listen(w.Listen, DefaultListen, "listen")
	g.AdminListen = c.Listen(w.Admin.Listen, DefaultAdminListen, "admin", "listen")
	if g.Listen == g.AdminListen && !strings.HasSuffix(g.Listen, ":0") {
		c.errorf([]string{"admin", "listen"}, "the admin listener %q must differ from the main listener", g.AdminListen)
	}
	g.AdminTokenFile = w.Admin.TokenFile

	switch {
	case w.PlainHTTP && w.TLS != nil:
		c.errorf([]string{"tls"}, "give tls or plain_http: true, not both")
	case !w.PlainHTTP && w.TLS == nil:
		c.errorf(nil, "no tls: give tls.cert and tls.key, or plain_http: true to serve without TLS behind a TLS-terminating load balancer")
	case w.TLS != nil:
		g.TLS = TLSConfig{CertFile: w.TLS.Cert, KeyFile: w.TLS.Key, ClientCAFile: w.TLS.ClientCA}
		if w.TLS.Cert == "" {
			c.errorf([]string{"tls"}, "tls.cert is required: the server certificate chain (PEM)")
		}
		if w.TLS.Key == "" {
			c.errorf([]string{"tls"}, "tls.key is required: the server private key (PEM)")
		}
		g.TLS.ReloadInterval = c.Duration(w.TLS.ReloadInterval, time.Minute, true, "tls", "reload_interval")
	}

	switch w.Mode {
	case "", "enforce":
		g.Mode = Enforce
	case "report":
		g.Mode = Report
	default:
		c.errorf([]string{"mode"}, "mode %q: want enforce or report", w.Mode)
	}

	if len(w.AppIDs) == 0 {
		c.errorf(nil, "no app_ids: give the bot's Microsoft App ID (the token audience)")
	}
	seen := map[string]bool{}
	for i, id := range w.AppIDs {
		p := []string{"app_ids", strconv.Itoa(i)}
		switch {
		case id == "" || strings.TrimSpace(id) != id || strings.ContainsAny(id, " \t"):
			c.errorf(p, "app id %q: empty or contains spaces", id)
		case seen[id]:
			c.errorf(p, "app id %q listed twice", id)
		default:
			seen[id] = true
			g.Auth.AppIDs = append(g.Auth.AppIDs, id)
		}
	}
	for i, p := range w.Paths {
		if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "?# ") {
			c.errorf([]string{"paths", strconv.Itoa(i)}, "path %q: want an absolute path such as /api/messages", p)
			continue
		}
		g.Paths = append(g.Paths, p)
	}

	src := sourcesSpec{
		Extra:           c.Prefixes(w.Sources.Extra, "sources", "extra"),
		Replace:         w.Sources.Replace,
		ProxyProtocol:   w.Sources.ProxyProtocol,
		ServiceTagsFile: w.Sources.ServiceTags,
	}
	src.TrustedProxies, src.TrustedTags = c.proxies(w.Sources.TrustedProxies, "sources", "trusted_proxies")
	for i, id := range w.Sources.FrontDoorIDs {
		if !tenantID.MatchString(id) {
			c.errorf([]string{"sources", "front_door_ids", strconv.Itoa(i)}, "front door id %q: want the profile's id, a GUID (the Front Door profile's Overview page, \"Front Door ID\")", id)
			continue
		}
		src.FrontDoorIDs = append(src.FrontDoorIDs, strings.ToLower(id))
	}
	for i, tag := range src.TrustedTags {
		if strings.HasPrefix(strings.ToLower(tag), "azurefrontdoor.backend") && len(src.FrontDoorIDs) == 0 {
			c.errorf([]string{"sources", "trusted_proxies", strconv.Itoa(i)}, "trusting %s needs sources.front_door_ids: Front Door's backend addresses are shared by every Front Door customer, so only your profile's X-Azure-FDID tells your traffic from theirs", tag)
		}
	}
	if len(src.FrontDoorIDs) > 0 && len(w.Sources.TrustedProxies) == 0 {
		c.errorf([]string{"sources", "front_door_ids"}, "sources.front_door_ids needs sources.trusted_proxies: the Front Door ranges (the AzureFrontDoor.Backend service tag)")
	}
	if w.Sources.Replace && len(w.Sources.Extra) == 0 {
		c.errorf([]string{"sources", "replace"}, "sources.replace is set but sources.extra is empty: nothing would be allowed")
	}
	if w.Sources.ProxyProtocol && len(w.Sources.TrustedProxies) == 0 {
		c.errorf([]string{"sources", "proxy_protocol"}, "sources.proxy_protocol needs sources.trusted_proxies: a PROXY header is believed only from a trusted proxy")
	}

	c.botAuth(&w.BotAuth, g)
	g.Limits = c.limits(&w.Limits)
	g.Upstreams = c.upstreams(&w.Upstreams)
	return g, src, c.Diags
}

// serviceTagName is the form of an Azure service tag name
// ("AzureFrontDoor.Backend", "AzureCloud.westeurope").
var serviceTagName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z0-9]+)*$`)

// proxies reads trusted proxies: prefixes or bare addresses, and Azure
// service tag names.
func (c *gatewayCompiler) proxies(in []string, path ...string) ([]netip.Prefix, []string) {
	var prefixes []netip.Prefix
	var tags []string
	for i, s := range in {
		if _, err := model.ParsePrefix(s); err != nil && serviceTagName.MatchString(s) {
			tags = append(tags, s)
			continue
		}
		p, err := model.ParsePrefix(s)
		if err != nil {
			c.errorf(append(path, strconv.Itoa(i)), "%v (or an Azure service tag such as AzureFrontDoor.Backend)", err)
			continue
		}
		if p.Bits() == 0 {
			c.errorf(append(path, strconv.Itoa(i)), "trusted proxy %s trusts every address: anyone could then claim any source", p)
			continue
		}
		prefixes = append(prefixes, p)
	}
	return prefixes, tags
}

// tenantID is the form of a Microsoft Entra tenant id.
var tenantID = regexp.MustCompile(`^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$`)

// botAuth checks the token validation settings into g.Auth (whose app ids
// compile has set), g.AuthCAFile and g.Policy. Zero durations and cache
// size are the validator's defaults.
func (c *gatewayCompiler) botAuth(w *gatewayBotAuthWire, g *Config) {
	b := &g.Auth
	b.Issuer = w.Issuer
	b.MetadataURL = w.MetadataURL
	b.AllowInsecureLoopback = w.AllowInsecureLoopback
	b.Channels = w.Channels
	b.ClockSkew = c.Duration(w.ClockSkew, 0, false, "botauth", "clock_skew")
	b.RefreshInterval = c.Duration(w.RefreshInterval, 0, false, "botauth", "refresh_interval")
	b.MinRefetchInterval = c.Duration(w.MinRefetchInterval, 0, false, "botauth", "min_refetch_interval")
	if w.CacheSize != nil {
		b.CacheSize = *w.CacheSize // 0: the validator's default
	}
	g.AuthCAFile = w.CAFile
	if w.Issuer != "" {
		if u, err := url.Parse(w.Issuer); err != nil || u.Scheme == "" || u.Host == "" {
			c.errorf([]string{"botauth", "issuer"}, "issuer %q: want an absolute URL such as https://api.botframework.com", w.Issuer)
		}
	}
	if w.MetadataURL != "" {
		c.metadataURL(w.MetadataURL, w.AllowInsecureLoopback)
	}
	if b.ClockSkew > 10*time.Minute {
		c.errorf([]string{"botauth", "clock_skew"}, "clock skew %v: at most 10m", b.ClockSkew)
	}
	if b.RefreshInterval > 24*time.Hour {
		c.errorf([]string{"botauth", "refresh_interval"}, "refresh interval %v: at most 24h (botauth.md §1.2: refresh at least once every 24 hours)", b.RefreshInterval)
	}
	for _, d := range []struct {
		v    time.Duration
		name string
	}{{b.RefreshInterval, "refresh_interval"}, {b.MinRefetchInterval, "min_refetch_interval"}} {
		if d.v != 0 && d.v < time.Second {
			c.errorf([]string{"botauth", d.name}, "%v: at least 1s", d.v)
		}
	}
	for i, a := range w.Algorithms {
		ok := false
		for _, p := range gatewayAlgorithms {
			ok = ok || p == a
		}
		if !ok {
			c.errorf([]string{"botauth", "algorithms", strconv.Itoa(i)}, "algorithm %q: want one of %s (never none, HS* or an algorithm chosen by the token)", a, strings.Join(gatewayAlgorithms, ", "))
			continue
		}
		b.Algorithms = append(b.Algorithms, a)
	}
	for i, ch := range w.Channels {
		if ch == "" {
			c.errorf([]string{"botauth", "channels", strconv.Itoa(i)}, "empty channel id")
		}
	}
	for i, h := range w.ServiceURLHosts {
		host, err := model.ParseHost(h)
		if err != nil {
			c.errorf([]string{"botauth", "service_url_hosts", strconv.Itoa(i)}, "%v", err)
			continue
		}
		g.Policy.ServiceURLHosts = append(g.Policy.ServiceURLHosts, host)
	}
	for i, t := range w.Tenants {
		if !tenantID.MatchString(t) {
			c.errorf([]string{"botauth", "tenants", strconv.Itoa(i)}, "tenant %q: want a tenant id (a GUID such as 72f988bf-86f1-41af-91ab-2d7cd011db47)", t)
			continue
		}
		g.Policy.Tenants = append(g.Policy.Tenants, strings.ToLower(t))
	}
	if w.CacheSize != nil && *w.CacheSize < 0 {
		c.errorf([]string{"botauth", "cache_size"}, "cache size %d: want 0 (the default) or more", *w.CacheSize)
	}
}

// metadataURL checks the metadata URL as the validator will: https, or
// http on a loopback IP literal with allow_insecure_loopback.
func (c *gatewayCompiler) metadataURL(s string, insecure bool) {
	p := []string{"botauth", "metadata_url"}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil {
		c.errorf(p, "metadata url %q: want an absolute https URL", s)
		return
	}
	switch u.Scheme {
	case "https":
	case "http":
		a, err := netip.ParseAddr(u.Hostname())
		switch {
		case !insecure:
			c.errorf(p, "metadata url %q: plain http is refused (set botauth.allow_insecure_loopback for a loopback test issuer)", s)
		case err != nil || !a.Unmap().IsLoopback():
			c.errorf(p, "metadata url %q: plain http is allowed only on a loopback IP address", s)
		}
	default:
		c.errorf(p, "metadata url %q: scheme %q, want https", s, u.Scheme)
	}
}

func (c *gatewayCompiler) limits(w *gatewayLimitsWire) Limits {
	l := Limits{
		MaxBodyBytes:      c.Size(w.MaxBody, DefaultMaxBodyBytes, maxBodyCeiling, "limits", "max_body"),
		Rate:              DefaultRate,
		Burst:             c.Positive(w.Burst, DefaultBurst, 1<<20, "limits", "burst"),
		MaxSources:        c.Positive(w.MaxSources, DefaultMaxSources, 10_000_000, "limits", "max_sources"),
		MaxConcurrent:     c.Positive(w.MaxConcurrent, DefaultMaxConcurrent, 1<<20, "limits", "max_concurrent"),
		MaxHeaderBytes:    int(c.Size(w.MaxHeaderBytes, DefaultMaxHeaderBytes, 1<<20, "limits", "max_header_bytes")),
		ReadHeaderTimeout: c.Duration(w.ReadHeaderTimeout, DefaultReadHeaderTimeout, false, "limits", "read_header_timeout"),
		ReadTimeout:       c.Duration(w.ReadTimeout, DefaultReadTimeout, false, "limits", "read_timeout"),
		WriteTimeout:      c.Duration(w.WriteTimeout, DefaultWriteTimeout, false, "limits", "write_timeout"),
		IdleTimeout:       c.Duration(w.IdleTimeout, DefaultIdleTimeout, false, "limits", "idle_timeout"),
		ShutdownGrace:     c.Duration(w.ShutdownGrace, DefaultShutdownGrace, false, "limits", "shutdown_grace"),
		ShutdownTimeout:   c.Duration(w.ShutdownTimeout, DefaultShutdownTimeout, false, "limits", "shutdown_timeout"),

		BodyTimeout:          c.Duration(w.BodyTimeout, DefaultBodyTimeout, false, "limits", "body_timeout"),
		MaxConns:             c.Positive(w.MaxConns, DefaultMaxConns, 1<<22, "limits", "max_conns"),
		MaxConnsPerSource:    c.Positive(w.MaxConnsPerSource, DefaultMaxConnsPerSource, 1<<22, "limits", "max_conns_per_source"),
		MaxInflightPerSource: c.Positive(w.MaxInflightPerSource, DefaultMaxInflightPerSrc, 1<<20, "limits", "max_inflight_per_source"),
		UnauthIdleTimeout:    c.Duration(w.UnauthIdleTimeout, DefaultUnauthIdleTimeout, false, "limits", "unauth_idle_timeout"),
	}
	if w.Rate != nil {
		if *w.Rate <= 0 || *w.Rate > 1e6 {
			c.errorf([]string{"limits", "rate"}, "rate %v: want requests per second per source, above 0 and at most 1e6", *w.Rate)
		} else {
			l.Rate = *w.Rate
		}
	}
	// limits.replicas makes rate and burst the fleet's: a source's
	// connections may land on any replica (each keeps its own buckets), so
	// each enforces its share.
	l.Replicas = c.Positive(w.Replicas, 1, 1000, "limits", "replicas")
	if l.Replicas > 1 {
		l.Rate /= float64(l.Replicas)
		l.Burst = (l.Burst + l.Replicas - 1) / l.Replicas
	}
	if l.BodyTimeout > l.ReadTimeout {
		c.errorf([]string{"limits", "body_timeout"}, "body_timeout %v exceeds read_timeout %v, which bounds the whole request", l.BodyTimeout, l.ReadTimeout)
	}
	if l.ReadHeaderTimeout > l.ReadTimeout {
		c.errorf([]string{"limits", "read_header_timeout"}, "read_header_timeout %v exceeds read_timeout %v", l.ReadHeaderTimeout, l.ReadTimeout)
	}
	if l.ShutdownGrace >= l.ShutdownTimeout {
		c.errorf([]string{"limits", "shutdown_grace"}, "shutdown_grace %v must be shorter than shutdown_timeout %v", l.ShutdownGrace, l.ShutdownTimeout)
	}
	return l
}

func (c *gatewayCompiler) upstreams(w *gatewayUpstreamWire) Upstreams {
	u := Upstreams{
		Active:         w.Active,
		CAFile:         w.CAFile,
		ConnectTimeout: c.Duration(w.ConnectTimeout, DefaultConnectTimeout, false, "upstreams", "connect_timeout"),
		DrainTimeout:   c.Duration(w.DrainTimeout, DefaultDrainTimeout, false, "upstreams", "drain_timeout"),
		Health: Health{
			Path:     w.Health.Path,
			Interval: c.Duration(w.Health.Interval, DefaultHealthInterval, false, "upstreams", "health", "interval"),
			Timeout:  c.Duration(w.Health.Timeout, DefaultHealthTimeout, false, "upstreams", "health", "timeout"),
			Rise:     c.Positive(w.Health.Rise, DefaultHealthRise, 100, "upstreams", "health", "rise"),
			Fall:     c.Positive(w.Health.Fall, DefaultHealthFall, 100, "upstreams", "health", "fall"),
		},
	}
	if u.Health.Path == "" {
		u.Health.Path = DefaultHealthPath
	} else if !strings.HasPrefix(u.Health.Path, "/") {
		c.errorf([]string{"upstreams", "health", "path"}, "health path %q: want an absolute path", u.Health.Path)
	}
	if u.Health.Timeout > u.Health.Interval {
		c.errorf([]string{"upstreams", "health", "timeout"}, "health timeout %v exceeds the interval %v", u.Health.Timeout, u.Health.Interval)
	}
	if len(w.Groups) == 0 {
		c.errorf([]string{"upstreams"}, "no upstreams.groups: give at least one group of bot URLs, e.g. blue: [http://127.0.0.1:3978]")
		return u
	}
	names := make([]string, 0, len(w.Groups))
	for n := range w.Groups {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		p := []string{"upstreams", "groups", name}
		if !validGroupName(name) {
			c.errorf(p, "group name %q: want letters, digits, '-' or '_'", name)
		}
		grp := Group{Name: name}
		if len(w.Groups[name]) == 0 {
			c.errorf(p, "group %q has no upstream URLs", name)
		}
		dup := map[string]bool{}
		for i, raw := range w.Groups[name] {
			pu, err := upstreamURL(raw)
			if err != nil {
				c.errorf(append(p, strconv.Itoa(i)), "group %q: %v", name, err)
				continue
			}
			if dup[pu.String()] {
				c.errorf(append(p, strconv.Itoa(i)), "group %q: %s listed twice", name, pu)
				continue
			}
			dup[pu.String()] = true
			grp.URLs = append(grp.URLs, pu)
		}
		u.Groups = append(u.Groups, grp)
	}
	switch {
	case u.Active == "" && len(names) == 1:
		u.Active = names[0]
	case u.Active == "":
		c.errorf([]string{"upstreams"}, "upstreams.active is required with several groups (one of %s)", strings.Join(names, ", "))
	case w.Groups[u.Active] == nil:
		c.errorf([]string{"upstreams", "active"}, "active group %q is not one of %s", u.Active, strings.Join(names, ", "))
	}
	return u
}

func validGroupName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// upstreamURL parses an upstream base URL: http or https, a host, an
// optional path prefix, nothing else.
func upstreamURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("upstream %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("upstream %q: want an http:// or https:// URL", raw)
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return nil, fmt.Errorf("upstream %q: want scheme://host[:port][/path] with no user, query or fragment", raw)
	}
	return u, nil
}

// TokenRequirement is the catalog requirement of the flows whose sources
// the gateway admits: a flow that carries a Bot Framework token to the bot
// (the Teams service posting activities). The catalog's data chooses them,
// not a flow id written here.
const TokenRequirement = "bot-framework-jwt"

// FromSection builds the gateway's configuration from the spec's gateway:
// section and the spec's plan: the user's choices, checked, with the
// defaults; the sources the plan admits (the rules whose flow has
// TokenRequirement), plus or instead of the section's extra ranges; file
// names resolved against the directory of specFile, every named file
// present; service tags among the trusted proxies resolved from the
// section's service tags file, or without one from tags (the catalog's
// service tags for the spec's cloud; nil when it has none). Every problem
// is reported, positioned.
func FromSection(sec yamlx.Section, specFile string, p *model.Plan, tags TagSource) (*Config, diag.List) {
	var ds diag.List
	if sec.IsZero() {
		ds.Errorf(sec.Doc.At(), "", "the spec has no gateway: section; serve needs one (see docs/gateway.md)")
		return nil, ds
	}
	// What could be decoded is checked too: every problem at once.
	var w wireGateway
	ds.Append(sec.Decode(&w))
	cfg, src, cds := compile(&w, sec.At)
	ds.Append(cds)
	cfg.Auth.Cloud = botauth.Cloud(p.Cloud)

	at := sec.At
	dir := filepath.Dir(specFile)
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
	cfg.AdminTokenFile = file(w.Admin.TokenFile, "admin", "token_file")
	cfg.TLS.CertFile = file(cfg.TLS.CertFile, "tls", "cert")
	cfg.TLS.KeyFile = file(cfg.TLS.KeyFile, "tls", "key")
	cfg.TLS.ClientCAFile = file(cfg.TLS.ClientCAFile, "tls", "client_ca")
	cfg.AuthCAFile = file(cfg.AuthCAFile, "botauth", "ca_file")
	cfg.Upstreams.CAFile = file(cfg.Upstreams.CAFile, "upstreams", "ca_file")
	if why := AdminExposure(cfg.AdminListen); why != "" && cfg.AdminTokenFile == "" {
		ds.Errorf(at("admin", "listen"), "gateway", "admin listener %q %s: anyone who reaches it could switch upstreams and reload the configuration; give admin.token_file, or keep it on loopback", cfg.AdminListen, why)
	}

	var extra, trusted netipx.IPSetBuilder
	for _, pr := range src.Extra {
		extra.AddPrefix(pr)
	}
	for _, pr := range src.TrustedProxies {
		trusted.AddPrefix(pr)
	}
	if len(src.TrustedTags) > 0 {
		switch {
		case src.ServiceTagsFile != "":
			// A missing file is reported by file.
			if tagFile := file(src.ServiceTagsFile, "sources", "service_tags"); exists(tagFile) {
				data, tds := servicetag.ParseFile(tagFile)
				ds.Append(tds)
				if !tds.HasErrors() {
					ds.Append(addTags(&trusted, data, src.TrustedTags, at("sources", "trusted_proxies")))
				}
			}
		case tags != nil:
			data, tds := tags.Data()
			ds.Append(tds)
			if !tds.HasErrors() {
				ds.Append(addTags(&trusted, data, src.TrustedTags, at("sources", "trusted_proxies")))
			}
		default:
			ds.Errorf(at("sources", "trusted_proxies"), "gateway", "service tag %s in trusted_proxies needs sources.service_tags, the Azure service tags file (ServiceTags_Public_*.json) its prefixes come from, or the file in the catalog (teamsgate catalog update --service-tags FILE)", src.TrustedTags[0])
		}
	}
	cfg.Sources.FrontDoorIDs = src.FrontDoorIDs
	cfg.Sources.Extra, _ = extra.IPSet()
	cfg.Sources.TrustedProxies, _ = trusted.IPSet()
	cfg.Sources.ProxyProtocol = src.ProxyProtocol
	if !src.Replace {
		set, rule := TokenSources(p)
		cfg.Sources.Plan, cfg.Sources.PlanRule = set, rule
		if rule == "" && len(src.Extra) == 0 {
			ds.Errorf(at(), "gateway", "nothing to admit: no flow of the plan carries a Bot Framework token to the bot (add the teams-messaging-bot integration), and gateway.sources.extra is empty")
		} else if rule == "" {
			ds.Warnf(at(), "gateway", "no flow of the plan carries a Bot Framework token to the bot (no teams-messaging-bot integration): only gateway.sources.extra is admitted")
		}
	}
	for _, grp := range cfg.Upstreams.Groups {
		for _, u := range grp.URLs {
			if u.Scheme == "http" && !isLoopbackHost(u) {
				ds.Warnf(at("upstreams", "groups", grp.Name), "gateway", "upstream %s is plain http off this host: the activity and its token cross the network unencrypted", u)
			}
		}
	}
	ds.Sort()
	if ds.HasErrors() {
		return nil, ds
	}
	return cfg, ds
}

// TokenSources returns the union of the sources of the plan's rules whose
// flow has TokenRequirement, and the id of the first such flow (the rule
// a source decision names), or "" when there is none.
func TokenSources(p *model.Plan) (*netipx.IPSet, string) {
	var b netipx.IPSetBuilder
	rule := ""
	for _, r := range p.Rules {
		if !slices.Contains(r.Requirements, TokenRequirement) {
			continue
		}
		if rule == "" {
			rule = r.FlowID
		}
		b.AddSet(r.Source.IPSet())
	}
	s, _ := b.IPSet()
	return s, rule
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

// TagSource is a set of Azure service tags: the catalog's (its
// service_tags for the spec's cloud), parsed when first asked for.
type TagSource interface {
	Data() (*servicetag.Data, diag.List)
}

// addTags adds the prefixes of Azure service tags to b.
func addTags(b *netipx.IPSetBuilder, data *servicetag.Data, tags []string, at diag.Pos) diag.List {
	var ds diag.List
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
