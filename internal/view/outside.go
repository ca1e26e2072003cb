package view

import (
	"fmt"

	"github.com/teamsgate/teamsgate/internal/model"
)

// A role the spec marks outside (roles: {management: {outside: true}}) sits
// on the far side of the firewall being rendered or audited: management
// workstations, the Event Hub, Conferencing Nodes on another site (DESIGN.md,
// "A role may be marked as outside the firewall being rendered or
// audited"). The mark shapes the perimeter view only. A scoped view
// (--scope ROLE) is the firewall of the role's own machines, whichever
// role it is: every other role is already on its far side.

// behind reports whether a rule side is machines the firewall protects: a
// role bound to addresses or host names that the spec does not mark
// outside.
func behind(t model.Target) bool {
	return t.Role != "" && !t.Outside && !t.Any && (len(t.Prefixes) > 0 || len(t.Hosts) > 0)
}

// perimeter applies the outside marks to the perimeter view's items. A
// rule with an outside end crosses the firewall only when its other end is
// behind it: the rule is kept, checked and rendered in that one crossing,
// and its outside end becomes a peer, the role's addresses under the
// role's name as an address set (Set), no longer a role (Role) of the
// deployment's machines, so that no target places a rule at it (an AWS
// security group, an NSG direction, a Kubernetes policy for the outside
// hosts). A rule with no end behind the firewall does not cross it: it is
// left out, with a line in the header.
func perimeter(items []Item, header *[]string) (kept, left []Item) {
	for _, it := range items {
		r := &it.Rule
		if !r.Source.Outside && !r.Destination.Outside {
			kept = append(kept, it)
			continue
		}
		if !behind(r.Source) && !behind(r.Destination) {
			*header = append(*header, fmt.Sprintf("%s: left out: it does not cross this firewall (neither %s nor %s is behind it)", r.ID, SideName(r.Source), SideName(r.Destination)))
			left = append(left, it)
			continue
		}
		for _, side := range []*model.Target{&r.Source, &r.Destination} {
			if side.Outside && side.Role != "" {
				side.Set, side.Role = side.Role, ""
			}
		}
		kept = append(kept, it)
	}
	return kept, left
}

// SideName names a rule side for messages and headers, as the view's own
// do: its role (saying when the spec marks it outside), its set, any.
func SideName(t model.Target) string {
	if t.Outside {
		return describe(t) + " (outside)"
	}
	return describe(t)
}
