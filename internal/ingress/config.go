package ingress

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"time"

	"go4.org/netipx"

	"github.com/teamsgate/teamsgate/internal/adminhttp"
	"github.com/teamsgate/teamsgate/internal/botauth"
	"github.com/teamsgate/teamsgate/internal/model"
)

// Mode says whether the source address check blocks (Enforce) or only logs
// and counts what it would block (Report). The zero value is Enforce, so a
// forgotten mode fails closed. Token validation is enforced in both modes.
type Mode uint8

const (
	Enforce Mode = iota
	Report
)

func (m Mode) String() string {
	if m == Report {
		return "report"
	}
	return "enforce"
}

// PlanSourcesRule names the decision rule of sources admitted by the plan
// when the configuration does not name the plan's rule (a Config built in
// code); FromSection names the flow.
const PlanSourcesRule = "gateway.sources.plan"

// ExtraSourcesRule names the decision rule for sources admitted by the
// configuration's own ranges rather than the plan's.
const ExtraSourcesRule = "gateway.sources.extra"

// Config is everything the gateway runs with. The zero values of Limits,
// Upstreams.Health and the timeouts mean the defaults below (except
// TLS.ReloadInterval, where zero means no polling); Sources, Auth.AppIDs
// and Upstreams.Groups are required.
type Config struct {
	// Listen is the main listener's host:port.
	Listen string
	// ReusePort opens the main listener with SO_REUSEPORT: several gateway
	// processes may then listen on the same port, the kernel spreading the
	// connections over them.
	ReusePort bool
	// AdminListen is the admin listener's host:port; it serves metrics,
	// health, the blue-green switch and reload, and should stay on
	// loopback.
	AdminListen string
	// AdminTokenFile, when set, holds the bearer token that every admin
	// request but /healthz and /readyz must carry (read at start and on
	// every reload). An admin listener off loopback requires one.
	AdminTokenFile string
	// PlainHTTP serves the main listener without TLS (behind a
	// TLS-terminating load balancer, and in tests).
	PlainHTTP bool
	TLS       TLSConfig
	Mode      Mode
	Sources   Sources
	// Paths, when not empty, are the only request paths served.
	Paths []string
	// Auth configures token validation. Logger, Now and HTTPClient are set
	// by the gateway; RootCAs is built from AuthCAFile.
	Auth       botauth.Config
	AuthCAFile string
	// Policy holds the optional checks applied after a token is valid.
	Policy    Policy
	Limits    Limits
	Upstreams Upstreams
}

// Policy holds the optional checks after token validation (botauth.md
// §6.10 and §6.12). The zero value checks nothing more.
type Policy struct {
	// ServiceURLHosts, when not empty, are the only hosts an activity's
	// serviceUrl may name.
	ServiceURLHosts []model.Host
	// Tenants, when not empty, are the only tenant ids (lower case) whose
	// activities pass (channelData.tenant.id).
	Tenants []string
}

// TLSConfig names the certificate files; they are read at start and on
// every reload, and polled every ReloadInterval when it is not zero.
type TLSConfig struct {
	CertFile, KeyFile string
	// ClientCAFile, when set, requires client certificates signed by it.
	ClientCAFile   string
	ReloadInterval time.Duration
}

// Sources are the addresses allowed to reach the bot and the proxies whose
// forwarding headers are believed.
type Sources struct {
	// Plan holds the plan's Teams service ranges (rule PlanRule), Extra the
	// configuration's own (rule ExtraSourcesRule). Either may be nil.
	Plan     *netipx.IPSet
	PlanRule string
	Extra    *netipx.IPSet
	// TrustedProxies are the peers whose X-Forwarded-For, and with
	// ProxyProtocol whose PROXY protocol header, are believed.
	TrustedProxies *netipx.IPSet
	ProxyProtocol  bool
	// FrontDoorIDs, when not empty, are the Azure Front Door profile ids
	// (lower case) that a request through a trusted proxy must carry in
	// X-Azure-FDID: Front Door's backend ranges are shared by every Front
	// Door customer, so the address alone says nothing of whose Front
	// Door it is (Microsoft Learn, "Secure traffic to Azure Front Door
	// origins").
	FrontDoorIDs []string
}

