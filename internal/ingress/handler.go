package ingress

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/teamsgate/teamsgate/internal/botauth"
	"github.com/teamsgate/teamsgate/internal/jsonline"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/ratelimit"
)

// Reasons the gateway itself gives; with the botauth reasons they are the
// stable reason labels of logs and metrics.
const (
	ReasonOK                = "ok"
	ReasonRateLimited       = "rate-limited"
	ReasonOverloaded        = "overloaded"
	ReasonNotFound          = "not-found"
	ReasonMethodNotAllowed  = "method-not-allowed"
	ReasonBodyTooLarge      = "body-too-large"
	ReasonBodyRead          = "body-read-error"
	ReasonNoHealthyUpstream = "no-healthy-upstream"
	ReasonUpstreamError     = "upstream-error"
	ReasonClientGone        = "client-gone"
	// ReasonServiceURLHost: the activity's serviceUrl names a host outside
	// botauth.service_url_hosts.
	ReasonServiceURLHost = "serviceurl-host-not-allowed"
	// ReasonTenant: the activity's tenant is outside botauth.tenants.
	ReasonTenant = "tenant-not-allowed"
	// ReasonFrontDoor: a request through a trusted proxy without one of
	// sources.front_door_ids in X-Azure-FDID: another customer's Front
	// Door.
	ReasonFrontDoor = "front-door-id"
	// ReasonSourceBusy: the source already has max_inflight_per_source
	// requests in the gateway.
	ReasonSourceBusy = "source-busy"
	// ReasonBadConnectionHeader: a Connection header naming anything but
	// close or keep-alive, which would strip end-to-end headers the
	// gateway checked from what the bot receives.
	ReasonBadConnectionHeader = "bad-connection-header"
	// ReasonNotCanonical: the request target is not a served path as
	// written (percent-encoding, absolute form, "*").
	ReasonNotCanonical = "path-not-canonical"
	// ReasonContentEncoding: a body with a Content-Encoding other than
	// identity, which the gateway would have checked as plain JSON.
	ReasonContentEncoding = "content-encoding"
	// ReasonContentType: a body that is not application/json in UTF-8.
	ReasonContentType = "content-type"
)

// DefaultPath is the path served when the configuration names none: the
// Bot Framework's messaging endpoint.
const DefaultPath = "/api/messages"

// exchange is the gateway's record of one request, pooled.
type exchange struct {
	rec      recorder
	client   netip.Addr
	clientS  string // client.String(), made once
	src      model.Decision
	appID    string
	cached   bool
	group    string
	up       *upstream
	proxyErr error
	info     *connInfo
	conn     net.Conn // the request's connection, for its read deadline
	body     []byte   // the body forwarded

	getBodyFn func() (io.ReadCloser, error) // x.getBody, bound once
}

// ServeHTTP is the gateway's request path. The checks run in one fixed
// order, cheapest and least trusting first, so that what a check costs is
// paid only by requests that passed the checks before it, and nothing that
// costs memory or a slot is given before the token is verified:
//
//  1. source address (socket peer, trusted PROXY header, trusted
//     X-Forwarded-For) against the plan's Teams ranges, and through a
//     trusted proxy the Front Door id;
//  2. the request target as written, one of the served paths; the method;
//  3. the headers' shape: Connection, Content-Encoding, Content-Type;
//  4. per-source rate limit (429), then per-source requests in flight;
//  5. one Authorization header, and the token verified (signature,
//     issuer, audience, lifetime) before any body is read;
//  6. global concurrency cap (503);
//  7. body read under the size limit (413) and the body deadline, and
//     parsed as an activity;
//  8. the token against the activity (channel, serviceUrl), the policies;
//  9. a healthy upstream of the active group, then the reverse proxy.
//
// A refusal before the token is verified closes the connection
// (Connection: close), so that no unauthenticated client keeps one.
// Every request ends in one model.Decision, logged once and counted.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	conn, _ := r.Context().Value(connKey{}).(net.Conn)
	var info *connInfo
	if conn != nil {
		if g.freshN.Load() > 0 {
			g.unfresh(conn)
		}
		if info = infoOf(conn); info != nil {
			info.handled.Add(1)
		}
	}
	g.metrics.inflight.Inc()
	st := g.state.Load()
	ex := g.exchanges.Get().(*exchange)
	ex.rec = recorder{ResponseWriter: w, x: ex}
	ex.info, ex.conn = info, conn
	if g.draining.Load() {
		w.Header().Set("Connection", "close")
	}
	// The reverse proxy aborts a response whose copy fails by panicking
	// with http.ErrAbortHandler, which the server swallows; the request is
	// still counted and logged once, and the panic goes on.
	done := false
	defer func() {
		if done {
			return
		}
		d := model.Decision{Verdict: model.VerdictAllow, Reason: ReasonUpstreamError, RuleID: ex.src.RuleID, Detail: "response aborted"}
		if ex.proxyErr != nil || r.Context().Err() != nil {
			d.Reason = ReasonClientGone
		}
		g.finish(r, ex, &d, start)
	}()
	d := g.handle(st, ex, r, start)
	done = true
	g.finish(r, ex, &d, start)
	ex.reset()
	g.exchanges.Put(ex)
}

