package kerneltest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The helper process: this test binary, started inside a namespace with
// `ip netns exec`, either listens (host side) or sends the probes (client
// side). A separate process is the robust way to put sockets into another
// namespace: nothing of the test's own threads changes namespace.
const (
	helperEnv     = "TEAMSGATE_KERNELTEST_HELPER"
	listenEnv     = "TEAMSGATE_KERNELTEST_LISTEN"
	resultsPrefix = "RESULTS "
)

// probeTimeout is how long a probe waits for an answer before it counts
// the packet as dropped.
const probeTimeout = 1500 * time.Millisecond

// reply is what the host side answers on every socket.
const reply = "ok"

// listenSpec is one socket of the host side.
type listenSpec struct {
	Proto string         `json:"proto"`
	Addr  netip.AddrPort `json:"addr"`
}

// probe is one packet exchange the client side attempts.
type probe struct {
	Proto string     `json:"proto"` // tcp or udp
	Src   netip.Addr `json:"src"`
	Sport uint16     `json:"sport"`
	Dst   netip.Addr `json:"dst"`
	Dport uint16     `json:"dport"`
	// Want is the plan's verdict: true when the packet must get through.
	Want bool `json:"want"`
	// Why says what the probe checks.
	Why string `json:"why"`
	// check marks a probe the test states itself; its Want must agree
	// with the plan's.
	check bool
	// flow is the rule whose allowed ports the probe tries.
	flow string
}

func (p probe) String() string {
	return fmt.Sprintf("%s %s → %s", p.Proto, netip.AddrPortFrom(p.Src, p.Sport), netip.AddrPortFrom(p.Dst, p.Dport))
}

// result is what happened to a probe.
type result struct {
	// Passed: the packet reached the host (an answer, or a refusal, came
	// back).
	Passed bool   `json:"passed"`
	Detail string `json:"detail"`
	// Err is set when the probe could not be sent at all.
	Err string `json:"err,omitempty"`
}

// TestHelperProcess is not a test: it is the helper process's entry point,
// and returns at once when the kernel tests did not start it.
func TestHelperProcess(t *testing.T) {
	switch os.Getenv(helperEnv) {
	case "listen":
		os.Exit(listenMain())
	case "probe":
		os.Exit(probeMain())
	case "probe-servers":
		os.Exit(serversMain())
	case "probe-dns":
		os.Exit(dnsMain())
	}
}

// listenMain binds every socket of the spec, prints READY, answers until
// its standard input closes (or a bound passes), and exits.
func listenMain() int {
	var specs []listenSpec
	if err := json.Unmarshal([]byte(os.Getenv(listenEnv)), &specs); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	for _, s := range specs {
		switch s.Proto {
		case "tcp":
			ln, err := net.Listen("tcp", s.Addr.String())
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 2
			}
			go serveTCP(ln)
		case "udp":
			pc, err := net.ListenPacket("udp", s.Addr.String())
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 2
			}
			go serveUDP(pc)
		default:
			fmt.Fprintf(os.Stderr, "unknown protocol %q\n", s.Proto)
			return 2
		}
	}
	fmt.Println("READY")
	done := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
	}
	return 0
}

// serveTCP answers and closes each connection, so the host closes first
// and the client's port never lingers in TIME_WAIT.
func serveTCP(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.SetDeadline(time.Now().Add(probeTimeout))
		c.Write([]byte(reply))
		c.Close()
	}
}

func serveUDP(pc net.PacketConn) {
	buf := make([]byte, 512)
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		if n > 0 {
			pc.WriteTo([]byte(reply), addr)
		}
	}
}

// probeMain reads probes from standard input, sends them, and prints the
// results. Probes from the same source address and port run one after the
// other; the rest run in parallel, at most 32 at a time.
func probeMain() int {
	var ps []probe
	if err := json.NewDecoder(os.Stdin).Decode(&ps); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	groups := map[string][]int{}
	for i, p := range ps {
		k := p.Proto + " " + netip.AddrPortFrom(p.Src, p.Sport).String()
		groups[k] = append(groups[k], i)
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	results := make([]result, len(ps))
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for _, k := range keys {
		wg.Add(1)
		go func(idx []int) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			for _, i := range idx {
				results[i] = send(ps[i])
			}
		}(groups[k])
	}
	wg.Wait()
	b, err := json.Marshal(results)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Println(resultsPrefix + string(b))
	return 0
}

func send(p probe) result {
	local, remote := netip.AddrPortFrom(p.Src, p.Sport), netip.AddrPortFrom(p.Dst, p.Dport)
	switch p.Proto {
	case "tcp":
		return sendTCP(local, remote)
	case "udp":
		return sendUDP(local, remote)
	}
	return result{Err: "unknown protocol " + p.Proto}
}

// reuseAddr lets a probe bind a source port an earlier probe of the same
// group used.
func reuseAddr(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

func sendTCP(local, remote netip.AddrPort) result {
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(local), Timeout: probeTimeout, Control: reuseAddr}
	c, err := d.Dial("tcp", remote.String())
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return result{Passed: true, Detail: "refused"}
	case isTimeout(err):
		return result{Detail: "no answer"}
	case err != nil:
		return result{Err: err.Error()}
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(probeTimeout))
	// Read to the end: the host closes first.
	b, err := io.ReadAll(c)
	if string(b) == reply {
		return result{Passed: true, Detail: "answered"}
	}
	return result{Passed: true, Detail: fmt.Sprintf("connected, then %q, %v", b, err)}
}

func sendUDP(local, remote netip.AddrPort) result {
	c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(local), net.UDPAddrFromAddrPort(remote))
	if err != nil {
		return result{Err: err.Error()}
	}
	defer c.Close()
	deadline := time.Now().Add(probeTimeout)
	buf := make([]byte, 16)
	// Two tries within the timeout, in case the first datagram waited on
	// neighbour resolution.
	for try := 0; try < 2; try++ {
		if _, err := c.Write([]byte("probe")); err != nil && !errors.Is(err, syscall.ECONNREFUSED) {
			return result{Err: err.Error()}
		}
		wait := time.Now().Add(probeTimeout / 2)
		if try == 1 {
			wait = deadline
		}
		c.SetReadDeadline(wait)
		n, err := c.Read(buf)
		switch {
		case err == nil && string(buf[:n]) == reply:
			return result{Passed: true, Detail: "answered"}
		case errors.Is(err, syscall.ECONNREFUSED):
			return result{Passed: true, Detail: "refused"}
		case err != nil && !isTimeout(err):
			return result{Err: err.Error()}
		}
	}
	return result{Detail: "no answer"}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
