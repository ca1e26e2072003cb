package egress

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go4.org/netipx"

	"github.com/teamsgate/teamsgate/internal/adminhttp"
	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/egress/policy"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/section"
	"github.com/teamsgate/teamsgate/internal/suggest"
	"github.com/teamsgate/teamsgate/internal/yamlx"
)

// The defaults of the egress: section that are not limits (Defaults has
// those).
const (
	// DefaultListen is the proxy's listener: loopback, the port Squid made
	// the usual one for a forward proxy.
	DefaultListen = "127.0.0.1:3128"
	// DefaultAdminListen is beside the gateway's (127.0.0.1:9090), so that
	// one spec can run both.
	DefaultAdminListen = "127.0.0.1:9091"
	// DefaultTLSPort is the port a CONNECT must carry TLS on when the
	// section names none: HTTPS, the port of every host-name flow of the
	// catalog but a few.
	DefaultTLSPort = 443
)

// wireEgress is the wire form of the spec's egress: section, which the
// spec keeps raw for this package to decode (docs/egress.md has the
// reference). Durations are Go durations ("10s"), sizes are bytes or a
// number with a KiB/MiB suffix, as in the gateway: section.
type wireEgress struct {
	Listen             string       `yaml:"listen"`
	Mode               string       `yaml:"mode"`
	Scope              []string     `yaml:"scope"`
	Identity           string       `yaml:"identity"`
	Clients            []wireClient `yaml:"clients"`
	TLS                *wireTLS     `yaml:"tls"`
	AllowRanges        []string     `yaml:"allow_ranges"`
	DNS                []string     `yaml:"dns"`
	TLSPorts           []string     `yaml:"tls_ports"`
	AllowNonTLS        bool         `yaml:"allow_non_tls"`
	Limits             wireLimits   `yaml:"limits"`
	Admin              wireAdmin    `yaml:"admin"`
	PACProxy           string       `yaml:"pac_proxy"`
	TenantRestrictions *wireTenant  `yaml:"tenant_restrictions"`
}

type wireClient struct {
	Role     string   `yaml:"role"`
	Prefixes []string `yaml:"prefixes"`
}

// wireTLS names its files as the gateway's tls: does (cert, key,
// client_ca).
type wireTLS struct {
	Cert     string   `yaml:"cert"`
	Key      string   `yaml:"key"`
	ClientCA string   `yaml:"client_ca"`
	CRLs     []string `yaml:"crls"`
}

type wireLimits struct {
	MaxTunnels     *int     `yaml:"max_tunnels"`
	MaxConns       *int     `yaml:"max_conns"`
	Rate           *float64 `yaml:"rate"`
	Burst          *int     `yaml:"burst"`
	ConnectTimeout string   `yaml:"connect_timeout"`
	DNSTimeout     string   `yaml:"dns_timeout"`
	DNSCache       string   `yaml:"dns_cache"`
	HeaderTimeout  string   `yaml:"header_timeout"`
	IdleTimeout    string   `yaml:"idle_timeout"`
	PeekTimeout    string   `yaml:"peek_timeout"`
	MaxHeaderBytes string   `yaml:"max_header_bytes"`
}

type wireAdmin struct {
	Listen    string `yaml:"listen"`
	TokenFile string `yaml:"token_file"`
}

type wireTenant struct {
	CACert     string `yaml:"ca_cert"`
	CAKey      string `yaml:"ca_key"`
	UpstreamCA string `yaml:"upstream_ca"`
}

// Bounds of the limits: far above what one proxy serves, low enough that
// a typo (an extra zero or three) is caught.
const (
	maxCount       = 1 << 22
	maxRate        = 1e6
	maxHeaderBytes = 1 << 20
	maxDNSCache    = time.Hour
	minHeaderBytes = 1 << 10
)

