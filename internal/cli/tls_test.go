package cli

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/teamsgate/teamsgate/internal/certcheck/certtest"
	"github.com/teamsgate/teamsgate/internal/tlscheck/peertest"
)

// tlsServe runs a TLS server on 127.0.0.1 until the test ends.
func tlsServe(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				if c.(*tls.Conn).Handshake() == nil {
					io.Copy(io.Discard, c)
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func TestTLSCheckCommand(t *testing.T) {
	pki := certtest.NewPKI(t)
	const name = "node1.contoso.test"
	leaf := pki.Leaf(t, certtest.Template{CN: name, DNSNames: []string{name}})
	cert := tls.Certificate{Certificate: [][]byte{leaf.Cert.Raw, pki.Intermediate.Cert.Raw}, PrivateKey: leaf.Key}
	roots := filepath.Join(t.TempDir(), "roots.pem")
	if err := os.WriteFile(roots, pki.RootsPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	compliant := tlsServe(t, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	legacy := tlsServe(t, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS10})
	mutual := tlsServe(t, &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequestClientCert})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()

	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr string
	}{
		{
			name:   "compliant endpoint",
			args:   []string{"tls", "check", compliant, "--name", name, "--roots", roots},
			code:   ExitOK,
			stdout: []string{"TLS 1.2  accepted", "TLS 1.1  refused", "not tested", "client certificate not requested", ": OK"},
		},
		{
			name:   "legacy versions accepted",
			args:   []string{"tls", "check", legacy, "--name", name, "--roots", roots},
			code:   ExitFindings,
			stdout: []string{"FAIL  tls.version", "[legacy-version-accepted]", "FAILED"},
		},
		{
			name:   "mutual TLS as a conferencing node",
			args:   []string{"tls", "check", mutual, "--name", name, "--roots", roots, "--role", "conferencing-node"},
			code:   ExitOK,
			stdout: []string{"client certificate requested", "serverAuth and clientAuth present"},
		},
		{
			name:   "chain untrusted without --roots",
			args:   []string{"tls", "check", compliant, "--name", name},
			code:   ExitFindings,
			stdout: []string{"FAIL  chain.trust"},
		},
		{name: "closed port", args: []string{"tls", "check", closed}, code: ExitError, stderr: "connection refused: nothing listens on that port"},
		{name: "bad timeout", args: []string{"tls", "check", compliant, "--timeout", "0s"}, code: ExitError, stderr: "--timeout"},
		{name: "bad role", args: []string{"tls", "check", compliant, "--role", "web"}, code: ExitError, stderr: "unknown role"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := certsMain(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errs)
			}
			for _, s := range tc.stdout {
				if !strings.Contains(out, s) {
					t.Errorf("stdout lacks %q:\n%s", s, out)
				}
			}
			if !strings.Contains(errs, tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, errs)
			}
		})
	}

	code, out, errs := certsMain(t, "tls", "check", legacy, "--name", name, "--roots", roots, "-o", "json")
	var doc struct {
		Addr     string `json:"addr"`
		OK       bool   `json:"ok"`
		Versions []struct {
			Version  string `json:"version"`
			Accepted bool   `json:"accepted"`
		} `json:"versions"`
		Untested    []string `json:"untested"`
		Certificate struct {
			Role string `json:"role"`
		} `json:"certificate"`
	}
	if code != ExitFindings || json.Unmarshal([]byte(out), &doc) != nil {
		t.Fatalf("-o json: exit %d, stderr %s, stdout:\n%s", code, errs, out)
	}
	if doc.OK || doc.Addr != legacy || len(doc.Versions) != 4 || !doc.Versions[3].Accepted || len(doc.Untested) == 0 || doc.Certificate.Role != "bot-endpoint" {
		t.Errorf("json document: %+v", doc)
	}
}

