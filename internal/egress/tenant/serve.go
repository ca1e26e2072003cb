package tenant

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// The limits of an intercepted tunnel. Deadlines are on the real clock,
// whatever Config.Now says: they are the network's.
const (
	// handshakeTimeout bounds each of the two TLS handshakes.
	handshakeTimeout = 30 * time.Second
	// idleTimeout is how long a kept-alive connection waits for the
	// client's next request: http.Transport's IdleConnTimeout default.
	idleTimeout = 90 * time.Second
	// headerTimeout bounds reading a request's header once its first byte
	// has arrived. Bodies have no deadline: a tunnel carrying nothing is
	// the proxy's to close (its idle_timeout).
	headerTimeout = 30 * time.Second
	// maxHeaderBytes caps a request's or a response's header, as net/http's
	// server does by default.
	maxHeaderBytes = http.DefaultMaxHeaderBytes
	// bodyGrace is how long the rest of a request body may take once its
	// response is complete (the sign-in host answered early) before the
	// connection is closed.
	bodyGrace = 5 * time.Second
	// lingerTime and lingerBytes bound how long and how much of the
	// client's unread input is discarded after a refusal, so that closing
	// with unread input does not reset the connection before the client
	// has read the refusal (net/http's server waits 500 ms the same way).
	lingerTime  = 500 * time.Millisecond
	lingerBytes = 1 << 20
)

// aLongTimeAgo is a deadline in the past, which interrupts a blocked read
// or write at once.
var aLongTimeAgo = time.Unix(1, 0)

var (
	// errHeaderTooLarge ends the read of a header over maxHeaderBytes.
	errHeaderTooLarge = errors.New("header larger than the limit")
	// errClientWrite: passing an interim response to the client failed.
	errClientWrite = errors.New("write to the client")
)

// Serve runs one intercepted tunnel. client is the client side of the
// CONNECT tunnel, after the proxy's 200 (any bytes the proxy already read
// come first from its Read); upstream is the TCP connection the proxy
// dialled to the checked address of host.
//
// Serve terminates TLS towards the client with a certificate for host
// issued from the CA, opens TLS on upstream to host verified against
// UpstreamRoots, and relays HTTP/1.1 requests and responses, bodies
// streamed, with Restrict-Access-To-Tenants and Restrict-Access-Context
// replaced on every request. Request trailers are dropped, so that no
// header can follow the replaced ones, and Upgrade is removed, so that the
// sign-in host answers in HTTP/1.1. When the handshake with the sign-in
// host fails, the client's first request is answered 502 Bad Gateway with
// the reason.
//
// up and down count the HTTP bytes carried client→upstream and
// upstream→client, as the relay wrote them (request and status lines,
// headers, bodies with their chunk framing, the interceptor's own
// refusals), not the TLS records. err is the first error that is not a
// clean close (the client or the sign-in host ending the connection
// between exchanges, or an idle keep-alive timing out), wrapping one of
// the package's Err values where one applies. Once ctx is done Serve
// closes both connections at once and returns the context's error; it
// closes them before it returns in any case.
func (i *Interceptor) Serve(ctx context.Context, client net.Conn, host string, upstream net.Conn) (up, down int64, err error) {
	r := &relay{i: i, host: host, client: client, upstream: upstream}
	stop := context.AfterFunc(ctx, func() {
		client.Close()
		upstream.Close()
	})
	err = r.run(ctx)
	if !stop() {
		err = fmt.Errorf("tunnel to %s: %w", host, context.Cause(ctx))
	}
	r.close()
	return r.up.Load(), r.down.Load(), err
}

// relay is one intercepted tunnel.
type relay struct {
	i                *Interceptor
	host             string
	client, upstream net.Conn // as Serve got them

	ctls, utls *tls.Conn
	cl, ul     *headerLimit // under cr and ur
	cr, ur     *bufio.Reader
	cw, uw     *bufio.Writer // to the client, to the sign-in host
	up, down   atomic.Int64
}

