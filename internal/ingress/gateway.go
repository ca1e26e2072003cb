// Package ingress is the enforcing gateway in front of a Teams bot
// (`teamsgate serve`): it terminates TLS, admits only the Teams service
// ranges of the plan, validates the Bot Framework token of every activity
// with package botauth, limits what each source may cost, and proxies what
// passes to one of several bot instances, switching between blue and green
// groups without dropping a request. See README.md for the order of checks
// and docs/gateway.md for operation.
package ingress

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
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go4.org/netipx"
	"golang.org/x/sys/unix"
	"golang.org/x/time/rate"

	"github.com/teamsgate/teamsgate/internal/botauth"
)

// Options are the gateway's links to the outside world.
type Options struct {
	// Logger receives one JSON-friendly line per request and the
	// gateway's events; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Load re-reads the configuration for a reload (SIGHUP or the admin
	// endpoint); nil means reloads are refused.
	Load func() (*Config, error)
	// Reloads, when set, asks Run for a reload through Load at every
	// receive; the command line feeds it from SIGHUP.
	Reloads <-chan struct{}
	// RequestLog, when set, receives the request lines (one per request)
	// written directly in the shape Logger's JSON handler gives them, at a
	// fraction of its cost; Logger still decides whether they are written
	// (its level) and gets every other line.
	RequestLog io.Writer
}

// Gateway is the ingress gateway. Create it with New, run it with Start
// and Shutdown (or Run), change it with Reload and Switch.
type Gateway struct {
	opts    Options
	log     *slog.Logger
	now     func() time.Time
	state   atomic.Pointer[state]
	metrics *metrics
	buffers *bufferPool
	// exchanges pools the per-request records.
	exchanges sync.Pool

	// running is the configuration the listeners were started with.
	running Config

	reloadMu sync.Mutex
	statsMu  sync.Mutex
	retired  botauth.Stats

	life     context.Context // ends when the gateway has shut down
	stopLife context.CancelFunc
	wg       sync.WaitGroup

	started   atomic.Bool
	listening chan struct{} // closed once Start has opened the listeners
	stopping  atomic.Bool
	draining  atomic.Bool
	conns     atomic.Int64
	// fresh holds the connections accepted whose first request has not
	// reached the handler yet (freshN counts them): Shutdown waits for
	// them, since net/http drops a request it reads after its Shutdown
	// began. A connection is fresh from its Accept (freshListener) until
	// its first request enters ServeHTTP or it closes.
	fresh        sync.Map
	freshN       atomic.Int64
	acceptClosed atomic.Bool   // the main listener was closed by Shutdown
	acceptDone   chan struct{} // closed when the main accept loop has ended
	// upDials counts the connections opened to each upstream (by URL),
	// across the transports that reloads replace.
	upDialsMu sync.Mutex
	upDials   map[string]*atomic.Int64
	// busy counts each source's requests in the handler, for
	// max_inflight_per_source; limits caps the open connections.
	busy   *sourceCounts
	limits *limitListener
	// eventLog bounds the log lines of refused connections and of
	// requests the server refused, which an attacker could otherwise
	// multiply.
	eventLog  *rate.Limiter
	srv       *http.Server
	adminSrv  *http.Server
	ln        net.Listener
	adminLn   net.Listener
	serveErrs chan error
}

// New checks cfg and prepares a gateway; it opens nothing. Errors name
// every problem found.
func New(cfg Config, opts Options) (*Gateway, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.check(); err != nil {
		return nil, fmt.Errorf("gateway config: %w", err)
	}
	g := &Gateway{
		opts:       opts,
		log:        opts.Logger,
		now:        opts.Now,
		running:    cfg,
		buffers:    newBufferPool(),
		upDials:    map[string]*atomic.Int64{},
		serveErrs:  make(chan error, 2),
		acceptDone: make(chan struct{}),
		listening:  make(chan struct{}),
		busy:       newSourceCounts(),
		eventLog:   rate.NewLimiter(10, 20),
	}
	g.exchanges.New = newExchange
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.now == nil {
		g.now = time.Now
	}
	g.life, g.stopLife = context.WithCancel(context.Background())
	st, err := g.build(cfg, nil)
	if err != nil {
		return nil, fmt.Errorf("gateway config: %w", err)
	}
	g.state.Store(st)
	g.metrics = newMetrics(g)
	return g, nil
}

