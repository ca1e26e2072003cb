package tenant

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// do sends req through the harness's client and decodes the echo.
func (h *harness) do(req *http.Request) (*http.Response, echo) {
	h.t.Helper()
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("status %s: %s", resp.Status, b)
	}
	var e echo
	if err := json.Unmarshal(b, &e); err != nil {
		h.t.Fatalf("echo %q: %v", b, err)
	}
	return resp, e
}

// raw sends request as written over a tunnel to testHost and returns the
// response, its body, and what Serve returned.
func (h *harness) raw(request string) (*http.Response, string, result) {
	h.t.Helper()
	c, err := h.dial(testHost)
	if err != nil {
		h.t.Fatal(err)
	}
	tc := tls.Client(c, &tls.Config{ServerName: testHost, RootCAs: h.proxyCA.pool})
	defer tc.Close()
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		io.WriteString(tc, request) // the interceptor may close before reading it all
	}()
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil {
		h.t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	tc.Close()
	<-wrote
	res := h.wait()
	return resp, string(b), res[0]
}

// restrictions returns the tenant restrictions headers of h, under any
// spelling of their names.
func restrictions(h http.Header) http.Header {
	out := http.Header{}
	for k, v := range h {
		if strings.EqualFold(k, "Restrict-Access-To-Tenants") || strings.EqualFold(k, "Restrict-Access-Context") {
			out[k] = v
		}
	}
	return out
}

var wantRestrictions = http.Header{
	"Restrict-Access-To-Tenants": {testTenants},
	"Restrict-Access-Context":    {testContext},
}

// testUpstream starts the stand-in sign-in host and a harness that
// trusts it.
func testUpstream(t *testing.T) *harness {
	ca := newCA(t, "test sign-in CA", nil, nil)
	return newHarness(t, newUpstream(t, ca, testHost), "", ca.pool)
}

func checkResults(t *testing.T, res []result, dials int) {
	t.Helper()
	if len(res) != dials {
		t.Fatalf("%d tunnels, want %d", len(res), dials)
	}
	for _, r := range res {
		if r.err != nil {
			t.Errorf("Serve: %v", r.err)
		}
	}
}

func TestServeReplacesHeaders(t *testing.T) {
	h := testUpstream(t)
	req, err := http.NewRequest(http.MethodGet, "https://"+testHost+"/common/oauth2/v2.0/authorize?client_id=x", nil)
	if err != nil {
		t.Fatal(err)
	}
	// Go's client writes map keys as they are: these reach the wire in
	// these spellings.
	req.Header["Restrict-Access-To-Tenants"] = []string{"evil.example"}
	req.Header["restrict-access-to-tenants"] = []string{"evil2.example"}
	req.Header["RESTRICT-ACCESS-CONTEXT"] = []string{"00000000-0000-0000-0000-000000000000"}
	req.Header.Set("X-Other", "kept")
	_, e := h.do(req)
	if diff := cmp.Diff(wantRestrictions, restrictions(e.Header)); diff != "" {
		t.Errorf("headers at the sign-in host (-want +got):\n%s", diff)
	}
	if got := e.Header.Get("X-Other"); got != "kept" {
		t.Errorf("X-Other = %q, want kept", got)
	}
	if e.Host != testHost {
		t.Errorf("Host = %q, want %q", e.Host, testHost)
	}
	checkResults(t, h.wait(), 1)
}

