package certcheck

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// DefaultWarnWithin is how long before expiry a certificate draws a warning
// unless the caller says otherwise.
const DefaultWarnWithin = 30 * 24 * time.Hour

// MinRSABits is the smallest RSA modulus accepted. 2048 bits is the floor of
// the CA/Browser Forum Baseline Requirements (6.1.5) and of every public CA
// the seeds expect the certificates to come from.
const MinRSABits = 2048

// minECDSABits is the smallest ECDSA curve accepted (P-256, the same
// Baseline Requirements section).
const minECDSABits = 256

// Options say what a certificate is checked for.
type Options struct {
	// Role selects the rules.
	Role Role
	// Names must each be covered by a SAN (RFC 6125 matching, as
	// crypto/x509's VerifyHostname does it).
	Names []string
	// Pool, for Conferencing Nodes, is the pool name that must be the
	// subject common name (and, as public CAs always do, a SAN).
	Pool string
	// Roots are the trusted roots. Nil means the system's roots.
	Roots *x509.CertPool
	// Now is the clock. It must be set: the package never reads the
	// system clock.
	Now func() time.Time
	// WarnWithin is how long before expiry a certificate draws a warning.
	// Zero means never warn.
	WarnWithin time.Duration
}

// Check runs every rule of opts.Role over the bundle and returns the report.
// The error is for unusable options only; every finding about the
// certificate is a result in the report.
func Check(b *Bundle, opts Options) (*Report, error) {
	if b == nil || b.Leaf == nil {
		return nil, errors.New("certcheck: no certificate to check")
	}
	if opts.Now == nil {
		return nil, errors.New("certcheck: Options.Now is nil")
	}
	if _, err := ParseRole(string(opts.Role)); err != nil {
		return nil, err
	}
	c := &checker{b: b, opts: opts, now: opts.Now()}
	c.verify()
	c.format()
	c.key()
	c.eku()
	c.names()
	c.trust()
	c.signatures()
	c.validity()
	c.aia()
	rep := &Report{Role: opts.Role, Format: b.Format, Results: c.results}
	for _, cert := range c.chain {
		rep.Certificates = append(rep.Certificates, describe(cert))
	}
	return rep, nil
}

type checker struct {
	b    *Bundle
	opts Options
	now  time.Time

	// chain is the verified chain when there is one, else the path that
	// issuer names trace through the bundle from the leaf.
	chain     []*x509.Certificate
	verified  bool
	verifyErr error
	// end is the last certificate of the traced path.
	end *x509.Certificate

	results []Result
}

func (c *checker) add(rule Rule, st Status, reason Reason, subject, format string, args ...any) {
	c.results = append(c.results, Result{
		Rule:    rule,
		Status:  st,
		Reason:  reason,
		Subject: subject,
		Message: fmt.Sprintf(format, args...),
	})
}

func (c *checker) verifyOptions(usage x509.ExtKeyUsage) x509.VerifyOptions {
	inter := x509.NewCertPool()
	for _, ic := range c.b.Intermediates {
		inter.AddCert(ic)
	}
	return x509.VerifyOptions{
		Roots:         c.opts.Roots,
		Intermediates: inter,
		CurrentTime:   c.now,
		KeyUsages:     []x509.ExtKeyUsage{usage},
	}
}

// verify builds the chain once. Usages are checked by the eku rule, so chain
// building accepts any usage here.
func (c *checker) verify() {
	path := tracePath(c.b.Leaf, c.b.Intermediates)
	c.end = path[len(path)-1]
	chains, err := c.b.Leaf.Verify(c.verifyOptions(x509.ExtKeyUsageAny))
	if err != nil {
		c.verifyErr = err
		c.chain = path
		return
	}
	c.verified = true
	c.chain = chains[0]
}