// reset clears x for its next request; the function values bound to it
// are kept (making one allocates).
func (x *exchange) reset() {
	fn := x.getBodyFn
	*x = exchange{getBodyFn: fn}
}

// newExchange is the exchange pool's constructor.
func newExchange() any {
	x := new(exchange)
	x.getBodyFn = x.getBody
	return x
}

// getBody is the forwarded request's GetBody: the body again.
func (x *exchange) getBody() (io.ReadCloser, error) {
	return &bodyReader{Reader: *bytes.NewReader(x.body)}, nil
}

// bodyReader is a body in memory with a Close (io.NopCloser over a
// bytes.Reader is two allocations, this one).
type bodyReader struct{ bytes.Reader }

func (*bodyReader) Close() error { return nil }

// The X-Forwarded-Proto values the bot receives; never modified.
var (
	protoHTTP  = []string{"http"}
	protoHTTPS = []string{"https"}
)

// clientText is client.String(), reused from the connection's previous
// request when the client is the same (a connection's requests nearly
// always come from one client; through a trusted proxy, not always).
func (x *exchange) clientText(client netip.Addr) string {
	if x.info == nil {
		return client.String()
	}
	if x.info.lastClient != client || x.info.lastClientS == "" {
		x.info.lastClient, x.info.lastClientS, x.info.lastXFF = client, client.String(), nil
	}
	return x.info.lastClientS
}

// forwardedFor is the X-Forwarded-For value the bot receives, the client's
// address: one slice per connection and client, never modified.
func (x *exchange) forwardedFor() []string {
	if x.info == nil || x.info.lastClientS != x.clientS {
		return []string{x.clientS}
	}
	if x.info.lastXFF == nil {
		x.info.lastXFF = []string{x.clientS}
	}
	return x.info.lastXFF
}

// finish counts and logs a request.
func (g *Gateway) finish(r *http.Request, x *exchange, d *model.Decision, start time.Time) {
	dur := time.Since(start)
	g.metrics.observe(d, dur.Seconds())
	g.metrics.inflight.Dec()
	if g.log.Enabled(r.Context(), slog.LevelInfo) {
		g.logRequest(r, x, d, dur)
	}
}

