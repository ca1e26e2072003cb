package ingress

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/teamsgate/teamsgate/internal/ingress/ingresstest"
)

// TestSpoofedForwardedForIgnored: X-Forwarded-For from a peer that is not
// a trusted proxy changes nothing, neither to admit a forbidden source nor
// in what the bot is told.
func TestSpoofedForwardedForIgnored(t *testing.T) {
	t.Run("cannot claim an allowed source", func(t *testing.T) {
		h := newHarness(t, withConfig(func(h *harness, c *Config) {
			c.Sources.Extra = ipset(t, "203.0.113.0/24") // loopback itself not allowed
		}))
		resp, _ := h.post("Bearer "+h.token(), activity(), "X-Forwarded-For", "203.0.113.5", "X-Forwarded-For", "52.112.0.9")
		if resp.StatusCode != 403 {
			t.Fatalf("spoofed XFF from an untrusted peer: status %d, want 403", resp.StatusCode)
		}
		if line := lastRequestLog(t, h); !strings.Contains(line, `"client":"127.0.0.1"`) || !strings.Contains(line, `"reason":"source-not-allowed"`) {
			t.Errorf("log line %s", line)
		}
	})
	t.Run("is replaced towards the bot", func(t *testing.T) {
		h := newHarness(t)
		resp, _ := h.post("Bearer "+h.token(), activity(),
			"X-Forwarded-For", "52.112.0.9", "X-Forwarded-Host", "evil.example", "X-Forwarded-Proto", "http",
			"Forwarded", "for=52.112.0.9", "X-Real-Ip", "52.112.0.9")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		// Listing our own header as hop-by-hop cannot strip it: such a
		// Connection header is refused.
		if resp, _ := h.post("Bearer "+h.token(), activity(), "Connection", "X-Forwarded-For, X-Forwarded-Proto"); resp.StatusCode != 400 {
			t.Errorf("Connection naming X-Forwarded-For: status %d, want 400", resp.StatusCode)
		}
		req, _ := h.bots["blue-1"].Last()
		for name, want := range map[string]string{
			"X-Forwarded-For":   "127.0.0.1",
			"X-Forwarded-Proto": "https",
			"X-Forwarded-Host":  strings.TrimPrefix(h.base, "https://"),
			"Forwarded":         "",
			"X-Real-Ip":         "",
		} {
			if got := strings.Join(req.Header.Values(name), ","); got != want {
				t.Errorf("bot saw %s %q, want %q", name, got, want)
			}
		}
	})
}

// TestForwardedForFromTrustedProxy: from a trusted proxy the rightmost
// untrusted entry is the client; entries left of it are not believed.
func TestForwardedForFromTrustedProxy(t *testing.T) {
	h := newHarness(t, withConfig(func(h *harness, c *Config) {
		c.Sources.Extra = ipset(t, "203.0.113.0/24")
		c.Sources.TrustedProxies = ipset(t, "127.0.0.0/8", "198.18.0.0/15")
	}))
	tests := []struct {
		name   string
		xff    []string
		status int
		client string
	}{
		{name: "client behind one proxy", xff: []string{"203.0.113.5"}, status: 200, client: "203.0.113.5"},
		{name: "client behind two trusted hops", xff: []string{"203.0.113.5, 198.18.0.1"}, status: 200, client: "203.0.113.5"},
		{name: "over two header lines", xff: []string{"203.0.113.5", "198.18.0.1"}, status: 200, client: "203.0.113.5"},
		{name: "with a port", xff: []string{"203.0.113.5:41234"}, status: 200, client: "203.0.113.5"},
		{name: "forged allowed entry left of the real client", xff: []string{"203.0.113.5, 192.0.2.66"}, status: 403, client: "192.0.2.66"},
		{name: "malformed entry", xff: []string{"203.0.113.5, bogus"}, status: 400, client: "127.0.0.1"},
		{name: "no header: the proxy itself", status: 403, client: "127.0.0.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			for _, x := range tc.xff {
				hdr = append(hdr, "X-Forwarded-For", x)
			}
			resp, _ := h.post("Bearer "+h.token(), activity(), hdr...)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if line := lastRequestLog(t, h); !strings.Contains(line, `"client":"`+tc.client+`"`) {
				t.Errorf("log line %s, want client %s", line, tc.client)
			}
		})
	}
}

