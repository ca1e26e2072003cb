// Command demopeers runs, on loopback, the misbehaving endpoints that the
// teamsgate tls check examples of docs/certs.md are run against: endpoints
// that are not TLS servers, never answer, reset, or answer only some TLS
// versions. Each argument is ADDR=KIND:
//
//	go run ./scripts/demopeers 127.0.0.1:8080=http 127.0.0.1:2222=ssh-banner 127.0.0.1:8445=silent 127.0.0.1:8446=reset
//	go run ./scripts/demopeers -cert tc-full.pem 127.0.0.1:8447=tls12-partial
//
// Kinds:
//
//	http           a plain HTTP server (it answers a ClientHello with 400 Bad Request)
//	ssh-banner     sends an SSH identification line, as an SSH server does
//	silent         accepts and never answers
//	reset          accepts and resets the connection at once
//	tls12-partial  TLS 1.2 at most with -cert (PEM chain and key in one file,
//	               as teamsgate certs convert --to pem writes it); it never
//	               answers a TLS 1.0 ClientHello and resets a TLS 1.1 one
//
// It runs until it is interrupted. The behaviours are those of
// internal/tlscheck/peertest, which the tests of tlscheck use.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/teamsgate/teamsgate/internal/tlscheck/peertest"
)

func main() {
	certFile := flag.String("cert", "", "PEM file with the certificate chain and the key, for tls12-partial")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: go run ./scripts/demopeers [-cert FILE] ADDR=KIND...\nkinds: http, ssh-banner, silent, reset, tls12-partial")
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(1)
	}
	// Every listener is open before any serves, so that a caller who
	// waits for one address finds them all.
	var serves []func()
	for _, arg := range flag.Args() {
		serve, err := listen(arg, *certFile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "demopeers: %v\n", err)
			os.Exit(1)
		}
		serves = append(serves, serve)
	}
	for _, s := range serves {
		go s()
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
}

// listen opens the listener of one ADDR=KIND argument and returns the loop
// that serves it.
func listen(arg, certFile string) (func(), error) {
	addr, kind, ok := strings.Cut(arg, "=")
	if !ok {
		return nil, fmt.Errorf("%q: want ADDR=KIND", arg)
	}
	var b peertest.Behavior
	switch kind {
	case "http":
	case "ssh-banner":
		b = peertest.Banner("SSH-2.0-demopeers\r\n")
	case "silent":
		b = peertest.Silent
	case "reset":
		b = peertest.Reset
	case "tls12-partial":
		if certFile == "" {
			return nil, fmt.Errorf("%q: tls12-partial needs -cert", arg)
		}
		cert, err := tls.LoadX509KeyPair(certFile, certFile)
		if err != nil {
			return nil, fmt.Errorf("-cert %q: %w", certFile, err)
		}
		cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MaxVersion: tls.VersionTLS12}
		b = peertest.ByHello(cfg, map[uint16]peertest.Behavior{
			tls.VersionTLS10: peertest.Silent,
			tls.VersionTLS11: peertest.ResetAfterHello,
		})
	default:
		return nil, fmt.Errorf("%q: unknown kind %q (want http, ssh-banner, silent, reset or tls12-partial)", arg, kind)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if b == nil {
		srv := &http.Server{Handler: http.NotFoundHandler(), ReadHeaderTimeout: 5 * time.Second}
		return func() { srv.Serve(ln) }, nil
	}
	return func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(time.Minute))
				b(c)
			}()
		}
	}, nil
}
