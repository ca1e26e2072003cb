package ingress

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rawUpstream is a TCP server whose every connection is handled by serve,
// so that tests control the bytes and the closing of each connection.
type rawUpstream struct {
	ln      net.Listener
	accepts atomic.Int32
	wg      sync.WaitGroup
}

func newRawUpstream(t *testing.T, serve func(n int, c net.Conn, br *bufio.Reader)) *rawUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &rawUpstream{ln: ln}
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := int(u.accepts.Add(1))
			u.wg.Add(1)
			go func() {
				defer u.wg.Done()
				defer c.Close()
				serve(n, c, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); u.wg.Wait() })
	return u
}

func (u *rawUpstream) url() *url.URL { return &url.URL{Scheme: "http", Host: u.ln.Addr().String()} }

// readReq reads one request and its body; false when the connection ended.
func readReq(br *bufio.Reader) (*http.Request, []byte, bool) {
	r, err := http.ReadRequest(br)
	if err != nil {
		return nil, nil, false
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, nil, false
	}
	return r, b, true
}

func okResponse(body string) string {
	return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
}

func testTransport(u *url.URL, tune ...func(*transportSettings)) *upstreamTransport {
	s := transportSettings{connectTimeout: 2 * time.Second, timeout: 5 * time.Second, maxIdle: 8}
	for _, f := range tune {
		f(&s)
	}
	return newUpstreamTransport(u, s, nil)
}

// send posts body through t and returns the answer's status and body.
func send(t *testing.T, tr http.RoundTripper, u *url.URL, body string) (int, string, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u.String()+"/api/messages", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil }
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return 0, "", err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b), err
}

// echo answers each request with its body, on one keep-alive connection.
func echo(_ int, c net.Conn, br *bufio.Reader) {
	for {
		r, b, ok := readReq(br)
		if !ok {
			return
		}
		fmt.Fprint(c, okResponse(r.Host+" "+string(b)))
	}
}

