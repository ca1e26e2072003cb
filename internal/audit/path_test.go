package audit_test

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/teamsgate/teamsgate/internal/audit"
	"github.com/teamsgate/teamsgate/internal/audit/formats/azurensg"
	"github.com/teamsgate/teamsgate/internal/testutil"
	"github.com/teamsgate/teamsgate/internal/view"
)

// nsgRule is a security rule of a test NSG.
type nsgRule struct {
	name, dir, access, src, dst, port string
	prio                              int
}

// nsgExport writes an NSG as the portal's JSON view shows it, with the
// association that makes it a subnet's or a network interface's.
func nsgExport(t *testing.T, name, assoc string, rules ...nsgRule) []byte {
	t.Helper()
	var rs []any
	for _, r := range rules {
		rs = append(rs, map[string]any{"name": r.name, "properties": map[string]any{
			"protocol": "Tcp", "sourcePortRange": "*", "destinationPortRange": r.port,
			"sourceAddressPrefix": r.src, "destinationAddressPrefix": r.dst,
			"access": r.access, "priority": r.prio, "direction": r.dir,
		}})
	}
	b, err := json.Marshal(map[string]any{"name": name, "type": "Microsoft.Network/networkSecurityGroups", "properties": map[string]any{
		"securityRules": rs, assoc: []any{map[string]any{"id": "/subscriptions/0/resourceGroups/rg/providers/Microsoft.Network/x/" + name}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSubnetAndNICPath: a subnet NSG and a NIC NSG on one path, in Azure's
// order (Microsoft Learn, "How network security groups filter network
// traffic"): inbound the subnet's rules, then the NIC's; outbound the
// NIC's, then the subnet's; a packet must be allowed by both. The flows are
// the messaging bot's: HTTPS from Teams in, and (through the egress proxy)
// TCP 3128 to 192.0.2.3 out.
func TestSubnetAndNICPath(t *testing.T) {
	p := testutil.Plan(t, testutil.ExamplePath("messaging-bot"), "")
	const in, out = "teams-messaging-bot.in.activity", "teams-messaging-bot.out.login"
	allowIn := func(name string) nsgRule {
		return nsgRule{name, "Inbound", "Allow", "52.112.0.0/14", "198.51.100.10", "443", 200}
	}
	denyIn := func(name string) nsgRule { return nsgRule{name, "Inbound", "Deny", "*", "*", "*", 300} }
	allowOut := func(name string) nsgRule {
		return nsgRule{name, "Outbound", "Allow", "198.51.100.10", "192.0.2.3", "3128", 200}
	}
	denyOut := func(name string) nsgRule { return nsgRule{name, "Outbound", "Deny", "*", "*", "*", 300} }
	tests := []struct {
		name        string
		subnet, nic []nsgRule
		// missing maps a flow to the rule its missing finding names.
		missing map[string]string
	}{
		{name: "allowed by both", subnet: []nsgRule{allowIn("In"), allowOut("Out"), denyIn("DenyIn"), denyOut("DenyOut")}, nic: []nsgRule{allowIn("In"), allowOut("Out"), denyIn("DenyIn"), denyOut("DenyOut")}},
		{name: "allowed by the subnet, denied by the NIC", subnet: []nsgRule{allowIn("In"), allowOut("Out")}, nic: []nsgRule{denyIn("NoTeams"), allowOut("Out")},
			missing: map[string]string{in: "nic nic-nsg/NoTeams"}},
		{name: "denied by the subnet, allowed by the NIC", subnet: []nsgRule{denyIn("NoTeams"), allowOut("Out")}, nic: []nsgRule{allowIn("In"), allowOut("Out")},
			missing: map[string]string{in: "subnet subnet-nsg/NoTeams"}},
		{name: "inbound denied by both: the subnet decides first", subnet: []nsgRule{denyIn("SubnetDeny"), allowOut("Out")}, nic: []nsgRule{denyIn("NicDeny"), allowOut("Out")},
			missing: map[string]string{in: "subnet subnet-nsg/SubnetDeny"}},
		{name: "outbound denied by both: the NIC decides first", subnet: []nsgRule{allowIn("In"), denyOut("SubnetDeny")}, nic: []nsgRule{allowIn("In"), denyOut("NicDeny")},
			missing: map[string]string{out: "nic nic-nsg/NicDeny"}},
		{name: "outbound allowed by the NIC, denied by the subnet", subnet: []nsgRule{allowIn("In"), denyOut("SubnetDeny")}, nic: []nsgRule{allowIn("In"), allowOut("Out")},
			missing: map[string]string{out: "subnet subnet-nsg/SubnetDeny"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var nsgs []*azurensg.NSG
			for _, x := range []struct {
				name, assoc string
				rules       []nsgRule
			}{{"subnet-nsg", "subnets", tt.subnet}, {"nic-nsg", "networkInterfaces", tt.nic}} {
				n, ds := azurensg.ParseNSG(nsgExport(t, x.name, x.assoc, x.rules...), azurensg.Options{})
				if ds.HasErrors() {
					t.Fatal(ds)
				}
				n.File = x.name + ".json"
				nsgs = append(nsgs, n)
			}
			if nsgs[0].Place() != azurensg.PlaceSubnet || nsgs[1].Place() != azurensg.PlaceNIC {
				t.Fatalf("places %s, %s", nsgs[0].Place(), nsgs[1].Place())
			}
			cfg := azurensg.Path(nsgs[0], nsgs[1])
			rep, ds := audit.Run(p, cfg, audit.Options{Scope: "bot", FQDN: view.FQDNViaProxy, Proxy: netip.MustParseAddrPort("192.0.2.3:3128"), NoShadow: true})
			if ds.HasErrors() {
				t.Fatal(ds)
			}
			got := map[string]string{}
			for _, f := range rep.Findings {
				if f.Kind != audit.Missing || f.Direction == "" {
					continue
				}
				got[f.Flow] = f.Rule.ID
				want := strings.SplitN(f.Rule.ID, " ", 2)[0] + "-nsg.json"
				if f.Rule.Pos.File != want {
					t.Errorf("%s: rule %s at %q, want the file %q", f.Flow, f.Rule.ID, f.Rule.Pos.File, want)
				}
			}
			for flow, rule := range tt.missing {
				if got[flow] != rule {
					t.Errorf("%s: missing by %q, want %q", flow, got[flow], rule)
				}
			}
			for flow, rule := range got {
				if _, ok := tt.missing[flow]; !ok && (flow == in || flow == out) {
					t.Errorf("%s: unexpected missing finding by %s", flow, rule)
				}
			}
		})
	}
}

// TestRealNICNSG: the real NSG export (Batfish's VM1-nsg) is a network
// interface's, by its properties.networkInterfaces; behind a subnet NSG
// that lets Teams in, its own deny at priority 320 still blocks the bot.
func TestRealNICNSG(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testutil.Root(), "testdata", "data", "azure-nsg-arm-export.batfish-VM1-nsg.json"))
	if err != nil {
		t.Fatal(err)
	}
	nic, ds := azurensg.ParseNSG(b, azurensg.Options{})
	if ds.HasErrors() || nic.Place() != azurensg.PlaceNIC || nic.Name != "VM1-nsg" {
		t.Fatalf("%v %+v", ds, nic)
	}
	sb, err := os.ReadFile(filepath.Join(testutil.Root(), "examples", "estate", "subnet-nsg.json"))
	if err != nil {
		t.Fatal(err)
	}
	subnet, ds := azurensg.ParseNSG(sb, azurensg.Options{})
	if ds.HasErrors() || subnet.Place() != azurensg.PlaceSubnet {
		t.Fatalf("%v %+v", ds, subnet)
	}
	p := testutil.Plan(t, testutil.ExamplePath("messaging-bot"), "")
	rep, ds := audit.Run(p, azurensg.Path(subnet, nic), audit.Options{Scope: "bot", FQDN: view.FQDNSkip})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	var got []string
	for _, f := range rep.Findings {
		got = append(got, fmt.Sprintf("%s %s %s", f.Kind, f.Flow, f.Rule.ID))
	}
	// SSH, 8080 and UDP open on the NIC are closed by the subnet: not too
	// open on this path.
	if want := []string{"missing teams-messaging-bot.in.activity nic VM1-nsg/DenyAnyCustomAnyInbound"}; strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