// FromSection builds the proxy's configuration from the spec's egress:
// section and the spec's plan: the user's choices, checked, with the
// defaults; the allow list taken from the plan (AllowList) for the roles
// in scope; with identity source, each role's clients; file names resolved
// against the directory of specFile, every named file present. Every
// problem is reported, positioned. The PAC file (Config.PAC) is left to
// the caller, which renders it (package egress/load).
func FromSection(sec yamlx.Section, specFile string, p *model.Plan) (*Config, diag.List) {
	var ds diag.List
	if sec.IsZero() {
		ds.Errorf(sec.Doc.At(), "", "the spec has no egress: section; the egress proxy needs one (see docs/egress.md)")
		return nil, ds
	}
	var w wireEgress
	// What could be decoded is checked too: every problem at once.
	ds.Append(sec.Decode(&w))
	c := &section.Checker{At: sec.At, Subject: "egress"}
	cfg := compile(c, &w, filepath.Dir(specFile))

	roles, named := scope(c, w.Scope, p)
	cfg.Rules, cfg.Skipped = AllowList(p, roles)
	for _, d := range deniesOverlapping(p, roles, cfg.Rules) {
		c.Errorf([]string{"scope"}, "%s", d)
	}
	if len(cfg.Rules) == 0 {
		c.Warnf(nil, "the allow list is empty: no TCP flow of the roles in scope (%s) goes to host names or prefixes, so the proxy refuses every request", listOrNone(roles))
	}
	for ref, keys := range named {
		for _, k := range keys {
			if !hasRule(cfg.Rules, k) {
				c.Warnf([]string{"scope", strconv.Itoa(ref)}, "role %s has no outbound flow the proxy can carry (TCP to host names or prefixes)", k)
			}
		}
	}
	if cfg.Identity == IdentitySource {
		cfg.Clients = clients(c, w.Clients, roles, p)
	}
	cfg.Tenant = tenantRestrictions(c, w.TenantRestrictions, filepath.Dir(specFile), p)
	ds.Append(c.Diags)
	ds.Sort()
	if ds.HasErrors() {
		return nil, ds
	}
	return cfg, ds
}

// compile checks what the section says by itself, without the plan, and
// fills in the defaults.
func compile(c *section.Checker, w *wireEgress, dir string) *Config {
	cfg := &Config{
		Listen:      c.Listen(w.Listen, DefaultListen, "listen"),
		AdminListen: c.Listen(w.Admin.Listen, DefaultAdminListen, "admin", "listen"),
		AllowNonTLS: w.AllowNonTLS,
	}
	if cfg.Listen == cfg.AdminListen && !strings.HasSuffix(cfg.Listen, ":0") {
		c.Errorf([]string{"admin", "listen"}, "the admin listener %q must differ from the proxy's listener", cfg.AdminListen)
	}
	cfg.AdminTokenFile = c.File(dir, w.Admin.TokenFile, "admin", "token_file")
	if why := adminhttp.Exposure(cfg.AdminListen); why != "" && cfg.AdminTokenFile == "" {
		c.Errorf([]string{"admin", "listen"}, "admin listener %q %s: anyone who reaches it could reload the configuration; give admin.token_file, or keep it on loopback", cfg.AdminListen, why)
	}

	switch w.Mode {
	case "", "enforce":
		cfg.Mode = Enforce
	case "report":
		cfg.Mode = Report
	default:
		c.Errorf([]string{"mode"}, "mode %q: want enforce or report", w.Mode)
	}

	switch w.Identity {
	case "", "none":
		cfg.Identity = IdentityNone
	case "source":
		cfg.Identity = IdentitySource
	case "certificate":
		cfg.Identity = IdentityCertificate
	default:
		c.Errorf([]string{"identity"}, "identity %q: want none, source or certificate", w.Identity)
	}
	if len(w.Clients) > 0 && w.Identity != "source" {
		c.Errorf([]string{"clients"}, "clients map source addresses to roles: they need identity: source")
	}

	cfg.TLS = tlsConfig(c, w.TLS, cfg.Identity, dir)
	for i, s := range w.AllowRanges {
		path := []string{"allow_ranges", strconv.Itoa(i)}
		pr, err := model.ParsePrefix(s)
		switch {
		case err != nil:
			c.Errorf(path, "%v", err)
		case pr.Bits() == 0:
			c.Errorf(path, "allow range %s is every address: it would switch off the refusal of private, loopback and metadata addresses", pr)
		default:
			cfg.AllowRanges = append(cfg.AllowRanges, pr)
		}
	}
	cfg.DNS = nameServers(c, w.DNS)
	cfg.TLSPorts = tlsPorts(c, w.TLSPorts)
	cfg.Limits = limits(c, &w.Limits)
	cfg.PACProxy = pacProxy(c, w.PACProxy, cfg.Listen)
	return cfg
}

