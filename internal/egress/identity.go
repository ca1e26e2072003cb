package egress

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"go4.org/netipx"
)

// identities tells which roles a client is.
type identities struct {
	kind Identity
	// by source: each role's addresses
	roles []string
	sets  []*netipx.IPSet
	// by certificate: the role names a certificate may carry, full
	// ("teams-messaging-bot/bot") and short ("bot") when unambiguous
	names map[string]string
}

func newIdentities(cfg *Config) (*identities, error) {
	id := &identities{kind: cfg.Identity, names: map[string]string{}}
	switch cfg.Identity {
	case IdentitySource:
		byRole := map[string]*netipx.IPSetBuilder{}
		var order []string
		for _, c := range cfg.Clients {
			b := byRole[c.Role]
			if b == nil {
				b = &netipx.IPSetBuilder{}
				byRole[c.Role] = b
				order = append(order, c.Role)
			}
			for _, p := range c.Prefixes {
				b.AddPrefix(p)
			}
		}
		for _, r := range order {
			s, err := byRole[r].IPSet()
			if err != nil {
				return nil, fmt.Errorf("clients of role %s: %w", r, err)
			}
			id.roles = append(id.roles, r)
			id.sets = append(id.sets, s)
		}
		if len(id.roles) == 0 {
			return nil, errors.New("identity source: no role has client addresses")
		}
	case IdentityCertificate:
		short := map[string][]string{}
		for _, r := range cfg.Rules {
			id.names[r.Role] = r.Role
			_, s, _ := strings.Cut(r.Role, "/")
			if s != "" && !slices.Contains(short[s], r.Role) {
				short[s] = append(short[s], r.Role)
			}
		}
		for s, full := range short {
			if len(full) == 1 {
				id.names[s] = full[0]
			}
		}
	}
	return id, nil
}

// of returns the roles of a client, nil meaning every role (no identity),
// and false when the client is no role's.
func (id *identities) of(addr netip.Addr, cs *tls.ConnectionState) ([]string, bool) {
	switch id.kind {
	case IdentitySource:
		addr = addr.Unmap()
		var out []string
		for i, s := range id.sets {
			if s.Contains(addr) {
				out = append(out, id.roles[i])
			}
		}
		return out, len(out) > 0
	case IdentityCertificate:
		if cs == nil || len(cs.PeerCertificates) == 0 {
			return nil, false
		}
		c := cs.PeerCertificates[0]
		var out []string
		for _, n := range append([]string{c.Subject.CommonName}, c.DNSNames...) {
			if r, ok := id.names[n]; ok && !slices.Contains(out, r) {
				out = append(out, r)
			}
		}
		return out, len(out) > 0
	}
	return nil, true
}

// crlChecker refuses client certificates that a CA's revocation list
// names. The lists are read when the configuration is built (at start and
// on every reload); a list past its next update refuses every client of
// its CA, since it can no longer say who is revoked.
type crlChecker struct {
	lists []*x509.RevocationList
	now   func() time.Time
}

func loadCRLs(files []string, cas *x509.CertPool, caCerts []*x509.Certificate, now func() time.Time) (*crlChecker, error) {
	c := &crlChecker{now: now}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("crl file: %w", err)
		}
		der := b
		if blk := pemBlock(b, "X509 CRL"); blk != nil {
			der = blk
		}
		l, err := x509.ParseRevocationList(der)
		if err != nil {
			return nil, fmt.Errorf("crl file %s: %w", f, err)
		}
		signed := false
		for _, ca := range caCerts {
			if l.CheckSignatureFrom(ca) == nil {
				signed = true
				break
			}
		}
		if !signed {
			return nil, fmt.Errorf("crl file %s: not signed by a CA of tls.client_ca", f)
		}
		c.lists = append(c.lists, l)
	}
	return c, nil
}

// verify is tls.Config.VerifyConnection: the chain's leaf must not be on
// the revocation list of its issuer.
func (c *crlChecker) verify(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return nil
	}
	leaf := cs.PeerCertificates[0]
	for _, l := range c.lists {
		if !sameName(l.RawIssuer, leaf.RawIssuer) {
			continue
		}
		if !l.NextUpdate.IsZero() && c.now().After(l.NextUpdate) {
			return fmt.Errorf("the revocation list of %s is out of date (next update %s)", l.Issuer, l.NextUpdate.Format(time.RFC3339))
		}
		for _, e := range l.RevokedCertificateEntries {
			if serialEqual(e.SerialNumber, leaf.SerialNumber) {
				return fmt.Errorf("client certificate %s (serial %s) is revoked", leaf.Subject, leaf.SerialNumber)
			}
		}
	}
	return nil
}

func sameName(a, b []byte) bool { return string(a) == string(b) }

func serialEqual(a, b *big.Int) bool { return a != nil && b != nil && a.Cmp(b) == 0 }
