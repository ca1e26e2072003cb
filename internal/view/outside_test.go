package view_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/render/awssg"
	"github.com/teamsgate/teamsgate/internal/render/azurensg"
	"github.com/teamsgate/teamsgate/internal/testutil"
	"github.com/teamsgate/teamsgate/internal/view"
)

// outsidePlan plans the Pexip example with some roles marked outside. The
// OCSP responders and Windows Update are services on the Internet, outside
// any firewall of the deployment; bound to addresses so that an AWS render
// can write them.
func outsidePlan(t *testing.T, outside ...string) *model.Plan {
	spec := strings.Replace(testutil.ExampleOutside(t, "pexip", outside...), "    roles:\n",
		"    roles:\n      ocsp-responder: {addresses: [198.18.0.1], outside: true}\n      windows-update: {addresses: [198.18.0.2], outside: true}\n", 1)
	return testutil.PlanBytes(t, spec, "")
}

const rdp = "pexip-teams-connector.mgmt-to-instance.rdp"

func item(items []view.Item, id string) *view.Item {
	for i := range items {
		if items[i].Rule.ID == id {
			return &items[i]
		}
	}
	return nil
}

// TestOutsidePerimeter: in the perimeter view an outside role's end is a
// peer (its addresses, named as a set, no longer a role); a rule with no
// end behind the firewall is left out, with a header line; a scoped view
// is unchanged.
func TestOutsidePerimeter(t *testing.T) {
	caps := view.Caps{FQDN: true, ServiceTags: true, Deny: true}
	tests := []struct {
		name    string
		outside []string
		scope   string
		// role and set are what the view makes of rdp's source; left
		// whether rdp is left out.
		role, set string
		left      bool
	}{
		{name: "inside", role: "management"},
		{name: "outside: a peer", outside: []string{"management"}, set: "management"},
		{name: "both ends outside: left out", outside: []string{"management", "teams-connector-instances"}, left: true},
		{name: "scoped: the role's own firewall", outside: []string{"management"}, scope: "management", role: "management"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := outsidePlan(t, tt.outside...)
			prep, ds := view.Prepare(p, "test", caps, view.Options{Scope: tt.scope})
			if ds.HasErrors() {
				t.Fatal(ds)
			}
			it := item(prep.Items, rdp)
			if tt.left {
				if it != nil || item(prep.Outside, rdp) == nil || !strings.Contains(strings.Join(prep.Header, "\n"), rdp+": left out: it does not cross this firewall") {
					t.Errorf("not left out: item %v, outside %d, header %q", it, len(prep.Outside), prep.Header)
				}
				return
			}
			if it == nil {
				t.Fatalf("%s is not in the view", rdp)
			}
			src := it.Rule.Source
			if src.Role != tt.role || src.Set != tt.set || len(src.Prefixes) == 0 {
				t.Errorf("source %+v, want role %q set %q", src, tt.role, tt.set)
			}
			if it.Rule.Destination.Role != "teams-connector-instances" {
				t.Errorf("destination %+v", it.Rule.Destination)
			}
		})
	}
}

// TestOutsideRender: a perimeter render places no rule at an outside
// role's hosts: no AWS security group for the management workstations, no
// NSG outbound rule from them; their RDP is still allowed in.
func TestOutsideRender(t *testing.T) {
	opt := view.Options{FQDN: view.FQDNViaProxy, Proxy: netip.MustParseAddrPort("192.0.2.3:3128")}
	for _, tt := range []struct {
		name    string
		outside bool
	}{{name: "inside"}, {name: "outside", outside: true}} {
		t.Run(tt.name, func(t *testing.T) {
			var p *model.Plan
			if tt.outside {
				p = outsidePlan(t, "management")
			} else {
				p = outsidePlan(t)
			}
			aws, ds := awssg.New().Render(p, opt)
			if ds.HasErrors() {
				t.Fatal(ds)
			}
			_, mgmtGroup := aws.Files["pexip-teams-connector.management.egress.json"]
			_, instGroup := aws.Files["pexip-teams-connector.teams-connector-instances.ingress.json"]
			if mgmtGroup == tt.outside || !instGroup {
				t.Errorf("aws-sg: a group for the management workstations: %v; for the instances: %v; files %v", mgmtGroup, instGroup, keys(aws.Files))
			}
			nsg, ds := azurensg.New().Render(p, opt)
			if ds.HasErrors() {
				t.Fatal(ds)
			}
			all := ""
			for _, b := range nsg.Files {
				all += string(b)
			}
			if out := strings.Contains(all, rdp+".out"); out == tt.outside || !strings.Contains(all, `"name": "`+rdp) {
				t.Errorf("azure-nsg: outbound rule from the workstations: %v", out)
			}
		})
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
