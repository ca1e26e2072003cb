package egress

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// clientHello is the first flight crypto/tls's client sends with c.
func clientHello(t testing.TB, c *tls.Config) []byte {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	go func() {
		tls.Client(b, c).Handshake() //nolint:errcheck // the peer never answers
		b.Close()
	}()
	a.SetReadDeadline(time.Now().Add(5 * time.Second))
	var out []byte
	buf := make([]byte, 64<<10)
	for {
		n, err := a.Read(buf)
		out = append(out, buf[:n]...)
		if recordsComplete(out) || err != nil {
			break
		}
	}
	return out
}

// recordsComplete reports whether b holds whole TLS records only.
func recordsComplete(b []byte) bool {
	for len(b) >= 5 {
		n := 5 + (int(b[3])<<8 | int(b[4]))
		if len(b) < n {
			return false
		}
		b = b[n:]
	}
	return len(b) == 0
}

// fragment re-frames a single-record hello into records of at most size
// bytes of handshake data each.
func fragment(hello []byte, size int) []byte {
	hdr, body := hello[:5], hello[5:]
	var out []byte
	for len(body) > 0 {
		k := min(size, len(body))
		out = append(out, hdr[0], hdr[1], hdr[2], byte(k>>8), byte(k))
		out = append(out, body[:k]...)
		body = body[k:]
	}
	return out
}

// oracleHello is what crypto/tls's own server makes of the bytes: the
// server name handed to GetConfigForClient, and whether it got that far,
// reading at most maxHello bytes.
func oracleHello(data []byte) (string, bool) {
	rc := &oracleConn{r: io.LimitReader(bytes.NewReader(data), maxHello)}
	var name string
	var got bool
	stop := errors.New("stop")
	tls.Server(rc, &tls.Config{GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		name, got = h.ServerName, true
		return nil, stop
	}}).Handshake() //nolint:errcheck // stopped on purpose
	return name, got
}

type oracleConn struct{ r io.Reader }

func (c *oracleConn) Read(p []byte) (int, error)         { return c.r.Read(p) }
func (c *oracleConn) Write(p []byte) (int, error)        { return 0, errors.New("no writes") }
func (c *oracleConn) Close() error                       { return nil }
func (c *oracleConn) LocalAddr() net.Addr                { return nil }
func (c *oracleConn) RemoteAddr() net.Addr               { return nil }
func (c *oracleConn) SetDeadline(t time.Time) error      { return nil }
func (c *oracleConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *oracleConn) SetWriteDeadline(t time.Time) error { return nil }

func noDeadline(time.Time) error { return nil }

func peekBytes(data []byte) (string, []byte, *bufio.Reader, error) {
	r := bufio.NewReader(bytes.NewReader(data))
	name, read, err := peekHello(r, noDeadline, time.Second)
	return name, read, r, err
}

func TestPeekHello(t *testing.T) {
	modern := clientHello(t, &tls.Config{ServerName: "Graph.Microsoft.com"})
	tls12 := clientHello(t, &tls.Config{ServerName: "login.botframework.com", MaxVersion: tls.VersionTLS12})
	noSNI := clientHello(t, &tls.Config{InsecureSkipVerify: true}) // an address target sends no name
	if len(modern) < 1000 {
		t.Fatalf("the default ClientHello is %d bytes: no post-quantum key share?", len(modern))
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"TLS 1.3 with a post-quantum key share", modern, "graph.microsoft.com"},
		{"TLS 1.2", tls12, "login.botframework.com"},
		{"no server name", noSNI, ""},
		{"fragmented into 100-byte records", fragment(modern, 100), "graph.microsoft.com"},
		{"fragmented into 1-byte records", fragment(tls12, 1), "login.botframework.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			after := []byte("application data that follows")
			name, read, r, err := peekBytes(append(append([]byte(nil), tc.data...), after...))
			if err != nil || name != tc.want {
				t.Fatalf("peekHello = %q, %v; want %q", name, err, tc.want)
			}
			if !bytes.Equal(read, tc.data) {
				t.Errorf("read %d bytes, want exactly the %d of the hello's records", len(read), len(tc.data))
			}
			if rest, _ := io.ReadAll(r); !bytes.Equal(rest, after) {
				t.Errorf("left %q in the reader, want %q", rest, after)
			}
			if oname, ok := oracleHello(tc.data); !ok || !strings.EqualFold(oname, name) {
				t.Errorf("crypto/tls reads %q (%v)", oname, ok)
			}
		})
	}
}

