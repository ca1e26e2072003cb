// Package adminhttp is what the admin listeners of teamsgate's daemons (the
// ingress gateway, the egress proxy) share: the guard every admin request
// passes, the bearer token it checks, and the rule that a listener off
// loopback needs one.
package adminhttp

import (
	"bytes"
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
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/teamsgate/teamsgate/internal/model"
)

// The reasons an admin request is refused: stable labels of the refusals'
// counter and of the log line "admin request refused".
const (
	// HostMismatch (421): the Host header is not the listener's own
	// address. A page whose name an attacker re-resolves to 127.0.0.1
	// (DNS rebinding) sends its own name.
	HostMismatch = "host-mismatch"
	// CrossOrigin (403): an Origin header other than the listener's own.
	// Browsers send one with every cross-origin POST (CSRF).
	CrossOrigin = "cross-origin"
	// CrossSite (403): Sec-Fetch-Site other than same-origin or none:
	// another site made the browser send it.
	CrossSite = "cross-site"
	// MissingToken and BadToken (401): a token is configured and the
	// request carries none, or another one.
	MissingToken = "missing-token"
	BadToken     = "bad-token"
)

// Reasons lists every refusal reason.
var Reasons = []string{HostMismatch, CrossOrigin, CrossSite, MissingToken, BadToken}

// realm is the WWW-Authenticate challenge of a 401 (RFC 6750 §3).
const realm = `Bearer realm="teamsgate-admin"`

// refusal is the guard's decision against a request: its status and reason.
type refusal struct {
	status int
	reason string
}

// Guard admits an admin request to Next only when it is meant for this
// listener and comes from no web page: its Host is the listener's own
// address (else 421), any Origin is the listener's own origin and
// Sec-Fetch-Site does not name another site (else 403), and, when a token
// is configured, it carries the token (else 401). The probes, GET /healthz
// and GET /readyz, skip all of it: they change nothing, tell nothing
// secret, and load balancers' health checks send whatever Host they like
// (HAProxy's httpchk sends HTTP/1.0 without one). Each refusal is logged
// and counted; no header value is logged.
type Guard struct {
	Self Self
	// Token returns the digest of the token requests must carry, or nil
	// when none is configured; it is asked at every request, so that a
	// reload takes effect at once.
	Token   func() *Digest
	Refused *prometheus.CounterVec
	Log     *slog.Logger
	Next    http.Handler
}

func (a *Guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ref, ok := a.check(r)
	if ok {
		a.Next.ServeHTTP(w, r)
		return
	}
	a.Refused.WithLabelValues(ref.reason).Inc()
	a.Log.LogAttrs(r.Context(), slog.LevelWarn, "admin request refused",
		slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.String("peer", r.RemoteAddr), slog.String("reason", ref.reason))
	if ref.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", realm)
	}
	WriteText(w, ref.status, http.StatusText(ref.status))
}

// check decides on r, cheapest and least trusting first: the Host and
// the browser's headers before the token, so that a 401's challenge goes
// only to clients that addressed this listener themselves.
func (a *Guard) check(r *http.Request) (refusal, bool) {
	if IsProbe(r) {
		return refusal{}, true
	}
	if !a.Self.host(r.Host) {
		return refusal{http.StatusMisdirectedRequest, HostMismatch}, false
	}
	for _, o := range r.Header.Values("Origin") {
		if !a.Self.origin(o) {
			return refusal{http.StatusForbidden, CrossOrigin}, false
		}
	}
	// Fetch Metadata (W3C): "cross-site" and "same-site" requests were
	// sent by another site's page; an unknown value fails closed.
	for _, s := range r.Header.Values("Sec-Fetch-Site") {
		if s != "same-origin" && s != "none" {
			return refusal{http.StatusForbidden, CrossSite}, false
		}
	}
	want := a.Token()
	if want == nil {
		return refusal{}, true
	}
	auth := r.Header.Values("Authorization")
	if len(auth) == 0 {
		return refusal{http.StatusUnauthorized, MissingToken}, false
	}
	scheme, token, found := strings.Cut(auth[0], " ")
	if len(auth) > 1 || !found || !strings.EqualFold(scheme, "Bearer") {
		return refusal{http.StatusUnauthorized, BadToken}, false
	}
	// Digests of equal length compare in constant time without telling
	// the token's length either.
	got := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return refusal{http.StatusUnauthorized, BadToken}, false
	}
	return refusal{}, true
}

// IsProbe reports whether r is a liveness or readiness probe.
func IsProbe(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) &&
		(r.URL.Path == "/healthz" || r.URL.Path == "/readyz")
}

// Self is the admin listener's own address, as the Host and Origin checks
// see it. The zero value admits no host.
type Self struct {
	addr netip.AddrPort
}

// SelfOf returns the Self of a listener's address.
func SelfOf(a net.Addr) Self {
	t, ok := a.(*net.TCPAddr)
	if !ok {
		return Self{}
	}
	ap := t.AddrPort()
	return Self{addr: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())}
}

