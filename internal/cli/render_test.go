package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/teamsgate/teamsgate/internal/render/targets"
	"github.com/teamsgate/teamsgate/internal/testutil"
)

func TestRenderToStdout(t *testing.T) {
	code, out, errs := run(t, "render", testutil.ExamplePath("pexip"), "--target", "nftables", "--scope", "conferencing-nodes")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s", code, errs)
	}
	if !strings.HasPrefix(out, "#!/usr/sbin/nft -f\n") || strings.Contains(out, "# ==>") {
		t.Errorf("one file goes to stdout as is, got:\n%.300s", out)
	}
	if !strings.Contains(errs, "warning") {
		t.Errorf("plan warnings should go to stderr, got %q", errs)
	}

	code, out, errs = run(t, "render", testutil.ExamplePath("pexip"), "--target", "iptables", "--fqdn-skip")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s", code, errs)
	}
	v4, v6 := strings.Index(out, "# ==> rules.v4 <==\n"), strings.Index(out, "# ==> rules.v6 <==\n")
	if v4 != 0 || v6 < v4 {
		t.Errorf("several files are each prefixed by their name, got:\n%s", out)
	}
	if !strings.Contains(errs, "warning: pexip-teams-connector.instance-to-eventhub: not rendered (--fqdn-skip)") {
		t.Errorf("skipped flows should be warned about on stderr, got:\n%s", errs)
	}
}

func TestRenderToDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	code, out, errs := run(t, "render", testutil.ExamplePath("messaging-bot"), "--target", "iptables", "--fqdn-via-proxy", "192.0.2.3:3128", "--out-dir", dir)
	if code != ExitOK || out != "" {
		t.Fatalf("exit %d, stdout %q\n%s", code, out, errs)
	}
	for _, name := range []string{"rules.v4", "rules.v6"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !strings.Contains(string(b), "*filter\n") {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The same bytes as on stdout.
	_, stdout, _ := run(t, "render", testutil.ExamplePath("messaging-bot"), "--target", "iptables", "--fqdn-via-proxy", "192.0.2.3:3128")
	v4, _ := os.ReadFile(filepath.Join(dir, "rules.v4"))
	if !strings.Contains(stdout, string(v4)) {
		t.Error("the file written differs from the one printed")
	}
}

func TestRenderBadInput(t *testing.T) {
	tags := filepath.Join(testutil.Root(), "testdata", "data", "ServiceTags_Public.changeNumber398.json.gz")
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{name: "unknown target", args: []string{testutil.ExamplePath("pexip"), "--target", "pf"}, want: []string{`unknown target "pf"`, "nftables", "iptables"}},
		{name: "no target", args: []string{testutil.ExamplePath("pexip")}, want: []string{"--target is required", "nftables"}},
		{name: "host-name flows", args: []string{testutil.ExamplePath("messaging-bot"), "--target", "nftables"}, want: []string{"teams-messaging-bot.out.login", "--fqdn-via-proxy", "--fqdn-skip"}},
		{name: "both FQDN options", args: []string{testutil.ExamplePath("messaging-bot"), "--target", "nftables", "--fqdn-skip", "--fqdn-via-proxy", "192.0.2.3:3128"}, want: []string{"exclude each other"}},
		{name: "bad proxy", args: []string{testutil.ExamplePath("messaging-bot"), "--target", "nftables", "--fqdn-via-proxy", "proxy.example:3128"}, want: []string{`--fqdn-via-proxy "proxy.example:3128"`, "ADDR:PORT"}},
		{name: "service tag without data", args: []string{testutil.ExamplePath("calling-bot"), "--target", "nftables", "--fqdn-skip"}, want: []string{"AzureCloud", "--service-tags"}},
		{name: "unreadable service tags", args: []string{testutil.ExamplePath("calling-bot"), "--target", "nftables", "--service-tags", "/nonexistent/tags.json"}, want: []string{"cannot read the service tags file: no such file"}},
		{name: "unknown scope", args: []string{testutil.ExamplePath("pexip"), "--target", "nftables", "--scope", "nobody"}, want: []string{`--scope "nobody" matches no rule`, "conferencing-nodes"}},
		{name: "service tags with host-name flows", args: []string{testutil.ExamplePath("calling-bot"), "--target", "iptables", "--service-tags", tags}, want: []string{"teams-calling-bot.out.login"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			code, out, errs := run(t, append(append([]string{"render"}, tc.args...), "--out-dir", dir)...)
			if code != ExitError {
				t.Fatalf("exit %d, want %d\nstderr:\n%s", code, ExitError, errs)
			}
			if out != "" {
				t.Errorf("stdout should be empty, got %q", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errs)
				}
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("an error still created %s (%v)", dir, err)
			}
		})
	}
}

// TestRenderWriteFailure: when the output cannot be written, nothing is.
func TestRenderWriteFailure(t *testing.T) {
	// The output directory cannot be created: a file is in the way.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := run(t, "render", testutil.ExamplePath("pexip"), "--target", "nftables", "--fqdn-skip", "--out-dir", filepath.Join(file, "out")); code != ExitError || errs == "" {
		t.Errorf("exit %d, stderr %q", code, errs)
	}

	// One of the files cannot be written: a directory is in the way.
	dir := t.TempDir()
	blocker := filepath.Join(dir, "rules.v6")
	if err := os.Mkdir(blocker, 0o755); err != nil { // a directory where a file must go
		t.Fatal(err)
	}
	code, _, errs := run(t, "render", testutil.ExamplePath("pexip"), "--target", "iptables", "--fqdn-skip", "--out-dir", dir)
	if code != ExitError || !strings.Contains(errs, "rules.v6") {
		t.Fatalf("exit %d, stderr:\n%s", code, errs)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != "rules.v6" {
			t.Errorf("a failed write left %s behind", e.Name())
		}
	}
}

func TestRenderHelpListsTargets(t *testing.T) {
	code, out, _ := run(t, "render", "--help")
	if code != ExitOK {
		t.Fatalf("exit %d", code)
	}
	for _, r := range targets.All() {
		if !strings.Contains(out, r.Name()) || !strings.Contains(out, r.Description()) {
			t.Errorf("--help does not list %s with its description", r.Name())
		}
	}
	for _, want := range []string{"--fqdn-via-proxy", "--fqdn-skip", "--service-tags", "Exit codes:"} {
		if !strings.Contains(out, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}
