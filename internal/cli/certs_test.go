package cli

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/teamsgate/teamsgate/internal/certcheck/certtest"
)

// certsMain runs the command line as Main does, with the test clock.
func certsMain(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := mainWith(context.Background(), args, streams{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, now: certtest.Now})
	return code, out.String(), errb.String()
}

// certFiles writes a PKI's files for the command line tests.
type certFiles struct {
	dir                                             string
	roots, tcPFX, tcPEM, nodePEM, nodeKey, botPEM   string
	soonPEM, pw, pwCRLF, keyOnly, corrupt, otherKey string
}

func writeCertFiles(t *testing.T) certFiles {
	t.Helper()
	pki := certtest.NewPKI(t)
	dir := t.TempDir()
	w := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tc := pki.Leaf(t, certtest.Template{CN: "tc-eu.contoso.com", DNSNames: []string{"tc-eu.contoso.com", "tc-us.contoso.com"}})
	node := pki.Leaf(t, certtest.Template{CN: "meet.contoso.com", DNSNames: []string{"meet.contoso.com", "node1.contoso.com", "node2.contoso.com"}})
	bot := pki.Leaf(t, certtest.Template{CN: "bot.contoso.com", DNSNames: []string{"bot.contoso.com"}, EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, Key: certtest.ECDSA256})
	soon := pki.Leaf(t, certtest.Template{CN: "bot.contoso.com", DNSNames: []string{"bot.contoso.com"}, NotAfter: certtest.Epoch.Add(10 * 24 * time.Hour)})
	inter := pki.Intermediate.Cert
	return certFiles{
		dir:      dir,
		roots:    w("roots.pem", pki.RootsPEM()),
		tcPFX:    w("tc.pfx", certtest.PFX(t, tc.Key, tc.Cert, []*x509.Certificate{inter}, "s3cret")),
		tcPEM:    w("tc.pem", append(certtest.CertsPEM(tc.Cert, inter), certtest.KeyPEM(t, tc.Key)...)),
		nodePEM:  w("node.pem", certtest.CertsPEM(inter, node.Cert)),
		nodeKey:  w("node.key", certtest.KeyPEM(t, node.Key)),
		botPEM:   w("bot.pem", certtest.CertsPEM(bot.Cert, inter)),
		soonPEM:  w("soon.pem", certtest.CertsPEM(soon.Cert, inter)),
		pw:       w("pw", []byte("s3cret\n")),
		pwCRLF:   w("pw-crlf", []byte("s3cret\r\n")),
		keyOnly:  w("key-only.pem", certtest.KeyPEM(t, tc.Key)),
		corrupt:  w("corrupt.pfx", []byte{0x30, 0x82, 0x01, 0x00, 0xff}),
		otherKey: w("other.key", certtest.KeyPEM(t, certtest.Key(t, certtest.RSA2048b))),
	}
}

