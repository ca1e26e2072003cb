package targets_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/render"
	"github.com/teamsgate/teamsgate/internal/render/targets"
	"github.com/teamsgate/teamsgate/internal/servicetag"
	"github.com/teamsgate/teamsgate/internal/testutil"
	"github.com/teamsgate/teamsgate/internal/view"
)

// TestNoRequiredRuleDropped renders every example, in every scope, for
// every target, and checks that a render that succeeds carries every
// required rule it is given: a target may refuse a rule (an error), never
// leave it out and succeed. Rules the target does not handle by design
// (address rules on a host-name proxy) and rules the user chose to leave
// out are named in the output's warnings.
func TestNoRequiredRuleDropped(t *testing.T) {
	tags, ds := servicetag.ParseFile(filepath.Join(testutil.Root(), "testdata", "data", "ServiceTags_Public.changeNumber398.json.gz"))
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	for _, ex := range testutil.Examples() {
		p := testutil.Plan(t, testutil.ExamplePath(ex), "")
		scopes := []string{""}
		for key := range p.Roles {
			scopes = append(scopes, key)
		}
		for _, tg := range targets.All() {
			for _, scope := range scopes {
				for _, proxy := range []string{"192.0.2.3:3128", "[2001:db8::3]:3128"} {
					opt := view.Options{Scope: scope, FQDN: view.FQDNViaProxy, Proxy: netip.MustParseAddrPort(proxy), ServiceTags: tags}
					checkRequired(t, ex+"/"+tg.Name()+"/"+scope+"/"+proxy, p, tg, opt)
				}
			}
		}
	}
}

func checkRequired(t *testing.T, name string, p *model.Plan, tg render.Renderer, opt view.Options) {
	t.Helper()
	out, ds := tg.Render(p, opt)
	if ds.HasErrors() {
		return
	}
	var all strings.Builder
	for _, b := range out.Files {
		all.Write(b)
	}
	text := all.String()
	warned := strings.Join(out.Warnings, "\n")
	for _, r := range p.Rules {
		if !r.Required || !inScope(r, opt.Scope) {
			continue
		}
		if strings.Contains(text, r.ID) || strings.Contains(warned, r.ID) {
			continue
		}
		t.Errorf("%s: required rule %s is neither rendered nor named in a warning, and the render succeeded", name, r.ID)
	}
}

func inScope(r model.Rule, scope string) bool {
	if scope == "" {
		return true
	}
	integ, role, ok := strings.Cut(scope, "/")
	if !ok {
		role, integ = scope, ""
	}
	for _, side := range []model.Target{r.Source, r.Destination} {
		if side.Role == role && (integ == "" || integ == r.Integration) {
			return true
		}
	}
	return false
}

// TestAddressFamilyNeverDropped: an IPv6-only role whose host-name flows go
// through an IPv4 proxy cannot have them; every address-based target must
// refuse the render rather than succeed without them.
func TestAddressFamilyNeverDropped(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "catalog.yaml"), []byte("version: lab\naddress_sets:\n  teams-service:\n    values:\n      worldwide: { prefixes: [198.18.0.0/24, \"2001:db8:ffff::/48\"] }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := testutil.PlanBytes(t, "cloud: worldwide\nintegrations:\n  teams-messaging-bot:\n    roles:\n      bot: { addresses: [\"2001:db8::10\"] }\n", dir)
	for _, tg := range targets.All() {
		if tg.Caps().FQDN || tg.Caps().HostsOnly {
			continue
		}
		for _, scope := range []string{"", "bot"} {
			opt := view.Options{Scope: scope, FQDN: view.FQDNViaProxy, Proxy: netip.MustParseAddrPort("192.0.2.3:3128")}
			_, ds := tg.Render(p, opt)
			if !ds.HasErrors() {
				t.Errorf("%s scope %q: rendered an IPv6-only bot's flows through an IPv4 proxy without an error", tg.Name(), scope)
				continue
			}
			if !strings.Contains(ds.String(), "no address family in common") {
				t.Errorf("%s scope %q: error does not name the address families: %s", tg.Name(), scope, ds)
			}
		}
	}
}
