package audit_test

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// probe is one test packet: the first packet of a TCP (SYN) or UDP flow.
type probe struct {
	proto        uint8 // 6 or 17
	src, dst     netip.Addr
	sport, dport uint16
}

func (p probe) String() string {
	return fmt.Sprintf("%s %s:%d > %s:%d", map[uint8]string{6: "tcp", 17: "udp"}[p.proto], p.src, p.sport, p.dst, p.dport)
}

// bytes builds the IPv4 packet with valid checksums, so that conntrack
// sees a well-formed first packet (state NEW).
func (p probe) bytes(id uint16) []byte {
	var l4 []byte
	switch p.proto {
	case 6:
		l4 = make([]byte, 20)
		binary.BigEndian.PutUint16(l4[0:], p.sport)
		binary.BigEndian.PutUint16(l4[2:], p.dport)
		binary.BigEndian.PutUint32(l4[4:], uint32(id)<<16|0x1234) // sequence
		l4[12] = 5 << 4                                           // data offset
		l4[13] = 0x02                                             // SYN
		binary.BigEndian.PutUint16(l4[14:], 64240)                // window
	default:
		l4 = make([]byte, 12)
		binary.BigEndian.PutUint16(l4[0:], p.sport)
		binary.BigEndian.PutUint16(l4[2:], p.dport)
		binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
		copy(l4[8:], "tga!")
	}
	src, dst := p.src.As4(), p.dst.As4()
	// transport checksum over the pseudo-header (RFC 793, RFC 768)
	pseudo := make([]byte, 0, 12+len(l4))
	pseudo = append(pseudo, src[:]...)
	pseudo = append(pseudo, dst[:]...)
	pseudo = append(pseudo, 0, p.proto, byte(len(l4)>>8), byte(len(l4)))
	pseudo = append(pseudo, l4...)
	ck := checksum(pseudo)
	if p.proto == 17 && ck == 0 {
		ck = 0xffff
	}
	off := 16
	if p.proto == 17 {
		off = 6
	}
	binary.BigEndian.PutUint16(l4[off:], ck)

	ip := make([]byte, 20)
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(l4)))
	binary.BigEndian.PutUint16(ip[4:], id)
	ip[8] = 64
	ip[9] = p.proto
	copy(ip[12:], src[:])
	copy(ip[16:], dst[:])
	binary.BigEndian.PutUint16(ip[10:], checksum(ip))
	return append(ip, l4...)
}

func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// rawSocket opens an IPPROTO_RAW socket (IP_HDRINCL) inside a network
// namespace: the calling thread enters the namespace, opens the socket,
// which stays bound to it, and returns to its own namespace.
func rawSocket(ns string) (int, error) {
	runtime.LockOSThread()
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return -1, err
	}
	defer self.Close()
	target, err := os.Open("/run/netns/" + ns)
	if err != nil {
		runtime.UnlockOSThread()
		return -1, err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return -1, fmt.Errorf("setns %s: %w", ns, err)
	}
	fd, sockErr := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW)
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		// The thread is stuck in the test namespace: keep it locked so the
		// runtime retires it instead of reusing it.
		if fd >= 0 {
			unix.Close(fd)
		}
		return -1, fmt.Errorf("setns back: %w", err)
	}
	runtime.UnlockOSThread()
	return fd, sockErr
}

// sendProbes sends every probe once from a raw socket in the namespace.
func sendProbes(ns string, probes []probe) error {
	fd, err := rawSocket(ns)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	for i, p := range probes {
		to := &unix.SockaddrInet4{Addr: p.dst.As4()}
		// EPERM is netfilter dropping a locally sent packet: a verdict,
		// not an error.
		if err := unix.Sendto(fd, p.bytes(uint16(i+1)), 0, to); err != nil && err != unix.EPERM {
			return fmt.Errorf("send %s: %w", p, err)
		}
	}
	return nil
}
