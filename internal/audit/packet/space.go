// Package packet is the algebra of packet sets the auditor computes with:
// one set per header field (AddrSet, ProtoSet, StateSet, IfaceSet, and
// model.PortSet for ports), their products (Cube) and unions of disjoint
// products (Space), and single packets as points of that space (Packet).
//
// Every operation is exact set arithmetic over whole fields, never a walk
// over addresses or ports, so that a rule set of thousands of lines is
// evaluated in milliseconds. The package holds value types only and
// imports nothing of the auditor: the IR of a parsed configuration
// (audit/ruleset) and the evaluator (audit/eval) are built on it, as
// netipx is built on net/netip.
package packet

import (
	"net/netip"

	"github.com/teamsgate/teamsgate/internal/model"
)

// Cube is a set of packets that is a product of one set per header field:
// protocol, conntrack state, input and output interface, source and
// destination address, source and destination port. For ICMP the
// destination-port field carries type<<8|code, so that type and code
// matches are port-like ranges; protocols without ports ignore the port
// fields (rules never constrain them for such protocols).
//
// Every rule match of every supported format is one cube or a union of a
// few, so the evaluator works on unions of disjoint cubes: exact set
// arithmetic, never a walk over addresses or ports.
type Cube struct {
	Proto        ProtoSet
	State        StateSet
	In, Out      IfaceSet
	Src, Dst     AddrSet
	SPort, DPort model.PortSet
}

// IsEmpty reports whether some field is empty, so the cube holds no packet.
func (c Cube) IsEmpty() bool {
	return c.Proto.IsEmpty() || c.State == 0 || c.In == 0 || c.Out == 0 ||
		c.Src.IsEmpty() || c.Dst.IsEmpty() || c.SPort.IsEmpty() || c.DPort.IsEmpty()
}

// Overlaps reports whether the cubes share a packet. The cheap fields are
// tested first.
func (c Cube) Overlaps(o Cube) bool {
	return c.State&o.State != 0 && c.In&o.In != 0 && c.Out&o.Out != 0 &&
		c.Proto.Overlaps(o.Proto) &&
		portsOverlap(c.DPort, o.DPort) && portsOverlap(c.SPort, o.SPort) &&
		c.Dst.Overlaps(o.Dst) && c.Src.Overlaps(o.Src)
}

// Covers reports whether every packet of o is in c.
func (c Cube) Covers(o Cube) bool {
	return o.State&^c.State == 0 && o.In&^c.In == 0 && o.Out&^c.Out == 0 &&
		c.Proto.Covers(o.Proto) &&
		portsCover(c.DPort, o.DPort) && portsCover(c.SPort, o.SPort) &&
		c.Dst.Covers(o.Dst) && c.Src.Covers(o.Src)
}

// Intersect returns the packets in both cubes and whether there are any.
func (c Cube) Intersect(o Cube) (Cube, bool) {
	if !c.Overlaps(o) {
		return Cube{}, false
	}
	r := Cube{
		Proto: c.Proto.And(o.Proto),
		State: c.State & o.State,
		In:    c.In & o.In,
		Out:   c.Out & o.Out,
		Src:   c.Src.Intersect(o.Src),
		Dst:   c.Dst.Intersect(o.Dst),
		SPort: intersectPorts(c.SPort, o.SPort),
		DPort: intersectPorts(c.DPort, o.DPort),
	}
	return r, !r.IsEmpty()
}

func intersectPorts(a, b model.PortSet) model.PortSet {
	switch {
	case portsCover(a, b):
		return b
	case portsCover(b, a):
		return a
	}
	return a.Intersect(b)
}

// subtract appends c minus o to out as disjoint cubes: for each field in
// turn, the part of the remainder outside o's field is split off, and the
// remainder narrows to o's field. At most one cube per field.
func (c Cube) subtract(o Cube, out []Cube) []Cube {
	if !c.Overlaps(o) {
		return append(out, c)
	}
	rest := c
	if d := rest.State &^ o.State; d != 0 {
		p := rest
		p.State = d
		out = append(out, p)
		rest.State &= o.State
	}
	if d := rest.Proto.AndNot(o.Proto); !d.IsEmpty() {
		p := rest
		p.Proto = d
		out = append(out, p)
		rest.Proto = rest.Proto.And(o.Proto)
	}
	if d := rest.In &^ o.In; d != 0 {
		p := rest
		p.In = d
		out = append(out, p)
		rest.In &= o.In
	}
	if d := rest.Out &^ o.Out; d != 0 {
		p := rest
		p.Out = d
		out = append(out, p)
		rest.Out &= o.Out
	}
	if !portsCover(o.DPort, rest.DPort) {
		p := rest
		p.DPort = rest.DPort.Difference(o.DPort)
		out = append(out, p)
		rest.DPort = intersectPorts(rest.DPort, o.DPort)
	}
	if !portsCover(o.SPort, rest.SPort) {
		p := rest
		p.SPort = rest.SPort.Difference(o.SPort)
		out = append(out, p)
		rest.SPort = intersectPorts(rest.SPort, o.SPort)
	}
	if !o.Dst.Covers(rest.Dst) {
		p := rest
		p.Dst = rest.Dst.Difference(o.Dst)
		out = append(out, p)
		rest.Dst = rest.Dst.Intersect(o.Dst)
	}
	if !o.Src.Covers(rest.Src) {
		p := rest
		p.Src = rest.Src.Difference(o.Src)
		out = append(out, p)
	}
	return out
}

