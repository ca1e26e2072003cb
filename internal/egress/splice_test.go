//go:build linux

package egress

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// copyFunc is relay or one of the copies it is compared with.
type copyFunc func(dst, src net.Conn) (int64, error)

// spliceWith is spliceTCP drawing from pool.
func spliceWith(pool *pipePool) copyFunc {
	return func(dst, src net.Conn) (int64, error) {
		return spliceTCP(dst.(*net.TCPConn), src.(*net.TCPConn), pool)
	}
}

// testPool is a pool of its own for one test, counting the pipes it opens.
func testPool() (*pipePool, *atomic.Int64) {
	var opened atomic.Int64
	pp := &pipePool{max: pipeIdleMax, open: func() (*pipe, error) {
		opened.Add(1)
		return openPipe()
	}}
	return pp, &opened
}

// counts is how many pipes pp has lent and how many it keeps idle.
func (pp *pipePool) counts() (held, idle int) {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	return pp.held, len(pp.idle)
}

// closeIdle closes the pipes pp keeps.
func (pp *pipePool) closeIdle() {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	for _, p := range pp.idle {
		p.close()
	}
	pp.idle = nil
}

// tcpPair returns the two ends of a loopback TCP connection, Multipath
// TCP on both sides when mptcp is set.
func tcpPair(t testing.TB, mptcp bool) (dialed, accepted *net.TCPConn) {
	t.Helper()
	var lc net.ListenConfig
	lc.SetMultipathTCP(mptcp)
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var d net.Dialer
	d.SetMultipathTCP(mptcp)
	c, err := d.DialContext(t.Context(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a, err := ln.Accept()
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		a.Close()
	})
	return c.(*net.TCPConn), a.(*net.TCPConn)
}

// relayResult is what a relay returned.
type relayResult struct {
	n   int64
	err error
}

// relayLink is a tunnel under test: client ⇄ in, out ⇄ server, with a relay
// each way between in and out that half-closes its destination at the
// end of its source, as the proxy does.
type relayLink struct {
	client, in, out, server *net.TCPConn
	up, down                chan relayResult
}

func newLink(t testing.TB, mptcp bool, copy copyFunc) *relayLink {
	t.Helper()
	l := &relayLink{up: make(chan relayResult, 1), down: make(chan relayResult, 1)}
	l.client, l.in = tcpPair(t, mptcp)
	l.out, l.server = tcpPair(t, mptcp)
	run := func(dst, src *net.TCPConn, done chan relayResult) {
		n, err := copy(dst, src)
		if err == nil {
			dst.CloseWrite() //nolint:errcheck
		}
		done <- relayResult{n, err}
	}
	go run(l.out, l.in, l.up)
	go run(l.in, l.out, l.down)
	return l
}

// close closes the tunnel's two proxy-side connections, as tunnel.close.
func (l *relayLink) close() {
	l.in.Close()
	l.out.Close()
}

// awaitRelay is the relay's result, failing t when it takes longer than within.
func awaitRelay(t testing.TB, ch <-chan relayResult, within time.Duration) relayResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(within):
		t.Fatalf("relay still running after %v", within)
		return relayResult{}
	}
}

