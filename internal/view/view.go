// Package view is a deployment's plan as one firewall sees it: the rules of
// a scope (the perimeter, or one role's machines) with the direction each
// crosses the firewall in, checked against what the firewall can express
// (Caps) and adjusted by the user's explicit choices for what it cannot
// (Options: host names via the egress proxy or skipped, service tags
// expanded, denies left to the default deny).
//
// Render and audit both read the plan through this one view, so that a
// configuration the auditor checks is judged by the same scope, direction
// and host-name handling that the renderer used to write it; neither
// imports the other (STYLE.md rule 17). Prepare fails closed: anything the
// firewall cannot express faithfully is an error naming the flow, the
// feature and the firewall, unless the user chose an explicit, documented
// fallback (--fqdn-via-proxy, --fqdn-skip). No rule is ever dropped
// silently.
package view

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"go4.org/netipx"

	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/servicetag"
	"github.com/teamsgate/teamsgate/internal/suggest"
)

// Caps declares what a target can express. Prepare refuses (or, where the
// user asked, works around) anything outside it.
type Caps struct {
	// FQDN: host names and "*." wildcards as destinations.
	FQDN bool
	// ServiceTags: Azure service tags as sources or destinations.
	ServiceTags bool
	// Internet: a native notion of the public Internet (model.Internet:
	// the unicast space less special-use blocks), as an Azure NSG's
	// service tag Internet. A target without it gets the set's prefixes,
	// per family, through Target.IPSet, and a note on each rule saying so.
	Internet bool
	// Deny: explicit deny rules. A target without them is allow-only with
	// a default deny; a plan deny is then kept by leaving it out, provided
	// no allow overlaps it.
	Deny bool
	// AddressesOnly: the target filters only by address and port, not host
	// names (inverse of FQDN, kept for clarity in errors).
	AddressesOnly bool
	// HostsOnly: the target only handles host-name flows (proxies: squid,
	// pac); address-only rules are left out with a note.
	HostsOnly bool
	// Reads lists the user choices of Options the target acts on. The
	// command line refuses the others rather than ignore them.
	Reads Choices
}

// Choices is a set of user choices (fields of Options) a target acts on.
type Choices uint8

const (
	// ChoiceFQDN: Options.FQDN, with Options.Proxy for FQDNViaProxy
	// (--fqdn-via-proxy, --fqdn-skip).
	ChoiceFQDN Choices = 1 << iota
	// ChoiceProxy: Options.Proxy as the proxy the output is or points at
	// (--proxy).
	ChoiceProxy
	// ChoiceDirect: Options.Direct (--direct).
	ChoiceDirect
	// ChoiceServiceTags: Options.ServiceTags, the data to expand service
	// tags with (--service-tags).
	ChoiceServiceTags
)

// Has reports whether c holds every choice of o.
func (c Choices) Has(o Choices) bool { return c&o == o }

// FQDNMode says what to do with host-name flows on a target that filters by
// address only.
type FQDNMode uint8

const (
	// FQDNError refuses to render, listing the flows and the targets that
	// can express them. The default.
	FQDNError FQDNMode = iota
	// FQDNViaProxy renders an allow to the egress proxy instead.
	FQDNViaProxy
	// FQDNSkip renders without the flows, with a warning per flow in the
	// output header.
	FQDNSkip
)

// Options are the user's choices for a render; an audit takes the same
// Scope.
type Options struct {
	// Scope, when set, renders the host or subnet firewall of one role's
	// machines ("bot", or "teams-calling-bot/bot"): inbound rules where the
	// role is the destination, outbound where it is the source. Empty
	// renders the perimeter (forward) view of every rule.
	Scope string
	FQDN  FQDNMode
	// Proxy is the egress proxy for FQDNViaProxy, and the proxy a PAC file
	// points at.
	Proxy netip.AddrPort
	// ServiceTags expands service tags on targets without them. Nil means
	// none loaded: a tag is then an error there.
	ServiceTags *servicetag.Data
	// Direct, for PAC: send the allow-listed hosts DIRECT instead of through
	// the proxy.
	Direct bool
}

// Direction is how a prepared rule crosses the firewall rendered or
// audited.
type Direction uint8

const (
	// Forward: perimeter view, traffic passing through.
	Forward Direction = iota
	// Inbound: to the scoped role's machines.
	Inbound
	// Outbound: from the scoped role's machines.
	Outbound
)

