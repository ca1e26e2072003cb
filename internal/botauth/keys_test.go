package botauth

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
)

// TestVector04KeyRotation: a key published after the set was fetched (and
// after the token cache was filled) triggers exactly one refetch, then is
// accepted without further fetches.
func TestVector04KeyRotation(t *testing.T) {
	testKeys(t)
	is := newIssuer(t, rsaJWK("k1", &mainKey.PublicKey, teams))
	v := mustValidator(t, is, newClock(base), nil)
	ctx := context.Background()
	if got := v.Validate(ctx, "Bearer "+sign(t, rsVerify, mainKey, "k1", claimsAt(base)), teamsActivity); !got.OK() {
		t.Fatalf("old key: %v", got.Reason)
	}
	is.set(func(is *issuer) {
		is.keys = append(is.keys, rsaJWK("k2", &nextKey.PublicKey, teams))
	})
	before := is.jwksHits.Load()
	h := "Bearer " + sign(t, rsVerify, nextKey, "k2", claimsAt(base))
	for i := range 3 {
		if got := v.Validate(ctx, h, teamsActivity); !got.OK() {
			t.Fatalf("new key, request %d: %v", i, got.Reason)
		}
	}
	h2 := "Bearer " + sign(t, rsVerify, nextKey, "k2", with(claimsAt(base), "serviceurl", "https://smba.trafficmanager.net/emea/"))
	if got := v.Validate(ctx, h2, Activity{ChannelID: "msteams", ServiceURL: "https://smba.trafficmanager.net/emea/"}); !got.OK() {
		t.Fatalf("second token of the new key: %v", got.Reason)
	}
	if n := is.jwksHits.Load() - before; n != 1 {
		t.Errorf("JWKS fetched %d times for the rotation, want 1", n)
	}
}

// TestVector05Clouds: a Gov token validates in Gov mode only, and a public
// token in public mode only (botauth.md §1.5).
func TestVector05Clouds(t *testing.T) {
	testKeys(t)
	is := newIssuer(t, rsaJWK("k1", &mainKey.PublicKey, teams))
	publicTok := "Bearer " + sign(t, rsVerify, mainKey, "k1", claimsAt(base))
	govTok := "Bearer " + sign(t, rsVerify, mainKey, "k1", with(claimsAt(base), "iss", "https://api.botframework.us",
		"serviceurl", "https://smba.infra.gov.teams.microsoft.us/teams"))
	govAct := Activity{ChannelID: "msteams", ServiceURL: "https://smba.infra.gov.teams.microsoft.us/teams"}
	tests := []struct {
		cloud  Cloud
		header string
		act    Activity
		want   Reason
	}{
		{cloud: Worldwide, header: publicTok, act: teamsActivity, want: OK},
		{cloud: GCC, header: publicTok, act: teamsActivity, want: OK},
		{cloud: "", header: publicTok, act: teamsActivity, want: OK},
		{cloud: GCCHigh, header: govTok, act: govAct, want: OK},
		{cloud: DoD, header: govTok, act: govAct, want: OK},
		{cloud: Worldwide, header: govTok, act: govAct, want: BadIssuer},
		{cloud: GCC, header: govTok, act: govAct, want: BadIssuer},
		{cloud: GCCHigh, header: publicTok, act: teamsActivity, want: BadIssuer},
		{cloud: DoD, header: publicTok, act: teamsActivity, want: BadIssuer},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%s", tt.cloud, tt.want), func(t *testing.T) {
			v := mustValidator(t, is, newClock(base), func(c *Config) { c.Cloud = tt.cloud })
			if got := v.Validate(context.Background(), tt.header, tt.act); got.Reason != tt.want {
				t.Errorf("Validate = %v, want %v", got.Reason, tt.want)
			}
		})
	}
}

