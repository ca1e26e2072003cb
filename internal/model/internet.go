package model

import (
	"net/netip"
	"sync"

	"go4.org/netipx"
)

// The public Internet: the addresses a service "on the Internet" can have.
// Document 002 says where its flows go — the OCSP responders of the
// certificate authorities, Microsoft's Windows Update servers — but not at
// which addresses; any address would also let the flow reach private,
// loopback and multicast space, which no such service has and which an
// Azure NSG's default rules keep apart (AllowInternetOutBound allows the
// service tag Internet, "The IP address space that's outside the virtual
// network and reachable by the public internet", Microsoft Learn, "Virtual
// network service tags"; DenyAllOutBound drops the rest).
//
// The set is the unicast address space less the special-purpose blocks:
//
//   - IPv4: 0.0.0.0/0 less the blocks of the IANA IPv4 Special-Purpose
//     Address Registry (RFC 6890, updated by RFC 8190) — all of them but
//     three globally reachable /24s (AS112 and AMT), which stay in — and the
//     multicast block 224.0.0.0/4 (IANA "IPv4 Multicast Address Space
//     Registry", RFC 5771);
//   - IPv6: 2000::/3, the only block of the IANA "Internet Protocol Version
//     6 Address Space" registry allocated as global unicast (RFC 4291 §2.4:
//     everything outside it is reserved by the IETF, unique local, link
//     local or multicast), less the blocks of the IANA IPv6 Special-Purpose
//     Address Registry inside it: 2001::/23, 2001:db8::/32, 2002::/16 and
//     3fff::/20.
//
// The whole of 192.0.0.0/24 and 2001::/23 is left out, although each holds
// a few small globally reachable assignments (anycast addresses of PCP and
// TURN, AMT, AS112, ORCHIDv2): no flow of the catalog goes to them, and a
// list with holes in those blocks would be longer for every target.
//
// The documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24,
// 2001:db8::/32, 3fff::/20) and the benchmarking range 198.18.0.0/15 are
// special-use and so not in the public Internet, although examples and
// tests use them in place of public addresses: a test that wants an
// address inside the Internet must use another one.

// SpecialUse is one block the public Internet leaves out.
type SpecialUse struct {
	Prefix netip.Prefix
	Name   string // the registry's name of the block
	Source string // the registry entry's RFC
}