// tracePath follows issuer names from leaf through certs: the chain the file
// claims, whether or not its signatures verify.
func tracePath(leaf *x509.Certificate, certs []*x509.Certificate) []*x509.Certificate {
	path := []*x509.Certificate{leaf}
	used := make(map[*x509.Certificate]bool)
	cur := leaf
	for !selfIssued(cur) {
		var next *x509.Certificate
		for _, cand := range certs {
			if used[cand] || cand == cur || !bytes.Equal(cand.RawSubject, cur.RawIssuer) {
				continue
			}
			if len(cur.AuthorityKeyId) > 0 && len(cand.SubjectKeyId) > 0 && !bytes.Equal(cur.AuthorityKeyId, cand.SubjectKeyId) {
				continue
			}
			next = cand
			break
		}
		if next == nil {
			break
		}
		used[next] = true
		path = append(path, next)
		cur = next
	}
	return path
}

func selfIssued(c *x509.Certificate) bool { return bytes.Equal(c.RawSubject, c.RawIssuer) }

// missingIssuer reports whether the chain fails because a certificate's
// issuer is neither in the bundle nor trusted, and names that issuer.
func (c *checker) missingIssuer() (string, bool) {
	if c.verified || selfIssued(c.end) || weakSignature(c.end.SignatureAlgorithm) {
		return "", false
	}
	_, err := c.end.Verify(x509.VerifyOptions{
		Roots:       c.opts.Roots,
		CurrentTime: c.now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	var uae x509.UnknownAuthorityError
	if errors.As(err, &uae) {
		return name(c.end.Issuer.String(), c.end.Issuer.CommonName), true
	}
	return "", false
}

// format checks what the file must contain for the role. seeds/002: the
// Teams Connector certificate "must be in Personal Information Exchange
// Format (PFX), also known as PKCS #12" and "any intermediate certificates
// must also be in the PFX file"; Conferencing Nodes take PEM with their key.
func (c *checker) format() {
	b, role := c.b, c.opts.Role
	subj := certName(b.Leaf)
	ok := true
	if role == RoleTeamsConnector && b.Format != FormatPKCS12 && b.Format != FormatTLS {
		ok = false
		c.add(RuleFormat, Fail, ReasonNotPKCS12, subj,
			"the Teams Connector needs a PKCS #12 (PFX) file with the private key and every intermediate inside, not %s (Pexip Teams Connector requirements); convert it with: teamsgate certs convert CERT --key KEY --to pfx --out tc.pfx", b.Format)
	}
	if role.mutualTLS() && b.Format != FormatTLS && b.Key == nil {
		ok = false
		c.add(RuleFormat, Fail, ReasonMissingKey, subj,
			"no private key: the %s needs the key installed with the certificate; give it in the file or with --key", role)
	}
	if issuer, missing := c.missingIssuer(); missing {
		ok = false
		st, where := Warn, "install the intermediates with the certificate"
		switch {
		case b.Format == FormatTLS:
			st, where = Fail, "the server must send every intermediate in the handshake"
		case role == RoleTeamsConnector:
			st, where = Fail, "every intermediate must be inside the PFX (Pexip Teams Connector requirements)"
		}
		c.add(RuleFormat, st, ReasonMissingIntermediate, certName(c.end),
			"issuer %q of %q is neither in the %s nor a trusted root: if it is an intermediate CA, %s; if it is a private root, pass it with --roots",
			issuer, certName(c.end), sourceName(b.Format), where)
	}
	if ok {
		c.add(RuleFormat, Pass, ReasonOK, subj, "%s", c.formatSummary())
	}
}

func sourceName(f Format) string {
	if f == FormatTLS {
		return "presented chain"
	}
	return "file"
}

func (c *checker) formatSummary() string {
	b := c.b
	n := len(b.Intermediates)
	if b.Format == FormatTLS {
		return fmt.Sprintf("server presented the leaf and %d more certificate(s)", n)
	}
	key := "no private key"
	if b.Key != nil {
		key = "the private key"
	}
	chain := "the chain is complete"
	if !c.verified {
		chain = "chain completeness not judged (see chain.trust)"
	}
	return fmt.Sprintf("%s with %s and %d more certificate(s); %s", b.Format, key, n, chain)
}

// key checks the algorithm, the size, and that the private key belongs to the
// certificate. seeds/002: the Teams Connector certificate "must use RSA keys".
func (c *checker) key() {
	leaf, role := c.b.Leaf, c.opts.Role
	subj := certName(leaf)
	desc := keyDesc(leaf.PublicKey)
	switch pub := leaf.PublicKey.(type) {
	case *rsa.PublicKey:
		if bits := pub.N.BitLen(); bits < MinRSABits {
			c.add(RuleKey, Fail, ReasonKeyTooSmall, subj, "%s is too small: reissue with at least %d bits", desc, MinRSABits)
		} else {
			c.add(RuleKey, Pass, ReasonOK, subj, "%s", desc)
		}
	case *ecdsa.PublicKey:
		switch {
		case role == RoleTeamsConnector:
			c.add(RuleKey, Fail, ReasonKeyNotRSA, subj, "%s: the Teams Connector requires an RSA key (Pexip Teams Connector requirements); reissue with RSA, at least %d bits", desc, MinRSABits)
		case pub.Curve.Params().BitSize < minECDSABits:
			c.add(RuleKey, Fail, ReasonKeyTooSmall, subj, "%s is too small: use P-256 or larger, or RSA %d+", desc, MinRSABits)
		default:
			c.add(RuleKey, Pass, ReasonOK, subj, "%s", desc)
		}
	default:
		if role == RoleTeamsConnector {
			c.add(RuleKey, Fail, ReasonKeyNotRSA, subj, "%s: the Teams Connector requires an RSA key (Pexip Teams Connector requirements); reissue with RSA, at least %d bits", desc, MinRSABits)
		} else {
			c.add(RuleKey, Fail, ReasonKeyType, subj, "%s: use an RSA (%d bits or more) or ECDSA (P-256 or larger) key", desc, MinRSABits)
		}
	}
	switch {
	case c.b.Key != nil && !keyMatches(c.b.Key, leaf):
		c.add(RuleKey, Fail, ReasonKeyMismatch, subj, "the private key (%s) does not belong to this certificate (%s): give the key the certificate was issued for", keyDesc(c.b.Key.Public()), desc)
	case c.b.Key != nil:
		c.add(RuleKey, Pass, ReasonOK, subj, "the private key matches the certificate")
	case c.b.Format == FormatTLS:
		// The server proved possession in the handshake.
	default:
		c.add(RuleKey, Pass, ReasonKeyNotChecked, subj, "no private key given: whether it matches was not checked")
	}
}

func keyDesc(pub any) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d bits", k.N.BitLen())
	case *ecdsa.PublicKey:
		return fmt.Sprintf("ECDSA %s", k.Curve.Params().Name)
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return fmt.Sprintf("%T key", pub)
}

// eku checks the extended key usages. seeds/002: "The Teams Connector and
// Pexip Infinity validate the connection in both directions by TLS client
// certificate validation. This means that every certificate's Enhanced Key
// Usage properties must be set for both server and client authentication."
// A bot endpoint is only ever a TLS server, so serverAuth is what it needs;
// without an EKU extension at all a certificate is unrestricted (RFC 5280
// 4.2.1.12), which passes for a bot but not where the seed asks for both
// usages to be set.
func (c *checker) eku() {
	leaf, role := c.b.Leaf, c.opts.Role
	subj := certName(leaf)
	if len(leaf.ExtKeyUsage) == 0 && len(leaf.UnknownExtKeyUsage) == 0 {
		if role.mutualTLS() {
			c.add(RuleEKU, Fail, ReasonNoEKU, subj, "no extended key usage: the %s authenticates with mutual TLS, reissue with both Server Authentication and Client Authentication (Pexip certificate usage principles)", role)
		} else {
			c.add(RuleEKU, Pass, ReasonEKUUnrestricted, subj, "no extended key usage extension: unrestricted (RFC 5280 4.2.1.12)")
		}
		return
	}
	has := func(u x509.ExtKeyUsage) bool {
		for _, e := range leaf.ExtKeyUsage {
			if e == u || e == x509.ExtKeyUsageAny {
				return true
			}
		}
		return false
	}
	server, client := has(x509.ExtKeyUsageServerAuth), has(x509.ExtKeyUsageClientAuth)
	ok := true
	if !server {
		ok = false
		c.add(RuleEKU, Fail, ReasonNoServerAuth, subj, "no serverAuth extended key usage: TLS clients will refuse it; reissue with Server Authentication")
	}
	if role.mutualTLS() && !client {
		ok = false
		c.add(RuleEKU, Fail, ReasonNoClientAuth, subj, "no clientAuth extended key usage: the Teams Connector and Pexip Infinity authenticate each other with client certificates (Pexip certificate usage principles); reissue with both Server and Client Authentication")
	}
	if !ok {
		return
	}
	if c.verified {
		usages := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		if role.mutualTLS() {
			usages = append(usages, x509.ExtKeyUsageClientAuth)
		}
		for _, u := range usages {
			if _, err := leaf.Verify(c.verifyOptions(u)); err != nil {
				ok = false
				c.add(RuleEKU, Fail, ReasonChainEKU, subj, "an issuing CA does not allow %s for this chain: %v", ekuName(u), err)
			}
		}
	}
	if !ok {
		return
	}
	if role.mutualTLS() {
		c.add(RuleEKU, Pass, ReasonOK, subj, "serverAuth and clientAuth present, as mutual TLS needs")
	} else {
		c.add(RuleEKU, Pass, ReasonOK, subj, "serverAuth present (clientAuth is not needed: a bot endpoint is only a TLS server)")
	}
}

func ekuName(u x509.ExtKeyUsage) string {
	switch u {
	case x509.ExtKeyUsageServerAuth:
		return "serverAuth"
	case x509.ExtKeyUsageClientAuth:
		return "clientAuth"
	}
	return fmt.Sprintf("usage %d", u)
}

// names checks that every requested name is covered, with crypto/x509's
// RFC 6125 matching: a wildcard is the whole left-most label and covers
// exactly one label (seeds/002: "Pexip supports RFC 6125"). For Conferencing
// Nodes the pool name must be the subject (seeds/002: "The pool name should
// be used as a common Subject name on the certificate … The certificate
// should also contain the individual FQDNs of each of the nodes in the pool
// as a Subject Alternative Name").
func (c *checker) names() {
	leaf := c.b.Leaf
	if len(c.opts.Names) == 0 && c.opts.Pool == "" {
		c.add(RuleNames, Warn, ReasonNoNames, certName(leaf), "no names given: which names the certificate covers was not checked")
		return
	}
	if pool := c.opts.Pool; pool != "" {
		cn := leaf.Subject.CommonName
		if normName(cn) == normName(pool) {
			c.add(RuleNames, Pass, ReasonOK, pool, "pool name is the subject common name")
		} else {
			c.add(RuleNames, Fail, ReasonPoolNotSubject, pool,
				"subject common name is %q, not the pool name %q: Pexip recommends the pool name as the common subject of every node's certificate", cn, pool)
		}
		c.covered(pool)
	}
	for _, n := range c.opts.Names {
		c.covered(n)
	}
}

func (c *checker) covered(n string) {
	leaf := c.b.Leaf
	if err := leaf.VerifyHostname(n); err == nil {
		c.add(RuleNames, Pass, ReasonOK, n, "covered by SAN %q", matchingSAN(leaf, n))
		return
	}
	sans := sanList(leaf)
	msg := fmt.Sprintf("not covered by any SAN (SANs: %s): reissue with %q as a Subject Alternative Name", strings.Join(sans, ", "), n)
	for _, s := range leaf.DNSNames {
		if strings.HasPrefix(s, "*.") {
			msg += "; a wildcard covers exactly one whole left-most label (RFC 6125 6.4.3): *.contoso.com covers a.contoso.com, not a.b.contoso.com nor contoso.com"
			break
		}
	}
	if len(leaf.DNSNames) == 0 && normName(leaf.Subject.CommonName) == normName(n) {
		msg += "; the name is only the subject common name, which TLS clients no longer match (RFC 6125 6.4.4)"
	}
	c.add(RuleNames, Fail, ReasonNameNotCovered, n, "%s", msg)
}

// matchingSAN names the SAN that covers n, asking crypto/x509 one SAN at a
// time so that the matching stays its own.
func matchingSAN(leaf *x509.Certificate, n string) string {
	for _, s := range leaf.DNSNames {
		if (&x509.Certificate{DNSNames: []string{s}}).VerifyHostname(n) == nil {
			return s
		}
	}
	for _, ip := range leaf.IPAddresses {
		if (&x509.Certificate{IPAddresses: []net.IP{ip}}).VerifyHostname(n) == nil {
			return ip.String()
		}
	}
	return n
}

func sanList(c *x509.Certificate) []string {
	out := append([]string(nil), c.DNSNames...)
	for _, ip := range c.IPAddresses {
		out = append(out, ip.String())
	}
	if len(out) == 0 {
		out = []string{"none"}
	}
	return out
}

func normName(s string) string { return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".") }