// Limits bound what one source and all sources together may cost.
type Limits struct {
	MaxBodyBytes int64
	Rate         float64 // requests per second per source, on this instance
	Burst        int
	// Replicas is the fleet's size when the spec gives limits.replicas:
	// the spec's rate and burst are then the fleet's, and Rate and Burst
	// this instance's share of them (rate/replicas, burst/replicas rounded
	// up). 1 otherwise.
	Replicas          int
	MaxSources        int
	MaxConcurrent     int
	MaxHeaderBytes    int
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	ShutdownGrace     time.Duration
	ShutdownTimeout   time.Duration
	// BodyTimeout bounds the reading of a body, which starts only once its
	// token is verified.
	BodyTimeout time.Duration
	// MaxConns caps the open connections; MaxConnsPerSource those of one
	// socket peer (a trusted proxy is exempt).
	MaxConns          int
	MaxConnsPerSource int
	// MaxInflightPerSource caps the requests of one source in the handler
	// at once, taken before its token is checked.
	MaxInflightPerSource int
	// UnauthIdleTimeout closes a kept-alive connection idle this long
	// that has not yet carried a request with a valid token.
	UnauthIdleTimeout time.Duration
}

// Upstreams are the bot instances in named groups; Active is the group that
// receives traffic.
type Upstreams struct {
	Active         string
	Groups         []Group
	CAFile         string
	ConnectTimeout time.Duration
	DrainTimeout   time.Duration
	Health         Health
}

// Group is a named set of upstream base URLs.
type Group struct {
	Name string
	URLs []*url.URL
}

// Health configures active health checks: GET Path every Interval; an
// answer below 500 within Timeout is a pass. Rise passes in a row mark an
// upstream up, Fall failures in a row mark it down.
type Health struct {
	Path     string
	Interval time.Duration
	Timeout  time.Duration
	Rise     int
	Fall     int
}

// The defaults of the spec's gateway: section and of a Config built in
// code; docs/gateway.md explains each.
const (
	DefaultListen      = ":8443"
	DefaultAdminListen = "127.0.0.1:9090"
	// DefaultMaxBodyBytes is generous for an activity (Teams messages are
	// at most about 28 KiB of text; attachments are links).
	DefaultMaxBodyBytes = 256 << 10
	// DefaultRate and DefaultBurst are per source address, and Teams sends
	// every tenant's traffic from a few service addresses, so they are
	// high.
	DefaultRate              = 200
	DefaultBurst             = 400
	DefaultMaxSources        = 10000
	DefaultMaxConcurrent     = 1024
	DefaultMaxHeaderBytes    = 32 << 10
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultWriteTimeout      = 60 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultShutdownGrace     = 5 * time.Second
	DefaultShutdownTimeout   = 30 * time.Second
	DefaultConnectTimeout    = 5 * time.Second
	DefaultDrainTimeout      = 30 * time.Second
	DefaultHealthPath        = "/"
	DefaultHealthInterval    = 5 * time.Second
	DefaultHealthTimeout     = 2 * time.Second
	DefaultHealthRise        = 2
	DefaultHealthFall        = 2
	DefaultTLSReloadInterval = time.Minute
	DefaultBodyTimeout       = 10 * time.Second
	DefaultMaxConns          = 16384
	DefaultMaxConnsPerSource = 512
	DefaultMaxInflightPerSrc = 256
	DefaultUnauthIdleTimeout = 5 * time.Second
	// maxBodyCeiling is the activity parser's own limit.
	maxBodyCeiling = botauth.MaxActivityBytes
)

