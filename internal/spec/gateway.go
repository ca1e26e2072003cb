package spec

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/teamsgate/teamsgate/internal/catalog"
	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/model"
)

// GatewayWire is the wire form of the spec's gateway: section, the
// configuration of `teamsgate serve` (docs/gateway.md has the reference).
// Durations are Go durations ("5s"), sizes are bytes or a number with a
// KiB/MiB suffix.
type GatewayWire struct {
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

// GatewayMode says whether the gateway's source address check blocks
// (enforce) or only logs and counts what it would block (report). The zero
// value is enforce, so a forgotten mode fails closed. Token validation is
// enforced in both modes: there is no way to switch it off (botauth.md
// §6.11).
type GatewayMode uint8

const (
	GatewayEnforce GatewayMode = iota
	GatewayReport
)

func (m GatewayMode) String() string {
	if m == GatewayReport {
		return "report"
	}
	return "enforce"
}

// MarshalText renders the mode as "enforce" or "report".
func (m GatewayMode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// ParseGatewayMode parses "enforce" or "report".
func ParseGatewayMode(s string) (GatewayMode, error) {
	switch s {
	case "enforce":
		return GatewayEnforce, nil
	case "report":
		return GatewayReport, nil
	}
	return GatewayEnforce, fmt.Errorf("mode %q: want enforce or report", s)
}

// Gateway is the compiled gateway: section with every default filled in.
// File paths are as written; relative ones are relative to the spec file's
// directory, which the loader resolves.
type Gateway struct {
	// Listen is the host:port of the main listener; the host is an IP
	// literal or empty for every address.
	Listen string
	// ReusePort opens the main listener with SO_REUSEPORT, so that several
	// gateway processes share the port and the kernel spreads connections
	// over them.
	ReusePort bool
	// PlainHTTP serves plain HTTP instead of TLS, for deployments behind a
	// TLS-terminating load balancer and for tests. Only by explicit option.
	PlainHTTP bool
	TLS       GatewayTLS
	Mode      GatewayMode
	// AppIDs are the bot app ids accepted as the token audience.
	AppIDs []string
	// Paths, when not empty, are the only request paths served (exact
	// match); others are answered 404.
	Paths     []string
	Sources   GatewaySources
	BotAuth   GatewayBotAuth
	Limits    GatewayLimits
	Upstreams GatewayUpstreams
	// AdminListen is the host:port of the admin listener (metrics, health,
	// blue-green switch, reload); loopback by default.
	AdminListen string
	// AdminTokenFile, when set, holds the bearer token every admin request
	// but /healthz and /readyz must carry. A listener off loopback needs
	// one.
	AdminTokenFile string
}

// GatewayTLS is the server certificate and optional client verification.
type GatewayTLS struct {
	CertFile, KeyFile string
	// ClientCAFile, when set, makes the gateway require and verify client
	// certificates against it (mTLS).
	ClientCAFile string
	// ReloadInterval is how often the files are checked for changes; zero
	// means only on reload (SIGHUP or the admin endpoint).
	ReloadInterval time.Duration
}

// GatewaySources configures the source address check.
type GatewaySources struct {
	// Extra prefixes are added to the plan's Teams service ranges, or
	// replace them when Replace is set.
	Extra   []netip.Prefix
	Replace bool
	// TrustedProxies are the peers whose X-Forwarded-For and PROXY
	// protocol headers are believed.
	TrustedProxies []netip.Prefix
	// ProxyProtocol accepts a PROXY protocol v1 or v2 header from trusted
	// proxies; untrusted peers that send one are disconnected.
	ProxyProtocol bool
	// TrustedTags are Azure service tags (AzureFrontDoor.Backend) whose
	// prefixes, read from ServiceTagsFile, are trusted proxies too, so that
	// the trust follows Microsoft's weekly updates.
	TrustedTags     []string
	ServiceTagsFile string
	// FrontDoorIDs, when not empty, are the Azure Front Door profile ids
	// a request through a trusted proxy must carry in X-Azure-FDID: Front
	// Door's backend addresses are shared by every Front Door customer.
	FrontDoorIDs []string
}

// GatewayBotAuth overrides the Bot Framework token validation settings that
// otherwise follow the spec's cloud (botauth.md §6).
type GatewayBotAuth struct {
	Issuer, MetadataURL string
	// CAFile is a PEM bundle that verifies the metadata and key servers
	// instead of the system roots.
	CAFile                string
	AllowInsecureLoopback bool
	Algorithms            []string
	Channels              []string
	// Zero durations and a nil CacheSize mean the validator's defaults.
	ClockSkew, RefreshInterval, MinRefetchInterval time.Duration
	CacheSize                                      *int
	// ServiceURLHosts, when not empty, are the only hosts an activity's
	// serviceUrl may name (botauth.md §6.10, optional): a token the
	// Bot Connector issued still cannot send the bot's replies elsewhere.
	ServiceURLHosts []model.Host
	// Tenants, when not empty, are the only Microsoft 365 tenants whose
	// activities pass (channelData.tenant.id; botauth.md §6.12, optional).
	Tenants []string
}

// GatewayLimits bounds what one client and all clients together may cost.
type GatewayLimits struct {
	MaxBodyBytes int64
	// Rate is requests per second per source, Burst the bucket size.
	Rate           float64
	Burst          int
	MaxSources     int
	MaxConcurrent  int
	MaxHeaderBytes int

	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// ShutdownGrace is how long a shutting-down gateway keeps accepting
	// and serving (with Connection: close) while load balancers notice
	// /readyz failing; ShutdownTimeout bounds the whole shutdown.
	ShutdownGrace, ShutdownTimeout time.Duration
	// BodyTimeout bounds the reading of an activity's body, which starts
	// only once its token is verified.
	BodyTimeout time.Duration
	// MaxConns and MaxConnsPerSource cap the open connections, in all and
	// per socket peer (trusted proxies are exempt from the latter).
	MaxConns, MaxConnsPerSource int
	// MaxInflightPerSource caps the requests of one source being served
	// at once, before its token is checked.
	MaxInflightPerSource int
	// UnauthIdleTimeout closes a kept-alive connection that has not yet
	// carried a request with a valid token after this long idle.
	UnauthIdleTimeout time.Duration
}

// GatewayUpstreams are the bot instances, in named groups of which one is
// active (blue-green).
type GatewayUpstreams struct {
	Active string
	// Groups are sorted by name.
	Groups         []GatewayGroup
	CAFile         string
	ConnectTimeout time.Duration
	DrainTimeout   time.Duration
	Health         GatewayHealth
}

// GatewayGroup is one named set of upstream bot instances.
type GatewayGroup struct {
	Name string
	URLs []*url.URL
}

// GatewayHealth configures the active upstream health checks: a GET of Path
// every Interval; Rise consecutive answers below 500 mark an upstream up,
// Fall consecutive failures mark it down.
type GatewayHealth struct {
	Path              string
	Interval, Timeout time.Duration
	Rise, Fall        int
}

// Gateway defaults, each chosen for a Teams bot behind the gateway; see
// docs/gateway.md for the reasoning.
const (
	DefaultGatewayListen      = ":8443"
	DefaultGatewayAdminListen = "127.0.0.1:9090"
	// DefaultGatewayMaxBody is generous for an activity (Teams messages
	// are at most about 28 KiB of text; attachments are links).
	DefaultGatewayMaxBody = 256 << 10
	// MaxGatewayMaxBody is the activity parser's own ceiling.
	MaxGatewayMaxBody = 1 << 20
	// DefaultGatewayRate and Burst are per source address, and Teams sends
	// every tenant's traffic from a few service addresses, so they are
	// high.
	DefaultGatewayRate          = 200
	DefaultGatewayBurst         = 400
	DefaultGatewayMaxSources    = 10000
	DefaultGatewayMaxConcurrent = 1024
	DefaultGatewayHeaderBytes   = 32 << 10
	// DefaultGatewayReadHeaderTimeout stops slowloris (gateway-anchors.md
	// §4: common values are 2–10 s).
	DefaultGatewayReadHeaderTimeout = 5 * time.Second
	DefaultGatewayReadTimeout       = 30 * time.Second
	DefaultGatewayWriteTimeout      = 60 * time.Second
	DefaultGatewayIdleTimeout       = 120 * time.Second
	DefaultGatewayShutdownGrace     = 5 * time.Second
	DefaultGatewayShutdownTimeout   = 30 * time.Second
	DefaultGatewayConnectTimeout    = 5 * time.Second
	DefaultGatewayDrainTimeout      = 30 * time.Second
	DefaultGatewayHealthPath        = "/"
	DefaultGatewayHealthInterval    = 5 * time.Second
	DefaultGatewayHealthTimeout     = 2 * time.Second
	DefaultGatewayHealthRise        = 2
	DefaultGatewayHealthFall        = 2
	// DefaultGatewayBodyTimeout: an activity of 256 KiB from the Bot
	// Connector arrives in well under a second.
	DefaultGatewayBodyTimeout = 10 * time.Second
	// DefaultGatewayMaxConns stays far under the file limit Go raises
	// itself to (the hard limit, commonly 524288 under systemd).
	DefaultGatewayMaxConns = 16384
	// DefaultGatewayMaxConnsPerSource: Teams sends from many addresses of
	// its ranges, each with a few keep-alive connections.
	DefaultGatewayMaxConnsPerSource    = 512
	DefaultGatewayMaxInflightPerSource = 256
	DefaultGatewayUnauthIdleTimeout    = 5 * time.Second
)

var gatewayAlgorithms = []string{"RS256", "RS384", "RS512"}

// gatewayCompiler carries the diagnostics of one compileGateway call.
type gatewayCompiler struct {
	at func(path ...string) diag.Pos
	ds diag.List
}

func (c *gatewayCompiler) errorf(path []string, format string, args ...any) {
	c.ds.Errorf(c.at(path...), "gateway", format, args...)
}

func compileGateway(w *GatewayWire, at func(path ...string) diag.Pos) (*Gateway, diag.List) {
	c := &gatewayCompiler{at: at}
	g := &Gateway{PlainHTTP: w.PlainHTTP, ReusePort: w.ReusePort}

	g.Listen = c.listen(w.Listen, DefaultGatewayListen, "listen")
	g.AdminListen = c.listen(w.Admin.Listen, DefaultGatewayAdminListen, "admin", "listen")
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
		g.TLS = GatewayTLS{CertFile: w.TLS.Cert, KeyFile: w.TLS.Key, ClientCAFile: w.TLS.ClientCA}
		if w.TLS.Cert == "" {
			c.errorf([]string{"tls"}, "tls.cert is required: the server certificate chain (PEM)")
		}
		if w.TLS.Key == "" {
			c.errorf([]string{"tls"}, "tls.key is required: the server private key (PEM)")
		}
		g.TLS.ReloadInterval = c.duration(w.TLS.ReloadInterval, time.Minute, true, "tls", "reload_interval")
	}

	if w.Mode == "" {
		g.Mode = GatewayEnforce
	} else if m, err := ParseGatewayMode(w.Mode); err != nil {
		c.errorf([]string{"mode"}, "%v", err)
	} else {
		g.Mode = m
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
			g.AppIDs = append(g.AppIDs, id)
		}
	}
	for i, p := range w.Paths {
		if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "?# ") {
			c.errorf([]string{"paths", strconv.Itoa(i)}, "path %q: want an absolute path such as /api/messages", p)
			continue
		}
		g.Paths = append(g.Paths, p)
	}

	g.Sources = GatewaySources{
		Extra:           c.prefixes(w.Sources.Extra, "sources", "extra"),
		Replace:         w.Sources.Replace,
		ProxyProtocol:   w.Sources.ProxyProtocol,
		ServiceTagsFile: w.Sources.ServiceTags,
	}
	g.Sources.TrustedProxies, g.Sources.TrustedTags = c.proxies(w.Sources.TrustedProxies, "sources", "trusted_proxies")
	if len(g.Sources.TrustedTags) > 0 && g.Sources.ServiceTagsFile == "" {
		c.errorf([]string{"sources", "trusted_proxies"}, "service tag %s in trusted_proxies needs sources.service_tags: the Azure service tags file (ServiceTags_Public_*.json) its prefixes come from", g.Sources.TrustedTags[0])
	}
	for i, id := range w.Sources.FrontDoorIDs {
		if !tenantID.MatchString(id) {
			c.errorf([]string{"sources", "front_door_ids", strconv.Itoa(i)}, "front door id %q: want the profile's id, a GUID (the Front Door profile's Overview page, \"Front Door ID\")", id)
			continue
		}
		g.Sources.FrontDoorIDs = append(g.Sources.FrontDoorIDs, strings.ToLower(id))
	}
	for i, tag := range g.Sources.TrustedTags {
		if strings.HasPrefix(strings.ToLower(tag), "azurefrontdoor.backend") && len(g.Sources.FrontDoorIDs) == 0 {
			c.errorf([]string{"sources", "trusted_proxies", strconv.Itoa(i)}, "trusting %s needs sources.front_door_ids: Front Door's backend addresses are shared by every Front Door customer, so only your profile's X-Azure-FDID tells your traffic from theirs", tag)
		}
	}
	if len(g.Sources.FrontDoorIDs) > 0 && len(w.Sources.TrustedProxies) == 0 {
		c.errorf([]string{"sources", "front_door_ids"}, "sources.front_door_ids needs sources.trusted_proxies: the Front Door ranges (the AzureFrontDoor.Backend service tag)")
	}
	if w.Sources.Replace && len(w.Sources.Extra) == 0 {
		c.errorf([]string{"sources", "replace"}, "sources.replace is set but sources.extra is empty: nothing would be allowed")
	}
	if w.Sources.ProxyProtocol && len(w.Sources.TrustedProxies) == 0 {
		c.errorf([]string{"sources", "proxy_protocol"}, "sources.proxy_protocol needs sources.trusted_proxies: a PROXY header is believed only from a trusted proxy")
	}

	g.BotAuth = c.botAuth(&w.BotAuth)
	g.Limits = c.limits(&w.Limits)
	g.Upstreams = c.upstreams(&w.Upstreams)
	return g, c.ds
}

