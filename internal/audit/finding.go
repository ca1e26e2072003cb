package audit

import (
	"fmt"
	"net/netip"
	"sort"

	"github.com/teamsgate/teamsgate/internal/audit/ruleset"
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

// sort orders findings by severity, kind, flow and rule, and flows by id,
// so reports are deterministic.
func (r *Report) sort() {
	rank := map[Severity]int{SevError: 0, SevWarning: 1, SevNote: 2}
	kind := map[Kind]int{Missing: 0, Mismatch: 1, TooOpen: 2, Shadowed: 3}
	sort.SliceStable(r.Findings, func(i, j int) bool {
		a, b := r.Findings[i], r.Findings[j]
		if rank[a.Severity] != rank[b.Severity] {
			return rank[a.Severity] < rank[b.Severity]
		}
		if kind[a.Kind] != kind[b.Kind] {
			return kind[a.Kind] < kind[b.Kind]
		}
		if a.Flow != b.Flow {
			return a.Flow < b.Flow
		}
		return ruleKey(a.Rule) < ruleKey(b.Rule)
	})
	sort.SliceStable(r.Flows, func(i, j int) bool {
		if r.Flows[i].ID != r.Flows[j].ID {
			return r.Flows[i].ID < r.Flows[j].ID
		}
		return r.Flows[i].Direction < r.Flows[j].Direction
	})
}

func ruleKey(r *RuleRef) string {
	if r == nil {
		return ""
	}
	return fmt.Sprintf("%s\x00%06d\x00%s", r.Chain, r.Index, r.ID)
}

// ref returns the reference to a line, for the report.
func ref(l *ruleset.Line) RuleRef {
	act := l.Action.String()
	if l.Action == ruleset.Jump || l.Action == ruleset.Goto {
		if l.Target != nil {
			act += " " + l.Target.Name
		}
	}
	return RuleRef{ID: l.ID, Chain: l.Chain, Index: l.Index, Action: act, Text: l.Text, Pos: l.Pos, Default: l.Default, Unresolved: l.Unresolved}
}

func refs(ls []*ruleset.Line) []RuleRef {
	var out []RuleRef
	for _, l := range ls {
		out = append(out, ref(l))
	}
	return out
}

func refPtr(l *ruleset.Line) *RuleRef {
	if l == nil {
		return nil
	}
	r := ref(l)
	return &r
}

func appendRef(rs []RuleRef, l *ruleset.Line) []RuleRef {
	for _, r := range rs {
		if r.ID == l.ID && r.Chain == l.Chain {
			return rs
		}
	}
	return append(rs, ref(l))
}
