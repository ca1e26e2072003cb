package egress

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/teamsgate/teamsgate/internal/adminhttp"
	"github.com/teamsgate/teamsgate/internal/egress/policy"
	"github.com/teamsgate/teamsgate/internal/jsonline"
	"github.com/teamsgate/teamsgate/internal/model"
)

// The reasons of the proxy's decisions besides the policy's own
// (policy.Reason): stable, few, usable as a metric label.
const (
	ReasonUnknownClient = "unknown-client"    // identity: the client is no role's
	ReasonRateLimited   = "rate-limited"      // the client's request rate
	ReasonOverloaded    = "overloaded"        // max_tunnels
	ReasonNotProxy      = "not-proxy-request" // an origin-form request other than /proxy.pac
	ReasonDNS           = "dns-error"         // the name did not resolve
	ReasonConnect       = "connect-error"     // the upstream did not answer
	ReasonNotTLS        = "not-tls"           // a TLS port carried something else (a tunnel, or a plain HTTP request)
	ReasonSNIMismatch   = "sni-mismatch"      // the ClientHello names another host
	ReasonSNIMissing    = "sni-missing"       // the ClientHello names no host
	ReasonPeekFailed    = "no-client-hello"   // the client sent no ClientHello in time
	ReasonUpstream      = "upstream-error"    // a forwarded request failed upstream
	ReasonPAC           = "pac"               // GET /proxy.pac
	ReasonMaxConns      = "max-conns"         // a connection over max_conns, closed at accept
)

// The reasons of the requests the HTTP server refuses before the handler
// (Proxy.trackState).
const (
	ReasonMalformedRequest  = "malformed-request"  // a request line or header it cannot parse: 400
	ReasonHeadersTooLarge   = "headers-too-large"  // a header over max_header_bytes: 431
	ReasonIncompleteRequest = "incomplete-request" // closed or timed out in the middle of a header
)

// denyReasons are every reason a request is refused for, created at zero
// so that dashboards see no gaps.
var denyReasons = []string{
	string(policy.BadTarget), string(policy.HostNotAllowed), string(policy.PortNotAllowed),
	string(policy.AddrNotAllowed), string(policy.DeniedAddress),
	ReasonUnknownClient, ReasonRateLimited, ReasonOverloaded, ReasonNotProxy,
	ReasonDNS, ReasonConnect, ReasonNotTLS, ReasonSNIMismatch, ReasonSNIMissing, ReasonPeekFailed,
	ReasonMalformedRequest, ReasonHeadersTooLarge, ReasonIncompleteRequest,
}

const ns = "teamsgate_egress"

// metrics are the proxy's Prometheus series, in the shape of the ingress
// gateway's: requests by decision and reason, no per-client labels.
type metrics struct {
	reg         *prometheus.Registry
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	dns         prometheus.Histogram
	tunnels     prometheus.Gauge
	bytes       *prometheus.CounterVec
	reloads     *prometheus.CounterVec
	connRefused *prometheus.CounterVec
	idleClosed  prometheus.Counter

	decisions *adminhttp.DecisionCounters
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "requests_total",
			Help: "Proxy requests (CONNECT tunnels and forwarded HTTP requests) by decision (allow, deny, report) and reason.",
		}, []string{"decision", "reason"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns, Name: "request_duration_seconds",
			Help:    "Time from request header read to the end of the tunnel or response, by decision.",
			Buckets: []float64{.001, .005, .01, .05, .1, .5, 1, 5, 30, 60, 300, 1800},
		}, []string{"decision"}),
		dns: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Name: "dns_duration_seconds", Help: "Time to resolve a target's name.",
			Buckets: []float64{.0005, .001, .005, .01, .05, .1, .5, 1, 5},
		}),
		tunnels: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Name: "tunnels_open", Help: "CONNECT tunnels and forwarded requests open.",
		}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "bytes_total", Help: "Bytes carried, by direction (upstream: client to upstream; downstream: back).",
		}, []string{"direction"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "config_reloads_total", Help: "Configuration reloads by result (ok, rejected).",
		}, []string{"result"}),
		connRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "connections_refused_total", Help: "Client connections closed at accept, by reason (max-conns).",
		}, []string{"reason"}),
		idleClosed: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Name: "tunnels_idle_closed_total", Help: "Tunnels closed after idle_timeout without a byte either way.",
		}),
	}
	m.decisions = adminhttp.NewDecisionCounters(m.requests)
	m.reg.MustRegister(m.requests, m.duration, m.dns, m.tunnels, m.bytes, m.reloads, m.connRefused, m.idleClosed,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, r := range denyReasons {
		m.counter(model.VerdictDeny, r)
		m.counter(model.VerdictReport, r)
	}
	m.counter(model.VerdictAllow, string(policy.Allowed))
	for _, r := range []string{ReasonUpstream, ReasonPAC} {
		m.counter(model.VerdictAllow, r)
	}
	for _, s := range []string{"ok", "rejected"} {
		m.reloads.WithLabelValues(s)
	}
	m.connRefused.WithLabelValues(ReasonMaxConns)
	m.bytes.WithLabelValues("upstream")
	m.bytes.WithLabelValues("downstream")
	return m
}