// Start fetches the signing keys, probes the upstreams, opens both
// listeners and serves in the background. A failed first key fetch is
// logged, not fatal: the validator keeps retrying, requests are refused
// with 503 meanwhile and /readyz says why. ctx bounds the start only.
func (g *Gateway) Start(ctx context.Context) error {
	if !g.started.CompareAndSwap(false, true) {
		return errors.New("gateway already started")
	}
	st := g.state.Load()
	if err := g.startAuth(ctx, st.auth); err != nil {
		g.log.Warn("first key fetch failed; requests are refused until one succeeds", "error", err.Error())
	}
	g.preparePool(ctx, st, nil) //nolint:errcheck // never fails without a previous state
	st.pool.start(g.life)

	ln, err := listen(ctx, g.running.Listen, g.running.ReusePort)
	if err != nil {
		g.stopBackground()
		return fmt.Errorf("listen %q: %w", g.running.Listen, err)
	}
	adminLn, err := net.Listen("tcp", g.running.AdminListen)
	if err != nil {
		ln.Close()
		g.stopBackground()
		return fmt.Errorf("admin listen %q: %w", g.running.AdminListen, err)
	}
	g.ln, g.adminLn = ln, adminLn

	g.limits = &limitListener{Listener: ln, g: g, peers: newSourceCounts()}
	var main net.Listener = &proxyListener{
		Listener: g.limits,
		enabled:  func() bool { return g.state.Load().cfg.Sources.ProxyProtocol },
		trusted:  func() *netipx.IPSet { return g.state.Load().sources.trusted },
		timeout:  g.running.Limits.ReadHeaderTimeout,
		refused:  g.proxyRefused,
	}
	if !g.running.PlainHTTP {
		main = tls.NewListener(main, g.serverTLS())
	}
	main = freshListener{Listener: main, g: g}
	l := g.running.Limits
	g.srv = &http.Server{
		Handler:           g,
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout:       l.ReadTimeout,
		WriteTimeout:      l.WriteTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    l.MaxHeaderBytes,
		// A non-nil empty map turns HTTP/2 off (see baseTLS).
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		// "OPTIONS *" reaches the handler, which refuses and logs it,
		// rather than being answered 200 for any source.
		DisableGeneralOptionsHandler: true,
		ErrorLog:                     slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
		ConnState:                    g.connState,
		ConnContext:                  connContext,
	}
	g.adminSrv = &http.Server{
		Handler:           g.adminHandler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
	}
	g.serve(g.srv, main)
	g.serve(g.adminSrv, adminLn)
	if !g.running.PlainHTTP && g.running.TLS.ReloadInterval > 0 {
		g.wg.Add(1)
		go g.watchCertificates(g.running.TLS.ReloadInterval)
	}
	close(g.listening)
	g.log.Info("gateway started", "listen", ln.Addr().String(), "admin", adminLn.Addr().String(),
		"tls", !g.running.PlainHTTP, "mode", st.cfg.Mode.String(), "active_group", st.pool.active.Load().name)
	return nil
}

func (g *Gateway) serve(srv *http.Server, ln net.Listener) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if srv == g.srv {
			defer close(g.acceptDone)
		}
		err := srv.Serve(ln)
		if err != nil && !errors.Is(err, http.ErrServerClosed) && !(srv == g.srv && g.acceptClosed.Load()) {
			g.serveErrs <- err
		}
	}()
}

// Listening is closed once Start has opened the listeners; Addr and
// AdminAddr may be called from then on.
func (g *Gateway) Listening() <-chan struct{} { return g.listening }