func TestTransportKeepsConnectionsAlive(t *testing.T) {
	up := newRawUpstream(t, echo)
	tr := testTransport(up.url())
	defer tr.Close()
	for i := range 50 {
		code, body, err := send(t, tr, up.url(), fmt.Sprint("activity ", i))
		if err != nil || code != 200 || body != fmt.Sprintf("%s activity %d", up.ln.Addr(), i) {
			t.Fatalf("request %d: %d %q %v", i, code, body, err)
		}
	}
	if n := up.accepts.Load(); n != 1 {
		t.Errorf("50 sequential requests used %d connections, want 1", n)
	}
	// Concurrent requests open at most one connection each, and the
	// connections are kept for the next ones.
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 8 {
				want := fmt.Sprintf("w%d-%d", w, i)
				if _, body, err := send(t, tr, up.url(), want); err != nil || !strings.HasSuffix(body, " "+want) {
					errs <- fmt.Errorf("%s: %q %v", want, body, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := up.accepts.Load(); n > 9 {
		t.Errorf("8 workers opened %d connections, want at most 9 in all", n)
	}
	if n := tr.idleCount(); n < 1 || n > 8 {
		t.Errorf("idle connections after the load: %d", n)
	}
}

// An upstream that closes an idle connection (its keep-alive timeout) is
// noticed before the connection is used again: the next request goes on a
// new connection and succeeds, with no error to the client.
func TestTransportNoticesClosedIdleConnection(t *testing.T) {
	up := newRawUpstream(t, func(_ int, c net.Conn, br *bufio.Reader) {
		if _, _, ok := readReq(br); ok {
			fmt.Fprint(c, okResponse("once"))
		}
		// return: the connection is closed with no Connection: close
	})
	tr := testTransport(up.url())
	defer tr.Close()
	for i := range 5 {
		code, body, err := send(t, tr, up.url(), "x")
		if err != nil || code != 200 || body != "once" {
			t.Fatalf("request %d: %d %q %v", i, code, body, err)
		}
		// Let the FIN arrive before the connection is reused.
		time.Sleep(20 * time.Millisecond)
	}
	if n := up.accepts.Load(); n != 5 {
		t.Errorf("connections = %d, want 5 (each closed by the upstream)", n)
	}
}

// Unsolicited bytes on an idle connection make it unusable.
func TestTransportDropsConnectionWithUnsolicitedBytes(t *testing.T) {
	up := newRawUpstream(t, func(n int, c net.Conn, br *bufio.Reader) {
		for {
			if _, _, ok := readReq(br); !ok {
				return
			}
			fmt.Fprint(c, okResponse(fmt.Sprint("conn ", n)))
			if n == 1 {
				time.Sleep(10 * time.Millisecond)
				fmt.Fprint(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale")
			}
		}
	})
	tr := testTransport(up.url())
	defer tr.Close()
	if _, body, err := send(t, tr, up.url(), "a"); err != nil || body != "conn 1" {
		t.Fatalf("first: %q %v", body, err)
	}
	time.Sleep(50 * time.Millisecond)
	if _, body, err := send(t, tr, up.url(), "b"); err != nil || body != "conn 2" {
		t.Fatalf("second: %q %v, want a new connection's answer", body, err)
	}
}

func TestTransportResponseFraming(t *testing.T) {
	up := newRawUpstream(t, func(_ int, c net.Conn, br *bufio.Reader) {
		for i := 0; ; i++ {
			if _, _, ok := readReq(br); !ok {
				return
			}
			switch i {
			case 0: // informational answers first, then a chunked one with a trailer
				fmt.Fprint(c, "HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n")
				fmt.Fprint(c, "HTTP/1.1 100 Continue\r\n\r\n")
				fmt.Fprint(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 11\r\n\r\n")
			case 1: // no body
				fmt.Fprint(c, "HTTP/1.1 204 No Content\r\n\r\n")
			case 2:
				fmt.Fprint(c, okResponse("third"))
			}
		}
	})
	tr := testTransport(up.url())
	defer tr.Close()
	req, _ := http.NewRequest(http.MethodPost, up.url().String()+"/", strings.NewReader("x"))
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "hello world" || resp.Trailer.Get("X-Sum") != "11" {
		t.Fatalf("chunked: %d %q trailer %v", resp.StatusCode, b, resp.Trailer)
	}
	if code, body, err := send(t, tr, up.url(), "y"); err != nil || code != 204 || body != "" {
		t.Fatalf("204: %d %q %v", code, body, err)
	}
	if code, body, err := send(t, tr, up.url(), "z"); err != nil || code != 200 || body != "third" {
		t.Fatalf("after 204: %d %q %v", code, body, err)
	}
	if n := up.accepts.Load(); n != 1 {
		t.Errorf("connections = %d, want 1 (all three answers are reusable)", n)
	}
}

func TestTransportConnectionNotReused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply string
		read  int // bytes of the body to read before Close; -1 all
	}{
		{"connection close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", -1},
		{"http/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", -1},
		{"body closed early", okResponse(strings.Repeat("x", 100000)), 10},
		{"body to end of stream", "HTTP/1.1 200 OK\r\n\r\nuntil close", -1},
		{"bytes after the response", okResponse("ok") + "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newRawUpstream(t, func(_ int, c net.Conn, br *bufio.Reader) {
				for {
					if _, _, ok := readReq(br); !ok {
						return
					}
					fmt.Fprint(c, tc.reply)
					if strings.HasSuffix(tc.reply, "until close") {
						return
					}
				}
			})
			tr := testTransport(up.url())
			defer tr.Close()
			for range 2 {
				req, _ := http.NewRequest(http.MethodPost, up.url().String()+"/", strings.NewReader("x"))
				resp, err := tr.RoundTrip(req)
				if err != nil {
					t.Fatal(err)
				}
				if tc.read < 0 {
					io.ReadAll(resp.Body)
				} else {
					io.ReadFull(resp.Body, make([]byte, tc.read))
				}
				resp.Body.Close()
			}
			if n := up.accepts.Load(); n != 2 {
				t.Errorf("connections = %d, want 2", n)
			}
			if n := tr.idleCount(); n != 0 {
				t.Errorf("idle = %d, want 0", n)
			}
		})
	}
}

// A client that goes away abandons the exchange at once; an upstream that
// does not answer is abandoned at the timeout.
func TestTransportCancelAndTimeout(t *testing.T) {
	hold := make(chan struct{})
	defer close(hold)
	up := newRawUpstream(t, func(_ int, c net.Conn, br *bufio.Reader) {
		readReq(br)
		<-hold
	})
	tr := testTransport(up.url(), func(s *transportSettings) { s.timeout = 300 * time.Millisecond })
	defer tr.Close()

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, up.url().String()+"/", strings.NewReader("x"))
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := tr.RoundTrip(req)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 250*time.Millisecond {
		t.Errorf("cancelled request returned after %v", d)
	}

	start = time.Now()
	_, _, err = send(t, tr, up.url(), "x")
	d := time.Since(start)
	if err == nil || errors.Is(err, context.Canceled) {
		t.Errorf("timeout: err = %v", err)
	}
	if d < 250*time.Millisecond || d > 2*time.Second {
		t.Errorf("timeout after %v, want about 300ms", d)
	}
}

