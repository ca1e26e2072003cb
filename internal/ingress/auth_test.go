package ingress

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/teamsgate/teamsgate/internal/botauth"
	"github.com/teamsgate/teamsgate/internal/ingress/ingresstest"
)

// TestTokenValidationEndToEnd runs the test vectors of botauth.md §3.3
// through the gateway: every request goes over TLS from loopback, the
// issuer is a local HTTPS server with its own CA, and only the accepted
// requests reach the bot. A rejection carries no detail; the log names the
// reason and never the token.
func TestTokenValidationEndToEnd(t *testing.T) {
	h := newHarness(t)
	// k2 endorses webchat only; k3 has no endorsements; kec is an EC key.
	h.iss.Publish(
		ingresstest.Key{ID: "k1", Private: mainKey, Endorsements: []string{"msteams", "skype"}},
		ingresstest.Key{ID: "k2", Private: nextKey, Endorsements: []string{"webchat"}},
		ingresstest.Key{ID: "k3", Private: attackerKey},
		ingresstest.Key{ID: "kec", EC: mustEC(t), Endorsements: []string{"msteams"}},
	)
	reloadKeys(t, h)

	now := time.Now()
	valid := ingresstest.ValidClaims(now)
	with := func(f func(c *ingresstest.Claims)) ingresstest.Claims {
		c := valid
		f(&c)
		return c
	}
	sign := func(c ingresstest.Claims) string { return "Bearer " + ingresstest.Sign(t, mainKey, "k1", c) }
	teams := activity()

	tests := []struct {
		name   string
		auth   []string // Authorization headers
		body   []byte
		status int
		reason string
	}{
		{name: "valid", auth: []string{sign(valid)}, body: teams, status: 200, reason: "ok"},
		{name: "serviceUrl differs by case and trailing slash", auth: []string{sign(valid)},
			body: ingresstest.Activity("msteams", "https://SMBA.trafficmanager.net/teams"), status: 200, reason: "ok"},
		{name: "expired 4 min ago, within skew", auth: []string{sign(with(func(c *ingresstest.Claims) {
			c.NotBefore, c.Expiry = now.Add(-time.Hour), now.Add(-4*time.Minute)
		}))}, body: teams, status: 200, reason: "ok"},
		{name: "nbf 4 min ahead, within skew", auth: []string{sign(with(func(c *ingresstest.Claims) { c.NotBefore = now.Add(4 * time.Minute) }))},
			body: teams, status: 200, reason: "ok"},

		{name: "no header", body: teams, status: 401, reason: "missing-header"},
		{name: "two headers", auth: []string{sign(valid), sign(valid)}, body: teams, status: 401, reason: "multiple-headers"},
		{name: "scheme not Bearer", auth: []string{"bearer " + ingresstest.Sign(t, mainKey, "k1", valid)}, body: teams, status: 401, reason: "bad-scheme"},
		{name: "extra space", auth: []string{"Bearer  " + ingresstest.Sign(t, mainKey, "k1", valid)}, body: teams, status: 401, reason: "bad-scheme"},
		{name: "not a JWT", auth: []string{"Bearer not.a.jwt"}, body: teams, status: 401, reason: "malformed-token"},
		{name: "alg none", auth: []string{"Bearer " + ingresstest.SignNone(t, "k1", valid)}, body: teams, status: 401, reason: "bad-algorithm"},
		{name: "HS256 with the RSA public key as secret", auth: []string{"Bearer " + ingresstest.SignHS256(t, ingresstest.PublicKeyPEM(&mainKey.PublicKey), "k1", valid)},
			body: teams, status: 401, reason: "bad-algorithm"},
		{name: "RS384 not configured", auth: []string{"Bearer " + ingresstest.SignAlg(t, mainKey, "RS384", "k1", valid)}, body: teams, status: 401, reason: "bad-algorithm"},
		{name: "bad signature: other key under a known kid", auth: []string{"Bearer " + ingresstest.Sign(t, attackerKey, "k1", valid)},
			body: teams, status: 401, reason: "bad-signature"},
		{name: "unknown kid", auth: []string{"Bearer " + ingresstest.Sign(t, attackerKey, "nope", valid)}, body: teams, status: 401, reason: "unknown-key"},
		{name: "EC key under the kid", auth: []string{"Bearer " + ingresstest.Sign(t, mainKey, "kec", valid)}, body: teams, status: 401, reason: "unknown-key"},
		{name: "issuer with trailing slash", auth: []string{sign(with(func(c *ingresstest.Claims) { c.Issuer += "/" }))}, body: teams, status: 401, reason: "bad-issuer"},
		{name: "issuer suffix", auth: []string{sign(with(func(c *ingresstest.Claims) { c.Issuer += ".evil" }))}, body: teams, status: 401, reason: "bad-issuer"},
		{name: "Entra issuer", auth: []string{sign(with(func(c *ingresstest.Claims) {
			c.Issuer = "https://sts.windows.net/d6d49420-f39b-4df7-a1dc-d59a935871db/"
		}))}, body: teams, status: 401, reason: "bad-issuer"},
		{name: "wrong audience (replay to another bot)", auth: []string{sign(with(func(c *ingresstest.Claims) { c.Audience = ingresstest.OtherAppID }))},
			body: teams, status: 401, reason: "bad-audience"},
		{name: "audience case variant", auth: []string{sign(with(func(c *ingresstest.Claims) { c.Audience = strings.ToUpper(ingresstest.AppID) }))},
			body: teams, status: 401, reason: "bad-audience"},
		{name: "audience array", auth: []string{sign(with(func(c *ingresstest.Claims) {
			c.Extra = map[string]any{"aud": []string{ingresstest.AppID}}
		}))}, body: teams, status: 401, reason: "bad-audience"},
		{name: "expired beyond skew", auth: []string{sign(with(func(c *ingresstest.Claims) {
			c.NotBefore, c.Expiry = now.Add(-2*time.Hour), now.Add(-6*time.Minute)
		}))}, body: teams, status: 401, reason: "expired"},
		{name: "nbf beyond skew", auth: []string{sign(with(func(c *ingresstest.Claims) { c.NotBefore = now.Add(6 * time.Minute) }))},
			body: teams, status: 401, reason: "not-yet-valid"},
		{name: "no serviceurl claim", auth: []string{sign(with(func(c *ingresstest.Claims) { c.ServiceURL = "" }))}, body: teams, status: 401, reason: "serviceurl-missing"},
		{name: "serviceurl mismatch: attacker trafficmanager host", auth: []string{sign(valid)},
			body: ingresstest.Activity("msteams", "https://evil.trafficmanager.net/teams/"), status: 401, reason: "serviceurl-mismatch"},
		{name: "activity without serviceUrl", auth: []string{sign(valid)}, body: ingresstest.Activity("msteams", ""), status: 401, reason: "activity-serviceurl-missing"},
		{name: "channel not endorsed by the key", auth: []string{"Bearer " + ingresstest.Sign(t, nextKey, "k2", valid)}, body: teams, status: 403, reason: "channel-not-endorsed"},
		{name: "key without endorsements", auth: []string{"Bearer " + ingresstest.Sign(t, attackerKey, "k3", valid)}, body: teams, status: 403, reason: "no-endorsement"},
		{name: "activity without channelId", auth: []string{sign(valid)}, body: ingresstest.Activity("", ingresstest.ServiceURL), status: 401, reason: "channel-missing"},
		{name: "channel endorsed but not a Teams channel", auth: []string{sign(valid)}, body: ingresstest.Activity("skype", ingresstest.ServiceURL), status: 403, reason: "channel-not-allowed"},
		{name: "body not JSON", auth: []string{sign(valid)}, body: []byte("hello"), status: 400, reason: "bad-activity"},
		{name: "body with a case-variant serviceUrl", auth: []string{sign(valid)},
			body: []byte(`{"channelId":"msteams","serviceUrl":"https://smba.trafficmanager.net/teams/","ServiceUrl":"https://evil.example/"}`), status: 400, reason: "bad-activity"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := h.bots["blue-1"].Requests()
			var hdr []string
			for _, a := range tc.auth {
				hdr = append(hdr, "Authorization", a)
			}
			resp, body := h.post("", tc.body, hdr...)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (body %q)", resp.StatusCode, tc.status, body)
			}
			reached := h.bots["blue-1"].Requests() - before
			if wantReach := int64(b2i(tc.status == 200)); reached != wantReach {
				t.Errorf("bot received %d requests, want %d", reached, wantReach)
			}
			if tc.status != 200 && string(body) != http.StatusText(tc.status)+"\n" {
				t.Errorf("rejection body %q carries more than the status text", body)
			}
			if tc.status == 200 && !strings.Contains(string(body), `"bot":"blue-1"`) {
				t.Errorf("body %q is not the bot's answer", body)
			}
			line := lastRequestLog(t, h)
			if !strings.Contains(line, `"reason":"`+tc.reason+`"`) {
				t.Errorf("log line %s lacks reason %q", line, tc.reason)
			}
			for _, a := range tc.auth {
				if tok := strings.TrimPrefix(strings.TrimPrefix(a, "Bearer "), "bearer "); len(tok) > 20 && strings.Contains(h.logs.String(), tok[len(tok)-20:]) {
					t.Errorf("the log contains the token")
				}
			}
		})
	}
	if v := h.metric(`teamsgate_gateway_requests_total{decision="deny",reason="channel-not-endorsed"}`); v != "1" {
		t.Errorf("channel-not-endorsed counter = %q, want 1", v)
	}
}