// TestReportMode: a source outside the ranges passes in report mode, is
// logged and counted as "report"; the token is still enforced.
func TestReportMode(t *testing.T) {
	h := newHarness(t, withConfig(func(h *harness, c *Config) {
		c.Mode = Report
		c.Sources.Extra = ipset(t, "203.0.113.0/24")
	}))
	if resp, _ := h.post("Bearer "+h.token(), activity()); resp.StatusCode != 200 {
		t.Fatalf("report mode: status %d, want 200", resp.StatusCode)
	}
	if line := lastRequestLog(t, h); !strings.Contains(line, `"decision":"report"`) || !strings.Contains(line, `"reason":"source-not-allowed"`) {
		t.Errorf("log line %s", line)
	}
	if resp, _ := h.post("Bearer garbage", activity()); resp.StatusCode != 401 {
		t.Fatalf("report mode, bad token: status %d, want 401", resp.StatusCode)
	}
	if line := lastRequestLog(t, h); !strings.Contains(line, `"source_reason":"source-not-allowed"`) {
		t.Errorf("log line %s lacks the source decision", line)
	}
	if v := h.metric(`teamsgate_gateway_requests_total{decision="report",reason="source-not-allowed"}`); v != "1" {
		t.Errorf("report counter %q, want 1", v)
	}
}

// TestIPv6Source: the source check works on IPv6 peers.
func TestIPv6Source(t *testing.T) {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		skipOrFail(t, "no IPv6 loopback: %v", err)
	}
	ln.Close()
	for _, tc := range []struct {
		name   string
		extra  []string
		status int
	}{
		{name: "allowed", extra: []string{"::1/128"}, status: 200},
		{name: "not allowed", extra: []string{"2001:db8::/32"}, status: 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, withConfig(func(h *harness, c *Config) {
				c.Listen = "[::1]:0"
				c.Sources.Extra = ipset(t, tc.extra...)
			}))
			if resp, _ := h.post("Bearer "+h.token(), activity()); resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if line := lastRequestLog(t, h); !strings.Contains(line, `"client":"::1"`) {
				t.Errorf("log line %s", line)
			}
		})
	}
}

// proxyV1 and proxyV2 build PROXY protocol headers.
func proxyV1(src, dst netip.AddrPort) []byte {
	fam := "TCP4"
	if src.Addr().Is6() {
		fam = "TCP6"
	}
	return fmt.Appendf(nil, "PROXY %s %s %s %d %d\r\n", fam, src.Addr(), dst.Addr(), src.Port(), dst.Port())
}

func proxyV2(src, dst netip.AddrPort) []byte {
	b := append([]byte{}, v2Signature...)
	if src.Addr().Is4() {
		b = append(b, 0x21, 0x11, 0, 12)
		s, d := src.Addr().As4(), dst.Addr().As4()
		b = append(b, s[:]...)
		b = append(b, d[:]...)
	} else {
		b = append(b, 0x21, 0x21, 0, 36)
		s, d := src.Addr().As16(), dst.Addr().As16()
		b = append(b, s[:]...)
		b = append(b, d[:]...)
	}
	b = binary.BigEndian.AppendUint16(b, src.Port())
	return binary.BigEndian.AppendUint16(b, dst.Port())
}

// rawActivity is an HTTP/1.1 activity request as bytes.
func rawActivity(token string) []byte {
	body := activity()
	return fmt.Appendf(nil, "POST /api/messages HTTP/1.1\r\nHost: bot.example\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", token, len(body), body)
}

