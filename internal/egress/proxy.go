// Package egress is the allow-list proxy `teamsgate serve` runs for a
// deployment's outbound flows: HTTP CONNECT tunnels and absolute-form HTTP
// requests, allowed only to the hosts and ports of the plan, to addresses
// the classifier accepts, dialling exactly the address it checked. See
// docs/egress.md.
package egress

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/teamsgate/teamsgate/internal/adminhttp"
	"github.com/teamsgate/teamsgate/internal/egress/policy"
	"github.com/teamsgate/teamsgate/internal/egress/tenant"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/ratelimit"
	"golang.org/x/time/rate"
)

// Options are what the command line gives the proxy besides its
// configuration.
type Options struct {
	// Logger receives one line per request and the proxy's events; nil
	// discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Load re-reads the configuration for a reload (SIGHUP or the admin
	// endpoint); nil means reloads are refused.
	Load func() (*Config, error)
	// Reloads, when set, asks Run for a reload through Load at every
	// receive.
	Reloads <-chan struct{}
	// RequestLog, when set, receives the decision lines (one per request)
	// directly instead of through Logger: JSON lines in the shape of
	// slog's JSON handler for a logger with daemon=egress, written whole
	// in one Write each (a writer shared with Logger's handler keeps the
	// lines apart). Logger's level still decides which are written.
	RequestLog io.Writer
}

// Proxy is the egress proxy. Create it with New, run it with Start and
// Shutdown (or Run), change it with Reload.
type Proxy struct {
	opts    Options
	log     *slog.Logger
	now     func() time.Time
	metrics *metrics

	// running is the configuration the listeners were opened with: a
	// reload cannot move them.
	running Config
	state   atomic.Pointer[state]

	reloadMu sync.Mutex
	ln       net.Listener
	adminLn  net.Listener
	srv      *http.Server
	adminSrv *http.Server
	self     []netip.AddrPort

	open    atomic.Int64 // tunnels and forwarded requests
	conns   atomic.Int64 // client connections
	tunMu   sync.Mutex
	tunnels map[*tunnel]struct{}

	// failed receives the error of a listener that stopped serving.
	failed chan error
	// eventLog keeps the log of refusals made outside a request (by the
	// HTTP server) to a few lines a second under a flood; the counters
	// count every one.
	eventLog *rate.Limiter

	stopping atomic.Bool
	life     context.Context
	stop     context.CancelFunc
	wg       sync.WaitGroup
}

// state is everything a request reads, swapped whole by a reload.
type state struct {
	cfg        Config
	allow      *policy.AllowList
	classifier *policy.Classifier
	ids        *identities
	limiter    *ratelimit.Limiter
	resolver   *net.Resolver
	dnsCache   *dnsCache
	transport  *http.Transport
	adminToken *adminhttp.Digest
	listenTLS  *tls.Config
	// tenant, when tenant restrictions are configured, decrypts the
	// sign-in hosts' tunnels to set their headers.
	tenant *tenant.Interceptor
}

// New checks cfg and returns a proxy that Start (or Run) starts.
func New(cfg Config, opts Options) (*Proxy, error) {
	c := cfg.withDefaults()
	if err := c.check(); err != nil {
		return nil, err
	}
	p := &Proxy{opts: opts, log: opts.Logger, now: opts.Now, metrics: newMetrics(), running: c, tunnels: map[*tunnel]struct{}{}, failed: make(chan error, 2), eventLog: rate.NewLimiter(5, 20)}
	if p.log == nil {
		p.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if p.now == nil {
		p.now = time.Now
	}
	p.life, p.stop = context.WithCancel(context.Background())
	st, err := p.build(c, nil)
	if err != nil {
		return nil, err
	}
	p.state.Store(st)
	return p, nil
}

// withDefaults fills the zero limits.
func (c Config) withDefaults() Config {
	l, d := &c.Limits, Defaults
	setInt := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	setDur := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	setInt(&l.MaxTunnels, d.MaxTunnels)
	setInt(&l.MaxConns, d.MaxConns)
	setInt(&l.Burst, d.Burst)
	setInt(&l.MaxHeaderBytes, d.MaxHeaderBytes)
	if l.Rate == 0 {
		l.Rate = d.Rate
	}
	setDur(&l.ConnectTimeout, d.ConnectTimeout)
	setDur(&l.DNSTimeout, d.DNSTimeout)
	setDur(&l.HeaderTimeout, d.HeaderTimeout)
	setDur(&l.IdleTimeout, d.IdleTimeout)
	setDur(&l.PeekTimeout, d.PeekTimeout)
	setDur(&l.DNSCache, d.DNSCache)
	if c.Listen == "" {
		c.Listen = "127.0.0.1:3128"
	}
	return c
}

// check refuses a configuration the proxy cannot run.
func (c Config) check() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen %q: want host:port", c.Listen))
	}
	if c.AdminListen != "" {
		if _, _, err := net.SplitHostPort(c.AdminListen); err != nil {
			errs = append(errs, fmt.Errorf("admin listen %q: want host:port", c.AdminListen))
		}
		if why := adminhttp.Exposure(c.AdminListen); why != "" && c.AdminTokenFile == "" {
			errs = append(errs, fmt.Errorf("the admin listener %q %s: give an admin token file", c.AdminListen, why))
		}
	}
	if c.Identity == IdentityCertificate && (c.TLS == nil || c.TLS.ClientCAFile == "") {
		errs = append(errs, errors.New("identity certificate needs the listener's TLS with a client CA file"))
	}
	l := c.Limits
	if l.MaxTunnels < 0 || l.MaxConns < 0 || l.Rate < 0 || l.Burst < 0 || l.MaxHeaderBytes < 0 {
		errs = append(errs, errors.New("limits must not be negative"))
	}
	return errors.Join(errs...)
}

