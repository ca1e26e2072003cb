package probe

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"github.com/pion/stun/v3"
)

// Options are how checks run.
type Options struct {
	// DNS is the name server asked for the plan's host names (host:port);
	// "" means the first of /etc/resolv.conf.
	DNS string
	// Timeout bounds each check (DNS, connect, handshake, answer).
	Timeout time.Duration
	// Concurrency bounds the checks that run at once.
	Concurrency int
	// Roots verify TLS chains; nil means the system's roots.
	Roots *x509.CertPool
	// Proxy, when valid, is the egress proxy host-name flows go through
	// (HTTP CONNECT).
	Proxy netip.AddrPort
	// Progress, when set, is told of each finished check.
	Progress func(done, total int)
	// now is the clock for elapsed times; nil means time.Now.
	now func() time.Time
}

const (
	defaultTimeout     = 3 * time.Second
	defaultConcurrency = 16
)

// Run runs the checks, at most opt.Concurrency at a time, and returns
// their results in the order of checks.
func Run(ctx context.Context, checks []Check, opt Options) []Result {
	if opt.Timeout <= 0 {
		opt.Timeout = defaultTimeout
	}
	if opt.Concurrency <= 0 {
		opt.Concurrency = defaultConcurrency
	}
	if opt.now == nil {
		opt.now = time.Now
	}
	if opt.DNS == "" {
		opt.DNS = systemDNS()
	}
	out := make([]Result, len(checks))
	sem := make(chan struct{}, opt.Concurrency)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for i, c := range checks {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i] = runOne(ctx, c, opt)
			if opt.Progress != nil {
				mu.Lock()
				done++
				opt.Progress(done, len(checks))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out
}

func runOne(ctx context.Context, c Check, opt Options) (r Result) {
	start := opt.now()
	r = Result{Rule: c.Rule, Kind: c.Kind, Host: c.Host, Port: c.Port}
	defer func() {
		r.Elapsed = opt.now().Sub(start)
		r.Millis = float64(r.Elapsed.Microseconds()) / 1000
	}()
	if c.Reason != "" {
		r.Outcome, r.Reason = Skipped, c.Reason
		return r
	}
	ctx, cancel := context.WithTimeout(ctx, opt.Timeout)
	defer cancel()
	if c.Kind == KindEcho {
		probeEcho(ctx, c, &r)
		return r
	}
	if opt.Proxy.IsValid() && c.Host != "" && c.Kind != KindSTUN {
		r.ViaProxy = true
		r.Addr = opt.Proxy.String()
		probeViaProxy(ctx, c, opt, &r)
		return r
	}
	addr := c.Addr
	if c.Host != "" {
		answers, err := resolve(ctx, opt.DNS, c.Host)
		for _, a := range answers {
			r.Answers = append(r.Answers, a.String())
		}
		if err != nil {
			r.Outcome, r.Reason = DNSFailure, err.Error()
			return r
		}
		if addr, err = pick(answers, c.Prefixes); err != nil {
			r.Outcome, r.Reason = DNSFailure, err.Error()
			return r
		}
	}
	ap := netip.AddrPortFrom(addr, c.Port)
	r.Addr = ap.String()
	switch c.Kind {
	case KindSTUN:
		probeSTUN(ctx, ap, &r)
	default:
		conn, err := dialTCP(ctx, ap)
		if err != nil {
			classifyDial(err, &r)
			return r
		}
		defer conn.Close()
		if c.Kind == KindTLS {
			handshake(ctx, conn, c.Host, opt.Roots, &r)
			return r
		}
		r.Outcome, r.Reason = Pass, "open"
	}
	return r
}

// systemDNS is the first name server of /etc/resolv.conf.
func systemDNS() string {
	cfg, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil || len(cfg.Servers) == 0 {
		return "127.0.0.1:53"
	}
	return net.JoinHostPort(cfg.Servers[0], cfg.Port)
}

// resolve asks server for the A and AAAA records of host and returns every
// address of the answers (the CNAME chain's end included).
func resolve(ctx context.Context, server, host string) ([]netip.Addr, error) {
	cl := &dns.Client{}
	var out []netip.Addr
	var lastErr error
	for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA} {
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(host), qtype)
		m.RecursionDesired = true
		in, _, err := cl.ExchangeContext(ctx, m, server)
		if err != nil {
			lastErr = fmt.Errorf("no answer from %s: %v", server, err)
			continue
		}
		if in.Rcode != dns.RcodeSuccess {
			lastErr = fmt.Errorf("%s answers %s", server, dns.RcodeToString[in.Rcode])
			continue
		}
		for _, rr := range in.Answer {
			switch rr := rr.(type) {
			case *dns.A:
				if a, ok := netip.AddrFromSlice(rr.A.To4()); ok {
					out = append(out, a)
				}
			case *dns.AAAA:
				if a, ok := netip.AddrFromSlice(rr.AAAA); ok {
					out = append(out, a)
				}
			}
		}
	}
	if len(out) == 0 {
		if lastErr == nil {
			lastErr = fmt.Errorf("%s has no address", host)
		}
		return nil, lastErr
	}
	return out, nil
}