// listen checks a host:port listen address whose host is an IP literal or
// empty.
func (c *gatewayCompiler) listen(s, def string, path ...string) string {
	if s == "" {
		return def
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		c.errorf(path, "listen address %q: want host:port, e.g. 0.0.0.0:8443 or [::1]:8443", s)
		return s
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil {
			c.errorf(path, "listen address %q: the host must be an IP address (or empty for every address)", s)
		}
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
		c.errorf(path, "listen address %q: bad port %q", s, port)
	}
	return s
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
		if _, err := catalog.ParsePrefix(s); err != nil && serviceTagName.MatchString(s) {
			tags = append(tags, s)
			continue
		}
		p, err := catalog.ParsePrefix(s)
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

func (c *gatewayCompiler) prefixes(in []string, path ...string) []netip.Prefix {
	var out []netip.Prefix
	for i, s := range in {
		p, err := catalog.ParsePrefix(s)
		if err != nil {
			c.errorf(append(path, strconv.Itoa(i)), "%v", err)
			continue
		}
		out = append(out, p)
	}
	return out
}

// duration parses a Go duration; empty gives def. Zero is accepted only
// when zeroOK.
func (c *gatewayCompiler) duration(s string, def time.Duration, zeroOK bool, path ...string) time.Duration {
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		c.errorf(path, "duration %q: want e.g. 5s, 2m or 1h", s)
		return def
	}
	if d < 0 || (d == 0 && !zeroOK) {
		c.errorf(path, "duration %q: want a positive duration", s)
		return def
	}
	return d
}

