package cli

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/teamsgate/teamsgate/internal/atomicfile"
	"github.com/teamsgate/teamsgate/internal/render"
	"github.com/teamsgate/teamsgate/internal/render/targets"
	"github.com/teamsgate/teamsgate/internal/servicetag"
)

// renderArgs are the flags of teamsgate render.
type renderArgs struct {
	target      string
	scope       string
	outDir      string
	viaProxy    string
	fqdnSkip    bool
	serviceTags string
	direct      bool
	proxy       string
}

func newRenderCmd(e *env) *cobra.Command {
	var a renderArgs
	c := &cobra.Command{
		Use:   "render SPEC --target TARGET",
		Short: "Render the plan as configuration for a firewall or proxy",
		Long: `render plans a deployment spec and writes the rules for one target, ready to
apply: deterministic (sorted, no timestamps) and with each rule commented
with its flow id and purpose.

--scope ROLE renders the host or subnet firewall of that role's machines
(inbound rules where the role is the destination, outbound where it is the
source); ROLE may be qualified as INTEGRATION/ROLE. Without it, the
perimeter (forward) view of every rule.

Without -o the files go to standard output, each after a "# ==> NAME <=="
line when there are several. With -o DIR they are written into DIR, all or
none: an error leaves no half-written file.

Flows given only by host names cannot be expressed by address-based
targets. By default that is an error listing them; --fqdn-via-proxy
ADDR:PORT allows the egress proxy instead, --fqdn-skip leaves them out with
a warning per flow in the output header. Azure service tags on targets
without them are expanded from --service-tags FILE (ServiceTags_*.json,
plain or gzip) or are an error.

Targets:
` + targetsHelp(),
		Example: `  teamsgate render deploy.yaml --target nftables --scope bot
  teamsgate render examples/pexip.yaml --target iptables --fqdn-skip -o /etc/iptables
  teamsgate render examples/calling-bot.yaml --target nftables --service-tags ServiceTags_Public.json --fqdn-via-proxy 192.0.2.3:3128`,
		Args: cobra.ExactArgs(1),
	}
	catDir := catalogFlag(c)
	f := c.Flags()
	f.StringVar(&a.target, "target", "", "render target (required; see the list above)")
	f.StringVar(&a.scope, "scope", "", "render the host firewall of this role (ROLE or INTEGRATION/ROLE)")
	f.StringVarP(&a.outDir, "output-dir", "o", "", "write the files into this directory instead of standard output")
	f.StringVar(&a.viaProxy, "fqdn-via-proxy", "", "allow host-name flows through this egress proxy (ADDR:PORT)")
	f.BoolVar(&a.fqdnSkip, "fqdn-skip", false, "leave host-name flows out, with a warning per flow")
	f.StringVar(&a.serviceTags, "service-tags", "", "Azure service tags file to expand service tags on targets without them")
	f.BoolVar(&a.direct, "direct", false, "pac: send the allow-listed hosts DIRECT instead of through the proxy")
	f.StringVar(&a.proxy, "proxy", "", "pac, squid: the egress proxy's ADDR:PORT (defaults to --fqdn-via-proxy's)")
	c.RunE = func(c *cobra.Command, args []string) error {
		return runRender(e, a, *catDir, args[0])
	}
	return c
}

func targetsHelp() string {
	var b strings.Builder
	for _, t := range targets.All() {
		fmt.Fprintf(&b, "  %-16s %s\n", t.Name(), t.Description())
	}
	return strings.TrimRight(b.String(), "\n")
}

func runRender(e *env, a renderArgs, catDir, specFile string) error {
	if a.target == "" {
		return inputError(errors.New("--target is required (valid targets: " + targetNames() + ")"))
	}
	t, err := targets.Lookup(a.target)
	if err != nil {
		return inputError(err)
	}
	opt := render.Options{Scope: a.scope, Direct: a.direct}
	switch {
	case a.viaProxy != "" && a.fqdnSkip:
		return inputError(errors.New("--fqdn-via-proxy and --fqdn-skip exclude each other"))
	case a.viaProxy != "":
		ap, err := netip.ParseAddrPort(a.viaProxy)
		if err != nil || ap.Port() == 0 {
			return inputError(fmt.Errorf("--fqdn-via-proxy %q: want ADDR:PORT, e.g. 192.0.2.3:3128 or [2001:db8::3]:3128", a.viaProxy))
		}
		opt.FQDN, opt.Proxy = render.FQDNViaProxy, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	case a.fqdnSkip:
		opt.FQDN = render.FQDNSkip
	}
	if a.proxy != "" {
		ap, err := netip.ParseAddrPort(a.proxy)
		if err != nil || ap.Port() == 0 {
			return inputError(fmt.Errorf("--proxy %q: want ADDR:PORT, e.g. 192.0.2.3:3128 or [2001:db8::3]:3128", a.proxy))
		}
		ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		if opt.Proxy.IsValid() && opt.Proxy != ap {
			return inputError(fmt.Errorf("--proxy %s and --fqdn-via-proxy %s name different proxies", ap, opt.Proxy))
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
	pl, err := loadPlan(catDir, specFile)
	if err != nil {
		return err
	}
	out, ds := t.Render(pl.plan, opt)
	if ds.HasErrors() {
		return inputError(ds.Err())
	}
	for _, d := range pl.warnings {
		fmt.Fprintln(e.stderr, d.String())
	}
	for _, d := range ds.Warnings() {
		fmt.Fprintln(e.stderr, d.String())
	}
	for _, w := range out.Warnings {
		fmt.Fprintln(e.stderr, "warning: "+strings.TrimPrefix(w, "WARNING "))
	}
	names := make([]string, 0, len(out.Files))
	for n := range out.Files {
		names = append(names, n)
	}
	sort.Strings(names)
	if a.outDir != "" {
		// A directory in the way would only fail at the rename, after
		// other files were renamed into place: refuse it before writing.
		for _, n := range names {
			if st, err := os.Stat(filepath.Join(a.outDir, n)); err == nil && st.IsDir() {
				return inputError(fmt.Errorf("write %q: is a directory", filepath.Join(a.outDir, n)))
			}
		}
		if err := atomicfile.WriteFiles(a.outDir, out.Files, 0o644); err != nil {
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

func targetNames() string {
	var names []string
	for _, t := range targets.All() {
		names = append(names, t.Name())
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
