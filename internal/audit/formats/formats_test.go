package formats_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/teamsgate/teamsgate/internal/audit/formats"
	"github.com/teamsgate/teamsgate/internal/testutil"
)

func TestDetect(t *testing.T) {
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(testutil.Root(), "testdata", "data", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, tc := range []struct {
		name, in, want, err string
	}{
		{name: "NSG export", in: read("azure-nsg-arm-export.batfish-VM1-nsg.json"), want: "azure-nsg"},
		{name: "describe-security-groups", in: read("aws-describe-security-groups.batfish-hybrid-cloud-aws.json"), want: "aws-sg"},
		{name: "iptables-save", in: read("iptables-save.batfish-example-host1.iptables"), want: "iptables"},
		{name: "nft -j", in: `{"nftables":[{"metainfo":{"version":"1.0.6"}}]}`, want: "nftables"},
		{name: "az network nsg rule list", in: `[{"access":"Allow","direction":"Inbound","priority":100,"name":"x"}]`, want: "azure-nsg"},
		{name: "ARM template", in: `{"resources":[{"type":"Microsoft.Network/networkSecurityGroups","properties":{}}]}`, want: "azure-nsg"},
		{name: "bare rules", in: "-A INPUT -j ACCEPT\n", want: "iptables"},
		{name: "nft text", in: "table inet filter {\n}\n", err: "nft -j list ruleset"},
		{name: "ambiguous", in: `{"nftables":[],"SecurityGroups":[]}`, err: "could be nftables or aws-sg"},
		{name: "unknown JSON", in: `{"a":1}`, err: "cannot tell"},
		{name: "broken JSON", in: `{"a":`, err: "does not parse"},
		{name: "empty", in: " \n", err: "empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := formats.Detect([]byte(tc.in))
			switch {
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Errorf("Detect = %q, %v; want error %q", got, err, tc.err)
			case tc.err == "" && (err != nil || got != tc.want):
				t.Errorf("Detect = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
