package targets_test

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/render/targets"
	"github.com/teamsgate/teamsgate/internal/testutil"
	"github.com/teamsgate/teamsgate/internal/view"
)

// TestInternetRendered: the Teams Connector instances' flows to OCSP
// responders and Windows Update, whose roles default to the public
// Internet, as each target writes them. None writes them as any address.
func TestInternetRendered(t *testing.T) {
	p := testutil.Plan(t, testutil.ExamplePath("pexip"), "")
	opt := view.Options{Scope: "teams-connector-instances", FQDN: view.FQDNSkip, Proxy: netip.MustParseAddrPort("192.0.2.3:3128")}
	const ocsp = "pexip-teams-connector.instance-to-ocsp"
	tests := []struct {
		target  string
		file    string
		has     []string // every one in the file
		hasNot  []string // none in the file
		check   func(t *testing.T, file string)
		wantErr []string // the render fails with every one of these
	}{
		{
			target: "nftables", file: "teamsgate.nft",
			has:    []string{"set internet_v4 {", "1.0.0.0/8, 2.0.0.0/7", "208.0.0.0/4", "ip saddr @teams_connector_instances_v4 ip daddr @internet_v4 tcp dport 80 accept", "ip daddr @internet_v4 tcp dport { 80, 443 } accept", "[public Internet, special-use blocks left out]"},
			hasNot: []string{"10.0.0.0/8", "192.168.0.0/16", "tcp dport 80 accept comment \"pexip-teams-connector.instance-to-ocsp: Certificate revocation checking\""},
		},
		{
			target: "iptables", file: "rules.v4",
			has:    []string{"-A teamsgate-out -s 198.51.100.64/28 -d 1.0.0.0/8 -p tcp -m tcp --dport 80 ", "-d 208.0.0.0/4 -p tcp -m multiport --dports 80,443 "},
			hasNot: []string{"-d 10.0.0.0/8", "-d 0.0.0.0/0"},
			check: func(t *testing.T, file string) {
				if n := strings.Count(file, "--comment \""+ocsp+":"); n != len(v4Internet()) {
					t.Errorf("%d rules for %s, want one per IPv4 prefix of the Internet (%d)", n, ocsp, len(v4Internet()))
				}
			},
		},
		{
			target: "azure-nsg", file: "nsg.json",
			check: func(t *testing.T, file string) {
				rule := nsgRule(t, file, ocsp)
				if rule["destinationAddressPrefix"] != "Internet" || rule["direction"] != "Outbound" {
					t.Errorf("%s: %v, want the service tag Internet, outbound", ocsp, rule)
				}
			},
		},
		{
			target: "azure-firewall", file: "firewall-policy-rcg.json",
			has:    []string{`"1.0.0.0/8"`, `"208.0.0.0/4"`, `"2000::/16"`, `"3fff:8000::/17"`},
			hasNot: []string{`"10.0.0.0/8"`, `"2001:db8::/32"`},
		},
		{
			target:  "aws-sg",
			wantErr: []string{ocsp + ": aws-sg: role ocsp-responder is the public Internet (its default): 116 IPv4 and 45 IPv6 prefixes", "bind ocsp-responder to the addresses the flow goes to", "pexip-teams-connector.instance-to-windows-update: aws-sg: role windows-update"},
		},
		{
			target: "kubernetes", file: "networkpolicy.yaml",
			has:    []string{"cidr: \"0.0.0.0/0\"\n            except:\n              - \"0.0.0.0/8\"\n              - \"10.0.0.0/8\"", "cidr: \"2000::/3\"\n            except:\n              - \"2001::/23\"\n              - \"2001:db8::/32\"\n              - \"2002::/16\"\n              - \"3fff::/20\"", "# " + ocsp + ": Certificate revocation checking [public Internet"},
			hasNot: []string{"cidr: \"::/0\""},
		},
		{
			target: "squid", file: "squid.conf",
			has: []string{ocsp + ": not rendered, squid filters host names"},
		},
		{
			target: "pac", file: "proxy.pac",
			has: []string{ocsp + ": not rendered, pac filters host names"},
		},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		seen[tt.target] = true
		t.Run(tt.target, func(t *testing.T) {
			tg, err := targets.Lookup(tt.target)
			if err != nil {
				t.Fatal(err)
			}
			o := opt
			if tg.Caps().Reads.Has(view.ChoiceProxy) {
				o.FQDN = view.FQDNError
			}
			out, ds := tg.Render(p, o)
			if len(tt.wantErr) > 0 {
				if !ds.HasErrors() {
					t.Fatalf("rendered, want an error")
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(ds.Err().Error(), w) {
						t.Errorf("error lacks %q:\n%s", w, ds.Err())
					}
				}
				return
			}
			if ds.HasErrors() {
				t.Fatal(ds)
			}
			file := string(out.Files[tt.file])
			if file == "" {
				t.Fatalf("no file %s in %v", tt.file, out.Files)
			}
			for _, s := range tt.has {
				if !strings.Contains(file, s) {
					t.Errorf("%s lacks %q", tt.file, s)
				}
			}
			for _, s := range tt.hasNot {
				if strings.Contains(file, s) {
					t.Errorf("%s has %q", tt.file, s)
				}
			}
			if tt.check != nil {
				tt.check(t, file)
			}
		})
	}
	for _, tg := range targets.All() {
		if !seen[tg.Name()] {
			t.Errorf("target %s: no case for the public Internet", tg.Name())
		}
	}
}

func v4Internet() []netip.Prefix {
	var out []netip.Prefix
	for _, p := range model.Internet().Prefixes() {
		if p.Addr().Is4() {
			out = append(out, p)
		}
	}
	return out
}

// nsgRule returns the properties of the security rule of an ARM template
// whose description starts with the flow id.
func nsgRule(t *testing.T, file, id string) map[string]any {
	t.Helper()
	var doc struct {
		Resources []struct {
			Properties struct {
				SecurityRules []struct {
					Properties map[string]any `json:"properties"`
				} `json:"securityRules"`
			} `json:"properties"`
		} `json:"resources"`
	}
	if err := json.Unmarshal([]byte(file), &doc); err != nil {
		t.Fatal(err)
	}
	for _, r := range doc.Resources {
		for _, sr := range r.Properties.SecurityRules {
			if d, _ := sr.Properties["description"].(string); strings.HasPrefix(d, id+":") {
				return sr.Properties
			}
		}
	}
	t.Fatalf("no security rule for %s", id)
	return nil
}
