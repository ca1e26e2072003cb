package egress_test

import (
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/teamsgate/teamsgate/internal/egress"
	"github.com/teamsgate/teamsgate/internal/egress/policy"
)

// answerSwitch is a name server whose one name resolves to the address
// held in addr, which the test changes, and which counts the A queries.
type answerSwitch struct {
	addr    atomic.Pointer[netip.Addr]
	queries atomic.Int64
}

func startSwitch(t *testing.T, name string, first netip.Addr) (*answerSwitch, netip.AddrPort) {
	t.Helper()
	s := &answerSwitch{}
	s.addr.Store(&first)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := dns.NewServeMux()
	mux.HandleFunc(".", func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		if q.Qtype == dns.TypeA && strings.EqualFold(q.Name, name+".") {
			s.queries.Add(1)
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 0}, A: s.addr.Load().AsSlice()})
		}
		w.WriteMsg(m) //nolint:errcheck
	})
	srv := &dns.Server{PacketConn: pc, Handler: mux}
	go srv.ActivateAndServe()            //nolint:errcheck
	t.Cleanup(func() { srv.Shutdown() }) //nolint:errcheck
	return s, netip.MustParseAddrPort(pc.LocalAddr().String())
}

// TestDNSCache: within dns_cache a name is resolved once; with the cache
// off every request asks again; a reload starts with an empty cache, and
// a private answer learnt then is refused, never dialled.
func TestDNSCache(t *testing.T) {
	up := startUpstream(t)
	for _, c := range []struct {
		name    string
		ttl     time.Duration
		queries int64
	}{{"cache", time.Minute, 1}, {"no cache", -1, 3}} {
		t.Run(c.name, func(t *testing.T) {
			sw, d := startSwitch(t, "api.example.com", loop)
			cfg := egress.Config{
				Rules:    []policy.Rule{rule("teams-messaging-bot.out.login", up.port, "api.example.com")},
				DNS:      []netip.AddrPort{d},
				TLSPorts: portSet(up.port),
				Limits:   egress.Limits{DNSCache: c.ttl},
			}
			p, _ := proxyUnder(t, cfg, egress.Options{})
			for i := range 3 {
				resp, err := client(p.Addr(), up.roots).Get("https://api.example.com:" + itoa(up.port) + "/")
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				io.Copy(io.Discard, resp.Body) //nolint:errcheck
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("request %d: %d", i, resp.StatusCode)
				}
			}
			if n := sw.queries.Load(); n != c.queries {
				t.Errorf("%d A queries for 3 requests, want %d", n, c.queries)
			}
		})
	}

	// a reload starts with an empty cache; a private answer learnt then
	// is refused
	sw, d := startSwitch(t, "api.example.com", loop)
	cfg := egress.Config{
		Rules:    []policy.Rule{rule("teams-messaging-bot.out.login", up.port, "api.example.com")},
		DNS:      []netip.AddrPort{d},
		TLSPorts: portSet(up.port),
		Limits:   egress.Limits{DNSCache: time.Minute},
	}
	p, _ := proxyUnder(t, cfg, egress.Options{})
	conn, status, _ := connect(t, p.Addr(), "api.example.com:"+itoa(up.port))
	if status != http.StatusOK {
		t.Fatalf("first CONNECT: %d", status)
	}
	conn.Close()
	private := netip.MustParseAddr("10.0.0.1")
	sw.addr.Store(&private)
	if err := p.Reload(&cfg); err != nil {
		t.Fatal(err)
	}
	_, status, body := connect(t, p.Addr(), "api.example.com:"+itoa(up.port))
	if status != http.StatusForbidden || !strings.Contains(body, "10.0.0.1 (private)") {
		t.Errorf("after the reload, CONNECT to the rebound name: %d %q", status, body)
	}
}