// withExtension returns hello (one record) with the extension typ/data
// appended to its extensions, lengths fixed up.
func withExtension(hello []byte, typ uint16, data []byte) []byte {
	out := append([]byte(nil), hello...)
	ext := append([]byte{byte(typ >> 8), byte(typ), byte(len(data) >> 8), byte(len(data))}, data...)
	out = append(out, ext...)
	// record length, handshake length, extensions length (the last field
	// before the extensions: found by walking the fixed fields)
	add := len(ext)
	rl := int(out[3])<<8 | int(out[4]) + add
	out[3], out[4] = byte(rl>>8), byte(rl)
	hl := int(out[6])<<16 | int(out[7])<<8 | int(out[8]) + add
	out[6], out[7], out[8] = byte(hl>>16), byte(hl>>8), byte(hl)
	p := 9 + 2 + 32
	p += 1 + int(out[p])
	p += 2 + (int(out[p])<<8 | int(out[p+1]))
	p += 1 + int(out[p])
	el := int(out[p])<<8 | int(out[p+1]) + add
	out[p], out[p+1] = byte(el>>8), byte(el)
	return out
}

func sniExt(names ...string) []byte {
	var list []byte
	for _, n := range names {
		list = append(list, 0, byte(len(n)>>8), byte(len(n)))
		list = append(list, n...)
	}
	return append([]byte{byte(len(list) >> 8), byte(len(list))}, list...)
}

func TestPeekHelloRefuses(t *testing.T) {
	noSNI := clientHello(t, &tls.Config{InsecureSkipVerify: true})
	modern := clientHello(t, &tls.Config{ServerName: "graph.microsoft.com"})
	alert := append([]byte{0x15, 3, 1, 0, 2}, 2, 40)
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"HTTP", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), errNotTLS},
		{"two host names", withExtension(noSNI, 0, sniExt("graph.microsoft.com", "evil.example")), errBadHello},
		{"a server_name extension twice", withExtension(modern, 0, sniExt("evil.example")), errBadHello},
		{"a trailing dot", withExtension(noSNI, 0, sniExt("graph.microsoft.com.")), errBadHello},
		{"an empty host name", withExtension(noSNI, 0, sniExt("")), errBadHello},
		{"cut short", modern[:len(modern)-10], errBadHello},
		{"an alert after the first record", append(fragment(modern, 100)[:105], alert...), errBadHello},
		{"a handshake that is not a ClientHello", []byte{0x16, 3, 1, 0, 4, 2, 0, 0, 0}, errBadHello},
		{"an empty handshake record", []byte{0x16, 3, 1, 0, 0}, errBadHello},
		{"a record over the limit", []byte{0x16, 3, 1, 0x48, 1}, errBadHello},
		{"a record version that is not TLS", []byte{0x16, 0x47, 0x45, 0, 4, 1, 0, 0, 0}, errBadHello},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name, _, _, err := peekBytes(tc.data)
			if !errors.Is(err, tc.want) {
				t.Errorf("peekHello = %q, %v; want %v", name, err, tc.want)
			}
			if oname, ok := oracleHello(tc.data); ok {
				t.Errorf("crypto/tls accepts it (%q): the test case is wrong", oname)
			}
		})
	}
}

// FuzzPeekHello holds peekHello to crypto/tls: whatever hello crypto/tls's
// server parses up to GetConfigForClient, peekHello accepts with the same
// server name; and it never reads past the bytes it returns.
func FuzzPeekHello(f *testing.F) {
	for _, c := range []*tls.Config{
		{ServerName: "graph.microsoft.com"},
		{ServerName: "login.botframework.com", MaxVersion: tls.VersionTLS12},
		{InsecureSkipVerify: true},
	} {
		h := clientHello(f, c)
		f.Add(h)
		f.Add(fragment(h, 200))
	}
	f.Add([]byte{0x16, 3, 1, 0, 4, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		name, read, r, err := peekBytes(data)
		if len(read) > len(data) || !bytes.Equal(read, data[:len(read)]) {
			t.Fatalf("read %d bytes that are not the input's first", len(read))
		}
		// every byte is either returned as read or left in the reader
		if rest, _ := io.ReadAll(r); len(read)+len(rest) != len(data) {
			t.Fatalf("lost bytes: read %d, left %d of %d (%v)", len(read), len(rest), len(data), err)
		}
		oname, ok := oracleHello(data)
		if !ok {
			return
		}
		if err != nil {
			t.Fatalf("crypto/tls reads server name %q; peekHello refuses: %v", oname, err)
		}
		if name != strings.ToLower(oname) {
			t.Fatalf("server name %q; crypto/tls reads %q", name, oname)
		}
	})
}

// BenchmarkPeekHello: reading the server name of a default crypto/tls
// ClientHello (post-quantum key share, 1.5 KB), and what the same costs
// through a crypto/tls server handshake stopped at GetConfigForClient.
func BenchmarkPeekHello(b *testing.B) {
	hello := clientHello(b, &tls.Config{ServerName: "graph.microsoft.com"})
	b.Run("cryptobyte", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if name, _, _, err := peekBytes(hello); err != nil || name != "graph.microsoft.com" {
				b.Fatal(name, err)
			}
		}
	})
	b.Run("crypto-tls-handshake", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if name, ok := oracleHello(hello); !ok || name != "graph.microsoft.com" {
				b.Fatal(name)
			}
		}
	})
}
