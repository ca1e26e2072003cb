package model

import (
	"math/rand/v2"
	"testing"
)

func TestParsePortRange(t *testing.T) {
	tests := []struct {
		in      string
		want    PortRange
		wantErr string
	}{
		{in: "443", want: PortRange{443, 443}},
		{in: "16000-17000", want: PortRange{16000, 17000}},
		{in: "33000–39999", want: PortRange{33000, 39999}},
		{in: " 0-65535 ", want: PortRange{0, 65535}},
		{in: "17000-16000", wantErr: `port range "17000-16000" is inverted (17000 > 16000)`},
		{in: "65536", wantErr: `port range "65536": port 65536 out of range 0-65535`},
		{in: "http", wantErr: `port range "http": "http" is not a port number`},
		{in: "-5", wantErr: `port range "-5": "" is not a port number`},
		{in: "", wantErr: `port range "": "" is not a port number`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParsePortRange(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Errorf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %v, %v; want %v", got, err, tt.want)
			}
			if back, _ := ParsePortRange(got.String()); back != got {
				t.Errorf("round trip %v → %q → %v", got, got.String(), back)
			}
		})
	}
}

func TestPortSetSpellings(t *testing.T) {
	for in, want := range map[string]string{
		"any": "any", "<any>": "any", "ephemeral": "ephemeral", "80/443": "80,443",
		"443,80,81": "80-81,443", "10101, 11000-11399,12000-12399": "10101,11000-11399,12000-12399",
		"0-65535": "any",
	} {
		got, err := ParsePortSet(in)
		if err != nil || got.String() != want {
			t.Errorf("ParsePortSet(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	if !EphemeralPorts().IsAny() || EphemeralPorts().Strings() != nil || AnyPorts().Strings() != nil {
		t.Errorf("ephemeral and any must match every port and print as no list")
	}
}

// TestPortSetOracle checks the interval algebra against a brute-force
// oracle over a small port space, every point checked.
func TestPortSetOracle(t *testing.T) {
	const space = 64
	r := rand.New(rand.NewPCG(1, 2))
	randSet := func() (PortSet, [space]bool) {
		var bits [space]bool
		var rs []PortRange
		for range r.IntN(5) {
			a := uint16(r.IntN(space))
			b := a + uint16(r.IntN(space-int(a)))
			rs = append(rs, PortRange{a, b})
			for p := a; p <= b; p++ {
				bits[p] = true
			}
		}
		return NewPortSet(rs...), bits
	}
	for i := range 2000 {
		a, ab := randSet()
		b, bb := randSet()
		u, in, d := a.Union(b), a.Intersect(b), a.Difference(b)
		for p := uint16(0); p < space; p++ {
			if got, want := a.Contains(p), ab[p]; got != want {
				t.Fatalf("#%d Contains(%d) on %v = %v", i, p, a, got)
			}
			if got, want := u.Contains(p), ab[p] || bb[p]; got != want {
				t.Fatalf("#%d union %v ∪ %v at %d = %v", i, a, b, p, got)
			}
			if got, want := in.Contains(p), ab[p] && bb[p]; got != want {
				t.Fatalf("#%d intersect %v ∩ %v at %d = %v", i, a, b, p, got)
			}
			if got, want := d.Contains(p), ab[p] && !bb[p]; got != want {
				t.Fatalf("#%d difference %v − %v at %d = %v", i, a, b, p, got)
			}
		}
		n := 0
		for p := range space {
			if ab[p] {
				n++
			}
		}
		if a.Len() != n {
			t.Fatalf("#%d Len(%v) = %d, want %d", i, a, a.Len(), n)
		}
		if a.Covers(b) != b.Difference(a).IsEmpty() {
			t.Fatalf("#%d Covers", i)
		}
		// Normal form: sorted, merged, no adjacent ranges.
		rs := u.Ranges()
		for j := 1; j < len(rs); j++ {
			if int(rs[j].First) <= int(rs[j-1].Last)+1 {
				t.Fatalf("#%d not normalised: %v", i, rs)
			}
		}
	}
}

func TestHost(t *testing.T) {
	tests := []struct {
		pattern string
		match   []string
		nomatch []string
	}{
		{pattern: "*.contoso.com", match: []string{"a.contoso.com", "A.CONTOSO.COM.", "x-1.contoso.com"}, nomatch: []string{"a.b.contoso.com", "contoso.com", ".contoso.com", "acontoso.com"}},
		{pattern: "Login.MicrosoftOnline.com.", match: []string{"login.microsoftonline.com"}, nomatch: []string{"x.login.microsoftonline.com"}},
		{pattern: "bücher.example", match: []string{"xn--bcher-kva.example"}},
	}
	for _, tt := range tests {
		h, err := ParseHost(tt.pattern)
		if err != nil {
			t.Fatalf("ParseHost(%q): %v", tt.pattern, err)
		}
		for _, m := range tt.match {
			if !h.Matches(m) {
				t.Errorf("%s should match %q", h, m)
			}
		}
		for _, m := range tt.nomatch {
			if h.Matches(m) {
				t.Errorf("%s should not match %q", h, m)
			}
		}
		back, err := ParseHost(h.String())
		if err != nil || back != h {
			t.Errorf("round trip %q → %q → %v", tt.pattern, h.String(), back)
		}
	}
	for _, bad := range []string{"", "*", "*.com", "a.*.com", "*a.com", "a..b", "a b.com", "*.*.com"} {
		if _, err := ParseHost(bad); err == nil {
			t.Errorf("ParseHost(%q) accepted", bad)
		}
	}
	if w := MustParseHost("*.x.com"); !w.Covers(MustParseHost("a.x.com")) || w.Covers(MustParseHost("a.b.x.com")) {
		t.Errorf("Covers")
	}
}

func TestProtoAndCondition(t *testing.T) {
	for _, s := range []string{"tcp", "udp", "icmp", "any"} {
		p, err := ParseProto(s)
		if err != nil || p.String() != s {
			t.Errorf("proto %q: %v %v", s, p, err)
		}
	}
	if p, _ := ParseProto("TCP"); p != ProtoTCP {
		t.Errorf("protocol names are case-insensitive")
	}
	for _, s := range []string{"", "event-hub", "role:management", "not role:management", "not graph"} {
		c, err := ParseCondition(s)
		if err != nil || c.String() != s {
			t.Errorf("condition %q: %q %v", s, c.String(), err)
		}
	}
	if _, err := ParseCondition("Event_Hub"); err == nil {
		t.Errorf("bad condition accepted")
	}
}

func FuzzParsePortSet(f *testing.F) {
	for _, s := range []string{"443", "80,443", "16000-17000", "any", "ephemeral", "1-2,3-4,9", "65535-0", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := ParsePortSet(s)
		if err != nil {
			return
		}
		back, err := ParsePortSet(ps.String())
		if err != nil || !back.Equal(ps) {
			t.Errorf("round trip %q → %q → %v (%v)", s, ps.String(), back, err)
		}
	})
}

func FuzzParseHost(f *testing.F) {
	for _, s := range []string{"*.contoso.com", "a.b", "bücher.example", "*..x.com", "A.B."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHost(s)
		if err != nil {
			return
		}
		back, err := ParseHost(h.String())
		if err != nil || back != h {
			t.Errorf("round trip %q → %q → %v (%v)", s, h.String(), back, err)
		}
	})
}
