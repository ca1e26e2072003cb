package ingress

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"go4.org/netipx"
)

// The PROXY protocol (HAProxy, "The PROXY protocol, versions 1 & 2",
// https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt) lets a layer-4
// load balancer pass the client's address ahead of the stream. The gateway
// believes it only from trusted proxies; an untrusted peer that sends one is
// disconnected, since it is trying to choose its own source address.

// v2Signature starts every version 2 header (§2.2).
var v2Signature = []byte("\r\n\r\n\x00\r\nQUIT\n")

const (
	v1Prefix = "PROXY "
	// v1MaxLen is the longest version 1 line, CRLF included (§2.1).
	v1MaxLen = 107
	// v2MaxLen bounds the address and TLV block of a version 2 header;
	// the specification allows 64 KiB, real balancers send a few hundred
	// bytes (go-proxyproto's MaxV2HeaderSize is 4 KiB).
	v2MaxLen = 2048
)

var (
	errNotProxy       = errors.New("proxy protocol: no header")
	errProxyUntrusted = errors.New("proxy protocol: header from an untrusted peer")
)

// proxyHeader is a parsed PROXY header. Source is invalid when the header
// carries no usable address (v1 UNKNOWN, v2 LOCAL or an unsupported family):
// the socket peer then stands.
type proxyHeader struct {
	Version int
	Source  netip.AddrPort
	Dest    netip.AddrPort
}

// parseProxyHeader reads one PROXY header, version 1 or 2, from r. It
// returns errNotProxy, having consumed nothing, when the stream does not
// start with a header.
func parseProxyHeader(r *bufio.Reader) (proxyHeader, error) {
	first, err := r.Peek(1)
	if err != nil {
		return proxyHeader{}, err
	}
	switch first[0] {
	case v1Prefix[0]:
		b, err := r.Peek(len(v1Prefix))
		if err != nil || string(b) != v1Prefix {
			return proxyHeader{}, notProxyOr(err)
		}
		return parseV1(r)
	case v2Signature[0]:
		b, err := r.Peek(len(v2Signature))
		if err != nil || !bytes.Equal(b, v2Signature) {
			return proxyHeader{}, notProxyOr(err)
		}
		return parseV2(r)
	}
	return proxyHeader{}, errNotProxy
}

// notProxyOr treats a short stream (EOF before the signature ends) as no
// header, and passes other read errors on.
func notProxyOr(err error) error {
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, bufio.ErrBufferFull) {
		return errNotProxy
	}
	return err
}

// parseV1 reads "PROXY TCP4|TCP6|UNKNOWN src dst sport dport\r\n".
func parseV1(r *bufio.Reader) (proxyHeader, error) {
	var line []byte
	for len(line) < v1MaxLen {
		c, err := r.ReadByte()
		if err != nil {
			return proxyHeader{}, fmt.Errorf("proxy protocol v1: %w", err)
		}
		line = append(line, c)
		if c == '\n' {
			break
		}
	}
	if len(line) < 2 || line[len(line)-1] != '\n' || line[len(line)-2] != '\r' {
		return proxyHeader{}, errors.New("proxy protocol v1: no CRLF within 107 bytes")
	}
	f := bytes.Split(line[len(v1Prefix):len(line)-2], []byte{' '})
	h := proxyHeader{Version: 1}
	switch string(f[0]) {
	case "UNKNOWN":
		return h, nil // the rest of the line is to be ignored (§2.1)
	case "TCP4", "TCP6":
	default:
		return h, fmt.Errorf("proxy protocol v1: protocol %q", f[0])
	}
	if len(f) != 5 {
		return h, errors.New("proxy protocol v1: want 4 address fields")
	}
	src, err1 := netip.ParseAddr(string(f[1]))
	dst, err2 := netip.ParseAddr(string(f[2]))
	sp, err3 := parsePort(f[3])
	dp, err4 := parsePort(f[4])
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return h, fmt.Errorf("proxy protocol v1: %w", err)
	}
	want4 := string(f[0]) == "TCP4"
	if src.Is4() != want4 || dst.Is4() != want4 || src.Zone() != "" || dst.Zone() != "" {
		return h, fmt.Errorf("proxy protocol v1: addresses do not match %s", f[0])
	}
	h.Source = netip.AddrPortFrom(src, sp)
	h.Dest = netip.AddrPortFrom(dst, dp)
	return h, nil
}

// parsePort parses a decimal port without sign or leading zeros.
func parsePort(b []byte) (uint16, error) {
	if len(b) == 0 || len(b) > 5 || (len(b) > 1 && b[0] == '0') {
		return 0, fmt.Errorf("bad port %q", b)
	}
	n, err := strconv.ParseUint(string(b), 10, 16)
	if err != nil {
		return 0, fmt.Errorf("bad port %q", b)
	}
	return uint16(n), nil
}