// TestCloudEndpoints pins the per-cloud values of botauth.md §1.5 / §6.3.
func TestCloudEndpoints(t *testing.T) {
	type endpoints struct{ Issuer, MetadataURL string }
	public := endpoints{"https://api.botframework.com", "https://login.botframework.com/v1/.well-known/openidconfiguration"}
	gov := endpoints{"https://api.botframework.us", "https://login.botframework.azure.us/v1/.well-known/openidconfiguration"}
	for _, tt := range []struct {
		cloud Cloud
		want  endpoints
	}{
		{cloud: Worldwide, want: public},
		{cloud: GCC, want: public},
		{cloud: GCCHigh, want: gov},
		{cloud: DoD, want: gov},
	} {
		iss, md, err := CloudEndpoints(tt.cloud)
		if err != nil {
			t.Fatalf("%s: %v", tt.cloud, err)
		}
		if diff := cmp.Diff(tt.want, endpoints{iss, md}); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.cloud, diff)
		}
	}
	if _, _, err := CloudEndpoints("china"); err == nil {
		t.Error("unknown cloud accepted")
	}
}

// TestVector12UnknownKidRefetch: an unknown kid costs one refetch, then no
// more until MinRefetchInterval has passed.
func TestVector12UnknownKidRefetch(t *testing.T) {
	testKeys(t)
	clk := newClock(base)
	is := newIssuer(t, rsaJWK("k1", &mainKey.PublicKey, teams))
	v := mustValidator(t, is, clk, func(c *Config) { c.MinRefetchInterval = time.Minute })
	ctx := context.Background()
	unknown := func(i int) string {
		return "Bearer " + sign(t, rsVerify, mainKey, fmt.Sprintf("k-unknown-%d", i), claimsAt(clk.Now()))
	}
	check := func(step string, wantFetches int64) {
		t.Helper()
		if got := v.Validate(ctx, unknown(int(wantFetches)), teamsActivity); got.Reason != UnknownKey {
			t.Fatalf("%s: %v, want unknown-key", step, got.Reason)
		}
		if n := is.jwksHits.Load(); n != wantFetches {
			t.Fatalf("%s: %d JWKS fetches, want %d", step, n, wantFetches)
		}
	}
	check("first unknown kid refetches", 2)
	check("second within the interval does not", 2)
	clk.Add(59 * time.Second)
	check("still within the interval", 2)
	clk.Add(time.Second)
	check("after the interval", 3)
}

// TestUnknownKidStorm: 200 concurrent requests with an unknown kid make
// exactly one JWKS fetch, whether the kid then turns up or not.
func TestUnknownKidStorm(t *testing.T) {
	testKeys(t)
	for _, appears := range []bool{false, true} {
		t.Run(fmt.Sprintf("key-appears=%v", appears), func(t *testing.T) {
			is := newIssuer(t, rsaJWK("k1", &mainKey.PublicKey, teams))
			v := mustValidator(t, is, newClock(base), nil)
			is.set(func(is *issuer) {
				is.delay = 50 * time.Millisecond
				if appears {
					is.keys = append(is.keys, rsaJWK("k2", &nextKey.PublicKey, teams))
				}
			})
			h := "Bearer " + sign(t, rsVerify, nextKey, "k2", claimsAt(base))
			want := UnknownKey
			if appears {
				want = OK
			}
			before := is.jwksHits.Load()
			var wg sync.WaitGroup
			results := make([]Reason, 200)
			for i := range results {
				wg.Go(func() {
					results[i] = v.Validate(context.Background(), h, teamsActivity).Reason
				})
			}
			wg.Wait()
			if n := is.jwksHits.Load() - before; n != 1 {
				t.Errorf("%d JWKS fetches, want 1", n)
			}
			for i, r := range results {
				if r != want {
					t.Fatalf("request %d: %v, want %v", i, r, want)
				}
			}
		})
	}
}

