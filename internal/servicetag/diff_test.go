package servicetag

import (
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go4.org/netipx"
)

// tagFile is a service tags file with the given tags, each "Name" followed
// by its prefixes.
func tagFile(t testing.TB, tags ...[]string) *Data {
	t.Helper()
	type props struct {
		AddressPrefixes []string `json:"addressPrefixes"`
	}
	type value struct {
		Name       string `json:"name"`
		Properties props  `json:"properties"`
	}
	f := struct {
		ChangeNumber int     `json:"changeNumber"`
		Values       []value `json:"values"`
	}{ChangeNumber: 1}
	for _, tg := range tags {
		f.Values = append(f.Values, value{tg[0], props{tg[1:]}})
	}
	if len(f.Values) == 0 { // a file needs a value; this one has no name in common
		f.Values = append(f.Values, value{Name: "Placeholder"})
	}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	d, ds := Parse(b)
	if ds.HasErrors() {
		t.Fatalf("parse %s: %s", b, ds)
	}
	return d
}

// change is a TagChange in words, for comparison; the address delta is
// given as the prefixes of its two sets.
type change struct {
	Name, Kind               string
	Added, Removed           string
	AddrsAdded, AddrsRemoved string
}

func words(cs []TagChange) []change {
	join := func(ps []netip.Prefix) string {
		var s []string
		for _, p := range ps {
			s = append(s, p.String())
		}
		return strings.Join(s, " ")
	}
	var out []change
	for _, c := range cs {
		a, r := c.AddressDelta()
		out = append(out, change{c.Name, c.Kind.String(), join(c.Added), join(c.Removed), join(a.Prefixes()), join(r.Prefixes())})
	}
	return out
}

