package tenant

import (
	"bufio"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	testHost    = "login.microsoftonline.com"
	testContext = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	testTenants = "botframework.com,contoso.com"
)

// testCA is a CA made for a test.
type testCA struct {
	cert            *x509.Certificate
	key             crypto.Signer
	certPEM, keyPEM []byte
	pool            *x509.CertPool
}

// newCA makes a CA valid from a day ago for a year, with an ECDSA P-256
// key unless key is given; edit, if not nil, changes the template first.
func newCA(t testing.TB, name string, key crypto.Signer, edit func(*x509.Certificate)) *testCA {
	t.Helper()
	if key == nil {
		key = newKey(t)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-24 * time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	if edit != nil {
		edit(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{
		cert:    cert,
		key:     key,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}),
		pool:    pool,
	}
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// serverCert issues a server certificate for host from the CA.
func (ca *testCA) serverCert(t testing.TB, host string) tls.Certificate {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: host},
		DNSNames:     []string{host},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// echo is what the test sign-in host answers: the request as it arrived.
type echo struct {
	Method  string
	Host    string
	Header  http.Header
	BodyLen int64
	BodySHA string
}

// upstream is a TLS server on loopback standing in for the sign-in host.
type upstream struct {
	srv      *httptest.Server
	requests atomic.Int32
	release  chan struct{} // closed by finish, lets /stream end
	once     sync.Once
}

// finish lets /stream end.
func (u *upstream) finish() { u.once.Do(func() { close(u.release) }) }

// newUpstream starts the stand-in with a certificate for certHost from
// ca. It answers HEAD with a Content-Length and no body, /stream with one
// line, then another once release is closed, and anything else with the
// echo of the request as JSON.
func newUpstream(t testing.TB, ca *testCA, certHost string) *upstream {
	t.Helper()
	u := &upstream{release: make(chan struct{})}
	u.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.requests.Add(1)
		switch {
		case r.Method == http.MethodHead:
			w.Header().Set("Content-Length", "12345")
			return
		case r.URL.Path == "/stream":
			io.WriteString(w, "first\n")
			w.(http.Flusher).Flush()
			select {
			case <-u.release:
			case <-r.Context().Done():
				return
			}
			io.WriteString(w, "second\n")
			return
		}
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(echo{Method: r.Method, Host: r.Host, Header: r.Header, BodyLen: n, BodySHA: hex.EncodeToString(h.Sum(nil))})
	}))
	u.srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.serverCert(t, certHost)}}
	u.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshakes the tests make fail
	u.srv.StartTLS()
	t.Cleanup(u.srv.Close)
	t.Cleanup(u.finish) // first: Close waits for the handlers
	return u
}

// result is what one Serve returned.
type result struct {
	up, down int64
	err      error
}

// harness runs Serve for every connection its client dials: the client
// side over a loopback TCP pair, the upstream side dialled to the
// stand-in.
type harness struct {
	t        testing.TB
	i        *Interceptor
	proxyCA  *testCA
	upstream *upstream // nil with a raw upstream
	addr     string    // the upstream's address
	ctx      context.Context
	dials    atomic.Int32
	results  chan result
	client   *http.Client
}

// newHarness makes the proxy CA, an interceptor with upstreamRoots, and
// a client that trusts the proxy CA and offers h2 and HTTP/1.1. Its
// tunnels go to up, or to addr when up is nil.
func newHarness(t testing.TB, up *upstream, addr string, upstreamRoots *x509.CertPool) *harness {
	t.Helper()
	if up != nil {
		addr = up.srv.Listener.Addr().String()
	}
	h := &harness{t: t, proxyCA: newCA(t, "teamsgate test proxy CA", nil, nil), upstream: up, addr: addr, ctx: context.Background(), results: make(chan result, 16)}
	i, err := New(Config{
		Tenants:       []string{"botframework.com", "contoso.com"},
		Context:       testContext,
		Hosts:         []string{testHost, "login.microsoft.com", "login.windows.net"},
		CACertPEM:     h.proxyCA.certPEM,
		CAKeyPEM:      h.proxyCA.keyPEM,
		UpstreamRoots: upstreamRoots,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.i = i
	h.client = &http.Client{
		Transport: &http.Transport{
			DialContext:           func(ctx context.Context, _, _ string) (net.Conn, error) { return h.dial(testHost) },
			TLSClientConfig:       &tls.Config{RootCAs: h.proxyCA.pool, NextProtos: []string{"h2", "http/1.1"}},
			TLSNextProto:          map[string]func(string, *tls.Conn) http.RoundTripper{},
			ExpectContinueTimeout: 30 * time.Second,
		},
		Timeout: 30 * time.Second,
	}
	return h
}

// dial starts a tunnel to host and returns its client side. The
// transport calls it on its own goroutines, so it returns errors rather
// than failing the test.
func (h *harness) dial(host string) (net.Conn, error) {
	c, s, err := pair()
	if err != nil {
		return nil, err
	}
	up, err := net.Dial("tcp", h.addr)
	if err != nil {
		c.Close()
		s.Close()
		return nil, err
	}
	h.dials.Add(1)
	go func() {
		u, d, err := h.i.Serve(h.ctx, s, host, up)
		h.results <- result{up: u, down: d, err: err}
	}()
	return c, nil
}

// wait closes the client's idle connections and returns what every Serve
// returned.
func (h *harness) wait() []result {
	h.t.Helper()
	h.client.CloseIdleConnections()
	var out []result
	for range h.dials.Load() {
		select {
		case r := <-h.results:
			out = append(out, r)
		case <-time.After(10 * time.Second):
			h.t.Fatal("Serve did not return")
		}
	}
	return out
}

// pair returns the two ends of a loopback TCP connection.
func pair() (client, server net.Conn, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	defer ln.Close()
	type accepted struct {
		c   net.Conn
		err error
	}
	ch := make(chan accepted, 1)
	go func() {
		c, err := ln.Accept()
		ch <- accepted{c, err}
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		ln.Close()
		if a := <-ch; a.c != nil {
			a.c.Close()
		}
		return nil, nil, err
	}
	a := <-ch
	if a.err != nil {
		client.Close()
		return nil, nil, a.err
	}
	return client, a.c, nil
}

// rawUpstream starts a TLS server on loopback with a certificate for
// testHost from ca, which reads one request per connection, answers it
// with answer as written and closes.
func rawUpstream(t testing.TB, ca *testCA, answer string) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{ca.serverCert(t, testHost)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				io.Copy(io.Discard, req.Body)
				io.WriteString(c, answer)
			}()
		}
	}()
	return ln.Addr().String()
}
