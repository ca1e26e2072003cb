package botauth

import (
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"
)

// minRSABits is the smallest RSA modulus accepted for a signing key. The
// Bot Framework keys are 2048-bit; smaller ones are skipped.
const minRSABits = 2048

// metadata is the part of the Bot Framework OpenID metadata document that
// validation uses (botauth.md §1.1). Other properties are ignored.
type metadata struct {
	Issuer     string   `json:"issuer"`
	JWKSURI    string   `json:"jwks_uri"`
	Algorithms []string `json:"id_token_signing_alg_values_supported"`
}

// parseMetadata decodes an OpenID metadata document.
func parseMetadata(b []byte) (metadata, error) {
	var m metadata
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("metadata: %w", err)
	}
	if m.JWKSURI == "" {
		return m, errors.New("metadata: no jwks_uri")
	}
	return m, nil
}

// jwk is one key of the JWKS (RFC 7517) with the Bot Framework's
// non-standard endorsements (botauth.md §1.2).
type jwk struct {
	Kty string   `json:"kty"`
	Use string   `json:"use"`
	Kid string   `json:"kid"`
	Alg string   `json:"alg"`
	N   string   `json:"n"`
	E   string   `json:"e"`
	X5c []string `json:"x5c"`
	// Endorsements is nil when the property is absent or null, and a
	// non-nil (possibly empty) slice when it is an array.
	Endorsements []string `json:"endorsements"`
}

// signingKey is a usable RSA verification key of the key set.
type signingKey struct {
	kid string
	// alg is the key's declared algorithm, empty if it declares none.
	alg string
	pub *rsa.PublicKey
	// fingerprint identifies the key material, so that a cached token is
	// honoured only while the same key is still published under its kid.
	fingerprint [32]byte
	// endorsed reports whether the key has an endorsements property;
	// endorsements lists the channel ids it endorses.
	endorsed     bool
	endorsements []string
	// notBefore and notAfter are the validity of the key's x5c leaf
	// certificate; both zero when the key has none.
	notBefore, notAfter time.Time
}

// endorses reports whether the key endorses channel.
func (k *signingKey) endorses(channel string) bool {
	for _, e := range k.endorsements {
		if e == channel {
			return true
		}
	}
	return false
}

// validAt reports whether the key's certificate, if any, is valid at now
// within skew (botauth.md §6.5).
func (k *signingKey) validAt(now time.Time, skew time.Duration) bool {
	if k.notAfter.IsZero() {
		return true
	}
	return !now.Before(k.notBefore.Add(-skew)) && !now.After(k.notAfter.Add(skew))
}

// keySet is one successfully fetched generation of signing keys. It is
// immutable once published.
type keySet struct {
	keys map[string]*signingKey
	// algorithms are Config.Algorithms that the metadata also lists.
	algorithms []string
	fetched    time.Time
}

// allows reports whether alg may sign tokens under this key set.
func (ks *keySet) allows(alg string) bool {
	for _, a := range ks.algorithms {
		if a == alg {
			return true
		}
	}
	return false
}

// skippedKey says why a JWKS entry was not taken into the key set.
type skippedKey struct {
	Kid    string
	Reason string
}

// parseJWKS decodes a JWK set and returns its usable RSA signing keys by
// kid (botauth.md §6.4): kty RSA, use sig if present, a modulus of at least
// minRSABits, a consistent x5c certificate if present. Every other entry is
// skipped with its reason, as are all entries of a kid that appears twice,
// since it would be ambiguous which one signed. An entry that is not a
// valid key object does not spoil the others (EndorsementsRetrieverTests,
// botauth.md §3.2).
func parseJWKS(b []byte) (map[string]*signingKey, []skippedKey, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, nil, fmt.Errorf("jwks: %w", err)
	}
	keys := make(map[string]*signingKey, len(doc.Keys))
	var skipped []skippedKey
	dup := make(map[string]bool)
	for _, raw := range doc.Keys {
		var j jwk
		if err := json.Unmarshal(raw, &j); err != nil {
			skipped = append(skipped, skippedKey{Reason: fmt.Sprintf("not a key object: %v", err)})
			continue
		}
		k, err := j.signingKey()
		if err != nil {
			skipped = append(skipped, skippedKey{Kid: j.Kid, Reason: err.Error()})
			continue
		}
		if _, ok := keys[k.kid]; ok || dup[k.kid] {
			dup[k.kid] = true
			delete(keys, k.kid)
			skipped = append(skipped, skippedKey{Kid: k.kid, Reason: "kid appears more than once"})
			continue
		}
		keys[k.kid] = k
	}
	return keys, skipped, nil
}

// signingKey checks j and converts it to a verification key.
func (j *jwk) signingKey() (*signingKey, error) {
	if j.Kid == "" {
		return nil, errors.New("no kid")
	}
	if j.Kty != "RSA" {
		return nil, fmt.Errorf("kty %q is not RSA", j.Kty)
	}
	if j.Use != "" && j.Use != "sig" {
		return nil, fmt.Errorf("use %q is not sig", j.Use)
	}
	if j.Alg != "" && !slices.Contains(permittedAlgorithms, j.Alg) {
		return nil, fmt.Errorf("alg %q is not an RSA PKCS#1 v1.5 algorithm", j.Alg)
	}
	n, err := decodeBase64URL(j.N)
	if err != nil || len(n) == 0 || n[0] == 0 {
		return nil, errors.New("n is not a base64url big-endian integer without leading zeros")
	}
	e, err := decodeBase64URL(j.E)
	if err != nil || len(e) == 0 || len(e) > 4 || e[0] == 0 {
		return nil, errors.New("e is not a base64url integer of at most 32 bits")
	}
	var exp uint64
	for _, b := range e {
		exp = exp<<8 | uint64(b)
	}
	if exp < 3 || exp%2 == 0 || exp > 1<<31-1 {
		return nil, fmt.Errorf("e %d is not an odd exponent in [3, 2^31)", exp)
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(exp)}
	if pub.N.BitLen() < minRSABits {
		return nil, fmt.Errorf("%d-bit modulus is below %d bits", pub.N.BitLen(), minRSABits)
	}
	k := &signingKey{
		kid:          j.Kid,
		alg:          j.Alg,
		pub:          pub,
		endorsed:     j.Endorsements != nil,
		endorsements: j.Endorsements,
	}
	h := sha256.New()
	h.Write(n)
	h.Write(e)
	h.Sum(k.fingerprint[:0])
	if len(j.X5c) > 0 {
		der, err := base64.StdEncoding.DecodeString(j.X5c[0])
		if err != nil {
			return nil, fmt.Errorf("x5c: %w", err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("x5c: %w", err)
		}
		if cp, ok := cert.PublicKey.(*rsa.PublicKey); !ok || !cp.Equal(pub) {
			return nil, errors.New("x5c certificate holds a different key than n and e")
		}
		k.notBefore, k.notAfter = cert.NotBefore, cert.NotAfter
	}
	return k, nil
}

// decodeBase64URL decodes unpadded base64url (RFC 7515 §2), also accepting
// the padded form some publishers emit.
func decodeBase64URL(s string) ([]byte, error) {
	if b, err := base64.RawURLEncoding.Strict().DecodeString(s); err == nil {
		return b, nil
	}
	return base64.URLEncoding.Strict().DecodeString(s)
}