// Cancelled while the body is being read: the read ends with the context's
// error and the connection is not reused.
func TestTransportCancelDuringBody(t *testing.T) {
	hold := make(chan struct{})
	defer close(hold)
	up := newRawUpstream(t, func(_ int, c net.Conn, br *bufio.Reader) {
		readReq(br)
		fmt.Fprint(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf")
		<-hold
	})
	tr := testTransport(up.url())
	defer tr.Close()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, up.url().String()+"/", strings.NewReader("x"))
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if n := tr.idleCount(); n != 0 {
		t.Errorf("idle = %d, want 0", n)
	}
}

func TestTransportRefusesUpgrade(t *testing.T) {
	up := newRawUpstream(t, func(_ int, c net.Conn, br *bufio.Reader) {
		readReq(br)
		fmt.Fprint(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	})
	tr := testTransport(up.url())
	defer tr.Close()
	if _, _, err := send(t, tr, up.url(), "x"); !errors.Is(err, errUpgradeRefused) {
		t.Errorf("err = %v, want %v", err, errUpgradeRefused)
	}
}

func TestTransportIdleLimitAndSweep(t *testing.T) {
	var closed atomic.Int32
	up := newRawUpstream(t, func(n int, c net.Conn, br *bufio.Reader) {
		defer closed.Add(1)
		for {
			if _, _, ok := readReq(br); !ok {
				return
			}
			time.Sleep(30 * time.Millisecond) // keep the requests concurrent
			fmt.Fprint(c, okResponse("ok"))
		}
	})
	tr := testTransport(up.url(), func(s *transportSettings) { s.maxIdle = 2; s.idleTimeout = 200 * time.Millisecond })
	defer tr.Close()
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() { defer wg.Done(); send(t, tr, up.url(), "x") }()
	}
	wg.Wait()
	if n := tr.idleCount(); n != 2 {
		t.Errorf("idle after 5 concurrent requests = %d, want the limit 2", n)
	}
	eventually(t, 2*time.Second, "idle connections swept", func() bool { return tr.idleCount() == 0 && closed.Load() == 5 })
}

// A retired transport (the configuration that owned it was replaced)
// still completes what is in flight and closes the connection afterwards.
func TestTransportClosedFinishesInFlight(t *testing.T) {
	release := make(chan struct{})
	up := newRawUpstream(t, func(_ int, c net.Conn, br *bufio.Reader) {
		for {
			if _, _, ok := readReq(br); !ok {
				return
			}
			<-release
			fmt.Fprint(c, okResponse("late"))
		}
	})
	tr := testTransport(up.url())
	done := make(chan string)
	go func() { _, body, err := send(t, tr, up.url(), "x"); done <- fmt.Sprint(body, err) }()
	time.Sleep(50 * time.Millisecond)
	tr.Close()
	close(release)
	if got := <-done; got != "late<nil>" {
		t.Fatalf("in-flight request: %s", got)
	}
	if n := tr.idleCount(); n != 0 {
		t.Errorf("idle after close = %d", n)
	}
	// Requests of a retired configuration still go through.
	if _, body, err := send(t, tr, up.url(), "y"); err != nil || body != "late" {
		t.Errorf("after close: %q %v", body, err)
	}
}

func TestTransportHTTPS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s", r.Proto, b)
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	s := transportSettings{connectTimeout: 2 * time.Second, timeout: 5 * time.Second, maxIdle: 4}
	tr := newUpstreamTransport(u, s, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12})
	defer tr.Close()
	for i := range 3 {
		if code, body, err := send(t, tr, u, fmt.Sprint(i)); err != nil || code != 200 || body != fmt.Sprintf("HTTP/1.1 %d", i) {
			t.Fatalf("request %d: %d %q %v", i, code, body, err)
		}
	}
	// Unknown roots: the handshake fails, nothing is sent.
	bad := newUpstreamTransport(u, s, &tls.Config{MinVersion: tls.VersionTLS12})
	defer bad.Close()
	if _, _, err := send(t, bad, u, "x"); err == nil || !strings.Contains(err.Error(), "tls handshake") {
		t.Errorf("unknown CA: err = %v", err)
	}
}

