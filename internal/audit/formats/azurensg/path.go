package azurensg

// A subnet NSG and a NIC NSG on one path. Microsoft Learn, "How network
// security groups filter network traffic": for inbound traffic Azure
// processes the rules of the NSG associated with the subnet first, then
// those of the NSG associated with the network interface; for outbound
// traffic the network interface's first, then the subnet's; traffic must
// be allowed by both. In the audit model that is two base chains in
// sequence per direction (ruleset.Config.Paths: a packet passes when every
// chain it crosses accepts it).

import (
	"fmt"
	"strings"

	"github.com/teamsgate/teamsgate/internal/audit/ruleset"
	"github.com/teamsgate/teamsgate/internal/jsonpos"
	"github.com/teamsgate/teamsgate/internal/view"
)

// NSG is one network security group read from an export.
type NSG struct {
	// Name is the NSG's name, when the export gives it.
	Name string
	// File is the file it was read from; Path puts it in the positions of
	// its rules, so that findings about two files point at the right one.
	File   string
	Config *ruleset.Config
	// Subnets and NICs are the ids of the subnets and network interfaces
	// the export associates the NSG with (properties.subnets,
	// properties.networkInterfaces), which say whether it is a subnet NSG
	// or a NIC NSG.
	Subnets, NICs []string
}

// Place is where an NSG is associated.
type Place uint8

// The places of an NSG on a path.
const (
	// PlaceUnknown: the export does not say, or says both.
	PlaceUnknown Place = iota
	PlaceSubnet
	PlaceNIC
)

func (p Place) String() string { return [...]string{"unknown", "subnet", "nic"}[p] }

// Place returns where the export says the NSG is associated: a subnet or a
// network interface, or PlaceUnknown when it lists neither or both.
func (n *NSG) Place() Place {
	switch {
	case len(n.Subnets) > 0 && len(n.NICs) == 0:
		return PlaceSubnet
	case len(n.NICs) > 0 && len(n.Subnets) == 0:
		return PlaceNIC
	}
	return PlaceUnknown
}

// label names an NSG in rule ids: its place and its name.
func (n *NSG) label(pl Place) string {
	if n.Name == "" {
		return pl.String()
	}
	return pl.String() + " " + n.Name
}

// Path returns the configuration of a path through a subnet NSG and a NIC
// NSG, in Azure's order: inbound the subnet's chain then the NIC's,
// outbound the NIC's then the subnet's. Every rule's id and chain name the
// NSG and its place ("subnet web-nsg/DenyAllInBound", chain "subnet
// web-nsg Inbound"). The NSGs' configurations are taken over, not copied.
func Path(subnet, nic *NSG) *ruleset.Config {
	cfg := &ruleset.Config{Format: "azure-nsg", Directional: true, Families: ruleset.FamilyBoth, Paths: map[view.Direction][]*ruleset.Chain{}}
	for _, x := range []struct {
		n  *NSG
		pl Place
	}{{subnet, PlaceSubnet}, {nic, PlaceNIC}} {
		label := x.n.label(x.pl)
		for _, ch := range x.n.Config.Chains {
			ch.Name = label + " " + ch.Name
			for _, l := range append(append([]*ruleset.Line(nil), ch.Lines...), ch.Policy) {
				if l == nil {
					continue
				}
				l.ID = label + "/" + l.ID
				l.Chain = ch.Name
				if x.n.File != "" {
					l.Pos.File = x.n.File
				}
			}
			cfg.Chains = append(cfg.Chains, ch)
		}
		for _, note := range x.n.Config.Notes {
			cfg.Notes = append(cfg.Notes, label+": "+note)
		}
	}
	cfg.Paths[view.Inbound] = append(append([]*ruleset.Chain(nil), subnet.Config.Paths[view.Inbound]...), nic.Config.Paths[view.Inbound]...)
	cfg.Paths[view.Outbound] = append(append([]*ruleset.Chain(nil), nic.Config.Paths[view.Outbound]...), subnet.Config.Paths[view.Outbound]...)
	cfg.Notes = append(cfg.Notes, fmt.Sprintf("a subnet NSG (%s) and a network interface NSG (%s) on one path: inbound traffic must be allowed by the subnet's rules, then the interface's; outbound by the interface's, then the subnet's",
		orUnnamed(subnet.Name), orUnnamed(nic.Name)))
	return cfg
}

func orUnnamed(name string) string {
	if name == "" {
		return "unnamed"
	}
	return name
}

// associations returns the ids of an NSG's associations of one kind
// (ARM: [{"id": "/subscriptions/…/subnets/web"}]).
func (p *parser) associations(props *jsonpos.Value, key string) []string {
	v := props.Get(key)
	if v.IsNull() {
		return nil
	}
	if v.Kind != jsonpos.Array {
		p.ds.Errorf(v.Pos, v.Path, "%s must be an array, not %s", key, v.Describe())
		return nil
	}
	var ids []string
	for _, it := range v.Items {
		id := strings.TrimSpace(str(it.Get("id")))
		if id == "" {
			p.ds.Errorf(it.Pos, it.Path, "%s entries must be objects with an id, not %s", key, it.Describe())
			continue
		}
		ids = append(ids, id)
	}
	return ids
}
