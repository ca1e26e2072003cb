package nftables_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/teamsgate/teamsgate/internal/audit/audittest"
	"github.com/teamsgate/teamsgate/internal/audit/eval"
	"github.com/teamsgate/teamsgate/internal/audit/formats/nftables"
	"github.com/teamsgate/teamsgate/internal/audit/ruleset"
)

// testdata/probe.json is `nft -j list ruleset` (nft 1.0.6, kernel 6.18) of
// testdata/probe.nft: named and anonymous sets, ranges, negation, th,
// jump, goto, return, a verdict map, ct state, tcp flags, two tables.
func probe(t *testing.T) *ruleset.Config {
	t.Helper()
	cfg, ds := nftables.ParseFile(filepath.Join("testdata", "probe.json"))
	if len(ds) > 0 {
		t.Fatalf("diagnostics: %s", ds)
	}
	return cfg
}

func TestProbe(t *testing.T) {
	cfg := probe(t)
	const in = "inet filter input"
	audittest.Check(t, cfg, []audittest.Case{
		{Dir: "in", Packet: "tcp 127.0.0.1:1 > 127.0.0.1:2 in lo", Want: "allow", By: in + "#1 (handle 5)"},
		{Dir: "in", Packet: "tcp 203.0.113.1:1 > 198.51.100.1:2 established", Want: "allow", By: in + "#2 (handle 6)"},
		{Dir: "in", Packet: "tcp 203.0.113.1:1 > 198.51.100.1:2 invalid", Want: "deny", By: in + "#3 (handle 7)"},
		// named sets: interval addresses, ports
		{Dir: "in", Packet: "tcp 198.51.100.9:1 > 198.51.100.200:443", Want: "allow", By: in + "#4 (handle 8)"},
		// 198.51.100.10 is outside @allowed; tcp 443 then falls to the
		// sport check (sport 1 < 1024: drop)
		{Dir: "in", Packet: "tcp 198.51.100.10:1 > 198.51.100.200:443", Want: "deny", By: in + "#11 (handle 18)"},
		// != anonymous set, range
		{Dir: "in", Packet: "udp 192.0.2.1:5 > 198.51.100.200:1500", Want: "allow", By: in + "#5 (handle 10)"},
		{Dir: "in", Packet: "udp 10.1.1.1:5 > 198.51.100.200:1500", Want: "deny"},
		// th dport for a set of protocols
		{Dir: "in", Packet: "udp 10.1.1.1:5 > 198.51.100.200:53", Want: "allow", By: in + "#6 (handle 12)"},
		// jump: sub returns for 203.0.113.0/24, which then goes on
		{Dir: "in", Packet: "tcp 192.0.2.1:40000 > 198.51.100.200:22", Want: "allow", By: "inet filter sub#2 (handle 21)"},
		{Dir: "in", Packet: "tcp 203.0.113.1:40000 > 192.0.2.200:22", Want: "deny", By: "inet filter input policy drop"},
		{Dir: "in", Packet: "icmp 10.1.1.1 > 198.51.100.200:2048", Want: "allow", By: in + "#8 (handle 15)"},
		// the verdict map
		{Dir: "in", Packet: "tcp 10.1.1.1:40000 > 198.51.100.200:25", Want: "deny", By: in + "#9 (handle 17)"},
		{Dir: "in", Packet: "tcp 10.1.1.1:40000 > 198.51.100.200:26", Want: "allow", By: in + "#10 (handle 17)"},
		// goto: sub's return goes back past input, to its policy
		{Dir: "in", Packet: "tcp 203.0.113.1:40000 > 198.51.100.200:9999", Want: "deny", By: "inet filter input policy drop"},
		{Dir: "in", Packet: "tcp 192.0.2.222:40000 > 198.51.100.200:9999", Want: "allow", By: "inet filter sub#2 (handle 21)"},
		// the ip table's output chain, an interface wildcard
		{Dir: "out", Packet: "udp 198.51.100.1:5 > 192.0.2.1:9 out eth0", Want: "deny", By: "ip t2 out#1 (handle 2)"},
		{Dir: "out", Packet: "udp 198.51.100.1:5 > 192.0.2.1:9 out wlan0", Want: "allow"},
		{Dir: "out", Packet: "udp [2001:db8::1]:5 > [2001:db8::2]:9 out eth0", Want: "allow"},
	}, "lo", "eth0", "wlan0")
}

func TestBaseChains(t *testing.T) {
	// Two base chains on the input hook: an accept in the first does not
	// spare the packet the second (nftables wiki, "Configuring chains").
	js := `{"nftables":[
 {"table":{"family":"inet","name":"a","handle":1}},
 {"chain":{"family":"inet","table":"a","name":"early","handle":1,"type":"filter","hook":"input","prio":-10,"policy":"accept"}},
 {"rule":{"family":"inet","table":"a","chain":"early","handle":2,"expr":[{"accept":null}]}},
 {"table":{"family":"ip","name":"b","handle":2}},
 {"chain":{"family":"ip","table":"b","name":"late","handle":1,"type":"filter","hook":"input","prio":10,"policy":"accept"}},
 {"rule":{"family":"ip","table":"b","chain":"late","handle":2,"expr":[{"match":{"op":"==","left":{"payload":{"protocol":"tcp","field":"dport"}},"right":22}},{"drop":null}]}},
 {"chain":{"family":"ip","table":"b","name":"rewrite","handle":3,"type":"nat","hook":"prerouting","prio":-100,"policy":"accept"}}
]}`
	cfg, ds := nftables.Parse([]byte(js))
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	audittest.Check(t, cfg, []audittest.Case{
		{Dir: "in", Packet: "tcp 192.0.2.1:1 > 198.51.100.1:22", Want: "deny", By: "ip b late#1 (handle 2)"},
		{Dir: "in", Packet: "tcp 192.0.2.1:1 > 198.51.100.1:23", Want: "allow"},
		// the ip table does not see IPv6
		{Dir: "in", Packet: "tcp [2001:db8::1]:1 > [2001:db8::2]:22", Want: "allow"},
	})
	if !strings.Contains(strings.Join(cfg.Notes, "\n"), "type nat") {
		t.Errorf("notes %v do not mention the nat chain", cfg.Notes)
	}
}

