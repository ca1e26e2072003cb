package targets_test

import (
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/teamsgate/teamsgate/internal/render/targets"
	"github.com/teamsgate/teamsgate/internal/servicetag"
	"github.com/teamsgate/teamsgate/internal/testutil"
	"github.com/teamsgate/teamsgate/internal/view"
)

// BenchmarkRenderAll renders the combined example to every registered
// target, one iteration rendering all of them: the budget is well
// under 100 ms for the whole set. Each target also gets a sub-benchmark.
func BenchmarkRenderAll(b *testing.B) {
	p := testutil.Plan(b, testutil.ExamplePath("combined"), "")
	tags, ds := servicetag.ParseFile(filepath.Join(testutil.Root(), "testdata", "data", "ServiceTags_Public.changeNumber398.json.gz"))
	if ds.HasErrors() {
		b.Fatal(ds)
	}
	opt := view.Options{
		FQDN:        view.FQDNViaProxy,
		Proxy:       netip.MustParseAddrPort("192.0.2.3:3128"),
		ServiceTags: tags,
	}
	all := targets.All()
	for _, t := range all {
		if _, ds := t.Render(p, opt); ds.HasErrors() {
			b.Fatalf("%s: %s", t.Name(), ds)
		}
	}
	b.Run("all", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, t := range all {
				t.Render(p, opt)
			}
		}
	})
	for _, t := range all {
		b.Run(t.Name(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				t.Render(p, opt)
			}
		})
	}
}
