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
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// upstream is one bot instance: its base URL, its health, and a reverse
// proxy bound to it.
type upstream struct {
	group *group
	url   *url.URL
	name  string // url.String(), the metric label
	up    atomic.Bool
	// passiveFails counts proxy errors since the last passing check; Fall
	// of them mark the upstream down before the next check would.
	passiveFails atomic.Int32
	proxy        *httputil.ReverseProxy
}

// group is a named set of upstreams: a colour in blue-green terms.
type group struct {
	name     string
	ups      []*upstream
	next     atomic.Uint32
	inflight atomic.Int64
}

// pick returns the next healthy upstream in round-robin order, or nil.
func (g *group) pick() *upstream {
	n := uint32(len(g.ups))
	start := g.next.Add(1)
	for i := range n {
		if u := g.ups[(start+i)%n]; u.up.Load() {
			return u
		}
	}
	return nil
}

// healthy reports whether any upstream of the group is up.
func (g *group) healthy() bool {
	for _, u := range g.ups {
		if u.up.Load() {
			return true
		}
	}
	return false
}

// pool is one configuration's upstream groups, the active group, and their
// health checks.
type pool struct {
	groups     map[string]*group
	order      []*group
	active     atomic.Pointer[group]
	configured string // the active group the configuration named
	health     Health
	client     *http.Client
	log        *slog.Logger
	onChange   func(u *upstream, up bool)
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	switchMu   sync.Mutex // serialises switches
}

// errNoSuchGroup and errUnhealthyGroup are why a switch is refused.
var (
	errNoSuchGroup    = errors.New("no such upstream group")
	errUnhealthyGroup = errors.New("upstream group has no healthy upstream")
)

// newPool builds the groups of cfg with a reverse proxy per upstream.
// newProxy binds a proxy to one upstream.
func newPool(cfg Upstreams, client *http.Client, log *slog.Logger, newProxy func(*upstream) *httputil.ReverseProxy) *pool {
	p := &pool{
		groups:     map[string]*group{},
		configured: cfg.Active,
		health:     cfg.Health,
		client:     client,
		log:        log,
	}
	for _, gc := range cfg.Groups {
		g := &group{name: gc.Name}
		for _, u := range gc.URLs {
			up := &upstream{group: g, url: u, name: u.String()}
			up.proxy = newProxy(up)
			g.ups = append(g.ups, up)
		}
		p.groups[g.name] = g
		p.order = append(p.order, g)
	}
	p.active.Store(p.groups[cfg.Active])
	return p
}

// probeAll checks every upstream once, concurrently, and sets its state
// from that one answer, so that a fresh pool starts with a truthful view.
func (p *pool) probeAll(ctx context.Context) {
	var wg sync.WaitGroup
	for _, g := range p.order {
		for _, u := range g.ups {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p.setUp(u, p.probe(ctx, u) == nil)
			}()
		}
	}
	wg.Wait()
}

// start runs one health check loop per upstream until stop.
func (p *pool) start(parent context.Context) {
	ctx, cancel := context.WithCancel(parent)
	p.cancel = cancel
	for _, g := range p.order {
		for _, u := range g.ups {
			p.wg.Add(1)
			go p.checkLoop(ctx, u)
		}
	}
}

// stop ends the health checks and waits for them.
func (p *pool) stop() {
	if p.cancel != nil {
		p.cancel()
	}
	p.wg.Wait()
}

func (p *pool) checkLoop(ctx context.Context, u *upstream) {
	defer p.wg.Done()
	t := time.NewTicker(p.health.Interval)
	defer t.Stop()
	passes, fails := 0, 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := p.probe(ctx, u); err != nil {
			if ctx.Err() != nil {
				return
			}
			passes, fails = 0, fails+1
			if fails >= p.health.Fall && u.up.Load() {
				p.log.Warn("upstream down", "group", u.group.name, "upstream", u.name, "error", err.Error())
				p.setUp(u, false)
			}
			continue
		}
		u.passiveFails.Store(0)
		passes, fails = passes+1, 0
		if passes >= p.health.Rise && !u.up.Load() {
			p.log.Info("upstream up", "group", u.group.name, "upstream", u.name)
			p.setUp(u, true)
		}
	}
}

