package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/teamsgate/teamsgate/internal/catalog"
	"github.com/teamsgate/teamsgate/internal/egress"
	egressload "github.com/teamsgate/teamsgate/internal/egress/load"
	"github.com/teamsgate/teamsgate/internal/ingress"
)

// profile runs the egress proxy of a spec in this process, as serve runs
// it (its request log written to -log), and writes a CPU profile of the
// -d that follows its start; the load comes from another process (the
// tunnels command). It stops after -d, or at SIGTERM.
func profile(args []string) error {
	fs := flag.NewFlagSet("profile", flag.ExitOnError)
	spec := fs.String("spec", "", "spec file with an egress: section")
	out := fs.String("out", "egress.pprof", "CPU profile to write")
	logFile := fs.String("log", "", "request log (JSON lines); empty discards it")
	dur := fs.Duration("d", 10*time.Second, "how long to profile")
	fs.Parse(args)
	cat, ds := catalog.Embedded()
	if ds.HasErrors() {
		return ds.Err()
	}
	cfg, ds := egressload.File(cat, *spec)
	if ds.HasErrors() {
		return ds.Err()
	}
	var w io.Writer = io.Discard
	if *logFile != "" {
		f, err := os.Create(*logFile)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	// buffered and flushed every 100 ms, as serve writes it
	logw := ingress.NewLogWriter(w, 64<<10, 100*time.Millisecond)
	defer logw.Close()
	px, err := egress.New(*cfg, egress.Options{Logger: slog.New(slog.NewJSONHandler(logw, nil)), RequestLog: logw})
	if err != nil {
		return err
	}
	if err := px.Start(); err != nil {
		return err
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	fmt.Printf("ready: egress proxy on %s, profiling for %s\n", px.Addr(), *dur)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case <-ctx.Done():
	case <-time.After(*dur):
	}
	pprof.StopCPUProfile()
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return px.Shutdown(sctx)
}

// peekCert writes a self-signed certificate and its key, both PEM, into
// one file: what Squid wants on a port that peeks at TLS (tls-cert=),
// though the configuration never decrypts.
func peekCert(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("peekcert: want FILE")
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "squid-peek"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	out = append(out, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})...)
	return os.WriteFile(args[0], out, 0o600)
}
