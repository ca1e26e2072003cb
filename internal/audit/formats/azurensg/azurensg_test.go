package azurensg_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/teamsgate/teamsgate/internal/audit/audittest"
	"github.com/teamsgate/teamsgate/internal/audit/eval"
	"github.com/teamsgate/teamsgate/internal/audit/formats/azurensg"
	"github.com/teamsgate/teamsgate/internal/audit/ruleset"
	"github.com/teamsgate/teamsgate/internal/servicetag"
	"github.com/teamsgate/teamsgate/internal/testutil"
)

const sample = "azure-nsg-arm-export.batfish-VM1-nsg.json"

func samplePath() string { return filepath.Join(testutil.Root(), "testdata", "data", sample) }

// TestRealSample parses Batfish's VM1-nsg ARM export: upper-case "TCP",
// singular and plural fields mixed, the six default rules listed.
func TestRealSample(t *testing.T) {
	cfg, ds := azurensg.ParseFile(samplePath(), azurensg.Options{})
	if len(ds) > 0 {
		t.Fatalf("diagnostics: %s", ds)
	}
	if n := len(cfg.Chains[0].Lines) + len(cfg.Chains[1].Lines); n != 9 {
		t.Errorf("%d rules, want 3 + 6 defaults", n)
	}
	audittest.Check(t, cfg, []audittest.Case{
		{Dir: "in", Packet: "tcp 192.0.2.1:40000 > 10.0.0.4:22", Want: "allow", By: "SSH"},
		{Dir: "in", Packet: "tcp 192.0.2.1:40000 > 10.0.0.4:8080", Want: "allow", By: "SSH"},
		{Dir: "in", Packet: "udp 192.0.2.1:40000 > 10.0.0.4:9", Want: "allow", By: "AllowAnyCustomAnyInbound"},
		{Dir: "in", Packet: "tcp 192.0.2.1:40000 > 10.0.0.4:443", Want: "deny", By: "DenyAnyCustomAnyInbound"},
		{Dir: "out", Packet: "tcp 10.0.0.4:40000 > 52.112.0.1:443", Want: "allow", By: "AllowInternetOutBound"},
		// Internet is the public Internet (model.Internet): a documentation
		// address is special-use, not in it
		{Dir: "out", Packet: "tcp 10.0.0.4:40000 > 192.0.2.1:443", Want: "deny", By: "DenyAllOutBound"},
		{Dir: "out", Packet: "tcp [2001:db8::4]:40000 > [2603:1063::1]:443", Want: "allow", By: "AllowInternetOutBound"},
		{Dir: "out", Packet: "tcp [2001:db8::4]:40000 > [fd00::1]:443", Want: "deny", By: "DenyAllOutBound"},
		// VirtualNetwork is not known: AllowVnetOutBound matches nothing
		{Dir: "out", Packet: "tcp 10.0.0.4:40000 > 10.0.0.5:443", Want: "deny", By: "DenyAllOutBound"},
	})
	cfg, _ = azurensg.ParseFile(samplePath(), azurensg.Options{Tags: ruleset.ServiceTags{VirtualNetwork: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}}})
	audittest.Check(t, cfg, []audittest.Case{
		{Dir: "out", Packet: "tcp 10.0.0.4:40000 > 10.0.0.5:443", Want: "allow", By: "AllowVnetOutBound"},
		{Dir: "out", Packet: "tcp 10.0.0.4:40000 > 10.1.0.5:443", Want: "deny", By: "DenyAllOutBound"},
	})
}

