package certcheck_test

import (
	"crypto/x509"
	"errors"
	"flag"
	"os"
	"path/filepath"
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

var update = flag.Bool("update", false, "rewrite the fuzz seed files in testdata")

// The fuzz seeds are files, not made at fuzz time: a fuzz worker runs with
// coverage instrumentation, under which generating RSA keys takes minutes.
const (
	seedPEM      = "testdata/seed-bundle.pem"
	seedKeyPEM   = "testdata/seed-key.pem"
	seedPFX      = "testdata/seed-bundle.pfx"
	seedTrustPFX = "testdata/seed-certs-only.pfx"
	seedPassword = "pw"
)

// TestFuzzSeeds keeps the seed files loadable, and rewrites them with
// -update.
func TestFuzzSeeds(t *testing.T) {
	if *update {
		pki := certtest.NewPKI(t)
		leaf := pki.Leaf(t, certtest.Template{CN: "f.contoso.com", DNSNames: []string{"*.contoso.com"}})
		files := map[string][]byte{
			seedPEM:      cat(certtest.CertsPEM(leaf.Cert, pki.Intermediate.Cert), certtest.KeyPEM(t, leaf.Key)),
			seedKeyPEM:   certtest.KeyPEM(t, leaf.Key),
			seedPFX:      certtest.PFX(t, leaf.Key, leaf.Cert, []*x509.Certificate{pki.Intermediate.Cert}, seedPassword),
			seedTrustPFX: certtest.TrustStorePFX(t, []*x509.Certificate{leaf.Cert}, seedPassword),
		}
		for name, data := range files {
			if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(name, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := certcheck.Load(readSeed(t, seedPEM), ""); err != nil {
		t.Errorf("%s: %v", seedPEM, err)
	}
	if _, err := certcheck.Load(readSeed(t, seedPFX), seedPassword); err != nil {
		t.Errorf("%s: %v", seedPFX, err)
	}
	if _, err := certcheck.ParseKey(readSeed(t, seedKeyPEM)); err != nil {
		t.Errorf("%s: %v", seedKeyPEM, err)
	}
}

func readSeed(tb testing.TB, name string) []byte {
	tb.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		tb.Fatalf("fuzz seed: %v (regenerate with go test -run TestFuzzSeeds -update)", err)
	}
	return data
}

func FuzzLoadPEM(f *testing.F) {
	f.Add(readSeed(f, seedPEM))
	f.Add(readSeed(f, seedKeyPEM))
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
	pfx := readSeed(f, seedPFX)
	f.Add(pfx, seedPassword)
	f.Add(pfx, "")
	f.Add(readSeed(f, seedTrustPFX), seedPassword)
	f.Fuzz(func(t *testing.T, data []byte, password string) {
		b, err := certcheck.Load(data, password)
		if err != nil {
			loadErrorOnly(t, err)
			return
		}
		fuzzCheck(t, b)
	})
}