// eventually fails t when cond is not true within 5 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(end) {
			t.Fatalf("not so after 5s: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// sendSeeded writes n bytes drawn from seed to w, half-closes w, and returns
// their SHA-256.
func sendSeeded(w *net.TCPConn, n int64, seed byte) ([32]byte, error) {
	h := sha256.New()
	_, err := io.CopyN(io.MultiWriter(w, h), rand.NewChaCha8([32]byte{seed}), n)
	if err == nil {
		err = w.CloseWrite()
	}
	return [32]byte(h.Sum(nil)), err
}

// receiveHash reads r to its end and returns the bytes' count and SHA-256.
func receiveHash(r io.Reader) (int64, [32]byte, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	return n, [32]byte(h.Sum(nil)), err
}

func TestRelayBothWays(t *testing.T) {
	for _, tc := range []struct {
		name  string
		mptcp bool
		size  int64
	}{
		{name: "tcp", size: 64 << 20},
		{name: "mptcp", mptcp: true, size: 16 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool, opened := testPool()
			l := newLink(t, tc.mptcp, spliceWith(pool))
			if tc.mptcp {
				if on, err := l.in.MultipathTCP(); !on {
					t.Logf("Multipath TCP not in use (%v): the connections are plain TCP", err)
				}
			}

			type end struct {
				sent, got [32]byte
				n         int64
				err       error
			}
			ends := make(chan end, 2)
			pump := func(from, to *net.TCPConn, seed byte) {
				var e end
				errs := make(chan error, 1)
				go func() {
					var err error
					e.sent, err = sendSeeded(from, tc.size, seed)
					errs <- err
				}()
				e.n, e.got, e.err = receiveHash(to)
				e.err = errors.Join(e.err, <-errs)
				ends <- e
			}
			go pump(l.client, l.server, 1)
			go pump(l.server, l.client, 2)
			for range 2 {
				e := <-ends
				if e.err != nil {
					t.Fatal(e.err)
				}
				if e.n != tc.size || e.got != e.sent {
					t.Errorf("received %d bytes with SHA-256 %x, want %d with %x", e.n, e.got, tc.size, e.sent)
				}
			}
			for _, r := range []relayResult{awaitRelay(t, l.up, 5*time.Second), awaitRelay(t, l.down, 5*time.Second)} {
				if r.err != nil || r.n != tc.size {
					t.Errorf("relay = %d, %v; want %d, nil", r.n, r.err, tc.size)
				}
			}
			held, idle := pool.counts()
			if held != 0 {
				t.Errorf("%d pipes still held after both relays returned", held)
			}
			t.Logf("pipes opened: %d, idle: %d", opened.Load(), idle)
			if !tc.mptcp && opened.Load() == 0 {
				t.Error("no pipe opened: the bytes did not go through splice(2)")
			}
			pool.closeIdle()
		})
	}
}

// TestRelayPauses sends small messages both ways with idle periods
// between them: every pause must find the relays holding no pipe, and
// the pool's pipes must serve the next message.
func TestRelayPauses(t *testing.T) {
	pool, opened := testPool()
	defer pool.closeIdle()
	l := newLink(t, false, spliceWith(pool))
	rng := rand.New(rand.NewPCG(1, 2))
	var sentUp, sentDown int64
	exchange := func(from, to *net.TCPConn, count *int64) {
		t.Helper()
		msg := make([]byte, 1+rng.IntN(70<<10))
		*count += int64(len(msg))
		for i := range msg {
			msg[i] = byte(rng.Uint32())
		}
		if _, err := from.Write(msg); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(to, got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("a %d-byte message arrived changed", len(msg))
		}
		eventually(t, "no pipe held while idle", func() bool { held, _ := pool.counts(); return held == 0 })
		time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
	}
	for range 100 {
		exchange(l.client, l.server, &sentUp)
		exchange(l.server, l.client, &sentDown)
	}
	// the end of each direction, and the byte counts
	hashUp, errUp := sendSeeded(l.client, 1000, 3)
	hashDown, errDown := sendSeeded(l.server, 2000, 4)
	if err := errors.Join(errUp, errDown); err != nil {
		t.Fatal(err)
	}
	_, gotUp, _ := receiveHash(l.server)
	_, gotDown, _ := receiveHash(l.client)
	if gotUp != hashUp || gotDown != hashDown {
		t.Error("the last bytes arrived changed")
	}
	up, down := awaitRelay(t, l.up, 5*time.Second), awaitRelay(t, l.down, 5*time.Second)
	if up != (relayResult{n: sentUp + 1000}) || down != (relayResult{n: sentDown + 2000}) {
		t.Errorf("relays = %v, %v; want %d and %d bytes, no error", up, down, sentUp+1000, sentDown+2000)
	}
	if opened.Load() > 2 {
		t.Errorf("%d pipes opened for messages one at a time; the pool should have served them with at most 2", opened.Load())
	}
}

