package awssg_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/google/go-cmp/cmp"

	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/render"
	"github.com/teamsgate/teamsgate/internal/render/awssg"
	"github.com/teamsgate/teamsgate/internal/servicetag"
	"github.com/teamsgate/teamsgate/internal/testutil"
	"github.com/teamsgate/teamsgate/internal/view"
)

var proxy = netip.MustParseAddrPort("192.0.2.3:3128")

// goldenCase is one render of an example spec, or of a variant of it in
// testdata/specs/; its files are compared with testdata/NAME.VARIANT/,
// NAME being the spec's.
type goldenCase struct {
	example string
	spec    string // a spec of testdata/specs/ standing in for the example
	variant string
	scope   string
	fqdn    view.FQDNMode
	wantErr bool
}

// pexipBound is examples/pexip.yaml with the OCSP responders and Windows
// Update servers bound: a security group cannot hold the public Internet,
// their default.
const pexipBound = "pexip-bound"

var goldenCases = []goldenCase{
	{example: "messaging-bot", variant: "default", wantErr: true},
	{example: "messaging-bot", variant: "bot", scope: "bot", fqdn: view.FQDNViaProxy},
	{example: "calling-bot", variant: "default", wantErr: true},
	{example: "pexip", variant: "default", fqdn: view.FQDNSkip, wantErr: true},
	{example: "pexip", spec: pexipBound, variant: "perimeter", fqdn: view.FQDNSkip},
	{example: "pexip", spec: pexipBound, variant: "teams-connector-instances", scope: "teams-connector-instances", fqdn: view.FQDNViaProxy},
	{example: "teamspro", variant: "clients", scope: "clients", fqdn: view.FQDNViaProxy},
	{example: "combined", variant: "teams-connector-instances", scope: "teams-connector-instances", fqdn: view.FQDNSkip, wantErr: true},
	{example: "combined", variant: "messaging-bot", scope: "teams-messaging-bot/bot", fqdn: view.FQDNViaProxy},
}

// name is the golden directory's prefix: the spec's name.
func (c goldenCase) name() string {
	if c.spec != "" {
		return c.spec
	}
	return c.example
}

// path is the spec file the case renders.
func (c goldenCase) path() string {
	if c.spec != "" {
		return specPath(c.spec)
	}
	return testutil.ExamplePath(c.example)
}

// specPath is the path of a spec of testdata/specs/.
func specPath(name string) string { return filepath.Join("testdata", "specs", name+".yaml") }

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
		t.Run(c.name()+"/"+c.variant, func(t *testing.T) {
			dir := filepath.Join("testdata", c.name()+"."+c.variant)
			out, ds := awssg.New().Render(testutil.Plan(t, c.path(), ""), c.options())
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
			for name, b := range out.Files {
				testutil.Golden(t, filepath.Join(dir, name), b)
				if name != awssg.ScriptFile {
					checkInput(t, name, b)
				}
			}
			again, _ := awssg.New().Render(testutil.Plan(t, c.path(), ""), c.options())
			for name, b := range out.Files {
				if !bytes.Equal(b, again.Files[name]) {
					t.Errorf("%s: rendering twice gave different output", name)
				}
			}
			checkScript(t, out)
		})
	}
	for _, ex := range testutil.Examples() {
		if !covered[ex] {
			t.Errorf("example %s has no golden render", ex)
		}
	}
}

// checkInput decodes a rendered file strictly into the SDK's input type.
// The SDK's types have no json tags: encoding/json matches their field
// names case-insensitively, so after the strict decode the test encodes the
// value again and compares, which also catches a key in the wrong case.
func checkInput(t *testing.T, name string, b []byte) []types.IpPermission {
	t.Helper()
	var v any
	var perms *[]types.IpPermission
	if strings.HasSuffix(name, "ingress.json") {
		in := &ec2.AuthorizeSecurityGroupIngressInput{}
		v, perms = in, &in.IpPermissions
	} else {
		in := &ec2.AuthorizeSecurityGroupEgressInput{}
		v, perms = in, &in.IpPermissions
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: strict decode into %T: %v", name, v, err)
	}
	again, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var want, got any
	json.Unmarshal(b, &want)
	json.Unmarshal(again, &got)
	if diff := cmp.Diff(want, prune(got)); diff != "" {
		t.Errorf("%s: %T does not hold the rendered JSON (-rendered +SDK):\n%s", name, v, diff)
	}
	for _, p := range *perms {
		if p.IpProtocol == nil {
			t.Errorf("%s: permission without IpProtocol", name)
			continue
		}
		for _, r := range p.IpRanges {
			if r.Description == nil || len(*r.Description) > 255 {
				t.Errorf("%s: %s: description missing or too long", name, *r.CidrIp)
			}
		}
		for _, r := range p.Ipv6Ranges {
			if r.Description == nil || len(*r.Description) > 255 {
				t.Errorf("%s: %s: description missing or too long", name, *r.CidrIpv6)
			}
		}
	}
	return *perms
}

