package cli

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/teamsgate/teamsgate/internal/probe"
)

type probeArgs struct {
	role        string
	output      string
	dns         string
	timeout     time.Duration
	concurrency int
	roots       string
	proxy       string
	peer        string
}

func newProbeCmd(e *env) *cobra.Command {
	var a probeArgs
	c := &cobra.Command{
		Use:   "probe SPEC --role ROLE",
		Short: "Prove from a role's host that its outbound flows really get through",
		Long: `probe plans the spec and, from the host it runs on, checks every outbound
flow of one role: the DNS resolution of each host name (the answers are
recorded), a TCP connection to each port (open; refused, which means
something answered and the path is open; or filtered, no answer before the
timeout), a TLS handshake where the flow is HTTPS (SNI, the chain against
the system roots or --roots, the names, and TLS 1.2 or later, as 000 and
002 require), and a STUN Binding Request (RFC 5389) where the flow is UDP
3478-3481 to a host the plan names. Host-name flows go through the egress
proxy with --fqdn-via-proxy ADDR:PORT, or HTTPS_PROXY: a refusal by the
proxy is reported apart from the destination's.

Only destinations the plan names are contacted: its host names, the
answers for them, and its single addresses; a port range is probed at its
first and last port; each destination and port once, checks at most
--concurrency at a time, each bounded by --timeout, nothing retried. What
cannot be probed (a wildcard, address ranges with no host, any address or
any port, UDP other than STUN) is listed as skipped, with the reason.

--peer PEER=ADDR probes the flows from the role to another role of the plan
instead, at ADDR (an address the plan binds PEER to), where probe listen
runs: each TCP and UDP port of the rules (a range at its first and last)
gets a nonce, which the listener echoes.

Outcomes: pass, blocked, dns-failure, tls-failure, proxy-refused,
skipped. Output: text, json or junit (-o).`,
		Example:     `  teamsgate probe examples/messaging-bot.yaml --role bot --dns 127.0.0.1:9 --timeout 1s`,
		Args:        cobra.ExactArgs(1),
		Annotations: map[string]string{annotFindings: "a flow was blocked, did not resolve, failed TLS or was refused by the proxy"},
	}
	catDir := catalogFlag(c)
	f := c.Flags()
	f.StringVar(&a.role, "role", "", "the role whose outbound flows to probe (ROLE or INTEGRATION/ROLE; required)")
	f.StringVarP(&a.output, "output", "o", "text", "text, json or junit")
	f.StringVar(&a.dns, "dns", "", "the name server to ask, HOST:PORT (default: the first of /etc/resolv.conf)")
	f.DurationVar(&a.timeout, "timeout", 3*time.Second, "the longest one check may take")
	f.IntVar(&a.concurrency, "concurrency", 16, "how many checks run at once")
	f.StringVar(&a.roots, "roots", "", "PEM roots to verify TLS against instead of the system's")
	f.StringVar(&a.proxy, "fqdn-via-proxy", "", "the egress proxy host-name flows go through (ADDR:PORT); default from HTTPS_PROXY")
	f.StringVar(&a.peer, "peer", "", "probe the flows to another role of the plan at an address of it, PEER=ADDR (probe listen runs there)")
	_ = c.MarkFlagRequired("role")
	_ = c.RegisterFlagCompletionFunc("role", roleCompletion)
	_ = c.RegisterFlagCompletionFunc("output", fixedCompletion("text", "json", "junit"))
	c.RunE = func(c *cobra.Command, args []string) error { return runProbe(c, e, *catDir, args[0], a) }
	c.AddCommand(newProbeListenCmd(e))
	return c
}

