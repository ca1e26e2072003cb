package cli

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/teamsgate/teamsgate/internal/atomicfile"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/planfile"
	"github.com/teamsgate/teamsgate/internal/render"
	"github.com/teamsgate/teamsgate/internal/render/targets"
	"github.com/teamsgate/teamsgate/internal/servicetag"
	"github.com/teamsgate/teamsgate/internal/view"
)

// renderArgs are the flags of teamsgate render.
type renderArgs struct {
	target      string
	scope       string
	outDir      string
	oldOutDir   string
	viaProxy    string
	fqdnSkip    bool
	serviceTags string
	direct      bool
	proxy       string
	since       string
}

// formatNames are values that are output formats elsewhere: render -o
// with one of them is a mistake, not a directory name.
var formatNames = []string{"table", "text", "json", "csv", "markdown", "md", "sarif", "junit", "yaml", "xml"}

func newRenderCmd(e *env) *cobra.Command {
	var a renderArgs
	c := &cobra.Command{
		Use:   "render SPEC --target TARGET",
		Short: "Render the plan as configuration for a firewall or proxy",
		Long: `render plans a deployment spec ("-" reads it from standard input) and writes
the rules for one target, ready to apply: deterministic (sorted, no
timestamps) and with each rule commented with its flow id and purpose.

--scope ROLE renders the host or subnet firewall of that role's machines
(inbound rules where the role is the destination, outbound where it is the
source); ROLE may be qualified as INTEGRATION/ROLE. A ROLE that several
integrations have takes all their rules, as one host's firewall, with a
warning. Without --scope, the perimeter (forward) view of every rule.

Without --out-dir the files go to standard output, each after a
"# ==> NAME <==" line when there are several. With --out-dir DIR (-d) they
are written into DIR, all or none: an error or an interruption leaves no
half-written file. (-o DIR is the former spelling: it still works, with a
warning, since -o names an output format in every other command.)

Flows given only by host names cannot be expressed by address-based
targets. By default that is an error listing them; --fqdn-via-proxy
ADDR:PORT allows the egress proxy instead, --fqdn-skip leaves them out with
a warning per flow in the output header. Azure service tags on targets
without them are expanded from --service-tags FILE (ServiceTags_*.json,
plain or gzip) or are an error. A flag the target does not act on is an
error, not ignored:

  --fqdn-via-proxy, --fqdn-skip   nftables, iptables, azure-nsg, aws-sg, kubernetes
  --service-tags                  nftables, iptables, aws-sg, kubernetes, azure-firewall
  --proxy                         squid, pac
  --direct                        pac

--since OLD writes only the change from the catalog directory OLD to
--catalog, as commands that change the running configuration in place,
where the target has such a form: nftables ("delete element" and "add
element" on its named sets, one transaction) and azure-nsg ("az network
nsg rule update" of the rules' address lists). A change that adds or
removes a rule or a set, and every other target, needs the full render:
that is an error saying so. After catalog update, OLD is DIR.previous.

Targets:
` + targetsHelp(),
		Example: `  teamsgate render examples/messaging-bot.yaml --target nftables --scope bot --fqdn-skip
  teamsgate render examples/pexip.yaml --target iptables --fqdn-skip --out-dir iptables
  teamsgate render examples/calling-bot.yaml --target nftables --service-tags testdata/data/ServiceTags_Public.changeNumber398.json.gz --fqdn-via-proxy 192.0.2.3:3128`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: specCompletion,
	}
	catDir := catalogFlag(c)
	f := c.Flags()
	f.StringVar(&a.target, "target", "", "render target (required; see the list above)")
	f.StringVar(&a.scope, "scope", "", "render the host firewall of this role (ROLE or INTEGRATION/ROLE)")
	f.StringVarP(&a.outDir, "out-dir", "d", "", "write the files into this directory instead of standard output")
	f.StringVarP(&a.oldOutDir, "output-dir", "o", "", "former spelling of --out-dir")
	_ = f.MarkHidden("output-dir")
	f.StringVar(&a.viaProxy, "fqdn-via-proxy", "", "allow host-name flows through this egress proxy (ADDR:PORT)")
	f.BoolVar(&a.fqdnSkip, "fqdn-skip", false, "leave host-name flows out, with a warning per flow")
	f.StringVar(&a.serviceTags, "service-tags", "", "Azure service tags file to expand service tags on targets without them")
	f.BoolVar(&a.direct, "direct", false, "pac: send the allow-listed hosts DIRECT instead of through the proxy")
	f.StringVar(&a.proxy, "proxy", "", "pac, squid: the egress proxy's ADDR:PORT")
	f.StringVar(&a.since, "since", "", "write only the change from the catalog directory OLD to --catalog (nftables, azure-nsg)")
	_ = c.MarkFlagDirname("since")
	_ = c.RegisterFlagCompletionFunc("target", targetCompletion)
	_ = c.RegisterFlagCompletionFunc("scope", roleCompletion)
	_ = c.MarkFlagDirname("out-dir")
	_ = c.MarkFlagFilename("service-tags", "json", "gz")
	c.RunE = func(c *cobra.Command, args []string) error {
		return runRender(c, e, a, *catDir, args[0])
	}
	return c
}

