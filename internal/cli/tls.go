package cli

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/teamsgate/teamsgate/internal/certcheck"
	"github.com/teamsgate/teamsgate/internal/tlscheck"
)

func newTLSCmd(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "tls",
		Short: "Check the TLS an endpoint really offers",
		Args:  cobra.NoArgs,
	}
	c.AddCommand(newTLSCheckCmd(e))
	return c
}

// tlsCheckArgs are the flags of tls check.
type tlsCheckArgs struct {
	name     string
	role     string
	roots    string
	timeout  time.Duration
	warnDays int
	strict   bool
	output   string
}

func newTLSCheckCmd(e *env) *cobra.Command {
	var a tlsCheckArgs
	c := &cobra.Command{
		Use:   "check HOST[:PORT]",
		Short: "Probe an endpoint's TLS versions, cipher suites, client-certificate request and chain",
		Long: `check connects to HOST:PORT (443 when no port is given) and reports:

  tls.version      which of TLS 1.0, 1.1, 1.2 and 1.3 it accepts; 1.0 or 1.1
                   accepted fails, 1.2 refused (or unanswered) fails (the Teams
                   Connector speaks TLS 1.2 only)
  tls.cipher       the TLS 1.0-1.2 suites it accepts, offered one at a time; an
                   RC4 or 3DES suite accepted fails. RC2, single DES, EXPORT,
                   NULL, anonymous and DHE suites cannot be offered by Go's TLS
                   stack and are listed as not tested
  tls.client-cert  whether it requests a client certificate (mutual TLS)

and checks the chain it presents with the certs check rules of --role
(bot-endpoint by default: serverAuth only). --name is sent as SNI and is the
name the certificate must cover.

Only a TLS answer (an alert) counts as refused. The four versions are probed
at once: an endpoint that gives no TLS answer to any of them (not a TLS
server, no answer within --timeout, connection reset or closed, refused, name
not resolved) is an error, exit 1, saying what happened; with -o json it is
also a JSON error document with "addr" and "failure" (docs/certs.md).
A single probe that gets no TLS answer from a server that answers the others
is reported as what happened ("no answer (timed out)"), not as refused. The
whole check stops after ` + strconv.Itoa(tlscheck.TotalFactor) + ` times --timeout.`,
		Example: `  teamsgate serve examples/gateway.yaml &      # the example gateway on :8443
  teamsgate tls check 127.0.0.1:8443 --name bot.contoso.example --roots examples/tls/gateway.crt
  teamsgate tls check 127.0.0.1:8443 --name bot.contoso.example --roots examples/tls/gateway.crt --strict -o json`,
		Args:        cobra.ExactArgs(1),
		Annotations: map[string]string{annotFindings: "a check failed (with --strict, a warning too)"},
	}
	f := c.Flags()
	f.StringVar(&a.name, "name", "", "server name to send as SNI and to check the certificate for (default: the host)")
	f.StringVar(&a.role, "role", string(certcheck.RoleBotEndpoint), "certificate rules: teams-connector, conferencing-node or bot-endpoint")
	f.StringVar(&a.roots, "roots", "", "PEM file of roots to trust instead of the system's (private CA)")
	f.DurationVar(&a.timeout, "timeout", tlscheck.DefaultTimeout, fmt.Sprintf("time limit of each connection; the whole check stops after %d times this", tlscheck.TotalFactor))
	f.IntVar(&a.warnDays, "warn-days", 30, "warn when a certificate expires within this many days (0: never)")
	f.BoolVar(&a.strict, "strict", false, "fail on warnings too")
	f.StringVarP(&a.output, "output", "o", "text", "text or json")
	c.RunE = func(c *cobra.Command, args []string) error {
		return runTLSCheck(c, e, args[0], a)
	}
	return c
}

func runTLSCheck(c *cobra.Command, e *env, target string, a tlsCheckArgs) error {
	if err := certsOutputFlag(a.output); err != nil {
		return err
	}
	role, err := certcheck.ParseRole(a.role)
	if err != nil {
		return inputError(err)
	}
	if a.warnDays < 0 {
		return inputError(fmt.Errorf("--warn-days %d: must not be negative", a.warnDays))
	}
	if a.timeout <= 0 {
		return inputError(fmt.Errorf("--timeout %v: must be positive", a.timeout))
	}
	addr := target
	if _, _, err := net.SplitHostPort(target); err != nil {
		addr = net.JoinHostPort(strings.Trim(target, "[]"), "443")
	}
	opts := tlscheck.Options{
		Addr:       addr,
		ServerName: a.name,
		Timeout:    a.timeout,
		Cert: certcheck.Options{
			Role:       role,
			Now:        e.now,
			WarnWithin: time.Duration(a.warnDays) * 24 * time.Hour,
		},
	}
	if a.name != "" {
		opts.Cert.Names = []string{a.name}
	}
	if a.roots != "" {
		if opts.Cert.Roots, err = certsLoadRoots(e, a.roots); err != nil {
			return err
		}
	}
	rep, err := tlscheck.Check(c.Context(), opts)
	if err != nil {
		var ce *tlscheck.ConnectError
		if !errors.As(err, &ce) {
			return inputError(fmt.Errorf("tls check %q: %w", target, err))
		}
		return inputError(&fieldsError{err: err, fields: tlsErrorFields(ce)})
	}
	failed := rep.Failed(a.strict)
	if a.output == "json" {
		all := append(append([]certcheck.Result(nil), rep.Results...), certResults(rep)...)
		if err := certsWriteJSON(e.stdout, tlsJSON{Report: rep, Summary: certsSummarize(all), OK: !failed}); err != nil {
			return err
		}
	} else {
		writeTLSText(e.stdout, rep, failed)
	}
	if failed {
		return findings()
	}
	return nil
}

