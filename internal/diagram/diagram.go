// Package diagram draws a plan: the deployment's parties as boxes grouped
// by zone (your network, DMZ, Azure, Microsoft 365, the Internet) and its
// flows as numbered arrows, as Graphviz DOT, Mermaid, SVG (laid out
// in-process) and a numbered text description — the accessible
// alternative to the picture that 001's reviewers asked for. The same
// numbers appear in the picture, the text and the report's rule table.
//
// Parallel flows between the same two parties are one arrow whose label
// lists them, so a deployment of four integrations stays readable. Output
// is deterministic: parties are ordered by zone and name, arrows by the
// plan's rule order.
package diagram

import (
	"fmt"
	"sort"
	"strings"

	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/plan"
)

// Zone is where a party lives.
type Zone uint8

const (
	ZoneYours Zone = iota
	ZoneDMZ
	ZoneAzure
	ZoneM365
	ZoneInternet
)

// Zones lists the zones in drawing order, left to right: your network,
// its DMZ, Microsoft 365 (which every integration talks to), Azure, the
// Internet. Each zone is one column; the order keeps the many arrows
// between your roles and Microsoft 365 short.
var Zones = []Zone{ZoneYours, ZoneDMZ, ZoneM365, ZoneAzure, ZoneInternet}

// column is a zone's place in Zones.
func (z Zone) column() int {
	for i, y := range Zones {
		if y == z {
			return i
		}
	}
	return len(Zones)
}

// String is the zone's title.
func (z Zone) String() string {
	return [...]string{"Your network", "DMZ", "Azure", "Microsoft 365", "Internet"}[z]
}

func (z Zone) id() string {
	return [...]string{"yours", "dmz", "azure", "m365", "internet"}[z]
}

// Direction says which way an arrow crosses the deployment's edge.
type Direction uint8

const (
	// Inbound: to one of the deployment's roles from outside them.
	Inbound Direction = iota
	// Outbound: from a role to a service outside the roles.
	Outbound
	// Internal: between two of the deployment's roles.
	Internal
)

func (d Direction) String() string { return [...]string{"inbound", "outbound", "internal"}[d] }

// Party is one box.
type Party struct {
	ID    string
	Label string
	// Detail is the party's addresses or hosts, shortened for the box; the
	// text description gives them all.
	Detail string
	// All is every address and host of the party, for the text.
	All  []string
	Zone Zone
	Role bool
}

// Arrow is one or more rules between the same two parties, in the same
// direction.
type Arrow struct {
	N        int
	From, To string // party IDs
	Rules    []model.Rule
	// Labels are the distinct protocol and port pairs of the rules ("TCP
	// 443"), in rule order.
	Labels []string
	// Status is the least sure status of the rules: an arrow is only as
	// documented as its weakest flow.
	Status model.Status
	Dir    Direction
	Deny   bool
	// Probe is the worst outcome of a probe run among the arrow's rules
	// (MarkProbe), "" when none was probed.
	Probe string
}

// Diagram is a plan drawn.
type Diagram struct {
	Name           string
	Cloud          model.Cloud
	CatalogVersion string
	Parties        []Party
	Arrows         []Arrow
	byID           map[string]int
	arrowOf        map[string]int
}

