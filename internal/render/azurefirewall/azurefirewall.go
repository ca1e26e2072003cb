// Package azurefirewall renders a plan as an Azure Firewall Policy rule
// collection group in an ARM template: network rules for address flows
// (service tags allowed as destinations), application rules for host-name
// flows on HTTP and HTTPS, and the plan's denies in Deny collections that
// the firewall reads first. See README.md.
package azurefirewall

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"

	"go4.org/netipx"

	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/render"
	"github.com/teamsgate/teamsgate/internal/view"
)

// Name is the target's name on the command line.
const Name = "azure-firewall"

// FileName is the rendered ARM template.
const FileName = "firewall-policy-rcg.json"

// APIVersion is the Microsoft.Network API version of the template's
// resource, the one the armnetwork v7 SDK models.
const APIVersion = "2025-01-01"

// Priorities. Azure Firewall reads every network rule collection before any
// application rule collection, each kind by group priority and then
// collection priority, lower first (Microsoft Learn, "Azure Firewall rule
// processing logic"). The denies come first within each kind.
const (
	groupPriority           = 500
	denyNetworkPriority     = 100
	denyApplicationPriority = 110
	allowNetworkPriority    = 200
	allowAppPriority        = 300
)

// Limits from Microsoft Learn, "Azure subscription and service limits",
// Azure Firewall limits: 20,000 unique source/destinations in network rules
// (the sum over rules of source addresses times destination addresses), and
// 2 MB for the rules of one rule collection group (1 MB for policies
// created before July 2022). Names: rule collection names have letters,
// numbers, '_', '.' and '-', begin with a letter or number, end with a
// letter, number or '_', and are at most 80 characters ("Azure Firewall
// rule processing logic"); rule names are given the same shape.
const (
	maxNetworkPairs = 20000
	maxGroupBytes   = 2 << 20
	oldGroupBytes   = 1 << 20
	maxName         = 80
	// maxAppPort is the highest port of an application rule protocol
	// (armnetwork FirewallPolicyRuleApplicationProtocol: "cannot be greater
	// than 64000").
	maxAppPort = 64000
	// maxAppPorts bounds how many single ports a port range of a host-name
	// flow may expand into: application rules take single ports.
	maxAppPorts = 16
)

// Renderer is the Azure Firewall target.
type Renderer struct{}

var _ render.Renderer = (*Renderer)(nil)

// New returns the Azure Firewall target.
func New() *Renderer { return &Renderer{} }

// Name implements render.Renderer.
func (*Renderer) Name() string { return Name }

// Description implements render.Renderer.
func (*Renderer) Description() string {
	return "Azure Firewall Policy rule collection group (ARM): network rules, application rules for host names"
}

// Caps implements render.Renderer: host names (application rules), service
// tags (as network rule destinations; a source tag is expanded from the
// service tag data) and denies.
func (*Renderer) Caps() view.Caps {
	return view.Caps{FQDN: true, ServiceTags: true, Deny: true, Reads: view.ChoiceServiceTags}
}

// fwRule is a rule of a collection, in the JSON shape of the
// FirewallPolicyRule types (ruleType NetworkRule or ApplicationRule).
type fwRule struct {
	RuleType             string        `json:"ruleType"`
	Name                 string        `json:"name"`
	Description          string        `json:"description"`
	IPProtocols          []string      `json:"ipProtocols,omitempty"`
	Protocols            []appProtocol `json:"protocols,omitempty"`
	SourceAddresses      []string      `json:"sourceAddresses"`
	DestinationAddresses []string      `json:"destinationAddresses,omitempty"`
	DestinationFqdns     []string      `json:"destinationFqdns,omitempty"`
	TargetFqdns          []string      `json:"targetFqdns,omitempty"`
	DestinationPorts     []string      `json:"destinationPorts,omitempty"`

	ruleID string
}

type appProtocol struct {
	ProtocolType string `json:"protocolType"`
	Port         int    `json:"port"`
}

