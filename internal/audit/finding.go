package audit

import (
	"net/netip"
	"slices"
	"sort"
	"strconv"

	"github.com/teamsgate/teamsgate/internal/audit/packet"
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
	// Exposed: a management port of the deployment's hosts (SSH, RDP,
	// WinRM, the catalog's management flows) reachable from the Internet.
	Exposed Kind = "exposed"
)

// Kinds lists every kind of finding, in the order of the report.
var Kinds = []Kind{Exposed, Missing, Mismatch, TooOpen, Shadowed, UnusedAcceptance}

// Severity ranks findings: it orders the report, and the CLI's --fail-on
// says from which severity a finding fails the audit (exit 3).
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
	// Roles and Groups, in an estate audit (estate.go), are the roles whose
	// hosts the finding is about and the security groups whose rules cause
	// it.
	Roles  []string `json:"roles,omitempty"`
	Groups []string `json:"groups,omitempty"`
	// Key names the finding in an accept file, KIND/NAME, and Fingerprint
	// identifies its defect from one run to the next (fingerprint.go,
	// docs/audit.md "Fingerprints").
	Key         string `json:"key"`
	Fingerprint string `json:"fingerprint"`
	// Acceptance is the accept-file entry that accepted the finding (in
	// Report.Accepted), that names it but had expired (Expired), or, for
	// an unused-acceptance finding, that names nothing (accept.go).
	Acceptance *Acceptance `json:"acceptance,omitempty"`
	// Reference is the source of the flow's requirement, as the plan
	// cites it ("001 §4b"), when the finding concerns a flow.
	Reference string `json:"reference,omitempty"`
	// Facts are the other effects of the same defect, folded into this
	// finding so that one wrong rule is one finding: the near miss behind
	// a blocked flow (a rule for UDP where TCP is required, a port range
	// too narrow), and what that rule allows beyond the plan.
	Facts []Fact `json:"facts"`

	// space is, for a missing finding, the blocked packets; for a too-open
	// one, the packets allowed beyond the plan (for group).
	space packet.Space
}

// Fact is one effect of a defect within a finding: of the finding's own
// kind or another, the rule concerned, what it does, and the packets.
type Fact struct {
	Kind    Kind        `json:"kind"`
	Rule    *RuleRef    `json:"rule,omitempty"`
	Message string      `json:"message"`
	Packets []PacketSet `json:"packets"`
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
	// Role and Groups, in an estate audit, are the role the flow was
	// checked at and the security groups it was checked through.
	Role   string   `json:"role,omitempty"`
	Groups []string `json:"groups,omitempty"`
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
	// Accepted are the findings an accept file accepted (Accept): out of
	// Findings, not counted by Failed.
	Accepted []Finding `json:"accepted"`
	// AcceptFile is the accept file applied, if any.
	AcceptFile string `json:"accept_file,omitempty"`
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

// Failed reports whether the audit fails at a level (--fail-on): whether
// a finding is at least as severe as it. The CLI's default is
// SevWarning: notes (a rule shadowed by rules with the same action, which
// changes nothing the firewall does; an unused acceptance) are reported
// without failing the audit. Accepted findings are not in Findings and
// never count. An unknown level fails on every finding, closed.
func (r *Report) Failed(at Severity) bool {
	limit := slices.Index(Severities, at)
	if limit < 0 {
		limit = len(Severities)
	}
	for _, f := range r.Findings {
		if i := slices.Index(Severities, f.Severity); i < 0 || i <= limit {
			return true
		}
	}
	return false
}

// sort orders findings by severity, kind, flow and rule, and flows by id,
// so reports are deterministic.
func (r *Report) sort() {
	sort.SliceStable(r.Findings, func(i, j int) bool { return findingLess(&r.Findings[i], &r.Findings[j]) })
	sort.SliceStable(r.Flows, func(i, j int) bool {
		if r.Flows[i].ID != r.Flows[j].ID {
			return r.Flows[i].ID < r.Flows[j].ID
		}
		return r.Flows[i].Direction < r.Flows[j].Direction
	})
	r.fingerprint()
}

// findingLess orders findings by severity, kind, flow and rule.
func findingLess(a, b *Finding) bool {
	if sevRank(a.Severity) != sevRank(b.Severity) {
		return sevRank(a.Severity) < sevRank(b.Severity)
	}
	if kindRank(a.Kind) != kindRank(b.Kind) {
		return kindRank(a.Kind) < kindRank(b.Kind)
	}
	if a.Flow != b.Flow {
		return a.Flow < b.Flow
	}
	return ruleKey(a.Rule) < ruleKey(b.Rule)
}

// kindRank is a kind's place in Kinds.
func kindRank(k Kind) int {
	for i, x := range Kinds {
		if x == k {
			return i
		}
	}
	return len(Kinds)
}

func ruleKey(r *RuleRef) string {
	if r == nil {
		return ""
	}
	// the index zero-padded, so that keys order as the chain does
	idx := strconv.Itoa(r.Index)
	if len(idx) < 6 {
		idx = "000000"[len(idx):] + idx
	}
	return r.Chain + "\x00" + idx + "\x00" + r.ID
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
