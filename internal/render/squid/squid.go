// Package squid renders the host-name flows of a plan as a Squid egress
// allow list: CONNECT only to the listed names and ports, the TLS SNI
// checked against the same names by peeking at the ClientHello without
// decrypting, plain HTTP only where a flow says port 80, internal
// destinations denied after DNS, everything else denied. See README.md.
package squid

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/render"
	"github.com/teamsgate/teamsgate/internal/view"
)

// Name is the target's name on the command line.
const Name = "squid"

// FileName is the rendered configuration.
const FileName = "squid.conf"

// CertFile is where the configuration expects the certificate and key of
// its ssl-bump port. Squid needs one on a port that peeks at TLS even when
// it never decrypts (Squid wiki, "Features/SslPeekAndSplice").
const CertFile = "/etc/squid/teamsgate-peek.pem"

// DefaultPort is Squid's customary listening port, used when the options
// name no proxy.
const DefaultPort = 3128

// Internal lists the destinations the proxy never dials, whatever name
// resolves to them: "this network", RFC 1918, CGNAT (RFC 6598), loopback,
// link-local (with the cloud metadata address 169.254.169.254), the IETF
// protocol assignments (RFC 6890), benchmarking (RFC 2544), multicast,
// reserved and broadcast, Azure's WireServer 168.63.129.16; for IPv6 the
// unspecified and loopback addresses, NAT64 (RFC 6052, RFC 8215), Teredo,
// 6to4, ULA (RFC 4193), link-local, site-local and multicast. Squid holds
// IPv4 addresses as IPv4-mapped IPv6, so ::ffff:0:0/96 would be all of IPv4
// and is left out: a mapped destination is checked against the IPv4 ranges.
var Internal = []string{
	"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
	"192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4", "168.63.129.16/32",
	"::/128", "::1/128", "64:ff9b::/96", "64:ff9b:1::/48", "2001::/32", "2002::/16", "fc00::/7",
	"fe80::/10", "fec0::/10", "ff00::/8",
}

// tlsApps are the application protocols that open with a TLS ClientHello
// ("" is an M365 endpoint set, published for HTTP and HTTPS).
var tlsApps = map[string]bool{"https": true, "tls": true, "amqps": true, "http/https": true, "": true}

// Renderer is the Squid target.
type Renderer struct{}

var _ render.Renderer = (*Renderer)(nil)

// New returns the Squid target.
func New() *Renderer { return &Renderer{} }

// Name implements render.Renderer.
func (*Renderer) Name() string { return Name }

// Description implements render.Renderer.
func (*Renderer) Description() string {
	return "Squid egress allow list: dstdomain and SNI (peek and splice, no decryption), internal ranges denied"
}

// Caps implements render.Renderer: host names only; address flows are left
// to an address-based target.
func (*Renderer) Caps() view.Caps {
	return view.Caps{FQDN: true, HostsOnly: true, Reads: view.ChoiceProxy}
}

// group is the flows that share sources and ports: one set of ACLs.
type group struct {
	n       int
	src     []netip.Prefix // nil: any source
	connect []int          // ports reached by CONNECT, TLS with SNI
	http    []int          // ports reached by plain HTTP requests
	lines   []string       // ACL lines with the flows' comments
	exact   map[string]bool
	wild    map[string]bool
}