// flattened is the shape `az network nsg show` prints: rule fields at the
// top level of each rule, keys sorted, null for unset fields, no default
// rules (they are implied).
const flattened = `{
  "defaultSecurityRules": null,
  "id": "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/bot-nsg",
  "location": "westeurope",
  "name": "bot-nsg",
  "resourceGroup": "rg",
  "securityRules": [
    {
      "access": "Allow",
      "destinationAddressPrefix": "198.51.100.10",
      "destinationAddressPrefixes": [],
      "destinationApplicationSecurityGroups": null,
      "destinationPortRange": null,
      "destinationPortRanges": ["443", "8443-8445"],
      "direction": "Inbound",
      "name": "teams",
      "priority": 100,
      "protocol": "tcp",
      "provisioningState": "Succeeded",
      "resourceGroup": "rg",
      "sourceAddressPrefix": "52.112.0.0/14",
      "sourceAddressPrefixes": ["52.120.0.0/14"],
      "sourcePortRange": "*",
      "sourcePortRanges": [],
      "type": "Microsoft.Network/networkSecurityGroups/securityRules"
    },
    {
      "access": "Allow",
      "destinationAddressPrefix": "*",
      "destinationPortRange": "443",
      "direction": "Inbound",
      "name": "from-azure",
      "priority": 200,
      "protocol": "TCP",
      "sourceAddressPrefix": "AzureCloud",
      "sourcePortRange": "*"
    },
    {
      "access": "Allow",
      "destinationAddressPrefix": "*",
      "destinationApplicationSecurityGroups": [{"id": "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Network/applicationSecurityGroups/bots"}],
      "destinationPortRange": "3389",
      "direction": "Inbound",
      "name": "rdp-to-asg",
      "priority": 300,
      "protocol": "*",
      "sourceAddressPrefix": "*",
      "sourcePortRange": "*"
    }
  ],
  "tags": {},
  "type": "Microsoft.Network/networkSecurityGroups"
}`

func TestFlattened(t *testing.T) {
	tags, ds := servicetag.ParseFile(filepath.Join(testutil.Root(), "testdata", "data", "ServiceTags_Public.changeNumber398.json.gz"))
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	cfg, ds := azurensg.Parse([]byte(flattened), azurensg.Options{Tags: ruleset.ServiceTags{Data: tags}})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	for _, d := range ds {
		t.Logf("%s", d)
	}
	audittest.Check(t, cfg, []audittest.Case{
		// singular and plural prefixes are a union; port list with a range
		{Dir: "in", Packet: "tcp 52.112.1.1:40000 > 198.51.100.10:443", Want: "allow", By: "teams"},
		{Dir: "in", Packet: "tcp 52.121.1.1:40000 > 198.51.100.10:8444", Want: "allow", By: "teams"},
		{Dir: "in", Packet: "tcp 52.121.1.1:40000 > 198.51.100.10:8446", Want: "deny", By: "DenyAllInBound"},
		// AzureCloud from the real service tags file (4.144.0.0/17 is in it)
		{Dir: "in", Packet: "tcp 4.144.0.1:40000 > 198.51.100.11:443", Want: "allow", By: "from-azure"},
		{Dir: "in", Packet: "tcp 192.0.2.1:40000 > 198.51.100.11:443", Want: "deny", By: "DenyAllInBound"},
		// an application security group cannot be evaluated: no match
		{Dir: "in", Packet: "tcp 192.0.2.1:40000 > 198.51.100.11:3389", Want: "deny", By: "DenyAllInBound"},
		// the implied AllowAzureLoadBalancerInBound
		{Dir: "in", Packet: "tcp 168.63.129.16:40000 > 198.51.100.11:80", Want: "allow", By: "AllowAzureLoadBalancerInBound"},
	})
	asg := cfg.Chains[0].Lines[2]
	if asg.ID != "rdp-to-asg" || len(asg.Unresolved) == 0 || !strings.Contains(asg.Unresolved[0], `"bots"`) {
		t.Errorf("ASG rule %s unresolved = %v", asg.ID, asg.Unresolved)
	}
	if n := strings.Count(strings.Join(cfg.Notes, "\n"), "is implied"); n != 6 {
		t.Errorf("%d implied default rules noted, want 6: %v", n, cfg.Notes)
	}
	// Without service tag data the AzureCloud rule is unresolvable, not
	// empty and not "any".
	cfg, _ = azurensg.Parse([]byte(flattened), azurensg.Options{})
	if l := cfg.Chains[0].Lines[1]; len(l.Unresolved) == 0 || !strings.Contains(l.Unresolved[0], "AzureCloud") {
		t.Errorf("from-azure unresolved = %v", l.Unresolved)
	}
}