// Addr is the main listener's address, once started.
func (g *Gateway) Addr() net.Addr { return g.ln.Addr() }

// AdminAddr is the admin listener's address, once started.
func (g *Gateway) AdminAddr() net.Addr { return g.adminLn.Addr() }

// Run starts the gateway, serves until ctx is done, then shuts down
// gracefully within the configured shutdown timeout. Meanwhile it reloads
// on every Options.Reloads receive. It returns early with an error if a
// listener fails.
func (g *Gateway) Run(ctx context.Context) error {
	if err := g.Start(ctx); err != nil {
		return err
	}
	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-g.opts.Reloads:
			// Reload logs and counts its own outcome; a rejected reload
			// leaves the gateway serving.
			g.ReloadFromSource(ctx) //nolint:errcheck // logged by Reload
		case runErr = <-g.serveErrs:
			g.log.Error("listener failed; shutting down", "error", runErr.Error())
			break loop
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), g.state.Load().cfg.Limits.ShutdownTimeout)
	defer cancel()
	return errors.Join(runErr, g.Shutdown(sctx))
}

// Shutdown stops the gateway without dropping a request. It fails
// /readyz at once, so that load balancers stop sending; for the shutdown
// grace it keeps accepting and serving, answering with Connection: close so
// that clients leave their keep-alive connections; then it closes the
// listener and waits for the requests in flight, up to ctx's deadline,
// after which it closes what is left.
func (g *Gateway) Shutdown(ctx context.Context) error {
	if !g.stopping.CompareAndSwap(false, true) {
		return errors.New("gateway already shut down")
	}
	if !g.started.Load() {
		g.stopBackground()
		return nil
	}
	g.draining.Store(true)
	g.log.Info("shutting down: draining connections")
	grace := g.state.Load().cfg.Limits.ShutdownGrace
	if dl, ok := ctx.Deadline(); ok {
		grace = min(grace, time.Until(dl)/2)
	}
	// Every client connection closing ends the grace early.
	waitZero(ctx, &g.conns, grace, 20*time.Millisecond)

	// Stop accepting first, and let every connection already accepted get
	// its request read before the server shuts down: net/http closes
	// without an answer a connection whose first request it reads after
	// Shutdown began. With reuse_port, connections not yet accepted go to
	// the other instances (net.ipv4.tcp_migrate_req = 1).
	g.acceptClosed.Store(true)
	g.ln.Close()
	wait := g.running.Limits.ReadHeaderTimeout
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(dl)/2)
	}
	// Once the accept loop has ended, every accepted connection is counted.
	select {
	case <-g.acceptDone:
	case <-time.After(wait):
	}
	waitZero(ctx, &g.freshN, wait, time.Millisecond)

	// Shutdown closes the listeners it tracks and reports their errors
	// once every connection is done; the listener closed above may still
	// be tracked (Serve has not yet seen its Accept fail), and closing it
	// twice is no failure of the shutdown.
	var err error
	if serr := g.srv.Shutdown(ctx); serr != nil && !errors.Is(serr, net.ErrClosed) {
		err = fmt.Errorf("shutdown: %w", serr)
		g.srv.Close()
	}
	actx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if serr := g.adminSrv.Shutdown(actx); serr != nil {
		g.adminSrv.Close()
	}
	g.stopBackground()
	g.log.Info("gateway stopped")
	return err
}

// waitZero waits up to d, polling every poll, until n is zero or ctx ends.
func waitZero(ctx context.Context, n *atomic.Int64, d, poll time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) && n.Load() > 0 {
		select {
		case <-ctx.Done():
			return
		case <-time.After(poll):
		}
	}
}

// stopBackground ends health checks, key refreshes and the certificate
// watcher, and waits for the serving goroutines.
func (g *Gateway) stopBackground() {
	g.stopLife()
	st := g.state.Load()
	st.pool.stop()
	if st.auth.cancel != nil {
		st.auth.cancel()
	}
	g.wg.Wait()
	st.probe.CloseIdleConnections()
	for _, t := range st.transports {
		t.Close()
	}
}

