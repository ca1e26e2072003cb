// Package kubernetes renders a plan as Kubernetes network policies: a
// networking.k8s.io/v1 NetworkPolicy per role for the address flows, and,
// for host-name egress, a cilium.io/v2 CiliumNetworkPolicy with toFQDNs and
// the DNS rule Cilium's DNS proxy needs. See README.md.
package kubernetes

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/render"
	"github.com/teamsgate/teamsgate/internal/view"
)

// Name is the target's name on the command line.
const Name = "kubernetes"

// The rendered files. CiliumFile is written only when the plan has
// host-name egress and the user did not choose --fqdn-via-proxy or
// --fqdn-skip.
const (
	NetworkPolicyFile = "networkpolicy.yaml"
	CiliumFile        = "cilium-fqdn.yaml"
)

// Pod labels the policies select. The user puts them on the role's pods
// (or edits the selectors).
const (
	RoleLabel        = "teamsgate.io/role"
	IntegrationLabel = "teamsgate.io/integration"
)

// maxName is the longest object name (a DNS-1123 subdomain, Kubernetes
// "Object Names and IDs").
const maxName = 253

// Renderer is the Kubernetes target.
type Renderer struct{}

var _ render.Renderer = (*Renderer)(nil)

// New returns the Kubernetes target.
func New() *Renderer { return &Renderer{} }

// Name implements render.Renderer.
func (*Renderer) Name() string { return Name }

// Description implements render.Renderer.
func (*Renderer) Description() string {
	return "Kubernetes NetworkPolicy (addresses) and CiliumNetworkPolicy with toFQDNs (host-name egress)"
}

// Caps implements render.Renderer: host names through the Cilium policy;
// no service tags, no denies (NetworkPolicy is allow-only).
func (*Renderer) Caps() view.Caps {
	return view.Caps{FQDN: true, Reads: view.ChoiceFQDN | view.ChoiceServiceTags}
}

// policy is what one role's pods may do.
type policy struct {
	name    string
	label   string // for comments: "role bot of teams-calling-bot"
	labels  [][2]string
	ingress []npRule
	egress  []npRule
	fqdn    []fqdnRule
	// egressFlows says whether the role sends anything, so that the
	// NetworkPolicy restricts egress even when every egress flow is a host
	// name carried by the Cilium policy.
	egressFlows bool
}

// npRule is one ingress or egress rule of a NetworkPolicy.
type npRule struct {
	comment string
	peers   []ipBlock // nil with any: 0.0.0.0/0 and ::/0
	ports   []npPort
}

type npPort struct {
	protocol string
	port     int // 0: every port of the protocol
	endPort  int
}

// fqdnRule is one toFQDNs egress rule of a CiliumNetworkPolicy.
type fqdnRule struct {
	comment string
	hosts   []model.Host
	ports   []npPort
}

