package eval_test

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/teamsgate/teamsgate/internal/audit/eval"
	"github.com/teamsgate/teamsgate/internal/audit/formats/iptables"
	"github.com/teamsgate/teamsgate/internal/audit/packet"
	"github.com/teamsgate/teamsgate/internal/audit/ruleset"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/view"
)

// shadows lists what Shadowed reports, one line per finding.
func shadows(t *testing.T, cfg *ruleset.Config) []string {
	t.Helper()
	e, err := eval.Compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sh, gaveUp := e.Shadowed()
	if len(gaveUp) > 0 {
		t.Fatalf("gave up on %d lines", len(gaveUp))
	}
	out := []string{}
	for _, s := range sh {
		out = append(out, s.String())
	}
	return out
}

func parseIptables(t *testing.T, rules string) *ruleset.Config {
	t.Helper()
	cfg, ds := iptables.Parse([]byte(rules))
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	return cfg
}

const iptHeader = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n"

// TestShadowAcrossChains: a line is unreachable when every packet of its
// match is stopped on every way to it, in its own chain, in the chains
// that lead to it, or in the chains those jump to.
func TestShadowAcrossChains(t *testing.T) {
	tests := []struct {
		name  string
		rules string
		want  []string
	}{{
		name: "drop in FORWARD before the jump",
		rules: iptHeader + `:users - [0:0]
-A FORWARD -s 192.0.2.0/24 -j DROP
-A FORWARD -p tcp -j users
-A users -s 192.0.2.0/25 -p tcp -m tcp --dport 443 -j ACCEPT
-A users -p tcp -m tcp --dport 22 -j ACCEPT
COMMIT
`,
		want: []string{"filter/users#1 blocking-lines by filter/FORWARD#1"},
	}, {
		name: "drop two jumps up",
		rules: iptHeader + `:outer - [0:0]
:inner - [0:0]
:users - [0:0]
-A FORWARD -p tcp -j outer
-A outer -s 192.0.2.0/24 -j DROP
-A outer -j inner
-A inner -d 198.51.100.0/24 -j users
-A users -s 192.0.2.0/26 -d 198.51.100.10/32 -p tcp -m tcp --dport 443 -j ACCEPT
-A users -d 198.51.100.10/32 -p tcp -m tcp --dport 443 -j ACCEPT
COMMIT
`,
		want: []string{"filter/users#1 blocking-lines by filter/outer#1"},
	}, {
		name: "partial cover is no shadow",
		rules: iptHeader + `:users - [0:0]
-A FORWARD -s 192.0.2.0/25 -j DROP
-A FORWARD -j users
-A users -s 192.0.2.0/24 -j ACCEPT
COMMIT
`,
		want: []string{},
	}, {
		name: "covered together by the calling chain and its own",
		rules: iptHeader + `:users - [0:0]
-A FORWARD -s 192.0.2.0/25 -j DROP
-A FORWARD -j users
-A users -s 192.0.2.128/25 -j REJECT --reject-with icmp-port-unreachable
-A users -s 192.0.2.0/24 -j ACCEPT
COMMIT
`,
		want: []string{"filter/users#2 blocking-lines by filter/users#1, filter/FORWARD#1"},
	}, {
		name: "every call site must be blocked",
		rules: iptHeader + `:users - [0:0]
-A INPUT -s 192.0.2.0/24 -j DROP
-A INPUT -j users
-A FORWARD -j users
-A users -s 192.0.2.0/24 -j ACCEPT
COMMIT
`,
		want: []string{},
	}, {
		name: "blocked at every call site",
		rules: iptHeader + `:users - [0:0]
-A INPUT -s 192.0.2.0/24 -j DROP
-A INPUT -j users
-A FORWARD -s 192.0.2.0/23 -j DROP
-A FORWARD -j users
-A users -s 192.0.2.0/24 -j ACCEPT
COMMIT
`,
		want: []string{"filter/users#1 blocking-lines by filter/INPUT#1, filter/FORWARD#1"},
	}, {
		// goto: what more returns goes back to FORWARD (users' caller),
		// not to users#2.
		name: "goto",
		rules: iptHeader + `:users - [0:0]
:more - [0:0]
-A INPUT -p tcp -g more
-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
-A FORWARD -p tcp -j users
-A FORWARD -p tcp -m tcp --dport 22 -j ACCEPT
-A FORWARD -s 192.0.2.0/24 -p tcp -m tcp --dport 23 -j ACCEPT
-A users -p tcp -g more
-A users -p tcp -j DROP
-A more -s 192.0.2.0/24 -j ACCEPT
COMMIT
`,
		want: []string{
			"filter/INPUT#2 blocking-lines by filter/INPUT#1",
			"filter/FORWARD#3 blocking-lines by filter/more#1",
			"filter/users#2 blocking-lines by filter/users#1",
		},
	}, {
		name: "return makes a later line reachable",
		rules: iptHeader + `:checks - [0:0]
-A FORWARD -j checks
-A FORWARD -p tcp -m tcp --dport 22 -j ACCEPT
-A FORWARD -p tcp -m tcp --dport 23 -j ACCEPT
-A checks -p tcp -m tcp --dport 22 -j RETURN
-A checks -p tcp -j DROP
COMMIT
`,
		want: []string{"filter/FORWARD#3 blocking-lines by filter/checks#2"},
	}, {
		name: "chain never jumped to",
		rules: iptHeader + `:users - [0:0]
:orphan - [0:0]
:below - [0:0]
-A FORWARD -j users
-A users -p tcp -j ACCEPT
-A orphan -p tcp -j ACCEPT
-A orphan -j below
-A below -p udp -j ACCEPT
COMMIT
`,
		want: []string{"filter/orphan unused-chain", "filter/below unused-chain"},
	}, {
		name: "no jump sends the packets",
		rules: iptHeader + `:users - [0:0]
-A FORWARD -p tcp -j users
-A users -p udp -j DROP
-A users -p udp -j ACCEPT
-A users -p tcp -j ACCEPT
COMMIT
`,
		want: []string{"filter/users#1 no-path", "filter/users#2 no-path"},
	}, {
		name: "mangle runs before filter",
		rules: "*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n" + `-A FORWARD -s 192.0.2.0/24 -j DROP
-A OUTPUT -d 192.0.2.0/24 -j DROP
COMMIT
` + iptHeader + `-A FORWARD -s 192.0.2.0/25 -j ACCEPT
-A OUTPUT -d 192.0.2.0/25 -j ACCEPT
COMMIT
`,
		// filter/OUTPUT#1 is not reported: the nat table's OUTPUT chain
		// runs between mangle and filter and may rewrite the destination.
		want: []string{"filter/FORWARD#1 blocking-lines by mangle/FORWARD#1"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, shadows(t, parseIptables(t, tc.rules))); diff != "" {
				t.Errorf("shadowed (-want +got):\n%s", diff)
			}
		})
	}
}

