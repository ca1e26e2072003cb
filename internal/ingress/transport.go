package ingress

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// upstreamTransport is the reverse proxy's transport to one upstream:
// HTTP/1.1 over a pool of keep-alive connections, each request written and
// its response read by the goroutine serving the request.
//
// http.Transport runs two goroutines per connection (a reader and a
// writer) and hands every request and response between them and the
// caller over channels; at a gateway's request rates those hand-offs, and
// the thread wake-ups behind them, cost more than the HTTP work itself.
// Here a request with its body in memory (the gateway's always is) costs
// one write (when it fits the 8 KiB buffer) and the reads of its response,
// with the parsing left to net/http (http.ReadResponse) and the wire format
// the standard library's: writeRequest writes what Request.Write would, or
// leaves the request to it.
//
// What http.Transport learns from its reader goroutine (the upstream closed
// an idle connection) is learned here just before reuse, by a
// non-blocking peek at the socket: a connection that has seen FIN, RST or
// unsolicited bytes is closed instead of used. A request whose write fails
// on a reused connection before the socket took any byte of it is retried
// once on a new connection; nothing else is retried (a POST is not
// idempotent).
//
// Not supported, by design of the gateway: protocol upgrades (101) and
// HTTP/2 to the upstream. 1xx informational answers are skipped.
type upstreamTransport struct {
	scheme      string // "http" or "https"
	host        string // host:port as dialled
	tls         *tls.Config
	dialer      net.Dialer
	timeout     time.Duration // whole exchange: request written, response read
	idleTimeout time.Duration
	maxIdle     int

	mu      sync.Mutex
	idle    []*upConn // a stack: the most recently used on top
	closed  bool
	sweeper *time.Timer
	now     func() time.Time // for tests
	dials   *atomic.Int64    // connections opened (a metric); may be nil
}

// upConn is one keep-alive connection to the upstream.
type upConn struct {
	t         *upstreamTransport
	nc        net.Conn        // the connection requests are written to (TLS or TCP)
	raw       syscall.RawConn // the TCP socket under it, for the liveness peek
	br        *bufio.Reader
	bw        *bufio.Writer
	cw        countingWriter
	idleSince time.Time
	reused    bool
	peekFn    func(fd uintptr) bool // c.peek, bound once (no closure per check)
	peekAlive bool
	peekBuf   [1]byte

	// The watch over the current exchange (see watch).
	client      *clientWatch // the client connection's, or nil
	interrupted atomic.Bool  // the client's connection failed during the exchange
	stopFn      func() bool  // c.unwatch, bound once
}

// watch makes the client's departure end the exchange about to start on c:
// the connection's deadline moves to the past, which wakes whatever read
// or write is blocked. It returns the function that ends the watch, which
// reports false when the departure came first (the deadline has moved and
// c must not be reused).
//
// A request the gateway serves carries its client connection in the
// context, and the connection's own watch (clientWatch) is used: a pointer
// stored and cleared per exchange. Any other context is watched with
// context.AfterFunc, which costs a registration with the context's parent
// (several allocations) on every request.
func (c *upConn) watch(ctx context.Context) func() bool {
	c.interrupted.Store(false)
	cw := clientWatchOf(ctx)
	if cw == nil {
		c.client = nil
		return context.AfterFunc(ctx, func() {
			c.interrupted.Store(true)
			c.nc.SetDeadline(aLongTimeAgo)
		})
	}
	c.client = cw
	cw.exchange.Store(c)
	if cw.gone.Load() || ctx.Err() != nil {
		cw.interrupt()
	}
	if c.stopFn == nil {
		c.stopFn = c.unwatch
	}
	return c.stopFn
}

// unwatch ends the client connection's watch over c's exchange.
func (c *upConn) unwatch() bool {
	return c.client.exchange.CompareAndSwap(c, nil)
}

// countingWriter counts the bytes the socket accepted, to tell a request
// that never left the gateway from one the upstream may have seen.
type countingWriter struct {
	w      io.Writer
	n      int64
	writes int // write calls, i.e. system calls: one per exchange is the aim
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.writes++
	return n, err
}

