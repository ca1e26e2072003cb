package audit

// How the report describes packets and rules for people: each packet set
// once in full (PacketSet, for machines) and in a short text.

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/teamsgate/teamsgate/internal/audit/packet"
	"github.com/teamsgate/teamsgate/internal/audit/ruleset"
	"github.com/teamsgate/teamsgate/internal/model"
)

// describe turns cubes into PacketSets, in as few sets as say the same
// packets.
func (a *auditor) describe(s packet.Space, limit int) []PacketSet {
	var out []PacketSet
	for i, c := range s.Coalesce() {
		if limit > 0 && i == limit {
			break
		}
		out = append(out, a.packetSet(c))
	}
	return out
}

func (a *auditor) packetSet(c packet.Cube) PacketSet {
	ps := PacketSet{
		Protocol:         c.Proto.String(),
		Sources:          c.Src.Prefixes(),
		Destinations:     c.Dst.Prefixes(),
		SourcePorts:      portText(c.SPort),
		DestinationPorts: portText(c.DPort),
	}
	if nl := a.e.Universe.NotLoopback(); c.In != a.e.Universe.All() && c.In != nl {
		ps.InInterfaces = a.e.Universe.Names(c.In)
	}
	if nl := a.e.Universe.NotLoopback(); c.Out != a.e.Universe.All() && c.Out != nl {
		ps.OutInterfaces = a.e.Universe.Names(c.Out)
	}
	var b strings.Builder
	b.WriteString(ps.Protocol)
	b.WriteString(" from ")
	b.WriteString(a.addrText(c.Src))
	if ps.SourcePorts != "any" && hasPorts(c.Proto) {
		b.WriteString(" port " + ps.SourcePorts)
	}
	b.WriteString(" to ")
	b.WriteString(a.addrText(c.Dst))
	if ps.DestinationPorts != "any" && hasPorts(c.Proto) {
		b.WriteString(" port " + ps.DestinationPorts)
	}
	if c.Proto == packet.Protos(1) || c.Proto == packet.Protos(58) || c.Proto == packet.Protos(1, 58) {
		if ps.DestinationPorts != "any" {
			b.WriteString(" icmp type/code " + icmpText(c.DPort))
		}
	}
	if ps.InInterfaces != "" {
		b.WriteString(" in on " + ps.InInterfaces)
	}
	if ps.OutInterfaces != "" {
		b.WriteString(" out on " + ps.OutInterfaces)
	}
	ps.Text = b.String()
	return ps
}

// addrText is AddrSet.String, remembered per set: reports describe the
// same few sets (the scoped hosts, a rule's sources) many times, each time
// as a new value, so the sets are told apart by their ranges.
func (a *auditor) addrText(s packet.AddrSet) string {
	if s.IsEmpty() {
		return s.String()
	}
	rr := s.Ranges()
	key := make([]byte, 0, 33*len(rr))
	for _, r := range rr {
		f, t := r.From().As16(), r.To().As16()
		fam := byte(4)
		if r.From().Is6() {
			fam = 6
		}
		key = append(append(append(key, fam), f[:]...), t[:]...)
	}
	if t, ok := a.texts[string(key)]; ok {
		return t
	}
	t := s.String()
	if a.texts == nil {
		a.texts = map[string]string{}
	}
	a.texts[string(key)] = t
	return t
}

// spaceText describes a space, at most a few cubes.
func (a *auditor) spaceText(s packet.Space) string {
	const max = 4
	s = s.Coalesce()
	var parts []string
	for _, ps := range a.describe(s, max) {
		parts = append(parts, ps.Text)
	}
	if len(s) > max {
		parts = append(parts, fmt.Sprintf("and %d more packet sets", len(s)-max))
	}
	return strings.Join(parts, ", ")
}

// exceptText describes s, a part of whole, in the shorter of two ways:
// its own packet sets, or whole less the rest ("tcp from any to H port
// 443 except tcp from 52.112.0.0/14 to H port 443"), which says in one
// line what the set arithmetic splits into many.
func (a *auditor) exceptText(s, whole packet.Space) string {
	s = s.Coalesce()
	if len(s) < 2 || len(whole) == 0 {
		return a.spaceText(s)
	}
	w := whole.Coalesce()
	if len(w) != 1 {
		return a.spaceText(s)
	}
	rest := w.Subtract(s).Coalesce()
	if len(rest) == 0 || len(rest)+1 >= len(s) {
		return a.spaceText(s)
	}
	return a.packetSet(w[0]).Text + " except " + a.spaceText(rest)
}

func (a *auditor) familyName(s packet.Space) string {
	var v4, v6 bool
	for _, c := range s {
		v4 = v4 || c.Src.Overlaps(packet.V4Addrs())
		v6 = v6 || c.Src.Overlaps(packet.V6Addrs())
	}
	switch {
	case v4 && v6:
		return "IPv4 and IPv6"
	case v6:
		return "IPv6"
	}
	return "IPv4"
}

func lineName(l *ruleset.Line) string {
	if l == nil {
		return "the configuration (no chain filters this direction)"
	}
	if l.Default && l.Index == 0 && l.Action != ruleset.Continue {
		return l.ID
	}
	return l.String()
}

func hostList(hs []model.Host) string {
	s := make([]string, len(hs))
	for i, h := range hs {
		s[i] = h.String()
	}
	return strings.Join(s, " ")
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

func hasPorts(p packet.ProtoSet) bool { return p.Overlaps(packet.Protos(6, 17, 132, 136)) }

func portText(p model.PortSet) string {
	if p.IsAny() {
		return "any"
	}
	return p.String()
}

func icmpText(p model.PortSet) string {
	var parts []string
	for _, r := range p.Ranges() {
		t1, c1, t2, c2 := r.First>>8, r.First&0xff, r.Last>>8, r.Last&0xff
		switch {
		case c1 == 0 && c2 == 255 && t1 == t2:
			parts = append(parts, itoa(int(t1)))
		case c1 == 0 && c2 == 255:
			parts = append(parts, itoa(int(t1))+"-"+itoa(int(t2)))
		case t1 == t2 && c1 == c2:
			parts = append(parts, itoa(int(t1))+"/"+itoa(int(c1)))
		default:
			parts = append(parts, itoa(int(t1))+"/"+itoa(int(c1))+"-"+itoa(int(t2))+"/"+itoa(int(c2)))
		}
	}
	return strings.Join(parts, ",")
}

func itoa(i int) string { return strconv.Itoa(i) }
