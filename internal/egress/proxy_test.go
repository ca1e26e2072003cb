package egress_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/teamsgate/teamsgate/internal/egress"
	"github.com/teamsgate/teamsgate/internal/egress/policy"
	"github.com/teamsgate/teamsgate/internal/model"
)

func bufioReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }

var loop = netip.MustParseAddr("127.0.0.1")

// world is one test's upstream, name server and proxy configuration: the
// allowed name api.example.com (and *.svc.example.com) resolves to the
// upstream on loopback; rebind.example.com to a private address;
// two.example.com to the upstream and a private address.
type world struct {
	up  *upstream
	dns netip.AddrPort
	cfg egress.Config
}

func newWorld(t *testing.T) *world {
	t.Helper()
	up := startUpstream(t)
	d := startDNS(t, zone{
		"api.example.com":      {loop},
		"a.svc.example.com":    {loop},
		"other.example.com":    {loop},
		"rebind.example.com":   {netip.MustParseAddr("10.0.0.1")},
		"two.example.com":      {loop, netip.MustParseAddr("10.0.0.1")},
		"metadata.example.com": {netip.MustParseAddr("169.254.169.254")},
		// IPv4-mapped answers, as Go's resolver gives /etc/hosts entries
		"mapped.example.com":         {netip.MustParseAddr("::ffff:127.0.0.1")},
		"mapped-private.example.com": {netip.MustParseAddr("::ffff:10.0.0.1")},
	})
	cfg := egress.Config{
		Rules: []policy.Rule{
			rule("teams-messaging-bot.out.login", up.port, "api.example.com", "*.svc.example.com", "rebind.example.com", "two.example.com", "metadata.example.com",
				"mapped.example.com", "mapped-private.example.com"),
		},
		DNS:      []netip.AddrPort{d},
		TLSPorts: portSet(up.port),
	}
	return &world{up: up, dns: d, cfg: cfg}
}

func (w *world) target(host string) string {
	return net.JoinHostPort(host, strconv.Itoa(int(w.up.port)))
}

func TestTunnelAllowed(t *testing.T) {
	w := newWorld(t)
	p, logs := proxyUnder(t, w.cfg, egress.Options{})
	resp, err := client(p.Addr(), w.up.roots).Get("https://" + w.target("api.example.com") + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "hello from api.example.com") {
		t.Fatalf("status %d, body %q", resp.StatusCode, b)
	}
	m := logs.waitFor(t, w.target("api.example.com"))
	if m["decision"] != "allow" || m["reason"] != "allowed" || m["flow"] != "teams-messaging-bot.out.login" || m["sni"] != "api.example.com" || m["addr"] != netip.AddrPortFrom(loop, w.up.port).String() {
		t.Errorf("decision line %v", m)
	}
	if up, _ := m["bytes_up"].(float64); up == 0 {
		t.Errorf("no bytes counted: %v", m)
	}

	// An IPv4-mapped answer (how Go's resolver gives /etc/hosts entries)
	// is the IPv4 address it carries, and dialled as such.
	resp, err = client(p.Addr(), w.up.roots).Get("https://" + w.target("mapped.example.com") + "/")
	if err != nil {
		t.Fatalf("mapped answer: %v", err)
	}
	resp.Body.Close()
	if m := logs.waitFor(t, w.target("mapped.example.com")); m["decision"] != "allow" || m["addr"] != netip.AddrPortFrom(loop, w.up.port).String() {
		t.Errorf("mapped answer: decision line %v", m)
	}
}

func TestTunnelRefusals(t *testing.T) {
	w := newWorld(t)
	p, logs := proxyUnder(t, w.cfg, egress.Options{})
	for _, c := range []struct {
		name, target string
		status       int
		reason       string
	}{
		{"another port", "api.example.com:8443", 403, "port-not-allowed"},
		{"not on the list", w.target("evil.example.com"), 403, "host-not-allowed"},
		{"suffix attack", w.target("api.example.com.evil.example"), 403, "host-not-allowed"},
		{"wildcard depth", w.target("a.b.svc.example.com"), 403, "host-not-allowed"},
		{"wildcard apex", w.target("svc.example.com"), 403, "host-not-allowed"},
		{"ip literal", w.target("127.0.0.1"), 403, "address-not-allowed"},
		// (net/http's own parser refuses this one, before any decision)
		{"brackets", "[api.example.com]:" + strconv.Itoa(int(w.up.port)), 400, "Bad Request"},
		{"rebinding to a private address", w.target("rebind.example.com"), 403, "denied-address"},
		{"one bad answer of two", w.target("two.example.com"), 403, "denied-address"},
		{"cloud metadata", w.target("metadata.example.com"), 403, "denied-address"},
		{"mapped answer of a private address", w.target("mapped-private.example.com"), 403, "10.0.0.1 (private"},
		{"mapped literal", "[::ffff:127.0.0.1]:" + strconv.Itoa(int(w.up.port)), 403, "address-not-allowed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn, status, body := connect(t, p.Addr(), c.target)
			if conn != nil {
				conn.Close()
			}
			if status != c.status || !strings.Contains(body, c.reason) {
				t.Errorf("status %d body %q; want %d naming %s", status, body, c.status, c.reason)
			}
		})
	}
	// the allowed name in other spelling is the allowed name
	// (CVE-2022-24825: letter case and a trailing dot)
	conn, status, body := connect(t, p.Addr(), w.target("API.Example.COM."))
	if status != 200 {
		t.Fatalf("API.Example.COM.: status %d %s", status, body)
	}
	tc := tls.Client(conn, &tls.Config{ServerName: "api.example.com", RootCAs: w.up.roots})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	tc.Close()
	_ = logs
}