// TestTLSCheckNoTLSAnswer pins what tls check says about an endpoint that
// gives no TLS answer: exit 1 with what happened, in text and as a JSON
// document, promptly; never "TLS 1.2 refused".
func TestTLSCheckNoTLSAnswer(t *testing.T) {
	const timeout = 300 * time.Millisecond
	tests := []struct {
		name    string
		addr    string
		failure string
		message string
		answer  string
	}{
		{
			name:    "plain HTTP",
			addr:    peertest.HTTP(t),
			failure: "not-tls",
			message: `not a TLS server: it answered "HTTP/1.1 400 Bad Request"`,
			answer:  "HTTP/1.1 400 Bad Request",
		},
		{
			name:    "SSH banner",
			addr:    peertest.Serve(t, peertest.Banner("SSH-2.0-OpenSSH_9.6\r\n")),
			failure: "not-tls",
			message: `not a TLS server: it answered "SSH-2.0-OpenSSH_9.6"`,
			answer:  "SSH-2.0-OpenSSH_9.6",
		},
		{
			name:    "accepts and never answers",
			addr:    peertest.Serve(t, peertest.Silent),
			failure: "timeout",
			message: "no answer within 300ms (timed out)",
		},
		{
			name:    "resets",
			addr:    peertest.Serve(t, peertest.Reset),
			failure: "reset",
			message: "connection reset by the server",
		},
		{
			name:    "resets after the ClientHello",
			addr:    peertest.Serve(t, peertest.ResetAfterHello),
			failure: "reset",
			message: "connection reset by the server",
		},
		{
			name:    "closes after the ClientHello",
			addr:    peertest.Serve(t, peertest.CloseAfterHello),
			failure: "closed",
			message: "connection closed by the server without an answer",
		},
	}
	type failureDoc struct {
		Addr     string `json:"addr"`
		Failure  string `json:"failure"`
		Message  string `json:"message"`
		Answer   string `json:"answer"`
		ExitCode int    `json:"exit_code"`
	}
	type doc struct {
		Error *failureDoc `json:"error"`
		OK    *bool       `json:"ok"`
	}
	notOK := false
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"tls", "check", tc.addr, "--timeout", timeout.String()}
			start := time.Now()
			code, out, errs := certsMain(t, args...)
			if elapsed := time.Since(start); elapsed > 3*timeout {
				t.Errorf("took %v with --timeout %v; want under 3 × the timeout", elapsed, timeout)
			}
			want := fmt.Sprintf("teamsgate: tls check %q: %s\n", tc.addr, tc.message)
			if code != ExitError || errs != want || out != "" {
				t.Errorf("exit %d, stderr %q, stdout %q; want exit %d, stderr %q, nothing on stdout", code, errs, out, ExitError, want)
			}

			code, out, errs = certsMain(t, append(args, "-o", "json")...)
			var got doc
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("-o json: %v\nstdout:\n%s", err, out)
			}
			wantDoc := doc{Error: &failureDoc{Addr: tc.addr, Failure: tc.failure, Message: fmt.Sprintf("tls check %q: %s", tc.addr, tc.message), Answer: tc.answer, ExitCode: ExitError}, OK: &notOK}
			if diff := cmp.Diff(wantDoc, got); diff != "" {
				t.Errorf("-o json document (-want +got):\n%s", diff)
			}
			if code != ExitError || errs != want {
				t.Errorf("-o json: exit %d, stderr %q; want exit %d, stderr %q", code, errs, ExitError, want)
			}
			if strings.Contains(out+errs, "enable TLS 1.2") || strings.Contains(out+errs, "tls12-refused") {
				t.Errorf("calls it a TLS 1.2 refusal:\n%s%s", out, errs)
			}
		})
	}
}

// TestTLSCheckRefusedAndUnanswered pins the report of servers that do
// answer in TLS: a version refused by alert is "refused", as before, and a
// version whose probe times out or is reset is said as such and does not
// fail the check.
func TestTLSCheckRefusedAndUnanswered(t *testing.T) {
	pki := certtest.NewPKI(t)
	const name = "tc.contoso.test"
	leaf := pki.Leaf(t, certtest.Template{CN: name, DNSNames: []string{name}})
	cert := tls.Certificate{Certificate: [][]byte{leaf.Cert.Raw, pki.Intermediate.Cert.Raw}, PrivateKey: leaf.Key}
	roots := filepath.Join(t.TempDir(), "roots.pem")
	if err := os.WriteFile(roots, pki.RootsPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	only12 := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12}
	accepted12 := "TLS 1.2 accepted TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
	tests := []struct {
		name string
		addr string
		code int
		// lines must be in stdout, compared with runs of spaces as one.
		lines []string
	}{
		{
			name: "TLS 1.2 only",
			addr: tlsServe(t, only12),
			code: ExitOK,
			lines: []string{
				"TLS 1.3 refused", accepted12, "TLS 1.1 refused", "TLS 1.0 refused",
				"PASS tls.version TLS 1.3 refused",
				"PASS tls.version TLS 1.1 refused",
				"17 passed, 0 warnings, 0 failed: OK",
			},
		},
		{
			name: "TLS 1.0 hangs, TLS 1.1 resets",
			addr: peertest.Serve(t, peertest.ByHello(only12, map[uint16]peertest.Behavior{
				tls.VersionTLS10: peertest.Silent,
				tls.VersionTLS11: peertest.ResetAfterHello,
			})),
			code: ExitOK,
			lines: []string{
				"TLS 1.3 refused", accepted12,
				"TLS 1.1 connection reset by the server", "TLS 1.0 no answer (timed out)",
				"PASS tls.version TLS 1.1 connection reset by the server: not accepted, though not refused in TLS either",
				"PASS tls.version TLS 1.0 no answer (timed out): not accepted, though not refused in TLS either",
				"17 passed, 0 warnings, 0 failed: OK",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := certsMain(t, "tls", "check", tc.addr, "--name", name, "--roots", roots, "--timeout", "500ms")
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errs)
			}
			got := map[string]bool{}
			for _, l := range strings.Split(out, "\n") {
				got[strings.Join(strings.Fields(l), " ")] = true
			}
			for _, l := range tc.lines {
				if !got[l] {
					t.Errorf("stdout lacks the line %q:\n%s", l, out)
				}
			}
		})
	}
}
