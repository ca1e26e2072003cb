package audit_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/teamsgate/teamsgate/internal/audit"
	"github.com/teamsgate/teamsgate/internal/audit/formats/awssg"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/testutil"
)

// estateExport is the example estate: three groups tagged for three roles,
// each with one defect, and the eleven untagged groups of the real
// Batfish sample.
func estateExport(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testutil.Root(), "examples", "estate", "security-groups.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func estatePlan(t *testing.T) *model.Plan {
	return testutil.Plan(t, filepath.Join(testutil.Root(), "examples", "estate", "aws.yaml"), "")
}

// groupsOf returns the export's groups, for a case to change.
func groupsOf(doc map[string]any) []any { return doc["SecurityGroups"].([]any) }

func setTag(g any, value string) {
	g.(map[string]any)["Tags"] = []any{map[string]any{"Key": "teamsgate:role", "Value": value}}
}

func ingress(proto string, port int, cidrs ...string) map[string]any {
	var rs []any
	for _, c := range cidrs {
		rs = append(rs, map[string]any{"CidrIp": c})
	}
	return map[string]any{"IpProtocol": proto, "FromPort": port, "ToPort": port, "IpRanges": rs}
}

func newGroup(id, tag string, in, out []any) map[string]any {
	return map[string]any{"GroupId": id, "GroupName": id, "IpPermissions": in, "IpPermissionsEgress": out,
		"Tags": []any{map[string]any{"Key": "teamsgate:role", "Value": tag}}}
}

// summary is a finding as the estate tests compare it.
type summary struct {
	Kind   audit.Kind
	Flow   string
	Rule   string
	Roles  []string
	Groups []string
}