func TestRelayEOF(t *testing.T) {
	for _, size := range []int64{0, 1, 100_000, 3 << 20} {
		t.Run(strconv.FormatInt(size, 10), func(t *testing.T) {
			pool, _ := testPool()
			l := newLink(t, false, spliceWith(pool))
			go sendSeeded(l.client, size, 5) //nolint:errcheck
			n, _, err := receiveHash(l.server)
			if err != nil || n != size {
				t.Errorf("server read %d, %v", n, err)
			}
			if r := awaitRelay(t, l.up, 5*time.Second); r.n != size || r.err != nil {
				t.Errorf("relay = %d, %v; want %d, nil", r.n, r.err, size)
			}
			if held, _ := pool.counts(); held != 0 {
				t.Errorf("%d pipes held after the relay returned", held)
			}
			pool.closeIdle()
			l.close()
			awaitRelay(t, l.down, 5*time.Second)
		})
	}
}

// openFDs counts this process's descriptors, and those that are pipes.
func openFDs(t testing.TB) (all, pipes int) {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil {
			continue // ReadDir's own descriptor, closed since
		}
		all++
		if strings.HasPrefix(target, "pipe:") {
			pipes++
		}
	}
	return all, pipes
}

func TestRelayClose(t *testing.T) {
	// stream keeps writing to w until it fails.
	stream := func(w net.Conn) {
		b := make([]byte, 64<<10)
		for {
			if _, err := w.Write(b); err != nil {
				return
			}
		}
	}
	for _, tc := range []struct {
		name string
		// act is what happens to a relayLink whose relays run: the relays it
		// names must end with an error that is one of want
		act  func(l *relayLink) []chan relayResult
		want []error
	}{{
		name: "destination closed while bytes flow",
		act: func(l *relayLink) []chan relayResult {
			go stream(l.client)
			go io.Copy(io.Discard, l.server) //nolint:errcheck
			time.Sleep(20 * time.Millisecond)
			l.out.Close()
			return []chan relayResult{l.up, l.down}
		},
		want: []error{net.ErrClosed},
	}, {
		name: "destination closed while full",
		act: func(l *relayLink) []chan relayResult {
			// the server reads nothing: the relay waits for out to
			// drain, with bytes in its pipe
			go stream(l.client)
			time.Sleep(50 * time.Millisecond)
			l.out.Close()
			return []chan relayResult{l.up}
		},
		want: []error{net.ErrClosed},
	}, {
		name: "source closed while idle",
		act: func(l *relayLink) []chan relayResult {
			time.Sleep(20 * time.Millisecond)
			l.in.Close()
			// the other relay waits on out, which nothing closed
			return []chan relayResult{l.up}
		},
		want: []error{net.ErrClosed},
	}, {
		name: "destination's peer reset",
		act: func(l *relayLink) []chan relayResult {
			go stream(l.client)
			time.Sleep(20 * time.Millisecond)
			l.server.SetLinger(0) //nolint:errcheck
			l.server.Close()
			return []chan relayResult{l.up}
		},
		want: []error{syscall.ECONNRESET, syscall.EPIPE},
	}, {
		name: "tunnel closed while bytes flow both ways",
		act: func(l *relayLink) []chan relayResult {
			go stream(l.client)
			go stream(l.server)
			go io.Copy(io.Discard, l.client) //nolint:errcheck
			go io.Copy(io.Discard, l.server) //nolint:errcheck
			time.Sleep(20 * time.Millisecond)
			l.close()
			return []chan relayResult{l.up, l.down}
		},
		want: []error{net.ErrClosed},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			_, basePipes := openFDs(t)
			pool, _ := testPool()
			l := newLink(t, false, spliceWith(pool))
			watch := tc.act(l)
			start := time.Now()
			for _, ch := range watch {
				r := awaitRelay(t, ch, 2*time.Second)
				if !slices.ContainsFunc(tc.want, func(e error) bool { return errors.Is(r.err, e) }) {
					t.Errorf("relay = %d, %v; want an error that is one of %v", r.n, r.err, tc.want)
				}
				t.Logf("returned %v after %v, %d bytes relayed", r.err, time.Since(start).Round(time.Millisecond), r.n)
				ch <- r
			}
			l.client.Close()
			l.server.Close()
			l.close()
			awaitRelay(t, l.up, 2*time.Second)
			awaitRelay(t, l.down, 2*time.Second)
			if held, _ := pool.counts(); held != 0 {
				t.Errorf("%d pipes held after the relays returned", held)
			}
			pool.closeIdle()
			if _, pipes := openFDs(t); pipes != basePipes {
				t.Errorf("%d pipe descriptors open, %d before: a pipe leaked", pipes, basePipes)
			}
		})
	}
}