// Build draws a plan. name is the deployment's name (the spec's), for the
// title.
func Build(p *model.Plan, name string) *Diagram {
	d := &Diagram{Name: name, Cloud: p.Cloud, CatalogVersion: p.CatalogVersion, byID: map[string]int{}, arrowOf: map[string]int{}}
	shared := sharedRoles(p)
	parties := map[string]*Party{}
	party := func(t model.Target, integration string) string {
		pt := partyOf(t, integration, shared)
		if q, ok := parties[pt.ID]; ok {
			q.All = appendNew(q.All, pt.All...)
			return pt.ID
		}
		parties[pt.ID] = &pt
		return pt.ID
	}
	type key struct {
		from, to string
		deny     bool
	}
	arrows := map[key]*Arrow{}
	var order []key
	for _, r := range p.Rules {
		from, to := party(r.Source, r.Integration), party(r.Destination, r.Integration)
		k := key{from, to, r.Action == model.Deny}
		a, ok := arrows[k]
		if !ok {
			a = &Arrow{From: from, To: to, Deny: k.deny}
			arrows[k] = a
			order = append(order, k)
		}
		a.Rules = append(a.Rules, r)
		a.Labels = appendNew(a.Labels, portLabel(r))
		if r.Status > a.Status {
			a.Status = r.Status
		}
	}
	for _, pt := range parties {
		pt.Detail = shorten(pt.All, 2)
		d.Parties = append(d.Parties, *pt)
	}
	sort.Slice(d.Parties, func(i, j int) bool {
		a, b := d.Parties[i], d.Parties[j]
		if a.Zone != b.Zone {
			return a.Zone.column() < b.Zone.column()
		}
		return a.Label < b.Label
	})
	for i, pt := range d.Parties {
		d.byID[pt.ID] = i
	}
	for i, k := range order {
		a := arrows[k]
		a.N = i + 1
		fromRole, toRole := d.Party(a.From).Role, d.Party(a.To).Role
		switch {
		case fromRole && toRole:
			a.Dir = Internal
		case toRole:
			a.Dir = Inbound
		default:
			a.Dir = Outbound
		}
		for _, r := range a.Rules {
			d.arrowOf[r.ID] = a.N
		}
		d.Arrows = append(d.Arrows, *a)
	}
	return d
}

// Party returns a party by id.
func (d *Diagram) Party(id string) Party { return d.Parties[d.byID[id]] }

// ArrowOf returns the number of the arrow that carries a rule, 0 if none.
func (d *Diagram) ArrowOf(ruleID string) int { return d.arrowOf[ruleID] }

// sharedRoles returns the role names that several integrations of the plan
// bind to different addresses: their boxes are named with the integration.
func sharedRoles(p *model.Plan) map[string]bool {
	seen := map[string]map[string]bool{}
	for _, r := range p.Rules {
		for _, t := range []model.Target{r.Source, r.Destination} {
			if t.Role == "" {
				continue
			}
			if seen[t.Role] == nil {
				seen[t.Role] = map[string]bool{}
			}
			seen[t.Role][r.Integration] = true
		}
	}
	out := map[string]bool{}
	for role, ins := range seen {
		out[role] = len(ins) > 1
	}
	return out
}

// roleZones places the catalog's roles: where the source documents put
// them (002 runs the Teams Connector in the customer's Azure subscription
// and the Conferencing Nodes in the DMZ; 000's clients and 001's bots are
// the customer's own machines).
var roleZones = map[string]Zone{
	"conferencing-nodes":        ZoneDMZ,
	"teams-connector-lb":        ZoneAzure,
	"teams-connector-instances": ZoneAzure,
	"event-hub":                 ZoneAzure,
	"ocsp-responder":            ZoneInternet,
	"windows-update":            ZoneInternet,
}

// sets names the catalog's address sets as the parties they stand for.
var sets = map[string]struct {
	id, label string
	zone      Zone
}{
	"teams-service":       {"teams", "Microsoft Teams", ZoneM365},
	"teams-media":         {"teams", "Microsoft Teams", ZoneM365},
	"teams-m365":          {"teams", "Microsoft Teams", ZoneM365},
	"aad-login":           {"entra", "Microsoft Entra ID", ZoneM365},
	"graph":               {"graph", "Microsoft Graph", ZoneM365},
	"botframework-api":    {"botservice", "Azure Bot Service", ZoneAzure},
	"botframework-openid": {"botservice", "Azure Bot Service", ZoneAzure},
	"teams-reply":         {"botservice", "Azure Bot Service", ZoneAzure},
}

