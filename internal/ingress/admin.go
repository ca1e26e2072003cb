package ingress

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/teamsgate/teamsgate/internal/diag"
)

// adminHandler serves the admin listener:
//
//	GET  /healthz                 the process is alive
//	GET  /readyz                  it can serve: keys loaded, a healthy upstream, not draining
//	GET  /metrics                 Prometheus metrics
//	GET  /upstreams               groups, upstreams, health, active group
//	POST /upstreams/active?group= blue-green switch, answered once drained
//	POST /reload                  re-read the configuration (as SIGHUP)
//
// Every request passes adminGuard first (the probes pass it freely). It is
// built once the admin listener is open: the guard admits only a Host that
// names that listener.
func (g *Gateway) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeText(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if ok, why := g.Ready(); !ok {
			writeText(w, http.StatusServiceUnavailable, why)
			return
		}
		writeText(w, http.StatusOK, "ready")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(g.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /upstreams", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, g.Status())
	})
	mux.HandleFunc("POST /upstreams/active", func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("group")
		if name == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "give ?group=NAME"})
			return
		}
		res, err := g.Switch(name)
		switch {
		case errors.Is(err, errNoSuchGroup):
			writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
		case errors.Is(err, errUnhealthyGroup):
			writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
		case err != nil:
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		default:
			writeJSON(w, http.StatusOK, res)
		}
	})
	mux.HandleFunc("POST /reload", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), keysTimeout+10*time.Second)
		defer cancel()
		if err := g.ReloadFromSource(ctx); err != nil {
			var msgs []string
			for _, d := range diag.AsList(err) {
				msgs = append(msgs, d.String())
			}
			writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": "reload rejected; the running configuration stays", "problems": msgs})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"result": "reloaded", "active": g.state.Load().pool.active.Load().name})
	})
	var self adminSelf
	if g.adminLn != nil {
		self = adminSelfOf(g.adminLn.Addr())
	}
	return &adminGuard{g: g, self: self, refused: g.adminRefusedCounter(), next: mux}
}

// Ready reports whether the gateway can serve, and if not, why: it is not
// shutting down, it holds signing keys, and the active group has a healthy
// upstream.
func (g *Gateway) Ready() (bool, string) {
	if g.draining.Load() {
		return false, "shutting down"
	}
	st := g.state.Load()
	if st.auth.v.Stats().Keys == 0 {
		return false, "no Bot Framework signing keys yet"
	}
	if a := st.pool.active.Load(); !a.healthy() {
		return false, fmt.Sprintf("active upstream group %q has no healthy upstream", a.name)
	}
	return true, "ready"
}

// Status is the upstreams' state as /upstreams reports it.
type Status struct {
	Active string        `json:"active"`
	Groups []GroupStatus `json:"groups"`
}

// GroupStatus is one upstream group's state.
type GroupStatus struct {
	Name      string           `json:"name"`
	Healthy   bool             `json:"healthy"`
	InFlight  int64            `json:"in_flight"`
	Upstreams []UpstreamStatus `json:"upstreams"`
}

// UpstreamStatus is one upstream's state.
type UpstreamStatus struct {
	URL string `json:"url"`
	Up  bool   `json:"up"`
}

// Status returns the upstreams' current state.
func (g *Gateway) Status() Status {
	st := g.state.Load()
	s := Status{Active: st.pool.active.Load().name}
	for _, grp := range st.pool.order {
		gs := GroupStatus{Name: grp.name, Healthy: grp.healthy(), InFlight: grp.inflight.Load()}
		for _, u := range grp.ups {
			gs.Upstreams = append(gs.Upstreams, UpstreamStatus{URL: u.name, Up: u.up.Load()})
		}
		s.Groups = append(s.Groups, gs)
	}
	return s
}

func writeText(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	fmt.Fprintln(w, msg)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v) //nolint:errcheck // the client may be gone
}

// The reasons an admin request is refused: stable labels of
// teamsgate_gateway_admin_requests_refused_total and of the log line
// "admin request refused".
const (
	// adminHostMismatch (421): the Host header is not the listener's own
	// address. A page whose name an attacker re-resolves to 127.0.0.1
	// (DNS rebinding) sends its own name.
	adminHostMismatch = "host-mismatch"
	// adminCrossOrigin (403): an Origin header other than the listener's
	// own. Browsers send one with every cross-origin POST (CSRF).
	adminCrossOrigin = "cross-origin"
	// adminCrossSite (403): Sec-Fetch-Site other than same-origin or none:
	// another site made the browser send it.
	adminCrossSite = "cross-site"
	// adminMissingToken and adminBadToken (401): a token is configured and
	// the request carries none, or another one.
	adminMissingToken = "missing-token"
	adminBadToken     = "bad-token"
)

