package cli

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/teamsgate/teamsgate/internal/atomicfile"
	"github.com/teamsgate/teamsgate/internal/certcheck"
)

func newCertsCmd(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "certs",
		Short: "Check and convert the certificates a Teams integration needs",
		Long: `certs checks the certificates of the Pexip Teams Connector, its Conferencing
Nodes and a bot's HTTPS endpoint before deployment day, and converts them
between PEM and PKCS #12 (PFX).`,
		Args: cobra.NoArgs,
	}
	c.AddCommand(newCertsCheckCmd(e), newCertsConvertCmd(e))
	return c
}

// certsCheckArgs are the flags of certs check.
type certsCheckArgs struct {
	key          string
	passwordFile string
	role         string
	names        []string
	pool         string
	roots        string
	warnDays     int
	strict       bool
	output       string
}

func newCertsCheckCmd(e *env) *cobra.Command {
	var a certsCheckArgs
	c := &cobra.Command{
		Use:   "check FILE --role ROLE --name NAME...",
		Short: "Check a certificate against what its role needs",
		Long: `check loads a certificate (PEM, DER or PKCS #12) and checks it for its role:

  format          teams-connector: PKCS #12 with the private key and every
                  intermediate inside; conferencing-node: the private key given
  key             RSA for the Teams Connector; RSA >= 2048 bits or ECDSA P-256+;
                  the private key matches the certificate
  eku             serverAuth and clientAuth (mutual TLS) for teams-connector and
                  conferencing-node; serverAuth for bot-endpoint
  names           every --name (and --pool) covered by a SAN, RFC 6125 wildcards;
                  --pool must also be the subject common name
  chain.trust     builds to a trusted root (system roots, or --roots)
  chain.signature no SHA-1 signatures
  chain.validity  not expired, not yet valid, or expiring within --warn-days
  chain.aia       AIA issuer URLs with their scheme; https:// is flagged

Warnings fail only with --strict. With -o json a run that cannot check the
certificate (a wrong password, an unreadable file) writes an error document.`,
		Example: `  teamsgate certs check tc.pfx --password-file pw --role teams-connector --name tc-eu.contoso.com --name tc-us.contoso.com --roots root.pem
  teamsgate certs check node.pem --key node.key --role conferencing-node --pool meet.contoso.com --name node1.contoso.com --name node2.contoso.com --roots root.pem
  teamsgate certs check bot.pem --role bot-endpoint --name bot.contoso.com --roots root.pem -o json`,
		Args:        cobra.ExactArgs(1),
		Annotations: map[string]string{annotFindings: "a check failed (with --strict, a warning too)"},
	}
	f := c.Flags()
	f.StringVar(&a.key, "key", "", "PEM file with the private key, when it is not in FILE")
	f.StringVar(&a.passwordFile, "password-file", "", "file holding the PKCS #12 password (first line)")
	f.StringVar(&a.role, "role", "", "teams-connector, conferencing-node or bot-endpoint (required)")
	_ = c.RegisterFlagCompletionFunc("role", certRoleCompletion)
	_ = c.RegisterFlagCompletionFunc("output", fixedCompletion("text", "json"))
	f.StringArrayVar(&a.names, "name", nil, "a DNS name the certificate must cover (repeatable)")
	f.StringVar(&a.pool, "pool", "", "conferencing-node pool name: the subject common name and a SAN")
	f.StringVar(&a.roots, "roots", "", "PEM file of roots to trust instead of the system's (private CA)")
	f.IntVar(&a.warnDays, "warn-days", 30, "warn when a certificate expires within this many days (0: never)")
	f.BoolVar(&a.strict, "strict", false, "fail on warnings too")
	f.StringVarP(&a.output, "output", "o", "text", "text or json")
	_ = c.MarkFlagRequired("role")
	c.RunE = func(c *cobra.Command, args []string) error {
		return runCertsCheck(e, args[0], a)
	}
	return c
}

func runCertsCheck(e *env, file string, a certsCheckArgs) error {
	if err := certsOutputFlag(a.output); err != nil {
		return err
	}
	rep, err := e.certsRun(file, a)
	if err != nil {
		return err
	}
	failed := rep.Failed(a.strict)
	if a.output == "json" {
		if err := certsWriteJSON(e.stdout, certsJSON{File: file, Report: rep, Summary: certsSummarize(rep.Results), OK: !failed}); err != nil {
			return err
		}
	} else {
		writeCertsText(e.stdout, file, rep, failed)
	}
	if failed {
		return findings()
	}
	return nil
}

