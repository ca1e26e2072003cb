package iptables_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/teamsgate/teamsgate/internal/audit/audittest"
	"github.com/teamsgate/teamsgate/internal/audit/eval"
	"github.com/teamsgate/teamsgate/internal/audit/formats/iptables"
	"github.com/teamsgate/teamsgate/internal/audit/ruleset"
	"github.com/teamsgate/teamsgate/internal/testutil"
)

const sample = "iptables-save.batfish-example-host1.iptables"

// TestRealSample parses the real iptables-save sample (Batfish's example
// host1) and checks what it says: INPUT policy DROP, DNS and SSH open.
func TestRealSample(t *testing.T) {
	cfg, ds := iptables.ParseFile(filepath.Join(testutil.Root(), "testdata", "data", sample))
	if len(ds) > 0 {
		t.Fatalf("diagnostics: %s", ds)
	}
	if cfg.Families != ruleset.FamilyV4 {
		t.Errorf("families = %v", cfg.Families)
	}
	audittest.Check(t, cfg, []audittest.Case{
		{Dir: "in", Packet: "udp 192.0.2.1:5000 > 198.51.100.1:53", Want: "allow", By: "filter/INPUT#1"},
		{Dir: "in", Packet: "tcp 192.0.2.1:5000 > 198.51.100.1:22", Want: "allow", By: "filter/INPUT#2"},
		{Dir: "in", Packet: "tcp 192.0.2.1:5000 > 198.51.100.1:443", Want: "deny", By: "filter/INPUT policy DROP"},
		{Dir: "out", Packet: "tcp 198.51.100.1:5000 > 192.0.2.1:443", Want: "allow"},
		{Dir: "fwd", Packet: "tcp 198.51.100.1:5000 > 192.0.2.1:443", Want: "allow"},
	})
}

func parse(t *testing.T, text string) *ruleset.Config {
	t.Helper()
	cfg, ds := iptables.Parse([]byte(text))
	if ds.HasErrors() {
		t.Fatalf("parse: %s", ds)
	}
	return cfg
}

