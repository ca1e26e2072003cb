package egress_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/teamsgate/teamsgate/internal/egress"
	"github.com/teamsgate/teamsgate/internal/egress/policy"
	"github.com/teamsgate/teamsgate/internal/model"
)

// zone is the test's DNS: names and the addresses they resolve to.
type zone map[string][]netip.Addr

// startDNS serves z on a loopback UDP port, as the proxy's name server,
// and returns its address.
func startDNS(t *testing.T, z zone) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := dns.NewServeMux()
	mux.HandleFunc(".", func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Authoritative = true
		q := r.Question[0]
		addrs, ok := z[strings.TrimSuffix(strings.ToLower(q.Name), ".")]
		if !ok {
			m.Rcode = dns.RcodeNameError
		}
		for _, a := range addrs {
			switch {
			case q.Qtype == dns.TypeA && a.Is4():
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1}, A: a.AsSlice()})
			case q.Qtype == dns.TypeAAAA && a.Is6():
				m.Answer = append(m.Answer, &dns.AAAA{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: 1}, AAAA: a.AsSlice()})
			}
		}
		w.WriteMsg(m) //nolint:errcheck
	})
	srv := &dns.Server{PacketConn: pc, Handler: mux}
	go srv.ActivateAndServe()            //nolint:errcheck
	t.Cleanup(func() { srv.Shutdown() }) //nolint:errcheck
	return netip.MustParseAddrPort(pc.LocalAddr().String())
}

// upstream is a TLS server on loopback with a certificate for names, and
// the pool that trusts it.
type upstream struct {
	srv   *httptest.Server
	port  uint16
	roots *x509.CertPool
	ca    []byte // PEM, for curl
}

func startUpstream(t *testing.T, names ...string) *upstream {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			n, _ := strconv.Atoi(r.URL.Query().Get("n"))
			w.Write(bytes.Repeat([]byte("x"), n)) //nolint:errcheck
			return
		}
		io.WriteString(w, "hello from "+r.Host) //nolint:errcheck
	}))
	srv.EnableHTTP2 = false
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	srv.StartTLS()
	t.Cleanup(srv.Close)
	// httptest's certificate names example.com and *.example.com
	cert := srv.Certificate()
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	port := netip.MustParseAddrPort(srv.Listener.Addr().String()).Port()
	_ = names
	return &upstream{srv: srv, port: port, roots: roots, ca: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})}
}

// logLines is a concurrency-safe buffer of JSON log lines.
type logLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// requests returns the decision lines logged so far.
func (l *logLines) requests() []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(l.buf.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "egress request" {
			out = append(out, m)
		}
	}
	return out
}

// waitFor returns the first decision line for target, waiting for it a
// while (a tunnel's line is written when it ends).
func (l *logLines) waitFor(t *testing.T, target string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range l.requests() {
			if m["target"] == target {
				return m
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no decision logged for %s:\n%s", target, l.buf.String())
	return nil
}

// proxyUnder starts a proxy with cfg (listening on loopback), allowing
// loopback upstreams, and returns it with its log.
func proxyUnder(t *testing.T, cfg egress.Config, opts egress.Options) (*egress.Proxy, *logLines) {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	cfg.AllowRanges = append(cfg.AllowRanges, netip.MustParsePrefix("127.0.0.0/8"))
	logs := &logLines{}
	opts.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p, err := egress.New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p.Shutdown(ctx) //nolint:errcheck
	})
	return p, logs
}

func rule(flow string, port uint16, hosts ...string) policy.Rule {
	r := policy.Rule{FlowID: flow, Role: "teams-messaging-bot/bot", Ports: model.NewPortSet(model.PortRange{First: port, Last: port})}
	for _, h := range hosts {
		r.Hosts = append(r.Hosts, model.MustParseHost(h))
	}
	return r
}

// client returns an HTTP client that goes through the proxy and trusts
// the upstream.
func client(proxyAddr string, roots *x509.CertPool) *http.Client {
	u := &url.URL{Scheme: "http", Host: proxyAddr}
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			Proxy:             http.ProxyURL(u),
			TLSClientConfig:   &tls.Config{RootCAs: roots},
			DisableKeepAlives: true,
		},
	}
}

// connect sends CONNECT target through the proxy and returns the
// connection and the proxy's status line and body on a refusal.
func connect(t *testing.T, proxyAddr, target string) (net.Conn, int, string) {
	t.Helper()
	c, err := net.Dial("tcp", proxyAddr)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "CONNECT "+target+" HTTP/1.1\r\nHost: "+target+"\r\n\r\n") //nolint:errcheck
	c.SetReadDeadline(time.Now().Add(5 * time.Second))                           //nolint:errcheck
	resp, err := http.ReadResponse(bufioReader(c), &http.Request{Method: http.MethodConnect})
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Time{}) //nolint:errcheck
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		c.Close()
		return nil, resp.StatusCode, string(b)
	}
	return c, resp.StatusCode, ""
}
