package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// relay is a bare CONNECT proxy, for scale: it reads the request head,
// dials the target by name (the system's resolver), answers 200 and
// copies both ways with io.Copy (splice(2) between TCP connections) until
// either side is done. No allow list, no address check, no SNI check, no
// log, no metrics, no limits: what a Go CONNECT proxy costs on this
// machine before it checks anything.
func relay(args []string) error {
	fs := flag.NewFlagSet("relay", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:3131", "address to listen on")
	buffer := fs.Int("buffer", 0, "copy through a user-space buffer of this many bytes instead of splice(2); 0 splices")
	fs.Parse(args)
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); ln.Close() }()
	fmt.Printf("ready: relay on %s\n", ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go relayConn(c.(*net.TCPConn), *buffer)
	}
}

func relayConn(c *net.TCPConn, buffer int) {
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReaderSize(c, 4096)
	line, err := br.ReadString('\n')
	if err != nil {
		return
	}
	for {
		h, err := br.ReadString('\n')
		if err != nil {
			return
		}
		if h == "\r\n" || h == "\n" {
			break
		}
	}
	f := strings.Fields(line)
	if len(f) < 3 || f[0] != "CONNECT" {
		io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
		return
	}
	u, err := net.DialTimeout("tcp", f[1], 10*time.Second)
	if err != nil {
		io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\n\r\n")
		return
	}
	up := u.(*net.TCPConn)
	defer up.Close()
	c.SetReadDeadline(time.Time{})
	if _, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	if n := br.Buffered(); n > 0 {
		b, _ := br.Peek(n)
		if _, err := up.Write(b); err != nil {
			return
		}
	}
	cp := func(dst, src *net.TCPConn) {
		if buffer > 0 {
			// hide ReadFrom and WriteTo, so that io.CopyBuffer reads
			// and writes through the buffer
			io.CopyBuffer(struct{ io.Writer }{dst}, struct{ io.Reader }{src}, make([]byte, buffer))
		} else {
			io.Copy(dst, src)
		}
		dst.CloseWrite()
	}
	done := make(chan struct{})
	go func() {
		cp(c, up)
		close(done)
	}()
	cp(up, c)
	<-done
}