// certsRun loads a certificate and checks it for its role: what certs
// check prints and report shows.
func (e *env) certsRun(file string, a certsCheckArgs) (*certcheck.Report, error) {
	role, err := certcheck.ParseRole(a.role)
	if err != nil {
		return nil, inputError(err)
	}
	if a.pool != "" && role != certcheck.RoleConferencingNode {
		return nil, inputError(fmt.Errorf("--pool applies to --role %s only", certcheck.RoleConferencingNode))
	}
	if len(a.names) == 0 && a.pool == "" {
		return nil, inputError(errors.New("give at least one --name (or --pool) the certificate must cover"))
	}
	if a.warnDays < 0 {
		return nil, inputError(fmt.Errorf("--warn-days %d: must not be negative", a.warnDays))
	}
	b, err := certsLoadBundle(e, file, a.key, a.passwordFile)
	if err != nil {
		return nil, err
	}
	opts := certcheck.Options{
		Role:       role,
		Names:      a.names,
		Pool:       a.pool,
		Now:        e.now,
		WarnWithin: time.Duration(a.warnDays) * 24 * time.Hour,
	}
	if a.roots != "" {
		if opts.Roots, err = certsLoadRoots(e, a.roots); err != nil {
			return nil, err
		}
	}
	rep, err := certcheck.Check(b, opts)
	if err != nil {
		return nil, inputError(err)
	}
	return rep, nil
}

// certsJSON is the -o json document of certs check.
type certsJSON struct {
	File string `json:"file"`
	*certcheck.Report
	Summary certsSummary `json:"summary"`
	OK      bool         `json:"ok"`
}

type certsSummary struct {
	Pass int `json:"pass"`
	Warn int `json:"warn"`
	Fail int `json:"fail"`
}

func certsSummarize(rs []certcheck.Result) certsSummary {
	var s certsSummary
	for _, r := range rs {
		switch r.Status {
		case certcheck.Pass:
			s.Pass++
		case certcheck.Warn:
			s.Warn++
		default:
			s.Fail++
		}
	}
	return s
}

func certsOutputFlag(o string) error { return checkFormat(o, "text", "json") }

func certRoleCompletion(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	var out []string
	for _, r := range certcheck.Roles {
		out = append(out, string(r))
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

func certsWriteJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}

// certsLoadBundle reads a certificate file, its password and a separate key.
// Every problem is an input error: nothing can be checked.
func certsLoadBundle(e *env, file, keyFile, passwordFile string) (*certcheck.Bundle, error) {
	data, err := e.readInput("certificate", file, maxCertBytes)
	if err != nil {
		return nil, inputError(err)
	}
	var password string
	if passwordFile != "" {
		if password, err = certsReadPassword(e, passwordFile); err != nil {
			return nil, err
		}
	}
	b, err := certcheck.Load(data, password)
	if err != nil {
		return nil, inputError(fmt.Errorf("%q: %w", file, err))
	}
	if keyFile != "" {
		if b.Key != nil {
			return nil, inputError(fmt.Errorf("%q already holds a private key: drop --key", file))
		}
		kd, err := e.readInput("--key", keyFile, maxCertBytes)
		if err != nil {
			return nil, inputError(err)
		}
		key, err := certcheck.ParseKey(kd)
		if err != nil {
			return nil, inputError(fmt.Errorf("%q: %w", keyFile, err))
		}
		b.SetKey(key)
	}
	return b, nil
}

// certsReadPassword reads the first line of a password file, without its line
// ending.
func certsReadPassword(e *env, name string) (string, error) {
	data, err := e.readInput("--password-file", name, maxCertBytes)
	if err != nil {
		return "", inputError(err)
	}
	pw, _, _ := strings.Cut(string(data), "\n")
	return strings.TrimSuffix(pw, "\r"), nil
}

func certsLoadRoots(e *env, name string) (*x509.CertPool, error) {
	data, err := e.readInput("--roots", name, maxCertBytes)
	if err != nil {
		return nil, inputError(err)
	}
	pool, err := certcheck.ParseRoots(data)
	if err != nil {
		return nil, inputError(fmt.Errorf("%q: %w", name, err))
	}
	return pool, nil
}

func writeCertsText(w io.Writer, file string, rep *certcheck.Report, failed bool) {
	fmt.Fprintf(w, "%s: %s certificate, %s\n", file, rep.Role, rep.Format)
	certsWriteInfo(w, rep.Certificates)
	fmt.Fprintln(w)
	certsWriteResults(w, rep.Results)
	certsWriteVerdict(w, rep.Results, failed)
}

func certsWriteInfo(w io.Writer, certs []certcheck.CertInfo) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for i, c := range certs {
		label := "issued by"
		if i == 0 {
			label = "certificate"
		}
		fmt.Fprintf(tw, "  %s\t%s\n", label, c.Subject)
		fmt.Fprintf(tw, "  \t%s, %s, valid %s to %s\n", c.Key, c.SignatureAlgorithm, c.NotBefore.Format(time.DateOnly), c.NotAfter.Format(time.DateOnly))
		if i == 0 {
			sans := append(append([]string(nil), c.DNSNames...), c.IPAddresses...)
			if len(sans) > 0 {
				fmt.Fprintf(tw, "  \tSANs %s\n", strings.Join(sans, ", "))
			}
			if len(c.ExtKeyUsage) > 0 {
				fmt.Fprintf(tw, "  \tEKU %s\n", strings.Join(c.ExtKeyUsage, ", "))
			}
		}
	}
	tw.Flush()
}

