package ingress

import (
	"context"
	"crypto/tls"
	"hash/maphash"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Connection-level defences: caps on open connections, in all and per
// socket peer, so that no source can hold the file descriptors Teams needs;
// a short idle timeout for connections that have carried no request with a
// valid token; and an account of the requests the HTTP server refuses by
// itself (malformed, or headers over the limit), which never reach the
// handler.

// Connection refusal and server-level refusal reasons: stable labels.
const (
	ReasonMaxConns          = "max-conns"
	ReasonMaxConnsPerSource = "max-conns-per-source"
	// ReasonMalformedRequest: the HTTP server answered a request it could
	// not parse (400) before the gateway saw it.
	ReasonMalformedRequest = "malformed-request"
	// ReasonHeadersTooLarge: the HTTP server answered 431 to a request
	// whose headers passed max_header_bytes.
	ReasonHeadersTooLarge = "headers-too-large"
	// ReasonIncompleteRequest: the connection closed, or timed out, in the
	// middle of a request's headers.
	ReasonIncompleteRequest = "incomplete-request"
)

// sourceCounts counts what each source holds at once: open connections,
// or requests in the handler. An entry lives only while its count is above
// zero, so its memory follows what is held, which the global caps bound,
// not how many sources were ever seen.
type sourceCounts struct {
	seed   maphash.Seed
	shards [16]countShard
}

type countShard struct {
	mu sync.Mutex
	m  map[netip.Addr]int32
	_  [48]byte // keep shards on separate cache lines
}

func newSourceCounts() *sourceCounts {
	c := &sourceCounts{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].m = map[netip.Addr]int32{}
	}
	return c
}

func (c *sourceCounts) shard(a netip.Addr) *countShard {
	return &c.shards[maphash.Comparable(c.seed, a)%uint64(len(c.shards))]
}

// acquire takes one for a unless it already holds limit.
func (c *sourceCounts) acquire(a netip.Addr, limit int) bool {
	s := c.shard(a)
	s.mu.Lock()
	n := s.m[a]
	if int(n) >= limit {
		s.mu.Unlock()
		return false
	}
	s.m[a] = n + 1
	s.mu.Unlock()
	return true
}

// release gives back one that acquire took for a.
func (c *sourceCounts) release(a netip.Addr) {
	s := c.shard(a)
	s.mu.Lock()
	if n := s.m[a] - 1; n > 0 {
		s.m[a] = n
	} else {
		delete(s.m, a)
	}
	s.mu.Unlock()
}

// limitListener refuses, by closing them at once, the connections over
// the global cap or over the per-peer cap of a peer that is not a trusted
// proxy (a load balancer carries many clients). It wraps the raw TCP
// listener, under PROXY protocol and TLS, so a refused connection costs no
// handshake.
type limitListener struct {
	net.Listener
	g     *Gateway
	open  atomic.Int64
	peers *sourceCounts
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		st := l.g.state.Load()
		lim := st.cfg.Limits
		peer := addrOf(c.RemoteAddr())
		if l.open.Add(1) > int64(lim.MaxConns) {
			l.open.Add(-1)
			l.g.connRefused(peer, ReasonMaxConns)
			c.Close()
			continue
		}
		counted := !contains(st.sources.trusted, peer)
		if counted && !l.peers.acquire(peer, lim.MaxConnsPerSource) {
			l.open.Add(-1)
			l.g.connRefused(peer, ReasonMaxConnsPerSource)
			c.Close()
			continue
		}
		return &trackedConn{Conn: c, l: l, peer: peer, counted: counted, info: &connInfo{}}, nil
	}
}

func addrOf(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap.Addr().Unmap()
}

// trackedConn is an accepted connection: it gives its place back when it
// closes, and counts what it reads and writes for the account of
// server-level refusals.
type trackedConn struct {
	net.Conn
	l       *limitListener
	peer    netip.Addr
	counted bool
	once    sync.Once
	info    *connInfo
}

