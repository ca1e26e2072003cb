package azurensg_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v7"
	"github.com/google/go-cmp/cmp"

	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/render"
	"github.com/teamsgate/teamsgate/internal/render/azurensg"
	"github.com/teamsgate/teamsgate/internal/testutil"
	"github.com/teamsgate/teamsgate/internal/view"
)

// proxy is the egress proxy the golden renders send host-name flows to.
var proxy = netip.MustParseAddrPort("192.0.2.3:3128")

// goldenCase is one render of an example spec; its files are compared with
// testdata/EXAMPLE.VARIANT/.
type goldenCase struct {
	example string
	variant string
	scope   string
	fqdn    view.FQDNMode
	wantErr bool
}

var goldenCases = []goldenCase{
	{example: "messaging-bot", variant: "default", wantErr: true},
	{example: "messaging-bot", variant: "perimeter", fqdn: view.FQDNViaProxy},
	{example: "messaging-bot", variant: "bot", scope: "bot", fqdn: view.FQDNSkip},
	{example: "calling-bot", variant: "perimeter", fqdn: view.FQDNViaProxy},
	{example: "calling-bot", variant: "bot", scope: "bot", fqdn: view.FQDNSkip},
	{example: "pexip", variant: "perimeter", fqdn: view.FQDNSkip},
	{example: "pexip", variant: "teams-connector-instances", scope: "teams-connector-instances", fqdn: view.FQDNViaProxy},
	{example: "teamspro", variant: "clients", scope: "clients", fqdn: view.FQDNViaProxy},
	{example: "combined", variant: "perimeter", fqdn: view.FQDNViaProxy},
	{example: "combined", variant: "teams-connector-instances", scope: "teams-connector-instances", fqdn: view.FQDNSkip},
}

func (c goldenCase) options() view.Options {
	opt := view.Options{Scope: c.scope, FQDN: c.fqdn}
	if c.fqdn == view.FQDNViaProxy {
		opt.Proxy = proxy
	}
	return opt
}

func TestGolden(t *testing.T) {
	covered := map[string]bool{}
	for _, c := range goldenCases {
		covered[c.example] = true
		t.Run(c.example+"/"+c.variant, func(t *testing.T) {
			dir := filepath.Join("testdata", c.example+"."+c.variant)
			out, ds := azurensg.New().Render(testutil.Plan(t, testutil.ExamplePath(c.example), ""), c.options())
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
			if got := slices.Sorted(maps.Keys(out.Files)); !slices.Equal(got, []string{azurensg.TemplateFile, azurensg.ScriptFile}) {
				t.Fatalf("files = %v", got)
			}
			for name, b := range out.Files {
				testutil.Golden(t, filepath.Join(dir, name), b)
			}
			again, _ := azurensg.New().Render(testutil.Plan(t, testutil.ExamplePath(c.example), ""), c.options())
			for name, b := range out.Files {
				if !bytes.Equal(b, again.Files[name]) {
					t.Errorf("%s: rendering twice gave different output", name)
				}
			}
			checkTemplate(t, out.Files[azurensg.TemplateFile])
			checkScriptMatchesTemplate(t, out.Files[azurensg.TemplateFile], out.Files[azurensg.ScriptFile])
		})
	}
	for _, ex := range testutil.Examples() {
		if !covered[ex] {
			t.Errorf("example %s has no golden render", ex)
		}
	}
}

// template is the strict outer shape of the rendered ARM template. The
// security rules inside are checked against armnetwork's types.
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
		Location   string          `json:"location"`
		Properties json.RawMessage `json:"properties"`
	} `json:"resources"`
}

func strictDecode(t *testing.T, b []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("strict decode into %T: %v", v, err)
	}
}

// roundTrip decodes b into v with the SDK's UnmarshalJSON, encodes it again
// with the SDK's MarshalJSON and compares the two documents. armnetwork's
// generated types have no json tags and their UnmarshalJSON skips unknown
// keys, so DisallowUnknownFields cannot see a misspelt property; a key the
// SDK does not know is lost on the way round and shows up in the diff.
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

