package adminhttp

import (
	"crypto/sha256"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/teamsgate/teamsgate/internal/model"
)

// TestGuard: the order of the admin listener's checks, and what each
// refusal answers and counts.
func TestGuard(t *testing.T) {
	reg := prometheus.NewRegistry()
	digest := Digest(sha256.Sum256([]byte("0123456789abcdef0123456789abcdef")))
	var token *Digest
	g := &Guard{
		Self:    SelfOf(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9091}),
		Token:   func() *Digest { return token },
		Refused: RefusedCounter(reg, "test"),
		Log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Next: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "ok") //nolint:errcheck
		}),
	}
	type header map[string]string
	for _, c := range []struct {
		name    string
		token   bool
		method  string
		path    string
		host    string
		headers header
		status  int
		reason  string
	}{
		{"probe with any host", true, "GET", "/healthz", "lb.example", nil, 200, ""},
		{"readiness probe", true, "GET", "/readyz", "", nil, 200, ""},
		{"own host, no token configured", false, "POST", "/reload", "127.0.0.1:9091", nil, 200, ""},
		{"localhost", false, "GET", "/metrics", "localhost:9091", nil, 200, ""},
		{"another host (DNS rebinding)", false, "POST", "/reload", "evil.example:9091", nil, 421, HostMismatch},
		{"another port", false, "POST", "/reload", "127.0.0.1:9090", nil, 421, HostMismatch},
		{"a page of another origin", false, "POST", "/reload", "127.0.0.1:9091", header{"Origin": "http://evil.example"}, 403, CrossOrigin},
		{"own origin", false, "POST", "/reload", "127.0.0.1:9091", header{"Origin": "http://127.0.0.1:9091"}, 200, ""},
		{"cross-site fetch", false, "POST", "/reload", "127.0.0.1:9091", header{"Sec-Fetch-Site": "cross-site"}, 403, CrossSite},
		{"unknown fetch site fails closed", false, "POST", "/reload", "127.0.0.1:9091", header{"Sec-Fetch-Site": "weird"}, 403, CrossSite},
		{"token configured, none sent", true, "POST", "/reload", "127.0.0.1:9091", nil, 401, MissingToken},
		{"wrong token", true, "POST", "/reload", "127.0.0.1:9091", header{"Authorization": "Bearer nope"}, 401, BadToken},
		{"not bearer", true, "POST", "/reload", "127.0.0.1:9091", header{"Authorization": "Basic MDEy"}, 401, BadToken},
		{"right token", true, "POST", "/reload", "127.0.0.1:9091", header{"Authorization": "bearer 0123456789abcdef0123456789abcdef"}, 200, ""},
		{"host checked before the token", true, "POST", "/reload", "evil.example", header{"Authorization": "Bearer 0123456789abcdef0123456789abcdef"}, 421, HostMismatch},
	} {
		t.Run(c.name, func(t *testing.T) {
			token = nil
			if c.token {
				token = &digest
			}
			r := httptest.NewRequest(c.method, "http://x"+c.path, nil)
			r.Host = c.host
			for k, v := range c.headers {
				r.Header.Set(k, v)
			}
			before := 0.0
			if c.reason != "" {
				before = value(g.Refused.WithLabelValues(c.reason))
			}
			w := httptest.NewRecorder()
			g.ServeHTTP(w, r)
			if w.Code != c.status {
				t.Fatalf("status %d, want %d (%s)", w.Code, c.status, w.Body)
			}
			if c.reason != "" {
				if got := value(g.Refused.WithLabelValues(c.reason)); got != before+1 {
					t.Errorf("refusals{reason=%q} %v → %v", c.reason, before, got)
				}
			}
			if c.status == 401 && w.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without a challenge")
			}
		})
	}
}

func TestExposure(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:9091":    "",
		"[::1]:9091":        "",
		"localhost:9091":    "",
		"0.0.0.0:9091":      "listens on every address",
		"[::]:9091":         "listens on every address",
		":9091":             "listens on every address",
		"192.0.2.1:9091":    "is not on loopback",
		"admin.example:909": "is not a loopback address",
	} {
		if got := Exposure(addr); got != want {
			t.Errorf("Exposure(%q) = %q, want %q", addr, got, want)
		}
	}
}

// TestDecisionCounters: one counter per decision and reason, the same one
// on every call, counting into the vector's series.
func TestDecisionCounters(t *testing.T) {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "requests_total"}, []string{"decision", "reason"})
	d := NewDecisionCounters(vec)
	a := d.Get(model.VerdictDeny, "host-not-allowed")
	if d.Get(model.VerdictDeny, "host-not-allowed") != a {
		t.Error("a second Get made another counter")
	}
	a.Inc()
	d.Get(model.VerdictAllow, "allowed").Add(2)
	if got := value(vec.WithLabelValues("deny", "host-not-allowed")); got != 1 {
		t.Errorf("deny/host-not-allowed = %v", got)
	}
	if got := value(vec.WithLabelValues("allow", "allowed")); got != 2 {
		t.Errorf("allow/allowed = %v", got)
	}
}

// value reads a counter.
func value(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}