func TestDiff(t *testing.T) {
	for _, tc := range []struct {
		name     string
		old, new [][]string
		want     []change
	}{
		{
			name: "identical",
			old:  [][]string{{"AzureCloud", "10.0.0.0/8", "2001:db8::/32"}, {"Storage"}},
			new:  [][]string{{"AzureCloud", "10.0.0.0/8", "2001:db8::/32"}, {"Storage"}},
		},
		{
			name: "prefix added",
			old:  [][]string{{"AzureCloud", "10.0.0.0/8"}},
			new:  [][]string{{"AzureCloud", "2001:db8::/32", "10.0.0.0/8", "9.0.0.0/8"}},
			want: []change{{Name: "AzureCloud", Kind: "changed", Added: "9.0.0.0/8 2001:db8::/32", AddrsAdded: "9.0.0.0/8 2001:db8::/32"}},
		},
		{
			name: "prefix removed",
			old:  [][]string{{"AzureCloud", "10.0.0.0/8", "2001:db8::/32", "11.0.0.0/8"}},
			new:  [][]string{{"AzureCloud", "11.0.0.0/8"}},
			want: []change{{Name: "AzureCloud", Kind: "changed", Removed: "10.0.0.0/8 2001:db8::/32", AddrsRemoved: "10.0.0.0/8 2001:db8::/32"}},
		},
		{
			name: "prefixes added and removed, sorted by address then length",
			old:  [][]string{{"X", "10.0.0.0/8", "10.0.0.0/16", "1.2.3.4/32"}},
			new:  [][]string{{"X", "10.0.0.0/24", "10.0.0.0/9", "1.2.3.4/32", "10.0.0.0/16"}},
			want: []change{{Name: "X", Kind: "changed", Added: "10.0.0.0/9 10.0.0.0/24", Removed: "10.0.0.0/8", AddrsRemoved: "10.128.0.0/9"}},
		},
		{
			name: "split prefix: one removed, two added, no address changed",
			old:  [][]string{{"X", "10.0.0.0/8"}},
			new:  [][]string{{"X", "10.128.0.0/9", "10.0.0.0/9"}},
			want: []change{{Name: "X", Kind: "changed", Added: "10.0.0.0/9 10.128.0.0/9", Removed: "10.0.0.0/8"}},
		},
		{
			name: "removed prefix still covered by another",
			old:  [][]string{{"X", "10.0.0.0/8", "10.1.0.0/16"}},
			new:  [][]string{{"X", "10.0.0.0/8"}},
			want: []change{{Name: "X", Kind: "changed", Removed: "10.1.0.0/16"}},
		},
		{
			name: "tag added",
			old:  [][]string{{"AzureCloud", "10.0.0.0/8"}},
			new:  [][]string{{"AzureCloud", "10.0.0.0/8"}, {"AzureCloud.westeurope", "2001:db8::/32", "10.1.0.0/16", "10.0.0.0/16"}},
			want: []change{{Name: "AzureCloud.westeurope", Kind: "added", Added: "10.0.0.0/16 10.1.0.0/16 2001:db8::/32", AddrsAdded: "10.0.0.0/15 2001:db8::/32"}},
		},
		{
			name: "tag removed",
			old:  [][]string{{"AzureCloud", "10.0.0.0/8"}, {"Storage", "2001:db8::/32", "10.0.0.0/16"}},
			new:  [][]string{{"AzureCloud", "10.0.0.0/8"}},
			want: []change{{Name: "Storage", Kind: "removed", Removed: "10.0.0.0/16 2001:db8::/32", AddrsRemoved: "10.0.0.0/16 2001:db8::/32"}},
		},
		{
			name: "tag without prefixes added and removed",
			old:  [][]string{{"Old"}},
			new:  [][]string{{"New"}},
			want: []change{{Name: "New", Kind: "added"}, {Name: "Old", Kind: "removed"}},
		},
		{
			name: "case-insensitive names",
			old:  [][]string{{"AzureCloud", "10.0.0.0/8"}, {"Storage.WestEurope", "11.0.0.0/8"}},
			new:  [][]string{{"azurecloud", "10.0.0.0/8"}, {"STORAGE.westeurope", "12.0.0.0/8"}},
			want: []change{{Name: "STORAGE.westeurope", Kind: "changed", Added: "12.0.0.0/8", Removed: "11.0.0.0/8", AddrsAdded: "12.0.0.0/8", AddrsRemoved: "11.0.0.0/8"}},
		},
		{
			name: "changes sorted by name, case-insensitively",
			old:  [][]string{{"b"}, {"C", "10.0.0.0/8"}},
			new:  [][]string{{"a"}, {"B", "10.0.0.0/8"}, {"c"}, {"D"}},
			want: []change{
				{Name: "a", Kind: "added"},
				{Name: "B", Kind: "changed", Added: "10.0.0.0/8", AddrsAdded: "10.0.0.0/8"},
				{Name: "c", Kind: "changed", Removed: "10.0.0.0/8", AddrsRemoved: "10.0.0.0/8"},
				{Name: "D", Kind: "added"},
			},
		},
		{
			name: "order of prefixes and tags in the file",
			old:  [][]string{{"A", "10.0.0.0/8", "2001:db8::/32", "9.0.0.0/8"}, {"B", "1.0.0.0/8", "2.0.0.0/8"}},
			new:  [][]string{{"B", "2.0.0.0/8", "1.0.0.0/8"}, {"A", "2001:db8::/32", "9.0.0.0/8", "10.0.0.0/8"}},
		},
		{
			name: "prefix given twice, prefix not masked",
			old:  [][]string{{"A", "10.0.0.0/8", "2001:db8::/32"}},
			new:  [][]string{{"A", "10.0.0.0/8", "10.1.2.3/8", "2001:db8::1/32"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := words(Diff(tagFile(t, tc.old...), tagFile(t, tc.new...)))
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("Diff (-want +got):\n%s", d)
			}
			// The other way round, every change is reversed.
			var back []change
			for _, c := range tc.want {
				c.Added, c.Removed = c.Removed, c.Added
				c.AddrsAdded, c.AddrsRemoved = c.AddrsRemoved, c.AddrsAdded
				switch c.Kind {
				case "added":
					c.Kind = "removed"
				case "removed":
					c.Kind = "added"
				}
				// Names come from the new file, the old one now.
				for _, tg := range tc.old {
					if strings.EqualFold(tg[0], c.Name) {
						c.Name = tg[0]
					}
				}
				back = append(back, c)
			}
			if d := cmp.Diff(back, words(Diff(tagFile(t, tc.new...), tagFile(t, tc.old...)))); d != "" {
				t.Errorf("Diff(new, old) (-want +got):\n%s", d)
			}
		})
	}
}

func TestDiffNil(t *testing.T) {
	d := tagFile(t, []string{"A", "10.0.0.0/8"})
	if cs := Diff(nil, nil); len(cs) != 0 {
		t.Errorf("Diff(nil, nil) = %v", cs)
	}
	if got := words(Diff(nil, d)); len(got) != 1 || got[0] != (change{Name: "A", Kind: "added", Added: "10.0.0.0/8", AddrsAdded: "10.0.0.0/8"}) {
		t.Errorf("Diff(nil, d) = %v", got)
	}
	if got := words(Diff(d, nil)); len(got) != 1 || got[0] != (change{Name: "A", Kind: "removed", Removed: "10.0.0.0/8", AddrsRemoved: "10.0.0.0/8"}) {
		t.Errorf("Diff(d, nil) = %v", got)
	}
}

func TestTagChangeString(t *testing.T) {
	p := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}
	for _, tc := range []struct {
		c    TagChange
		want string
	}{
		{TagChange{Name: "A", Kind: Added, Added: p}, "A: added, 2 prefixes"},
		{TagChange{Name: "A", Kind: Removed, Removed: p[:1]}, "A: removed, 1 prefixes"},
		{TagChange{Name: "A", Kind: Changed, Added: p, Removed: p[:1]}, "A: changed, +2 -1 prefixes"},
		{TagChange{Name: "A"}, "A: ChangeKind(0), +0 -0 prefixes"},
	} {
		if got := tc.c.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}

