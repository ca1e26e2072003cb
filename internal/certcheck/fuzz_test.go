package certcheck_test

import (
	"crypto/x509"
	"errors"
	"testing"

	"github.com/teamsgate/teamsgate/internal/certcheck"
	"github.com/teamsgate/teamsgate/internal/certcheck/certtest"
)

// fuzzCheck runs every role over whatever loaded: a bundle that loads must
// never make a check panic.
func fuzzCheck(t *testing.T, b *certcheck.Bundle) {
	if b == nil || b.Leaf == nil {
		t.Fatalf("Load returned no error and no leaf")
	}
	for _, role := range certcheck.Roles {
		if _, err := certcheck.Check(b, certcheck.Options{
			Role:       role,
			Names:      []string{"a.contoso.com"},
			Pool:       "meet.contoso.com",
			Roots:      x509.NewCertPool(),
			Now:        certtest.Now,
			WarnWithin: certcheck.DefaultWarnWithin,
		}); err != nil {
			t.Fatalf("Check(%s): %v", role, err)
		}
	}
}

func loadErrorOnly(t *testing.T, err error) {
	var le *certcheck.LoadError
	if !errors.As(err, &le) || le.Reason == "" {
		t.Fatalf("error %v is not a LoadError with a reason", err)
	}
}

func FuzzLoadPEM(f *testing.F) {
	pki := certtest.NewPKI(f)
	leaf := pki.Leaf(f, certtest.Template{CN: "f.contoso.com", DNSNames: []string{"*.contoso.com"}})
	f.Add(cat(certtest.CertsPEM(leaf.Cert, pki.Intermediate.Cert), certtest.KeyPEM(f, leaf.Key)))
	f.Add(certtest.KeyPEM(f, leaf.Key))
	f.Add(certtest.CertsPEM(pki.Root.Cert))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := certcheck.LoadPEM(data)
		if err != nil {
			loadErrorOnly(t, err)
		} else {
			fuzzCheck(t, b)
		}
		if _, err := certcheck.ParseKey(data); err != nil {
			loadErrorOnly(t, err)
		}
		certcheck.ParseRoots(data)
	})
}

func FuzzLoadPKCS12(f *testing.F) {
	pki := certtest.NewPKI(f)
	leaf := pki.Leaf(f, certtest.Template{CN: "f.contoso.com"})
	pfx := certtest.PFX(f, leaf.Key, leaf.Cert, []*x509.Certificate{pki.Intermediate.Cert}, "pw")
	f.Add(pfx, "pw")
	f.Add(pfx, "")
	f.Add(certtest.TrustStorePFX(f, []*x509.Certificate{leaf.Cert}, "pw"), "pw")
	f.Add(leaf.Cert.Raw, "")
	f.Fuzz(func(t *testing.T, data []byte, password string) {
		b, err := certcheck.Load(data, password)
		if err != nil {
			loadErrorOnly(t, err)
			return
		}
		fuzzCheck(t, b)
	})
}
