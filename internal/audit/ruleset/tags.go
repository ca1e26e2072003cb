package ruleset

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/teamsgate/teamsgate/internal/audit/packet"
	"github.com/teamsgate/teamsgate/internal/servicetag"
)

// ServiceTags resolves Azure service tags, for NSG rules and for plan
// rules that name a tag. The three tags every NSG has are built in; the
// rest come from a ServiceTags_Public file. A tag it cannot resolve is an
// error at the point of use, never an empty set.
type ServiceTags struct {
	// Data is the service-tags file, or nil.
	Data *servicetag.Data
	// VirtualNetwork is the address space of the virtual network (and
	// whatever is peered or connected to it). Nil leaves the
	// VirtualNetwork tag unresolvable.
	VirtualNetwork []netip.Prefix
}

// azureHostIP is the virtual IP of the Azure host, which the
// AzureLoadBalancer tag stands for ("This tag translates to the virtual IP
// address of the host, 168.63.129.16", Microsoft Learn, "Virtual network
// service tags").
var azureHostIP = netip.MustParsePrefix("168.63.129.16/32")

// Resolve returns the addresses of a tag (case-insensitive; the classic
// spellings INTERNET, VIRTUAL_NETWORK and AZURE_LOADBALANCER are accepted).
//
//   - VirtualNetwork: the prefixes given, otherwise unresolvable.
//   - Internet: the public Internet (packet.Internet, model.Internet: the
//     unicast space less the special-use blocks of the IANA registries),
//     less VirtualNetwork when it is known ("The IP address space that's
//     outside the virtual network and reachable by the public internet",
//     Microsoft Learn, "Virtual network service tags"). It is the very set
//     a plan's Internet endpoint stands for, so a flow to the Internet is
//     exactly what AllowInternetOutBound allows. Microsoft publishes no
//     prefixes for the tag; the special-use blocks are what "reachable by
//     the public internet" excludes by definition.
//   - AzureLoadBalancer: 168.63.129.16.
//   - any other tag: from the service-tags file.
func (t ServiceTags) Resolve(name string) (packet.AddrSet, error) {
	switch strings.ToLower(name) {
	case "virtualnetwork", "virtual_network":
		if t.VirtualNetwork == nil {
			return packet.AddrSet{}, fmt.Errorf("service tag %q: the virtual network's address space is not known (give --vnet CIDR,...)", name)
		}
		return packet.AddrSetOf(t.VirtualNetwork...), nil
	case "internet":
		s := packet.Internet()
		if t.VirtualNetwork != nil {
			s = s.Difference(packet.AddrSetOf(t.VirtualNetwork...))
		}
		return s, nil
	case "azureloadbalancer", "azure_loadbalancer":
		return packet.AddrSetOf(azureHostIP), nil
	}
	tag, err := t.Data.Lookup(name)
	if err != nil {
		return packet.AddrSet{}, err
	}
	return packet.NewAddrSet(tag.IPSet()), nil
}