// TestVector25Outage: with a last good set, an outage changes nothing;
// without one, everything is rejected with NoKeys until a fetch succeeds.
func TestVector25Outage(t *testing.T) {
	testKeys(t)
	ctx := context.Background()
	t.Run("last-good-set", func(t *testing.T) {
		clk := newClock(base)
		is := newIssuer(t, rsaJWK("k1", &mainKey.PublicKey, teams))
		v := mustValidator(t, is, clk, nil)
		is.set(func(is *issuer) { is.jwksStatus = http.StatusServiceUnavailable })
		// A stale set triggers a refresh, which fails.
		clk.Add(DefaultRefreshInterval + time.Second)
		h := "Bearer " + sign(t, rsVerify, mainKey, "k1", claimsAt(clk.Now()))
		if got := v.Validate(ctx, h, teamsActivity); !got.OK() {
			t.Fatalf("during the outage: %v", got.Reason)
		}
		waitFor(t, "the failed refresh", func() bool { return v.Stats().KeyRefreshFailures == 1 })
		// An unknown kid's refetch fails too; the last good set stays.
		if got := v.Validate(ctx, "Bearer "+sign(t, rsVerify, nextKey, "k2", claimsAt(clk.Now())), teamsActivity); got.Reason != UnknownKey {
			t.Fatalf("unknown kid during the outage: %v", got.Reason)
		}
		h2 := "Bearer " + sign(t, rsVerify, mainKey, "k1", with(claimsAt(clk.Now()), "nbf", clk.Now().Add(-time.Second).Unix()))
		if got := v.Validate(ctx, h2, teamsActivity); !got.OK() || got.Cached {
			t.Fatalf("new token, verified with the last good set: %+v", got)
		}
		st := v.Stats()
		if st.Keys != 1 || st.KeyRefreshes != 1 || st.KeyRefreshFailures != 2 || !st.LastKeyRefresh.Equal(base) {
			t.Errorf("Stats = %+v", st)
		}
	})
	for _, fail := range []string{"metadata", "jwks", "no-rsa-keys", "not-json"} {
		t.Run("no-keys/"+fail, func(t *testing.T) {
			clk := newClock(base)
			is := newIssuer(t, rsaJWK("k1", &mainKey.PublicKey, teams))
			is.set(func(is *issuer) {
				switch fail {
				case "metadata":
					is.metaStatus = http.StatusInternalServerError
				case "jwks":
					is.jwksStatus = http.StatusNotFound
				case "no-rsa-keys":
					is.keys = []map[string]any{{"kty": "EC", "kid": "k1"}}
				case "not-json":
					is.jwksURI = is.srv.URL + "/nowhere"
				}
			})
			v, err := newValidator(t, is, clk, nil)
			if err == nil {
				t.Fatal("Start succeeded without keys")
			}
			h := "Bearer " + sign(t, rsVerify, mainKey, "k1", claimsAt(base))
			got := v.Validate(ctx, h, teamsActivity)
			if got.Reason != NoKeys || got.Reason.HTTPStatus() != http.StatusServiceUnavailable {
				t.Fatalf("without keys: %+v", got)
			}
			// Recovery: the next allowed refetch picks the keys up.
			is.set(func(is *issuer) {
				is.metaStatus, is.jwksStatus, is.jwksURI = 0, 0, ""
				is.keys = []map[string]any{rsaJWK("k1", &mainKey.PublicKey, teams)}
			})
			if got := v.Validate(ctx, h, teamsActivity); got.Reason != NoKeys {
				t.Fatalf("before the refetch interval: %v", got.Reason)
			}
			clk.Add(DefaultMinRefetchInterval)
			if got := v.Validate(ctx, h, teamsActivity); !got.OK() {
				t.Fatalf("after recovery: %v", got.Reason)
			}
		})
	}
}

// TestLazyFetch: a validator that was never started fetches on first use.
func TestLazyFetch(t *testing.T) {
	testKeys(t)
	is := newIssuer(t, rsaJWK("k1", &mainKey.PublicKey, teams))
	v, err := New(Config{AppIDs: []string{appID}, MetadataURL: is.metadataURL(), RootCAs: is.pool(), Now: newClock(base).Now})
	if err != nil {
		t.Fatal(err)
	}
	h := "Bearer " + sign(t, rsVerify, mainKey, "k1", claimsAt(base))
	if got := v.Validate(context.Background(), h, teamsActivity); !got.OK() {
		t.Fatalf("Validate = %v", got.Reason)
	}
}