func (d Direction) String() string { return [...]string{"forward", "inbound", "outbound"}[d] }

// Item is a rule ready for a target: the rule, adjusted by Prepare (hosts
// dropped where the role's addresses stand for them, service tags expanded,
// an FQDN destination replaced by the proxy), and its direction.
type Item struct {
	Rule model.Rule
	Dir  Direction
	// Note records what Prepare changed, for the rule's comment.
	Note string
}

// Prepared is what every renderer, and the auditor, starts from.
type Prepared struct {
	Items []Item
	// Header holds warnings for the output's header: skipped flows, rules
	// left to the default deny, unbound defaults.
	Header []string
	// Outside lists the rules a perimeter view leaves out because they do
	// not cross the firewall: no end of theirs is behind it, and one is a
	// role the spec marks outside (outside.go).
	Outside []Item
}

// proxyTargets lists the targets that can express host-name flows, for
// errors.
const proxyTargets = "azure-firewall, cilium (kubernetes), squid and pac"

// Prepare scopes the plan and checks it against the target's capabilities.
func Prepare(p *model.Plan, target string, caps Caps, opt Options) (Prepared, diag.List) {
	var ds diag.List
	var out Prepared
	items, sds := scope(p, opt.Scope)
	ds.Append(sds)
	if opt.Scope == "" {
		items, out.Outside = perimeter(items, &out.Header)
	}
	var fqdnFlows []string
	for _, it := range items {
		r := &it.Rule
		if caps.HostsOnly && len(r.Destination.Hosts) == 0 {
			// Left out before anything else: a service tag of a rule the
			// target does not render must not fail the render.
			out.Header = append(out.Header, fmt.Sprintf("%s: not rendered, %s filters host names and this rule has none (render it for an address-based target)", r.ID, target))
			continue
		}
		if !caps.ServiceTags {
			for _, side := range []*model.Target{&r.Source, &r.Destination} {
				tags := side.ServiceTags
				if err := expandTags(side, opt.ServiceTags); err != nil {
					ds.Errorf(diag.Pos{}, r.ID, "%s cannot express service tags: %v", target, err)
				} else if len(tags) > 0 {
					it.Note = "service tag " + strings.Join(tags, "+") + " expanded"
					if opt.ServiceTags != nil {
						it.Note += fmt.Sprintf(" from change number %d", opt.ServiceTags.ChangeNumber)
					}
				}
			}
		}
		if caps.HostsOnly {
			out.Items = append(out.Items, it)
			continue
		}
		if !caps.Internet && (r.Source.Internet || r.Destination.Internet) {
			it.Note = joinNote(it.Note, internetNote)
		}
		if !caps.FQDN {
			hostOnly := false
			for _, side := range []*model.Target{&r.Source, &r.Destination} {
				if len(side.Hosts) == 0 {
					continue
				}
				if side.HasAddresses() || len(side.ServiceTags) > 0 {
					// A role bound to addresses and names: the addresses
					// are the machines; the names add nothing here.
					side.Hosts = nil
					continue
				}
				hostOnly = true
			}
			if hostOnly {
				switch {
				case len(r.Source.Hosts) > 0 && !r.Source.HasAddresses():
					ds.Errorf(diag.Pos{}, r.ID, "%s cannot express a source given only by host names (%s); bind the role to addresses", target, hostList(r.Source.Hosts))
					continue
				case opt.FQDN == FQDNViaProxy:
					if !opt.Proxy.IsValid() {
						ds.Errorf(diag.Pos{}, r.ID, "--fqdn-via-proxy needs the proxy as ADDR:PORT")
						continue
					}
					it.Note = fmt.Sprintf("via egress proxy %s for %s", opt.Proxy, hostList(r.Destination.Hosts))
					r.Destination = model.Target{Set: "egress-proxy", Prefixes: []netip.Prefix{netip.PrefixFrom(opt.Proxy.Addr(), opt.Proxy.Addr().BitLen())}}
					r.DestPorts = model.NewPortSet(model.Port(opt.Proxy.Port()))
					r.Proto = model.ProtoTCP
				case opt.FQDN == FQDNSkip:
					out.Header = append(out.Header, fmt.Sprintf("WARNING %s: not rendered (--fqdn-skip): %s %s to %s; allow it on %s", r.ID, r.Proto, r.DestPorts, hostList(r.Destination.Hosts), proxyTargets))
					continue
				default:
					fqdnFlows = append(fqdnFlows, fmt.Sprintf("%s (%s)", r.ID, hostList(r.Destination.Hosts)))
					continue
				}
			}
		}
		if !model.CommonFamily(r.Source, r.Destination) {
			// Only a proxy or service tag put in above can get here: the
			// plan refuses such rules. Either way, a required rule is
			// never left out quietly.
			msg := fmt.Sprintf("the source (%s, %s) and the destination (%s, %s) have no address family in common, so %s cannot express it",
				describe(r.Source), r.Source.FamilyLabel(), describe(r.Destination), r.Destination.FamilyLabel(), target)
			if it.Note != "" {
				msg += " [" + it.Note + "]"
			}
			if r.Required {
				ds.Errorf(diag.Pos{}, r.ID, "%s", msg)
			} else {
				out.Header = append(out.Header, fmt.Sprintf("WARNING %s: optional flow not rendered: %s", r.ID, msg))
			}
			continue
		}
		out.Items = append(out.Items, it)
	}
	if len(fqdnFlows) > 0 {
		ds.Errorf(diag.Pos{}, target, "%d flows are given only by host names, which %s cannot express:\n  %s\nrender them with a target that can (%s), or choose --fqdn-via-proxy ADDR:PORT or --fqdn-skip",
			len(fqdnFlows), target, strings.Join(fqdnFlows, "\n  "), proxyTargets)
	}
	if !caps.Deny {
		out.Items = dropDenies(out.Items, target, &out.Header, &ds)
	}
	if len(out.Items) == 0 && !ds.HasErrors() {
		ds.Errorf(diag.Pos{}, target, "nothing to render: no rule of the plan can be expressed by %s", target)
	}
	return out, ds
}

