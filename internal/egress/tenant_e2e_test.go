package egress_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/teamsgate/teamsgate/internal/egress"
	"github.com/teamsgate/teamsgate/internal/egress/policy"
)

// serverFor issues a server certificate for the DNS names from the CA.
func (k *pki) serverFor(t *testing.T, names ...string) tls.Certificate {
	t.Helper()
	k.serial++
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(k.serial), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, k.ca, &key.PublicKey, k.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// keyFile writes the CA's private key and returns its path.
func (k *pki) keyFile(t *testing.T) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return k.write(t, "ca.key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// headerEcho is a TLS server on loopback for the names, its certificate
// issued by ca, that answers every request with the request's headers as
// JSON.
func headerEcho(t *testing.T, ca *pki, names ...string) uint16 {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)         //nolint:errcheck
		json.NewEncoder(w).Encode(r.Header) //nolint:errcheck
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.serverFor(t, names...)}}
	srv.EnableHTTP2 = false
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return netip.MustParseAddrPort(srv.Listener.Addr().String()).Port()
}

// TestTenantRestrictions: a client through the proxy to the sign-in host
// arrives with exactly the configured headers, its own
// Restrict-Access-To-Tenants replaced; the certificate it sees is the
// proxy CA's; another allowed host is spliced, not decrypted (the client
// sees that host's own certificate).
func TestTenantRestrictions(t *testing.T) {
	proxyCA, realCA := newPKI(t), newPKI(t)
	signinPort := headerEcho(t, realCA, "login.microsoftonline.com")
	otherPort := headerEcho(t, realCA, "graph.microsoft.com")
	d := startDNS(t, zone{"login.microsoftonline.com": {loop}, "graph.microsoft.com": {loop}})
	const tenantID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	cfg := egress.Config{
		Rules:    []policy.Rule{rule("signin", signinPort, "login.microsoftonline.com"), rule("graph", otherPort, "graph.microsoft.com")},
		DNS:      []netip.AddrPort{d},
		TLSPorts: portSet(signinPort, otherPort),
		Tenant: &egress.TenantRestrictions{
			Tenants:        []string{"contoso.com", "botframework.com"},
			Context:        tenantID,
			Hosts:          []string{"login.microsoftonline.com", "login.microsoft.com", "login.windows.net"},
			CACertFile:     proxyCA.dir + "/ca.pem",
			CAKeyFile:      proxyCA.keyFile(t),
			UpstreamCAFile: realCA.dir + "/ca.pem",
		},
	}
	p, logs := proxyUnder(t, cfg, egress.Options{})

	proxyRoots := x509.NewCertPool()
	proxyRoots.AddCert(proxyCA.ca)
	realRoots := x509.NewCertPool()
	realRoots.AddCert(realCA.ca)

	// The sign-in host: two requests on one kept connection, each with
	// client-sent tenant headers that the proxy replaces.
	c := client(p.Addr(), proxyRoots)
	c.Transport.(*http.Transport).DisableKeepAlives = false
	for i := range 2 {
		req, _ := http.NewRequest(http.MethodPost, "https://login.microsoftonline.com:"+itoa(signinPort)+"/common/oauth2/v2.0/token",
			strings.NewReader(strings.Repeat("grant_type=client_credentials&", 1000)))
		req.Header.Set("Restrict-Access-To-Tenants", "evil.example")
		req.Header["restrict-access-context"] = []string{"00000000-0000-0000-0000-000000000000"}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		var got http.Header
		err = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if v := got.Values("Restrict-Access-To-Tenants"); len(v) != 1 || v[0] != "contoso.com,botframework.com" {
			t.Errorf("request %d: Restrict-Access-To-Tenants = %q, want exactly contoso.com,botframework.com", i, v)
		}
		if v := got.Values("Restrict-Access-Context"); len(v) != 1 || v[0] != tenantID {
			t.Errorf("request %d: Restrict-Access-Context = %q, want exactly %s", i, v, tenantID)
		}
		if _, ok := got["restrict-access-context"]; ok {
			t.Errorf("request %d: the client's lower-case header reached the sign-in host: %v", i, got)
		}
		leaf := resp.TLS.PeerCertificates[0]
		if leaf.CheckSignatureFrom(proxyCA.ca) != nil || leaf.VerifyHostname("login.microsoftonline.com") != nil {
			t.Errorf("request %d: the client saw %q from %q, want the sign-in host's name from the proxy CA", i, leaf.DNSNames, leaf.Issuer.CommonName)
		}
	}
	c.CloseIdleConnections() // the tunnel's line is written when it ends
	line := logs.waitFor(t, "login.microsoftonline.com:"+itoa(signinPort))
	if line["tenant_restrictions"] != true || line["decision"] != "allow" {
		t.Errorf("sign-in tunnel's decision line: %v", line)
	}

	// Another allowed host: spliced, so a client that trusts only the
	// real CA gets through and sees the host's own certificate.
	resp, err := client(p.Addr(), realRoots).Get("https://graph.microsoft.com:" + itoa(otherPort) + "/v1.0/me")
	if err != nil {
		t.Fatalf("graph.microsoft.com through the proxy: %v", err)
	}
	var got http.Header
	json.NewDecoder(resp.Body).Decode(&got) //nolint:errcheck
	resp.Body.Close()
	if resp.TLS.PeerCertificates[0].CheckSignatureFrom(realCA.ca) != nil {
		t.Errorf("graph.microsoft.com was answered with a certificate from %q: intercepted", resp.TLS.PeerCertificates[0].Issuer.CommonName)
	}
	if _, ok := got["Restrict-Access-To-Tenants"]; ok {
		t.Errorf("graph.microsoft.com received the tenant header: %v", got)
	}
	line = logs.waitFor(t, "graph.microsoft.com:"+itoa(otherPort))
	if _, ok := line["tenant_restrictions"]; ok {
		t.Errorf("graph tunnel logged as intercepted: %v", line)
	}
}

// TestTenantRestrictionsUpstreamUntrusted: when the sign-in host's own
// certificate does not verify, the client is told so by the proxy, not
// handed an unverified connection.
func TestTenantRestrictionsUpstreamUntrusted(t *testing.T) {
	proxyCA, realCA, otherCA := newPKI(t), newPKI(t), newPKI(t)
	port := headerEcho(t, otherCA, "login.microsoftonline.com")
	d := startDNS(t, zone{"login.microsoftonline.com": {loop}})
	cfg := egress.Config{
		Rules:    []policy.Rule{rule("signin", port, "login.microsoftonline.com")},
		DNS:      []netip.AddrPort{d},
		TLSPorts: portSet(port),
		Tenant: &egress.TenantRestrictions{
			Tenants: []string{"contoso.com"}, Context: "72f988bf-86f1-41af-91ab-2d7cd011db47",
			Hosts:      []string{"login.microsoftonline.com"},
			CACertFile: proxyCA.dir + "/ca.pem", CAKeyFile: proxyCA.keyFile(t), UpstreamCAFile: realCA.dir + "/ca.pem",
		},
	}
	p, _ := proxyUnder(t, cfg, egress.Options{})
	roots := x509.NewCertPool()
	roots.AddCert(proxyCA.ca)
	resp, err := client(p.Addr(), roots).Get("https://login.microsoftonline.com:" + itoa(port) + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("untrusted sign-in host: %d %s, want 502", resp.StatusCode, b)
	}
}

func itoa(p uint16) string { return strconv.Itoa(int(p)) }