// TestRefreshIntervalInjectedClock: the key set is refetched once it is
// RefreshInterval old by the injected clock, not before.
func TestRefreshIntervalInjectedClock(t *testing.T) {
	testKeys(t)
	for _, interval := range []time.Duration{0, 6 * time.Hour} {
		t.Run(fmt.Sprint(interval), func(t *testing.T) {
			clk := newClock(base)
			is := newIssuer(t, rsaJWK("k1", &mainKey.PublicKey, teams))
			v := mustValidator(t, is, clk, func(c *Config) { c.RefreshInterval = interval })
			want := interval
			if want == 0 {
				want = 24 * time.Hour
			}
			ctx := context.Background()
			h := func() string { return "Bearer " + sign(t, rsVerify, mainKey, "k1", claimsAt(clk.Now())) }
			clk.Add(want - time.Second)
			v.Validate(ctx, h(), teamsActivity)
			time.Sleep(20 * time.Millisecond)
			if n := is.jwksHits.Load(); n != 1 {
				t.Fatalf("%d fetches 1 s before the interval, want 1", n)
			}
			clk.Add(time.Second)
			for range 10 {
				v.Validate(ctx, h(), teamsActivity)
			}
			waitFor(t, "the refresh", func() bool { return v.Stats().KeyRefreshes == 2 })
			time.Sleep(20 * time.Millisecond)
			if n := is.jwksHits.Load(); n != 2 {
				t.Fatalf("%d fetches at the interval, want 2", n)
			}
			if got := v.Stats().LastKeyRefresh; !got.Equal(base.Add(want)) {
				t.Errorf("LastKeyRefresh = %v, want %v", got, base.Add(want))
			}
		})
	}
}