// close closes both connections, with a TLS close_notify where a
// handshake completed.
func (r *relay) close() {
	for _, c := range []struct {
		tc  *tls.Conn
		raw net.Conn
	}{{r.ctls, r.client}, {r.utls, r.upstream}} {
		if c.tc != nil {
			c.tc.Close()
		} else {
			c.raw.Close()
		}
	}
}

// run makes the two TLS connections and relays the exchanges.
func (r *relay) run(ctx context.Context) error {
	if !r.i.Intercepts(r.host) {
		return fmt.Errorf("%w: %q", ErrNotIntercepted, r.host)
	}
	r.ctls = tls.Server(r.client, r.i.servers[r.host])
	if err := handshake(ctx, r.ctls); err != nil {
		return fmt.Errorf("%w for %s: %w", ErrClientHandshake, r.host, err)
	}
	r.cl = &headerLimit{r: r.ctls, n: math.MaxInt64}
	r.cr = bufio.NewReader(r.cl)
	r.cw = bufio.NewWriter(&counter{w: r.ctls, n: &r.down})

	r.utls = tls.Client(r.upstream, r.i.clients[r.host])
	if err := handshake(ctx, r.utls); err != nil {
		herr := fmt.Errorf("%w: %s: %w", ErrUpstreamHandshake, r.host, err)
		if req, rerr := r.readRequest(); req != nil && rerr == nil {
			r.refuse(http.StatusBadGateway, "upstream-tls", fmt.Sprintf("the TLS handshake with %s failed: %v", r.host, err))
		}
		return herr
	}
	r.ul = &headerLimit{r: r.utls, n: math.MaxInt64}
	r.ur = bufio.NewReader(r.ul)
	r.uw = bufio.NewWriter(&counter{w: r.utls, n: &r.up})
	for {
		req, err := r.readRequest()
		if req == nil {
			return err
		}
		more, err := r.exchange(req)
		if !more || err != nil {
			return err
		}
	}
}

// handshake runs c's handshake within handshakeTimeout.
func handshake(ctx context.Context, c *tls.Conn) error {
	ctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	return c.HandshakeContext(ctx)
}

// readRequest reads the client's next request header, and checks it. It
// returns a nil request at a clean close, and a nil request with an error
// when it refused the request (answering the client if it could).
func (r *relay) readRequest() (*http.Request, error) {
	r.ctls.SetReadDeadline(time.Now().Add(idleTimeout))
	if _, err := r.cr.Peek(1); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isTimeout(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("read request: %w", err)
	}
	r.ctls.SetReadDeadline(time.Now().Add(headerTimeout))
	r.cl.n = maxHeaderBytes
	req, err := http.ReadRequest(r.cr)
	r.cl.n = math.MaxInt64
	if err != nil {
		switch {
		case errors.Is(err, errHeaderTooLarge):
			r.refuse(http.StatusRequestHeaderFieldsTooLarge, "header-too-large", fmt.Sprintf("the request header is over %d bytes", maxHeaderBytes))
		case isTimeout(err), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
			// the client stalled or left mid-header: nobody to answer
		default:
			r.refuse(http.StatusBadRequest, "bad-request", err.Error())
		}
		return nil, fmt.Errorf("%w: %w", ErrRequest, err)
	}
	r.ctls.SetReadDeadline(time.Time{})
	if status, reason, detail := r.check(req); status != 0 {
		r.refuse(status, reason, detail)
		return nil, fmt.Errorf("%w: %s", ErrRequest, detail)
	}
	return req, nil
}

// check returns the status, reason and detail of the refusal of req, or a
// zero status.
func (r *relay) check(req *http.Request) (status int, reason, detail string) {
	switch {
	case req.ProtoMajor != 1:
		return http.StatusHTTPVersionNotSupported, "http-version", fmt.Sprintf("%s is not relayed; the tunnel speaks HTTP/1.1", req.Proto)
	case req.Method == http.MethodConnect:
		return http.StatusMethodNotAllowed, "method-not-allowed", "CONNECT inside a tunnel to " + r.host
	case hostOnly(req.Host) != r.host:
		return http.StatusMisdirectedRequest, "misdirected", fmt.Sprintf("the request is for host %q in a tunnel to %q", req.Host, r.host)
	}
	return 0, "", ""
}

