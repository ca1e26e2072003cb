package egress

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"
)

// listenerTLS builds the proxy listener's TLS configuration: its
// certificate, and with IdentityCertificate the client CAs and the
// revocation lists every client certificate is checked against.
func listenerTLS(t *TLS, id Identity, now func() time.Time) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"http/1.1"},
	}
	if t.ClientCAFile == "" {
		if len(t.CRLFiles) > 0 {
			return nil, errors.New("tls: crl files need a client CA file")
		}
		return cfg, nil
	}
	b, err := os.ReadFile(t.ClientCAFile)
	if err != nil {
		return nil, fmt.Errorf("tls client ca file: %w", err)
	}
	pool := x509.NewCertPool()
	var cas []*x509.Certificate
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("tls client ca file %s: %w", t.ClientCAFile, err)
		}
		pool.AddCert(c)
		cas = append(cas, c)
	}
	if len(cas) == 0 {
		return nil, fmt.Errorf("tls client ca file %s holds no certificate", t.ClientCAFile)
	}
	cfg.ClientCAs = pool
	cfg.ClientAuth = tls.VerifyClientCertIfGiven
	if id == IdentityCertificate {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	crl, err := loadCRLs(t.CRLFiles, pool, cas, now)
	if err != nil {
		return nil, err
	}
	cfg.VerifyConnection = crl.verify
	return cfg, nil
}

// pemBlock returns the bytes of the first PEM block of the given type, or
// nil.
func pemBlock(b []byte, typ string) []byte {
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil
		}
		if blk.Type == typ {
			return blk.Bytes
		}
	}
}
