package awssg_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/teamsgate/teamsgate/internal/audit/eval"
	"github.com/teamsgate/teamsgate/internal/audit/formats/awssg"
	"github.com/teamsgate/teamsgate/internal/testutil"
	"github.com/teamsgate/teamsgate/internal/view"
)

// TestEstateTags reads the role tag of each group of an estate: the roles
// its value names, where the value is, and every malformed tag at its
// position.
func TestEstateTags(t *testing.T) {
	group := func(tags string) string {
		return `{"SecurityGroups": [{"GroupId": "sg-1", "GroupName": "web", "IpPermissions": [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}], "IpPermissionsEgress": [], "Tags": ` + tags + `},
 {"GroupId": "sg-2", "IpPermissions": [], "Tags": [{"Key": "teamsgate:role", "Value": "bot"}]}]}`
	}
	tests := []struct {
		name  string
		tags  string
		roles []string
		err   string
	}{
		{name: "one role", tags: `[{"Key": "Name", "Value": "web"}, {"Key": "teamsgate:role", "Value": "teams-messaging-bot/bot"}]`, roles: []string{"teams-messaging-bot/bot"}},
		{name: "several roles, any spacing", tags: `[{"Key": "teamsgate:role", "Value": "  bot  pexip-teams-connector/conferencing-nodes "}]`, roles: []string{"bot", "pexip-teams-connector/conferencing-nodes"}},
		{name: "keys are case-sensitive", tags: `[{"Key": "TeamsGate:Role", "Value": "bot"}]`},
		{name: "no tags", tags: `[]`},
		{name: "tags not a list", tags: `{"teamsgate:role": "bot"}`, err: "1:209: sg-1: Tags must be an array, not object"},
		{name: "key not a string", tags: `[{"Key": 7, "Value": "bot"}]`, err: "1:218: sg-1: a tag's Key must be a string, not number 7"},
		{name: "value not a string", tags: `[{"Key": "teamsgate:role", "Value": ["bot"]}]`, err: "1:245: sg-1: tag teamsgate:role: Value must be a string, not array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, ds := awssg.Parse([]byte(group(tt.tags)), awssg.Options{RoleTag: "teamsgate:role"})
			if tt.err != "" {
				if !ds.HasErrors() || !strings.Contains(ds.Err().Error(), tt.err) {
					t.Fatalf("diagnostics %v, want %q", ds, tt.err)
				}
				return
			}
			if len(ds) > 0 {
				t.Fatal(ds)
			}
			g := cfg.Groups[0]
			if !slices.Equal(g.Roles, tt.roles) || g.ID != "sg-1" || g.Name != "web" || g.Label() != "sg-1 (web)" {
				t.Errorf("group %s: roles %q, want %q", g.Label(), g.Roles, tt.roles)
			}
			if len(tt.roles) > 0 && g.RolesPos.Col == 0 {
				t.Error("no position for the tag's value")
			}
			in := g.Chains[view.Inbound].Lines
			if len(in) != 1 || in[0].ID != "sg-1 ingress#1" || in[0].Chain != "sg-1 ingress" || in[0].Index != 1 || len(g.Chains[view.Outbound].Lines) != 0 {
				t.Errorf("chains: %+v", g.Chains)
			}
			if u := cfg.Attach(cfg.Groups); len(u.Paths[view.Inbound]) != 1 || len(u.Paths[view.Inbound][0].Lines) != 1 || u.Paths[view.Inbound][0].Policy.ID != "sg-1+sg-2 ingress (no rule allows it)" {
				t.Errorf("attached: %+v", u.Paths)
			}
		})
	}
	// A group without IpPermissionsEgress keeps the default egress rule,
	// and its note, for itself.
	cfg, ds := awssg.Parse([]byte(group(`[]`)), awssg.Options{RoleTag: "teamsgate:role"})
	if ds.HasErrors() || len(cfg.Groups[1].Notes) != 1 || len(cfg.Groups[0].Notes) != 0 || len(cfg.Notes) != 0 || len(cfg.Groups[1].Chains[view.Outbound].Lines) != 1 {
		t.Errorf("default egress: %v %+v", ds, cfg.Groups)
	}
}

// FuzzParseEstate: any input read as an estate gives groups that attach,
// or errors that all carry a position, never a panic.
func FuzzParseEstate(f *testing.F) {
	b, err := os.ReadFile(filepath.Join(testutil.Root(), "examples", "estate", "security-groups.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"SecurityGroups": [{"GroupId": "sg-1", "Tags": [{"Key": "teamsgate:role", "Value": "bot"}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, ds := awssg.Parse(data, awssg.Options{RoleTag: "teamsgate:role"})
		for _, d := range ds {
			if d.Pos.Line == 0 {
				t.Fatalf("diagnostic without a position: %s", d)
			}
		}
		if cfg != nil {
			if _, err := eval.Compile(cfg.Attach(cfg.Groups)); err != nil {
				t.Fatal(err)
			}
		}
	})
}
