package ingress

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/teamsgate/teamsgate/internal/ingress/ingresstest"
)

// TestUpstreamEjectedByHealthCheck: with no traffic at all, the active
// health checks take a dead upstream out of its group, so that every
// following request reaches the live one; when it comes back, the checks
// put it back.
func TestUpstreamEjectedByHealthCheck(t *testing.T) {
	h := newHarness(t, withGroups(map[string][]string{"blue": {"blue-1", "blue-2"}}, "blue"))
	dead := h.bots["blue-2"]
	dead.SetHealthStatus(503) // as a crashed bot behind its own proxy would answer
	upOf := func() bool {
		for _, u := range h.g.Status().Groups[0].Upstreams {
			if u.URL == dead.URL {
				return u.Up
			}
		}
		t.Fatal("upstream not found")
		return false
	}
	eventually(t, 3*time.Second, "blue-2 ejected by the health check", func() bool { return !upOf() })
	if !strings.Contains(h.logs.String(), `"msg":"upstream down"`) {
		t.Error("no health check log of the ejection")
	}
	tok := "Bearer " + h.token()
	before := dead.Requests()
	for i := range 20 {
		if resp, body := h.post(tok, activity()); resp.StatusCode != 200 || !strings.Contains(string(body), "blue-1") {
			t.Fatalf("request %d after ejection: %d %s", i, resp.StatusCode, body)
		}
	}
	if dead.Requests() != before {
		t.Error("the ejected upstream still received requests")
	}
	if v := h.metric(fmt.Sprintf(`teamsgate_gateway_upstream_up{group="blue",upstream=%q}`, dead.URL)); v != "0" {
		t.Errorf("upstream_up of the ejected upstream = %q, want 0", v)
	}
	dead.SetHealthStatus(0)
	eventually(t, 3*time.Second, "blue-2 back", upOf)
}

// TestUpstreamKilledEjected: the same for an upstream whose process is
// gone (connections refused).
func TestUpstreamKilledEjected(t *testing.T) {
	h := newHarness(t, withGroups(map[string][]string{"blue": {"blue-1", "blue-2"}}, "blue"))
	h.bots["blue-2"].Close()
	eventually(t, 3*time.Second, "blue-2 ejected", func() bool {
		for _, u := range h.g.Status().Groups[0].Upstreams {
			if u.URL == h.bots["blue-2"].URL {
				return !u.Up
			}
		}
		return false
	})
	for i := range 10 {
		if resp, _ := h.post("Bearer "+h.token(), activity()); resp.StatusCode != 200 {
			t.Fatalf("request %d after ejection: %d", i, resp.StatusCode)
		}
	}
}

// TestUpstreamDown502Quickly: a group whose only upstream refuses
// connections answers 502 within a fraction of a second.
func TestUpstreamDown502Quickly(t *testing.T) {
	h := newHarness(t, withConfig(func(h *harness, c *Config) {
		c.Upstreams.Health = Health{Interval: time.Hour, Timeout: time.Second, Rise: 1, Fall: 1}
	}))
	h.bots["blue-1"].Close()
	start := time.Now()
	resp, body := h.post("Bearer "+h.token(), activity())
	if resp.StatusCode != 502 || string(body) != "Bad Gateway\n" {
		t.Fatalf("status %d %q, want 502", resp.StatusCode, body)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("502 took %v", d)
	}
	if line := lastRequestLog(t, h); !strings.Contains(line, `"reason":"upstream-error"`) {
		t.Errorf("log line %s", line)
	}
	// Passive ejection (fall 1): the next request finds no healthy upstream.
	if resp, _ := h.post("Bearer "+h.token(), activity()); resp.StatusCode != 503 {
		t.Errorf("after passive ejection: status %d, want 503", resp.StatusCode)
	}
}

// loadResult counts a load run's outcomes.
type loadResult struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	errs       []string
	byBot      sync.Map // bot name → *atomic.Int64
}

func (r *loadResult) fail(msg string) {
	r.failed.Add(1)
	r.mu.Lock()
	if len(r.errs) < 10 {
		r.errs = append(r.errs, msg)
	}
	r.mu.Unlock()
}

