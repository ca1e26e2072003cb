package audit_test

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/teamsgate/teamsgate/internal/audit/eval"
	"github.com/teamsgate/teamsgate/internal/audit/formats/iptables"
	"github.com/teamsgate/teamsgate/internal/audit/formats/nftables"
	"github.com/teamsgate/teamsgate/internal/audit/ruleset"
	"github.com/teamsgate/teamsgate/internal/view"
)

// The shadowing test confirms with the kernel what eval.Shadowed claims:
// a configuration is loaded into a namespace the test creates (the
// testbeds of kernel_test.go), packets of every rule reported as shadowed
// are sent through it, and each such rule's counter (iptables-save -c, an
// nft counter statement) must still be zero afterwards. Other rules'
// counters show that the packets went through the chains.

// shadowLoad is a ruleset and how to load it, list it and read its
// counters.
type shadowLoad struct {
	rules string
	// load loads the rules into the namespace and lists them for the
	// parser; counters reads, after the probes, each rule's packet count.
	load     func(t *testing.T, ns *netns, rules string) *ruleset.Config
	counters func(t *testing.T, ns *netns, cfg *ruleset.Config) map[*ruleset.Line]int
}

// shadowStats counts what the confirmations checked.
type shadowStats struct {
	shadowed, probes, crossChain, hitRules int
}

// confirmShadows loads one ruleset for each direction, sends packets of
// every shadowed rule's match and one of every rule's, and checks that no
// shadowed rule was hit. It returns what Shadowed reported (the same
// configuration every time), and the forwarded packets each rule counted,
// by line id.
func confirmShadows(t *testing.T, r *rand.Rand, sl shadowLoad, st *shadowStats) ([]eval.Shadow, map[string]int) {
	t.Helper()
	var shadows []eval.Shadow
	forwarded := map[string]int{}
	for _, dir := range []view.Direction{view.Inbound, view.Outbound, view.Forward} {
		tb := newTestbed(t, dir)
		cfg := sl.load(t, tb.host, sl.rules)
		e := compile(t, cfg)
		sh, gaveUp := e.Shadowed()
		if len(gaveUp) > 0 {
			t.Fatalf("shadowing gave up on %d lines", len(gaveUp))
		}
		shadows = sh
		var lines []*ruleset.Line // every line claimed unreachable
		for _, s := range sh {
			if s.Reason == eval.UnusedChain {
				lines = append(lines, s.Chain.Lines...)
				continue
			}
			lines = append(lines, s.Line)
			for _, b := range s.Blocking {
				if b.Chain != s.Line.Chain && dir == view.Forward {
					st.crossChain++
					break
				}
			}
		}
		probes := lineProbes(r, tb, cfg, e, 2)
		for _, l := range lines {
			ps := probesIn(r, tb, e, e.MatchSpace(l), 6)
			st.probes += len(ps)
			probes = append(probes, ps...)
		}
		probes = distinct(probes)
		tb.observe(t)
		tb.run(t, probes)
		counts := sl.counters(t, tb.host, cfg)
		for _, l := range lines {
			n, ok := counts[l]
			if !ok {
				continue // no counter of its own (an element of a verdict map)
			}
			st.shadowed++
			if n != 0 {
				t.Errorf("%s: %s is reported as shadowed, but the kernel counted %d packets for it", dir, l, n)
			}
		}
		for l, n := range counts {
			if n > 0 {
				st.hitRules++
			}
			if dir == view.Forward {
				forwarded[l.ID] = n
			}
		}
	}
	return shadows, forwarded
}

func distinct(ps []probe) []probe {
	seen := map[string]bool{}
	var out []probe
	for _, p := range ps {
		if !seen[p.key()] {
			seen[p.key()] = true
			out = append(out, p)
		}
	}
	return out
}

// shadowSummary lists Shadowed's answer, one line per finding.
func shadowSummary(sh []eval.Shadow) []string {
	out := []string{}
	for _, s := range sh {
		out = append(out, s.String())
	}
	return out
}

