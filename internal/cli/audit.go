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
	"github.com/teamsgate/teamsgate/internal/servicetag"
	"github.com/teamsgate/teamsgate/internal/suggest"
	"github.com/teamsgate/teamsgate/internal/view"
)

type auditArgs struct {
	config      string
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
plan's). --scope ROLE audits the host firewall of one role exactly as
render --scope renders it (iptables INPUT/OUTPUT, nft input/output hooks,
NSG and AWS inbound/outbound); without it the perimeter view is audited
(iptables FORWARD, nft forward hook; NSG and AWS check each flow inbound at
a role of the spec it goes to and outbound at one it comes from). The
semantics per format and the JSON schema are in docs/audit.md.

Output formats (-o): text (default), json (schema in docs/audit.md), sarif
(SARIF 2.1.0), junit (one test case per required flow). Exit code 3 means
the audit found an error or a warning (with --strict, also a note: a rule
shadowed by rules with the same action); 1 means the input could not be
audited.`,
		Example: `  teamsgate audit examples/messaging-bot.yaml --config testdata/data/iptables-save.batfish-example-host1.iptables --scope bot --fqdn-skip
  teamsgate audit examples/messaging-bot.yaml --config testdata/data/azure-nsg-arm-export.batfish-VM1-nsg.json --format azure-nsg --scope bot --fqdn-via-proxy 192.0.2.3:3128
  cat testdata/data/iptables-save.batfish-example-host1.iptables | teamsgate audit examples/messaging-bot.yaml --config - --scope bot -o sarif`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: specCompletion,
		Annotations:       map[string]string{annotFindings: "findings: the configuration does not satisfy the plan (an error or a warning; with --strict, a note too)"},
	}
	catDir := catalogFlag(c)
	f := c.Flags()
	f.StringVar(&a.config, "config", "", "the configuration to audit (\"-\" for standard input)")
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
	f.BoolVar(&a.strict, "strict", false, "fail (exit 3) on notes too: rules shadowed by rules with the same action")
	_ = c.RegisterFlagCompletionFunc("format", fixedCompletion(formats.Names...))
	_ = c.RegisterFlagCompletionFunc("output", fixedCompletion(report.Formats...))
	_ = c.RegisterFlagCompletionFunc("scope", roleCompletion)
	_ = c.MarkFlagFilename("service-tags", "json", "gz")
	c.RunE = func(c *cobra.Command, args []string) error {
		return runAudit(c, e, *catDir, args[0], a)
	}
	return c
}

func runAudit(c *cobra.Command, e *env, catDir, specFile string, a auditArgs) error {
	if a.config == "" {
		return inputError(fmt.Errorf("--config FILE is required (the configuration to audit)"))
	}
	if a.config == "-" && specFile == "-" {
		return inputError(fmt.Errorf("the spec and --config cannot both be read from standard input"))
	}
	if err := checkFormat(a.output, report.Formats...); err != nil {
		return err
	}
	if a.format != "" && !validName(a.format, formats.Names) {
		return inputError(fmt.Errorf("unknown configuration format %q%s (want %s)", a.format, suggest.Hint(a.format, formats.Names), strings.Join(formats.Names, ", ")))
	}
	opt := audit.Options{Scope: a.scope, InIfaces: a.inIfaces, OutIfaces: a.outIfaces}
	if a.fqdnSkip {
		if a.proxy != "" {
			return inputError(fmt.Errorf("--fqdn-skip and --fqdn-via-proxy exclude each other"))
		}
		opt.FQDN = view.FQDNSkip
	}
	if a.proxy != "" {
		ap, err := parseProxy("--fqdn-via-proxy", a.proxy)
		if err != nil {
			return inputError(err)
		}
		opt.FQDN, opt.Proxy = view.FQDNViaProxy, ap
	}
	for _, s := range a.vnet {
		p, err := parsePrefix(strings.TrimSpace(s))
		if err != nil {
			return inputError(fmt.Errorf("--vnet %q: %v", s, err))
		}
		opt.Tags.VirtualNetwork = append(opt.Tags.VirtualNetwork, p)
	}
	members, err := parseMembers(e, a.members)
	if err != nil {
		return inputError(err)
	}
	pl, err := e.loadPlan(catDir, specFile)
	if err != nil {
		return err
	}
	prog := e.progress("audit")
	defer prog.done()
	prog.update("reading the configuration", 0, 0)
	data, err := e.readInput("--config", a.config, maxConfigBytes)
	if err != nil {
		return inputError(err)
	}
	name := a.config
	if name == "-" {
		name = "<stdin>"
	}
	format := a.format
	if format == "" {
		if format, err = formats.Detect(data); err != nil {
			return inputError(fmt.Errorf("%s: %w", name, err))
		}
	}
	if err := auditFlagsFor(c, format); err != nil {
		return inputError(err)
	}
	if a.serviceTags != "" {
		data, ds := servicetag.ParseFile(a.serviceTags)
		if ds.HasErrors() {
			return inputError(ds.Err())
		}
		opt.Tags.Data = data
	}
	if err := c.Context().Err(); err != nil {
		return err
	}
	prog.update("parsing the "+format+" configuration", 0, 0)
	cfg, ds := formats.Parse(format, data, formats.Options{Tags: opt.Tags, Members: members, Groups: a.groups})
	ds = ds.WithFile(name)
	if ds.HasErrors() || cfg == nil {
		ds.Sort()
		return inputError(ds.Err())
	}
	opt.Progress = prog.update
	rep, rds := audit.RunContext(c.Context(), pl.Plan, cfg, opt)
	if err := c.Context().Err(); err != nil {
		return err
	}
	if rds.HasErrors() {
		return inputError(rds.Err())
	}
	prog.done()
	rep.Config = name
	rep.Diagnostics = append(append(pl.Warnings, ds.Warnings()...), rds.Warnings()...)
	if err := report.Write(e.stdout, rep, a.output); err != nil {
		return err
	}
	if rep.Failed(a.strict) {
		return findings()
	}
	return nil
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