// nftIR builds a configuration of the IR as the nftables parser lowers
// one, from lines of a small language:
//
//	base NAME HOOK PRIORITY POLICY [ip] [nat]   a base chain (ip: IPv4 only;
//	                                            nat: left out of the paths)
//	user NAME                                   a user chain
//	NAME: [FIELD=VALUE...] VERDICT [CHAIN]      a rule
//
// with the fields saddr, daddr (prefixes), proto, dport (N or N-M),
// state, and the verdicts accept, drop, return, continue, jump, goto.
func nftIR(t *testing.T, src string) *ruleset.Config {
	t.Helper()
	cfg := &ruleset.Config{Format: "nftables", Families: ruleset.FamilyBoth, Paths: map[view.Direction][]*ruleset.Chain{}}
	chains := map[string]*ruleset.Chain{}
	verdicts := map[string]ruleset.Action{"accept": ruleset.Accept, "drop": ruleset.Drop, "return": ruleset.Return,
		"continue": ruleset.Continue, "jump": ruleset.Jump, "goto": ruleset.Goto}
	type pending struct {
		l      *ruleset.Line
		target string
	}
	var jumps []pending
	for _, ln := range strings.Split(strings.TrimSpace(src), "\n") {
		f := strings.Fields(ln)
		switch {
		case f[0] == "base":
			prio, _ := strconv.Atoi(f[3])
			ch := &ruleset.Chain{Name: f[1], Table: "t", Family: ruleset.FamilyBoth, Hook: f[2], Priority: prio}
			ch.Policy = &ruleset.Line{ID: f[1] + " policy " + f[4], Chain: f[1], Action: verdicts[f[4]], Default: true, Matches: []ruleset.Match{ruleset.NewMatch()}}
			nat := false
			for _, opt := range f[5:] {
				switch opt {
				case "ip":
					ch.Family = ruleset.FamilyV4
				case "nat":
					nat = true
				}
			}
			chains[ch.Name] = ch
			cfg.Chains = append(cfg.Chains, ch)
			if !nat {
				for _, d := range hookDirs[ch.Hook] {
					cfg.Paths[d] = append(cfg.Paths[d], ch)
				}
			}
		case f[0] == "user":
			chains[f[1]] = &ruleset.Chain{Name: f[1], Table: "t", Family: ruleset.FamilyBoth}
			cfg.Chains = append(cfg.Chains, chains[f[1]])
		default:
			ch := chains[strings.TrimSuffix(f[0], ":")]
			if ch == nil {
				t.Fatalf("%q: no chain %s", ln, f[0])
			}
			m, rest := ruleMatch(t, f[1:])
			act, ok := verdicts[rest[0]]
			if !ok {
				t.Fatalf("%q: verdict %q", ln, rest[0])
			}
			n := len(ch.Lines) + 1
			l := &ruleset.Line{ID: fmt.Sprintf("%s#%d", ch.Name, n), Chain: ch.Name, Index: n, Text: ln, Matches: []ruleset.Match{m}, Action: act}
			ch.Lines = append(ch.Lines, l)
			if act == ruleset.Jump || act == ruleset.Goto {
				jumps = append(jumps, pending{l, rest[1]})
			}
		}
	}
	for _, j := range jumps {
		j.l.Target = chains[j.target]
	}
	for _, p := range cfg.Paths {
		sort.SliceStable(p, func(i, j int) bool {
			if hookOrder[p[i].Hook] != hookOrder[p[j].Hook] {
				return hookOrder[p[i].Hook] < hookOrder[p[j].Hook]
			}
			return p[i].Priority < p[j].Priority
		})
	}
	return cfg
}

