package policy

import (
	"net/netip"
	"slices"
	"sync"

	"go4.org/netipx"

	"github.com/teamsgate/teamsgate/internal/model"
)

// The classes of addresses, as Classifier.Check names them in the
// decision log and the metrics' reason label. They are stable: dashboards
// and alerts key on them.
const (
	classPublic     = "public"      // in the public Internet: accepted
	classAllowRange = "allow-range" // denied by default, accepted by the configured allow ranges
	classSelf       = "self"        // one of the proxy's own listening addresses and ports
	classInvalid    = "invalid"     // the zero address
	classZoned      = "zoned"       // an IPv6 address with a zone, which would pick an interface
	classNotPublic  = "not-public"  // outside the public Internet and no narrower class

	classIPv4Mapped     = "ipv4-mapped"
	classUnspecified    = "unspecified"
	classLoopback       = "loopback"
	classMetadata       = "metadata"
	classWireServer     = "azure-wireserver"
	classBroadcast      = "broadcast"
	classTeredo         = "teredo"
	classThisNetwork    = "this-network"
	classPrivate        = "private"
	classLinkLocal      = "link-local"
	classCGNAT          = "cgnat"
	classULA            = "ula"
	classIPv4Compatible = "ipv4-compatible"
	classNAT64          = "nat64"
	class6to4           = "6to4"
	classMulticast      = "multicast"
	classBenchmarking   = "benchmarking"
	classReserved       = "reserved"
	classDocumentation  = "documentation"
	classSiteLocal      = "site-local"
)

// denyOrder is the order in which the classes of denied addresses are
// tried: a block before any block that holds it (metadata before
// link-local, broadcast before reserved, loopback and unspecified before
// ipv4-compatible, Teredo before the rest of 2001::/23).
var denyOrder = []string{
	classIPv4Mapped, classUnspecified, classLoopback, classMetadata, classWireServer,
	classBroadcast, classTeredo, classThisNetwork, classPrivate, classLinkLocal, classCGNAT,
	classULA, classIPv4Compatible, classNAT64, class6to4, classMulticast, classBenchmarking,
	classReserved, classDocumentation, classSiteLocal,
}

// registryClass names the class of each block of model.SpecialUseBlocks,
// by the block's registry name. A block of class not-public gets no class
// of its own. TestRegistryClasses fails when the model gains a block this
// map does not name.
var registryClass = map[string]string{
	`"This network"`:                  classThisNetwork,
	"Private-Use":                     classPrivate,
	"Shared Address Space":            classCGNAT,
	"Loopback":                        classLoopback,
	"Loopback Address":                classLoopback,
	"Link Local":                      classLinkLocal,
	"Link-Local Unicast":              classLinkLocal,
	"IETF Protocol Assignments":       classNotPublic,
	"Documentation":                   classDocumentation,
	"Documentation (TEST-NET-1)":      classDocumentation,
	"Documentation (TEST-NET-2)":      classDocumentation,
	"Documentation (TEST-NET-3)":      classDocumentation,
	"Deprecated (6to4 Relay Anycast)": class6to4,
	"Benchmarking":                    classBenchmarking,
	"Multicast":                       classMulticast,
	"Reserved":                        classReserved,
	"Limited Broadcast":               classBroadcast,
	"Unspecified Address":             classUnspecified,
	"IPv4-mapped Address":             classIPv4Mapped,
	"IPv4-IPv6 Translat.":             classNAT64,
	"Discard-Only Address Block":      classNotPublic,
	"6to4":                            class6to4,
	"Segment Routing (SRv6) SIDs":     classNotPublic,
	"Unique-Local":                    classULA,
}

// extraBlocks are the blocks the classifier names that the model's
// special-use blocks do not name on their own: narrower blocks inside them
// with a name of their own, blocks of the IPv6 space outside 2000::/3 that
// the model leaves out whole, and Azure's WireServer, a public address.
var extraBlocks = []struct {
	prefix netip.Prefix
	class  string
}{
	// RFC 1122 §3.2.1.3 (a): 0.0.0.0 is "this host"; a dial to it reaches
	// the proxy's own host.
	{netip.MustParsePrefix("0.0.0.0/32"), classUnspecified},
	// The instance metadata services of Azure ("Azure Instance Metadata
	// Service", Microsoft Learn), AWS and Google Cloud answer at
	// 169.254.169.254; AWS's IPv6 endpoint is fd00:ec2::254 ("Access
	// instance metadata for an EC2 instance", AWS documentation).
	{netip.MustParsePrefix("169.254.169.254/32"), classMetadata},
	{netip.MustParsePrefix("fd00:ec2::254/128"), classMetadata},
	// "What is IP address 168.63.129.16?" (Microsoft Learn): the virtual
	// public address of Azure's host, which serves a VM its DNS, health
	// probes and the guest agent's WireServer. It is public address space,
	// so only this entry keeps a client of the proxy away from it.
	{netip.MustParsePrefix("168.63.129.16/32"), classWireServer},
	// RFC 4291 §2.5.5.1: IPv4-compatible IPv6 addresses, deprecated; a
	// stack may still route ::a9fe:a9fe to 169.254.169.254.
	{netip.MustParsePrefix("::/96"), classIPv4Compatible},
	// RFC 4380: Teredo, which embeds an IPv4 address (obfuscated) in
	// 2001::/32.
	{netip.MustParsePrefix("2001::/32"), classTeredo},
	// RFC 3879: site-local addresses, deprecated but still routed by some
	// stacks as local.
	{netip.MustParsePrefix("fec0::/10"), classSiteLocal},
}