func TestRelayReadDeadline(t *testing.T) {
	pool, _ := testPool()
	defer pool.closeIdle()
	for _, tc := range []struct {
		name string
		copy copyFunc
	}{
		{name: "splice", copy: spliceWith(pool)},
		{name: "buffer", copy: func(dst, src net.Conn) (int64, error) { return copyBuffer(dst, src) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, in := tcpPair(t, false)
			out, server := tcpPair(t, false)
			run := func() <-chan relayResult {
				ch := make(chan relayResult, 1)
				go func() {
					n, err := tc.copy(out, in)
					ch <- relayResult{n, err}
				}()
				return ch
			}
			// a deadline reached while idle
			start := time.Now()
			in.SetReadDeadline(start.Add(50 * time.Millisecond)) //nolint:errcheck
			r := awaitRelay(t, run(), 2*time.Second)
			if !errors.Is(r.err, os.ErrDeadlineExceeded) {
				t.Errorf("relay = %d, %v; want a deadline error", r.n, r.err)
			}
			if d := time.Since(start); d < 50*time.Millisecond {
				t.Errorf("relay returned after %v, before the deadline", d)
			}
			// a deadline already past
			r = awaitRelay(t, run(), 2*time.Second)
			if !errors.Is(r.err, os.ErrDeadlineExceeded) {
				t.Errorf("relay past its deadline = %d, %v; want a deadline error", r.n, r.err)
			}
			// relaying again without a deadline loses no byte
			in.SetReadDeadline(time.Time{}) //nolint:errcheck
			ch := run()
			if _, err := client.Write([]byte("after")); err != nil {
				t.Fatal(err)
			}
			client.CloseWrite() //nolint:errcheck
			got := make([]byte, 5)
			if _, err := io.ReadFull(server, got); err != nil || string(got) != "after" {
				t.Errorf("read %q, %v after the deadline was lifted", got, err)
			}
			if r := awaitRelay(t, ch, 2*time.Second); r.n != 5 || r.err != nil {
				t.Errorf("relay = %d, %v; want 5, nil", r.n, r.err)
			}
		})
	}
	if held, _ := pool.counts(); held != 0 {
		t.Errorf("%d pipes held after the relays returned", held)
	}
}

