package audit_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/teamsgate/teamsgate/internal/audit"
	"github.com/teamsgate/teamsgate/internal/audit/formats/azurensg"
	"github.com/teamsgate/teamsgate/internal/audit/formats/iptables"
	"github.com/teamsgate/teamsgate/internal/audit/ruleset"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/testutil"
	"github.com/teamsgate/teamsgate/internal/view"
)

// The 10,000-rule configurations of BenchmarkAudit10k model a large
// shared perimeter firewall: most rules are for other hosts (a /16 of
// private servers, each with a few services), some open services on the
// deployment's own hosts (which the audit reports as too open), some carry
// the plan's flows, and user chains group part of the rules.

// deploymentHosts are the example's role addresses that generated rules
// target.
var deploymentHosts = []string{"198.51.100.10", "198.51.100.20", "198.51.100.21", "198.51.100.40", "198.51.100.70", "203.0.113.10", "203.0.113.11", "203.0.113.5", "192.0.2.200"}

var services = []string{"22", "25", "53", "80", "110", "143", "443", "993", "1433", "3306", "3389", "5432", "6379", "8080", "8443", "9200", "10000:10100", "27017"}

func otherHost(r *rand.Rand) string {
	return fmt.Sprintf("10.%d.%d.%d", 20+r.IntN(2), r.IntN(256), 1+r.IntN(254))
}

func source(r *rand.Rand) string {
	switch r.IntN(4) {
	case 0:
		return "0.0.0.0/0"
	case 1:
		return fmt.Sprintf("172.%d.%d.0/24", 16+r.IntN(16), r.IntN(256))
	case 2:
		return fmt.Sprintf("100.%d.0.0/16", 64+r.IntN(64))
	}
	return fmt.Sprintf("192.168.%d.%d/32", r.IntN(256), 1+r.IntN(254))
}

