package servicetag

import (
	"net/netip"
	"testing"
)

// BenchmarkParseReal parses the real, uncompressed service tags file
// (4.4 MB, 3,136 tags), building every tag's address set.
func BenchmarkParseReal(b *testing.B) {
	data := loadReal(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, ds := Parse(data); ds.HasErrors() {
			b.Fatal(ds)
		}
	}
}

// BenchmarkContainsAzureCloud looks up one address an operation in
// AzureCloud (14,129 prefixes), going round 64 addresses in and out of
// it, IPv4 and IPv6.
func BenchmarkContainsAzureCloud(b *testing.B) {
	d, ds := Parse(loadReal(b))
	if ds.HasErrors() {
		b.Fatal(ds)
	}
	ac, err := d.Lookup("AzureCloud")
	if err != nil {
		b.Fatal(err)
	}
	addrs := lookupAddrs(b, ac)
	b.ReportAllocs()
	var i, in int
	for b.Loop() {
		if ac.Contains(addrs[i%len(addrs)]) {
			in++
		}
		i++
	}
	if in == 0 || in == i {
		b.Fatalf("%d of %d lookups found", in, i)
	}
}

// BenchmarkDiffReal compares the real file with a copy that has a few
// edits (derive), both parsed beforehand.
func BenchmarkDiffReal(b *testing.B) {
	data := loadReal(b)
	derived, _ := derive(b, data)
	old, ds := Parse(data)
	if ds.HasErrors() {
		b.Fatal(ds)
	}
	new, ds := Parse(derived)
	if ds.HasErrors() {
		b.Fatal(ds)
	}
	b.Run("Diff", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if cs := Diff(old, new); len(cs) != 3 {
				b.Fatalf("%d changes, want 3", len(cs))
			}
		}
	})
	b.Run("Diff+AddressDelta", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, c := range Diff(old, new) {
				c.AddressDelta()
			}
		}
	})
	// The worst case: every tag's prefixes listed in another order, so
	// that Diff sorts and merges every list.
	b.Run("AllReordered", func(b *testing.B) {
		rev := &Data{ChangeNumber: new.ChangeNumber, Cloud: new.Cloud, tags: map[string]*Tag{}}
		for k, t := range new.tags {
			r := *t
			r.Prefixes = make([]netip.Prefix, len(t.Prefixes))
			for i, p := range t.Prefixes {
				r.Prefixes[len(t.Prefixes)-1-i] = p
			}
			rev.tags[k] = &r
		}
		b.ReportAllocs()
		for b.Loop() {
			if cs := Diff(old, rev); len(cs) != 3 {
				b.Fatalf("%d changes, want 3", len(cs))
			}
		}
	})
}
