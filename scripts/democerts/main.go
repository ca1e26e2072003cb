// Command democerts writes the throwaway demo PKI that the certificate
// examples of README.md and docs/certs.md run against:
//
//	go run ./scripts/democerts [DIR]
//
// writes into DIR (default: the current directory)
//
//	root.pem          Contoso Demo Root CA, to pass as --roots
//	tc.pfx, pw        the Teams Connector certificate (tc-eu.contoso.com and
//	                  tc-us.contoso.com, serverAuth and clientAuth, RSA 2048)
//	                  as PKCS #12 with its key and the issuing CA, and its password
//	node.pem, node.key  a Conferencing Node certificate (CN meet.contoso.com,
//	                  SANs meet.contoso.com and node1.contoso.com) with the
//	                  issuing CA, and its key: serverAuth only, so that the
//	                  conferencing-node check fails as the docs show
//	bot.pem           a bot-endpoint certificate for bot.contoso.com (ECDSA
//	                  P-256) that expires 19 days from now and names an https
//	                  AIA issuer URL, so that the check warns as the docs show
//
// Every run makes new keys. The certificates are for the examples only: the
// keys are written in the clear and the names are Contoso's.
package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// password protects tc.pfx; it is written to pw.
const password = "contoso-demo"

const day = 24 * time.Hour

func main() {
	dir := "."
	switch len(os.Args) {
	case 1:
	case 2:
		dir = os.Args[1]
	default:
		fmt.Fprintln(os.Stderr, "usage: go run ./scripts/democerts [DIR]")
		os.Exit(1)
	}
	files, err := demoPKI(time.Now().UTC().Truncate(time.Minute))
	if err == nil {
		err = write(dir, files)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "democerts: %v\n", err)
		os.Exit(1)
	}
}

// file is one output file and its mode: keys and the PFX are 0600.
type file struct {
	name string
	data []byte
	mode os.FileMode
}

// cert is a certificate with its key.
type cert struct {
	x509 *x509.Certificate
	key  crypto.Signer
}

// template describes one certificate of the demo PKI.
type template struct {
	cn       string
	dnsNames []string
	ca       bool
	ecdsa    bool
	eku      []x509.ExtKeyUsage
	aia      string
	lifetime time.Duration
}

// demoPKI makes the root, the issuing CA and the three leaves, valid from a
// day before now.
func demoPKI(now time.Time) ([]file, error) {
	root, err := issue(now, template{cn: "Contoso Demo Root CA", ca: true, lifetime: 3650*day + 12*time.Hour}, nil)
	if err != nil {
		return nil, err
	}
	issuing, err := issue(now, template{cn: "Contoso Demo Issuing CA", ca: true, aia: "http://pki.contoso.com/root.crt", lifetime: 1825*day + 12*time.Hour}, root)
	if err != nil {
		return nil, err
	}
	both := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	server := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	tc, err := issue(now, template{cn: "tc-eu.contoso.com", dnsNames: []string{"tc-eu.contoso.com", "tc-us.contoso.com"}, eku: both, aia: "http://pki.contoso.com/issuing.crt", lifetime: 397*day + 12*time.Hour}, issuing)
	if err != nil {
		return nil, err
	}
	node, err := issue(now, template{cn: "meet.contoso.com", dnsNames: []string{"meet.contoso.com", "node1.contoso.com"}, eku: server, aia: "http://pki.contoso.com/issuing.crt", lifetime: 397*day + 12*time.Hour}, issuing)
	if err != nil {
		return nil, err
	}
	// The bot certificate's lifetime ends 19 days and a half from now, so
	// that the check says "in 19 days" whenever in the next hours it runs.
	bot, err := issue(now, template{cn: "bot.contoso.com", dnsNames: []string{"bot.contoso.com"}, ecdsa: true, eku: server, aia: "https://pki.contoso.com/issuing.crt", lifetime: 20*day + 12*time.Hour}, issuing)
	if err != nil {
		return nil, err
	}
	pfx, err := pkcs12.Modern.Encode(tc.key, tc.x509, []*x509.Certificate{issuing.x509}, password)
	if err != nil {
		return nil, fmt.Errorf("encode tc.pfx: %w", err)
	}
	nodeKey, err := keyPEM(node.key)
	if err != nil {
		return nil, err
	}
	return []file{
		{name: "root.pem", data: certsPEM(root.x509), mode: 0o644},
		{name: "tc.pfx", data: pfx, mode: 0o600},
		{name: "pw", data: []byte(password + "\n"), mode: 0o600},
		{name: "node.pem", data: certsPEM(node.x509, issuing.x509), mode: 0o644},
		{name: "node.key", data: nodeKey, mode: 0o600},
		{name: "bot.pem", data: certsPEM(bot.x509, issuing.x509), mode: 0o644},
	}, nil
}

var serial int64 = 1000

// issue makes a certificate from t signed by parent, or self-signed when
// parent is nil. Keys are RSA 2048 unless t asks for ECDSA P-256.
func issue(now time.Time, t template, parent *cert) (*cert, error) {
	var (
		key crypto.Signer
		err error
	)
	if t.ecdsa {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	} else {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		return nil, fmt.Errorf("generate the key of %q: %w", t.cn, err)
	}
	serial++
	notBefore := now.Add(-day)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: t.cn, Organization: []string{"Contoso"}},
		DNSNames:              t.dnsNames,
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(t.lifetime),
		SignatureAlgorithm:    x509.SHA256WithRSA,
		ExtKeyUsage:           t.eku,
		BasicConstraintsValid: true,
		IsCA:                  t.ca,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	if t.ca {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	}
	if t.aia != "" {
		tmpl.IssuingCertificateURL = []string{t.aia}
	}
	issuer, signer := tmpl, key
	if parent != nil {
		issuer, signer = parent.x509, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, key.Public(), signer)
	if err != nil {
		return nil, fmt.Errorf("create %q: %w", t.cn, err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse %q: %w", t.cn, err)
	}
	return &cert{x509: c, key: key}, nil
}

func certsPEM(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

func keyPEM(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("marshal key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func write(dir string, files []file) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return err
		}
	}
	return nil
}
