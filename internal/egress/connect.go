package egress

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/teamsgate/teamsgate/internal/egress/policy"
	"github.com/teamsgate/teamsgate/internal/model"
)

// serveHTTP is the proxy listener's handler: CONNECT tunnels,
// absolute-form HTTP requests, and GET /proxy.pac.
func (p *Proxy) serveHTTP(w http.ResponseWriter, r *http.Request) {
	st := p.state.Load()
	if c, _ := r.Context().Value(connKey{}).(*countedConn); c != nil {
		c.handled.Add(1)
	}
	rec := &record{start: p.now(), method: r.Method, client: r.RemoteAddr, target: r.RequestURI}
	ctx := r.Context()
	defer func() { p.finish(ctx, rec) }()

	if r.Method != http.MethodConnect && !strings.Contains(r.RequestURI, "://") {
		// origin-form: a request for the proxy itself
		if r.URL.Path == "/proxy.pac" && (r.Method == http.MethodGet || r.Method == http.MethodHead) && len(st.cfg.PAC) > 0 {
			rec.decision = model.Decision{Verdict: model.VerdictAllow, Reason: ReasonPAC}
			rec.status = http.StatusOK
			w.Header().Set("Content-Type", "application/x-ns-proxy-autoconfig")
			w.Header().Set("Cache-Control", "max-age=300")
			w.Header().Set("Content-Length", strconv.Itoa(len(st.cfg.PAC)))
			if r.Method == http.MethodGet {
				w.Write(st.cfg.PAC) //nolint:errcheck
			}
			return
		}
		p.refuse(w, rec, http.StatusBadRequest, model.Decision{Verdict: model.VerdictDeny, Reason: ReasonNotProxy,
			Detail: "this is a forward proxy: send CONNECT host:port, or an absolute URL (the proxy auto-config file is /proxy.pac)"})
		return
	}

	client, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		p.refuse(w, rec, http.StatusBadRequest, model.Decision{Verdict: model.VerdictDeny, Reason: ReasonUnknownClient, Detail: "no client address"})
		return
	}
	roles, ok := st.ids.of(client.Addr(), r.TLS)
	rec.roles = roles
	if !ok {
		p.refuse(w, rec, http.StatusForbidden, model.Decision{Verdict: model.VerdictDeny, Reason: ReasonUnknownClient,
			Detail: "the client is no role's (identity " + identityName(st.cfg.Identity) + ")"})
		return
	}
	if ok, wait := st.limiter.Allow(client.Addr(), p.now()); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait/time.Second)+1))
		p.refuse(w, rec, http.StatusTooManyRequests, model.Decision{Verdict: model.VerdictDeny, Reason: ReasonRateLimited})
		return
	}
	if p.open.Add(1) > int64(st.cfg.Limits.MaxTunnels) {
		p.open.Add(-1)
		p.refuse(w, rec, http.StatusServiceUnavailable, model.Decision{Verdict: model.VerdictDeny, Reason: ReasonOverloaded,
			Detail: fmt.Sprintf("%d tunnels open", st.cfg.Limits.MaxTunnels)})
		return
	}
	p.metrics.tunnels.Inc()
	defer func() {
		p.open.Add(-1)
		p.metrics.tunnels.Dec()
	}()

	var t policy.Target
	switch r.Method {
	case http.MethodConnect:
		t, err = policy.ParseConnect(r.RequestURI)
	default:
		t, err = policy.ParseAbsolute(r.RequestURI)
	}
	if err != nil {
		p.refuse(w, rec, http.StatusBadRequest, model.Decision{Verdict: model.VerdictDeny, Reason: string(policy.BadTarget), Detail: err.Error()})
		return
	}
	rec.target = targetString(t)
	v := st.allow.Check(t, roles)
	rec.decision = model.Decision{Verdict: model.VerdictAllow, Reason: string(v.Reason), RuleID: v.FlowID, Detail: v.Detail}
	if !v.Allowed() {
		rec.decision.Verdict = model.VerdictDeny
		if st.cfg.Mode != Report {
			p.refuse(w, rec, http.StatusForbidden, rec.decision)
			return
		}
		rec.decision.Verdict = model.VerdictReport
	}
	if r.Method != http.MethodConnect && st.cfg.TLSPorts.Contains(t.Port) && !st.cfg.AllowNonTLS {
		// a TLS port carries TLS, in a tunnel; plain HTTP to it is what
		// a tunnel with no ClientHello is
		d := model.Decision{Verdict: model.VerdictDeny, Reason: ReasonNotTLS, RuleID: rec.decision.RuleID,
			Detail: fmt.Sprintf("port %d is a TLS port: send CONNECT and TLS, not a plain HTTP request", t.Port)}
		if st.cfg.Mode != Report {
			p.refuse(w, rec, http.StatusForbidden, d)
			return
		}
		if rec.decision.Verdict == model.VerdictAllow {
			rec.decision = d
			rec.decision.Verdict = model.VerdictReport
		}
	}
	addrs, d, class := p.resolve(ctx, st, t)
	if d.Reason != "" {
		rec.class = class
		p.refuse(w, rec, statusOf(d.Reason), d)
		return
	}
	if r.Method == http.MethodConnect {
		p.tunnel(w, r, st, t, addrs, rec)
		return
	}
	p.forward(w, r, st, t, addrs, rec)
}