// trust checks that the chain builds to a trusted root. seeds/002: the
// certificates "must … have been signed by an external trusted CA".
func (c *checker) trust() {
	subj := certName(c.b.Leaf)
	if c.verified {
		root := c.chain[len(c.chain)-1]
		c.add(RuleChainTrust, Pass, ReasonOK, subj, "chain builds to trusted root %q: %s", certName(root), chainString(c.chain))
		return
	}
	err := c.verifyErr
	var (
		uae x509.UnknownAuthorityError
		cie x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &cie) && cie.Reason == x509.Expired:
		c.add(RuleChainTrust, Fail, ReasonExpired, subj, "the chain does not verify now: %v", err)
	case errors.As(err, &uae) && selfIssued(c.end):
		c.add(RuleChainTrust, Fail, ReasonUntrusted, subj, "the chain ends at root %q, which is not trusted: use a certificate from a public CA, or for a private CA pass --roots (%s)", certName(c.end), chainString(c.chain))
	case errors.As(err, &uae) && weakSignature(firstWeak(c.chain)):
		c.add(RuleChainTrust, Fail, ReasonSHA1, subj, "the chain does not verify: a signature in it uses %s, which crypto/x509 no longer accepts (%s)", firstWeak(c.chain), chainString(c.chain))
	case errors.As(err, &uae):
		c.add(RuleChainTrust, Fail, ReasonUntrusted, subj, "the chain does not reach a trusted root: %q is issued by %q, which is neither given nor trusted (%s)", certName(c.end), name(c.end.Issuer.String(), c.end.Issuer.CommonName), chainString(c.chain))
	default:
		c.add(RuleChainTrust, Fail, ReasonUntrusted, subj, "the chain does not verify: %v", err)
	}
}

