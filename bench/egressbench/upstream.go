package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// The upstream's protocol. The client speaks first (so that a proxy
// peeking at the stream's first bytes sees them) with a header of
// headerLen bytes:
//
//	"SRC " and 12 decimal digits N: the upstream sends N bytes, then
//	    half-closes;
//	"SNK " and 12 decimal digits N: the upstream reads N bytes, then
//	    answers sinkDone;
//	anything else (a payload, a TLS ClientHello): echoed, header
//	    included, until the client closes.
const (
	headerLen = 16
	sinkDone  = "received"
)

// upstreamIdle bounds how long the upstream waits for a byte: far above
// the benchmark's holds, so that nothing it serves outlives a run that
// went wrong by much.
const upstreamIdle = 2 * time.Minute

// sourceHeader is the header asking the upstream for n bytes, sinkHeader
// the one announcing n bytes to it.
func sourceHeader(n int64) []byte { return []byte(fmt.Sprintf("SRC %012d", n)) }
func sinkHeader(n int64) []byte   { return []byte(fmt.Sprintf("SNK %012d", n)) }

// upstream serves the protocol above on a TCP address until SIGTERM or
// SIGINT.
func upstream(args []string) error {
	fs := flag.NewFlagSet("upstream", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:443", "address to listen on")
	fs.Parse(args)
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); ln.Close() }()
	fmt.Printf("ready: upstream on %s\n", ln.Addr())
	var wg sync.WaitGroup
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			// out of descriptors and the like: wait a little, go on
			time.Sleep(10 * time.Millisecond)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			serveUpstream(c.(*net.TCPConn))
		}()
	}
	return nil
}

func serveUpstream(c *net.TCPConn) {
	defer c.Close()
	hdr := make([]byte, headerLen)
	c.SetReadDeadline(time.Now().Add(upstreamIdle))
	if _, err := io.ReadFull(c, hdr); err != nil {
		return
	}
	switch string(hdr[:4]) {
	case "SRC ":
		n, err := strconv.ParseInt(string(hdr[4:]), 10, 64)
		if err != nil {
			return
		}
		c.SetDeadline(time.Now().Add(upstreamIdle))
		buf := make([]byte, 256<<10)
		for i := range buf {
			buf[i] = byte(i)
		}
		for n > 0 {
			k := min(n, int64(len(buf)))
			if _, err := c.Write(buf[:k]); err != nil {
				return
			}
			n -= k
		}
		c.CloseWrite()
		io.Copy(io.Discard, c) // until the client closes
	case "SNK ":
		n, err := strconv.ParseInt(string(hdr[4:]), 10, 64)
		if err != nil {
			return
		}
		c.SetDeadline(time.Now().Add(upstreamIdle))
		buf := make([]byte, 256<<10)
		for n > 0 {
			k, err := c.Read(buf[:min(n, int64(len(buf)))])
			if err != nil {
				return
			}
			n -= int64(k)
		}
		c.Write([]byte(sinkDone))
		io.Copy(io.Discard, c)
	default:
		// small, so that ten thousand idle tunnels cost the upstream
		// little; a longer message takes a few reads
		buf := make([]byte, 2048)
		copy(buf, hdr)
		k := headerLen
		for {
			c.SetWriteDeadline(time.Now().Add(upstreamIdle))
			if _, err := c.Write(buf[:k]); err != nil {
				return
			}
			c.SetReadDeadline(time.Now().Add(upstreamIdle))
			var err error
			if k, err = c.Read(buf); err != nil {
				return
			}
		}
	}
}