// refuse answers a refused request with its status and a short text body
// naming the reason, and records the decision.
func (p *Proxy) refuse(w http.ResponseWriter, rec *record, status int, d model.Decision) {
	rec.decision, rec.status = d, status
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Connection", "close")
	w.WriteHeader(status)
	msg := "teamsgate egress: refused (" + d.Reason + ")"
	if d.Detail != "" {
		msg += ": " + d.Detail
	}
	fmt.Fprintln(w, msg)
}

// statusOf is the HTTP status of a refusal after the policy allowed.
func statusOf(reason string) int {
	switch reason {
	case ReasonDNS, ReasonConnect:
		return http.StatusBadGateway
	}
	return http.StatusForbidden
}

func identityName(id Identity) string {
	switch id {
	case IdentitySource:
		return "source"
	case IdentityCertificate:
		return "certificate"
	}
	return "none"
}

func targetString(t policy.Target) string {
	h := t.Host
	if h == "" {
		h = t.Addr.String()
	}
	return net.JoinHostPort(h, strconv.Itoa(int(t.Port)))
}

// resolve returns the addresses to dial for t: its literal, or every
// answer for its name, each of which the classifier must accept (a name
// with one bad answer is refused whole: it is how DNS rebinding looks).
// The proxy then dials exactly these addresses, never the name.
func (p *Proxy) resolve(ctx context.Context, st *state, t policy.Target) ([]netip.AddrPort, model.Decision, string) {
	var ips []netip.Addr
	if t.Host == "" {
		ips = []netip.Addr{t.Addr}
	} else {
		var ok bool
		if ips, ok = st.dnsCache.get(t.Host, p.now()); !ok {
			dctx, cancel := context.WithTimeout(ctx, st.cfg.Limits.DNSTimeout)
			start := time.Now()
			found, err := st.resolver.LookupNetIP(dctx, "ip", t.Host)
			cancel()
			p.metrics.dns.Observe(time.Since(start).Seconds())
			if err != nil || len(found) == 0 {
				detail := "no address"
				if err != nil {
					detail = err.Error()
				}
				return nil, model.Decision{Verdict: model.VerdictDeny, Reason: ReasonDNS, Detail: detail}, ""
			}
			// Go's resolver gives the IPv4 entries of /etc/hosts in
			// their IPv4-mapped form (::ffff:a.b.c.d): an answer is
			// judged, and dialled, as the IPv4 address it carries, so
			// that the IPv4 ranges apply to it. A literal target in the
			// mapped form stays refused as such.
			for i := range found {
				found[i] = found[i].Unmap()
			}
			ips = found
			st.dnsCache.put(t.Host, found, p.now())
		}
	}
	out := make([]netip.AddrPort, 0, len(ips))
	for _, ip := range ips {
		ap := netip.AddrPortFrom(ip, t.Port)
		if ok, class := st.classifier.Check(ap); !ok {
			detail := fmt.Sprintf("%s resolves to %s (%s)", t.Host, ip, class)
			if t.Host == "" {
				detail = fmt.Sprintf("%s is a %s address", ip, class)
			}
			return nil, model.Decision{Verdict: model.VerdictDeny, Reason: string(policy.DeniedAddress),
				Detail: detail}, class
		}
		out = append(out, ap)
	}
	return out, model.Decision{}, ""
}

