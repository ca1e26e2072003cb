package ingress

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/teamsgate/teamsgate/internal/adminhttp"
	"github.com/teamsgate/teamsgate/internal/botauth"
	"github.com/teamsgate/teamsgate/internal/model"
)

// metrics are the gateway's Prometheus series, named after the Prometheus
// naming practices (gateway-anchors.md §4): an app prefix, base units, no
// per-client labels.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	inflight prometheus.Gauge
	reloads  *prometheus.CounterVec
	switches prometheus.Counter
	proxyRef prometheus.Counter
	// connRefused counts connections closed at accept, by reason.
	connRefused *prometheus.CounterVec

	// counters and histograms are looked up once per label set, not per
	// request.
	decisions *adminhttp.DecisionCounters
	hists     [3]prometheus.Observer
}

const ns = "teamsgate_gateway"

// denyReasons and allowReasons are the reasons the gateway itself gives,
// besides the botauth reasons. The allow reasons other than ok are
// requests the gateway passed but the bot could not answer.
var (
	denyReasons = []string{
		ReasonSourceNotAllowed, ReasonBadForwardedFor, ReasonRateLimited, ReasonOverloaded,
		ReasonNotFound, ReasonMethodNotAllowed, ReasonBodyTooLarge, ReasonBodyRead,
		ReasonServiceURLHost, ReasonTenant, ReasonFrontDoor, ReasonSourceBusy,
		ReasonBadConnectionHeader, ReasonNotCanonical, ReasonContentEncoding, ReasonContentType,
		ReasonMalformedRequest, ReasonHeadersTooLarge, ReasonIncompleteRequest,
	}
	allowReasons = []string{ReasonOK, ReasonNoHealthyUpstream, ReasonUpstreamError, ReasonClientGone}
)

func newMetrics(g *Gateway) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "requests_total",
			Help: "Requests by decision (allow, deny, report) and reason.",
		}, []string{"decision", "reason"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns, Name: "request_duration_seconds",
			Help:    "Time from request headers read to response written, by decision.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"decision"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Name: "in_flight_requests", Help: "Requests being served.",
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "config_reloads_total", Help: "Configuration reloads by result (ok, rejected).",
		}, []string{"result"}),
		switches: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Name: "upstream_switches_total", Help: "Blue-green switches of the active upstream group.",
		}),
		proxyRef: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Name: "proxy_protocol_refused_total",
			Help: "Connections refused for a PROXY protocol header from an untrusted peer or a malformed one.",
		}),
		connRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "connections_refused_total",
			Help: "Connections closed at accept: over max_conns, or over max_conns_per_source for one peer.",
		}, []string{"reason"}),
	}
	m.decisions = adminhttp.NewDecisionCounters(m.requests)
	m.reg.MustRegister(m.requests, m.latency, m.inflight, m.reloads, m.switches, m.proxyRef, m.connRefused,
		&stateCollector{g: g},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	for _, v := range []model.Verdict{model.VerdictDeny, model.VerdictAllow, model.VerdictReport} {
		m.hists[v] = m.latency.WithLabelValues(v.String())
	}
	// Create every series up front, so that dashboards see zeros rather
	// than gaps.
	for _, r := range denyReasons {
		m.counter(model.VerdictDeny, r)
	}
	for _, r := range allowReasons {
		m.counter(model.VerdictAllow, r)
	}
	m.counter(model.VerdictReport, ReasonSourceNotAllowed)
	m.counter(model.VerdictReport, ReasonBadForwardedFor)
	m.counter(model.VerdictReport, ReasonFrontDoor)
	for _, r := range []string{ReasonMaxConns, ReasonMaxConnsPerSource} {
		m.connRefused.WithLabelValues(r)
	}
	for r := botauth.Reason(0); !strings.HasPrefix(r.String(), "reason("); r++ {
		if r != botauth.OK && r != botauth.Unknown {
			m.counter(model.VerdictDeny, r.String())
		}
	}
	for _, s := range []string{"ok", "rejected"} {
		m.reloads.WithLabelValues(s)
	}
	return m
}

// counter returns the requests counter for one label set.
func (m *metrics) counter(v model.Verdict, reason string) prometheus.Counter {
	return m.decisions.Get(v, reason)
}

// observe counts one finished request.
func (m *metrics) observe(d *model.Decision, seconds float64) {
	m.counter(d.Verdict, d.Reason).Inc()
	if int(d.Verdict) < len(m.hists) {
		m.hists[d.Verdict].Observe(seconds)
	}
}