// Render implements render.Renderer.
func (r *Renderer) Render(p *model.Plan, opt view.Options) (render.Output, diag.List) {
	cilium := opt.FQDN == view.FQDNError
	caps := r.Caps()
	if !cilium {
		// The user chose how to treat host names: Prepare sends them to the
		// proxy or leaves them out, and no Cilium policy is written.
		caps.FQDN = false
	}
	prep, ds := view.Prepare(p, Name, caps, opt)
	if ds.HasErrors() {
		return render.Output{}, ds
	}
	policies := map[string]*policy{}
	var order []string
	policyFor := func(integ, role string) *policy {
		key := integ + "/" + role
		if pol := policies[key]; pol != nil {
			return pol
		}
		pol := &policy{}
		if integ == "" {
			integ, role, _ = strings.Cut(opt.Scope, "/")
			if role == "" {
				integ, role = "", integ
			}
		}
		pol.label = "role " + role
		pol.name = objectName("teamsgate-" + role)
		if integ != "" {
			pol.label += " of " + integ
			pol.name = objectName("teamsgate-" + integ + "-" + role)
			pol.labels = append(pol.labels, [2]string{IntegrationLabel, integ})
		}
		pol.labels = append(pol.labels, [2]string{RoleLabel, role})
		policies[key] = pol
		order = append(order, key)
		return pol
	}
	var warnings []string
	for i := range prep.Items {
		it := &prep.Items[i]
		rule := &it.Rule
		type place struct {
			pol *policy
			in  bool
		}
		var places []place
		switch it.Dir {
		case view.Inbound:
			places = append(places, place{policyFor("", ""), true})
		case view.Outbound:
			places = append(places, place{policyFor("", ""), false})
		default:
			if ours(rule.Destination) {
				places = append(places, place{policyFor(rule.Integration, rule.Destination.Role), true})
			}
			if ours(rule.Source) {
				places = append(places, place{policyFor(rule.Integration, rule.Source.Role), false})
			}
		}
		if len(places) == 0 {
			ds.Errorf(diag.Pos{}, rule.ID, "%s: neither side is a role bound to addresses, so no pods of this deployment carry the rule", Name)
			continue
		}
		ports, err := policyPorts(rule)
		if err != nil {
			ds.Errorf(diag.Pos{}, rule.ID, "%s: %v", Name, err)
			continue
		}
		if rule.Proto.HasPorts() && !rule.SourcePorts.IsAny() && !rule.SourcePorts.IsEphemeral() {
			warnings = append(warnings, fmt.Sprintf("%s: source ports %s widened to any: network policies match destination ports only", rule.ID, rule.SourcePorts))
		}
		comment := view.Comment(*it)
		for _, pl := range places {
			if pl.in {
				if !rule.Source.HasAddresses() {
					ds.Errorf(diag.Pos{}, rule.ID, "%s: the source is given only by host names (%s); a network policy admits sources by address: bind the role to addresses", Name, hostList(rule.Source.Hosts))
					continue
				}
				pl.pol.ingress = append(pl.pol.ingress, npRule{comment: comment, peers: peers(rule.Source), ports: ports})
				continue
			}
			pl.pol.egressFlows = true
			dst := rule.Destination
			if dst.HasAddresses() {
				pl.pol.egress = append(pl.pol.egress, npRule{comment: comment, peers: peers(dst), ports: ports})
			}
			if len(dst.Hosts) > 0 && !(dst.Role != "" && dst.HasAddresses()) {
				// Host names, unless they name the machines of a role
				// bound to addresses, which the addresses already say.
				pl.pol.fqdn = append(pl.pol.fqdn, fqdnRule{comment: comment, hosts: dst.Hosts, ports: ports})
			}
		}
	}
	if ds.HasErrors() {
		return render.Output{}, ds
	}
	header := view.Header(p, Name, opt, prep)
	header = append(header, warnings...)
	files := map[string][]byte{}
	var np, cnp strings.Builder
	writeHeader(&np, header)
	np.WriteString("# Label the pods of each role as the podSelector says (or edit the selector),\n")
	np.WriteString("# then: kubectl apply -n NAMESPACE -f " + NetworkPolicyFile + "\n")
	hasFQDN := false
	for _, key := range order {
		pol := policies[key]
		writeNetworkPolicy(&np, pol)
		hasFQDN = hasFQDN || len(pol.fqdn) > 0
	}
	files[NetworkPolicyFile] = []byte(np.String())
	if hasFQDN {
		writeHeader(&cnp, header)
		cnp.WriteString("# Host-name egress for Cilium (cilium.io/v2). Apply it together with\n")
		cnp.WriteString("# " + NetworkPolicyFile + ": Cilium enforces both, and a connection passes when either\n")
		cnp.WriteString("# allows it. Without Cilium the host-name flows stay blocked.\n")
		cnp.WriteString("# kubectl apply -n NAMESPACE -f " + CiliumFile + "\n")
		for _, key := range order {
			if pol := policies[key]; len(pol.fqdn) > 0 {
				writeCiliumPolicy(&cnp, pol)
			}
		}
		files[CiliumFile] = []byte(cnp.String())
	}
	return render.Output{Files: files, Warnings: append(append([]string(nil), prep.Header...), warnings...)}, ds
}

// ours reports whether a rule side is pods of the deployment: a role bound
// to addresses.
func ours(t model.Target) bool { return t.Role != "" && !t.Any && len(t.Prefixes) > 0 }

func hostList(hs []model.Host) string {
	s := make([]string, len(hs))
	for i, h := range hs {
		s[i] = h.String()
	}
	return strings.Join(s, " ")
}

// ipBlock is a network policy peer: a prefix, less the prefixes of except
// (IPBlock, networking.k8s.io/v1).
type ipBlock struct {
	cidr   netip.Prefix
	except []netip.Prefix
}

// peers is the addresses of a rule side; nil for any. The public Internet
// is an ipBlock per family with the special-use blocks as its except list
// (0.0.0.0/0 less 14 prefixes, 2000::/3 less 4): exactly the set, in a few
// lines where its prefixes would be some 160.
func peers(t model.Target) []ipBlock {
	if t.Any {
		return nil
	}
	var out []ipBlock
	if t.Internet {
		for _, ib := range model.InternetBlocks() {
			out = append(out, ipBlock{cidr: ib.Prefix, except: ib.Except})
		}
	}
	for _, p := range t.Prefixes {
		out = append(out, ipBlock{cidr: p})
	}
	return out
}

