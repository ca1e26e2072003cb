package probe

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"go4.org/netipx"

	"github.com/teamsgate/teamsgate/internal/model"
)

// KindEcho is a probe of one of your own roles: a nonce sent to a port
// that probe listen holds open there, and the same nonce back.
const KindEcho Kind = "echo"

// echoMagic starts every echo message, so that a listener answers only
// probes and a probe accepts only a listener's answer.
const echoMagic = "TEAMSGATE-PROBE "

// PeerChecks builds the checks of the rules from role to peer (role names,
// or INTEGRATION/ROLE), aimed at addr, which must be an address the plan
// binds peer to: every port of the rules, a range at its first and last.
func PeerChecks(p *model.Plan, role, peer string, addr netip.Addr) ([]Check, error) {
	var checks []Check
	inPeer := false
	seen := map[string]bool{}
	for _, r := range p.Rules {
		if !roleIs(r, r.Source, role) || !roleIs(r, r.Destination, peer) || r.Action == model.Deny {
			continue
		}
		if r.Destination.IPSet().Contains(addr) {
			inPeer = true
		}
		if r.Proto != model.ProtoTCP && r.Proto != model.ProtoUDP || r.DestPorts.IsAny() {
			continue
		}
		for _, port := range samplePorts(r.DestPorts) {
			k := fmt.Sprintf("%s/%d", r.Proto, port)
			if seen[k] {
				continue
			}
			seen[k] = true
			checks = append(checks, Check{Rule: r.ID, Kind: KindEcho, Addr: addr, Port: port, udp: r.Proto == model.ProtoUDP})
		}
	}
	if len(checks) == 0 {
		return nil, fmt.Errorf("no rule of the plan goes from %s to %s", role, peer)
	}
	if !inPeer {
		return nil, fmt.Errorf("%s is not an address the plan binds %s to: a probe contacts only what the plan names", addr, peer)
	}
	return checks, nil
}

func roleIs(r model.Rule, t model.Target, role string) bool {
	if i, name, ok := strings.Cut(role, "/"); ok {
		return r.Integration == i && t.Role == name
	}
	return t.Role == role
}