// hostOnly is the host of a Host header, normalised as the proxy
// normalises a CONNECT target.
func hostOnly(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// exchange relays one request and its response. The request is written to
// the sign-in host while the response is read, so that an interim
// response (100 Continue) reaches the client while it waits to send its
// body. more reports whether the connection carries another exchange.
func (r *relay) exchange(req *http.Request) (more bool, err error) {
	r.i.restriction.setHeaders(req.Header)
	dropUpgrade(req.Header)
	if _, ok := req.Header["User-Agent"]; !ok {
		req.Header["User-Agent"] = []string{""} // else Request.Write adds Go's own
	}
	req.Trailer = nil
	var body *flushBody
	if req.Body != nil && req.Body != http.NoBody {
		body = &flushBody{r: req.Body, src: r.cr, dst: r.uw}
		req.Body = body
	}
	wdone := make(chan error, 1)
	go func() {
		err := req.Write(bufWriter{r.uw})
		if err == nil {
			err = r.uw.Flush()
		}
		if err != nil && body != nil && body.err != nil {
			// the request reached the sign-in host cut short: stop
			// waiting for its answer
			r.upstream.SetReadDeadline(aLongTimeAgo)
		}
		wdone <- err
	}()

	resp, err := r.readResponse(req)
	if err != nil {
		switch {
		case errors.Is(err, io.EOF):
			// the sign-in host closed the connection: so does the relay,
			// and the client retries as it would with the host itself
			r.await(wdone, 0)
			return false, nil
		case errors.Is(err, errClientWrite):
			r.await(wdone, 0)
			return false, err
		}
		werr, _ := r.await(wdone, bodyGrace)
		if werr != nil {
			return false, fmt.Errorf("write request: %w", werr)
		}
		r.refuse(http.StatusBadGateway, "upstream-error", fmt.Sprintf("the response of %s cannot be relayed: %v", r.host, err))
		return false, fmt.Errorf("%w: %w", ErrResponse, err)
	}
	if !req.ProtoAtLeast(1, 1) {
		// an HTTP/1.0 client reads no chunks: the body ends at the close
		resp.TransferEncoding = nil
		resp.Close = true
	}
	if resp.Body != nil && resp.Body != http.NoBody {
		resp.Body = &flushBody{r: resp.Body, src: r.ur, dst: r.cw}
	}
	err = resp.Write(bufWriter{r.cw})
	if err == nil {
		err = r.cw.Flush()
	}
	if err != nil {
		r.await(wdone, 0)
		return false, fmt.Errorf("relay response: %w", err)
	}
	closing := req.Close || resp.Close
	wait := bodyGrace
	if closing {
		wait = 0
	}
	werr, cut := r.await(wdone, wait)
	switch {
	case closing || cut:
		return false, nil
	case werr != nil:
		return false, fmt.Errorf("write request: %w", werr)
	}
	return true, nil
}

// readResponse reads the sign-in host's response to req, passing interim
// (1xx) responses on to the client. It returns io.EOF when the host
// closed the connection before answering.
func (r *relay) readResponse(req *http.Request) (*http.Response, error) {
	for {
		if _, err := r.ur.Peek(1); err != nil {
			return nil, err
		}
		r.ul.n = maxHeaderBytes
		resp, err := http.ReadResponse(r.ur, req)
		r.ul.n = math.MaxInt64
		switch {
		case errors.Is(err, io.EOF):
			return nil, io.ErrUnexpectedEOF // mid-header, not a clean close
		case err != nil:
			return nil, err
		case resp.StatusCode == http.StatusSwitchingProtocols:
			return nil, errors.New("101 Switching Protocols to a request without Upgrade")
		case resp.StatusCode >= 200:
			return resp, nil
		}
		fmt.Fprintf(r.cw, "HTTP/%d.%d %s\r\n", resp.ProtoMajor, resp.ProtoMinor, resp.Status)
		resp.Header.Write(r.cw)
		io.WriteString(r.cw, "\r\n")
		if err := r.cw.Flush(); err != nil {
			return nil, fmt.Errorf("%w: interim response: %w", errClientWrite, err)
		}
	}
}

// await waits for the request writer of an exchange whose response is
// complete (or failed): up to wait, then it cuts the writer off (it is
// reading a body the client is still sending, or writing one the sign-in
// host no longer reads), and the connection must close. err is the
// writer's error if it ended by itself.
func (r *relay) await(wdone <-chan error, wait time.Duration) (err error, cut bool) {
	select {
	case err := <-wdone:
		return err, false
	default:
	}
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case err := <-wdone:
			return err, false
		case <-t.C:
		}
	}
	r.ctls.SetReadDeadline(aLongTimeAgo)
	r.utls.SetWriteDeadline(aLongTimeAgo)
	<-wdone
	return nil, true
}