// runLoad sends activities from workers until stop is called, which
// waits for each worker to finish the request it has started; every
// failure is reported. The test's end stops the load too.
func runLoad(t *testing.T, h *harness, workers int) (*loadResult, func()) {
	t.Helper()
	res := &loadResult{}
	stopc := make(chan struct{})
	var once sync.Once
	tok := "Bearer " + h.token()
	body := activity()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stopc:
					return
				default:
				}
				req, _ := http.NewRequest(http.MethodPost, h.base+"/api/messages", bytes.NewReader(body))
				req.Header.Set("Authorization", tok)
				resp, err := h.client.Do(req)
				if err != nil {
					res.fail(err.Error())
					continue
				}
				var b bytes.Buffer
				b.ReadFrom(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					res.fail(fmt.Sprintf("status %d", resp.StatusCode))
					continue
				}
				res.ok.Add(1)
				var answer struct{ Bot string }
				json.Unmarshal(b.Bytes(), &answer)
				n, _ := res.byBot.LoadOrStore(answer.Bot, new(atomic.Int64))
				n.(*atomic.Int64).Add(1)
			}
		}()
	}
	stop := func() {
		once.Do(func() { close(stopc) })
		wg.Wait()
	}
	t.Cleanup(stop)
	return res, stop
}

func (r *loadResult) count(bot string) int64 {
	n, ok := r.byBot.Load(bot)
	if !ok {
		return 0
	}
	return n.(*atomic.Int64).Load()
}

// TestBlueGreenSwitchUnderLoad: under steady load, switching from blue to
// green through the admin endpoint fails no request; the switch answers
// once blue's requests in flight are done; afterwards only green is used.
// Switching to a colour without a healthy upstream is refused.
func TestBlueGreenSwitchUnderLoad(t *testing.T) {
	h := newHarness(t, withGroups(map[string][]string{"blue": {"blue-1", "blue-2"}, "green": {"green-1", "green-2"}}, "blue"),
		withConfig(func(h *harness, c *Config) { c.Limits.Rate, c.Limits.Burst = 1e5, 1e5 }))
	for _, b := range h.bots {
		b.SetDelay(20 * time.Millisecond)
	}
	res, stop := runLoad(t, h, 16)
	time.Sleep(300 * time.Millisecond)

	h.bots["green-2"].SetHealthStatus(500)
	h.bots["green-1"].SetHealthStatus(500)
	eventually(t, 2*time.Second, "green unhealthy", func() bool { return !h.g.Status().Groups[1].Healthy })
	if code, body := h.adminPost("/upstreams/active?group=green"); code != http.StatusConflict {
		t.Fatalf("switch to unhealthy green: %d %s, want 409", code, body)
	}
	h.bots["green-2"].SetHealthStatus(0)
	h.bots["green-1"].SetHealthStatus(0)
	eventually(t, 2*time.Second, "green healthy", func() bool { return h.g.Status().Groups[1].Healthy })

	code, body := h.adminPost("/upstreams/active?group=green")
	if code != 200 {
		t.Fatalf("switch: %d %s", code, body)
	}
	var sr SwitchResult
	if err := json.Unmarshal([]byte(body), &sr); err != nil || sr.Previous != "blue" || sr.Active != "green" || !sr.Drained {
		t.Fatalf("switch result %s (%v)", body, err)
	}
	// Counted at the bots: their count is final once the gateway has
	// seen the answers, which the drained switch waited for.
	blueAtSwitch := h.bots["blue-1"].Requests() + h.bots["blue-2"].Requests()
	time.Sleep(300 * time.Millisecond)
	stop()
	if n := res.failed.Load(); n != 0 {
		t.Fatalf("%d failed requests during the switch: %v", n, res.errs)
	}
	if h.bots["blue-1"].Requests()+h.bots["blue-2"].Requests() != blueAtSwitch {
		t.Errorf("blue served requests after the switch was answered")
	}
	if res.count("green-1") == 0 || res.count("green-2") == 0 {
		t.Errorf("green not used in round robin: %d, %d", res.count("green-1"), res.count("green-2"))
	}
	if code, _ := h.adminPost("/upstreams/active?group=purple"); code != 404 {
		t.Errorf("switch to unknown group: %d, want 404", code)
	}
	t.Logf("%d requests, none failed; blue %d, green %d", res.ok.Load(), blueAtSwitch, res.count("green-1")+res.count("green-2"))
}

