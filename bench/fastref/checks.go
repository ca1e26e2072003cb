package main

import (
	"context"
	"crypto/x509"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
	"golang.org/x/time/rate"

	"github.com/teamsgate/teamsgate/internal/botauth"
	"github.com/teamsgate/teamsgate/internal/ingress"
	"github.com/teamsgate/teamsgate/internal/ingress/load"
)

// checker does the gateway's per-request work on fasthttp: the source
// check against the spec's ranges, path and method, a per-source token
// bucket, the concurrency cap, one Authorization header, the activity
// parse and the Bot Framework token validation of package botauth (cached
// after the first request), forwarding headers of our own, a Prometheus
// counter and histogram, and one JSON log line per request through
// ingress.LogWriter. It is a measurement of what the gateway's checks cost
// outside net/http, not a gateway: no TLS, no trusted proxies, no
// upstream health, no reload.
type checker struct {
	cfg      ingress.Config
	paths    map[string]bool
	auth     *botauth.Validator
	upstream *fasthttp.HostClient
	sem      chan struct{}
	log      *slog.Logger

	mu      sync.Mutex
	buckets map[netip.Addr]*rate.Limiter

	requests *prometheus.CounterVec
	latency  prometheus.Histogram
}

func newChecker(spec string, upstream *fasthttp.HostClient) (*checker, error) {
	cfg, err := load.EmbeddedFile(spec)
	if err != nil {
		return nil, err
	}
	full := cfg.WithDefaults()
	cfg = &full
	ac := cfg.Auth
	if cfg.AuthCAFile != "" {
		pem, err := os.ReadFile(cfg.AuthCAFile)
		if err != nil {
			return nil, err
		}
		ac.RootCAs = x509.NewCertPool()
		ac.RootCAs.AppendCertsFromPEM(pem)
	}
	v, err := botauth.New(ac)
	if err != nil {
		return nil, err
	}
	if err := v.Start(context.Background()); err != nil {
		return nil, err
	}
	c := &checker{
		cfg:      *cfg,
		paths:    map[string]bool{},
		auth:     v,
		upstream: upstream,
		sem:      make(chan struct{}, cfg.Limits.MaxConcurrent),
		log:      slog.New(slog.NewJSONHandler(ingress.NewLogWriter(os.Stderr, 64<<10, time.Second), nil)),
		buckets:  map[netip.Addr]*rate.Limiter{},
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "requests_total"}, []string{"decision", "reason"}),
		latency:  prometheus.NewHistogram(prometheus.HistogramOpts{Name: "request_duration_seconds", Buckets: prometheus.DefBuckets}),
	}
	for _, p := range cfg.Paths {
		c.paths[p] = true
	}
	return c, nil
}

// hopByHop are the headers RFC 9110 §7.6.1 says a proxy must not forward,
// with the client-address headers the gateway replaces.
var hopByHop = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Expect",
	"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto",
	"X-Real-Ip", "True-Client-Ip", "X-Client-Ip",
}

func (c *checker) serve(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	status, decision, reason, appID, cached := c.check(ctx)
	if status != 0 {
		ctx.Error(fasthttp.StatusMessage(status), status)
	}
	dur := time.Since(start)
	c.requests.WithLabelValues(decision, reason).Inc()
	c.latency.Observe(dur.Seconds())
	c.log.LogAttrs(ctx, slog.LevelInfo, "request",
		slog.String("method", string(ctx.Method())),
		slog.String("path", string(ctx.Path())),
		slog.Int("status", ctx.Response.StatusCode()),
		slog.String("client", ctx.RemoteIP().String()),
		slog.String("peer", ctx.RemoteAddr().String()),
		slog.String("decision", decision),
		slog.String("reason", reason),
		slog.String("rule", ingress.ExtraSourcesRule),
		slog.String("app_id", appID),
		slog.Bool("token_cached", cached),
		slog.String("group", "blue"),
		slog.String("upstream", c.upstream.Addr),
		slog.Float64("duration_ms", float64(dur.Microseconds())/1000),
	)
}

// check runs the checks and the proxy; status is the rejection to send, 0
// when the upstream's answer is in ctx.Response.
func (c *checker) check(ctx *fasthttp.RequestCtx) (status int, decision, reason, appID string, cached bool) {
	ip, _ := netip.AddrFromSlice(ctx.RemoteIP())
	ip = ip.Unmap()
	s := c.cfg.Sources
	if !(s.Plan != nil && s.Plan.Contains(ip)) && !(s.Extra != nil && s.Extra.Contains(ip)) {
		return 403, "deny", "source-not-allowed", "", false
	}
	if !c.paths[string(ctx.Path())] {
		return 404, "deny", ingress.ReasonNotFound, "", false
	}
	if !ctx.IsPost() {
		return 405, "deny", ingress.ReasonMethodNotAllowed, "", false
	}
	c.mu.Lock()
	b := c.buckets[ip]
	if b == nil {
		b = rate.NewLimiter(rate.Limit(c.cfg.Limits.Rate), c.cfg.Limits.Burst)
		c.buckets[ip] = b
	}
	ok := b.Allow()
	c.mu.Unlock()
	if !ok {
		return 429, "deny", ingress.ReasonRateLimited, "", false
	}
	select {
	case c.sem <- struct{}{}:
		defer func() { <-c.sem }()
	default:
		return 503, "deny", ingress.ReasonOverloaded, "", false
	}
	n := 0
	var authorization []byte
	for _, v := range ctx.Request.Header.PeekAll("Authorization") {
		n++
		authorization = v
	}
	if n != 1 {
		return 401, "deny", "missing-or-repeated-authorization", "", false
	}
	act, err := botauth.ParseActivity(ctx.PostBody())
	if err != nil {
		return botauth.BadActivity.HTTPStatus(), "deny", botauth.BadActivity.String(), "", false
	}
	res := c.auth.Validate(ctx, string(authorization), act)
	if !res.OK() {
		return res.Reason.HTTPStatus(), "deny", res.Reason.String(), "", false
	}
	h := &ctx.Request.Header
	for _, k := range hopByHop {
		h.Del(k)
	}
	h.Set("X-Forwarded-For", ip.String())
	h.Set("X-Forwarded-Proto", "http")
	h.SetBytesV("X-Forwarded-Host", ctx.Host())
	if err := c.upstream.Do(&ctx.Request, &ctx.Response); err != nil {
		return 502, "allow", ingress.ReasonUpstreamError, res.AppID, res.Cached
	}
	for _, k := range hopByHop[:10] {
		ctx.Response.Header.Del(k)
	}
	return 0, "allow", ingress.ReasonOK, res.AppID, res.Cached
}

// serveChecked serves the checker on listen until the process ends.
func serveChecked(listen, spec string, upstream *fasthttp.HostClient) error {
	c, err := newChecker(spec, upstream)
	if err != nil {
		return err
	}
	srv := &fasthttp.Server{
		Handler:            c.serve,
		MaxRequestBodySize: int(c.cfg.Limits.MaxBodyBytes),
		ReadTimeout:        c.cfg.Limits.ReadTimeout,
		IdleTimeout:        c.cfg.Limits.IdleTimeout,
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	return srv.Serve(ln)
}