func (c *trackedConn) Read(p []byte) (int, error) {
	if c.info.bodyDeadline.Load() > 0 {
		c.info.applyBodyDeadline(c.Conn)
	}
	n, err := c.Conn.Read(p)
	c.info.read.Add(int64(n))
	if err != nil {
		c.info.watch.failed(err)
	}
	return n, err
}

func (c *trackedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.info.written.Add(int64(n))
	if err != nil {
		c.info.watch.failed(err)
	}
	return n, err
}

// applyBodyDeadline sets the pending body deadline on c, the socket.
func (i *connInfo) applyBodyDeadline(c net.Conn) {
	i.dlMu.Lock()
	if d := i.bodyDeadline.Load(); d > 0 && i.bodyDeadline.CompareAndSwap(d, -1) {
		c.SetReadDeadline(time.Unix(0, d)) //nolint:errcheck // a closed connection has none to set
	}
	i.dlMu.Unlock()
}

// endBodyDeadline ends the body deadline d. It reports whether the deadline
// was never set on the socket; when it was, it has been set by the time
// endBodyDeadline returns, and the caller moves it.
func (i *connInfo) endBodyDeadline(d int64) bool {
	if i.bodyDeadline.CompareAndSwap(d, 0) {
		return true
	}
	i.dlMu.Lock()
	i.bodyDeadline.Store(0)
	i.dlMu.Unlock()
	return false
}

// clientWatch lets a failure of the client's connection end the upstream
// exchange of the request in progress on it, as the cancellation of the
// request's context would: net/http cancels that context when a read of the
// connection fails (its read in the background, while the handler runs,
// sees the client close or reset the connection) or a write of the
// response fails, and every such read and write passes through the
// trackedConn first. HTTP/1.1 serves one request at a time on a
// connection, so one slot holds the exchange. Plain connections only (see
// clientWatchOf).
type clientWatch struct {
	// gone: a read or write failed other than by a deadline (the
	// connection is finished).
	gone atomic.Bool
	// exchange is the upstream connection of the exchange in progress.
	exchange atomic.Pointer[upConn]
}

// failed records a failed read or write and ends the exchange in progress.
// A deadline is not the connection's end: net/http moves the read deadline
// to the past to stop its read in the background after each request, and
// serves the next one. It does so only once the handler has returned, with
// no exchange in progress; an exchange that meets a read deadline passing
// while it runs (read_timeout) ends, as net/http then cancels the request.
func (w *clientWatch) failed(err error) {
	if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		w.gone.Store(true)
	}
	w.interrupt()
}

// interrupt ends the exchange in progress, if any.
func (w *clientWatch) interrupt() {
	if c := w.exchange.Swap(nil); c != nil {
		c.interrupted.Store(true)
		c.nc.SetDeadline(aLongTimeAgo) //nolint:errcheck // a closed connection is interrupted already
	}
}

// clientWatchOf returns the watch of the client connection a request's
// context carries (connContext), or nil. A TLS connection has none: a
// client closing its TLS session (close_notify) ends it for net/http
// without any failed read of the socket — the socket's end of stream is
// never read — so only the request's context tells.
func clientWatchOf(ctx context.Context) *clientWatch {
	c, _ := ctx.Value(connKey{}).(net.Conn)
	if c == nil {
		return nil
	}
	if _, ok := c.(*tls.Conn); ok {
		return nil
	}
	if info := infoOf(c); info != nil {
		return &info.watch
	}
	return nil
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.l.open.Add(-1)
		if c.counted {
			c.l.peers.release(c.peer)
		}
	})
	return c.Conn.Close()
}

