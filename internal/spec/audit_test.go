package spec

import (
	"strings"
	"testing"
)

// TestOutsideAndRoleTag: a role's outside mark and the audit section are
// decoded strictly, every problem at its position.
func TestOutsideAndRoleTag(t *testing.T) {
	const head = "cloud: worldwide\nintegrations:\n  pexip-teams-connector:\n    roles:\n      conferencing-nodes: { addresses: [203.0.113.10] }\n"
	tests := []struct {
		name string
		in   string
		// outside is whether role management is outside; tag the role tag.
		outside bool
		tag     string
		want    []string
	}{
		{name: "inside by default", in: head + "      management: { addresses: [192.0.2.0/28] }\n"},
		{name: "outside", in: head + "      management: { addresses: [192.0.2.0/28], outside: true }\n", outside: true},
		{name: "role tag", in: head + "audit:\n  aws:\n    role_tag: teamsgate:role\n", tag: "teamsgate:role"},
		{name: "outside not a bool", in: head + "      management: { addresses: [192.0.2.0/28], outside: maybe }\n",
			want: []string{`deploy.yaml:6:57: integrations.pexip-teams-connector.roles.management.outside: want true or false`}},
		{name: "outside without addresses", in: head + "      management: { outside: true }\n",
			want: []string{`deploy.yaml:6:19: pexip-teams-connector: role "management" has no addresses`}},
		{name: "unknown audit key", in: head + "audit:\n  gcp: {}\n",
			want: []string{`deploy.yaml:7:3: audit: unknown key "gcp"`}},
		{name: "unknown aws key", in: head + "audit:\n  aws:\n    roletag: x\n",
			want: []string{`deploy.yaml:8:5: audit.aws: unknown key "roletag" (did you mean "role_tag"?)`, `deploy.yaml:8:5: audit.aws: no role_tag given`}},
		{name: "empty role tag", in: head + "audit:\n  aws:\n    role_tag: \"\"\n",
			want: []string{`deploy.yaml:8:15: audit.aws: role_tag is empty`}},
		{name: "role tag with spaces", in: head + "audit:\n  aws:\n    role_tag: \" teamsgate:role\"\n",
			want: []string{`deploy.yaml:8:15: audit.aws: role_tag " teamsgate:role" has spaces at its ends`}},
		{name: "role tag too long", in: head + "audit:\n  aws:\n    role_tag: " + strings.Repeat("k", 129) + "\n",
			want: []string{`deploy.yaml:8:15: audit.aws: role_tag is 129 characters; an AWS tag key has at most 128`}},
		{name: "role tag a list", in: head + "audit:\n  aws:\n    role_tag: [a, b]\n",
			want: []string{`deploy.yaml:8:15: audit.aws.role_tag: want`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ds := Parse([]byte(tt.in), "deploy.yaml", embedded(t))
			var got []string
			for _, d := range ds {
				got = append(got, d.String())
			}
			if len(tt.want) == 0 {
				if len(ds) > 0 {
					t.Fatalf("unexpected diagnostics:\n%s", strings.Join(got, "\n"))
				}
				u := s.Use("pexip-teams-connector")
				if m, ok := u.Roles["management"]; ok && m.Outside != tt.outside {
					t.Errorf("management outside: %v, want %v", m.Outside, tt.outside)
				}
				if u.Roles["conferencing-nodes"].Outside {
					t.Error("conferencing-nodes is outside")
				}
				if s.Audit.AWSRoleTag != tt.tag || (tt.tag != "" && s.Audit.AWSRoleTagPos.Line != 8) {
					t.Errorf("role tag %q at %v, want %q", s.Audit.AWSRoleTag, s.Audit.AWSRoleTagPos, tt.tag)
				}
				return
			}
			for _, w := range tt.want {
				found := false
				for _, g := range got {
					found = found || strings.Contains(g, w)
				}
				if !found {
					t.Errorf("no diagnostic %q in:\n%s", w, strings.Join(got, "\n"))
				}
			}
		})
	}
}