type collection struct {
	RuleCollectionType string           `json:"ruleCollectionType"`
	Name               string           `json:"name"`
	Priority           int              `json:"priority"`
	Action             collectionAction `json:"action"`
	Rules              []*fwRule        `json:"rules"`
}

type collectionAction struct {
	Type string `json:"type"`
}

// Render implements render.Renderer.
func (r *Renderer) Render(p *model.Plan, opt view.Options) (render.Output, diag.List) {
	prep, ds := view.Prepare(p, Name, r.Caps(), opt)
	if ds.HasErrors() {
		return render.Output{}, ds
	}
	var warnings []string
	cols := map[string]*collection{}
	add := func(action, kind string, fr *fwRule) {
		key := action + "/" + kind
		c := cols[key]
		if c == nil {
			prio := map[string]int{
				"Deny/network": denyNetworkPriority, "Deny/application": denyApplicationPriority,
				"Allow/network": allowNetworkPriority, "Allow/application": allowAppPriority,
			}[key]
			c = &collection{
				RuleCollectionType: "FirewallPolicyFilterRuleCollection",
				Name:               "teamsgate-" + strings.ToLower(action) + "-" + kind,
				Priority:           prio,
				Action:             collectionAction{Type: action},
			}
			cols[key] = c
		}
		c.Rules = append(c.Rules, fr)
	}
	for i := range prep.Items {
		it := &prep.Items[i]
		rules, w, err := firewallRules(it, opt)
		if err != nil {
			ds.Errorf(diag.Pos{}, it.Rule.ID, "%s: %v", Name, err)
			continue
		}
		for _, s := range w {
			warnings = append(warnings, it.Rule.ID+": "+s)
		}
		action := "Allow"
		if it.Rule.Action == model.Deny {
			action = "Deny"
		}
		for _, fr := range rules {
			kind := "network"
			if fr.RuleType == "ApplicationRule" {
				kind = "application"
			}
			add(action, kind, fr)
		}
	}
	if ds.HasErrors() {
		return render.Output{}, ds
	}
	var ordered []*collection
	for _, key := range []string{"Deny/network", "Deny/application", "Allow/network", "Allow/application"} {
		if c := cols[key]; c != nil {
			uniqueNames(c.Rules)
			ordered = append(ordered, c)
		}
	}
	ds.Append(checkNetworkPairs(ordered))
	header := view.Header(p, Name, opt, prep)
	header = append(header, warnings...)
	b, err := template(ordered, header)
	if err != nil {
		ds.Errorf(diag.Pos{}, "", "%s: %v", Name, err)
	}
	switch {
	case len(b) > maxGroupBytes:
		ds.Errorf(diag.Pos{}, "", "%s: the rule collection group is %d bytes, more than the 2 MB Azure Firewall allows; render fewer roles at once with --scope", Name, len(b))
	case len(b) > oldGroupBytes:
		warnings = append(warnings, fmt.Sprintf("the rule collection group is %d bytes: firewall policies created before July 2022 hold at most 1 MB per group", len(b)))
	}
	if ds.HasErrors() {
		return render.Output{}, ds
	}
	return render.Output{
		Files:    map[string][]byte{FileName: b},
		Warnings: append(append([]string(nil), prep.Header...), warnings...),
	}, ds
}