func TestShapes(t *testing.T) {
	rule := `{"name":"r","properties":{"protocol":"Udp","sourcePortRange":"*","destinationPortRange":"53","sourceAddressPrefix":"*","destinationAddressPrefix":"*","access":"Allow","priority":100,"direction":"Outbound"}}`
	for name, in := range map[string]string{
		"ARM template": `{"$schema":"x","resources":[{"type":"Microsoft.Network/networkSecurityGroups","apiVersion":"2025-01-01","name":"n","properties":{"securityRules":[` + rule + `]}}]}`,
		"REST list":    `{"value":[{"name":"n","properties":{"securityRules":[` + rule + `]}}]}`,
		"rule list":    `[` + rule + `]`,
	} {
		t.Run(name, func(t *testing.T) {
			cfg, ds := azurensg.Parse([]byte(in), azurensg.Options{})
			if ds.HasErrors() {
				t.Fatal(ds)
			}
			audittest.Check(t, cfg, []audittest.Case{
				{Dir: "out", Packet: "udp 10.0.0.1:1 > 192.0.2.53:53", Want: "allow", By: "r"},
				{Dir: "out", Packet: "udp 10.0.0.1:1 > 52.112.0.53:54", Want: "allow", By: "AllowInternetOutBound"},
				{Dir: "out", Packet: "udp 10.0.0.1:1 > 10.0.0.53:54", Want: "deny", By: "DenyAllOutBound"},
			})
		})
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{name: "not an NSG", in: `{"SecurityGroups": []}`, want: []string{"1:1"}},
		{name: "duplicate priority", in: "{\"securityRules\":[\n{\"name\":\"a\",\"protocol\":\"*\",\"sourcePortRange\":\"*\",\"destinationPortRange\":\"*\",\"sourceAddressPrefix\":\"*\",\"destinationAddressPrefix\":\"*\",\"access\":\"Allow\",\"priority\":100,\"direction\":\"Inbound\"},\n{\"name\":\"b\",\"protocol\":\"*\",\"sourcePortRange\":\"*\",\"destinationPortRange\":\"*\",\"sourceAddressPrefix\":\"*\",\"destinationAddressPrefix\":\"*\",\"access\":\"Deny\",\"priority\":100,\"direction\":\"Inbound\"}\n]}", want: []string{"3:1"}},
		{name: "bad fields", in: "{\"securityRules\":[\n{\"name\":\"a\",\"protocol\":\"Gre\",\"sourcePortRange\":\"70000\",\"destinationPortRange\":\"*\",\"sourceAddressPrefix\":\"10.0.0.0/33\",\"destinationAddressPrefix\":\"*\",\"access\":\"Maybe\",\"priority\":\"high\",\"direction\":\"Inbound\"}\n]}", want: []string{"2:24", "2:48", "2:105", "2:159", "2:178"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ds := azurensg.Parse([]byte(tc.in), azurensg.Options{})
			errs := ds.Errors()
			errs.Sort()
			var got []string
			for _, d := range errs {
				got = append(got, d.Pos.String())
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("errors at %v, want %v:\n%s", got, tc.want, errs)
			}
		})
	}
}

// FuzzParse: any input parses to a configuration or to positioned errors.
func FuzzParse(f *testing.F) {
	b, err := os.ReadFile(samplePath())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(flattened))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, ds := azurensg.Parse(data, azurensg.Options{})
		for _, d := range ds {
			if d.Pos.Line == 0 {
				t.Fatalf("diagnostic without a position: %s", d)
			}
		}
		if cfg != nil {
			if _, err := eval.Compile(cfg); err != nil {
				t.Fatal(err)
			}
		}
	})
}