var iptablesLoad = shadowLoad{
	load: func(t *testing.T, ns *netns, rules string) *ruleset.Config {
		if out, err := ns.run([]byte(rules), "iptables-restore"); err != nil {
			t.Fatalf("iptables-restore: %v: %s\n%s", err, out, numbered(rules))
		}
		cfg, ds := iptables.Parse(ns.must(t, nil, "iptables-save"))
		if ds.HasErrors() {
			t.Fatalf("parse iptables-save: %s", ds)
		}
		return cfg
	},
	counters: func(t *testing.T, ns *netns, cfg *ruleset.Config) map[*ruleset.Line]int {
		// iptables-save -c writes "[packets:bytes] -A CHAIN ..." in the
		// order the rules were listed before; one table at a time keeps
		// the recording nft table out.
		tables := map[string]bool{}
		for _, ch := range cfg.Chains {
			tables[ch.Table] = true
		}
		perChain := map[string][]int{}
		for table := range tables {
			for _, ln := range strings.Split(string(ns.must(t, nil, "iptables-save", "-c", "-t", table)), "\n") {
				if m := counterLine.FindStringSubmatch(ln); m != nil {
					n, _ := strconv.Atoi(m[1])
					perChain[table+"/"+m[2]] = append(perChain[table+"/"+m[2]], n)
				}
			}
		}
		out := map[*ruleset.Line]int{}
		for _, ch := range cfg.Chains {
			if len(perChain[ch.Name]) != len(ch.Lines) {
				t.Fatalf("%s: %d counters for %d rules", ch.Name, len(perChain[ch.Name]), len(ch.Lines))
			}
			for i, l := range ch.Lines {
				out[l] = perChain[ch.Name][i]
			}
		}
		return out
	},
}

// counterLine is a rule of iptables-save -c: "[packets:bytes] -A CHAIN
// ...".
var counterLine = regexp.MustCompile(`^\[(\d+):\d+\] -A (\S+)(\s|$)`)

var handleOf = regexp.MustCompile(`\(handle (\d+)\)$`)

