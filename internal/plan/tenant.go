package plan

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/teamsgate/teamsgate/internal/catalog"
	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/spec"
)

// botFrameworkTenant is the tenant that issues a multi-tenant bot's
// token: "botframework.com if the Azure Bot Service is configured for
// multi-tenant" (001, FAQ; docs/reference/botauth.md §1.6).
var botFrameworkTenant = model.MustParseTenant("botframework.com")

// govBotTenant is that tenant in the US Government clouds (GCC High, DoD):
// the SDKs' government constants get the bot's token from
// login.microsoftonline.us/MicrosoftServices.onmicrosoft.us
// (docs/reference/botauth.md §1.5).
var govBotTenant = model.MustParseTenant("MicrosoftServices.onmicrosoft.us")

// multiTenantIssuer returns the tenant that issues a multi-tenant bot's
// token in the cloud.
func multiTenantIssuer(c model.Cloud) model.Tenant {
	if c == model.CloudGCCHigh || c == model.CloudDoD {
		return govBotTenant
	}
	return botFrameworkTenant
}

// faqSection is the part of 001 that says which tenants a tenant
// restrictions list must permit for a bot.
const faqSection = `FAQ "Can I activate Azure AD tenant restrictions with the Azure Bot Service?"`

// bot is an integration in use whose catalog entry has an app type: a bot
// registered with Azure Bot Service.
type bot struct {
	in      *catalog.Integration
	appType model.AppType
	// typeSet is whether the spec gives the app type (not the default).
	typeSet bool
	tenant  model.Tenant
	// typeAt and tenantAt are where the spec gives them, or the
	// integration when it does not.
	typeAt, tenantAt diag.Pos
}

// bots returns the integrations in use that have an app type parameter,
// in the spec's order.
func bots(cat *catalog.Catalog, s *spec.Spec) []bot {
	var out []bot
	for _, u := range s.Uses {
		in := cat.Integrations[u.Integration]
		tp := in.ParamOfKind(catalog.ParamAppType)
		if tp == nil {
			continue
		}
		at := func(p *catalog.Param) diag.Pos {
			if p != nil && u.Set[p.Name] {
				return s.KeyAt("integrations", in.ID, "parameters", p.Name)
			}
			return s.KeyAt("integrations", in.ID)
		}
		b := bot{in: in, appType: u.Params[tp.Name].AppType, typeSet: u.Set[tp.Name], typeAt: at(tp)}
		if np := in.ParamOfKind(catalog.ParamTenant); np != nil {
			b.tenant, b.tenantAt = u.Params[np.Name].Tenant, at(np)
		}
		out = append(out, b)
	}
	return out
}

// tenantRestrictions plans the spec's tenant restrictions (v1): the
// tenants the spec lists, then botframework.com for a multi-tenant bot
// (001, FAQ), which it adds; a bot with its own tenant that the list
// leaves out is a warning, for the list is the organisation's policy. Nil
// when the spec puts none in force.
func tenantRestrictions(cat *catalog.Catalog, s *spec.Spec, p *model.Plan, ds *diag.List) *model.TenantRestrictions {
	bs := bots(cat, s)
	for _, b := range bs {
		if !b.appType.OwnTenant() && b.tenant.IsValid() {
			ds.Warnf(b.tenantAt, b.in.ID, "the bot's tenant %s is given, but its app type is %s, whose token comes from the %s tenant; set the app type to single-tenant or user-assigned-msi if the bot's identity lives in %s", b.tenant, b.appType, multiTenantIssuer(p.Cloud), b.tenant)
		}
	}
	sp := s.TenantRestrictions
	if sp == nil || !sp.Enabled {
		return nil
	}
	tr := &model.TenantRestrictions{Context: sp.Context}
	for _, h := range model.TenantRestrictionHosts {
		tr.Hosts = append(tr.Hosts, model.MustParseHost(h))
	}
	for _, t := range sp.Tenants {
		tr.Tenants = append(tr.Tenants, model.TenantEntry{Tenant: t, Reason: "listed in the spec (tenant_restrictions.tenants)"})
	}
	ref := model.Reference{Doc: "001", Title: cat.Documents["001"].Title, Section: faqSection}
	listAt := s.At("tenant_restrictions", "tenants")
	for _, b := range bs {
		if !b.typeSet {
			ds.Warnf(b.typeAt, b.in.ID, "no app type given: planned as %s, the SDKs' default when MicrosoftAppType is empty; give it, for it decides which tenant the tenant restrictions must permit (%s)", b.appType, ref.Cite())
		}
		if !b.appType.OwnTenant() {
			addBotFramework(tr, multiTenantIssuer(p.Cloud), b.in.ID, ref)
			continue
		}
		why := "the bot's token comes from its own tenant (001, " + faqSection + ")"
		if b.appType == model.UserAssignedMSI {
			why = "the managed identity's token comes from the bot's own tenant, as a single-tenant bot's does (001, " + faqSection + ")"
		}
		switch {
		case !b.tenant.IsValid():
			ds.Warnf(b.typeAt, b.in.ID, "app type %s: %s, but no app-tenant is given; give the bot's tenant so that the plan can check that tenant_restrictions.tenants permits it", b.appType, why)
		case !tr.Has(b.tenant):
			ds.Warnf(listAt, b.in.ID, "app type %s: %s, and tenant_restrictions.tenants does not list that tenant, %s: behind a proxy that sets this list, Entra ID refuses the bot's token (AADSTS500021); add it. If the list names the tenant by another of its domains or by its directory ID, compare https://login.microsoftonline.com/<tenant>/v2.0/.well-known/openid-configuration for both", b.appType, why, b.tenant)
		}
	}
	if !reachesSignIn(p, tr.Hosts) {
		ds.Warnf(s.KeyAt("tenant_restrictions"), "tenant_restrictions", "no planned flow goes to a sign-in host of tenant restrictions v1 (%s): the headers reach nothing this deployment sends. Microsoft names no other hosts for them, so the US Government sign-in host login.microsoftonline.us is not covered", strings.Join(model.TenantRestrictionHosts, ", "))
	}
	return tr
}

