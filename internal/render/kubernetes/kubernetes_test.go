package kubernetes_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/netip"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/render"
	"github.com/teamsgate/teamsgate/internal/render/kubernetes"
	"github.com/teamsgate/teamsgate/internal/servicetag"
	"github.com/teamsgate/teamsgate/internal/testutil"
	"github.com/teamsgate/teamsgate/internal/view"
)

var proxy = netip.MustParseAddrPort("192.0.2.3:3128")

// smallTags is a small service-tags file for goldens; the real one is used
// in TestRealServiceTags.
const smallTags = "internal/render/kubernetes/testdata/servicetags.json"

// goldenCase is one render of an example spec; its files are compared with
// testdata/EXAMPLE.VARIANT/.
type goldenCase struct {
	example string
	variant string
	scope   string
	fqdn    view.FQDNMode
	tags    bool
	wantErr bool
}

var goldenCases = []goldenCase{
	{example: "messaging-bot", variant: "perimeter"},
	{example: "messaging-bot", variant: "via-proxy", fqdn: view.FQDNViaProxy},
	{example: "calling-bot", variant: "default", wantErr: true},
	{example: "calling-bot", variant: "bot", scope: "bot", tags: true},
	{example: "pexip", variant: "perimeter"},
	{example: "pexip", variant: "teams-connector-instances", scope: "teams-connector-instances", fqdn: view.FQDNSkip},
	{example: "teamspro", variant: "perimeter"},
	{example: "combined", variant: "perimeter", tags: true},
}

func (c goldenCase) options(t *testing.T) view.Options {
	opt := view.Options{Scope: c.scope, FQDN: c.fqdn}
	if c.fqdn == view.FQDNViaProxy {
		opt.Proxy = proxy
	}
	if c.tags {
		opt.ServiceTags = loadTags(t, smallTags)
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
			out, ds := kubernetes.New().Render(testutil.Plan(t, testutil.ExamplePath(c.example), ""), c.options(t))
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
			}
			again, _ := kubernetes.New().Render(testutil.Plan(t, testutil.ExamplePath(c.example), ""), c.options(t))
			for name, b := range out.Files {
				if !bytes.Equal(b, again.Files[name]) {
					t.Errorf("%s: rendering twice gave different output", name)
				}
			}
			networkPolicies(t, out)
			ciliumPolicies(t, out)
		})
	}
	for _, ex := range testutil.Examples() {
		if !covered[ex] {
			t.Errorf("example %s has no golden render", ex)
		}
	}
}

// docs splits a YAML stream and converts each document to JSON.
func docs(t *testing.T, b []byte) [][]byte {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var out [][]byte
	for {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("YAML: %v", err)
		}
		if v == nil {
			continue
		}
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("YAML document is not JSON-compatible: %v", err)
		}
		out = append(out, j)
	}
}

func strict(t *testing.T, b []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("strict decode into %T: %v\n%s", v, err, b)
	}
}

// networkPolicies decodes networkpolicy.yaml strictly into
// k8s.io/api/networking/v1 and checks what the API server validates.
func networkPolicies(t *testing.T, out render.Output) []networkingv1.NetworkPolicy {
	t.Helper()
	b, ok := out.Files[kubernetes.NetworkPolicyFile]
	if !ok {
		t.Fatalf("no %s in %v", kubernetes.NetworkPolicyFile, slices.Sorted(maps.Keys(out.Files)))
	}
	var pols []networkingv1.NetworkPolicy
	names := map[string]bool{}
	for _, d := range docs(t, b) {
		var np networkingv1.NetworkPolicy
		strict(t, d, &np)
		if np.APIVersion != "networking.k8s.io/v1" || np.Kind != "NetworkPolicy" {
			t.Errorf("apiVersion %q kind %q", np.APIVersion, np.Kind)
		}
		if names[np.Name] || !dns1123.MatchString(np.Name) {
			t.Errorf("name %q not unique or not a DNS-1123 subdomain", np.Name)
		}
		names[np.Name] = true
		if len(np.Spec.PodSelector.MatchLabels) == 0 {
			t.Errorf("%s selects every pod", np.Name)
		}
		var ports []networkingv1.NetworkPolicyPort
		var peers []networkingv1.NetworkPolicyPeer
		for _, r := range np.Spec.Ingress {
			ports, peers = append(ports, r.Ports...), append(peers, r.From...)
		}
		for _, r := range np.Spec.Egress {
			ports, peers = append(ports, r.Ports...), append(peers, r.To...)
		}
		for _, p := range ports {
			if p.Protocol == nil || p.EndPort != nil && (p.Port == nil || *p.EndPort < p.Port.IntVal) {
				t.Errorf("%s: bad port %+v", np.Name, p)
			}
		}
		for _, p := range peers {
			if p.IPBlock == nil {
				t.Errorf("%s: peer without ipBlock", np.Name)
				continue
			}
			if _, err := netip.ParsePrefix(p.IPBlock.CIDR); err != nil {
				t.Errorf("%s: %v", np.Name, err)
			}
		}
		pols = append(pols, np)
	}
	if len(pols) == 0 {
		t.Error("no NetworkPolicy")
	}
	return pols
}