// catalogTags returns the service tags a render expands: those of
// --service-tags when given, else those the plan's catalog carries for its
// cloud (catalog update --service-tags), read only when the target
// expands tags and a rule names one.
func catalogTags(pl *planfile.Planned, explicit *servicetag.Data, expands bool) (*servicetag.Data, error) {
	if explicit != nil || !expands || !usesTags(pl.Plan) {
		return explicit, nil
	}
	t := pl.Catalog.TagsFor(pl.Plan.Cloud)
	if t == nil {
		return nil, nil
	}
	data, ds := t.Data()
	if ds.HasErrors() {
		return nil, inputError(ds.Err())
	}
	return data, nil
}

func usesTags(p *model.Plan) bool {
	for _, r := range p.Rules {
		if len(r.Source.ServiceTags)+len(r.Destination.ServiceTags) > 0 {
			return true
		}
	}
	return false
}

// deltaTargets lists the targets that write a change in place.
func deltaTargets() string {
	var names []string
	for _, t := range targets.All() {
		if _, ok := t.(render.Deltaer); ok {
			names = append(names, t.Name())
		}
	}
	return strings.Join(names, ", ")
}

func targetsHelp() string {
	var b strings.Builder
	for _, t := range targets.All() {
		fmt.Fprintf(&b, "  %-16s %s\n", t.Name(), t.Description())
	}
	return strings.TrimRight(b.String(), "\n")
}

// targetsReading lists the targets that act on a choice, for errors.
func targetsReading(ch view.Choices) string {
	var names []string
	for _, t := range targets.All() {
		if t.Caps().Reads.Has(ch) {
			names = append(names, t.Name())
		}
	}
	return strings.Join(names, ", ")
}