func (g *Gateway) handle(st *state, x *exchange, r *http.Request, start time.Time) model.Decision {
	w := &x.rec
	peer, _ := netip.ParseAddrPort(r.RemoteAddr)
	client, src := st.sources.decide(peer.Addr(), r.Header["X-Forwarded-For"])
	x.client, x.clientS, x.src = client, x.clientText(client), src
	if src.Verdict == model.VerdictDeny {
		status := http.StatusForbidden
		if src.Reason == ReasonBadForwardedFor {
			status = http.StatusBadRequest
		}
		x.refuse(status)
		return src
	}
	if fd := st.sources.frontDoor(peer.Addr(), r.Header["X-Azure-Fdid"]); fd.Verdict != model.VerdictAllow {
		x.src = fd
		if fd.Verdict == model.VerdictDeny {
			x.refuse(http.StatusForbidden)
			return fd
		}
	}
	if !st.served(r) {
		x.refuse(http.StatusNotFound)
		return deny(ReasonNotCanonical, "")
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		x.refuse(http.StatusMethodNotAllowed)
		return deny(ReasonMethodNotAllowed, "")
	}
	if reason, status := headerShape(r.Header); reason != "" {
		x.refuse(status)
		return deny(reason, "")
	}
	if ok, wait := st.limiter.Allow(client, g.now()); !ok {
		w.Header().Set("Retry-After", strconv.FormatInt(int64((wait+time.Second-1)/time.Second), 10))
		x.refuse(http.StatusTooManyRequests)
		return deny(ReasonRateLimited, "")
	}
	busyKey := ratelimit.Key(client)
	if !g.busy.acquire(busyKey, st.cfg.Limits.MaxInflightPerSource) {
		w.Header().Set("Retry-After", "1")
		x.refuse(http.StatusTooManyRequests)
		return deny(ReasonSourceBusy, "")
	}
	defer g.busy.release(busyKey)
	authorization, reason := botauth.Authorization(r.Header)
	if reason != botauth.OK {
		x.refuse(reason.HTTPStatus())
		return deny(reason.String(), "")
	}
	tok, reason := st.auth.v.Verify(r.Context(), authorization)
	if reason != botauth.OK {
		if reason == botauth.NoKeys {
			w.Header().Set("Retry-After", "5")
		}
		x.refuse(reason.HTTPStatus())
		return deny(reason.String(), "")
	}
	// Authenticated: the connection may stay open, and the request may
	// now take a slot and memory.
	if x.info != nil {
		x.info.authed.Store(true)
	}
	select {
	case st.sem <- struct{}{}:
		defer func() { <-st.sem }()
	default:
		w.Header().Set("Retry-After", "1")
		reject(w, http.StatusServiceUnavailable)
		return deny(ReasonOverloaded, "")
	}

	// The body has body_timeout to arrive, less than the server's
	// read_timeout for the whole request.
	l := st.cfg.Limits
	bodyDeadline := l.BodyTimeout < l.ReadTimeout && x.conn != nil
	var pending int64
	if bodyDeadline {
		if x.info != nil {
			// Set on the socket only if the body is read from it: a body
			// that came with the headers (most) costs no deadline.
			pending = time.Now().Add(l.BodyTimeout).UnixNano()
			x.info.bodyDeadline.Store(pending)
		} else {
			x.conn.SetReadDeadline(time.Now().Add(l.BodyTimeout)) //nolint:errcheck // a closed connection has none to set
		}
	}
	body, err := readBody(r, l.MaxBodyBytes)
	if bodyDeadline && (pending == 0 || !x.info.endBodyDeadline(pending)) && err == nil {
		// The deadline was set: none while the bot answers, as net/http
		// has it for its read in the background (the exchange has its
		// own, write_timeout). After a failed read the passed deadline
		// stays, so that the server does not wait for the rest of the
		// body either.
		x.conn.SetReadDeadline(time.Time{}) //nolint:errcheck // a closed connection has none to set
	}
	if err != nil {
		if errors.Is(err, errBodyTooLarge) {
			w.Header().Set("Connection", "close")
			reject(w, http.StatusRequestEntityTooLarge)
			return deny(ReasonBodyTooLarge, "")
		}
		w.Header().Set("Connection", "close")
		reject(w, http.StatusBadRequest)
		return deny(ReasonBodyRead, err.Error())
	}
	act, err := botauth.ParseActivity(body)
	if err != nil {
		reject(w, botauth.BadActivity.HTTPStatus())
		return deny(botauth.BadActivity.String(), err.Error())
	}
	res := tok.Check(act)
	if !res.OK() {
		reject(w, res.Reason.HTTPStatus())
		return deny(res.Reason.String(), "")
	}
	x.appID, x.cached = res.AppID, res.Cached
	if reason := st.cfg.Policy.check(act, body); reason != "" {
		reject(w, http.StatusForbidden)
		return deny(reason, "")
	}

	grp := st.pool.acquire()
	defer grp.inflight.Add(-1)
	x.group = grp.name
	up := grp.pick()
	if up == nil {
		w.Header().Set("Retry-After", "1")
		reject(w, http.StatusServiceUnavailable)
		return model.Decision{Verdict: model.VerdictAllow, Reason: ReasonNoHealthyUpstream, RuleID: src.RuleID}
	}
	x.up = up
	// The forwarding headers the bot will see are ours: the inbound ones
	// are replaced here and copied by Rewrite from these, after the
	// reverse proxy has dropped every inbound X-Forwarded-* and Forwarded
	// header from the outbound request.
	r.Header["X-Forwarded-For"] = x.forwardedFor()
	if forwardedProto(r, client != peer.Addr().Unmap()) == "https" {
		r.Header["X-Forwarded-Proto"] = protoHTTPS
	} else {
		r.Header["X-Forwarded-Proto"] = protoHTTP
	}

	// The body read above goes upstream as it is; GetBody lets the
	// transport send it again on a new connection when a reused one failed
	// before taking any of it.
	x.body = body
	r.Body = &bodyReader{Reader: *bytes.NewReader(body)}
	r.GetBody = x.getBodyFn
	r.ContentLength = int64(len(body))
	r.TransferEncoding = nil
	up.proxy.ServeHTTP(w, r)

	switch {
	case x.proxyErr != nil && errors.Is(x.proxyErr, context.Canceled):
		return model.Decision{Verdict: model.VerdictAllow, Reason: ReasonClientGone, RuleID: src.RuleID}
	case x.proxyErr != nil:
		return model.Decision{Verdict: model.VerdictAllow, Reason: ReasonUpstreamError, RuleID: src.RuleID, Detail: x.proxyErr.Error()}
	case x.src.Verdict == model.VerdictReport:
		return x.src
	}
	return model.Decision{Verdict: model.VerdictAllow, Reason: ReasonOK, RuleID: src.RuleID}
}

