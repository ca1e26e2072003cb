package plan_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/teamsgate/teamsgate/internal/catalog"
	"github.com/teamsgate/teamsgate/internal/plan"
	"github.com/teamsgate/teamsgate/internal/spec"
	"github.com/teamsgate/teamsgate/internal/testutil"
)

// TestAddressFamilies: a required flow whose sides share no address family
// is a planning error naming both sides, at the role's addresses; a catalog
// side that also has host names falls back to them; a common family is
// enough.
func TestAddressFamilies(t *testing.T) {
	tests := []struct {
		name    string
		spec    string
		want    []string // substrings of the diagnostics
		wantErr bool
		rule    string // a rule that must be in the plan
		// overlay is Microsoft 365 Worldwide data to plan with instead of
		// the embedded data.
		overlay string
	}{
		{
			name:    "IPv6-only bot, IPv4-only Teams service",
			spec:    "cloud: worldwide\nintegrations:\n  teams-messaging-bot:\n    roles:\n      bot: { addresses: [\"2001:db8::10\"] }\n",
			wantErr: true,
			want: []string{
				`deploy.yaml:5:14: teams-messaging-bot.in.activity: the source teams-service (52.112.0.0/14, IPv4 only) and the destination bot (2001:db8::10/128, IPv6 only) have no address family in common, so no firewall can express this required flow; bind role bot to an IPv4 address as well, or give teams-service IPv6 prefixes in a catalog overlay (--catalog)`,
			},
		},
		{
			name: "dual-stack bot",
			spec: "cloud: worldwide\nintegrations:\n  teams-messaging-bot:\n    roles:\n      bot: { addresses: [\"2001:db8::10\", 198.51.100.10] }\n",
			rule: "teams-messaging-bot.in.activity",
		},
		{
			name: "IPv6-only calling bot",
			spec: "cloud: worldwide\nintegrations:\n  teams-calling-bot:\n    roles:\n      bot: { addresses: [\"2001:db8::20\"] }\n",
			// Teams media has IPv4 ranges only: the inbound media flow
			// cannot be planned. Set 11 has had 2603:1063::/38 since
			// about 2021: its outbound rule is planned, IPv6 only.
			wantErr: true,
			want: []string{
				"teams-calling-bot.in.media: the source teams-media",
			},
			rule: "teams-calling-bot.out.m365.set11-udp",
		},
		{
			name: "IPv6-only calling bot, 2020 data",
			spec: "cloud: worldwide\nintegrations:\n  teams-calling-bot:\n    roles:\n      bot: { addresses: [\"2001:db8::20\"] }\n",
			// In the late-2020 data set 11 has addresses only, IPv4 only.
			overlay: "testdata/data/m365/worldwide-2020-12.json",
			wantErr: true,
			want: []string{
				"teams-calling-bot.out.m365.set11-udp: the source bot (2001:db8::20/128, IPv6 only) and the destination m365:Worldwide:11",
				"Microsoft 365 endpoint set Worldwide:11 has no IPv6 range in the catalog's data",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, diags := build(t, tt.spec)
			if tt.overlay != "" {
				p, diags = buildWith(t, tt.spec, testutil.M365Overlay(t, tt.overlay, "2020122300"))
			}
			hasErr := strings.Contains(diags, "no address family in common, so no firewall")
			if hasErr != tt.wantErr {
				t.Errorf("error %v, want %v:\n%s", hasErr, tt.wantErr, diags)
			}
			for _, w := range tt.want {
				if !strings.Contains(diags, w) {
					t.Errorf("diagnostics lack %q:\n%s", w, diags)
				}
			}
			if tt.rule != "" && p.Rule(tt.rule) == nil {
				t.Errorf("rule %s not planned", tt.rule)
			}
			for _, r := range p.Rules {
				if !r.Source.HasAddresses() || !r.Destination.HasAddresses() {
					continue
				}
				s4, s6, _ := r.Source.Families()
				d4, d6, _ := r.Destination.Families()
				if !(s4 && d4 || s6 && d6) {
					t.Errorf("rule %s planned with no common address family", r.ID)
				}
			}
		})
	}
}

// TestAddressFamilyFallsBackToNames: a catalog set with host names whose
// addresses are of the other family keeps its names only, with a warning.
func TestAddressFamilyFallsBackToNames(t *testing.T) {
	dir := t.TempDir()
	overlay := "version: lab\naddress_sets:\n  teams-service:\n    values:\n      worldwide: { prefixes: [\"2001:db8:ffff::/48\"] }\n  teams-reply:\n    values:\n      worldwide: { prefixes: [198.18.1.0/24], hosts: [smba.trafficmanager.net] }\n"
	if err := os.WriteFile(filepath.Join(dir, "catalog.yaml"), []byte(overlay), 0o644); err != nil {
		t.Fatal(err)
	}
	cat, ds := catalog.WithOverlay(os.DirFS(dir), dir)
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	s, ds := spec.Parse([]byte("cloud: worldwide\nintegrations:\n  teams-messaging-bot:\n    roles:\n      bot: { addresses: [\"2001:db8::10\"] }\n"), "deploy.yaml", cat)
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	p, ds := plan.Build(cat, s)
	if ds.HasErrors() {
		t.Fatalf("plan: %s", ds)
	}
	r := p.Rule("teams-messaging-bot.out.reply")
	if r == nil || len(r.Destination.Prefixes) != 0 || len(r.Destination.Hosts) != 1 {
		t.Fatalf("out.reply: %+v", r)
	}
	if want := "teams-messaging-bot.out.reply: the addresses of teams-reply (198.18.1.0/24 smba.trafficmanager.net, IPv4 only) share no address family with the other side (IPv6 only); the rule goes by its host names only"; !strings.Contains(ds.String(), want) {
		t.Errorf("warnings:\n%s\nwant %q", ds, want)
	}
}