// dial connects to the first of addrs that answers, each within timeout.
// No TCP keep-alive: a tunnel's idle timeout ends a tunnel whose peer
// vanished, as it ends any idle one (Squid and HAProxy leave keep-alive off
// too), and the four socket options it takes are spared on every tunnel.
func dial(ctx context.Context, addrs []netip.AddrPort, timeout time.Duration) (net.Conn, netip.AddrPort, error) {
	d := net.Dialer{Timeout: timeout, KeepAlive: -1}
	var errs []error
	for _, a := range addrs {
		c, err := d.DialContext(ctx, "tcp", a.String())
		if err == nil {
			return c, a, nil
		}
		errs = append(errs, err)
	}
	return nil, netip.AddrPort{}, errors.Join(errs...)
}

// tunnel serves an allowed CONNECT: it dials the checked address, answers
// 200, checks the TLS server name on TLS ports, and copies both ways until
// either side closes or the tunnel is idle too long.
func (p *Proxy) tunnel(w http.ResponseWriter, r *http.Request, st *state, t policy.Target, addrs []netip.AddrPort, rec *record) {
	// The connect timeout bounds the dial, not the request's context: a
	// context derived from it costs a registration with the request's
	// on every tunnel, for a client that leaves within the connect
	// timeout, which is looked at once the dial is done.
	up, addr, err := dial(context.Background(), addrs, st.cfg.Limits.ConnectTimeout)
	if err != nil {
		p.refuse(w, rec, http.StatusBadGateway, model.Decision{Verdict: model.VerdictDeny, Reason: ReasonConnect, Detail: err.Error()})
		return
	}
	if err := r.Context().Err(); err != nil {
		up.Close()
		rec.decision = model.Decision{Verdict: model.VerdictDeny, Reason: ReasonConnect, Detail: "the client left during the connect"}
		return
	}
	rec.addr = addr.String()
	hj, ok := w.(http.Hijacker)
	if !ok {
		up.Close()
		p.refuse(w, rec, http.StatusInternalServerError, model.Decision{Verdict: model.VerdictDeny, Reason: ReasonConnect, Detail: "cannot take over the connection"})
		return
	}
	cc, buf, err := hj.Hijack()
	if err != nil {
		up.Close()
		rec.decision = model.Decision{Verdict: model.VerdictDeny, Reason: ReasonConnect, Detail: err.Error()}
		return
	}
	rec.status = http.StatusOK
	if _, err := io.WriteString(cc, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		cc.Close()
		up.Close()
		return
	}
	tn := &tunnel{client: cc, upstream: up}
	p.track(tn)
	defer p.untrack(tn)
	defer tn.close()

	// what the client already sent after its CONNECT (a ClientHello sent
	// without waiting for the 200) is in buf
	var first []byte
	if st.cfg.TLSPorts.Contains(t.Port) {
		sni, read, err := peekHello(buf.Reader, cc.SetReadDeadline, st.cfg.Limits.PeekTimeout)
		rec.sni = sni
		first = read
		if d, bad := sniDecision(t, sni, err, st.cfg.AllowNonTLS); bad {
			if st.cfg.Mode != Report || d.Reason == ReasonPeekFailed {
				rec.decision = d
				return
			}
			if rec.decision.Verdict == model.VerdictAllow {
				rec.decision = d
				rec.decision.Verdict = model.VerdictReport
			}
		}
	}
	if st.tenantIntercepts(t.Host) {
		rec.tenant = true
		rec.up, rec.down = p.intercept(r.Context(), st, tn, buf.Reader, first, t)
		return
	}
	rec.up, rec.down = tn.copy(buf.Reader, first)
}

// sniDecision judges a peeked ClientHello against the CONNECT target:
// bad is true when the tunnel must be refused (or, in report mode,
// reported).
func sniDecision(t policy.Target, sni string, err error, allowNonTLS bool) (model.Decision, bool) {
	switch {
	case errors.Is(err, errNotTLS):
		if allowNonTLS {
			return model.Decision{}, false
		}
		return model.Decision{Verdict: model.VerdictDeny, Reason: ReasonNotTLS,
			Detail: "the tunnel's port is a TLS port and the client did not start a TLS handshake"}, true
	case err != nil:
		return model.Decision{Verdict: model.VerdictDeny, Reason: ReasonPeekFailed, Detail: err.Error()}, true
	case t.Host == "":
		// an address target: clients send no server name for one
		return model.Decision{}, false
	case sni == "":
		return model.Decision{Verdict: model.VerdictDeny, Reason: ReasonSNIMissing,
			Detail: "the ClientHello names no server; the CONNECT named " + t.Host}, true
	case sni != t.Host:
		return model.Decision{Verdict: model.VerdictDeny, Reason: ReasonSNIMismatch,
			Detail: "the ClientHello names " + sni + "; the CONNECT named " + t.Host}, true
	}
	return model.Decision{}, false
}