// TestRelayIdleDescriptors opens 200 tunnels that carry nothing: their
// relays must hold no pipe, only the sockets. After bytes flow through
// every one of them and stop, the pipes must be back in the pool.
func TestRelayIdleDescriptors(t *testing.T) {
	const tunnels = 200
	const sockets = 4 * tunnels // client, in, out and server
	pipes.closeIdle()
	baseAll, basePipes := openFDs(t)

	links := make([]*relayLink, tunnels)
	for i := range links {
		links[i] = newLink(t, false, relay)
	}
	time.Sleep(100 * time.Millisecond) // every relay is waiting for its source
	all, ps := openFDs(t)
	t.Logf("idle: %d descriptors more for %d sockets, %d pipe descriptors more", all-baseAll, sockets, ps-basePipes)
	if extra := all - baseAll - sockets; extra >= 20 {
		t.Errorf("%d idle tunnels opened %d descriptors beyond their %d sockets", tunnels, extra, sockets)
	}
	if held, _ := pipes.counts(); held != 0 || ps != basePipes {
		t.Errorf("idle relays hold %d pipes; %d pipe descriptors open, %d before", held, ps, basePipes)
	}

	msg := bytes.Repeat([]byte("x"), 100_000)
	for _, l := range links {
		for _, c := range [][2]*net.TCPConn{{l.client, l.server}, {l.server, l.client}} {
			go c[0].Write(msg) //nolint:errcheck
			if _, err := io.ReadFull(c[1], make([]byte, len(msg))); err != nil {
				t.Fatal(err)
			}
		}
	}
	eventually(t, "every pipe back in the pool", func() bool { held, _ := pipes.counts(); return held == 0 })
	all, ps = openFDs(t)
	_, idle := pipes.counts()
	t.Logf("after bytes flowed: %d descriptors more, %d pipe descriptors more, %d pipes in the pool", all-baseAll, ps-basePipes, idle)
	if idle > pipeIdleMax || ps-basePipes != 2*idle {
		t.Errorf("%d pipe descriptors more with %d pipes in the pool (at most %d)", ps-basePipes, idle, pipeIdleMax)
	}

	for _, l := range links {
		l.close()
	}
	for _, l := range links {
		awaitRelay(t, l.up, 5*time.Second)
		awaitRelay(t, l.down, 5*time.Second)
	}
	pipes.closeIdle()
}

// hiddenConn hides a connection's type, as an accounting wrapper does.
type hiddenConn struct{ net.Conn }

func TestRelayFallback(t *testing.T) {
	pair := map[string]func(t *testing.T) (net.Conn, net.Conn){
		"net.Pipe": func(t *testing.T) (net.Conn, net.Conn) {
			a, b := net.Pipe()
			t.Cleanup(func() { a.Close(); b.Close() })
			return a, b
		},
		"hiddenConn tcp": func(t *testing.T) (net.Conn, net.Conn) {
			a, b := tcpPair(t, false)
			return hiddenConn{a}, b
		},
	}
	for _, tc := range []struct{ name, src, dst string }{
		{name: "pipes", src: "net.Pipe", dst: "net.Pipe"},
		{name: "pipe to tcp", src: "net.Pipe", dst: "hiddenConn tcp"},
		{name: "hiddenConn tcp", src: "hiddenConn tcp", dst: "hiddenConn tcp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, in := pair[tc.src](t)
			out, server := pair[tc.dst](t)
			ch := make(chan relayResult, 1)
			go func() {
				n, err := relay(out, in)
				out.Close()
				ch <- relayResult{n, err}
			}()
			const size = 1 << 20
			sent := make(chan [32]byte, 1)
			go func() {
				h := sha256.New()
				io.CopyN(io.MultiWriter(client, h), rand.NewChaCha8([32]byte{6}), size) //nolint:errcheck
				client.Close()
				sent <- [32]byte(h.Sum(nil))
			}()
			n, got, err := receiveHash(server)
			if err != nil || n != size || got != <-sent {
				t.Errorf("received %d bytes, %v; want %d unchanged", n, err, size)
			}
			if r := awaitRelay(t, ch, 5*time.Second); r.n != size || r.err != nil {
				t.Errorf("relay = %d, %v; want %d, nil", r.n, r.err, size)
			}
		})
	}

	t.Run("no pipe", func(t *testing.T) {
		pool := &pipePool{max: pipeIdleMax, open: func() (*pipe, error) { return nil, syscall.EMFILE }}
		l := newLink(t, false, spliceWith(pool))
		sent, err := sendSeeded(l.client, 1<<20, 7)
		if err != nil {
			t.Fatal(err)
		}
		n, got, err := receiveHash(l.server)
		if err != nil || n != 1<<20 || got != sent {
			t.Errorf("received %d bytes, %v; want %d unchanged", n, err, 1<<20)
		}
		if r := awaitRelay(t, l.up, 5*time.Second); r.n != 1<<20 || r.err != nil {
			t.Errorf("relay = %d, %v; want %d, nil", r.n, r.err, 1<<20)
		}
		if held, _ := pool.counts(); held != 0 {
			t.Errorf("%d pipes held", held)
		}
	})
}

