package azurensg_test

import (
	"os"
	"strings"
	"testing"

	"github.com/teamsgate/teamsgate/internal/audit/formats/azurensg"
	"github.com/teamsgate/teamsgate/internal/view"
)

// TestPlace: an export's associations say whether an NSG is a subnet's
// or a network interface's, in the ARM shape and az's flattened one.
func TestPlace(t *testing.T) {
	const rule = `"protocol": "*", "sourcePortRange": "*", "destinationPortRange": "*", "sourceAddressPrefix": "*", "destinationAddressPrefix": "*", "access": "Allow", "priority": 100, "direction": "Inbound"`
	const rules = `"securityRules": [{"name": "r", "properties": {` + rule + `}}]`
	tests := []struct {
		name, in string
		want     azurensg.Place
		err      string
	}{
		{name: "ARM subnet", in: `{"name": "a", "properties": {` + rules + `, "subnets": [{"id": "/x/subnets/web"}]}}`, want: azurensg.PlaceSubnet},
		{name: "ARM NIC", in: `{"name": "a", "properties": {` + rules + `, "networkInterfaces": [{"id": "/x/networkInterfaces/vm1"}]}}`, want: azurensg.PlaceNIC},
		{name: "az flattened NIC", in: `{"name": "a", "securityRules": [{"name": "r", ` + rule + `}], "networkInterfaces": [{"id": "/x/networkInterfaces/vm1", "resourceGroup": "rg"}], "subnets": null}`, want: azurensg.PlaceNIC},
		{name: "both", in: `{"name": "a", "properties": {` + rules + `, "subnets": [{"id": "/x/s"}], "networkInterfaces": [{"id": "/x/n"}]}}`, want: azurensg.PlaceUnknown},
		{name: "neither", in: `{"name": "a", "properties": {` + rules + `}}`, want: azurensg.PlaceUnknown},
		{name: "not a list", in: `{"name": "a", "properties": {` + rules + `, "subnets": {"id": "/x/s"}}}`, err: "subnets must be an array, not object"},
		{name: "no id", in: `{"name": "a", "properties": {` + rules + `, "subnets": [{}]}}`, err: "subnets entries must be objects with an id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, ds := azurensg.ParseNSG([]byte(tt.in), azurensg.Options{})
			if tt.err != "" {
				if !ds.HasErrors() || !strings.Contains(ds.Err().Error(), tt.err) {
					t.Fatalf("diagnostics %v, want %q", ds, tt.err)
				}
				return
			}
			if n == nil || ds.HasErrors() {
				t.Fatal(ds)
			}
			if n.Name != "a" || n.Place() != tt.want {
				t.Errorf("%v: %s, want %s", ds, n.Place(), tt.want)
			}
		})
	}
}

// TestPath: inbound the subnet NSG's chain then the NIC's, outbound the
// NIC's then the subnet's, every rule named after its NSG and place, in
// its own file.
func TestPath(t *testing.T) {
	b, err := os.ReadFile(samplePath())
	if err != nil {
		t.Fatal(err)
	}
	nic, ds := azurensg.ParseNSG(b, azurensg.Options{})
	if ds.HasErrors() || nic.Place() != azurensg.PlaceNIC {
		t.Fatalf("%v %s", ds, nic.Place())
	}
	nic.File = "nic.json"
	subnet, ds := azurensg.ParseNSG(b, azurensg.Options{})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	subnet.Name, subnet.File = "", "subnet.json"
	cfg := azurensg.Path(subnet, nic)
	var got []string
	for _, d := range []view.Direction{view.Inbound, view.Outbound} {
		for _, ch := range cfg.Paths[d] {
			got = append(got, d.String()+": "+ch.Name+": "+ch.Lines[0].ID+" in "+ch.Lines[0].Pos.File)
		}
	}
	want := []string{
		"inbound: subnet Inbound: subnet/SSH in subnet.json",
		"inbound: nic VM1-nsg Inbound: nic VM1-nsg/SSH in nic.json",
		"outbound: nic VM1-nsg Outbound: nic VM1-nsg/AllowVnetOutBound in nic.json",
		"outbound: subnet Outbound: subnet/AllowVnetOutBound in subnet.json",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("paths:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(cfg.Chains) != 4 || !cfg.Directional || cfg.Format != "azure-nsg" {
		t.Errorf("config %+v", cfg)
	}
}