func TestSNIMismatch(t *testing.T) {
	w := newWorld(t)
	p, logs := proxyUnder(t, w.cfg, egress.Options{})
	conn, status, _ := connect(t, p.Addr(), w.target("api.example.com"))
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	// a TLS handshake for another name the upstream also holds a
	// certificate for: domain fronting through an allowed CONNECT
	tc := tls.Client(conn, &tls.Config{ServerName: "other.example.com", RootCAs: w.up.roots})
	tc.SetDeadline(time.Now().Add(5 * time.Second)) //nolint:errcheck
	if err := tc.Handshake(); err == nil {
		t.Fatal("the handshake for another server name went through")
	}
	tc.Close()
	m := logs.waitFor(t, w.target("api.example.com"))
	if m["decision"] != "deny" || m["reason"] != "sni-mismatch" || m["sni"] != "other.example.com" {
		t.Errorf("decision line %v", m)
	}

	// not TLS at all on a TLS port
	conn, _, _ = connect(t, p.Addr(), w.target("a.svc.example.com"))
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: a.svc.example.com\r\n\r\n") //nolint:errcheck
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))                     //nolint:errcheck
	if n, _ := conn.Read(make([]byte, 1)); n != 0 {
		t.Error("a plain-text request went through a TLS port")
	}
	conn.Close()
	if m := logs.waitFor(t, w.target("a.svc.example.com")); m["reason"] != "not-tls" {
		t.Errorf("decision line %v", m)
	}
}

func TestReportMode(t *testing.T) {
	w := newWorld(t)
	w.cfg.Mode = egress.Report
	w.cfg.Rules[0].Hosts = w.cfg.Rules[0].Hosts[1:] // api.example.com is no longer allowed
	p, logs := proxyUnder(t, w.cfg, egress.Options{})
	resp, err := client(p.Addr(), w.up.roots).Get("https://" + w.target("api.example.com") + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	m := logs.waitFor(t, w.target("api.example.com"))
	if m["decision"] != "report" || m["reason"] != "host-not-allowed" {
		t.Errorf("decision line %v", m)
	}
	// report mode never lets through an address the classifier denies
	if _, status, body := connect(t, p.Addr(), w.target("rebind.example.com")); status != 403 || !strings.Contains(body, "denied-address") {
		t.Errorf("rebind in report mode: %d %s", status, body)
	}
}

// TestReloadKeepsTunnels: a reload under open tunnels drops none, and the
// new rules apply to new requests at once.
func TestReloadKeepsTunnels(t *testing.T) {
	w := newWorld(t)
	next := w.cfg
	next.Rules = []policy.Rule{rule("teams-messaging-bot.out.reply", w.up.port, "a.svc.example.com")}
	next.AllowRanges = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	next.Listen = "127.0.0.1:0"
	load := func() (*egress.Config, error) { return &next, nil }
	reloads := make(chan struct{})
	p, _ := proxyUnder(t, w.cfg, egress.Options{Load: load, Reloads: reloads})

	const open = 20
	var conns []*tls.Conn
	for range open {
		conn, status, body := connect(t, p.Addr(), w.target("api.example.com"))
		if status != 200 {
			t.Fatalf("status %d %s", status, body)
		}
		tc := tls.Client(conn, &tls.Config{ServerName: "api.example.com", RootCAs: w.up.roots})
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, tc)
	}
	if err := p.ReloadFromSource(); err != nil {
		t.Fatal(err)
	}
	// every open tunnel still carries requests
	for i, tc := range conns {
		io.WriteString(tc, "GET / HTTP/1.1\r\nHost: api.example.com\r\n\r\n") //nolint:errcheck
		resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("tunnel %d after the reload: %v", i, err)
		}
		resp.Body.Close()
		tc.Close()
	}
	// new requests get the new rules
	if _, status, _ := connect(t, p.Addr(), w.target("api.example.com")); status != 403 {
		t.Errorf("api.example.com after the reload: %d, want 403", status)
	}
	if c, status, _ := connect(t, p.Addr(), w.target("a.svc.example.com")); status != 200 {
		t.Errorf("a.svc.example.com after the reload: %d, want 200", status)
	} else {
		c.Close()
	}
	// an invalid configuration is rejected and the running one stays
	next.Limits.MaxTunnels = -1
	if err := p.ReloadFromSource(); err == nil {
		t.Error("an invalid configuration was accepted")
	}
	if c, status, _ := connect(t, p.Addr(), w.target("a.svc.example.com")); status != 200 {
		t.Errorf("after a rejected reload: %d, want 200", status)
	} else {
		c.Close()
	}
}

