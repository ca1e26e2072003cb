package spec

import (
	"strings"
	"testing"

	"github.com/teamsgate/teamsgate/internal/catalog"
	"github.com/teamsgate/teamsgate/internal/model"
)

func embedded(t testing.TB) *catalog.Catalog {
	c, ds := catalog.Embedded()
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	return c
}

func TestParseGood(t *testing.T) {
	s, ds := Parse([]byte(`
cloud: gcc
integrations:
  teams-calling-bot:
    roles:
      bot: { addresses: [198.51.100.20, "2001:db8::/64"] }
    parameters:
      media-ports: 20000-20999
      signaling-port: 443
      azurecloud-only: true
`), "deploy.yaml", embedded(t))
	if len(ds) > 0 {
		t.Fatal(ds)
	}
	if s.Cloud != model.CloudGCC {
		t.Errorf("cloud %q", s.Cloud)
	}
	u := s.Use("teams-calling-bot")
	if got := u.Params["media-ports"].Ports.String(); got != "20000-20999" {
		t.Errorf("media-ports %s", got)
	}
	if got := u.Params["media-control-port"].Ports.String(); got != "8445" {
		t.Errorf("media-control-port default %s", got)
	}
	if !u.Params["azurecloud-only"].Bool {
		t.Errorf("azurecloud-only not set")
	}
	if got := u.Roles["bot"].Prefixes; len(got) != 2 || got[0].String() != "198.51.100.20/32" || got[1].String() != "2001:db8::/64" {
		t.Errorf("bot prefixes %v", got)
	}
}