// Space is a set of packets: a union of pairwise disjoint, non-empty
// cubes. The zero value is the empty set.
type Space []Cube

// IsEmpty reports whether the space holds no packet.
func (s Space) IsEmpty() bool { return len(s) == 0 }

// Overlaps reports whether the space shares a packet with the cube.
func (s Space) Overlaps(c Cube) bool {
	for _, x := range s {
		if x.Overlaps(c) {
			return true
		}
	}
	return false
}

// IntersectCube returns the part of s inside c.
func (s Space) IntersectCube(c Cube) Space {
	var out Space
	for _, x := range s {
		if y, ok := x.Intersect(c); ok {
			out = append(out, y)
		}
	}
	return out
}

// Intersect returns the packets in both spaces.
func (s Space) Intersect(o Space) Space {
	var out Space
	for _, c := range o {
		out = append(out, s.IntersectCube(c)...)
	}
	return out
}

// SubtractCube returns the part of s outside c.
func (s Space) SubtractCube(c Cube) Space {
	var out Space
	for _, x := range s {
		out = x.subtract(c, out)
	}
	return out
}

// Subtract returns the packets of s not in o.
func (s Space) Subtract(o Space) Space {
	out := s
	for _, c := range o {
		if len(out) == 0 {
			break
		}
		out = out.SubtractCube(c)
	}
	return out
}

// Union returns the packets in either space, still disjoint.
func (s Space) Union(o Space) Space {
	return append(append(Space(nil), s...), o.Subtract(s)...)
}

// Covers reports whether every packet of o is in s.
func (s Space) Covers(o Space) bool { return o.Subtract(s).IsEmpty() }

// Contains reports whether the space holds the packet.
func (s Space) Contains(p Packet) bool {
	for _, c := range s {
		if c.Contains(p) {
			return true
		}
	}
	return false
}

// Packet is one point of the packet space: a concrete header, its
// conntrack state and its interface classes.
type Packet struct {
	Proto        uint8
	State        State
	In, Out      int // class indexes in the configuration's Universe
	Src, Dst     netip.Addr
	SPort, DPort uint16
}

// Contains reports whether the cube holds the packet.
func (c Cube) Contains(p Packet) bool {
	return c.Proto.Has(p.Proto) && c.State&StateSet(p.State) != 0 &&
		c.In&(1<<p.In) != 0 && c.Out&(1<<p.Out) != 0 &&
		c.SPort.Contains(p.SPort) && c.DPort.Contains(p.DPort) &&
		c.Src.Contains(p.Src) && c.Dst.Contains(p.Dst)
}

// coalesceLimit bounds the cubes Coalesce works on: it compares every pair,
// and a space for people to read has a handful.
const coalesceLimit = 256

// Coalesce returns the same set of packets in fewer cubes where it can:
// two cubes equal in every field but one are one cube whose field is the
// union of theirs (disjoint cubes stay disjoint). It is for describing a
// space to people, where a set split along a field that does not matter
// ("tcp from A port 0-1023", "tcp from A port 1024-65535") reads as one
// ("tcp from A"). A space of more than coalesceLimit cubes is returned as
// it is.
func (s Space) Coalesce() Space {
	if len(s) < 2 || len(s) > coalesceLimit {
		return s
	}
	out := append(Space(nil), s...)
	for merged := true; merged; {
		merged = false
		for i := 0; i < len(out); i++ {
			for j := i + 1; j < len(out); j++ {
				if c, ok := join(out[i], out[j]); ok {
					out[i] = c
					out = append(out[:j], out[j+1:]...)
					merged = true
					j--
				}
			}
		}
	}
	return out
}

// join returns the cube that is exactly a ∪ b, when a and b differ in one
// field only. It compares the fields first (cheap) and builds the one
// union only when they differ in exactly one.
func join(a, b Cube) (Cube, bool) {
	const (
		fProto = iota
		fState
		fIn
		fOut
		fSrc
		fDst
		fSPort
		fDPort
	)
	field := -1
	for i, same := range [...]func() bool{
		fProto: func() bool { return a.Proto == b.Proto },
		fState: func() bool { return a.State == b.State },
		fIn:    func() bool { return a.In == b.In },
		fOut:   func() bool { return a.Out == b.Out },
		fSrc:   func() bool { return a.Src.Equal(b.Src) },
		fDst:   func() bool { return a.Dst.Equal(b.Dst) },
		fSPort: func() bool { return a.SPort.Equal(b.SPort) },
		fDPort: func() bool { return a.DPort.Equal(b.DPort) },
	} {
		if same() {
			continue
		}
		if field >= 0 {
			return Cube{}, false
		}
		field = i
	}
	c := a
	switch field {
	case fProto:
		c.Proto = a.Proto.Or(b.Proto)
	case fState:
		c.State = a.State | b.State
	case fIn:
		c.In = a.In | b.In
	case fOut:
		c.Out = a.Out | b.Out
	case fSrc:
		c.Src = a.Src.Union(b.Src)
	case fDst:
		c.Dst = a.Dst.Union(b.Dst)
	case fSPort:
		c.SPort = a.SPort.Union(b.SPort)
	case fDPort:
		c.DPort = a.DPort.Union(b.DPort)
	}
	return c, true
}