// heldWriter is a connection's buffered writer under a type that is not
// *bufio.Writer. Request.Write sends the request head on its own, before
// the body, unless it knows the body to be in memory (a stream's upstream
// may need the head first), and it cannot see through the reverse proxy's
// wrapper of the body: through a *bufio.Writer every proxied request would
// cost two writes and two packets. The gateway reads each body before
// forwarding it and gives it a GetBody; such a request, written through
// heldWriter, leaves head and body together when the buffer is flushed. A
// body without GetBody may be a stream and keeps the standard behaviour.
type heldWriter struct{ *bufio.Writer }

// transportSettings are the parts of a configuration a transport is built
// from; equal settings let a reload keep the transport and its connections.
type transportSettings struct {
	connectTimeout time.Duration
	timeout        time.Duration
	idleTimeout    time.Duration
	maxIdle        int
	roots          bool // a CA file is configured (its contents may change: never reused)
}

const (
	upstreamReadBufferSize  = 4 << 10
	upstreamWriteBufferSize = 8 << 10
	defaultUpstreamIdle     = 90 * time.Second
)

// newUpstreamTransport returns the transport to the upstream at u.
func newUpstreamTransport(u *url.URL, s transportSettings, tlsConf *tls.Config) *upstreamTransport {
	t := &upstreamTransport{
		scheme:      u.Scheme,
		host:        canonicalHostPort(u),
		dialer:      net.Dialer{Timeout: s.connectTimeout, KeepAlive: 30 * time.Second},
		timeout:     s.timeout,
		idleTimeout: s.idleTimeout,
		maxIdle:     s.maxIdle,
		now:         time.Now,
	}
	if t.idleTimeout <= 0 {
		t.idleTimeout = defaultUpstreamIdle
	}
	if t.maxIdle <= 0 {
		t.maxIdle = 64
	}
	if u.Scheme == "https" {
		c := tlsConf.Clone()
		if c == nil {
			c = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		if c.ServerName == "" {
			c.ServerName = u.Hostname()
		}
		c.NextProtos = []string{"http/1.1"}
		t.tls = c
	}
	return t
}

// canonicalHostPort is u's host with the scheme's port when it names none.
func canonicalHostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "https" {
		return net.JoinHostPort(u.Hostname(), "443")
	}
	return net.JoinHostPort(u.Hostname(), "80")
}

// errUpgradeRefused is the transport's answer to a 101 from the upstream.
var errUpgradeRefused = errors.New("upstream switched protocols; the gateway does not forward upgrades")

// aLongTimeAgo is a deadline that has passed: setting it interrupts a
// blocked read or write.
var aLongTimeAgo = time.Unix(1, 0)

// RoundTrip sends req on a pooled connection and returns the response,
// whose body returns the connection to the pool once read to the end.
func (t *upstreamTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL == nil || req.URL.Scheme != t.scheme {
		closeBody(req)
		return nil, fmt.Errorf("upstream transport for %s://%s: request for %v", t.scheme, t.host, req.URL)
	}
	ctx := req.Context()
	for attempt := 0; ; attempt++ {
		c, err := t.get(ctx)
		if err != nil {
			closeBody(req)
			return nil, err
		}
		resp, err := c.roundTrip(ctx, req)
		if err == nil {
			return resp, nil
		}
		c.close()
		if attempt == 0 && c.reused && c.cw.n == 0 && ctx.Err() == nil && errors.Is(err, errWriteFailed) && req.GetBody != nil {
			// The socket took no byte of the request: the upstream
			// cannot have seen it. Once more on a new connection.
			body, berr := req.GetBody()
			if berr == nil {
				req.Body = body
				continue
			}
		}
		return nil, err
	}
}

