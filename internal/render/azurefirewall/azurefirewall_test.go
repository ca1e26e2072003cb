package azurefirewall_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v7"
	"github.com/google/go-cmp/cmp"

	"github.com/teamsgate/teamsgate/internal/render/azurefirewall"
	"github.com/teamsgate/teamsgate/internal/servicetag"
	"github.com/teamsgate/teamsgate/internal/testutil"
	"github.com/teamsgate/teamsgate/internal/view"
)

// goldenCase is one render of an example spec; its files are compared with
// testdata/EXAMPLE.VARIANT/.
type goldenCase struct {
	example string
	variant string
	scope   string
	tags    string // service tags file, relative to the repository root
	wantErr bool
}

// smallTags is a small service-tags file for goldens; the real one is used
// in TestRealServiceTags.
const smallTags = "internal/render/azurefirewall/testdata/servicetags.json"

var goldenCases = []goldenCase{
	{example: "messaging-bot", variant: "perimeter"},
	{example: "calling-bot", variant: "default", wantErr: true},
	{example: "calling-bot", variant: "perimeter", tags: smallTags},
	{example: "pexip", variant: "perimeter"},
	{example: "pexip", variant: "teams-connector-instances", scope: "teams-connector-instances"},
	{example: "teamspro", variant: "perimeter"},
	{example: "combined", variant: "perimeter", tags: smallTags},
}

func (c goldenCase) options(t *testing.T) view.Options {
	opt := view.Options{Scope: c.scope}
	if c.tags != "" {
		opt.ServiceTags = loadTags(t, c.tags)
	}
	return opt
}

func loadTags(t *testing.T, rel string) *servicetag.Data {
	t.Helper()
	data, ds := servicetag.ParseFile(filepath.Join(testutil.Root(), rel))
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	return data
}

func TestGolden(t *testing.T) {
	covered := map[string]bool{}
	for _, c := range goldenCases {
		covered[c.example] = true
		t.Run(c.example+"/"+c.variant, func(t *testing.T) {
			dir := filepath.Join("testdata", c.example+"."+c.variant)
			out, ds := azurefirewall.New().Render(testutil.Plan(t, testutil.ExamplePath(c.example), ""), c.options(t))
			if c.wantErr {
				if !ds.HasErrors() {
					t.Fatal("render succeeded, want an error")
				}
				testutil.Golden(t, filepath.Join(dir, "error.txt"), []byte(ds.Err().Error()+"\n"))
				return
			}
			if ds.HasErrors() {
				t.Fatalf("render: %s", ds)
			}
			if got := slices.Sorted(maps.Keys(out.Files)); !slices.Equal(got, []string{azurefirewall.FileName}) {
				t.Fatalf("files = %v", got)
			}
			b := out.Files[azurefirewall.FileName]
			testutil.Golden(t, filepath.Join(dir, azurefirewall.FileName), b)
			testutil.Golden(t, filepath.Join(dir, "warnings.txt"), []byte(strings.Join(out.Warnings, "\n")+"\n"))
			again, _ := azurefirewall.New().Render(testutil.Plan(t, testutil.ExamplePath(c.example), ""), c.options(t))
			if !bytes.Equal(b, again.Files[azurefirewall.FileName]) {
				t.Error("rendering twice gave different output")
			}
			checkTemplate(t, b)
		})
	}
	for _, ex := range testutil.Examples() {
		if !covered[ex] {
			t.Errorf("example %s has no golden render", ex)
		}
	}
}

// template is the strict outer shape of the rendered ARM template; the
// resource's properties are checked against armnetwork's types.
type template struct {
	Schema         string `json:"$schema"`
	ContentVersion string `json:"contentVersion"`
	Metadata       struct {
		Description string   `json:"description"`
		Comments    []string `json:"comments"`
	} `json:"metadata"`
	Parameters map[string]struct {
		Type         string            `json:"type"`
		DefaultValue string            `json:"defaultValue"`
		Metadata     map[string]string `json:"metadata"`
	} `json:"parameters"`
	Resources []struct {
		Type       string          `json:"type"`
		APIVersion string          `json:"apiVersion"`
		Name       string          `json:"name"`
		Properties json.RawMessage `json:"properties"`
	} `json:"resources"`
}

// roundTrip decodes b into v with the SDK's UnmarshalJSON, encodes it again
// with the SDK's MarshalJSON and compares the two documents. armnetwork's
// generated types have no json tags and their UnmarshalJSON skips unknown
// keys, so DisallowUnknownFields cannot see a misspelt property; a key the
// SDK does not know is lost on the way round and shows up in the diff. The
// rule collections and rules are polymorphic: the SDK picks the concrete
// type by ruleCollectionType and ruleType, so a wrong discriminator fails
// too.
func roundTrip(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode into %T: %v", v, err)
	}
	again, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var want, got any
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(again, &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%T does not hold the rendered JSON (-rendered +SDK round trip):\n%s", v, diff)
	}
}