// specialUse lists the blocks the public Internet leaves out, as the IANA
// special-purpose registries (2025 versions) and the multicast and IPv6
// address space registries name them. The IPv6 entries outside 2000::/3
// are listed for the record only: the IPv6 Internet starts from 2000::/3.
var specialUse = []SpecialUse{
	{netip.MustParsePrefix("0.0.0.0/8"), "\"This network\"", "RFC 791 §3.2"},
	{netip.MustParsePrefix("10.0.0.0/8"), "Private-Use", "RFC 1918"},
	{netip.MustParsePrefix("100.64.0.0/10"), "Shared Address Space", "RFC 6598"},
	{netip.MustParsePrefix("127.0.0.0/8"), "Loopback", "RFC 1122 §3.2.1.3"},
	{netip.MustParsePrefix("169.254.0.0/16"), "Link Local", "RFC 3927"},
	{netip.MustParsePrefix("172.16.0.0/12"), "Private-Use", "RFC 1918"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF Protocol Assignments", "RFC 6890 §2.1"},
	{netip.MustParsePrefix("192.0.2.0/24"), "Documentation (TEST-NET-1)", "RFC 5737"},
	{netip.MustParsePrefix("192.88.99.0/24"), "Deprecated (6to4 Relay Anycast)", "RFC 7526"},
	{netip.MustParsePrefix("192.168.0.0/16"), "Private-Use", "RFC 1918"},
	{netip.MustParsePrefix("198.18.0.0/15"), "Benchmarking", "RFC 2544"},
	{netip.MustParsePrefix("198.51.100.0/24"), "Documentation (TEST-NET-2)", "RFC 5737"},
	{netip.MustParsePrefix("203.0.113.0/24"), "Documentation (TEST-NET-3)", "RFC 5737"},
	{netip.MustParsePrefix("224.0.0.0/4"), "Multicast", "RFC 5771"},
	{netip.MustParsePrefix("240.0.0.0/4"), "Reserved", "RFC 1112 §4"},
	{netip.MustParsePrefix("255.255.255.255/32"), "Limited Broadcast", "RFC 8190, RFC 919 §7"},
	{netip.MustParsePrefix("::/128"), "Unspecified Address", "RFC 4291"},
	{netip.MustParsePrefix("::1/128"), "Loopback Address", "RFC 4291"},
	{netip.MustParsePrefix("::ffff:0:0/96"), "IPv4-mapped Address", "RFC 4291"},
	{netip.MustParsePrefix("64:ff9b::/96"), "IPv4-IPv6 Translat.", "RFC 6052"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "IPv4-IPv6 Translat.", "RFC 8215"},
	{netip.MustParsePrefix("100::/64"), "Discard-Only Address Block", "RFC 6666"},
	{netip.MustParsePrefix("2001::/23"), "IETF Protocol Assignments", "RFC 2928"},
	{netip.MustParsePrefix("2001:db8::/32"), "Documentation", "RFC 3849"},
	{netip.MustParsePrefix("2002::/16"), "6to4", "RFC 3056"},
	{netip.MustParsePrefix("3fff::/20"), "Documentation", "RFC 9637"},
	{netip.MustParsePrefix("5f00::/16"), "Segment Routing (SRv6) SIDs", "RFC 9602"},
	{netip.MustParsePrefix("fc00::/7"), "Unique-Local", "RFC 4193"},
	{netip.MustParsePrefix("fe80::/10"), "Link-Local Unicast", "RFC 4291"},
	{netip.MustParsePrefix("ff00::/8"), "Multicast", "RFC 4291"},
}

// internetCover is the unicast space the public Internet is cut from, per
// family.
var internetCover = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/0"),
	netip.MustParsePrefix("2000::/3"),
}

// SpecialUseBlocks returns the blocks the public Internet leaves out, in
// the order of the registries. The slice is a copy.
func SpecialUseBlocks() []SpecialUse { return append([]SpecialUse(nil), specialUse...) }

// internet is the public Internet, computed once.
var internet = sync.OnceValue(func() *netipx.IPSet {
	var b netipx.IPSetBuilder
	for _, p := range internetCover {
		b.AddPrefix(p)
	}
	for _, s := range specialUse {
		b.RemovePrefix(s.Prefix)
	}
	s, err := b.IPSet()
	if err != nil {
		panic("model: the public Internet: " + err.Error())
	}
	return s
})

// Internet returns the public Internet as a set: the unicast space less
// the special-use blocks (see SpecialUseBlocks). The set is shared and
// must not be modified; netipx.IPSet has no mutating methods.
func Internet() *netipx.IPSet { return internet() }

// InternetBlock is a covering prefix of the public Internet with the
// special-use blocks inside it, for targets that can say "this prefix
// except those" (a Kubernetes NetworkPolicy's ipBlock).
type InternetBlock struct {
	Prefix netip.Prefix
	Except []netip.Prefix // merged, sorted
}

// InternetBlocks returns the public Internet as covering prefixes less
// exceptions: 0.0.0.0/0 and 2000::/3, each with the special-use blocks
// inside it. Together they are exactly Internet().
func InternetBlocks() []InternetBlock {
	out := make([]InternetBlock, 0, len(internetCover))
	for _, c := range internetCover {
		var b netipx.IPSetBuilder
		b.AddPrefix(c)
		b.RemoveSet(Internet())
		s, _ := b.IPSet()
		out = append(out, InternetBlock{Prefix: c, Except: s.Prefixes()})
	}
	return out
}
