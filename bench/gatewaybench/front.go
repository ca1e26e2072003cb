package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/teamsgate/teamsgate/internal/ingress"
)

// front serves the gateway's own handler (every check, its metrics and its
// log line, and httputil.ReverseProxy with Rewrite on the gateway's
// transport) behind a minimal HTTP/1.1 connection loop instead of
// http.Server: each connection's goroutine reads a request with
// http.ReadRequest, calls the handler and writes the answer in one write.
// No background read per request, no per-request context, no response
// machinery beyond a status line, headers and a body.
//
// It is a measurement, not a server: it answers what the gateway would
// gain if it kept the standard library's parser and reverse proxy but left
// http.Server. It has no timeouts, no TLS, no header validation beyond
// ReadRequest's, no 100-continue and no graceful shutdown.
//
//	gatewaybench front LISTEN SPEC
//
// SPEC's own listeners are opened too (the gateway's health checks and key
// fetches run as in serve); requests to LISTEN go through the loop.
func front(args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("front: want LISTEN SPEC")
	}
	lw := ingress.NewLogWriter(io.Discard, 64<<10, time.Second)
	defer lw.Close()
	g, err := newGateway(args[1], slog.New(slog.NewJSONHandler(lw, nil)))
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := g.Start(ctx); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", args[0])
	if err != nil {
		return err
	}
	go func() { <-ctx.Done(); ln.Close() }()
	for {
		c, err := ln.Accept()
		if err != nil {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return g.Shutdown(sctx)
		}
		go serveLoop(c, g)
	}
}

// serveLoop is one connection's request loop.
func serveLoop(c net.Conn, h http.Handler) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 4<<10)
	w := &loopWriter{bw: bufio.NewWriterSize(c, 4<<10), h: http.Header{}}
	remote := c.RemoteAddr().String()
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		req.RemoteAddr = remote
		w.reset(req.Method == http.MethodHead)
		h.ServeHTTP(w, req)
		if err := w.finish(); err != nil {
			return
		}
		// What the handler left of the body is skipped, within reason.
		if _, err := io.CopyN(io.Discard, req.Body, 256<<10); err != io.EOF {
			return
		}
		if req.Close || w.close {
			return
		}
	}
}

// loopWriter is the loop's http.ResponseWriter: the head is written when
// the first byte of the body is (or at the end), with Content-Length when
// the handler set one and chunked otherwise.
type loopWriter struct {
	bw      *bufio.Writer
	h       http.Header
	status  int
	wrote   bool // head written
	chunked bool
	head    bool // a HEAD request: no body
	close   bool
}

func (w *loopWriter) reset(head bool) {
	clear(w.h)
	w.status, w.wrote, w.chunked, w.head, w.close = 0, false, false, head, false
}

func (w *loopWriter) Header() http.Header { return w.h }

func (w *loopWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
}

func (w *loopWriter) writeHead(final bool, n int) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.h.Get("Content-Length") == "" && !w.head {
		if final {
			w.h.Set("Content-Length", strconv.Itoa(n))
		} else {
			w.h.Set("Transfer-Encoding", "chunked")
			w.chunked = true
		}
	}
	if w.h.Get("Connection") == "close" {
		w.close = true
	}
	w.bw.WriteString("HTTP/1.1 ")
	w.bw.WriteString(strconv.Itoa(w.status))
	w.bw.WriteByte(' ')
	w.bw.WriteString(http.StatusText(w.status))
	w.bw.WriteString("\r\n")
	w.h.Write(w.bw) //nolint:errcheck // the buffer's error surfaces at Flush
	w.bw.WriteString("\r\n")
	w.wrote = true
}

func (w *loopWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.writeHead(false, 0)
	}
	if w.head {
		return len(p), nil
	}
	if w.chunked {
		if len(p) == 0 {
			return 0, nil
		}
		w.bw.WriteString(strconv.FormatInt(int64(len(p)), 16))
		w.bw.WriteString("\r\n")
		n, err := w.bw.Write(p)
		w.bw.WriteString("\r\n")
		return n, err
	}
	return w.bw.Write(p)
}

// Flush sends what is buffered (the reverse proxy flushes streamed bodies).
func (w *loopWriter) Flush() {
	if !w.wrote {
		w.writeHead(false, 0)
	}
	w.bw.Flush() //nolint:errcheck // surfaces at finish
}

func (w *loopWriter) finish() error {
	if !w.wrote {
		w.writeHead(true, 0)
	}
	if w.chunked {
		w.bw.WriteString("0\r\n\r\n")
	}
	return w.bw.Flush()
}
