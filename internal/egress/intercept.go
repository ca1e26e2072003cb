package egress

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/teamsgate/teamsgate/internal/egress/policy"
	"github.com/teamsgate/teamsgate/internal/egress/tenant"
)

// newInterceptor reads the files of the tenant restrictions and returns
// their interceptor; nil when tr is.
func newInterceptor(tr *TenantRestrictions, now func() time.Time) (*tenant.Interceptor, error) {
	if tr == nil {
		return nil, nil
	}
	cert, err := os.ReadFile(tr.CACertFile)
	if err != nil {
		return nil, fmt.Errorf("tenant restrictions: %w", err)
	}
	key, err := os.ReadFile(tr.CAKeyFile)
	if err != nil {
		return nil, fmt.Errorf("tenant restrictions: %w", err)
	}
	cfg := tenant.Config{Tenants: tr.Tenants, Context: tr.Context, Hosts: tr.Hosts, CACertPEM: cert, CAKeyPEM: key, Now: now}
	if tr.UpstreamCAFile != "" {
		pem, err := os.ReadFile(tr.UpstreamCAFile)
		if err != nil {
			return nil, fmt.Errorf("tenant restrictions: %w", err)
		}
		cfg.UpstreamRoots = x509.NewCertPool()
		if !cfg.UpstreamRoots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tenant restrictions: upstream_ca %s holds no PEM certificate", tr.UpstreamCAFile)
		}
	}
	i, err := tenant.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("tenant restrictions: %w", err)
	}
	return i, nil
}

// tenantIntercepts reports whether the tunnel to host is one that tenant
// restrictions decrypt: a Microsoft sign-in host, with tenant restrictions
// configured. Every other tunnel is spliced, never decrypted.
func (st *state) tenantIntercepts(host string) bool {
	return st.tenant != nil && host != "" && st.tenant.Intercepts(host)
}

// intercept hands a tunnel to the tenant-restrictions interceptor, the
// bytes the client has sent so far replayed first.
func (p *Proxy) intercept(ctx context.Context, st *state, tn *tunnel, br *bufio.Reader, first []byte, t policy.Target) (up, down int64) {
	client := &replayConn{Conn: tn.client, r: io.MultiReader(bytes.NewReader(first), br)}
	up, down, err := st.tenant.Serve(ctx, client, t.Host, tn.upstream)
	if err != nil {
		p.log.Debug("tenant restrictions tunnel ended", "target", t.String(), "err", err.Error())
	}
	return up, down
}

// replayConn is a connection whose reads come from r first: what the
// proxy already read of the client, then the connection itself (r ends in
// a reader of it).
type replayConn struct {
	net.Conn
	r io.Reader
}

func (c *replayConn) Read(b []byte) (int, error) { return c.r.Read(b) }
