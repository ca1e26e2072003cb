package botauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Test identities. The app ids are GUID-shaped like real ones.
const (
	appID      = "8e6b1a4c-52d1-4d47-9d0c-3c6b6d1f2a11"
	otherAppID = "0f4f2b7e-6d7a-4b0e-8f52-2a3a9c1b7e55"
	teamsURL   = "https://smba.trafficmanager.net/teams/"
	metaPath   = "/v1/.well-known/openidconfiguration"
	keysPath   = "/v1/.well-known/keys"
)

// base is the tests' "now".
var base = time.Date(2026, time.March, 2, 12, 0, 0, 0, time.UTC)

// Keys are generated once per test binary: 2048-bit generation is slow.
var (
	keysOnce                      sync.Once
	mainKey, nextKey, attackerKey *rsa.PrivateKey
	ecKey                         *ecdsa.PrivateKey
)

func testKeys(t testing.TB) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		for _, k := range []**rsa.PrivateKey{&mainKey, &nextKey, &attackerKey} {
			if *k, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
				panic(err)
			}
		}
		if ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
	})
}

// clock is an injectable clock.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *clock) Now() time.Time      { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Add(d time.Duration) { c.ns.Add(int64(d)) }

// b64 is unpadded base64url.
func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// rsaJWK is a Bot Framework-shaped JWK: kty/use/kid/n/e and endorsements,
// no x5c. A nil endorsements leaves the property out.
func rsaJWK(kid string, pub *rsa.PublicKey, endorsements []string) map[string]any {
	j := map[string]any{
		"kty": "RSA",
		"use": "sig",
		"kid": kid,
		"n":   b64(pub.N.Bytes()),
		"e":   b64(big.NewInt(int64(pub.E)).Bytes()),
	}
	if endorsements != nil {
		j["endorsements"] = endorsements
	}
	return j
}

// teams is the endorsement list of a Teams signing key (Teams keys carry
// about 20, botauth.md §1.2).
var teams = []string{"msteams", "skype", "webchat", "directline", "emulator"}

// issuer is a stub Bot Framework login endpoint: OpenID metadata and JWKS
// over HTTPS on 127.0.0.1, with fault injection and request counters.
type issuer struct {
	srv *httptest.Server

	mu         sync.Mutex
	keys       []map[string]any
	algs       []string // nil leaves id_token_signing_alg_values_supported out
	jwksURI    string   // overrides the default jwks_uri
	metaStatus int
	jwksStatus int
	delay      time.Duration

	metaHits, jwksHits atomic.Int64
}

func newIssuer(t testing.TB, keys ...map[string]any) *issuer {
	return startIssuer(t, true, keys...)
}

func startIssuer(t testing.TB, useTLS bool, keys ...map[string]any) *issuer {
	t.Helper()
	is := &issuer{keys: keys, algs: []string{"RS256"}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+metaPath, func(w http.ResponseWriter, r *http.Request) {
		is.metaHits.Add(1)
		is.mu.Lock()
		status, uri, algs, delay := is.metaStatus, is.jwksURI, is.algs, is.delay
		is.mu.Unlock()
		time.Sleep(delay)
		if status != 0 {
			http.Error(w, "unavailable", status)
			return
		}
		if uri == "" {
			uri = is.srv.URL + keysPath
		}
		doc := map[string]any{
			"issuer":                                "https://api.botframework.com",
			"authorization_endpoint":                "https://invalid.botframework.com",
			"jwks_uri":                              uri,
			"token_endpoint_auth_methods_supported": []string{"private_key_jwt"},
		}
		if algs != nil {
			doc["id_token_signing_alg_values_supported"] = algs
		}
		writeJSON(w, doc)
	})
	mux.HandleFunc("GET "+keysPath, func(w http.ResponseWriter, r *http.Request) {
		is.jwksHits.Add(1)
		is.mu.Lock()
		status, keys, delay := is.jwksStatus, is.keys, is.delay
		is.mu.Unlock()
		time.Sleep(delay)
		if status != 0 {
			http.Error(w, "unavailable", status)
			return
		}
		writeJSON(w, map[string]any{"keys": keys})
	})
	if useTLS {
		is.srv = httptest.NewTLSServer(mux)
	} else {
		is.srv = httptest.NewServer(mux)
	}
	t.Cleanup(is.srv.Close)
	return is
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v) //nolint:errcheck // test server
}

func (is *issuer) metadataURL() string { return is.srv.URL + metaPath }

// pool trusts the stub's certificate.
func (is *issuer) pool() *x509.CertPool {
	p := x509.NewCertPool()
	if c := is.srv.Certificate(); c != nil {
		p.AddCert(c)
	}
	return p
}

func (is *issuer) set(f func(is *issuer)) {
	is.mu.Lock()
	defer is.mu.Unlock()
	f(is)
}

// newValidator returns a started Validator for is, configured for the
// public cloud with the test app id, the stub's root and clk; mod may
// adjust the Config. Start's error is returned, not fatal.
func newValidator(t testing.TB, is *issuer, clk *clock, mod func(*Config)) (*Validator, error) {
	t.Helper()
	cfg := Config{
		AppIDs:      []string{appID},
		Cloud:       Worldwide,
		MetadataURL: is.metadataURL(),
		RootCAs:     is.pool(),
		Now:         clk.Now,
	}
	if mod != nil {
		mod(&cfg)
	}
	v, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		<-v.stopped
	})
	return v, v.Start(ctx)
}

func mustValidator(t testing.TB, is *issuer, clk *clock, mod func(*Config)) *Validator {
	t.Helper()
	v, err := newValidator(t, is, clk, mod)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return v
}

// claimsAt are the claims of a genuine Teams token issued at now
// (botauth.md §1.4: exactly aud, exp, iss, nbf, serviceurl; one hour).
func claimsAt(now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss":        "https://api.botframework.com",
		"aud":        appID,
		"serviceurl": teamsURL,
		"nbf":        now.Unix(),
		"exp":        now.Add(time.Hour).Unix(),
	}
}

// sign makes a compact JWS with header kid (if non-empty).
func sign(t testing.TB, m jwt.SigningMethod, key any, kid string, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

// with returns a copy of c with the given claims set; a nil value deletes.
func with(c jwt.MapClaims, kv ...any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

// selfSigned returns a DER certificate for key valid from nb to na.
func selfSigned(t testing.TB, key *rsa.PrivateKey, nb, na time.Time) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "login.botframework.test"},
		NotBefore:    nb,
		NotAfter:     na,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// waitFor polls cond for up to 5 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var rsVerify = jwt.SigningMethodRS256

var teamsActivity = Activity{ChannelID: "msteams", ServiceURL: teamsURL}

// recorder adapts a strings.Builder to writeJSON.
type recorder struct{ b *strings.Builder }

func (r *recorder) Header() http.Header         { return http.Header{} }
func (r *recorder) Write(p []byte) (int, error) { return r.b.Write(p) }
func (r *recorder) WriteHeader(int)             {}

// cmpSorted compares string slices ignoring order.
var cmpSorted = cmpopts.SortSlices(func(a, b string) bool { return a < b })