// connInfo is what the gateway knows of one connection across its
// requests.
type connInfo struct {
	// authed is set once a request on the connection carried a valid
	// token; until then an idle connection is closed after
	// UnauthIdleTimeout.
	authed atomic.Bool
	// handled counts the requests that reached the handler.
	handled atomic.Int64
	// read and written count the bytes of the raw connection.
	read, written atomic.Int64
	// watch ends an upstream exchange when the connection fails.
	watch clientWatch
	// bodyDeadline is the read deadline of the body being read (Unix
	// nanoseconds), set on the socket by the first read of the socket
	// that needs it (-1 once set), or 0. dlMu orders setting it with its
	// end.
	bodyDeadline atomic.Int64
	dlMu         sync.Mutex
	// The client address of the connection's last request, its text and
	// the X-Forwarded-For value made of it, reused while the client stays
	// the same. Only the handler uses them, one request at a time.
	lastClient  netip.Addr
	lastClientS string
	lastXFF     []string

	mu sync.Mutex
	// at the start of the current request: what had been handled and
	// written (at StateActive) and read (when the connection was new or
	// idle).
	activeHandled, activeRead, activeWritten int64
	active                                   bool
	activeSince                              time.Time
	idle                                     *time.Timer
}

// infoOf finds the connInfo under the connection http.Server holds (TLS,
// PROXY protocol and the fresh-connection count wrap the tracked one).
func infoOf(c net.Conn) *connInfo {
	for c != nil {
		switch x := c.(type) {
		case *trackedConn:
			return x.info
		case *tls.Conn:
			c = x.NetConn()
		case *proxyConn:
			c = x.Conn
		default:
			return nil
		}
	}
	return nil
}

// trackState follows a connection's states for the idle timer of
// unauthenticated connections and the account of server-level refusals.
func (g *Gateway) trackState(c net.Conn, s http.ConnState) {
	info := infoOf(c)
	if info == nil {
		return
	}
	info.mu.Lock()
	defer info.mu.Unlock()
	if info.idle != nil {
		info.idle.Stop()
		info.idle = nil
	}
	switch s {
	case http.StateNew:
		info.activeRead = info.read.Load()
	case http.StateActive:
		// net/http sets StateActive once it has read a request (or failed
		// to): the bytes of the request count from the state before.
		info.active = true
		info.activeSince = g.now()
		info.activeHandled, info.activeWritten = info.handled.Load(), info.written.Load()
	case http.StateIdle:
		info.active = false
		info.activeRead = info.read.Load()
		if !info.authed.Load() {
			d := g.state.Load().cfg.Limits.UnauthIdleTimeout
			info.idle = time.AfterFunc(d, func() { c.Close() })
		}
	case http.StateClosed, http.StateHijacked:
		if info.active && info.handled.Load() == info.activeHandled && s == http.StateClosed {
			// A request began and never reached the handler: the
			// server refused it (it wrote an answer), or the client
			// gave up or timed out in its headers.
			reason := ReasonIncompleteRequest
			if info.written.Load() > info.activeWritten {
				reason = ReasonMalformedRequest
				if info.read.Load()-info.activeRead > int64(g.running.Limits.MaxHeaderBytes) {
					reason = ReasonHeadersTooLarge
				}
			}
			g.serverRefused(c, reason, g.now().Sub(info.activeSince))
		}
		info.active = false
	}
}

// connRefused counts and logs a connection closed at accept. Under a flood
// the log keeps to a few lines a second; the counter counts every one.
func (g *Gateway) connRefused(peer netip.Addr, reason string) {
	g.metrics.connRefused.WithLabelValues(reason).Inc()
	if g.eventLog.Allow() {
		g.log.Warn("connection refused", "peer", peer.String(), "reason", reason)
	}
}

// serverRefused counts and logs a request that ended before the handler:
// the peer and the reason, never the request's contents.
func (g *Gateway) serverRefused(c net.Conn, reason string, after time.Duration) {
	g.metrics.counter(denyVerdict, reason).Inc()
	if g.eventLog.Allow() {
		g.log.Warn("request refused by the HTTP server", "peer", c.RemoteAddr().String(), "reason", reason,
			"duration_ms", float64(after.Microseconds())/1000)
	}
}