// describe names a rule side for messages: its role or set, else its
// first addresses.
func describe(t model.Target) string {
	switch {
	case t.Role != "":
		return "role " + t.Role
	case t.Set != "":
		return t.Set
	case t.Any:
		return "any"
	case t.Internet:
		return "the public Internet"
	}
	var l []string
	for i, p := range t.Prefixes {
		if i == 3 {
			l = append(l, fmt.Sprintf("+%d more", len(t.Prefixes)-3))
			break
		}
		l = append(l, p.String())
	}
	return strings.Join(l, " ")
}

// internetNote says, in a rule's comment, that the public Internet is
// written out as its prefixes.
const internetNote = "public Internet, special-use blocks left out"

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

func hostList(hs []model.Host) string {
	s := make([]string, len(hs))
	for i, h := range hs {
		s[i] = h.String()
	}
	return strings.Join(s, " ")
}

// expandTags replaces service tags with their prefixes.
func expandTags(t *model.Target, data *servicetag.Data) error {
	if len(t.ServiceTags) == 0 {
		return nil
	}
	var b netipx.IPSetBuilder
	for _, p := range t.Prefixes {
		b.AddPrefix(p)
	}
	for _, name := range t.ServiceTags {
		switch strings.ToLower(name) {
		case "azureloadbalancer":
			// Not in the service tags file: the tag is the host's virtual
			// IP, 168.63.129.16 (Microsoft Learn, "Virtual network service
			// tags": AzureLoadBalancer "translates to the virtual IP
			// address of the host").
			b.AddPrefix(netip.MustParsePrefix("168.63.129.16/32"))
			continue
		case "virtualnetwork", "internet":
			return fmt.Errorf("service tag %q depends on the virtual network's address space; it has no fixed prefixes to expand", name)
		}
		tag, err := data.Lookup(name)
		if err != nil {
			return err
		}
		for _, p := range tag.Prefixes {
			b.AddPrefix(p)
		}
	}
	s, err := b.IPSet()
	if err != nil {
		return err
	}
	if t.Set == "" {
		t.Set = "tag:" + strings.Join(t.ServiceTags, "+")
	}
	t.Prefixes = s.Prefixes()
	t.ServiceTags = nil
	return nil
}