var dns1123 = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)

// ciliumPolicy is the part of the cilium.io/v2 CiliumNetworkPolicy schema
// teamsgate writes, with the field names of Cilium's pkg/policy/api (Rule:
// endpointSelector, egress, description; EgressRule: toEndpoints, toFQDNs,
// toPorts, toCIDR; PortRule: ports, rules; PortProtocol: port, endPort,
// protocol; L7Rules: dns; FQDNSelector and PortRuleDNS: matchName,
// matchPattern) and of metav1.ObjectMeta. github.com/cilium/cilium is too
// large a dependency for a test; strict decoding against this subset still
// fails on any misspelt or misplaced key.
type ciliumPolicy struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string            `json:"name"`
		Namespace string            `json:"namespace,omitempty"`
		Labels    map[string]string `json:"labels,omitempty"`
	} `json:"metadata"`
	Spec struct {
		Description      string         `json:"description,omitempty"`
		EndpointSelector labelSelector  `json:"endpointSelector"`
		Egress           []ciliumEgress `json:"egress,omitempty"`
	} `json:"spec"`
}

type labelSelector struct {
	MatchLabels map[string]string `json:"matchLabels,omitempty"`
}

type ciliumEgress struct {
	ToEndpoints []labelSelector `json:"toEndpoints,omitempty"`
	ToFQDNs     []fqdnSelector  `json:"toFQDNs,omitempty"`
	ToCIDR      []string        `json:"toCIDR,omitempty"`
	ToPorts     []portRule      `json:"toPorts,omitempty"`
}

type fqdnSelector struct {
	MatchName    string `json:"matchName,omitempty"`
	MatchPattern string `json:"matchPattern,omitempty"`
}

type portRule struct {
	Ports []portProtocol `json:"ports,omitempty"`
	Rules *struct {
		DNS []fqdnSelector `json:"dns,omitempty"`
	} `json:"rules,omitempty"`
}

type portProtocol struct {
	Port     string `json:"port"`
	EndPort  int32  `json:"endPort,omitempty"`
	Protocol string `json:"protocol,omitempty"`
}

// Cilium's validation patterns for FQDN selectors (pkg/policy/api/fqdn.go:
// allowedMatchNameChars, allowedPatternChars).
var (
	matchNameRE    = regexp.MustCompile(`^[-a-zA-Z0-9_.]+$`)
	matchPatternRE = regexp.MustCompile(`^[-a-zA-Z0-9_.*]+$`)
)