// pick chooses the address to probe: the first IPv4 answer, else the
// first answer; within prefixes when the rule gives them.
func pick(answers []netip.Addr, prefixes []netip.Prefix) (netip.Addr, error) {
	in := func(a netip.Addr) bool {
		if len(prefixes) == 0 {
			return true
		}
		for _, p := range prefixes {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	var first netip.Addr
	for _, a := range answers {
		if !in(a) {
			continue
		}
		if a.Is4() {
			return a, nil
		}
		if !first.IsValid() {
			first = a
		}
	}
	if first.IsValid() {
		return first, nil
	}
	return netip.Addr{}, fmt.Errorf("no answer is in the rule's address ranges, so none is probed")
}

func dialTCP(ctx context.Context, ap netip.AddrPort) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", ap.String())
}

// classifyDial says what a failed connect means: refused is something
// answering (the path is open), a timeout a filter dropping packets, an
// unreachable a filter rejecting them or no route.
func classifyDial(err error, r *Result) {
	var errno syscall.Errno
	switch {
	case errors.As(err, &errno) && errno == syscall.ECONNREFUSED:
		r.Outcome, r.Reason = Pass, "refused: something answered, the path is open"
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded):
		r.Outcome, r.Reason = Blocked, "filtered: no answer before the timeout"
	case errors.As(err, &errno) && (errno == syscall.EHOSTUNREACH || errno == syscall.ENETUNREACH):
		r.Outcome, r.Reason = Blocked, "unreachable: "+errno.Error()
	default:
		r.Outcome, r.Reason = Blocked, err.Error()
	}
}

// handshake runs a TLS client handshake with the plan's name as SNI,
// verifies the chain and the name, and requires TLS 1.2 or later; older
// versions are offered so that a server limited to them is reported as
// such, not as a failed handshake.
func handshake(ctx context.Context, conn net.Conn, host string, roots *x509.CertPool, r *Result) {
	tc := tls.Client(conn, &tls.Config{ServerName: host, RootCAs: roots, MinVersion: tls.VersionTLS10})
	if err := tc.HandshakeContext(ctx); err != nil {
		r.Outcome, r.Reason = TLSFailure, err.Error()
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
			r.Outcome, r.Reason = Blocked, "connected, but no TLS answer before the timeout"
		}
		return
	}
	st := tc.ConnectionState()
	r.TLSVersion = tls.VersionName(st.Version)
	if len(st.PeerCertificates) > 0 {
		r.CertNames = st.PeerCertificates[0].DNSNames
	}
	if st.Version < tls.VersionTLS12 {
		r.Outcome, r.Reason = TLSFailure, "negotiated "+r.TLSVersion+": 000 and 002 require TLS 1.2 or later"
		return
	}
	r.Outcome, r.Reason = Pass, "TLS handshake verified, "+r.TLSVersion
}

// probeViaProxy asks the egress proxy for a tunnel to the plan's host and
// port and, for a TLS check, shakes hands through it. A refusal by the
// proxy is told apart from the destination's.
func probeViaProxy(ctx context.Context, c Check, opt Options, r *Result) {
	conn, err := dialTCP(ctx, opt.Proxy)
	if err != nil {
		classifyDial(err, r)
		r.Reason = "the proxy: " + r.Reason
		if r.Outcome == Pass {
			r.Outcome, r.Reason = Blocked, "the proxy refused the connection"
		}
		return
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	target := net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port)))
	fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: teamsgate-probe\r\n\r\n", target, target)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		r.Outcome, r.Reason = Blocked, "the proxy did not answer the CONNECT: "+err.Error()
		return
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		resp.Body.Close()
		r.Outcome, r.Reason = ProxyRefused, fmt.Sprintf("%s: %s", resp.Status, trimBody(body))
		if resp.StatusCode == http.StatusBadGateway || resp.StatusCode == http.StatusGatewayTimeout {
			// The proxy tried: the destination did not answer it.
			r.Outcome = Blocked
			r.Reason = "through the proxy: " + r.Reason
		}
		return
	}
	if c.Kind == KindTLS {
		handshake(ctx, &bufConn{Conn: conn, r: br}, c.Host, opt.Roots, r)
		return
	}
	r.Outcome, r.Reason = Pass, "tunnel open through the proxy"
}

func trimBody(b []byte) string {
	s := string(b)
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}

// bufConn reads first what the CONNECT response's reader buffered.
type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// probeSTUN sends a STUN Binding Request (RFC 5389 §7) and waits for its
// success response, as Microsoft's network assessment tool does towards
// the Teams transport relays; the round trip is the result.
func probeSTUN(ctx context.Context, ap netip.AddrPort, r *Result) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", ap.String())
	if err != nil {
		r.Outcome, r.Reason = Blocked, err.Error()
		return
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	sent := time.Now()
	if _, err := conn.Write(req.Raw); err != nil {
		r.Outcome, r.Reason = Blocked, err.Error()
		return
	}
	buf := make([]byte, 1500)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			var errno syscall.Errno
			if errors.As(err, &errno) && errno == syscall.ECONNREFUSED {
				r.Outcome, r.Reason = Blocked, "port unreachable: nothing answers STUN there"
				return
			}
			r.Outcome, r.Reason = Blocked, "filtered: no STUN answer before the timeout"
			return
		}
		res := new(stun.Message)
		res.Raw = append([]byte(nil), buf[:n]...)
		if err := res.Decode(); err != nil || res.TransactionID != req.TransactionID {
			continue // not an answer to this request
		}
		if res.Type != stun.BindingSuccess {
			r.Outcome, r.Reason = Blocked, "STUN answered "+res.Type.String()
			return
		}
		r.Outcome, r.Reason = Pass, fmt.Sprintf("STUN Binding success, round trip %s", time.Since(sent).Round(100*time.Microsecond))
		return
	}
}