// build compiles cfg into a state, reusing from old what cfg does not
// change (the rate limiter's buckets, the upstream transport's idle
// connections).
func (p *Proxy) build(cfg Config, old *state) (*state, error) {
	st := &state{cfg: cfg, allow: policy.NewAllowList(cfg.Rules)}
	st.classifier = policy.NewClassifier(cfg.AllowRanges, p.self)
	ids, err := newIdentities(&cfg)
	if err != nil {
		return nil, err
	}
	st.ids = ids
	l := cfg.Limits
	if old != nil && old.cfg.Limits.Rate == l.Rate && old.cfg.Limits.Burst == l.Burst {
		st.limiter = old.limiter
	} else {
		st.limiter = ratelimit.New(l.Rate, l.Burst, max(l.MaxConns, 1024))
	}
	st.resolver = net.DefaultResolver
	if len(cfg.DNS) > 0 {
		st.resolver = resolverFor(cfg.DNS)
	}
	// a reload starts with an empty cache: its allow ranges or name
	// servers may have changed
	st.dnsCache = newDNSCache(l.DNSCache, dnsCacheNames)
	if old != nil && slices.Equal(old.cfg.DNS, cfg.DNS) && old.cfg.Limits.ConnectTimeout == l.ConnectTimeout {
		st.transport = old.transport
	} else {
		st.transport = newTransport(l.ConnectTimeout)
	}
	if cfg.AdminTokenFile != "" {
		if st.adminToken, err = adminhttp.TokenDigest(cfg.AdminTokenFile); err != nil {
			return nil, err
		}
	} else if why := adminhttp.Exposure(p.running.AdminListen); why != "" && p.running.AdminListen != "" {
		return nil, fmt.Errorf("no admin token file, but the running admin listener %q %s: it keeps needing a token until a restart", p.running.AdminListen, why)
	}
	if cfg.TLS != nil {
		if st.listenTLS, err = listenerTLS(cfg.TLS, cfg.Identity, p.now); err != nil {
			return nil, err
		}
	}
	if st.tenant, err = newInterceptor(cfg.Tenant, p.now); err != nil {
		return nil, err
	}
	return st, nil
}

// dnsCacheNames bounds the DNS cache: far more names than an allow list
// holds, a few hundred kilobytes at most.
const dnsCacheNames = 4096

// resolverFor asks the given name servers, in turn, instead of the
// system's.
func resolverFor(servers []netip.AddrPort) *net.Resolver {
	var next atomic.Uint32
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			s := servers[int(next.Add(1)-1)%len(servers)]
			var d net.Dialer
			return d.DialContext(ctx, network, s.String())
		},
	}
}

