// Package audittest holds helpers for the auditor's tests: packets written
// the way people write them, and the verdict a configuration gives them.
package audittest

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/teamsgate/teamsgate/internal/audit/eval"
	"github.com/teamsgate/teamsgate/internal/audit/packet"
	"github.com/teamsgate/teamsgate/internal/audit/ruleset"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/view"
)

// Packet parses "tcp 192.0.2.1:40000 > 198.51.100.10:443 [state] [in IF]
// [out IF]" (state: new, established, related, invalid, untracked; new when
// left out) for an engine's interface universe.
func Packet(t testing.TB, e *eval.Engine, s string) packet.Packet {
	t.Helper()
	f := strings.Fields(s)
	if len(f) < 4 || f[2] != ">" {
		t.Fatalf("packet %q: want \"PROTO SRC:PORT > DST:PORT ...\"", s)
	}
	proto, ok := packet.ParseProtoName(f[0])
	if !ok {
		t.Fatalf("packet %q: protocol", s)
	}
	src, sport := endpoint(t, s, f[1])
	dst, dport := endpoint(t, s, f[3])
	p := packet.Packet{Proto: proto, State: packet.StateNew, Src: src, Dst: dst, SPort: sport, DPort: dport}
	for i := 4; i < len(f); i++ {
		switch f[i] {
		case "in", "out":
			if i+1 == len(f) {
				t.Fatalf("packet %q: %s needs an interface", s, f[i])
			}
			c := e.Universe.Class(f[i+1])
			if f[i] == "in" {
				p.In = c
			} else {
				p.Out = c
			}
			i++
		default:
			st, ok := packet.ParseState(f[i])
			if !ok {
				t.Fatalf("packet %q: unknown word %q", s, f[i])
			}
			p.State = st
		}
	}
	return p
}

func endpoint(t testing.TB, s, ep string) (netip.Addr, uint16) {
	t.Helper()
	if ap, err := netip.ParseAddrPort(ep); err == nil {
		return ap.Addr(), ap.Port()
	}
	a, err := netip.ParseAddr(ep)
	if err != nil {
		t.Fatalf("packet %q: %q is not ADDR:PORT or ADDR", s, ep)
	}
	return a, 0
}

// Verdict returns "allow" or "deny" and the deciding line's id for a
// packet in a direction ("in", "out" or "fwd").
func Verdict(t testing.TB, e *eval.Engine, dir, pkt string) (string, string) {
	t.Helper()
	d := map[string]view.Direction{"in": view.Inbound, "out": view.Outbound, "fwd": view.Forward}[dir]
	fr := e.Verdict(d, Packet(t, e, pkt))
	id := ""
	if l := fr.Decider(); l != nil {
		id = l.ID
	}
	if fr.Verdict == model.VerdictAllow {
		return "allow", id
	}
	return "deny", id
}

// Case is a table-test row: a packet and the expected verdict, and
// optionally the deciding line.
type Case struct {
	Dir    string // in, out, fwd
	Packet string
	Want   string // allow or deny
	By     string // the deciding line's id, when checked
}

// Check compiles the configuration and checks every case.
func Check(t *testing.T, cfg *ruleset.Config, cases []Case, ifaces ...string) {
	t.Helper()
	e, err := eval.Compile(cfg, ifaces...)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		got, by := Verdict(t, e, c.Dir, c.Packet)
		if got != c.Want || (c.By != "" && by != c.By) {
			t.Errorf("case %d %s %s: %s by %q, want %s by %q", i, c.Dir, c.Packet, got, by, c.Want, c.By)
		}
	}
}
