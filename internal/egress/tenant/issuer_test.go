package tenant

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestCertificate(t *testing.T) {
	clk := &clock{t: testNow}
	ca := newCA(t, "ca", nil, func(x *x509.Certificate) {
		x.NotBefore, x.NotAfter = testNow.AddDate(0, -1, 0), testNow.AddDate(1, 0, 0)
	})
	iss, err := newIssuer(ca.certPEM, ca.keyPEM, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	c, err := iss.certificate(testHost)
	if err != nil {
		t.Fatal(err)
	}
	leaf := c.Leaf
	if !leaf.NotBefore.Equal(testNow.Add(-time.Hour)) || !leaf.NotAfter.Equal(testNow.Add(24*time.Hour)) {
		t.Errorf("valid %s to %s, want an hour ago to in a day", leaf.NotBefore, leaf.NotAfter)
	}
	if diff := cmp.Diff([]string{testHost}, leaf.DNSNames); diff != "" {
		t.Errorf("DNS names (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, leaf.ExtKeyUsage); diff != "" {
		t.Errorf("extended key usage (-want +got):\n%s", diff)
	}
	if leaf.IsCA {
		t.Error("the leaf is a CA")
	}
	if len(c.Certificate) != 2 || !bytes.Equal(c.Certificate[1], ca.cert.Raw) {
		t.Errorf("chain of %d certificates, want the leaf and the CA", len(c.Certificate))
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.pool, DNSName: testHost, CurrentTime: testNow}); err != nil {
		t.Error(err)
	}

	other, err := iss.certificate("login.windows.net")
	if err != nil {
		t.Fatal(err)
	}
	if other == c || other.Leaf.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
		t.Error("two hosts share a certificate")
	}

	clk.t = testNow.Add(11 * time.Hour)
	if again, _ := iss.certificate(testHost); again != c {
		t.Error("a certificate with 13 h left was reissued")
	}
	clk.t = testNow.Add(13 * time.Hour)
	renewed, err := iss.certificate(testHost)
	if err != nil {
		t.Fatal(err)
	}
	if renewed == c || !renewed.Leaf.NotBefore.Equal(clk.t.Add(-time.Hour)) {
		t.Errorf("a certificate with 11 h left was not reissued (valid from %s)", renewed.Leaf.NotBefore)
	}
}

func TestCertificateCappedByCA(t *testing.T) {
	clk := &clock{t: testNow}
	ca := newCA(t, "ca", nil, func(x *x509.Certificate) {
		x.NotBefore, x.NotAfter = testNow.Add(-10*time.Minute), testNow.Add(2*time.Hour)
	})
	iss, err := newIssuer(ca.certPEM, ca.keyPEM, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	c, err := iss.certificate(testHost)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Leaf.NotBefore.Equal(ca.cert.NotBefore) || !c.Leaf.NotAfter.Equal(ca.cert.NotAfter) {
		t.Errorf("valid %s to %s, want the CA's %s to %s", c.Leaf.NotBefore, c.Leaf.NotAfter, ca.cert.NotBefore, ca.cert.NotAfter)
	}
	clk.t = testNow.Add(time.Hour)
	if again, _ := iss.certificate(testHost); again != c {
		t.Error("a certificate lasting as long as the CA was reissued")
	}
	clk.t = ca.cert.NotAfter.Add(time.Second)
	if _, err := iss.certificate(testHost); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("after the CA expired: %v, want an error saying so", err)
	}
}

func TestCertificateIntermediate(t *testing.T) {
	root := newCA(t, "root", nil, nil)
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(7),
		Subject:               pkix.Name{CommonName: "intermediate"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(30 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, root.cert, &key.PublicKey, root.key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	c := testConfig(root)
	c.CACertPEM = append(pemBlock("CERTIFICATE", der), root.certPEM...)
	c.CAKeyPEM = pemBlock("PRIVATE KEY", pkcs8)
	i, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := i.issuer.certificate(testHost)
	if err != nil {
		t.Fatal(err)
	}
	if len(cert.Certificate) != 3 {
		t.Fatalf("chain of %d certificates, want leaf, intermediate, root", len(cert.Certificate))
	}
	inter, err := x509.ParseCertificate(cert.Certificate[1])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(inter)
	if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: root.pool, Intermediates: pool, DNSName: testHost}); err != nil {
		t.Error(err)
	}
}
