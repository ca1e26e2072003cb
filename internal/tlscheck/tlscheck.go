// Package tlscheck connects to a TLS endpoint and reports what it really
// offers: which protocol versions it accepts, which cipher suites, whether a
// weak suite gets through, whether it asks for a client certificate, and the
// certificate chain it presents, run through the same rules as
// certcheck.
//
// seeds/002 ("Network and certificate requirements"): "The Teams Connector
// supports connections over TLSv1.2 only, and does not support RC2, RC4, DES
// and 3DES ciphers"; seeds/000 and 001 require TLS 1.2 on every endpoint.
//
// Probing uses Go's crypto/tls with explicit MinVersion, MaxVersion and
// CipherSuites, which lets the client offer TLS 1.0/1.1, RSA key exchange,
// 3DES and RC4 without any GODEBUG setting (the GODEBUG settings tls10server,
// tlsrsakex and tls3des change only the defaults). What crypto/tls cannot
// offer at all is listed in Report.Untested, never reported as refused.
package tlscheck

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/teamsgate/teamsgate/internal/certcheck"
)

// DialFunc opens the TCP connection a probe runs over. Tests and callers with
// their own network (a proxy, a namespace) replace it.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// DefaultTimeout bounds one probe: dial plus handshake.
const DefaultTimeout = 10 * time.Second

// Options say what to probe and how to judge the certificate.
type Options struct {
	// Addr is host:port.
	Addr string
	// ServerName is sent as SNI. Empty means the host of Addr when it is a
	// name, and no SNI when it is an IP address.
	ServerName string
	// Dial defaults to a net.Dialer.
	Dial DialFunc
	// Timeout bounds each probe; zero means DefaultTimeout.
	Timeout time.Duration
	// Cert judges the presented chain. Empty Names means the server name
	// (or the IP address) that was connected to. Role defaults to
	// bot-endpoint, the rules of a plain TLS server.
	Cert certcheck.Options
}

// Rules of this package's results; certificate results keep certcheck's.
const (
	RuleVersion    certcheck.Rule = "tls.version"
	RuleCipher     certcheck.Rule = "tls.cipher"
	RuleClientCert certcheck.Rule = "tls.client-cert"
)

// Reasons of this package's results.
const (
	ReasonLegacyVersion       certcheck.Reason = "legacy-version-accepted"
	ReasonVersionRefused      certcheck.Reason = "version-refused"
	ReasonNoTLS12             certcheck.Reason = "tls12-refused"
	ReasonWeakSuite           certcheck.Reason = "weak-suite-accepted"
	ReasonSuitesAccepted      certcheck.Reason = "suites-accepted"
	ReasonClientCertRequested certcheck.Reason = "client-cert-requested"
	ReasonNoClientCertRequest certcheck.Reason = "client-cert-not-requested"
)

// Untested lists the weak suite families that crypto/tls cannot offer, so
// that a report never claims they were refused.
var Untested = []string{
	"RC2 (crypto/tls implements no RC2 suite)",
	"single DES (removed from crypto/tls)",
	"EXPORT suites (never in crypto/tls)",
	"NULL encryption suites (never in crypto/tls)",
	"anonymous DH/ECDH suites (never in crypto/tls)",
	"DHE key exchange, including DHE 3DES (never in crypto/tls)",
}

// VersionProbe is the outcome of offering exactly one protocol version.
type VersionProbe struct {
	Version     string `json:"version"`
	Accepted    bool   `json:"accepted"`
	CipherSuite string `json:"cipher_suite,omitempty"`
	Error       string `json:"error,omitempty"`
}

// SuiteProbe is the outcome of offering exactly one TLS 1.0–1.2 cipher
// suite.
type SuiteProbe struct {
	Name     string `json:"name"`
	ID       string `json:"id"`
	Accepted bool   `json:"accepted"`
	// Version is the protocol version negotiated with the suite.
	Version string `json:"version,omitempty"`
	// Weak marks RC4 and 3DES, the families the seeds forbid that
	// crypto/tls can offer.
	Weak bool `json:"weak"`
	// Insecure marks suites crypto/tls lists as insecure (weak ones, and
	// also CBC-SHA256 and RSA key exchange ones).
	Insecure bool `json:"insecure"`
}