// TestEstate audits every security group of an export at once, each
// against the roles its tag names.
func TestEstate(t *testing.T) {
	p := estatePlan(t)
	const (
		bot  = "sg-0b07000000000001"
		cn   = "sg-0c0a000000000002"
		mgmt = "sg-0d0e000000000003"
	)
	seeded := []summary{
		{Kind: audit.Missing, Flow: "teams-messaging-bot.in.activity", Rule: bot + " ingress (no rule allows it)", Roles: []string{"teams-messaging-bot/bot"}, Groups: []string{bot}},
		{Kind: audit.TooOpen, Rule: cn + " ingress#4", Roles: []string{"pexip-teams-connector/conferencing-nodes"}, Groups: []string{cn}},
		{Kind: audit.Shadowed, Rule: mgmt + " egress#2", Roles: []string{"pexip-teams-connector/management-node"}, Groups: []string{mgmt}},
	}
	tests := []struct {
		name  string
		edit  func(doc map[string]any)
		scope string
		want  []summary
		// warn and note are substrings of a diagnostic and a note.
		warn, note string
	}{
		{name: "three groups, three roles, three defects", want: seeded,
			note: "11 security groups protect no role of the spec (no tag teamsgate:role naming one): not audited"},
		{name: "scope narrows the estate to one role", scope: "conferencing-nodes", want: seeded[1:2]},
		{
			name: "two groups of one role are a union",
			edit: func(doc map[string]any) {
				// Each allows half of Teams' 52.112.0.0/14: together the
				// flow passes, so the missing finding goes.
				doc["SecurityGroups"] = append(groupsOf(doc),
					newGroup("sg-half-1", "teams-messaging-bot/bot", []any{ingress("tcp", 443, "52.112.0.0/15")}, []any{}),
					newGroup("sg-half-2", "bot", []any{ingress("tcp", 443, "52.114.0.0/15")}, []any{}))
			},
			want: seeded[1:],
		},
		{
			name: "half a union is missing, naming every group of the role",
			edit: func(doc map[string]any) {
				doc["SecurityGroups"] = append(groupsOf(doc), newGroup("sg-half-1", "teams-messaging-bot/bot", []any{ingress("tcp", 443, "52.112.0.0/15")}, []any{}))
			},
			want: append([]summary{{Kind: audit.Missing, Flow: "teams-messaging-bot.in.activity", Rule: bot + "+sg-half-1 ingress (no rule allows it)",
				Roles: []string{"teams-messaging-bot/bot"}, Groups: []string{bot, "sg-half-1"}}}, seeded[1:]...),
		},
		{
			name: "a group protecting two roles is one finding naming both",
			edit: func(doc map[string]any) {
				// For the bot it carries the activity flow; for the
				// management node that is too open; for both its second
				// rule is redundant.
				doc["SecurityGroups"] = append(groupsOf(doc), newGroup("sg-shared", "teams-messaging-bot/bot pexip-teams-connector/management-node",
					[]any{ingress("tcp", 443, "52.112.0.0/14"), ingress("tcp", 443, "52.112.0.0/16"), ingress("tcp", 8443, "0.0.0.0/0")}, []any{}))
			},
			// TCP 8443 is too open at both roles' hosts: two findings,
			// each with a fingerprint of its own.
			want: []summary{
				seeded[1],
				{Kind: audit.TooOpen, Rule: "sg-shared ingress#1", Roles: []string{"pexip-teams-connector/management-node"}, Groups: []string{"sg-shared"}},
				{Kind: audit.TooOpen, Rule: "sg-shared ingress#3", Roles: []string{"pexip-teams-connector/management-node"}, Groups: []string{"sg-shared"}},
				{Kind: audit.TooOpen, Rule: "sg-shared ingress#3", Roles: []string{"teams-messaging-bot/bot"}, Groups: []string{"sg-shared"}},
				seeded[2],
				{Kind: audit.Shadowed, Rule: "sg-shared ingress#2", Roles: []string{"pexip-teams-connector/management-node", "teams-messaging-bot/bot"}, Groups: []string{"sg-shared"}},
			},
		},
		{
			name: "a tag naming no role of the spec is a warning",
			edit: func(doc map[string]any) { setTag(groupsOf(doc)[4], "teams-messaging-bto/bot") },
			want: seeded,
			warn: `tag teamsgate:role: "teams-messaging-bto/bot" is no role of the spec (did you mean "teams-messaging-bot/bot"?)`,
		},
		{
			name: "a tag naming an outside role is a warning",
			edit: func(doc map[string]any) { setTag(groupsOf(doc)[4], "pexip-teams-connector/management") },
			want: seeded,
			warn: "role pexip-teams-connector/management is marked outside the audited firewall",
		},
		{
			name: "a role no group protects has its flows skipped",
			edit: func(doc map[string]any) { setTag(groupsOf(doc)[0], "") },
			want: seeded[1:],
			warn: "role teams-messaging-bot/bot: no security group of the export has the tag teamsgate:role naming it",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := estateExport(t)
			if tt.edit != nil {
				tt.edit(doc)
			}
			data, err := json.Marshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			cfg, ds := awssg.Parse(data, awssg.Options{RoleTag: "teamsgate:role"})
			if ds.HasErrors() {
				t.Fatal(ds)
			}
			rep, rds := audit.Run(p, cfg, audit.Options{Scope: tt.scope})
			if rds.HasErrors() {
				t.Fatal(rds)
			}
			var got []summary
			fingerprints := map[string]bool{}
			for _, f := range rep.Findings {
				if fingerprints[f.Fingerprint] {
					t.Errorf("%s %s: fingerprint %s twice", f.Kind, f.Rule.ID, f.Fingerprint)
				}
				fingerprints[f.Fingerprint] = true
				got = append(got, summary{Kind: f.Kind, Flow: f.Flow, Rule: f.Rule.ID, Roles: f.Roles, Groups: f.Groups})
				for _, g := range f.Groups {
					if !strings.Contains(f.Message, g) {
						t.Errorf("%s %s: the message does not name group %s: %s", f.Kind, f.Rule.ID, g, f.Message)
					}
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
			if tt.warn != "" && !strings.Contains(rds.String(), tt.warn) {
				t.Errorf("no warning %q in:\n%s", tt.warn, rds)
			}
			if tt.warn == "" && len(rds) > 0 {
				t.Errorf("unexpected diagnostics:\n%s", rds)
			}
			if tt.note != "" && !strings.Contains(strings.Join(rep.Notes, "\n"), tt.note) {
				t.Errorf("no note %q in:\n%s", tt.note, strings.Join(rep.Notes, "\n"))
			}
		})
	}
}

// TestEstateFlows: every flow of a role is checked through its groups, in
// the direction it crosses them; a flow that does not cross them, or whose
// role no group protects, is listed as skipped with the reason.
func TestEstateFlows(t *testing.T) {
	p := estatePlan(t)
	doc := estateExport(t)
	setTag(groupsOf(doc)[0], "")
	data, _ := json.Marshal(doc)
	cfg, ds := awssg.Parse(data, awssg.Options{RoleTag: "teamsgate:role"})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	rep, rds := audit.Run(p, cfg, audit.Options{})
	if rds.HasErrors() {
		t.Fatal(rds)
	}
	type flow struct {
		dir    string
		status audit.FlowStatus
		role   string
		detail string
	}
	got := map[string]flow{}
	for _, f := range rep.Flows {
		got[f.ID+" "+f.Direction] = flow{dir: f.Direction, status: f.Status, role: f.Role, detail: f.Detail}
	}
	for id, want := range map[string]flow{
		// from the Teams Connector in Azure (outside) to the nodes: inbound only
		"pexip-teams-connector.instance-to-cn.media inbound":   {dir: "inbound", status: audit.FlowPass, role: "pexip-teams-connector/conferencing-nodes"},
		"pexip-teams-connector.cn-to-lb.signaling outbound":    {dir: "outbound", status: audit.FlowPass, role: "pexip-teams-connector/conferencing-nodes"},
		"pexip-teams-connector.mgmt-to-instance.rdp forward":   {dir: "forward", status: audit.FlowSkipped, detail: "neither end is a role behind the audited security groups"},
		"teams-messaging-bot.in.activity inbound":              {dir: "inbound", status: audit.FlowSkipped, detail: "no security group of the export has the tag teamsgate:role naming role teams-messaging-bot/bot"},
		"teams-messaging-bot.out.login outbound":               {dir: "outbound", status: audit.FlowSkipped, detail: "naming role teams-messaging-bot/bot"},
		"pexip-teams-connector.mgmt-node-to-eventhub outbound": {dir: "outbound", status: audit.FlowSkipped, role: "pexip-teams-connector/management-node", detail: "given only by host names"},
	} {
		g, ok := got[id]
		if !ok {
			t.Errorf("%s: no flow result", id)
			continue
		}
		if g.dir != want.dir || g.status != want.status || g.role != want.role || !strings.Contains(g.detail, want.detail) {
			t.Errorf("%s: %+v, want %+v", id, g, want)
		}
	}
	for key := range got {
		if strings.HasPrefix(key, "pexip-teams-connector.instance-to-cn.media outbound") || strings.HasPrefix(key, "pexip-teams-connector.cn-to-lb.signaling inbound") {
			t.Errorf("%s: checked where it does not cross the groups", key)
		}
	}
}

// TestEstateParse: the groups of an estate are kept apart, with the roles
// their tag names and where the tag is; an estate without the tag is an
// error, since nothing of the deployment would be checked.
func TestEstateParse(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testutil.Root(), "examples", "estate", "security-groups.json"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, ds := awssg.Parse(b, awssg.Options{RoleTag: "teamsgate:role"})
	if len(ds) > 0 {
		t.Fatal(ds)
	}
	if len(cfg.Groups) != 14 || len(cfg.Paths) != 0 {
		t.Fatalf("%d groups, %d paths", len(cfg.Groups), len(cfg.Paths))
	}
	g := cfg.Groups[2]
	if g.ID != "sg-0d0e000000000003" || g.Name != "pexip-management" || !slices.Equal(g.Roles, []string{"management-node"}) || g.RolesPos.Line == 0 {
		t.Errorf("group %+v", g)
	}
	if l := g.Chains[0]; l != nil {
		t.Errorf("a forward chain: %+v", l)
	}
	// The real sample alone has no group tagged for a role.
	real, err := os.ReadFile(filepath.Join(testutil.Root(), "testdata", "data", "aws-describe-security-groups.batfish-hybrid-cloud-aws.json"))
	if err != nil {
		t.Fatal(err)
	}
	_, ds = awssg.Parse(real, awssg.Options{RoleTag: "teamsgate:role"})
	if !ds.HasErrors() || !strings.Contains(ds.Err().Error(), `no security group carries the tag "teamsgate:role"`) {
		t.Errorf("untagged estate: %v", ds)
	}
	// ... but its Name tags are read as the tag when the spec says so.
	cfg, ds = awssg.Parse(real, awssg.Options{RoleTag: "Name"})
	if ds.HasErrors() || !slices.Equal(cfg.Groups[0].Roles, []string{"Arista", "Demo"}) {
		t.Errorf("Name tag: %v %v", cfg.Groups[0].Roles, ds)
	}
}