func (g *Gateway) connState(c net.Conn, s http.ConnState) {
	g.trackState(c, s)
	switch s {
	case http.StateNew:
		g.conns.Add(1)
	case http.StateClosed, http.StateHijacked:
		g.conns.Add(-1)
		g.unfresh(c)
	}
}

// freshListener counts each connection as fresh before Accept returns it,
// so that no connection is between the listener and the count when
// Shutdown looks (ConnState runs only after Accept has returned).
type freshListener struct {
	net.Listener
	g *Gateway
}

func (l freshListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.g.fresh.Store(c, struct{}{})
		l.g.freshN.Add(1)
	}
	return c, err
}

// unfresh ends c's fresh state, if it has one. net/http sets StateActive
// before it checks whether Shutdown began (and drops the request if so), so
// a connection stops being fresh only in the handler or when it closes.
func (g *Gateway) unfresh(c net.Conn) {
	if _, ok := g.fresh.LoadAndDelete(c); ok {
		g.freshN.Add(-1)
	}
}

type connKey struct{}

type peerKey struct{}

// connContext remembers the connection's socket peer, which differs from
// RemoteAddr when a trusted proxy sent a PROXY header.
func connContext(ctx context.Context, c net.Conn) context.Context {
	ctx = context.WithValue(ctx, connKey{}, c)
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if pc, ok := c.(*proxyConn); ok {
		return context.WithValue(ctx, peerKey{}, pc)
	}
	return ctx
}

// peerString returns the socket peer of a request's connection.
func peerString(r *http.Request) string {
	if pc, ok := r.Context().Value(peerKey{}).(*proxyConn); ok && pc.fromHeader {
		return pc.peer().String()
	}
	return r.RemoteAddr
}

func (g *Gateway) proxyRefused(peer netip.AddrPort, err error) {
	g.metrics.proxyRef.Inc()
	g.log.Warn("connection refused", "peer", peer.String(), "reason", "proxy-protocol", "error", err.Error())
}

// Reload applies a new configuration atomically: it is compiled and
// started completely (certificates read, a changed validator's keys
// fetched, new upstreams probed) before it replaces the running one. On
// any error the running configuration stays and the error says why.
// Listener addresses, plain HTTP and the server timeouts take effect only
// after a restart; a reload that changes them is applied otherwise and
// logs a warning.
func (g *Gateway) Reload(ctx context.Context, cfg *Config) error {
	err := g.reload(ctx, cfg)
	result := "ok"
	if err != nil {
		result = "rejected"
		g.log.Error("configuration reload rejected; the running configuration stays", "error", err.Error())
	}
	g.metrics.reloads.WithLabelValues(result).Inc()
	return err
}

func (g *Gateway) reload(ctx context.Context, cfg *Config) error {
	if cfg == nil {
		return errors.New("reload: no configuration")
	}
	c := cfg.WithDefaults()
	if err := c.check(); err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	if g.stopping.Load() {
		return errors.New("reload: gateway is shutting down")
	}
	old := g.state.Load()
	st, err := g.build(c, old)
	if err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	if st.auth != old.auth {
		kctx, cancel := context.WithTimeout(ctx, keysTimeout)
		err := g.startAuth(kctx, st.auth)
		cancel()
		if err != nil {
			if st.auth.cancel != nil {
				st.auth.cancel()
			}
			return fmt.Errorf("reload: the new token validation settings fetched no keys: %w", err)
		}
	}
	if err := g.preparePool(ctx, st, old); err != nil {
		if st.auth != old.auth {
			st.auth.cancel()
		}
		return fmt.Errorf("reload: %w", err)
	}
	st.pool.start(g.life)
	g.state.Store(st)
	g.retire(old, st)
	if ro := restartOnly(g.running, c); len(ro) > 0 {
		g.log.Warn("configuration reloaded; some changes take effect only after a restart", "settings", ro)
	} else {
		g.log.Info("configuration reloaded", "active_group", st.pool.active.Load().name)
	}
	if prev := old.pool.active.Load(); prev.name != st.pool.active.Load().name {
		g.metrics.switches.Inc()
		drained := waitDrained(prev, c.Upstreams.DrainTimeout)
		g.log.Info("upstream group switched by reload", "from", prev.name, "to", st.pool.active.Load().name, "drained", drained)
	}
	return nil
}