func TestCertsCheckCommand(t *testing.T) {
	f := writeCertFiles(t)
	tcArgs := []string{"--role", "teams-connector", "--name", "tc-eu.contoso.com", "--name", "tc-us.contoso.com", "--roots", f.roots}
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   []string
		stderr   string
		noStdout bool
	}{
		{
			name:   "teams connector pfx passes",
			args:   append([]string{"certs", "check", f.tcPFX, "--password-file", f.pw}, tcArgs...),
			code:   ExitOK,
			stdout: []string{"PASS  format", "PASS  chain.trust", ": OK"},
		},
		{
			name: "password file with CRLF",
			args: append([]string{"certs", "check", f.tcPFX, "--password-file", f.pwCRLF}, tcArgs...),
			code: ExitOK,
		},
		{
			name:   "teams connector as PEM fails the format rule",
			args:   append([]string{"certs", "check", f.tcPEM}, tcArgs...),
			code:   ExitFindings,
			stdout: []string{"FAIL  format", "[not-pkcs12]", "FAILED"},
		},
		{
			name:   "teams connector name not covered",
			args:   []string{"certs", "check", f.tcPFX, "--password-file", f.pw, "--role", "teams-connector", "--name", "a.b.contoso.com", "--roots", f.roots},
			code:   ExitFindings,
			stdout: []string{"FAIL  names", "a.b.contoso.com", "[name-not-covered]"},
		},
		{
			name:     "wrong password",
			args:     append([]string{"certs", "check", f.tcPFX, "--password-file", f.nodeKey}, tcArgs...),
			code:     ExitError,
			stderr:   "wrong password",
			noStdout: true,
		},
		{
			name:     "unreadable file",
			args:     append([]string{"certs", "check", filepath.Join(f.dir, "missing.pfx")}, tcArgs...),
			code:     ExitError,
			stderr:   `": no such file`,
			noStdout: true,
		},
		{
			name:     "corrupt file",
			args:     append([]string{"certs", "check", f.corrupt}, tcArgs...),
			code:     ExitError,
			stderr:   "not a readable PKCS #12 file",
			noStdout: true,
		},
		{
			name:     "key without certificate",
			args:     []string{"certs", "check", f.keyOnly, "--role", "bot-endpoint", "--name", "x"},
			code:     ExitError,
			stderr:   "private key but no certificate",
			noStdout: true,
		},
		{
			name:   "conferencing node with pool name and separate key",
			args:   []string{"certs", "check", f.nodePEM, "--key", f.nodeKey, "--role", "conferencing-node", "--pool", "meet.contoso.com", "--name", "node1.contoso.com", "--name", "node2.contoso.com", "--roots", f.roots},
			code:   ExitOK,
			stdout: []string{"pool name is the subject common name", "the private key matches"},
		},
		{
			name:   "conferencing node without its key",
			args:   []string{"certs", "check", f.nodePEM, "--role", "conferencing-node", "--pool", "meet.contoso.com", "--roots", f.roots},
			code:   ExitFindings,
			stdout: []string{"[missing-key]"},
		},
		{
			name:   "conferencing node with another key",
			args:   []string{"certs", "check", f.nodePEM, "--key", f.otherKey, "--role", "conferencing-node", "--pool", "meet.contoso.com", "--roots", f.roots},
			code:   ExitFindings,
			stdout: []string{"[key-mismatch]"},
		},
		{
			name:     "key given twice",
			args:     []string{"certs", "check", f.tcPEM, "--key", f.nodeKey, "--role", "bot-endpoint", "--name", "x"},
			code:     ExitError,
			stderr:   "drop --key",
			noStdout: true,
		},
		{
			name:   "bot endpoint, ECDSA, serverAuth only",
			args:   []string{"certs", "check", f.botPEM, "--role", "bot-endpoint", "--name", "bot.contoso.com", "--roots", f.roots},
			code:   ExitOK,
			stdout: []string{"ECDSA P-256", "serverAuth present"},
		},
		{
			name:   "bot endpoint untrusted without --roots",
			args:   []string{"certs", "check", f.botPEM, "--role", "bot-endpoint", "--name", "bot.contoso.com"},
			code:   ExitFindings,
			stdout: []string{"FAIL  chain.trust"},
		},
		{
			name:   "expiring soon warns",
			args:   []string{"certs", "check", f.soonPEM, "--role", "bot-endpoint", "--name", "bot.contoso.com", "--roots", f.roots},
			code:   ExitOK,
			stdout: []string{"WARN  chain.validity", "[expires-soon]", "1 warnings"},
		},
		{
			name:   "expiring soon fails under --strict",
			args:   []string{"certs", "check", f.soonPEM, "--role", "bot-endpoint", "--name", "bot.contoso.com", "--roots", f.roots, "--strict"},
			code:   ExitFindings,
			stdout: []string{"[expires-soon]", "FAILED"},
		},
		{
			name:   "expiring soon outside a shorter window",
			args:   []string{"certs", "check", f.soonPEM, "--role", "bot-endpoint", "--name", "bot.contoso.com", "--roots", f.roots, "--strict", "--warn-days", "5"},
			code:   ExitOK,
			stdout: []string{"0 warnings"},
		},
		{name: "no name", args: []string{"certs", "check", f.botPEM, "--role", "bot-endpoint"}, code: ExitError, stderr: "--name", noStdout: true},
		{name: "no role", args: []string{"certs", "check", f.botPEM, "--name", "x"}, code: ExitError, stderr: "role", noStdout: true},
		{name: "unknown role", args: []string{"certs", "check", f.botPEM, "--role", "web", "--name", "x"}, code: ExitError, stderr: `unknown role "web"`, noStdout: true},
		{name: "pool for another role", args: []string{"certs", "check", f.botPEM, "--role", "bot-endpoint", "--pool", "x"}, code: ExitError, stderr: "--pool", noStdout: true},
		{name: "unknown output", args: []string{"certs", "check", f.botPEM, "--role", "bot-endpoint", "--name", "x", "-o", "yaml"}, code: ExitError, stderr: "yaml", noStdout: true},
		{name: "bad roots", args: []string{"certs", "check", f.botPEM, "--role", "bot-endpoint", "--name", "x", "--roots", f.nodeKey}, code: ExitError, stderr: "no PEM certificate", noStdout: true},
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
			if tc.noStdout && out != "" {
				t.Errorf("stdout on an input error:\n%s", out)
			}
		})
	}
}