// refuse answers the client with status and a short text naming the
// reason, in the proxy's words, and ends the connection: it half-closes
// the TLS stream, then reads and discards what the client still sends,
// for at most lingerTime and lingerBytes.
func (r *relay) refuse(status int, reason, detail string) {
	msg := "teamsgate egress: refused (" + reason + "): " + strings.ReplaceAll(detail, "\n", " ") + "\n"
	fmt.Fprintf(r.cw, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nCache-Control: no-store\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s",
		status, http.StatusText(status), len(msg), msg)
	if err := r.cw.Flush(); err != nil {
		return
	}
	r.ctls.CloseWrite()
	r.ctls.SetReadDeadline(time.Now().Add(lingerTime))
	io.CopyN(io.Discard, r.cr, lingerBytes)
}

// dropUpgrade removes Upgrade and the connection option naming it: the
// relay carries HTTP/1.1 only, and a server may ignore an Upgrade it is
// not sent (RFC 9110 §7.8).
func dropUpgrade(h http.Header) {
	if _, ok := h["Upgrade"]; !ok {
		return
	}
	h.Del("Upgrade")
	var keep []string
	for _, v := range h["Connection"] {
		for _, opt := range strings.Split(v, ",") {
			if opt = strings.TrimSpace(opt); opt != "" && !strings.EqualFold(opt, "upgrade") {
				keep = append(keep, opt)
			}
		}
	}
	if len(keep) == 0 {
		h.Del("Connection")
		return
	}
	h["Connection"] = []string{strings.Join(keep, ", ")}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// headerLimit is the reader under a connection's bufio.Reader: while a
// header is read n is maxHeaderBytes, and a header larger than that ends
// in errHeaderTooLarge rather than in memory.
type headerLimit struct {
	r io.Reader
	n int64
}

func (l *headerLimit) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errHeaderTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// counter counts the bytes written through it.
type counter struct {
	w io.Writer
	n *atomic.Int64
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// flushBody is a body relayed from src to dst: before a read that must
// wait for the network, it flushes what dst holds, so that a body
// streams rather than sitting in a buffer. Close does not drain the body:
// the relay reads it to its end or closes the connection. err is the
// first read error other than io.EOF.
type flushBody struct {
	r   io.ReadCloser
	src *bufio.Reader
	dst *bufio.Writer
	err error
}

func (b *flushBody) Read(p []byte) (int, error) {
	if b.src.Buffered() == 0 && b.dst.Buffered() > 0 {
		if err := b.dst.Flush(); err != nil {
			return 0, err
		}
	}
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

func (b *flushBody) Close() error { return nil }

// bufWriter is what Request.Write and Response.Write get of a
// connection's bufio.Writer: a Write and WriteByte (so that they add no
// buffer of their own) without ReadFrom. bufio.Writer.ReadFrom reads a
// body straight into its buffer, which a flushBody flushing that same
// buffer in the middle of the read would corrupt.
type bufWriter struct{ b *bufio.Writer }

func (w bufWriter) Write(p []byte) (int, error)       { return w.b.Write(p) }
func (w bufWriter) WriteByte(c byte) error            { return w.b.WriteByte(c) }
func (w bufWriter) WriteString(s string) (int, error) { return w.b.WriteString(s) }