func mustEC(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// lastRequestLog returns the last "request" log line.
func lastRequestLog(t testing.TB, h *harness) string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(h.logs.String()), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], `"msg":"request"`) {
			return lines[i]
		}
	}
	t.Fatal("no request log line")
	return ""
}

// reloadKeys makes the gateway fetch the issuer's current keys now, by
// presenting a token with a kid it does not know yet (a rate-limited
// refetch; the test waits out the limit).
func reloadKeys(t testing.TB, h *harness) {
	t.Helper()
	time.Sleep(1100 * time.Millisecond) // MinRefetchInterval is 1 s
	tok := ingresstest.Sign(t, attackerKey, fmt.Sprintf("refresh-%d", time.Now().UnixNano()), ingresstest.ValidClaims(time.Now()))
	before := h.iss.KeyFetches()
	h.post("Bearer "+tok, activity())
	if h.iss.KeyFetches() == before {
		t.Fatal("the unknown kid did not trigger a key refetch")
	}
}

// TestTokenCacheSkipsSignatureCheck shows that a reused token costs one
// RSA verification, and that the activity checks still run on cached
// tokens.
func TestTokenCacheSkipsSignatureCheck(t *testing.T) {
	h := newHarness(t)
	tok := "Bearer " + h.token()
	for i := range 5 {
		if resp, _ := h.post(tok, activity()); resp.StatusCode != 200 {
			t.Fatalf("request %d: status %d", i, resp.StatusCode)
		}
	}
	if v := h.g.authStats().Verifications; v != 1 {
		t.Errorf("%d RSA verifications for 5 requests with one token, want 1", v)
	}
	if !strings.Contains(lastRequestLog(t, h), `"token_cached":true`) {
		t.Errorf("last request not served from the token cache: %s", lastRequestLog(t, h))
	}
	// Cached, but the serviceUrl no longer matches: still refused.
	if resp, _ := h.post(tok, ingresstest.Activity("msteams", "https://evil.example/")); resp.StatusCode != 401 {
		t.Errorf("cached token with a mismatched serviceUrl: status %d, want 401", resp.StatusCode)
	}
}