// host reports whether a Host header (or an origin's host) names this
// listener: its own address and port; on loopback also localhost,
// 127.0.0.1 and [::1] with its port; on every address (0.0.0.0, [::]) any
// address literal and localhost with its port. A name other than
// localhost is refused: DNS rebinding needs one, an address literal
// cannot be rebound.
func (s Self) host(h string) bool {
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
func (s Self) origin(o string) bool {
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

// RefusedCounter registers the refusals' counter, namespace_
// admin_requests_refused_total, on reg (or returns the one already there),
// with every reason at zero so that dashboards see no gaps.
func RefusedCounter(reg *prometheus.Registry, namespace string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "admin_requests_refused_total",
		Help: "Admin listener requests refused, by reason (host-mismatch, cross-origin, cross-site, missing-token, bad-token).",
	}, []string{"reason"})
	if err := reg.Register(c); err != nil {
		var dup prometheus.AlreadyRegisteredError
		if !errors.As(err, &dup) {
			panic(err) // a programming error, as with MustRegister
		}
		c = dup.ExistingCollector.(*prometheus.CounterVec)
	}
	for _, r := range Reasons {
		c.WithLabelValues(r)
	}
	return c
}

// Digest is the SHA-256 of the admin token: the daemons keep the digest,
// the guard compares digests.
type Digest [sha256.Size]byte

// Admin token length bounds: 16 characters is the least worth calling a
// secret (openssl rand -hex 32 gives 64); a token is a line, not a file.
const (
	minToken = 16
	maxToken = 4096
)

// TokenDigest reads a token file (ReadToken) and returns its digest.
func TokenDigest(name string) (*Digest, error) {
	tok, err := ReadToken(name)
	if err != nil {
		return nil, err
	}
	d := Digest(sha256.Sum256(tok))
	return &d, nil
}

// ReadToken reads a token file: one line of printable ASCII without
// spaces (the characters a bearer token may hold, RFC 6750 §2.1, and a
// few more), a trailing newline allowed. Errors never quote the contents.
func ReadToken(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("admin token file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxToken+3))
	if err != nil {
		return nil, fmt.Errorf("admin token file %q: %w", name, err)
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	switch {
	case len(b) == 0:
		return nil, fmt.Errorf("admin token file %q is empty", name)
	case len(b) > maxToken:
		return nil, fmt.Errorf("admin token file %q: the token is longer than %d characters", name, maxToken)
	case len(b) < minToken:
		return nil, fmt.Errorf("admin token file %q: the token is shorter than %d characters (make one with: openssl rand -hex 32)", name, minToken)
	}
	for i, c := range b {
		if c <= ' ' || c > '~' {
			return nil, fmt.Errorf("admin token file %q: byte %d is a space, a control character or not ASCII; the token is one line of printable ASCII", name, i+1)
		}
	}
	return b, nil
}

// Exposure says why an admin listen address is reachable from other hosts
// ("is not on loopback", "listens on every address"), or "" when it is on
// loopback only. Anyone who reaches an admin listener can reload the
// configuration (and switch the gateway's upstreams), so such a listener
// needs a token.
func Exposure(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	if a, err := netip.ParseAddr(h); h == "" || err == nil && a.IsUnspecified() {
		return "listens on every address"
	}
	if a, err := netip.ParseAddr(h); err == nil && !a.Unmap().IsLoopback() {
		return "is not on loopback"
	}
	if h == "localhost" {
		return ""
	}
	if _, err := netip.ParseAddr(h); err != nil {
		return "is not a loopback address"
	}
	return ""
}

// WriteText writes a plain-text answer that is never cached.
func WriteText(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	fmt.Fprintln(w, msg)
}

// WriteJSON writes a JSON answer that is never cached.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v) //nolint:errcheck // the client may be gone
}

// DecisionCounters are the counters of a daemon's requests vector,
// labelled by decision and reason, looked up once per label set rather
// than on every request.
type DecisionCounters struct {
	vec *prometheus.CounterVec
	mu  sync.RWMutex
	m   map[decisionKey]prometheus.Counter
}

type decisionKey struct {
	verdict model.Verdict
	reason  string
}

// NewDecisionCounters caches vec's counters; vec's labels are the
// decision and the reason, in that order.
func NewDecisionCounters(vec *prometheus.CounterVec) *DecisionCounters {
	return &DecisionCounters{vec: vec, m: map[decisionKey]prometheus.Counter{}}
}

// Get returns the counter of one decision and reason, creating it (at
// zero) the first time.
func (d *DecisionCounters) Get(v model.Verdict, reason string) prometheus.Counter {
	k := decisionKey{v, reason}
	d.mu.RLock()
	c := d.m[k]
	d.mu.RUnlock()
	if c != nil {
		return c
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if c = d.m[k]; c == nil {
		c = d.vec.WithLabelValues(v.String(), reason)
		d.m[k] = c
	}
	return c
}