// cpuTime is the processor time this process has used so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRelay moves bytes through a tunnel on loopback with relay,
// io.Copy (splice(2) with a pipe per direction) and copyBuffer: a stream
// of 1 MiB writes, and 64-byte messages back and forth, where relay takes
// and gives back its pipe for every message. Besides the time, it reports
// the processor time (user and system, the endpoints' included) per
// operation, steadier than the time on a busy machine.
func BenchmarkRelay(b *testing.B) {
	for _, c := range []struct {
		name string
		copy copyFunc
	}{
		{name: "relay", copy: relay},
		{name: "io.Copy", copy: func(dst, src net.Conn) (int64, error) { return io.Copy(dst, src) }},
		{name: "buffer", copy: func(dst, src net.Conn) (int64, error) { return copyBuffer(dst, src) }},
	} {
		b.Run("stream/"+c.name, func(b *testing.B) {
			const chunk = 1 << 20
			l := newLink(b, false, c.copy)
			read := make(chan int64, 1)
			go func() {
				buf := make([]byte, 256<<10)
				var n int64
				for {
					m, err := l.server.Read(buf)
					n += int64(m)
					if err != nil {
						read <- n
						return
					}
				}
			}()
			buf := make([]byte, chunk)
			b.SetBytes(chunk)
			b.ReportAllocs()
			b.ResetTimer()
			cpu := cpuTime(b)
			for range b.N {
				if _, err := l.client.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			l.client.CloseWrite() //nolint:errcheck
			if n := <-read; n != int64(b.N)*chunk {
				b.Fatalf("read %d bytes, want %d", n, int64(b.N)*chunk)
			}
			b.StopTimer()
			b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N), "cpu-ns/op")
			l.close()
			awaitRelay(b, l.up, 5*time.Second)
			awaitRelay(b, l.down, 5*time.Second)
		})
		b.Run("pingpong/"+c.name, func(b *testing.B) {
			l := newLink(b, false, c.copy)
			go func() {
				// the server echoes
				io.Copy(struct{ io.Writer }{l.server}, struct{ io.Reader }{l.server}) //nolint:errcheck
				l.server.CloseWrite()                                                 //nolint:errcheck
			}()
			msg := make([]byte, 64)
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			b.ResetTimer()
			cpu := cpuTime(b)
			for range b.N {
				if _, err := l.client.Write(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(l.client, msg); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N), "cpu-ns/op")
			l.close()
			awaitRelay(b, l.up, 5*time.Second)
			awaitRelay(b, l.down, 5*time.Second)
		})
	}
}

// TestRelayAllocs checks that a message through a running relay, which
// takes and gives back a pipe, allocates nothing.
func TestRelayAllocs(t *testing.T) {
	pool, _ := testPool()
	defer pool.closeIdle()
	l := newLink(t, false, spliceWith(pool))
	msg, got := make([]byte, 512), make([]byte, 512)
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := l.client.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(l.server, got); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations a message, want 0", allocs)
	}
	l.close()
	awaitRelay(t, l.up, 5*time.Second)
	awaitRelay(t, l.down, 5*time.Second)
}
