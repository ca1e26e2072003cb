package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// idle opens n tunnels (at most c being opened at once), has one message
// echoed through each, holds them all for the hold time, reads the proxy's
// memory (VmRSS of the process and its descendants), descriptors and
// threads meanwhile, checks that every tunnel still echoes, and closes
// them. It also reports how much the machine's kernel memory (slab,
// kernel stacks, page tables) and used memory grew per tunnel: machine-
// wide figures, which include the load generator's and the upstream's
// sockets (the same for every proxy) and the proxy's pipes and buffers
// in the kernel, which RSS does not show.
func idle(args []string) error {
	fs := flag.NewFlagSet("idle", flag.ExitOnError)
	proxy := fs.String("proxy", "", "proxy host:port; empty connects to -upstream directly")
	host := fs.String("host", "graph.microsoft.com:443", "CONNECT target")
	up := fs.String("upstream", "127.0.0.1:443", "the upstream's address, for direct connections")
	src := fs.String("src", "", "source address to dial from")
	n := fs.Int("n", 10000, "tunnels to hold")
	conc := fs.Int("c", 64, "tunnels being opened at once")
	hold := fs.Duration("hold", 10*time.Second, "how long to hold them")
	pid := fs.Int("pid", 0, "process whose memory (with its descendants') is reported")
	tlsHello := fs.Bool("tls", false, "send a TLS ClientHello naming the host instead of a plain payload")
	timeout := fs.Duration("timeout", 10*time.Second, "bound of each tunnel's opening and of each echo")
	label := fs.String("label", "", "name printed with the result")
	fs.Parse(args)
	if *n < 1 || *conc < 1 {
		return fmt.Errorf("idle: want -n >= 1 and -c >= 1")
	}
	cl, err := newClient(*proxy, *host, *up, *src, *timeout)
	if err != nil {
		return err
	}
	msg, err := message(*tlsHello, *host, "")
	if err != nil {
		return err
	}
	tree, err := treeOf(*pid)
	if err != nil {
		return err
	}
	rss0, _ := tree.status()
	fds0 := tree.fds()
	mem0 := readMeminfo()

	type held struct {
		conn net.Conn
		br   *bufio.Reader
	}
	conns := make([]held, *n) // *n may shrink: the tail stays unused
	defer func() {
		for _, h := range conns {
			if h.conn != nil {
				h.conn.Close()
			}
		}
	}()
	// each op runs f on every tunnel, c at a time, and counts failures
	each := func(from, to int, f func(i int, buf []byte) error) (failed int64, first error) {
		var bad atomic.Int64
		var firstErr firstError
		var next atomic.Int64
		next.Store(int64(from))
		var wg sync.WaitGroup
		for range *conc {
			wg.Go(func() {
				buf := make([]byte, len(msg))
				for {
					i := int(next.Add(1) - 1)
					if i >= to {
						return
					}
					if err := f(i, buf); err != nil {
						bad.Add(1)
						firstErr.set(err)
					}
				}
			})
		}
		wg.Wait()
		return bad.Load(), firstErr.get()
	}

	open := func(i int, buf []byte) error {
		conn, br, err := cl.open(time.Now().Add(*timeout))
		if err != nil {
			return err
		}
		conns[i] = held{conn, br}
		if err := roundTrip(conn, br, msg, buf); err != nil {
			return err
		}
		return conn.SetDeadline(time.Time{})
	}
	// A first batch tells the descriptors a tunnel costs the proxy; the
	// rest stays within the proxy's descriptor limit, which a benchmark
	// that cannot raise it (no CAP_SYS_RESOURCE) must not run into: the
	// memory figure is then for the tunnels held, and extrapolated.
	start := time.Now()
	probe := min(*n, 100)
	want := *n
	failed, firstErr := each(0, probe, open)
	capped := ""
	if limit := tree.fdLimit(); limit > 0 && failed == 0 {
		perFD := float64(tree.fds()-fds0) / float64(probe)
		if perFD > 0 {
			// a tenth kept free: the proxy's pools (Go's splice pipes)
			// make the first batch's count a little low
			room := int(0.9*float64(limit-tree.fds())/perFD) + probe
			if room < *n {
				*n = max(room, probe)
				capped = fmt.Sprintf("%d descriptors at %.1f per tunnel", limit, perFD)
			}
		}
	}
	if failed == 0 {
		failed, firstErr = each(probe, *n, open)
	}
	opened := time.Since(start)
	if failed > 0 {
		fmt.Printf("idle label=%s n=%d failed=%d first_error=%q\n", *label, *n, failed, firstErr.Error())
		return fmt.Errorf("idle %s: %d of %d tunnels failed to open: %w", *label, failed, *n, firstErr)
	}
	// what the proxy holds once the opening's garbage has had a moment
	time.Sleep(min(*hold, 2*time.Second))
	tree, _ = treeOf(*pid)
	rss, threads := tree.status()
	fds := tree.fds()
	mem1 := readMeminfo()
	if rest := *hold - 2*time.Second; rest > 0 {
		time.Sleep(rest)
	}
	rssEnd, _ := tree.status()
	rss = max(rss, rssEnd)
	dead, deadErr := each(0, *n, func(i int, buf []byte) error {
		h := conns[i]
		h.conn.SetDeadline(time.Now().Add(*timeout))
		return roundTrip(h.conn, h.br, msg, buf)
	})
	perKB := float64(rss-rss0) / float64(*n)
	fmt.Printf("idle label=%s held=%d open_s=%.1f rss_before_mb=%.1f rss_mb=%.1f per_tunnel_kb=%.1f rss_at_%d_mb=%.1f fds=%d fds_per_tunnel=%.1f threads=%d kernel_kb_per_tunnel=%.1f used_kb_per_tunnel=%.1f dead_after_hold=%d capped=%q\n",
		*label, *n, opened.Seconds(), float64(rss0)/1024, float64(rss)/1024, perKB, want, (float64(rss0)+perKB*float64(want))/1024,
		fds, float64(fds-fds0)/float64(*n), threads,
		float64(mem1.kernel-mem0.kernel)/float64(*n), float64(mem1.used-mem0.used)/float64(*n), dead, capped)
	if dead > 0 {
		fmt.Printf("first error after the hold: %v\n", deadErr)
	}
	return nil
}
