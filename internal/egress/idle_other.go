//go:build !linux

package egress

import (
	"net"
	"time"
)

// idleFor cannot tell a connection's idle time outside Linux: tunnels are
// then not closed for idleness (docs/egress.md).
func idleFor(c net.Conn) (time.Duration, bool) { return 0, false }
