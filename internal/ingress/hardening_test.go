package ingress

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The findings of an attack on the gateway from loopback, each kept as a
// regression test. Loopback addresses stand for sources: 127.0.0.1 and
// 127.0.0.2 are admitted, 127.0.0.3 is not.

// dialFrom opens a TLS connection to the gateway from a local address.
func (h *harness) dialFrom(src string) *tls.Conn {
	h.t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", strings.TrimPrefix(h.base, "https://"), &tls.Config{RootCAs: h.ca.Pool(), ServerName: "localhost"})
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// clientFrom is an HTTP client whose connections come from src.
func (h *harness) clientFrom(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext:     d.DialContext,
		TLSClientConfig: &tls.Config{RootCAs: h.ca.Pool(), ServerName: "localhost"},
	}}
	h.t.Cleanup(c.CloseIdleConnections)
	return c
}

func (h *harness) postWith(c *http.Client, auth string, body []byte) int {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.base+"/api/messages", strings.NewReader(string(body)))
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	resp, err := c.Do(req)
	if err != nil {
		h.t.Errorf("POST: %v", err)
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// slowBody opens a connection from src and sends the headers of an
// activity POST declaring a 256 KiB body, then one byte of it, and leaves
// the connection open. It returns the connection.
func (h *harness) slowBody(src, auth string) net.Conn {
	c := h.dialFrom(src)
	fmt.Fprintf(c, "POST /api/messages HTTP/1.1\r\nHost: gateway\r\nAuthorization: %s\r\nContent-Type: application/json\r\nContent-Length: 262144\r\n\r\n{", auth)
	return c
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// TestSlowBodyTakesNoSlot: 200 connections that send the headers of an
// activity and one byte of its body, against a gateway of 100 slots. With a
// forged token they are refused before any body is read; with a genuine
// one, one source holds at most max_inflight_per_source slots, and for at
// most body_timeout. Valid requests from another source keep passing, and
// the memory held stays small. (Before: every slot taken for the read
// timeout, and 256 KiB allocated per connection for one byte.)
func TestSlowBodyTakesNoSlot(t *testing.T) {
	h := newHarness(t, withConfig(func(h *harness, c *Config) {
		c.Sources.Extra = ipset(t, "127.0.0.1/32", "127.0.0.2/32")
		c.Limits.MaxConcurrent = 100
		c.Limits.MaxInflightPerSource = 40
		c.Limits.BodyTimeout = time.Second
		c.Limits.MaxConnsPerSource = 1000
	}))
	good := h.clientFrom("127.0.0.2")
	if s := h.postWith(good, "Bearer "+h.token(), activity()); s != http.StatusOK {
		t.Fatalf("baseline: %d", s)
	}
	for _, tc := range []struct {
		name string
		auth string
	}{
		{name: "forged token", auth: "Bearer a.b.c"},
		{name: "genuine token", auth: "Bearer " + h.token()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := heapInUse()
			var conns []net.Conn
			for range 200 {
				conns = append(conns, h.slowBody("127.0.0.1", tc.auth))
			}
			defer func() {
				for _, c := range conns {
					c.Close()
				}
			}()
			time.Sleep(200 * time.Millisecond) // the attack is in place
			held := heapInUse() - min(heapInUse(), before)
			for i := range 20 {
				if s := h.postWith(good, "Bearer "+h.token(), activity()); s != http.StatusOK {
					t.Fatalf("valid request %d from another source during the attack: %d", i, s)
				}
			}
			if limit := uint64(16 << 20); held > limit {
				t.Errorf("the attack holds %d MiB of heap; want under %d MiB", held>>20, limit>>20)
			}
			// Every attacking connection ends by itself: refused at once
			// (forged), or at the body deadline (genuine).
			deadline := time.Now().Add(5 * time.Second)
			open := 0
			for _, c := range conns {
				c.SetReadDeadline(deadline)
				if _, err := io.ReadAll(c); err != nil {
					open++
				}
			}
			if open > 0 {
				t.Errorf("%d of %d attacking connections still open after 5 s", open, len(conns))
			}
		})
	}
}

// TestRefusalsCloseTheConnection: every refusal before the token is
// verified closes the connection.
func TestRefusalsCloseTheConnection(t *testing.T) {
	h := newHarness(t, withConfig(func(h *harness, c *Config) {
		c.Sources.Extra = ipset(t, "127.0.0.1/32")
		c.Limits.Rate, c.Limits.Burst = 1000, 1
	}))
	tests := []struct {
		name, src, request string
		status             int
	}{
		{name: "source outside the ranges", src: "127.0.0.3", request: "POST /api/messages HTTP/1.1\r\nHost: g\r\nContent-Length: 0\r\n\r\n", status: 403},
		{name: "not found", src: "127.0.0.1", request: "POST /other HTTP/1.1\r\nHost: g\r\nContent-Length: 0\r\n\r\n", status: 404},
		{name: "method", src: "127.0.0.1", request: "GET /api/messages HTTP/1.1\r\nHost: g\r\n\r\n", status: 405},
		{name: "no token", src: "127.0.0.1", request: "POST /api/messages HTTP/1.1\r\nHost: g\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}", status: 401},
		{name: "forged token", src: "127.0.0.1", request: "POST /api/messages HTTP/1.1\r\nHost: g\r\nAuthorization: Bearer a.b.c\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}", status: 401},
		{name: "bad connection header", src: "127.0.0.1", request: "POST /api/messages HTTP/1.1\r\nHost: g\r\nConnection: close, Authorization\r\nContent-Length: 0\r\n\r\n", status: 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			time.Sleep(5 * time.Millisecond) // a token back in the bucket
			c := h.dialFrom(tc.src)
			defer c.Close()
			io.WriteString(c, tc.request)
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || !resp.Close {
				t.Errorf("status %d, Connection close %v; want %d and close", resp.StatusCode, resp.Close, tc.status)
			}
			if _, err := c.Read(make([]byte, 1)); err == nil {
				t.Error("the connection stays open after the refusal")
			}
		})
	}
}