// counter returns the requests counter for one label set.
func (m *metrics) counter(v model.Verdict, reason string) prometheus.Counter {
	return m.decisions.Get(v, reason)
}

// record is one request's decision and what happened after it: the
// canonical decision log line and the metrics derive from it.
type record struct {
	start    time.Time
	method   string
	client   string
	roles    []string
	target   string // host:port as the client asked
	decision model.Decision
	addr     string // the address dialled
	sni      string
	class    string // the classifier's class of a denied address
	status   int
	up, down int64
	// tenant is whether the tunnel was decrypted to set the tenant
	// restrictions headers.
	tenant bool
}

// finish logs the record and counts it.
func (p *Proxy) finish(ctx context.Context, r *record) {
	d := p.now().Sub(r.start)
	p.metrics.counter(r.decision.Verdict, r.decision.Reason).Inc()
	p.metrics.duration.WithLabelValues(r.decision.Verdict.String()).Observe(d.Seconds())
	if r.up > 0 {
		p.metrics.bytes.WithLabelValues("upstream").Add(float64(r.up))
	}
	if r.down > 0 {
		p.metrics.bytes.WithLabelValues("downstream").Add(float64(r.down))
	}
	level := slog.LevelInfo
	if r.decision.Verdict == model.VerdictDeny {
		level = slog.LevelWarn
	}
	if !p.log.Enabled(ctx, level) {
		return
	}
	if w := p.opts.RequestLog; w != nil {
		bp := jsonline.Buffer()
		*bp = appendLine(*bp, p.now(), level.String(), r, d)
		w.Write(*bp) //nolint:errcheck // as a log handler's failed write: nothing to tell
		jsonline.Release(bp)
		return
	}
	attrs := make([]slog.Attr, 0, 16)
	attrs = append(attrs,
		slog.String("decision", r.decision.Verdict.String()),
		slog.String("reason", r.decision.Reason),
		slog.String("method", r.method),
		slog.String("client", r.client),
		slog.String("target", r.target),
	)
	if r.decision.RuleID != "" {
		attrs = append(attrs, slog.String("flow", r.decision.RuleID))
	}
	if len(r.roles) > 0 {
		attrs = append(attrs, slog.Any("roles", r.roles))
	}
	if r.addr != "" {
		attrs = append(attrs, slog.String("addr", r.addr))
	}
	if r.sni != "" {
		attrs = append(attrs, slog.String("sni", r.sni))
	}
	if r.class != "" {
		attrs = append(attrs, slog.String("address_class", r.class))
	}
	if r.tenant {
		attrs = append(attrs, slog.Bool("tenant_restrictions", true))
	}
	if r.decision.Detail != "" {
		attrs = append(attrs, slog.String("detail", r.decision.Detail))
	}
	attrs = append(attrs,
		slog.Int("status", r.status),
		slog.Int64("bytes_up", r.up),
		slog.Int64("bytes_down", r.down),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000),
	)
	p.log.LogAttrs(ctx, level, "egress request", attrs...)
}