// tlsConfig checks the listener's TLS: a certificate and key, and client
// certificates exactly when identity is certificate.
func tlsConfig(c *section.Checker, w *wireTLS, id Identity, dir string) *TLS {
	if w == nil {
		if id == IdentityCertificate {
			c.Errorf([]string{"identity"}, "identity: certificate needs tls (cert, key and client_ca): clients present their certificates to the proxy's TLS listener")
		}
		return nil
	}
	t := &TLS{
		CertFile:     c.File(dir, w.Cert, "tls", "cert"),
		KeyFile:      c.File(dir, w.Key, "tls", "key"),
		ClientCAFile: c.File(dir, w.ClientCA, "tls", "client_ca"),
	}
	if w.Cert == "" {
		c.Errorf([]string{"tls"}, "tls.cert is required: the proxy's certificate chain (PEM)")
	}
	if w.Key == "" {
		c.Errorf([]string{"tls"}, "tls.key is required: the proxy's private key (PEM)")
	}
	switch {
	case id == IdentityCertificate && w.ClientCA == "":
		c.Errorf([]string{"tls"}, "identity: certificate needs tls.client_ca: the CAs that issue the clients' certificates (PEM)")
	case id != IdentityCertificate && w.ClientCA != "":
		c.Errorf([]string{"tls", "client_ca"}, "tls.client_ca asks for client certificates, which name the client's role: it needs identity: certificate")
	}
	if len(w.CRLs) > 0 && w.ClientCA == "" {
		c.Errorf([]string{"tls", "crls"}, "tls.crls revoke client certificates: they need tls.client_ca")
	}
	for i, name := range w.CRLs {
		t.CRLFiles = append(t.CRLFiles, c.File(dir, name, "tls", "crls", strconv.Itoa(i)))
	}
	return t
}

// nameServers parses the name servers: IP addresses, with a port or
// without (53). A name server given by name would need one to find it.
func nameServers(c *section.Checker, in []string) []netip.AddrPort {
	var out []netip.AddrPort
	for i, s := range in {
		path := []string{"dns", strconv.Itoa(i)}
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				c.Errorf(path, "name server %q: want an IP address, with a port or without (53), e.g. 192.0.2.53 or [2001:db8::53]:53", s)
				continue
			}
			ap = netip.AddrPortFrom(a, 53)
		}
		if ap.Addr().Zone() != "" || ap.Addr().IsUnspecified() || ap.Port() == 0 {
			c.Errorf(path, "name server %q: want a unicast address and a port above 0", s)
			continue
		}
		out = append(out, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
	}
	return out
}

// tlsPorts parses the ports a CONNECT must carry TLS on; none given means
// 443. An empty list is refused rather than read as "no TLS check":
// allow_non_tls is the way to let other streams through.
func tlsPorts(c *section.Checker, in []string) model.PortSet {
	if in == nil {
		return model.NewPortSet(model.Port(DefaultTLSPort))
	}
	if len(in) == 0 {
		c.Errorf([]string{"tls_ports"}, "tls_ports is empty: leave it out for 443, or set allow_non_tls to let streams that are not TLS through")
		return model.NewPortSet(model.Port(DefaultTLSPort))
	}
	var rs []model.PortRange
	for i, s := range in {
		r, err := model.ParsePortRange(s)
		if err != nil {
			c.Errorf([]string{"tls_ports", strconv.Itoa(i)}, "%v", err)
			continue
		}
		rs = append(rs, r)
	}
	return model.NewPortSet(rs...)
}

