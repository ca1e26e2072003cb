package ingress

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/teamsgate/teamsgate/internal/ingress/ingresstest"
)

// Admin tokens of the tests: long enough, and distinct in their last byte
// too, so that a prefix comparison would be caught.
const (
	adminTokenA = "test-admin-token-aaaaaaaaaaaaaaaa1"
	adminTokenB = "test-admin-token-bbbbbbbbbbbbbbbb2"
)

// withAdminToken gives the admin listener a token file holding tok.
func withAdminToken(tok string) harnessOption {
	return withConfig(func(h *harness, c *Config) {
		c.AdminTokenFile = ingresstest.WriteFile(h.t, h.dir, "admin.token", []byte(tok+"\n"))
	})
}

// adminDo sends one request to the admin listener. host, when not empty,
// is sent as the Host header instead of the listener's address; hdr are
// header name, value pairs.
func (h *harness) adminDo(method, path, host string, hdr ...string) (*http.Response, string) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.admin+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, body := h.do(req)
	return resp, string(body)
}

// adminMetric is h.metric with the admin token, if any.
func (h *harness) adminMetric(prefix, tok string) string {
	h.t.Helper()
	var hdr []string
	if tok != "" {
		hdr = []string{"Authorization", "Bearer " + tok}
	}
	resp, body := h.adminDo(http.MethodGet, "/metrics", "", hdr...)
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("GET /metrics: %d %s", resp.StatusCode, body)
	}
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, prefix+" "); ok {
			return v
		}
	}
	return ""
}

func refusedMetric(reason string) string {
	return `teamsgate_gateway_admin_requests_refused_total{reason="` + reason + `"}`
}

// adminPort is the admin listener's port, as text.
func (h *harness) adminPort() string {
	_, port, err := net.SplitHostPort(h.g.AdminAddr().String())
	if err != nil {
		h.t.Fatal(err)
	}
	return port
}

// refusals returns the "admin request refused" log lines.
func (h *harness) refusals() []map[string]any {
	h.t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(h.logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "admin request refused" {
			out = append(out, m)
		}
	}
	return out
}