var hookDirs = map[string][]view.Direction{
	"prerouting": {view.Inbound, view.Forward}, "input": {view.Inbound}, "forward": {view.Forward},
	"output": {view.Outbound}, "postrouting": {view.Outbound, view.Forward},
}

var hookOrder = map[string]int{"prerouting": 0, "input": 1, "forward": 1, "output": 0, "postrouting": 2}

// ruleMatch reads the FIELD=VALUE words of a rule and returns the words
// after them.
func ruleMatch(t *testing.T, words []string) (ruleset.Match, []string) {
	t.Helper()
	m := ruleset.NewMatch()
	for len(words) > 0 {
		k, v, ok := strings.Cut(words[0], "=")
		if !ok {
			break
		}
		words = words[1:]
		switch k {
		case "saddr":
			m.Src = packet.AddrSetOf(netip.MustParsePrefix(v))
		case "daddr":
			m.Dst = packet.AddrSetOf(netip.MustParsePrefix(v))
		case "proto":
			p, ok := packet.ParseProtoName(v)
			if !ok {
				t.Fatalf("protocol %q", v)
			}
			m.Proto = packet.Protos(p)
		case "dport":
			lo, hi, rng := strings.Cut(v, "-")
			if !rng {
				hi = lo
			}
			a, _ := strconv.Atoi(lo)
			z, _ := strconv.Atoi(hi)
			m.DPort = model.NewPortSet(model.PortRange{First: uint16(a), Last: uint16(z)})
		case "state":
			st, ok := packet.ParseState(v)
			if !ok {
				t.Fatalf("state %q", v)
			}
			m.State = packet.StateSet(st)
		default:
			t.Fatalf("unknown field %q", k)
		}
	}
	if len(words) == 0 {
		t.Fatal("rule without a verdict")
	}
	return m, words
}

