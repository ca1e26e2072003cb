package certcheck_test

import (
	"crypto"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/teamsgate/teamsgate/internal/certcheck"
	"github.com/teamsgate/teamsgate/internal/certcheck/certtest"
)

func TestConvertRoundTrip(t *testing.T) {
	pki := certtest.NewPKI(t)
	leaf := pki.Leaf(t, certtest.Template{CN: "node.contoso.com"})
	// A stale intermediate with the same name but another key comes first in
	// the file; the output must put the real issuer right after the leaf.
	stale := certtest.Issue(t, certtest.Template{CN: "Test Issuing CA", CA: true, Key: certtest.CAKey3}, pki.Root)
	in := &certcheck.Bundle{
		Format:        certcheck.FormatPEM,
		Leaf:          leaf.Cert,
		Intermediates: []*x509.Certificate{stale.Cert, pki.Root.Cert, pki.Intermediate.Cert},
		Key:           leaf.Key,
	}
	wantOrder := []*x509.Certificate{pki.Intermediate.Cert, pki.Root.Cert, stale.Cert}
	for _, enc := range []certcheck.PFXEncoding{certcheck.PFXModern, certcheck.PFXLegacy} {
		t.Run(enc.String(), func(t *testing.T) {
			pfx, err := certcheck.EncodePKCS12(in, "pw", enc)
			if err != nil {
				t.Fatalf("EncodePKCS12: %v", err)
			}
			fromPFX, err := certcheck.Load(pfx, "pw")
			if err != nil {
				t.Fatalf("Load(pfx): %v", err)
			}
			if fromPFX.Format != certcheck.FormatPKCS12 {
				t.Errorf("format %v, want pkcs12", fromPFX.Format)
			}
			pemData, err := certcheck.EncodePEM(fromPFX)
			if err != nil {
				t.Fatalf("EncodePEM: %v", err)
			}
			back, err := certcheck.Load(pemData, "")
			if err != nil {
				t.Fatalf("Load(pem): %v", err)
			}
			for name, b := range map[string]*certcheck.Bundle{"pfx": fromPFX, "pem": back} {
				if !b.Leaf.Equal(leaf.Cert) {
					t.Errorf("%s: leaf %q, want %q", name, b.Leaf.Subject, leaf.Cert.Subject)
				}
				if diff := cmp.Diff(raws(wantOrder), raws(b.Intermediates)); diff != "" {
					t.Errorf("%s: intermediates differ in content or order (-want +got):\n%s", name, diff)
				}
				if b.Key == nil || !b.Key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(leaf.Key.Public()) {
					t.Errorf("%s: key lost or changed", name)
				}
			}
		})
	}
}

func raws(cs []*x509.Certificate) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Subject.CommonName + " " + string(c.SubjectKeyId)
	}
	return out
}

func TestConvertErrors(t *testing.T) {
	pki := certtest.NewPKI(t)
	leaf := pki.Leaf(t, certtest.Template{CN: "node.contoso.com"})
	tests := []struct {
		name   string
		bundle *certcheck.Bundle
		reason certcheck.Reason
	}{
		{name: "no key", bundle: &certcheck.Bundle{Leaf: leaf.Cert}, reason: certcheck.ReasonMissingKey},
		{name: "key mismatch", bundle: &certcheck.Bundle{Leaf: leaf.Cert, Key: certtest.Key(t, certtest.RSA2048b)}, reason: certcheck.ReasonKeyMismatch},
		{name: "no certificate", bundle: &certcheck.Bundle{Key: leaf.Key}, reason: certcheck.ReasonNoCertificate},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var le *certcheck.LoadError
			if _, err := certcheck.EncodePKCS12(tc.bundle, "pw", certcheck.PFXModern); !errors.As(err, &le) || le.Reason != tc.reason {
				t.Errorf("EncodePKCS12: %v, want reason %q", err, tc.reason)
			}
			if _, err := certcheck.EncodePEM(tc.bundle); !errors.As(err, &le) || le.Reason != tc.reason {
				t.Errorf("EncodePEM: %v, want reason %q", err, tc.reason)
			}
		})
	}
}

// TestConvertOpenSSLReads checks that OpenSSL opens the PFX files we write,
// in both encodings, and finds the key and both certificates.
func TestConvertOpenSSLReads(t *testing.T) {
	bin := requireOpenSSL(t)
	pki := certtest.NewPKI(t)
	leaf := pki.Leaf(t, certtest.Template{CN: "node.contoso.com"})
	b := &certcheck.Bundle{Leaf: leaf.Cert, Intermediates: []*x509.Certificate{pki.Intermediate.Cert}, Key: leaf.Key}
	for _, enc := range []certcheck.PFXEncoding{certcheck.PFXModern, certcheck.PFXLegacy} {
		t.Run(enc.String(), func(t *testing.T) {
			pfx, err := certcheck.EncodePKCS12(b, "pw", enc)
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(t.TempDir(), "out.pfx")
			if err := os.WriteFile(p, pfx, 0o600); err != nil {
				t.Fatal(err)
			}
			args := []string{"pkcs12", "-in", p, "-passin", "pass:pw", "-nodes"}
			if enc == certcheck.PFXLegacy {
				args = append(args, "-legacy")
			}
			out := string(openssl(t, bin, args...))
			for _, want := range []string{"subject=O = teamsgate test, CN = node.contoso.com", "subject=O = teamsgate test, CN = Test Issuing CA", "BEGIN PRIVATE KEY"} {
				if !strings.Contains(out, want) {
					t.Errorf("openssl output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}
