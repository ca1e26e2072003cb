package model

import (
	"fmt"
	"strings"
)

// Cloud is a Microsoft 365 / Azure environment. Address sets, host names and
// token issuers differ between them. The zero value is invalid.
type Cloud string

// The clouds teamsgate plans for. GCC (moderate) uses the worldwide
// Microsoft 365 and Bot Framework endpoints; GCC High and DoD have their own
// (see docs/reference/endpoints.md §2.5 and docs/reference/botauth.md §1.5).
const (
	CloudWorldwide Cloud = "worldwide"
	CloudGCC       Cloud = "gcc"
	CloudGCCHigh   Cloud = "gcch"
	CloudDoD       Cloud = "dod"
)

// Clouds lists every cloud in a fixed order.
var Clouds = []Cloud{CloudWorldwide, CloudGCC, CloudGCCHigh, CloudDoD}

// ParseCloud parses a cloud name (case-insensitive; "public" and "commercial"
// mean worldwide, "gcc-high" means gcch).
func ParseCloud(s string) (Cloud, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "worldwide", "public", "commercial":
		return CloudWorldwide, nil
	case "gcc":
		return CloudGCC, nil
	case "gcch", "gcc-high", "gcchigh":
		return CloudGCCHigh, nil
	case "dod":
		return CloudDoD, nil
	}
	return "", fmt.Errorf("unknown cloud %q (want worldwide, gcc, gcch or dod)", s)
}

// Action is what a rule does with matching traffic. The zero value is
// Allow.
type Action uint8

const (
	Allow Action = iota
	Deny
)

func (a Action) String() string {
	if a == Deny {
		return "deny"
	}
	return "allow"
}

// MarshalText implements encoding.TextMarshaler.
func (a Action) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// Status says how sure the catalog is of a flow. The zero value is
// Documented.
type Status uint8

const (
	// Documented: the flow is a row of a source document's table.
	Documented Status = iota
	// Derived: the document implies the flow but its table leaves it out
	// (e.g. a bot must fetch signing keys to validate tokens).
	Derived
	// ToBeConfirmed: the source document lost the value; the catalog
	// carries the most likely one and says so.
	ToBeConfirmed
)

func (s Status) String() string {
	switch s {
	case Derived:
		return "derived"
	case ToBeConfirmed:
		return "to-be-confirmed"
	}
	return "documented"
}

// ParseStatus parses a Status name; the empty string is Documented.
func ParseStatus(s string) (Status, error) {
	switch s {
	case "", "documented":
		return Documented, nil
	case "derived":
		return Derived, nil
	case "to-be-confirmed":
		return ToBeConfirmed, nil
	}
	return 0, fmt.Errorf("unknown status %q (want documented, derived or to-be-confirmed)", s)
}

// MarshalText implements encoding.TextMarshaler.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Reference points at the source of a flow: a document and a section, and
// where useful the table row as the document prints it.
type Reference struct {
	Doc     string // document id, e.g. "001"
	Title   string // document title
	Section string
	Row     string
}

// Cite renders the short citation, "doc §section": "001 §4b Inbound/ingress
// rules for calling bot".
func (r Reference) Cite() string {
	if r.Section == "" {
		return r.Doc
	}
	return r.Doc + " §" + r.Section
}

// String renders "doc (title) §section".
func (r Reference) String() string {
	s := r.Doc
	if r.Title != "" {
		s += " (" + r.Title + ")"
	}
	if r.Section != "" {
		s += " §" + r.Section
	}
	return s
}

// Condition switches a flow on. The zero value is "always". A condition
// either names a boolean parameter of the integration ("event-hub") or asks
// whether the spec bound addresses to a role ("role:management"), and may be
// negated ("not role:management").
type Condition struct {
	Negate bool
	Role   bool   // true: Name is a role that must have addresses
	Name   string // parameter or role name; empty means always
}

// ParseCondition parses "", "param", "role:NAME", and either prefixed by
// "not ".
func ParseCondition(s string) (Condition, error) {
	var c Condition
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(s, "not "); ok {
		c.Negate, s = true, strings.TrimSpace(rest)
	}
	if rest, ok := strings.CutPrefix(s, "role:"); ok {
		c.Role, s = true, rest
	}
	if s == "" && (c.Negate || c.Role) {
		return Condition{}, fmt.Errorf("condition %q names nothing", s)
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return Condition{}, fmt.Errorf("condition name %q: use lower-case letters, digits and '-'", s)
		}
	}
	c.Name = s
	return c, nil
}

