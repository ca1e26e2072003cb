package certcheck

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	"software.sslmate.com/src/go-pkcs12"
)

// Format is how a certificate reached us. The zero Format is unknown.
type Format uint8

const (
	FormatUnknown Format = iota
	// FormatPEM: base64 blocks, as Conferencing Nodes take them (.pem, .crt).
	FormatPEM
	// FormatPKCS12: a PFX bundle, as the Teams Connector needs it.
	FormatPKCS12
	// FormatDER: one binary X.509 certificate (.cer, .der).
	FormatDER
	// FormatTLS: the chain a server presented in a TLS handshake.
	FormatTLS
)

func (f Format) String() string {
	switch f {
	case FormatPEM:
		return "pem"
	case FormatPKCS12:
		return "pkcs12"
	case FormatDER:
		return "der"
	case FormatTLS:
		return "tls"
	}
	return "unknown"
}

// MarshalText renders the format as String does.
func (f Format) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// Bundle is what a certificate file holds: the leaf, the other certificates
// that came with it (intermediates, perhaps the root) and the private key, if
// any.
type Bundle struct {
	Format Format
	// Leaf is the end-entity certificate: the one matching the private key,
	// or, without a key, the first certificate that is not a CA.
	Leaf *x509.Certificate
	// Intermediates are the other certificates, in file order. A root among
	// them is harmless; chain building ignores it unless it is trusted.
	Intermediates []*x509.Certificate
	// Key is nil when the input had no private key.
	Key crypto.Signer
}

// LoadError says why input could not be used at all: no check ran. Reason is
// one of ReasonWrongPassword, ReasonCorrupt, ReasonNoCertificate,
// ReasonMissingKey, ReasonEncryptedKey or ReasonUnsupported.
type LoadError struct {
	Reason Reason
	Err    error
}

func (e *LoadError) Error() string { return e.Err.Error() }

func (e *LoadError) Unwrap() error { return e.Err }

func loadErr(r Reason, format string, args ...any) *LoadError {
	return &LoadError{Reason: r, Err: fmt.Errorf(format, args...)}
}

// Load reads a certificate file in any format we know: PEM (certificates,
// optionally with a private key), a DER certificate, or PKCS #12 opened with
// password. It tells the formats apart by their content, not their name.
func Load(data []byte, password string) (*Bundle, error) {
	if bytes.Contains(data, []byte("-----BEGIN")) {
		return LoadPEM(data)
	}
	if len(data) == 0 {
		return nil, loadErr(ReasonCorrupt, "empty input")
	}
	if data[0] != 0x30 {
		return nil, loadErr(ReasonCorrupt, "neither PEM nor DER (PKCS #12 or X.509)")
	}
	if cert, err := x509.ParseCertificate(data); err == nil {
		return &Bundle{Format: FormatDER, Leaf: cert}, nil
	}
	return LoadPKCS12(data, password)
}

// LoadPKCS12 opens a PFX bundle. The leaf is the certificate that matches the
// private key wherever it sits in the file; the others are intermediates.
func LoadPKCS12(data []byte, password string) (*Bundle, error) {
	key, cert, cas, err := pkcs12.DecodeChain(data, password)
	if err != nil {
		return nil, pkcs12Error(err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, loadErr(ReasonUnsupported, "PKCS #12 private key of type %T cannot sign", key)
	}
	certs := append([]*x509.Certificate{cert}, cas...)
	leaf, rest := chooseLeaf(certs, signer)
	return &Bundle{Format: FormatPKCS12, Leaf: leaf, Intermediates: rest, Key: signer}, nil
}

// pkcs12Error turns go-pkcs12's errors into typed reasons. go-pkcs12 has
// sentinel errors for the password only; a missing key or certificate is
// recognised by its message, which the tests pin.
func pkcs12Error(err error) *LoadError {
	var ni pkcs12.NotImplementedError
	switch {
	case errors.Is(err, pkcs12.ErrIncorrectPassword):
		return &LoadError{Reason: ReasonWrongPassword, Err: fmt.Errorf("wrong password for the PKCS #12 file: %w", err)}
	case err.Error() == "pkcs12: private key missing":
		return &LoadError{Reason: ReasonMissingKey, Err: fmt.Errorf("PKCS #12 file has no private key: export it again with the private key included: %w", err)}
	case err.Error() == "pkcs12: certificate missing":
		return &LoadError{Reason: ReasonNoCertificate, Err: fmt.Errorf("PKCS #12 file has a private key but no certificate: %w", err)}
	case errors.As(err, &ni):
		return &LoadError{Reason: ReasonUnsupported, Err: fmt.Errorf("unsupported PKCS #12 file: %w", err)}
	}
	return &LoadError{Reason: ReasonCorrupt, Err: fmt.Errorf("not a readable PKCS #12 file: %w", err)}
}

// LoadPEM reads PEM blocks: certificates in any order and at most one
// private key. Other block types (EC PARAMETERS, text between blocks) are
// skipped; a certificate signing request alone is reported as such.
func LoadPEM(data []byte) (*Bundle, error) {
	var (
		certs   []*x509.Certificate
		key     crypto.Signer
		skipped []string
	)
	rest := data
	for n := 1; ; n++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		switch block.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, &LoadError{Reason: ReasonCorrupt, Err: fmt.Errorf("PEM block %d (CERTIFICATE): %w", n, err)}
			}
			certs = append(certs, c)
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY":
			if key != nil {
				return nil, loadErr(ReasonUnsupported, "PEM block %d: more than one private key", n)
			}
			k, err := parseKeyBlock(block)
			if err != nil {
				return nil, wrapBlock(n, err)
			}
			key = k
		default:
			skipped = append(skipped, block.Type)
		}
	}
	if len(certs) == 0 {
		switch {
		case key != nil:
			return nil, loadErr(ReasonNoCertificate, "PEM input has a private key but no certificate")
		case len(skipped) > 0:
			return nil, loadErr(ReasonNoCertificate, "PEM input has no certificate (found %q)", skipped)
		}
		return nil, loadErr(ReasonCorrupt, "no PEM block could be decoded")
	}
	leaf, others := chooseLeaf(certs, key)
	return &Bundle{Format: FormatPEM, Leaf: leaf, Intermediates: others, Key: key}, nil
}