// scope selects the rules of a role's machines and gives each its
// direction; with no scope, every rule, forward.
func scope(p *model.Plan, role string) ([]Item, diag.List) {
	var ds diag.List
	var items []Item
	if role == "" {
		for _, r := range p.Rules {
			items = append(items, Item{Rule: r, Dir: Forward})
		}
		return items, ds
	}
	integ, name, qualified := strings.Cut(role, "/")
	if !qualified {
		name, integ = role, ""
	}
	matches := func(t model.Target, r model.Rule) bool {
		return t.Role == name && (integ == "" || r.Integration == integ)
	}
	integs := map[string]bool{}
	for _, r := range p.Rules {
		switch {
		case matches(r.Destination, r):
			items = append(items, Item{Rule: r, Dir: Inbound})
			integs[r.Integration] = true
		case matches(r.Source, r):
			items = append(items, Item{Rule: r, Dir: Outbound})
			integs[r.Integration] = true
		}
	}
	if !qualified && len(integs) > 1 {
		names := make([]string, 0, len(integs))
		for n := range integs {
			names = append(names, n)
		}
		sort.Strings(names)
		ds.Warnf(diag.Pos{}, "", "--scope %s matches role %s of %s: their rules are taken together, as the firewall of one host that plays every one of them; give %s/%s to take one integration's only",
			role, name, strings.Join(names, " and "), names[0], name)
	}
	if len(items) == 0 {
		var known []string
		seen := map[string]bool{}
		for _, r := range p.Rules {
			for _, t := range []model.Target{r.Source, r.Destination} {
				if t.Role != "" && !seen[t.Role] {
					seen[t.Role] = true
					known = append(known, t.Role)
				}
			}
		}
		sort.Strings(known)
		ds.Errorf(diag.Pos{}, "", "--scope %q matches no rule of the plan%s (roles in this plan: %s)", role, suggest.Hint(name, known), strings.Join(known, ", "))
	}
	return items, ds
}

// dropDenies removes deny rules for allow-only targets, where the default
// deny enforces them, after checking that no allow overlaps them.
func dropDenies(items []Item, target string, header *[]string, ds *diag.List) []Item {
	var kept []Item
	for _, d := range items {
		if d.Rule.Action != model.Deny {
			kept = append(kept, d)
		}
	}
	for _, d := range items {
		if d.Rule.Action != model.Deny {
			continue
		}
		for _, a := range kept {
			if overlaps(a.Rule, d.Rule) {
				ds.Errorf(diag.Pos{}, d.Rule.ID, "%s has no deny rules and rule %s allows part of what this rule denies", target, a.Rule.ID)
			}
		}
		*header = append(*header, fmt.Sprintf("%s: %s is enforced by the default deny (%s has no deny rules)", d.Rule.ID, d.Rule.Purpose, target))
	}
	return kept
}

// overlaps reports whether some packet matches both rules.
func overlaps(a, b model.Rule) bool {
	if a.Proto != b.Proto && a.Proto != model.ProtoAny && b.Proto != model.ProtoAny {
		return false
	}
	if a.Proto.HasPorts() && b.Proto.HasPorts() {
		if a.DestPorts.Intersect(b.DestPorts).IsEmpty() || a.SourcePorts.Intersect(b.SourcePorts).IsEmpty() {
			return false
		}
	}
	return a.Source.IPSet().Overlaps(b.Source.IPSet()) && a.Destination.IPSet().Overlaps(b.Destination.IPSet())
}

// Header returns comment lines describing a rendered output: what it is,
// the catalog version, the scope, and the warnings. It has no timestamp, so
// output is deterministic.
func Header(p *model.Plan, target string, opt Options, prep Prepared) []string {
	scope := "perimeter (forward) view"
	if opt.Scope != "" {
		scope = "host/subnet firewall of role " + opt.Scope
	}
	lines := []string{
		fmt.Sprintf("teamsgate %s configuration: cloud %s, catalog %s", target, p.Cloud, p.CatalogVersion),
		"integrations: " + strings.Join(p.Integrations, ", "),
		"scope: " + scope,
	}
	for _, w := range p.Warnings {
		lines = append(lines, "plan warning: "+w)
	}
	lines = append(lines, prep.Header...)
	return lines
}

// Comment is the standard comment for a rendered rule: flow id and
// purpose, and what Prepare changed.
func Comment(it Item) string {
	s := it.Rule.ID + ": " + it.Rule.Purpose
	if it.Note != "" {
		s += " [" + it.Note + "]"
	}
	return s
}