// TestKeyRotation: the issuer replaces k1 by k2 after the gateway cached
// k1; a token signed with k2 triggers one refetch and is accepted, and k1
// tokens are refused from then on.
func TestKeyRotation(t *testing.T) {
	h := newHarness(t)
	if resp, _ := h.post("Bearer "+h.token(), activity()); resp.StatusCode != 200 {
		t.Fatalf("before rotation: status %d", resp.StatusCode)
	}
	time.Sleep(1100 * time.Millisecond) // past MinRefetchInterval
	h.iss.Publish(ingresstest.Key{ID: "k2", Private: nextKey, Endorsements: []string{"msteams"}})
	before := h.iss.KeyFetches()
	tok2 := ingresstest.Sign(t, nextKey, "k2", ingresstest.ValidClaims(time.Now()))
	if resp, _ := h.post("Bearer "+tok2, activity()); resp.StatusCode != 200 {
		t.Fatalf("after rotation, new key: status %d", resp.StatusCode)
	}
	if n := h.iss.KeyFetches() - before; n != 1 {
		t.Errorf("%d key fetches for the rotation, want 1", n)
	}
	// A fresh k1 token (not cached) is now unknown.
	old := ingresstest.Sign(t, mainKey, "k1", ingresstest.ValidClaims(time.Now().Add(time.Second)))
	if resp, _ := h.post("Bearer "+old, activity()); resp.StatusCode != 401 {
		t.Errorf("after rotation, retired key: status %d, want 401", resp.StatusCode)
	}
}

