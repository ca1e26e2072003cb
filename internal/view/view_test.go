package view_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/testutil"
	"github.com/teamsgate/teamsgate/internal/view"
)

const pexipNoMgmt = `cloud: worldwide
integrations:
  pexip-teams-connector:
    roles:
      conferencing-nodes: { addresses: [203.0.113.10] }
      teams-connector-lb: { addresses: [198.51.100.40] }
      teams-connector-instances: { addresses: [198.51.100.64/28] }
    parameters: { nsg-internal: true }
`

var addressOnly = view.Caps{Deny: true, AddressesOnly: true}

func ids(p view.Prepared) []string {
	var out []string
	for _, it := range p.Items {
		out = append(out, it.Rule.ID+"/"+it.Dir.String())
	}
	return out
}

func TestScope(t *testing.T) {
	p := testutil.PlanBytes(t, pexipNoMgmt, "")
	prep, ds := view.Prepare(p, "t", addressOnly, view.Options{Scope: "pexip-teams-connector/teams-connector-lb", FQDN: view.FQDNSkip})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	got := strings.Join(ids(prep), " ")
	want := "pexip-teams-connector.cn-to-lb.signaling/inbound pexip-teams-connector.teams-to-lb.signaling/inbound"
	if got != want {
		t.Errorf("scoped items %q, want %q", got, want)
	}
	if _, ds := view.Prepare(p, "t", addressOnly, view.Options{Scope: "bot"}); !strings.Contains(ds.String(), `--scope "bot" matches no rule of the plan (roles in this plan: conferencing-nodes, ocsp-responder, teams-connector-instances, teams-connector-lb, windows-update)`) {
		t.Errorf("unknown scope: %s", ds)
	}
}

func TestFQDNModes(t *testing.T) {
	p := testutil.PlanBytes(t, "cloud: worldwide\nintegrations:\n  teams-messaging-bot:\n    roles: { bot: { addresses: [198.51.100.10] } }\n", "")
	_, ds := view.Prepare(p, "t", addressOnly, view.Options{})
	if !strings.Contains(ds.String(), "4 flows are given only by host names, which t cannot express") || !strings.Contains(ds.String(), "teams-messaging-bot.out.login (login.microsoftonline.com)") {
		t.Errorf("default FQDN error: %s", ds)
	}
	prep, ds := view.Prepare(p, "t", addressOnly, view.Options{FQDN: view.FQDNSkip})
	if ds.HasErrors() || len(prep.Items) != 1 || len(prep.Header) != 4 {
		t.Errorf("skip: %v %v %s", ids(prep), prep.Header, ds)
	}
	proxy := netip.MustParseAddrPort("192.0.2.3:3128")
	prep, ds = view.Prepare(p, "t", addressOnly, view.Options{FQDN: view.FQDNViaProxy, Proxy: proxy})
	if ds.HasErrors() || len(prep.Items) != 5 {
		t.Fatalf("via proxy: %v %s", ids(prep), ds)
	}
	r := prep.Items[1].Rule
	if r.Destination.Prefixes[0].String() != "192.0.2.3/32" || r.DestPorts.String() != "3128" || r.Proto != model.ProtoTCP || !strings.Contains(prep.Items[1].Note, "via egress proxy 192.0.2.3:3128") {
		t.Errorf("proxied rule %+v note %q", r, prep.Items[1].Note)
	}
	// A FQDN-capable target keeps the hosts.
	prep, ds = view.Prepare(p, "t", view.Caps{FQDN: true}, view.Options{})
	if ds.HasErrors() || len(prep.Items) != 5 || len(prep.Items[1].Rule.Destination.Hosts) != 1 {
		t.Errorf("fqdn target: %v %s", ids(prep), ds)
	}
}

func TestServiceTags(t *testing.T) {
	p := testutil.PlanBytes(t, pexipNoMgmt, "")
	// AzureLoadBalancer has fixed prefixes and needs no data.
	prep, ds := view.Prepare(p, "t", addressOnly, view.Options{Scope: "teams-connector-instances", FQDN: view.FQDNSkip})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	for _, it := range prep.Items {
		if it.Rule.ID == "pexip-teams-connector.lb-to-instance.internal" {
			if got := it.Rule.Source.Prefixes; len(got) != 1 || got[0].String() != "168.63.129.16/32" || it.Note != "service tag AzureLoadBalancer expanded" {
				t.Errorf("AzureLoadBalancer: %v %q", got, it.Note)
			}
		}
	}
	calling := testutil.PlanBytes(t, "cloud: worldwide\nintegrations:\n  teams-calling-bot:\n    roles: { bot: { addresses: [198.51.100.20] } }\n    parameters: { azurecloud-only: true }\n", "")
	_, ds = view.Prepare(calling, "t", addressOnly, view.Options{Scope: "bot", FQDN: view.FQDNSkip})
	if !strings.Contains(ds.String(), `t cannot express service tags: service tag "AzureCloud": no service tag data loaded (give --service-tags FILE)`) {
		t.Errorf("tag without data: %s", ds)
	}
	// A target with tags keeps them.
	prep, ds = view.Prepare(calling, "t", view.Caps{ServiceTags: true, Deny: true}, view.Options{Scope: "bot", FQDN: view.FQDNSkip})
	if ds.HasErrors() || prep.Items[1].Rule.Source.ServiceTags[0] != "AzureCloud" {
		t.Errorf("tag target: %s", ds)
	}
}

func TestDenyOnAllowOnlyTargets(t *testing.T) {
	p := testutil.PlanBytes(t, pexipNoMgmt, "")
	prep, ds := view.Prepare(p, "t", view.Caps{}, view.Options{Scope: "teams-connector-instances", FQDN: view.FQDNSkip})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	for _, it := range prep.Items {
		if it.Rule.Action == model.Deny {
			t.Errorf("deny %s kept on an allow-only target", it.Rule.ID)
		}
	}
	if !strings.Contains(strings.Join(prep.Header, "\n"), "pexip-teams-connector.rdp-deny: ") {
		t.Errorf("the dropped deny must be named in the header: %v", prep.Header)
	}
	// An allow that overlaps the deny makes the deny impossible to keep.
	p.Rules = append(p.Rules, model.Rule{ID: "extra", Proto: model.ProtoTCP, Source: model.Target{Any: true}, SourcePorts: model.AnyPorts(),
		Destination: model.Target{Role: "teams-connector-instances", Prefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.64/28")}}, DestPorts: model.MustParsePortSet("3000-4000")})
	_, ds = view.Prepare(p, "t", view.Caps{}, view.Options{Scope: "teams-connector-instances", FQDN: view.FQDNSkip})
	if !strings.Contains(ds.String(), "rule extra allows part of what this rule denies") {
		t.Errorf("overlap: %s", ds)
	}
}

func TestHostsOnly(t *testing.T) {
	p := testutil.PlanBytes(t, "cloud: worldwide\nintegrations:\n  teams-messaging-bot:\n    roles: { bot: { addresses: [198.51.100.10] } }\n", "")
	prep, ds := view.Prepare(p, "t", view.Caps{FQDN: true, HostsOnly: true}, view.Options{})
	if ds.HasErrors() || len(prep.Items) != 4 || !strings.Contains(prep.Header[0], "teams-messaging-bot.in.activity: not rendered") {
		t.Errorf("hosts only: %v %v %s", ids(prep), prep.Header, ds)
	}
}