// checkTemplate decodes the template strictly and each rule into
// armnetwork.SecurityRule, and checks the NSG rules' constraints.
func checkTemplate(t *testing.T, b []byte) {
	t.Helper()
	var tmpl template
	strictDecode(t, b, &tmpl)
	if len(tmpl.Resources) != 1 || tmpl.Resources[0].Type != "Microsoft.Network/networkSecurityGroups" {
		t.Fatalf("resources = %+v", tmpl.Resources)
	}
	var props armnetwork.SecurityGroupPropertiesFormat
	roundTrip(t, tmpl.Resources[0].Properties, &props)
	var raw struct {
		SecurityRules []json.RawMessage `json:"securityRules"`
	}
	strictDecode(t, tmpl.Resources[0].Properties, &raw)
	prios := map[string]bool{}
	names := map[string]bool{}
	for _, rr := range raw.SecurityRules {
		var r armnetwork.SecurityRule
		roundTrip(t, rr, &r)
		p := r.Properties
		name := *r.Name
		if len(name) > 80 || names[strings.ToLower(name)] {
			t.Errorf("rule name %q too long or not unique", name)
		}
		names[strings.ToLower(name)] = true
		if !slices.Contains(armnetwork.PossibleSecurityRuleProtocolValues(), *p.Protocol) ||
			!slices.Contains(armnetwork.PossibleSecurityRuleAccessValues(), *p.Access) ||
			!slices.Contains(armnetwork.PossibleSecurityRuleDirectionValues(), *p.Direction) {
			t.Errorf("%s: protocol %s, access %s, direction %s", name, *p.Protocol, *p.Access, *p.Direction)
		}
		key := fmt.Sprintf("%s/%d", *p.Direction, *p.Priority)
		if *p.Priority < 100 || *p.Priority > 4096 || prios[key] {
			t.Errorf("%s: priority %d out of range or not unique in its direction", name, *p.Priority)
		}
		prios[key] = true
		if p.Description == nil || len([]rune(*p.Description)) > 140 {
			t.Errorf("%s: description missing or longer than 140 characters", name)
		}
		for _, pair := range [][2]any{
			{p.SourceAddressPrefix, p.SourceAddressPrefixes}, {p.DestinationAddressPrefix, p.DestinationAddressPrefixes},
			{p.SourcePortRange, p.SourcePortRanges}, {p.DestinationPortRange, p.DestinationPortRanges},
		} {
			single := pair[0].(*string) != nil
			plural := len(pair[1].([]*string)) > 0
			if single == plural {
				t.Errorf("%s: give exactly one of the singular and plural property", name)
			}
		}
		fams := map[bool]bool{}
		for _, a := range append(append([]*string(nil), p.SourceAddressPrefixes...), p.DestinationAddressPrefixes...) {
			fams[netip.MustParsePrefix(*a).Addr().Is4()] = true
		}
		if len(fams) > 1 {
			t.Errorf("%s mixes IPv4 and IPv6 prefixes", name)
		}
	}
}