// TestReload: a valid reload applies (here: a colour switch and a new
// source range); an invalid one is rejected with its errors, counted, and
// the old configuration keeps serving; a reload that would switch to an
// unhealthy colour is rejected too.
func TestReload(t *testing.T) {
	h := newHarness(t, withGroups(map[string][]string{"blue": {"blue-1"}, "green": {"green-1"}}, "blue"))
	tok := "Bearer " + h.token()

	t.Run("invalid config keeps the old one", func(t *testing.T) {
		h.load = func() (*Config, error) {
			c := h.cfg
			c.Upstreams.Active = "purple"
			c.Limits.MaxBodyBytes = 1 << 30
			return &c, nil
		}
		code, body := h.adminPost("/reload")
		if code != http.StatusUnprocessableEntity || !strings.Contains(body, "purple") || !strings.Contains(body, "max body") {
			t.Fatalf("reload: %d %s", code, body)
		}
		h.load = func() (*Config, error) { return nil, errors.New("spec.yaml:3:5: unknown key \"gatway\"") }
		if code, body := h.adminPost("/reload"); code != http.StatusUnprocessableEntity || !strings.Contains(body, "gatway") {
			t.Fatalf("reload with a load error: %d %s", code, body)
		}
		if resp, body := h.post(tok, activity()); resp.StatusCode != 200 || !strings.Contains(string(body), "blue-1") {
			t.Fatalf("after rejected reloads: %d %s", resp.StatusCode, body)
		}
		if v := h.metric(`teamsgate_gateway_config_reloads_total{result="rejected"}`); v != "2" {
			t.Errorf("rejected reloads %q, want 2", v)
		}
	})

	t.Run("unhealthy colour refused", func(t *testing.T) {
		h.bots["green-1"].SetHealthStatus(503)
		eventually(t, 2*time.Second, "green unhealthy", func() bool { return !h.g.Status().Groups[1].Healthy })
		h.load = func() (*Config, error) {
			c := h.cfg
			c.Upstreams.Active = "green"
			return &c, nil
		}
		if err := h.g.ReloadFromSource(context.Background()); !errors.Is(err, errUnhealthyGroup) {
			t.Fatalf("reload to unhealthy green: %v", err)
		}
		if h.g.Status().Active != "blue" {
			t.Fatal("active group changed")
		}
		h.bots["green-1"].SetHealthStatus(0)
		eventually(t, 2*time.Second, "green healthy", func() bool { return h.g.Status().Groups[1].Healthy })
	})

	t.Run("valid config applies", func(t *testing.T) {
		h.load = func() (*Config, error) {
			c := h.cfg
			c.Upstreams.Active = "green"
			c.Mode = Report
			return &c, nil
		}
		before := h.g.state.Load()
		if code, body := h.adminPost("/reload"); code != 200 {
			t.Fatalf("reload: %d %s", code, body)
		}
		if resp, body := h.post(tok, activity()); resp.StatusCode != 200 || !strings.Contains(string(body), "green-1") {
			t.Fatalf("after reload: %d %s", resp.StatusCode, body)
		}
		after := h.g.state.Load()
		if after.auth != before.auth {
			t.Error("an unchanged validator was replaced (keys and token cache lost)")
		}
		if after.cfg.Mode != Report {
			t.Error("mode not applied")
		}
	})

	t.Run("runtime switch survives a reload that keeps the configured colour", func(t *testing.T) {
		if _, err := h.g.Switch("blue"); err != nil {
			t.Fatal(err)
		}
		if err := h.g.ReloadFromSource(context.Background()); err != nil {
			t.Fatal(err)
		}
		if a := h.g.Status().Active; a != "blue" {
			t.Errorf("active %q after reload, want blue (the runtime switch)", a)
		}
	})

	t.Run("new token settings that fetch no keys are refused", func(t *testing.T) {
		h.load = func() (*Config, error) {
			c := h.cfg
			c.Auth.MetadataURL = "https://127.0.0.1:1/v1/.well-known/openidconfiguration"
			return &c, nil
		}
		before := h.g.state.Load()
		if err := h.g.ReloadFromSource(context.Background()); err == nil {
			t.Fatal("reload with an unreachable issuer succeeded")
		}
		if h.g.state.Load() != before {
			t.Fatal("state replaced")
		}
		if resp, _ := h.post(tok, activity()); resp.StatusCode != 200 {
			t.Fatalf("after the rejected reload: %d", resp.StatusCode)
		}
	})
}

