package ingress

import (
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
	n, err := c.Conn.Read(p)
	c.info.read.Add(int64(n))
	return n, err
}

func (c *trackedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.info.written.Add(int64(n))
	return n, err
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
