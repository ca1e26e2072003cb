package audit_test

import (
	"net/netip"
	"strings"
	"testing"

	"go4.org/netipx"

	"github.com/teamsgate/teamsgate/internal/audit"
	"github.com/teamsgate/teamsgate/internal/audit/formats/azurensg"
	"github.com/teamsgate/teamsgate/internal/audit/ruleset"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/testutil"
)

// pexipNSG is the NSG of the Teams Connector instances of
// examples/pexip.yaml as a deployment that relies on Azure's default rules
// for its outbound traffic has it: the Pexip inbound rules (002, "Firewall
// ports for the Teams Connector and NSG rules"; the "RDP" rule at 1000)
// and no outbound rule of its own, so that AllowInternetOutBound (65001)
// and DenyAllOutBound (65500) decide. extra is added to the rules.
func pexipNSG(extra ...string) []byte {
	rule := func(name, dir, access, proto, src, dst, ports string, prio string) string {
		return `{"name":"` + name + `","properties":{"protocol":"` + proto + `","sourcePortRange":"*","destinationPortRange":"` + ports +
			`","sourceAddressPrefix":"` + src + `","destinationAddressPrefix":"` + dst + `","access":"` + access + `","priority":` + prio + `,"direction":"` + dir + `"}}`
	}
	rules := []string{
		`{"name":"cn-signaling","properties":{"protocol":"Tcp","sourcePortRange":"*","destinationPortRange":"443","sourceAddressPrefixes":["203.0.113.10","203.0.113.11"],"destinationAddressPrefix":"*","access":"Allow","priority":100,"direction":"Inbound"}}`,
		`{"name":"cn-media","properties":{"protocol":"Udp","sourcePortRange":"*","destinationPortRange":"50000-54999","sourceAddressPrefixes":["203.0.113.10","203.0.113.11"],"destinationAddressPrefix":"*","access":"Allow","priority":110,"direction":"Inbound"}}`,
		rule("teams-media", "Inbound", "Allow", "Udp", "Internet", "*", "55000-59999", "120"),
		rule("RDP", "Inbound", "Allow", "Tcp", "192.0.2.0/28", "*", "3389", "1000"),
	}
	rules = append(rules, extra...)
	return []byte(`{"name":"pexip-tc-nsg","properties":{"securityRules":[` + strings.Join(rules, ",") + `]}}`)
}

// internetFlows are the Teams Connector's flows to services on the
// Internet: the roles ocsp-responder and windows-update default to the
// public Internet.
var internetFlows = []string{"pexip-teams-connector.instance-to-ocsp", "pexip-teams-connector.instance-to-windows-update"}

func auditPexipNSG(t *testing.T, nsg []byte) *audit.Report {
	t.Helper()
	cfg, ds := azurensg.Parse(nsg, azurensg.Options{})
	if ds.HasErrors() {
		t.Fatalf("parse: %s", ds)
	}
	p := testutil.Plan(t, testutil.ExamplePath("pexip"), "")
	rep, ds := audit.Run(p, cfg, audit.Options{Scope: "teams-connector-instances"})
	if ds.HasErrors() {
		t.Fatalf("audit: %s", ds)
	}
	return rep
}

func flowStatus(rep *audit.Report, id string) audit.FlowStatus {
	for _, f := range rep.Flows {
		if f.ID == id {
			return f.Status
		}
	}
	return ""
}

func missingFor(rep *audit.Report, id string) []audit.Finding {
	var out []audit.Finding
	for _, f := range rep.Findings {
		if f.Kind == audit.Missing && f.Flow == id {
			out = append(out, f)
		}
	}
	return out
}

// TestInternetAgainstNSGDefaults: the plan's public Internet and the NSG's
// service tag Internet are the same set, so the Teams Connector's flows to
// OCSP responders and Windows Update pass through Azure's default
// AllowInternetOutBound, and a DenyInternetOutBound rule blocks them. (With
// the roles at "any", as before, the flows were partly blocked by
// DenyAllOutBound: any holds 10.0.0.0/8, 224.0.0.0/4, ….)
func TestInternetAgainstNSGDefaults(t *testing.T) {
	tests := []struct {
		name    string
		extra   []string
		want    audit.FlowStatus
		blocked string // the rule named by the missing findings
	}{
		{name: "Azure's default rules", want: audit.FlowPass},
		{
			name:    "DenyInternetOutBound",
			extra:   []string{`{"name":"DenyInternetOutBound","properties":{"protocol":"*","sourcePortRange":"*","destinationPortRange":"*","sourceAddressPrefix":"*","destinationAddressPrefix":"Internet","access":"Deny","priority":4000,"direction":"Outbound"}}`},
			want:    audit.FlowFail,
			blocked: "DenyInternetOutBound",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := auditPexipNSG(t, pexipNSG(tt.extra...))
			for _, id := range internetFlows {
				if got := flowStatus(rep, id); got != tt.want {
					t.Errorf("%s: %q, want %q", id, got, tt.want)
				}
				ms := missingFor(rep, id)
				switch {
				case tt.blocked == "" && len(ms) > 0:
					t.Errorf("%s: missing finding %s", id, ms[0].Message)
				case tt.blocked != "" && len(ms) == 0:
					t.Errorf("%s: no missing finding", id)
				case tt.blocked != "" && (ms[0].Rule == nil || ms[0].Rule.ID != tt.blocked):
					t.Errorf("%s: blocked by %+v, want %s: %s", id, ms[0].Rule, tt.blocked, ms[0].Message)
				}
			}
			// Teams (Microsoft 365) is public address space: the same
			// default rule carries it.
			for _, id := range []string{"pexip-teams-connector.instance-to-teams.signaling", "pexip-teams-connector.instance-to-teams.media"} {
				if got := flowStatus(rep, id); got != tt.want {
					t.Errorf("%s: %q, want %q", id, got, tt.want)
				}
			}
		})
	}
}