// ClientCertProbe says whether the server asked for a client certificate
// (mutual TLS, as the Teams Connector and Pexip Infinity use).
type ClientCertProbe struct {
	Requested     bool     `json:"requested"`
	AcceptableCAs []string `json:"acceptable_cas,omitempty"`
	// Rejected is the server's answer to our empty certificate, when it
	// refused to go on without one.
	Rejected string `json:"rejected,omitempty"`
}

// Report is everything a probe found.
type Report struct {
	Addr       string             `json:"addr"`
	ServerName string             `json:"server_name,omitempty"`
	Versions   []VersionProbe     `json:"versions"`
	Suites     []SuiteProbe       `json:"suites"`
	Untested   []string           `json:"untested"`
	ClientCert ClientCertProbe    `json:"client_cert"`
	Results    []certcheck.Result `json:"results"`
	// Certificate is the presented chain checked by certcheck; nil when no
	// handshake succeeded.
	Certificate *certcheck.Report `json:"certificate,omitempty"`
}

// Failed reports whether the endpoint fails a pipeline: any failed result
// here or in the certificate report, or under strict any warning.
func (r *Report) Failed(strict bool) bool {
	all := certcheck.Report{Results: r.Results}
	if all.Failed(strict) {
		return true
	}
	return r.Certificate != nil && r.Certificate.Failed(strict)
}

// ConnectError means the endpoint could not be reached at all: nothing was
// probed.
type ConnectError struct {
	Addr string
	Err  error
}

func (e *ConnectError) Error() string { return fmt.Sprintf("connect to %q: %v", e.Addr, e.Err) }

func (e *ConnectError) Unwrap() error { return e.Err }

// versions are probed newest first, so the chain comes from the best one.
var versions = []uint16{tls.VersionTLS13, tls.VersionTLS12, tls.VersionTLS11, tls.VersionTLS10}