// certsWriteResults prints one line per result: status, rule, subject, message,
// and for anything but a plain pass the typed reason.
func certsWriteResults(w io.Writer, rs []certcheck.Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range rs {
		msg := r.Message
		if r.Status != certcheck.Pass {
			msg += " [" + string(r.Reason) + "]"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", strings.ToUpper(r.Status.String()), r.Rule, r.Subject, msg)
	}
	tw.Flush()
}

func certsWriteVerdict(w io.Writer, rs []certcheck.Result, failed bool) {
	s := certsSummarize(rs)
	verdict := "OK"
	if failed {
		verdict = "FAILED"
	}
	fmt.Fprintf(w, "\n%d passed, %d warnings, %d failed: %s\n", s.Pass, s.Warn, s.Fail, verdict)
}

// certsConvertArgs are the flags of certs convert.
type certsConvertArgs struct {
	key          string
	passwordFile string
	to           string
	out          string
	oldOut       string
	encoding     string
}

func newCertsConvertCmd(e *env) *cobra.Command {
	var a certsConvertArgs
	c := &cobra.Command{
		Use:   "convert FILE --to pfx|pem --out OUT",
		Short: "Convert a certificate between PEM and PKCS #12 (PFX)",
		Long: `convert writes FILE with its private key and every other certificate
(intermediates first, in chain order) as PKCS #12 for the Teams Connector, or
as PEM for Conferencing Nodes. --password-file is the PFX password: read to
open a PFX, and used to protect a PFX written. The key must belong to the
certificate. The output appears whole or not at all, with mode 0600.
(-o FILE is the former spelling of --out FILE: -o names an output format in
every other command.)`,
		Example: `  teamsgate certs convert node.pem --key node.key --to pfx --password-file pw --out node.pfx
  teamsgate certs convert tc.pfx --password-file pw --to pem --out tc.pem`,
		Args: cobra.ExactArgs(1),
	}
	f := c.Flags()
	f.StringVar(&a.key, "key", "", "PEM file with the private key, when it is not in FILE")
	f.StringVar(&a.passwordFile, "password-file", "", "file holding the PFX password (first line)")
	f.StringVar(&a.to, "to", "", "pfx or pem (required)")
	f.StringVar(&a.out, "out", "", "file to write (required)")
	f.StringVarP(&a.oldOut, "output-file", "o", "", "former spelling of --out")
	_ = f.MarkHidden("output-file")
	f.StringVar(&a.encoding, "pfx-encoding", "modern", "modern (AES-256, SHA-256; Windows Server 2019+) or legacy (3DES, SHA-1)")
	_ = c.MarkFlagRequired("to")
	_ = c.RegisterFlagCompletionFunc("to", fixedCompletion("pfx", "pem"))
	_ = c.RegisterFlagCompletionFunc("pfx-encoding", fixedCompletion("modern", "legacy"))
	c.RunE = func(c *cobra.Command, args []string) error {
		if c.Flags().Changed("output-file") {
			if a.out != "" {
				return inputError(errors.New("give the file once, with --out"))
			}
			e.warnf("certs convert -o is the former spelling of --out: -o names an output format in every other command")
			a.out = a.oldOut
		}
		if a.out == "" {
			return inputError(errors.New("--out FILE is required (the file to write)"))
		}
		return runCertsConvert(e, args[0], a)
	}
	return c
}

func runCertsConvert(e *env, file string, a certsConvertArgs) error {
	if a.to != "pfx" && a.to != "pem" {
		return inputError(fmt.Errorf("--to %q: want pfx or pem", a.to))
	}
	enc, err := certcheck.ParsePFXEncoding(a.encoding)
	if err != nil {
		return inputError(err)
	}
	if a.out == "-" {
		return inputError(errors.New("--out must name a file: the output holds a private key"))
	}
	b, err := certsLoadBundle(e, file, a.key, a.passwordFile)
	if err != nil {
		return err
	}
	var (
		data     []byte
		password string
	)
	if a.passwordFile != "" {
		if password, err = certsReadPassword(e, a.passwordFile); err != nil {
			return err
		}
	}
	if a.to == "pfx" {
		data, err = certcheck.EncodePKCS12(b, password, enc)
	} else {
		data, err = certcheck.EncodePEM(b)
	}
	if err != nil {
		return inputError(fmt.Errorf("%q: %w", file, err))
	}
	if err := e.gate.commit(func() error { return atomicfile.WriteFile(a.out, data, 0o600) }); err != nil {
		return inputError(err)
	}
	what := "PEM"
	if a.to == "pfx" {
		what = "PKCS #12 (" + enc.String() + ")"
	}
	fmt.Fprintf(e.stdout, "wrote %s: %s with %q, %d more certificate(s) and the private key\n", a.out, what, b.Leaf.Subject.CommonName, len(b.Intermediates))
	if a.to == "pfx" && password == "" {
		fmt.Fprintln(e.stderr, "warning: the PFX has an empty password; give --password-file to set one")
	}
	return nil
}
