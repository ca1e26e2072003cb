package cli

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/teamsgate/teamsgate/internal/certcheck/certtest"
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
		{name: "closed port", args: []string{"tls", "check", closed}, code: ExitError, stderr: "connect to"},
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