// checkScriptMatchesTemplate checks that the az script creates the same
// rules as the template, by name, priority and direction, the default
// denies last.
func checkScriptMatchesTemplate(t *testing.T, tmpl, script []byte) {
	t.Helper()
	var tm struct {
		Resources []struct {
			Properties struct {
				SecurityRules []struct {
					Name       string
					Properties struct {
						Priority  int
						Direction string
					}
				}
			}
		}
	}
	if err := json.Unmarshal(tmpl, &tm); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, r := range tm.Resources[0].Properties.SecurityRules {
		want = append(want, fmt.Sprintf("--name '%s' --priority %d --direction %s", r.Name, r.Properties.Priority, r.Properties.Direction))
	}
	var got []string
	lines := strings.Split(string(script), "\n")
	for i, l := range lines {
		if _, rest, ok := strings.Cut(l, `--nsg-name "$nsg" `); ok {
			prio := strings.Fields(lines[i+1])
			got = append(got, fmt.Sprintf("%s --priority %s --direction %s", strings.TrimSuffix(rest, ` \`), prio[1], prio[3]))
		}
	}
	// The script creates the default denies last, after every other rule.
	for i, g := range got {
		if deny := strings.Contains(g, "'teamsgate-deny-all-"); deny != (i >= len(got)-2) {
			t.Errorf("script rule %d of %d: %s: the default denies go last", i+1, len(got), g)
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("script and template differ (-template +script):\n%s", diff)
	}
	if !bytes.HasPrefix(script, []byte("#!/usr/bin/env bash\n")) || !bytes.Contains(script, []byte("set -euo pipefail")) {
		t.Error("script lacks its shebang or set -euo pipefail")
	}
}

// rules returns the template's rules as armnetwork values.
func rules(t *testing.T, out render.Output) []*armnetwork.SecurityRule {
	t.Helper()
	var tm struct {
		Resources []struct {
			Properties armnetwork.SecurityGroupPropertiesFormat
		}
	}
	if err := json.Unmarshal(out.Files[azurensg.TemplateFile], &tm); err != nil {
		t.Fatal(err)
	}
	return tm.Resources[0].Properties.SecurityRules
}

func find(rs []*armnetwork.SecurityRule, name string) *armnetwork.SecurityRule {
	for _, r := range rs {
		if *r.Name == name {
			return r
		}
	}
	return nil
}

func TestFQDNFlowsAreAnErrorByDefault(t *testing.T) {
	_, ds := azurensg.New().Render(testutil.Plan(t, testutil.ExamplePath("teamspro"), ""), view.Options{})
	if !ds.HasErrors() {
		t.Fatal("no error")
	}
	msg := ds.Err().Error()
	for _, want := range []string{"teamspro-saas.apps (*.teams-pro.com)", "azure-firewall", "--fqdn-via-proxy"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
}

func TestServiceTagKept(t *testing.T) {
	out, ds := azurensg.New().Render(testutil.Plan(t, testutil.ExamplePath("calling-bot"), ""), view.Options{Scope: "bot", FQDN: view.FQDNSkip})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	r := find(rules(t, out), "teams-calling-bot.in.signaling")
	if r == nil {
		t.Fatal("no rule teams-calling-bot.in.signaling")
	}
	if got := *r.Properties.SourceAddressPrefix; got != "AzureCloud" {
		t.Errorf("source = %q, want the service tag AzureCloud", got)
	}
}

func TestRDPRuleAtPriority1000(t *testing.T) {
	for _, c := range []struct {
		example, flow, access string
	}{
		{example: "pexip", flow: "pexip-teams-connector.mgmt-to-instance.rdp", access: "Allow"},
		{example: "combined", flow: "pexip-teams-connector.rdp-deny", access: "Deny"},
	} {
		t.Run(c.example, func(t *testing.T) {
			out, ds := azurensg.New().Render(testutil.Plan(t, testutil.ExamplePath(c.example), ""),
				view.Options{Scope: "teams-connector-instances", FQDN: view.FQDNSkip})
			if ds.HasErrors() {
				t.Fatal(ds)
			}
			r := find(rules(t, out), c.flow)
			if r == nil {
				t.Fatalf("no rule %s", c.flow)
			}
			if *r.Properties.Priority != 1000 || string(*r.Properties.Access) != c.access || string(*r.Properties.Direction) != "Inbound" {
				t.Errorf("priority %d access %s direction %s, want 1000 %s Inbound", *r.Properties.Priority, *r.Properties.Access, *r.Properties.Direction, c.access)
			}
		})
	}
}

// TestPriorityHint: the pin comes from the catalog's hint, not from flow
// ids; a hint the target cannot honour is an error naming the flow.
func TestPriorityHint(t *testing.T) {
	p := testutil.Plan(t, testutil.ExamplePath("pexip"), "")
	for i := range p.Rules {
		if p.Rules[i].ID == "pexip-teams-connector.mgmt-to-instance.rdp" {
			p.Rules[i].Hints = map[string]string{azurensg.HintPriority: "900"}
		}
	}
	_, ds := azurensg.New().Render(p, view.Options{Scope: "teams-connector-instances", FQDN: view.FQDNSkip})
	if !strings.Contains(ds.String(), `pexip-teams-connector.mgmt-to-instance.rdp: azure-nsg: catalog hint azure-nsg-priority "900": only 1000`) {
		t.Errorf("diagnostics: %s", ds)
	}
	for i := range p.Rules {
		p.Rules[i].Hints = nil
	}
	out, ds := azurensg.New().Render(p, view.Options{Scope: "teams-connector-instances", FQDN: view.FQDNSkip})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	if r := find(rules(t, out), "pexip-teams-connector.mgmt-to-instance.rdp"); r == nil || *r.Properties.Priority == 1000 {
		t.Errorf("without the hint the RDP rule must not be pinned")
	}
}

func TestDefaultDenyLast(t *testing.T) {
	out, ds := azurensg.New().Render(testutil.Plan(t, testutil.ExamplePath("pexip"), ""), view.Options{FQDN: view.FQDNSkip})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	for _, dir := range []string{"inbound", "outbound"} {
		r := find(rules(t, out), "teamsgate-deny-all-"+dir)
		if r == nil || *r.Properties.Priority != 4096 || *r.Properties.Access != armnetwork.SecurityRuleAccessDeny {
			t.Errorf("%s default deny missing or wrong: %+v", dir, r)
		}
	}
}

// testPlan is a plan of n inbound TCP rules from 192.0.2.0/24 to the role
// "bot", each with the given number of source prefixes.
func testPlan(n, prefixes int) *model.Plan {
	p := &model.Plan{CatalogVersion: "test", Cloud: model.CloudWorldwide, Integrations: []string{"test"}}
	bot := model.Target{Role: "bot", Prefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.10/32")}}
	for i := range n {
		var src []netip.Prefix
		for j := range prefixes {
			src = append(src, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(j >> 8), byte(j), 0}), 24))
		}
		p.Rules = append(p.Rules, model.Rule{
			ID: fmt.Sprintf("test.flow-%03d", i), FlowID: fmt.Sprintf("test.flow-%03d", i), Integration: "test",
			Proto: model.ProtoTCP, Source: model.Target{Prefixes: src}, SourcePorts: model.EphemeralPorts(),
			Destination: bot, DestPorts: model.NewPortSet(model.Port(uint16(1000 + i))), Purpose: "test",
		})
	}
	return p
}

func TestTooManyRulesNamesTheFlow(t *testing.T) {
	// Priorities 100, 110, … 4090 hold 400 rules before the default deny.
	if _, ds := azurensg.New().Render(testPlan(400, 1), view.Options{}); ds.HasErrors() {
		t.Fatalf("400 rules should fit: %s", ds)
	}
	_, ds := azurensg.New().Render(testPlan(401, 1), view.Options{})
	if !ds.HasErrors() {
		t.Fatal("401 inbound rules accepted, want an error")
	}
	msg := ds.Err().Error()
	if !strings.Contains(msg, "test.flow-400") || !strings.Contains(msg, "--scope") {
		t.Errorf("error does not name the flow that does not fit:\n%s", msg)
	}
}

func TestTooManyPrefixesNamesTheFlow(t *testing.T) {
	_, ds := azurensg.New().Render(testPlan(3, 1500), view.Options{})
	if !ds.HasErrors() {
		t.Fatal("4500 source prefixes accepted")
	}
	if msg := ds.Err().Error(); !strings.Contains(msg, "test.flow-002") || !strings.Contains(msg, "4000 source addresses") {
		t.Errorf("error does not name the flow that passes the limit:\n%s", msg)
	}
}

func TestMixedFamiliesSplit(t *testing.T) {
	p := testPlan(1, 1)
	r := &p.Rules[0]
	r.Required = true
	r.Source.Prefixes = append(r.Source.Prefixes, netip.MustParsePrefix("2001:db8::/32"))
	r.Destination.Prefixes = append(r.Destination.Prefixes, netip.MustParsePrefix("2001:db8:1::1/128"))
	out, ds := azurensg.New().Render(p, view.Options{})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	var names []string
	for _, r := range rules(t, out) {
		names = append(names, *r.Name)
	}
	want := []string{
		"test.flow-000.from-ipv4.to-ipv4", "test.flow-000.from-ipv6.to-ipv6", "teamsgate-deny-all-inbound", "teamsgate-deny-all-outbound",
	}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}

	// A rule whose sides share no family cannot be expressed.
	r.Source.Prefixes = r.Source.Prefixes[1:]
	r.Destination.Prefixes = r.Destination.Prefixes[:1]
	_, ds = azurensg.New().Render(p, view.Options{})
	if !ds.HasErrors() || !strings.Contains(ds.Err().Error(), "test.flow-000") {
		t.Errorf("IPv6 source to IPv4 destination: %v", ds)
	}
}

func TestNamesAndDescriptionsFitLimits(t *testing.T) {
	p := testPlan(1, 1)
	p.Rules[0].ID = "test." + strings.Repeat("very-long-flow-name.", 6) + "with spaces & symbols"
	p.Rules[0].Purpose = strings.Repeat("a purpose that goes on ", 10)
	out, ds := azurensg.New().Render(p, view.Options{})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	checkTemplate(t, out.Files[azurensg.TemplateFile])
	r := rules(t, out)[0]
	if n := *r.Name; len(n) != 80 || strings.ContainsAny(n, " &") {
		t.Errorf("name %q (%d characters)", n, len(n))
	}
	if d := *r.Properties.Description; len(d) != 140 || !strings.HasSuffix(d, "...") {
		t.Errorf("description %q (%d characters)", d, len(d))
	}
}

func TestRenderWritesNothingOnError(t *testing.T) {
	out, ds := azurensg.New().Render(testPlan(401, 1), view.Options{})
	if !ds.HasErrors() || out.Files != nil {
		t.Errorf("%d files with errors %v", len(out.Files), ds.HasErrors())
	}
}
