package main

import (
	"flag"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// tunnels measures new tunnels per second, closed loop: each of c workers
// opens a tunnel (dial the proxy, CONNECT, read the 200), has one message
// echoed through it, closes it, and starts over, until the duration is up.
// With -pid it reports the CPU time the proxy (the process and its
// descendants) spent per tunnel, with -peers that of the other processes
// named, and always the load generator's own.
func tunnels(args []string) error {
	fs := flag.NewFlagSet("tunnels", flag.ExitOnError)
	proxy := fs.String("proxy", "", "proxy host:port; empty connects to -upstream directly")
	host := fs.String("host", "graph.microsoft.com:443", "CONNECT target")
	up := fs.String("upstream", "127.0.0.1:443", "the upstream's address, for direct connections")
	src := fs.String("src", "", "source address to dial from (empty: the kernel's choice)")
	conc := fs.Int("c", 32, "concurrent workers")
	dur := fs.Duration("d", 10*time.Second, "duration")
	pid := fs.Int("pid", 0, "process whose CPU time (with its descendants') is reported per tunnel")
	peerList := fs.String("peers", "", "other processes (comma-separated ids, with their descendants) whose CPU time is reported per tunnel: the upstream, the name server")
	tlsHello := fs.Bool("tls", false, "send a TLS ClientHello naming the host instead of a plain payload")
	sni := fs.String("sni", "", "with -tls, the server name of the ClientHello (default: the CONNECT host)")
	timeout := fs.Duration("timeout", 5*time.Second, "bound of each tunnel's whole exchange")
	label := fs.String("label", "", "name printed with the result")
	fs.Parse(args)
	if *conc < 1 || *dur <= 0 {
		return fmt.Errorf("tunnels: want -c >= 1 and -d > 0")
	}
	cl, err := newClient(*proxy, *host, *up, *src, *timeout)
	if err != nil {
		return err
	}
	others, err := parsePeers(*peerList)
	if err != nil {
		return err
	}
	msg, err := message(*tlsHello, *host, *sni)
	if err != nil {
		return err
	}

	tree0, err := treeOf(*pid)
	if err != nil {
		return err
	}
	self0, _ := treeOf(selfPID())
	t0, s0, o0 := tree0.cpuTicks(), self0.cpuTicks(), others.cpuTicks()
	start := time.Now()
	end := start.Add(*dur)
	var ok, failed atomic.Int64
	var firstErr firstError
	lats := make([][]time.Duration, *conc)
	var wg sync.WaitGroup
	for w := range *conc {
		wg.Go(func() {
			buf := make([]byte, len(msg))
			var own []time.Duration
			for time.Now().Before(end) {
				at := time.Now()
				conn, br, err := cl.open(at.Add(*timeout))
				if err == nil {
					err = roundTrip(conn, br, msg, buf)
					conn.Close()
				}
				if err != nil {
					failed.Add(1)
					firstErr.set(err)
					// a refusing proxy is not hammered
					time.Sleep(time.Millisecond)
					continue
				}
				ok.Add(1)
				own = append(own, time.Since(at))
			}
			lats[w] = own
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	tree1, _ := treeOf(*pid)
	self1, _ := treeOf(selfPID())
	t1, s1, o1 := tree1.cpuTicks(), self1.cpuTicks(), others.cpuTicks()

	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	slices.Sort(all)
	pct := func(p float64) time.Duration {
		if len(all) == 0 {
			return 0
		}
		return all[min(len(all)-1, int(float64(len(all))*p))]
	}
	n := ok.Load()
	perTunnel := func(ticks int64) float64 {
		if n == 0 {
			return 0
		}
		return cpuMicros(ticks) / float64(n)
	}
	fmt.Printf("tunnels label=%s tls=%t c=%d tunnels=%d errors=%d rate=%.0f cpu_us=%.1f self_cpu_us=%.1f peers_cpu_us=%.1f p50_us=%d p99_us=%d\n",
		*label, *tlsHello, *conc, n, failed.Load(), float64(n)/elapsed.Seconds(),
		perTunnel(t1-t0), perTunnel(s1-s0), perTunnel(o1-o0), pct(.5).Microseconds(), pct(.99).Microseconds())
	if e := firstErr.get(); e != nil {
		fmt.Printf("first error: %v\n", e)
	}
	return nil
}
