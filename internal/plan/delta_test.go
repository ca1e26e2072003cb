package plan_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/plan"
	"github.com/teamsgate/teamsgate/internal/testutil"
)

// TestDiffExamples plans every example with the late-2020 data and with
// the fixture derived from it: only rules to the Teams ranges change, each
// gaining 52.122.0.0/15 and losing 52.120.0.0/14, and nothing is added or
// removed.
func TestDiffExamples(t *testing.T) {
	oldCat := testutil.M365Overlay(t, "testdata/data/m365/worldwide-2020-12.json", "2020122300")
	newCat := testutil.M365Overlay(t, "testdata/data/m365/worldwide-2020-12-derived.json", "2021010100")
	want := map[string][]string{
		"messaging-bot": nil,
		"teamspro":      nil,
		"calling-bot":   {"teams-calling-bot.out.m365.set11-udp", "teams-calling-bot.out.m365.set12-tcp", "teams-calling-bot.out.m365.set13-tcp", "teams-calling-bot.out.m365.set22-tcp"},
		"pexip":         {"pexip-teams-connector.instance-to-teams.media", "pexip-teams-connector.instance-to-teams.signaling", "pexip-teams-connector.teams-to-instance.media", "pexip-teams-connector.teams-to-lb.signaling"},
	}
	want["combined"] = append(append([]string{}, want["pexip"]...), want["calling-bot"]...)
	for _, name := range testutil.Examples() {
		t.Run(name, func(t *testing.T) {
			d := plan.Diff(testutil.Plan(t, testutil.ExamplePath(name), oldCat), testutil.Plan(t, testutil.ExamplePath(name), newCat))
			if len(d.Added)+len(d.Removed) != 0 {
				t.Errorf("added %d, removed %d", len(d.Added), len(d.Removed))
			}
			var ids []string
			for _, c := range d.Changed {
				ids = append(ids, c.ID)
				side := c.Destination
				if !c.Source.Empty() {
					side = c.Source
				}
				if len(side.AddedPrefixes) != 1 || side.AddedPrefixes[0].String() != "52.122.0.0/15" ||
					len(side.RemovedPrefixes) != 1 || side.RemovedPrefixes[0].String() != "52.120.0.0/14" || len(c.Other) != 0 {
					t.Errorf("%s: %+v / %+v, other %v", c.ID, c.Source, c.Destination, c.Other)
				}
			}
			if strings.Join(ids, " ") != strings.Join(want[name], " ") {
				t.Errorf("changed %v\nwant    %v", ids, want[name])
			}
			if d.OldVersion == d.NewVersion || d.Empty() != (len(want[name]) == 0) {
				t.Errorf("versions %q %q, empty %v", d.OldVersion, d.NewVersion, d.Empty())
			}
		})
	}
}

// TestDiffAddRemove: rules only in one plan are added or removed, and a
// port change is reported as such.
func TestDiffAddRemove(t *testing.T) {
	p := func(rs ...model.Rule) *model.Plan { return &model.Plan{Cloud: model.CloudWorldwide, Rules: rs} }
	ports := func(s string) model.PortSet { ps, _ := model.ParsePortSet(s); return ps }
	a := model.Rule{ID: "a", Proto: model.ProtoTCP, DestPorts: ports("443")}
	b := model.Rule{ID: "b", Proto: model.ProtoTCP, DestPorts: ports("443")}
	b2 := b
	b2.DestPorts = ports("80,443")
	c := model.Rule{ID: "c", Proto: model.ProtoUDP, DestPorts: ports("3478-3481")}
	d := plan.Diff(p(a, b), p(b2, c))
	if len(d.Added) != 1 || d.Added[0].ID != "c" || len(d.Removed) != 1 || d.Removed[0].ID != "a" ||
		len(d.Changed) != 1 || strings.Join(d.Changed[0].Other, ";") != "ports 443 → 80,443" {
		t.Fatalf("%+v", d)
	}
	var b1 bytes.Buffer
	if err := plan.WriteDelta(&b1, d, "json"); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Added   []struct{ ID string }
		Removed []struct{ ID string }
		Changed []struct {
			ID    string
			Other []string
		}
	}
	if err := json.Unmarshal(b1.Bytes(), &doc); err != nil || len(doc.Added) != 1 || doc.Added[0].ID != "c" || doc.Changed[0].Other[0] != "ports 443 → 80,443" {
		t.Errorf("json: %v %s", err, b1.String())
	}
	var txt bytes.Buffer
	_ = plan.WriteDelta(&txt, d, "table")
	for _, w := range []string{"1 to add, 1 to remove, 1 to change", "\n+ c ", "\n- a ", "\n~ b ", "ports 443 → 80,443"} {
		if !strings.Contains(txt.String(), w) {
			t.Errorf("table lacks %q:\n%s", w, txt.String())
		}
	}
	if err := plan.WriteDelta(&txt, d, "csv"); err == nil {
		t.Errorf("csv accepted")
	}
}