// genIptables10k returns an iptables-save file with n rules in FORWARD and
// two user chains.
func genIptables10k(r *rand.Rand, n int) string {
	var b strings.Builder
	b.WriteString("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n:servers - [0:0]\n:deployment - [0:0]\n")
	b.WriteString("-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n")
	b.WriteString("-A FORWARD -m conntrack --ctstate INVALID -j DROP\n")
	b.WriteString("-A FORWARD -d 10.20.0.0/15 -j servers\n")
	b.WriteString("-A FORWARD -d 198.51.100.0/24 -j deployment\n")
	b.WriteString("-A FORWARD -d 203.0.113.0/24 -j deployment\n")
	b.WriteString("-A deployment -s 52.112.0.0/14 -d 198.51.100.10/32 -p tcp -m tcp --dport 443 -j ACCEPT\n")
	b.WriteString("-A deployment -s 52.112.0.0/14 -d 198.51.100.20/31 -p udp -m udp --dport 16000:17999 -j ACCEPT\n")
	b.WriteString("-A deployment -d 198.51.100.20/31 -p tcp -m multiport --dports 443,8445 -j ACCEPT\n")
	b.WriteString("-A deployment -d 203.0.113.10/31 -p tcp -m tcp --dport 443 -j ACCEPT\n")
	written := 9
	for written < n {
		proto := []string{"tcp", "udp"}[r.IntN(2)]
		svc := services[r.IntN(len(services))]
		port := "-m " + proto + " --dport " + svc
		act := []string{"ACCEPT", "ACCEPT", "ACCEPT", "DROP", "REJECT"}[r.IntN(5)]
		switch k := r.IntN(100); {
		case k < 70:
			fmt.Fprintf(&b, "-A servers -s %s -d %s/32 -p %s %s -j %s\n", source(r), otherHost(r), proto, port, act)
		case k < 80:
			fmt.Fprintf(&b, "-A deployment -s %s -d %s/32 -p %s %s -j %s\n", source(r), deploymentHosts[r.IntN(len(deploymentHosts))], proto, port, act)
		default:
			fmt.Fprintf(&b, "-A FORWARD -s %s -d %s/32 -p %s %s -j %s\n", source(r), otherHost(r), proto, port, act)
		}
		written++
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

// genNSG10k returns an ARM NSG export with n rules, half inbound and half
// outbound. Azure allows 1,000 rules per NSG and priorities 100-4096; the
// generator goes past both to measure the auditor (the parser warns about
// the priorities).
func genNSG10k(r *rand.Rand, n int) []byte {
	type props struct {
		Protocol                 string   `json:"protocol"`
		SourcePortRange          string   `json:"sourcePortRange"`
		DestinationPortRange     string   `json:"destinationPortRange,omitempty"`
		DestinationPortRanges    []string `json:"destinationPortRanges,omitempty"`
		SourceAddressPrefix      string   `json:"sourceAddressPrefix"`
		DestinationAddressPrefix string   `json:"destinationAddressPrefix"`
		Access                   string   `json:"access"`
		Priority                 int      `json:"priority"`
		Direction                string   `json:"direction"`
	}
	type rule struct {
		Name       string `json:"name"`
		Properties props  `json:"properties"`
	}
	var rules []rule
	add := func(p props) {
		rules = append(rules, rule{Name: fmt.Sprintf("rule-%d", len(rules)), Properties: p})
	}
	prio := map[string]int{"Inbound": 100, "Outbound": 100}
	next := func(dir string) int { prio[dir]++; return prio[dir] }
	add(props{Protocol: "Tcp", SourcePortRange: "*", DestinationPortRange: "443", SourceAddressPrefix: "52.112.0.0/14", DestinationAddressPrefix: "198.51.100.10", Access: "Allow", Priority: next("Inbound"), Direction: "Inbound"})
	add(props{Protocol: "Udp", SourcePortRange: "*", DestinationPortRange: "16000-17999", SourceAddressPrefix: "52.112.0.0/14", DestinationAddressPrefix: "198.51.100.20/31", Access: "Allow", Priority: next("Inbound"), Direction: "Inbound"})
	add(props{Protocol: "Tcp", SourcePortRange: "*", DestinationPortRanges: []string{"443", "8445"}, SourceAddressPrefix: "*", DestinationAddressPrefix: "198.51.100.20/31", Access: "Allow", Priority: next("Inbound"), Direction: "Inbound"})
	add(props{Protocol: "Tcp", SourcePortRange: "*", DestinationPortRange: "443", SourceAddressPrefix: "198.51.100.64/28", DestinationAddressPrefix: "*", Access: "Allow", Priority: next("Outbound"), Direction: "Outbound"})
	for len(rules) < n {
		dir := []string{"Inbound", "Outbound"}[r.IntN(2)]
		proto := []string{"Tcp", "Udp", "*"}[r.IntN(3)]
		port := strings.ReplaceAll(services[r.IntN(len(services))], ":", "-")
		access := []string{"Allow", "Allow", "Deny"}[r.IntN(3)]
		host := otherHost(r)
		if r.IntN(10) == 0 {
			host = deploymentHosts[r.IntN(len(deploymentHosts))]
		}
		src, dst := source(r), host
		if dir == "Outbound" {
			src, dst = host, source(r)
		}
		add(props{Protocol: proto, SourcePortRange: "*", DestinationPortRange: port, SourceAddressPrefix: src, DestinationAddressPrefix: dst, Access: access, Priority: next(dir), Direction: dir})
	}
	b, err := json.Marshal(map[string]any{
		"name": "bench-nsg", "type": "Microsoft.Network/networkSecurityGroups",
		"properties": map[string]any{"securityRules": rules},
	})
	if err != nil {
		panic(err)
	}
	return b
}

func benchPlan(b *testing.B) *model.Plan {
	return testutil.Plan(b, testutil.ExamplePath("combined"), "")
}

var benchOptions = audit.Options{FQDN: view.FQDNViaProxy, Proxy: netip.MustParseAddrPort("192.0.2.3:3128")}

// BenchmarkAudit10k audits a generated 10,000-rule configuration against
// the combined example plan: parse, compile, every flow, too-open and
// shadowing. Run with -cpu 1 for the one-core figure.
func BenchmarkAudit10k(b *testing.B) {
	p := benchPlan(b)
	r := rand.New(rand.NewPCG(10, 10000))
	ipt := []byte(genIptables10k(r, 10000))
	nsg := genNSG10k(r, 10000)
	b.Run("iptables", func(b *testing.B) {
		for b.Loop() {
			cfg, ds := iptables.Parse(ipt)
			if ds.HasErrors() {
				b.Fatal(ds)
			}
			if n := len(cfg.Lines()); n < 10000 {
				b.Fatalf("%d rules", n)
			}
			rep, ds := audit.Run(p, cfg, benchOptions)
			if ds.HasErrors() || rep == nil {
				b.Fatal(ds)
			}
		}
	})
	b.Run("azure-nsg", func(b *testing.B) {
		for b.Loop() {
			cfg, ds := azurensg.Parse(nsg, azurensg.Options{})
			if ds.HasErrors() {
				b.Fatal(ds)
			}
			if n := len(cfg.Lines()); n < 10000 {
				b.Fatalf("%d rules", n)
			}
			rep, ds := audit.Run(p, cfg, benchOptions)
			if ds.HasErrors() || rep == nil {
				b.Fatal(ds)
			}
		}
	})
}

// TestAudit10kFindings checks that the benchmark's configurations are
// audited in full: findings of the expected kinds, and no rule left
// undecided by the shadowing budget.
func TestAudit10kFindings(t *testing.T) {
	if testing.Short() {
		t.Skip("large configurations")
	}
	t.Parallel()
	p := testutil.Plan(t, testutil.ExamplePath("combined"), "")
	r := rand.New(rand.NewPCG(10, 10000))
	ipt := []byte(genIptables10k(r, 10000))
	nsg := genNSG10k(r, 10000)
	for name, parse := range map[string]func() (*ruleset.Config, error){
		"iptables": func() (*ruleset.Config, error) { c, ds := iptables.Parse(ipt); return c, ds.Err() },
		"azure-nsg": func() (*ruleset.Config, error) {
			c, ds := azurensg.Parse(nsg, azurensg.Options{})
			return c, ds.Err()
		},
	} {
		cfg, err := parse()
		if err != nil {
			t.Fatal(err)
		}
		rep, ds := audit.Run(p, cfg, benchOptions)
		if ds.HasErrors() {
			t.Fatal(ds)
		}
		count := map[audit.Kind]int{}
		for _, f := range rep.Findings {
			count[f.Kind]++
		}
		t.Logf("%s: %d rules, findings %v, notes %d", name, len(cfg.Lines()), count, len(rep.Notes))
		for _, k := range []audit.Kind{audit.Missing, audit.TooOpen, audit.Shadowed} {
			if count[k] == 0 {
				t.Errorf("%s: no %s finding", name, k)
			}
		}
		for _, n := range rep.Notes {
			if strings.Contains(n, "assumed reachable") {
				t.Errorf("%s: %s", name, n)
			}
		}
	}
}
