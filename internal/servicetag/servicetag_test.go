package servicetag

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"go4.org/netipx"

	"github.com/teamsgate/teamsgate/internal/jsonpos"
)

// realFile is Azure's public service tags file, change number 398
// (testdata/data/README.md).
const realFile = "../../testdata/data/ServiceTags_Public.changeNumber398.json.gz"

// loadReal returns the real service tags file, uncompressed.
func loadReal(t testing.TB) []byte {
	t.Helper()
	gz, err := os.ReadFile(realFile)
	if err != nil {
		t.Fatal(err)
	}
	r, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRealFile(t *testing.T) {
	d, ds := Parse(loadReal(t))
	if ds.HasErrors() {
		t.Fatalf("parse: %s", ds)
	}
	if d.ChangeNumber != 398 || len(d.Names()) != 3136 {
		t.Errorf("changeNumber %d, %d tags; want 398, 3136", d.ChangeNumber, len(d.Names()))
	}
	ac, err := d.Lookup("azurecloud")
	if err != nil {
		t.Fatal(err)
	}
	// docs/reference/endpoints.md §4: AzureCloud covers most of 52.112.0.0/14 but
	// none of 13.107.64.0/18.
	if ac.IPSet().ContainsPrefix(netip.MustParsePrefix("13.107.64.0/18")) {
		t.Errorf("AzureCloud unexpectedly covers 13.107.64.0/18")
	}
	if _, err := d.Lookup("MicrosoftTeams"); err == nil {
		t.Errorf("Lookup(MicrosoftTeams) succeeded; the file has no such tag")
	}
}

func TestParseFileGzip(t *testing.T) {
	d, ds := ParseFile(realFile)
	if ds.HasErrors() || d.ChangeNumber != 398 {
		t.Fatalf("ParseFile(gz): %v %s", d, ds)
	}
}

func TestBadInput(t *testing.T) {
	for name, tc := range map[string]struct{ in, want string }{
		"not json":     {in: "{", want: "1:2: not an Azure service tags file"},
		"no values":    {in: `{"changeNumber": 1, "values": []}`, want: "1:1: not an Azure service tags file: no changeNumber or no values"},
		"bad prefix":   {in: "{\"changeNumber\": 1, \"values\": [{\"name\":\"X\",\n \"properties\":{\"addressPrefixes\":[\"10.0.0.0/8\", \"10.0.0.0/33\"]}}]}", want: `2:49: X: bad prefix "10.0.0.0/33"`},
		"no name":      {in: "{\"changeNumber\": 1, \"values\": [{\"name\":\"X\"},\n  {\"properties\":{}}]}", want: "2:3: values[1]: service tag without a name"},
		"twice":        {in: "{\"changeNumber\": 1, \"values\": [{\"name\":\"X\"},\n  {\"name\":\"x\"}]}", want: "2:3: x: service tag given twice"},
		"wrong shape":  {in: `[1,2,3]`, want: "1:1: not an Azure service tags file: want an object, got array"},
		"wrong type":   {in: "{\"changeNumber\": 1, \"values\": [{\"name\":\"X\",\n \"properties\":{\"addressPrefixes\":[5]}}]}", want: "2:35: not an Azure service tags file: values.properties.addressPrefixes: want a string, got number"},
		"no change no": {in: `{"values": [{"name":"X"}]}`, want: "1:1: not an Azure service tags file"},
	} {
		t.Run(name, func(t *testing.T) {
			_, ds := Parse([]byte(tc.in))
			if !ds.HasErrors() || !strings.HasPrefix(ds.String(), tc.want) {
				t.Errorf("diagnostics %q, want them to start with %q", ds.String(), tc.want)
			}
		})
	}
}

// FuzzParse: any input gives data or errors, never a panic; every tag
// kept answers Lookup by its name, and every diagnostic has a position.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"changeNumber": 1, "cloud": "Public", "values": [{"name":"AzureCloud","properties":{"addressPrefixes":["52.112.0.0/14","2603:1063::/38"]}}]}`))
	f.Add([]byte(`{"changeNumber": 1, "values": [{"id":"X"},{"name":"x","properties":{"addressPrefixes":["bad"]}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, ds := Parse(data)
		for _, dg := range ds {
			if dg.Pos.Line == 0 && json.Valid(data) && !hasDuplicateKeys(data) {
				t.Errorf("diagnostic without a position: %s", dg)
			}
		}
		if d == nil {
			return
		}
		for _, n := range d.Names() {
			if _, err := d.Lookup(n); err != nil {
				t.Errorf("Lookup(%q): %v", n, err)
			}
		}
	})
}

// hasDuplicateKeys reports whether jsonpos refuses data, which it does for
// duplicate keys that encoding/json accepts; positions are then unknown.
func hasDuplicateKeys(data []byte) bool {
	_, ds := jsonpos.Parse(data)
	return ds.HasErrors()
}

// TestAzureBotService checks the regional layout of the real file: a global
// tag and one tag a region, named "Global.Region" with the region in Region.
func TestAzureBotService(t *testing.T) {
	d, ds := Parse(loadReal(t))
	if ds.HasErrors() {
		t.Fatalf("parse: %s", ds)
	}
	var regional int
	regions := map[string]bool{}
	for _, n := range d.Names() {
		if !strings.HasPrefix(n, "AzureBotService.") {
			continue
		}
		regional++
		tag, err := d.Lookup(n)
		if err != nil {
			t.Fatal(err)
		}
		if tag.Region == "" || regions[tag.Region] {
			t.Errorf("%s: Region %q, empty or given twice", n, tag.Region)
		}
		regions[tag.Region] = true
	}
	if regional != 71 {
		t.Errorf("%d regional AzureBotService tags, want 71", regional)
	}
	// Region is Azure's region name, not always the name's suffix in lower
	// case (12 of the 71 differ).
	if tag, err := d.Lookup("AzureBotService.BrazilSoutheast"); err != nil {
		t.Error(err)
	} else if tag.Region != "brazilse" {
		t.Errorf("AzureBotService.BrazilSoutheast: region %q, want brazilse", tag.Region)
	}
	g, err := d.Lookup("AzureBotService")
	if err != nil {
		t.Fatal(err)
	}
	var v4, v6 int
	for _, p := range g.Prefixes {
		if p.Addr().Is4() {
			v4++
		} else {
			v6++
		}
	}
	if v4 != 124 || v6 != 80 || g.Region != "" {
		t.Errorf("AzureBotService: %d IPv4 and %d IPv6 prefixes, region %q; want 124, 80 and none", v4, v6, g.Region)
	}
}

// lookupAddrs returns 64 addresses for lookups in tag: 16 IPv4 and 16 IPv6
// addresses in it (first and last addresses of prefixes spread over the
// list) and 16 of each family outside it (pseudo-random, from a fixed
// seed), in an order that mixes them.
func lookupAddrs(t testing.TB, tag *Tag) []netip.Addr {
	t.Helper()
	var v4, v6 []netip.Prefix
	for _, p := range tag.Prefixes {
		if p.Addr().Is4() {
			v4 = append(v4, p)
		} else {
			v6 = append(v6, p)
		}
	}
	var in, out []netip.Addr
	for _, ps := range [][]netip.Prefix{v4, v6} {
		if len(ps) < 16 {
			t.Fatalf("%s has fewer than 16 prefixes of a family", tag.Name)
		}
		for i := range 16 {
			p := ps[i*len(ps)/16]
			if i%2 == 0 {
				in = append(in, p.Addr())
			} else {
				in = append(in, netipx.PrefixLastIP(p))
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, is4 := range []bool{true, false} {
		for n := 0; n < 16; {
			var a netip.Addr
			if is4 {
				a = netip.AddrFrom4([4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())})
			} else {
				var b [16]byte
				for i := range b {
					b[i] = byte(r.Uint32())
				}
				b[0] = 0x20 | b[0]&0x1f // global unicast, 2000::/3
				a = netip.AddrFrom16(b)
			}
			if !slices.ContainsFunc(tag.Prefixes, func(p netip.Prefix) bool { return p.Contains(a) }) {
				out = append(out, a)
				n++
			}
		}
	}
	var addrs []netip.Addr
	for i := range in {
		addrs = append(addrs, in[i], out[len(out)-1-i])
	}
	return addrs
}

// TestContains checks Contains against the tag's prefixes, one by one,
// and that it does not allocate.
func TestContains(t *testing.T) {
	d, ds := Parse(loadReal(t))
	if ds.HasErrors() {
		t.Fatalf("parse: %s", ds)
	}
	ac, err := d.Lookup("AzureCloud")
	if err != nil {
		t.Fatal(err)
	}
	addrs := lookupAddrs(t, ac)
	extra := []netip.Addr{
		netip.MustParseAddr("13.107.64.1"),  // docs/reference/endpoints.md §4: not AzureCloud
		netip.MustParseAddr("127.0.0.1"),    // loopback
		netip.MustParseAddr("::1"),          // loopback
		netip.MustParseAddr("fe80::1%eth0"), // a zone: in no set
		netip.MustParseAddr("192.0.2.1"),    // documentation
		netip.MustParseAddr("2001:db8::1"),  // documentation
		netip.MustParseAddr("0.0.0.0"),      // the lowest address
		netip.MustParseAddr("255.255.255.255"),
	}
	var in int
	for _, a := range append(addrs, extra...) {
		want := a.Zone() == "" && slices.ContainsFunc(ac.Prefixes, func(p netip.Prefix) bool { return p.Contains(a) })
		if got := ac.Contains(a); got != want {
			t.Errorf("Contains(%s) = %v, want %v", a, got, want)
		}
		if want {
			in++
		}
	}
	if in != 32 {
		t.Errorf("%d of the addresses are in AzureCloud, want 32", in)
	}
	// An IPv4-mapped address is an IPv6 address, as for netip.Prefix.Contains.
	if v4 := addrs[0]; !ac.Contains(v4) || ac.Contains(netip.AddrFrom16(v4.As16())) {
		t.Errorf("Contains(%s), Contains(%s) = %v, %v; want true, false", v4, netip.AddrFrom16(v4.As16()), ac.Contains(v4), ac.Contains(netip.AddrFrom16(v4.As16())))
	}
	if (&Tag{}).Contains(addrs[0]) {
		t.Errorf("a tag without a set contains %s", addrs[0])
	}
	var sink bool
	if n := testing.AllocsPerRun(100, func() {
		for _, a := range addrs {
			sink = ac.Contains(a) != sink
		}
	}); n != 0 {
		t.Errorf("Contains allocates: %v allocations for %d lookups", n, len(addrs))
	}
}
