package ingress

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// stubTransport answers every request like a bot, without a network.
type stubTransport struct{}

func (stubTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{
		StatusCode:    200,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(strings.NewReader(`{"status":"ok"}`)),
		ContentLength: 15,
		Request:       r,
	}, nil
}

// BenchmarkServeHTTPCached is the gateway's own cost per request on the
// hot path: source check, rate limit, concurrency cap, body read, activity
// parse, cached token validation, the reverse proxy (to a stub transport),
// metrics and the request log line (JSON, discarded). The network and the
// HTTP server are not included; bench/gateway.sh measures those.
func BenchmarkServeHTTPCached(b *testing.B) {
	h := newHarness(b, withConfig(func(h *harness, c *Config) {
		c.PlainHTTP = true
		c.Limits.Rate, c.Limits.Burst = 1e9, 1e9
	}))
	for _, g := range h.g.state.Load().pool.order {
		for _, u := range g.ups {
			u.proxy.Transport = stubTransport{}
		}
	}
	auth := "Bearer " + h.token()
	body := activity()
	req := func() *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/api/messages", bytes.NewReader(body))
		r.RemoteAddr = "127.0.0.1:40000"
		r.Header.Set("Authorization", auth)
		r.Header.Set("Content-Type", "application/json")
		return r
	}
	w := httptest.NewRecorder()
	h.g.ServeHTTP(w, req())
	if w.Code != 200 {
		b.Fatalf("status %d", w.Code)
	}
	// The request log as serve writes it: JSON lines, here discarded.
	h.g.log = slog.New(slog.NewJSONHandler(io.Discard, nil))
	b.ReportAllocs()
	for b.Loop() {
		h.g.ServeHTTP(httptest.NewRecorder(), req())
	}
}