// TestAdminToken: with a token file, every admin request but the probes
// needs "Authorization: Bearer TOKEN"; without it, or with another, 401
// with the Bearer challenge, and nothing happens.
func TestAdminToken(t *testing.T) {
	h := newHarness(t, withAdminToken(adminTokenA),
		withGroups(map[string][]string{"blue": {"blue-1"}, "green": {"green-1"}}, "blue"))
	right := "Bearer " + adminTokenA

	for _, tc := range []struct {
		name         string
		method, path string
		auth         []string // Authorization header values
		want         int
	}{
		{name: "healthz free", method: "GET", path: "/healthz", want: 200},
		{name: "readyz free", method: "GET", path: "/readyz", want: 200},
		{name: "metrics without token", method: "GET", path: "/metrics", want: 401},
		{name: "metrics wrong token", method: "GET", path: "/metrics", auth: []string{"Bearer " + adminTokenB}, want: 401},
		{name: "metrics token prefix", method: "GET", path: "/metrics", auth: []string{right[:len(right)-1]}, want: 401},
		{name: "metrics token and more", method: "GET", path: "/metrics", auth: []string{right + "x"}, want: 401},
		{name: "metrics basic", method: "GET", path: "/metrics", auth: []string{"Basic " + adminTokenA}, want: 401},
		{name: "metrics bare token", method: "GET", path: "/metrics", auth: []string{adminTokenA}, want: 401},
		{name: "metrics two headers", method: "GET", path: "/metrics", auth: []string{right, right}, want: 401},
		{name: "metrics right token", method: "GET", path: "/metrics", auth: []string{right}, want: 200},
		{name: "metrics scheme in lower case", method: "GET", path: "/metrics", auth: []string{"bearer " + adminTokenA}, want: 200},
		{name: "upstreams without token", method: "GET", path: "/upstreams", want: 401},
		{name: "upstreams right token", method: "GET", path: "/upstreams", auth: []string{right}, want: 200},
		{name: "unknown path without token", method: "GET", path: "/debug/pprof/", want: 401},
		{name: "switch without token", method: "POST", path: "/upstreams/active?group=green", want: 401},
		{name: "switch wrong token", method: "POST", path: "/upstreams/active?group=green", auth: []string{"Bearer " + adminTokenB}, want: 401},
		{name: "reload without token", method: "POST", path: "/reload", want: 401},
		{name: "reload wrong token", method: "POST", path: "/reload", auth: []string{"Bearer " + adminTokenB}, want: 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			for _, a := range tc.auth {
				hdr = append(hdr, "Authorization", a)
			}
			resp, body := h.adminDo(tc.method, tc.path, "", hdr...)
			if resp.StatusCode != tc.want {
				t.Fatalf("%s %s: %d %s, want %d", tc.method, tc.path, resp.StatusCode, body, tc.want)
			}
			if got := resp.Header.Get("WWW-Authenticate"); (tc.want == 401) != (got != "") ||
				(got != "" && got != `Bearer realm="teamsgate-admin"`) {
				t.Errorf("WWW-Authenticate %q", got)
			}
		})
	}
	if a := h.g.Status().Active; a != "blue" {
		t.Fatalf("a switch without the token happened: active %q", a)
	}
	if v := h.adminMetric(`teamsgate_gateway_config_reloads_total{result="ok"}`, adminTokenA); v != "0" {
		t.Fatalf("a reload without the token happened: %s", v)
	}

	// With the token, the actions work.
	if resp, body := h.adminDo("POST", "/upstreams/active?group=green", "", "Authorization", right); resp.StatusCode != 200 {
		t.Fatalf("switch with the token: %d %s", resp.StatusCode, body)
	}
	if resp, body := h.adminDo("POST", "/reload", "", "Authorization", right); resp.StatusCode != 200 {
		t.Fatalf("reload with the token: %d %s", resp.StatusCode, body)
	}

	for reason, want := range map[string]string{"missing-token": "5", "bad-token": "8"} {
		if v := h.adminMetric(refusedMetric(reason), adminTokenA); v != want {
			t.Errorf("refusals %s: %q, want %s", reason, v, want)
		}
	}
	if logs := h.logs.String(); strings.Contains(logs, "token-aaaa") || strings.Contains(logs, "token-bbbb") {
		t.Error("a token is in the log")
	}
}

// TestAdminTokenReload: the token file is read again on every reload and
// the new token replaces the old one at once; a reload with a bad token
// file is rejected and the old token stays.
func TestAdminTokenReload(t *testing.T) {
	h := newHarness(t, withAdminToken(adminTokenA))
	get := func(tok string) int {
		t.Helper()
		resp, _ := h.adminDo("GET", "/upstreams", "", "Authorization", "Bearer "+tok)
		return resp.StatusCode
	}
	if a, b := get(adminTokenA), get(adminTokenB); a != 200 || b != 401 {
		t.Fatalf("before the reload: token A %d, token B %d", a, b)
	}

	ingresstest.WriteFile(t, h.dir, "admin.token", []byte(adminTokenB+"\n"))
	if resp, body := h.adminDo("POST", "/reload", "", "Authorization", "Bearer "+adminTokenA); resp.StatusCode != 200 {
		t.Fatalf("reload: %d %s", resp.StatusCode, body)
	}
	if a, b := get(adminTokenA), get(adminTokenB); a != 401 || b != 200 {
		t.Fatalf("after the reload: token A %d, token B %d", a, b)
	}

	ingresstest.WriteFile(t, h.dir, "admin.token", []byte("tiny-secret\n"))
	resp, body := h.adminDo("POST", "/reload", "", "Authorization", "Bearer "+adminTokenB)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "shorter than 16") {
		t.Fatalf("reload with a short token: %d %s", resp.StatusCode, body)
	}
	if strings.Contains(body, "tiny-secret") || strings.Contains(h.logs.String(), "tiny-secret") {
		t.Error("the rejected token is in the answer or the log")
	}
	if b := get(adminTokenB); b != 200 {
		t.Fatalf("after a rejected reload: token B %d", b)
	}
}

