package certcheck

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"

	"software.sslmate.com/src/go-pkcs12"
)

// PFXEncoding chooses the algorithms of a written PKCS #12 file. The zero
// value is PFXModern.
type PFXEncoding uint8

const (
	// PFXModern: AES-256-CBC and PBKDF2-HMAC-SHA-256 with an HMAC-SHA-256
	// MAC (go-pkcs12's Modern2023), read by Windows Server 2019 and later,
	// OpenSSL 1.1.1 and later, and Java 12 and later.
	PFXModern PFXEncoding = iota
	// PFXLegacy: 3DES and SHA-1 (go-pkcs12's LegacyDES, OpenSSL's
	// -descert), for older Windows that cannot read PFXModern.
	PFXLegacy
)

func (e PFXEncoding) String() string {
	if e == PFXLegacy {
		return "legacy"
	}
	return "modern"
}

// ParsePFXEncoding parses "modern" or "legacy".
func ParsePFXEncoding(s string) (PFXEncoding, error) {
	switch s {
	case "modern":
		return PFXModern, nil
	case "legacy":
		return PFXLegacy, nil
	}
	return PFXModern, fmt.Errorf("unknown PFX encoding %q (want modern or legacy)", s)
}

// EncodePKCS12 writes the bundle as a PFX file with the private key and every
// other certificate (intermediates first, in chain order), as the Teams
// Connector needs it (seeds/002, "Any intermediate certificates must also be
// in the PFX file"). The key must be present and belong to the leaf.
func EncodePKCS12(b *Bundle, password string, enc PFXEncoding) ([]byte, error) {
	if err := convertible(b); err != nil {
		return nil, err
	}
	encoder := pkcs12.Modern
	if enc == PFXLegacy {
		encoder = pkcs12.LegacyDES
	}
	data, err := encoder.Encode(b.Key, b.Leaf, ordered(b), password)
	if err != nil {
		return nil, fmt.Errorf("encode PKCS #12: %w", err)
	}
	return data, nil
}

// EncodePEM writes the bundle as PEM: the leaf, the other certificates in
// chain order, then the private key as PKCS #8 — the layout Pexip Infinity
// and most servers take in one file.
func EncodePEM(b *Bundle) ([]byte, error) {
	if err := convertible(b); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	for _, c := range append([]*x509.Certificate{b.Leaf}, ordered(b)...) {
		if err := pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}); err != nil {
			return nil, err
		}
	}
	der, err := x509.MarshalPKCS8PrivateKey(b.Key)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	if err := pem.Encode(&buf, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func convertible(b *Bundle) error {
	if b == nil || b.Leaf == nil {
		return loadErr(ReasonNoCertificate, "no certificate to convert")
	}
	if b.Key == nil {
		return loadErr(ReasonMissingKey, "no private key for %q: give it in the file or with --key", certName(b.Leaf))
	}
	if !keyMatches(b.Key, b.Leaf) {
		return loadErr(ReasonKeyMismatch, "the private key does not belong to certificate %q", certName(b.Leaf))
	}
	return nil
}

// ordered returns the bundle's other certificates: the issuer path from the
// leaf first, then any others in file order.
func ordered(b *Bundle) []*x509.Certificate {
	path := tracePath(b.Leaf, b.Intermediates)[1:]
	seen := make(map[*x509.Certificate]bool, len(path))
	for _, c := range path {
		seen[c] = true
	}
	out := append([]*x509.Certificate(nil), path...)
	for _, c := range b.Intermediates {
		if !seen[c] {
			out = append(out, c)
		}
	}
	return out
}