// TestJWKSOutageKeepsLastGoodKeys: with a key set in hand, a failing
// issuer changes nothing; tokens keep validating and the failure is
// counted.
func TestJWKSOutageKeepsLastGoodKeys(t *testing.T) {
	h := newHarness(t, withConfig(func(h *harness, c *Config) { c.Auth.RefreshInterval = time.Second }))
	h.iss.SetFailing(true)
	before := h.iss.MetadataFetches()
	eventually(t, 5*time.Second, "a failed periodic refresh", func() bool { return h.g.authStats().KeyRefreshFailures > 0 })
	if h.iss.MetadataFetches() == before {
		t.Fatal("no refresh attempted during the outage")
	}
	if resp, _ := h.post("Bearer "+h.token(), activity()); resp.StatusCode != 200 {
		t.Fatalf("during the outage with last-good keys: status %d, want 200", resp.StatusCode)
	}
	if ok, why := h.g.Ready(); !ok {
		t.Errorf("not ready during an outage with last-good keys: %s", why)
	}
	if v := h.metric(`teamsgate_gateway_key_refreshes_total{result="error"}`); v == "" || v == "0" {
		t.Errorf("key refresh errors not counted: %q", v)
	}
}

// TestJWKSOutageWithoutKeysRejects: a gateway that never got keys refuses
// every request (503, never 200), reports not ready, and recovers by
// itself once the issuer answers.
func TestJWKSOutageWithoutKeysRejects(t *testing.T) {
	h := newHarness(t, func(h *harness) { h.iss.SetFailing(true) })
	if resp, _ := h.post("Bearer "+h.token(), activity()); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("without keys: status %d, want 503", resp.StatusCode)
	}
	if h.bots["blue-1"].Requests() != 0 {
		t.Fatal("a request reached the bot without keys")
	}
	if code, body := h.adminGet("/readyz"); code != 503 || !strings.Contains(body, "signing keys") {
		t.Errorf("readyz = %d %q, want 503 about keys", code, body)
	}
	h.iss.SetFailing(false)
	eventually(t, 10*time.Second, "keys after the outage", func() bool { return h.g.authStats().Keys > 0 })
	if resp, _ := h.post("Bearer "+h.token(), activity()); resp.StatusCode != 200 {
		t.Fatalf("after recovery: status %d, want 200", resp.StatusCode)
	}
}

// TestUnknownKidStormFetchesOnce: many concurrent tokens with unknown
// kids cause one key fetch, not one per request.
func TestUnknownKidStormFetchesOnce(t *testing.T) {
	h := newHarness(t)
	time.Sleep(1100 * time.Millisecond) // past MinRefetchInterval since the start fetch
	h.iss.SetLatency(200 * time.Millisecond)
	before := h.iss.KeyFetches()
	const n = 40
	var wg sync.WaitGroup
	codes := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok := ingresstest.Sign(t, attackerKey, fmt.Sprintf("unknown-%d", i), ingresstest.ValidClaims(time.Now()))
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, h.base+"/api/messages", strings.NewReader(string(activity())))
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := h.client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			codes[i] = resp.StatusCode
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != 401 {
			t.Errorf("request %d: status %d, want 401", i, c)
		}
	}
	if got := h.iss.KeyFetches() - before; got != 1 {
		t.Errorf("%d key fetches for %d unknown kids, want 1", got, n)
	}
}

// TestCloudIssuer: the accepted issuer follows the configured cloud, never
// the token: a GCC High gateway accepts api.botframework.us tokens and
// refuses public ones, and a public gateway the reverse (botauth.md §3.3
// vector 5).
func TestCloudIssuer(t *testing.T) {
	const govIssuer = "https://api.botframework.us"
	gov := newHarness(t, withConfig(func(h *harness, c *Config) { c.Auth.Cloud = botauth.GCCHigh }))
	public := newHarness(t)
	for _, tc := range []struct {
		name   string
		h      *harness
		iss    string
		status int
	}{
		{name: "gcch gateway, gov token", h: gov, iss: govIssuer, status: 200},
		{name: "gcch gateway, public token", h: gov, iss: ingresstest.PublicIssuer, status: 401},
		{name: "public gateway, gov token", h: public, iss: govIssuer, status: 401},
		{name: "public gateway, public token", h: public, iss: ingresstest.PublicIssuer, status: 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ingresstest.ValidClaims(time.Now())
			c.Issuer = tc.iss
			if resp, _ := tc.h.post("Bearer "+ingresstest.Sign(t, mainKey, "k1", c), activity()); resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
		})
	}
}