// TestAdminTokenFile: New refuses a token file it cannot use, with an
// error naming the file and never its contents.
func TestAdminTokenFile(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		name    string
		content string // "" with missing: no file at all
		missing bool
		want    string // in the error; "" means New succeeds
	}{
		{name: "missing", missing: true, want: "no such file"},
		{name: "empty", content: "", want: "is empty"},
		{name: "newline only", content: "\n", want: "is empty"},
		{name: "fifteen characters", content: "secret-fifteen1\n", want: "shorter than 16"},
		{name: "space inside", content: "secret with spaces inside\n", want: "printable ASCII"},
		{name: "two newlines", content: "secret-sixteen-16\n\n", want: "printable ASCII"},
		{name: "sixteen characters", content: "secret-sixteen16\n", want: ""},
		{name: "crlf", content: "secret-sixteen16\r\n", want: ""},
		{name: "no newline", content: "secret-sixteen16", want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := filepath.Join(t.TempDir(), "admin.token")
			if !tc.missing {
				if err := os.WriteFile(name, []byte(tc.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			cfg := h.cfg
			cfg.AdminTokenFile = name
			g, err := New(cfg, Options{})
			if err == nil {
				g.Shutdown(context.Background()) //nolint:errcheck // never started
			}
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), name)):
				t.Fatalf("New: %v, want an error naming %s and saying %q", err, name, tc.want)
			case err != nil && strings.Contains(err.Error(), "secret"):
				t.Fatalf("the error quotes the token: %v", err)
			}
		})
	}
}

// TestAdminTokenKeptOffLoopback: a reload may not drop the token of an
// admin listener that is off loopback, even when it moves the listener to
// loopback: the running listener moves only at a restart.
func TestAdminTokenKeptOffLoopback(t *testing.T) {
	h := newHarness(t)
	cfg := h.cfg
	cfg.AdminListen = "0.0.0.0:0" // never opened: the gateway is not started
	cfg.AdminTokenFile = ingresstest.WriteFile(t, t.TempDir(), "admin.token", []byte(adminTokenA+"\n"))
	g, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Shutdown(context.Background()) //nolint:errcheck // never started
	next := cfg
	next.AdminListen = "127.0.0.1:0"
	next.AdminTokenFile = ""
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.Reload(ctx, &next); err == nil || !strings.Contains(err.Error(), "needing a token until a restart") {
		t.Fatalf("reload dropping the token: %v", err)
	}
	if g.state.Load().cfg.AdminTokenFile == "" {
		t.Fatal("the token was dropped")
	}
}