// WithDefaults returns a copy of c with zero limits, timeouts and health
// settings replaced by the defaults.
func (c Config) WithDefaults() Config {
	l := &c.Limits
	setDefault(&l.MaxBodyBytes, DefaultMaxBodyBytes)
	setDefault(&l.Rate, DefaultRate)
	setDefault(&l.Burst, DefaultBurst)
	setDefault(&l.Replicas, 1)
	setDefault(&l.MaxSources, DefaultMaxSources)
	setDefault(&l.MaxConcurrent, DefaultMaxConcurrent)
	setDefault(&l.MaxHeaderBytes, DefaultMaxHeaderBytes)
	setDefault(&l.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	setDefault(&l.ReadTimeout, DefaultReadTimeout)
	setDefault(&l.WriteTimeout, DefaultWriteTimeout)
	setDefault(&l.IdleTimeout, DefaultIdleTimeout)
	setDefault(&l.ShutdownGrace, DefaultShutdownGrace)
	setDefault(&l.ShutdownTimeout, DefaultShutdownTimeout)
	setDefault(&l.BodyTimeout, DefaultBodyTimeout)
	setDefault(&l.MaxConns, DefaultMaxConns)
	setDefault(&l.MaxConnsPerSource, DefaultMaxConnsPerSource)
	setDefault(&l.MaxInflightPerSource, DefaultMaxInflightPerSrc)
	setDefault(&l.UnauthIdleTimeout, DefaultUnauthIdleTimeout)
	u := &c.Upstreams
	setDefault(&u.ConnectTimeout, DefaultConnectTimeout)
	setDefault(&u.DrainTimeout, DefaultDrainTimeout)
	h := &u.Health
	setDefault(&h.Path, DefaultHealthPath)
	setDefault(&h.Interval, DefaultHealthInterval)
	setDefault(&h.Timeout, DefaultHealthTimeout)
	setDefault(&h.Rise, DefaultHealthRise)
	setDefault(&h.Fall, DefaultHealthFall)
	if u.Active == "" && len(u.Groups) == 1 {
		u.Active = u.Groups[0].Name
	}
	return c
}

func setDefault[T comparable](p *T, def T) {
	var zero T
	if *p == zero {
		*p = def
	}
}

// check reports every problem of a defaulted config that would make the
// gateway misbehave. The spec loader reports the same problems with
// positions; this is the last line for configs built in code.
func (c *Config) check() error {
	var errs []error
	if c.Listen == "" {
		errs = append(errs, errors.New("no listen address"))
	}
	if c.AdminListen == "" {
		errs = append(errs, errors.New("no admin listen address"))
	}
	for _, a := range []string{c.Listen, c.AdminListen} {
		if a == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			errs = append(errs, fmt.Errorf("listen address %q: %w", a, err))
		}
	}
	if !c.PlainHTTP && (c.TLS.CertFile == "" || c.TLS.KeyFile == "") {
		errs = append(errs, errors.New("no TLS certificate and key, and plain HTTP not chosen"))
	}
	if empty(c.Sources.Plan) && empty(c.Sources.Extra) {
		errs = append(errs, errors.New("no allowed source ranges: the plan has no Teams service ranges for the bot and no extra ranges are configured"))
	}
	if c.Sources.ProxyProtocol && empty(c.Sources.TrustedProxies) {
		errs = append(errs, errors.New("PROXY protocol needs trusted proxies"))
	}
	l := c.Limits
	if l.MaxBodyBytes <= 0 || l.MaxBodyBytes > maxBodyCeiling {
		errs = append(errs, fmt.Errorf("max body %d: want 1 to %d bytes", l.MaxBodyBytes, maxBodyCeiling))
	}
	if l.Rate <= 0 || l.Burst <= 0 || l.MaxSources <= 0 || l.MaxConcurrent <= 0 || l.MaxHeaderBytes <= 0 ||
		l.MaxConns <= 0 || l.MaxConnsPerSource <= 0 || l.MaxInflightPerSource <= 0 || l.BodyTimeout <= 0 || l.UnauthIdleTimeout <= 0 {
		errs = append(errs, errors.New("rate, burst, max sources, max concurrent, max header bytes, the connection and in-flight caps and the body and idle timeouts must be positive"))
	}
	if why := AdminExposure(c.AdminListen); why != "" && c.AdminTokenFile == "" {
		errs = append(errs, fmt.Errorf("admin listener %q %s: give an admin token file, or keep it on loopback", c.AdminListen, why))
	}
	if l.ShutdownGrace < 0 || l.ShutdownGrace >= l.ShutdownTimeout {
		errs = append(errs, fmt.Errorf("shutdown grace %v must be shorter than the shutdown timeout %v", l.ShutdownGrace, l.ShutdownTimeout))
	}
	u := c.Upstreams
	if len(u.Groups) == 0 {
		errs = append(errs, errors.New("no upstream groups"))
	}
	var names []string
	for _, g := range u.Groups {
		if g.Name == "" || slices.Contains(names, g.Name) {
			errs = append(errs, fmt.Errorf("upstream group %q: empty or repeated name", g.Name))
		}
		names = append(names, g.Name)
		if len(g.URLs) == 0 {
			errs = append(errs, fmt.Errorf("upstream group %q has no URLs", g.Name))
		}
		for _, x := range g.URLs {
			if x == nil || (x.Scheme != "http" && x.Scheme != "https") || x.Host == "" {
				errs = append(errs, fmt.Errorf("upstream group %q: %v is not an http(s) URL", g.Name, x))
			}
		}
	}
	if !slices.Contains(names, u.Active) {
		errs = append(errs, fmt.Errorf("active upstream group %q is not one of %q", u.Active, names))
	}
	if h := u.Health; h.Interval <= 0 || h.Timeout <= 0 || h.Rise <= 0 || h.Fall <= 0 {
		errs = append(errs, errors.New("health check interval, timeout, rise and fall must be positive"))
	}
	return errors.Join(errs...)
}

func empty(s *netipx.IPSet) bool { return s == nil || len(s.Prefixes()) == 0 }

// contains reports whether s holds a; s may be nil.
func contains(s *netipx.IPSet, a netip.Addr) bool { return s != nil && s.Contains(a) }

// AdminExposure says why an admin listen address is reachable from other
// hosts, or "" when it is on loopback only (adminhttp.Exposure).
func AdminExposure(addr string) string { return adminhttp.Exposure(addr) }
