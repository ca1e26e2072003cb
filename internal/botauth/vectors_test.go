package botauth

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
)

// standardKeys is the key set of most tests: a Teams key and the
// endorsement variants of botauth.md §3.3, plus non-RSA keys that an
// attacker might hope to get used.
func standardKeys(t testing.TB) []map[string]any {
	testKeys(t)
	null := rsaJWK("k-null", &mainKey.PublicKey, nil)
	null["endorsements"] = nil
	pkix, err := x509.MarshalPKIXPublicKey(&mainKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return []map[string]any{
		rsaJWK("k1", &mainKey.PublicKey, teams),
		rsaJWK("k-webchat", &mainKey.PublicKey, []string{"webchat"}),
		rsaJWK("k-noend", &mainKey.PublicKey, nil),
		null,
		rsaJWK("k-empty", &mainKey.PublicKey, []string{}),
		{
			"kty": "EC", "use": "sig", "kid": "k-ec", "crv": "P-256",
			"x": b64(ecKey.X.Bytes()), "y": b64(ecKey.Y.Bytes()),
			"endorsements": teams,
		},
		{"kty": "oct", "kid": "k-oct", "k": b64(pemOf(pkix)), "endorsements": teams},
	}
}

func pemOf(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// TestValidateVectors covers the numbered test vectors of botauth.md §3.3
// that need no special setup; each case name starts with its vector
// number (v00 for §6 checklist items without a vector). Rotation (v4),
// clouds (v5), refetch (v12) and outages (v25) have their own tests.
func TestValidateVectors(t *testing.T) {
	testKeys(t)
	now := base
	good := claimsAt(now)
	rs := jwt.SigningMethodRS256
	tok := func(c jwt.MapClaims) func(t *testing.T) string {
		return func(t *testing.T) string { return "Bearer " + sign(t, rs, mainKey, "k1", c) }
	}
	tokKid := func(kid string, c jwt.MapClaims) func(t *testing.T) string {
		return func(t *testing.T) string { return "Bearer " + sign(t, rs, mainKey, kid, c) }
	}
	raw := func(s string) func(t *testing.T) string { return func(*testing.T) string { return s } }
	pkix, err := x509.MarshalPKIXPublicKey(&mainKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	hs := func(secret []byte, kid string) func(t *testing.T) string {
		return func(t *testing.T) string { return "Bearer " + sign(t, jwt.SigningMethodHS256, secret, kid, good) }
	}
	act := func(channel, url string) Activity { return Activity{ChannelID: channel, ServiceURL: url} }
	ok := Result{Reason: OK, AppID: appID}

	tests := []struct {
		name   string
		header func(t *testing.T) string
		act    Activity
		mod    func(*Config)
		want   Result
	}{
		// Positive.
		{name: "v01-valid", header: tok(good), act: teamsActivity, want: ok},
		{name: "v02-activity-without-trailing-slash", header: tok(good), act: act("msteams", strings.TrimSuffix(teamsURL, "/")), want: ok},
		{name: "v02-claim-without-trailing-slash", header: tok(with(good, "serviceurl", strings.TrimSuffix(teamsURL, "/"))), act: teamsActivity, want: ok},
		{name: "v02-case-difference", header: tok(good), act: act("msteams", "https://SMBA.TrafficManager.net/Teams/"), want: ok},
		{name: "v02-regional-serviceurl", header: tok(with(good, "serviceurl", "https://smba.trafficmanager.net/emea/")), act: act("msteams", "https://smba.trafficmanager.net/emea/"), want: ok},
		{name: "v03-exp-4m-past", header: tok(with(good, "exp", now.Add(-4*time.Minute).Unix(), "nbf", now.Add(-time.Hour).Unix())), act: teamsActivity, want: ok},
		{name: "v03-nbf-4m-ahead", header: tok(with(good, "nbf", now.Add(4*time.Minute).Unix())), act: teamsActivity, want: ok},
		{name: "v03-no-nbf", header: tok(with(good, "nbf", nil)), act: teamsActivity, want: ok},
		{name: "v03-fractional-times", header: tok(with(good, "nbf", float64(now.Unix())-0.5, "exp", float64(now.Add(time.Hour).Unix())+0.25)), act: teamsActivity, want: ok},
		{name: "v00-second-app-id", header: tok(with(good, "aud", otherAppID)), act: teamsActivity,
			mod: func(c *Config) { c.AppIDs = []string{appID, otherAppID} }, want: Result{Reason: OK, AppID: otherAppID}},
		{name: "v00-extra-claims-ignored", header: tok(with(good, "tid", "x", "appid", "y", "ver", "1.0")), act: teamsActivity, want: ok},

		// Negative: header and scheme.
		{name: "v06-no-header", header: raw(""), act: teamsActivity, want: Result{Reason: MissingHeader}},
		{name: "v07-scheme-lower-case", header: func(t *testing.T) string { return "bearer " + strings.TrimPrefix(tok(good)(t), "Bearer ") }, act: teamsActivity, want: Result{Reason: BadScheme}},
		{name: "v07-scheme-upper-case", header: func(t *testing.T) string { return "BEARER " + strings.TrimPrefix(tok(good)(t), "Bearer ") }, act: teamsActivity, want: Result{Reason: BadScheme}},
		{name: "v07-scheme-basic", header: raw("Basic dXNlcjpwYXNz"), act: teamsActivity, want: Result{Reason: BadScheme}},
		{name: "v07-two-spaces", header: func(t *testing.T) string { return "Bearer  " + strings.TrimPrefix(tok(good)(t), "Bearer ") }, act: teamsActivity, want: Result{Reason: BadScheme}},
		{name: "v07-three-parts", header: func(t *testing.T) string { return tok(good)(t) + " extra" }, act: teamsActivity, want: Result{Reason: BadScheme}},
		{name: "v07-trailing-space", header: func(t *testing.T) string { return tok(good)(t) + " " }, act: teamsActivity, want: Result{Reason: BadScheme}},
		{name: "v07-tab", header: func(t *testing.T) string { return "Bearer\t" + strings.TrimPrefix(tok(good)(t), "Bearer ") }, act: teamsActivity, want: Result{Reason: BadScheme}},
		{name: "v07-scheme-only", header: raw("Bearer"), act: teamsActivity, want: Result{Reason: BadScheme}},
		{name: "v07-empty-token", header: raw("Bearer "), act: teamsActivity, want: Result{Reason: BadScheme}},
		{name: "v07-bare-token", header: func(t *testing.T) string { return strings.TrimPrefix(tok(good)(t), "Bearer ") }, act: teamsActivity, want: Result{Reason: BadScheme}},
		{name: "v00-token-too-large", header: raw("Bearer " + strings.Repeat("a", MaxAuthorizationBytes)), act: teamsActivity, want: Result{Reason: TokenTooLarge}},

		// Negative: not a JWT.
		{name: "v08-not-a-jwt", header: raw("Bearer not-a-jwt"), act: teamsActivity, want: Result{Reason: MalformedToken}},
		{name: "v08-garbage-base64", header: raw("Bearer !!!.###.$$$"), act: teamsActivity, want: Result{Reason: MalformedToken}},
		{name: "v08-two-segments", header: raw("Bearer eyJhbGciOiJSUzI1NiJ9.e30"), act: teamsActivity, want: Result{Reason: MalformedToken}},
		{name: "v08-four-segments", header: func(t *testing.T) string { return tok(good)(t) + ".AAAA" }, act: teamsActivity, want: Result{Reason: MalformedToken}},
		{name: "v08-header-not-json", header: raw("Bearer " + b64([]byte("{alg")) + "." + b64([]byte("{}")) + ".AAAA"), act: teamsActivity, want: Result{Reason: MalformedToken}},
		{name: "v08-claims-not-object", header: raw("Bearer " + b64([]byte(`{"alg":"RS256","kid":"k1"}`)) + "." + b64([]byte(`[1]`)) + ".AAAA"), act: teamsActivity, want: Result{Reason: MalformedToken}},
		{name: "v08-claims-null", header: raw("Bearer " + b64([]byte(`{"alg":"RS256","kid":"k1"}`)) + "." + b64([]byte(`null`)) + ".AAAA"), act: teamsActivity, want: Result{Reason: MalformedToken}},
		{name: "v08-padded-base64", header: func(t *testing.T) string {
			parts := strings.Split(strings.TrimPrefix(tok(good)(t), "Bearer "), ".")
			return "Bearer " + parts[0] + "==." + parts[1] + "." + parts[2]
		}, act: teamsActivity, want: Result{Reason: MalformedToken}},
		{name: "v08-iss-not-a-string", header: tok(with(good, "iss", 42)), act: teamsActivity, want: Result{Reason: MalformedToken}},
		{name: "v08-exp-not-a-number", header: tok(with(good, "exp", "tomorrow")), act: teamsActivity, want: Result{Reason: MalformedToken}},
		{name: "v08-serviceurl-not-a-string", header: tok(with(good, "serviceurl", []string{teamsURL})), act: teamsActivity, want: Result{Reason: MalformedToken}},
		{name: "v08-crit-header", header: func(t *testing.T) string {
			tk := jwt.NewWithClaims(rs, good)
			tk.Header["kid"] = "k1"
			tk.Header["crit"] = []string{"exp"}
			s, err := tk.SignedString(mainKey)
			if err != nil {
				t.Fatal(err)
			}
			return "Bearer " + s
		}, act: teamsActivity, want: Result{Reason: MalformedToken}},

		// Negative: algorithms, even with a matching key on offer.
		{name: "v09-alg-none", header: func(t *testing.T) string {
			return "Bearer " + sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "k1", good)
		}, act: teamsActivity, want: Result{Reason: BadAlgorithm}},
		{name: "v09-alg-none-with-signature", header: func(t *testing.T) string {
			s := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "k1", good)
			return "Bearer " + s + strings.Split(strings.TrimPrefix(tok(good)(t), "Bearer "), ".")[2]
		}, act: teamsActivity, want: Result{Reason: BadAlgorithm}},
		{name: "v09-alg-None", header: raw("Bearer " + b64([]byte(`{"alg":"None","kid":"k1"}`)) + "." + b64([]byte(`{}`)) + "."), act: teamsActivity, want: Result{Reason: BadAlgorithm}},
		{name: "v09-alg-missing", header: raw("Bearer " + b64([]byte(`{"kid":"k1"}`)) + "." + b64([]byte(`{}`)) + ".AAAA"), act: teamsActivity, want: Result{Reason: BadAlgorithm}},
		{name: "v10-hs256-rsa-public-key-pem-as-secret", header: hs(pemOf(pkix), "k1"), act: teamsActivity, want: Result{Reason: BadAlgorithm}},
		{name: "v10-hs256-rsa-public-key-der-as-secret", header: hs(pkix, "k1"), act: teamsActivity, want: Result{Reason: BadAlgorithm}},
		{name: "v10-hs256-with-oct-key-in-jwks", header: hs(pemOf(pkix), "k-oct"), act: teamsActivity, want: Result{Reason: BadAlgorithm}},
		{name: "v10-es256-rsa-kid", header: func(t *testing.T) string { return "Bearer " + sign(t, jwt.SigningMethodES256, ecKey, "k1", good) }, act: teamsActivity, want: Result{Reason: BadAlgorithm}},
		{name: "v10-es256-with-ec-key-in-jwks", header: func(t *testing.T) string { return "Bearer " + sign(t, jwt.SigningMethodES256, ecKey, "k-ec", good) }, act: teamsActivity, want: Result{Reason: BadAlgorithm}},
		{name: "v10-ps256", header: func(t *testing.T) string { return "Bearer " + sign(t, jwt.SigningMethodPS256, mainKey, "k1", good) }, act: teamsActivity, want: Result{Reason: BadAlgorithm}},
		{name: "v10-rs384-not-configured", header: func(t *testing.T) string { return "Bearer " + sign(t, jwt.SigningMethodRS384, mainKey, "k1", good) }, act: teamsActivity, want: Result{Reason: BadAlgorithm}},
		{name: "v10-rs384-configured-but-not-in-metadata", header: func(t *testing.T) string { return "Bearer " + sign(t, jwt.SigningMethodRS384, mainKey, "k1", good) }, act: teamsActivity,
			mod: func(c *Config) { c.Algorithms = []string{"RS256", "RS384"} }, want: Result{Reason: BadAlgorithm}},

		// Negative: signature and key.
		{name: "v11-bad-signature", header: func(t *testing.T) string {
			s := strings.TrimPrefix(tok(good)(t), "Bearer ")
			i := strings.LastIndexByte(s, '.') + 10
			c := byte('A')
			if s[i] == 'A' {
				c = 'B'
			}
			return "Bearer " + s[:i] + string(c) + s[i+1:]
		}, act: teamsActivity, want: Result{Reason: BadSignature}},
		{name: "v11-signature-of-other-claims", header: func(t *testing.T) string {
			a := strings.Split(strings.TrimPrefix(tok(good)(t), "Bearer "), ".")
			b := strings.Split(strings.TrimPrefix(tok(with(good, "aud", otherAppID))(t), "Bearer "), ".")
			return "Bearer " + a[0] + "." + a[1] + "." + b[2]
		}, act: teamsActivity, want: Result{Reason: BadSignature}},
		{name: "v11-empty-signature", header: func(t *testing.T) string {
			s := strings.TrimPrefix(tok(good)(t), "Bearer ")
			return "Bearer " + s[:strings.LastIndexByte(s, '.')+1]
		}, act: teamsActivity, want: Result{Reason: BadSignature}},
		{name: "v12-unknown-kid", header: tokKid("k-unknown", good), act: teamsActivity, want: Result{Reason: UnknownKey}},
		{name: "v00-missing-kid", header: tokKid("", good), act: teamsActivity, want: Result{Reason: MissingKeyID}},
		{name: "v00-kid-not-a-string", header: func(t *testing.T) string {
			tk := jwt.NewWithClaims(rs, good)
			tk.Header["kid"] = 1
			s, err := tk.SignedString(mainKey)
			if err != nil {
				t.Fatal(err)
			}
			return "Bearer " + s
		}, act: teamsActivity, want: Result{Reason: MalformedToken}},
		{name: "v13-foreign-key-known-kid", header: func(t *testing.T) string { return "Bearer " + sign(t, rs, attackerKey, "k1", good) }, act: teamsActivity, want: Result{Reason: BadSignature}},
		{name: "v24-ec-key-with-matching-kid", header: tokKid("k-ec", good), act: teamsActivity, want: Result{Reason: UnknownKey}},
		{name: "v24-oct-key-with-matching-kid", header: tokKid("k-oct", good), act: teamsActivity, want: Result{Reason: UnknownKey}},

		// Negative: issuer.
		{name: "v14-iss-trailing-slash", header: tok(with(good, "iss", "https://api.botframework.com/")), act: teamsActivity, want: Result{Reason: BadIssuer}},
		{name: "v14-iss-suffix", header: tok(with(good, "iss", "https://api.botframework.com.evil")), act: teamsActivity, want: Result{Reason: BadIssuer}},
		{name: "v14-iss-entra-v1", header: tok(with(good, "iss", "https://sts.windows.net/d6d49420-f39b-4df7-a1dc-d59a935871db/")), act: teamsActivity, want: Result{Reason: BadIssuer}},
		{name: "v14-iss-entra-v2", header: tok(with(good, "iss", "https://login.microsoftonline.com/d6d49420-f39b-4df7-a1dc-d59a935871db/v2.0")), act: teamsActivity, want: Result{Reason: BadIssuer}},
		{name: "v14-iss-gov-in-public-mode", header: tok(with(good, "iss", "https://api.botframework.us")), act: teamsActivity, want: Result{Reason: BadIssuer}},
		{name: "v14-iss-case-variant", header: tok(with(good, "iss", "https://API.botframework.com")), act: teamsActivity, want: Result{Reason: BadIssuer}},
		{name: "v14-iss-missing", header: tok(with(good, "iss", nil)), act: teamsActivity, want: Result{Reason: BadIssuer}},
		{name: "v14-iss-name-case-variant", header: tok(with(good, "iss", nil, "ISS", "https://api.botframework.com")), act: teamsActivity, want: Result{Reason: BadIssuer}},

		// Negative: audience. Policy: aud must be a string (§6.7); an
		// array is refused even when it holds only the app id.
		{name: "v15-aud-missing", header: tok(with(good, "aud", nil)), act: teamsActivity, want: Result{Reason: BadAudience}},
		{name: "v15-aud-empty", header: tok(with(good, "aud", "")), act: teamsActivity, want: Result{Reason: BadAudience}},
		{name: "v15-aud-other-guid", header: tok(with(good, "aud", otherAppID)), act: teamsActivity, want: Result{Reason: BadAudience}},
		{name: "v15-aud-array-with-app-id-and-others", header: tok(with(good, "aud", []string{appID, otherAppID})), act: teamsActivity, want: Result{Reason: BadAudience}},
		{name: "v15-aud-array-with-app-id-only", header: tok(with(good, "aud", []string{appID})), act: teamsActivity, want: Result{Reason: BadAudience}},
		{name: "v15-aud-case-variant", header: tok(with(good, "aud", strings.ToUpper(appID))), act: teamsActivity, want: Result{Reason: BadAudience}},
		{name: "v15-aud-api-prefix", header: tok(with(good, "aud", "api://"+appID)), act: teamsActivity, want: Result{Reason: BadAudience}},
		{name: "v15-aud-botframework", header: tok(with(good, "aud", "https://api.botframework.com")), act: teamsActivity, want: Result{Reason: BadAudience}},
		{name: "v15-aud-null", header: tok(with(good, "aud", []any{nil})), act: teamsActivity, want: Result{Reason: BadAudience}},
		{name: "v26-replay-to-other-bot", header: tok(with(good, "aud", otherAppID)), act: teamsActivity, mod: func(c *Config) { c.AppIDs = []string{appID} }, want: Result{Reason: BadAudience}},

		// Negative: lifetime.
		{name: "v16-expired-6m", header: tok(with(good, "exp", now.Add(-6*time.Minute).Unix(), "nbf", now.Add(-time.Hour).Unix())), act: teamsActivity, want: Result{Reason: Expired}},
		{name: "v16-expired-exactly-5m", header: tok(with(good, "exp", now.Add(-5*time.Minute).Unix(), "nbf", now.Add(-time.Hour).Unix())), act: teamsActivity, want: Result{Reason: Expired}},
		{name: "v16-nbf-6m-ahead", header: tok(with(good, "nbf", now.Add(6*time.Minute).Unix())), act: teamsActivity, want: Result{Reason: NotYetValid}},
		{name: "v16-far-future-exp-saturates", header: tok(with(good, "exp", 1e300)), act: teamsActivity, want: ok},
		{name: "v16-far-past-exp", header: tok(with(good, "exp", -1e300)), act: teamsActivity, want: Result{Reason: Expired}},
		{name: "v16-skew-configurable", header: tok(with(good, "exp", now.Add(-2*time.Minute).Unix())), act: teamsActivity, mod: func(c *Config) { c.ClockSkew = time.Minute }, want: Result{Reason: Expired}},
		{name: "v00-exp-missing", header: tok(with(good, "exp", nil)), act: teamsActivity, want: Result{Reason: MissingExpiry}},

		// Negative: serviceurl.
		{name: "v17-serviceurl-claim-missing", header: tok(with(good, "serviceurl", nil)), act: teamsActivity, want: Result{Reason: ServiceURLMissing}},
		{name: "v17-serviceurl-claim-empty", header: tok(with(good, "serviceurl", "")), act: teamsActivity, want: Result{Reason: ServiceURLMissing}},
		{name: "v17-serviceurl-claim-camel-case", header: tok(with(good, "serviceurl", nil, "serviceUrl", teamsURL)), act: teamsActivity, want: Result{Reason: ServiceURLMissing}},
		{name: "v18-serviceurl-attacker-trafficmanager", header: tok(good), act: act("msteams", "https://evil.trafficmanager.net/teams/"), want: Result{Reason: ServiceURLMismatch}},
		{name: "v18-serviceurl-other-path", header: tok(good), act: act("msteams", "https://smba.trafficmanager.net/amer/"), want: Result{Reason: ServiceURLMismatch}},
		{name: "v18-serviceurl-http", header: tok(good), act: act("msteams", "http://smba.trafficmanager.net/teams/"), want: Result{Reason: ServiceURLMismatch}},
		{name: "v18-serviceurl-two-trailing-slashes", header: tok(good), act: act("msteams", teamsURL+"/"), want: Result{Reason: ServiceURLMismatch}},
		{name: "v18-serviceurl-unicode-fold", header: tok(good), act: act("msteams", "https://ſmba.trafficmanager.net/teams/"), want: Result{Reason: ServiceURLMismatch}},
		{name: "v18-serviceurl-host-suffix", header: tok(good), act: act("msteams", "https://smba.trafficmanager.net.evil/teams/"), want: Result{Reason: ServiceURLMismatch}},
		{name: "v19-activity-without-serviceurl", header: tok(good), act: act("msteams", ""), want: Result{Reason: ActivityServiceURLMissing}},

		// Negative: channel and endorsements.
		{name: "v20-webchat-only-key", header: tokKid("k-webchat", good), act: teamsActivity, want: Result{Reason: ChannelNotEndorsed}},
		{name: "v20-empty-endorsements", header: tokKid("k-empty", good), act: teamsActivity, want: Result{Reason: ChannelNotEndorsed}},
		{name: "v20-channel-case-variant", header: tok(good), act: act("MSTeams", teamsURL), want: Result{Reason: ChannelNotEndorsed}},
		{name: "v21-key-without-endorsements", header: tokKid("k-noend", good), act: teamsActivity, want: Result{Reason: NoEndorsement}},
		{name: "v21-key-with-null-endorsements", header: tokKid("k-null", good), act: teamsActivity, want: Result{Reason: NoEndorsement}},
		{name: "v22-channel-empty", header: tok(good), act: act("", teamsURL), want: Result{Reason: ChannelMissing}},
		{name: "v22-endorsed-channel-not-teams", header: tok(good), act: act("webchat", teamsURL), want: Result{Reason: ChannelNotAllowed}},
		{name: "v22-other-channel-configured", header: tok(good), act: act("webchat", teamsURL), mod: func(c *Config) { c.Channels = []string{"msteams", "webchat"} }, want: ok},
	}
	is := newIssuer(t, standardKeys(t)...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := mustValidator(t, is, newClock(now), tt.mod)
			got := v.Validate(context.Background(), tt.header(t), tt.act)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Validate (-want +got):\n%s", diff)
			}
			if got.OK() != (tt.want.Reason == OK) {
				t.Errorf("OK() = %v for %v", got.OK(), got.Reason)
			}
		})
	}
}