// size parses a byte count: a number, optionally with a KiB or MiB suffix.
func (c *gatewayCompiler) size(s string, def, max int64, path ...string) int64 {
	if s == "" {
		return def
	}
	num, mult := strings.TrimSpace(s), int64(1)
	switch {
	case strings.HasSuffix(num, "KiB"):
		num, mult = strings.TrimSuffix(num, "KiB"), 1<<10
	case strings.HasSuffix(num, "MiB"):
		num, mult = strings.TrimSuffix(num, "MiB"), 1<<20
	}
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || n <= 0 {
		c.errorf(path, "size %q: want a positive number of bytes, e.g. 65536 or 64KiB", s)
		return def
	}
	if n > max/mult {
		c.errorf(path, "size %q: at most %d bytes", s, max)
		return def
	}
	return n * mult
}

func (c *gatewayCompiler) positive(p *int, def, max int, path ...string) int {
	if p == nil {
		return def
	}
	if *p <= 0 || *p > max {
		c.errorf(path, "%d: want 1 to %d", *p, max)
		return def
	}
	return *p
}

// tenantID is the form of a Microsoft Entra tenant id.
var tenantID = regexp.MustCompile(`^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$`)

func (c *gatewayCompiler) botAuth(w *gatewayBotAuthWire) GatewayBotAuth {
	b := GatewayBotAuth{
		Issuer:                w.Issuer,
		MetadataURL:           w.MetadataURL,
		CAFile:                w.CAFile,
		AllowInsecureLoopback: w.AllowInsecureLoopback,
		Channels:              w.Channels,
		ClockSkew:             c.duration(w.ClockSkew, 0, false, "botauth", "clock_skew"),
		RefreshInterval:       c.duration(w.RefreshInterval, 0, false, "botauth", "refresh_interval"),
		MinRefetchInterval:    c.duration(w.MinRefetchInterval, 0, false, "botauth", "min_refetch_interval"),
		CacheSize:             w.CacheSize,
	}
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
		b.ServiceURLHosts = append(b.ServiceURLHosts, host)
	}
	for i, t := range w.Tenants {
		if !tenantID.MatchString(t) {
			c.errorf([]string{"botauth", "tenants", strconv.Itoa(i)}, "tenant %q: want a tenant id (a GUID such as 72f988bf-86f1-41af-91ab-2d7cd011db47)", t)
			continue
		}
		b.Tenants = append(b.Tenants, strings.ToLower(t))
	}
	if w.CacheSize != nil && *w.CacheSize < 0 {
		c.errorf([]string{"botauth", "cache_size"}, "cache size %d: want 0 (the default) or more", *w.CacheSize)
	}
	return b
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

