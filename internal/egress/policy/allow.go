package policy

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"go4.org/netipx"

	"github.com/teamsgate/teamsgate/internal/model"
)

// Verdict is the allow list's decision on a target: the reason, the flow
// of the rule that allowed it, and a detail for the decision log.
type Verdict struct {
	Reason Reason
	// FlowID is the flow of the first rule that allows the target; empty
	// when the target is refused.
	FlowID string
	// Detail is, for an allowed target, the host pattern or prefix that
	// matched ("*.teams-pro.com", "52.112.0.0/14"); for a refused one, what
	// is wrong, naming the ports that would be allowed when only the port
	// is.
	Detail string
}

// Allowed reports whether the verdict lets the target through.
func (v Verdict) Allowed() bool { return v.Reason == Allowed }

// AllowList is the compiled allow list: the rules of the plan, indexed so
// that a check costs two map lookups for a name, however many rules there
// are. It is immutable once built and safe for concurrent use; a reload
// builds a new one.
type AllowList struct {
	rules []Rule
	// exact maps a name to the rules that list it, in rule order.
	exact map[string]hostEntry
	// wild maps the domain of a "*.domain" pattern to the rules that list
	// it, in rule order.
	wild map[string]hostEntry
	// prefixes are the rules' prefixes, in rule order, for IP-literal
	// targets; addrs is their union, which refuses most addresses with one
	// lookup.
	prefixes []prefixEntry
	addrs    *netipx.IPSet
}

type hostEntry struct {
	pattern string // the pattern as printed, for Verdict.Detail
	rules   []int
}

type prefixEntry struct {
	prefix netip.Prefix
	text   string
	rule   int
}

// NewAllowList compiles rules. Their order is kept: when several rules
// allow a target, the first names the flow. Zero-value hosts and invalid
// prefixes are left out (the configuration refuses them before); a rule
// with no ports allows nothing. The rules are copied.
func NewAllowList(rules []Rule) *AllowList {
	l := &AllowList{
		rules: cloneRules(rules),
		exact: make(map[string]hostEntry),
		wild:  make(map[string]hostEntry),
	}
	add := func(m map[string]hostEntry, key string, h model.Host, i int) {
		e := m[key]
		if e.pattern == "" {
			e.pattern = h.String()
		}
		if len(e.rules) == 0 || e.rules[len(e.rules)-1] != i {
			e.rules = append(e.rules, i)
		}
		m[key] = e
	}
	var addrs netipx.IPSetBuilder
	for i, r := range l.rules {
		for _, h := range r.Hosts {
			switch {
			case !h.IsValid():
			case h.IsWildcard():
				add(l.wild, h.Domain(), h, i)
			default:
				add(l.exact, h.Domain(), h, i)
			}
		}
		for _, p := range r.Prefixes {
			if p.IsValid() {
				p = p.Masked()
				l.prefixes = append(l.prefixes, prefixEntry{prefix: p, text: p.String(), rule: i})
				addrs.AddPrefix(p)
			}
		}
	}
	l.addrs, _ = addrs.IPSet() // valid prefixes only: no error
	return l
}

// Rules returns a copy of the rules, in their order, for the PAC file and
// the log.
func (l *AllowList) Rules() []Rule { return cloneRules(l.rules) }

func cloneRules(rules []Rule) []Rule {
	out := slices.Clone(rules)
	for i := range out {
		out[i].Hosts = slices.Clone(out[i].Hosts)
		out[i].Prefixes = slices.Clone(out[i].Prefixes)
	}
	return out
}

// Check decides whether a client in roles may connect to t. With roles nil
// (the proxy knows no client identity) every rule applies; otherwise only
// the rules of those roles do, and an empty, non-nil roles allows nothing.
//
// A name is allowed when a rule lists it exactly, or lists "*.domain" and
// the name is one label in front of domain, and that rule's ports hold
// t.Port. A wildcard never matches its apex ("*.teams-pro.com" does not
// allow "teams-pro.com") nor a deeper name ("a.b.teams-pro.com"), as
// model.Host.Matches and the plan's other targets read it. When a rule
// names the host but none has the port, the reason is PortNotAllowed and
// the detail names the ports that are allowed; otherwise HostNotAllowed.
//
// An IP literal is allowed only by a rule whose prefixes hold it, with the
// port; host patterns never match an address, and the proxy never looks
// up the name an address has (reverse DNS is what the address's owner
// says it is).
func (l *AllowList) Check(t Target, roles []string) Verdict {
	switch {
	case t.IsAddr():
		return l.checkAddr(t, roles)
	case t.Host == "":
		return Verdict{Reason: BadTarget, Detail: "empty target"}
	}
	ex, wc := l.candidates(t.Host)
	for i, j := 0, 0; i < len(ex.rules) || j < len(wc.rules); {
		var r int
		pattern := ex.pattern
		if j == len(wc.rules) || i < len(ex.rules) && ex.rules[i] <= wc.rules[j] {
			r, i = ex.rules[i], i+1
		} else {
			r, j, pattern = wc.rules[j], j+1, wc.pattern
		}
		if l.applies(r, roles) && l.rules[r].Ports.Contains(t.Port) {
			return Verdict{Reason: Allowed, FlowID: l.rules[r].FlowID, Detail: pattern}
		}
	}
	var ports model.PortSet
	named := false
	for _, r := range slices.Concat(ex.rules, wc.rules) {
		if l.applies(r, roles) {
			ports, named = ports.Union(l.rules[r].Ports), true
		}
	}
	if named {
		return Verdict{Reason: PortNotAllowed, Detail: fmt.Sprintf("host %q is allowed on port %s, not %d%s", t.Host, ports, t.Port, forRoles(roles))}
	}
	return Verdict{Reason: HostNotAllowed, Detail: fmt.Sprintf("no rule allows host %q%s", t.Host, forRoles(roles))}
}

// candidates returns the rules that list name exactly and those that list
// the wildcard one label above it.
func (l *AllowList) candidates(name string) (exact, wild hostEntry) {
	exact = l.exact[name]
	if label, domain, ok := strings.Cut(name, "."); ok && label != "" {
		wild = l.wild[domain]
	}
	return exact, wild
}

func (l *AllowList) checkAddr(t Target, roles []string) Verdict {
	if !l.addrs.Contains(t.Addr) {
		return Verdict{Reason: AddrNotAllowed, Detail: fmt.Sprintf("no rule allows address %s%s", t.Addr, forRoles(roles))}
	}
	var ports model.PortSet
	named := false
	for _, e := range l.prefixes {
		if !e.prefix.Contains(t.Addr) || !l.applies(e.rule, roles) {
			continue
		}
		if l.rules[e.rule].Ports.Contains(t.Port) {
			return Verdict{Reason: Allowed, FlowID: l.rules[e.rule].FlowID, Detail: e.text}
		}
		ports, named = ports.Union(l.rules[e.rule].Ports), true
	}
	if named {
		return Verdict{Reason: AddrNotAllowed, Detail: fmt.Sprintf("address %s is allowed on port %s, not %d%s", t.Addr, ports, t.Port, forRoles(roles))}
	}
	return Verdict{Reason: AddrNotAllowed, Detail: fmt.Sprintf("no rule allows address %s%s", t.Addr, forRoles(roles))}
}

// applies reports whether rule r is one of roles' (any rule when roles is
// nil).
func (l *AllowList) applies(r int, roles []string) bool {
	return roles == nil || slices.Contains(roles, l.rules[r].Role)
}

func forRoles(roles []string) string {
	if roles == nil {
		return ""
	}
	return " for roles [" + strings.Join(roles, " ") + "]"
}