// firstWeak returns the first weak signature algorithm in the chain, if any.
func firstWeak(chain []*x509.Certificate) x509.SignatureAlgorithm {
	for _, cert := range chain {
		if !selfIssued(cert) && weakSignature(cert.SignatureAlgorithm) {
			return cert.SignatureAlgorithm
		}
	}
	return x509.UnknownSignatureAlgorithm
}

func chainString(chain []*x509.Certificate) string {
	parts := make([]string, len(chain))
	for i, cert := range chain {
		parts[i] = certName(cert)
	}
	return strings.Join(parts, " ← ")
}

// weakSignature reports SHA-1 (and older) signature algorithms, which public
// CAs stopped using in 2016 and crypto/x509 refuses since Go 1.24.
func weakSignature(a x509.SignatureAlgorithm) bool {
	switch a {
	case x509.SHA1WithRSA, x509.ECDSAWithSHA1, x509.DSAWithSHA1, x509.MD5WithRSA, x509.MD2WithRSA:
		return true
	}
	return false
}

// signatures checks that no certificate in the chain is signed with SHA-1.
// A root's signature over itself is not checked by anyone and is skipped.
func (c *checker) signatures() {
	n := 0
	for _, cert := range c.chain {
		if selfIssued(cert) {
			continue
		}
		n++
		if weakSignature(cert.SignatureAlgorithm) {
			c.add(RuleChainSignature, Fail, ReasonSHA1, certName(cert), "signed with %s: ask the CA to reissue it signed with SHA-256 or better", cert.SignatureAlgorithm)
		}
	}
	if !c.failed(RuleChainSignature) {
		c.add(RuleChainSignature, Pass, ReasonOK, certName(c.b.Leaf), "no SHA-1 signatures (%d signature(s) checked)", n)
	}
}