var adminReasons = []string{adminHostMismatch, adminCrossOrigin, adminCrossSite, adminMissingToken, adminBadToken}

// adminRealm is the WWW-Authenticate challenge of a 401 (RFC 6750 §3).
const adminRealm = `Bearer realm="teamsgate-admin"`

// adminRefusal is the guard's decision against a request: its status and
// reason.
type adminRefusal struct {
	status int
	reason string
}

// adminGuard admits an admin request to next only when it is meant for
// this listener and comes from no web page: its Host is the listener's
// own address (else 421), any Origin is the listener's own origin and
// Sec-Fetch-Site does not name another site (else 403), and, when a token
// is configured, it carries the token (else 401). The probes, GET /healthz
// and GET /readyz, skip all of it: they change nothing, tell nothing
// secret, and load balancers' health checks send whatever Host they like
// (HAProxy's httpchk sends HTTP/1.0 without one). Each refusal is logged
// and counted; no header value is logged.
type adminGuard struct {
	g       *Gateway
	self    adminSelf
	refused *prometheus.CounterVec
	next    http.Handler
}

func (a *adminGuard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ref, ok := a.check(r)
	if ok {
		a.next.ServeHTTP(w, r)
		return
	}
	a.refused.WithLabelValues(ref.reason).Inc()
	a.g.log.LogAttrs(r.Context(), slog.LevelWarn, "admin request refused",
		slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.String("peer", r.RemoteAddr), slog.String("reason", ref.reason))
	if ref.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", adminRealm)
	}
	writeText(w, ref.status, http.StatusText(ref.status))
}

// check decides on r, cheapest and least trusting first: the Host and
// the browser's headers before the token, so that a 401's challenge goes
// only to clients that addressed this listener themselves.
func (a *adminGuard) check(r *http.Request) (adminRefusal, bool) {
	if isProbe(r) {
		return adminRefusal{}, true
	}
	if !a.self.host(r.Host) {
		return adminRefusal{http.StatusMisdirectedRequest, adminHostMismatch}, false
	}
	for _, o := range r.Header.Values("Origin") {
		if !a.self.origin(o) {
			return adminRefusal{http.StatusForbidden, adminCrossOrigin}, false
		}
	}
	// Fetch Metadata (W3C): "cross-site" and "same-site" requests were
	// sent by another site's page; an unknown value fails closed.
	for _, s := range r.Header.Values("Sec-Fetch-Site") {
		if s != "same-origin" && s != "none" {
			return adminRefusal{http.StatusForbidden, adminCrossSite}, false
		}
	}
	want := a.g.state.Load().adminToken
	if want == nil {
		return adminRefusal{}, true
	}
	auth := r.Header.Values("Authorization")
	if len(auth) == 0 {
		return adminRefusal{http.StatusUnauthorized, adminMissingToken}, false
	}
	scheme, token, found := strings.Cut(auth[0], " ")
	if len(auth) > 1 || !found || !strings.EqualFold(scheme, "Bearer") {
		return adminRefusal{http.StatusUnauthorized, adminBadToken}, false
	}
	// Digests of equal length compare in constant time without telling
	// the token's length either.
	got := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return adminRefusal{http.StatusUnauthorized, adminBadToken}, false
	}
	return adminRefusal{}, true
}

// isProbe reports whether r is a liveness or readiness probe.
func isProbe(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) &&
		(r.URL.Path == "/healthz" || r.URL.Path == "/readyz")
}

// adminSelf is the admin listener's own address, as the Host and Origin
// checks see it. The zero value admits no host.
type adminSelf struct {
	addr netip.AddrPort
}

func adminSelfOf(a net.Addr) adminSelf {
	t, ok := a.(*net.TCPAddr)
	if !ok {
		return adminSelf{}
	}
	ap := t.AddrPort()
	return adminSelf{addr: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())}
}