// served reports whether the request's target is one of the served paths
// exactly as written: no percent-encoding (/api%2fmessages and
// /api/%6dessages decode to a served path but are not one), no absolute
// form (POST http://evil.example/api/messages), no "*". The path the bot
// receives is then the one compared.
func (st *state) served(r *http.Request) bool {
	target := r.RequestURI
	if i := strings.IndexByte(target, '?'); i >= 0 {
		target = target[:i]
	}
	return target == r.URL.Path && st.paths[target]
}

// connectionTokens are the Connection header options a request may carry:
// anything else names a header to drop on the way to the bot (RFC 9110
// §7.6.1), and the ones the gateway checked must reach it.
var connectionTokens = []string{"close", "keep-alive"}

// headerShape checks the headers that say how to read the request: the
// Connection options, and that the body is plain UTF-8 JSON, which is what
// the gateway parses and checks (a gzip or UTF-16 body would reach the bot
// other than it was checked). It returns the reason and status of a
// refusal, or "".
func headerShape(h http.Header) (string, int) {
	for _, v := range h["Connection"] {
		for tok := range strings.SplitSeq(v, ",") {
			tok = strings.TrimSpace(tok)
			if tok != "" && !slices.ContainsFunc(connectionTokens, func(s string) bool { return strings.EqualFold(s, tok) }) {
				return ReasonBadConnectionHeader, http.StatusBadRequest
			}
		}
	}
	for _, v := range h["Content-Encoding"] {
		if !strings.EqualFold(strings.TrimSpace(v), "identity") {
			return ReasonContentEncoding, http.StatusUnsupportedMediaType
		}
	}
	if ct := h["Content-Type"]; len(ct) > 0 && !jsonUTF8(ct[0]) || len(ct) > 1 {
		return ReasonContentType, http.StatusUnsupportedMediaType
	}
	return "", 0
}

// jsonUTF8 reports whether a Content-Type is JSON in UTF-8: application/json,
// with no charset or charset=utf-8. The Bot Connector's own value is
// checked first, without parsing.
func jsonUTF8(ct string) bool {
	if strings.EqualFold(ct, "application/json; charset=utf-8") || strings.EqualFold(ct, "application/json") {
		return true
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return false
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return false
		}
	}
	return true
}

func deny(reason, detail string) model.Decision {
	return model.Decision{Verdict: model.VerdictDeny, Reason: reason, Detail: detail}
}

// forwardedProto is the X-Forwarded-Proto sent upstream: what the client
// used to reach us, or, when a trusted proxy forwarded the request, what it
// says the client used.
func forwardedProto(r *http.Request, viaTrustedProxy bool) string {
	if viaTrustedProxy {
		switch r.Header.Get("X-Forwarded-Proto") {
		case "https":
			return "https"
		case "http":
			return "http"
		}
	}
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// statusBodies are the rejection bodies: the status text and nothing else
// (botauth.md §6.11: no detail to the client).
var statusBodies = map[int][]byte{}

func init() {
	for _, c := range []int{400, 401, 403, 404, 405, 413, 415, 429, 502, 503} {
		statusBodies[c] = []byte(http.StatusText(c) + "\n")
	}
}

// refuse answers a request refused before its token was verified, and
// closes the connection: a client that has not authenticated keeps none.
// The read deadline passes at once, since net/http otherwise reads up to
// 256 KiB of an unread body after the handler, regardless of Connection:
// close, and a client that declared a body and sends none would hold the
// connection until the read timeout.
func (x *exchange) refuse(status int) {
	w := &x.rec
	w.Header().Set("Connection", "close")
	reject(w, status)
	if x.conn != nil {
		x.conn.SetReadDeadline(time.Now()) //nolint:errcheck // a closed connection has none to set
	}
}

// reject answers a request the gateway will not pass on.
func reject(w http.ResponseWriter, status int) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if b, ok := statusBodies[status]; ok {
		w.Write(b) //nolint:errcheck // the client may be gone; nothing to do
	}
}

