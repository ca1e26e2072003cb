package kerneltest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeRuntimeUnderCgroup: serve in a cgroup with a CPU quota of half
// a CPU and a memory limit of 256 MiB keeps Go's own processor count (the
// quota) and takes 90% of the memory limit as its soft memory limit, read
// from the kernel's cgroup files (v2, or v1 where the controllers are
// there, as on hybrid systems).
func TestServeRuntimeUnderCgroup(t *testing.T) {
	requireKernel(t)
	bin := e2eBinary(t)
	name := "tgk-" + randomID(t) + "-runtime"
	const memLimit = 256 << 20

	var procsFiles []string // cgroup.procs of the groups the process joins
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		// cgroup v2 mounted at the root
		os.WriteFile("/sys/fs/cgroup/cgroup.subtree_control", []byte("+cpu +memory"), 0o644) //nolint:errcheck // may already be on
		dir := filepath.Join("/sys/fs/cgroup", name)
		mkCgroup(t, dir, map[string]string{"cpu.max": "50000 100000", "memory.max": fmt.Sprint(memLimit)})
		procsFiles = append(procsFiles, filepath.Join(dir, "cgroup.procs"))
	} else {
		cpu := filepath.Join("/sys/fs/cgroup/cpu", name)
		mem := filepath.Join("/sys/fs/cgroup/memory", name)
		mkCgroup(t, cpu, map[string]string{"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "50000"})
		mkCgroup(t, mem, map[string]string{"memory.limit_in_bytes": fmt.Sprint(memLimit)})
		procsFiles = append(procsFiles, filepath.Join(cpu, "cgroup.procs"), filepath.Join(mem, "cgroup.procs"))
	}

	dir := t.TempDir()
	spec := filepath.Join(dir, "egress.yaml")
	os.WriteFile(spec, []byte(`name: runtime
cloud: worldwide
integrations:
  teams-messaging-bot:
    roles:
      bot: {addresses: [198.51.100.10]}
egress:
  listen: 127.0.0.1:0
  admin: {listen: "127.0.0.1:0"}
`), 0o644)
	// the shell joins the groups, then becomes serve
	var join strings.Builder
	for _, f := range procsFiles {
		fmt.Fprintf(&join, "echo $$ > %s && ", f)
	}
	cmd := exec.Command("sh", "-c", join.String()+"exec "+bin+" serve "+spec)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOMAXPROCS=") && !strings.HasPrefix(kv, "GOGC=") && !strings.HasPrefix(kv, "GOMEMLIMIT=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	lines := make(chan map[string]any, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == "runtime" {
				lines <- m
			}
		}
		close(lines)
	}()
	var m map[string]any
	select {
	case m = <-lines:
	case <-time.After(cmdTimeout):
		t.Fatal("no runtime line from serve")
	}
	if m == nil {
		t.Fatal("serve ended without its runtime line")
	}
	t.Logf("runtime line: %v", m)
	if from, _ := m["procs_from"].(string); !strings.Contains(from, "CPU quota") {
		t.Errorf("processors under a quota of half a CPU: %v", m)
	}
	limit := int64(memLimit)
	if got, want := m["memory_limit"], float64(int64(float64(limit)*0.9)); got != want {
		t.Errorf("soft memory limit %v, want %v (90%% of %d): %v", got, want, memLimit, m)
	}
}

// mkCgroup creates the cgroup dir with settings and removes it when the
// test ends (after its processes have).
func mkCgroup(t *testing.T, dir string, settings map[string]string) {
	t.Helper()
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatalf("cannot create the cgroup %s: %v", dir, err)
	}
	t.Cleanup(func() {
		for range 50 {
			if os.Remove(dir) == nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Errorf("cgroup %s left behind", dir)
	})
	for f, v := range settings {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(v), 0o644); err != nil {
			t.Fatalf("%s/%s = %s: %v", dir, f, v, err)
		}
	}
}
