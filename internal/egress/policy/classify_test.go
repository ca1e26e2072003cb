package policy

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/teamsgate/teamsgate/internal/model"
)

type classCase struct {
	addr  string // an address, or an address and port
	ok    bool
	class string
}

// defaultClassCases cover every class with the first and last address of
// each of its blocks and the neighbours just outside them.
var defaultClassCases = []classCase{
	{"1.1.1.1", true, "public"},
	{"52.112.0.1", true, "public"},
	{"2603:1063::1", true, "public"},
	{"2a00:1450::1", true, "public"},

	{"0.0.0.0", false, "unspecified"},
	{"::", false, "unspecified"},

	{"0.0.0.1", false, "this-network"},
	{"0.255.255.255", false, "this-network"},
	{"1.0.0.0", true, "public"},

	{"9.255.255.255", true, "public"},
	{"10.0.0.0", false, "private"},
	{"10.255.255.255", false, "private"},
	{"11.0.0.0", true, "public"},
	{"172.15.255.255", true, "public"},
	{"172.16.0.0", false, "private"},
	{"172.31.255.255", false, "private"},
	{"172.32.0.0", true, "public"},
	{"192.167.255.255", true, "public"},
	{"192.168.0.0", false, "private"},
	{"192.168.255.255", false, "private"},
	{"192.169.0.0", true, "public"},

	{"126.255.255.255", true, "public"},
	{"127.0.0.0", false, "loopback"},
	{"127.0.0.1", false, "loopback"},
	{"127.255.255.255", false, "loopback"},
	{"128.0.0.0", true, "public"},
	{"::1", false, "loopback"},

	{"169.253.255.255", true, "public"},
	{"169.254.0.0", false, "link-local"},
	{"169.254.169.253", false, "link-local"},
	{"169.254.169.254", false, "metadata"},
	{"169.254.169.255", false, "link-local"},
	{"169.254.255.255", false, "link-local"},
	{"169.255.0.0", true, "public"},
	{"fe80::", false, "link-local"},
	{"febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false, "link-local"},
	{"fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false, "not-public"},
	{"fd00:ec2::253", false, "ula"},
	{"fd00:ec2::254", false, "metadata"},
	{"fd00:ec2::255", false, "ula"},

	{"168.63.129.15", true, "public"},
	{"168.63.129.16", false, "azure-wireserver"},
	{"168.63.129.17", true, "public"},

	{"100.63.255.255", true, "public"},
	{"100.64.0.0", false, "cgnat"},
	{"100.100.100.200", false, "cgnat"},
	{"100.127.255.255", false, "cgnat"},
	{"100.128.0.0", true, "public"},

	{"fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false, "not-public"},
	{"fc00::", false, "ula"},
	{"fd00::1", false, "ula"},
	{"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false, "ula"},
	{"fe00::", false, "not-public"},

	{"::fffe:ffff:ffff", false, "not-public"},
	{"::ffff:0.0.0.0", false, "ipv4-mapped"},
	{"::ffff:8.8.8.8", false, "ipv4-mapped"},
	{"::ffff:169.254.169.254", false, "ipv4-mapped"},
	{"::ffff:255.255.255.255", false, "ipv4-mapped"},
	{"::1:0:0:0", false, "not-public"},

	{"::2", false, "ipv4-compatible"},
	{"::a9fe:a9fe", false, "ipv4-compatible"},
	{"::808:808", false, "ipv4-compatible"},
	{"::ffff:ffff", false, "ipv4-compatible"},
	{"::1:0:0", false, "not-public"},

	{"64:ff9a:ffff:ffff:ffff:ffff:ffff:ffff", false, "not-public"},
	{"64:ff9b::", false, "nat64"},
	{"64:ff9b::a9fe:a9fe", false, "nat64"},
	{"64:ff9b::ffff:ffff", false, "nat64"},
	{"64:ff9b::1:0:0", false, "not-public"},
	{"64:ff9b:0:ffff:ffff:ffff:ffff:ffff", false, "not-public"},
	{"64:ff9b:1::", false, "nat64"},
	{"64:ff9b:1::a9fe:a9fe", false, "nat64"},
	{"64:ff9b:1:ffff:ffff:ffff:ffff:ffff", false, "nat64"},
	{"64:ff9b:2::", false, "not-public"},

	{"2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true, "public"},
	{"2002::", false, "6to4"},
	{"2002:a9fe:a9fe::1", false, "6to4"},
	{"2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false, "6to4"},
	{"2003::", true, "public"},
	{"192.88.98.255", true, "public"},
	{"192.88.99.0", false, "6to4"},
	{"192.88.99.255", false, "6to4"},
	{"192.88.100.0", true, "public"},

	{"2000:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true, "public"},
	{"2001::", false, "teredo"},
	{"2001:0:ffff:ffff:ffff:ffff:ffff:ffff", false, "teredo"},
	{"2001:1::", false, "not-public"},
	{"2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff", false, "not-public"},
	{"2001:200::", true, "public"},

	{"223.255.255.255", true, "public"},
	{"224.0.0.0", false, "multicast"},
	{"239.255.255.255", false, "multicast"},
	{"feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false, "site-local"},
	{"ff00::", false, "multicast"},
	{"ff02::1", false, "multicast"},
	{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false, "multicast"},

	{"198.17.255.255", true, "public"},
	{"198.18.0.0", false, "benchmarking"},
	{"198.19.255.255", false, "benchmarking"},
	{"198.20.0.0", true, "public"},

	{"240.0.0.0", false, "reserved"},
	{"255.255.255.254", false, "reserved"},
	{"255.255.255.255", false, "broadcast"},

	{"192.0.1.255", true, "public"},
	{"192.0.2.0", false, "documentation"},
	{"192.0.2.255", false, "documentation"},
	{"192.0.3.0", true, "public"},
	{"198.51.99.255", true, "public"},
	{"198.51.100.0", false, "documentation"},
	{"198.51.100.255", false, "documentation"},
	{"198.51.101.0", true, "public"},
	{"203.0.112.255", true, "public"},
	{"203.0.113.0", false, "documentation"},
	{"203.0.113.255", false, "documentation"},
	{"203.0.114.0", true, "public"},
	{"2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", true, "public"},
	{"2001:db8::", false, "documentation"},
	{"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", false, "documentation"},
	{"2001:db9::", true, "public"},
	{"3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true, "public"},
	{"3fff::", false, "documentation"},
	{"3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff", false, "documentation"},
	{"3fff:1000::", true, "public"},

	{"febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false, "link-local"},
	{"fec0::", false, "site-local"},
	{"fec0::1", false, "site-local"},

	{"191.255.255.255", true, "public"},
	{"192.0.0.0", false, "not-public"},
	{"192.0.0.8", false, "not-public"},
	{"192.0.0.255", false, "not-public"},
	{"192.0.1.0", true, "public"},
	{"100::1", false, "not-public"},
	{"5f00::1", false, "not-public"},
	{"1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false, "not-public"},
	{"4000::", false, "not-public"},

	{"fe80::1%eth0", false, "zoned"},
	{"2603:1063::1%eth0", false, "zoned"},
}

func TestClassifierDefault(t *testing.T) {
	runClassCases(t, NewClassifier(nil, nil), defaultClassCases, 443)
}

func TestClassifierAllow(t *testing.T) {
	c := NewClassifier(prefixes("127.0.0.0/8", "10.1.0.0/16", "168.63.129.16/32", "::ffff:0:0/96", "fd00::/8", "192.0.2.0/24"), nil)
	runClassCases(t, c, []classCase{
		{"127.0.0.1", true, "allow-range"},
		{"127.255.255.255", true, "allow-range"},
		{"10.1.0.0", true, "allow-range"},
		{"10.1.255.255", true, "allow-range"},
		{"10.0.255.255", false, "private"},
		{"10.2.0.0", false, "private"},
		{"168.63.129.16", true, "allow-range"},
		{"192.0.2.1", true, "allow-range"},
		{"fd00:ec2::254", true, "allow-range"},
		{"fe00::", false, "not-public"},
		{"::1", false, "loopback"},
		{"::ffff:127.0.0.1", false, "ipv4-mapped"}, // never overridden
		{"::ffff:8.8.8.8", false, "ipv4-mapped"},
		{"8.8.8.8", true, "public"},
	}, 443)
}

func TestClassifierSelf(t *testing.T) {
	c := NewClassifier(prefixes("127.0.0.0/8", "192.0.2.0/24", "::1/128"), []netip.AddrPort{
		netip.MustParseAddrPort("127.0.0.1:3128"),
		netip.MustParseAddrPort("192.0.2.10:3128"),
		netip.MustParseAddrPort("[::]:8080"),
		netip.MustParseAddrPort("0.0.0.0:9090"),
		netip.MustParseAddrPort("[::ffff:192.0.2.20]:3128"),
	})
	runClassCases(t, c, []classCase{
		{"127.0.0.1:3128", false, "self"}, // although the allow ranges hold it
		{"[::ffff:127.0.0.1]:3128", false, "self"},
		{"127.0.0.1:3129", true, "allow-range"},
		{"127.0.0.2:3128", true, "allow-range"},
		{"192.0.2.10:3128", false, "self"},
		{"192.0.2.10:443", true, "allow-range"},
		{"192.0.2.20:3128", false, "self"},
		{"127.0.0.5:8080", false, "self"}, // [::] listens on IPv4 too
		{"[::1]:8080", false, "self"},
		{"0.0.0.0:8080", false, "self"},
		{"[::]:8080", false, "self"},
		{"[::1]:9090", false, "self"},
		{"127.0.0.1:9090", false, "self"},
		{"192.0.2.10:8080", true, "allow-range"}, // the caller passes its interfaces' addresses
		{"1.1.1.1:8080", true, "public"},
		{"[::1]:443", true, "allow-range"},
	}, 0)
}

func runClassCases(t *testing.T, c *Classifier, cases []classCase, port uint16) {
	t.Helper()
	classes := Classes()
	for _, tt := range cases {
		var ap netip.AddrPort
		if port == 0 {
			ap = netip.MustParseAddrPort(tt.addr)
		} else {
			ap = netip.AddrPortFrom(netip.MustParseAddr(tt.addr), port)
		}
		ok, class := c.Check(ap)
		if ok != tt.ok || class != tt.class {
			t.Errorf("Check(%v) = %v, %q; want %v, %q", ap, ok, class, tt.ok, tt.class)
		}
		if !slices.Contains(classes, class) {
			t.Errorf("Check(%v): class %q is not in Classes()", ap, class)
		}
	}
	if ok, class := c.Check(netip.AddrPort{}); ok || class != "invalid" {
		t.Errorf("Check(zero) = %v, %q; want false, invalid", ok, class)
	}
}

// TestRegistryClasses keeps the classifier in step with the model: every
// special-use block has a class, every class has addresses, and the first
// and last address of every block are denied.
func TestRegistryClasses(t *testing.T) {
	classes, _ := classTable()
	for _, k := range classes {
		if len(k.set.Prefixes()) == 0 {
			t.Errorf("class %q holds no address: was a block of model.SpecialUseBlocks renamed?", k.name)
		}
	}
	c := NewClassifier(nil, nil)
	for _, b := range model.SpecialUseBlocks() {
		if _, ok := registryClass[b.Name]; !ok {
			t.Errorf("special-use block %s %q has no class in registryClass", b.Prefix, b.Name)
		}
		first, last := b.Prefix.Masked().Addr(), lastAddr(b.Prefix)
		for _, a := range []netip.Addr{first, last} {
			if ok, class := c.Check(netip.AddrPortFrom(a, 443)); ok {
				t.Errorf("Check(%v) in %s = ok, %q", a, b.Name, class)
			}
		}
	}
	for _, b := range extraBlocks {
		if !slices.Contains(denyOrder, b.class) {
			t.Errorf("extra block %s: class %q is not in denyOrder", b.prefix, b.class)
		}
	}
}

func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(a)*8; i++ {
		a[i/8] |= 0x80 >> (i % 8)
	}
	out, _ := netip.AddrFromSlice(a)
	return out
}

// TestClassifierOracle checks random addresses against the definition: an
// address is accepted exactly when it is in the public Internet and is not
// Azure's WireServer.
func TestClassifierOracle(t *testing.T) {
	c := NewClassifier(nil, nil)
	wire := netip.MustParseAddr("168.63.129.16")
	r := rand.New(rand.NewPCG(5, 6))
	for range 100000 {
		var a netip.Addr
		if r.IntN(2) == 0 {
			a = netip.AddrFrom4([4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())})
		} else {
			var b [16]byte
			for i := range b {
				b[i] = byte(r.Uint32())
			}
			b[0] = []byte{0x20, 0x26, 0x3f, 0xfc, 0xfe, 0xff, 0x00, 0x64}[r.IntN(8)] // near the blocks
			a = netip.AddrFrom16(b)
		}
		want := model.Internet().Contains(a) && a != wire
		if ok, class := c.Check(netip.AddrPortFrom(a, 443)); ok != want {
			t.Fatalf("Check(%v) = %v, %q; want %v", a, ok, class, want)
		}
	}
}

func TestClassifierAllocs(t *testing.T) {
	c := NewClassifier(prefixes("127.0.0.0/8"), []netip.AddrPort{netip.MustParseAddrPort("[::]:3128")})
	for _, ap := range []string{"52.112.0.1:443", "[2603:1063::1]:443", "127.0.0.1:80", "10.0.0.1:443"} {
		ap := netip.MustParseAddrPort(ap)
		if n := testing.AllocsPerRun(100, func() { c.Check(ap) }); n != 0 {
			t.Errorf("Check(%v) allocates %v times", ap, n)
		}
	}
}

func BenchmarkClassify(b *testing.B) {
	c := NewClassifier(prefixes("127.0.0.0/8"), []netip.AddrPort{netip.MustParseAddrPort("[::]:3128")})
	for _, ap := range []string{"52.112.0.1:443", "[2603:1063::1]:443", "169.254.169.254:80", "[2001:db8::1]:443"} {
		ap := netip.MustParseAddrPort(ap)
		b.Run(ap.String(), func(b *testing.B) {
			for b.Loop() {
				c.Check(ap)
			}
		})
	}
}
