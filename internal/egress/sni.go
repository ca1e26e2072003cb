package egress

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"time"
)

// maxHello bounds the bytes read while looking for a ClientHello: one
// with post-quantum key shares and many extensions is a few kilobytes;
// anything longer is not one a browser or an SDK sends.
const maxHello = 64 << 10

// errHelloRead stops crypto/tls once it has parsed the ClientHello.
var errHelloRead = errors.New("client hello read")

// errNotTLS: the stream does not start with a TLS handshake record.
var errNotTLS = errors.New("not a TLS handshake")

// peekHello reads the client's ClientHello from r without answering it and
// returns the server name it asks for and every byte read, to be sent on
// to the upstream unchanged. The parsing is crypto/tls's own: a server
// handshake that stops in GetConfigForClient, over a connection that
// records what it reads and refuses to write. Nothing is decrypted.
func peekHello(r *bufio.Reader, deadline func(time.Time) error, timeout time.Duration) (sni string, read []byte, err error) {
	if err := deadline(time.Now().Add(timeout)); err != nil {
		return "", nil, err
	}
	defer deadline(time.Time{}) //nolint:errcheck // cleared below or the conn is closed
	first, err := r.Peek(1)
	if err != nil {
		return "", nil, err
	}
	if first[0] != 0x16 { // TLS record type handshake
		return "", nil, errNotTLS
	}
	rc := &recordConn{r: io.LimitReader(r, maxHello)}
	var name string
	var got bool
	srv := tls.Server(rc, &tls.Config{
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			name, got = h.ServerName, true
			return nil, errHelloRead
		},
	})
	herr := srv.Handshake()
	if !got {
		if herr == nil {
			herr = errors.New("no client hello")
		}
		return "", rc.buf.Bytes(), herr
	}
	return strings.ToLower(strings.TrimSuffix(name, ".")), rc.buf.Bytes(), nil
}

// recordConn is the net.Conn peekHello gives crypto/tls: reads come from r
// and are recorded; writes fail, so that nothing reaches the client.
type recordConn struct {
	r   io.Reader
	buf bytes.Buffer
}

func (c *recordConn) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.buf.Write(p[:n])
	return n, err
}

func (c *recordConn) Write(p []byte) (int, error)        { return 0, errHelloRead }
func (c *recordConn) Close() error                       { return nil }
func (c *recordConn) LocalAddr() net.Addr                { return nil }
func (c *recordConn) RemoteAddr() net.Addr               { return nil }
func (c *recordConn) SetDeadline(t time.Time) error      { return nil }
func (c *recordConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *recordConn) SetWriteDeadline(t time.Time) error { return nil }
