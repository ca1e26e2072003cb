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

// nonPublic are the special-purpose ranges of RFC 6890 that are not
// reachable on the public internet, excluded from the Internet tag. The
// documentation ranges (RFC 5737, RFC 3849) are kept, because examples bind
// roles to them in place of public addresses.
var nonPublic = packet.AddrSetOf(
	netip.MustParsePrefix("0.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"), netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"), netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("224.0.0.0/3"),
	netip.MustParsePrefix("::/128"), netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("fc00::/7"), netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("ff00::/8"),
)

// Resolve returns the addresses of a tag (case-insensitive; the classic
// spellings INTERNET, VIRTUAL_NETWORK and AZURE_LOADBALANCER are accepted).
//
//   - VirtualNetwork: the prefixes given, otherwise unresolvable.
//   - Internet: every public address outside VirtualNetwork ("The IP address
//     space that's outside the virtual network and reachable by the public
//     internet").
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
		s := packet.AllAddrs().Difference(nonPublic)
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
