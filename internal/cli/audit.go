package cli

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/spf13/cobra"

	"github.com/teamsgate/teamsgate/internal/audit"
	"github.com/teamsgate/teamsgate/internal/audit/formats"
	"github.com/teamsgate/teamsgate/internal/audit/report"
	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/suggest"
	"github.com/teamsgate/teamsgate/internal/view"
)

type auditArgs struct {
	configs     []string
	format      string
	scope       string
	serviceTags string
	output      string
	vnet        []string
	members     []string
	groups      []string
	proxy       string
	fqdnSkip    bool
	inIfaces    []string
	outIfaces   []string
	strict      bool
	failOn      string
	accept      string
	mgmtPorts   string
}

func newAuditCmd(e *env) *cobra.Command {
	var a auditArgs
	c := &cobra.Command{
		Use:   "audit SPEC --config FILE",
		Short: "Check a firewall you already run against the plan: missing, too open, shadowed, mismatched rules",
		Long: `audit plans the deployment in SPEC and checks an existing firewall
configuration against it, with that firewall's own semantics:

  azure-nsg  an NSG as ARM JSON (portal export, REST, az resource show) or
             as az network nsg show prints it
  aws-sg     aws ec2 describe-security-groups output
  iptables   iptables-save (or ip6tables-save) output
  nftables   nft -j list ruleset output

Findings: missing (a required flow is denied, wholly or partly, and by which
rule), too-open (traffic to or from the scoped hosts the plan does not
require, as exact address and port sets), shadowed (a rule no packet can
reach), mismatch (the other protocol, or a narrower port range, than the
plan's), exposed (a management port of the deployment's hosts, SSH, RDP,
WinRM or a catalog management flow's, open to the Internet: an error
whatever the plan says; --management-ports changes the list). What one
wrong rule causes is one finding, the rest its facts. --scope ROLE audits the host firewall of one role exactly as
render --scope renders it (iptables INPUT/OUTPUT, nft input/output hooks,
NSG and AWS inbound/outbound); without it the perimeter view is audited
(iptables FORWARD, nft forward hook; NSG and AWS check each flow inbound at
a role of the spec it goes to and outbound at one it comes from). The
semantics per format and the JSON schema are in docs/audit.md.

Output formats (-o): text (default), json (schema in docs/audit.md), sarif
(SARIF 2.1.0), junit (one test case per required flow). Every finding has a
fingerprint that stays the same from run to run while the rules around it
change.

--accept FILE lists findings someone accepted (by key or fingerprint, with
a reason, who, and a day it expires): they are reported as accepted and
fail nothing until then. Exit code 3 means the audit found a finding at
least as severe as --fail-on: error, warning (the default: errors and
warnings fail, notes do not) or note (a rule shadowed by rules with the same
action, an accept-file entry that matches nothing); --strict is the former
spelling of --fail-on note. 1 means the input could not be audited.`,
		Example: `  teamsgate audit examples/messaging-bot.yaml --config testdata/data/iptables-save.batfish-example-host1.iptables --scope bot --fqdn-skip
  teamsgate audit examples/messaging-bot.yaml --config testdata/data/azure-nsg-arm-export.batfish-VM1-nsg.json --format azure-nsg --scope bot --fqdn-via-proxy 192.0.2.3:3128
  cat testdata/data/iptables-save.batfish-example-host1.iptables | teamsgate audit examples/messaging-bot.yaml --config - --scope bot -o sarif
  teamsgate audit examples/estate/aws.yaml --config examples/estate/security-groups.json
  teamsgate audit examples/messaging-bot.yaml --config subnet=examples/estate/subnet-nsg.json --config nic=testdata/data/azure-nsg-arm-export.batfish-VM1-nsg.json --scope bot`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: specCompletion,
		Annotations:       map[string]string{annotFindings: "findings: the configuration does not satisfy the plan (a finding at least as severe as --fail-on, by default an error or a warning; accepted findings never count)"},
	}
	catDir := catalogFlag(c)
	f := c.Flags()
	f.StringArrayVar(&a.configs, "config", nil, "the configuration to audit (\"-\" for standard input); twice for an Azure subnet NSG and network interface NSG on one path: subnet=FILE and nic=FILE")
	f.StringVar(&a.format, "format", "", "format of the configuration: "+strings.Join(formats.Names, ", ")+" (default: recognised from the content)")
	f.StringVar(&a.scope, "scope", "", "audit the host firewall of one role (\"bot\" or \"teams-calling-bot/bot\"), as render --scope renders it")
	f.StringVar(&a.serviceTags, "service-tags", "", "Azure ServiceTags_Public JSON (gzip or plain), to resolve service tags other than VirtualNetwork, Internet and AzureLoadBalancer")
	f.StringVarP(&a.output, "output", "o", "text", "output format: "+strings.Join(report.Formats, ", "))
	f.StringSliceVar(&a.vnet, "vnet", nil, "address space of the Azure virtual network, for the VirtualNetwork tag (CIDR,...)")
	f.StringArrayVar(&a.members, "sg-members", nil, "addresses behind an AWS security group or prefix list: ID=CIDR,CIDR (repeatable), or @FILE with one such line per group")
	f.StringArrayVar(&a.groups, "sg", nil, "AWS security group (id or name) attached to the audited hosts (repeatable; default: every group in the file)")
	f.StringVar(&a.proxy, "fqdn-via-proxy", "", "check flows given only by host names as an allow to this egress proxy (ADDR:PORT), as render --fqdn-via-proxy renders them")
	f.BoolVar(&a.fqdnSkip, "fqdn-skip", false, "leave flows given only by host names unchecked, as render --fqdn-skip leaves them out (default: check that their service is allowed to some address)")
	f.StringArrayVar(&a.inIfaces, "in-iface", nil, "interface the deployment's traffic arrives on (repeatable; default: any but loopback)")
	f.StringArrayVar(&a.outIfaces, "out-iface", nil, "interface the deployment's traffic leaves by (repeatable; default: any but loopback)")
	f.BoolVar(&a.strict, "strict", false, "the former spelling of --fail-on note")
	f.StringVar(&a.failOn, "fail-on", string(audit.SevWarning), "the least severe finding that fails the audit (exit 3): error, warning or note")
	f.StringVar(&a.mgmtPorts, "management-ports", "tcp/22,tcp/3389,udp/3389,tcp/5985-5986", "ports no host of the deployment may expose to the Internet, besides the ports of the catalog's management flows: PROTO/PORTS,... (SSH, RDP, WinRM by default; \"none\" for only the catalog's)")
	f.StringVar(&a.accept, "accept", "", "YAML file of accepted findings (docs/audit.md): each is reported as accepted and fails nothing until it expires")
	_ = c.RegisterFlagCompletionFunc("format", fixedCompletion(formats.Names...))
	_ = c.RegisterFlagCompletionFunc("output", fixedCompletion(report.Formats...))
	_ = c.RegisterFlagCompletionFunc("scope", roleCompletion)
	_ = c.MarkFlagFilename("service-tags", "json", "gz")
	_ = c.RegisterFlagCompletionFunc("fail-on", fixedCompletion(severityNames()...))
	_ = c.MarkFlagFilename("accept", "yaml", "yml")
	c.RunE = func(c *cobra.Command, args []string) error {
		return runAudit(c, e, *catDir, args[0], a)
	}
	return c
}