// sendRaw dials the gateway, writes pre (a PROXY header or nothing),
// optionally starts TLS, writes the request and returns the response
// status line, or the error.
func sendRaw(t *testing.T, h *harness, pre []byte, useTLS bool) (string, error) {
	t.Helper()
	c, err := net.DialTimeout("tcp", h.g.Addr().String(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(pre); err != nil {
		return "", err
	}
	var rw io.ReadWriter = c
	if useTLS {
		tc := tls.Client(c, &tls.Config{RootCAs: h.ca.Pool(), ServerName: "127.0.0.1"})
		if err := tc.Handshake(); err != nil {
			return "", err
		}
		rw = tc
	}
	if _, err := rw.Write(rawActivity(h.token())); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(rw).ReadString('\n')
	return strings.TrimSpace(line), err
}

// TestProxyProtocol: a PROXY header (v1 or v2) gives the client address
// when a trusted proxy sends it; from an untrusted peer the connection is
// refused outright.
func TestProxyProtocol(t *testing.T) {
	dst := netip.MustParseAddrPort("192.0.2.1:443")
	allowed := netip.MustParseAddrPort("203.0.113.5:40000")
	denied := netip.MustParseAddrPort("198.51.100.7:40000")
	allowed6 := netip.MustParseAddrPort("[2001:db8::5]:40000")
	dst6 := netip.MustParseAddrPort("[2001:db8::1]:443")

	trusted := newHarness(t, withConfig(func(h *harness, c *Config) {
		c.PlainHTTP = true
		c.Sources.Extra = ipset(t, "203.0.113.0/24", "2001:db8::/32")
		c.Sources.TrustedProxies = ipset(t, "127.0.0.1/32")
		c.Sources.ProxyProtocol = true
	}))
	for _, tc := range []struct {
		name   string
		pre    []byte
		status string
	}{
		{name: "v1 allowed source", pre: proxyV1(allowed, dst), status: "HTTP/1.1 200 OK"},
		{name: "v1 other source", pre: proxyV1(denied, dst), status: "HTTP/1.1 403 Forbidden"},
		{name: "v2 allowed source", pre: proxyV2(allowed, dst), status: "HTTP/1.1 200 OK"},
		{name: "v2 IPv6 allowed source", pre: proxyV2(allowed6, dst6), status: "HTTP/1.1 200 OK"},
		{name: "v2 other source", pre: proxyV2(denied, dst), status: "HTTP/1.1 403 Forbidden"},
		{name: "v1 UNKNOWN keeps the socket peer", pre: []byte("PROXY UNKNOWN\r\n"), status: "HTTP/1.1 403 Forbidden"},
		{name: "no header: the proxy itself", pre: nil, status: "HTTP/1.1 403 Forbidden"},
	} {
		t.Run("trusted peer/"+tc.name, func(t *testing.T) {
			line, err := sendRaw(t, trusted, tc.pre, false)
			if err != nil || line != tc.status {
				t.Fatalf("got %q, %v; want %q", line, err, tc.status)
			}
		})
	}
	if line := lastRequestLog(t, trusted); !strings.Contains(line, `"peer":"127.0.0.1:`) {
		t.Errorf("log line %s lacks the socket peer", line)
	}

	t.Run("trusted peer/PROXY before TLS", func(t *testing.T) {
		h := newHarness(t, withConfig(func(h *harness, c *Config) {
			c.Sources.Extra = ipset(t, "203.0.113.0/24")
			c.Sources.TrustedProxies = ipset(t, "127.0.0.1/32")
			c.Sources.ProxyProtocol = true
		}))
		if line, err := sendRaw(t, h, proxyV2(allowed, dst), true); err != nil || line != "HTTP/1.1 200 OK" {
			t.Fatalf("got %q, %v", line, err)
		}
	})

	untrusted := newHarness(t, withConfig(func(h *harness, c *Config) {
		c.PlainHTTP = true
		c.Sources.Extra = ipset(t, "127.0.0.1/32", "203.0.113.0/24")
		c.Sources.TrustedProxies = ipset(t, "10.0.0.0/8")
		c.Sources.ProxyProtocol = true
	}))
	for _, tc := range []struct {
		name string
		pre  []byte
	}{
		{name: "v1", pre: proxyV1(allowed, dst)},
		{name: "v2", pre: proxyV2(allowed, dst)},
		{name: "malformed v1", pre: []byte("PROXY TCP4 nonsense\r\n")},
	} {
		t.Run("untrusted peer/"+tc.name, func(t *testing.T) {
			line, err := sendRaw(t, untrusted, tc.pre, false)
			if err == nil || line != "" {
				t.Fatalf("got %q, %v; want the connection closed without an answer", line, err)
			}
		})
	}
	if v := untrusted.metric("teamsgate_gateway_proxy_protocol_refused_total"); v != "3" {
		t.Errorf("refusals counted %q, want 3", v)
	}
	t.Run("untrusted peer/no header is served", func(t *testing.T) {
		if line, err := sendRaw(t, untrusted, nil, false); err != nil || line != "HTTP/1.1 200 OK" {
			t.Fatalf("got %q, %v", line, err)
		}
	})
}

// TestTLSVersions: handshakes below TLS 1.2, and TLS 1.2 with anything
// but an ECDHE AEAD suite, fail; TLS 1.2 and 1.3 succeed.
func TestTLSVersions(t *testing.T) {
	h := newHarness(t)
	addr := h.g.Addr().String()
	for _, tc := range []struct {
		name   string
		conf   *tls.Config
		wantOK bool
	}{
		{name: "TLS 1.0", conf: &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS10}},
		{name: "TLS 1.1", conf: &tls.Config{MinVersion: tls.VersionTLS11, MaxVersion: tls.VersionTLS11}},
		{name: "TLS 1.2 CBC suite", conf: &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}}},
		{name: "TLS 1.2 RSA key exchange", conf: &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256}}},
		{name: "TLS 1.2", conf: &tls.Config{MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12}, wantOK: true},
		{name: "TLS 1.3", conf: &tls.Config{MinVersion: tls.VersionTLS13}, wantOK: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf := tc.conf.Clone()
			conf.RootCAs = h.ca.Pool()
			conf.ServerName = "127.0.0.1"
			c, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr, conf)
			if c != nil {
				defer c.Close()
			}
			if (err == nil) != tc.wantOK {
				t.Fatalf("handshake error %v, want success %v", err, tc.wantOK)
			}
			if tc.wantOK && c.ConnectionState().NegotiatedProtocol == "h2" {
				t.Errorf("HTTP/2 negotiated; the gateway serves HTTP/1.1 only")
			}
		})
	}
}