// firewallRules turns one prepared rule into firewall rules, with warnings
// for what the firewall matches more widely than the plan.
func firewallRules(it *view.Item, opt view.Options) ([]*fwRule, []string, error) {
	r := &it.Rule
	var warnings []string
	src, err := sources(r.Source, opt)
	if err != nil {
		return nil, nil, err
	}
	if !r.SourcePorts.IsAny() && !r.SourcePorts.IsEphemeral() && r.Proto.HasPorts() {
		warnings = append(warnings, fmt.Sprintf("source ports %s widened to any: Azure Firewall rules have no source port", r.SourcePorts))
	}
	netDst := destinations(r.Destination)
	var hosts []model.Host
	if !(r.Destination.Role != "" && r.Destination.HasAddresses()) {
		// The names of a role bound to addresses are its machines' names;
		// the addresses say it all.
		hosts = r.Destination.Hosts
	}
	desc := oneLine(view.Comment(*it))
	var out []*fwRule
	if len(netDst) > 0 {
		fr, err := networkRule(r, src, desc)
		if err != nil {
			return nil, nil, err
		}
		fr.DestinationAddresses = netDst
		out = append(out, fr)
	}
	if len(hosts) > 0 {
		rules, w, err := hostRules(r, src, hosts, desc)
		if err != nil {
			return nil, nil, err
		}
		warnings = append(warnings, w...)
		out = append(out, rules...)
	}
	if len(out) == 0 {
		return nil, nil, fmt.Errorf("the destination has no address, service tag or host name")
	}
	base := ruleName(r.ID)
	for _, fr := range out {
		fr.Name = base
		if len(out) > 1 {
			fr.Name = ruleName(r.ID + "." + map[bool]string{true: "app", false: "net"}[fr.RuleType == "ApplicationRule"] + fqdnSuffix(fr))
		}
		fr.ruleID = r.ID
	}
	return out, warnings, nil
}

func fqdnSuffix(fr *fwRule) string {
	if len(fr.DestinationFqdns) > 0 {
		return "-fqdn"
	}
	return ""
}

// sources lists a rule's source addresses. Azure Firewall takes addresses
// and IP groups as sources, not service tags (Microsoft Learn, "Azure
// Firewall service tags": tags are for the destination field of network
// rules), so a source tag is expanded from the service tag data.
func sources(t model.Target, opt view.Options) ([]string, error) {
	if t.Any {
		return []string{"*"}, nil
	}
	var b netipx.IPSetBuilder
	b.AddSet(t.IPSet())
	for _, name := range t.ServiceTags {
		tag, err := opt.ServiceTags.Lookup(name)
		if err != nil {
			return nil, fmt.Errorf("Azure Firewall takes service tags only as destinations of network rules, so the source tag must be expanded: %w", err)
		}
		for _, p := range tag.Prefixes {
			b.AddPrefix(p)
		}
	}
	if !t.HasAddresses() && len(t.ServiceTags) == 0 {
		return nil, fmt.Errorf("the source is given only by host names; Azure Firewall matches sources by address: bind the role to addresses")
	}
	if len(t.ServiceTags) == 0 && !t.Internet {
		return prefixStrings(t.Prefixes), nil
	}
	s, err := b.IPSet()
	if err != nil {
		return nil, err
	}
	return prefixStrings(s.Prefixes()), nil
}