func TestServeKeepAlive(t *testing.T) {
	h := testUpstream(t)
	for i, method := range []string{http.MethodGet, http.MethodPost, http.MethodGet} {
		var body io.Reader
		if method == http.MethodPost {
			body = strings.NewReader("grant_type=client_credentials")
		}
		req, err := http.NewRequest(method, "https://"+testHost+"/botframework.com/oauth2/v2.0/token", body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Restrict-Access-To-Tenants", "evil.example")
		_, e := h.do(req)
		if diff := cmp.Diff(wantRestrictions, restrictions(e.Header)); diff != "" {
			t.Errorf("request %d: headers at the sign-in host (-want +got):\n%s", i, diff)
		}
		if e.Method != method {
			t.Errorf("request %d: method %s, want %s", i, e.Method, method)
		}
	}
	checkResults(t, h.wait(), 1)
}

func TestServeHeadKeepsConnection(t *testing.T) {
	h := testUpstream(t)
	req, err := http.NewRequest(http.MethodHead, "https://"+testHost+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ContentLength != 12345 {
		t.Errorf("HEAD Content-Length %d, want 12345", resp.ContentLength)
	}
	req, err = http.NewRequest(http.MethodGet, "https://"+testHost+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	h.do(req)
	checkResults(t, h.wait(), 1)
}

func TestServeConnectionClose(t *testing.T) {
	h := testUpstream(t)
	for range 2 {
		req, err := http.NewRequest(http.MethodGet, "https://"+testHost+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Close = true
		h.do(req)
	}
	checkResults(t, h.wait(), 2)
}

func TestServeBody(t *testing.T) {
	body := make([]byte, 1<<20)
	rand.Read(body)
	sum := sha256.Sum256(body)
	for _, tc := range []struct {
		name    string
		chunked bool
	}{
		{name: "content-length"},
		{name: "chunked", chunked: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := testUpstream(t)
			var r io.Reader = bytes.NewReader(body)
			if tc.chunked {
				r = io.MultiReader(r) // unknown length: the client sends it chunked
			}
			req, err := http.NewRequest(http.MethodPost, "https://"+testHost+"/common/oauth2/v2.0/token", r)
			if err != nil {
				t.Fatal(err)
			}
			_, e := h.do(req)
			if e.BodyLen != int64(len(body)) || e.BodySHA != hex.EncodeToString(sum[:]) {
				t.Errorf("the sign-in host got %d bytes (sha256 %s), want %d (%x)", e.BodyLen, e.BodySHA, len(body), sum)
			}
			if diff := cmp.Diff(wantRestrictions, restrictions(e.Header)); diff != "" {
				t.Errorf("headers at the sign-in host (-want +got):\n%s", diff)
			}
			res := h.wait()
			checkResults(t, res, 1)
			if res[0].up < int64(len(body)) || res[0].up > int64(len(body))+64<<10 {
				t.Errorf("up = %d, want the body (%d) and headers", res[0].up, len(body))
			}
			if res[0].down <= 0 {
				t.Errorf("down = %d, want the response", res[0].down)
			}
		})
	}
}

func TestServeExpectContinue(t *testing.T) {
	h := testUpstream(t)
	var got100 bool
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{Got100Continue: func() { got100 = true }})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+testHost+"/common/oauth2/v2.0/token", io.MultiReader(strings.NewReader("a=b")))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Expect", "100-continue")
	_, e := h.do(req)
	if !got100 {
		t.Error("the client got no 100 Continue")
	}
	if e.BodyLen != 3 {
		t.Errorf("the sign-in host got %d body bytes, want 3", e.BodyLen)
	}
	checkResults(t, h.wait(), 1)
}

func TestServeStreamsResponse(t *testing.T) {
	h := testUpstream(t)
	req, err := http.NewRequest(http.MethodGet, "https://"+testHost+"/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	first := make(chan string, 1)
	go func() {
		line, _ := br.ReadString('\n')
		first <- line
	}()
	select {
	case line := <-first:
		if line != "first\n" {
			t.Fatalf("first line %q", line)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the first line did not arrive before the response ended: the body is not streamed")
	}
	h.upstream.finish()
	rest, err := io.ReadAll(br)
	if err != nil || string(rest) != "second\n" {
		t.Fatalf("rest %q, %v", rest, err)
	}
	resp.Body.Close()
	checkResults(t, h.wait(), 1)
}

func TestServeLeafCertificate(t *testing.T) {
	h := testUpstream(t)
	req, err := http.NewRequest(http.MethodGet, "https://"+testHost+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := h.do(req)
	if resp.TLS == nil || len(resp.TLS.PeerCertificates) == 0 {
		t.Fatal("no TLS state")
	}
	if p := resp.TLS.NegotiatedProtocol; p != "http/1.1" {
		t.Errorf("ALPN %q, want http/1.1", p)
	}
	leaf := resp.TLS.PeerCertificates[0]
	if diff := cmp.Diff([]string{testHost}, leaf.DNSNames); diff != "" {
		t.Errorf("DNS names (-want +got):\n%s", diff)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: h.proxyCA.pool, DNSName: testHost}); err != nil {
		t.Errorf("the leaf does not chain to the proxy CA: %v", err)
	}
	if k, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
		t.Errorf("leaf key %T, want ECDSA P-256", leaf.PublicKey)
	}
	if d := leaf.NotAfter.Sub(leaf.NotBefore); d != leafBackdate+leafLifetime {
		t.Errorf("leaf valid for %s, want %s", d, leafBackdate+leafLifetime)
	}
	if now := time.Now(); leaf.NotBefore.After(now.Add(-leafBackdate+time.Minute)) || leaf.NotBefore.Before(now.Add(-leafBackdate-time.Minute)) {
		t.Errorf("leaf valid from %s, want about an hour before %s", leaf.NotBefore, now)
	}
	checkResults(t, h.wait(), 1)
}

func TestServeUpstreamCertificate(t *testing.T) {
	for _, tc := range []struct {
		name     string
		certHost string
		roots    func(upstreamCA *testCA) *x509.CertPool
		want     string
	}{
		{
			name:     "unknown authority",
			certHost: testHost,
			roots:    func(*testCA) *x509.CertPool { return newCA(t, "another CA", nil, nil).pool },
			want:     "unknown authority",
		},
		{
			name:     "system roots",
			certHost: testHost,
			roots:    func(*testCA) *x509.CertPool { return nil },
			want:     "certificate",
		},
		{
			name:     "another host's certificate",
			certHost: "login.windows.net",
			roots:    func(ca *testCA) *x509.CertPool { return ca.pool },
			want:     "not " + testHost,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ca := newCA(t, "test sign-in CA", nil, nil)
			up := newUpstream(t, ca, tc.certHost)
			h := newHarness(t, up, "", tc.roots(ca))
			req, err := http.NewRequest(http.MethodGet, "https://"+testHost+"/", nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := h.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadGateway {
				t.Errorf("status %s, want 502", resp.Status)
			}
			if !strings.Contains(string(b), "upstream-tls") || !strings.Contains(string(b), tc.want) {
				t.Errorf("body %q, want the reason (upstream-tls, %q)", b, tc.want)
			}
			res := h.wait()
			if len(res) != 1 || !errors.Is(res[0].err, ErrUpstreamHandshake) {
				t.Errorf("Serve: %v, want ErrUpstreamHandshake", res)
			}
			if n := up.requests.Load(); n != 0 {
				t.Errorf("the sign-in host got %d requests", n)
			}
		})
	}
}

func TestServeRefusesRequests(t *testing.T) {
	big := "GET / HTTP/1.1\r\nHost: " + testHost + "\r\nX-Big: " + strings.Repeat("a", maxHeaderBytes+64<<10) + "\r\n\r\n"
	for _, tc := range []struct {
		name    string
		request string
		status  int
		reason  string
	}{
		{name: "header too large", request: big, status: http.StatusRequestHeaderFieldsTooLarge, reason: "header-too-large"},
		{name: "another host", request: "GET / HTTP/1.1\r\nHost: evil.example\r\n\r\n", status: http.StatusMisdirectedRequest, reason: "misdirected"},
		{name: "host with a suffix", request: "GET / HTTP/1.1\r\nHost: " + testHost + ".evil.example\r\n\r\n", status: http.StatusMisdirectedRequest, reason: "misdirected"},
		{name: "no host", request: "GET / HTTP/1.0\r\n\r\n", status: http.StatusMisdirectedRequest, reason: "misdirected"},
		{name: "malformed", request: "GET / HTTP/1.1\r\nHost: " + testHost + "\r\nno colon\r\n\r\n", status: http.StatusBadRequest, reason: "bad-request"},
		{name: "connect", request: "CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n", status: http.StatusMethodNotAllowed, reason: "method-not-allowed"},
		{name: "http/2 preface", request: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", status: http.StatusHTTPVersionNotSupported, reason: "http-version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := testUpstream(t)
			resp, body, res := h.raw(tc.request)
			if resp.StatusCode != tc.status {
				t.Errorf("status %s, want %d", resp.Status, tc.status)
			}
			if !strings.Contains(body, "("+tc.reason+")") {
				t.Errorf("body %q, want reason %s", body, tc.reason)
			}
			if !errors.Is(res.err, ErrRequest) {
				t.Errorf("Serve: %v, want ErrRequest", res.err)
			}
			if n := h.upstream.requests.Load(); n != 0 {
				t.Errorf("the sign-in host got %d requests", n)
			}
		})
	}
}

func TestServeUpstreamBadResponse(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer string
		want   string
	}{
		{name: "not HTTP", answer: "SSH-2.0-OpenSSH\r\n\r\n", want: "malformed HTTP"},
		{name: "header too large", answer: "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", maxHeaderBytes+64<<10) + "\r\n\r\n", want: "header larger than the limit"},
		{name: "switching protocols", answer: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", want: "101"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ca := newCA(t, "test sign-in CA", nil, nil)
			h := newHarness(t, nil, rawUpstream(t, ca, tc.answer), ca.pool)
			resp, body, res := h.raw("GET / HTTP/1.1\r\nHost: " + testHost + "\r\n\r\n")
			if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "(upstream-error)") || !strings.Contains(body, tc.want) {
				t.Errorf("status %s, body %q: want 502, upstream-error, %q", resp.Status, body, tc.want)
			}
			if !errors.Is(res.err, ErrResponse) {
				t.Errorf("Serve: %v, want ErrResponse", res.err)
			}
		})
	}
}