// Check probes the endpoint. The error is for an endpoint that cannot be
// reached (a *ConnectError) or unusable options; every finding is a result.
func Check(ctx context.Context, opts Options) (*Report, error) {
	host, _, err := net.SplitHostPort(opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", opts.Addr, err)
	}
	if opts.Cert.Now == nil {
		return nil, errors.New("tlscheck: Options.Cert.Now is nil")
	}
	if opts.ServerName == "" {
		if _, err := netip.ParseAddr(host); err != nil {
			opts.ServerName = host
		}
	}
	if opts.Dial == nil {
		opts.Dial = (&net.Dialer{}).DialContext
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Cert.Role == "" {
		opts.Cert.Role = certcheck.RoleBotEndpoint
	}
	if len(opts.Cert.Names) == 0 {
		n := opts.ServerName
		if n == "" {
			n = host
		}
		opts.Cert.Names = []string{n}
	}
	p := &prober{opts: opts}
	rep := &Report{Addr: opts.Addr, ServerName: opts.ServerName, Untested: Untested}

	var chain []*x509.Certificate
	for _, v := range versions {
		vp, st, err := p.probeVersion(ctx, v)
		if err != nil {
			return nil, err
		}
		rep.Versions = append(rep.Versions, vp)
		if chain == nil && st != nil {
			chain = st.PeerCertificates
		}
	}
	if anyUpTo12(rep.Versions) {
		for _, s := range suites() {
			sp, err := p.probeSuite(ctx, s)
			if err != nil {
				return nil, err
			}
			rep.Suites = append(rep.Suites, sp)
		}
	}
	rep.ClientCert = p.client
	rep.Results = judge(rep)
	if len(chain) > 0 {
		b := &certcheck.Bundle{Format: certcheck.FormatTLS, Leaf: chain[0], Intermediates: chain[1:]}
		cr, err := certcheck.Check(b, opts.Cert)
		if err != nil {
			return nil, err
		}
		rep.Certificate = cr
	}
	return rep, nil
}

// anyUpTo12 reports whether a version below TLS 1.3 was accepted: only
// then can TLS 1.0-1.2 suites be probed.
func anyUpTo12(vs []VersionProbe) bool {
	for _, v := range vs {
		if v.Accepted && v.Version != tls.VersionName(tls.VersionTLS13) {
			return true
		}
	}
	return false
}

type prober struct {
	opts   Options
	client ClientCertProbe
	// verdictRead is set once the server's answer to an empty client
	// certificate has been awaited; once is enough.
	verdictRead bool
}

// attempt is what one handshake showed, whether or not it completed.
type attempt struct {
	state     *tls.ConnectionState
	requested bool
	err       error
}

// handshake runs one handshake with cfg. The server's choice of version
// and suite is captured in VerifyConnection, which runs as soon as the
// server's certificate arrives, so a server that then insists on a client
// certificate still counts as having accepted them.
func (p *prober) handshake(ctx context.Context, cfg *tls.Config) (*attempt, error) {
	ctx, cancel := context.WithTimeout(ctx, p.opts.Timeout)
	defer cancel()
	raw, err := p.opts.Dial(ctx, "tcp", p.opts.Addr)
	if err != nil {
		return nil, &ConnectError{Addr: p.opts.Addr, Err: err}
	}
	defer raw.Close()
	if dl, ok := ctx.Deadline(); ok {
		raw.SetDeadline(dl)
	}
	a := &attempt{}
	cfg.ServerName = p.opts.ServerName
	cfg.InsecureSkipVerify = true // the chain is judged by certcheck, not here
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		a.state = &cs
		return nil
	}
	cfg.GetClientCertificate = func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
		a.requested = true
		if !p.client.Requested {
			p.client.Requested = true
			for _, dn := range cri.AcceptableCAs {
				p.client.AcceptableCAs = append(p.client.AcceptableCAs, dnString(dn))
			}
		}
		return &tls.Certificate{}, nil
	}
	conn := tls.Client(raw, cfg)
	a.err = conn.HandshakeContext(ctx)
	if a.requested && !p.verdictRead {
		p.verdictRead = true
		// In TLS 1.3 the server judges our empty certificate after our
		// handshake is done; its verdict is the next thing it sends.
		rerr := a.err
		if rerr == nil {
			rctx, rcancel := context.WithTimeout(ctx, min(p.opts.Timeout, time.Second))
			if dl, ok := rctx.Deadline(); ok {
				raw.SetReadDeadline(dl)
			}
			_, rerr = conn.Read(make([]byte, 1))
			rcancel()
		}
		// Only a TLS alert from the server is a verdict; a timeout or a
		// plain close says nothing about the certificate.
		var oe *net.OpError
		if errors.As(rerr, &oe) && oe.Op == "remote error" {
			p.client.Rejected = rerr.Error()
		}
	}
	return a, nil
}

func (p *prober) probeVersion(ctx context.Context, v uint16) (VersionProbe, *tls.ConnectionState, error) {
	cfg := &tls.Config{MinVersion: v, MaxVersion: v}
	if v < tls.VersionTLS13 {
		cfg.CipherSuites = suiteIDs(suites())
	}
	vp := VersionProbe{Version: tls.VersionName(v)}
	a, err := p.handshake(ctx, cfg)
	if err != nil {
		return vp, nil, err
	}
	if a.state != nil && a.state.Version == v {
		vp.Accepted = true
		vp.CipherSuite = tls.CipherSuiteName(a.state.CipherSuite)
		return vp, a.state, nil
	}
	if a.err != nil {
		vp.Error = a.err.Error()
	}
	return vp, nil, nil
}

func (p *prober) probeSuite(ctx context.Context, s *tls.CipherSuite) (SuiteProbe, error) {
	sp := SuiteProbe{Name: s.Name, ID: fmt.Sprintf("0x%04X", s.ID), Weak: weak(s.Name), Insecure: s.Insecure}
	cfg := &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{s.ID}}
	a, err := p.handshake(ctx, cfg)
	if err != nil {
		return sp, err
	}
	if a.state != nil && a.state.CipherSuite == s.ID {
		sp.Accepted = true
		sp.Version = tls.VersionName(a.state.Version)
	}
	return sp, nil
}

