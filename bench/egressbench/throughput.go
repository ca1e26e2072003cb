package main

import (
	"flag"
	"fmt"
	"io"
	"time"
)

// throughput measures bulk transfer through one tunnel (or one direct
// connection): the upstream sends the bytes (-dir down) or receives them
// (-dir up), and the best of -runs transfers is reported, with the CPU
// time the proxy, the load generator and the peers (the upstream) spent
// per GiB in that run.
func throughput(args []string) error {
	fs := flag.NewFlagSet("throughput", flag.ExitOnError)
	proxy := fs.String("proxy", "", "proxy host:port; empty connects to -upstream directly")
	host := fs.String("host", "graph.microsoft.com:443", "CONNECT target")
	up := fs.String("upstream", "127.0.0.1:443", "the upstream's address, for direct connections")
	src := fs.String("src", "", "source address to dial from")
	size := fs.String("bytes", "2GiB", "bytes per transfer (a number, or with KiB, MiB or GiB)")
	dir := fs.String("dir", "down", "down: the upstream sends; up: the client sends")
	runs := fs.Int("runs", 3, "transfers; the best is reported")
	pid := fs.Int("pid", 0, "process whose CPU time (with its descendants') is reported per GiB")
	peerList := fs.String("peers", "", "other processes (comma-separated ids) whose CPU time is reported per GiB: the upstream")
	timeout := fs.Duration("timeout", 60*time.Second, "bound of each transfer")
	label := fs.String("label", "", "name printed with the result")
	fs.Parse(args)
	n, err := parseSize(*size)
	if err != nil {
		return err
	}
	if *dir != "down" && *dir != "up" {
		return fmt.Errorf("throughput: -dir %q: want down or up", *dir)
	}
	cl, err := newClient(*proxy, *host, *up, *src, 5*time.Second)
	if err != nil {
		return err
	}
	others, err := parsePeers(*peerList)
	if err != nil {
		return err
	}
	self, _ := treeOf(selfPID())
	perGiB := func(ticks int64) float64 { return cpuMicros(ticks) / 1e6 / (float64(n) / (1 << 30)) }
	bestRate, bestCPU, bestSelf, bestPeers := 0.0, 0.0, 0.0, 0.0
	var rates []string
	for range *runs {
		tree0, err := treeOf(*pid)
		if err != nil {
			return err
		}
		t0, s0, o0 := tree0.cpuTicks(), self.cpuTicks(), others.cpuTicks()
		start := time.Now()
		if err := transfer(cl, *dir, n, start.Add(*timeout)); err != nil {
			return fmt.Errorf("throughput %s: %w", *label, err)
		}
		el := time.Since(start)
		tree1, _ := treeOf(*pid)
		t1, s1, o1 := tree1.cpuTicks(), self.cpuTicks(), others.cpuTicks()
		rate := float64(n) / el.Seconds() / 1e6
		rates = append(rates, fmt.Sprintf("%.0f", rate))
		if rate > bestRate {
			bestRate = rate
			bestCPU, bestSelf, bestPeers = perGiB(t1-t0), perGiB(s1-s0), perGiB(o1-o0)
		}
	}
	fmt.Printf("throughput label=%s dir=%s bytes=%d best_mbs=%.0f cpu_s_per_gib=%.2f self_cpu_s_per_gib=%.2f peers_cpu_s_per_gib=%.2f runs_mbs=%v\n",
		*label, *dir, n, bestRate, bestCPU, bestSelf, bestPeers, rates)
	return nil
}

// transfer moves n bytes one way through a new connection and returns
// when the receiving side has all of them.
func transfer(cl *client, dir string, n int64, deadline time.Time) error {
	conn, br, err := cl.open(deadline)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dir == "down" {
		if _, err := conn.Write(sourceHeader(n)); err != nil {
			return err
		}
		// read straight into a large buffer (io.Discard's ReadFrom would
		// read in 8 KiB pieces, making the client the bottleneck)
		buf := make([]byte, 256<<10)
		var got int64
		for got < n {
			k, err := br.Read(buf[:min(n-got, int64(len(buf)))])
			got += int64(k)
			if err != nil {
				return fmt.Errorf("received %d of %d bytes: %w", got, n, err)
			}
		}
		return nil
	}
	if _, err := conn.Write(sinkHeader(n)); err != nil {
		return err
	}
	buf := make([]byte, 256<<10)
	for left := n; left > 0; {
		k := min(left, int64(len(buf)))
		if _, err := conn.Write(buf[:k]); err != nil {
			return err
		}
		left -= k
	}
	ack := make([]byte, len(sinkDone))
	if _, err := io.ReadFull(br, ack); err != nil || string(ack) != sinkDone {
		return fmt.Errorf("no acknowledgement of the %d bytes: %v", n, err)
	}
	return nil
}

// parseSize reads a byte count: a number, or one with a KiB, MiB or GiB
// suffix.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if len(s) > len(u.suffix) && s[len(s)-len(u.suffix):] == u.suffix {
			s, mult = s[:len(s)-len(u.suffix)], u.m
			break
		}
	}
	var v int64
	if _, err := fmt.Sscanf(s, "%d", &v); err != nil || v <= 0 {
		return 0, fmt.Errorf("size %q: want a positive number of bytes, or with KiB, MiB or GiB", s)
	}
	return v * mult, nil
}
