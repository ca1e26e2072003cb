// Package tenant is the egress proxy's tenant restrictions (v1)
// interceptor. Tenant restrictions need a proxy that decrypts the
// Microsoft sign-in hosts (login.microsoftonline.com, login.microsoft.com
// and login.windows.net) and sets on every request to them
// Restrict-Access-To-Tenants, the tenants users and apps may get tokens
// from, and Restrict-Access-Context, the directory ID of the tenant that
// sets the policy, replacing whatever the client sent; Entra ID then
// refuses tokens for any other tenant (Microsoft Entra, "Restrict access to
// a tenant", Proxy configuration; docs/reference/botauth.md §5.1).
//
// The list matters for a bot: a multi-tenant Azure Bot gets its own token
// from the botframework.com tenant, so the list must hold botframework.com,
// and a single-tenant bot its own tenant (the FAQ of Microsoft's
// "Communication flow for Microsoft Teams bot applications";
// docs/reference/botauth.md §5.3).
//
// Only the sign-in hosts are decrypted. For them, Serve terminates TLS
// towards the client with a certificate for the host issued from a CA the
// clients trust, opens TLS to the real sign-in host verified against its
// own roots, and relays HTTP/1.1 with the two headers replaced. Every other
// tunnel stays end-to-end encrypted: the proxy never hands it here.
package tenant

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/teamsgate/teamsgate/internal/model"
)

// Config is what the interceptor needs.
type Config struct {
	// Tenants are the tenants of Restrict-Access-To-Tenants, in order:
	// domains ("contoso.com") or directory IDs, normalised as
	// model.ParseTenant does.
	Tenants []string
	// Context is the directory ID (a GUID) of Restrict-Access-Context.
	Context string
	// Hosts are the host names intercepted, lower case and without a
	// trailing dot (model.TenantRestrictionHosts).
	Hosts []string
	// CACertPEM and CAKeyPEM are the CA that issues the certificates the
	// clients are shown, which they must trust. CACertPEM holds the CA's
	// certificate first, then any certificates above it that clients need
	// to build the chain; CAKeyPEM the CA's key (PKCS #8, SEC 1 or
	// PKCS #1; RSA, ECDSA or Ed25519).
	CACertPEM, CAKeyPEM []byte
	// UpstreamRoots verifies the real sign-in host's certificate; nil
	// means the system roots.
	UpstreamRoots *x509.CertPool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Interceptor sets the tenant restrictions headers on the tunnels to the
// sign-in hosts. Create it with New; it is safe for concurrent use.
type Interceptor struct {
	restriction restriction
	hosts       map[string]bool
	issuer      *issuer
	roots       *x509.CertPool
	now         func() time.Time
	// servers and clients are each host's TLS configurations, shared by
	// its tunnels so that sessions resume.
	servers, clients map[string]*tls.Config
}

// The errors Serve wraps, for callers that branch on why a tunnel ended.
var (
	// ErrNotIntercepted: Serve was asked for a host not among the Hosts.
	ErrNotIntercepted = errors.New("host not intercepted")
	// ErrClientHandshake: the TLS handshake with the client failed.
	ErrClientHandshake = errors.New("tls handshake with the client failed")
	// ErrUpstreamHandshake: the TLS handshake with the sign-in host failed
	// (its certificate did not verify, or it did not answer); the client
	// was answered 502 Bad Gateway.
	ErrUpstreamHandshake = errors.New("tls handshake with the sign-in host failed")
	// ErrRequest: the client sent a request the interceptor does not relay
	// (malformed, a header over the limit, another host, not HTTP/1.x);
	// it was answered with a 4xx or 5xx status.
	ErrRequest = errors.New("request not relayed")
	// ErrResponse: the sign-in host sent something that is not an HTTP/1.x
	// response; the client was answered 502 Bad Gateway.
	ErrResponse = errors.New("response not relayed")
)

// New checks cfg and returns its interceptor. It issues the first
// certificate of every host, so that a CA that cannot issue one clients
// accept (expired, not a CA, name-constrained, a key that does not match)
// fails here rather than at a client's first sign-in.
func New(cfg Config) (*Interceptor, error) {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	r, err := newRestriction(cfg.Tenants, cfg.Context)
	if err != nil {
		return nil, err
	}
	if len(cfg.Hosts) == 0 {
		return nil, errors.New("no hosts: tenant restrictions need the sign-in hosts to intercept")
	}
	hosts := make(map[string]bool, len(cfg.Hosts))
	for _, h := range cfg.Hosts {
		p, err := model.ParseHost(h)
		if err != nil {
			return nil, err
		}
		switch {
		case p.IsWildcard():
			return nil, fmt.Errorf("host %q is a wildcard: tenant restrictions name each sign-in host, and leave their subdomains out", h)
		case p.String() != h:
			return nil, fmt.Errorf("host %q is not in normal form (want %q)", h, p.String())
		case hosts[h]:
			return nil, fmt.Errorf("host %q is listed twice", h)
		}
		hosts[h] = true
	}
	iss, err := newIssuer(cfg.CACertPEM, cfg.CAKeyPEM, now)
	if err != nil {
		return nil, err
	}
	for _, h := range cfg.Hosts {
		if _, err := iss.certificate(h); err != nil {
			return nil, err
		}
	}
	i := &Interceptor{restriction: r, hosts: hosts, issuer: iss, roots: cfg.UpstreamRoots, now: now,
		servers: map[string]*tls.Config{}, clients: map[string]*tls.Config{}}
	sessions := tls.NewLRUClientSessionCache(len(hosts))
	for h := range hosts {
		i.servers[h] = i.serverConfig(h)
		i.clients[h] = i.clientConfig(h, sessions)
	}
	return i, nil
}

// Intercepts reports whether host is one of the Hosts. The match is
// exact: the proxy gives the CONNECT target's host normalised.
func (i *Interceptor) Intercepts(host string) bool { return i.hosts[host] }

// serverConfig is the TLS configuration towards the client of a tunnel to
// host: the certificate issued for host, and HTTP/1.1 only, the one
// protocol the relay speaks.
func (i *Interceptor) serverConfig(host string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
			if sni := strings.ToLower(strings.TrimSuffix(h.ServerName, ".")); sni != "" && sni != host {
				return nil, fmt.Errorf("the client asks for %q in a tunnel to %q", h.ServerName, host)
			}
			return i.issuer.certificate(host)
		},
	}
}

