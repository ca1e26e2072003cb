package probe

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/pion/stun/v3"

	"github.com/teamsgate/teamsgate/internal/certcheck/certtest"
	"github.com/teamsgate/teamsgate/internal/testutil"
)

// dnsServer answers A queries for the names in zone with 127.0.0.1 and
// everything else with NXDOMAIN, on a loopback UDP port.
func dnsServer(t *testing.T, zone map[string]string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := dns.NewServeMux()
	mux.HandleFunc(".", func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		a, ok := zone[strings.TrimSuffix(q.Name, ".")]
		switch {
		case !ok:
			m.Rcode = dns.RcodeNameError
		case q.Qtype == dns.TypeA:
			rr, _ := dns.NewRR(q.Name + " 60 IN A " + a)
			m.Answer = append(m.Answer, rr)
		}
		w.WriteMsg(m)
	})
	srv := &dns.Server{PacketConn: pc, Handler: mux}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

// tlsServer serves TLS on loopback with a leaf for names from a test PKI,
// limited to the versions given.
func tlsServer(t *testing.T, pki *certtest.PKI, names []string, min, max uint16) uint16 {
	t.Helper()
	leaf := pki.Leaf(t, certtest.Template{CN: names[0], DNSNames: names, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)})
	cfg := &tls.Config{MinVersion: min, MaxVersion: max, Certificates: []tls.Certificate{{
		Certificate: [][]byte{leaf.Cert.Raw, pki.Intermediate.Cert.Raw}, PrivateKey: leaf.Key, Leaf: leaf.Cert,
	}}}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				c.(*tls.Conn).Handshake()
				io.Copy(io.Discard, c)
				c.Close()
			}()
		}
	}()
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

// stunServer answers Binding Requests with a Binding success carrying the
// client's address (RFC 5389 §7.3).
func stunServer(t *testing.T) uint16 {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			req := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
			if req.Decode() != nil || req.Type != stun.BindingRequest {
				continue
			}
			ua := from.(*net.UDPAddr)
			res := stun.MustBuild(stun.NewTransactionIDSetter(req.TransactionID), stun.BindingSuccess,
				&stun.XORMappedAddress{IP: ua.IP, Port: ua.Port}, stun.Fingerprint)
			pc.WriteTo(res.Raw, from)
		}
	}()
	return uint16(pc.LocalAddr().(*net.UDPAddr).Port)
}

// proxy is an HTTP CONNECT proxy on loopback that refuses hosts outside
// allow (403) and tunnels the others to 127.0.0.1 at the same port.
func proxy(t *testing.T, allow map[string]bool) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				host, port, _ := net.SplitHostPort(req.Host)
				if !allow[host] {
					io.WriteString(c, "HTTP/1.1 403 Forbidden\r\nContent-Length: 18\r\n\r\nhost-not-allowed\r\n")
					return
				}
				up, err := net.Dial("tcp", "127.0.0.1:"+port)
				if err != nil {
					io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
					return
				}
				defer up.Close()
				io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
				go io.Copy(up, br)
				io.Copy(c, up)
			}()
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String())
}

func closedPort(t *testing.T) uint16 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := uint16(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	return p
}

