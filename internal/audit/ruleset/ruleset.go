// Package ruleset is the auditor's intermediate representation: a firewall
// configuration of any format lowered to ordered rules. A Config is chains
// of Lines (first match wins, with jumps and gotos, or an order-free union
// for AWS security groups) and the base chains a packet crosses in each
// direction; each Line's match is a union of Matches whose fields are sets
// of the packet algebra (audit/packet), negations already complemented.
//
// The parsers (audit/formats/...) produce it and the evaluator
// (audit/eval) reads it; the IR imports neither, so a parser needs nothing
// but the IR and the set algebra. Like Tailscale's filtertype beside its
// filter.
package ruleset

import (
	"fmt"
	"strings"

	"github.com/teamsgate/teamsgate/internal/audit/packet"
	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/view"
)

// Action is what a line of a configuration does with the packets it
// matches.
type Action uint8

const (
	// Continue: the line has no verdict (a counter, LOG, a mark); matching
	// packets go on to the next line.
	Continue Action = iota
	// Accept ends the chain with an accept (iptables ACCEPT, nft accept,
	// NSG and AWS allow).
	Accept
	// Drop ends evaluation with a deny (DROP, REJECT, nft drop/reject, NSG
	// deny).
	Drop
	// Return leaves a user chain back to the calling rule's chain; in a base
	// chain the chain's policy applies.
	Return
	// Jump evaluates the target chain and, when it returns, goes on with the
	// next line.
	Jump
	// Goto evaluates the target chain; when it returns, evaluation goes
	// back to where the calling chain was itself entered from.
	Goto
)

func (a Action) String() string {
	return [...]string{"continue", "accept", "drop", "return", "jump", "goto"}[a]
}

// Terminal reports whether no packet the line matches reaches the next
// line of the same chain.
func (a Action) Terminal() bool { return a == Accept || a == Drop || a == Return || a == Goto }

// Family is the address families a chain filters.
type Family uint8

// The address families.
const (
	FamilyV4   Family = 1
	FamilyV6   Family = 2
	FamilyBoth        = FamilyV4 | FamilyV6
)

// Addrs returns every address of the families.
func (f Family) Addrs() packet.AddrSet {
	switch f {
	case FamilyV4:
		return packet.V4Addrs()
	case FamilyV6:
		return packet.V6Addrs()
	}
	return packet.AllAddrs()
}

func (f Family) String() string {
	switch f {
	case FamilyV4:
		return "IPv4"
	case FamilyV6:
		return "IPv6"
	}
	return "IPv4 and IPv6"
}

// Match is one conjunction of header conditions of a line, as a parser
// lowers it: every field narrowed to a set, negations already turned into
// complements. NewMatch gives the match of every packet.
type Match struct {
	Proto        packet.ProtoSet
	State        packet.StateSet
	Src, Dst     packet.AddrSet
	SPort, DPort model.PortSet
	// In and Out are interface conditions, all of which must hold.
	In, Out []IfaceCond
	// Never marks a match no packet of the model satisfies (for example
	// iptables "-f": the first packet of a flow is never a later fragment).
	Never bool
}

// IfaceCond is an interface name condition: one of the patterns (exact
// names, or prefix wildcards ending in "+" for iptables or "*" for nft),
// possibly negated.
type IfaceCond struct {
	Patterns []string
	Neg      bool
}

// NewMatch returns the match of every packet.
func NewMatch() Match {
	return Match{Proto: packet.AllProtos(), State: packet.AllStates, Src: packet.AllAddrs(), Dst: packet.AllAddrs(), SPort: packet.AllPorts(), DPort: packet.AllPorts()}
}

// Line is one rule of a configuration lowered into the common model: its
// matches (a union; usually one), its action, and where it came from.
type Line struct {
	// ID names the line for people and tools: "filter/INPUT#3", an NSG
	// rule name, "sg-0123 ingress#3".
	ID string
	// Chain is the name of the chain holding the line.
	Chain string
	// Index is the 1-based position in the chain (0 for a policy).
	Index int
	// Text is the rule as the configuration writes it.
	Text    string
	Pos     diag.Pos
	Comment string
	Matches []Match
	Action  Action
	// Target is the chain a Jump or Goto goes to.
	Target *Chain
	// Unresolved lists why the line cannot be evaluated exactly (an ipset
	// or an application security group of unknown members). Such a line is
	// evaluated as matching nothing, and every flow it could affect says
	// so.
	Unresolved []string
	// Default marks a line the platform adds (NSG default rules, a chain
	// policy, AWS's implicit deny): it is not reported as shadowed.
	Default bool
	// Weak marks the policy of a chain that rarely carries the intent (an
	// iptables mangle or raw chain): an allow is attributed to it only when
	// nothing else accepted the packets.
	Weak bool
	// Priority is the NSG priority, for output.
	Priority int
}

// Chain is an ordered rule list (first match wins) or, for AWS security
// groups, an unordered union of allow rules.
type Chain struct {
	Name   string
	Table  string
	Family Family
	// Hook is the netfilter hook of a base chain (prerouting, input,
	// forward, output, postrouting) or the NSG/AWS direction; empty for a
	// user-defined chain.
	Hook     string
	Priority int
	// Policy is the verdict for packets that fall off the end of a base
	// chain, as a Default line.
	Policy *Line
	Lines  []*Line
	Pos    diag.Pos
	// Union: the order of lines does not matter (AWS security groups);
	// shadowing then means a line covered by the others.
	Union bool
}

