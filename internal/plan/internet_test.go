package plan_test

import (
	"net/netip"
	"testing"

	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/plan"
)

// TestInternetEndpoint: the roles of services on the Internet (Pexip's
// OCSP responders and Windows Update servers) default to the public
// Internet, not to any address; a role the spec binds replaces the
// default; the flows that 002 and 001 give as "<any>"/"Any" from or to
// parties that may sit on private networks stay any.
func TestInternetEndpoint(t *testing.T) {
	const pexip = "cloud: worldwide\nintegrations:\n  pexip-teams-connector:\n    roles:\n      conferencing-nodes: { addresses: [203.0.113.10] }\n      teams-connector-lb: { addresses: [198.51.100.40] }\n      teams-connector-instances: { addresses: [198.51.100.64/28, \"2001:db8:64::/64\"] }\n"
	tests := []struct {
		name     string
		spec     string
		rule     string
		dest     bool // check the destination (else the source)
		internet bool
		any      bool
		role     string
		describe string
	}{
		{name: "OCSP responder by default", spec: pexip, rule: "pexip-teams-connector.instance-to-ocsp", dest: true, internet: true, role: "ocsp-responder", describe: "ocsp-responder (internet)"},
		{name: "Windows Update by default", spec: pexip, rule: "pexip-teams-connector.instance-to-windows-update", dest: true, internet: true, role: "windows-update", describe: "windows-update (internet)"},
		{name: "OCSP responder bound", spec: pexip + "      ocsp-responder: { addresses: [192.0.2.80] }\n", rule: "pexip-teams-connector.instance-to-ocsp", dest: true, role: "ocsp-responder", describe: "ocsp-responder (192.0.2.80/32)"},
		{name: "Windows Update bound to names", spec: pexip + "      windows-update: { hosts: [\"*.update.microsoft.com\"] }\n", rule: "pexip-teams-connector.instance-to-windows-update", dest: true, role: "windows-update", describe: "windows-update (*.update.microsoft.com)"},
		{name: "RDP deny stays any", spec: pexip, rule: "pexip-teams-connector.rdp-deny", any: true, describe: "any"},
		{name: "dial instructions from any client", spec: pexip, rule: "pexip-teams-connector.any-to-cn.dial-instructions", any: true, describe: "any"},
		{name: "calling-bot signaling from any", spec: "cloud: worldwide\nintegrations:\n  teams-calling-bot:\n    roles: { bot: { addresses: [198.51.100.1] } }\n", rule: "teams-calling-bot.in.signaling", any: true, describe: "any"},
		{name: "Teams (Microsoft 365) is its address set", spec: pexip, rule: "pexip-teams-connector.instance-to-teams.signaling", dest: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, diags := build(t, tt.spec)
			r := p.Rule(tt.rule)
			if r == nil {
				t.Fatalf("no rule %s:\n%s", tt.rule, diags)
			}
			side := r.Source
			if tt.dest {
				side = r.Destination
			}
			if side.Internet != tt.internet || side.Any != tt.any || side.Role != tt.role {
				t.Errorf("side = %+v, want internet %v, any %v, role %q", side, tt.internet, tt.any, tt.role)
			}
			if tt.describe != "" {
				if got := plan.Describe(side, 3); got != tt.describe {
					t.Errorf("Describe = %q, want %q", got, tt.describe)
				}
			}
			if tt.internet && (len(side.Prefixes) != 0 || !side.IPSet().Equal(model.Internet())) {
				t.Errorf("the public Internet must be the set model.Internet and nothing else: %+v", side)
			}
		})
	}
}

// TestInternetFamilies: the public Internet has both address families, so
// an IPv6-only or IPv4-only source reaches it, and a rule to it is never
// refused for its family.
func TestInternetFamilies(t *testing.T) {
	for _, addrs := range []string{"[198.51.100.64/28]", "[\"2001:db8:64::/64\"]"} {
		p, diags := build(t, "cloud: worldwide\nintegrations:\n  pexip-teams-connector:\n    roles:\n      conferencing-nodes: { addresses: [203.0.113.10, \"2001:db8:113::10\"] }\n      teams-connector-lb: { addresses: [198.51.100.40, \"2001:db8:40::1\"] }\n      teams-connector-instances: { addresses: "+addrs+" }\n")
		r := p.Rule("pexip-teams-connector.instance-to-ocsp")
		if r == nil || !r.Destination.Internet {
			t.Errorf("instances %s: OCSP rule %+v\n%s", addrs, r, diags)
		}
	}
	set := (model.Target{Internet: true}).IPSet()
	for _, a := range []string{"13.107.64.1", "52.112.0.1", "2603:1063::1"} {
		if !set.Contains(netip.MustParseAddr(a)) {
			t.Errorf("the public Internet must hold %s", a)
		}
	}
	for _, a := range []string{"10.0.0.1", "192.0.2.80", "224.0.0.1", "fd00::1", "2001:db8::1", "::1"} {
		if set.Contains(netip.MustParseAddr(a)) {
			t.Errorf("the public Internet must not hold %s", a)
		}
	}
}
