package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// client opens connections to the upstream, directly or through a
// proxy's CONNECT tunnel, from a given source address.
type client struct {
	proxy    string // host:port; "" dials the upstream directly
	host     string // CONNECT target, host:port
	upstream string // the upstream's address, for direct connections
	dialer   net.Dialer
}

// newClient returns a client dialling from src (an address of the
// namespace; empty for the kernel's choice). A source address is bound
// with IP_BIND_ADDRESS_NO_PORT, so that the port is chosen at connect(2)
// for the whole 4-tuple (and TIME_WAIT ports are reused as for any
// loopback connection) rather than at bind(2) from the ports no socket
// of that address holds.
func newClient(proxy, host, upstream, src string, timeout time.Duration) (*client, error) {
	c := &client{proxy: proxy, host: host, upstream: upstream, dialer: net.Dialer{Timeout: timeout}}
	if src != "" {
		a, err := netip.ParseAddr(src)
		if err != nil {
			return nil, fmt.Errorf("source address %q: %w", src, err)
		}
		c.dialer.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(a, 0))
		c.dialer.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
			})
			return errors.Join(err, serr)
		}
	}
	return c, nil
}

// open returns a connection that reaches the upstream: a tunnel whose
// CONNECT was answered 200, or a direct connection. Reads go through the
// returned reader (it may hold bytes read past the proxy's answer).
// deadline bounds the whole exchange and stays set on the connection.
func (c *client) open(deadline time.Time) (net.Conn, *bufio.Reader, error) {
	addr := c.upstream
	if c.proxy != "" {
		addr = c.proxy
	}
	conn, err := c.dialer.Dial("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	conn.SetDeadline(deadline)
	br := bufio.NewReaderSize(conn, 4096)
	if c.proxy == "" {
		return conn, br, nil
	}
	req := "CONNECT " + c.host + " HTTP/1.1\r\nHost: " + c.host + "\r\n\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		conn.Close()
		return nil, nil, err
	}
	status, err := br.ReadString('\n')
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("reading the proxy's answer: %w", err)
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			conn.Close()
			return nil, nil, fmt.Errorf("reading the proxy's answer: %w", err)
		}
		if line == "\r\n" || line == "\n" {
			break
		}
	}
	if f := strings.Fields(status); len(f) < 2 || f[1] != "200" {
		conn.Close()
		return nil, nil, fmt.Errorf("the proxy answered %q", strings.TrimSpace(status))
	}
	return conn, br, nil
}

// roundTrip writes msg and reads it back echoed.
func roundTrip(conn net.Conn, br *bufio.Reader, msg, buf []byte) error {
	if _, err := conn.Write(msg); err != nil {
		return err
	}
	got := buf[:len(msg)]
	if _, err := io.ReadFull(br, got); err != nil {
		return fmt.Errorf("reading the echo: %w", err)
	}
	if !bytes.Equal(got, msg) {
		return errors.New("the echo differs from what was sent")
	}
	return nil
}

// payload is the message each plain tunnel echoes: sixteen bytes that
// are neither a header of the upstream's protocol nor a TLS record.
var payload = []byte("ping-egressbench")

// clientHello returns the first flight crypto/tls sends for a connection
// to serverName: one TLS record holding a ClientHello, as an SDK's HTTPS
// client sends it (with the server name, ALPN and the default key shares).
func clientHello(serverName string) ([]byte, error) {
	var c helloConn
	tc := tls.Client(&c, &tls.Config{ServerName: serverName, NextProtos: []string{"h2", "http/1.1"}})
	tc.Handshake() // fails at the first read, after the ClientHello
	if len(c.out) < 5 || c.out[0] != 0x16 {
		return nil, errors.New("no ClientHello written")
	}
	return c.out, nil
}

// helloConn records what crypto/tls writes and fails its reads.
type helloConn struct{ out []byte }

func (c *helloConn) Write(p []byte) (int, error) {
	c.out = append(c.out, p...)
	return len(p), nil
}
func (c *helloConn) Read([]byte) (int, error)         { return 0, errors.New("no server") }
func (c *helloConn) Close() error                     { return nil }
func (c *helloConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *helloConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *helloConn) SetDeadline(time.Time) error      { return nil }
func (c *helloConn) SetReadDeadline(time.Time) error  { return nil }
func (c *helloConn) SetWriteDeadline(time.Time) error { return nil }

// message is what a tunnel echoes: the plain payload, or with tlsHello a
// ClientHello naming sni, or when that is empty the CONNECT host.
func message(tlsHello bool, hostport, sni string) ([]byte, error) {
	if !tlsHello {
		return payload, nil
	}
	if sni != "" {
		return clientHello(sni)
	}
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, err
	}
	return clientHello(host)
}

// firstError keeps the first of the errors set from many goroutines.
type firstError struct {
	mu  sync.Mutex
	err error
}

func (f *firstError) set(err error) {
	f.mu.Lock()
	if f.err == nil {
		f.err = err
	}
	f.mu.Unlock()
}

func (f *firstError) get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}
