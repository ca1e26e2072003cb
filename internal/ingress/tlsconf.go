package ingress

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"
)

// cipherSuites are the TLS 1.2 suites offered: ECDHE key exchange with an
// AEAD cipher only, the set Microsoft requires of bot endpoints and that
// Caddy and Go prefer (gateway-anchors.md §2.3, §4). TLS 1.3 suites are not
// configurable and all modern.
var cipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// loadServerTLS reads the certificate, key and client CA files of c, and
// returns the files' stamp for change detection. The client CA pool is nil
// when c names none.
func loadServerTLS(c TLSConfig, now time.Time) (*tls.Certificate, *x509.CertPool, fileStamp, error) {
	stamp := stampFiles(c.CertFile, c.KeyFile, c.ClientCAFile)
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, nil, stamp, fmt.Errorf("tls certificate %q / key %q: %w", c.CertFile, c.KeyFile, err)
	}
	if cert.Leaf != nil && now.After(cert.Leaf.NotAfter) {
		return nil, nil, stamp, fmt.Errorf("tls certificate %q expired on %s", c.CertFile, cert.Leaf.NotAfter.Format(time.RFC3339))
	}
	var pool *x509.CertPool
	if c.ClientCAFile != "" {
		if pool, err = loadPool(c.ClientCAFile); err != nil {
			return nil, nil, stamp, fmt.Errorf("tls client ca: %w", err)
		}
	}
	return &cert, pool, stamp, nil
}

// serverTLS is the listener's TLS configuration. The certificate comes
// from GetCertificate, which reads the current state: replacing the state
// (a reload, a changed certificate file) swaps the certificate atomically
// for every later handshake, without a restart. When the current state
// requires client certificates, GetConfigForClient returns a configuration
// that verifies them against its CA pool.
func (g *Gateway) serverTLS() *tls.Config {
	c := baseTLS()
	c.GetCertificate = g.getCertificate
	c.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		return g.state.Load().clientTLS, nil // nil: use c
	}
	return c
}

func (g *Gateway) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if c := g.state.Load().cert; c != nil {
		return c, nil
	}
	return nil, errNoTLS
}

// clientAuthTLS is the configuration for a state with a client CA pool.
func (g *Gateway) clientAuthTLS(pool *x509.CertPool) *tls.Config {
	if pool == nil {
		return nil
	}
	c := baseTLS()
	c.GetCertificate = g.getCertificate
	c.ClientCAs = pool
	c.ClientAuth = tls.RequireAndVerifyClientCert
	return c
}

// baseTLS is the fixed part of every server configuration: TLS 1.2 at
// least, modern suites, HTTP/1.1 only (so that shutdown drains with
// Connection: close, and no HTTP/2 stream multiplexing widens the surface
// in front of a bot that needs neither).
func baseTLS() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		CipherSuites: cipherSuites,
		NextProtos:   []string{"http/1.1"},
	}
}

// loadPool reads a PEM bundle of CA certificates.
func loadPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%q holds no PEM certificate", file)
	}
	return pool, nil
}

// fileStamp identifies the versions of a set of files by size and
// modification time, to notice replacements without reading them.
type fileStamp string

func stampFiles(names ...string) fileStamp {
	var s string
	for _, n := range names {
		if n == "" {
			continue
		}
		fi, err := os.Stat(n)
		if err != nil {
			s += n + ":missing;"
			continue
		}
		s += fmt.Sprintf("%s:%d:%d;", n, fi.Size(), fi.ModTime().UnixNano())
	}
	return fileStamp(s)
}

var errNoTLS = errors.New("no TLS configuration")