func runAudit(c *cobra.Command, e *env, catDir, specFile string, a auditArgs) error {
	if len(a.configs) == 0 {
		return inputError(fmt.Errorf("--config FILE is required (the configuration to audit)"))
	}
	if a.stdinConfig() && specFile == "-" {
		return inputError(fmt.Errorf("the spec and --config cannot both be read from standard input"))
	}
	if err := checkFormat(a.output, report.Formats...); err != nil {
		return err
	}
	failOn, err := failLevel(c, a)
	if err != nil {
		return inputError(err)
	}
	if a.accept == "-" && (a.stdinConfig() || specFile == "-") {
		return inputError(fmt.Errorf("only one of the spec, --config and --accept can be read from standard input"))
	}
	var accepted []audit.Acceptance
	if a.accept != "" {
		if accepted, err = loadAccept(e, a.accept); err != nil {
			return inputError(err)
		}
	}
	if a.format != "" && !validName(a.format, formats.Names) {
		return inputError(fmt.Errorf("unknown configuration format %q%s (want %s)", a.format, suggest.Hint(a.format, formats.Names), strings.Join(formats.Names, ", ")))
	}
	rep, err := e.auditRun(c, catDir, specFile, a)
	if err != nil {
		return err
	}
	if a.accept != "" {
		rep.Accept(inputName(a.accept), accepted, e.now)
	}
	if err := report.Write(e.stdout, rep, a.output); err != nil {
		return err
	}
	if rep.Failed(failOn) {
		return findings()
	}
	return nil
}

