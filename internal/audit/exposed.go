package audit

// Exposed management ports: can the whole Internet reach a port that
// administers the deployment's machines (SSH, RDP, WinRM, and the ports of
// the catalog's own management flows)? Such a rule is the commonest way a
// host is taken over, so it is an error whatever the plan says, and
// whether or not a management role is bound.

import (
	"fmt"
	"math"
	"strings"

	"github.com/teamsgate/teamsgate/internal/audit/packet"
	"github.com/teamsgate/teamsgate/internal/audit/ruleset"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/view"
)

// ManagementPort is a protocol and ports that administer a machine.
type ManagementPort struct {
	Proto model.Proto
	Ports model.PortSet
	// Name says what the port is for, in messages ("RDP").
	Name string
}

func (m ManagementPort) String() string {
	s := m.Proto.String() + "/" + m.Ports.String()
	if m.Name != "" {
		s = m.Name + " (" + s + ")"
	}
	return s
}

// DefaultManagementPorts are the ports checked unless the user gives
// others: SSH (tcp 22), RDP (tcp and udp 3389) and WinRM (tcp 5985-5986).
func DefaultManagementPorts() []ManagementPort {
	return []ManagementPort{
		{Proto: model.ProtoTCP, Ports: model.NewPortSet(model.PortRange{First: 22, Last: 22}), Name: "SSH"},
		{Proto: model.ProtoTCP, Ports: model.NewPortSet(model.PortRange{First: 3389, Last: 3389}), Name: "RDP"},
		{Proto: model.ProtoUDP, Ports: model.NewPortSet(model.PortRange{First: 3389, Last: 3389}), Name: "RDP"},
		{Proto: model.ProtoTCP, Ports: model.NewPortSet(model.PortRange{First: 5985, Last: 5986}), Name: "WinRM"},
	}
}

// ParseManagementPorts reads a list of management ports, "tcp/22,
// udp/3389, tcp/5985-5986"; "none" is the empty list.
func ParseManagementPorts(s string) ([]ManagementPort, error) {
	s = strings.TrimSpace(s)
	if s == "none" {
		return []ManagementPort{}, nil
	}
	var out []ManagementPort
	for i, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		proto, ports, ok := strings.Cut(item, "/")
		if !ok {
			return nil, fmt.Errorf("item %d %q: want PROTO/PORTS, e.g. tcp/22 or tcp/5985-5986", i+1, item)
		}
		p, err := model.ParseProto(proto)
		if err != nil || (p != model.ProtoTCP && p != model.ProtoUDP) {
			return nil, fmt.Errorf("item %d %q: protocol %q: want tcp or udp", i+1, item, proto)
		}
		ps, err := model.ParsePortSet(ports)
		if err != nil {
			return nil, fmt.Errorf("item %d %q: %v", i+1, item, err)
		}
		if ps.IsEmpty() || ps.IsAny() {
			return nil, fmt.Errorf("item %d %q: give the ports, not any", i+1, item)
		}
		out = append(out, ManagementPort{Proto: p, Ports: ps})
	}
	return out, nil
}

// managementApps are the catalog's applications that administer a machine:
// a flow of one of them is a management flow.
var managementApps = map[string]string{"rdp": "RDP", "ssh": "SSH", "winrm": "WinRM"}

// exposedShare is how much of a family's public Internet the sources of an
// allow must span for the port to count as exposed: "any", "Internet", or
// any address less a few exceptions.
const exposedShare = 0.5

// mgmtCheck is one management port on some of the deployment's hosts.
type mgmtCheck struct {
	port ManagementPort
	dst  packet.AddrSet
}