// TestShutdownUnderLoad: shutting down under load fails no request. The
// load stops sending new requests once /readyz fails, as a load balancer
// would; every request started before that completes, including the slow
// ones in flight when the shutdown began.
func TestShutdownUnderLoad(t *testing.T) {
	h := newHarness(t, withConfig(func(h *harness, c *Config) {
		c.Limits.Rate, c.Limits.Burst = 1e5, 1e5
		c.Limits.ShutdownGrace = 500 * time.Millisecond
	}))
	h.bots["blue-1"].SetDelay(50 * time.Millisecond)
	res, stop := runLoad(t, h, 16)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		defer stop()
		for {
			resp, err := http.Get(h.admin + "/readyz")
			if err != nil {
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	time.Sleep(300 * time.Millisecond)
	inflight := h.g.Status().Groups[0].InFlight
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := h.g.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	<-stopped
	if n := res.failed.Load(); n != 0 {
		t.Fatalf("%d failed requests during shutdown: %v", n, res.errs)
	}
	if inflight == 0 {
		t.Error("no request was in flight when the shutdown began; the test proves nothing")
	}
	if _, err := net.DialTimeout("tcp", h.g.Addr().String(), time.Second); err == nil || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("listener still open after shutdown: %v", err)
	}
	t.Logf("%d requests, none failed; %d in flight at shutdown, which took %v", res.ok.Load(), inflight, time.Since(start))
}

// TestRunStopsOnContext: Run reloads on every Options.Reloads receive (the
// command line feeds it from SIGHUP), serves until its context ends, then
// shuts down gracefully, as on SIGTERM.
func TestRunStopsOnContext(t *testing.T) {
	testKeys(t)
	base := newHarness(t)
	cfg := base.cfg
	reloads := make(chan struct{})
	var loads atomic.Int32
	g, err := New(cfg, Options{Reloads: reloads, Load: func() (*Config, error) {
		loads.Add(1)
		bad := cfg
		bad.Upstreams.Active = "purple"
		return &bad, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	select {
	case <-g.Listening():
	case <-time.After(10 * time.Second):
		t.Fatal("the gateway did not start")
	}
	reloads <- struct{}{}
	reloads <- struct{}{} // the first has been taken, so the reload ran
	if loads.Load() < 1 {
		t.Error("no reload ran")
	}
	if g.Status().Active != "blue" {
		t.Error("a rejected reload changed the active group")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

// TestHealthMetrics: /healthz, /readyz, /upstreams and the metrics the
// issue lists.
func TestHealthMetrics(t *testing.T) {
	h := newHarness(t)
	if code, _ := h.adminGet("/healthz"); code != 200 {
		t.Errorf("healthz %d", code)
	}
	if code, body := h.adminGet("/readyz"); code != 200 {
		t.Errorf("readyz %d %s", code, body)
	}
	h.post("Bearer "+h.token(), activity())
	h.post("", activity())
	_, metrics := h.adminGet("/metrics")
	for _, want := range []string{
		`teamsgate_gateway_requests_total{decision="allow",reason="ok"} 1`,
		`teamsgate_gateway_requests_total{decision="deny",reason="missing-header"} 1`,
		`teamsgate_gateway_request_duration_seconds_bucket{decision="allow",le=`,
		`teamsgate_gateway_key_refreshes_total{result="ok"} 1`,
		`teamsgate_gateway_upstream_up{group="blue",upstream=`,
		`teamsgate_gateway_upstream_group_active{group="blue"} 1`,
		`teamsgate_gateway_signing_keys 1`,
		`teamsgate_gateway_token_signature_verifications_total 1`,
		`teamsgate_gateway_in_flight_requests 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if _, body := h.adminGet("/upstreams"); !strings.Contains(body, `"active": "blue"`) {
		t.Errorf("/upstreams: %s", body)
	}
	// The main listener does not expose the admin endpoints.
	resp, _ := h.post("Bearer "+h.token(), nil)
	if resp.StatusCode == 200 {
		t.Error("empty body accepted")
	}
	req, _ := http.NewRequest(http.MethodGet, h.base+"/metrics", nil)
	if resp, _ := h.do(req); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /metrics on the main listener: %d", resp.StatusCode)
	}
	_ = ingresstest.AppID
}

// TestUpstreamAbortMidResponse: an upstream that dies halfway through its
// answer makes the gateway abort the client's response (it cannot send a
// 502 any more); the request is still counted and logged once, and
// nothing stays in flight.
func TestUpstreamAbortMidResponse(t *testing.T) {
	h := newHarness(t)
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			return // health checks pass
		}
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(200)
		w.Write([]byte("0123456789"))
		w.(http.Flusher).Flush()
		c, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			c.Close()
		}
	}))
	defer broken.Close()
	h.load = func() (*Config, error) {
		c := h.cfg
		c.Upstreams.Groups = []Group{{Name: "blue", URLs: []*url.URL{mustURL(t, broken.URL)}}}
		return &c, nil
	}
	if err := h.g.ReloadFromSource(context.Background()); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, h.base+"/api/messages", bytes.NewReader(activity()))
	req.Header.Set("Authorization", "Bearer "+h.token())
	resp, err := h.client.Do(req)
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Fatal("the client got a complete answer from a broken upstream")
	}
	eventually(t, 2*time.Second, "the aborted request logged", func() bool {
		return strings.Contains(h.logs.String(), `"detail":"response aborted"`)
	})
	if v := h.metric("teamsgate_gateway_in_flight_requests"); v != "0" {
		t.Errorf("in flight %q after the abort, want 0", v)
	}
}