func TestIdleTunnelClosed(t *testing.T) {
	w := newWorld(t)
	w.cfg.Limits.IdleTimeout = 300 * time.Millisecond
	p, _ := proxyUnder(t, w.cfg, egress.Options{})
	conn, status, _ := connect(t, p.Addr(), w.target("api.example.com"))
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	tc := tls.Client(conn, &tls.Config{ServerName: "api.example.com", RootCAs: w.up.roots})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	tc.SetReadDeadline(time.Now().Add(5 * time.Second)) //nolint:errcheck
	start := time.Now()
	_, err := tc.Read(make([]byte, 1))
	if err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("idle tunnel not closed: %v after %v", err, time.Since(start))
	}
}

func TestLimits(t *testing.T) {
	w := newWorld(t)
	w.cfg.Limits.MaxTunnels = 2
	p, _ := proxyUnder(t, w.cfg, egress.Options{})
	a, s1, _ := connect(t, p.Addr(), w.target("api.example.com"))
	b, s2, _ := connect(t, p.Addr(), w.target("api.example.com"))
	_, s3, body := connect(t, p.Addr(), w.target("api.example.com"))
	if s1 != 200 || s2 != 200 || s3 != 503 || !strings.Contains(body, "overloaded") {
		t.Errorf("statuses %d %d %d (%s), want 200 200 503", s1, s2, s3, body)
	}
	a.Close()
	b.Close()

	w = newWorld(t)
	w.cfg.Limits.Rate, w.cfg.Limits.Burst = 1, 3
	p, _ = proxyUnder(t, w.cfg, egress.Options{})
	var statuses []int
	for range 5 {
		_, s, _ := connect(t, p.Addr(), w.target("evil.example.com"))
		statuses = append(statuses, s)
	}
	if statuses[3] != 429 || statuses[4] != 429 {
		t.Errorf("statuses %v, want the 4th and 5th 429", statuses)
	}
}

// TestSourceIdentity: with identity source, a client is the roles whose
// addresses hold it, and gets only their rules.
func TestSourceIdentity(t *testing.T) {
	w := newWorld(t)
	w.cfg.Identity = egress.IdentitySource
	w.cfg.Rules = append(w.cfg.Rules, policy.Rule{FlowID: "other.flow", Role: "teams-calling-bot/bot",
		Hosts: w.cfg.Rules[0].Hosts[:1], Ports: w.cfg.Rules[0].Ports})
	w.cfg.Rules[0].Hosts = w.cfg.Rules[0].Hosts[1:]
	w.cfg.Clients = []egress.Client{{Role: "teams-calling-bot/bot", Prefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}}
	p, _ := proxyUnder(t, w.cfg, egress.Options{})
	if c, s, body := connect(t, p.Addr(), w.target("api.example.com")); s != 200 {
		t.Errorf("the calling bot's own host: %d %s", s, body)
	} else {
		c.Close()
	}
	if _, s, body := connect(t, p.Addr(), w.target("a.svc.example.com")); s != 403 {
		t.Errorf("the messaging bot's host from the calling bot: %d %s", s, body)
	}

	w.cfg.Clients = []egress.Client{{Role: "teams-calling-bot/bot", Prefixes: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}}
	p, _ = proxyUnder(t, w.cfg, egress.Options{})
	if _, s, body := connect(t, p.Addr(), w.target("api.example.com")); s != 403 || !strings.Contains(body, "unknown-client") {
		t.Errorf("a client of no role: %d %s", s, body)
	}
}