// tunnel is one open CONNECT tunnel.
type tunnel struct {
	client, upstream net.Conn
	once             sync.Once
}

func (tn *tunnel) close() {
	tn.once.Do(func() {
		tn.client.Close()
		tn.upstream.Close()
	})
}

// copy carries the tunnel both ways: first the bytes already read from
// the client (pending in br, and first), then the two connections
// directly, which for TCP on both sides is splice(2) in the kernel, a pipe
// held only while bytes flow (relay): an idle tunnel holds its two
// sockets and nothing else.
func (tn *tunnel) copy(br *bufio.Reader, first []byte) (up, down int64) {
	if len(first) > 0 {
		n, err := tn.upstream.Write(first)
		up += int64(n)
		if err != nil {
			return up, 0
		}
	}
	if n := br.Buffered(); n > 0 {
		b, _ := br.Peek(n)
		m, err := tn.upstream.Write(b)
		up += int64(m)
		if err != nil {
			return up, 0
		}
	}
	src, dst := rawConn(tn.client), rawConn(tn.upstream)
	// The direction that ends first half-closes its destination, so that
	// the other side sees the end while the opposite direction runs on;
	// the one that ends second leaves it to tn.close, which follows at
	// once: shutdown(2) then close(2) would send the same FIN.
	var ended atomic.Int32
	done := make(chan int64, 1)
	go func() {
		n, _ := relay(src, dst)
		if ended.Add(1) == 1 {
			closeWrite(src)
		}
		done <- n
	}()
	n, _ := relay(dst, src)
	if ended.Add(1) == 1 {
		closeWrite(dst)
	}
	up += n
	down = <-done
	return up, down
}

// rawConn is the connection under the proxy's accounting wrapper, so that
// relay between two TCP connections reaches splice(2).
func rawConn(c net.Conn) net.Conn {
	if cc, ok := c.(*countedConn); ok {
		return cc.Conn
	}
	return c
}

// closeWrite half-closes c when it can, so that the other side sees the
// end of the stream while the opposite direction still runs.
func closeWrite(c net.Conn) {
	switch x := c.(type) {
	case *net.TCPConn:
		x.CloseWrite() //nolint:errcheck
	case *tls.Conn:
		x.CloseWrite() //nolint:errcheck
	default:
		c.Close()
	}
}

// track registers an open tunnel for the idle sweep and shutdown.
func (p *Proxy) track(t *tunnel) {
	p.tunMu.Lock()
	p.tunnels[t] = struct{}{}
	p.tunMu.Unlock()
}

func (p *Proxy) untrack(t *tunnel) {
	p.tunMu.Lock()
	delete(p.tunnels, t)
	p.tunMu.Unlock()
}

// closeTunnels closes every open tunnel (at the end of a shutdown).
func (p *Proxy) closeTunnels() {
	p.tunMu.Lock()
	ts := make([]*tunnel, 0, len(p.tunnels))
	for t := range p.tunnels {
		ts = append(ts, t)
	}
	p.tunMu.Unlock()
	for _, t := range ts {
		t.close()
	}
}

// sweepIdle closes tunnels that carried no byte either way for
// idle_timeout, looking every quarter of it (at most every 30 s).
func (p *Proxy) sweepIdle() {
	for {
		idle := p.state.Load().cfg.Limits.IdleTimeout
		every := min(max(idle/4, 10*time.Millisecond), 30*time.Second)
		select {
		case <-p.life.Done():
			return
		case <-time.After(every):
		}
		p.tunMu.Lock()
		var stale []*tunnel
		for t := range p.tunnels {
			d, ok := idleFor(rawConn(t.client))
			if !ok {
				if tc, isTLS := t.client.(*tls.Conn); isTLS {
					d, ok = idleFor(rawConn(tc.NetConn()))
				}
			}
			if ok && d >= idle {
				stale = append(stale, t)
			}
		}
		p.tunMu.Unlock()
		for _, t := range stale {
			p.metrics.idleClosed.Inc()
			t.close()
		}
	}
}
