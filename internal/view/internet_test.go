package view_test

import (
	"strings"
	"testing"

	"github.com/teamsgate/teamsgate/internal/testutil"
	"github.com/teamsgate/teamsgate/internal/view"
)

// TestInternetNote: a target with a native notion of the public Internet
// (an NSG's service tag) gets the rule as it is; one without it gets the
// set's prefixes through Target.IPSet and a note in the rule's comment. The
// rule stays the Internet either way, never any address.
func TestInternetNote(t *testing.T) {
	p := testutil.PlanBytes(t, pexipNoMgmt, "")
	for _, tc := range []struct {
		name     string
		caps     view.Caps
		wantNote bool
	}{
		{name: "native", caps: view.Caps{Deny: true, AddressesOnly: true, ServiceTags: true, Internet: true}},
		{name: "prefixes", caps: addressOnly, wantNote: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prep, ds := view.Prepare(p, "test", tc.caps, view.Options{Scope: "teams-connector-instances", FQDN: view.FQDNSkip})
			if ds.HasErrors() {
				t.Fatal(ds)
			}
			var found int
			for _, it := range prep.Items {
				d := it.Rule.Destination
				if d.Role != "ocsp-responder" && d.Role != "windows-update" {
					if strings.Contains(it.Note, "public Internet") {
						t.Errorf("%s: note %q on a rule that is not to the Internet", it.Rule.ID, it.Note)
					}
					continue
				}
				found++
				if !d.Internet || d.Any || it.Dir != view.Outbound {
					t.Errorf("%s: destination %+v, direction %s", it.Rule.ID, d, it.Dir)
				}
				if got := strings.Contains(view.Comment(it), "[public Internet, special-use blocks left out]"); got != tc.wantNote {
					t.Errorf("%s: comment %q", it.Rule.ID, view.Comment(it))
				}
			}
			if found != 2 {
				t.Errorf("%d rules to the Internet, want OCSP and Windows Update", found)
			}
		})
	}
}
