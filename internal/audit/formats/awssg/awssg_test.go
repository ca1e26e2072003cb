package awssg_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/teamsgate/teamsgate/internal/audit/audittest"
	"github.com/teamsgate/teamsgate/internal/audit/eval"
	"github.com/teamsgate/teamsgate/internal/audit/formats/awssg"
	"github.com/teamsgate/teamsgate/internal/testutil"
)

const sample = "aws-describe-security-groups.batfish-hybrid-cloud-aws.json"

func samplePath() string { return filepath.Join(testutil.Root(), "testdata", "data", sample) }

// TestRealSample parses Batfish's hybrid-cloud describe-security-groups
// output: 11 groups, "-1" and ICMP permissions, group references.
func TestRealSample(t *testing.T) {
	cfg, ds := awssg.ParseFile(samplePath(), awssg.Options{})
	if len(ds) > 0 {
		t.Fatalf("diagnostics: %s", ds)
	}
	var refs []string
	for _, l := range cfg.Lines() {
		if len(l.Unresolved) > 0 {
			refs = append(refs, l.ID)
		}
	}
	if len(refs) == 0 {
		t.Error("no rule references a group, but the sample has UserIdGroupPairs")
	}
	// One group alone: sg-6c4d1408 (launch-wizard-2) allows 80, 22, 443
	// from anywhere, everything out.
	cfg, ds = awssg.ParseFile(samplePath(), awssg.Options{Groups: []string{"launch-wizard-2"}})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	audittest.Check(t, cfg, []audittest.Case{
		{Dir: "in", Packet: "tcp 192.0.2.1:40000 > 10.0.0.4:443", Want: "allow", By: "sg-6c4d1408 ingress#3"},
		{Dir: "in", Packet: "tcp 192.0.2.1:40000 > 10.0.0.4:3389", Want: "deny", By: "ingress (no rule allows it)"},
		{Dir: "in", Packet: "udp 192.0.2.1:40000 > 10.0.0.4:443", Want: "deny"},
		{Dir: "out", Packet: "udp 10.0.0.4:40000 > 192.0.2.1:53", Want: "allow", By: "sg-6c4d1408 egress#1"},
		// IpRanges is IPv4 only: the -1 rule to 0.0.0.0/0 does not allow IPv6
		{Dir: "out", Packet: "udp [2001:db8::4]:40000 > [2001:db8::1]:53", Want: "deny"},
	})
}

const groups = `{"SecurityGroups": [
 {"GroupId": "sg-1", "GroupName": "bots",
  "IpPermissions": [
   {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "52.112.0.0/14", "Description": "teams"}], "Ipv6Ranges": [{"CidrIpv6": "2603:1063::/38"}]},
   {"IpProtocol": "udp", "FromPort": 16000, "ToPort": 17999, "UserIdGroupPairs": [{"GroupId": "sg-2", "UserId": "1"}]},
   {"IpProtocol": "icmp", "FromPort": 8, "ToPort": -1, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
   {"IpProtocol": "50", "IpRanges": [{"CidrIp": "192.0.2.0/24"}], "PrefixListIds": [{"PrefixListId": "pl-9"}]}
  ]},
 {"GroupId": "sg-2", "GroupName": "relays", "IpPermissions": [], "IpPermissionsEgress": []}
]}`

func TestUnion(t *testing.T) {
	cfg, ds := awssg.Parse([]byte(groups), awssg.Options{Groups: []string{"sg-1"}})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	audittest.Check(t, cfg, []audittest.Case{
		{Dir: "in", Packet: "tcp 52.113.0.1:40000 > 198.51.100.20:443", Want: "allow", By: "sg-1 ingress#1"},
		{Dir: "in", Packet: "tcp [2603:1063::1]:40000 > [2001:db8::20]:443", Want: "allow", By: "sg-1 ingress#1"},
		// the group reference is unresolvable: no match
		{Dir: "in", Packet: "udp 198.51.100.30:40000 > 198.51.100.20:16000", Want: "deny"},
		// ICMP type 8, any code
		{Dir: "in", Packet: "icmp 192.0.2.1 > 198.51.100.20:2049", Want: "allow", By: "sg-1 ingress#3"},
		{Dir: "in", Packet: "icmp 192.0.2.1 > 198.51.100.20:0", Want: "deny"},
		{Dir: "in", Packet: "esp 192.0.2.1 > 198.51.100.20", Want: "allow", By: "sg-1 ingress#4"},
		// IpPermissionsEgress absent: AWS's default egress rule
		{Dir: "out", Packet: "tcp 198.51.100.20:40000 > 192.0.2.1:25", Want: "allow", By: "sg-1 egress (default rule)"},
	})
	var unresolved []string
	for _, l := range cfg.Lines() {
		unresolved = append(unresolved, l.Unresolved...)
	}
	if got := strings.Join(unresolved, "\n"); !strings.Contains(got, "security group sg-2") || !strings.Contains(got, "prefix list pl-9") {
		t.Errorf("unresolved = %s", got)
	}
	// With the members given, the references resolve.
	members := map[string][]netip.Prefix{"sg-2": {netip.MustParsePrefix("198.51.100.30/32")}, "pl-9": {netip.MustParsePrefix("203.0.113.0/24")}}
	cfg, ds = awssg.Parse([]byte(groups), awssg.Options{Members: members})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	audittest.Check(t, cfg, []audittest.Case{
		{Dir: "in", Packet: "udp 198.51.100.30:40000 > 198.51.100.20:16000", Want: "allow", By: "sg-1 ingress#2 sg-2"},
		{Dir: "in", Packet: "esp 203.0.113.9 > 198.51.100.20", Want: "allow", By: "sg-1 ingress#4 pl-9"},
		// sg-2 has an empty egress list, but sg-1's default egress is in
		// the union of both groups
		{Dir: "out", Packet: "tcp 198.51.100.20:40000 > 192.0.2.1:25", Want: "allow"},
	})
	// An empty IpPermissionsEgress means no egress at all.
	cfg, _ = awssg.Parse([]byte(groups), awssg.Options{Groups: []string{"relays"}})
	audittest.Check(t, cfg, []audittest.Case{
		{Dir: "out", Packet: "tcp 198.51.100.20:40000 > 192.0.2.1:25", Want: "deny", By: "egress (no rule allows it)"},
	})
	if !cfg.NoSourcePorts {
		t.Error("security groups cannot match source ports; NoSourcePorts must be set")
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{name: "not describe output", in: `{"securityRules": []}`, want: []string{"1:1"}},
		{name: "missing ports and bad CIDR", in: "{\"SecurityGroups\":[{\"GroupId\":\"sg-1\",\"IpPermissions\":[\n{\"IpProtocol\":\"tcp\",\"IpRanges\":[{\"CidrIp\":\"1.2.3.4/40\"}]},\n{\"IpProtocol\":\"tcp\",\"FromPort\":1,\"ToPort\":2,\"IpRanges\":[{\"CidrIp\":\"1.2.3.4/40\"}]}]}]}", want: []string{"2:1", "3:67"}},
		{name: "unknown group selected", in: `{"SecurityGroups":[{"GroupId":"sg-1"}]}`, want: []string{"1:19"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opt := awssg.Options{}
			if tc.name == "unknown group selected" {
				opt.Groups = []string{"sg-nope"}
			}
			_, ds := awssg.Parse([]byte(tc.in), opt)
			var got []string
			for _, d := range ds.Errors() {
				got = append(got, d.Pos.String())
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("errors at %v, want %v:\n%s", got, tc.want, ds)
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
	f.Add([]byte(groups))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, ds := awssg.Parse(data, awssg.Options{})
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