func TestCertsCheckJSON(t *testing.T) {
	f := writeCertFiles(t)
	code, out, errs := certsMain(t, "certs", "check", f.tcPEM, "--role", "teams-connector", "--name", "tc-eu.contoso.com", "--roots", f.roots, "-o", "json")
	if code != ExitFindings {
		t.Fatalf("exit %d, want %d\n%s", code, ExitFindings, errs)
	}
	var doc struct {
		File    string `json:"file"`
		Role    string `json:"role"`
		Format  string `json:"format"`
		OK      bool   `json:"ok"`
		Summary struct{ Pass, Warn, Fail int }
		Results []struct {
			Rule, Status, Reason, Subject, Message string
		}
		Certificates []struct {
			Subject  string   `json:"subject"`
			DNSNames []string `json:"dns_names"`
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, out)
	}
	if doc.OK || doc.Role != "teams-connector" || doc.Format != "pem" || doc.File != f.tcPEM || doc.Summary.Fail != 1 {
		t.Errorf("document header: %+v", doc)
	}
	if len(doc.Results) == 0 || doc.Results[0].Rule != "format" || doc.Results[0].Status != "fail" || doc.Results[0].Reason != "not-pkcs12" {
		t.Errorf("first result: %+v", doc.Results)
	}
	if len(doc.Certificates) != 3 || len(doc.Certificates[0].DNSNames) != 2 {
		t.Errorf("certificates: %+v", doc.Certificates)
	}
}

func TestCertsConvertCommand(t *testing.T) {
	f := writeCertFiles(t)
	pfx := filepath.Join(f.dir, "node.pfx")
	code, out, errs := certsMain(t, "certs", "convert", f.nodePEM, "--key", f.nodeKey, "--to", "pfx", "--password-file", f.pw, "--out", pfx)
	if code != ExitOK || !strings.Contains(out, "wrote "+pfx) || errs != "" {
		t.Fatalf("convert to pfx: exit %d\n%s\n%s", code, out, errs)
	}
	if st, err := os.Stat(pfx); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("written PFX: %v, mode %v; want 0600", err, st.Mode())
	}
	// The PFX now passes as a Teams Connector certificate would: key and
	// intermediate inside.
	code, out, _ = certsMain(t, "certs", "check", pfx, "--password-file", f.pw, "--role", "teams-connector", "--name", "node1.contoso.com", "--roots", f.roots)
	if code != ExitOK {
		t.Errorf("check of converted PFX: exit %d\n%s", code, out)
	}

	pemOut := filepath.Join(f.dir, "back.pem")
	code, out, errs = certsMain(t, "certs", "convert", pfx, "--password-file", f.pw, "--to", "pem", "--out", pemOut)
	if code != ExitOK {
		t.Fatalf("convert to pem: exit %d\n%s\n%s", code, out, errs)
	}
	data, err := os.ReadFile(pemOut)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "BEGIN CERTIFICATE"); n != 2 || !strings.Contains(string(data), "BEGIN PRIVATE KEY") {
		t.Errorf("PEM output: %d certificates, key present %v", n, strings.Contains(string(data), "BEGIN PRIVATE KEY"))
	}

	code, _, errs = certsMain(t, "certs", "convert", f.nodePEM, "--key", f.nodeKey, "--to", "pfx", "--out", filepath.Join(f.dir, "nopw.pfx"))
	if code != ExitOK || !strings.Contains(errs, "empty password") {
		t.Errorf("convert without password: exit %d, stderr %q", code, errs)
	}

	bad := filepath.Join(f.dir, "bad.pfx")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "key mismatch", args: []string{"certs", "convert", f.nodePEM, "--key", f.otherKey, "--to", "pfx", "-o", bad}, want: "does not belong"},
		{name: "no key", args: []string{"certs", "convert", f.nodePEM, "--to", "pfx", "-o", bad}, want: "no private key"},
		{name: "wrong password", args: []string{"certs", "convert", pfx, "--password-file", f.nodeKey, "--to", "pem", "-o", bad}, want: "wrong password"},
		{name: "unknown target", args: []string{"certs", "convert", f.tcPEM, "--to", "p7b", "-o", bad}, want: "p7b"},
		{name: "stdout", args: []string{"certs", "convert", f.tcPEM, "--to", "pem", "-o", "-"}, want: "private key"},
		{name: "unknown encoding", args: []string{"certs", "convert", f.tcPEM, "--to", "pfx", "--pfx-encoding", "rc2", "-o", bad}, want: "rc2"},
		{name: "unwritable output", args: []string{"certs", "convert", f.tcPEM, "--to", "pem", "-o", filepath.Join(f.dir, "no", "such", "dir.pem")}, want: "write"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := certsMain(t, tc.args...)
			if code != ExitError || !strings.Contains(errs, tc.want) || out != "" {
				t.Errorf("exit %d, want %d; stderr %q lacks %q; stdout %q", code, ExitError, errs, tc.want, out)
			}
			if _, err := os.Stat(bad); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("output written on error: %v", err)
			}
		})
	}
}