// ReloadFromSource re-reads the configuration through Options.Load and
// applies it with Reload.
func (g *Gateway) ReloadFromSource(ctx context.Context) error {
	if g.opts.Load == nil {
		g.metrics.reloads.WithLabelValues("rejected").Inc()
		return errReloadUnsupported
	}
	cfg, err := g.opts.Load()
	if err != nil {
		g.metrics.reloads.WithLabelValues("rejected").Inc()
		g.log.Error("configuration reload rejected; the running configuration stays", "error", err.Error())
		return err
	}
	return g.Reload(ctx, cfg)
}

// SwitchResult reports a blue-green switch.
type SwitchResult struct {
	Previous string `json:"previous"`
	Active   string `json:"active"`
	// Drained is false when requests were still running on the previous
	// group at the drain timeout; they are not cut, only no longer
	// waited for.
	Drained bool `json:"drained"`
}

// Switch makes the named upstream group active. New requests go to it at
// once; the call returns when the previous group's requests in flight have
// finished (or the drain timeout passed). It refuses a group without a
// healthy upstream.
func (g *Gateway) Switch(name string) (SwitchResult, error) {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	st := g.state.Load()
	prev, drained, err := st.pool.switchTo(name, st.cfg.Upstreams.DrainTimeout)
	if err != nil {
		return SwitchResult{}, err
	}
	if prev != name {
		g.metrics.switches.Inc()
	}
	g.log.Info("upstream group switched", "from", prev, "to", name, "drained", drained)
	return SwitchResult{Previous: prev, Active: name, Drained: drained}, nil
}

// watchCertificates reloads the TLS files when they change.
func (g *Gateway) watchCertificates(every time.Duration) {
	defer g.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-g.life.Done():
			return
		case <-t.C:
		}
		g.reloadCertificates()
	}
}

// reloadCertificates swaps in the certificate files' new contents when
// they changed and load; a bad new file keeps the old certificate.
func (g *Gateway) reloadCertificates() {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	old := g.state.Load()
	if old.cfg.PlainHTTP || stampFiles(old.cfg.TLS.CertFile, old.cfg.TLS.KeyFile, old.cfg.TLS.ClientCAFile) == old.tlsStamp {
		return
	}
	cert, pool, stamp, err := loadServerTLS(old.cfg.TLS, g.now())
	if err != nil {
		g.log.Error("certificate reload failed; the old certificate stays", "error", err.Error())
		return
	}
	st := *old
	st.cert, st.clientTLS, st.tlsStamp = cert, g.clientAuthTLS(pool), stamp
	g.state.Store(&st)
	g.log.Info("certificate reloaded", "cert", old.cfg.TLS.CertFile)
}

// dialCounter is the counter of connections opened to the upstream name.
func (g *Gateway) dialCounter(name string) *atomic.Int64 {
	g.upDialsMu.Lock()
	defer g.upDialsMu.Unlock()
	c := g.upDials[name]
	if c == nil {
		c = new(atomic.Int64)
		g.upDials[name] = c
	}
	return c
}

// listen opens the main listener, with SO_REUSEPORT when reusePort is set.
func listen(ctx context.Context, addr string, reusePort bool) (net.Listener, error) {
	var lc net.ListenConfig
	if reusePort {
		lc.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			}); err != nil {
				return err
			}
			return serr
		}
	}
	return lc.Listen(ctx, "tcp", addr)
}