// forwardHeaders are the request headers the bot receives, besides the
// gateway's own X-Forwarded-For, X-Forwarded-Proto and X-Forwarded-Host:
// what the Bot Connector sends with an activity, and tracing. Every other
// header a client sends stops at the gateway — X-Original-URL,
// X-Rewrite-URL, X-HTTP-Method-Override, X-MS-CLIENT-PRINCIPAL*,
// X-Forwarded-Prefix/Port/Server/Ssl/Scheme, Client-IP, CF-Connecting-IP,
// X-Cluster-Client-IP, X-Original-Host and the like, which web frameworks
// that trust a proxy on loopback act on. docs/gateway.md lists them.
var forwardHeaders = map[string]bool{
	"Authorization":        true,
	"Content-Type":         true,
	"Content-Length":       true,
	"User-Agent":           true,
	"Accept":               true,
	"Accept-Encoding":      true,
	"Accept-Language":      true,
	"X-Ms-Conversation-Id": true, // Bot Framework: the conversation, for affinity
	"Ms-Cv":                true, // Microsoft's correlation vector
	"Traceparent":          true, // W3C Trace Context
	"Tracestate":           true,
	"Request-Id":           true, // Application Insights
	"Request-Context":      true,
}

// newProxy returns the reverse proxy bound to one upstream. Rewrite (never
// Director, gateway-anchors.md §4) runs after hop-by-hop headers and every
// inbound Forwarded / X-Forwarded-* header are removed; it keeps only the
// headers of forwardHeaders and sets the gateway's own.
func (g *Gateway) newProxy(st *state, up *upstream, transport http.RoundTripper) *httputil.ReverseProxy {
	target := up.url
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			h := pr.Out.Header
			for k := range h {
				if !forwardHeaders[k] {
					delete(h, k)
				}
			}
			h["X-Forwarded-For"] = pr.In.Header["X-Forwarded-For"]
			h["X-Forwarded-Proto"] = pr.In.Header["X-Forwarded-Proto"]
			// The request target was origin-form (served): Host is the
			// header the client sent to reach this gateway.
			if pr.In.Host != "" {
				h["X-Forwarded-Host"] = []string{pr.In.Host}
			}
		},
		Transport:  transport,
		BufferPool: g.buffers,
		ErrorLog:   slog.NewLogLogger(g.log.Handler(), slog.LevelDebug),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if rec, ok := w.(*recorder); ok && rec.x != nil {
				rec.x.proxyErr = err
			}
			if !errors.Is(err, context.Canceled) {
				st.pool.passiveFailure(up, err)
			}
			reject(w, http.StatusBadGateway)
		},
	}
}

// errBodyTooLarge is the body limit's error.
var errBodyTooLarge = errors.New("request body exceeds the limit")

// readBody reads r's body, refusing more than limit bytes (and a declared
// Content-Length over the limit before reading anything). The buffer grows
// as the data arrives, from at most bodyStart bytes: a client that declares
// a large body and sends one byte holds a small buffer. The body is a fresh
// slice: the reverse proxy's transport may still read it after the handler
// returns (see httputil.ReverseProxy), so it is never reused.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, errBodyTooLarge
	}
	size := int64(512)
	if r.ContentLength > 0 {
		size = min(r.ContentLength+1, bodyStart) // +1 to see EOF without growing
	}
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return nil, errBodyTooLarge
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// bodyStart is the most a body's buffer starts with: an activity is a few
// KiB, and larger ones grow it as they arrive.
const bodyStart = 16 << 10

// recorder remembers the status written through it.
type recorder struct {
	http.ResponseWriter
	status int
	x      *exchange // for the proxy's error handler
}