// TestOpenSSLRefusesOldTLS repeats the version test with openssl
// s_client, a client that still speaks TLS 1.0 and 1.1. Debian's openssl
// refuses those itself at its default security level, so the cipher
// string drops it to 0: the refusal must then come from the gateway.
func TestOpenSSLRefusesOldTLS(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		skipOrFail(t, "openssl not installed (apt-get install openssl)")
	}
	h := newHarness(t)
	caFile := ingresstest.WriteFile(t, t.TempDir(), "ca.pem", h.ca.PEM)
	run := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		full := append([]string{"s_client", "-connect", h.g.Addr().String(), "-CAfile", caFile, "-verify_return_error"}, args...)
		cmd := exec.CommandContext(ctx, openssl, full...)
		cmd.Stdin = strings.NewReader("")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, v := range []string{"-tls1", "-tls1_1"} {
		t.Run(v, func(t *testing.T) {
			out, err := run(v, "-cipher", "DEFAULT@SECLEVEL=0")
			if strings.Contains(out, "unknown option") || strings.Contains(out, "Option unknown") {
				skipOrFail(t, "this openssl has no %s: %s", v, firstLine(out))
			}
			if err == nil {
				t.Fatalf("openssl %s connected:\n%s", v, out)
			}
			if !strings.Contains(out, "alert protocol version") && !strings.Contains(out, "unsupported protocol") && !strings.Contains(out, "wrong version") {
				t.Errorf("openssl %s failed for another reason than the protocol version:\n%s", v, out)
			}
		})
	}
	t.Run("-tls1_2 succeeds", func(t *testing.T) {
		out, err := run("-tls1_2")
		if err != nil || !strings.Contains(out, "Verify return code: 0 (ok)") {
			t.Fatalf("openssl -tls1_2: %v\n%s", err, out)
		}
	})
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// TestMutualTLS: with a client CA configured, a client without a
// certificate from it cannot connect.
func TestMutualTLS(t *testing.T) {
	clientCA := ingresstest.NewCA(t, "client CA")
	other := ingresstest.NewCA(t, "other CA")
	h := newHarness(t, withConfig(func(h *harness, c *Config) {
		c.TLS.ClientCAFile = ingresstest.WriteFile(t, h.dir, "client-ca.pem", clientCA.PEM)
	}))
	try := func(certs []tls.Certificate) error {
		cl := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: h.ca.Pool(), Certificates: certs}}}
		defer cl.CloseIdleConnections()
		req, _ := http.NewRequest(http.MethodPost, h.base+"/api/messages", bytes.NewReader(activity()))
		req.Header.Set("Authorization", "Bearer "+h.token())
		resp, err := cl.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	if err := try(nil); err == nil {
		t.Error("no client certificate: connected")
	}
	if err := try([]tls.Certificate{other.Client(t, "intruder")}); err == nil {
		t.Error("client certificate from another CA: connected")
	}
	if err := try([]tls.Certificate{clientCA.Client(t, "azure-front-door")}); err != nil {
		t.Errorf("client certificate from the client CA: %v", err)
	}
}