// TestConnectionCaps: one peer cannot hold more than max_conns_per_source
// connections, nor all peers more than max_conns; others still get in.
func TestConnectionCaps(t *testing.T) {
	h := newHarness(t, withConfig(func(h *harness, c *Config) {
		c.Sources.Extra = ipset(t, "127.0.0.1/32", "127.0.0.2/32")
		c.Limits.MaxConnsPerSource = 10
		c.Limits.MaxConns = 25
		// Connections that start no handshake stay for the test's time.
		c.Limits.ReadHeaderTimeout = 20 * time.Second
	}))
	addr := strings.TrimPrefix(h.base, "https://")
	dial := func(src string) net.Conn {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// stillOpen reports whether the gateway kept c: a refused one is
	// closed at once and reads EOF.
	stillOpen := func(c net.Conn) bool {
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		_, err := c.Read(make([]byte, 1))
		ne, ok := err.(net.Error)
		return ok && ne.Timeout()
	}
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	kept := 0
	for range 30 {
		c := dial("127.0.0.3")
		conns = append(conns, c)
		if stillOpen(c) {
			kept++
		}
	}
	if kept != 10 {
		t.Errorf("one peer kept %d connections; want max_conns_per_source, 10", kept)
	}
	if s := h.postWith(h.clientFrom("127.0.0.2"), "Bearer "+h.token(), activity()); s != http.StatusOK {
		t.Errorf("another source during the flood: %d", s)
	}
	for _, src := range []string{"127.0.0.4", "127.0.0.5"} {
		for range 10 {
			c := dial(src)
			conns = append(conns, c)
			stillOpen(c)
		}
	}
	eventually(t, 2*time.Second, "open connections at max_conns", func() bool { return h.g.limits.open.Load() <= 25 })
	if v := h.metric(`teamsgate_gateway_connections_refused_total{reason="max-conns-per-source"}`); v == "" || v == "0" {
		t.Errorf("refusals per source not counted: %q", v)
	}
	if v := h.metric(`teamsgate_gateway_connections_refused_total{reason="max-conns"}`); v == "" || v == "0" {
		t.Errorf("refusals at the global cap not counted: %q", v)
	}
	if !strings.Contains(h.logs.String(), `"msg":"connection refused","peer":"127.0.0.3","reason":"max-conns-per-source"`) {
		t.Errorf("refusal not logged:\n%s", h.logs.String())
	}
}

// TestUnauthenticatedIdleConnectionClosed: a kept-alive connection that has
// carried no request with a valid token is closed after
// unauth_idle_timeout; one that has stays for the idle timeout.
func TestUnauthenticatedIdleConnectionClosed(t *testing.T) {
	h := newHarness(t, withConfig(func(h *harness, c *Config) {
		c.Limits.UnauthIdleTimeout = 200 * time.Millisecond
	}))
	a, b := net.Pipe()
	defer b.Close()
	info := &connInfo{}
	c := &trackedConn{Conn: a, l: &limitListener{g: h.g, peers: newSourceCounts()}, info: info}
	h.g.trackState(c, http.StateActive)
	h.g.trackState(c, http.StateIdle)
	b.SetReadDeadline(time.Now().Add(2 * time.Second))
	start := time.Now()
	if _, err := b.Read(make([]byte, 1)); err == nil || time.Since(start) > time.Second {
		t.Errorf("unauthenticated idle connection: %v after %v; want closed after 200ms", err, time.Since(start))
	}

	a2, b2 := net.Pipe()
	defer b2.Close()
	info2 := &connInfo{}
	info2.authed.Store(true)
	c2 := &trackedConn{Conn: a2, l: c.l, info: info2}
	h.g.trackState(c2, http.StateActive)
	h.g.trackState(c2, http.StateIdle)
	b2.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := b2.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("an authenticated idle connection was closed: %v", err)
	}
	c2.Close()
}

