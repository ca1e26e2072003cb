package model

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"go4.org/netipx"
)

// Target is a resolved side of a planned rule: the role or set it came
// from, and concretely the prefixes, host patterns and service tags it
// stands for, or any address, or the public Internet.
type Target struct {
	Role        string // the spec role, when the side is a part of the deployment
	Set         string // the catalog address set or M365 endpoint set it came from
	Prefixes    []netip.Prefix
	Hosts       []Host
	ServiceTags []string
	Any         bool
	// Internet is the public Internet (Internet(): the unicast space less
	// special-use blocks), where a service on the Internet bound to no
	// addresses is reached; an Azure NSG calls it the service tag
	// Internet. Any, when also set, includes it.
	Internet bool
	// Outside marks a role the spec places outside the firewall being
	// rendered or audited (management workstations, an Event Hub, nodes on
	// another site): the perimeter view treats its addresses as a peer, not
	// as machines the firewall protects.
	Outside bool
}

// IPSet returns the set of the target's prefixes. Any gives every IPv4 and
// IPv6 address, Internet the public Internet; host patterns and service
// tags contribute nothing (they are resolved by whoever can: a DNS-aware
// target, or service-tag data).
func (t Target) IPSet() *netipx.IPSet {
	var b netipx.IPSetBuilder
	if t.Any {
		b.AddPrefix(netip.MustParsePrefix("0.0.0.0/0"))
		b.AddPrefix(netip.MustParsePrefix("::/0"))
	}
	if t.Internet {
		b.AddSet(Internet())
	}
	for _, p := range t.Prefixes {
		b.AddPrefix(p)
	}
	s, _ := b.IPSet()
	return s
}

// HasAddresses reports whether the target names any concrete address:
// prefixes, any or the public Internet.
func (t Target) HasAddresses() bool { return t.Any || t.Internet || len(t.Prefixes) > 0 }

// Families reports the address families the target's addresses belong to.
// known is false when the target has no concrete address (host names or
// service tags only): its family is decided later, by DNS or by the tag's
// data. Any and the public Internet are both families.
func (t Target) Families() (v4, v6, known bool) {
	if t.Any || t.Internet {
		return true, true, true
	}
	for _, p := range t.Prefixes {
		if p.Addr().Is4() {
			v4 = true
		} else {
			v6 = true
		}
	}
	return v4, v6, v4 || v6
}

// FamilyLabel names the families of a target's addresses for messages:
// "IPv4 only", "IPv6 only", "IPv4 and IPv6", or "no address".
func (t Target) FamilyLabel() string {
	v4, v6, _ := t.Families()
	switch {
	case v4 && v6:
		return "IPv4 and IPv6"
	case v4:
		return "IPv4 only"
	case v6:
		return "IPv6 only"
	}
	return "no address"
}

// CommonFamily reports whether a packet can go from a to b: false only when
// both have concrete addresses and no address family in common.
func CommonFamily(a, b Target) bool {
	a4, a6, ak := a.Families()
	b4, b6, bk := b.Families()
	if !ak || !bk {
		return true
	}
	return a4 && b4 || a6 && b6
}

// IsEmpty reports whether the target names nothing at all.
func (t Target) IsEmpty() bool {
	return !t.Any && !t.Internet && len(t.Prefixes) == 0 && len(t.Hosts) == 0 && len(t.ServiceTags) == 0
}

// Rule is a flow resolved for one deployment: every endpoint bound to
// concrete prefixes, hosts or tags, every port parameter filled in, and the
// provenance kept.
type Rule struct {
	// ID is the flow id, with a suffix when one flow became several rules
	// (an M365 endpoint set and protocol: "….m365-12-tcp").
	ID          string
	FlowID      string
	Integration string
	Proto       Proto
	Action      Action
	Source      Target
	SourcePorts PortSet
	Destination Target
	DestPorts   PortSet
	// MinDestPorts is the fewest destination ports the requirement allows
	// (a ports parameter's minimum, as 001 §4b sets 1,000 media ports); 0
	// when the source sets none.
	MinDestPorts int
	App          string
	Purpose      string
	Notes        string
	// Condition is the flow's condition, which held for this deployment.
	Condition    Condition
	Required     bool
	Status       Status
	StatusReason string
	Reference    Reference
	Requirements []string
	// Hints are the flow's target-specific hints (Flow.Hints).
	Hints map[string]string
}

// Plan is every rule a deployment must have, with the catalog version that
// produced it and the warnings raised while planning.
type Plan struct {
	CatalogVersion string
	Cloud          Cloud
	Integrations   []string
	Rules          []Rule
	Warnings       []string
	// Roles lists the deployment's roles and what they are bound to.
	Roles map[string]Target
	// TenantRestrictions is the tenant restrictions (v1) policy the
	// proxies must set; nil when the spec puts none in force.
	TenantRestrictions *TenantRestrictions
}

// Sort orders rules by integration, then id, so output is deterministic.
func (p *Plan) Sort() {
	sort.SliceStable(p.Rules, func(i, j int) bool {
		a, b := p.Rules[i], p.Rules[j]
		if a.Integration != b.Integration {
			return a.Integration < b.Integration
		}
		return a.ID < b.ID
	})
}

// Rule returns the rule with the given id, or nil.
func (p *Plan) Rule(id string) *Rule {
	for i := range p.Rules {
		if p.Rules[i].ID == id {
			return &p.Rules[i]
		}
	}
	return nil
}

// Scope returns the rules that concern a role's machines: those whose
// source or destination is the role. A host or subnet firewall for the role
// needs exactly these.
func (p *Plan) Scope(role string) []Rule {
	var out []Rule
	for _, r := range p.Rules {
		if r.Source.Role == role || r.Destination.Role == role {
			out = append(out, r)
		}
	}
	return out
}

// RoleKeys returns the keys of p.Roles ("INTEGRATION/ROLE") that a role
// reference names, sorted: "INTEGRATION/ROLE" names that role, a bare
// "ROLE" the role of that name in every integration that has it (as
// --scope takes them).
func (p *Plan) RoleKeys(ref string) []string {
	integ, name, qualified := strings.Cut(ref, "/")
	var out []string
	for k := range p.Roles {
		ki, kr, _ := strings.Cut(k, "/")
		if qualified && ki == integ && kr == name || !qualified && kr == ref {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// Verdict is the outcome of a decision. The zero value is Deny, so a
// forgotten verdict fails closed.
type Verdict uint8

const (
	VerdictDeny Verdict = iota
	VerdictAllow
	// VerdictReport: the traffic would be denied but the deciding component
	// runs in report-only mode and let it through.
	VerdictReport
)

func (v Verdict) String() string {
	switch v {
	case VerdictAllow:
		return "allow"
	case VerdictReport:
		return "report"
	}
	return "deny"
}

// MarshalText implements encoding.TextMarshaler.
func (v Verdict) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// Decision is what a gateway, proxy or auditor decided, with the reason and
// the rule or flow behind it. Logs, metrics and reports derive from it.
type Decision struct {
	Verdict Verdict
	Reason  string // short, stable, usable as a metric label
	RuleID  string // the rule or flow that decided, when there is one
	Detail  string // for logs only; never secrets
}

// ParsePrefix is the prefix syntax of catalogs, specs and the gateway's
// configuration: a prefix, or a bare address (a /32 or /128), never one
// with host bits set (a likely typo of the network meant).
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not an IP address or prefix", s)
		}
		return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP prefix (want e.g. 198.51.100.0/24)", s)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("prefix %q has host bits set (did you mean %s?)", s, p.Masked())
	}
	return p, nil
}