func newProbeListenCmd(e *env) *cobra.Command {
	var (
		role     string
		duration time.Duration
		maxPorts int
	)
	c := &cobra.Command{
		Use:   "listen SPEC --role ROLE",
		Short: "Hold a role's inbound ports open and answer probes from the plan's sources",
		Long: `listen plans the spec and opens, on every address of this host, the TCP and
UDP ports of the rules whose destination is the role — media ranges
included, all of a range when the total stays within --max-ports, else its
first and last port — and echoes the nonce of each probe (probe --peer)
that comes from a source address the rule for that port allows. Anything
else gets no answer. It runs for --for, or until interrupted.`,
		Args: cobra.ExactArgs(1),
	}
	catDir := catalogFlag(c)
	c.Flags().StringVar(&role, "role", "", "the role whose inbound ports to open (required)")
	c.Flags().DurationVar(&duration, "for", 10*time.Minute, "how long to listen")
	c.Flags().IntVar(&maxPorts, "max-ports", 1024, "the most ports to open")
	_ = c.MarkFlagRequired("role")
	_ = c.RegisterFlagCompletionFunc("role", roleCompletion)
	c.RunE = func(c *cobra.Command, args []string) error {
		if duration <= 0 || maxPorts < 1 || maxPorts > 20000 {
			return inputError(fmt.Errorf("--for must be positive and --max-ports 1 to 20000"))
		}
		pl, err := e.loadPlan(*catDir, args[0])
		if err != nil {
			return err
		}
		l, err := probe.Listen(pl.Plan, role, maxPorts)
		if err != nil {
			return inputError(err)
		}
		defer l.Close()
		capped := ""
		if l.Capped {
			capped = fmt.Sprintf(" (ranges over --max-ports %d: their first and last ports)", maxPorts)
		}
		fmt.Fprintf(e.stderr, "teamsgate: probe listen: role %s, %d ports open for %s%s: %s\n", role, len(l.Ports), duration, capped, strings.Join(l.Ports, ", "))
		select {
		case <-c.Context().Done():
		case <-time.After(duration):
		}
		return nil
	}
	return c
}

func runProbe(c *cobra.Command, e *env, catDir, specFile string, a probeArgs) error {
	if err := checkFormat(a.output, "text", "json", "junit"); err != nil {
		return err
	}
	if a.timeout <= 0 || a.timeout > 5*time.Minute {
		return inputError(fmt.Errorf("--timeout %s: want more than 0 and at most 5m", a.timeout))
	}
	if a.concurrency < 1 || a.concurrency > 256 {
		return inputError(fmt.Errorf("--concurrency %d: want 1 to 256", a.concurrency))
	}
	opt := probe.Options{DNS: a.dns, Timeout: a.timeout, Concurrency: a.concurrency}
	proxy := a.proxy
	if proxy == "" {
		if env := os.Getenv("HTTPS_PROXY"); env != "" {
			u, err := url.Parse(env)
			if err != nil || u.Host == "" {
				return inputError(fmt.Errorf("HTTPS_PROXY %q: want http://ADDR:PORT", env))
			}
			proxy = u.Host
		}
	}
	if proxy != "" {
		ap, err := netip.ParseAddrPort(proxy)
		if err != nil {
			return inputError(fmt.Errorf("--fqdn-via-proxy %q: want ADDR:PORT", proxy))
		}
		opt.Proxy = ap
	}
	if a.roots != "" {
		pool, err := certsLoadRoots(e, a.roots)
		if err != nil {
			return err
		}
		opt.Roots = pool
	}
	pl, err := e.loadPlan(catDir, specFile)
	if err != nil {
		return err
	}
	var checks []probe.Check
	var skipped []probe.Result
	if a.peer != "" {
		name, addr, ok := strings.Cut(a.peer, "=")
		ip, perr := netip.ParseAddr(addr)
		if !ok || perr != nil {
			return inputError(fmt.Errorf("--peer %q: want ROLE=ADDR, e.g. conferencing-nodes=203.0.113.10", a.peer))
		}
		checks, err = probe.PeerChecks(pl.Plan, a.role, name, ip)
	} else {
		checks, skipped, err = probe.Checks(pl.Plan, a.role)
	}
	if err != nil {
		return inputError(err)
	}
	p := e.progress("probe")
	opt.Progress = func(done, total int) { p.update("checks", done, total) }
	results := probe.Run(c.Context(), checks, opt)
	p.done()
	if err := c.Context().Err(); err != nil {
		return err
	}
	results = append(results, skipped...)
	switch a.output {
	case "json":
		err = writeProbeJSON(e.stdout, a.role, results)
	case "junit":
		err = writeProbeJUnit(e.stdout, a.role, results)
	default:
		writeProbeText(e.stdout, a.role, results)
	}
	if err != nil {
		return err
	}
	for _, r := range results {
		if r.Outcome != probe.Pass && r.Outcome != probe.Skipped {
			return findings()
		}
	}
	return nil
}

