// Package certtest makes a private PKI at test time: roots, intermediates and
// leaves with whatever defect a test needs (SHA-1 signatures, missing EKU,
// https AIA, odd validity, small keys), and the PEM and PKCS #12 files that
// carry them. It is for tests only.
package certtest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// Epoch is the instant tests pretend it is. Certificates are valid from a
// month before it to a year after it unless a Template says otherwise.
var Epoch = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// Now returns Epoch, for Options.Now.
func Now() time.Time { return Epoch }

// KeyType names a key that tests may ask for. Keys are generated once per
// process and reused: generating RSA keys is the slow part of a PKI.
type KeyType string

const (
	RSA2048  KeyType = "rsa2048"
	RSA2048b KeyType = "rsa2048b" // a second RSA key, for mismatches
	RSA1024  KeyType = "rsa1024"
	ECDSA256 KeyType = "ecdsa256"
	CAKey    KeyType = "ca"
	CAKey2   KeyType = "ca2"
	CAKey3   KeyType = "ca3"
	CAKey4   KeyType = "ca4"
)

var (
	keyMu sync.Mutex
	keys  = map[KeyType]crypto.Signer{}
)

// Key returns the process-wide key of the given type.
func Key(tb testing.TB, kt KeyType) crypto.Signer {
	tb.Helper()
	keyMu.Lock()
	defer keyMu.Unlock()
	if k, ok := keys[kt]; ok {
		return k
	}
	var (
		k   crypto.Signer
		err error
	)
	switch kt {
	case RSA2048, RSA2048b, CAKey, CAKey2, CAKey3, CAKey4:
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	case RSA1024:
		k, err = rsa.GenerateKey(rand.Reader, 1024)
	case ECDSA256:
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		tb.Fatalf("certtest: unknown key type %q", kt)
	}
	if err != nil {
		tb.Fatalf("certtest: generate %s key: %v", kt, err)
	}
	keys[kt] = k
	return k
}

// Template says what certificate to make. The zero Template is a leaf valid
// around Epoch with serverAuth and clientAuth, an RSA 2048 key and SHA-256.
type Template struct {
	CN       string
	DNSNames []string
	IPs      []string
	// NotBefore and NotAfter default to Epoch-30d and Epoch+365d.
	NotBefore, NotAfter time.Time
	Key                 KeyType
	// SigAlg is the algorithm the issuer signs with (zero: the default).
	SigAlg x509.SignatureAlgorithm
	// EKU defaults to serverAuth and clientAuth for leaves; NoEKU leaves the
	// extension out.
	EKU   []x509.ExtKeyUsage
	NoEKU bool
	CA    bool
	// AIA are the issuer URLs put in the Authority Information Access.
	AIA []string
}

// Cert is a made certificate with its key.
type Cert struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

var serial atomic.Int64

// Issue makes a certificate from t, signed by parent, or self-signed when
// parent is nil.
func Issue(tb testing.TB, t Template, parent *Cert) *Cert {
	tb.Helper()
	if t.Key == "" {
		t.Key = RSA2048
		if t.CA {
			t.Key = CAKey
		}
	}
	key := Key(tb, t.Key)
	if t.NotBefore.IsZero() {
		t.NotBefore = Epoch.Add(-30 * 24 * time.Hour)
	}
	if t.NotAfter.IsZero() {
		t.NotAfter = Epoch.Add(365 * 24 * time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial.Add(1) + 1000),
		Subject:               pkix.Name{CommonName: t.CN, Organization: []string{"teamsgate test"}},
		DNSNames:              t.DNSNames,
		NotBefore:             t.NotBefore,
		NotAfter:              t.NotAfter,
		SignatureAlgorithm:    t.SigAlg,
		IssuingCertificateURL: t.AIA,
		BasicConstraintsValid: true,
		IsCA:                  t.CA,
	}
	for _, ip := range t.IPs {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	if t.CA {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	}
	switch {
	case t.NoEKU:
	case t.EKU != nil:
		tmpl.ExtKeyUsage = t.EKU
	case !t.CA:
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	}
	issuer, signer := tmpl, key
	if parent != nil {
		issuer, signer = parent.Cert, parent.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, key.Public(), signer)
	if err != nil {
		tb.Fatalf("certtest: create %q: %v", t.CN, err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatalf("certtest: parse %q: %v", t.CN, err)
	}
	return &Cert{Cert: c, Key: key}
}

// PKI is a root, an intermediate it signed, and the pool trusting the root.
type PKI struct {
	Root         *Cert
	Intermediate *Cert
	Roots        *x509.CertPool
}

// NewPKI makes a root and an intermediate with an http AIA pointing at the
// root.
func NewPKI(tb testing.TB) *PKI {
	tb.Helper()
	return newPKI(tb, "Test", CAKey, CAKey2)
}

// NewOtherPKI makes a second, unrelated PKI with its own names and keys, for
// chains that must not verify against NewPKI's root.
func NewOtherPKI(tb testing.TB) *PKI {
	tb.Helper()
	return newPKI(tb, "Other", CAKey3, CAKey4)
}

func newPKI(tb testing.TB, name string, rootKey, interKey KeyType) *PKI {
	tb.Helper()
	root := Issue(tb, Template{CN: name + " Root CA", CA: true, Key: rootKey, NotAfter: Epoch.Add(10 * 365 * 24 * time.Hour)}, nil)
	inter := Issue(tb, Template{CN: name + " Issuing CA", CA: true, Key: interKey, AIA: []string{"http://pki.contoso.test/root.crt"}, NotAfter: Epoch.Add(5 * 365 * 24 * time.Hour)}, root)
	pool := x509.NewCertPool()
	pool.AddCert(root.Cert)
	return &PKI{Root: root, Intermediate: inter, Roots: pool}
}

// Leaf issues a leaf from the intermediate, with an http AIA pointing at it
// unless the template gives its own.
func (p *PKI) Leaf(tb testing.TB, t Template) *Cert {
	tb.Helper()
	if t.AIA == nil {
		t.AIA = []string{"http://pki.contoso.test/issuing.crt"}
	}
	return Issue(tb, t, p.Intermediate)
}

// RootsPEM returns the root as PEM, as --roots takes it.
func (p *PKI) RootsPEM() []byte { return CertsPEM(p.Root.Cert) }

// CertsPEM encodes certificates as PEM.
func CertsPEM(certs ...*x509.Certificate) []byte {
	var buf bytes.Buffer
	for _, c := range certs {
		pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return buf.Bytes()
}

// KeyPEM encodes a key as PKCS #8 PEM.
func KeyPEM(tb testing.TB, k crypto.Signer) []byte {
	tb.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		tb.Fatalf("certtest: marshal key: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// PFX encodes a key, its leaf and CA certificates as a PKCS #12 file.
func PFX(tb testing.TB, key crypto.Signer, leaf *x509.Certificate, cas []*x509.Certificate, password string) []byte {
	tb.Helper()
	data, err := pkcs12.Modern.Encode(key, leaf, cas, password)
	if err != nil {
		tb.Fatalf("certtest: encode PFX: %v", err)
	}
	return data
}

// TrustStorePFX encodes certificates without any key as a PKCS #12 file.
func TrustStorePFX(tb testing.TB, certs []*x509.Certificate, password string) []byte {
	tb.Helper()
	data, err := pkcs12.Modern.EncodeTrustStore(certs, password)
	if err != nil {
		tb.Fatalf("certtest: encode trust store: %v", err)
	}
	return data
}