// TestSemantics checks the lowering of each construct against the
// iptables(8) and iptables-extensions(8) meaning, packet by packet.
func TestSemantics(t *testing.T) {
	cfg := parse(t, `*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:web - [0:0]
:limit - [0:0]
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -m state --state INVALID -j DROP
-A INPUT -i lo -j ACCEPT
-A INPUT ! -s 192.0.2.0/24 -p tcp -m tcp --dport 22 -j DROP
-A INPUT -s 192.0.2.0/24 -p tcp -m tcp --dport 22 -j ACCEPT
-A INPUT -p tcp -m multiport --dports 80,443,8000:8010 -j web
-A INPUT -p udp -m multiport --ports 5000 -j ACCEPT
-A INPUT -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -m iprange --src-range 198.18.0.1-198.18.0.9 -j ACCEPT
-A INPUT -p icmp -m icmp --icmp-type 8 -j ACCEPT
-A INPUT -i eth+ -p udp -m udp --dport 1000:2000 -g limit
-A INPUT -p udp -m udp --dport 1500 -j ACCEPT
-A web -s 203.0.113.0/24 -j RETURN
-A web -p tcp -m tcp ! --sport 1024:65535 -j DROP
-A web -m comment --comment "web servers" -j ACCEPT
-A limit -s 198.51.100.0/24 -j RETURN
-A limit -j ACCEPT
-A FORWARD -o d+ ! -i x0 -j ACCEPT
COMMIT
`)
	audittest.Check(t, cfg, []audittest.Case{
		{Dir: "in", Packet: "tcp 203.0.113.5:1234 > 198.51.100.1:22 established", Want: "allow", By: "filter/INPUT#1"},
		{Dir: "in", Packet: "tcp 203.0.113.5:1234 > 198.51.100.1:22 invalid", Want: "deny", By: "filter/INPUT#2"},
		{Dir: "in", Packet: "tcp 127.0.0.1:1234 > 127.0.0.1:9 in lo", Want: "allow", By: "filter/INPUT#3"},
		{Dir: "in", Packet: "tcp 203.0.113.5:1234 > 198.51.100.1:22", Want: "deny", By: "filter/INPUT#4"},
		{Dir: "in", Packet: "tcp 192.0.2.5:1234 > 198.51.100.1:22", Want: "allow", By: "filter/INPUT#5"},
		// web: RETURN for 203.0.113.0/24, then no later INPUT rule matches
		{Dir: "in", Packet: "tcp 203.0.113.5:1234 > 198.51.100.1:443", Want: "deny", By: "filter/INPUT policy DROP"},
		{Dir: "in", Packet: "tcp 198.18.0.5:80 > 198.51.100.1:8005", Want: "deny", By: "filter/web#2"},
		{Dir: "in", Packet: "tcp 198.18.0.5:40000 > 198.51.100.1:8010", Want: "allow", By: "filter/web#3"},
		{Dir: "in", Packet: "tcp 198.18.1.5:40000 > 198.51.100.1:8011", Want: "deny"},
		// multiport --ports: either port
		{Dir: "in", Packet: "udp 198.18.0.5:5000 > 198.51.100.1:9", Want: "allow", By: "filter/INPUT#7"},
		{Dir: "in", Packet: "udp 198.18.0.5:9 > 198.51.100.1:5000", Want: "allow", By: "filter/INPUT#7"},
		// --syn is the first packet of a connection
		{Dir: "in", Packet: "tcp 198.18.0.9:9 > 198.51.100.1:7", Want: "allow", By: "filter/INPUT#8"},
		{Dir: "in", Packet: "tcp 198.18.0.10:9 > 198.51.100.1:7", Want: "deny"},
		{Dir: "in", Packet: "icmp 198.18.0.10 > 198.51.100.1:2048", Want: "allow", By: "filter/INPUT#9"},
		{Dir: "in", Packet: "icmp 198.18.0.10 > 198.51.100.1:0", Want: "deny"},
		// -g: a RETURN from the goto target leaves INPUT (policy), it does
		// not come back to the next INPUT rule
		{Dir: "in", Packet: "udp 198.51.100.9:9 > 198.51.100.1:1500 in eth0", Want: "deny", By: "filter/INPUT policy DROP"},
		{Dir: "in", Packet: "udp 198.51.100.9:9 > 198.51.100.1:1500 in wlan0", Want: "allow", By: "filter/INPUT#11"},
		{Dir: "in", Packet: "udp 192.0.2.9:9 > 198.51.100.1:1500 in eth0", Want: "allow", By: "filter/limit#2"},
		{Dir: "fwd", Packet: "tcp 192.0.2.9:9 > 198.51.100.1:1 in y0 out d7", Want: "allow"},
		{Dir: "fwd", Packet: "tcp 192.0.2.9:9 > 198.51.100.1:1 in x0 out d7", Want: "deny"},
	}, "eth0", "wlan0", "y0", "d7", "x0")
}

// TestTablesInOrder checks that raw and mangle chains on the path can drop
// before filter, and that the nat table is left out with a note.
func TestTablesInOrder(t *testing.T) {
	cfg := parse(t, `*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A PREROUTING -s 192.0.2.66/32 -j DROP
COMMIT
*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING DROP [0:0]
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -p tcp -j DNAT --to-destination 198.51.100.9
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
COMMIT
`)
	audittest.Check(t, cfg, []audittest.Case{
		{Dir: "in", Packet: "tcp 192.0.2.66:1 > 198.51.100.1:2", Want: "deny", By: "raw/PREROUTING#1"},
		{Dir: "in", Packet: "tcp 192.0.2.67:1 > 198.51.100.1:2", Want: "allow"},
		{Dir: "out", Packet: "tcp 198.51.100.1:1 > 192.0.2.1:2", Want: "deny", By: "mangle/POSTROUTING policy DROP"},
	})
	if !strings.Contains(strings.Join(cfg.Notes, "\n"), "nat table") {
		t.Errorf("notes %v do not mention the nat table", cfg.Notes)
	}
}

// TestUnresolvable checks that ipset references and unmodelled matches
// are kept as unresolvable, not dropped or guessed.
func TestUnresolvable(t *testing.T) {
	cfg := parse(t, `*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp -m set --match-set admins src -m tcp --dport 22 -j ACCEPT
-A INPUT -m addrtype --dst-type LOCAL -p udp -j ACCEPT
-A INPUT -m limit --limit 5/min -j LOG --log-prefix "in: "
COMMIT
`)
	lines := cfg.Lines()
	if len(lines) != 3 {
		t.Fatalf("%d lines", len(lines))
	}
	for i, want := range []string{`ipset "admins"`, "match addrtype --dst-type", "match limit --limit"} {
		if got := strings.Join(lines[i].Unresolved, "; "); !strings.Contains(got, want) {
			t.Errorf("line %d unresolved = %q, want %q", i+1, got, want)
		}
	}
	// evaluated as matching nothing
	audittest.Check(t, cfg, []audittest.Case{
		{Dir: "in", Packet: "tcp 192.0.2.1:1 > 198.51.100.1:22", Want: "deny"},
	})
}