// TestConnectionHeaderCannotStripHeaders: "Connection: close,
// Authorization, Content-Type" on a valid request would make the bot get
// the activity without the headers the gateway checked.
func TestConnectionHeaderCannotStripHeaders(t *testing.T) {
	h := newHarness(t)
	resp, _ := h.post("Bearer "+h.token(), activity(), "Connection", "close, Authorization, Content-Type")
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("status %d, want 400", resp.StatusCode)
	}
	if n := h.bots["blue-1"].Requests(); n != 0 {
		t.Errorf("the bot got %d requests", n)
	}
	resp, _ = h.post("Bearer "+h.token(), activity(), "Connection", "keep-alive")
	if resp.StatusCode != http.StatusOK {
		t.Errorf("Connection: keep-alive: %d", resp.StatusCode)
	}
	last, _ := h.bots["blue-1"].Last()
	if last.Header.Get("Authorization") == "" || last.Header.Get("Content-Type") == "" {
		t.Errorf("the bot lost end-to-end headers: %v", last.Header)
	}
}

// TestForwardedHeaderAllowList: identity and URL-override headers a client
// sends never reach the bot; the Bot Connector's headers and the gateway's
// own forwarding headers do.
func TestForwardedHeaderAllowList(t *testing.T) {
	h := newHarness(t)
	evil := []string{
		"X-Forwarded-Prefix", "/admin", "X-Forwarded-Port", "1", "X-Forwarded-Server", "evil", "X-Forwarded-Ssl", "off",
		"X-Forwarded-Scheme", "http", "X-Original-Url", "/admin", "X-Rewrite-Url", "/admin", "X-Http-Method-Override", "DELETE",
		"X-Ms-Client-Principal", "e30=", "X-Ms-Client-Principal-Name", "admin", "X-Ms-Client-Principal-Id", "1",
		"Cf-Connecting-Ip", "1.2.3.4", "Client-Ip", "1.2.3.4", "X-Cluster-Client-Ip", "1.2.3.4", "X-Original-Host", "evil.example",
		"X-Real-Ip", "1.2.3.4", "True-Client-Ip", "1.2.3.4", "Forwarded", "for=1.2.3.4", "Cookie", "session=admin",
	}
	keep := []string{"Ms-Cv", "abc.1", "X-Ms-Conversation-Id", "19:x", "Traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
	resp, _ := h.post("Bearer "+h.token(), activity(), append(append([]string{}, evil...), keep...)...)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	last, _ := h.bots["blue-1"].Last()
	for i := 0; i < len(evil); i += 2 {
		if v := last.Header.Values(evil[i]); len(v) > 0 {
			t.Errorf("%s reached the bot: %v", evil[i], v)
		}
	}
	for i := 0; i < len(keep); i += 2 {
		if v := last.Header.Get(keep[i]); v != keep[i+1] {
			t.Errorf("%s = %q at the bot, want %q", keep[i], v, keep[i+1])
		}
	}
	if got := last.Header.Get("X-Forwarded-For"); got != "127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q", got)
	}
	if got := last.Header.Get("X-Forwarded-Host"); got != strings.TrimPrefix(h.base, "https://") {
		t.Errorf("X-Forwarded-Host = %q", got)
	}

	// A request in absolute form cannot choose X-Forwarded-Host.
	c := h.dialFrom("127.0.0.1")
	defer c.Close()
	body := string(activity())
	fmt.Fprintf(c, "POST http://evil.example/api/messages HTTP/1.1\r\nHost: evil.example\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", h.token(), len(body), body)
	resp2, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusNotFound {
		t.Errorf("absolute-form request: %d, want 404", resp2.StatusCode)
	}
}