// Render implements render.Renderer.
func (r *Renderer) Render(p *model.Plan, opt view.Options) (render.Output, diag.List) {
	prep, ds := view.Prepare(p, Name, r.Caps(), opt)
	if ds.HasErrors() {
		return render.Output{}, ds
	}
	var notes []string
	groups := map[string]*group{}
	var order []string
	for i := range prep.Items {
		it := &prep.Items[i]
		rule := &it.Rule
		if note := skip(it); note != "" {
			notes = append(notes, rule.ID+": not rendered, "+note)
			continue
		}
		connect, http, err := ports(rule)
		if err != nil {
			ds.Errorf(diag.Pos{}, rule.ID, "%s: %v", Name, err)
			continue
		}
		if !rule.Source.HasAddresses() {
			ds.Errorf(diag.Pos{}, rule.ID, "%s: the source is given only by host names (%s); Squid admits clients by address: bind the role to addresses", Name, hostList(rule.Source.Hosts))
			continue
		}
		var src []netip.Prefix
		switch {
		case rule.Source.Any:
		case rule.Source.Internet:
			src = rule.Source.IPSet().Prefixes()
		default:
			src = rule.Source.Prefixes
		}
		key := fmt.Sprint(src, connect, http)
		g := groups[key]
		if g == nil {
			g = &group{n: len(order) + 1, src: src, connect: connect, http: http, exact: map[string]bool{}, wild: map[string]bool{}}
			groups[key] = g
			order = append(order, key)
		}
		g.add(it)
	}
	if ds.HasErrors() {
		return render.Output{}, ds
	}
	if len(order) == 0 {
		ds.Errorf(diag.Pos{}, "", "%s: nothing to render: no host-name flow of the plan goes through a proxy:\n  %s", Name, strings.Join(notes, "\n  "))
		return render.Output{}, ds
	}
	port := DefaultPort
	if opt.Proxy.IsValid() {
		port = int(opt.Proxy.Port())
	}
	tn := planTenant(p.TenantRestrictions, groups, order)
	if n := tn.note(); n != "" {
		notes = append(notes, n)
	}
	header := view.Header(p, Name, opt, prep)
	header = append(header, notes...)
	var b strings.Builder
	for _, h := range header {
		b.WriteString("# " + oneLine(h) + "\n")
	}
	if tn.active() {
		b.WriteString(`#
# A complete squid.conf for an egress allow list: run squid -f with it, or put it
# in place of /etc/squid/squid.conf. It needs a Squid built with OpenSSL (Debian:
# squid-openssl), a CA certificate with its key in ` + TenantCAFile + `
# that the clients trust, and Squid's certificate cache initialised
# (security_file_certgen -c): it decrypts the sign-in hosts of tenant
# restrictions with certificates issued from that CA, and nothing else.
#
# Only CONNECT`)
	} else {
		b.WriteString(`#
# A complete squid.conf for an egress allow list: run squid -f with it, or put it
# in place of /etc/squid/squid.conf. It needs a Squid built with OpenSSL (Debian:
# squid-openssl) and a certificate with its key in ` + CertFile + `:
# Squid wants one on a port that peeks at TLS, though it never decrypts here.
#
# Only CONNECT`)
	}
	splice := "(ssl_bump peek, then splice: no decryption)"
	if tn.active() {
		splice = "(ssl_bump peek, then splice, or bump for a sign-in host)"
	}
	b.WriteString(` to the names and ports below passes, and only when the TLS SNI
# names an allowed host too ` + splice + `; plain
# HTTP only where a flow says so. "*.example.com" matches exactly one label in
# front of example.com, as the plan means it, through anchored regular
# expressions rather than dstdomain's ".example.com" (which would also match
# example.com itself and deeper names). -n: no reverse DNS for IP literals.
# Destinations that resolve to internal ranges are refused.

acl CONNECT method CONNECT
acl tg_step1 at_step SslBump1
acl tg_internal dst ` + strings.Join(Internal, " ") + "\n")
	for _, key := range order {
		g := groups[key]
		fmt.Fprintf(&b, "\n# Group %d: %s\n", g.n, g.describe())
		if g.src != nil {
			fmt.Fprintf(&b, "acl tg%d_src src %s\n", g.n, prefixList(g.src))
		}
		if len(g.connect) > 0 {
			fmt.Fprintf(&b, "acl tg%d_port port %s\n", g.n, intList(g.connect))
		}
		if len(g.http) > 0 {
			fmt.Fprintf(&b, "acl tg%d_http port %s\n", g.n, intList(g.http))
		}
		for _, l := range g.lines {
			b.WriteString(l + "\n")
		}
	}
	if tn.active() {
		tn.acls(&b)
	}
	b.WriteString("\n# Internal destinations first, then the allow list, then nothing else.\n")
	b.WriteString("http_access deny tg_internal\n")
	for _, key := range order {
		g := groups[key]
		src := g.srcACL()
		for _, dst := range g.dstACLs("dst") {
			if len(g.connect) > 0 {
				fmt.Fprintf(&b, "http_access allow CONNECT%s tg%d_port %s\n", src, g.n, dst)
			}
			if len(g.http) > 0 {
				fmt.Fprintf(&b, "http_access allow !CONNECT%s tg%d_http %s\n", src, g.n, dst)
			}
		}
	}
	if tn.active() {
		tn.access(&b)
	}
	b.WriteString("http_access deny all\n")
	if tn.active() {
		tn.headers(&b)
		fmt.Fprintf(&b, "\nhttp_port %d ssl-bump tls-cert=%s generate-host-certificates=on dynamic_cert_mem_cache_size=4MB\n", port, TenantCAFile)
	} else {
		fmt.Fprintf(&b, "\nhttp_port %d ssl-bump tls-cert=%s generate-host-certificates=off\n", port, CertFile)
	}
	b.WriteString("# Peek at the ClientHello, splice (pass through untouched) when its SNI is\n")
	b.WriteString("# allowed for the client and port, and close the connection otherwise.\n")
	b.WriteString("ssl_bump peek tg_step1\n")
	if tn.active() {
		tn.bump(&b)
	}
	for _, key := range order {
		g := groups[key]
		if len(g.connect) == 0 {
			continue
		}
		src := g.srcACL()
		for _, sni := range g.dstACLs("sni") {
			fmt.Fprintf(&b, "ssl_bump splice%s tg%d_port %s\n", src, g.n, sni)
		}
	}
	b.WriteString("ssl_bump terminate all\n")
	return render.Output{
		Files:    map[string][]byte{FileName: []byte(b.String())},
		Warnings: append(append([]string(nil), prep.Header...), notes...),
	}, ds
}

