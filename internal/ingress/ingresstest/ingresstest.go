// Package ingresstest provides what gateway tests need around the gateway,
// all on loopback: a private certificate authority, a Bot Framework OpenID
// metadata and JWKS server over HTTPS (keys in the Bot Framework shape,
// with endorsements), tokens signed at test time, activities, and a bot
// upstream that records what reaches it.
package ingresstest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// TB is the part of testing.TB the helpers use, so that the benchmark
// driver in bench/ can use them outside a test.
type TB interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// Bot Framework values used by default (botauth.md §1.4, §1.5).
const (
	PublicIssuer = "https://api.botframework.com"
	MetadataPath = "/v1/.well-known/openidconfiguration"
	KeysPath     = "/v1/.well-known/keys"
	ServiceURL   = "https://smba.trafficmanager.net/teams/"
	AppID        = "8e6b1a4c-52d1-4d47-9d0c-3c6b6d1f2a11"
	OtherAppID   = "0f4f2b7e-6d7a-4b0e-8f52-2a3a9c1b7e55"
)

// CA is a private certificate authority for tests.
type CA struct {
	Cert *x509.Certificate
	key  *ecdsa.PrivateKey
	PEM  []byte
}

// NewCA creates a CA with an ECDSA P-256 key.
func NewCA(t TB, name string) *CA {
	t.Helper()
	key := mustECKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{Cert: cert, key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// Pool returns a pool holding only the CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Server issues a server certificate for 127.0.0.1, ::1 and localhost,
// valid from notBefore for a day, and returns it as PEM and as a
// tls.Certificate.
func (ca *CA) Server(t TB, cn string) (certPEM, keyPEM []byte, cert tls.Certificate) {
	t.Helper()
	return ca.issue(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
}

// Client issues a client certificate for mTLS tests.
func (ca *CA) Client(t TB, cn string) tls.Certificate {
	t.Helper()
	_, _, c := ca.issue(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	return c
}

func (ca *CA) issue(t TB, tmpl *x509.Certificate) ([]byte, []byte, tls.Certificate) {
	t.Helper()
	key := mustECKey(t)
	tmpl.SerialNumber = serial(t)
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return certPEM, keyPEM, c
}

func mustECKey(t TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func serial(t TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// WriteFile writes data to dir/name and returns the path.
func WriteFile(t TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Key is a signing key as the issuer publishes it.
type Key struct {
	ID      string
	Private *rsa.PrivateKey
	// Endorsements are the channel ids the key endorses; nil leaves the
	// property out (a key the gateway must refuse).
	Endorsements []string
	// EC, when set, publishes an EC key under ID instead of the RSA key.
	EC *ecdsa.PrivateKey
}

// NewRSAKey generates a 2048-bit RSA key (slow: share keys across tests).
func NewRSAKey(t TB) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Issuer is a Bot Framework OpenID metadata and JWKS server over HTTPS.
type Issuer struct {
	// URL is the server's base URL; MetadataURL the metadata document's.
	URL, MetadataURL string
	srv              *httptest.Server

	mu   sync.Mutex
	keys []Key

	failing      atomic.Bool
	metaFetches  atomic.Int64
	keysFetches  atomic.Int64
	fetchLatency atomic.Int64
}

// NewIssuer starts an issuer serving certificates from ca and publishing
// keys. It stops when the test ends.
func NewIssuer(t TB, ca *CA, keys ...Key) *Issuer {
	t.Helper()
	iss := &Issuer{keys: keys}
	_, _, cert := ca.Server(t, "issuer")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(iss.serve))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	iss.srv = srv
	iss.URL = srv.URL
	iss.MetadataURL = srv.URL + MetadataPath
	t.Cleanup(srv.Close)
	return iss
}

func (iss *Issuer) serve(w http.ResponseWriter, r *http.Request) {
	if d := iss.fetchLatency.Load(); d > 0 {
		time.Sleep(time.Duration(d))
	}
	switch r.URL.Path {
	case MetadataPath:
		iss.metaFetches.Add(1)
		if iss.failing.Load() {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		writeJSON(w, map[string]any{
			"issuer":                                PublicIssuer,
			"authorization_endpoint":                "https://invalid.botframework.com",
			"jwks_uri":                              iss.URL + KeysPath,
			"id_token_signing_alg_values_supported": []string{"RS256"},
			"token_endpoint_auth_methods_supported": []string{"private_key_jwt"},
		})
	case KeysPath:
		iss.keysFetches.Add(1)
		if iss.failing.Load() {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		iss.mu.Lock()
		keys := make([]map[string]any, 0, len(iss.keys))
		for _, k := range iss.keys {
			keys = append(keys, jwk(k))
		}
		iss.mu.Unlock()
		writeJSON(w, map[string]any{"keys": keys})
	default:
		http.NotFound(w, r)
	}
}

// Publish replaces the published keys.
func (iss *Issuer) Publish(keys ...Key) {
	iss.mu.Lock()
	iss.keys = keys
	iss.mu.Unlock()
}

// SetFailing makes both documents answer 503 (an outage) or recover.
func (iss *Issuer) SetFailing(f bool) { iss.failing.Store(f) }

// SetLatency delays every answer, so that concurrent fetches overlap.
func (iss *Issuer) SetLatency(d time.Duration) { iss.fetchLatency.Store(int64(d)) }

// KeyFetches counts JWKS requests; MetadataFetches metadata requests.
func (iss *Issuer) KeyFetches() int64      { return iss.keysFetches.Load() }
func (iss *Issuer) MetadataFetches() int64 { return iss.metaFetches.Load() }

func jwk(k Key) map[string]any {
	var j map[string]any
	if k.EC != nil {
		p := k.EC.PublicKey
		b, _ := p.Bytes() //nolint:errcheck // a valid P-256 key always encodes
		j = map[string]any{
			"kty": "EC", "use": "sig", "kid": k.ID, "crv": "P-256",
			"x": b64(b[1:33]), "y": b64(b[33:65]),
		}
	} else {
		pub := k.Private.PublicKey
		j = map[string]any{
			"kty": "RSA", "use": "sig", "kid": k.ID,
			"n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes()),
		}
	}
	if k.Endorsements != nil {
		j["endorsements"] = k.Endorsements
	}
	return j
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v) //nolint:errcheck // test server
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// Claims are a channel token's claims. Zero times are left out; Extra
// claims are added as given.
type Claims struct {
	Issuer, Audience, ServiceURL string
	NotBefore, Expiry            time.Time
	Extra                        map[string]any
}

// ValidClaims are the claims of a genuine Teams token for AppID, valid for
// an hour from now (botauth.md §1.4).
func ValidClaims(now time.Time) Claims {
	return Claims{
		Issuer:     PublicIssuer,
		Audience:   AppID,
		ServiceURL: ServiceURL,
		NotBefore:  now.Add(-time.Minute),
		Expiry:     now.Add(time.Hour),
	}
}

func (c Claims) payload() map[string]any {
	m := map[string]any{}
	if c.Issuer != "" {
		m["iss"] = c.Issuer
	}
	if c.Audience != "" {
		m["aud"] = c.Audience
	}
	if c.ServiceURL != "" {
		m["serviceurl"] = c.ServiceURL
	}
	if !c.NotBefore.IsZero() {
		m["nbf"] = c.NotBefore.Unix()
	}
	if !c.Expiry.IsZero() {
		m["exp"] = c.Expiry.Unix()
	}
	for k, v := range c.Extra {
		if v == nil {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	return m
}

// Sign returns an RS256 compact JWS of c signed by priv under kid.
func Sign(t TB, priv *rsa.PrivateKey, kid string, c Claims) string {
	t.Helper()
	return SignAlg(t, priv, "RS256", kid, c)
}

// SignAlg signs with RS256, RS384 or RS512.
func SignAlg(t TB, priv *rsa.PrivateKey, alg, kid string, c Claims) string {
	t.Helper()
	hashes := map[string]crypto.Hash{"RS256": crypto.SHA256, "RS384": crypto.SHA384, "RS512": crypto.SHA512}
	h, ok := hashes[alg]
	if !ok {
		t.Fatalf("SignAlg: %q is not an RSA algorithm", alg)
	}
	signing := segments(t, map[string]any{"alg": alg, "typ": "JWT", "kid": kid, "x5t": kid}, c.payload())
	d := h.New()
	d.Write([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, priv, h, d.Sum(nil))
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + b64(sig)
}

// SignNone returns an unsigned token with alg "none".
func SignNone(t TB, kid string, c Claims) string {
	t.Helper()
	return segments(t, map[string]any{"alg": "none", "typ": "JWT", "kid": kid}, c.payload()) + "."
}

// SignHS256 returns a token MACed with secret: the algorithm-confusion
// attack when secret is the RSA public key's encoding.
func SignHS256(t TB, secret []byte, kid string, c Claims) string {
	t.Helper()
	signing := segments(t, map[string]any{"alg": "HS256", "typ": "JWT", "kid": kid}, c.payload())
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(signing))
	return signing + "." + b64(m.Sum(nil))
}

// PublicKeyPEM is the PEM of an RSA public key, the secret of the
// HS256 confusion attack.
func PublicKeyPEM(pub *rsa.PublicKey) []byte {
	der, _ := x509.MarshalPKIXPublicKey(pub) //nolint:errcheck // an RSA key always marshals
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func segments(t TB, header, payload map[string]any) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	p, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	return b64(h) + "." + b64(p)
}

// Activity returns a message activity body from channel with serviceUrl.
// Empty values leave the property out.
func Activity(channel, serviceURL string) []byte {
	m := map[string]any{"type": "message", "id": "1", "text": "hello", "from": map[string]string{"id": "29:1"}}
	if channel != "" {
		m["channelId"] = channel
	}
	if serviceURL != "" {
		m["serviceUrl"] = serviceURL
	}
	b, _ := json.Marshal(m) //nolint:errcheck // plain map
	return b
}

// Bot is an upstream bot instance that answers every activity with 200 and
// a small JSON body, and records what it received.
type Bot struct {
	Name string
	URL  string
	srv  *httptest.Server

	delay    atomic.Int64
	requests atomic.Int64
	health   atomic.Int64 // status of health checks; 0 means 200

	mu   sync.Mutex
	last *http.Request
	body []byte
}

// NewBot starts a bot on loopback; it stops when the test ends.
func NewBot(t TB, name string) *Bot {
	t.Helper()
	b := &Bot{Name: name}
	b.srv = httptest.NewServer(http.HandlerFunc(b.serve))
	b.URL = b.srv.URL
	t.Cleanup(b.srv.Close)
	return b
}

func (b *Bot) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.Header.Get("User-Agent") == "teamsgate-health" {
		if s := b.health.Load(); s != 0 {
			w.WriteHeader(int(s))
			return
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	body := make([]byte, 0, 1024)
	buf := make([]byte, 4096)
	for {
		n, err := r.Body.Read(buf)
		body = append(body, buf[:n]...)
		if err != nil {
			break
		}
	}
	if d := b.delay.Load(); d > 0 {
		time.Sleep(time.Duration(d))
	}
	b.requests.Add(1)
	b.mu.Lock()
	b.last = r.Clone(r.Context())
	b.body = body
	b.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"bot":%q}`, b.Name)
}

// SetDelay makes every activity take d.
func (b *Bot) SetDelay(d time.Duration) { b.delay.Store(int64(d)) }

// SetHealthStatus makes health checks answer status (0: 200).
func (b *Bot) SetHealthStatus(status int) { b.health.Store(int64(status)) }

// Requests counts the activities received.
func (b *Bot) Requests() int64 { return b.requests.Load() }

// Last returns the last activity request and body received.
func (b *Bot) Last() (*http.Request, []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.last, b.body
}

// Close stops the bot (an upstream going down).
func (b *Bot) Close() { b.srv.Close() }