// TestInternetTooOpen: what the plan tolerates for a flow to the Internet
// is the public Internet and no more. An outbound rule to any address on
// the flows' port 80 is too open exactly by the special-use space; the
// public part of it is the flows' own.
func TestInternetTooOpen(t *testing.T) {
	rep := auditPexipNSG(t, pexipNSG(
		`{"name":"web-anywhere","properties":{"protocol":"Tcp","sourcePortRange":"*","destinationPortRange":"80","sourceAddressPrefix":"*","destinationAddressPrefix":"*","access":"Allow","priority":200,"direction":"Outbound"}}`))
	for _, id := range internetFlows {
		if got := flowStatus(rep, id); got != audit.FlowPass {
			t.Errorf("%s: %q, want pass", id, got)
		}
	}
	internet := model.Internet()
	// The finding may stand alone or be folded, as a fact, into a missing
	// finding the same rule is related to.
	var b netipx.IPSetBuilder
	var found bool
	add := func(kind audit.Kind, rule *audit.RuleRef, packets []audit.PacketSet) {
		if kind != audit.TooOpen || rule == nil || rule.ID != "web-anywhere" {
			return
		}
		found = true
		for _, ps := range packets {
			for _, d := range ps.Destinations {
				b.AddPrefix(d)
			}
		}
	}
	for _, f := range rep.Findings {
		add(f.Kind, f.Rule, f.Packets)
		for _, x := range f.Facts {
			add(x.Kind, x.Rule, x.Packets)
		}
	}
	if !found {
		t.Fatalf("no too-open finding for web-anywhere, which allows tcp 80 to private space")
	}
	dst, _ := b.IPSet()
	if dst.Overlaps(internet) {
		t.Errorf("web-anywhere: too open towards the public Internet, which the plan's flows need: %v", dst.Prefixes())
	}
	for _, a := range []string{"10.0.0.1", "192.168.1.1", "100.64.0.1", "192.0.2.80", "224.0.0.1"} {
		if !dst.Contains(netip.MustParseAddr(a)) {
			t.Errorf("web-anywhere: %s is not in what is reported too open: %v", a, dst.Prefixes())
		}
	}
}

// TestInternetTagIsThePlanSet: the NSG's Internet tag resolves to the
// plan's public Internet, less the virtual network when it is known.
func TestInternetTagIsThePlanSet(t *testing.T) {
	s, err := ruleset.ServiceTags{}.Resolve("Internet")
	if err != nil {
		t.Fatal(err)
	}
	if !s.IPSet().Equal(model.Internet()) {
		t.Errorf("Internet tag = %s, want model.Internet()", s)
	}
	vnet := netip.MustParsePrefix("20.30.0.0/16") // a VNet in public space
	s, err = ruleset.ServiceTags{VirtualNetwork: []netip.Prefix{vnet}}.Resolve("INTERNET")
	if err != nil {
		t.Fatal(err)
	}
	if s.Contains(netip.MustParseAddr("20.30.1.1")) || !s.Contains(netip.MustParseAddr("20.31.1.1")) {
		t.Errorf("Internet tag with VirtualNetwork %s = %s", vnet, s)
	}
}

// bindInternetRoles returns the plan as the user who binds the roles left
// at the public Internet (ocsp-responder, windows-update) has it, each to a
// documentation address: what an AWS security group needs, since it cannot
// hold the Internet (docs/render.md, "The public Internet").
func bindInternetRoles(p *model.Plan) *model.Plan {
	q := *p
	q.Rules = append([]model.Rule(nil), p.Rules...)
	for i := range q.Rules {
		for _, side := range []*model.Target{&q.Rules[i].Source, &q.Rules[i].Destination} {
			if side.Internet {
				side.Internet = false
				side.Prefixes = []netip.Prefix{netip.MustParsePrefix("192.0.2.80/32")}
			}
		}
	}
	return &q
}