// checkTemplate decodes the template strictly and its rule collection group
// into armnetwork's types, and checks names, priorities and enums.
func checkTemplate(t *testing.T, b []byte) *armnetwork.FirewallPolicyRuleCollectionGroupProperties {
	t.Helper()
	var tmpl template
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&tmpl); err != nil {
		t.Fatalf("strict decode: %v", err)
	}
	if len(tmpl.Resources) != 1 || tmpl.Resources[0].Type != "Microsoft.Network/firewallPolicies/ruleCollectionGroups" {
		t.Fatalf("resources = %+v", tmpl.Resources)
	}
	var props armnetwork.FirewallPolicyRuleCollectionGroupProperties
	roundTrip(t, tmpl.Resources[0].Properties, &props)
	prios := map[int32]bool{}
	for _, rc := range props.RuleCollections {
		c, ok := rc.(*armnetwork.FirewallPolicyFilterRuleCollection)
		if !ok {
			t.Fatalf("rule collection %T, want a filter collection", rc)
		}
		if prios[*c.Priority] || *c.Priority < 100 || *c.Priority > 65000 {
			t.Errorf("collection %s: priority %d not unique or out of 100-65000", *c.Name, *c.Priority)
		}
		prios[*c.Priority] = true
		if !slices.Contains(armnetwork.PossibleFirewallPolicyFilterRuleCollectionActionTypeValues(), *c.Action.Type) {
			t.Errorf("collection %s: action %s", *c.Name, *c.Action.Type)
		}
		names := map[string]bool{}
		for _, rr := range c.Rules {
			base := rr.GetFirewallPolicyRule()
			if n := *base.Name; len(n) > 80 || names[strings.ToLower(n)] {
				t.Errorf("rule name %q too long or not unique", n)
			}
			names[strings.ToLower(*base.Name)] = true
			switch r := rr.(type) {
			case *armnetwork.Rule:
				for _, p := range r.IPProtocols {
					if !slices.Contains(armnetwork.PossibleFirewallPolicyRuleNetworkProtocolValues(), *p) {
						t.Errorf("%s: protocol %s", *r.Name, *p)
					}
				}
				if len(r.DestinationAddresses) > 0 == (len(r.DestinationFqdns) > 0) {
					t.Errorf("%s: give destination addresses or FQDNs", *r.Name)
				}
			case *armnetwork.ApplicationRule:
				for _, p := range r.Protocols {
					if !slices.Contains(armnetwork.PossibleFirewallPolicyRuleApplicationProtocolTypeValues(), *p.ProtocolType) || *p.Port > 64000 {
						t.Errorf("%s: protocol %s:%d", *r.Name, *p.ProtocolType, *p.Port)
					}
				}
			default:
				t.Errorf("rule %T", rr)
			}
		}
	}
	return &props
}

// collections renders and returns the rule collections by name.
func collections(t *testing.T, example string, opt view.Options) map[string]*armnetwork.FirewallPolicyFilterRuleCollection {
	t.Helper()
	out, ds := azurefirewall.New().Render(testutil.Plan(t, testutil.ExamplePath(example), ""), opt)
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	props := checkTemplate(t, out.Files[azurefirewall.FileName])
	m := map[string]*armnetwork.FirewallPolicyFilterRuleCollection{}
	for _, rc := range props.RuleCollections {
		c := rc.(*armnetwork.FirewallPolicyFilterRuleCollection)
		m[*c.Name] = c
	}
	return m
}

func rule(c *armnetwork.FirewallPolicyFilterRuleCollection, name string) armnetwork.FirewallPolicyRuleClassification {
	if c == nil {
		return nil
	}
	for _, r := range c.Rules {
		if *r.GetFirewallPolicyRule().Name == name {
			return r
		}
	}
	return nil
}

func strs(ps []*string) []string {
	var out []string
	for _, p := range ps {
		out = append(out, *p)
	}
	return out
}

func TestWildcardApplicationRule(t *testing.T) {
	cols := collections(t, "teamspro", view.Options{})
	r, ok := rule(cols["teamsgate-allow-application"], "teamspro-saas.apps").(*armnetwork.ApplicationRule)
	if !ok {
		t.Fatal("no application rule teamspro-saas.apps")
	}
	if diff := cmp.Diff([]string{"*.teams-pro.com"}, strs(r.TargetFqdns)); diff != "" {
		t.Errorf("targetFqdns (-want +got):\n%s", diff)
	}
	if len(r.Protocols) != 1 || *r.Protocols[0].ProtocolType != armnetwork.FirewallPolicyRuleApplicationProtocolTypeHTTPS || *r.Protocols[0].Port != 443 {
		t.Errorf("protocols = %+v, want Https:443", r.Protocols)
	}
	if diff := cmp.Diff([]string{"192.0.2.128/25"}, strs(r.SourceAddresses)); diff != "" {
		t.Errorf("sourceAddresses (-want +got):\n%s", diff)
	}
}

