package ingress

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go4.org/netipx"

	"github.com/teamsgate/teamsgate/internal/botauth"
	"github.com/teamsgate/teamsgate/internal/ingress/ingresstest"
)

// Keys are generated once per test binary: 2048-bit RSA generation is slow.
var (
	keysOnce                      sync.Once
	mainKey, nextKey, attackerKey *rsa.PrivateKey
)

func testKeys(t testing.TB) {
	t.Helper()
	keysOnce.Do(func() {
		mainKey = ingresstest.NewRSAKey(t)
		nextKey = ingresstest.NewRSAKey(t)
		attackerKey = ingresstest.NewRSAKey(t)
	})
}

// e2e reports whether CI asked for every environment-dependent test to
// run; a skip is then a failure.
func e2e() bool { return os.Getenv("TEAMSGATE_E2E") == "1" }

func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if e2e() {
		t.Fatalf("TEAMSGATE_E2E=1 but: "+format, args...)
	}
	t.Skipf(format, args...)
}

// logBuffer collects the gateway's log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// harness is a running gateway with its issuer, bots and client.
type harness struct {
	t      testing.TB
	ca     *ingresstest.CA
	iss    *ingresstest.Issuer
	bots   map[string]*ingresstest.Bot
	cfg    Config
	g      *Gateway
	base   string // https://127.0.0.1:port
	admin  string // http://127.0.0.1:port
	client *http.Client
	logs   *logBuffer
	dir    string
	load   func() (*Config, error)
}

type harnessOption func(*harness)

// withConfig edits the configuration before the gateway starts.
func withConfig(f func(h *harness, c *Config)) harnessOption {
	return func(h *harness) { f(h, &h.cfg) }
}

// withGroups replaces the single blue group by bots in named groups.
func withGroups(groups map[string][]string, active string) harnessOption {
	return func(h *harness) {
		h.cfg.Upstreams.Groups = nil
		names := make([]string, 0, len(groups))
		for n := range groups {
			names = append(names, n)
		}
		for _, n := range sortStrings(names) {
			grp := Group{Name: n}
			for _, bot := range groups[n] {
				b := ingresstest.NewBot(h.t, bot)
				h.bots[bot] = b
				grp.URLs = append(grp.URLs, mustURL(h.t, b.URL))
			}
			h.cfg.Upstreams.Groups = append(h.cfg.Upstreams.Groups, grp)
		}
		h.cfg.Upstreams.Active = active
	}
}

func sortStrings(s []string) []string {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func ipset(t testing.TB, prefixes ...string) *netipx.IPSet {
	t.Helper()
	var b netipx.IPSetBuilder
	for _, p := range prefixes {
		b.AddPrefix(netip.MustParsePrefix(p))
	}
	s, err := b.IPSet()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newHarness starts an issuer publishing mainKey as "k1" endorsed for
// msteams, a bot "blue-1" in group blue, and a TLS gateway admitting
// loopback, with fast health checks.
func newHarness(t testing.TB, opts ...harnessOption) *harness {
	t.Helper()
	testKeys(t)
	h := &harness{t: t, bots: map[string]*ingresstest.Bot{}, logs: &logBuffer{}, dir: t.TempDir()}
	h.ca = ingresstest.NewCA(t, "teamsgate test CA")
	h.iss = ingresstest.NewIssuer(t, h.ca, ingresstest.Key{ID: "k1", Private: mainKey, Endorsements: []string{"msteams", "skype"}})
	certPEM, keyPEM, _ := h.ca.Server(t, "gateway")
	bot := ingresstest.NewBot(t, "blue-1")
	h.bots["blue-1"] = bot
	h.cfg = Config{
		Listen:      "127.0.0.1:0",
		AdminListen: "127.0.0.1:0",
		TLS: TLSConfig{
			CertFile: ingresstest.WriteFile(t, h.dir, "gw.crt", certPEM),
			KeyFile:  ingresstest.WriteFile(t, h.dir, "gw.key", keyPEM),
		},
		Sources: Sources{
			Plan:     ipset(t, "52.112.0.0/14"),
			PlanRule: "teams-messaging-bot.in.activity",
			Extra:    ipset(t, "127.0.0.1/32", "::1/128"),
		},
		Auth:       authConfig(h.iss.MetadataURL),
		AuthCAFile: ingresstest.WriteFile(t, h.dir, "issuer-ca.pem", h.ca.PEM),
		Limits: Limits{
			ShutdownGrace:   100 * time.Millisecond,
			ShutdownTimeout: 5 * time.Second,
		},
		Upstreams: Upstreams{
			Active: "blue",
			Groups: []Group{{Name: "blue", URLs: []*url.URL{mustURL(t, bot.URL)}}},
			// Fast enough for tests, slow enough for the race detector.
			Health: Health{Interval: 100 * time.Millisecond, Timeout: 100 * time.Millisecond, Rise: 1, Fall: 3},
		},
	}
	for _, o := range opts {
		o(h)
	}
	h.start()
	return h
}

func authConfig(metadataURL string) botauth.Config {
	return botauth.Config{
		AppIDs:             []string{ingresstest.AppID},
		MetadataURL:        metadataURL,
		MinRefetchInterval: time.Second,
	}
}

func (h *harness) start() {
	t := h.t
	logger := slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	g, err := New(h.cfg, Options{Logger: logger, Load: func() (*Config, error) {
		if h.load != nil {
			return h.load()
		}
		c := h.cfg
		return &c, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := g.Start(ctx); err != nil {
		t.Fatal(err)
	}
	h.g = g
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		g.Shutdown(sctx) //nolint:errcheck // a test may have shut it down already
	})
	scheme := "https"
	if h.cfg.PlainHTTP {
		scheme = "http"
	}
	h.base = scheme + "://" + g.Addr().String()
	h.admin = "http://" + g.AdminAddr().String()
	h.client = &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:     &tls.Config{RootCAs: h.ca.Pool()},
			MaxIdleConnsPerHost: 64,
		},
	}
	t.Cleanup(h.client.CloseIdleConnections)
}

// token is a valid token for AppID signed by mainKey ("k1").
func (h *harness) token() string {
	return ingresstest.Sign(h.t, mainKey, "k1", ingresstest.ValidClaims(time.Now()))
}

// post sends an activity with the given Authorization (none if empty).
func (h *harness) post(auth string, body []byte, hdr ...string) (*http.Response, []byte) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.base+"/api/messages", bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	return h.do(req)
}

func (h *harness) do(req *http.Request) (*http.Response, []byte) {
	h.t.Helper()
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// activity is a valid Teams activity.
func activity() []byte { return ingresstest.Activity("msteams", ingresstest.ServiceURL) }

// adminGet and adminPost talk to the admin listener.
func (h *harness) adminGet(path string) (int, string) {
	h.t.Helper()
	resp, err := http.Get(h.admin + path)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (h *harness) adminPost(path string) (int, string) {
	h.t.Helper()
	resp, err := http.Post(h.admin+path, "", nil)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metric returns the value of one sample line of /metrics, or "".
func (h *harness) metric(prefix string) string {
	h.t.Helper()
	_, body := h.adminGet("/metrics")
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, prefix+" ") {
			return strings.TrimPrefix(line, prefix+" ")
		}
	}
	return ""
}

// eventually polls cond every 10 ms for up to d.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
