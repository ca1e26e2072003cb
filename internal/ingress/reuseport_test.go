package ingress

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Two gateway processes with reuse_port share one port and the kernel
// spreads the connections over them; without it the second cannot listen.
func TestReusePortInstances(t *testing.T) {
	plain := func(reuse bool) harnessOption {
		return withConfig(func(h *harness, c *Config) { c.PlainHTTP = true; c.ReusePort = reuse })
	}
	first := newHarness(t, plain(true))
	addr := first.g.Addr().String()
	second := newHarness(t, plain(true), withConfig(func(h *harness, c *Config) { c.Listen = addr }))
	if got := second.g.Addr().String(); got != addr {
		t.Fatalf("second instance listens on %s, want %s", got, addr)
	}

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	defer client.CloseIdleConnections()
	tok := "Bearer " + first.token()
	for i := range 64 {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/api/messages", bytes.NewReader(activity()))
		req.Header.Set("Authorization", tok)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d", i, resp.StatusCode)
		}
	}
	served := func(h *harness) int {
		n, _ := strconv.Atoi(h.metric(`teamsgate_gateway_requests_total{decision="allow",reason="ok"}`))
		return n
	}
	a, b := served(first), served(second)
	if a+b != 64 || a == 0 || b == 0 {
		t.Errorf("requests served: %d and %d, want 64 spread over both instances", a, b)
	}

	// Without reuse_port the port is taken.
	cfg := first.cfg
	cfg.Listen, cfg.ReusePort, cfg.AdminListen = addr, false, "127.0.0.1:0"
	g, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = g.Start(ctx)
	if err == nil {
		g.Shutdown(ctx) //nolint:errcheck
		t.Fatal("a third instance without reuse_port started on the shared port")
	}
	if !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("err = %v, want address already in use", err)
	}
}