func wrapBlock(n int, err error) error {
	var le *LoadError
	if errors.As(err, &le) {
		return &LoadError{Reason: le.Reason, Err: fmt.Errorf("PEM block %d: %w", n, le.Err)}
	}
	return &LoadError{Reason: ReasonCorrupt, Err: fmt.Errorf("PEM block %d: %w", n, err)}
}

// ParseKey reads a private key on its own, as given with --key: one PEM
// block (PKCS #8, PKCS #1 or SEC 1), or the same in DER.
func ParseKey(data []byte) (crypto.Signer, error) {
	if bytes.Contains(data, []byte("-----BEGIN")) {
		return LoadKeyPEM(data)
	}
	if k, err := x509.ParsePKCS8PrivateKey(data); err == nil {
		return asSigner(k)
	}
	if k, err := x509.ParsePKCS1PrivateKey(data); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(data); err == nil {
		return k, nil
	}
	return nil, loadErr(ReasonCorrupt, "not a private key (PEM, PKCS #8, PKCS #1 or SEC 1)")
}

// LoadKeyPEM reads exactly one private key from PEM input. A certificate in
// the same input is an error: it belongs in the certificate file.
func LoadKeyPEM(data []byte) (crypto.Signer, error) {
	var key crypto.Signer
	rest := data
	for n := 1; ; n++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		switch block.Type {
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY":
			if key != nil {
				return nil, loadErr(ReasonUnsupported, "PEM block %d: more than one private key", n)
			}
			k, err := parseKeyBlock(block)
			if err != nil {
				return nil, wrapBlock(n, err)
			}
			key = k
		case "CERTIFICATE":
			return nil, loadErr(ReasonUnsupported, "PEM block %d: a certificate in the key file; give certificates as the main argument", n)
		}
	}
	if key == nil {
		return nil, loadErr(ReasonMissingKey, "no private key in PEM input")
	}
	return key, nil
}

func parseKeyBlock(block *pem.Block) (crypto.Signer, error) {
	if block.Type == "ENCRYPTED PRIVATE KEY" || block.Headers["Proc-Type"] == "4,ENCRYPTED" {
		return nil, loadErr(ReasonEncryptedKey, "private key is encrypted: decrypt it first (openssl pkey -in KEY -out KEY.plain)")
	}
	var (
		k   any
		err error
	)
	switch block.Type {
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, loadErr(ReasonCorrupt, "%s: %w", block.Type, err)
	}
	return asSigner(k)
}

func asSigner(k any) (crypto.Signer, error) {
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return k, nil
	case *ecdsa.PrivateKey:
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, loadErr(ReasonUnsupported, "private key of type %T", k)
}

// ParseRoots reads PEM certificates to trust as roots (--roots). It is an
// error for the input to hold none.
func ParseRoots(data []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	n := 0
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, &LoadError{Reason: ReasonCorrupt, Err: fmt.Errorf("root certificate %d: %w", n+1, err)}
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, loadErr(ReasonNoCertificate, "no PEM certificate in roots input")
	}
	return pool, nil
}

// chooseLeaf picks the end-entity certificate: the one whose public key is
// key's, else the first that is not a CA, else the first. The others keep
// their order.
func chooseLeaf(certs []*x509.Certificate, key crypto.Signer) (*x509.Certificate, []*x509.Certificate) {
	idx := -1
	if key != nil {
		for i, c := range certs {
			if keyMatches(key, c) {
				idx = i
				break
			}
		}
	}
	if idx < 0 {
		for i, c := range certs {
			if !c.IsCA {
				idx = i
				break
			}
		}
	}
	if idx < 0 {
		idx = 0
	}
	rest := make([]*x509.Certificate, 0, len(certs)-1)
	rest = append(rest, certs[:idx]...)
	rest = append(rest, certs[idx+1:]...)
	return certs[idx], rest
}

// keyMatches reports whether key is the private half of cert's public key.
func keyMatches(key crypto.Signer, cert *x509.Certificate) bool {
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(cert.PublicKey)
}

// SetKey adds a private key that came on its own (--key) and picks the leaf
// again, so that it is the certificate the key belongs to.
func (b *Bundle) SetKey(key crypto.Signer) {
	certs := append([]*x509.Certificate{b.Leaf}, b.Intermediates...)
	b.Leaf, b.Intermediates = chooseLeaf(certs, key)
	b.Key = key
}