// stateCollector reads the gauges and counters that live in the current
// state: upstream health, the active group, key refreshes and the token
// cache, the number of rate-limited sources.
type stateCollector struct{ g *Gateway }

var (
	descUpstreamUp = prometheus.NewDesc(ns+"_upstream_up",
		"Whether an upstream passes its health checks (1) or not (0).", []string{"group", "upstream"}, nil)
	descUpstreamConns = prometheus.NewDesc(ns+"_upstream_connections_opened_total",
		"Connections opened to an upstream; rising with the requests, it means the bot closes its keep-alive connections.", []string{"upstream"}, nil)
	descUpstreamIdle = prometheus.NewDesc(ns+"_upstream_idle_connections",
		"Keep-alive connections to an upstream waiting for a request.", []string{"upstream"}, nil)
	descActive = prometheus.NewDesc(ns+"_upstream_group_active",
		"1 for the active upstream group, 0 for the others.", []string{"group"}, nil)
	descGroupInflight = prometheus.NewDesc(ns+"_upstream_group_in_flight_requests",
		"Requests in flight per upstream group.", []string{"group"}, nil)
	descRefreshes = prometheus.NewDesc(ns+"_key_refreshes_total",
		"Bot Framework OpenID metadata and key set fetches, by result.", []string{"result"}, nil)
	descKeys = prometheus.NewDesc(ns+"_signing_keys",
		"Usable Bot Framework signing keys in the current key set.", nil, nil)
	descLastRefresh = prometheus.NewDesc(ns+"_key_last_refresh_timestamp_seconds",
		"When the key set in use was fetched.", nil, nil)
	descCache = prometheus.NewDesc(ns+"_token_cache_lookups_total",
		"Verified-token cache lookups, by result (hit, miss).", []string{"result"}, nil)
	descVerifications = prometheus.NewDesc(ns+"_token_signature_verifications_total",
		"RSA signature verifications.", nil, nil)
	descSources = prometheus.NewDesc(ns+"_rate_limit_sources",
		"Sources tracked by the per-source rate limiter.", nil, nil)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUpstreamUp, descUpstreamConns, descUpstreamIdle, descActive, descGroupInflight, descRefreshes, descKeys, descLastRefresh, descCache, descVerifications, descSources} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.g.state.Load()
	if st == nil {
		return
	}
	active := st.pool.active.Load()
	for _, g := range st.pool.order {
		for _, u := range g.ups {
			ch <- prometheus.MustNewConstMetric(descUpstreamUp, prometheus.GaugeValue, b2f(u.up.Load()), g.name, u.name)
		}
		ch <- prometheus.MustNewConstMetric(descActive, prometheus.GaugeValue, b2f(g == active), g.name)
		ch <- prometheus.MustNewConstMetric(descGroupInflight, prometheus.GaugeValue, float64(g.inflight.Load()), g.name)
	}
	// An upstream in several groups has one transport: one series.
	for name, t := range st.transports {
		ch <- prometheus.MustNewConstMetric(descUpstreamConns, prometheus.CounterValue, float64(c.g.dialCounter(name).Load()), name)
		ch <- prometheus.MustNewConstMetric(descUpstreamIdle, prometheus.GaugeValue, float64(t.idleCount()), name)
	}
	s := c.g.authStats()
	ch <- prometheus.MustNewConstMetric(descRefreshes, prometheus.CounterValue, float64(s.KeyRefreshes), "ok")
	ch <- prometheus.MustNewConstMetric(descRefreshes, prometheus.CounterValue, float64(s.KeyRefreshFailures), "error")
	ch <- prometheus.MustNewConstMetric(descKeys, prometheus.GaugeValue, float64(s.Keys))
	if !s.LastKeyRefresh.IsZero() {
		ch <- prometheus.MustNewConstMetric(descLastRefresh, prometheus.GaugeValue, float64(s.LastKeyRefresh.UnixNano())/1e9)
	}
	ch <- prometheus.MustNewConstMetric(descCache, prometheus.CounterValue, float64(s.CacheHits), "hit")
	ch <- prometheus.MustNewConstMetric(descCache, prometheus.CounterValue, float64(s.CacheMisses), "miss")
	ch <- prometheus.MustNewConstMetric(descVerifications, prometheus.CounterValue, float64(s.Verifications))
	ch <- prometheus.MustNewConstMetric(descSources, prometheus.GaugeValue, float64(st.limiter.Len()))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// denyVerdict is the verdict of a refused request.
const denyVerdict = model.VerdictDeny
