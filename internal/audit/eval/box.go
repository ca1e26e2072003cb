package eval

import (
	"net/netip"

	"github.com/teamsgate/teamsgate/internal/audit/packet"
)

// box is the bounding box of a space: per field the lowest and highest
// value, and the union of the bit-set fields. Two spaces whose boxes do
// not meet share no packet; the evaluator and the shadowing index test
// boxes first, at a few nanoseconds each, before any set operation.
type box struct {
	proto    packet.ProtoSet
	state    packet.StateSet
	in, out  packet.IfaceSet
	src, dst [2]addrKey
	sp, dp   [2]uint16
	empty    bool
}

// addrKey orders addresses as 128-bit numbers (IPv4 as ::ffff:a.b.c.d).
type addrKey struct{ hi, lo uint64 }

func keyOf(a netip.Addr) addrKey {
	b := a.As16()
	var k addrKey
	for i := 0; i < 8; i++ {
		k.hi = k.hi<<8 | uint64(b[i])
		k.lo = k.lo<<8 | uint64(b[8+i])
	}
	return k
}

func (a addrKey) less(b addrKey) bool { return a.hi < b.hi || a.hi == b.hi && a.lo < b.lo }

func boxOf(s packet.Space) box {
	if len(s) == 0 {
		return box{empty: true}
	}
	var b box
	for i, c := range s {
		srcLo, srcHi := keyOf(c.Src.First()), keyOf(c.Src.Last())
		dstLo, dstHi := keyOf(c.Dst.First()), keyOf(c.Dst.Last())
		sr, dr := c.SPort.Ranges(), c.DPort.Ranges()
		if i == 0 {
			b = box{proto: c.Proto, state: c.State, in: c.In, out: c.Out,
				src: [2]addrKey{srcLo, srcHi}, dst: [2]addrKey{dstLo, dstHi},
				sp: [2]uint16{sr[0].First, sr[len(sr)-1].Last}, dp: [2]uint16{dr[0].First, dr[len(dr)-1].Last}}
			continue
		}
		b.proto = b.proto.Or(c.Proto)
		b.state |= c.State
		b.in |= c.In
		b.out |= c.Out
		if srcLo.less(b.src[0]) {
			b.src[0] = srcLo
		}
		if b.src[1].less(srcHi) {
			b.src[1] = srcHi
		}
		if dstLo.less(b.dst[0]) {
			b.dst[0] = dstLo
		}
		if b.dst[1].less(dstHi) {
			b.dst[1] = dstHi
		}
		b.sp[0], b.sp[1] = min(b.sp[0], sr[0].First), max(b.sp[1], sr[len(sr)-1].Last)
		b.dp[0], b.dp[1] = min(b.dp[0], dr[0].First), max(b.dp[1], dr[len(dr)-1].Last)
	}
	return b
}

// meets reports whether two boxes intersect.
func (a box) meets(b box) bool {
	return !a.empty && !b.empty &&
		a.state&b.state != 0 && a.in&b.in != 0 && a.out&b.out != 0 &&
		a.dp[0] <= b.dp[1] && b.dp[0] <= a.dp[1] &&
		a.sp[0] <= b.sp[1] && b.sp[0] <= a.sp[1] &&
		!b.dst[1].less(a.dst[0]) && !a.dst[1].less(b.dst[0]) &&
		!b.src[1].less(a.src[0]) && !a.src[1].less(b.src[0]) &&
		a.proto.Overlaps(b.proto)
}

// holds reports whether the box may hold the packet p, whose addresses'
// keys are src and dst.
func (a box) holds(p packet.Packet, src, dst addrKey) bool {
	return !a.empty &&
		a.state&packet.StateSet(p.State) != 0 && a.in&(1<<p.In) != 0 && a.out&(1<<p.Out) != 0 &&
		a.dp[0] <= p.DPort && p.DPort <= a.dp[1] &&
		a.sp[0] <= p.SPort && p.SPort <= a.sp[1] &&
		!dst.less(a.dst[0]) && !a.dst[1].less(dst) &&
		!src.less(a.src[0]) && !a.src[1].less(src) &&
		a.proto.Has(p.Proto)
}