// IsAlways reports whether the condition always holds.
func (c Condition) IsAlways() bool { return c.Name == "" }

// String renders the condition as ParseCondition reads it; "" for always.
func (c Condition) String() string {
	if c.Name == "" {
		return ""
	}
	s := c.Name
	if c.Role {
		s = "role:" + s
	}
	if c.Negate {
		s = "not " + s
	}
	return s
}

// EndpointKind says what an Endpoint refers to.
type EndpointKind uint8

const (
	// EndpointAny is any address.
	EndpointAny EndpointKind = iota
	// EndpointRole is a part of the deployment whose addresses the spec
	// binds (bot, conferencing-nodes, teams-connector-lb, …).
	EndpointRole
	// EndpointSet is a catalog address set, resolved per cloud
	// (teams-service, …).
	EndpointSet
	// EndpointHosts is a list of host patterns.
	EndpointHosts
	// EndpointServiceTag is an Azure service tag (AzureCloud).
	EndpointServiceTag
	// EndpointM365 is every endpoint set of a Microsoft 365 service area
	// in the cloud's endpoint data; the plan expands it into one rule per
	// set and protocol.
	EndpointM365
	// EndpointInternet is the public Internet (Internet()): where a
	// service on the Internet, bound to no addresses, is reached (an OCSP
	// responder, Windows Update). Unlike any, it leaves out private,
	// loopback, multicast and other special-use space, as an Azure NSG's
	// Internet service tag does.
	EndpointInternet
)

func (k EndpointKind) String() string {
	return [...]string{"any", "role", "set", "hosts", "service-tag", "m365", "internet"}[k]
}

// Endpoint is one side of a catalog flow, not yet resolved to addresses.
type Endpoint struct {
	Kind  EndpointKind
	Name  string // role, set, service tag or M365 service area
	Hosts []Host // for EndpointHosts
	// Narrow, when set, replaces this endpoint when the condition
	// NarrowWhen holds: "Any – can be limited to Azure Cloud IP range via
	// Azure Service tag" (document 001 §4b).
	Narrow     *Endpoint
	NarrowWhen Condition
}

// String renders a short description of the endpoint.
func (e Endpoint) String() string {
	switch e.Kind {
	case EndpointAny:
		return "any"
	case EndpointInternet:
		return "internet"
	case EndpointHosts:
		hs := make([]string, len(e.Hosts))
		for i, h := range e.Hosts {
			hs[i] = h.String()
		}
		return strings.Join(hs, " ")
	}
	return e.Kind.String() + ":" + e.Name
}

// PortsRef is a port set in a catalog flow: a literal set, or the value of
// a ports parameter of the integration.
type PortsRef struct {
	Param string  // parameter name; empty for a literal
	Set   PortSet // the literal value
}

// Flow is one network flow an integration needs, as the catalog states it.
type Flow struct {
	ID          string
	Integration string
	Source      Endpoint
	SourcePorts PortsRef
	Destination Endpoint
	DestPorts   PortsRef
	Proto       Proto
	// App is the application protocol (https, amqps, rdp, …), for rendering
	// and documentation only.
	App          string
	Action       Action
	Purpose      string
	Notes        string
	Condition    Condition
	Clouds       []Cloud // nil: every cloud
	Required     bool
	Status       Status
	StatusReason string
	Reference    Reference
	// Requirements are conditions on the traffic itself that a port rule
	// cannot express, e.g. "tls>=1.2".
	Requirements []string
	// Hints are target-specific facts the source document fixes, keyed
	// "<target>-<what>" (e.g. "azure-nsg-priority": "1000" for the Pexip
	// NSG's "RDP" rule). Renderers read the keys of their own target.
	Hints map[string]string
}

// AppliesTo reports whether the flow is defined for cloud c.
func (f *Flow) AppliesTo(c Cloud) bool {
	if len(f.Clouds) == 0 {
		return true
	}
	for _, x := range f.Clouds {
		if x == c {
			return true
		}
	}
	return false
}
