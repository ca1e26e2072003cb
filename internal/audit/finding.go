package audit

import (
	"net/netip"
	"strconv"
	"strings"

	"go4.org/netipx"

	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/model"
)

// Kind is the kind of a finding.
type Kind string

// The finding kinds of the audit.
const (
	// Missing: a flow the plan requires is denied, wholly or partly.
	Missing Kind = "missing"
	// TooOpen: the configuration allows traffic to or from the scoped
	// hosts that the plan does not require (or explicitly denies).
	TooOpen Kind = "too-open"
	// Shadowed: a rule no packet can reach.
	Shadowed Kind = "shadowed"
	// Mismatch: a rule that nearly carries a required flow: the other
	// transport protocol, or a port range narrower than the plan's.
	Mismatch Kind = "mismatch"
)

// Severity ranks findings. Every finding makes the audit fail (exit 3);
// the severity orders the report.
type Severity string

// The severities, in SARIF's vocabulary.
const (
	SevError   Severity = "error"
	SevWarning Severity = "warning"
	SevNote    Severity = "note"
)

// Severities lists the severities from the most serious.
var Severities = []Severity{SevError, SevWarning, SevNote}

// RuleRef identifies a rule of the audited configuration.
type RuleRef struct {
	ID     string   `json:"id"`
	Chain  string   `json:"chain,omitempty"`
	Index  int      `json:"index,omitempty"`
	Action string   `json:"action"`
	Text   string   `json:"text,omitempty"`
	Pos    diag.Pos `json:"pos"`
	// Default: a platform default (chain policy, NSG default rule, AWS
	// implicit deny).
	Default bool `json:"default"`
	// Unresolved says why the rule cannot be evaluated exactly.
	Unresolved []string `json:"unresolved"`
}

// Ref returns the reference to a line.
func Ref(l *Line) RuleRef {
	act := l.Action.String()
	if l.Action == Jump || l.Action == Goto {
		if l.Target != nil {
			act += " " + l.Target.Name
		}
	}
	return RuleRef{ID: l.ID, Chain: l.Chain, Index: l.Index, Action: act, Text: l.Text, Pos: l.Pos, Default: l.Default, Unresolved: l.Unresolved}
}

func refs(ls []*Line) []RuleRef {
	var out []RuleRef
	for _, l := range ls {
		out = append(out, Ref(l))
	}
	return out
}

// PacketSet is one cube of packets, for people and machines. Addresses are
// the exact minimal prefixes; Text is the short human form.
type PacketSet struct {
	Protocol         string         `json:"protocol"`
	Sources          []netip.Prefix `json:"sources"`
	Destinations     []netip.Prefix `json:"destinations"`
	SourcePorts      string         `json:"source_ports"`
	DestinationPorts string         `json:"destination_ports"`
	// InInterfaces and OutInterfaces are set when the packets are limited
	// to some interfaces.
	InInterfaces  string `json:"in_interfaces,omitempty"`
	OutInterfaces string `json:"out_interfaces,omitempty"`
	Text          string `json:"text"`
}

// Finding is one result of the audit: what is wrong, for which flow, and
// which rule of the configuration causes it.
type Finding struct {
	Kind     Kind     `json:"kind"`
	Severity Severity `json:"severity"`
	// Flow is the plan rule concerned, when there is one.
	Flow      string `json:"flow,omitempty"`
	Direction string `json:"direction,omitempty"`
	// Rule is the configuration rule that causes the finding: the rule or
	// default that blocks a flow, the rule that allows too much, the
	// unreachable rule, the near-miss rule.
	Rule *RuleRef `json:"rule,omitempty"`
	// Blocking: for missing, the other rules blocking parts of the flow;
	// for shadowed, the earlier rules that cover the rule.
	Blocking []RuleRef `json:"blocking"`
	// DifferentAction: a shadowed rule's blocking rules include one with
	// another action.
	DifferentAction bool   `json:"different_action"`
	Message         string `json:"message"`
	// Packets are the exact packets concerned: blocked, extra, or (for
	// shadowed) the rule's whole match.
	Packets []PacketSet `json:"packets"`
	// Unresolved lists rules that cannot be evaluated exactly and that
	// might change the outcome.
	Unresolved []RuleRef `json:"unresolved"`
}

// FlowStatus is the outcome for one flow of the plan.
type FlowStatus string

// The flow outcomes.
const (
	FlowPass    FlowStatus = "pass"
	FlowFail    FlowStatus = "fail"
	FlowSkipped FlowStatus = "skipped"
)

// FlowResult is the outcome for one flow of the plan in the scope.
type FlowResult struct {
	ID        string     `json:"id"`
	Required  bool       `json:"required"`
	Action    string     `json:"action"`
	Direction string     `json:"direction"`
	Status    FlowStatus `json:"status"`
	Detail    string     `json:"detail,omitempty"`
	// AllowedBy lists the rules that allow (parts of) the flow.
	AllowedBy []RuleRef `json:"allowed_by"`
}