// prune drops the null and empty values that encoding SDK structs adds.
func prune(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			e = prune(e)
			if e == nil {
				continue
			}
			if l, ok := e.([]any); ok && len(l) == 0 {
				continue
			}
			out[k] = e
		}
		return out
	case []any:
		out := []any{}
		for _, e := range x {
			out = append(out, prune(e))
		}
		return out
	}
	return v
}

// checkScript checks that apply.sh uses every JSON file once.
func checkScript(t *testing.T, out render.Output) {
	t.Helper()
	script := string(out.Files[awssg.ScriptFile])
	for name := range out.Files {
		if name == awssg.ScriptFile {
			continue
		}
		if n := strings.Count(script, `"file://$here/`+name+`"`+"\n"); n != 1 {
			t.Errorf("apply.sh uses %s %d times", name, n)
		}
	}
}

func permissions(t *testing.T, out render.Output, name string) []types.IpPermission {
	t.Helper()
	b, ok := out.Files[name]
	if !ok {
		t.Fatalf("no file %s", name)
	}
	return checkInput(t, name, b)
}

func TestPerimeterOneGroupPerRole(t *testing.T) {
	out, ds := awssg.New().Render(testutil.Plan(t, specPath(pexipBound), ""), view.Options{FQDN: view.FQDNSkip})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	var names []string
	for name := range out.Files {
		names = append(names, name)
	}
	slices.Sort(names)
	want := []string{
		"apply.sh",
		"pexip-teams-connector.conferencing-nodes.egress.json",
		"pexip-teams-connector.conferencing-nodes.ingress.json",
		"pexip-teams-connector.management.egress.json",
		// Roles bound to addresses are machines of the deployment, with a
		// group each: the OCSP responders and update servers of
		// testdata/specs/pexip-bound.yaml too.
		"pexip-teams-connector.ocsp-responder.ingress.json",
		"pexip-teams-connector.teams-connector-instances.egress.json",
		"pexip-teams-connector.teams-connector-instances.ingress.json",
		"pexip-teams-connector.teams-connector-lb.ingress.json",
		"pexip-teams-connector.windows-update.ingress.json",
	}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
}

func TestPermissionShape(t *testing.T) {
	out, ds := awssg.New().Render(testutil.Plan(t, specPath(pexipBound), ""), view.Options{Scope: "teams-connector-instances", FQDN: view.FQDNSkip})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	var got []string
	for _, p := range permissions(t, out, "ingress.json") {
		for _, r := range p.IpRanges {
			got = append(got, fmt.Sprintf("%s %d-%d %s %s", *p.IpProtocol, *p.FromPort, *p.ToPort, *r.CidrIp, *r.Description))
		}
	}
	for _, want := range []string{
		"tcp 443-443 203.0.113.10/32 teamsgate pexip-teams-connector.cn-to-instance.signaling",
		"udp 50000-54999 203.0.113.11/32 teamsgate pexip-teams-connector.cn-to-instance.media",
		"tcp 3389-3389 192.0.2.0/28 teamsgate pexip-teams-connector.mgmt-to-instance.rdp",
		"udp 55000-59999 52.112.0.0/14 teamsgate pexip-teams-connector.teams-to-instance.media",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("no rule %q in\n%s", want, strings.Join(got, "\n"))
		}
	}
	if !slices.ContainsFunc(out.Warnings, func(w string) bool {
		return strings.Contains(w, "pexip-teams-connector.cn-to-instance.signaling: source ports 33000-39999 widened")
	}) {
		t.Errorf("no warning about the source ports a security group cannot match: %q", out.Warnings)
	}
}

