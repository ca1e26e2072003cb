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
//
// Only a TLS answer counts as a refusal. A probe that got no answer, an
// answer that is not TLS, or a reset is classified as such (Failure), and an
// endpoint that gave no TLS answer at all is a *ConnectError, not a report.
package tlscheck

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/teamsgate/teamsgate/internal/certcheck"
)

// DialFunc opens the TCP connection a probe runs over. Tests and callers with
// their own network (a proxy, a namespace) replace it.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// DefaultTimeout bounds one probe: dial plus handshake.
const DefaultTimeout = 10 * time.Second

// TotalFactor times Options.Timeout is the default time limit of a whole
// check. Versions are probed all at once and suites Parallel at a time, so a
// responsive server needs about seven handshakes' time; an endpoint that
// never answers is given up after one Timeout.
const TotalFactor = 4

// Parallel is how many probes run at once: the four versions together, then
// the suites four at a time.
const Parallel = 4

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
	// Total bounds the whole check; zero means TotalFactor × Timeout.
	// Probes it leaves no time for are reported as timed out, never as
	// refused.
	Total time.Duration
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

	// ReasonVersionUnanswered is a version other than TLS 1.2 whose probe
	// got no TLS answer (timed out, reset…) while other probes did: not
	// accepted, and not refused either.
	ReasonVersionUnanswered certcheck.Reason = "version-unanswered"
	// ReasonTLS12Unanswered is a TLS 1.2 probe that got no TLS answer while
	// other probes did: TLS 1.2 could not be confirmed, which fails.
	ReasonTLS12Unanswered certcheck.Reason = "tls12-unanswered"
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

// Failure says why a probe completed no handshake. Only FailureTLSRefused is
// an answer from a TLS server; every other kind means the probe measured
// nothing. The zero Failure means the probe did not fail.
type Failure string

const (
	// FailureTLSRefused: the server answered in TLS but not with a handshake
	// for what was offered: a TLS alert (protocol_version,
	// handshake_failure…), or a ServerHello choosing a version or suite that
	// was not offered. The only real refusal.
	FailureTLSRefused Failure = "tls-refused"
	// FailureNotTLS: the server answered, but its first bytes are not a TLS
	// record ("HTTP/1.1 400 Bad Request", "SSH-2.0-…").
	FailureNotTLS Failure = "not-tls"
	// FailureTimeout: no answer within the probe's time limit (or the
	// check's total one ran out).
	FailureTimeout Failure = "timeout"
	// FailureReset: the connection was reset (TCP RST) before a TLS answer.
	FailureReset Failure = "reset"
	// FailureClosed: the server closed the connection (TCP FIN) before a
	// TLS answer.
	FailureClosed Failure = "closed"
	// FailureConnRefused: nothing listens on the port (TCP connection
	// refused).
	FailureConnRefused Failure = "connection-refused"
	// FailureDNS: the host name could not be resolved.
	FailureDNS Failure = "dns"
	// FailureUnreachable: no route to the host or its network.
	FailureUnreachable Failure = "unreachable"
	// FailureOther: any other error, such as a dial seam's own.
	FailureOther Failure = "other"
)

// Failures lists every kind in the order the documentation gives them.
var Failures = []Failure{
	FailureTLSRefused, FailureNotTLS, FailureTimeout, FailureReset, FailureClosed,
	FailureConnRefused, FailureDNS, FailureUnreachable, FailureOther,
}

// ParseFailure parses a kind as String writes it; "" is the zero Failure.
func ParseFailure(s string) (Failure, error) {
	if s == "" {
		return "", nil
	}
	for _, f := range Failures {
		if string(f) == s {
			return f, nil
		}
	}
	return "", fmt.Errorf("unknown failure kind %q", s)
}

func (f Failure) String() string { return string(f) }