// auditRun plans the spec, reads the configuration of a and audits it:
// the report, without accepted findings applied. report uses it too.
func (e *env) auditRun(c *cobra.Command, catDir, specFile string, a auditArgs) (*audit.Report, error) {
	var err error
	opt := audit.Options{Scope: a.scope, InIfaces: a.inIfaces, OutIfaces: a.outIfaces}
	if c.Flags().Changed("management-ports") {
		if opt.ManagementPorts, err = audit.ParseManagementPorts(a.mgmtPorts); err != nil {
			return nil, inputError(fmt.Errorf("--management-ports: %v", err))
		}
	}
	if a.fqdnSkip {
		if a.proxy != "" {
			return nil, inputError(fmt.Errorf("--fqdn-skip and --fqdn-via-proxy exclude each other"))
		}
		opt.FQDN = view.FQDNSkip
	}
	if a.proxy != "" {
		ap, err := parseProxy("--fqdn-via-proxy", a.proxy)
		if err != nil {
			return nil, inputError(err)
		}
		opt.FQDN, opt.Proxy = view.FQDNViaProxy, ap
	}
	for _, s := range a.vnet {
		p, err := parsePrefix(strings.TrimSpace(s))
		if err != nil {
			return nil, inputError(fmt.Errorf("--vnet %q: %v", s, err))
		}
		opt.Tags.VirtualNetwork = append(opt.Tags.VirtualNetwork, p)
	}
	members, err := parseMembers(e, a.members)
	if err != nil {
		return nil, inputError(err)
	}
	pl, err := e.loadPlan(catDir, specFile)
	if err != nil {
		return nil, err
	}
	if t := pl.Catalog.TagsFor(pl.Plan.Cloud); a.serviceTags == "" && t != nil {
		// The service tags the catalog carries (catalog update
		// --service-tags) stand in for --service-tags.
		data, ds := t.Data()
		if ds.HasErrors() {
			return nil, inputError(ds.Err())
		}
		opt.Tags.Data = data
	}
	prog := e.progress("audit")
	defer prog.done()
	cfg, name, ds, err := e.readAuditConfig(c, a, pl.Spec.Audit, &opt, members, prog.update)
	if err != nil {
		return nil, err
	}
	if ds.HasErrors() || cfg == nil {
		ds.Sort()
		return nil, inputError(ds.Err())
	}
	opt.Progress = prog.update
	rep, rds := audit.RunContext(c.Context(), pl.Plan, cfg, opt)
	if err := c.Context().Err(); err != nil {
		return nil, err
	}
	if rds.HasErrors() {
		return nil, inputError(rds.Err())
	}
	prog.done()
	rep.Config = name
	rep.Diagnostics = append(append(pl.Warnings, ds.Warnings()...), rds.Warnings()...)
	return rep, nil
}

func severityNames() []string {
	var out []string
	for _, s := range audit.Severities {
		out = append(out, string(s))
	}
	return out
}

// failLevel resolves --fail-on and --strict, its former spelling for
// note.
func failLevel(c *cobra.Command, a auditArgs) (audit.Severity, error) {
	if !validName(a.failOn, severityNames()) {
		return "", fmt.Errorf("--fail-on %q: want %s", a.failOn, strings.Join(severityNames(), ", "))
	}
	level := audit.Severity(a.failOn)
	if a.strict {
		if c.Flags().Changed("fail-on") && level != audit.SevNote {
			return "", fmt.Errorf("--strict means --fail-on note, which --fail-on %s contradicts: give one of them", level)
		}
		level = audit.SevNote
	}
	return level, nil
}

// auditFlagsFor refuses the flags that do not apply to a configuration
// format, rather than ignore them.
func auditFlagsFor(c *cobra.Command, format string) error {
	applies := map[string][]string{
		"vnet":       {"azure-nsg"},
		"sg-members": {"aws-sg"},
		"sg":         {"aws-sg"},
		"in-iface":   {"iptables", "nftables"},
		"out-iface":  {"iptables", "nftables"},
	}
	for _, name := range []string{"vnet", "sg-members", "sg", "in-iface", "out-iface"} {
		if c.Flags().Changed(name) && !validName(format, applies[name]) {
			return fmt.Errorf("--%s does not apply to a %s configuration (it applies to %s)", name, format, strings.Join(applies[name], ", "))
		}
	}
	return nil
}

// parsePrefix reads a CIDR prefix or a bare address, in the user's terms.
func parsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	return netip.Prefix{}, fmt.Errorf("not an address prefix (want CIDR such as 10.0.0.0/16 or 2001:db8::/32)")
}

// parseMembers reads --sg-members values: "ID=CIDR,CIDR" or "@FILE" with
// one such line per group ("#" starts a comment).
func parseMembers(e *env, vals []string) (map[string][]netip.Prefix, error) {
	out := map[string][]netip.Prefix{}
	var lines []string
	for _, v := range vals {
		if file, ok := strings.CutPrefix(v, "@"); ok {
			b, err := e.readInput("--sg-members", file, maxCertBytes)
			if err != nil {
				return nil, err
			}
			for i, l := range strings.Split(string(b), "\n") {
				l = strings.TrimSpace(l)
				if l == "" || strings.HasPrefix(l, "#") {
					continue
				}
				lines = append(lines, fmt.Sprintf("%s:%d\x00%s", file, i+1, l))
			}
			continue
		}
		lines = append(lines, "--sg-members\x00"+v)
	}
	var ds diag.List
	for _, l := range lines {
		where, v, _ := strings.Cut(l, "\x00")
		id, cidrs, ok := strings.Cut(v, "=")
		if !ok || strings.TrimSpace(id) == "" {
			ds.Errorf(diag.Pos{}, where, "want ID=CIDR,CIDR, got %q", v)
			continue
		}
		id = strings.TrimSpace(id)
		for _, c := range strings.Split(cidrs, ",") {
			c = strings.TrimSpace(c)
			if c == "" {
				continue
			}
			p, err := parsePrefix(c)
			if err != nil {
				ds.Errorf(diag.Pos{}, where, "%s: %q is not a CIDR", id, c)
				continue
			}
			out[id] = append(out[id], p)
		}
	}
	return out, ds.Err()
}
