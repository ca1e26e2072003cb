package certcheck_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/teamsgate/teamsgate/internal/certcheck"
	"github.com/teamsgate/teamsgate/internal/certcheck/certtest"
)

// loaded is what a test pins of a loaded bundle.
type loaded struct {
	Format        certcheck.Format
	Leaf          string
	Intermediates []string
	HasKey        bool
}

func summarize(b *certcheck.Bundle) loaded {
	l := loaded{Format: b.Format, Leaf: b.Leaf.Subject.CommonName, HasKey: b.Key != nil}
	for _, c := range b.Intermediates {
		l.Intermediates = append(l.Intermediates, c.Subject.CommonName)
	}
	return l
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestLoad(t *testing.T) {
	pki := certtest.NewPKI(t)
	leaf := pki.Leaf(t, certtest.Template{CN: "l.contoso.com"})
	other := certtest.Key(t, certtest.RSA2048b)
	leafPEM, interPEM, rootPEM := certtest.CertsPEM(leaf.Cert), certtest.CertsPEM(pki.Intermediate.Cert), certtest.CertsPEM(pki.Root.Cert)
	keyPEM := certtest.KeyPEM(t, leaf.Key)
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(leaf.Key.(*rsa.PrivateKey))})
	encrypted := pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{0x30, 0}})
	legacyEncrypted := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00"}, Bytes: []byte{1}})
	badCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("not der")})
	csr := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte{0x30, 0}})
	pfx := certtest.PFX(t, leaf.Key, leaf.Cert, []*x509.Certificate{pki.Intermediate.Cert}, "s3cret")

	full := loaded{Format: certcheck.FormatPEM, Leaf: "l.contoso.com", Intermediates: []string{"Test Issuing CA"}, HasKey: true}
	tests := []struct {
		name     string
		data     []byte
		password string
		want     loaded
		reason   certcheck.Reason
	}{
		{name: "pem leaf, intermediate, key", data: cat(leafPEM, interPEM, keyPEM), want: full},
		{name: "pem key first, intermediate before leaf", data: cat(keyPEM, interPEM, leafPEM), want: full},
		{name: "pem with pkcs1 key and text between blocks", data: cat([]byte("subject=...\n"), leafPEM, []byte("junk\n"), interPEM, pkcs1), want: full},
		{
			name: "pem chain without key picks the non-CA",
			data: cat(rootPEM, interPEM, leafPEM),
			want: loaded{Format: certcheck.FormatPEM, Leaf: "l.contoso.com", Intermediates: []string{"Test Root CA", "Test Issuing CA"}},
		},
		{
			name: "pem with a key of another certificate keeps the first non-CA as leaf",
			data: cat(leafPEM, interPEM, certtest.KeyPEM(t, other)),
			want: full,
		},
		{name: "pem key without certificate", data: keyPEM, reason: certcheck.ReasonNoCertificate},
		{name: "pem certificate request", data: csr, reason: certcheck.ReasonNoCertificate},
		{name: "pem encrypted pkcs8 key", data: cat(leafPEM, encrypted), reason: certcheck.ReasonEncryptedKey},
		{name: "pem encrypted legacy key", data: cat(leafPEM, legacyEncrypted), reason: certcheck.ReasonEncryptedKey},
		{name: "pem two keys", data: cat(leafPEM, keyPEM, pkcs1), reason: certcheck.ReasonUnsupported},
		{name: "pem corrupt certificate", data: cat(leafPEM, badCert), reason: certcheck.ReasonCorrupt},
		{name: "pem header only", data: []byte("-----BEGIN CERTIFICATE-----\nAAAA"), reason: certcheck.ReasonCorrupt},
		{name: "der certificate", data: leaf.Cert.Raw, want: loaded{Format: certcheck.FormatDER, Leaf: "l.contoso.com"}},
		{
			name:     "pfx",
			data:     pfx,
			password: "s3cret",
			want:     loaded{Format: certcheck.FormatPKCS12, Leaf: "l.contoso.com", Intermediates: []string{"Test Issuing CA"}, HasKey: true},
		},
		{
			name:     "pfx with the leaf after its issuer",
			data:     certtest.PFX(t, leaf.Key, pki.Intermediate.Cert, []*x509.Certificate{leaf.Cert}, "s3cret"),
			password: "s3cret",
			want:     loaded{Format: certcheck.FormatPKCS12, Leaf: "l.contoso.com", Intermediates: []string{"Test Issuing CA"}, HasKey: true},
		},
		{name: "pfx wrong password", data: pfx, password: "guess", reason: certcheck.ReasonWrongPassword},
		{name: "pfx no password", data: pfx, reason: certcheck.ReasonWrongPassword},
		{name: "pfx truncated", data: pfx[:len(pfx)/2], password: "s3cret", reason: certcheck.ReasonCorrupt},
		{name: "pfx certificates without key", data: certtest.TrustStorePFX(t, []*x509.Certificate{leaf.Cert}, "s3cret"), password: "s3cret", reason: certcheck.ReasonMissingKey},
		{name: "empty", data: nil, reason: certcheck.ReasonCorrupt},
		{name: "binary garbage", data: []byte{0x00, 0x01, 0x02}, reason: certcheck.ReasonCorrupt},
		{name: "der garbage", data: []byte{0x30, 0x03, 0x02, 0x01, 0x03}, reason: certcheck.ReasonCorrupt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := certcheck.Load(tc.data, tc.password)
			if tc.reason != "" {
				var le *certcheck.LoadError
				if !errors.As(err, &le) {
					t.Fatalf("Load: got %v (bundle %v), want a LoadError %q", err, b, tc.reason)
				}
				if le.Reason != tc.reason {
					t.Fatalf("Load: reason %q (%v), want %q", le.Reason, err, tc.reason)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if diff := cmp.Diff(tc.want, summarize(b)); diff != "" {
				t.Errorf("bundle (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseKey(t *testing.T) {
	rsaKey := certtest.Key(t, certtest.RSA2048).(*rsa.PrivateKey)
	ecKey := certtest.Key(t, certtest.ECDSA256).(*ecdsa.PrivateKey)
	sec1, err := x509.MarshalECPrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	pki := certtest.NewPKI(t)
	tests := []struct {
		name   string
		data   []byte
		want   any
		reason certcheck.Reason
	}{
		{name: "pkcs8 pem", data: certtest.KeyPEM(t, rsaKey), want: rsaKey.Public()},
		{name: "pkcs1 pem", data: pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}), want: rsaKey.Public()},
		{name: "sec1 pem after ec parameters", data: cat(pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: []byte{6, 8, 42, 134, 72, 206, 61, 3, 1, 7}}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})), want: ecKey.Public()},
		{name: "pkcs8 der", data: pkcs8, want: rsaKey.Public()},
		{name: "sec1 der", data: sec1, want: ecKey.Public()},
		{name: "certificate in key file", data: cat(certtest.CertsPEM(pki.Root.Cert), certtest.KeyPEM(t, rsaKey)), reason: certcheck.ReasonUnsupported},
		{name: "no key", data: []byte("-----BEGIN NOTHING-----\n-----END NOTHING-----\n"), reason: certcheck.ReasonMissingKey},
		{name: "corrupt pem key", data: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2}}), reason: certcheck.ReasonCorrupt},
		{name: "garbage", data: []byte("hello"), reason: certcheck.ReasonCorrupt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := certcheck.ParseKey(tc.data)
			if tc.reason != "" {
				var le *certcheck.LoadError
				if !errors.As(err, &le) || le.Reason != tc.reason {
					t.Fatalf("ParseKey: got %v, want reason %q", err, tc.reason)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseKey: %v", err)
			}
			if !k.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(tc.want) {
				t.Errorf("ParseKey returned a different key")
			}
		})
	}
}