// errWriteFailed marks errors of the request write.
var errWriteFailed = errors.New("writing the request upstream")

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// roundTrip is one exchange on c. On error c is unusable; the caller
// closes it.
func (c *upConn) roundTrip(ctx context.Context, req *http.Request) (*http.Response, error) {
	t := c.t
	if t.timeout > 0 {
		c.nc.SetDeadline(t.now().Add(t.timeout))
	} else {
		c.nc.SetDeadline(time.Time{})
	}
	// A request whose client has gone is abandoned: the deadline in the
	// past wakes whatever read or write is blocked.
	stop := c.watch(ctx)
	c.cw.n, c.cw.writes = 0, 0
	var w io.Writer = c.bw
	if req.GetBody != nil {
		w = heldWriter{c.bw}
	}
	done, err := writeRequest(c.bw, req)
	if !done {
		err = req.Write(w)
	}
	if err == nil {
		err = c.bw.Flush()
	}
	if err != nil {
		stop()
		return nil, c.exchangeError(ctx, fmt.Errorf("%w: %w", errWriteFailed, err))
	}
	var resp *http.Response
	for {
		resp, err = http.ReadResponse(c.br, req)
		if err != nil {
			stop()
			return nil, c.exchangeError(ctx, fmt.Errorf("reading the upstream response: %w", err))
		}
		if resp.StatusCode == http.StatusSwitchingProtocols {
			stop()
			return nil, errUpgradeRefused
		}
		if resp.StatusCode >= 200 {
			break
		}
		// 100 Continue, 102, 103 Early Hints: informational, no body.
	}
	keep := !resp.Close && !req.Close
	if resp.Body == http.NoBody || resp.Body == nil {
		// A cancellation that fired meanwhile moves the deadline of this
		// connection at some point: it must not serve another request.
		if !stop() {
			keep = false
		}
		c.release(keep)
		return resp, nil
	}
	resp.Body = &upBody{c: c, rc: resp.Body, stop: stop, ctx: ctx, keep: keep}
	return resp, nil
}

// exchangeError is err, or the context's error when the client went away
// (the reverse proxy tells a gone client from a failed upstream by it).
func (c *upConn) exchangeError(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%w (%v)", cerr, err)
	}
	if c.interrupted.Load() {
		// The client's connection failed; net/http cancels the request's
		// context just after.
		return fmt.Errorf("%w (the client's connection ended: %v)", context.Canceled, err)
	}
	return err
}

// upBody is a response body on a pooled connection.
type upBody struct {
	c    *upConn
	rc   io.ReadCloser
	stop func() bool
	ctx  context.Context
	keep bool
	done bool
}

func (b *upBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.rc.Read(p)
	switch {
	case err == io.EOF:
		b.finish(b.keep)
	case err != nil:
		b.finish(false)
		err = b.c.exchangeError(b.ctx, err)
	}
	return n, err
}

// Close before the end of the body gives the connection up: what is left
// of the response would have to be read first.
func (b *upBody) Close() error {
	if !b.done {
		b.finish(false)
	}
	return nil
}

func (b *upBody) finish(keep bool) {
	b.done = true
	// A context cancelled after the body was read has moved the deadline:
	// such a connection is not reused.
	if !b.stop() {
		keep = false
	}
	b.c.release(keep)
}

// release returns c to the pool, or closes it.
func (c *upConn) release(keep bool) {
	if !keep || c.br.Buffered() > 0 {
		// Bytes after the response are a protocol error of the upstream.
		c.close()
		return
	}
	c.t.put(c)
}

func (c *upConn) close() { c.nc.Close() }

// get returns an idle connection that is still open, or a new one.
func (t *upstreamTransport) get(ctx context.Context) (*upConn, error) {
	now := t.now()
	t.mu.Lock()
	for n := len(t.idle); n > 0; n = len(t.idle) {
		c := t.idle[n-1]
		t.idle[n-1] = nil
		t.idle = t.idle[:n-1]
		t.mu.Unlock()
		if now.Sub(c.idleSince) < t.idleTimeout && c.alive() {
			c.reused = true
			return c, nil
		}
		c.close()
		t.mu.Lock()
	}
	t.mu.Unlock()
	// A closed transport still serves the requests of a configuration
	// being retired; their connections are closed after use (put).
	return t.dial(ctx)
}

// alive peeks at the idle socket without blocking: nothing to read means
// the upstream still holds the connection open; end of stream, a reset or
// unsolicited bytes mean it must not be used.
func (c *upConn) alive() bool {
	c.peekAlive = false
	if err := c.raw.Read(c.peekFn); err != nil {
		return false
	}
	return c.peekAlive
}