func TestForwardHTTP(t *testing.T) {
	plain := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "plain "+r.Host+" "+r.Header.Get("Proxy-Authorization")) //nolint:errcheck
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go plain.Serve(ln) //nolint:errcheck
	t.Cleanup(func() { plain.Close() })
	port := netip.MustParseAddrPort(ln.Addr().String()).Port()
	w := newWorld(t)
	w.cfg.Rules = append(w.cfg.Rules, rule("teamspro.out.http", port, "api.example.com"))
	w.cfg.PAC = []byte("function FindProxyForURL(url, host) { return \"DIRECT\"; }\n")
	p, logs := proxyUnder(t, w.cfg, egress.Options{})
	c := client(p.Addr(), nil)
	req, _ := http.NewRequest("GET", "http://api.example.com:"+strconv.Itoa(int(port))+"/x", nil)
	req.Header.Set("Proxy-Authorization", "Basic c2VjcmV0")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "plain api.example.com:"+strconv.Itoa(int(port))+" " {
		t.Errorf("status %d body %q", resp.StatusCode, b)
	}
	m := logs.waitFor(t, "api.example.com:"+strconv.Itoa(int(port)))
	if m["decision"] != "allow" || m["flow"] != "teamspro.out.http" {
		t.Errorf("decision line %v", m)
	}
	// plain HTTP to a TLS port (the upstream's, where api.example.com is
	// allowed) is refused: a TLS port carries TLS, in a tunnel
	resp, err = c.Get("http://" + w.target("api.example.com") + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || !strings.Contains(string(b), "not-tls") {
		t.Errorf("plain HTTP to a TLS port: status %d body %q", resp.StatusCode, b)
	}
	resp, err = c.Get("http://evil.example.com:" + strconv.Itoa(int(port)) + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || !strings.Contains(string(b), "host-not-allowed") {
		t.Errorf("status %d body %q", resp.StatusCode, b)
	}
	// the proxy's own PAC file, and nothing else in origin form
	resp, err = http.Get("http://" + p.Addr() + "/proxy.pac")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ns-proxy-autoconfig" || !strings.Contains(string(b), "FindProxyForURL") {
		t.Errorf("/proxy.pac: %d %q", resp.StatusCode, b)
	}
	resp, err = http.Get("http://" + p.Addr() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("origin-form /: %d", resp.StatusCode)
	}
}

// TestCurl: curl, as a bot's shell script would use the proxy.
func TestCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		if os.Getenv("TEAMSGATE_E2E") != "" {
			t.Fatal("curl is not installed")
		}
		t.Skip("curl is not installed")
	}
	w := newWorld(t)
	p, _ := proxyUnder(t, w.cfg, egress.Options{})
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, w.up.ca, 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(url string) (string, int) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, _ := exec.CommandContext(ctx, curl, "-sS", "--noproxy", "", "--proxy", "http://"+p.Addr(), "--cacert", ca, "-o", "-", "-w", "\n%{http_code} %{http_connect}", url).CombinedOutput()
		s := string(out)
		i := strings.LastIndex(s, "\n")
		var code, connect int
		if i >= 0 {
			fields := strings.Fields(s[i+1:])
			if len(fields) == 2 {
				code, _ = strconv.Atoi(fields[0])
				connect, _ = strconv.Atoi(fields[1])
			}
		}
		if code == 0 {
			return s, connect
		}
		return s, code
	}
	if out, code := run("https://" + w.target("api.example.com") + "/"); code != 200 || !strings.Contains(out, "hello from api.example.com") {
		t.Errorf("allowed: %d %q", code, out)
	}
	if out, code := run("https://" + w.target("evil.example.com") + "/"); code != 403 {
		t.Errorf("not allowed: %d %q", code, out)
	}
}

func portSet(ports ...uint16) (s model.PortSet) {
	for _, p := range ports {
		s = s.Union(model.NewPortSet(model.PortRange{First: p, Last: p}))
	}
	return s
}

// TestTunnelHalfClose: a client that sends its request and half-closes
// gets the whole answer an upstream sends after seeing that end, and then
// the end of the stream: the direction that ends first is half-closed on
// the far side, the one that ends second is closed.
func TestTunnelHalfClose(t *testing.T) {
	w := newWorld(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		n, _ := io.Copy(io.Discard, c)                                                    // to the client's end
		io.WriteString(c, strings.Repeat("y", 200000)+" after "+strconv.FormatInt(n, 10)) //nolint:errcheck
	}()
	cfg := w.cfg
	cfg.Rules = append(append([]policy.Rule(nil), cfg.Rules...), rule("teams-messaging-bot.out.raw", port, "api.example.com"))
	p, _ := proxyUnder(t, cfg, egress.Options{})
	c, status, body := connect(t, p.Addr(), net.JoinHostPort("api.example.com", strconv.Itoa(int(port))))
	if status != http.StatusOK {
		t.Fatalf("CONNECT: %d %q", status, body)
	}
	defer c.Close()
	if _, err := io.WriteString(c, strings.Repeat("x", 100000)); err != nil {
		t.Fatal(err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second)) //nolint:errcheck
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("after %d bytes: %v (want the end of the stream)", len(got), err)
	}
	if want := strings.Repeat("y", 200000) + " after 100000"; string(got) != want {
		t.Errorf("got %d bytes ending %q; want %d ending %q", len(got), got[max(0, len(got)-20):], len(want), want[len(want)-20:])
	}
}