// Config is a firewall configuration in the common model, with the base
// chains a packet crosses in each direction.
type Config struct {
	Format string
	// Chains lists every chain, in file order.
	Chains []*Chain
	// Paths gives, per direction, the base chains a packet crosses in
	// order. A packet is allowed when every chain it crosses accepts it.
	Paths map[view.Direction][]*Chain
	// Directional: the platform only knows inbound and outbound (NSG, AWS);
	// a perimeter (unscoped) audit checks each flow inbound at its
	// destination and outbound at its source.
	Directional bool
	// Families says which address families the configuration filters at
	// all; packets of another family are outside it.
	Families Family
	// NoSourcePorts: the platform cannot match source ports (AWS security
	// groups), so the plan's source-port limits are not held against it.
	NoSourcePorts bool
	// Notes explains the assumptions the lowering made (implied default
	// rules, ignored tables), for the report.
	Notes []string
	// Groups, when set, holds parts of the configuration that are attached
	// to hosts each on its own (the security groups of an account-wide AWS
	// export), with the roles each protects. Paths is then empty: the
	// auditor evaluates, per role, the groups that protect it together
	// (Attach).
	Groups []*Group
	// RoleTag is the tag whose value on a group names the roles it
	// protects (the spec's audit.aws.role_tag), for messages.
	RoleTag string
}

// Group is a part of a configuration attached to hosts on its own: an AWS
// security group of an estate export.
type Group struct {
	// ID and Name identify the group ("sg-0123…", its GroupName).
	ID, Name string
	Pos      diag.Pos
	// Roles are the roles the group protects, as the value of its role tag
	// names them: "INTEGRATION/ROLE" or "ROLE", as --scope takes them.
	Roles []string
	// RolesPos is where that value is, for diagnostics.
	RolesPos diag.Pos
	// Chains are the group's own chains per direction; Attach makes them
	// base chains.
	Chains map[view.Direction]*Chain
	// Notes are the assumptions the lowering made for this group.
	Notes []string
}

// Label names a group for messages: its id, and its name when it has one.
func (g *Group) Label() string {
	if g.Name == "" || g.Name == g.ID {
		return g.ID
	}
	return fmt.Sprintf("%s (%s)", g.ID, g.Name)
}

// Attach returns the configuration of hosts that have every group of gs
// attached. Security groups are allow-only and attached groups are one
// union (EC2 documentation, "Security group rules": traffic is allowed when
// any rule of any attached group allows it), so each direction becomes one
// Union chain holding the lines of every group, and what none allows falls
// to the platform's implicit deny, named after the groups.
func (c *Config) Attach(gs []*Group) *Config {
	out := &Config{Format: c.Format, Directional: c.Directional, Families: c.Families, NoSourcePorts: c.NoSourcePorts,
		Paths: map[view.Direction][]*Chain{}, RoleTag: c.RoleTag}
	ids := make([]string, len(gs))
	for i, g := range gs {
		ids[i] = g.ID
		out.Notes = append(out.Notes, g.Notes...)
	}
	label := strings.Join(ids, "+")
	for _, d := range []view.Direction{view.Inbound, view.Outbound, view.Forward} {
		var u *Chain
		for _, g := range gs {
			gc := g.Chains[d]
			if gc == nil {
				continue
			}
			if u == nil {
				u = &Chain{Name: label + " " + gc.Name, Hook: gc.Hook, Family: gc.Family, Union: true, Pos: gc.Pos}
			}
			u.Family |= gc.Family
			u.Lines = append(u.Lines, gc.Lines...)
		}
		if u == nil {
			continue
		}
		u.Policy = &Line{ID: u.Name + " (no rule allows it)", Chain: u.Name, Pos: u.Pos, Action: Drop, Default: true, Matches: []Match{NewMatch()}}
		out.Chains = append(out.Chains, u)
		out.Paths[d] = []*Chain{u}
	}
	return out
}

// Lines returns every line of every chain, for tools.
func (c *Config) Lines() []*Line {
	var out []*Line
	for _, ch := range c.Chains {
		out = append(out, ch.Lines...)
	}
	return out
}

// String formats a line for messages: its id and, when known, its text.
func (l *Line) String() string {
	if l.Text == "" || l.Text == l.ID {
		return l.ID
	}
	return fmt.Sprintf("%s (%s)", l.ID, l.Text)
}

// BreakJumpLoops reports every jump that closes a cycle of chains (which
// iptables-restore and nft refuse) as an error at its line, and turns the
// jump into Continue so that the evaluation of the rest terminates.
func (c *Config) BreakJumpLoops(ds *diag.List) {
	state := map[*Chain]int{}
	var visit func(ch *Chain) bool
	visit = func(ch *Chain) bool {
		switch state[ch] {
		case 1: // on the path being visited: a loop
			return true
		case 2:
			return false
		}
		state[ch] = 1
		for _, l := range ch.Lines {
			if l.Target != nil && visit(l.Target) {
				ds.Errorf(l.Pos, l.ID, "jump to %s makes a loop", l.Target.Name)
				l.Target, l.Action = nil, Continue
			}
		}
		state[ch] = 2
		return false
	}
	for _, ch := range c.Chains {
		visit(ch)
	}
}