// Start opens the listeners and serves in the background until Shutdown.
func (p *Proxy) Start() error {
	// No TCP keep-alive on clients' connections either (see dial).
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(context.Background(), "tcp", p.running.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	p.ln = ln
	if p.running.AdminListen != "" {
		if p.adminLn, err = net.Listen("tcp", p.running.AdminListen); err != nil {
			ln.Close()
			return fmt.Errorf("admin listen: %w", err)
		}
	}
	// the classifier refuses the proxy's own addresses: rebuild the state
	// with them now that the ports are known
	p.self = selfAddrs(ln.Addr(), p.adminLn)
	p.reloadMu.Lock()
	st, err := p.build(p.state.Load().cfg, p.state.Load())
	if err == nil {
		p.state.Store(st)
	}
	p.reloadMu.Unlock()
	if err != nil {
		p.closeListeners()
		return err
	}
	p.srv = &http.Server{
		Handler:           http.HandlerFunc(p.serveHTTP),
		ReadHeaderTimeout: p.running.Limits.HeaderTimeout,
		MaxHeaderBytes:    p.running.Limits.MaxHeaderBytes,
		IdleTimeout:       p.running.Limits.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(p.log.Handler(), slog.LevelDebug),
		ConnState:         p.trackState,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, countedOf(c))
		},
		// HTTP/2 has no CONNECT tunnels here; a TLS listener speaks
		// HTTP/1.1 only.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
	}
	var serveLn net.Listener = &limitListener{Listener: ln, p: p}
	if st.listenTLS != nil {
		cfg := st.listenTLS.Clone()
		cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) { return p.state.Load().listenTLS, nil }
		serveLn = tls.NewListener(serveLn, cfg)
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		if err := p.srv.Serve(serveLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.log.Error("proxy listener failed", "error", err.Error())
			p.fail(fmt.Errorf("proxy listener: %w", err))
		}
	}()
	if p.adminLn != nil {
		p.adminSrv = &http.Server{Handler: p.adminHandler(), ReadHeaderTimeout: 10 * time.Second}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			if err := p.adminSrv.Serve(p.adminLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				p.log.Error("admin listener failed", "error", err.Error())
				p.fail(fmt.Errorf("admin listener: %w", err))
			}
		}()
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.sweepIdle()
	}()
	p.log.Info("egress proxy listening", "listen", ln.Addr().String(), "mode", p.running.Mode.String(),
		"rules", len(st.cfg.Rules), "admin", p.AdminAddr())
	return nil
}

// Addr is the proxy listener's address, once started.
func (p *Proxy) Addr() string {
	if p.ln == nil {
		return ""
	}
	return p.ln.Addr().String()
}

// AdminAddr is the admin listener's address, or "" without one.
func (p *Proxy) AdminAddr() string {
	if p.adminLn == nil {
		return ""
	}
	return p.adminLn.Addr().String()
}

// Run starts the proxy, serves until ctx is done, and shuts down, letting
// open tunnels finish for up to a minute.
func (p *Proxy) Run(ctx context.Context) error {
	if err := p.Start(); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			return p.Shutdown(sctx)
		case err := <-p.failed:
			// a listener that stopped serving: the process must not look
			// healthy without it
			sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			return errors.Join(err, p.Shutdown(sctx))
		case <-p.opts.Reloads:
			p.ReloadFromSource() //nolint:errcheck // logged and counted
		}
	}
}

// fail reports a listener's failure to Run.
func (p *Proxy) fail(err error) {
	select {
	case p.failed <- err:
	default:
	}
}

// Shutdown stops accepting, waits for open tunnels and requests until ctx
// is done, then closes what is left.
func (p *Proxy) Shutdown(ctx context.Context) error {
	p.stopping.Store(true)
	var err error
	if p.srv != nil {
		err = p.srv.Shutdown(ctx) // hijacked tunnels are not waited for here
	}
	if p.adminSrv != nil {
		p.adminSrv.Shutdown(ctx) //nolint:errcheck
	}
	for p.open.Load() > 0 && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	p.closeTunnels()
	p.stop()
	p.wg.Wait()
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

func (p *Proxy) closeListeners() {
	if p.ln != nil {
		p.ln.Close()
	}
	if p.adminLn != nil {
		p.adminLn.Close()
	}
}

// Reload applies a new configuration atomically: requests that have
// started keep the state they started with, and open tunnels stay open.
// An invalid configuration is rejected whole and the running one stays.
// The listeners do not move: a change of listen address, admin address or
// the listener's TLS takes effect at the next start (it is logged).
func (p *Proxy) Reload(cfg *Config) error {
	err := p.reload(cfg)
	result := "ok"
	if err != nil {
		result = "rejected"
		p.log.Error("configuration reload rejected; the running configuration stays", "error", err.Error())
	}
	p.metrics.reloads.WithLabelValues(result).Inc()
	return err
}

func (p *Proxy) reload(cfg *Config) error {
	if cfg == nil {
		return errors.New("reload: no configuration")
	}
	c := cfg.withDefaults()
	if err := c.check(); err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	p.reloadMu.Lock()
	defer p.reloadMu.Unlock()
	if p.stopping.Load() {
		return errors.New("reload: the proxy is shutting down")
	}
	st, err := p.build(c, p.state.Load())
	if err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	p.state.Store(st)
	var restart []string
	if c.Listen != p.running.Listen {
		restart = append(restart, "listen")
	}
	if c.AdminListen != p.running.AdminListen {
		restart = append(restart, "admin.listen")
	}
	if (c.TLS == nil) != (p.running.TLS == nil) {
		restart = append(restart, "tls")
	}
	if len(restart) > 0 {
		p.log.Warn("configuration reloaded; some changes take effect only after a restart", "settings", restart)
	} else {
		p.log.Info("configuration reloaded", "rules", len(c.Rules), "mode", c.Mode.String())
	}
	return nil
}

var errReloadUnsupported = errors.New("reload: the proxy was started without a configuration source")

// ReloadFromSource re-reads the configuration through Options.Load and
// applies it with Reload.
func (p *Proxy) ReloadFromSource() error {
	if p.opts.Load == nil {
		p.metrics.reloads.WithLabelValues("rejected").Inc()
		return errReloadUnsupported
	}
	cfg, err := p.opts.Load()
	if err != nil {
		p.metrics.reloads.WithLabelValues("rejected").Inc()
		p.log.Error("configuration reload rejected; the running configuration stays", "error", err.Error())
		return err
	}
	return p.Reload(cfg)
}

// selfAddrs are the proxy's own addresses and ports: the listeners', and
// for a listener on every address, each local interface address with its
// port.
func selfAddrs(main net.Addr, admin net.Listener) []netip.AddrPort {
	var out []netip.AddrPort
	var local []netip.Addr
	if as, err := net.InterfaceAddrs(); err == nil {
		for _, a := range as {
			if n, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok {
					local = append(local, ip.Unmap())
				}
			}
		}
	}
	add := func(a net.Addr) {
		t, ok := a.(*net.TCPAddr)
		if !ok {
			return
		}
		ap := t.AddrPort()
		ip := ap.Addr().Unmap()
		if !ip.IsUnspecified() {
			out = append(out, netip.AddrPortFrom(ip, ap.Port()))
			return
		}
		for _, l := range local {
			out = append(out, netip.AddrPortFrom(l, ap.Port()))
		}
	}
	add(main)
	if admin != nil {
		add(admin.Addr())
	}
	return out
}