// hostParties names the host-only destinations of an integration that
// belong to no catalog set.
var hostParties = map[string]struct {
	label string
	zone  Zone
}{
	"teamspro-saas":     {"TeamsPro SaaS", ZoneInternet},
	"teams-calling-bot": {"Bot Framework and Teams services", ZoneM365},
}

func partyOf(t model.Target, integration string, shared map[string]bool) Party {
	all := items(t)
	switch {
	case t.Role != "":
		z, ok := roleZones[t.Role]
		if !ok {
			z = ZoneYours
		}
		id, label := "role:"+t.Role, t.Role
		if shared[t.Role] {
			id, label = "role:"+integration+"/"+t.Role, t.Role+" ("+integration+")"
		}
		// A role left at its default on the Internet (an OCSP responder,
		// Windows Update) is a service out there, not one of yours.
		return Party{ID: id, Label: label, All: all, Zone: z, Role: z != ZoneInternet}
	case strings.HasPrefix(t.Set, "m365:"):
		return Party{ID: "teams", Label: "Microsoft Teams", All: all, Zone: ZoneM365}
	case t.Set != "":
		if s, ok := sets[t.Set]; ok {
			return Party{ID: s.id, Label: s.label, All: all, Zone: s.zone}
		}
		return Party{ID: "set:" + t.Set, Label: t.Set, All: all, Zone: ZoneInternet}
	case len(t.ServiceTags) > 0:
		return Party{ID: "tag:" + strings.Join(t.ServiceTags, "+"), Label: "Azure (" + strings.Join(t.ServiceTags, ", ") + ")", All: all, Zone: ZoneAzure}
	case t.Any:
		return Party{ID: "any", Label: "Any address", All: all, Zone: ZoneInternet}
	case t.Internet:
		return Party{ID: "internet", Label: "The Internet", All: all, Zone: ZoneInternet}
	}
	hp, ok := hostParties[integration]
	if !ok {
		hp.label, hp.zone = integration+" services", ZoneInternet
	}
	return Party{ID: "hosts:" + integration, Label: hp.label, All: all, Zone: hp.zone}
}

// items lists a target's addresses, hosts and tags as the text shows them.
func items(t model.Target) []string {
	return plan.Items(t, "service tag ", "any address", "the public Internet")
}

func shorten(all []string, max int) string {
	if len(all) <= max {
		return strings.Join(all, ", ")
	}
	return strings.Join(all[:max], ", ") + fmt.Sprintf(" +%d more", len(all)-max)
}

func appendNew(l []string, xs ...string) []string {
	for _, x := range xs {
		found := false
		for _, y := range l {
			if x == y {
				found = true
				break
			}
		}
		if !found {
			l = append(l, x)
		}
	}
	return l
}

// portLabel is a rule's protocol and destination ports: "TCP 443",
// "UDP 3478-3481", "TCP any".
func portLabel(r model.Rule) string {
	proto := strings.ToUpper(r.Proto.String())
	if !r.Proto.HasPorts() {
		return proto
	}
	ports := r.DestPorts.String()
	if r.DestPorts.IsAny() {
		ports = "any port"
	}
	return proto + " " + ports
}

// probeRank orders probe outcomes from best to worst.
var probeRank = map[string]int{"skipped": 1, "pass": 2, "proxy-refused": 3, "tls-failure": 3, "dns-failure": 3, "blocked": 4}

// MarkProbe records a probe run's outcomes (rule id → outcome, as probe -o
// json gives them) on the arrows: each arrow takes the worst outcome of
// its rules, and the picture marks it.
func (d *Diagram) MarkProbe(outcomes map[string]string) {
	for i := range d.Arrows {
		a := &d.Arrows[i]
		for _, r := range a.Rules {
			o, ok := outcomes[r.ID]
			if ok && probeRank[o] > probeRank[a.Probe] {
				a.Probe = o
			}
		}
	}
}

// probeFailed reports whether the arrow's probe outcome is a failure.
func (a Arrow) probeFailed() bool { return probeRank[a.Probe] >= 3 }
