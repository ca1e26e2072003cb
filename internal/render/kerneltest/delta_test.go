package kerneltest

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/teamsgate/teamsgate/internal/render"
	"github.com/teamsgate/teamsgate/internal/render/nftables"
	"github.com/teamsgate/teamsgate/internal/servicetag"
	"github.com/teamsgate/teamsgate/internal/testutil"
	"github.com/teamsgate/teamsgate/internal/view"
)

// TestNftablesDelta proves render --since in the kernel: for every example
// spec, the old render (the late-2020 Microsoft 365 data) is loaded in a
// namespace, the delta to the derived data (52.120.0.0/14 → 52.122.0.0/15,
// a URL added) is applied with nft, and the table must then be the one a
// fresh load of the new render gives — element for element, rule for
// rule. A second application of the delta must fail as a whole and leave
// the table as it was.
func TestNftablesDelta(t *testing.T) {
	requireKernel(t)
	oldCat := testutil.M365Overlay(t, "testdata/data/m365/worldwide-2020-12.json", "2020122300")
	newCat := testutil.M365Overlay(t, "testdata/data/m365/worldwide-2020-12-derived.json", "2021010100")
	r := nftables.New()
	// teamspro is host names only: nothing of it renders for nftables.
	scopes := map[string][]string{
		"messaging-bot": {"", "bot"},
		"calling-bot":   {"", "bot"},
		"pexip":         {"", "teams-connector-instances"},
		"combined":      {""},
	}
	tags, tds := servicetag.ParseFile(filepath.Join("testdata", "servicetags.json"))
	if tds.HasErrors() {
		t.Fatal(tds)
	}
	changed := 0
	for _, name := range testutil.Examples() {
		if name == "teamspro" {
			continue
		}
		for _, scope := range scopes[name] {
			t.Run(name+"/"+scopeName(scope), func(t *testing.T) {
				opt := view.Options{Scope: scope, FQDN: view.FQDNSkip, ServiceTags: tags}
				oldOut, ds := r.Render(testutil.Plan(t, testutil.ExamplePath(name), oldCat), opt)
				if ds.HasErrors() {
					t.Fatal(ds)
				}
				newOut, ds := r.Render(testutil.Plan(t, testutil.ExamplePath(name), newCat), opt)
				if ds.HasErrors() {
					t.Fatal(ds)
				}
				delta, err := r.Delta(oldOut, newOut)
				if errors.Is(err, render.ErrFullRender) {
					t.Fatalf("the fixture changes only set elements, but: %v", err)
				}
				if err != nil {
					t.Fatal(err)
				}
				script := delta.Files[nftables.DeltaFileName]
				if !strings.Contains(string(script), "\nadd element ") && !strings.Contains(string(script), "\ndelete element ") {
					if !onlyHeaderDiffers(oldOut, newOut) {
						t.Fatalf("the renders differ but the delta changes nothing:\n%s", script)
					}
					return
				}
				changed++
				top := newTopology(t, nil, nil)
				applied := apply(t, top.host, "nftables", oldOut.Files)
				patched := apply(t, top.host, "nftables", delta.Files)
				if applied == patched {
					t.Fatalf("the delta changed nothing in the kernel:\n%s", script)
				}
				fresh := apply(t, top.client, "nftables", newOut.Files)
				if patched != fresh {
					t.Errorf("old render + delta is not the new render:\n--- old+delta\n%s\n--- new\n%s", patched, fresh)
				}
				f := writeTemp(t, nftables.DeltaFileName, script)
				if out, err := run("ip", "netns", "exec", top.host, "nft", "-f", f); err == nil {
					t.Errorf("applying the delta twice succeeded; deleting an element that is gone must fail the transaction:\n%s", out)
				}
				again := mustRun(t, "ip", "netns", "exec", top.host, "nft", "list", "table", "inet", "teamsgate")
				if again != patched {
					t.Errorf("a failed delta changed the table:\n%s", again)
				}
			})
		}
	}
	if changed == 0 {
		t.Fatal("no example's nftables render changed with the fixture: the test proves nothing")
	}
}

// onlyHeaderDiffers reports whether two renders differ in their comment
// header only (the catalog version).
func onlyHeaderDiffers(a, b render.Output) bool {
	strip := func(o render.Output) string {
		var keep []string
		for _, l := range strings.Split(string(o.Files[nftables.FileName]), "\n") {
			if !strings.HasPrefix(l, "#") {
				keep = append(keep, l)
			}
		}
		return strings.Join(keep, "\n")
	}
	return strip(a) == strip(b)
}

func scopeName(s string) string {
	if s == "" {
		return "perimeter"
	}
	return s
}
