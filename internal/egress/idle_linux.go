package egress

import (
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// idleFor returns how long a TCP connection has carried no data either
// way, from the kernel's own record (TCP_INFO's tcpi_last_data_recv and
// tcpi_last_data_sent), so that a tunnel copied with splice(2) needs no
// deadline bumped on every read; ok is false when the kernel cannot say.
func idleFor(c net.Conn) (time.Duration, bool) {
	tc, isTCP := c.(*net.TCPConn)
	if !isTCP {
		return 0, false
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return 0, false
	}
	var info *unix.TCPInfo
	var gerr error
	if err := raw.Control(func(fd uintptr) {
		info, gerr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil || gerr != nil {
		return 0, false
	}
	ms := min(info.Last_data_recv, info.Last_data_sent)
	return time.Duration(ms) * time.Millisecond, true
}
