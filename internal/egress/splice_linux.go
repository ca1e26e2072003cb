package egress

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// relay copies src to dst until src ends or fails, and returns the bytes
// written to dst; the end of src is no error. Between two TCP connections
// it moves the bytes with splice(2) through a kernel pipe that it holds
// only while they flow, so an idle tunnel costs its two sockets and no
// more: io.Copy holds a pipe (two descriptors and its kernel buffers) per
// direction for the whole life of a tunnel. Any other pair goes through a
// pooled buffer. A deadline on src or dst interrupts relay with
// os.ErrDeadlineExceeded; closing src ends it with net.ErrClosed, as
// does closing dst once relay next writes to it.
func relay(dst, src net.Conn) (int64, error) {
	s, sok := src.(*net.TCPConn)
	d, dok := dst.(*net.TCPConn)
	if !sok || !dok {
		return copyBuffer(dst, src)
	}
	return spliceTCP(d, s, &pipes)
}

// spliceTCP is relay between two TCP connections, taking its pipes from
// pool. It falls back to copyBuffer when the kernel cannot splice from
// src or no pipe can be opened; no byte is lost then, as a refused
// splice moves none.
func spliceTCP(dst, src *net.TCPConn, pool *pipePool) (int64, error) {
	rs, err := src.SyscallConn()
	if err != nil {
		return 0, err
	}
	rd, err := dst.SyscallConn()
	if err != nil {
		return 0, err
	}
	s := &splicer{pool: pool}
	// method values made once, not on every wait
	fill, drain := s.fill, s.drain
	defer s.release()
	for {
		// fill waits for src without a pipe and returns holding one with
		// bytes in it, or at the end of src, or on an error
		if err := rs.Read(fill); err != nil {
			return s.n, err
		}
		if s.err != nil {
			if errors.Is(s.err, errNoSplice) {
				s.release()
				n, err := copyBuffer(dst, src)
				return s.n + n, err
			}
			return s.n, s.err
		}
		if s.buffered == 0 {
			return s.n, nil
		}
		if err := rd.Write(drain); err != nil {
			return s.n, err
		}
		if s.err != nil {
			return s.n, s.err
		}
	}
}

// spliceMax is the most one splice(2) asks to move: a full pipe.
const spliceMax = pipeSize

// spliceFlags make the pipe side of splice(2) non-blocking; the sockets
// are already. SPLICE_F_MOVE is left out: Linux ignores it (splice(2)).
const spliceFlags = unix.SPLICE_F_NONBLOCK

// errNoSplice marks a splice that cannot start (the socket type refuses
// splice(2), or no pipe can be opened): spliceTCP then copies instead.
var errNoSplice = errors.New("splice unavailable")

// splicer is the state of one spliceTCP, shared with the callbacks it
// runs under the connections' RawConn locks.
type splicer struct {
	pool     *pipePool
	p        *pipe // held only from a successful splice into it until drained
	buffered int   // bytes in p
	n        int64 // bytes written to dst
	err      error // the last callback's error
	started  bool  // fill has run
	peeked   byte  // peek's buffer, here so that it is not allocated
}

// peek reports whether fd has a byte to read (1), is at its end (0), or
// would block (EAGAIN), leaving the byte in the socket. It calls
// recvfrom(2) itself: unix.Recvfrom allocates the sender's address.
func peek(fd int, b *byte) (int, error) {
	n, _, e := unix.Syscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(b)), 1,
		unix.MSG_PEEK|unix.MSG_DONTWAIT, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// fill runs under src's read lock: it splices what src has into a pipe,
// taking one from the pool, and gives the pipe back as soon as src has
// nothing more, so a waiting splicer holds none. Called again, it was
// woken because src has something to read (or ended, or failed). The
// first call cannot know that: it peeks at src before taking a pipe, so
// that a tunnel that stays idle from its start never touches the pool.
func (s *splicer) fill(fd uintptr) bool {
	if !s.started {
		s.started = true
		m, err := peek(int(fd), &s.peeked)
		for err == unix.EINTR {
			m, err = peek(int(fd), &s.peeked)
		}
		switch err {
		case nil:
		case unix.EAGAIN:
			return false
		case unix.EINVAL, unix.EOPNOTSUPP:
			s.err = errors.Join(errNoSplice, os.NewSyscallError("recvfrom", err))
			return true
		default:
			s.err = os.NewSyscallError("recvfrom", err)
			return true
		}
		if m == 0 {
			return true // the end of src
		}
	}
	if s.p == nil {
		p, err := s.pool.get()
		if err != nil {
			s.err = errors.Join(errNoSplice, err)
			return true
		}
		s.p = p
	}
	for {
		m, err := unix.Splice(int(fd), nil, s.p.w, nil, spliceMax, spliceFlags)
		switch err {
		case nil:
			s.buffered = int(m) // 0 at the end of src
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			s.release()
			return false
		case unix.EINVAL, unix.ENOSYS:
			s.err = errors.Join(errNoSplice, os.NewSyscallError("splice", err))
			return true
		}
		s.err = os.NewSyscallError("splice", err)
		return true
	}
}