var nftLoad = shadowLoad{
	load: func(t *testing.T, ns *netns, rules string) *ruleset.Config {
		f := filepath.Join(t.TempDir(), "rules.nft")
		if err := os.WriteFile(f, []byte(rules), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := ns.run(nil, "nft", "-f", f); err != nil {
			t.Fatalf("nft -f: %v: %s\n%s", err, out, numbered(rules))
		}
		cfg, ds := nftables.Parse(ns.must(t, nil, "nft", "-j", "list", "ruleset"))
		if ds.HasErrors() {
			t.Fatalf("parse nft -j: %s", ds)
		}
		return cfg
	},
	counters: func(t *testing.T, ns *netns, cfg *ruleset.Config) map[*ruleset.Line]int {
		var doc struct {
			Nftables []struct {
				Rule *struct {
					Family, Table, Chain string
					Handle               int
					Expr                 []map[string]json.RawMessage
				} `json:"rule"`
			} `json:"nftables"`
		}
		if err := json.Unmarshal(ns.must(t, nil, "nft", "-j", "list", "ruleset"), &doc); err != nil {
			t.Fatal(err)
		}
		byHandle := map[string]int{} // "family table chain#handle"
		for _, o := range doc.Nftables {
			if o.Rule == nil {
				continue
			}
			for _, x := range o.Rule.Expr {
				if raw, ok := x["counter"]; ok && strings.HasPrefix(string(raw), "{") { // not a named counter
					var c struct{ Packets int }
					if err := json.Unmarshal(raw, &c); err != nil {
						t.Fatal(err)
					}
					byHandle[o.Rule.Family+" "+o.Rule.Table+" "+o.Rule.Chain+"#"+strconv.Itoa(o.Rule.Handle)] = c.Packets
				}
			}
		}
		out := map[*ruleset.Line]int{}
		shared := map[string]int{}
		for _, l := range cfg.Lines() {
			if m := handleOf.FindStringSubmatch(l.ID); m != nil {
				shared[l.Chain+"#"+m[1]]++
			}
		}
		for _, l := range cfg.Lines() {
			m := handleOf.FindStringSubmatch(l.ID)
			if m == nil || shared[l.Chain+"#"+m[1]] > 1 {
				continue // a verdict map's element: the counter is the rule's
			}
			if n, ok := byHandle[l.Chain+"#"+m[1]]; ok {
				out[l] = n
			}
		}
		return out
	},
}

// kernelShadowCase is a kernel confirmation for one format: a ruleset
// whose answer is known, the rules its forwarded probes must hit (the
// blocking rules, and rules rightly left reachable), then random
// rulesets.
type kernelShadowCase struct {
	load   shadowLoad
	rules  string
	want   []string
	hit    []string
	random func(r *rand.Rand) string
}

func (c kernelShadowCase) run(t *testing.T, r *rand.Rand) {
	var st shadowStats
	sl := c.load
	sl.rules = c.rules
	sh, forwarded := confirmShadows(t, r, sl, &st)
	if diff := cmp.Diff(c.want, shadowSummary(sh)); diff != "" {
		t.Errorf("shadowed (-want +got):\n%s", diff)
	}
	for _, id := range c.hit {
		if forwarded[id] == 0 {
			t.Errorf("forward: no probe hit %s", id)
		}
	}
	for i := 0; i < 8; i++ {
		sl.rules = c.random(r)
		confirmShadows(t, r, sl, &st)
	}
	t.Logf("%d shadowed rules confirmed unhit (%d in the forward path blocked from another chain) with %d probes; %d rules hit", st.shadowed, st.crossChain, st.probes, st.hitRules)
	if st.hitRules == 0 || st.probes < 50 {
		t.Errorf("the probes hit %d rules and %d were sent for shadowed ones: the test checks too little", st.hitRules, st.probes)
	}
}

// TestKernelShadowedIptables: rules blocked from another chain (two jumps
// up; by the mangle table before filter), and those of random rulesets.
func TestKernelShadowedIptables(t *testing.T) {
	needKernel(t, "nft", "iptables-restore", "iptables-save")
	t.Parallel()
	kernelShadowCase{
		load: iptablesLoad,
		rules: `*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A FORWARD -s 203.0.113.0/25 -j DROP
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:outer - [0:0]
:inner - [0:0]
:users - [0:0]
-A FORWARD -s 192.0.2.0/25 -j DROP
-A FORWARD -s 203.0.113.0/26 -p udp -j ACCEPT
-A FORWARD -p tcp -j outer
-A outer -s 192.0.2.128/25 -j DROP
-A outer -j inner
-A inner -d 198.18.0.0/16 -j users
-A users -s 192.0.2.0/24 -d 198.18.0.0/16 -p tcp -m tcp --dport 443 -j ACCEPT
-A users -d 198.18.0.0/16 -p tcp -m tcp --dport 443 -j ACCEPT
COMMIT
`,
		want: []string{
			"filter/FORWARD#2 blocking-lines by mangle/FORWARD#1",
			"filter/users#1 blocking-lines by filter/outer#1, filter/FORWARD#1",
		},
		hit:    []string{"mangle/FORWARD#1", "filter/FORWARD#1", "filter/outer#1", "filter/users#2"},
		random: genIptables,
	}.run(t, rand.New(rand.NewPCG(14, 2026)))
}

// TestKernelShadowedNftables: two base chains of the forward hook (a drop
// in the first shadows a rule of the second, an accept does not: late#2
// is hit); a drop in a chain jumped to, and a return before it (late#4 is
// hit); and random rulesets with a counter on every rule.
func TestKernelShadowedNftables(t *testing.T) {
	needKernel(t, "nft")
	t.Parallel()
	kernelShadowCase{
		load: nftLoad,
		rules: `table inet t {
	chain early {
		type filter hook forward priority -10; policy accept;
		ip saddr 192.0.2.0/25 counter drop
		ip saddr 192.0.2.128/25 counter accept
	}
	chain late {
		type filter hook forward priority 0; policy drop;
		ip saddr 192.0.2.0/26 tcp dport 443 counter accept
		ip saddr 192.0.2.128/26 tcp dport 443 counter accept
		meta l4proto tcp counter jump users
		ip saddr 198.18.0.0/24 tcp dport 443 counter accept
		ip saddr 198.18.1.0/24 tcp dport 443 counter accept
	}
	chain users {
		ip saddr 198.18.0.0/24 counter return
		tcp dport 443 counter drop
	}
}
`,
		want: []string{
			"inet t late#1 (handle 6) blocking-lines by inet t early#1 (handle 4)",
			"inet t late#5 (handle 10) blocking-lines by inet t users#2 (handle 12)",
		},
		hit:    []string{"inet t early#1 (handle 4)", "inet t late#2 (handle 7)", "inet t late#4 (handle 9)", "inet t users#2 (handle 12)"},
		random: func(r *rand.Rand) string { return withCounters(genNft(r)) },
	}.run(t, rand.New(rand.NewPCG(15, 2026)))
}

// withCounters puts a counter statement before the verdict of every rule
// genNft writes (but the verdict maps', which count for all their
// elements at once).
func withCounters(rules string) string {
	lines := strings.Split(rules, "\n")
	for i, ln := range lines {
		f := strings.Fields(ln)
		n := len(f)
		if n == 0 || strings.Contains(ln, "vmap") || strings.Contains(ln, "counter") {
			continue
		}
		switch {
		case n >= 2 && (f[n-2] == "jump" || f[n-2] == "goto"):
			lines[i] = strings.TrimSuffix(ln, f[n-2]+" "+f[n-1]) + "counter " + f[n-2] + " " + f[n-1]
		case f[n-1] == "accept" || f[n-1] == "drop" || f[n-1] == "reject" || f[n-1] == "return":
			lines[i] = strings.TrimSuffix(ln, f[n-1]) + "counter " + f[n-1]
		}
	}
	return strings.Join(lines, "\n")
}