// ciliumPolicies decodes cilium-fqdn.yaml, when present, strictly against
// the schema subset and checks the DNS rule every policy needs.
func ciliumPolicies(t *testing.T, out render.Output) []ciliumPolicy {
	t.Helper()
	b, ok := out.Files[kubernetes.CiliumFile]
	if !ok {
		return nil
	}
	var pols []ciliumPolicy
	for _, d := range docs(t, b) {
		var cnp ciliumPolicy
		strict(t, d, &cnp)
		if cnp.APIVersion != "cilium.io/v2" || cnp.Kind != "CiliumNetworkPolicy" || !dns1123.MatchString(cnp.Metadata.Name) {
			t.Errorf("apiVersion %q kind %q name %q", cnp.APIVersion, cnp.Kind, cnp.Metadata.Name)
		}
		if len(cnp.Spec.EndpointSelector.MatchLabels) == 0 {
			t.Errorf("%s selects every endpoint", cnp.Metadata.Name)
		}
		dnsRule := false
		for _, e := range cnp.Spec.Egress {
			if len(e.ToEndpoints) > 0 {
				want := map[string]string{"k8s:io.kubernetes.pod.namespace": "kube-system", "k8s:k8s-app": "kube-dns"}
				if !maps.Equal(e.ToEndpoints[0].MatchLabels, want) || len(e.ToPorts) != 1 || e.ToPorts[0].Rules == nil ||
					len(e.ToPorts[0].Rules.DNS) != 1 || e.ToPorts[0].Rules.DNS[0].MatchPattern != "*" {
					t.Errorf("%s: DNS rule %+v", cnp.Metadata.Name, e)
				}
				var ports []string
				for _, p := range e.ToPorts[0].Ports {
					ports = append(ports, p.Port+"/"+p.Protocol)
				}
				if diff := cmp.Diff([]string{"53/UDP", "53/TCP"}, ports); diff != "" {
					t.Errorf("%s: DNS ports (-want +got):\n%s", cnp.Metadata.Name, diff)
				}
				dnsRule = true
				continue
			}
			for _, f := range e.ToFQDNs {
				switch {
				case f.MatchName != "" && f.MatchPattern == "":
					if !matchNameRE.MatchString(f.MatchName) {
						t.Errorf("matchName %q", f.MatchName)
					}
				case f.MatchPattern != "" && f.MatchName == "":
					if !matchPatternRE.MatchString(f.MatchPattern) {
						t.Errorf("matchPattern %q", f.MatchPattern)
					}
				default:
					t.Errorf("selector %+v: give one of matchName and matchPattern", f)
				}
			}
			for _, pr := range e.ToPorts {
				for _, p := range pr.Ports {
					if !slices.Contains([]string{"TCP", "UDP", "SCTP", "ANY"}, p.Protocol) {
						t.Errorf("protocol %q", p.Protocol)
					}
				}
			}
		}
		if !dnsRule {
			t.Errorf("%s has no DNS rule: Cilium would learn no addresses for toFQDNs", cnp.Metadata.Name)
		}
		pols = append(pols, cnp)
	}
	return pols
}

// ciliumMatch is Cilium's matchPattern semantics (pkg/fqdn/matchpattern):
// "*" stands for any run of DNS characters other than ".", and the match is
// anchored and case-insensitive.
func ciliumMatch(pattern, name string) bool {
	re := "^" + strings.ReplaceAll(regexp.QuoteMeta(strings.ToLower(pattern)), `\*`, `[-a-zA-Z0-9_]*`) + "$"
	return regexp.MustCompile(re).MatchString(strings.ToLower(name))
}

func TestMatchPatternIsOneLabel(t *testing.T) {
	out, ds := kubernetes.New().Render(testutil.Plan(t, testutil.ExamplePath("teamspro"), ""), view.Options{})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	pols := ciliumPolicies(t, out)
	if len(pols) != 1 {
		t.Fatalf("%d Cilium policies, want 1 for the clients", len(pols))
	}
	var patterns []string
	for _, e := range pols[0].Spec.Egress {
		for _, f := range e.ToFQDNs {
			if f.MatchPattern != "" {
				patterns = append(patterns, f.MatchPattern)
			}
		}
	}
	if !slices.Contains(patterns, "*.teams-pro.com") {
		t.Fatalf("patterns %q lack *.teams-pro.com", patterns)
	}
	for _, pat := range patterns {
		h := model.MustParseHost(pat)
		for _, name := range []string{"a." + h.Domain(), h.Domain(), "a.b." + h.Domain(), "a" + h.Domain()} {
			if got, want := ciliumMatch(pat, name), h.Matches(name); got != want {
				t.Errorf("Cilium %q on %q = %v, the plan says %v", pat, name, got, want)
			}
		}
	}
}

