package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/teamsgate/teamsgate/internal/atomicfile"
	"github.com/teamsgate/teamsgate/internal/capacity"
	"github.com/teamsgate/teamsgate/internal/diagram"
	"github.com/teamsgate/teamsgate/internal/htmlreport"
)

type reportArgs struct {
	out   string
	audit auditArgs
	certs []string
	cert  certsCheckArgs
	calls int
	probe string
}

func newReportCmd(e *env) *cobra.Command {
	var a reportArgs
	c := &cobra.Command{
		Use:   "report SPEC -o FILE.html",
		Short: "Write a review-ready HTML report: summary, diagram, its text, the rule table, and audit, certificate and sizing results",
		Long: `report plans a deployment spec and writes one self-contained HTML file for a
security review or a firewall change request: a summary (cloud,
integrations, counts, catalog and Microsoft 365 data, warnings), the
diagram (as diagram draws it) and its numbered text description, and the
rule table, sortable and filterable, with each rule's arrow number,
purpose, status and source section. It needs no network and works from
file://; it prints on A4.

When given, it adds the findings of an audit of a firewall configuration
(--audit FILE, with --format, --scope, --vnet, --fqdn-skip or
--fqdn-via-proxy as audit takes them), the results of certificate checks
(--certs FILE, repeatable, with --role, --name, --pool, --key,
--password-file and --roots as certs check takes them), and the sizing of a
Pexip Teams Connector (--calls N). Findings and failed checks are reported
in the file; they do not change the exit code.`,
		Example: `  teamsgate report examples/combined.yaml -o combined-report.html
  teamsgate report examples/messaging-bot.yaml -o bot-report.html --audit testdata/data/azure-nsg-arm-export.batfish-VM1-nsg.json --scope bot --fqdn-skip --vnet 198.51.100.0/24,192.0.2.0/24`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: specCompletion,
	}
	catDir := catalogFlag(c)
	f := c.Flags()
	f.StringVarP(&a.out, "output", "o", "", "the HTML file to write (required)")
	f.StringVar(&a.audit.format, "format", "", "--audit: the configuration's format (detected when not given)")
	f.StringVar(&a.audit.scope, "scope", "", "--audit: audit the host firewall of this role")
	f.StringSliceVar(&a.audit.vnet, "vnet", nil, "--audit: the virtual network's prefixes (Azure NSG)")
	f.BoolVar(&a.audit.fqdnSkip, "fqdn-skip", false, "--audit: leave host-name flows unchecked")
	f.StringVar(&a.audit.proxy, "fqdn-via-proxy", "", "--audit: host-name flows go through this egress proxy (ADDR:PORT)")
	f.StringVar(&a.audit.serviceTags, "service-tags", "", "--audit: Azure service tags file")
	f.StringArrayVar(&a.certs, "certs", nil, "a certificate to check and show (repeatable; PEM, DER or PKCS #12)")
	f.StringVar(&a.cert.role, "role", "", "--certs: teams-connector, conferencing-node or bot-endpoint")
	f.StringArrayVar(&a.cert.names, "name", nil, "--certs: a DNS name the certificates must cover (repeatable)")
	f.StringVar(&a.cert.pool, "pool", "", "--certs: conferencing-node pool name")
	f.StringVar(&a.cert.key, "key", "", "--certs: PEM file with the private key")
	f.StringVar(&a.cert.passwordFile, "password-file", "", "--certs: file holding the PKCS #12 password")
	f.StringVar(&a.cert.roots, "roots", "", "--certs: PEM roots to trust instead of the system's")
	f.IntVar(&a.calls, "calls", 0, "size a Pexip Teams Connector for this many concurrent calls")
	f.StringVar(&a.probe, "probe", "", "the JSON of a probe run (probe -o json): each rule's outcome in the table")
	var auditFile string
	f.StringVar(&auditFile, "audit", "", "a firewall configuration to audit and show (as audit --config)")
	_ = c.MarkFlagRequired("output")
	_ = c.MarkFlagFilename("output", "html")
	_ = c.RegisterFlagCompletionFunc("role", certRoleCompletion)
	c.RunE = func(c *cobra.Command, args []string) error {
		if auditFile != "" {
			a.audit.configs = []string{auditFile}
		}
		return runReport(c, e, *catDir, args[0], a)
	}
	return c
}