// exposed reports every rule that lets the Internet reach a management
// port of the deployment's hosts.
func (a *auditor) exposed() {
	if a.hosts.IsEmpty() {
		return
	}
	ports := a.opt.ManagementPorts
	if ports == nil {
		ports = DefaultManagementPorts()
	}
	var checks []mgmtCheck
	for _, p := range ports {
		checks = append(checks, mgmtCheck{port: p, dst: a.hosts})
	}
	// the catalog's management flows, at their own destinations
	for _, r := range a.plan.Rules {
		name, ok := managementApps[r.App]
		if !ok || r.Action != model.Allow || (r.Proto != model.ProtoTCP && r.Proto != model.ProtoUDP) || listed(ports, r.Proto, portsOf(r.DestPorts)) {
			continue
		}
		dst, _, err := a.side(r.Destination)
		if err != nil || dst.IsEmpty() {
			continue
		}
		checks = append(checks, mgmtCheck{port: ManagementPort{Proto: r.Proto, Ports: portsOf(r.DestPorts), Name: name + " (" + r.ID + ")"}, dst: dst.Intersect(a.hosts)})
	}
	dir := view.Forward
	if a.opt.Scope != "" || a.e.Config.Directional {
		dir = view.Inbound
	}
	inet := packet.AddrSetOf(model.Internet().Prefixes()...)
	type hit struct {
		line  *ruleset.Line
		names []string
		space packet.Space
		unres []*ruleset.Line
	}
	var hits []*hit
	byLine := map[*ruleset.Line]*hit{}
	for _, ck := range checks {
		if ck.dst.IsEmpty() {
			continue
		}
		in, out := a.ifaces(dir)
		c := packet.Cube{Proto: protoSet(ck.port.Proto), State: packet.StateSet(packet.StateNew), In: in, Out: out,
			Src: packet.AllAddrs(), Dst: ck.dst, SPort: packet.AllPorts(), DPort: ck.port.Ports}
		q, _ := a.familySplit(c)
		if len(q) == 0 {
			continue
		}
		for _, fr := range a.e.Eval(dir, q) {
			l := fr.Decider()
			if fr.Verdict != model.VerdictAllow || l == nil || !spansInternet(fr.Space, inet) || l.Default && l.Action != ruleset.Accept {
				continue
			}
			h := byLine[l]
			if h == nil {
				h = &hit{line: l}
				byLine[l] = h
				hits = append(hits, h)
			}
			h.names = appendName(h.names, ck.port.String())
			h.space = h.space.Union(fr.Space)
			h.unres = append(h.unres, fr.Unresolved...)
		}
	}
	for _, h := range hits {
		a.add(Finding{Kind: Exposed, Severity: SevError, Direction: dir.String(), Rule: refPtr(h.line),
			Message: fmt.Sprintf("exposed management port: %s lets the Internet reach %s on the deployment's hosts: %s",
				lineName(h.line), strings.Join(h.names, ", "), a.spaceText(h.space)),
			Packets:    a.describe(h.space, 0),
			Unresolved: refs(h.unres),
			space:      h.space})
	}
}

// spansInternet reports whether the sources of an allowed space span at
// least exposedShare of the public Internet of one address family.
func spansInternet(s packet.Space, inet packet.AddrSet) bool {
	var src packet.AddrSet
	for _, c := range s {
		src = src.Union(c.Src)
	}
	for _, fam := range []packet.AddrSet{packet.V4Addrs(), packet.V6Addrs()} {
		all := inet.Intersect(fam)
		if size(src.Intersect(all)) >= exposedShare*size(all) && !src.Intersect(all).IsEmpty() {
			return true
		}
	}
	return false
}

// size is the number of addresses in a set, as a float: exact enough to
// compare shares of an address family.
func size(s packet.AddrSet) float64 {
	n := 0.0
	for _, p := range s.Prefixes() {
		n += math.Exp2(float64(p.Addr().BitLen() - p.Bits()))
	}
	return n
}

// listed reports whether the list already checks a protocol and ports on
// every host.
func listed(ports []ManagementPort, proto model.Proto, ps model.PortSet) bool {
	for _, p := range ports {
		if p.Proto == proto && p.Ports.Covers(ps) {
			return true
		}
	}
	return false
}

func appendName(ns []string, n string) []string {
	for _, x := range ns {
		if x == n {
			return ns
		}
	}
	return append(ns, n)
}