// TestParseErrors checks that each kind of bad input is a positioned error
// naming what is wrong.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{
			name: "malformed yaml",
			in:   "cloud: worldwide\nintegrations: {teams-messaging-bot: [\n",
			want: []string{
				"deploy.yaml:2:15: unclosed { opened here: the file ends before its }",
				"deploy.yaml:2:37: unclosed [ opened here: the file ends before its ]",
			},
		},
		{
			name: "empty",
			in:   "",
			want: []string{"deploy.yaml:1:1: empty document"},
		},
		{
			name: "unknown cloud",
			in:   "cloud: mars\nintegrations:\n  teamspro-saas: {}\n",
			want: []string{`deploy.yaml:1:8: unknown cloud "mars" (want worldwide, gcc, gcch or dod)`},
		},
		{
			name: "no cloud",
			in:   "integrations:\n  teamspro-saas: {}\n",
			want: []string{"deploy.yaml:1:1: no cloud given"},
		},
		{
			name: "unknown integration",
			in:   "cloud: worldwide\nintegrations:\n  teams-fax-bot: {}\n",
			want: []string{`deploy.yaml:3:3: unknown integration "teams-fax-bot" (known: pexip-teams-connector, teams-calling-bot, teams-messaging-bot, teamspro-saas)`},
		},
		{
			name: "unknown key",
			in:   "cloud: worldwide\nintegratons:\n  teamspro-saas: {}\n",
			want: []string{`deploy.yaml:2:1: unknown key "integratons" (did you mean "integrations"?)`},
		},
		{
			name: "unknown nested key",
			in:   "cloud: worldwide\nintegrations:\n  teamspro-saas:\n    roles:\n      clients: { adresses: [192.0.2.0/24] }\n",
			want: []string{`deploy.yaml:5:18: integrations.teamspro-saas.roles.clients: unknown key "adresses" (did you mean "addresses"?)`},
		},
		{
			name: "unknown role",
			in:   "cloud: worldwide\nintegrations:\n  teams-messaging-bot:\n    roles:\n      robot: { addresses: [192.0.2.1] }\n",
			want: []string{`deploy.yaml:5:7: teams-messaging-bot: unknown role "robot" (known: bot)`},
		},
		{
			name: "role without addresses",
			in:   "cloud: worldwide\nintegrations:\n  pexip-teams-connector:\n    roles:\n      conferencing-nodes: {}\n",
			want: []string{`deploy.yaml:5:27: pexip-teams-connector: role "conferencing-nodes" has no addresses`},
		},
		{
			name: "address not a prefix",
			in:   "cloud: worldwide\nintegrations:\n  teams-messaging-bot:\n    roles:\n      bot: { addresses: [bot.example.com, 192.0.2.0/33, 192.0.2.1/24] }\n",
			want: []string{
				`deploy.yaml:5:26: teams-messaging-bot: role "bot": "bot.example.com" is not an IP address or prefix`,
				`deploy.yaml:5:43: teams-messaging-bot: role "bot": "192.0.2.0/33" is not an IP prefix`,
				`deploy.yaml:5:57: teams-messaging-bot: role "bot": prefix "192.0.2.1/24" has host bits set (did you mean 192.0.2.0/24?)`,
			},
		},
		{
			name: "bad host",
			in:   "cloud: worldwide\nintegrations:\n  teams-messaging-bot:\n    roles:\n      bot: { hosts: [\"a.*.example.com\"] }\n",
			want: []string{`wildcard may only be the whole left-most label`},
		},
		{
			name: "port out of range",
			in:   "cloud: worldwide\nintegrations:\n  teams-calling-bot:\n    roles:\n      bot: { addresses: [198.51.100.1] }\n    parameters:\n      signaling-port: 70000\n",
			want: []string{`deploy.yaml:7:23: teams-calling-bot: parameter "signaling-port": port range "70000": port 70000 out of range 0-65535`},
		},
		{
			name: "inverted range",
			in:   "cloud: worldwide\nintegrations:\n  teams-calling-bot:\n    roles:\n      bot: { addresses: [198.51.100.1] }\n    parameters:\n      media-ports: 17000-16000\n",
			want: []string{`deploy.yaml:7:20: teams-calling-bot: parameter "media-ports": port range "17000-16000" is inverted (17000 > 16000)`},
		},
		{
			name: "media range under 1000 ports",
			in:   "cloud: worldwide\nintegrations:\n  teams-calling-bot:\n    roles:\n      bot: { addresses: [198.51.100.1] }\n    parameters:\n      media-ports: 16000-16500\n",
			want: []string{`deploy.yaml:7:20: teams-calling-bot: parameter "media-ports": 16000-16500 holds 501 ports; it must hold at least 1000`},
		},
		{
			name: "unknown parameter",
			in:   "cloud: worldwide\nintegrations:\n  teams-messaging-bot:\n    roles:\n      bot: { addresses: [198.51.100.1] }\n    parameters:\n      grpah: true\n",
			want: []string{`deploy.yaml:7:7: teams-messaging-bot: unknown parameter "grpah" (did you mean "graph"?) (known: app-tenant, app-type, graph)`},
		},
		{
			name: "bool parameter given a string",
			in:   "cloud: worldwide\nintegrations:\n  teams-messaging-bot:\n    roles:\n      bot: { addresses: [198.51.100.1] }\n    parameters:\n      graph: yes please\n",
			want: []string{`deploy.yaml:7:14: teams-messaging-bot: parameter "graph": want true or false`},
		},
		{
			name: "enum parameter",
			in:   "cloud: worldwide\nintegrations:\n  teams-calling-bot:\n    roles:\n      bot: { addresses: [198.51.100.1] }\n    parameters:\n      hosting: mainframe\n",
			want: []string{`parameter "hosting": want one of azure, other, got "mainframe"`},
		},
		{
			name: "wrong type",
			in:   "cloud: worldwide\nintegrations:\n  teams-messaging-bot:\n    roles:\n      bot: { addresses: 198.51.100.1 }\n",
			want: []string{`deploy.yaml:5:25: integrations.teams-messaging-bot.roles.bot.addresses: want a list, got "198.51.100.1" (write [198.51.100.1] for a list of one)`},
		},
		{
			name: "duplicate key",
			in:   "cloud: worldwide\ncloud: gcc\nintegrations:\n  teamspro-saas: {}\n",
			want: []string{`deploy.yaml:2:1: key "cloud" given twice (first at line 1)`},
		},
		{
			name: "every problem at once",
			in:   "cloud: mars\nintegrations:\n  teams-fax-bot: {}\n  teams-calling-bot:\n    parameters:\n      media-ports: 1-10\n",
			want: []string{`unknown cloud "mars"`, `unknown integration "teams-fax-bot"`, `holds 10 ports`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ds := Parse([]byte(tt.in), "deploy.yaml", embedded(t))
			if !ds.HasErrors() {
				t.Fatalf("no error for:\n%s", tt.in)
			}
			got := ds.String()
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("diagnostics:\n%s\nwant one containing:\n%s", got, w)
				}
			}
		})
	}
}

// FuzzParse checks that no input makes the spec parser panic, and that a
// spec it accepts without error has a cloud and integrations.
func FuzzParse(f *testing.F) {
	f.Add([]byte("cloud: worldwide\nintegrations:\n  teams-messaging-bot:\n    roles:\n      bot: { addresses: [198.51.100.1] }\n"))
	f.Add([]byte("cloud: gcch\nintegrations:\n  teams-calling-bot:\n    parameters: { media-ports: 16000-17000 }\n"))
	f.Add([]byte("cloud: [\n"))
	f.Add([]byte("&a [*a]"))
	f.Add([]byte("cloud: dod\nintegrations: {pexip-teams-connector: {roles: {management: {hosts: ['*.x.y']}}}}\n"))
	cat := embedded(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		s, ds := Parse(data, "fuzz.yaml", cat)
		if !ds.HasErrors() && (s == nil || s.Cloud == "" || len(s.Uses) == 0) {
			t.Errorf("accepted a spec without cloud or integrations: %q", data)
		}
	})
}

func TestUnknownRoleKeyIsTheOnlyError(t *testing.T) {
	_, ds := Parse([]byte("cloud: worldwide\nintegrations:\n  teams-messaging-bot:\n    roles:\n      bot: { adresses: [198.51.100.10] }\n"), "deploy.yaml", embedded(t))
	if len(ds) != 1 || !strings.Contains(ds.String(), `unknown key "adresses"`) {
		t.Errorf("diagnostics:\n%s\nwant only the unknown key", ds)
	}
}