func TestHTTPAndHTTPS(t *testing.T) {
	cols := collections(t, "calling-bot", view.Options{ServiceTags: loadTags(t, smallTags)})
	// M365 set 12 lists addresses and names on TCP 80 and 443: a network
	// rule for the addresses, an application rule for the names.
	app, ok := rule(cols["teamsgate-allow-application"], "teams-calling-bot.out.m365.set12-tcp.app").(*armnetwork.ApplicationRule)
	if !ok {
		t.Fatal("no application rule for set 12")
	}
	var got []string
	for _, p := range app.Protocols {
		got = append(got, fmt.Sprintf("%s:%d", *p.ProtocolType, *p.Port))
	}
	if diff := cmp.Diff([]string{"Http:80", "Https:443"}, got); diff != "" {
		t.Errorf("protocols (-want +got):\n%s", diff)
	}
	if _, ok := rule(cols["teamsgate-allow-network"], "teams-calling-bot.out.m365.set12-tcp.net").(*armnetwork.Rule); !ok {
		t.Error("no network rule for the addresses of set 12")
	}
}

func TestServiceTags(t *testing.T) {
	// Without data, the source tag AzureCloud cannot be expressed.
	_, ds := azurefirewall.New().Render(testutil.Plan(t, testutil.ExamplePath("calling-bot"), ""), view.Options{})
	if !ds.HasErrors() || !strings.Contains(ds.Err().Error(), "teams-calling-bot.in.signaling") || !strings.Contains(ds.Err().Error(), "AzureCloud") {
		t.Fatalf("want an error naming the flow and the tag, got %v", ds)
	}
	cols := collections(t, "calling-bot", view.Options{ServiceTags: loadTags(t, smallTags)})
	r, ok := rule(cols["teamsgate-allow-network"], "teams-calling-bot.in.signaling").(*armnetwork.Rule)
	if !ok {
		t.Fatal("no network rule teams-calling-bot.in.signaling")
	}
	if diff := cmp.Diff([]string{"198.18.128.0/17", "198.19.0.0/16", "2001:db8:a2c::/48"}, strs(r.SourceAddresses)); diff != "" {
		t.Errorf("source (-want +got):\n%s", diff)
	}
}

func TestDestinationServiceTagKept(t *testing.T) {
	p := testutil.Plan(t, testutil.ExamplePath("teamspro"), "")
	r := &p.Rules[0]
	r.Destination.Hosts, r.Destination.ServiceTags = nil, []string{"AzureCloud"}
	out, ds := azurefirewall.New().Render(p, view.Options{})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	props := checkTemplate(t, out.Files[azurefirewall.FileName])
	c := props.RuleCollections[0].(*armnetwork.FirewallPolicyFilterRuleCollection)
	nr, ok := rule(c, r.ID).(*armnetwork.Rule)
	if !ok || !slices.Equal(strs(nr.DestinationAddresses), []string{"AzureCloud"}) {
		t.Errorf("the destination tag is not kept as a tag: %+v", nr)
	}
}

func TestRealServiceTags(t *testing.T) {
	data := loadTags(t, "testdata/data/ServiceTags_Public.changeNumber398.json.gz")
	cols := collections(t, "calling-bot", view.Options{Scope: "bot", ServiceTags: data})
	r := rule(cols["teamsgate-allow-network"], "teams-calling-bot.in.signaling").(*armnetwork.Rule)
	if n := len(r.SourceAddresses); n < 3000 {
		t.Errorf("AzureCloud expanded to %d prefixes, want the thousands the file holds", n)
	}
}

func TestDenyCollectionFirst(t *testing.T) {
	cols := collections(t, "combined", view.Options{Scope: "teams-connector-instances"})
	deny := cols["teamsgate-deny-network"]
	if deny == nil || *deny.Action.Type != armnetwork.FirewallPolicyFilterRuleCollectionActionTypeDeny {
		t.Fatal("no Deny network collection")
	}
	if *deny.Priority >= *cols["teamsgate-allow-network"].Priority {
		t.Errorf("deny collection priority %d is not before the allow collection's %d", *deny.Priority, *cols["teamsgate-allow-network"].Priority)
	}
	r, ok := rule(deny, "pexip-teams-connector.rdp-deny").(*armnetwork.Rule)
	if !ok || strs(r.DestinationPorts)[0] != "3389" {
		t.Errorf("RDP deny missing or wrong: %+v", r)
	}
}

func TestWildcardOnOtherPortIsAnError(t *testing.T) {
	p := testutil.Plan(t, testutil.ExamplePath("teamspro"), "")
	p.Rules[0].Proto = 17 // UDP
	_, ds := azurefirewall.New().Render(p, view.Options{})
	if !ds.HasErrors() || !strings.Contains(ds.Err().Error(), p.Rules[0].ID) || !strings.Contains(ds.Err().Error(), "wildcard") {
		t.Errorf("want an error naming the flow, got %v", ds)
	}
}