// host reports whether a Host header (or an origin's host) names this
// listener: its own address and port; on loopback also localhost,
// 127.0.0.1 and [::1] with its port; on every address (0.0.0.0, [::]) any
// address literal and localhost with its port. A name other than
// localhost is refused: DNS rebinding needs one, an address literal
// cannot be rebound.
func (s adminSelf) host(h string) bool {
	if s.addr.Port() == 0 {
		return false
	}
	name, port, ok := splitHost(h)
	if !ok || port != s.addr.Port() {
		return false
	}
	own := s.addr.Addr()
	if name == "localhost" {
		return own.IsLoopback() || own.IsUnspecified()
	}
	ip, err := netip.ParseAddr(name)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	switch {
	case ip == own, own.IsUnspecified():
		return true
	case own.IsLoopback():
		return ip == netip.AddrFrom4([4]byte{127, 0, 0, 1}) || ip == netip.IPv6Loopback()
	}
	return false
}

// origin reports whether an Origin header is this listener's own origin:
// http:// and a host that host admits (RFC 6454 §6.1 serialization; the
// admin listener serves plain HTTP). "null" is never its own.
func (s adminSelf) origin(o string) bool {
	rest, ok := strings.CutPrefix(strings.ToLower(o), "http://")
	return ok && s.host(rest)
}

// splitHost splits a Host header into a lower-case host, without the
// brackets of an IPv6 literal, and a port; an absent port is HTTP's 80
// (RFC 9110 §4.2.1).
func splitHost(h string) (string, uint16, bool) {
	h = strings.ToLower(h)
	name, port, err := net.SplitHostPort(h)
	if err != nil {
		if name, port, err = net.SplitHostPort(h + ":80"); err != nil {
			return "", 0, false
		}
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || name == "" {
		return "", 0, false
	}
	return name, uint16(p), true
}

// adminRefusedCounter registers the refusals' counter on the gateway's
// registry, with every reason at zero so that dashboards see no gaps.
func (g *Gateway) adminRefusedCounter() *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Name: "admin_requests_refused_total",
		Help: "Admin listener requests refused, by reason (host-mismatch, cross-origin, cross-site, missing-token, bad-token).",
	}, []string{"reason"})
	if err := g.metrics.reg.Register(c); err != nil {
		var dup prometheus.AlreadyRegisteredError
		if !errors.As(err, &dup) {
			panic(err) // a programming error, as with MustRegister
		}
		c = dup.ExistingCollector.(*prometheus.CounterVec)
	}
	for _, r := range adminReasons {
		c.WithLabelValues(r)
	}
	return c
}

// adminDigest is the SHA-256 of the admin token: the state keeps the
// digest, the guard compares digests.
type adminDigest [sha256.Size]byte

// Admin token length bounds: 16 characters is the least worth calling a
// secret (openssl rand -hex 32 gives 64); a token is a line, not a file.
const (
	minAdminToken = 16
	maxAdminToken = 4096
)

// adminToken reads cfg's admin token file, at New and on every reload, and
// returns the token's digest, or nil when cfg names no file. A reload may
// not drop the token while the running admin listener (which only a
// restart moves) is off loopback.
func (g *Gateway) adminToken(cfg Config) (*adminDigest, error) {
	if cfg.AdminTokenFile == "" {
		if why := AdminExposure(g.running.AdminListen); why != "" {
			return nil, fmt.Errorf("no admin token file, but the running admin listener %q %s: it keeps needing a token until a restart", g.running.AdminListen, why)
		}
		return nil, nil
	}
	tok, err := readAdminToken(cfg.AdminTokenFile)
	if err != nil {
		return nil, err
	}
	d := adminDigest(sha256.Sum256(tok))
	return &d, nil
}

// readAdminToken reads a token file: one line of printable ASCII without
// spaces (the characters a bearer token may hold, RFC 6750 §2.1, and a
// few more), a trailing newline allowed. Errors never quote the contents.
func readAdminToken(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("admin token file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxAdminToken+3))
	if err != nil {
		return nil, fmt.Errorf("admin token file %q: %w", name, err)
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	switch {
	case len(b) == 0:
		return nil, fmt.Errorf("admin token file %q is empty", name)
	case len(b) > maxAdminToken:
		return nil, fmt.Errorf("admin token file %q: the token is longer than %d characters", name, maxAdminToken)
	case len(b) < minAdminToken:
		return nil, fmt.Errorf("admin token file %q: the token is shorter than %d characters (make one with: openssl rand -hex 32)", name, minAdminToken)
	}
	for i, c := range b {
		if c <= ' ' || c > '~' {
			return nil, fmt.Errorf("admin token file %q: byte %d is a space, a control character or not ASCII; the token is one line of printable ASCII", name, i+1)
		}
	}
	return b, nil
}