// destinations lists the address part of a rule's destination: "*",
// prefixes and service tags. The public Internet is its prefixes: the
// service tag Internet is an NSG's, not usable in Azure Firewall rules
// (Microsoft Learn, "Virtual network service tags", the column "Azure
// Firewall"), and the firewall's "*" would also match private space.
func destinations(t model.Target) []string {
	if t.Any {
		return []string{"*"}
	}
	ps := t.Prefixes
	if t.Internet {
		ps = t.IPSet().Prefixes()
	}
	return append(prefixStrings(ps), t.ServiceTags...)
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// networkRule is the network rule of a plan rule, without destinations.
func networkRule(r *model.Rule, src []string, desc string) (*fwRule, error) {
	var proto string
	switch r.Proto {
	case model.ProtoTCP:
		proto = "TCP"
	case model.ProtoUDP:
		proto = "UDP"
	case model.ProtoICMP:
		proto = "ICMP"
	case model.ProtoAny:
		proto = "Any"
	default:
		return nil, fmt.Errorf("an Azure Firewall network rule cannot match protocol %s (it knows TCP, UDP, ICMP and Any)", r.Proto)
	}
	ports := []string{"*"}
	if !r.DestPorts.IsAny() && !r.DestPorts.IsEphemeral() {
		if r.DestPorts.IsEmpty() {
			return nil, fmt.Errorf("empty destination port set")
		}
		if !r.Proto.HasPorts() && r.Proto != model.ProtoAny {
			return nil, fmt.Errorf("protocol %s has no ports, but the rule names %s", r.Proto, r.DestPorts)
		}
		ports = r.DestPorts.Strings()
	}
	return &fwRule{
		RuleType:         "NetworkRule",
		Description:      desc,
		IPProtocols:      []string{proto},
		SourceAddresses:  src,
		DestinationPorts: ports,
	}, nil
}

// tlsApps are the application protocols that open with a TLS ClientHello,
// whose SNI an application rule of protocol Https matches; "" is an M365
// endpoint set, which Microsoft publishes for HTTP and HTTPS.
var tlsApps = map[string]bool{"https": true, "tls": true, "amqps": true, "http/https": true, "": true}

// hostRules renders a host-name destination: an application rule for
// HTTP(S) and TLS over TCP, otherwise a network rule with destination FQDNs,
// which needs the firewall's DNS proxy and takes no wildcards (Microsoft
// Learn, "Use FQDN filtering in network rules").
func hostRules(r *model.Rule, src []string, hosts []model.Host, desc string) ([]*fwRule, []string, error) {
	var warnings []string
	names := make([]string, len(hosts))
	wild := false
	for i, h := range hosts {
		names[i] = h.String()
		wild = wild || h.IsWildcard()
	}
	if wild {
		// Microsoft Learn, Azure Firewall FAQ: "Asterisks on the left-most
		// side mean literally anything to the left will match".
		warnings = append(warnings, fmt.Sprintf("Azure Firewall's %s also matches names more than one label deep (a.b.%s); the plan means exactly one label", firstWildcard(hosts), firstWildcard(hosts)[2:]))
	}
	if r.Proto == model.ProtoTCP && !r.DestPorts.IsAny() && !r.DestPorts.IsEphemeral() && r.DestPorts.Len() <= maxAppPorts {
		var protos []appProtocol
		appOK := true
		for _, pr := range r.DestPorts.Ranges() {
			for port := int(pr.First); port <= int(pr.Last); port++ {
				switch {
				case port > maxAppPort:
					appOK = false
				case port == 80 || r.App == "http":
					protos = append(protos, appProtocol{ProtocolType: "Http", Port: port})
				case tlsApps[r.App] || port == 443:
					protos = append(protos, appProtocol{ProtocolType: "Https", Port: port})
				default:
					appOK = false
				}
			}
		}
		if appOK {
			return []*fwRule{{
				RuleType:        "ApplicationRule",
				Description:     desc,
				Protocols:       protos,
				SourceAddresses: src,
				TargetFqdns:     names,
			}}, warnings, nil
		}
	}
	if wild {
		return nil, nil, fmt.Errorf("%s %s to %s: Azure Firewall matches wildcard host names only in application rules (HTTP and TLS over TCP, ports up to %d); network rules take exact names only: bind the role to the exact names or to addresses",
			r.Proto, r.DestPorts, strings.Join(names, " "), maxAppPort)
	}
	fr, err := networkRule(r, src, desc)
	if err != nil {
		return nil, nil, err
	}
	fr.DestinationFqdns = names
	warnings = append(warnings, "destination FQDNs in a network rule need DNS proxy enabled in the firewall policy")
	return []*fwRule{fr}, warnings, nil
}

func firstWildcard(hs []model.Host) string {
	for _, h := range hs {
		if h.IsWildcard() {
			return h.String()
		}
	}
	return ""
}

// checkNetworkPairs checks the limit on unique source/destinations in
// network rules.
func checkNetworkPairs(cols []*collection) diag.List {
	var ds diag.List
	n := 0
	for _, c := range cols {
		for _, r := range c.Rules {
			if r.RuleType != "NetworkRule" {
				continue
			}
			n += len(r.SourceAddresses) * max(len(r.DestinationAddresses), len(r.DestinationFqdns))
			if n > maxNetworkPairs {
				ds.Errorf(diag.Pos{}, r.ruleID, "%s: the network rules would hold more than %d unique source/destinations (sources times destinations, summed over rules), the Azure Firewall limit; this rule passes it: render fewer roles at once with --scope", Name, maxNetworkPairs)
				return ds
			}
		}
	}
	return ds
}

// uniqueNames numbers rules whose names collide: names are unique within a
// collection.
func uniqueNames(rules []*fwRule) {
	seen := map[string]bool{}
	for _, r := range rules {
		name := r.Name
		for n := 2; seen[strings.ToLower(name)]; n++ {
			suffix := fmt.Sprintf("-%d", n)
			name = ruleName(strings.TrimRight(r.Name[:min(len(r.Name), maxName-len(suffix))], ".-") + suffix)
		}
		r.Name = name
		seen[strings.ToLower(name)] = true
	}
}

// ruleName makes a valid rule name: letters, numbers, '_', '.' and '-',
// beginning with a letter or number and ending with a letter, number or
// '_', at most 80 characters. A longer name is cut and given a hash of the
// full name.
func ruleName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(isAlnum(c) || c == '_' || c == '.' || c == '-') {
			b[i] = '-'
		}
	}
	name := string(b)
	if len(name) > maxName {
		sum := sha256.Sum256([]byte(s))
		name = strings.TrimRight(name[:maxName-7], ".-") + "-" + hex.EncodeToString(sum[:3])
	}
	if name == "" || !isAlnum(name[0]) {
		name = "r" + name
	}
	if c := name[len(name)-1]; !isAlnum(c) && c != '_' {
		name = strings.TrimRight(name, ".-") + "_"
	}
	return name
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// The ARM template's shape (Microsoft Learn, "Template structure"; the
// resource as in the Microsoft.Network/firewallPolicies/ruleCollectionGroups
// template reference).
type armTemplate struct {
	Schema         string        `json:"$schema"`
	ContentVersion string        `json:"contentVersion"`
	Metadata       armMetadata   `json:"metadata"`
	Parameters     armParameters `json:"parameters"`
	Resources      []armResource `json:"resources"`
}