func runReport(c *cobra.Command, e *env, catDir, specFile string, a reportArgs) error {
	if !strings.HasSuffix(strings.ToLower(a.out), ".html") && !strings.HasSuffix(strings.ToLower(a.out), ".htm") {
		return inputError(fmt.Errorf("-o %q: the report is an HTML file; give a name ending in .html", a.out))
	}
	auditOnly := []string{"format", "scope", "vnet", "fqdn-skip", "fqdn-via-proxy", "service-tags"}
	certOnly := []string{"role", "name", "pool", "key", "password-file", "roots"}
	for _, group := range []struct {
		flags []string
		given bool
		what  string
	}{{auditOnly, len(a.audit.configs) > 0, "--audit"}, {certOnly, len(a.certs) > 0, "--certs"}} {
		for _, name := range group.flags {
			if c.Flags().Changed(name) && !group.given {
				return inputError(fmt.Errorf("--%s goes with %s", name, group.what))
			}
		}
	}
	if len(a.certs) > 0 && a.cert.role == "" {
		return inputError(errors.New("--certs needs --role: teams-connector, conferencing-node or bot-endpoint"))
	}
	if specFile == "-" && len(a.audit.configs) > 0 {
		return inputError(errors.New("with --audit, give the spec as a file: it is read twice"))
	}
	pl, err := e.loadPlan(catDir, specFile)
	if err != nil {
		return err
	}
	in := htmlreport.Input{Name: pl.Spec.Name, Plan: pl.Plan, Diagram: diagram.Build(pl.Plan, pl.Spec.Name), Warnings: pl.Plan.Warnings}
	if in.Name == "" {
		in.Name = specName(specFile)
	}
	if d, ok := pl.Catalog.M365[pl.Plan.Cloud]; ok {
		in.Data = d.Instance + ", " + dataLabel(d.Version, d.Date)
	}
	if a.probe != "" {
		if in.Probe, in.ProbeRole, err = readProbe(e, a.probe); err != nil {
			return inputError(err)
		}
		in.Diagram.MarkProbe(in.Probe)
	}
	if in.SVG, err = in.Diagram.SVG(c.Context()); err != nil {
		return inputError(err)
	}
	if len(a.audit.configs) > 0 {
		a.audit.output = "text"
		if in.Audit, err = e.auditRun(c, catDir, specFile, a.audit); err != nil {
			return err
		}
	}
	for _, file := range a.certs {
		a.cert.warnDays = 30
		rep, err := e.certsRun(file, a.cert)
		if err != nil {
			return err
		}
		in.Certs = append(in.Certs, htmlreport.Cert{File: file, Report: rep, Failed: rep.Failed(false)})
	}
	if c.Flags().Changed("calls") {
		res, err := capacity.Plan(capacity.Request{Calls: a.calls, InstanceType: capacity.DefaultInstanceType, Cloud: pl.Plan.Cloud})
		if err != nil {
			return inputError(fmt.Errorf("--calls: %w", err))
		}
		in.Capacity = &res
	}
	data, err := htmlreport.Render(in)
	if err != nil {
		return err
	}
	if err := e.gate.commit(func() error { return atomicfile.WriteFile(a.out, data, 0o644) }); err != nil {
		return inputError(err)
	}
	return nil
}

// readProbe reads probe -o json and returns each rule's worst outcome: a
// rule passes only when every check of it passed (or was skipped).
func readProbe(e *env, file string) (map[string]string, string, error) {
	data, err := e.readInput("probe results", file, maxConfigBytes)
	if err != nil {
		return nil, "", err
	}
	var doc struct {
		Role    string `json:"role"`
		Results []struct {
			Rule    string `json:"rule"`
			Outcome string `json:"outcome"`
		} `json:"results"`
	}
	if err := json.Unmarshal(data, &doc); err != nil || doc.Role == "" {
		return nil, "", fmt.Errorf("--probe %s: not the JSON of probe -o json", file)
	}
	rank := map[string]int{"skipped": 0, "pass": 1, "proxy-refused": 2, "tls-failure": 2, "dns-failure": 2, "blocked": 3}
	out := map[string]string{}
	for _, r := range doc.Results {
		if cur, ok := out[r.Rule]; !ok || rank[r.Outcome] > rank[cur] {
			out[r.Rule] = r.Outcome
		}
	}
	return out, doc.Role, nil
}