func probeSummary(results []probe.Result) map[probe.Outcome]int {
	m := map[probe.Outcome]int{}
	for _, r := range results {
		m[r.Outcome]++
	}
	return m
}

var probeOutcomes = []probe.Outcome{probe.Pass, probe.Blocked, probe.DNSFailure, probe.TLSFailure, probe.ProxyRefused, probe.Skipped}

func writeProbeText(w io.Writer, role string, results []probe.Result) {
	fmt.Fprintf(w, "Probe of role %s: %d checks\n\n", role, len(results))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "OUTCOME\tRULE\tCHECK\tDESTINATION\tADDRESS\tTIME\tREASON\n")
	for _, r := range results {
		dest := r.Host
		if r.Port != 0 {
			dest = fmt.Sprintf("%s port %d", dest, r.Port)
		}
		elapsed := ""
		if r.Outcome != probe.Skipped {
			elapsed = r.Elapsed.Round(time.Millisecond).String()
		}
		addr := r.Addr
		if r.ViaProxy {
			addr = "proxy " + addr
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Outcome, r.Rule, r.Kind, strings.TrimSpace(dest), addr, elapsed, r.Reason)
	}
	tw.Flush()
	sum := probeSummary(results)
	var parts []string
	for _, o := range probeOutcomes {
		if sum[o] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", sum[o], o))
		}
	}
	fmt.Fprintf(w, "\n%s\n", strings.Join(parts, ", "))
}

func writeProbeJSON(w io.Writer, role string, results []probe.Result) error {
	sum := map[string]int{}
	for o, n := range probeSummary(results) {
		sum[string(o)] = n
	}
	doc := struct {
		Role    string         `json:"role"`
		Results []probe.Result `json:"results"`
		Summary map[string]int `json:"summary"`
		OK      bool           `json:"ok"`
	}{Role: role, Results: results, Summary: sum, OK: sum[string(probe.Pass)]+sum[string(probe.Skipped)] == len(results)}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(doc)
}

// writeProbeJUnit writes one test case a check: a failure for blocked,
// DNS, TLS and proxy outcomes, skipped for what could not be probed.
func writeProbeJUnit(w io.Writer, role string, results []probe.Result) error {
	type failure struct {
		Type    string `xml:"type,attr"`
		Message string `xml:"message,attr"`
	}
	type skipped struct {
		Message string `xml:"message,attr"`
	}
	type testcase struct {
		Name      string   `xml:"name,attr"`
		Classname string   `xml:"classname,attr"`
		Time      string   `xml:"time,attr"`
		Failure   *failure `xml:"failure,omitempty"`
		Skipped   *skipped `xml:"skipped,omitempty"`
	}
	type suite struct {
		XMLName  xml.Name   `xml:"testsuite"`
		Name     string     `xml:"name,attr"`
		Tests    int        `xml:"tests,attr"`
		Failures int        `xml:"failures,attr"`
		Skipped  int        `xml:"skipped,attr"`
		Cases    []testcase `xml:"testcase"`
	}
	s := suite{Name: "teamsgate probe " + role, Tests: len(results)}
	for _, r := range results {
		tc := testcase{Name: fmt.Sprintf("%s %s %s:%d", r.Rule, r.Kind, r.Host, r.Port), Classname: r.Rule, Time: fmt.Sprintf("%.3f", r.Elapsed.Seconds())}
		switch r.Outcome {
		case probe.Pass:
		case probe.Skipped:
			tc.Skipped = &skipped{Message: r.Reason}
			s.Skipped++
		default:
			tc.Failure = &failure{Type: string(r.Outcome), Message: r.Reason}
			s.Failures++
		}
		s.Cases = append(s.Cases, tc)
	}
	io.WriteString(w, xml.Header)
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(s); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