// peek is recvfrom(2) called directly: unix.Recvfrom allocates the
// sender's address on every call, once per proxied request here.
func (c *upConn) peek(fd uintptr) bool {
	_, _, errno := unix.Syscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&c.peekBuf[0])), 1,
		unix.MSG_PEEK|unix.MSG_DONTWAIT, 0, 0)
	c.peekAlive = errno == unix.EAGAIN
	return true // never wait
}

// put makes c idle, unless the pool is full or closed.
func (t *upstreamTransport) put(c *upConn) {
	c.idleSince = t.now()
	t.mu.Lock()
	if t.closed || len(t.idle) >= t.maxIdle {
		t.mu.Unlock()
		c.close()
		return
	}
	t.idle = append(t.idle, c)
	if t.sweeper == nil {
		t.sweeper = time.AfterFunc(t.idleTimeout, t.sweep)
	}
	t.mu.Unlock()
}

// sweep closes the connections idle for longer than the idle timeout. The
// stack is ordered by idleSince, oldest at the bottom.
func (t *upstreamTransport) sweep() {
	cutoff := t.now().Add(-t.idleTimeout)
	t.mu.Lock()
	n := 0
	for n < len(t.idle) && !t.idle[n].idleSince.After(cutoff) {
		n++
	}
	stale := make([]*upConn, n)
	copy(stale, t.idle[:n])
	rest := copy(t.idle, t.idle[n:])
	clear(t.idle[rest:])
	t.idle = t.idle[:rest]
	if len(t.idle) > 0 && !t.closed {
		t.sweeper.Reset(t.idle[0].idleSince.Add(t.idleTimeout).Sub(t.now()) + time.Millisecond)
	} else {
		t.sweeper = nil
	}
	t.mu.Unlock()
	for _, c := range stale {
		c.close()
	}
}

// idleCount is the number of idle connections (tests and metrics).
func (t *upstreamTransport) idleCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.idle)
}

// CloseIdleConnections closes the idle connections; the transport stays
// usable.
func (t *upstreamTransport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = nil
	t.mu.Unlock()
	for _, c := range idle {
		c.close()
	}
}

// Close closes the idle connections and makes every connection still in
// use, or opened later by a request of a retired configuration, close when
// its exchange ends.
func (t *upstreamTransport) Close() {
	t.mu.Lock()
	t.closed = true
	if t.sweeper != nil {
		t.sweeper.Stop()
		t.sweeper = nil
	}
	t.mu.Unlock()
	t.CloseIdleConnections()
}

// dial opens a new connection (TLS for https upstreams).
func (t *upstreamTransport) dial(ctx context.Context) (*upConn, error) {
	nc, err := t.dialer.DialContext(ctx, "tcp", t.host)
	if err != nil {
		return nil, err
	}
	tcp, ok := nc.(*net.TCPConn)
	if !ok {
		nc.Close()
		return nil, fmt.Errorf("dial %s: not a TCP connection", t.host)
	}
	raw, err := tcp.SyscallConn()
	if err != nil {
		nc.Close()
		return nil, err
	}
	if t.tls != nil {
		tc := tls.Client(nc, t.tls)
		hctx := ctx
		if t.dialer.Timeout > 0 {
			var cancel context.CancelFunc
			hctx, cancel = context.WithTimeout(ctx, t.dialer.Timeout)
			defer cancel()
		}
		if err := tc.HandshakeContext(hctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("tls handshake with %s: %w", t.host, err)
		}
		nc = tc
	}
	if t.dials != nil {
		t.dials.Add(1)
	}
	c := &upConn{t: t, nc: nc, raw: raw}
	c.cw.w = nc
	c.br = bufio.NewReaderSize(nc, upstreamReadBufferSize)
	c.bw = bufio.NewWriterSize(&c.cw, upstreamWriteBufferSize)
	c.peekFn = c.peek
	return c, nil
}

var _ http.RoundTripper = (*upstreamTransport)(nil)

// NewUpstreamTransport returns the gateway's upstream transport for the
// upstream at u with default settings, for tools that measure it against
// others (bench/gatewaybench).
func NewUpstreamTransport(u *url.URL) http.RoundTripper {
	return newUpstreamTransport(u, transportSettings{
		connectTimeout: DefaultConnectTimeout, timeout: DefaultWriteTimeout, maxIdle: 1024,
	}, nil)
}