// TestBackgroundRefresh: Start's loop refreshes on its own timer and stops
// with its context.
func TestBackgroundRefresh(t *testing.T) {
	testKeys(t)
	is := newIssuer(t, rsaJWK("k1", &mainKey.PublicKey, teams))
	v, err := New(Config{AppIDs: []string{appID}, MetadataURL: is.metadataURL(), RootCAs: is.pool(), RefreshInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := v.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := v.Start(ctx); err == nil {
		t.Error("second Start succeeded")
	}
	waitFor(t, "a background refresh", func() bool { return v.Stats().KeyRefreshes >= 2 })
	cancel()
	select {
	case <-v.stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("refresh loop did not stop")
	}
}

// TestStartRetriesAfterFailure: Start reports the failed first fetch and
// the loop keeps retrying until the keys arrive.
func TestStartRetriesAfterFailure(t *testing.T) {
	testKeys(t)
	is := newIssuer(t, rsaJWK("k1", &mainKey.PublicKey, teams))
	is.set(func(is *issuer) { is.metaStatus = http.StatusBadGateway })
	v, err := newValidator(t, is, newClock(base), nil)
	if err == nil || !strings.Contains(err.Error(), "502") {
		t.Fatalf("Start = %v, want the 502", err)
	}
	is.set(func(is *issuer) { is.metaStatus = 0 })
	waitFor(t, "the retry", func() bool { return v.Stats().Keys == 1 })
}

// TestFetchURLPolicy: plain http only on a loopback IP with the option
// (New refuses everything else), also for jwks_uri and redirects.
func TestFetchURLPolicy(t *testing.T) {
	for _, tt := range []struct {
		url      string
		loopback bool
		ok       bool
	}{
		{url: "https://login.botframework.com/v1/.well-known/openidconfiguration", ok: true},
		{url: "https://127.0.0.1:8443/md", ok: true},
		{url: "http://127.0.0.1:8080/md", loopback: true, ok: true},
		{url: "http://127.1.2.3/md", loopback: true, ok: true},
		{url: "http://[::1]:8080/md", loopback: true, ok: true},
		{url: "http://[::ffff:127.0.0.1]/md", loopback: true, ok: true},
		{url: "http://127.0.0.1:8080/md"},
		{url: "http://localhost:8080/md", loopback: true},
		{url: "http://login.botframework.com/v1/.well-known/openidconfiguration", loopback: true},
		{url: "http://10.0.0.1/md", loopback: true},
		{url: "http://[fe80::1%25lo]/md", loopback: true},
		{url: "ftp://127.0.0.1/md", loopback: true},
		{url: "/v1/.well-known/openidconfiguration"},
		{url: "https://user:pass@login.botframework.com/md"},
		{url: "https:login.botframework.com"},
		{url: "://bad"},
	} {
		_, err := New(Config{AppIDs: []string{appID}, MetadataURL: tt.url, AllowInsecureLoopback: tt.loopback})
		if (err == nil) != tt.ok {
			t.Errorf("New(%q, loopback=%v) error = %v, want ok=%v", tt.url, tt.loopback, err, tt.ok)
		}
	}

	testKeys(t)
	h := "Bearer " + sign(t, rsVerify, mainKey, "k1", claimsAt(base))
	t.Run("http-loopback-end-to-end", func(t *testing.T) {
		is := startIssuer(t, false, rsaJWK("k1", &mainKey.PublicKey, teams))
		v := mustValidator(t, is, newClock(base), func(c *Config) { c.AllowInsecureLoopback = true })
		if got := v.Validate(context.Background(), h, teamsActivity); !got.OK() {
			t.Fatal(got.Reason)
		}
	})
	t.Run("jwks-uri-plain-http", func(t *testing.T) {
		is := newIssuer(t, rsaJWK("k1", &mainKey.PublicKey, teams))
		is.set(func(is *issuer) { is.jwksURI = "http://login.botframework.com/v1/.well-known/keys" })
		if _, err := newValidator(t, is, newClock(base), nil); err == nil || !strings.Contains(err.Error(), "plain http") {
			t.Fatalf("Start = %v, want a plain-http refusal", err)
		}
		if n := is.jwksHits.Load(); n != 0 {
			t.Errorf("JWKS fetched %d times", n)
		}
	})
	t.Run("redirect-to-plain-http", func(t *testing.T) {
		plain := startIssuer(t, false, rsaJWK("k1", &mainKey.PublicKey, teams))
		is := newIssuer(t)
		redirect := httptest.NewTLSServer(http.RedirectHandler(plain.metadataURL(), http.StatusFound))
		t.Cleanup(redirect.Close)
		_, err := newValidator(t, is, newClock(base), func(c *Config) {
			c.MetadataURL = redirect.URL + metaPath
			c.RootCAs = nil
			c.HTTPClient = redirect.Client()
			c.AllowInsecureLoopback = false
		})
		if err == nil || !strings.Contains(err.Error(), "redirect") {
			t.Fatalf("Start = %v, want a redirect refusal", err)
		}
		if n := plain.metaHits.Load(); n != 0 {
			t.Errorf("plain-http metadata fetched %d times", n)
		}
	})
}

// TestUntrustedCertificate: the metadata fetch verifies the server
// certificate; with the system roots the test issuer is not trusted.
func TestUntrustedCertificate(t *testing.T) {
	testKeys(t)
	is := newIssuer(t, rsaJWK("k1", &mainKey.PublicKey, teams))
	v, err := newValidator(t, is, newClock(base), func(c *Config) { c.RootCAs = nil })
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Start = %v, want a certificate error", err)
	}
	h := "Bearer " + sign(t, rsVerify, mainKey, "k1", claimsAt(base))
	if got := v.Validate(context.Background(), h, teamsActivity); got.Reason != NoKeys {
		t.Fatalf("Validate = %v, want no-keys", got.Reason)
	}
}

// TestMetadataAlgorithms: a token's alg must be configured and listed in
// the metadata's id_token_signing_alg_values_supported (botauth.md §6.2),
// and match the key's own alg when it declares one.
func TestMetadataAlgorithms(t *testing.T) {
	testKeys(t)
	rs512 := "Bearer " + sign(t, jwt.SigningMethodRS512, mainKey, "k1", claimsAt(base))
	rs256 := "Bearer " + sign(t, rsVerify, mainKey, "k1", claimsAt(base))
	keyRS256 := rsaJWK("k1", &mainKey.PublicKey, teams)
	keyRS256["alg"] = "RS256"
	for _, tt := range []struct {
		name     string
		metaAlgs []string
		config   []string
		key      map[string]any
		header   string
		want     Reason
		startErr bool
	}{
		{name: "rs512-configured-and-listed", metaAlgs: []string{"RS256", "RS512"}, config: []string{"RS256", "RS512"}, header: rs512, want: OK},
		{name: "rs512-configured-not-listed", metaAlgs: []string{"RS256"}, config: []string{"RS256", "RS512"}, header: rs512, want: BadAlgorithm},
		{name: "rs512-listed-not-configured", metaAlgs: []string{"RS256", "RS512"}, header: rs512, want: BadAlgorithm},
		{name: "metadata-without-algorithms", metaAlgs: nil, config: []string{"RS512"}, header: rs512, want: OK},
		{name: "key-declares-other-alg", metaAlgs: []string{"RS256", "RS512"}, config: []string{"RS256", "RS512"}, key: keyRS256, header: rs512, want: BadAlgorithm},
		{name: "key-declares-same-alg", metaAlgs: []string{"RS256"}, key: keyRS256, header: rs256, want: OK},
		{name: "no-common-algorithm", metaAlgs: []string{"ES256"}, header: rs256, want: NoKeys, startErr: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			key := tt.key
			if key == nil {
				key = rsaJWK("k1", &mainKey.PublicKey, teams)
			}
			is := newIssuer(t, key)
			is.set(func(is *issuer) { is.algs = tt.metaAlgs })
			v, err := newValidator(t, is, newClock(base), func(c *Config) { c.Algorithms = tt.config })
			if (err != nil) != tt.startErr {
				t.Fatalf("Start = %v", err)
			}
			if got := v.Validate(context.Background(), tt.header, teamsActivity); got.Reason != tt.want {
				t.Errorf("Validate = %v, want %v", got.Reason, tt.want)
			}
		})
	}
}