func runRender(c *cobra.Command, e *env, a renderArgs, catDir, specFile string) error {
	if a.target == "" {
		return inputError(errors.New("--target is required (valid targets: " + targetNames() + ")"))
	}
	t, err := targets.Lookup(a.target)
	if err != nil {
		return inputError(err)
	}
	if c.Flags().Changed("output-dir") {
		if a.outDir != "" {
			return inputError(errors.New("give the directory once, with --out-dir"))
		}
		if _, err := os.Stat(a.oldOutDir); err != nil && validName(a.oldOutDir, formatNames) {
			return inputError(fmt.Errorf("render -o %s: render writes configuration files and has no output formats; -o is the former spelling of --out-dir DIR, the directory to write them to", a.oldOutDir))
		}
		e.warnf("render -o is the former spelling of --out-dir (-d): -o names an output format in every other command")
		a.outDir = a.oldOutDir
	}
	reads := t.Caps().Reads
	for _, fl := range []struct {
		name   string
		choice view.Choices
	}{
		{"fqdn-via-proxy", view.ChoiceFQDN},
		{"fqdn-skip", view.ChoiceFQDN},
		{"service-tags", view.ChoiceServiceTags},
		{"proxy", view.ChoiceProxy},
		{"direct", view.ChoiceDirect},
	} {
		if c.Flags().Changed(fl.name) && !reads.Has(fl.choice) {
			return inputError(fmt.Errorf("--%s does not apply to target %s (it applies to %s)", fl.name, t.Name(), targetsReading(fl.choice)))
		}
	}
	opt := view.Options{Scope: a.scope, Direct: a.direct}
	switch {
	case a.viaProxy != "" && a.fqdnSkip:
		return inputError(errors.New("--fqdn-via-proxy and --fqdn-skip exclude each other"))
	case a.viaProxy != "":
		ap, err := parseProxy("--fqdn-via-proxy", a.viaProxy)
		if err != nil {
			return inputError(err)
		}
		opt.FQDN, opt.Proxy = view.FQDNViaProxy, ap
	case a.fqdnSkip:
		opt.FQDN = view.FQDNSkip
	}
	if a.proxy != "" {
		ap, err := parseProxy("--proxy", a.proxy)
		if err != nil {
			return inputError(err)
		}
		opt.Proxy = ap
	}
	if a.serviceTags != "" {
		data, ds := servicetag.ParseFile(a.serviceTags)
		if ds.HasErrors() {
			return inputError(ds.Err())
		}
		opt.ServiceTags = data
	}
	var deltaer render.Deltaer
	if a.since != "" {
		var ok bool
		if deltaer, ok = t.(render.Deltaer); !ok {
			return inputError(fmt.Errorf("--since: target %s has no form for a change in place; render it in full, without --since (targets with one: %s)", t.Name(), deltaTargets()))
		}
	}
	var pl, oldPl *planfile.Planned
	if a.since != "" {
		oldPl, pl, err = e.loadPlans(a.since, catDir, specFile)
	} else {
		pl, err = e.loadPlan(catDir, specFile)
	}
	if err != nil {
		return err
	}
	if err := c.Context().Err(); err != nil {
		return err
	}
	explicitTags := opt.ServiceTags
	if opt.ServiceTags, err = catalogTags(pl, explicitTags, reads.Has(view.ChoiceServiceTags)); err != nil {
		return err
	}
	out, ds := t.Render(pl.Plan, opt)
	if ds.HasErrors() {
		return inputError(ds.Err())
	}
	if deltaer != nil {
		if opt.ServiceTags, err = catalogTags(oldPl, explicitTags, reads.Has(view.ChoiceServiceTags)); err != nil {
			return err
		}
		old, ods := t.Render(oldPl.Plan, opt)
		if ods.HasErrors() {
			return inputError(fmt.Errorf("rendering with the --since catalog %s: %w", a.since, ods.Err()))
		}
		delta, err := deltaer.Delta(old, out)
		if errors.Is(err, render.ErrFullRender) {
			return inputError(fmt.Errorf("--since: the change from %s is more than address lists (%w); apply the full render instead, without --since", a.since, err))
		}
		if err != nil {
			return inputError(err)
		}
		delta.Warnings = out.Warnings
		out = delta
	}
	e.warn(pl.Warnings)
	e.warn(ds.Warnings())
	for _, w := range out.Warnings {
		e.warnf("%s", strings.TrimPrefix(w, "WARNING "))
	}
	names := make([]string, 0, len(out.Files))
	for n := range out.Files {
		names = append(names, n)
	}
	sort.Strings(names)
	if a.outDir != "" {
		err := e.gate.commit(func() error {
			return atomicfile.WriteFiles(a.outDir, out.Files, 0o644)
		})
		if err != nil {
			return inputError(err)
		}
		return nil
	}
	for i, n := range names {
		if len(names) > 1 {
			if i > 0 {
				fmt.Fprintln(e.stdout)
			}
			fmt.Fprintf(e.stdout, "# ==> %s <==\n", n)
		}
		if _, err := e.stdout.Write(out.Files[n]); err != nil {
			return err
		}
	}
	return nil
}

// parseProxy reads ADDR:PORT for a proxy flag.
func parseProxy(flag, s string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil || ap.Port() == 0 {
		return netip.AddrPort{}, fmt.Errorf("%s %q: want ADDR:PORT, e.g. 192.0.2.3:3128 or [2001:db8::3]:3128", flag, s)
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

func validName(s string, names []string) bool {
	for _, n := range names {
		if s == n {
			return true
		}
	}
	return false
}

func targetNames() string {
	var names []string
	for _, t := range targets.All() {
		names = append(names, t.Name())
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