func TestDenyLeftToDefault(t *testing.T) {
	// No management addresses: the plan denies RDP to the instances.
	p := testutil.PlanBytes(t, "cloud: worldwide\nintegrations:\n  pexip-teams-connector:\n    roles:\n      conferencing-nodes: { addresses: [203.0.113.10] }\n      teams-connector-lb: { addresses: [198.51.100.40] }\n      teams-connector-instances: { addresses: [198.51.100.64/28] }\n      ocsp-responder: { addresses: [192.0.2.80] }\n      windows-update: { addresses: [203.0.113.128/26] }\n", "")
	out, ds := awssg.New().Render(p, view.Options{Scope: "teams-connector-instances", FQDN: view.FQDNSkip})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	for _, p := range permissions(t, out, "ingress.json") {
		if *p.FromPort == 3389 {
			t.Errorf("RDP rule rendered for an allow-only target: %+v", p)
		}
	}
	if !slices.ContainsFunc(out.Warnings, func(w string) bool { return strings.HasPrefix(w, "pexip-teams-connector.rdp-deny: ") }) {
		t.Errorf("the dropped deny is not reported: %q", out.Warnings)
	}
}

func TestServiceTagsOverQuota(t *testing.T) {
	data, ds := servicetag.ParseFile(filepath.Join(testutil.Root(), "testdata", "data", "ServiceTags_Public.changeNumber398.json.gz"))
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	_, ds = awssg.New().Render(testutil.Plan(t, testutil.ExamplePath("calling-bot"), ""), view.Options{Scope: "bot", FQDN: view.FQDNSkip, ServiceTags: data})
	if !ds.HasErrors() {
		t.Fatal("AzureCloud's thousands of prefixes fitted 60 rules")
	}
	msg := ds.Err().Error()
	for _, want := range []string{"teams-calling-bot.in.signaling", "inbound IPv4 rules", "more than the 60"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
}

func TestQuotaBoundary(t *testing.T) {
	// plan has n /24 ranges on the far side of an inbound or outbound flow
	// of the role "bot".
	plan := func(n int, out bool) *model.Plan {
		p := &model.Plan{CatalogVersion: "test", Cloud: model.CloudWorldwide, Integrations: []string{"test"}}
		var far []netip.Prefix
		for i := range n {
			far = append(far, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(i), 0}), 24))
		}
		r := model.Rule{
			ID: "test.flow", FlowID: "test.flow", Integration: "test", Proto: model.ProtoTCP, Purpose: "test",
			Source: model.Target{Prefixes: far}, SourcePorts: model.EphemeralPorts(),
			Destination: model.Target{Role: "bot", Prefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.10/32")}},
			DestPorts:   model.NewPortSet(model.Port(443)),
		}
		if out {
			r.Source, r.Destination = r.Destination, r.Source
		}
		p.Rules = []model.Rule{r}
		return p
	}
	for _, c := range []struct {
		name string
		out  bool
		fits int
		want string
	}{
		{name: "inbound", fits: 60, want: "needs 61 inbound IPv4 rules, more than the 60"},
		// apply.sh authorizes the egress rules beside AWS's default
		// egress rule, which counts against the quota.
		{name: "outbound", out: true, fits: 59, want: "needs 60 outbound IPv4 rules, 61 with AWS's default allow-all egress rule"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, ds := awssg.New().Render(plan(c.fits, c.out), view.Options{}); ds.HasErrors() {
				t.Errorf("%d rules: %v", c.fits, ds)
			}
			_, ds := awssg.New().Render(plan(c.fits+1, c.out), view.Options{})
			if !ds.HasErrors() || !strings.Contains(ds.Err().Error(), "test.flow") || !strings.Contains(ds.Err().Error(), c.want) {
				t.Errorf("%d rules: %v", c.fits+1, ds)
			}
		})
	}
}

func TestFQDNFlowsAreAnErrorByDefault(t *testing.T) {
	_, ds := awssg.New().Render(testutil.Plan(t, testutil.ExamplePath("messaging-bot"), ""), view.Options{})
	if !ds.HasErrors() || !strings.Contains(ds.Err().Error(), "teams-messaging-bot.out.login (login.microsoftonline.com)") {
		t.Errorf("want the FQDN error, got %v", ds)
	}
}