func certResults(rep *tlscheck.Report) []certcheck.Result {
	if rep.Certificate == nil {
		return nil
	}
	return rep.Certificate.Results
}

// tlsJSON is the -o json document of tls check.
type tlsJSON struct {
	*tlscheck.Report
	Summary certsSummary `json:"summary"`
	OK      bool         `json:"ok"`
}

// tlsErrorFields are the fields a tls check that got no TLS answer adds
// to the -o json error document: nothing was measured.
func tlsErrorFields(ce *tlscheck.ConnectError) map[string]any {
	f := map[string]any{
		"addr": ce.Addr,
		// failure is one of tlscheck.Failures, never tls-refused.
		"failure": ce.Failure,
	}
	if ce.Answer != "" {
		// The first line a server that is not TLS sent.
		f["answer"] = ce.Answer
	}
	if ce.Err != nil {
		f["detail"] = ce.Err.Error()
	}
	return f
}

func writeTLSText(w io.Writer, rep *tlscheck.Report, failed bool) {
	sni := "no SNI"
	if rep.ServerName != "" {
		sni = "SNI " + rep.ServerName
	}
	fmt.Fprintf(w, "%s (%s)\n", rep.Addr, sni)
	for _, v := range rep.Versions {
		switch {
		case v.Accepted:
			fmt.Fprintf(w, "  %-8s accepted  %s\n", v.Version, v.CipherSuite)
		case v.Failure == "" || v.Failure == tlscheck.FailureTLSRefused:
			fmt.Fprintf(w, "  %-8s refused\n", v.Version)
		default:
			fmt.Fprintf(w, "  %-8s %s\n", v.Version, v.Failure.Summary())
		}
	}
	var ok, unanswered []string
	weakTested := 0
	for _, s := range rep.Suites {
		switch {
		case s.Accepted:
			ok = append(ok, s.Name)
		case s.Failure != "" && s.Failure != tlscheck.FailureTLSRefused:
			unanswered = append(unanswered, fmt.Sprintf("%s (%s)", s.Name, s.Failure.Summary()))
		}
		if s.Weak {
			weakTested++
		}
	}
	if len(rep.Suites) > 0 {
		fmt.Fprintf(w, "  suites   %d of %d TLS 1.0-1.2 suites accepted, offered one at a time (%d of the %d are RC4 or 3DES)\n", len(ok), len(rep.Suites), weakTested, len(rep.Suites))
		for _, n := range ok {
			fmt.Fprintf(w, "           %s\n", n)
		}
		if len(unanswered) > 0 {
			fmt.Fprintf(w, "  no TLS answer, so neither accepted nor refused:\n")
			for _, n := range unanswered {
				fmt.Fprintf(w, "           %s\n", n)
			}
		}
	}
	fmt.Fprintf(w, "  not tested (Go's TLS stack cannot offer them; testssl.sh can):\n")
	for _, u := range rep.Untested {
		fmt.Fprintf(w, "           %s\n", u)
	}
	if rep.ClientCert.Requested {
		fmt.Fprintf(w, "  client certificate requested")
		if len(rep.ClientCert.AcceptableCAs) > 0 {
			fmt.Fprintf(w, " (acceptable CAs: %s)", strings.Join(rep.ClientCert.AcceptableCAs, "; "))
		}
		fmt.Fprintln(w)
	} else {
		fmt.Fprintln(w, "  client certificate not requested")
	}
	if rep.Certificate != nil {
		fmt.Fprintf(w, "\npresented chain, checked as %s:\n", rep.Certificate.Role)
		certsWriteInfo(w, rep.Certificate.Certificates)
	}
	fmt.Fprintln(w)
	all := append(append([]certcheck.Result(nil), rep.Results...), certResults(rep)...)
	certsWriteResults(w, all)
	certsWriteVerdict(w, all, failed)
}
