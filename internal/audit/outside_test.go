package audit_test

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/teamsgate/teamsgate/internal/audit"
	"github.com/teamsgate/teamsgate/internal/audit/formats/azurensg"
	"github.com/teamsgate/teamsgate/internal/audit/formats/iptables"
	"github.com/teamsgate/teamsgate/internal/audit/ruleset"
	"github.com/teamsgate/teamsgate/internal/testutil"
)

// allowAllNSG lets everything through, so that the flows checked, and in
// which direction, are the test's subject.
const allowAllNSG = `{"name": "open", "properties": {"securityRules": [
 {"name": "in", "properties": {"protocol": "*", "sourcePortRange": "*", "destinationPortRange": "*", "sourceAddressPrefix": "*", "destinationAddressPrefix": "*", "access": "Allow", "priority": 100, "direction": "Inbound"}},
 {"name": "out", "properties": {"protocol": "*", "sourcePortRange": "*", "destinationPortRange": "*", "sourceAddressPrefix": "*", "destinationAddressPrefix": "*", "access": "Allow", "priority": 100, "direction": "Outbound"}}]}}`

// TestOutsideRoles: a role the spec marks outside the firewall is no
// protected host of a perimeter audit: nothing is too open about traffic
// to or from it as such, a flow between it and a role behind the firewall
// is checked in the one direction that crosses it, and a flow between two
// roles outside does not cross it at all.
func TestOutsideRoles(t *testing.T) {
	// The management workstations (192.0.2.0/28) reached from an Internet
	// range: too open only while they are a protected host.
	toMgmt, ds := iptables.Parse([]byte("*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT DROP [0:0]\n-A FORWARD -s 198.18.0.0/15 -d 192.0.2.0/28 -j ACCEPT\nCOMMIT\n"))
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	open, ds := azurensg.Parse([]byte(allowAllNSG), azurensg.Options{})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	const rdp = "pexip-teams-connector.mgmt-to-instance.rdp"
	mgmtNet := netip.MustParsePrefix("192.0.2.0/28")
	tests := []struct {
		name    string
		outside []string
		cfg     *ruleset.Config
		// tooOpen is whether the rule to the management hosts is too
		// open; dirs the directions (and status) rdp is checked in.
		tooOpen bool
		dirs    []string
		detail  string
	}{
		{name: "inside: traffic to the workstations is too open", cfg: toMgmt, tooOpen: true, dirs: []string{"forward fail"}},
		{name: "outside: traffic to the workstations is not the firewall's", outside: []string{"management"}, cfg: toMgmt, dirs: []string{"forward fail"}},
		{name: "inside: a directional perimeter checks both ends", cfg: open, dirs: []string{"inbound pass", "outbound pass"}},
		{name: "outside: only the crossing direction", outside: []string{"management"}, cfg: open, dirs: []string{"inbound pass"}},
		{name: "both ends outside: the flow does not cross the firewall", outside: []string{"management", "teams-connector-instances"}, cfg: open,
			dirs: []string{"forward skipped"}, detail: "does not cross the audited firewall"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testutil.PlanBytes(t, testutil.ExampleOutside(t, "pexip", tt.outside...), "")
			rep, ds := audit.Run(p, tt.cfg, audit.Options{})
			if ds.HasErrors() {
				t.Fatal(ds)
			}
			tooOpen := false
			for _, f := range rep.Findings {
				if f.Kind != audit.TooOpen || f.Rule == nil {
					continue
				}
				if f.Rule.ID == "filter/FORWARD#1" {
					tooOpen = true
				}
				// The protected side of too-open packets: the destination
				// inbound, the source outbound.
				for _, ps := range f.Packets {
					hosts := ps.Destinations
					if f.Direction == "outbound" {
						hosts = ps.Sources
					}
					for _, pf := range hosts {
						if slices.Contains(tt.outside, "management") && pf.Overlaps(mgmtNet) {
							t.Errorf("too open about the outside workstations as protected hosts: %s", f.Message)
						}
					}
				}
			}
			if tooOpen != tt.tooOpen {
				t.Errorf("too open: %v, want %v", tooOpen, tt.tooOpen)
			}
			var dirs []string
			for _, f := range rep.Flows {
				if f.ID == rdp {
					dirs = append(dirs, f.Direction+" "+string(f.Status))
					if !strings.Contains(f.Detail, tt.detail) {
						t.Errorf("%s: detail %q lacks %q", rdp, f.Detail, tt.detail)
					}
				}
			}
			slices.Sort(dirs)
			if !slices.Equal(dirs, tt.dirs) {
				t.Errorf("%s checked %v, want %v", rdp, dirs, tt.dirs)
			}
		})
	}
}