// policyPorts renders a rule's protocol and destination ports. A network
// policy port names TCP, UDP or SCTP, a port and an end port for a range
// (NetworkPolicyPort, networking.k8s.io/v1); any protocol is no port list.
func policyPorts(r *model.Rule) ([]npPort, error) {
	var proto string
	switch r.Proto {
	case model.ProtoTCP:
		proto = "TCP"
	case model.ProtoUDP:
		proto = "UDP"
	case 132:
		proto = "SCTP"
	case model.ProtoAny:
		if !r.DestPorts.IsAny() && !r.DestPorts.IsEphemeral() {
			return nil, fmt.Errorf("any protocol with destination ports %s: a network policy port needs a protocol", r.DestPorts)
		}
		return nil, nil
	default:
		return nil, fmt.Errorf("a network policy cannot match protocol %s (it knows TCP, UDP and SCTP)", r.Proto)
	}
	if r.DestPorts.IsEmpty() {
		return nil, fmt.Errorf("empty destination port set")
	}
	if r.DestPorts.IsAny() || r.DestPorts.IsEphemeral() {
		return []npPort{{protocol: proto}}, nil
	}
	var out []npPort
	for _, pr := range r.DestPorts.Ranges() {
		if pr.First == 0 {
			return nil, fmt.Errorf("destination port 0 cannot be matched")
		}
		port := npPort{protocol: proto, port: int(pr.First)}
		if pr.Last != pr.First {
			port.endPort = int(pr.Last)
		}
		out = append(out, port)
	}
	return out, nil
}

// objectName makes a DNS-1123 subdomain: lower-case letters, digits, '-'
// and '.', beginning and ending with a letter or digit.
func objectName(s string) string {
	b := []byte(strings.ToLower(s))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			b[i] = '-'
		}
	}
	name := strings.Trim(string(b), "-.")
	if len(name) > maxName {
		name = strings.TrimRight(name[:maxName], "-.")
	}
	return name
}