// TestKeyCertificate: a key's x5c certificate must hold the same key and
// be current (botauth.md §6.5, .NET ValidateIssuerSigningKey parity).
func TestKeyCertificate(t *testing.T) {
	testKeys(t)
	withCert := func(der []byte) map[string]any {
		j := rsaJWK("k1", &mainKey.PublicKey, teams)
		j["x5c"] = []string{base64.StdEncoding.EncodeToString(der)}
		return j
	}
	year := 365 * 24 * time.Hour
	for _, tt := range []struct {
		name     string
		key      map[string]any
		want     Reason
		startErr bool
	}{
		{name: "current", key: withCert(selfSigned(t, mainKey, base.Add(-year), base.Add(year))), want: OK},
		{name: "expired", key: withCert(selfSigned(t, mainKey, base.Add(-2*year), base.Add(-time.Hour))), want: KeyExpired},
		{name: "expired-within-skew", key: withCert(selfSigned(t, mainKey, base.Add(-2*year), base.Add(-time.Minute))), want: OK},
		{name: "not-yet-valid", key: withCert(selfSigned(t, mainKey, base.Add(time.Hour), base.Add(year))), want: KeyExpired},
		{name: "other-key-in-certificate", key: withCert(selfSigned(t, nextKey, base.Add(-year), base.Add(year))), want: NoKeys, startErr: true},
		{name: "certificate-garbage", key: withCert([]byte("not a certificate")), want: NoKeys, startErr: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			is := newIssuer(t, tt.key)
			v, err := newValidator(t, is, newClock(base), nil)
			if (err != nil) != tt.startErr {
				t.Fatalf("Start = %v", err)
			}
			h := "Bearer " + sign(t, rsVerify, mainKey, "k1", claimsAt(base))
			if got := v.Validate(context.Background(), h, teamsActivity); got.Reason != tt.want {
				t.Errorf("Validate = %v, want %v", got.Reason, tt.want)
			}
		})
	}
}

