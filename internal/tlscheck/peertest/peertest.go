// Package peertest runs misbehaving TCP peers on 127.0.0.1 for the tests of
// tlscheck and of teamsgate tls check: endpoints that do not speak TLS, that
// accept and never answer, that reset or close, and a TLS server that
// misbehaves only for some protocol versions. Every peer stops, and every
// connection it holds is closed, when the test ends.
package peertest

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Behavior is what a peer does with one accepted connection. The peer
// closes the connection when Behavior returns.
type Behavior func(net.Conn)

// Serve runs a peer on 127.0.0.1 that hands every connection to b, and
// returns its address.
func Serve(t testing.TB, b Behavior) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns = map[net.Conn]bool{}
		wg    sync.WaitGroup
	)
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Go(func() {
				defer func() {
					c.Close()
					mu.Lock()
					delete(conns, c)
					mu.Unlock()
				}()
				// A safety net: no test waits this long.
				c.SetDeadline(time.Now().Add(30 * time.Second))
				b(c)
			})
		}
	})
	return ln.Addr().String()
}

// HTTP runs a plain HTTP server (net/http, no TLS) and returns its address.
// It answers a TLS ClientHello with "HTTP/1.1 400 Bad Request".
func HTTP(t testing.TB) string {
	t.Helper()
	s := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

// Banner sends banner as soon as a client connects, as SSH and SMTP servers
// do, then waits for the client to leave.
func Banner(banner string) Behavior {
	return func(c net.Conn) {
		io.WriteString(c, banner)
		io.Copy(io.Discard, c)
	}
}

// Silent accepts and never answers: it reads what the client sends until
// the client or the test ends.
func Silent(c net.Conn) { io.Copy(io.Discard, c) }

// Reset closes the connection at once with a TCP RST (SO_LINGER 0).
func Reset(c net.Conn) { reset(c) }

// ResetAfterHello reads the client's first TLS record, then resets.
func ResetAfterHello(c net.Conn) {
	readRecord(c)
	reset(c)
}

// CloseAfterHello reads the client's first TLS record, then closes the
// connection without a word (TCP FIN).
func CloseAfterHello(c net.Conn) { readRecord(c) }

func reset(c net.Conn) {
	if r, ok := c.(*replay); ok {
		c = r.Conn
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

// readRecord reads one TLS record: a 5-byte header with its length.
func readRecord(c net.Conn) []byte {
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(c, hdr); err != nil {
		return hdr
	}
	body := make([]byte, int(hdr[3])<<8|int(hdr[4]))
	io.ReadFull(c, body)
	return append(hdr, body...)
}

// ByHello runs a TLS server with cfg, except for a ClientHello whose legacy
// client_version has a Behavior in by. crypto/tls sends 0x0301 when it
// offers only TLS 1.0, 0x0302 for only TLS 1.1 and 0x0303 for anything
// newer (RFC 8446 section 4.1.2), so by can make a server hang or reset on
// TLS 1.0 or 1.1 alone.
func ByHello(cfg *tls.Config, by map[uint16]Behavior) Behavior {
	return func(c net.Conn) {
		// Record header (5), handshake header (4), client_version (2).
		head := make([]byte, 11)
		if _, err := io.ReadFull(c, head); err != nil {
			return
		}
		rc := &replay{Conn: c, r: io.MultiReader(bytes.NewReader(head), c)}
		if b := by[uint16(head[9])<<8|uint16(head[10])]; b != nil {
			b(rc)
			return
		}
		tc := tls.Server(rc, cfg)
		if tc.Handshake() == nil {
			io.Copy(io.Discard, tc)
		}
	}
}

// replay is a connection whose first bytes were already read, and are
// read again.
type replay struct {
	net.Conn
	r io.Reader
}

func (r *replay) Read(b []byte) (int, error) { return r.r.Read(b) }
