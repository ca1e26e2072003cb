package botauth

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestNewRejects: New refuses configurations that would weaken validation
// or cannot work, naming every problem at once.
func TestNewRejects(t *testing.T) {
	ok := Config{AppIDs: []string{appID}}
	if _, err := New(ok); err != nil {
		t.Fatalf("New(minimal) = %v", err)
	}
	for _, tt := range []struct {
		name string
		mod  func(*Config)
		want []string
	}{
		{name: "no-app-ids (no disabled mode, §6.11)", mod: func(c *Config) { c.AppIDs = nil }, want: []string{"no app ids"}},
		{name: "empty-app-id", mod: func(c *Config) { c.AppIDs = []string{""} }, want: []string{`app id ""`}},
		{name: "padded-app-id", mod: func(c *Config) { c.AppIDs = []string{" " + appID} }, want: []string{"padded"}},
		{name: "duplicate-app-id", mod: func(c *Config) { c.AppIDs = []string{appID, appID} }, want: []string{"twice"}},
		{name: "unknown-cloud", mod: func(c *Config) { c.Cloud = "china" }, want: []string{`unknown cloud "china"`}},
		{name: "alg-hs256", mod: func(c *Config) { c.Algorithms = []string{"HS256"} }, want: []string{`algorithm "HS256"`}},
		{name: "alg-none", mod: func(c *Config) { c.Algorithms = []string{"none"} }, want: []string{`algorithm "none"`}},
		{name: "alg-es256", mod: func(c *Config) { c.Algorithms = []string{"RS256", "ES256"} }, want: []string{`algorithm "ES256"`}},
		{name: "alg-ps256", mod: func(c *Config) { c.Algorithms = []string{"PS256"} }, want: []string{`algorithm "PS256"`}},
		{name: "negative-skew", mod: func(c *Config) { c.ClockSkew = -time.Second }, want: []string{"clock skew"}},
		{name: "large-skew", mod: func(c *Config) { c.ClockSkew = 11 * time.Minute }, want: []string{"clock skew"}},
		{name: "refresh-over-24h", mod: func(c *Config) { c.RefreshInterval = 25 * time.Hour }, want: []string{"refresh interval"}},
		{name: "refresh-too-fast", mod: func(c *Config) { c.RefreshInterval = time.Millisecond }, want: []string{"refresh interval"}},
		{name: "refetch-too-fast", mod: func(c *Config) { c.MinRefetchInterval = time.Millisecond }, want: []string{"min refetch interval"}},
		{name: "negative-timeout", mod: func(c *Config) { c.FetchTimeout = -1 }, want: []string{"fetch timeout"}},
		{name: "empty-channel", mod: func(c *Config) { c.Channels = []string{""} }, want: []string{"empty channel"}},
		{name: "all-at-once", mod: func(c *Config) {
			c.AppIDs = nil
			c.MetadataURL = "http://example.com/md"
			c.Algorithms = []string{"HS256"}
		}, want: []string{"no app ids", "plain http", `algorithm "HS256"`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.mod(&cfg)
			_, err := New(cfg)
			if err == nil {
				t.Fatal("New succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestDefaults pins the documented defaults.
func TestDefaults(t *testing.T) {
	s, err := compile(Config{AppIDs: []string{appID}})
	if err != nil {
		t.Fatal(err)
	}
	type view struct {
		Issuer, MetadataURL             string
		Algorithms, Channels            []string
		Skew, Refresh, Refetch, Timeout time.Duration
		CacheSize                       int
	}
	got := view{s.issuer, s.metadataURL.String(), s.algorithms, s.channels, s.skew, s.refreshInterval, s.minRefetchInterval, s.fetchTimeout, s.cacheSize}
	want := view{
		Issuer:      "https://api.botframework.com",
		MetadataURL: "https://login.botframework.com/v1/.well-known/openidconfiguration",
		Algorithms:  []string{"RS256"},
		Channels:    []string{"msteams"},
		Skew:        5 * time.Minute,
		Refresh:     24 * time.Hour,
		Refetch:     5 * time.Minute,
		Timeout:     10 * time.Second,
		CacheSize:   10000,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}

// TestOverrides: Issuer and MetadataURL override the cloud's, and
// HTTPClient replaces RootCAs.
func TestOverrides(t *testing.T) {
	testKeys(t)
	is := newIssuer(t, rsaJWK("k1", &mainKey.PublicKey, teams))
	v := mustValidator(t, is, newClock(base), func(c *Config) {
		c.Cloud = GCCHigh
		c.Issuer = "https://issuer.test"
		c.RootCAs = nil
		c.HTTPClient = is.srv.Client()
	})
	ctx := context.Background()
	custom := "Bearer " + sign(t, rsVerify, mainKey, "k1", with(claimsAt(base), "iss", "https://issuer.test"))
	if got := v.Validate(ctx, custom, teamsActivity); !got.OK() {
		t.Errorf("custom issuer: %v", got.Reason)
	}
	for _, iss := range []string{"https://api.botframework.com", "https://api.botframework.us"} {
		h := "Bearer " + sign(t, rsVerify, mainKey, "k1", with(claimsAt(base), "iss", iss))
		if got := v.Validate(ctx, h, teamsActivity); got.Reason != BadIssuer {
			t.Errorf("iss %q: %v, want bad-issuer", iss, got.Reason)
		}
	}
}

func TestAuthorization(t *testing.T) {
	for _, tt := range []struct {
		name   string
		h      http.Header
		want   string
		reason Reason
	}{
		{name: "one", h: http.Header{"Authorization": {"Bearer x"}}, want: "Bearer x", reason: OK},
		{name: "none", h: http.Header{}, reason: MissingHeader},
		{name: "two (§6.1)", h: http.Header{"Authorization": {"Bearer x", "Bearer y"}}, reason: MultipleHeaders},
	} {
		got, r := Authorization(tt.h)
		if got != tt.want || r != tt.reason {
			t.Errorf("%s: Authorization = %q, %v; want %q, %v", tt.name, got, r, tt.want, tt.reason)
		}
	}
}

func TestReason(t *testing.T) {
	seen := map[string]bool{}
	for r := Reason(0); r < numReasons; r++ {
		s := r.String()
		if s == "" || strings.HasPrefix(s, "reason(") || seen[s] {
			t.Errorf("reason %d: name %q empty or repeated", r, s)
		}
		seen[s] = true
		p, err := ParseReason(s)
		if err != nil || p != r {
			t.Errorf("ParseReason(%q) = %v, %v", s, p, err)
		}
		b, err := r.MarshalText()
		if err != nil || string(b) != s {
			t.Errorf("MarshalText(%v) = %q, %v", r, b, err)
		}
		var u Reason
		if err := u.UnmarshalText(b); err != nil || u != r {
			t.Errorf("UnmarshalText(%q) = %v, %v", b, u, err)
		}
		if (r.HTTPStatus() == http.StatusOK) != (r == OK) {
			t.Errorf("%v.HTTPStatus() = %d", r, r.HTTPStatus())
		}
	}
	if (Result{}).OK() || Unknown.String() != "unknown" {
		t.Error("the zero Result must not be OK")
	}
	if _, err := ParseReason("nope"); err == nil {
		t.Error("ParseReason accepted an unknown name")
	}
	if _, err := numReasons.MarshalText(); err == nil || numReasons.String() != "reason(26)" {
		t.Errorf("out-of-range reason: %v %q", err, numReasons.String())
	}
	for r, want := range map[Reason]int{
		OK: 200, BadSignature: 401, MissingHeader: 401, ServiceURLMismatch: 401,
		ChannelNotEndorsed: 403, NoEndorsement: 403, ChannelNotAllowed: 403, NoKeys: 503, BadActivity: 400,
	} {
		if got := r.HTTPStatus(); got != want {
			t.Errorf("%v.HTTPStatus() = %d, want %d", r, got, want)
		}
	}
}

func TestSameServiceURL(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want bool
	}{
		{"https://smba.trafficmanager.net/teams/", "https://smba.trafficmanager.net/teams/", true},
		{"https://smba.trafficmanager.net/teams/", "https://smba.trafficmanager.net/teams", true},
		{"https://smba.trafficmanager.net/teams", "HTTPS://SMBA.TRAFFICMANAGER.NET/TEAMS/", true},
		{"https://smba.trafficmanager.net/teams/", "https://smba.trafficmanager.net/teams//", false},
		{"https://smba.trafficmanager.net/teams/", "https://smba.trafficmanager.net/team/", false},
		{"https://smba.trafficmanager.net/teams/", "https://ſmba.trafficmanager.net/teams/", false},
		{"https://k.example/", "https://\u212a.example/", false},
		{"/", "", true},
		{"", "", true},
	} {
		if got := sameServiceURL(tt.a, tt.b); got != tt.want {
			t.Errorf("sameServiceURL(%q, %q) = %v", tt.a, tt.b, got)
		}
	}
}