// TestAdminHost: a request whose Host is not the admin listener's address
// is refused with 421, as DNS rebinding sends it: a page on evil.example,
// re-resolved to 127.0.0.1, talks to the listener with its own name. The
// listener's address and the loopback names pass; probes pass whatever
// the Host.
func TestAdminHost(t *testing.T) {
	h := newHarness(t, withGroups(map[string][]string{"blue": {"blue-1"}, "green": {"green-1"}}, "blue"))
	port := h.adminPort()
	other := "1"
	if port == other {
		other = "2"
	}

	refused := []string{
		"evil.example:" + port,
		"evil.example",
		"EVIL.example:" + port,
		"localhost.:" + port,
		"localhost.evil.example:" + port,
		"127.0.0.1.nip.io:" + port,
		"127.0.0.1:" + other,
		"localhost:" + other,
		"127.0.0.1",
		"10.0.0.1:" + port,
		"127.0.0.2:" + port,
	}
	for _, host := range refused {
		for _, req := range [][2]string{{"GET", "/upstreams"}, {"GET", "/metrics"}, {"POST", "/reload"}, {"POST", "/upstreams/active?group=green"}} {
			resp, body := h.adminDo(req[0], req[1], host)
			if resp.StatusCode != http.StatusMisdirectedRequest {
				t.Errorf("%s %s Host %s: %d %s, want 421", req[0], req[1], host, resp.StatusCode, body)
			}
		}
	}
	if a := h.g.Status().Active; a != "blue" {
		t.Fatalf("a rebound switch happened: active %q", a)
	}
	if v := h.metric(`teamsgate_gateway_config_reloads_total{result="ok"}`); v != "0" {
		t.Fatalf("a rebound reload happened: %s", v)
	}
	if v, want := h.metric(refusedMetric("host-mismatch")), strconv.Itoa(4*len(refused)); v != want {
		t.Errorf("host-mismatch refusals %q, want %s", v, want)
	}

	for _, host := range []string{"127.0.0.1:" + port, "localhost:" + port, "LocalHost:" + port, "[::1]:" + port} {
		if resp, body := h.adminDo("GET", "/upstreams", host); resp.StatusCode != 200 {
			t.Errorf("GET /upstreams Host %s: %d %s", host, resp.StatusCode, body)
		}
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if resp, body := h.adminDo("GET", path, "evil.example:"+port); resp.StatusCode != 200 {
			t.Errorf("probe %s with a foreign Host: %d %s", path, resp.StatusCode, body)
		}
	}
	// The Host check comes before the token: a rebound page gets no 401
	// challenge, and the right token does not help a wrong Host.
	ht := newHarness(t, withAdminToken(adminTokenA))
	resp, body := ht.adminDo("GET", "/upstreams", "evil.example:"+ht.adminPort(), "Authorization", "Bearer "+adminTokenA)
	if resp.StatusCode != http.StatusMisdirectedRequest || resp.Header.Get("WWW-Authenticate") != "" {
		t.Errorf("wrong Host with the token: %d %q %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
	}
}

// TestAdminOrigin: a request from a web page of another origin, marked by
// its Origin or Sec-Fetch-Site header, is refused with 403 — a cross-site
// POST /reload or /upstreams/active (CSRF) in particular. The listener's
// own origin and requests without those headers (curl, Prometheus) pass.
func TestAdminOrigin(t *testing.T) {
	h := newHarness(t, withGroups(map[string][]string{"blue": {"blue-1"}, "green": {"green-1"}}, "blue"))
	port := h.adminPort()

	for _, tc := range []struct {
		name         string
		method, path string
		hdr          []string
		want         int
	}{
		{name: "CSRF reload", method: "POST", path: "/reload", hdr: []string{"Origin", "http://evil.example", "Sec-Fetch-Site", "cross-site"}, want: 403},
		{name: "CSRF switch", method: "POST", path: "/upstreams/active?group=green", hdr: []string{"Origin", "http://evil.example", "Sec-Fetch-Site", "cross-site"}, want: 403},
		{name: "rebound origin", method: "POST", path: "/reload", hdr: []string{"Origin", "http://evil.example:" + port}, want: 403},
		{name: "null origin", method: "POST", path: "/upstreams/active?group=green", hdr: []string{"Origin", "null"}, want: 403},
		{name: "https origin", method: "POST", path: "/reload", hdr: []string{"Origin", "https://127.0.0.1:" + port}, want: 403},
		{name: "other port origin", method: "POST", path: "/reload", hdr: []string{"Origin", "http://127.0.0.1:1"}, want: 403},
		{name: "own and foreign origin", method: "POST", path: "/reload", hdr: []string{"Origin", "http://127.0.0.1:" + port, "Origin", "http://evil.example"}, want: 403},
		{name: "cross-site fetch without origin", method: "GET", path: "/upstreams", hdr: []string{"Sec-Fetch-Site", "cross-site"}, want: 403},
		{name: "same-site fetch", method: "POST", path: "/reload", hdr: []string{"Sec-Fetch-Site", "same-site"}, want: 403},
		{name: "own origin with cross-site fetch", method: "POST", path: "/reload", hdr: []string{"Origin", "http://127.0.0.1:" + port, "Sec-Fetch-Site", "cross-site"}, want: 403},
		{name: "own origin", method: "GET", path: "/upstreams", hdr: []string{"Origin", "http://127.0.0.1:" + port}, want: 200},
		{name: "own origin by name", method: "GET", path: "/upstreams", hdr: []string{"Origin", "http://localhost:" + port}, want: 200},
		{name: "same-origin fetch", method: "GET", path: "/upstreams", hdr: []string{"Origin", "http://127.0.0.1:" + port, "Sec-Fetch-Site", "same-origin"}, want: 200},
		{name: "typed into the address bar", method: "GET", path: "/upstreams", hdr: []string{"Sec-Fetch-Site", "none"}, want: 200},
		{name: "curl get", method: "GET", path: "/metrics", want: 200},
		{name: "probe from a page", method: "GET", path: "/readyz", hdr: []string{"Origin", "http://evil.example", "Sec-Fetch-Site", "cross-site"}, want: 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := h.adminDo(tc.method, tc.path, "", tc.hdr...)
			if resp.StatusCode != tc.want {
				t.Fatalf("%s %s: %d %s, want %d", tc.method, tc.path, resp.StatusCode, body, tc.want)
			}
		})
	}
	if a := h.g.Status().Active; a != "blue" {
		t.Fatalf("a cross-site switch happened: active %q", a)
	}
	if v := h.metric(`teamsgate_gateway_config_reloads_total{result="ok"}`); v != "0" {
		t.Fatalf("a cross-site reload happened: %s", v)
	}
	for reason, want := range map[string]string{"cross-origin": "7", "cross-site": "3"} {
		if v := h.metric(refusedMetric(reason)); v != want {
			t.Errorf("refusals %s: %q, want %s", reason, v, want)
		}
	}

	// curl: no Origin, no Sec-Fetch-Site.
	if code, body := h.adminPost("/upstreams/active?group=green"); code != 200 {
		t.Fatalf("curl switch: %d %s", code, body)
	}
	if code, body := h.adminPost("/reload"); code != 200 {
		t.Fatalf("curl reload: %d %s", code, body)
	}
}