// addrClass is one class of denied addresses.
type addrClass struct {
	name string
	set  *netipx.IPSet
}

// classTable holds the classes of denied addresses, in denyOrder, and the
// public Internet less every one of them (the WireServer address is the
// only one inside it). Both are built once and shared by every Classifier.
var classTable = sync.OnceValues(func() ([]addrClass, *netipx.IPSet) {
	blocks := make(map[string]*netipx.IPSetBuilder)
	add := func(class string, p netip.Prefix) {
		if class == classNotPublic {
			return
		}
		if blocks[class] == nil {
			blocks[class] = new(netipx.IPSetBuilder)
		}
		blocks[class].AddPrefix(p)
	}
	for _, b := range model.SpecialUseBlocks() {
		add(registryClass[b.Name], b.Prefix)
	}
	for _, b := range extraBlocks {
		add(b.class, b.prefix)
	}
	var public netipx.IPSetBuilder
	public.AddSet(model.Internet())
	classes := make([]addrClass, 0, len(denyOrder))
	for _, name := range denyOrder {
		b := blocks[name]
		if b == nil {
			b = new(netipx.IPSetBuilder) // a block renamed in the model; TestRegistryClasses says so
		}
		set, err := b.IPSet()
		if err != nil {
			panic("policy: class " + name + ": " + err.Error())
		}
		classes = append(classes, addrClass{name: name, set: set})
		public.RemoveSet(set)
	}
	set, err := public.IPSet()
	if err != nil {
		panic("policy: the public Internet: " + err.Error())
	}
	return classes, set
})

// Classes returns every class Classifier.Check can return, accepted ones
// first: the values of the decision log's address_class field.
func Classes() []string {
	return slices.Concat([]string{classPublic, classAllowRange, classSelf, classInvalid, classZoned}, denyOrder, []string{classNotPublic})
}

// Classifier decides which addresses the proxy may dial: the answers of
// the names it resolves. It is an allow-list design: an address is
// accepted only when it is in the public Internet (model.Internet) and not
// Azure's WireServer; everything else is denied, each with its class, so
// that a special-use block nobody thought of is denied too. It is
// immutable and safe for concurrent use.
type Classifier struct {
	classes []addrClass
	public  *netipx.IPSet
	allow   *netipx.IPSet
	// self holds the proxy's own addresses and ports; selfPorts the ports
	// it listens on at an unspecified address (0.0.0.0 or ::).
	self      map[netip.AddrPort]bool
	selfPorts map[uint16]bool
}

// NewClassifier returns a classifier that also accepts the addresses of
// allow (a private upstream, tests on loopback), and that denies self, the
// proxy's own listening addresses and ports, always.
//
// The caller passes in self every local address the proxy listens on,
// each with the listening port: for a listener on 0.0.0.0:3128 or
// [::]:3128 that is every address of every local interface with port 3128,
// since the classifier cannot see the interfaces. An unspecified address
// in self still denies, on its port, the loopback addresses and the
// unspecified addresses of both families, which reach the host itself
// whatever its interfaces.
func NewClassifier(allow []netip.Prefix, self []netip.AddrPort) *Classifier {
	classes, public := classTable()
	c := &Classifier{
		classes:   classes,
		public:    public,
		self:      make(map[netip.AddrPort]bool),
		selfPorts: make(map[uint16]bool),
	}
	var b netipx.IPSetBuilder
	for _, p := range allow {
		if p.IsValid() {
			b.AddPrefix(p.Masked())
		}
	}
	c.allow, _ = b.IPSet() // valid prefixes only: no error
	for _, ap := range self {
		a := ap.Addr().Unmap().WithZone("")
		if a.IsUnspecified() {
			c.selfPorts[ap.Port()] = true
		}
		c.self[netip.AddrPortFrom(a, ap.Port())] = true
	}
	return c
}

// Check reports whether the proxy may dial ap, and the class of its
// address: "public" or "allow-range" when it may, else why not ("self",
// "loopback", "private", "metadata", … "not-public"; Classes lists them
// all).
//
// In order: the proxy's own addresses ("self") are denied whatever the
// allow ranges say, since a tunnel to itself is a loop that exhausts it.
// An IPv4-mapped IPv6 address (::ffff:0:0/96) is denied as such, also
// when the allow ranges hold it: a dialer must never be handed one, since
// it reaches an IPv4 address that rules written for IPv4 never saw. A
// zoned address is denied: a resolver never answers with one. Then a
// public address is accepted, and an address of the allow ranges; the
// rest is denied with its class.
func (c *Classifier) Check(ap netip.AddrPort) (ok bool, class string) {
	a := ap.Addr()
	if !a.IsValid() {
		return false, classInvalid
	}
	if c.isSelf(a, ap.Port()) {
		return false, classSelf
	}
	switch {
	case a.Zone() != "":
		return false, classZoned
	case a.Is4In6():
		return false, classIPv4Mapped
	case c.public.Contains(a):
		return true, classPublic
	case c.allow.Contains(a):
		return true, classAllowRange
	}
	for _, k := range c.classes {
		if k.set.Contains(a) {
			return false, k.name
		}
	}
	return false, classNotPublic
}

func (c *Classifier) isSelf(a netip.Addr, port uint16) bool {
	a = a.Unmap().WithZone("")
	if c.self[netip.AddrPortFrom(a, port)] {
		return true
	}
	return c.selfPorts[port] && (a.IsLoopback() || a.IsUnspecified())
}