// A write that fails on a reused connection before the socket took any
// byte is retried once on a new connection; the upstream sees the request
// once.
func TestTransportRetriesUnsentRequest(t *testing.T) {
	var seen atomic.Int32
	up := newRawUpstream(t, func(_ int, c net.Conn, br *bufio.Reader) {
		for {
			_, b, ok := readReq(br)
			if !ok {
				return
			}
			seen.Add(1)
			fmt.Fprint(c, okResponse(string(b)))
		}
	})
	tr := testTransport(up.url())
	defer tr.Close()
	if _, _, err := send(t, tr, up.url(), "warm"); err != nil {
		t.Fatal(err)
	}
	// Break the idle connection on our side so that its write fails and
	// the liveness peek cannot tell (it sees our own closed descriptor as
	// an error only at the write).
	tr.mu.Lock()
	c := tr.idle[0]
	tr.mu.Unlock()
	c.peekFn = func(uintptr) bool { c.peekAlive = true; return true }
	c.bw.Reset(&c.cw)
	c.cw.w = failingWriter{}
	code, body, err := send(t, tr, up.url(), "retried")
	if err != nil || code != 200 || body != "retried" {
		t.Fatalf("%d %q %v", code, body, err)
	}
	if n := seen.Load(); n != 2 {
		t.Errorf("upstream saw %d requests, want 2 (warm-up and one retried)", n)
	}
	if n := up.accepts.Load(); n != 2 {
		t.Errorf("connections = %d, want 2", n)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

// The gateway's request as the bot receives it through the transport:
// what the reverse proxy sets, the body intact.
func TestTransportThroughReverseProxy(t *testing.T) {
	var got bytes.Buffer
	var mu sync.Mutex
	up := newRawUpstream(t, func(_ int, c net.Conn, br *bufio.Reader) {
		for {
			r, b, ok := readReq(br)
			if !ok {
				return
			}
			if r.Method != http.MethodPost { // a health check
				fmt.Fprint(c, okResponse("ok"))
				continue
			}
			mu.Lock()
			got.Reset()
			r.Header.Write(&got)
			fmt.Fprintf(&got, "body=%s", b)
			mu.Unlock()
			fmt.Fprint(c, okResponse("ok"))
		}
	})
	h := newHarness(t, withConfig(func(h *harness, c *Config) {
		c.Upstreams.Groups = []Group{{Name: "blue", URLs: []*url.URL{up.url()}}}
		c.Upstreams.Active = "blue"
	}))
	act := activity()
	// A protocol upgrade is refused: a bot endpoint takes POSTs.
	if resp, _ := h.post("Bearer "+h.token(), act, "Upgrade", "websocket", "Connection", "Upgrade"); resp.StatusCode != 400 {
		t.Errorf("upgrade request: %d, want 400", resp.StatusCode)
	}
	resp, body := h.post("Bearer "+h.token(), act, "Upgrade", "websocket", "X-Forwarded-For", "203.0.113.9")
	if resp.StatusCode != 200 || string(body) != "ok" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	mu.Lock()
	s := got.String()
	mu.Unlock()
	for _, want := range []string{"X-Forwarded-For: 127.0.0.1\r\n", "X-Forwarded-Proto: ", "body=" + string(act)} {
		if !strings.Contains(s, want) {
			t.Errorf("upstream request lacks %q:\n%s", want, s)
		}
	}
	for _, bad := range []string{"Upgrade", "203.0.113.9", "Connection"} {
		if strings.Contains(s, bad) {
			t.Errorf("upstream request carries %q:\n%s", bad, s)
		}
	}
	// Keep-alive: ten more requests, no new connection to the bot.
	for range 10 {
		if resp, body := h.post("Bearer "+h.token(), act); resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	}
	name := up.url().String()
	if v := h.metric(fmt.Sprintf("teamsgate_gateway_upstream_connections_opened_total{upstream=%q}", name)); v != "1" {
		t.Errorf("connections opened to the bot = %q, want 1", v)
	}
	if v := h.metric(fmt.Sprintf("teamsgate_gateway_upstream_idle_connections{upstream=%q}", name)); v != "1" {
		t.Errorf("idle connections to the bot = %q, want 1", v)
	}
}

// Bodies larger than the connection buffers go through whole, both ways,
// and the connection is reused after them.
func TestTransportLargeBodies(t *testing.T) {
	up := newRawUpstream(t, func(_ int, c net.Conn, br *bufio.Reader) {
		for {
			_, b, ok := readReq(br)
			if !ok {
				return
			}
			out := bytes.Repeat(b, 5)
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(out))
			c.Write(out)
		}
	})
	tr := testTransport(up.url())
	defer tr.Close()
	for i := range 3 {
		in := strings.Repeat(fmt.Sprintf("%07d", i), 256<<10/7)
		code, body, err := send(t, tr, up.url(), in)
		if err != nil || code != 200 || body != strings.Repeat(in, 5) {
			t.Fatalf("request %d: %d, %d bytes back for %d sent, %v", i, code, len(body), len(in), err)
		}
	}
	if n := up.accepts.Load(); n != 1 {
		t.Errorf("connections = %d, want 1", n)
	}
}

// FuzzUpstreamResponse: whatever bytes a broken or hostile bot answers
// with, the transport returns a response or an error within its deadline,
// a body read ends, nothing panics, and a connection goes back to the pool
// only after exactly one whole answer.
func FuzzUpstreamResponse(f *testing.F) {
	for _, seed := range []string{
		okResponse("ok"),
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"HTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		okResponse("a") + okResponse("b"),
		"HTTP/1.0 200 OK\r\n\r\nto the end",
		"garbage\r\n\r\n",
		"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, answer []byte) {
		client, server := net.Pipe()
		defer client.Close()
		tr := testTransport(&url.URL{Scheme: "http", Host: "bot.invalid:80"}, func(s *transportSettings) { s.timeout = 200 * time.Millisecond })
		defer tr.Close()
		c := &upConn{t: tr, nc: client}
		c.cw.w = client
		c.br = bufio.NewReaderSize(client, upstreamReadBufferSize)
		c.bw = bufio.NewWriterSize(&c.cw, upstreamWriteBufferSize)
		go func() {
			defer server.Close()
			server.SetDeadline(time.Now().Add(time.Second))
			if _, _, ok := readReq(bufio.NewReader(server)); ok {
				server.Write(answer)
			}
		}()
		req, _ := http.NewRequest(http.MethodPost, "http://bot.invalid/api/messages", strings.NewReader("x"))
		start := time.Now()
		resp, err := c.roundTrip(context.Background(), req)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("exchange took %v", d)
		}
		if n := tr.idleCount(); n > 1 {
			t.Fatalf("%d idle connections from one exchange", n)
		} else if n == 1 {
			if err != nil {
				t.Fatalf("connection pooled after an error: %v", err)
			}
			if c.br.Buffered() != 0 {
				t.Fatal("connection pooled with unread bytes")
			}
		}
	})
}