// drain runs under dst's write lock: it splices the whole pipe into dst,
// waiting while dst's send buffer is full.
func (s *splicer) drain(fd uintptr) bool {
	for s.buffered > 0 {
		m, err := unix.Splice(s.p.r, nil, int(fd), nil, s.buffered, spliceFlags)
		if m > 0 {
			s.buffered -= int(m)
			s.n += m
			continue
		}
		switch err {
		case nil:
			// the pipe is this splicer's alone: it cannot be empty here
			s.err = io.ErrNoProgress
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		s.err = os.NewSyscallError("splice", err)
		return true
	}
	return true
}

// release gives the pipe back, or closes it when bytes that dst never
// took are still in it.
func (s *splicer) release() {
	if s.p == nil {
		return
	}
	if s.buffered > 0 {
		s.pool.discard(s.p)
		s.buffered = 0
	} else {
		s.pool.put(s.p)
	}
	s.p = nil
}

// pipeSize is the capacity asked for each pipe (F_SETPIPE_SZ), which
// bounds the bytes one splice(2) moves: 1 MiB, the default
// fs.pipe-max-size and what io.Copy's own splice asks for, which keeps
// relay as fast (64 KiB pipes moved about a third less on loopback).
// The kernel charges each open pipe's capacity to the user's
// pipe-user-pages-soft (proc(5)); the default, 64 MiB, covers 64 such
// pipes at once, and past it new pipes are small and slower. Pooled
// pipes are open only while bytes flow or in the pool, where io.Copy
// holds two per tunnel for its whole life.
const pipeSize = 1 << 20

// pipeIdleMax is how many empty pipes the pool keeps for the next
// burst; pipes given back beyond it are closed.
const pipeIdleMax = 16

// pipes is the pool every spliceTCP draws from.
var pipes = pipePool{open: openPipe, max: pipeIdleMax}

// pipe is a kernel pipe: its read and write ends.
type pipe struct{ r, w int }

// openPipe opens a non-blocking pipe of pipeSize, or of the default size
// when the kernel refuses the larger one (fs.pipe-max-size, or the user
// past pipe-user-pages-soft).
func openPipe() (*pipe, error) {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil, os.NewSyscallError("pipe2", err)
	}
	unix.FcntlInt(uintptr(fds[0]), unix.F_SETPIPE_SZ, pipeSize) //nolint:errcheck
	return &pipe{r: fds[0], w: fds[1]}, nil
}

func (p *pipe) close() {
	unix.Close(p.r) //nolint:errcheck
	unix.Close(p.w) //nolint:errcheck
}

// pipePool lends empty pipes and keeps at most max of them idle.
type pipePool struct {
	open func() (*pipe, error)
	max  int

	mu   sync.Mutex
	idle []*pipe
	held int // lent and not yet given back
}

func (pp *pipePool) get() (*pipe, error) {
	pp.mu.Lock()
	if n := len(pp.idle); n > 0 {
		p := pp.idle[n-1]
		pp.idle = pp.idle[:n-1]
		pp.held++
		pp.mu.Unlock()
		return p, nil
	}
	pp.mu.Unlock()
	p, err := pp.open()
	if err != nil {
		return nil, err
	}
	pp.mu.Lock()
	pp.held++
	pp.mu.Unlock()
	return p, nil
}

// put gives back an empty pipe.
func (pp *pipePool) put(p *pipe) {
	pp.mu.Lock()
	pp.held--
	if len(pp.idle) < pp.max {
		pp.idle = append(pp.idle, p)
		p = nil
	}
	pp.mu.Unlock()
	if p != nil {
		p.close()
	}
}

// discard closes a lent pipe that may still hold bytes.
func (pp *pipePool) discard(p *pipe) {
	pp.mu.Lock()
	pp.held--
	pp.mu.Unlock()
	p.close()
}
