package egress

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/teamsgate/teamsgate/internal/egress/policy"
	"github.com/teamsgate/teamsgate/internal/model"
)

// Mode says whether the proxy refuses what its allow list does not allow
// (Enforce) or lets it through, logging and counting what it would have
// refused (Report). The zero value is Enforce, so a forgotten mode fails
// closed. Report never lets through an address the classifier denies.
type Mode uint8

// The modes.
const (
	Enforce Mode = iota
	Report
)

func (m Mode) String() string {
	if m == Report {
		return "report"
	}
	return "enforce"
}

// Identity says how the proxy tells which roles a client is, and so which
// rules apply to it.
type Identity uint8

// The identities.
const (
	// IdentityNone: every rule applies to every client.
	IdentityNone Identity = iota
	// IdentitySource: a client is the roles whose Clients ranges hold its
	// source address; a client in none is refused.
	IdentitySource
	// IdentityCertificate: a client presents a certificate (mTLS to the
	// proxy) whose subject common name or DNS names name its role.
	IdentityCertificate
)

// Client maps source addresses to a role, for IdentitySource.
type Client struct {
	Role     string
	Prefixes []netip.Prefix
}

// Config is everything the proxy runs with. Zero durations and limits mean
// the defaults of Defaults; Rules may be empty (the proxy then allows
// nothing).
type Config struct {
	// Listen is the proxy listener's host:port.
	Listen string
	// Mode is enforce or report.
	Mode Mode
	// Rules is the allow list: the plan's outbound host-name and prefix
	// flows of the roles in scope, with their ports.
	Rules []policy.Rule
	// Skipped lists the flows in scope the proxy cannot carry (UDP, to any
	// address, to the public Internet), with why, for --check and the log.
	Skipped []string

	Identity Identity
	Clients  []Client
	// TLS, when set, serves the listener over TLS (HTTPS proxy); with
	// IdentityCertificate it requires client certificates from ClientCAFile.
	TLS *TLS

	// AllowRanges are addresses the classifier lets through although it
	// denies them by default (a private upstream, tests on loopback).
	AllowRanges []netip.Prefix
	// DNS are the name servers to ask; empty means the system's resolver.
	DNS []netip.AddrPort

	// TLSPorts are the ports a CONNECT tunnel must carry TLS on: the
	// proxy peeks at the ClientHello and requires its server name to be
	// the CONNECT host. AllowNonTLS lets a stream that is not TLS through
	// on those ports instead of refusing it.
	TLSPorts    model.PortSet
	AllowNonTLS bool

	Limits Limits

	// PAC is the proxy auto-config file served at /proxy.pac: the allow
	// list, through this proxy.
	PAC []byte
	// PACProxy is the address the PAC file sends clients to (the
	// section's pac_proxy, else its listen address); invalid when there is
	// none, and then there is no PAC file.
	PACProxy netip.AddrPort

	// AdminListen is the admin listener (metrics, health, reload); empty
	// means none. AdminTokenFile holds the bearer token an admin request
	// must carry; an admin listener off loopback requires one.
	AdminListen    string
	AdminTokenFile string

	// Tenant, when set, makes the proxy intercept the Microsoft sign-in
	// hosts of tenant restrictions and set their headers.
	Tenant *TenantRestrictions
}

// TLS is the proxy listener's own certificate and, for client
// certificates, the CAs and revocation lists that check them.
type TLS struct {
	CertFile, KeyFile string
	ClientCAFile      string
	CRLFiles          []string
}

// Limits bound what clients can make the proxy hold.
type Limits struct {
	// MaxTunnels is the most CONNECT tunnels and forwarded requests open
	// at once; more are refused with 503.
	MaxTunnels int
	// MaxConns is the most client connections open at once.
	MaxConns int
	// Rate and Burst are each client address's request rate (a token
	// bucket); past it, 429.
	Rate  float64
	Burst int
	// ConnectTimeout bounds dialling the upstream, DNSTimeout a name's
	// resolution, HeaderTimeout reading a request's header, IdleTimeout a
	// tunnel with no byte in either direction, PeekTimeout waiting for a
	// TLS ClientHello.
	ConnectTimeout, DNSTimeout, HeaderTimeout, IdleTimeout, PeekTimeout time.Duration
	// DNSCache is how long a name's answers are kept (dnsCache); negative
	// means none are.
	DNSCache time.Duration
	// MaxHeaderBytes bounds a request's header.
	MaxHeaderBytes int
}

// Defaults are the limits a zero Limits field means.
var Defaults = Limits{
	MaxTunnels:     20000,
	MaxConns:       25000,
	Rate:           50,
	Burst:          100,
	ConnectTimeout: 10 * time.Second,
	DNSTimeout:     5 * time.Second,
	HeaderTimeout:  10 * time.Second,
	IdleTimeout:    5 * time.Minute,
	PeekTimeout:    10 * time.Second,
	DNSCache:       10 * time.Second,
	MaxHeaderBytes: 16 << 10,
}

// TenantRestrictions is tenant restrictions (v1) as the proxy sets them:
// on requests to Hosts, the header Restrict-Access-To-Tenants carries
// Tenants and Restrict-Access-Context carries Context, replacing what the
// client sent. The proxy decrypts those hosts only, with certificates it
// issues from the CA in CACertFile and CAKeyFile.
type TenantRestrictions struct {
	Tenants               []string
	Context               string
	Hosts                 []string
	CACertFile, CAKeyFile string
	// UpstreamCAFile holds the CAs (PEM) that verify the sign-in hosts'
	// own certificates; empty means the system's roots.
	UpstreamCAFile string
}

// Summary says in one line what the proxy runs with, for serve --check:
// where it listens, its mode, how many flows of which roles it allows,
// and how many flows in scope it cannot carry.
func (c Config) Summary() string {
	roles := map[string]bool{}
	for _, r := range c.Rules {
		roles[r.Role] = true
	}
	names := make([]string, 0, len(roles))
	for r := range roles {
		names = append(names, r)
	}
	sort.Strings(names)
	s := fmt.Sprintf("listen %s, mode %s, %s", c.Listen, c.Mode, count(len(c.Rules), "allowed flow"))
	if len(names) > 0 {
		s += " (" + strings.Join(names, ", ") + ")"
	}
	if len(c.Skipped) > 0 {
		s += ", " + count(len(c.Skipped), "flow") + " in scope it cannot carry: " + strings.Join(c.Skipped, "; ")
	}
	if c.Tenant != nil {
		s += ", tenant restrictions on " + strings.Join(c.Tenant.Hosts, ", ")
	}
	return s
}

func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