func TestParseRoots(t *testing.T) {
	pki := certtest.NewPKI(t)
	if _, err := certcheck.ParseRoots(pki.RootsPEM()); err != nil {
		t.Errorf("ParseRoots(root): %v", err)
	}
	var le *certcheck.LoadError
	if _, err := certcheck.ParseRoots([]byte("no pem here")); !errors.As(err, &le) || le.Reason != certcheck.ReasonNoCertificate {
		t.Errorf("ParseRoots(garbage) = %v, want reason %q", err, certcheck.ReasonNoCertificate)
	}
	bad := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}})
	if _, err := certcheck.ParseRoots(bad); !errors.As(err, &le) || le.Reason != certcheck.ReasonCorrupt {
		t.Errorf("ParseRoots(corrupt) = %v, want reason %q", err, certcheck.ReasonCorrupt)
	}
}

// requireOpenSSL returns the openssl binary, skipping the test without it
// unless TEAMSGATE_E2E=1, under which a missing tool is a failure.
func requireOpenSSL(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("TEAMSGATE_E2E") == "1" {
			t.Fatalf("openssl not found and TEAMSGATE_E2E=1: %v", err)
		}
		t.Skipf("openssl not found (%v): install it to cross-check PKCS #12 files", err)
	}
	return p
}

func openssl(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %q: %v\n%s", args, err, out)
	}
	return out
}

// TestLoadOpenSSLPKCS12 reads PFX files that OpenSSL wrote: a full bundle,
// and one with a key but no certificate (which go-pkcs12 cannot write).
func TestLoadOpenSSLPKCS12(t *testing.T) {
	bin := requireOpenSSL(t)
	pki := certtest.NewPKI(t)
	leaf := pki.Leaf(t, certtest.Template{CN: "o.contoso.com"})
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cert := write("leaf.pem", certtest.CertsPEM(leaf.Cert))
	inter := write("inter.pem", certtest.CertsPEM(pki.Intermediate.Cert))
	key := write("leaf.key", certtest.KeyPEM(t, leaf.Key))
	full, nocert := filepath.Join(dir, "full.pfx"), filepath.Join(dir, "nocert.pfx")
	openssl(t, bin, "pkcs12", "-export", "-in", cert, "-inkey", key, "-certfile", inter, "-passout", "pass:pw", "-out", full)
	openssl(t, bin, "pkcs12", "-export", "-nocerts", "-inkey", key, "-passout", "pass:pw", "-out", nocert)

	data, _ := os.ReadFile(full)
	b, err := certcheck.Load(data, "pw")
	if err != nil {
		t.Fatalf("Load(openssl full PFX): %v", err)
	}
	want := loaded{Format: certcheck.FormatPKCS12, Leaf: "o.contoso.com", Intermediates: []string{"Test Issuing CA"}, HasKey: true}
	if diff := cmp.Diff(want, summarize(b)); diff != "" {
		t.Errorf("openssl full PFX (-want +got):\n%s", diff)
	}
	data, _ = os.ReadFile(nocert)
	_, err = certcheck.Load(data, "pw")
	var le *certcheck.LoadError
	if !errors.As(err, &le) || le.Reason != certcheck.ReasonNoCertificate {
		t.Errorf("Load(openssl key-only PFX) = %v, want reason %q", err, certcheck.ReasonNoCertificate)
	}
}