// suites are every TLS 1.0–1.2 suite crypto/tls can offer, secure and
// insecure, in its own order.
func suites() []*tls.CipherSuite {
	var out []*tls.CipherSuite
	for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		for _, v := range s.SupportedVersions {
			if v <= tls.VersionTLS12 {
				out = append(out, s)
				break
			}
		}
	}
	return out
}

func suiteIDs(ss []*tls.CipherSuite) []uint16 {
	ids := make([]uint16, len(ss))
	for i, s := range ss {
		ids[i] = s.ID
	}
	return ids
}

// weak reports the families the seeds forbid (RC2, RC4, DES, 3DES) and the
// ones no one should accept (EXPORT, NULL), by IANA suite name.
func weak(name string) bool {
	for _, w := range []string{"_RC2_", "_RC4_", "_DES_", "_3DES_", "EXPORT", "_NULL_"} {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

// judge turns the probes into results.
func judge(rep *Report) []certcheck.Result {
	var out []certcheck.Result
	add := func(rule certcheck.Rule, st certcheck.Status, r certcheck.Reason, subj, format string, args ...any) {
		out = append(out, certcheck.Result{Rule: rule, Status: st, Reason: r, Subject: subj, Message: fmt.Sprintf(format, args...)})
	}
	for _, v := range rep.Versions {
		switch {
		case v.Accepted && (v.Version == "TLS 1.0" || v.Version == "TLS 1.1"):
			add(RuleVersion, certcheck.Fail, ReasonLegacyVersion, v.Version, "accepted (with %s): disable %s; Microsoft Teams and the Pexip Teams Connector require TLS 1.2", v.CipherSuite, v.Version)
		case v.Accepted:
			add(RuleVersion, certcheck.Pass, certcheck.ReasonOK, v.Version, "accepted (with %s)", v.CipherSuite)
		case v.Version == "TLS 1.2":
			add(RuleVersion, certcheck.Fail, ReasonNoTLS12, v.Version, "refused: the Teams Connector speaks TLS 1.2 only (Pexip) and Microsoft's services need it; enable TLS 1.2")
		default:
			add(RuleVersion, certcheck.Pass, ReasonVersionRefused, v.Version, "refused")
		}
	}
	var accepted []string
	weakTested, weakAccepted := 0, 0
	for _, s := range rep.Suites {
		if s.Weak {
			weakTested++
		}
		if !s.Accepted {
			continue
		}
		accepted = append(accepted, s.Name)
		if s.Weak {
			weakAccepted++
			add(RuleCipher, certcheck.Fail, ReasonWeakSuite, s.Name, "accepted with %s: disable RC4 and 3DES suites (the Teams Connector supports no RC2, RC4, DES or 3DES)", s.Version)
		}
	}
	if len(rep.Suites) > 0 {
		add(RuleCipher, certcheck.Pass, ReasonSuitesAccepted, "TLS 1.0-1.2", "accepted %d of %d suites offered one at a time (%d RC4/3DES suites offered, %d accepted): %s",
			len(accepted), len(rep.Suites), weakTested, weakAccepted, strings.Join(accepted, ", "))
	}
	if rep.ClientCert.Requested {
		msg := "the server requests a client certificate (mutual TLS)"
		if rep.ClientCert.Rejected != "" {
			msg += "; without one it refused to go on: " + rep.ClientCert.Rejected
		}
		add(RuleClientCert, certcheck.Pass, ReasonClientCertRequested, rep.Addr, "%s", msg)
	} else {
		add(RuleClientCert, certcheck.Pass, ReasonNoClientCertRequest, rep.Addr, "the server does not request a client certificate")
	}
	return out
}

// dnString renders a DER distinguished name from a CertificateRequest.
func dnString(der []byte) string {
	var seq pkix.RDNSequence
	if rest, err := asn1.Unmarshal(der, &seq); err != nil || len(rest) > 0 {
		return fmt.Sprintf("(unparsable name, %d bytes)", len(der))
	}
	var n pkix.Name
	n.FillFromRDNSequence(&seq)
	return n.String()
}
