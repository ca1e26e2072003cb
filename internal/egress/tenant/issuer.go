package tenant

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"
)

// The validity of the certificates issued to the sign-in hosts: short,
// since the interceptor reissues them at will and nothing pins them.
const (
	// leafLifetime is how long a certificate is valid after it is issued,
	// unless the CA expires sooner.
	leafLifetime = 24 * time.Hour
	// leafBackdate starts the validity before now, for clients whose
	// clocks run behind.
	leafBackdate = time.Hour
	// leafRenew: a kept certificate with less than this left is reissued.
	leafRenew = 12 * time.Hour
)

// issuer issues the sign-in hosts' certificates from the CA, and keeps one
// per host. Hosts are only ever the interceptor's few, so the cache is
// bounded.
type issuer struct {
	ca    *x509.Certificate
	chain [][]byte // the CA's certificate and those above it, DER
	key   crypto.Signer
	now   func() time.Time

	mu     sync.Mutex
	leaves map[string]*tls.Certificate
}

// newIssuer parses and checks the CA: a CA certificate (basic constraints
// and, when present, the key usage to sign certificates), valid now, and
// its private key.
func newIssuer(certPEM, keyPEM []byte, now func() time.Time) (*issuer, error) {
	var chain [][]byte
	for rest := certPEM; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type == "CERTIFICATE" {
			chain = append(chain, blk.Bytes)
		}
	}
	if len(chain) == 0 {
		return nil, errors.New("ca certificate: no PEM CERTIFICATE block")
	}
	ca, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return nil, fmt.Errorf("ca certificate: %w", err)
	}
	name := ca.Subject.String()
	switch {
	case !ca.BasicConstraintsValid || !ca.IsCA:
		return nil, fmt.Errorf("ca certificate %q is not a CA certificate (its basic constraints do not say CA:TRUE)", name)
	case ca.KeyUsage != 0 && ca.KeyUsage&x509.KeyUsageCertSign == 0:
		return nil, fmt.Errorf("ca certificate %q may not sign certificates (its key usage lacks certificate signing)", name)
	}
	t := now()
	switch {
	case t.Before(ca.NotBefore):
		return nil, fmt.Errorf("ca certificate %q is not valid before %s", name, ca.NotBefore.UTC().Format(time.RFC3339))
	case t.After(ca.NotAfter):
		return nil, fmt.Errorf("ca certificate %q expired at %s", name, ca.NotAfter.UTC().Format(time.RFC3339))
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, err
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(ca.PublicKey) {
		return nil, fmt.Errorf("ca key does not match ca certificate %q", name)
	}
	return &issuer{ca: ca, chain: chain, key: key, now: now, leaves: map[string]*tls.Certificate{}}, nil
}

// parseKey parses the first private key block of keyPEM.
func parseKey(keyPEM []byte) (crypto.Signer, error) {
	for rest := keyPEM; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			return nil, errors.New("ca key: no PEM PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY block")
		}
		var k any
		var err error
		switch blk.Type {
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(blk.Bytes)
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("ca key is encrypted: give it unencrypted, with file permissions protecting it")
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("ca key: %w", err)
		}
		switch k := k.(type) {
		case *rsa.PrivateKey:
			return k, nil
		case *ecdsa.PrivateKey:
			return k, nil
		case ed25519.PrivateKey:
			return k, nil
		}
		return nil, fmt.Errorf("ca key: key type %T unsupported (want RSA, ECDSA or Ed25519)", k)
	}
}

// certificate returns the certificate for host, kept or newly issued.
func (s *issuer) certificate(host string) (*tls.Certificate, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.leaves[host]; c != nil && s.fresh(c.Leaf, now) {
		return c, nil
	}
	c, err := s.issue(host, now)
	if err != nil {
		return nil, err
	}
	s.leaves[host] = c
	return c, nil
}

// fresh reports whether a kept certificate may still be served at now:
// valid, and either with leafRenew left or already lasting as long as the
// CA, so that a reissue would not last longer.
func (s *issuer) fresh(leaf *x509.Certificate, now time.Time) bool {
	if now.Before(leaf.NotBefore) || !now.Before(leaf.NotAfter) {
		return false
	}
	return leaf.NotAfter.Sub(now) >= leafRenew || !leaf.NotAfter.Before(s.ca.NotAfter)
}

// issue makes a certificate for host: a new ECDSA P-256 key, the host as
// its only subject alternative name, for server authentication, valid
// from leafBackdate ago for leafLifetime or until the CA expires. It is
// verified as a client would before it is served.
func (s *issuer) issue(host string, now time.Time) (*tls.Certificate, error) {
	if !now.Before(s.ca.NotAfter) {
		return nil, fmt.Errorf("certificate for %q: ca certificate %q expired at %s", host, s.ca.Subject.String(), s.ca.NotAfter.UTC().Format(time.RFC3339))
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("certificate for %q: %w", host, err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("certificate for %q: %w", host, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: host},
		DNSNames:              []string{host},
		NotBefore:             later(now.Add(-leafBackdate), s.ca.NotBefore),
		NotAfter:              earlier(now.Add(leafLifetime), s.ca.NotAfter),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, s.ca, &key.PublicKey, s.key)
	if err != nil {
		return nil, fmt.Errorf("certificate for %q: %w", host, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certificate for %q: %w", host, err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(s.ca)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: host, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return nil, fmt.Errorf("ca certificate %q cannot issue a certificate clients accept for %q: %w", s.ca.Subject.String(), host, err)
	}
	return &tls.Certificate{Certificate: append([][]byte{der}, s.chain...), PrivateKey: key, Leaf: leaf}, nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
