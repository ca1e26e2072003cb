//go:build !linux

package egress

import (
	"net"
)

// relay copies src to dst until src ends or fails, and returns the bytes
// written to dst; the end of src is no error. Outside Linux it always
// goes through a pooled buffer (splice(2) is Linux's). A deadline on src
// or dst interrupts relay with os.ErrDeadlineExceeded; closing src ends
// it with net.ErrClosed, as does closing dst once relay next writes to it.
func relay(dst, src net.Conn) (int64, error) {
	return copyBuffer(dst, src)
}
