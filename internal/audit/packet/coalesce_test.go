package packet

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/teamsgate/teamsgate/internal/model"
)

// TestCoalesce: the coalesced space holds exactly the same packets, in
// disjoint cubes, and a space split along one field becomes one cube.
func TestCoalesce(t *testing.T) {
	base := Cube{Proto: Protos(6), State: StateSet(StateNew), In: 1, Out: 1,
		Src: AddrSetOf(netip.MustParsePrefix("0.0.0.0/0")), Dst: AddrSetOf(netip.MustParsePrefix("198.51.100.10/32")),
		SPort: AllPorts(), DPort: model.NewPortSet(model.Port(443))}
	lo, hi := base, base
	lo.SPort = model.NewPortSet(model.PortRange{First: 0, Last: 1023})
	hi.SPort = model.NewPortSet(model.PortRange{First: 1024, Last: 65535})
	if got := (Space{lo, hi}).Coalesce(); len(got) != 1 || !got[0].SPort.IsAny() {
		t.Errorf("a space split along source ports: %d cubes, want 1 of any source port", len(got))
	}

	// Random spaces: exactness and disjointness against points.
	r := rand.New(rand.NewPCG(1, 2))
	port := func() model.PortSet {
		a := uint16(r.IntN(8))
		return model.NewPortSet(model.PortRange{First: a, Last: a + uint16(r.IntN(3))})
	}
	addr := func() AddrSet {
		return AddrSetOf(netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(r.IntN(8))}), 31+r.IntN(2)))
	}
	for trial := range 200 {
		var s Space
		for range 1 + r.IntN(6) {
			c := base
			c.Src, c.SPort, c.DPort = addr(), port(), port()
			s = s.Union(Space{c})
		}
		got := s.Coalesce()
		if len(got) > len(s) {
			t.Fatalf("trial %d: %d cubes from %d", trial, len(got), len(s))
		}
		for a := range 10 {
			for sp := range 12 {
				for dp := range 12 {
					p := Packet{Proto: 6, State: StateNew, In: 0, Out: 0,
						Src: netip.AddrFrom4([4]byte{10, 0, 0, byte(a)}), Dst: netip.MustParseAddr("198.51.100.10"),
						SPort: uint16(sp), DPort: uint16(dp)}
					if s.Contains(p) != got.Contains(p) {
						t.Fatalf("trial %d: %v in the space %v, in the coalesced one %v", trial, p, s.Contains(p), got.Contains(p))
					}
					n := 0
					for _, c := range got {
						if c.Contains(p) {
							n++
						}
					}
					if n > 1 {
						t.Fatalf("trial %d: %v in %d cubes of the coalesced space", trial, p, n)
					}
				}
			}
		}
	}
}