// TestServeUpstreamCloses checks that when the sign-in host closes the
// connection without answering, the client's connection closes the same
// way, and Serve reports no error.
func TestServeUpstreamCloses(t *testing.T) {
	ca := newCA(t, "test sign-in CA", nil, nil)
	h := newHarness(t, nil, rawUpstream(t, ca, ""), ca.pool)
	c, err := h.dial(testHost)
	if err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(c, &tls.Config{ServerName: testHost, RootCAs: h.proxyCA.pool})
	defer tc.Close()
	if _, err := io.WriteString(tc, "GET / HTTP/1.1\r\nHost: "+testHost+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	tc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, err := io.ReadAll(tc); len(b) != 0 || err != nil {
		t.Errorf("client read %q, %v: want a clean close", b, err)
	}
	res := h.wait()
	if res[0].err != nil {
		t.Errorf("Serve: %v", res[0].err)
	}
}

func TestServeUpgradeDropped(t *testing.T) {
	h := testUpstream(t)
	resp, body, res := h.raw("GET / HTTP/1.1\r\nHost: " + testHost + "\r\nConnection: Upgrade, close\r\nUpgrade: websocket\r\n\r\n")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %s: %s", resp.Status, body)
	}
	var e echo
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatal(err)
	}
	if u := e.Header.Values("Upgrade"); len(u) != 0 {
		t.Errorf("Upgrade reached the sign-in host: %q", u)
	}
	if res.err != nil {
		t.Errorf("Serve: %v", res.err)
	}
}