// Through the reverse proxy, which wraps every request body, a request
// whose body is in memory leaves in one write (head and body together); a
// streamed body still gets its head sent first, for an upstream that
// answers before the body ends.
func TestTransportOneWritePerRequest(t *testing.T) {
	heads := make(chan struct{}, 1)
	up := newRawUpstream(t, func(_ int, c net.Conn, br *bufio.Reader) {
		for {
			r, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			if r.Header.Get("X-Stream") != "" {
				heads <- struct{}{}
				io.Copy(io.Discard, r.Body)
				fmt.Fprint(c, okResponse("streamed"))
				continue
			}
			b, _ := io.ReadAll(r.Body)
			fmt.Fprint(c, okResponse(string(b)))
		}
	})
	tr := testTransport(up.url())
	defer tr.Close()
	target := up.url()
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target) }, Transport: tr}
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		rp.ServeHTTP(w, r)
	}))
	defer front.Close()
	for i := range 3 {
		resp, err := http.Post(front.URL+"/api/messages", "application/json", strings.NewReader(`{"n":`+fmt.Sprint(i)+`}`))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := `{"n":` + fmt.Sprint(i) + `}`; string(b) != want {
			t.Fatalf("answer %q, want %q", b, want)
		}
		tr.mu.Lock()
		if len(tr.idle) != 1 {
			tr.mu.Unlock()
			t.Fatalf("%d idle connections, want 1", len(tr.idle))
		}
		writes := tr.idle[0].cw.writes
		tr.mu.Unlock()
		if writes != 1 {
			t.Errorf("request %d took %d writes, want 1", i, writes)
		}
	}

	// A streamed body (no GetBody): its head leaves before the body is
	// complete, for an upstream that needs the head first.
	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodPost, target.String()+"/stream", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = 4
	req.Header.Set("X-Stream", "1")
	done := make(chan error, 1)
	go func() {
		resp, err := tr.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	select {
	case <-heads:
	case <-time.After(2 * time.Second):
		t.Error("a streamed body's head was held back until the body ended")
	}
	pw.Write([]byte("late"))
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