func limits(c *section.Checker, w *wireLimits) Limits {
	l := Limits{
		MaxTunnels:     c.Positive(w.MaxTunnels, Defaults.MaxTunnels, maxCount, "limits", "max_tunnels"),
		MaxConns:       c.Positive(w.MaxConns, Defaults.MaxConns, maxCount, "limits", "max_conns"),
		Rate:           Defaults.Rate,
		Burst:          c.Positive(w.Burst, Defaults.Burst, maxCount, "limits", "burst"),
		ConnectTimeout: c.Duration(w.ConnectTimeout, Defaults.ConnectTimeout, false, "limits", "connect_timeout"),
		DNSTimeout:     c.Duration(w.DNSTimeout, Defaults.DNSTimeout, false, "limits", "dns_timeout"),
		HeaderTimeout:  c.Duration(w.HeaderTimeout, Defaults.HeaderTimeout, false, "limits", "header_timeout"),
		IdleTimeout:    c.Duration(w.IdleTimeout, Defaults.IdleTimeout, false, "limits", "idle_timeout"),
		PeekTimeout:    c.Duration(w.PeekTimeout, Defaults.PeekTimeout, false, "limits", "peek_timeout"),
		MaxHeaderBytes: int(c.Size(w.MaxHeaderBytes, int64(Defaults.MaxHeaderBytes), maxHeaderBytes, "limits", "max_header_bytes")),
	}
	// dns_cache: 0 keeps no answer (Limits says so with a negative value)
	if l.DNSCache = c.Duration(w.DNSCache, Defaults.DNSCache, true, "limits", "dns_cache"); l.DNSCache == 0 {
		l.DNSCache = -1
	} else if l.DNSCache > maxDNSCache {
		c.Errorf([]string{"limits", "dns_cache"}, "dns_cache %s: at most %s; a name's addresses change, and a proxy that keeps them longer dials where the service no longer is", l.DNSCache, maxDNSCache)
	}
	if w.Rate != nil {
		if *w.Rate <= 0 || *w.Rate > maxRate {
			c.Errorf([]string{"limits", "rate"}, "rate %v: want requests per second per client address, above 0 and at most 1e6", *w.Rate)
		} else {
			l.Rate = *w.Rate
		}
	}
	if l.MaxHeaderBytes < minHeaderBytes {
		c.Errorf([]string{"limits", "max_header_bytes"}, "%d bytes: at least 1KiB, or no client's CONNECT fits", l.MaxHeaderBytes)
	}
	if l.MaxTunnels > l.MaxConns {
		c.Warnf([]string{"limits", "max_tunnels"}, "max_tunnels %d is more than max_conns %d: each tunnel holds a client connection, so at most %d tunnels open", l.MaxTunnels, l.MaxConns, l.MaxConns)
	}
	return l
}

// pacProxy is the address the PAC file sends clients to: pac_proxy, else
// the listen address when it names one address; invalid (no PAC file)
// when neither does.
func pacProxy(c *section.Checker, s, listen string) netip.AddrPort {
	if s != "" {
		ap, err := netip.ParseAddrPort(s)
		if err != nil || ap.Addr().IsUnspecified() || ap.Port() == 0 || ap.Addr().Zone() != "" {
			c.Errorf([]string{"pac_proxy"}, "pac_proxy %q: want the IP address and port clients reach the proxy at, e.g. 192.0.2.3:3128", s)
			return netip.AddrPort{}
		}
		return ap
	}
	ap, err := netip.ParseAddrPort(listen)
	if err != nil || ap.Addr().IsUnspecified() || ap.Port() == 0 {
		// A bad listen address is reported by Listen.
		if err == nil || strings.HasPrefix(listen, ":") {
			c.Warnf([]string{"listen"}, "no proxy.pac: the listener %q names no one address for clients to use; give pac_proxy, the address and port clients reach the proxy at", listen)
		}
		return netip.AddrPort{}
	}
	return ap
}