// probe makes one health check request.
func (p *pool) probe(ctx context.Context, u *upstream) error {
	ctx, cancel := context.WithTimeout(ctx, p.health.Timeout)
	defer cancel()
	target := u.url.JoinPath(p.health.Path)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "teamsgate-health")
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) //nolint:errcheck // drained for connection reuse only
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

func (p *pool) setUp(u *upstream, up bool) {
	u.up.Store(up)
	if p.onChange != nil {
		p.onChange(u, up)
	}
}

// passiveFailure records a proxy error against u and marks it down after
// Fall of them in a row, without waiting for the next check.
func (p *pool) passiveFailure(u *upstream, err error) {
	if int(u.passiveFails.Add(1)) >= p.health.Fall && u.up.Load() {
		p.log.Warn("upstream down after proxy errors", "group", u.group.name, "upstream", u.name, "error", err.Error())
		p.setUp(u, false)
	}
}

// acquire returns the active group with the caller counted in its
// requests in flight; the caller must decrement inflight when done. The
// count is taken before the group is confirmed still active, so that a
// switch that has seen the old group drained never has a request start on
// it afterwards.
func (p *pool) acquire() *group {
	for {
		g := p.active.Load()
		g.inflight.Add(1)
		if p.active.Load() == g {
			return g
		}
		g.inflight.Add(-1)
	}
}

// switchTo makes the named group active if it has a healthy upstream, then
// waits up to drain for the requests still running on the previous group.
// It returns the previous group's name and whether it drained.
func (p *pool) switchTo(name string, drain time.Duration) (prev string, drained bool, err error) {
	p.switchMu.Lock()
	defer p.switchMu.Unlock()
	g, ok := p.groups[name]
	if !ok {
		return "", false, fmt.Errorf("%w: %q", errNoSuchGroup, name)
	}
	if !g.healthy() {
		return "", false, fmt.Errorf("%w: %q", errUnhealthyGroup, name)
	}
	old := p.active.Swap(g)
	if old == g {
		return name, true, nil
	}
	return old.name, waitDrained(old, drain), nil
}

// waitDrained waits until g has no requests in flight, or timeout.
func waitDrained(g *group, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for g.inflight.Load() > 0 {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// adopt copies the health state of the upstreams old and p share, by group
// and URL, so a reload does not start from nothing.
func (p *pool) adopt(old *pool) {
	if old == nil {
		return
	}
	for _, g := range p.order {
		og := old.groups[g.name]
		if og == nil {
			continue
		}
		for _, u := range g.ups {
			for _, ou := range og.ups {
				if ou.name == u.name {
					u.up.Store(ou.up.Load())
				}
			}
		}
	}
}

// newProbeTransport is the health checks' transport: one idle connection
// per upstream is plenty at their rate.
func newProbeTransport(cfg Upstreams, tlsConf *tls.Config) *http.Transport {
	d := &net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:               nil, // never an environment proxy between gateway and bot
		DialContext:         d.DialContext,
		TLSClientConfig:     tlsConf.Clone(),
		TLSHandshakeTimeout: cfg.ConnectTimeout,
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
}

// bufferPool is the ReverseProxy copy buffer pool: without one, every
// request allocates 32 KiB (gateway-anchors.md §3).
// Buffers go into the pool as array pointers, which, unlike slices, do not
// allocate when stored in an interface.
type bufferPool struct{ p sync.Pool }

const proxyBufferSize = 32 << 10

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { return new([proxyBufferSize]byte) }}}
}

func (b *bufferPool) Get() []byte { return b.p.Get().(*[proxyBufferSize]byte)[:] }

func (b *bufferPool) Put(x []byte) {
	if cap(x) >= proxyBufferSize {
		b.p.Put((*[proxyBufferSize]byte)(x[:proxyBufferSize]))
	}
}

var _ httputil.BufferPool = (*bufferPool)(nil)