// realEdits is what derive changes in the real file.
type realEdits struct {
	// In AzureCloud.
	removed, added []netip.Prefix
	// A regional tag that derive adds, and its prefixes.
	newTag      string
	newPrefixes []netip.Prefix
	// A tag that derive removes.
	goneTag string
}

// derive returns a copy of the real service tags file (data) with a few
// edits, made in the decoded JSON: three prefixes of AzureCloud removed
// (two IPv4, one IPv6), two added, a regional tag added and a tag removed.
func derive(t testing.TB, data []byte) ([]byte, realEdits) {
	t.Helper()
	var f map[string]any
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	values := f["values"].([]any)
	e := realEdits{
		added:       []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("2001:db8:1234::/48")},
		newTag:      "AzureBotService.TestRegion",
		newPrefixes: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/25"), netip.MustParsePrefix("2001:db8:5678::/48")},
		goneTag:     "ActionGroup",
	}
	var kept []any
	for _, v := range values {
		v := v.(map[string]any)
		props := v["properties"].(map[string]any)
		switch v["name"] {
		case e.goneTag:
			continue
		case "AzureCloud":
			var ps []any
			all := props["addressPrefixes"].([]any)
			for i, p := range all {
				if i == 0 || i == 5000 || i == len(all)-1 {
					e.removed = append(e.removed, netip.MustParsePrefix(p.(string)))
					continue
				}
				ps = append(ps, p)
			}
			for _, p := range e.added {
				ps = append(ps, p.String())
			}
			props["addressPrefixes"] = ps
		}
		kept = append(kept, v)
	}
	var ps []any
	for _, p := range e.newPrefixes {
		ps = append(ps, p.String())
	}
	kept = append(kept, map[string]any{
		"name": e.newTag,
		"id":   e.newTag,
		"properties": map[string]any{
			"changeNumber": 1, "region": "testregion", "regionId": 999, "platform": "Azure",
			"systemService": "AzureBotService", "addressPrefixes": ps, "networkFeatures": nil,
		},
	})
	f["values"] = kept
	f["changeNumber"] = f["changeNumber"].(float64) + 1
	out, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if len(e.removed) != 3 || !e.removed[0].Addr().Is4() || !e.removed[1].Addr().Is4() || !e.removed[2].Addr().Is6() {
		t.Fatalf("derive removed %v from AzureCloud; want two IPv4 and one IPv6 prefixes", e.removed)
	}
	return out, e
}

func TestDiffReal(t *testing.T) {
	data := loadReal(t)
	old, ds := Parse(data)
	if ds.HasErrors() {
		t.Fatalf("parse: %s", ds)
	}
	if cs := Diff(old, old); len(cs) != 0 {
		t.Errorf("Diff of the real file with itself: %v", cs)
	}
	derived, e := derive(t, data)
	new, ds := Parse(derived)
	if ds.HasErrors() {
		t.Fatalf("parse the derived file: %s", ds)
	}
	gone, err := old.Lookup(e.goneTag)
	if err != nil {
		t.Fatal(err)
	}
	sorted := func(ps []netip.Prefix) []netip.Prefix {
		return slices.SortedFunc(slices.Values(ps), netip.Prefix.Compare)
	}
	want := []TagChange{
		{Name: e.goneTag, Kind: Removed, Removed: sorted(gone.Prefixes)},
		{Name: e.newTag, Kind: Added, Added: sorted(e.newPrefixes)},
		{Name: "AzureCloud", Kind: Changed, Added: sorted(e.added), Removed: sorted(e.removed)},
	}
	got := Diff(old, new)
	opts := cmp.Options{
		cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
		cmp.Comparer(func(a, b *netipx.IPSet) bool { return true }), // checked below
		cmp.AllowUnexported(TagChange{}),
	}
	if d := cmp.Diff(want, got, opts); d != "" {
		t.Fatalf("Diff(real, derived) (-want +got):\n%s", d)
	}

	// The two prefixes added to AzureCloud are addresses added; the three
	// removed are addresses removed unless other prefixes of AzureCloud
	// cover them.
	added, removed := got[2].AddressDelta()
	if d := cmp.Diff(sorted(e.added), added.Prefixes(), opts); d != "" {
		t.Errorf("AzureCloud: addresses added (-want +got):\n%s", d)
	}
	var b netipx.IPSetBuilder
	for _, p := range e.removed {
		b.AddPrefix(p)
	}
	ac, _ := new.Lookup("AzureCloud")
	b.RemoveSet(ac.IPSet())
	if want, _ := b.IPSet(); !want.Equal(removed) {
		t.Errorf("AzureCloud: addresses removed %v, want %v", removed.Prefixes(), want.Prefixes())
	}

	// And back.
	back := Diff(new, old)
	if len(back) != 3 || back[0].Kind != Added || back[1].Kind != Removed || back[2].Kind != Changed ||
		!slices.Equal(back[2].Added, got[2].Removed) || !slices.Equal(back[2].Removed, got[2].Added) {
		t.Errorf("Diff(derived, real) = %v", back)
	}
}