// probeEcho sends a nonce over TCP or UDP and waits for it back.
func probeEcho(ctx context.Context, c Check, r *Result) {
	network := "tcp"
	if c.udp {
		network = "udp"
		r.Kind = KindEcho
	}
	ap := netip.AddrPortFrom(c.Addr, c.Port)
	r.Addr = network + " " + ap.String()
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, ap.String())
	if err != nil {
		classifyDial(err, r)
		if r.Outcome == Pass {
			r.Outcome, r.Reason = Blocked, "refused: probe listen is not running there, or not on this port"
		}
		return
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	nonce := newNonce()
	if _, err := conn.Write([]byte(echoMagic + nonce + "\n")); err != nil {
		r.Outcome, r.Reason = Blocked, err.Error()
		return
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	switch {
	case err != nil && (errors.Is(err, context.DeadlineExceeded) || isTimeout(err)):
		r.Outcome, r.Reason = Blocked, "filtered: no answer before the timeout"
	case err != nil && !c.udp && line == "":
		r.Outcome, r.Reason = Blocked, "connected, but the peer closed without answering: not probe listen, or this source is not in its plan"
	case err != nil:
		r.Outcome, r.Reason = Blocked, err.Error()
	case strings.TrimSpace(line) != strings.TrimSpace(echoMagic+nonce):
		r.Outcome, r.Reason = Blocked, "an answer that is not the nonce sent"
	default:
		r.Outcome, r.Reason = Pass, "the peer's probe listen echoed the nonce"
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func newNonce() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Listener is what probe listen holds open: the inbound ports of a role,
// answering probes from the plan's sources only.
type Listener struct {
	// Ports lists what is open, as "tcp 443" and "udp 40000".
	Ports []string
	// Capped is true when a rule's range held more ports than the limit:
	// its first and last ports, and as many more as the limit allows, are
	// open.
	Capped bool

	stop func()
	wg   sync.WaitGroup
}

// Listen opens the inbound TCP and UDP ports of the rules whose
// destination is role, at most maxPorts in all, on every address of the
// host, and answers each probe whose source address the rule for that
// port allows; any other connection or datagram gets nothing.
func Listen(p *model.Plan, role string, maxPorts int) (*Listener, error) {
	type key struct {
		udp  bool
		port uint16
	}
	allowed := map[key]*netipx.IPSetBuilder{}
	var order []key
	l := &Listener{}
	for _, r := range p.Rules {
		if !roleIs(r, r.Destination, role) || r.Action == model.Deny || r.Proto != model.ProtoTCP && r.Proto != model.ProtoUDP || r.DestPorts.IsAny() {
			continue
		}
		for _, port := range listenPorts(r.DestPorts, maxPorts) {
			k := key{r.Proto == model.ProtoUDP, port}
			if allowed[k] == nil {
				allowed[k] = &netipx.IPSetBuilder{}
				order = append(order, k)
			}
			allowed[k].AddSet(r.Source.IPSet())
		}
		if r.DestPorts.Len() > maxPorts {
			l.Capped = true
		}
	}
	if len(order) == 0 {
		return nil, fmt.Errorf("no rule of the plan has %s as its destination on a TCP or UDP port", role)
	}
	if len(order) > maxPorts {
		order = order[:maxPorts]
		l.Capped = true
	}
	ctx, cancel := context.WithCancel(context.Background())
	var closers []func()
	l.stop = func() {
		cancel()
		for _, c := range closers {
			c()
		}
	}
	for _, k := range order {
		set, _ := allowed[k].IPSet()
		addr := fmt.Sprintf(":%d", k.port)
		if k.udp {
			pc, err := net.ListenPacket("udp", addr)
			if err != nil {
				l.stop()
				return nil, fmt.Errorf("udp port %d: %w", k.port, err)
			}
			closers = append(closers, func() { pc.Close() })
			l.Ports = append(l.Ports, fmt.Sprintf("udp %d", k.port))
			l.wg.Add(1)
			go func() { defer l.wg.Done(); serveEchoUDP(pc, set) }()
			continue
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			l.stop()
			return nil, fmt.Errorf("tcp port %d: %w", k.port, err)
		}
		closers = append(closers, func() { ln.Close() })
		l.Ports = append(l.Ports, fmt.Sprintf("tcp %d", k.port))
		l.wg.Add(1)
		go func() { defer l.wg.Done(); serveEchoTCP(ctx, ln, set) }()
	}
	return l, nil
}

// Close stops the listener and waits for it.
func (l *Listener) Close() {
	l.stop()
	l.wg.Wait()
}

// listenPorts are a rule's ports to open: all of a range that fits in
// max, else its first and last (the ports a probe samples).
func listenPorts(s model.PortSet, max int) []uint16 {
	if s.Len() <= max {
		var out []uint16
		for _, r := range s.Ranges() {
			for p := int(r.First); p <= int(r.Last); p++ {
				out = append(out, uint16(p))
			}
		}
		return out
	}
	return samplePorts(s)
}

func sourceOK(set *netipx.IPSet, a net.Addr) bool {
	ap, err := netip.ParseAddrPort(a.String())
	return err == nil && set.Contains(ap.Addr().Unmap())
}

func serveEchoTCP(ctx context.Context, ln net.Listener, allowed *netipx.IPSet) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			if !sourceOK(allowed, c.RemoteAddr()) {
				return // not a source of the plan: no answer
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil || !strings.HasPrefix(line, echoMagic) || len(line) > 128 {
				return
			}
			c.Write([]byte(line))
		}()
	}
}

func serveEchoUDP(pc net.PacketConn, allowed *netipx.IPSet) {
	buf := make([]byte, 256)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		msg := string(buf[:n])
		if !sourceOK(allowed, from) || !strings.HasPrefix(msg, echoMagic) || !strings.HasSuffix(msg, "\n") {
			continue
		}
		pc.WriteTo(buf[:n], from)
	}
}