func (c *gatewayCompiler) limits(w *gatewayLimitsWire) GatewayLimits {
	l := GatewayLimits{
		MaxBodyBytes:      c.size(w.MaxBody, DefaultGatewayMaxBody, MaxGatewayMaxBody, "limits", "max_body"),
		Rate:              DefaultGatewayRate,
		Burst:             c.positive(w.Burst, DefaultGatewayBurst, 1<<20, "limits", "burst"),
		MaxSources:        c.positive(w.MaxSources, DefaultGatewayMaxSources, 10_000_000, "limits", "max_sources"),
		MaxConcurrent:     c.positive(w.MaxConcurrent, DefaultGatewayMaxConcurrent, 1<<20, "limits", "max_concurrent"),
		MaxHeaderBytes:    int(c.size(w.MaxHeaderBytes, DefaultGatewayHeaderBytes, 1<<20, "limits", "max_header_bytes")),
		ReadHeaderTimeout: c.duration(w.ReadHeaderTimeout, DefaultGatewayReadHeaderTimeout, false, "limits", "read_header_timeout"),
		ReadTimeout:       c.duration(w.ReadTimeout, DefaultGatewayReadTimeout, false, "limits", "read_timeout"),
		WriteTimeout:      c.duration(w.WriteTimeout, DefaultGatewayWriteTimeout, false, "limits", "write_timeout"),
		IdleTimeout:       c.duration(w.IdleTimeout, DefaultGatewayIdleTimeout, false, "limits", "idle_timeout"),
		ShutdownGrace:     c.duration(w.ShutdownGrace, DefaultGatewayShutdownGrace, false, "limits", "shutdown_grace"),
		ShutdownTimeout:   c.duration(w.ShutdownTimeout, DefaultGatewayShutdownTimeout, false, "limits", "shutdown_timeout"),

		BodyTimeout:          c.duration(w.BodyTimeout, DefaultGatewayBodyTimeout, false, "limits", "body_timeout"),
		MaxConns:             c.positive(w.MaxConns, DefaultGatewayMaxConns, 1<<22, "limits", "max_conns"),
		MaxConnsPerSource:    c.positive(w.MaxConnsPerSource, DefaultGatewayMaxConnsPerSource, 1<<22, "limits", "max_conns_per_source"),
		MaxInflightPerSource: c.positive(w.MaxInflightPerSource, DefaultGatewayMaxInflightPerSource, 1<<20, "limits", "max_inflight_per_source"),
		UnauthIdleTimeout:    c.duration(w.UnauthIdleTimeout, DefaultGatewayUnauthIdleTimeout, false, "limits", "unauth_idle_timeout"),
	}
	if w.Rate != nil {
		if *w.Rate <= 0 || *w.Rate > 1e6 {
			c.errorf([]string{"limits", "rate"}, "rate %v: want requests per second per source, above 0 and at most 1e6", *w.Rate)
		} else {
			l.Rate = *w.Rate
		}
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

func (c *gatewayCompiler) upstreams(w *gatewayUpstreamWire) GatewayUpstreams {
	u := GatewayUpstreams{
		Active:         w.Active,
		CAFile:         w.CAFile,
		ConnectTimeout: c.duration(w.ConnectTimeout, DefaultGatewayConnectTimeout, false, "upstreams", "connect_timeout"),
		DrainTimeout:   c.duration(w.DrainTimeout, DefaultGatewayDrainTimeout, false, "upstreams", "drain_timeout"),
		Health: GatewayHealth{
			Path:     w.Health.Path,
			Interval: c.duration(w.Health.Interval, DefaultGatewayHealthInterval, false, "upstreams", "health", "interval"),
			Timeout:  c.duration(w.Health.Timeout, DefaultGatewayHealthTimeout, false, "upstreams", "health", "timeout"),
			Rise:     c.positive(w.Health.Rise, DefaultGatewayHealthRise, 100, "upstreams", "health", "rise"),
			Fall:     c.positive(w.Health.Fall, DefaultGatewayHealthFall, 100, "upstreams", "health", "fall"),
		},
	}
	if u.Health.Path == "" {
		u.Health.Path = DefaultGatewayHealthPath
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
		grp := GatewayGroup{Name: name}
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