// TestShadowAcrossBaseChains: nft's base chains of one hook run by
// priority; a drop is final, an accept ends one base chain only (nft(8),
// "BASE CHAIN").
func TestShadowAcrossBaseChains(t *testing.T) {
	tests := []struct {
		name, rules string
		want        []string
	}{{
		name: "drop in the earlier chain",
		rules: `base early forward -10 accept
base late forward 0 drop
early: saddr=192.0.2.0/24 drop
late: saddr=192.0.2.0/25 proto=tcp dport=443 accept
late: saddr=198.51.100.0/24 proto=tcp dport=443 accept`,
		want: []string{"late#1 blocking-lines by early#1"},
	}, {
		name: "listed in the other order",
		rules: `base late forward 0 drop
base early forward -10 accept
late: saddr=192.0.2.0/25 proto=tcp dport=443 accept
early: saddr=192.0.2.0/24 drop`,
		want: []string{"late#1 blocking-lines by early#1"},
	}, {
		name: "accept in the earlier chain does not stop the later",
		rules: `base early forward -10 accept
base late forward 0 drop
early: saddr=192.0.2.0/24 accept
late: saddr=192.0.2.0/25 proto=tcp dport=443 accept
late: saddr=192.0.2.0/24 drop`,
		want: []string{},
	}, {
		name: "the earlier chain's drop policy",
		rules: `base early forward -10 drop
base late forward 0 accept
early: saddr=192.0.2.0/24 accept
late: saddr=192.0.2.0/25 drop
late: saddr=198.51.100.0/24 accept`,
		want: []string{"late#2 blocking-lines by early policy drop"},
	}, {
		name: "drop in a chain the earlier one jumps to",
		rules: `base early forward -10 accept
base late forward 0 drop
user deny
early: proto=tcp jump deny
deny: dport=22 return
deny: saddr=192.0.2.0/24 drop
late: saddr=192.0.2.0/25 proto=tcp dport=443 accept
late: saddr=192.0.2.0/25 proto=tcp dport=22 accept`,
		want: []string{"late#1 blocking-lines by deny#2"},
	}, {
		name: "equal priorities: the order is not known",
		rules: `base early forward 0 accept
base late forward 0 drop
early: saddr=192.0.2.0/24 drop
late: saddr=192.0.2.0/25 accept`,
		want: []string{},
	}, {
		name: "another hook is not the same path",
		rules: `base in input -10 accept
base fwd forward 0 drop
in: saddr=192.0.2.0/24 drop
fwd: saddr=192.0.2.0/25 accept`,
		want: []string{},
	}, {
		name: "an ip chain does not see IPv6",
		rules: `base early forward -10 accept ip
base late forward 0 drop
early: proto=tcp drop
late: saddr=192.0.2.0/24 proto=tcp dport=443 accept
late: proto=tcp dport=443 accept`,
		want: []string{"late#1 blocking-lines by early#1"},
	}, {
		// mangle runs before the NAT chain; filter after it, where the
		// destination may have been rewritten into 198.51.100.0/24.
		name: "NAT between the two chains",
		rules: `base raw prerouting -300 accept
base dnat prerouting -100 accept nat
base filter prerouting 0 drop
base mangle prerouting -150 accept
raw: daddr=198.51.100.0/24 drop
mangle: daddr=198.51.100.0/25 accept
filter: daddr=198.51.100.0/25 accept`,
		want: []string{"mangle#1 blocking-lines by raw#1"},
	}, {
		name: "return makes a later line reachable",
		rules: `base fwd forward 0 drop
user checks
fwd: jump checks
fwd: proto=tcp dport=22 accept
fwd: proto=tcp dport=23 accept
checks: proto=tcp dport=22 return
checks: proto=tcp drop`,
		want: []string{"fwd#3 blocking-lines by checks#2"},
	}, {
		name: "a user chain under two base chains",
		rules: `base early forward -10 accept
base late forward 0 drop
user users
early: saddr=192.0.2.0/24 drop
late: proto=tcp goto users
users: saddr=192.0.2.0/25 proto=tcp dport=443 accept
users: saddr=198.51.100.0/25 proto=tcp dport=443 accept`,
		want: []string{"users#1 blocking-lines by early#1"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, shadows(t, nftIR(t, tc.rules))); diff != "" {
				t.Errorf("shadowed (-want +got):\n%s", diff)
			}
		})
	}
}