// TestCertificateReload: replacing the certificate files changes the
// certificate served to new handshakes, without a restart; a broken new
// file keeps the old certificate.
func TestCertificateReload(t *testing.T) {
	h := newHarness(t, withConfig(func(h *harness, c *Config) { c.TLS.ReloadInterval = 50 * time.Millisecond }))
	serial := func() string {
		c, err := tls.Dial("tcp", h.g.Addr().String(), &tls.Config{RootCAs: h.ca.Pool(), ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	first := serial()
	certPEM, keyPEM, _ := h.ca.Server(t, "gateway renewed")
	// Write the key first, then the certificate: the watcher may see the
	// pair mismatched in between and must keep the old one.
	os.WriteFile(h.cfg.TLS.KeyFile, keyPEM, 0o600)
	time.Sleep(150 * time.Millisecond)
	if s := serial(); s != first {
		t.Fatalf("a mismatched key/certificate pair was taken")
	}
	os.WriteFile(h.cfg.TLS.CertFile, certPEM, 0o600)
	eventually(t, 5*time.Second, "the renewed certificate", func() bool { return serial() != first })
	if !strings.Contains(h.logs.String(), "certificate reloaded") {
		t.Error("no log of the reload")
	}
}

// TestSlowloris: many connections that dribble their headers are cut at
// the read-header timeout, while a normal client keeps being served.
func TestSlowloris(t *testing.T) {
	const timeout = 300 * time.Millisecond
	h := newHarness(t, withConfig(func(h *harness, c *Config) {
		c.PlainHTTP = true
		c.Limits.ReadHeaderTimeout = timeout
		c.Limits.Rate, c.Limits.Burst = 1e5, 1e5
	}))
	const n = 200
	var closed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	var maxLife atomic.Int64
	for range n {
		c, err := net.Dial("tcp", h.g.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			c.Write([]byte("POST /api/messages HTTP/1.1\r\nHost: x\r\nX-Slow: "))
			// One header byte every 50 ms, for up to 3 s, until the
			// gateway cuts the connection and a write fails.
			for i := 0; i < 60; i++ {
				time.Sleep(50 * time.Millisecond)
				if _, err := c.Write([]byte("X")); err != nil {
					closed.Add(1)
					if l := time.Since(start); int64(l) > maxLife.Load() {
						maxLife.Store(int64(l))
					}
					return
				}
			}
		}()
	}
	// A normal client is served while the dribblers hold their
	// connections.
	deadline := time.Now().Add(time.Second)
	served := 0
	for time.Now().Before(deadline) {
		resp, _ := h.post("Bearer "+h.token(), activity())
		if resp.StatusCode != 200 {
			t.Fatalf("normal client during slowloris: status %d", resp.StatusCode)
		}
		served++
	}
	wg.Wait()
	if closed.Load() != n {
		t.Errorf("%d of %d slow connections were cut", closed.Load(), n)
	}
	if served < 10 {
		t.Errorf("only %d requests served to the normal client in 1 s", served)
	}
	if l := time.Duration(maxLife.Load()); l > timeout+time.Second {
		t.Errorf("the last slow connection lived %v, want about the %v timeout", l, timeout)
	}
	t.Logf("%d slow connections cut, the last after %v; %d normal requests served", closed.Load(), time.Duration(maxLife.Load()), served)
}

// TestBodyTooLarge: bodies over the limit get 413, whether declared by
// Content-Length or sent chunked, and never reach the bot.
func TestBodyTooLarge(t *testing.T) {
	h := newHarness(t, withConfig(func(h *harness, c *Config) { c.Limits.MaxBodyBytes = 1024 }))
	big := bytes.Repeat([]byte("x"), 4096)
	if resp, _ := h.post("Bearer "+h.token(), big); resp.StatusCode != 413 {
		t.Errorf("declared length: status %d, want 413", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, h.base+"/api/messages", io.MultiReader(bytes.NewReader(big)))
	req.Header.Set("Authorization", "Bearer "+h.token())
	if resp, _ := h.do(req); resp.StatusCode != 413 {
		t.Errorf("chunked: status %d, want 413", resp.StatusCode)
	}
	if h.bots["blue-1"].Requests() != 0 {
		t.Error("an oversized body reached the bot")
	}
	if resp, _ := h.post("Bearer "+h.token(), activity()); resp.StatusCode != 200 {
		t.Errorf("normal body after: status %d", resp.StatusCode)
	}
}

// TestRateLimit: past the burst a source gets 429 with Retry-After, and
// is served again once tokens refill.
func TestRateLimit(t *testing.T) {
	h := newHarness(t, withConfig(func(h *harness, c *Config) {
		c.Limits.Rate = 2
		c.Limits.Burst = 3
	}))
	tok := "Bearer " + h.token()
	for i := range 3 {
		if resp, _ := h.post(tok, activity()); resp.StatusCode != 200 {
			t.Fatalf("request %d within the burst: status %d", i, resp.StatusCode)
		}
	}
	resp, _ := h.post(tok, activity())
	if resp.StatusCode != 429 {
		t.Fatalf("past the burst: status %d, want 429", resp.StatusCode)
	}
	ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || ra < 1 || ra > 2 {
		t.Errorf("Retry-After %q, want 1", resp.Header.Get("Retry-After"))
	}
	time.Sleep(600 * time.Millisecond)
	if resp, _ := h.post(tok, activity()); resp.StatusCode != 200 {
		t.Errorf("after refill: status %d", resp.StatusCode)
	}
}

// TestConcurrencyCap: beyond max_concurrent requests in flight, the
// gateway sheds with 503 and Retry-After instead of queueing.
func TestConcurrencyCap(t *testing.T) {
	h := newHarness(t, withConfig(func(h *harness, c *Config) { c.Limits.MaxConcurrent = 2 }))
	h.bots["blue-1"].SetDelay(500 * time.Millisecond)
	tok := "Bearer " + h.token()
	var wg sync.WaitGroup
	codes := make(chan int, 2)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, _ := h.post(tok, activity())
			codes <- resp.StatusCode
		}()
	}
	eventually(t, 2*time.Second, "two requests in flight", func() bool { return h.g.Status().Groups[0].InFlight == 2 })
	resp, _ := h.post(tok, activity())
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("third concurrent request: status %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != 200 {
			t.Errorf("request within the cap: status %d", c)
		}
	}
}

// TestPathsAndMethod: only POST to the configured paths.
func TestPathsAndMethod(t *testing.T) {
	h := newHarness(t, withConfig(func(h *harness, c *Config) { c.Paths = []string{"/api/messages"} }))
	req, _ := http.NewRequest(http.MethodGet, h.base+"/api/messages", nil)
	if resp, _ := h.do(req); resp.StatusCode != 405 || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET: status %d", resp.StatusCode)
	}
	req, _ = http.NewRequest(http.MethodPost, h.base+"/admin", bytes.NewReader(activity()))
	req.Header.Set("Authorization", "Bearer "+h.token())
	if resp, _ := h.do(req); resp.StatusCode != 404 {
		t.Errorf("other path: status %d", resp.StatusCode)
	}
}

// TestMaxHeaderBytes: oversized request headers are refused by the server
// before the handler runs.
func TestMaxHeaderBytes(t *testing.T) {
	h := newHarness(t, withConfig(func(h *harness, c *Config) { c.Limits.MaxHeaderBytes = 4096 }))
	resp, _ := h.post("Bearer "+h.token(), activity(), "X-Padding", strings.Repeat("a", 16<<10))
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status %d, want 431", resp.StatusCode)
	}
	if h.bots["blue-1"].Requests() != 0 {
		t.Error("the request reached the bot")
	}
}
