package egress_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/teamsgate/teamsgate/internal/egress"
)

// pki is a test CA with the files the proxy reads.
type pki struct {
	dir    string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	serial int64
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test proxy CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	k := &pki{dir: t.TempDir(), ca: ca, caKey: key, serial: 1}
	k.write(t, "ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	return k
}

func (k *pki) write(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(k.dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// issue returns a certificate and key signed by the CA, and its serial.
func (k *pki) issue(t *testing.T, cn string, server bool) (tls.Certificate, *big.Int) {
	t.Helper()
	k.serial++
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(k.serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, k.ca, &key.PublicKey, k.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(key)
	c, err := tls.X509KeyPair(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}))
	if err != nil {
		t.Fatal(err)
	}
	return c, tmpl.SerialNumber
}

func (k *pki) crl(t *testing.T, revoked ...*big.Int) string {
	t.Helper()
	var entries []x509.RevocationListEntry
	for _, s := range revoked {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: s, RevocationTime: time.Now().Add(-time.Minute)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(1), ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(time.Hour),
		RevokedCertificateEntries: entries,
	}, k.ca, k.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return k.write(t, "ca.crl", pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}))
}

// TestClientCertificates: with identity certificate, the role is the
// client certificate's, and a revoked certificate is refused at the
// handshake (the revocation list is enforced, not only read).
func TestClientCertificates(t *testing.T) {
	k := newPKI(t)
	srv, _ := k.issue(t, "proxy", true)
	keyDER, _ := x509.MarshalPKCS8PrivateKey(srv.PrivateKey)
	certFile := k.write(t, "proxy.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate[0]}))
	keyFile := k.write(t, "proxy.key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	good, _ := k.issue(t, "teams-messaging-bot/bot", false)
	short, _ := k.issue(t, "bot", false)
	other, _ := k.issue(t, "teams-calling-bot/bot", false)
	revoked, serial := k.issue(t, "teams-messaging-bot/bot", false)

	w := newWorld(t)
	w.cfg.Identity = egress.IdentityCertificate
	w.cfg.TLS = &egress.TLS{CertFile: certFile, KeyFile: keyFile, ClientCAFile: filepath.Join(k.dir, "ca.pem"), CRLFiles: []string{k.crl(t, serial)}}
	p, _ := proxyUnder(t, w.cfg, egress.Options{})

	roots := x509.NewCertPool()
	roots.AddCert(k.ca)
	try := func(cert *tls.Certificate) (int, string, error) {
		cfg := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		c, err := tls.Dial("tcp", p.Addr(), cfg)
		if err != nil {
			return 0, "", err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))                                           //nolint:errcheck
		io.WriteString(c, "CONNECT "+w.target("api.example.com")+" HTTP/1.1\r\nHost: x\r\n\r\n") //nolint:errcheck
		resp, err := http.ReadResponse(bufioReader(c), &http.Request{Method: http.MethodConnect})
		if err != nil {
			return 0, "", err
		}
		if resp.StatusCode == http.StatusOK {
			return resp.StatusCode, "", nil // the body is the tunnel
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return resp.StatusCode, string(b), nil
	}
	if s, b, err := try(&good); err != nil || s != 200 {
		t.Errorf("the messaging bot's certificate: %d %q %v", s, b, err)
	}
	if s, b, err := try(&short); err != nil || s != 200 {
		t.Errorf("the short role name: %d %q %v", s, b, err)
	}
	if s, b, err := try(&other); err != nil || s != 403 || !strings.Contains(b, "unknown-client") {
		t.Errorf("another role's certificate: %d %q %v", s, b, err)
	}
	if s, _, err := try(&revoked); err == nil {
		t.Errorf("a revoked certificate got through: %d", s)
	}
	if s, _, err := try(nil); err == nil {
		t.Errorf("no certificate got through: %d", s)
	}
}