// TestAdminRefusalLogged: every refusal is one warning line with method,
// path, peer and reason, and no header value; it is counted by reason,
// every reason's series present from the start.
func TestAdminRefusalLogged(t *testing.T) {
	h := newHarness(t, withAdminToken(adminTokenA))
	for _, r := range []string{"host-mismatch", "cross-origin", "cross-site", "missing-token", "bad-token"} {
		if v := h.adminMetric(refusedMetric(r), adminTokenA); v != "0" {
			t.Errorf("before any refusal, %s: %q, want 0", r, v)
		}
	}
	port := h.adminPort()
	for _, tc := range []struct {
		path, host string
		hdr        []string
		reason     string
	}{
		{path: "/reload", host: "evil.example:" + port, reason: "host-mismatch"},
		{path: "/upstreams/active?group=blue", hdr: []string{"Origin", "http://evil.example"}, reason: "cross-origin"},
		{path: "/reload", hdr: []string{"Sec-Fetch-Site", "cross-site"}, reason: "cross-site"},
		{path: "/reload", reason: "missing-token"},
		{path: "/reload", hdr: []string{"Authorization", "Bearer wrong-token-from-evil-example"}, reason: "bad-token"},
	} {
		resp, _ := h.adminDo("POST", tc.path, tc.host, tc.hdr...)
		if resp.StatusCode < 400 {
			t.Fatalf("%s: %d", tc.reason, resp.StatusCode)
		}
	}
	eventually(t, 2*time.Second, "five refusal lines", func() bool { return len(h.refusals()) == 5 })
	wantPaths := []string{"/reload", "/upstreams/active", "/reload", "/reload", "/reload"}
	wantReasons := []string{"host-mismatch", "cross-origin", "cross-site", "missing-token", "bad-token"}
	for i, line := range h.refusals() {
		if line["level"] != "WARN" || line["method"] != "POST" || line["path"] != wantPaths[i] || line["reason"] != wantReasons[i] {
			t.Errorf("refusal %d: %v", i, line)
		}
		if peer, _ := line["peer"].(string); !strings.HasPrefix(peer, "127.0.0.1:") {
			t.Errorf("refusal %d: peer %q", i, peer)
		}
		for k, v := range line {
			if s, _ := v.(string); strings.Contains(s, "evil") || strings.Contains(s, "token-aaaa") {
				t.Errorf("refusal %d logs a header value in %s: %q", i, k, s)
			}
		}
	}
	for _, r := range wantReasons {
		if v := h.adminMetric(refusedMetric(r), adminTokenA); v != "1" {
			t.Errorf("refusals %s: %q, want 1", r, v)
		}
	}
}