func TestUnresolvable(t *testing.T) {
	js := `{"nftables":[
 {"table":{"family":"inet","name":"a","handle":1}},
 {"chain":{"family":"inet","table":"a","name":"in","handle":1,"type":"filter","hook":"input","prio":0,"policy":"drop"}},
 {"rule":{"family":"inet","table":"a","chain":"in","handle":2,"expr":[{"match":{"op":"==","left":{"meta":{"key":"mark"}},"right":1}},{"accept":null}]}},
 {"rule":{"family":"inet","table":"a","chain":"in","handle":3,"expr":[{"limit":{"rate":5,"per":"second"}},{"accept":null}]}},
 {"rule":{"family":"inet","table":"a","chain":"in","handle":4,"expr":[{"match":{"op":"==","left":{"concat":[{"payload":{"protocol":"ip","field":"saddr"}},{"payload":{"protocol":"tcp","field":"dport"}}]},"right":"@pairs"}},{"accept":null}]}}
]}`
	cfg, ds := nftables.Parse([]byte(js))
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	for i, l := range cfg.Lines() {
		if len(l.Unresolved) == 0 {
			t.Errorf("line %d (%s) is not marked unresolvable", i+1, l.Text)
		}
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string // line:col of each error
	}{
		{name: "not JSON", in: "table inet x {}", want: []string{"1:1"}},
		{name: "no nftables key", in: `{"x": []}`, want: []string{"1:1"}},
		{name: "rule for unknown chain", in: "{\"nftables\":[\n {\"rule\":{\"family\":\"ip\",\"table\":\"t\",\"chain\":\"c\",\"expr\":[]}}\n]}", want: []string{"2:10"}},
		{name: "bad address and unknown statement", in: "{\"nftables\":[\n{\"table\":{\"family\":\"ip\",\"name\":\"t\"}},\n{\"chain\":{\"family\":\"ip\",\"table\":\"t\",\"name\":\"c\",\"hook\":\"input\",\"prio\":0,\"type\":\"filter\"}},\n{\"rule\":{\"family\":\"ip\",\"table\":\"t\",\"chain\":\"c\",\"expr\":[{\"match\":{\"op\":\"==\",\"left\":{\"payload\":{\"protocol\":\"ip\",\"field\":\"saddr\"}},\"right\":\"nope\"}},{\"teleport\":null}]}}\n]}", want: []string{"4:137", "4:158"}},
		{name: "loop", in: "{\"nftables\":[\n{\"table\":{\"family\":\"ip\",\"name\":\"t\"}},\n{\"chain\":{\"family\":\"ip\",\"table\":\"t\",\"name\":\"a\",\"hook\":\"input\",\"prio\":0,\"type\":\"filter\"}},\n{\"chain\":{\"family\":\"ip\",\"table\":\"t\",\"name\":\"b\"}},\n{\"chain\":{\"family\":\"ip\",\"table\":\"t\",\"name\":\"c\"}},\n{\"rule\":{\"family\":\"ip\",\"table\":\"t\",\"chain\":\"a\",\"expr\":[{\"jump\":{\"target\":\"b\"}}]}},\n{\"rule\":{\"family\":\"ip\",\"table\":\"t\",\"chain\":\"b\",\"expr\":[{\"jump\":{\"target\":\"c\"}}]}},\n{\"rule\":{\"family\":\"ip\",\"table\":\"t\",\"chain\":\"c\",\"expr\":[{\"jump\":{\"target\":\"b\"}}]}}\n]}", want: []string{"8:9"}},
		{name: "jump to undeclared chain", in: "{\"nftables\":[\n{\"table\":{\"family\":\"ip\",\"name\":\"t\"}},\n{\"chain\":{\"family\":\"ip\",\"table\":\"t\",\"name\":\"c\"}},\n{\"rule\":{\"family\":\"ip\",\"table\":\"t\",\"chain\":\"c\",\"expr\":[{\"jump\":{\"target\":\"d\"}}]}}\n]}", want: []string{"4:64"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ds := nftables.Parse([]byte(tc.in))
			errs := ds.Errors()
			var got []string
			for _, d := range errs {
				got = append(got, d.Pos.String())
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("errors at %v, want %v: %s", got, tc.want, ds)
			}
		})
	}
}

// FuzzParse: any input parses to a configuration or to errors that all
// carry a position, and the configuration compiles.
func FuzzParse(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("testdata", "probe.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"nftables":[{"table":{"family":"inet","name":"a"}},{"chain":{"family":"inet","table":"a","name":"c","hook":"forward","prio":0,"policy":"drop"}},{"rule":{"family":"inet","table":"a","chain":"c","expr":[{"vmap":{"key":{"payload":{"protocol":"tcp","field":"dport"}},"data":{"set":[[22,{"accept":null}]]}}}]}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, ds := nftables.Parse(data)
		for _, d := range ds {
			if d.Pos.Line == 0 {
				t.Fatalf("diagnostic without a position: %s", d)
			}
		}
		if cfg != nil {
			if _, err := eval.Compile(cfg); err != nil && !strings.Contains(err.Error(), "interfaces") {
				t.Fatal(err)
			}
		}
	})
}
