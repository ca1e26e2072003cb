package tlscheck

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/teamsgate/teamsgate/internal/certcheck"
)

func TestFailureTLSRoundTrip(t *testing.T) {
	for _, f := range append([]Failure{""}, Failures...) {
		got, err := ParseFailure(f.String())
		if err != nil || got != f {
			t.Errorf("ParseFailure(%q) = %q, %v", f.String(), got, err)
		}
		if f != "" && f.Summary() == "" {
			t.Errorf("%q has no summary", f)
		}
	}
	if _, err := ParseFailure("refused"); err == nil {
		t.Errorf("ParseFailure(%q) accepted an unknown kind", "refused")
	}
}

func TestClassifyTLS(t *testing.T) {
	op := func(op string, err error) error { return &net.OpError{Op: op, Net: "tcp", Err: err} }
	sys := func(call string, errno syscall.Errno) error { return os.NewSyscallError(call, errno) }
	tlsHead := []byte{22, 3, 3, 0, 90}
	tests := []struct {
		name string
		err  error
		head []byte
		want Failure
	}{
		{name: "server alert", err: op("remote error", errors.New("tls: protocol version not supported")), head: []byte{21, 3, 3, 0, 2}, want: FailureTLSRefused},
		{name: "server hello with another version", err: errors.New("tls: server selected unsupported protocol version 303"), head: tlsHead, want: FailureTLSRefused},
		{name: "HTTP answer", err: tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, head: []byte("HTTP/1.1 400 Bad Request\r\n"), want: FailureNotTLS},
		{name: "SSH banner then close", err: io.EOF, head: []byte("SSH-2.0-OpenSSH_9.6\r\n"), want: FailureNotTLS},
		{name: "handshake deadline", err: context.DeadlineExceeded, want: FailureTimeout},
		{name: "read deadline", err: op("read", os.ErrDeadlineExceeded), want: FailureTimeout},
		{name: "timeout mid-handshake", err: op("read", os.ErrDeadlineExceeded), head: tlsHead, want: FailureTimeout},
		{name: "reset on read", err: op("read", sys("read", syscall.ECONNRESET)), want: FailureReset},
		{name: "reset on connect", err: op("dial", sys("connect", syscall.ECONNRESET)), want: FailureReset},
		{name: "broken pipe on write", err: op("write", sys("write", syscall.EPIPE)), want: FailureReset},
		{name: "reset mid-handshake", err: op("read", sys("read", syscall.ECONNRESET)), head: tlsHead, want: FailureReset},
		{name: "closed", err: io.EOF, want: FailureClosed},
		{name: "closed mid-record", err: io.ErrUnexpectedEOF, head: tlsHead, want: FailureClosed},
		{name: "connection refused", err: op("dial", sys("connect", syscall.ECONNREFUSED)), want: FailureConnRefused},
		{name: "DNS", err: op("dial", &net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true}), want: FailureDNS},
		{name: "no route", err: op("dial", sys("connect", syscall.EHOSTUNREACH)), want: FailureUnreachable},
		{name: "network down", err: op("dial", sys("connect", syscall.ENETUNREACH)), want: FailureUnreachable},
		{name: "anything else", err: errors.New("proxy said no"), want: FailureOther},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := classify(tc.err, tc.head); got != tc.want {
				t.Errorf("classify(%v, %q) = %q, want %q", tc.err, tc.head, got, tc.want)
			}
		})
	}
}

// TestJudgeTLSVersions pins the verdict per version: only a TLS refusal is
// "refused"; a probe without a TLS answer is said as such, fails only for
// TLS 1.2 (which must be confirmed) and never as tls12-refused.
func TestJudgeTLSVersions(t *testing.T) {
	type outcome struct {
		Status  certcheck.Status
		Reason  certcheck.Reason
		Message string
	}
	tests := []struct {
		name string
		v    VersionProbe
		want outcome
	}{
		{
			name: "TLS 1.2 refused by alert",
			v:    VersionProbe{Version: "TLS 1.2", Failure: FailureTLSRefused},
			want: outcome{certcheck.Fail, ReasonNoTLS12, "refused: the Teams Connector speaks TLS 1.2 only (Pexip) and Microsoft's services need it; enable TLS 1.2"},
		},
		{
			name: "TLS 1.2 timed out",
			v:    VersionProbe{Version: "TLS 1.2", Failure: FailureTimeout},
			want: outcome{certcheck.Fail, ReasonTLS12Unanswered, "no answer (timed out), though the server answered other probes in TLS: TLS 1.2 could not be confirmed, and the Teams Connector speaks TLS 1.2 only (Pexip); run the check again"},
		},
		{
			name: "TLS 1.1 refused by alert",
			v:    VersionProbe{Version: "TLS 1.1", Failure: FailureTLSRefused},
			want: outcome{certcheck.Pass, ReasonVersionRefused, "refused"},
		},
		{
			name: "TLS 1.0 timed out",
			v:    VersionProbe{Version: "TLS 1.0", Failure: FailureTimeout},
			want: outcome{certcheck.Pass, ReasonVersionUnanswered, "no answer (timed out): not accepted, though not refused in TLS either"},
		},
		{
			name: "TLS 1.3 reset",
			v:    VersionProbe{Version: "TLS 1.3", Failure: FailureReset},
			want: outcome{certcheck.Pass, ReasonVersionUnanswered, "connection reset by the server: not accepted, though not refused in TLS either"},
		},
		{
			name: "TLS 1.0 accepted",
			v:    VersionProbe{Version: "TLS 1.0", Accepted: true, CipherSuite: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"},
			want: outcome{certcheck.Fail, ReasonLegacyVersion, "accepted (with TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA): disable TLS 1.0; Microsoft Teams and the Pexip Teams Connector require TLS 1.2"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs := judge(&Report{Addr: "127.0.0.1:443", Versions: []VersionProbe{tc.v}})
			r := rs[0]
			if diff := cmp.Diff(tc.want, outcome{r.Status, r.Reason, r.Message}); diff != "" {
				t.Errorf("verdict (-want +got):\n%s", diff)
			}
		})
	}
}

// TestJudgeTLSSuitesUnanswered pins that suites without a TLS answer are
// counted apart from the refused ones.
func TestJudgeTLSSuitesUnanswered(t *testing.T) {
	rep := &Report{Suites: []SuiteProbe{
		{Name: "A", Accepted: true, Version: "TLS 1.2"},
		{Name: "B", Failure: FailureTLSRefused},
		{Name: "C", Weak: true, Failure: FailureTimeout},
		{Name: "D", Failure: FailureTimeout},
		{Name: "E", Failure: FailureReset},
	}}
	var got string
	for _, r := range judge(rep) {
		if r.Rule == RuleCipher {
			got = fmt.Sprintf("%s %s: %s", r.Status, r.Reason, r.Message)
		}
	}
	want := "pass suites-accepted: accepted 1 of 5 suites offered one at a time (1 RC4/3DES suites offered, 0 accepted): A; no TLS answer, so neither accepted nor refused: 2 timeout, 1 reset"
	if got != want {
		t.Errorf("cipher result:\n got %s\nwant %s", got, want)
	}
}