// parseV2 reads the binary header: signature, version/command, family,
// length, addresses, TLVs (ignored).
func parseV2(r *bufio.Reader) (proxyHeader, error) {
	var hdr [16]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return proxyHeader{}, fmt.Errorf("proxy protocol v2: %w", err)
	}
	h := proxyHeader{Version: 2}
	if hdr[12]>>4 != 2 {
		return h, fmt.Errorf("proxy protocol v2: version %d", hdr[12]>>4)
	}
	cmd, fam := hdr[12]&0x0f, hdr[13]
	n := int(binary.BigEndian.Uint16(hdr[14:16]))
	if n > v2MaxLen {
		return h, fmt.Errorf("proxy protocol v2: %d bytes of addresses exceed %d", n, v2MaxLen)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return h, fmt.Errorf("proxy protocol v2: %w", err)
	}
	switch cmd {
	case 0x0: // LOCAL: the proxy's own connection, e.g. a health check
		return h, nil
	case 0x1: // PROXY
	default:
		return h, fmt.Errorf("proxy protocol v2: command %d", cmd)
	}
	switch fam {
	case 0x11, 0x12: // TCP and UDP over IPv4
		if n < 12 {
			return h, errors.New("proxy protocol v2: short IPv4 address block")
		}
		h.Source = netip.AddrPortFrom(netip.AddrFrom4([4]byte(body[0:4])), binary.BigEndian.Uint16(body[8:10]))
		h.Dest = netip.AddrPortFrom(netip.AddrFrom4([4]byte(body[4:8])), binary.BigEndian.Uint16(body[10:12]))
	case 0x21, 0x22: // TCP and UDP over IPv6
		if n < 36 {
			return h, errors.New("proxy protocol v2: short IPv6 address block")
		}
		h.Source = netip.AddrPortFrom(netip.AddrFrom16([16]byte(body[0:16])), binary.BigEndian.Uint16(body[32:34]))
		h.Dest = netip.AddrPortFrom(netip.AddrFrom16([16]byte(body[16:32])), binary.BigEndian.Uint16(body[34:36]))
	case 0x00, 0x31, 0x32: // UNSPEC and UNIX: no IP address to use
	default:
		return h, fmt.Errorf("proxy protocol v2: family 0x%02x", fam)
	}
	return h, nil
}

// proxyListener reads PROXY headers on accepted connections: it believes
// them from trusted peers and refuses connections from untrusted peers that
// send one.
type proxyListener struct {
	net.Listener
	// enabled and trusted read the current configuration, so that a
	// reload changes them for new connections.
	enabled func() bool
	trusted func() *netipx.IPSet
	timeout time.Duration
	refused func(peer netip.AddrPort, err error)
}

func (l *proxyListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &proxyConn{Conn: c, l: l}, nil
}

// proxyConn reads the header lazily, on the first Read or RemoteAddr, so
// that a slow client cannot stall Accept. The http.Server asks for
// RemoteAddr in the connection's own goroutine.
type proxyConn struct {
	net.Conn
	l      *proxyListener
	once   sync.Once
	br     *bufio.Reader
	err    error
	remote net.Addr
	// fromHeader is set when remote came from a PROXY header.
	fromHeader bool
}

func (c *proxyConn) init() {
	c.once.Do(func() {
		c.remote = c.Conn.RemoteAddr()
		if !c.l.enabled() {
			return
		}
		peer := addrPortOf(c.remote)
		c.br = bufio.NewReaderSize(c.Conn, 256)
		if c.l.timeout > 0 {
			c.Conn.SetReadDeadline(time.Now().Add(c.l.timeout)) //nolint:errcheck // a failed deadline shows up as a read error
			defer c.Conn.SetReadDeadline(time.Time{})           //nolint:errcheck // as above
		}
		h, err := parseProxyHeader(c.br)
		switch {
		case errors.Is(err, errNotProxy):
			return
		case err == nil && !contains(c.l.trusted(), peer.Addr().Unmap()):
			c.err = errProxyUntrusted
		case err != nil:
			c.err = err
		case h.Source.IsValid():
			c.remote = net.TCPAddrFromAddrPort(netip.AddrPortFrom(h.Source.Addr().Unmap(), h.Source.Port()))
			c.fromHeader = true
			return
		default:
			return
		}
		if c.l.refused != nil {
			c.l.refused(peer, c.err)
		}
		c.Conn.Close()
	})
}

// Read reads the stream after the header.
func (c *proxyConn) Read(p []byte) (int, error) {
	c.init()
	if c.err != nil {
		return 0, c.err
	}
	if c.br == nil {
		return c.Conn.Read(p)
	}
	return c.br.Read(p)
}

// RemoteAddr is the PROXY header's source when a trusted proxy sent one,
// otherwise the socket peer.
func (c *proxyConn) RemoteAddr() net.Addr {
	c.init()
	return c.remote
}

// peer returns the socket peer, whatever the header said.
func (c *proxyConn) peer() net.Addr { return c.Conn.RemoteAddr() }

// addrPortOf returns the IP and port of a TCP address, or the zero value.
func addrPortOf(a net.Addr) netip.AddrPort {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.AddrPort()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

// CloseWrite half-closes the socket when it can, as the http.Server does
// before closing a connection it answered with an error.
func (c *proxyConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}
