package ingress

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"slices"
	"time"

	"github.com/teamsgate/teamsgate/internal/adminhttp"
	"github.com/teamsgate/teamsgate/internal/botauth"
	"github.com/teamsgate/teamsgate/internal/ratelimit"
)

// state is one configuration, compiled and running. The gateway holds the
// current one in an atomic pointer; a reload builds a complete new state
// and swaps it in, so a request sees one configuration from start to end.
type state struct {
	cfg     Config
	sources sourcePolicy
	paths   map[string]bool
	auth    *authRuntime
	limiter *ratelimit.Limiter
	sem     chan struct{}
	pool    *pool
	// probe is the health checks' transport; transports, by upstream URL,
	// carry the proxied requests.
	probe      *http.Transport
	transports map[string]*upstreamTransport
	tsettings  transportSettings
	cert       *tls.Certificate // nil for plain HTTP
	clientTLS  *tls.Config      // nil unless client certificates are required
	tlsStamp   fileStamp
	adminToken *adminhttp.Digest // nil when the admin listener needs no token (admin.go)
}

// authRuntime is a started token validator and what it was built from.
type authRuntime struct {
	v      *botauth.Validator
	key    string
	cancel context.CancelFunc
}

// build compiles cfg into a state, reusing the parts of old that cfg does
// not change: the validator (and with it the key set and the token cache),
// the rate limiter, the concurrency semaphore, the upstream transport and
// the upstreams' health. New validators are returned unstarted.
func (g *Gateway) build(cfg Config, old *state) (*state, error) {
	st := &state{
		cfg: cfg,
		sources: sourcePolicy{
			mode:     cfg.Mode,
			plan:     cfg.Sources.Plan,
			planRule: cfg.Sources.PlanRule,
			extra:    cfg.Sources.Extra,
			trusted:  cfg.Sources.TrustedProxies,

			frontDoorIDs: cfg.Sources.FrontDoorIDs,
		},
	}
	if st.sources.planRule == "" {
		st.sources.planRule = PlanSourcesRule
	}
	tok, err := g.adminToken(cfg)
	if err != nil {
		return nil, err
	}
	st.adminToken = tok
	st.paths = map[string]bool{}
	for _, p := range cfg.Paths {
		st.paths[p] = true
	}
	if len(cfg.Paths) == 0 {
		st.paths[DefaultPath] = true
	}
	if !cfg.PlainHTTP {
		cert, pool, stamp, err := loadServerTLS(cfg.TLS, g.now())
		if err != nil {
			return nil, err
		}
		st.cert, st.clientTLS, st.tlsStamp = cert, g.clientAuthTLS(pool), stamp
	}

	authKey := fmt.Sprintf("%#v|%s", authSettings(cfg.Auth), stampFiles(cfg.AuthCAFile))
	if old != nil && old.auth.key == authKey {
		st.auth = old.auth
	} else {
		ac := cfg.Auth
		if cfg.AuthCAFile != "" {
			pool, err := loadPool(cfg.AuthCAFile)
			if err != nil {
				return nil, fmt.Errorf("botauth ca file: %w", err)
			}
			ac.RootCAs = pool
		}
		ac.Now = g.now
		ac.Logger = g.log
		v, err := botauth.New(ac)
		if err != nil {
			return nil, err
		}
		st.auth = &authRuntime{v: v, key: authKey}
	}

	l := cfg.Limits
	if old != nil && old.cfg.Limits.Rate == l.Rate && old.cfg.Limits.Burst == l.Burst && old.cfg.Limits.MaxSources == l.MaxSources {
		st.limiter = old.limiter
	} else {
		st.limiter = ratelimit.New(l.Rate, l.Burst, l.MaxSources)
	}
	if old != nil && cap(old.sem) == l.MaxConcurrent {
		st.sem = old.sem
	} else {
		st.sem = make(chan struct{}, l.MaxConcurrent)
	}

	u := cfg.Upstreams
	st.tsettings = transportSettings{
		connectTimeout: u.ConnectTimeout,
		timeout:        l.WriteTimeout,
		maxIdle:        min(max(l.MaxConcurrent, 64), 1024),
		roots:          u.CAFile != "",
	}
	// A CA file's contents may have changed: with one, nothing is reused.
	reuse := old != nil && old.tsettings == st.tsettings && !st.tsettings.roots
	upTLS := &tls.Config{MinVersion: tls.VersionTLS12}
	if reuse {
		st.probe = old.probe
	} else {
		if u.CAFile != "" {
			roots, err := loadPool(u.CAFile)
			if err != nil {
				return nil, fmt.Errorf("upstream ca file: %w", err)
			}
			upTLS.RootCAs = roots
		}
		st.probe = newProbeTransport(u, upTLS)
	}
	client := &http.Client{
		Transport:     st.probe,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	st.transports = map[string]*upstreamTransport{}
	st.pool = newPool(u, client, g.log, func(up *upstream) *httputil.ReverseProxy {
		t := st.transports[up.name]
		if t == nil && reuse {
			t = old.transports[up.name]
		}
		if t == nil {
			t = newUpstreamTransport(up.url, st.tsettings, upTLS)
			t.dials = g.dialCounter(up.name)
		}
		st.transports[up.name] = t
		return g.newProxy(st, up, t)
	})
	st.pool.onChange = g.upstreamChanged
	return st, nil
}

// authSettings is the part of a botauth.Config that decides whether a
// reload needs a new validator.
func authSettings(c botauth.Config) botauth.Config {
	c.RootCAs, c.HTTPClient, c.Now, c.Logger = nil, nil, nil, nil
	c.AppIDs = slices.Clone(c.AppIDs)
	return c
}

// startAuth starts a new validator (fetching its keys once) and keeps it
// running until the gateway stops or the validator is replaced.
func (g *Gateway) startAuth(ctx context.Context, a *authRuntime) error {
	if a.cancel != nil {
		return nil // already running: reused from the previous state
	}
	actx, cancel := context.WithCancel(g.life)
	a.cancel = cancel
	errc := make(chan error, 1)
	go func() { errc <- a.v.Start(actx) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// preparePool gives the new pool a truthful health view: the states of
// upstreams it shares with old, a fresh probe of the others, then picks
// the active group. A runtime switch survives a reload that leaves the
// configured active group as it was; a reload that changes it switches,
// but never to a group without a healthy upstream.
func (g *Gateway) preparePool(ctx context.Context, st, old *state) error {
	p := st.pool
	if old == nil {
		p.probeAll(ctx)
		return nil
	}
	p.adopt(old.pool)
	fresh := &pool{groups: map[string]*group{}, health: p.health, client: p.client, log: p.log, onChange: p.onChange}
	for _, grp := range p.order {
		var ups []*upstream
		for _, u := range grp.ups {
			if !knows(old.pool, grp.name, u.name) {
				ups = append(ups, u)
			}
		}
		if len(ups) > 0 {
			fresh.order = append(fresh.order, &group{name: grp.name, ups: ups})
		}
	}
	fresh.probeAll(ctx)

	want := st.cfg.Upstreams.Active
	if old.pool.configured == want {
		if cur := p.groups[old.pool.active.Load().name]; cur != nil {
			want = cur.name
		}
	}
	target := p.groups[want]
	oldActive := old.pool.active.Load().name
	if want != oldActive && !target.healthy() {
		return fmt.Errorf("%w: refusing to switch from %q to %q", errUnhealthyGroup, oldActive, want)
	}
	p.active.Store(target)
	return nil
}

func knows(p *pool, group, name string) bool {
	g := p.groups[group]
	if g == nil {
		return false
	}
	for _, u := range g.ups {
		if u.name == name {
			return true
		}
	}
	return false
}

// retire stops what old runs that st no longer uses.
func (g *Gateway) retire(old, st *state) {
	old.pool.stop()
	if old.auth != st.auth {
		g.retireAuth(old.auth)
	}
	if old.probe != st.probe {
		old.probe.CloseIdleConnections()
	}
	for name, t := range old.transports {
		if st.transports[name] != t {
			t.Close()
		}
	}
}

// retireAuth stops a validator and folds its counters into the retired
// totals, so that the exported counters never go down.
func (g *Gateway) retireAuth(a *authRuntime) {
	if a.cancel != nil {
		a.cancel()
	}
	s := a.v.Stats()
	g.statsMu.Lock()
	g.retired.KeyRefreshes += s.KeyRefreshes
	g.retired.KeyRefreshFailures += s.KeyRefreshFailures
	g.retired.CacheHits += s.CacheHits
	g.retired.CacheMisses += s.CacheMisses
	g.retired.Verifications += s.Verifications
	g.statsMu.Unlock()
}

// authStats are the current validator's statistics with the counters of
// retired validators added.
func (g *Gateway) authStats() botauth.Stats {
	st := g.state.Load()
	if st == nil {
		return botauth.Stats{}
	}
	s := st.auth.v.Stats()
	g.statsMu.Lock()
	r := g.retired
	g.statsMu.Unlock()
	s.KeyRefreshes += r.KeyRefreshes
	s.KeyRefreshFailures += r.KeyRefreshFailures
	s.CacheHits += r.CacheHits
	s.CacheMisses += r.CacheMisses
	s.Verifications += r.Verifications
	return s
}

func (g *Gateway) upstreamChanged(u *upstream, up bool) {
	g.log.LogAttrs(context.Background(), slog.LevelInfo, "upstream health",
		slog.String("group", u.group.name), slog.String("upstream", u.name), slog.Bool("up", up))
}

// restartOnly lists the settings of next that differ from the running
// listeners' and take effect only after a restart.
func restartOnly(running, next Config) []string {
	var out []string
	if running.Listen != next.Listen {
		out = append(out, "listen")
	}
	if running.AdminListen != next.AdminListen {
		out = append(out, "admin.listen")
	}
	if running.PlainHTTP != next.PlainHTTP {
		out = append(out, "plain_http")
	}
	if running.ReusePort != next.ReusePort {
		out = append(out, "reuse_port")
	}
	a, b := running.Limits, next.Limits
	if a.ReadHeaderTimeout != b.ReadHeaderTimeout || a.ReadTimeout != b.ReadTimeout || a.WriteTimeout != b.WriteTimeout ||
		a.IdleTimeout != b.IdleTimeout || a.MaxHeaderBytes != b.MaxHeaderBytes {
		out = append(out, "limits (server timeouts and max_header_bytes)")
	}
	return out
}

// errReloadUnsupported is returned when the gateway has no way to re-read
// its configuration.
var errReloadUnsupported = errors.New("reload: no configuration source")

// keysTimeout bounds the wait for a new validator's first key fetch during
// a reload, beyond its own fetch timeout.
const keysTimeout = 30 * time.Second
