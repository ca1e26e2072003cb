package squid

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/teamsgate/teamsgate/internal/model"
)

// TenantCAFile is where the configuration expects, when the plan has
// tenant restrictions, the CA certificate and key that Squid issues the
// sign-in hosts' certificates from: the clients must trust it. It stands
// in for CertFile then.
const TenantCAFile = "/etc/squid/teamsgate-tenant-ca.pem"

// tenantHeaders are the tenant restrictions (v1) headers, and the spellings
// with underscores that some servers read as the same header: a client's
// copy of any of them is removed.
var tenantHeaders = []string{model.HeaderRestrictTenants, model.HeaderRestrictContext}

// tenant is what the file does for tenant restrictions: which groups reach
// a sign-in host through CONNECT, and by which of their ACLs.
type tenant struct {
	tr     *model.TenantRestrictions
	groups []tenantGroup
}

// tenantGroup is a group whose exact names (exact) or wildcards (wild)
// take in a sign-in host.
type tenantGroup struct {
	g           *group
	exact, wild bool
}

// planTenant finds the groups that reach a sign-in host by CONNECT; nil
// when the plan has no tenant restrictions.
func planTenant(tr *model.TenantRestrictions, groups map[string]*group, order []string) *tenant {
	if tr == nil {
		return nil
	}
	t := &tenant{tr: tr}
	for _, key := range order {
		g := groups[key]
		if len(g.connect) == 0 {
			continue
		}
		tg := tenantGroup{g: g}
		for _, h := range tr.Hosts {
			tg.exact = tg.exact || g.exact[h.String()]
			for d := range g.wild {
				tg.wild = tg.wild || model.MustParseHost("*."+d).Matches(h.String())
			}
		}
		if tg.exact || tg.wild {
			t.groups = append(t.groups, tg)
		}
	}
	return t
}

// active reports whether the file decrypts anything.
func (t *tenant) active() bool { return t != nil && len(t.groups) > 0 }

// note is the header line that says what became of the plan's tenant
// restrictions.
func (t *tenant) note() string {
	if t == nil {
		return ""
	}
	if !t.active() {
		return "tenant restrictions: no flow of this file goes to a sign-in host (" + t.hosts() + "); nothing is decrypted and no header is set"
	}
	return fmt.Sprintf("tenant restrictions (v1): TLS to %s only is decrypted, to set %s: %s and %s: %s", t.hosts(), model.HeaderRestrictTenants, t.tr.HeaderValue(), model.HeaderRestrictContext, t.tr.Context)
}

func (t *tenant) hosts() string { return hostList(t.tr.Hosts) }

// acls writes the ACLs of the sign-in hosts.
func (t *tenant) acls(b *strings.Builder) {
	b.WriteString(`
# Tenant restrictions (v1): every request to a Microsoft sign-in host carries the
# plan's tenants (Microsoft Entra, "Restrict access to a tenant"). TLS to these
# names, and to no other, is decrypted (ssl_bump bump) with certificates issued
# from the CA in ` + TenantCAFile + `; device.login.microsoftonline.com and
# enterpriseregistration.windows.net are not among them, as Microsoft asks.
`)
	fmt.Fprintf(b, "acl tg_tr_dst dstdomain -n %s\n", t.hosts())
	fmt.Fprintf(b, "acl tg_tr_sni ssl::server_name --client-requested %s\n", t.hosts())
	b.WriteString("acl tg_tr_https proto HTTPS\n")
}

// access writes the http_access lines of the requests inside a decrypted
// tunnel: to a sign-in host the tunnel's client may reach on that port.
func (t *tenant) access(b *strings.Builder) {
	b.WriteString("# Requests inside the decrypted tunnels, to the sign-in hosts only.\n")
	for _, tg := range t.groups {
		for _, dst := range tg.acls("dst") {
			fmt.Fprintf(b, "http_access allow !CONNECT%s tg%d_port %s tg_tr_dst tg_tr_https\n", tg.g.srcACL(), tg.g.n, dst)
		}
	}
}

// headers writes the header rules: the client's own copies removed, the
// plan's added (Squid applies request_header_access before
// request_header_add, and never to the fields it adds).
func (t *tenant) headers(b *strings.Builder) {
	b.WriteString("\n# Tenant restrictions: remove what the client sent, whatever its case or\n# spelling, and set the plan's values on the sign-in hosts.\n")
	for _, h := range tenantHeaders {
		fmt.Fprintf(b, "request_header_access %s deny all\n", h)
		fmt.Fprintf(b, "request_header_access %s deny all\n", strings.ReplaceAll(h, "-", "_"))
	}
	fmt.Fprintf(b, "request_header_add %s %s tg_tr_dst\n", model.HeaderRestrictTenants, strconv.Quote(t.tr.HeaderValue()))
	fmt.Fprintf(b, "request_header_add %s %s tg_tr_dst\n", model.HeaderRestrictContext, strconv.Quote(t.tr.Context.String()))
}

// bump writes the ssl_bump lines that decrypt the sign-in hosts: only
// where the SNI is a sign-in host that the client may reach on that port.
func (t *tenant) bump(b *strings.Builder) {
	b.WriteString("# Decrypt TLS to the sign-in hosts, for the tenant restrictions headers.\n")
	for _, tg := range t.groups {
		for _, sni := range tg.acls("sni") {
			fmt.Fprintf(b, "ssl_bump bump%s tg%d_port %s tg_tr_sni\n", tg.g.srcACL(), tg.g.n, sni)
		}
	}
}

// acls names the group's ACLs of one kind that take in a sign-in host.
func (tg tenantGroup) acls(kind string) []string {
	var out []string
	if tg.exact {
		out = append(out, fmt.Sprintf("tg%d_%s", tg.g.n, kind))
	}
	if tg.wild {
		out = append(out, fmt.Sprintf("tg%d_%sre", tg.g.n, kind))
	}
	return out
}