// TestParseJWKS follows EndorsementsRetrieverTests (botauth.md §3.2): bad
// or foreign entries are skipped without spoiling the good ones.
func TestParseJWKS(t *testing.T) {
	testKeys(t)
	small := rsaJWK("k-small", &mainKey.PublicKey, teams)
	small["n"] = b64(mainKey.N.Bytes()[:128])
	even := rsaJWK("k-even-e", &mainKey.PublicKey, teams)
	even["e"] = b64([]byte{1, 0, 0})
	enc := rsaJWK("k-enc", &mainKey.PublicKey, teams)
	enc["use"] = "enc"
	padded := rsaJWK("k-padded", &mainKey.PublicKey, teams)
	padded["n"] = base64.URLEncoding.EncodeToString(mainKey.N.Bytes())
	badEnd := rsaJWK("k-bad-endorsements", &mainKey.PublicKey, nil)
	badEnd["endorsements"] = "msteams"
	ps := rsaJWK("k-ps", &mainKey.PublicKey, teams)
	ps["alg"] = "PS256"
	for _, tt := range []struct {
		name    string
		doc     string
		keys    []map[string]any
		want    []string // kids kept
		wantErr bool
	}{
		{name: "not-json", doc: "{", wantErr: true},
		{name: "empty-object", doc: "{}"},
		{name: "empty-keys", doc: `{"keys":[]}`},
		{name: "null-keys", doc: `{"keys":null}`},
		{name: "invalid-key-object", doc: `{"keys":[42,"x",{"kty":1}]}`},
		{name: "keys-without-endorsements-kept", keys: []map[string]any{rsaJWK("a", &mainKey.PublicKey, nil)}, want: []string{"a"}},
		{name: "mixed", keys: []map[string]any{
			rsaJWK("good", &mainKey.PublicKey, teams), small, even, enc, badEnd, ps,
			{"kty": "EC", "kid": "ec"}, {"kty": "RSA", "n": "AQAB", "e": "AQAB"},
			{"kty": "RSA", "kid": "no-n", "e": "AQAB"},
			padded,
		}, want: []string{"good", "k-padded"}},
		{name: "duplicate-kid-dropped", keys: []map[string]any{
			rsaJWK("dup", &mainKey.PublicKey, teams), rsaJWK("dup", &nextKey.PublicKey, teams),
			rsaJWK("dup", &mainKey.PublicKey, teams), rsaJWK("other", &nextKey.PublicKey, teams),
		}, want: []string{"other"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			doc := []byte(tt.doc)
			if tt.keys != nil {
				var b strings.Builder
				writeJSON(&recorder{&b}, map[string]any{"keys": tt.keys})
				doc = []byte(b.String())
			}
			keys, _, err := parseJWKS(doc)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseJWKS error = %v", err)
			}
			var got []string
			for kid := range keys {
				got = append(got, kid)
			}
			if diff := cmp.Diff(tt.want, got, cmpSorted); diff != "" {
				t.Errorf("kept kids (-want +got):\n%s", diff)
			}
		})
	}
}

// TestParseMetadata: the metadata must be JSON and name a jwks_uri.
func TestParseMetadata(t *testing.T) {
	for _, tt := range []struct {
		doc string
		ok  bool
	}{
		{doc: `{"issuer":"https://api.botframework.com","jwks_uri":"https://login.botframework.com/v1/.well-known/keys","id_token_signing_alg_values_supported":["RS256"],"extra":1}`, ok: true},
		{doc: `{"jwks_uri":""}`},
		{doc: `{}`},
		{doc: `[]`},
		{doc: `{"jwks_uri":1}`},
		{doc: `<html>`},
	} {
		if _, err := parseMetadata([]byte(tt.doc)); (err == nil) != tt.ok {
			t.Errorf("parseMetadata(%s) error = %v, want ok=%v", tt.doc, err, tt.ok)
		}
	}
}

// TestNoKeysRetriesSoon: while no key set was ever fetched, the background
// loop retries within noKeysMaxBackoff even when MinRefetchInterval is long,
// so a gateway that started during an issuer outage recovers in seconds.
func TestNoKeysRetriesSoon(t *testing.T) {
	testKeys(t)
	is := newIssuer(t, rsaJWK("k1", &mainKey.PublicKey, teams))
	is.set(func(is *issuer) { is.metaStatus = http.StatusBadGateway })
	v, err := New(Config{AppIDs: []string{appID}, MetadataURL: is.metadataURL(), RootCAs: is.pool(), MinRefetchInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	v.cfg.noKeysMaxBackoff = 20 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := v.Start(ctx); err == nil {
		t.Fatal("Start succeeded against a failing issuer")
	}
	// With the bound, retries come every 20 ms after the first second;
	// without it, the third attempt would come after 3 s.
	time.Sleep(1500 * time.Millisecond)
	if n := is.metaHits.Load(); n < 5 {
		t.Errorf("%d metadata fetches in 1.5 s without keys, want the loop to keep retrying", n)
	}
	is.set(func(is *issuer) { is.metaStatus = 0 })
	waitFor(t, "recovery", func() bool { return v.Stats().Keys == 1 })
}
