// Package deploy holds the files that run teamsgate on the platforms the
// README's "Deploying" section names, and the tests that check them.
package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestSystemdUnit: systemd-analyze verify finds nothing to say about the
// unit (an instance of the template), and systemd-analyze security rates
// its exposure low. The unit's binary path is pointed at a file of the
// test so that verify finds it executable.
func TestSystemdUnit(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		if os.Getenv("TEAMSGATE_E2E") == "1" {
			t.Fatal("TEAMSGATE_E2E=1 but systemd-analyze is missing (Debian package systemd)")
		}
		t.Skip("systemd-analyze not found (Debian package systemd)")
	}
	unit, err := os.ReadFile(filepath.Join("systemd", "teamsgate@.service"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "teamsgate")
	if err := os.WriteFile(bin, []byte("#!/bin/true\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(unit), "/usr/local/bin/teamsgate", bin)
	path := filepath.Join(dir, "teamsgate@bot.service")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("systemd-analyze", "verify", "--man=no", path).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err = exec.Command("systemd-analyze", "security", "--offline=yes", "--no-pager", path).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for teamsgate@bot.service: ([0-9.]+)`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	score, _ := strconv.ParseFloat(m[1], 64)
	t.Logf("systemd-analyze security: exposure %.1f", score)
	if score > 2.0 {
		t.Errorf("exposure %.1f, want at most 2.0 (OK):\n%s", score, out)
	}
	for _, want := range []string{"DynamicUser=yes", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE", "ProtectSystem=strict", "PrivateTmp=yes", "NoNewPrivileges=yes", "SystemCallFilter=@system-service", "ExecReload=/bin/kill -HUP $MAINPID"} {
		if !strings.Contains(string(unit), want+"\n") {
			t.Errorf("the unit lacks %s", want)
		}
	}
}
