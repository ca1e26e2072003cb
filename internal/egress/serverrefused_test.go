package egress_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/teamsgate/teamsgate/internal/egress"
)

// metricValue reads one series of the proxy's /metrics.
func metricValue(t *testing.T, p *egress.Proxy, series string) string {
	t.Helper()
	resp, err := http.Get("http://" + p.AdminAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			return v
		}
	}
	return ""
}

// TestServerRefusals: the requests the HTTP server ends before the
// handler — unparsable, a header over the limit, unfinished — are counted
// by reason and logged, with no part of the request, as the gateway counts
// them; a request the handler refuses is not counted twice.
func TestServerRefusals(t *testing.T) {
	w := newWorld(t)
	w.cfg.AdminListen = "127.0.0.1:0"
	w.cfg.Limits.MaxHeaderBytes = 4 << 10
	w.cfg.Limits.HeaderTimeout = 300 * time.Millisecond
	p, logs := proxyUnder(t, w.cfg, egress.Options{})
	send := func(raw string) {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, raw)                             //nolint:errcheck
		c.SetReadDeadline(time.Now().Add(5 * time.Second)) //nolint:errcheck
		io.Copy(io.Discard, c)                             //nolint:errcheck
	}
	send("NOT A REQUEST\r\n\r\n")
	send("CONNECT api.example.com:443 HTTP/1.1\r\nHost: api.example.com\r\nX-Big: " + strings.Repeat("a", 8<<10) + "\r\n\r\n")
	// unfinished: the server waits header_timeout, then closes without
	// an answer
	send("CONNECT api.example.com:443 HTTP/1.1\r\nHost: api")
	send("CONNECT evil.example.com:443 HTTP/1.1\r\nHost: evil.example.com\r\n\r\n")

	want := map[string]string{
		"malformed-request":  "1",
		"headers-too-large":  "1",
		"incomplete-request": "1",
		"host-not-allowed":   "1",
	}
	deadline := time.Now().Add(5 * time.Second)
	for reason, n := range want {
		series := `teamsgate_egress_requests_total{decision="deny",reason="` + reason + `"}`
		for metricValue(t, p, series) != n && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if got := metricValue(t, p, series); got != n {
			t.Errorf("%s = %q, want %s", series, got, n)
		}
	}
	logs.mu.Lock()
	out := logs.buf.String()
	logs.mu.Unlock()
	if strings.Count(out, "request refused by the HTTP server") != 3 || strings.Contains(out, "aaaa") || strings.Contains(out, "NOT A REQUEST") {
		t.Errorf("log:\n%s", out)
	}
}