func TestNetworkPolicyFailsClosedForHostNames(t *testing.T) {
	out, ds := kubernetes.New().Render(testutil.Plan(t, testutil.ExamplePath("teamspro"), ""), view.Options{})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	np := networkPolicies(t, out)
	if len(np) != 1 {
		t.Fatalf("%d NetworkPolicies, want 1", len(np))
	}
	// Every egress flow of the clients is a host name: the NetworkPolicy
	// still restricts egress (to nothing), the Cilium policy allows them.
	if !slices.Contains(np[0].Spec.PolicyTypes, networkingv1.PolicyTypeEgress) || len(np[0].Spec.Egress) != 0 {
		t.Errorf("policyTypes %v, %d egress rules; want Egress with none", np[0].Spec.PolicyTypes, len(np[0].Spec.Egress))
	}
	if diff := cmp.Diff(map[string]string{kubernetes.IntegrationLabel: "teamspro-saas", kubernetes.RoleLabel: "clients"}, np[0].Spec.PodSelector.MatchLabels); diff != "" {
		t.Errorf("podSelector (-want +got):\n%s", diff)
	}
}

func TestSkipAndProxyWriteNoCiliumPolicy(t *testing.T) {
	for _, opt := range []view.Options{{FQDN: view.FQDNSkip}, {FQDN: view.FQDNViaProxy, Proxy: proxy}} {
		out, ds := kubernetes.New().Render(testutil.Plan(t, testutil.ExamplePath("messaging-bot"), ""), opt)
		if ds.HasErrors() {
			t.Fatal(ds)
		}
		if _, ok := out.Files[kubernetes.CiliumFile]; ok {
			t.Errorf("FQDN mode %d wrote %s", opt.FQDN, kubernetes.CiliumFile)
		}
		networkPolicies(t, out)
	}
}

func TestPortRange(t *testing.T) {
	out, ds := kubernetes.New().Render(testutil.Plan(t, testutil.ExamplePath("calling-bot"), ""),
		view.Options{Scope: "bot", ServiceTags: loadTags(t, smallTags)})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	np := networkPolicies(t, out)
	var found bool
	for _, r := range np[0].Spec.Ingress {
		for _, p := range r.Ports {
			if *p.Protocol == "UDP" && p.Port.IntVal == 16000 && p.EndPort != nil && *p.EndPort == 17000 {
				found = true
			}
		}
	}
	if !found {
		t.Error("no UDP 16000-17000 ingress port with endPort")
	}
}

func TestRealServiceTags(t *testing.T) {
	_, ds := kubernetes.New().Render(testutil.Plan(t, testutil.ExamplePath("calling-bot"), ""), view.Options{Scope: "bot"})
	if !ds.HasErrors() || !strings.Contains(ds.Err().Error(), "AzureCloud") {
		t.Fatalf("the AzureCloud tag without data: %v", ds)
	}
	data := loadTags(t, "testdata/data/ServiceTags_Public.changeNumber398.json.gz")
	out, ds := kubernetes.New().Render(testutil.Plan(t, testutil.ExamplePath("calling-bot"), ""), view.Options{Scope: "bot", ServiceTags: data})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	np := networkPolicies(t, out)
	blocks := 0
	for _, r := range np[0].Spec.Ingress {
		for _, p := range r.Ports {
			if p.Port.IntVal == 8445 {
				blocks = len(r.From)
			}
		}
	}
	if blocks < 3000 {
		t.Errorf("media control admits %d address blocks, want AzureCloud's thousands", blocks)
	}
}

func TestHostOnlySourceIsAnError(t *testing.T) {
	p := testutil.Plan(t, testutil.ExamplePath("pexip"), "")
	r := p.Rule("pexip-teams-connector.cn-to-instance.signaling")
	r.Source.Prefixes = nil
	_, ds := kubernetes.New().Render(p, view.Options{})
	if !ds.HasErrors() || !strings.Contains(ds.Err().Error(), "pexip-teams-connector.cn-to-instance.signaling") {
		t.Errorf("want an error naming the flow, got %v", ds)
	}
}