type armMetadata struct {
	Description string   `json:"description"`
	Comments    []string `json:"comments"`
}

type armParameters struct {
	FirewallPolicyName      armParameter `json:"firewallPolicyName"`
	RuleCollectionGroupName armParameter `json:"ruleCollectionGroupName"`
}

type armParameter struct {
	Type         string            `json:"type"`
	DefaultValue string            `json:"defaultValue,omitempty"`
	Metadata     map[string]string `json:"metadata"`
}

type armResource struct {
	Type       string        `json:"type"`
	APIVersion string        `json:"apiVersion"`
	Name       string        `json:"name"`
	Properties armProperties `json:"properties"`
}

type armProperties struct {
	Priority        int           `json:"priority"`
	RuleCollections []*collection `json:"ruleCollections"`
}

func template(cols []*collection, header []string) ([]byte, error) {
	if cols == nil {
		cols = []*collection{}
	}
	t := armTemplate{
		Schema:         "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
		ContentVersion: "1.0.0.0",
		Metadata: armMetadata{
			Description: "Azure Firewall Policy rule collection group rendered by teamsgate; deploy with: az deployment group create --resource-group RG --template-file " + FileName + " --parameters firewallPolicyName=POLICY",
			Comments:    header,
		},
		Parameters: armParameters{
			FirewallPolicyName: armParameter{Type: "string",
				Metadata: map[string]string{"description": "Name of the existing firewall policy that receives the rule collection group."}},
			RuleCollectionGroupName: armParameter{Type: "string", DefaultValue: "teamsgate",
				Metadata: map[string]string{"description": "Name of the rule collection group."}},
		},
		Resources: []armResource{{
			Type:       "Microsoft.Network/firewallPolicies/ruleCollectionGroups",
			APIVersion: APIVersion,
			Name:       "[format('{0}/{1}', parameters('firewallPolicyName'), parameters('ruleCollectionGroupName'))]",
			Properties: armProperties{Priority: groupPriority, RuleCollections: cols},
		}},
	}
	b, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