// Summary is the failure in a few words, as a report line shows it.
func (f Failure) Summary() string {
	switch f {
	case "":
		return ""
	case FailureTLSRefused:
		return "refused"
	case FailureNotTLS:
		return "answered, but not in TLS"
	case FailureTimeout:
		return "no answer (timed out)"
	case FailureReset:
		return "connection reset by the server"
	case FailureClosed:
		return "connection closed by the server without an answer"
	case FailureConnRefused:
		return "connection refused"
	case FailureDNS:
		return "host name not resolved"
	case FailureUnreachable:
		return "host unreachable"
	}
	return "failed"
}

// VersionProbe is the outcome of offering exactly one protocol version.
type VersionProbe struct {
	Version     string `json:"version"`
	Accepted    bool   `json:"accepted"`
	CipherSuite string `json:"cipher_suite,omitempty"`
	// Failure says why a version that was not accepted was not: only
	// FailureTLSRefused is a refusal.
	Failure Failure `json:"failure,omitempty"`
	Error   string  `json:"error,omitempty"`
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
	// Failure says why a suite that was not accepted was not: only
	// FailureTLSRefused is a refusal.
	Failure Failure `json:"failure,omitempty"`
	Error   string  `json:"error,omitempty"`
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

// ConnectError means no probe got a TLS answer: the endpoint cannot be
// reached, does not speak TLS, or never answers. Nothing was measured.
type ConnectError struct {
	Addr string
	// Failure is never FailureTLSRefused or zero.
	Failure Failure
	// Answer is the start of what a server that does not speak TLS sent
	// (FailureNotTLS): its first line, at most 64 bytes.
	Answer string
	// Timeout is the time limit that ran out (FailureTimeout).
	Timeout time.Duration
	// Connected says whether TCP connected before the failure.
	Connected bool
	// Err is the error the probe ended with.
	Err error
}

func (e *ConnectError) Error() string { return fmt.Sprintf("tls check %q: %s", e.Addr, e.Message()) }

// Message says what happened, without the address.
func (e *ConnectError) Message() string {
	switch e.Failure {
	case FailureNotTLS:
		return fmt.Sprintf("not a TLS server: it answered %q", e.Answer)
	case FailureTimeout:
		if !e.Connected {
			return fmt.Sprintf("could not connect within %v (timed out)", e.Timeout)
		}
		return fmt.Sprintf("no answer within %v (timed out)", e.Timeout)
	case FailureReset:
		return "connection reset by the server"
	case FailureClosed:
		return "connection closed by the server without an answer"
	case FailureConnRefused:
		return "connection refused: nothing listens on that port"
	case FailureDNS:
		return fmt.Sprintf("host name not resolved: %v", dnsError(e.Err))
	case FailureUnreachable:
		return fmt.Sprintf("host unreachable: %v", e.Err)
	}
	return fmt.Sprintf("cannot connect: %v", e.Err)
}

func (e *ConnectError) Unwrap() error { return e.Err }

// dnsError is the resolver's own error when err holds one: the dial
// error around it repeats the address.
func dnsError(err error) error {
	var de *net.DNSError
	if errors.As(err, &de) {
		return de
	}
	return err
}

// versions are listed newest first, so the chain comes from the best one.
var versions = []uint16{tls.VersionTLS13, tls.VersionTLS12, tls.VersionTLS11, tls.VersionTLS10}

// Check probes the endpoint. The error is a *ConnectError when no probe got
// a TLS answer (nothing could be measured), ctx's own error when it ends
// first, or unusable options; every finding is a result.
//
// The four versions are probed at once, so an endpoint that is dead or not
// a TLS server costs one Timeout and no suite is probed; then the suites,
// Parallel at a time, within Total.
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
	if opts.Total <= 0 {
		opts.Total = TotalFactor * opts.Timeout
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
	total, cancel := context.WithTimeout(ctx, opts.Total)
	defer cancel()

	rep.Versions = make([]VersionProbe, len(versions))
	attempts := make([]*attempt, len(versions))
	p.each(total, len(versions), func(ctx context.Context, i int) {
		rep.Versions[i], attempts[i] = p.probeVersion(ctx, versions[i])
	}, func(i int) {
		rep.Versions[i] = VersionProbe{Version: tls.VersionName(versions[i])}
		p.skipped(&rep.Versions[i].Failure, &rep.Versions[i].Error)
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if ce := p.unanswered(rep.Versions, attempts); ce != nil {
		return nil, ce
	}
	var chain []*x509.Certificate
	for _, a := range attempts {
		if a != nil && a.state != nil {
			chain = a.state.PeerCertificates
			break
		}
	}
	if anyUpTo12(rep.Versions) {
		ss := suites()
		rep.Suites = make([]SuiteProbe, len(ss))
		p.each(total, len(ss), func(ctx context.Context, i int) {
			rep.Suites[i] = p.probeSuite(ctx, ss[i])
		}, func(i int) {
			rep.Suites[i] = suiteProbe(ss[i])
			p.skipped(&rep.Suites[i].Failure, &rep.Suites[i].Error)
		})
		if err := ctx.Err(); err != nil {
			return nil, err
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

// unanswered returns the ConnectError of the first version probe when no
// probe was accepted or refused in TLS: the endpoint said nothing in TLS,
// so there is nothing to judge.
func (p *prober) unanswered(vs []VersionProbe, as []*attempt) *ConnectError {
	for _, v := range vs {
		if v.Accepted || v.Failure == FailureTLSRefused {
			return nil
		}
	}
	// The first probe speaks for all, unless another saw what a server
	// that is not TLS answers.
	i := 0
	for j, v := range vs {
		if v.Failure == FailureNotTLS {
			i = j
			break
		}
	}
	ce := &ConnectError{Addr: p.opts.Addr, Failure: vs[i].Failure, Timeout: min(p.opts.Timeout, p.opts.Total), Err: errors.New(vs[i].Error)}
	if a := as[i]; a != nil {
		ce.Answer, ce.Connected, ce.Err = a.answer, a.connected, a.err
	}
	return ce
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
	opts Options

	mu     sync.Mutex
	client ClientCertProbe
	// verdictRead is set once the server's answer to an empty client
	// certificate has been awaited; once is enough.
	verdictRead bool
}

// each runs probe for 0 ≤ i < n, Parallel at a time, each within its own
// Timeout under ctx, and returns when all are done. A probe that cannot
// start before ctx ends gets skip instead.
func (p *prober) each(ctx context.Context, n int, probe func(context.Context, int), skip func(int)) {
	sem := make(chan struct{}, Parallel)
	var wg sync.WaitGroup
	for i := range n {
		if ctx.Err() != nil {
			skip(i)
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			skip(i)
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			pctx, cancel := context.WithTimeout(ctx, p.opts.Timeout)
			defer cancel()
			probe(pctx, i)
		})
	}
	wg.Wait()
}

// skipped fills in a probe the check's total time limit left no room for.
func (p *prober) skipped(f *Failure, msg *string) {
	*f = FailureTimeout
	*msg = fmt.Sprintf("not probed: the check's time limit of %v ran out", p.opts.Total)
}

// attempt is what one handshake showed, whether or not it completed.
type attempt struct {
	state     *tls.ConnectionState
	requested bool
	err       error
	// failure classifies err when no handshake completed.
	failure Failure
	// connected says whether TCP connected.
	connected bool
	// answer is the start of a non-TLS answer (FailureNotTLS).
	answer string
}

// handshake runs one handshake with cfg within ctx. The server's choice of
// version and suite is captured in VerifyConnection, which runs as soon as
// the server's certificate arrives, so a server that then insists on a
// client certificate still counts as having accepted them.
func (p *prober) handshake(ctx context.Context, cfg *tls.Config) *attempt {
	a := &attempt{}
	raw, err := p.opts.Dial(ctx, "tcp", p.opts.Addr)
	if err != nil {
		a.err = err
		a.failure = classify(err, nil)
		return a
	}
	a.connected = true
	rec := &recorder{Conn: raw}
	defer raw.Close()
	if dl, ok := ctx.Deadline(); ok {
		raw.SetDeadline(dl)
	}
	cfg.ServerName = p.opts.ServerName
	cfg.InsecureSkipVerify = true // the chain is judged by certcheck, not here
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		a.state = &cs
		return nil
	}
	cfg.GetClientCertificate = func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
		a.requested = true
		p.mu.Lock()
		defer p.mu.Unlock()
		if !p.client.Requested {
			p.client.Requested = true
			for _, dn := range cri.AcceptableCAs {
				p.client.AcceptableCAs = append(p.client.AcceptableCAs, dnString(dn))
			}
		}
		return &tls.Certificate{}, nil
	}
	conn := tls.Client(rec, cfg)
	a.err = conn.HandshakeContext(ctx)
	if a.err != nil && a.state == nil {
		a.failure = classify(a.err, rec.head)
		if a.failure == FailureNotTLS {
			a.answer = rec.firstLine(ctx)
		}
	}
	p.mu.Lock()
	claim := a.requested && !p.verdictRead
	if claim {
		p.verdictRead = true
	}
	p.mu.Unlock()
	if claim {
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
		if remoteAlert(rerr) {
			p.mu.Lock()
			p.client.Rejected = rerr.Error()
			p.mu.Unlock()
		}
	}
	return a
}

// remoteAlert reports whether err is a TLS alert the server sent.
func remoteAlert(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "remote error"
}

// classify says why a handshake failed, from its error and the first bytes
// the server sent (head). A TLS alert is a refusal; bytes that are not a
// TLS record are not TLS, whatever the error; then transport failures; and
// a TLS answer our client could not go on with (a version or suite it did
// not offer) is a refusal too.
func classify(err error, head []byte) Failure {
	var de *net.DNSError
	switch {
	case remoteAlert(err):
		return FailureTLSRefused
	case len(head) > 0 && !tlsRecord(head):
		return FailureNotTLS
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, syscall.ETIMEDOUT) || isTimeout(err):
		return FailureTimeout
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE):
		return FailureReset
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return FailureClosed
	case errors.Is(err, syscall.ECONNREFUSED):
		return FailureConnRefused
	case errors.As(err, &de):
		return FailureDNS
	case errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH):
		return FailureUnreachable
	case len(head) > 0:
		return FailureTLSRefused
	}
	return FailureOther
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// tlsRecord reports whether head starts like the first record a TLS server
// sends: a handshake (22) or alert (21) record of major version 3 (RFC 8446
// section 5.1, RFC 5246 section 6.2.1).
func tlsRecord(head []byte) bool {
	if head[0] != 22 && head[0] != 21 {
		return false
	}
	return len(head) < 2 || head[1] == 3
}

// headMax is how much of the server's first bytes a recorder keeps.
const headMax = 64

// recorder keeps the first bytes the server sends, so that a failure can
// say what a server that does not speak TLS answered.
type recorder struct {
	net.Conn
	head []byte
}

func (r *recorder) Read(b []byte) (int, error) {
	n, err := r.Conn.Read(b)
	if room := headMax - len(r.head); room > 0 {
		r.head = append(r.head, b[:min(n, room)]...)
	}
	return n, err
}

// firstLine is the first line of what the server sent, reading a little
// more (a quarter of a second at most, within ctx) when the line has not
// ended yet.
func (r *recorder) firstLine(ctx context.Context) string {
	if !bytes.ContainsAny(r.head, "\r\n") && len(r.head) < headMax {
		dl := time.Now().Add(250 * time.Millisecond)
		if d, ok := ctx.Deadline(); ok && d.Before(dl) {
			dl = d
		}
		r.Conn.SetReadDeadline(dl)
		buf := make([]byte, headMax-len(r.head))
		n, _ := r.Conn.Read(buf)
		r.head = append(r.head, buf[:n]...)
	}
	line, _, _ := bytes.Cut(r.head, []byte("\n"))
	if line = bytes.TrimSuffix(line, []byte("\r")); len(line) == 0 {
		line = r.head
	}
	return string(line)
}

func (p *prober) probeVersion(ctx context.Context, v uint16) (VersionProbe, *attempt) {
	cfg := &tls.Config{MinVersion: v, MaxVersion: v}
	if v < tls.VersionTLS13 {
		cfg.CipherSuites = suiteIDs(suites())
	}
	vp := VersionProbe{Version: tls.VersionName(v)}
	a := p.handshake(ctx, cfg)
	if a.state != nil && a.state.Version == v {
		vp.Accepted = true
		vp.CipherSuite = tls.CipherSuiteName(a.state.CipherSuite)
		return vp, a
	}
	vp.Failure, vp.Error = a.outcome()
	return vp, a
}

// outcome is the failure kind and text of an attempt that was not
// accepted.
func (a *attempt) outcome() (Failure, string) {
	if a.err == nil {
		// A handshake under another version or suite than offered:
		// crypto/tls never completes one, but if it did, it is no
		// acceptance of what was offered.
		return FailureTLSRefused, "the server chose what was not offered"
	}
	f := a.failure
	if f == "" {
		f = FailureTLSRefused
	}
	return f, a.err.Error()
}

func suiteProbe(s *tls.CipherSuite) SuiteProbe {
	return SuiteProbe{Name: s.Name, ID: fmt.Sprintf("0x%04X", s.ID), Weak: weak(s.Name), Insecure: s.Insecure}
}

func (p *prober) probeSuite(ctx context.Context, s *tls.CipherSuite) SuiteProbe {
	sp := suiteProbe(s)
	cfg := &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{s.ID}}
	a := p.handshake(ctx, cfg)
	if a.state != nil && a.state.CipherSuite == s.ID {
		sp.Accepted = true
		sp.Version = tls.VersionName(a.state.Version)
		return sp
	}
	sp.Failure, sp.Error = a.outcome()
	return sp
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
		case v.Failure != "" && v.Failure != FailureTLSRefused && v.Version == "TLS 1.2":
			add(RuleVersion, certcheck.Fail, ReasonTLS12Unanswered, v.Version, "%s, though the server answered other probes in TLS: TLS 1.2 could not be confirmed, and the Teams Connector speaks TLS 1.2 only (Pexip); run the check again", v.Failure.Summary())
		case v.Failure != "" && v.Failure != FailureTLSRefused:
			add(RuleVersion, certcheck.Pass, ReasonVersionUnanswered, v.Version, "%s: not accepted, though not refused in TLS either", v.Failure.Summary())
		case v.Version == "TLS 1.2":
			add(RuleVersion, certcheck.Fail, ReasonNoTLS12, v.Version, "refused: the Teams Connector speaks TLS 1.2 only (Pexip) and Microsoft's services need it; enable TLS 1.2")
		default:
			add(RuleVersion, certcheck.Pass, ReasonVersionRefused, v.Version, "refused")
		}
	}
	var accepted []string
	weakTested, weakAccepted := 0, 0
	unanswered := map[Failure]int{}
	for _, s := range rep.Suites {
		if s.Weak {
			weakTested++
		}
		if !s.Accepted && s.Failure != "" && s.Failure != FailureTLSRefused {
			unanswered[s.Failure]++
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
		msg := fmt.Sprintf("accepted %d of %d suites offered one at a time (%d RC4/3DES suites offered, %d accepted): %s",
			len(accepted), len(rep.Suites), weakTested, weakAccepted, strings.Join(accepted, ", "))
		if n := unansweredText(unanswered); n != "" {
			msg += "; no TLS answer, so neither accepted nor refused: " + n
		}
		add(RuleCipher, certcheck.Pass, ReasonSuitesAccepted, "TLS 1.0-1.2", "%s", msg)
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

// unansweredText counts probes by failure kind, in the order of Failures:
// "2 timeout, 1 reset".
func unansweredText(byKind map[Failure]int) string {
	var parts []string
	for _, f := range Failures {
		if n := byKind[f]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, f))
		}
	}
	return strings.Join(parts, ", ")
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