func (c *checker) failed(rule Rule) bool {
	for _, r := range c.results {
		if r.Rule == rule && r.Status == Fail {
			return true
		}
	}
	return false
}

// validity checks every certificate of the chain against the clock.
func (c *checker) validity() {
	for _, cert := range c.chain {
		subj := certName(cert)
		left := cert.NotAfter.Sub(c.now)
		switch {
		case c.now.Before(cert.NotBefore):
			c.add(RuleChainValidity, Fail, ReasonNotYetValid, subj, "not valid before %s: check the issuing date and the clock", day(cert.NotBefore))
		case c.now.After(cert.NotAfter):
			c.add(RuleChainValidity, Fail, ReasonExpired, subj, "expired on %s (%d days ago): renew it", day(cert.NotAfter), days(-left))
		case c.opts.WarnWithin > 0 && left < c.opts.WarnWithin:
			c.add(RuleChainValidity, Warn, ReasonExpiresSoon, subj, "expires on %s, in %d days (warning within %d days): renew it before then", day(cert.NotAfter), days(left), days(c.opts.WarnWithin))
		default:
			c.add(RuleChainValidity, Pass, ReasonOK, subj, "valid until %s (%d days left)", day(cert.NotAfter), days(left))
		}
	}
}

func day(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

func days(d time.Duration) int { return int(d / (24 * time.Hour)) }

// aia lists the AIA issuer URLs of the chain with their scheme. seeds/002:
// intermediate certificates "must not include any HTTP-to-HTTPS redirects in
// their AIA (Authority Information Access) section". A redirect cannot be
// seen offline, but an https:// issuer URL has the same effect on a chain
// fetcher that only speaks plain HTTP to AIA locations, so it is flagged.
func (c *checker) aia() {
	found := false
	for _, cert := range c.chain {
		if selfIssued(cert) {
			continue
		}
		for _, u := range cert.IssuingCertificateURL {
			found = true
			subj := certName(cert)
			scheme := "unparsable"
			if pu, err := url.Parse(u); err == nil {
				scheme = strings.ToLower(pu.Scheme)
			}
			switch scheme {
			case "http":
				c.add(RuleChainAIA, Pass, ReasonOK, subj, "AIA issuer URL %s (http)", u)
			case "https":
				c.add(RuleChainAIA, Warn, ReasonAIAHTTPS, subj, "AIA issuer URL %s uses https: Pexip warns that intermediates must not rely on HTTP-to-HTTPS redirects in their AIA, and chain fetchers fetch AIA over plain http; ask the CA for an http:// issuer URL and include the intermediates", u)
			default:
				c.add(RuleChainAIA, Warn, ReasonAIAScheme, subj, "AIA issuer URL %s has scheme %q: chain fetchers expect http://", u, scheme)
			}
		}
	}
	if !found {
		c.add(RuleChainAIA, Pass, ReasonNoAIA, certName(c.b.Leaf), "no AIA issuer URLs: the chain must come complete with the certificate")
	}
}

// certName is how results name a certificate: its common name, else its
// whole subject.
func certName(c *x509.Certificate) string {
	return name(c.Subject.String(), c.Subject.CommonName)
}

func name(full, cn string) string {
	if cn != "" {
		return cn
	}
	if full == "" {
		return "(empty subject)"
	}
	return full
}