// scope returns the plan's role keys ("INTEGRATION/ROLE") whose outbound
// flows the proxy allows, sorted: those the section's scope names (a bare
// ROLE naming the role in every integration that has it), or by default
// every bound role with an outbound flow the proxy can carry. named holds
// the keys each scope entry names.
func scope(c *section.Checker, refs []string, p *model.Plan) (keys []string, named [][]string) {
	named = make([][]string, len(refs))
	if refs == nil {
		seen := map[string]bool{}
		for _, r := range p.Rules {
			k := sourceKey(r)
			if _, bound := p.Roles[k]; bound && !seen[k] && cannotCarry(r) == "" {
				seen[k] = true
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		return keys, named
	}
	if len(refs) == 0 {
		c.Errorf([]string{"scope"}, "scope is empty: name the roles whose outbound flows the proxy allows, or leave it out for every role with such flows")
	}
	known := roleNames(p)
	seen := map[string]bool{}
	for i, ref := range refs {
		path := []string{"scope", strconv.Itoa(i)}
		ks := p.RoleKeys(ref)
		if len(ks) == 0 {
			c.Errorf(path, "%q is no role of the spec%s (roles: %s)", ref, suggest.Hint(ref, known), strings.Join(known, ", "))
			continue
		}
		named[i] = ks
		for _, k := range ks {
			if seen[k] {
				c.Errorf(path, "role %s is in scope twice", k)
				continue
			}
			seen[k] = true
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys, named
}

// AllowList is the proxy's allow list for the roles keys name
// ("INTEGRATION/ROLE"): one rule per plan rule from one of them that the
// proxy can carry (TCP, or any protocol, to host names or prefixes), with
// its destination hosts, prefixes and ports, in the plan's order; and the
// rules from them it cannot carry, each as "RULE-ID: why".
func AllowList(p *model.Plan, keys []string) (rules []policy.Rule, skipped []string) {
	in := map[string]bool{}
	for _, k := range keys {
		in[k] = true
	}
	for _, r := range p.Rules {
		k := sourceKey(r)
		if !in[k] {
			continue
		}
		if why := cannotCarry(r); why != "" {
			skipped = append(skipped, r.ID+": "+why)
			continue
		}
		rules = append(rules, policy.Rule{
			FlowID:   r.ID,
			Role:     k,
			Hosts:    append([]model.Host(nil), r.Destination.Hosts...),
			Prefixes: append([]netip.Prefix(nil), r.Destination.Prefixes...),
			Ports:    r.DestPorts,
		})
	}
	return rules, skipped
}

// cannotCarry says why the proxy cannot carry a rule, or "" when it can:
// an allow, over TCP or any protocol, to host names or prefixes and
// nothing else.
func cannotCarry(r model.Rule) string {
	d := r.Destination
	switch {
	case r.Action == model.Deny:
		return "a deny: the proxy refuses what its allow list does not name"
	case r.Proto != model.ProtoTCP && r.Proto != model.ProtoAny:
		return fmt.Sprintf("%s: the proxy carries TCP only; allow it on the firewall", r.Proto)
	case d.Any:
		return "to any address: the proxy allows named hosts and prefixes only; allow it on the firewall"
	case d.Internet:
		name := d.Role
		if name == "" {
			name = d.Set
		}
		return fmt.Sprintf("to the public Internet (%s): bind it to host names for the proxy to carry it, or allow it on the firewall", name)
	case len(d.ServiceTags) > 0:
		return fmt.Sprintf("to service tag %s: the proxy cannot resolve service tags; allow it on the firewall", strings.Join(d.ServiceTags, ", "))
	case len(d.Hosts) == 0 && len(d.Prefixes) == 0:
		return "no host name or prefix to allow"
	}
	return ""
}

// deniesOverlapping lists the deny rules from the roles in scope that a
// rule of the allow list allows part of: the proxy has no deny rules, so
// such a deny would not hold.
func deniesOverlapping(p *model.Plan, keys []string, allow []policy.Rule) []string {
	var out []string
	for _, d := range p.Rules {
		if d.Action != model.Deny || !slices.Contains(keys, sourceKey(d)) || (d.Proto != model.ProtoTCP && d.Proto != model.ProtoAny) {
			continue
		}
		deny := d.Destination.IPSet()
		for _, a := range allow {
			if a.Role != sourceKey(d) || a.Ports.Intersect(d.DestPorts).IsEmpty() {
				continue
			}
			var b netipx.IPSetBuilder
			for _, pr := range a.Prefixes {
				b.AddPrefix(pr)
			}
			s, _ := b.IPSet()
			if s.Overlaps(deny) || hostsOverlap(a.Hosts, d.Destination.Hosts) || (len(a.Hosts) > 0 && d.Destination.Any) {
				out = append(out, fmt.Sprintf("%s denies part of what %s allows, and the proxy has no deny rules: leave role %s out of scope", d.ID, a.FlowID, a.Role))
			}
		}
	}
	return out
}

func hostsOverlap(a, b []model.Host) bool {
	for _, x := range a {
		for _, y := range b {
			if x.Covers(y) || y.Covers(x) {
				return true
			}
		}
	}
	return false
}

// clients maps source addresses to the roles in scope, for identity
// source: each role's own bound prefixes, plus the section's clients.
func clients(c *section.Checker, in []wireClient, keys []string, p *model.Plan) []Client {
	extra := map[string][]netip.Prefix{}
	for i, cl := range in {
		path := []string{"clients", strconv.Itoa(i)}
		if cl.Role == "" {
			c.Errorf(path, "a client needs its role: role: INTEGRATION/ROLE or ROLE")
		}
		if len(cl.Prefixes) == 0 {
			c.Errorf(path, "a client needs its prefixes: the source addresses of the role's machines")
		}
		prefixes := c.Prefixes(cl.Prefixes, append(path, "prefixes")...)
		if cl.Role == "" {
			continue
		}
		ks := p.RoleKeys(cl.Role)
		if len(ks) == 0 {
			c.Errorf(append(path, "role"), "%q is no role of the spec%s (roles: %s)", cl.Role, suggest.Hint(cl.Role, keys), listOrNone(keys))
			continue
		}
		for _, k := range ks {
			if !slices.Contains(keys, k) {
				c.Errorf(append(path, "role"), "role %s is not in scope: its clients would have no flow to use", k)
				continue
			}
			extra[k] = append(extra[k], prefixes...)
		}
	}
	var out []Client
	for _, k := range keys {
		var b netipx.IPSetBuilder
		for _, pr := range p.Roles[k].Prefixes {
			b.AddPrefix(pr)
		}
		for _, pr := range extra[k] {
			b.AddPrefix(pr)
		}
		s, _ := b.IPSet()
		if len(s.Prefixes()) == 0 {
			c.Warnf([]string{"identity"}, "role %s has no addresses to know its clients by (it is bound to host names only): no client is taken for it; give its addresses in clients", k)
			continue
		}
		out = append(out, Client{Role: k, Prefixes: s.Prefixes()})
	}
	if len(out) == 0 && len(keys) > 0 {
		c.Errorf([]string{"identity"}, "identity: source, and no role in scope has addresses to know its clients by; bind the roles to addresses, or give clients")
	}
	return out
}

// tenantRestrictions checks the tenant_restrictions: key, with which the
// proxy opts in to set the tenant restrictions (v1) headers that the plan
// lists: the CA it issues the sign-in hosts' certificates from (ca_cert,
// ca_key), which the clients must trust, and optionally the CAs that verify
// the sign-in hosts themselves (upstream_ca; the system roots otherwise).
// The tenants, the context and the hosts are the plan's
// (model.TenantRestrictions), never given twice. Nil when the key is
// absent.
func tenantRestrictions(c *section.Checker, w *wireTenant, dir string, p *model.Plan) *TenantRestrictions {
	tr := p.TenantRestrictions
	if w == nil {
		if tr != nil {
			c.Warnf(nil, "the plan puts tenant restrictions in force, and the proxy does not set their headers: give tenant_restrictions with ca_cert and ca_key to have it set them")
		}
		return nil
	}
	path := []string{"tenant_restrictions"}
	if w.CACert == "" || w.CAKey == "" {
		c.Errorf(path, "tenant_restrictions needs ca_cert and ca_key: the CA the proxy issues the sign-in hosts' certificates from, which the clients trust (PEM)")
	}
	t := &TenantRestrictions{
		CACertFile: c.File(dir, w.CACert, "tenant_restrictions", "ca_cert"),
		CAKeyFile:  c.File(dir, w.CAKey, "tenant_restrictions", "ca_key"),
	}
	if w.UpstreamCA != "" {
		t.UpstreamCAFile = c.File(dir, w.UpstreamCA, "tenant_restrictions", "upstream_ca")
	}
	if tr == nil {
		c.Errorf(path, "the spec puts no tenant restrictions in force, so the plan has no tenants for the headers: put them in force in the spec, or leave tenant_restrictions out")
		return t
	}
	t.Tenants = tr.TenantList()
	t.Context = tr.Context.String()
	for _, h := range tr.Hosts {
		t.Hosts = append(t.Hosts, h.String())
	}
	return t
}

// sourceKey is the plan role key of a rule's source ("INTEGRATION/ROLE"),
// or "" when the source is no role.
func sourceKey(r model.Rule) string {
	if r.Source.Role == "" {
		return ""
	}
	return r.Integration + "/" + r.Source.Role
}

// roleNames lists the plan's role keys and the roles' bare names, sorted,
// for "did you mean".
func roleNames(p *model.Plan) []string {
	var out []string
	for k := range p.Roles {
		_, name, _ := strings.Cut(k, "/")
		out = append(out, k)
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func hasRule(rules []policy.Rule, role string) bool {
	for _, r := range rules {
		if r.Role == role {
			return true
		}
	}
	return false
}

func listOrNone(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ", ")
}