// addBotFramework adds the issuer of a multi-tenant bot's token
// (botframework.com, or its US Government counterpart) once; a
// second bot adds its name to the entry the plan made.
func addBotFramework(tr *model.TenantRestrictions, issuer model.Tenant, integration string, ref model.Reference) {
	for i := range tr.Tenants {
		e := &tr.Tenants[i]
		if e.Tenant != issuer {
			continue
		}
		if e.Integration != "" {
			e.Integration += ", " + integration
		}
		return
	}
	tr.Tenants = append(tr.Tenants, model.TenantEntry{
		Tenant:      issuer,
		Integration: integration,
		Reason:      fmt.Sprintf("a multi-tenant bot gets its token from the %s tenant; the plan adds it", issuer),
		Reference:   ref,
	})
}

// reachesSignIn reports whether a rule of the plan goes to one of the
// sign-in hosts.
func reachesSignIn(p *model.Plan, hosts []model.Host) bool {
	for _, r := range p.Rules {
		for _, d := range r.Destination.Hosts {
			for _, h := range hosts {
				if d.Covers(h) {
					return true
				}
			}
		}
	}
	return false
}

// writeTenantTable writes the plan's tenant restrictions for people: the
// headers as a proxy sets them, then each tenant with why it is there.
func writeTenantTable(w io.Writer, tr *model.TenantRestrictions) error {
	fmt.Fprintf(w, "\nTenant restrictions (v1): a TLS-inspecting proxy sets on every request to %s:\n", hostList(tr.Hosts, ""))
	fmt.Fprintf(w, "  %s: %s\n  %s: %s\n\n", model.HeaderRestrictTenants, tr.HeaderValue(), model.HeaderRestrictContext, tr.Context)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tWHY")
	for _, e := range tr.Tenants {
		fmt.Fprintf(tw, "%s\t%s\n", e.Tenant, tenantWhy(e))
	}
	return tw.Flush()
}

// writeTenantMarkdown writes the plan's tenant restrictions as Markdown.
func writeTenantMarkdown(w io.Writer, tr *model.TenantRestrictions) {
	fmt.Fprintf(w, "\n## Tenant restrictions (v1)\n\n")
	fmt.Fprintf(w, "A TLS-inspecting proxy sets these headers on every request to %s, replacing any the client sent:\n\n", hostList(tr.Hosts, "`"))
	fmt.Fprintln(w, "| Header | Value |")
	fmt.Fprintln(w, "| --- | --- |")
	fmt.Fprintf(w, "| `%s` | `%s` |\n| `%s` | `%s` |\n\n", model.HeaderRestrictTenants, tr.HeaderValue(), model.HeaderRestrictContext, tr.Context)
	fmt.Fprintln(w, "| Tenant | Why |")
	fmt.Fprintln(w, "| --- | --- |")
	for _, e := range tr.Tenants {
		fmt.Fprintf(w, "| `%s` | %s |\n", e.Tenant, mdEscape(tenantWhy(e)))
	}
}

// tenantWhy says why a tenant is on the list, with the integration and
// reference that put it there.
func tenantWhy(e model.TenantEntry) string {
	s := e.Reason
	if e.Integration != "" {
		s = e.Integration + ": " + s
	}
	if e.Reference.Doc != "" {
		s += " (" + e.Reference.Cite() + ")"
	}
	return s
}

func hostList(hs []model.Host, quote string) string {
	s := make([]string, len(hs))
	for i, h := range hs {
		s[i] = quote + h.String() + quote
	}
	return strings.Join(s, ", ")
}