func TestServeHTTP10Client(t *testing.T) {
	h := testUpstream(t)
	h.upstream.finish()
	resp, body, res := h.raw("GET /stream HTTP/1.0\r\nHost: " + testHost + "\r\n\r\n")
	if resp.StatusCode != http.StatusOK || len(resp.TransferEncoding) != 0 || !resp.Close {
		t.Errorf("status %s, transfer encoding %q, close %t: want 200, the body ending at the close", resp.Status, resp.TransferEncoding, resp.Close)
	}
	if body != "first\nsecond\n" {
		t.Errorf("body %q", body)
	}
	if res.err != nil {
		t.Errorf("Serve: %v", res.err)
	}
}

func TestServeClientServerName(t *testing.T) {
	h := testUpstream(t)
	c, err := h.dial(testHost)
	if err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(c, &tls.Config{ServerName: "evil.example", RootCAs: h.proxyCA.pool})
	if err := tc.Handshake(); err == nil {
		t.Error("the handshake for another server name succeeded")
	}
	tc.Close()
	res := h.wait()
	if !errors.Is(res[0].err, ErrClientHandshake) {
		t.Errorf("Serve: %v, want ErrClientHandshake", res[0].err)
	}
}

func TestServeNotIntercepted(t *testing.T) {
	h := testUpstream(t)
	c, err := h.dial(testHost + ".evil.example")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res := h.wait()
	if !errors.Is(res[0].err, ErrNotIntercepted) {
		t.Errorf("Serve: %v, want ErrNotIntercepted", res[0].err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil || isTimeout(err) {
		t.Errorf("client read %d, %v: want the connection closed", n, err)
	}
}

func TestServeContext(t *testing.T) {
	h := testUpstream(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h.ctx = ctx
	req, err := http.NewRequest(http.MethodGet, "https://"+testHost+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	h.do(req) // the connection now waits, kept alive, for the next request
	cancel()
	select {
	case r := <-h.results:
		if !errors.Is(r.err, context.Canceled) {
			t.Errorf("Serve: %v, want context.Canceled", r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return when its context was cancelled")
	}
}

// TestServeIdleClient checks that a client that never sends a request
// leaves no goroutine behind once it closes.
func TestServeIdleClient(t *testing.T) {
	h := testUpstream(t)
	c, err := h.dial(testHost)
	if err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(c, &tls.Config{ServerName: testHost, RootCAs: h.proxyCA.pool})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	tc.Close()
	checkResults(t, h.wait(), 1)
}