// skip says why a rule kept by Prepare is no job for an egress proxy, or
// "" when it is.
func skip(it *view.Item) string {
	r := &it.Rule
	switch {
	case it.Dir == view.Inbound:
		return "an egress proxy carries the role's outbound flows only"
	case r.Destination.Role != "" && r.Destination.HasAddresses():
		return fmt.Sprintf("the destination is the machines of role %s, bound to addresses: render it for an address-based target", r.Destination.Role)
	case r.Proto != model.ProtoTCP:
		return fmt.Sprintf("Squid proxies TCP only, this flow is %s: render it for an address-based target", r.Proto)
	}
	return ""
}

// ports splits a flow's destination ports into those reached by CONNECT
// (TLS, whose SNI Squid checks) and by plain HTTP requests.
func ports(r *model.Rule) (connect, http []int, err error) {
	if r.DestPorts.IsAny() || r.DestPorts.IsEphemeral() || r.DestPorts.IsEmpty() {
		return nil, nil, fmt.Errorf("host-name flow to %s ports: an allow list needs the ports", r.DestPorts)
	}
	if r.DestPorts.Len() > 64 {
		return nil, nil, fmt.Errorf("host-name flow to %d ports (%s): list the ports the service uses", r.DestPorts.Len(), r.DestPorts)
	}
	for _, pr := range r.DestPorts.Ranges() {
		for p := int(pr.First); p <= int(pr.Last); p++ {
			switch {
			case p == 80 || r.App == "http":
				http = append(http, p)
			case tlsApps[r.App] || p == 443:
				connect = append(connect, p)
			default:
				return nil, nil, fmt.Errorf("%s on TCP %d is neither HTTP nor TLS: Squid passes a CONNECT tunnel only after checking the TLS SNI", r.App, p)
			}
		}
	}
	return connect, http, nil
}

// add appends a flow's names to the group's ACLs, each name once.
func (g *group) add(it *view.Item) {
	r := &it.Rule
	var exact, wild []string
	for _, h := range r.Destination.Hosts {
		if h.IsWildcard() {
			if !g.wild[h.Domain()] {
				g.wild[h.Domain()] = true
				wild = append(wild, oneLabel(h.Domain()))
			}
		} else if !g.exact[h.String()] {
			g.exact[h.String()] = true
			exact = append(exact, h.String())
		}
	}
	comment := "# " + oneLine(view.Comment(*it))
	if len(exact) == 0 && len(wild) == 0 {
		g.lines = append(g.lines, comment+" (names already listed above)")
		return
	}
	g.lines = append(g.lines, comment)
	if len(exact) > 0 {
		g.lines = append(g.lines, fmt.Sprintf("acl tg%d_dst dstdomain -n %s", g.n, strings.Join(exact, " ")))
		if len(g.connect) > 0 {
			g.lines = append(g.lines, fmt.Sprintf("acl tg%d_sni ssl::server_name --client-requested %s", g.n, strings.Join(exact, " ")))
		}
	}
	if len(wild) > 0 {
		g.lines = append(g.lines, fmt.Sprintf("acl tg%d_dstre dstdom_regex -n -i %s", g.n, strings.Join(wild, " ")))
		if len(g.connect) > 0 {
			g.lines = append(g.lines, fmt.Sprintf("acl tg%d_snire ssl::server_name_regex --client-requested -i %s", g.n, strings.Join(wild, " ")))
		}
	}
}

// srcACL is the group's source ACL as a line takes it (" tgN_src"), or ""
// when the group's source is any.
func (g *group) srcACL() string {
	if g.src == nil {
		return ""
	}
	return fmt.Sprintf(" tg%d_src", g.n)
}

// dstACLs names the group's destination ACLs of one kind ("dst" for the
// CONNECT or request host, "sni" for the TLS server name).
func (g *group) dstACLs(kind string) []string {
	var out []string
	if len(g.exact) > 0 {
		out = append(out, fmt.Sprintf("tg%d_%s", g.n, kind))
	}
	if len(g.wild) > 0 {
		out = append(out, fmt.Sprintf("tg%d_%sre", g.n, kind))
	}
	return out
}

func (g *group) describe() string {
	src := "any client"
	if g.src != nil {
		src = "clients " + prefixList(g.src)
	}
	var via []string
	if len(g.connect) > 0 {
		via = append(via, "TLS by CONNECT to port "+intList(g.connect))
	}
	if len(g.http) > 0 {
		via = append(via, "plain HTTP to port "+intList(g.http))
	}
	return src + ", " + strings.Join(via, " and ")
}

// oneLabel is the regular expression of "*.domain": exactly one label in
// front of the domain (RFC 6125 §6.4.3).
func oneLabel(domain string) string {
	return `^[^.]+\.` + strings.ReplaceAll(domain, ".", `\.`) + "$"
}

func prefixList(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, " ")
}

func intList(ns []int) string {
	ns = append([]int(nil), ns...)
	sort.Ints(ns)
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, " ")
}

func hostList(hs []model.Host) string {
	s := make([]string, len(hs))
	for i, h := range hs {
		s[i] = h.String()
	}
	return strings.Join(s, " ")
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