// limitListener closes connections over max_conns at accept.
type limitListener struct {
	net.Listener
	p *Proxy
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.p.conns.Add(1) > int64(l.p.state.Load().cfg.Limits.MaxConns) {
			l.p.conns.Add(-1)
			l.p.metrics.connRefused.WithLabelValues(ReasonMaxConns).Inc()
			c.Close()
			continue
		}
		return &countedConn{Conn: c, p: l.p}, nil
	}
}

// countedConn gives its slot back when closed, once, and counts what the
// HTTP server reads and writes on it before a request reaches the handler
// (trackState): a tunnel's bytes go past it (rawConn).
type countedConn struct {
	net.Conn
	p    *Proxy
	once sync.Once

	read, written, handled atomic.Int64
	// at the start of the current request (trackState): what had been
	// read, written and handled
	mu                                       sync.Mutex
	active                                   bool
	activeSince                              time.Time
	activeRead, activeWritten, activeHandled int64
}

func (c *countedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.read.Add(int64(n))
	return n, err
}

func (c *countedConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.written.Add(int64(n))
	return n, err
}

// countedOf finds the countedConn under the connection http.Server holds.
func countedOf(c net.Conn) *countedConn {
	if t, ok := c.(*tls.Conn); ok {
		c = t.NetConn()
	}
	cc, _ := c.(*countedConn)
	return cc
}

type connKey struct{}

// trackState accounts for the requests the HTTP server ends by itself,
// before the handler: a request line or header it cannot parse (400), a
// header over max_header_bytes (431), or one the client left unfinished
// (closed, or header_timeout). They are counted and logged as refusals,
// as the gateway does, with no part of the request.
func (p *Proxy) trackState(nc net.Conn, s http.ConnState) {
	c := countedOf(nc)
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch s {
	case http.StateNew:
		c.activeRead = c.read.Load()
	case http.StateActive:
		c.active = true
		c.activeSince = p.now()
		c.activeHandled, c.activeWritten = c.handled.Load(), c.written.Load()
	case http.StateIdle:
		c.active = false
		c.activeRead = c.read.Load()
	case http.StateClosed:
		if c.active && c.handled.Load() == c.activeHandled {
			reason := ReasonIncompleteRequest
			if c.written.Load() > c.activeWritten {
				reason = ReasonMalformedRequest
				if c.read.Load()-c.activeRead > int64(p.running.Limits.MaxHeaderBytes) {
					reason = ReasonHeadersTooLarge
				}
			}
			p.metrics.counter(model.VerdictDeny, reason).Inc()
			if p.eventLog.Allow() {
				p.log.Warn("request refused by the HTTP server", "client", c.RemoteAddr().String(), "reason", reason,
					"duration_ms", float64(p.now().Sub(c.activeSince).Microseconds())/1000)
			}
		}
		c.active = false
	case http.StateHijacked:
		c.active = false
	}
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.p.conns.Add(-1) })
	return c.Conn.Close()
}