// clientConfig is the TLS configuration towards the sign-in host: its
// certificate verified for host against UpstreamRoots, at the
// interceptor's clock.
func (i *Interceptor) clientConfig(host string, sessions tls.ClientSessionCache) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         host,
		RootCAs:            i.roots,
		NextProtos:         []string{"http/1.1"},
		Time:               i.now,
		ClientSessionCache: sessions,
	}
}

// restriction is the pair of header values every request to a sign-in
// host carries.
type restriction struct {
	tenants string // Restrict-Access-To-Tenants
	context string // Restrict-Access-Context
}

// newRestriction checks the tenants and the context and returns their
// header values.
func newRestriction(tenants []string, context string) (restriction, error) {
	if len(tenants) == 0 {
		return restriction{}, errors.New("no tenants: Restrict-Access-To-Tenants needs at least one tenant")
	}
	seen := make(map[model.Tenant]bool, len(tenants))
	names := make([]string, 0, len(tenants))
	for _, s := range tenants {
		t, err := model.ParseTenant(s)
		if err != nil {
			return restriction{}, err
		}
		if seen[t] {
			return restriction{}, fmt.Errorf("tenant %q is listed twice", s)
		}
		seen[t] = true
		names = append(names, t.String())
	}
	if context == "" {
		return restriction{}, errors.New("no context: Restrict-Access-Context needs the directory ID of the tenant that sets the policy")
	}
	c, err := model.ParseTenantID(context)
	if err != nil {
		return restriction{}, fmt.Errorf("context: %w", err)
	}
	return restriction{tenants: strings.Join(names, ","), context: c.String()}, nil
}

// setHeaders sets Restrict-Access-To-Tenants and Restrict-Access-Context
// in h, once each, after deleting every copy the client sent under any
// spelling of the name: a client must not choose its own restrictions
// ("the proxy must replace any client-supplied Restrict-Access-To-Tenants",
// docs/reference/botauth.md §5.1).
func (r restriction) setHeaders(h http.Header) {
	for k := range h {
		if strings.EqualFold(k, model.HeaderRestrictTenants) || strings.EqualFold(k, model.HeaderRestrictContext) {
			delete(h, k)
		}
	}
	h[model.HeaderRestrictTenants] = []string{r.tenants}
	h[model.HeaderRestrictContext] = []string{r.context}
}