// TestRun runs each kind of check against servers on loopback, each with
// the outcome it must have.
func TestRun(t *testing.T) {
	pki, other := certtest.NewPKI(t), certtest.NewOtherPKI(t)
	good := tlsServer(t, pki, []string{"login.example.test"}, tls.VersionTLS12, tls.VersionTLS13)
	wrongCA := tlsServer(t, other, []string{"graph.example.test"}, tls.VersionTLS12, tls.VersionTLS13)
	wrongName := tlsServer(t, pki, []string{"elsewhere.example.test"}, tls.VersionTLS12, tls.VersionTLS13)
	old := tlsServer(t, pki, []string{"old.example.test"}, tls.VersionTLS10, tls.VersionTLS11)
	stunPort := stunServer(t)
	refused := closedPort(t)
	zone := map[string]string{}
	for _, n := range []string{"login.example.test", "graph.example.test", "wrong.example.test", "old.example.test", "relay.example.test", "closed.example.test"} {
		zone[n] = "127.0.0.1"
	}
	opt := Options{DNS: dnsServer(t, zone), Roots: pki.Roots, Timeout: 2 * time.Second}
	for _, tc := range []struct {
		name   string
		check  Check
		want   Outcome
		reason string
	}{
		{"tls ok", Check{Kind: KindTLS, Host: "login.example.test", Port: good}, Pass, "TLS handshake verified, TLS 1.3"},
		{"tls unknown authority", Check{Kind: KindTLS, Host: "graph.example.test", Port: wrongCA}, TLSFailure, "unknown authority"},
		{"tls wrong name", Check{Kind: KindTLS, Host: "wrong.example.test", Port: wrongName}, TLSFailure, "not wrong.example.test"},
		{"tls 1.1 only", Check{Kind: KindTLS, Host: "old.example.test", Port: old}, TLSFailure, "negotiated TLS 1.1: 000 and 002 require TLS 1.2"},
		{"tcp open", Check{Kind: KindTCP, Host: "login.example.test", Port: good}, Pass, "open"},
		{"tcp refused", Check{Kind: KindTCP, Host: "closed.example.test", Port: refused}, Pass, "refused: something answered"},
		{"dns nxdomain", Check{Kind: KindTCP, Host: "missing.example.test", Port: good}, DNSFailure, "NXDOMAIN"},
		{"answer outside the rule's ranges", Check{Kind: KindTCP, Host: "login.example.test", Port: good, Prefixes: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}, DNSFailure, "no answer is in the rule's address ranges"},
		{"stun", Check{Kind: KindSTUN, Host: "relay.example.test", Port: stunPort}, Pass, "STUN Binding success"},
		{"stun unanswered", Check{Kind: KindSTUN, Addr: netip.MustParseAddr("127.0.0.1"), Port: refused}, Blocked, ""},
		{"skipped", Check{Kind: KindTCP, Reason: "a wildcard"}, Skipped, "a wildcard"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.check.Rule = "r"
			r := Run(context.Background(), []Check{tc.check}, opt)[0]
			if r.Outcome != tc.want || !strings.Contains(r.Reason, tc.reason) {
				t.Errorf("%s %q, want %s %q", r.Outcome, r.Reason, tc.want, tc.reason)
			}
			if tc.want != Skipped && (r.Elapsed <= 0 || r.Millis <= 0) {
				t.Errorf("no time taken recorded: %v %v", r.Elapsed, r.Millis)
			}
			if tc.check.Host != "" && tc.want != DNSFailure && tc.want != Skipped && (len(r.Answers) != 1 || r.Answers[0] != "127.0.0.1") {
				t.Errorf("DNS answers %v", r.Answers)
			}
		})
	}

	// Through a proxy: a refused host is the proxy's refusal, an allowed
	// one a verified tunnel.
	px := proxy(t, map[string]bool{"login.example.test": true})
	popt := opt
	popt.Proxy = px
	res := Run(context.Background(), []Check{
		{Rule: "a", Kind: KindTLS, Host: "login.example.test", Port: good},
		{Rule: "b", Kind: KindTLS, Host: "graph.example.test", Port: good},
	}, popt)
	if res[0].Outcome != Pass || !res[0].ViaProxy || res[0].TLSVersion != "TLS 1.3" {
		t.Errorf("allowed through the proxy: %+v", res[0])
	}
	if res[1].Outcome != ProxyRefused || !strings.Contains(res[1].Reason, "403 Forbidden: host-not-allowed") {
		t.Errorf("refused by the proxy: %+v", res[1])
	}
}

// TestFilteredIsBoundedAndConcurrent: checks that get no answer are
// blocked after the timeout, all at once, not one after another.
func TestFilteredIsBoundedAndConcurrent(t *testing.T) {
	// UDP to a port nothing reads from on loopback is answered by an ICMP
	// port unreachable; a bound socket that never answers is filtered.
	var checks []Check
	for range 8 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pc.Close() })
		checks = append(checks, Check{Rule: "r", Kind: KindSTUN, Addr: netip.MustParseAddr("127.0.0.1"), Port: uint16(pc.LocalAddr().(*net.UDPAddr).Port)})
	}
	start := time.Now()
	res := Run(context.Background(), checks, Options{Timeout: 500 * time.Millisecond, DNS: "127.0.0.1:9"})
	took := time.Since(start)
	for _, r := range res {
		if r.Outcome != Blocked || !strings.Contains(r.Reason, "filtered") {
			t.Errorf("%+v", r)
		}
	}
	if took > 1500*time.Millisecond {
		t.Errorf("8 filtered checks took %s with a 500ms timeout: they did not run at once", took)
	}
}

// TestChecksCallingBot: the calling bot's outbound flows become checks of
// the plan's hosts and ports only; what cannot be probed is skipped with
// its reason.
func TestChecksCallingBot(t *testing.T) {
	p := testutil.Plan(t, testutil.ExamplePath("calling-bot"), "")
	checks, skipped, err := Checks(p, "bot")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, c := range checks {
		got[string(c.Kind)+" "+c.Host+" "+itoa(c.Port)] = true
		if c.Host == "" {
			t.Errorf("a check of an address the plan does not name as one: %+v", c)
		}
	}
	for _, want := range []string{
		"tls login.microsoftonline.com 443", "tls api.botframework.com 443", "tls graph.microsoft.com 443",
		"tls teams.microsoft.com 443", "tcp teams.microsoft.com 80", "tls aka.ms 443",
	} {
		if !got[want] {
			t.Errorf("no check %q (have %v)", want, got)
		}
	}
	reasons := map[string]string{}
	for _, s := range skipped {
		reasons[s.Rule+" "+s.Host] = s.Reason
	}
	if r := reasons["teams-calling-bot.out.m365.set11-udp "]; !strings.Contains(r, "address ranges only") {
		t.Errorf("set 11 (UDP to the Teams ranges, no host): %q", r)
	}
	if r := reasons["teams-calling-bot.out.m365.set12-tcp *.teams.microsoft.com"]; !strings.Contains(r, "wildcard") {
		t.Errorf("a wildcard host: %q", r)
	}
	if _, _, err := Checks(p, "clients"); err == nil {
		t.Errorf("a role with no outbound rule: no error")
	}
}

func itoa(p uint16) string { return strconv.Itoa(int(p)) }
