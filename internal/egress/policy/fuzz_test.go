package policy

import (
	"testing"

	"github.com/teamsgate/teamsgate/internal/model"
)

// The fuzz targets check what every accepted target must be: a target
// that prints and parses back to itself through both forms, whose name is
// a valid, normalised model host (never a wildcard, never an address)
// and whose address has no zone. A refused target is the zero Target.
// Neither parser may panic.

func FuzzParseConnect(f *testing.F) {
	for _, c := range connectCases {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		target, err := ParseConnect(s)
		checkTarget(t, s, target, err)
	})
}

func FuzzParseAbsolute(f *testing.F) {
	for _, c := range absoluteCases {
		f.Add(c.in)
	}
	for _, c := range connectCases {
		f.Add("http://" + c.in + "/")
	}
	f.Fuzz(func(t *testing.T, s string) {
		target, err := ParseAbsolute(s)
		checkTarget(t, s, target, err)
	})
}

func checkTarget(t *testing.T, in string, target Target, err error) {
	t.Helper()
	if err != nil {
		if target != (Target{}) {
			t.Fatalf("%q: error %v with target %#v", in, err, target)
		}
		return
	}
	if target.Port == 0 {
		t.Fatalf("%q: port 0 accepted", in)
	}
	if back, err := ParseConnect(target.String()); err != nil || back != target {
		t.Fatalf("%q → %v → %q → %v, %v", in, target, target.String(), back, err)
	}
	if back, err := ParseAbsolute("http://" + target.String() + "/"); err != nil || back != target {
		t.Fatalf("%q → %v → absolute → %v, %v", in, target, back, err)
	}
	if target.IsAddr() {
		if target.Host != "" || target.Addr.Zone() != "" {
			t.Fatalf("%q: address target %#v has a name or a zone", in, target)
		}
		return
	}
	h, err := model.ParseHost(target.Host)
	if err != nil || h.IsWildcard() || h.String() != target.Host {
		t.Fatalf("%q: name %q is not a normalised model host: %v, %v", in, target.Host, h, err)
	}
	if n, err := NormalizeHost(target.Host); err != nil || n != target.Host {
		t.Fatalf("%q: NormalizeHost(%q) = %q, %v", in, target.Host, n, err)
	}
}

// FuzzPlainName: a name the fast path takes as it is, the full
// normalisation returns unchanged.
func FuzzPlainName(f *testing.F) {
	for _, s := range []string{"api.example.com", "a", "a-b.c", "xn--bcher-kva.example", "ab--c.example", "1.2.3.4",
		"0x1f", "example.123", "example.com.", "API.example.com", "a_b.example", "-a.example", "a-.example",
		"a..b", ".a", "a.", "bücher.example", "%61pi.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !plainName(s) {
			return
		}
		got, err := normalizeHost(s)
		if err != nil || got != s {
			t.Fatalf("plainName(%q) but normalizeHost gives %q, %v", s, got, err)
		}
	})
}