func (rw *recorder) WriteHeader(code int) {
	if rw.status == 0 && code >= 200 {
		rw.status = code
	}
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *recorder) Write(b []byte) (int, error) {
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	return rw.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (flushes of
// streamed upstream responses).
func (rw *recorder) Unwrap() http.ResponseWriter { return rw.ResponseWriter }

// logRequest writes the request's one log line. The token is never logged;
// the path is cut to keep lines bounded.
func (g *Gateway) logRequest(r *http.Request, x *exchange, d *model.Decision, dur time.Duration) {
	path := truncate(r.URL.Path, 256)
	if w := g.opts.RequestLog; w != nil {
		if !g.log.Enabled(r.Context(), slog.LevelInfo) {
			return
		}
		bp := jsonline.Buffer()
		*bp = appendRequestLine(*bp, g.now(), r.Method, path, x, d, peerString(r), dur)
		w.Write(*bp) //nolint:errcheck // as a log handler's failed write: nothing to tell
		jsonline.Release(bp)
		return
	}
	attrs := make([]slog.Attr, 0, 16)
	attrs = append(attrs,
		slog.String("method", r.Method),
		slog.String("path", path),
		slog.Int("status", x.rec.status),
		slog.String("client", x.clientS),
		slog.String("peer", peerString(r)),
		slog.String("decision", d.Verdict.String()),
		slog.String("reason", d.Reason),
	)
	if d.RuleID != "" {
		attrs = append(attrs, slog.String("rule", d.RuleID))
	}
	if d.Detail != "" {
		// Details may quote the request (a property name of the body):
		// bounded like the path.
		attrs = append(attrs, slog.String("detail", truncate(d.Detail, 256)))
	}
	if x.src.Verdict == model.VerdictReport && d.Reason != x.src.Reason {
		attrs = append(attrs, slog.String("source_decision", x.src.Verdict.String()), slog.String("source_reason", x.src.Reason))
	}
	if x.appID != "" {
		attrs = append(attrs, slog.String("app_id", x.appID), slog.Bool("token_cached", x.cached))
	}
	if x.up != nil {
		attrs = append(attrs, slog.String("group", x.group), slog.String("upstream", x.up.name))
	}
	attrs = append(attrs, slog.Float64("duration_ms", float64(dur.Microseconds())/1000))
	g.log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
}

// appendRequestLine appends the request line as slog's JSON handler
// writes logRequest's attributes (TestRequestLineShape compares them).
func appendRequestLine(b []byte, t time.Time, method, path string, x *exchange, d *model.Decision, peer string, dur time.Duration) []byte {
	b = jsonline.Start(b, t, "INFO", "request")
	b = jsonline.Field(b, "method", method)
	b = jsonline.Field(b, "path", path)
	b = jsonline.Int(b, "status", int64(x.rec.status))
	b = jsonline.Field(b, "client", x.clientS)
	b = jsonline.Field(b, "peer", peer)
	b = jsonline.Field(b, "decision", d.Verdict.String())
	b = jsonline.Field(b, "reason", d.Reason)
	if d.RuleID != "" {
		b = jsonline.Field(b, "rule", d.RuleID)
	}
	if d.Detail != "" {
		b = jsonline.Field(b, "detail", truncate(d.Detail, 256))
	}
	if x.src.Verdict == model.VerdictReport && d.Reason != x.src.Reason {
		b = jsonline.Field(b, "source_decision", x.src.Verdict.String())
		b = jsonline.Field(b, "source_reason", x.src.Reason)
	}
	if x.appID != "" {
		b = jsonline.Field(b, "app_id", x.appID)
		b = jsonline.Bool(b, "token_cached", x.cached)
	}
	if x.up != nil {
		b = jsonline.Field(b, "group", x.group)
		b = jsonline.Field(b, "upstream", x.up.name)
	}
	b = jsonline.Millis(b, "duration_ms", dur)
	return jsonline.End(b)
}

// truncate cuts s to at most n bytes, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// check applies the optional policies after a valid token: the serviceUrl
// host allow-list and the tenant allow-list. It returns the reason of a
// refusal, or "".
func (p *Policy) check(act botauth.Activity, body []byte) string {
	if len(p.ServiceURLHosts) > 0 {
		u, err := url.Parse(act.ServiceURL)
		if err != nil || u.Scheme != "https" || !hostAllowed(p.ServiceURLHosts, u.Hostname()) {
			return ReasonServiceURLHost
		}
	}
	if len(p.Tenants) > 0 {
		var a struct {
			ChannelData struct {
				Tenant struct {
					ID string `json:"id"`
				} `json:"tenant"`
			} `json:"channelData"`
		}
		if json.Unmarshal(body, &a) != nil || !slices.Contains(p.Tenants, strings.ToLower(a.ChannelData.Tenant.ID)) {
			return ReasonTenant
		}
	}
	return ""
}

func hostAllowed(hosts []model.Host, name string) bool {
	for _, h := range hosts {
		if h.Matches(name) {
			return true
		}
	}
	return false
}
