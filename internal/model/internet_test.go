package model

import (
	"encoding/json"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go4.org/netipx"
)

func TestInternet(t *testing.T) {
	tests := []struct {
		addr string
		want bool
	}{
		{"1.1.1.1", true},
		{"13.107.64.1", true},   // Microsoft 365
		{"52.112.0.1", true},    // Teams
		{"168.63.129.16", true}, // Azure's host IP is public address space
		{"192.0.1.255", true},
		{"192.0.3.0", true},
		{"192.31.196.1", true}, // AS112: globally reachable
		{"223.255.255.255", true},
		{"2603:1063::1", true},
		{"2001:200::1", true}, // just past 2001::/23
		{"2a00:1450::1", true},
		{"3ffe::1", true},
		{"0.0.0.0", false},
		{"10.0.0.1", false},
		{"100.64.0.1", false},
		{"127.0.0.1", false},
		{"169.254.169.254", false},
		{"172.16.0.1", false},
		{"172.31.255.255", false},
		{"192.0.0.9", false},
		{"192.0.2.80", false}, // documentation: test specs' addresses
		{"192.88.99.1", false},
		{"192.168.1.1", false},
		{"198.18.0.1", false},
		{"198.19.255.255", false},
		{"198.51.100.10", false},
		{"203.0.113.10", false},
		{"224.0.0.1", false},
		{"239.255.255.250", false},
		{"240.0.0.1", false},
		{"255.255.255.255", false},
		{"::", false},
		{"::1", false},
		{"::ffff:8.8.8.8", false},
		{"64:ff9b::808:808", false},
		{"100::1", false},
		{"2001::1", false}, // Teredo
		{"2001:db8::1", false},
		{"2002:c000:204::1", false},
		{"3fff::1", false},
		{"5f00::1", false},
		{"fd00::1", false},
		{"fe80::1", false},
		{"ff02::1", false},
		{"4000::1", false}, // outside global unicast 2000::/3
	}
	for _, tt := range tests {
		if got := Internet().Contains(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("Internet().Contains(%s) = %v, want %v", tt.addr, got, tt.want)
		}
		if got := (Target{Internet: true}).IPSet().Contains(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("Target{Internet}.IPSet().Contains(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
}

// TestInternetOracle checks the set against its definition by brute force:
// random addresses are in it exactly when they are in the cover and in no
// special-use block, and no block's edges are in it.
func TestInternetOracle(t *testing.T) {
	in := func(a netip.Addr) bool {
		covered := false
		for _, c := range internetCover {
			covered = covered || c.Contains(a)
		}
		for _, s := range specialUse {
			if s.Prefix.Contains(a) {
				return false
			}
		}
		return covered
	}
	r := rand.New(rand.NewPCG(14, 1))
	for i := 0; i < 200000; i++ {
		var a netip.Addr
		if i%2 == 0 {
			a = netip.AddrFrom4([4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())})
		} else {
			var b [16]byte
			for j := range b {
				b[j] = byte(r.Uint32())
			}
			b[0] = byte(0x20 + r.IntN(0x40)) // mostly around 2000::/3
			a = netip.AddrFrom16(b)
		}
		if got, want := Internet().Contains(a), in(a); got != want {
			t.Fatalf("%s: in the set %v, by definition %v", a, got, want)
		}
	}
	for _, s := range specialUse {
		r := netipx.RangeOfPrefix(s.Prefix)
		for _, a := range []netip.Addr{r.From(), r.To()} {
			if Internet().Contains(a) {
				t.Errorf("%s (%s) is in the public Internet", a, s.Name)
			}
		}
	}
}

func TestInternetBlocks(t *testing.T) {
	var b netipx.IPSetBuilder
	var v4, v6 int
	for _, ib := range InternetBlocks() {
		b.AddPrefix(ib.Prefix)
		for _, e := range ib.Except {
			if !ib.Prefix.Contains(e.Addr()) {
				t.Errorf("%s: except %s is outside it", ib.Prefix, e)
			}
			b.RemovePrefix(e)
		}
		if ib.Prefix.Addr().Is4() {
			v4 = len(ib.Except)
		} else {
			v6 = len(ib.Except)
		}
	}
	s, _ := b.IPSet()
	if !s.Equal(Internet()) {
		t.Errorf("the blocks less their exceptions are not the public Internet")
	}
	// Kubernetes writes these lists out; keep them short.
	if v4 != 14 || v6 != 4 {
		t.Errorf("exceptions: %d IPv4, %d IPv6; want 14 and 4", v4, v6)
	}
}

func TestInternetTarget(t *testing.T) {
	tg := Target{Role: "ocsp-responder", Internet: true}
	if !tg.HasAddresses() || tg.IsEmpty() {
		t.Errorf("HasAddresses %v, IsEmpty %v", tg.HasAddresses(), tg.IsEmpty())
	}
	if v4, v6, known := tg.Families(); !v4 || !v6 || !known {
		t.Errorf("Families = %v %v %v, want both", v4, v6, known)
	}
	if !CommonFamily(Target{Prefixes: []netip.Prefix{netip.MustParsePrefix("2001:db8::/64")}}, tg) {
		t.Error("an IPv6 source must reach the public Internet")
	}
	b, err := json.Marshal(tg.toJSON())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"any":false,"internet":true`) {
		t.Errorf("JSON %s", b)
	}
}

// TestSpecialUseDocumented: docs/catalog.md lists exactly the blocks the
// code leaves out of the public Internet.
func TestSpecialUseDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "catalog.md"))
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	in := false
	for _, line := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(line, "| block |") {
			in = true
			continue
		}
		if in && !strings.HasPrefix(line, "|") {
			break
		}
		if in && !strings.HasPrefix(line, "| ---") {
			cell := strings.Trim(strings.TrimSpace(strings.Split(line, "|")[1]), "`")
			p, err := netip.ParsePrefix(cell)
			if err != nil {
				t.Fatalf("docs/catalog.md: %v", err)
			}
			listed = append(listed, p.String())
		}
	}
	var want []string
	for _, s := range SpecialUseBlocks() {
		want = append(want, s.Prefix.String())
	}
	if strings.Join(listed, " ") != strings.Join(want, " ") {
		t.Errorf("docs/catalog.md lists the special-use blocks\n%s\nthe code has\n%s", strings.Join(listed, " "), strings.Join(want, " "))
	}
}