// TestIPv6 recognises ip6tables-save output and its ICMPv6 names.
func TestIPv6(t *testing.T) {
	cfg := parse(t, `# Generated by ip6tables-save v1.8.9 (nf_tables)
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type neighbour-solicitation -j ACCEPT
-A INPUT -s 2001:db8::/32 -p tcp -m tcp --dport 443 -j ACCEPT
COMMIT
`)
	if cfg.Families != ruleset.FamilyV6 {
		t.Fatalf("families = %v", cfg.Families)
	}
	audittest.Check(t, cfg, []audittest.Case{
		{Dir: "in", Packet: "tcp [2001:db8::1]:1 > [2001:db8:1::1]:443", Want: "allow"},
		{Dir: "in", Packet: "icmpv6 [2001:db8::1]:0 > [2001:db8:1::1]:34560", Want: "allow"},
	})
}

// TestErrors checks that malformed input gives positioned errors, all of
// them, and never a panic.
func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		lines    []int
	}{
		{name: "rule outside a table", in: "-A INPUT -j ACCEPT\n", lines: []int{1}},
		{name: "unknown chain", in: "*filter\n:INPUT ACCEPT [0:0]\n-A NOPE -j ACCEPT\nCOMMIT\n", lines: []int{3}},
		{name: "jump to undeclared chain", in: "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j nowhere\nCOMMIT\n", lines: []int{3}},
		{name: "port without protocol", in: "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT --dport 22 -j ACCEPT\nCOMMIT\n", lines: []int{3}},
		{name: "bad address and bad state", in: "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -s 300.1.1.1 -j ACCEPT\n-A INPUT -m state --state BOGUS -j DROP\nCOMMIT\n", lines: []int{3, 4}},
		{name: "missing COMMIT", in: "*filter\n:INPUT ACCEPT [0:0]\n", lines: []int{1}},
		{name: "policy on a user chain", in: "*filter\n:mine DROP [0:0]\nCOMMIT\n", lines: []int{2}},
		{name: "loop", in: "*filter\n:INPUT ACCEPT [0:0]\n:a - [0:0]\n:b - [0:0]\n-A INPUT -j a\n-A a -j b\n-A b -j a\nCOMMIT\n", lines: []int{7}},
		{name: "unterminated quote", in: "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m comment --comment \"x -j ACCEPT\nCOMMIT\n", lines: []int{3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ds := iptables.Parse([]byte(tc.in))
			errs := ds.Errors()
			if len(errs) != len(tc.lines) {
				t.Fatalf("got %d errors, want %d: %s", len(errs), len(tc.lines), ds)
			}
			for i, d := range errs {
				if d.Pos.Line != tc.lines[i] {
					t.Errorf("error %d at line %d, want %d: %s", i, d.Pos.Line, tc.lines[i], d)
				}
			}
		})
	}
}

// FuzzParse: any input parses to a configuration or to errors that all
// carry a line, and the configuration compiles.
func FuzzParse(f *testing.F) {
	b, err := os.ReadFile(filepath.Join(testutil.Root(), "testdata", "data", sample))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte("*filter\n:INPUT DROP [0:0]\n:x - [0:0]\n-A INPUT ! -s 10.0.0.0/8 -p tcp -m multiport --ports 1:5,9 -g x\n-A x -m conntrack ! --ctstate NEW -j RETURN\nCOMMIT\n"))
	f.Add([]byte("*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p udp -m udp --sport :1023 -m iprange --dst-range 1.2.3.4-1.2.3.9 -j DROP\nCOMMIT\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, ds := iptables.Parse(data)
		for _, d := range ds {
			if d.Pos.Line == 0 {
				t.Fatalf("diagnostic without a line: %s", d)
			}
		}
		if cfg != nil {
			if _, err := eval.Compile(cfg); err != nil && !strings.Contains(err.Error(), "interfaces") {
				t.Fatal(err)
			}
		}
	})
}
