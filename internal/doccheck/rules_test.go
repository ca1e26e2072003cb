package doccheck

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// found is what TestExtractRules compares of a command.
type found struct {
	Line   int
	Text   string
	Kind   string
	Want   []int
	Writes string
}

func project(cmds []command) []found {
	var out []found
	for _, c := range cmds {
		f := found{Line: c.line, Text: c.text, Kind: c.kind.String(), Want: c.want}
		if c.writes != nil {
			f.Writes = c.writes.name + ":" + c.writes.content
		}
		out = append(out, f)
	}
	return out
}

// TestExtractRules pins what counts as a command, and which exit code a
// document shows for it.
func TestExtractRules(t *testing.T) {
	names := commandNames{"plan": true, "version": false, "catalog list": false}
	tests := []struct {
		name string
		md   string
		want []found
	}{
		{
			name: "session with echo $?",
			md:   "```\n$ cat deploy.yaml\ncloud: worldwide\n$ teamsgate plan deploy.yaml\ndeploy.yaml:1:1: bad\n$ echo $?\n1\n```\n",
			want: []found{
				{Line: 2, Text: "cat deploy.yaml", Kind: "run", Writes: "deploy.yaml:cloud: worldwide\n"},
				{Line: 4, Text: "teamsgate plan deploy.yaml", Kind: "run", Want: []int{1}},
			},
		},
		{
			name: "exit codes in the output",
			md:   "```\n$ teamsgate certs check a\nOK   (exit 0; 3 with --strict)\n\n$ teamsgate tls check b\nexit status 3\n$ teamsgate plan c \\\n    -o json\n```\n",
			want: []found{
				{Line: 2, Text: "teamsgate certs check a", Kind: "run", Want: []int{0}},
				{Line: 5, Text: "teamsgate tls check b", Kind: "run", Want: []int{3}},
				{Line: 7, Text: "teamsgate plan c -o json", Kind: "run"},
			},
		},
		{
			name: "file contents are not commands",
			md:   "```yaml\nteamsgate: x\n```\n\n```json\n$ teamsgate plan x\n```\n\n```ini\nExecStart=teamsgate serve x\n```\n",
		},
		{
			name: "a block without prompts",
			md:   "```\nmake test\nmkdir -p ~/.zfunc && teamsgate completion zsh > ~/.zfunc/_teamsgate   # zsh\ncmd/teamsgate/   the binary\n#!/usr/sbin/nft -f\nteamsgate audit SPEC --config FILE\n       [--scope ROLE]\n```\n",
			want: []found{
				{Line: 2, Text: "make test", Kind: "not run"},
				{Line: 3, Text: "mkdir -p ~/.zfunc && teamsgate completion zsh > ~/.zfunc/_teamsgate   # zsh", Kind: "run"},
				{Line: 6, Text: "teamsgate audit SPEC --config FILE [--scope ROLE]", Kind: "synopsis"},
			},
		},
		{
			name: "an indented block in a list",
			md:   "1. Check it:\n   ```\n   teamsgate serve examples/gateway.yaml --check\n   ```\n",
			want: []found{{Line: 3, Text: "teamsgate serve examples/gateway.yaml --check", Kind: "run"}},
		},
		{
			name: "inline spans",
			md:   "Run `teamsgate plan`, `teamsgate version`, `teamsgate catalog show <id>`, `make build` and\n`teamsgate render x --target nftables\n--fqdn-skip` or `teamsgate tls check host:port`; `teamsgate render SPEC` too.\n",
			want: []found{
				{Line: 1, Text: "teamsgate plan", Kind: "command name"},
				{Line: 1, Text: "teamsgate version", Kind: "run"},
				{Line: 1, Text: "teamsgate catalog show <id>", Kind: "synopsis"},
				{Line: 2, Text: "teamsgate render x --target nftables --fqdn-skip", Kind: "run"},
				{Line: 3, Text: "teamsgate tls check host:port", Kind: "synopsis"},
				{Line: 3, Text: "teamsgate render SPEC", Kind: "synopsis"},
			},
		},
		{
			name: "skip marker",
			md:   "<!-- doccheck: skip: needs an Azure subscription -->\n```\n$ az group list\n```\n\n```\n$ teamsgate version\n```\n",
			want: []found{
				{Line: 3, Text: "az group list", Kind: "skipped"},
				{Line: 7, Text: "teamsgate version", Kind: "run"},
			},
		},
		{
			name: "capitals of other tools are no placeholder",
			md:   "```\nmkdir -p t && openssl req -subj /CN=x -addext subjectAltName=DNS:x\n```\n\n`teamsgate plan x -o json` and `GOMAXPROCS=1 teamsgate serve x`\n",
			want: []found{
				{Line: 2, Text: "mkdir -p t && openssl req -subj /CN=x -addext subjectAltName=DNS:x", Kind: "run"},
				{Line: 5, Text: "teamsgate plan x -o json", Kind: "run"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := project(extractMarkdown("x.md", tt.md, names))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("commands (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExtractExamples(t *testing.T) {
	help := strings.Join([]string{
		"Usage:",
		"  teamsgate serve SPEC [flags]",
		"",
		"Examples:",
		"  teamsgate serve examples/gateway.yaml",
		"  kill -HUP $(pidof teamsgate)        # reload",
		"  curl -X POST 'http://127.0.0.1:9090/upstreams/active?group=green'",
		"  teamsgate serve SPEC --check",
		"",
		"Flags:",
	}, "\n")
	got := project(extractExamples("teamsgate serve --help", help, 1, commandNames{}))
	want := []found{
		{Line: 5, Text: "teamsgate serve examples/gateway.yaml", Kind: "run"},
		{Line: 6, Text: "kill -HUP $(pidof teamsgate)        # reload", Kind: "run"},
		{Line: 7, Text: "curl -X POST 'http://127.0.0.1:9090/upstreams/active?group=green'", Kind: "run"},
		{Line: 8, Text: "teamsgate serve SPEC --check", Kind: "synopsis"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("examples (-want +got):\n%s", diff)
	}
	if !takesArguments("serve", help) {
		t.Errorf("serve SPEC: takes arguments")
	}
	if takesArguments("version", "Usage:\n  teamsgate version [flags]\n") {
		t.Errorf("version [flags]: takes none")
	}
}

// TestDaemonAndFirewallLines pins which commands run as daemons and which
// in a network namespace of their own.
func TestDaemonAndFirewallLines(t *testing.T) {
	for _, tt := range []struct {
		line             string
		daemon, firewall bool
	}{
		{line: "teamsgate serve examples/gateway.yaml 2>>gateway.jsonl", daemon: true},
		{line: "teamsgate serve examples/gateway.yaml &      # the example gateway", daemon: true},
		{line: "GOMAXPROCS=1 teamsgate serve x.yaml --admin-listen 127.0.0.1:9091", daemon: true},
		{line: "teamsgate serve examples/gateway.yaml --check"},
		{line: "teamsgate render x --target nftables > t.nft && nft -f t.nft", firewall: true},
		{line: "iptables-restore < iptables/rules.v4", firewall: true},
		{line: "ip6tables-restore < iptables/rules.v6", firewall: true},
		{line: "teamsgate render x --target iptables --out-dir iptables/"},
	} {
		_, _, daemon := daemonCommand(tt.line)
		if daemon != tt.daemon || firewallCommand.MatchString(tt.line) != tt.firewall {
			t.Errorf("%q: daemon %v, firewall %v; want %v, %v", tt.line, daemon, firewallCommand.MatchString(tt.line), tt.daemon, tt.firewall)
		}
	}
}

// TestAdminAddr pins which admin listener a daemon is waited for: the
// gateway's when the spec has a gateway: section, else the egress proxy's.
func TestAdminAddr(t *testing.T) {
	ws := t.TempDir()
	for name, spec := range map[string]string{
		"gw.yaml":   "gateway:\n  admin: {listen: 127.0.0.1:9190}\n",
		"eg.yaml":   "egress:\n  admin: {listen: 127.0.0.1:9191}\n",
		"egd.yaml":  "egress:\n  listen: 127.0.0.1:3128\n",
		"both.yaml": "gateway: {listen: ':8443'}\negress:\n  admin: {listen: 127.0.0.1:9191}\n",
	} {
		if err := os.WriteFile(filepath.Join(ws, name), []byte(spec), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := &runner{ws: ws}
	for _, tt := range []struct{ serve, want string }{
		{serve: "teamsgate serve gw.yaml", want: "127.0.0.1:9190"},
		{serve: "teamsgate serve gw.yaml --admin-listen 127.0.0.1:9091", want: "127.0.0.1:9091"},
		{serve: "teamsgate serve gw.yaml --egress-admin-listen 127.0.0.1:9092", want: "127.0.0.1:9190"},
		{serve: "teamsgate serve eg.yaml 2>>egress.jsonl", want: "127.0.0.1:9191"},
		{serve: "teamsgate serve eg.yaml --egress-admin-listen 127.0.0.1:9092", want: "127.0.0.1:9092"},
		{serve: "teamsgate serve egd.yaml", want: "127.0.0.1:9091"},
		{serve: "teamsgate serve both.yaml", want: "127.0.0.1:9090"},
		{serve: "teamsgate serve missing.yaml", want: "127.0.0.1:9090"},
	} {
		if got := r.adminAddr(tt.serve); got != tt.want {
			t.Errorf("adminAddr(%q) = %s, want %s", tt.serve, got, tt.want)
		}
	}
}