// TestCanonicalPaths: a path is served only as written; without paths in
// the configuration, /api/messages only.
func TestCanonicalPaths(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		target string
		status int
	}{
		{"/api/messages", 200},
		{"/api%2fmessages", 404},
		{"/api/%6dessages", 404},
		{"/api/messages/", 404},
		{"/API/messages", 404},
		{"/other", 404},
		{"/api/messages?x=1", 200},
	} {
		c := h.dialFrom("127.0.0.1")
		body := string(activity())
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", tc.target, h.token(), len(body), body)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		c.Close()
		if err != nil {
			t.Fatalf("%s: %v", tc.target, err)
		}
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %d, want %d", tc.target, resp.StatusCode, tc.status)
		}
	}
	last, _ := h.bots["blue-1"].Last()
	if last.URL.Path != "/api/messages" {
		t.Errorf("the bot got path %q", last.URL.Path)
	}
}

// TestEncodings: a body the gateway checked as plain UTF-8 JSON is not
// forwarded under another encoding, and "OPTIONS *" is refused and logged,
// not answered by the server.
func TestEncodings(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		name string
		hdr  []string
		want int
	}{
		{name: "gzip", hdr: []string{"Content-Encoding", "gzip"}, want: 415},
		{name: "identity", hdr: []string{"Content-Encoding", "identity"}, want: 200},
		{name: "utf-16", hdr: []string{"Content-Type", "application/json; charset=utf-16"}, want: 415},
		{name: "text/plain", hdr: []string{"Content-Type", "text/plain"}, want: 415},
		{name: "utf-8, upper case", hdr: []string{"Content-Type", "application/json; charset=UTF-8"}, want: 200},
	} {
		req, _ := http.NewRequest(http.MethodPost, h.base+"/api/messages", strings.NewReader(string(activity())))
		req.Header.Set("Authorization", "Bearer "+h.token())
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(tc.hdr[0], tc.hdr[1])
		resp, _ := h.do(req)
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
	}
	c := h.dialFrom("127.0.0.1")
	defer c.Close()
	io.WriteString(c, "OPTIONS * HTTP/1.1\r\nHost: gateway\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Error("OPTIONS * answered 200")
	}
	eventually(t, 2*time.Second, "OPTIONS * logged", func() bool {
		return strings.Contains(h.logs.String(), `"method":"OPTIONS","path":"*"`)
	})
}

// TestServerRefusalsCounted: requests the HTTP server refuses before the
// handler (headers too large, malformed) are counted and logged, with the
// peer and no header contents.
func TestServerRefusalsCounted(t *testing.T) {
	h := newHarness(t, withConfig(func(h *harness, c *Config) { c.Limits.MaxHeaderBytes = 4096 }))
	send := func(raw string) {
		c := h.dialFrom("127.0.0.1")
		defer c.Close()
		io.WriteString(c, raw)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		io.ReadAll(c)
	}
	send("POST /api/messages HTTP/1.1\r\nHost: gateway\r\nX-Big: " + strings.Repeat("a", 20000) + "\r\n\r\n")
	send("GARBAGE LINE\r\n\r\n")
	eventually(t, 2*time.Second, "both counted", func() bool {
		return h.metric(`teamsgate_gateway_requests_total{decision="deny",reason="headers-too-large"}`) == "1" &&
			h.metric(`teamsgate_gateway_requests_total{decision="deny",reason="malformed-request"}`) == "1"
	})
	logs := h.logs.String()
	for _, r := range []string{ReasonHeadersTooLarge, ReasonMalformedRequest} {
		if !strings.Contains(logs, `"msg":"request refused by the HTTP server","peer":"127.0.0.1:`) || !strings.Contains(logs, `"reason":"`+r+`"`) {
			t.Errorf("%s not logged:\n%s", r, logs)
		}
	}
	if strings.Contains(logs, "aaaaaaaa") || strings.Contains(logs, "GARBAGE") {
		t.Error("the log holds the request's contents")
	}
}