// q quotes a YAML scalar: a JSON string is a YAML double-quoted scalar.
func q(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func writeHeader(b *strings.Builder, header []string) {
	for _, h := range header {
		b.WriteString("# " + oneLine(h) + "\n")
	}
	b.WriteString("#\n")
}

func writeSelector(b *strings.Builder, indent string, labels [][2]string) {
	b.WriteString(indent + "matchLabels:\n")
	for _, l := range labels {
		fmt.Fprintf(b, "%s  %s: %s\n", indent, q(l[0]), q(l[1]))
	}
}

func writePorts(b *strings.Builder, indent string, ports []npPort) {
	if len(ports) == 0 {
		return
	}
	b.WriteString(indent + "ports:\n")
	for _, p := range ports {
		fmt.Fprintf(b, "%s  - protocol: %s\n", indent, p.protocol)
		if p.port != 0 {
			fmt.Fprintf(b, "%s    port: %d\n", indent, p.port)
		}
		if p.endPort != 0 {
			fmt.Fprintf(b, "%s    endPort: %d\n", indent, p.endPort)
		}
	}
}

// writePeers writes the first key of a rule, "- from:" or "- to:", at
// indent, and its ipBlock peers under it.
func writePeers(b *strings.Builder, indent, key string, ps []ipBlock) {
	b.WriteString(indent + "- " + key + ":\n")
	if ps == nil {
		ps = []ipBlock{{cidr: netip.MustParsePrefix("0.0.0.0/0")}, {cidr: netip.MustParsePrefix("::/0")}}
	}
	for _, p := range ps {
		fmt.Fprintf(b, "%s    - ipBlock:\n%s        cidr: %s\n", indent, indent, q(p.cidr.String()))
		if len(p.except) > 0 {
			fmt.Fprintf(b, "%s        except:\n", indent)
			for _, e := range p.except {
				fmt.Fprintf(b, "%s          - %s\n", indent, q(e.String()))
			}
		}
	}
}

// writeNetworkPolicy writes one networking.k8s.io/v1 NetworkPolicy.
func writeNetworkPolicy(b *strings.Builder, pol *policy) {
	b.WriteString("---\n")
	fmt.Fprintf(b, "# Pods of %s\n", pol.label)
	b.WriteString("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n")
	fmt.Fprintf(b, "  name: %s\n", q(pol.name))
	b.WriteString("  labels:\n    \"app.kubernetes.io/managed-by\": \"teamsgate\"\n")
	b.WriteString("spec:\n  podSelector:\n")
	writeSelector(b, "    ", pol.labels)
	var types []string
	if len(pol.ingress) > 0 {
		types = append(types, `"Ingress"`)
	}
	if pol.egressFlows {
		types = append(types, `"Egress"`)
	}
	b.WriteString("  policyTypes: [" + strings.Join(types, ", ") + "]\n")
	if len(pol.ingress) > 0 {
		b.WriteString("  ingress:\n")
		for _, r := range pol.ingress {
			b.WriteString("    # " + oneLine(r.comment) + "\n")
			writePeers(b, "    ", "from", r.peers)
			writePorts(b, "      ", r.ports)
		}
	}
	if pol.egressFlows {
		if len(pol.egress) == 0 {
			fmt.Fprintf(b, "  # Every egress flow of these pods is a host name: see %s.\n", CiliumFile)
			b.WriteString("  egress: []\n")
		} else {
			b.WriteString("  egress:\n")
			for _, r := range pol.egress {
				b.WriteString("    # " + oneLine(r.comment) + "\n")
				writePeers(b, "    ", "to", r.peers)
				writePorts(b, "      ", r.ports)
			}
		}
		if len(pol.fqdn) > 0 && len(pol.egress) > 0 {
			fmt.Fprintf(b, "  # Host-name egress of these pods: see %s.\n", CiliumFile)
		}
	}
}

// kubeDNS selects the cluster DNS pods (the k8s-app=kube-dns label of
// CoreDNS and kube-dns in kube-system), as in Cilium's DNS policy examples.
var kubeDNS = [][2]string{
	{"k8s:io.kubernetes.pod.namespace", "kube-system"},
	{"k8s:k8s-app", "kube-dns"},
}

// writeCiliumPolicy writes one cilium.io/v2 CiliumNetworkPolicy (Cilium
// docs, "Layer 3 Examples: DNS based" and "DNS Policy and IP Discovery").
// "*.example.com" in matchPattern matches exactly one label ("*" does not
// match "."), the plan's meaning.
func writeCiliumPolicy(b *strings.Builder, pol *policy) {
	b.WriteString("---\n")
	fmt.Fprintf(b, "# Host-name egress of the pods of %s\n", pol.label)
	b.WriteString("apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata:\n")
	fmt.Fprintf(b, "  name: %s\n", q(objectName(pol.name+"-fqdn")))
	b.WriteString("  labels:\n    \"app.kubernetes.io/managed-by\": \"teamsgate\"\n")
	b.WriteString("spec:\n")
	fmt.Fprintf(b, "  description: %s\n", q("teamsgate host-name egress of the pods of "+pol.label))
	b.WriteString("  endpointSelector:\n")
	writeSelector(b, "    ", pol.labels)
	b.WriteString("  egress:\n")
	b.WriteString("    # DNS to the cluster DNS, through Cilium's DNS proxy: it learns the addresses\n")
	b.WriteString("    # of the names below, which toFQDNs then allows.\n")
	b.WriteString("    - toEndpoints:\n")
	b.WriteString("        - ")
	writeSelector(b, "", nil)
	for _, l := range kubeDNS {
		fmt.Fprintf(b, "            %s: %s\n", q(l[0]), q(l[1]))
	}
	b.WriteString("      toPorts:\n        - ports:\n")
	b.WriteString("            - port: \"53\"\n              protocol: UDP\n")
	b.WriteString("            - port: \"53\"\n              protocol: TCP\n")
	b.WriteString("          rules:\n            dns:\n              - matchPattern: \"*\"\n")
	for _, r := range pol.fqdn {
		b.WriteString("    # " + oneLine(r.comment) + "\n")
		b.WriteString("    - toFQDNs:\n")
		for _, h := range r.hosts {
			if h.IsWildcard() {
				fmt.Fprintf(b, "        - matchPattern: %s\n", q(h.String()))
			} else {
				fmt.Fprintf(b, "        - matchName: %s\n", q(h.String()))
			}
		}
		if len(r.ports) > 0 {
			b.WriteString("      toPorts:\n        - ports:\n")
			for _, p := range r.ports {
				fmt.Fprintf(b, "            - port: %s\n", q(strconv.Itoa(p.port)))
				if p.endPort != 0 {
					fmt.Fprintf(b, "              endPort: %d\n", p.endPort)
				}
				fmt.Fprintf(b, "              protocol: %s\n", p.protocol)
			}
		}
	}
}