// Report is the result of an audit.
type Report struct {
	Format   string       `json:"format"`
	Config   string       `json:"config,omitempty"`
	Scope    string       `json:"scope,omitempty"`
	Cloud    model.Cloud  `json:"cloud"`
	Catalog  string       `json:"catalog_version"`
	Findings []Finding    `json:"findings"`
	Flows    []FlowResult `json:"flows"`
	// Notes are the assumptions the audit made and what it could not
	// check.
	Notes []string `json:"notes"`
	// Diagnostics are the parser's warnings about the configuration.
	Diagnostics diag.List `json:"diagnostics"`
}

// Count returns the number of findings of a severity.
func (r *Report) Count(s Severity) int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == s {
			n++
		}
	}
	return n
}

// Clean reports whether the audit found nothing at all.
func (r *Report) Clean() bool { return len(r.Findings) == 0 }

// Failed reports whether the audit fails: an error or warning finding, or
// with strict any finding. Notes (a rule shadowed by rules with the same
// action, which changes nothing the firewall does) are reported without
// failing the audit unless strict.
func (r *Report) Failed(strict bool) bool {
	for _, f := range r.Findings {
		if strict || f.Severity != SevNote {
			return true
		}
	}
	return false
}

// describe turns cubes into PacketSets.
func (e *Engine) describe(s Space, limit int) []PacketSet {
	var out []PacketSet
	for i, c := range s {
		if limit > 0 && i == limit {
			break
		}
		out = append(out, e.packetSet(c))
	}
	return out
}

func (e *Engine) packetSet(c Cube) PacketSet {
	ps := PacketSet{
		Protocol:         c.Proto.String(),
		Sources:          c.Src.Prefixes(),
		Destinations:     c.Dst.Prefixes(),
		SourcePorts:      portText(c.SPort),
		DestinationPorts: portText(c.DPort),
	}
	if nl := e.Universe.NotLoopback(); c.In != e.Universe.All() && c.In != nl {
		ps.InInterfaces = e.Universe.Names(c.In)
	}
	if nl := e.Universe.NotLoopback(); c.Out != e.Universe.All() && c.Out != nl {
		ps.OutInterfaces = e.Universe.Names(c.Out)
	}
	var b strings.Builder
	b.WriteString(ps.Protocol)
	b.WriteString(" from ")
	b.WriteString(e.addrText(c.Src))
	if ps.SourcePorts != "any" && hasPorts(c.Proto) {
		b.WriteString(" port " + ps.SourcePorts)
	}
	b.WriteString(" to ")
	b.WriteString(e.addrText(c.Dst))
	if ps.DestinationPorts != "any" && hasPorts(c.Proto) {
		b.WriteString(" port " + ps.DestinationPorts)
	}
	if c.Proto == Protos(1) || c.Proto == Protos(58) || c.Proto == Protos(1, 58) {
		if ps.DestinationPorts != "any" {
			b.WriteString(" icmp type/code " + icmpText(c.DPort))
		}
	}
	if ps.InInterfaces != "" {
		b.WriteString(" in on " + ps.InInterfaces)
	}
	if ps.OutInterfaces != "" {
		b.WriteString(" out on " + ps.OutInterfaces)
	}
	ps.Text = b.String()
	return ps
}

// addrText is AddrSet.String, remembered per set: reports describe the
// same few sets (the scoped hosts, a rule's sources) many times.
func (e *Engine) addrText(a AddrSet) string {
	if a.set == nil {
		return a.String()
	}
	if s, ok := e.texts[a.set]; ok {
		return s
	}
	s := a.String()
	if e.texts == nil {
		e.texts = map[*netipx.IPSet]string{}
	}
	e.texts[a.set] = s
	return s
}

func hasPorts(p ProtoSet) bool { return p.Overlaps(Protos(6, 17, 132, 136)) }

func portText(p model.PortSet) string {
	if p.IsAny() {
		return "any"
	}
	return p.String()
}

func icmpText(p model.PortSet) string {
	var parts []string
	for _, r := range p.Ranges() {
		t1, c1, t2, c2 := r.First>>8, r.First&0xff, r.Last>>8, r.Last&0xff
		switch {
		case c1 == 0 && c2 == 255 && t1 == t2:
			parts = append(parts, itoa(int(t1)))
		case c1 == 0 && c2 == 255:
			parts = append(parts, itoa(int(t1))+"-"+itoa(int(t2)))
		case t1 == t2 && c1 == c2:
			parts = append(parts, itoa(int(t1))+"/"+itoa(int(c1)))
		default:
			parts = append(parts, itoa(int(t1))+"/"+itoa(int(c1))+"-"+itoa(int(t2))+"/"+itoa(int(c2)))
		}
	}
	return strings.Join(parts, ",")
}

func itoa(i int) string { return strconv.Itoa(i) }