// TestFrontDoorID: behind Azure Front Door, whose backend addresses every
// Front Door customer shares, a request through a trusted proxy must carry
// the operator's own Front Door id.
func TestFrontDoorID(t *testing.T) {
	const ours = "a5b7c8d9-0000-4000-8000-000000000001"
	h := newHarness(t, withConfig(func(h *harness, c *Config) {
		c.Sources.Extra = nil
		c.Sources.TrustedProxies = ipset(t, "127.0.0.1/32")
		c.Sources.FrontDoorIDs = []string{ours}
	}))
	teams := "52.112.0.10"
	for _, tc := range []struct {
		name string
		hdr  []string
		want int
	}{
		{name: "no id", hdr: []string{"X-Forwarded-For", teams}, want: 403},
		{name: "another Front Door", hdr: []string{"X-Forwarded-For", teams, "X-Azure-FDID", "a5b7c8d9-0000-4000-8000-000000000002"}, want: 403},
		{name: "two ids", hdr: []string{"X-Forwarded-For", teams, "X-Azure-FDID", ours, "X-Azure-FDID", ours}, want: 403},
		{name: "ours", hdr: []string{"X-Forwarded-For", teams, "X-Azure-FDID", ours}, want: 200},
		{name: "ours, upper case", hdr: []string{"X-Forwarded-For", teams, "X-Azure-FDID", strings.ToUpper(ours)}, want: 200},
	} {
		resp, _ := h.post("Bearer "+h.token(), activity(), tc.hdr...)
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
	}
	if v := h.metric(`teamsgate_gateway_requests_total{decision="deny",reason="front-door-id"}`); v != "3" {
		t.Errorf("front-door-id refusals counted %q, want 3", v)
	}
}

// TestSourceBusy: one source cannot hold more than max_inflight_per_source
// requests in the gateway; another source can.
func TestSourceBusy(t *testing.T) {
	h := newHarness(t, withConfig(func(h *harness, c *Config) {
		c.Sources.Extra = ipset(t, "127.0.0.1/32", "127.0.0.2/32")
		c.Limits.MaxInflightPerSource = 3
	}))
	h.bots["blue-1"].SetDelay(time.Second)
	busy := h.clientFrom("127.0.0.1")
	var wg sync.WaitGroup
	var ok, refused atomic.Int32
	for range 8 {
		wg.Go(func() {
			switch h.postWith(busy, "Bearer "+h.token(), activity()) {
			case http.StatusOK:
				ok.Add(1)
			case http.StatusTooManyRequests:
				refused.Add(1)
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	other := h.postWith(h.clientFrom("127.0.0.2"), "Bearer "+h.token(), activity())
	wg.Wait()
	if ok.Load() != 3 || refused.Load() != 5 {
		t.Errorf("from one source: %d passed, %d refused; want 3 and 5", ok.Load(), refused.Load())
	}
	if other != http.StatusOK {
		t.Errorf("another source: %d", other)
	}
}

// TestSourceCountsBounded: the per-source counts keep an entry only while
// something is held.
func TestSourceCountsBounded(t *testing.T) {
	c := newSourceCounts()
	for i := range 1000 {
		a := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		if !c.acquire(a, 2) || !c.acquire(a, 2) || c.acquire(a, 2) {
			t.Fatal("acquire")
		}
		c.release(a)
		c.release(a)
	}
	n := 0
	for i := range c.shards {
		n += len(c.shards[i].m)
	}
	if n != 0 {
		t.Errorf("%d entries left", n)
	}
}

// TestSlowBodyInReportMode: in report mode a source outside the ranges is
// logged and passed on, and still cannot hold a slot or a buffer without a
// genuine token.
func TestSlowBodyInReportMode(t *testing.T) {
	h := newHarness(t, withConfig(func(h *harness, c *Config) {
		c.Mode = Report
		c.Sources.Extra = ipset(t, "127.0.0.2/32")
		c.Limits.MaxConcurrent = 50
	}))
	var conns []net.Conn
	for range 100 {
		conns = append(conns, h.slowBody("127.0.0.3", "Bearer a.b.c"))
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	if s := h.postWith(h.clientFrom("127.0.0.2"), "Bearer "+h.token(), activity()); s != http.StatusOK {
		t.Errorf("valid request during the attack: %d", s)
	}
	deadline := time.Now().Add(3 * time.Second)
	for i, c := range conns {
		c.SetReadDeadline(deadline)
		b, err := io.ReadAll(c)
		if err != nil || !strings.HasPrefix(string(b), "HTTP/1.1 401") {
			t.Fatalf("connection %d: %v, %.40q; want a 401 and the connection closed", i, err, b)
		}
	}
}
