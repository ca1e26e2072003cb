package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/teamsgate/teamsgate/internal/runtimetune"
)

// lockedBuffer collects a process's standard error while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// freeAddr returns a loopback address with a port nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServe starts the teamsgate binary with args, kills it when the
// test ends if it still runs, and waits until every admin listener answers
// /healthz. done receives its exit.
func startServe(t *testing.T, admins []string, args ...string) (*exec.Cmd, *lockedBuffer, chan error) {
	t.Helper()
	return startServeEnv(t, nil, admins, args...)
}

// startServeEnv is startServe with the environment env (nil: this
// process's).
func startServeEnv(t *testing.T, env []string, admins []string, args ...string) (*exec.Cmd, *lockedBuffer, chan error) {
	t.Helper()
	stderr := &lockedBuffer{}
	cmd := exec.Command(binary(t), args...)
	cmd.Env = env
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-done
		}
	})
	for _, a := range admins {
		eventually(t, "the admin listener "+a, func() bool {
			resp, err := http.Get("http://" + a + "/healthz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		})
	}
	return cmd, stderr, done
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServeBothDaemons runs one serve process with a gateway: and an
// egress: section: both listen, the proxy refuses what its allow list does
// not name, SIGHUP reloads both from the changed file, and SIGTERM stops
// both with exit 0.
func TestServeBothDaemons(t *testing.T) {
	dir := t.TempDir()
	gwListen, gwAdmin := freeAddr(t), freeAddr(t)
	pxListen, pxAdmin := freeAddr(t), freeAddr(t)
	spec := strings.NewReplacer("127.0.0.1:18943", gwListen, "reuse_port: true", "reuse_port: false").Replace(serveSpec) +
		"  admin:\n    listen: " + gwAdmin + "\n" + egressSection(pxListen, pxAdmin)
	file := writeFile(t, dir, "both.yaml", spec)

	cmd, stderr, done := startServe(t, []string{gwAdmin, pxAdmin}, "serve", file)

	status, body := connect(t, pxListen, "evil.example:443")
	if status != http.StatusForbidden || !strings.Contains(body, "host-not-allowed") {
		t.Errorf("CONNECT evil.example:443: %d %q", status, body)
	}
	status, body = connect(t, pxListen, "graph.microsoft.com:443")
	if status != http.StatusForbidden || !strings.Contains(body, "host-not-allowed") {
		t.Errorf("CONNECT graph.microsoft.com:443 without graph: true: %d %q", status, body)
	}

	// graph: true adds graph.microsoft.com to the bot's flows: after the
	// reload the proxy no longer refuses it for its host (it then fails to
	// resolve: the section's name server answers nothing).
	changed := strings.Replace(spec, "      bot: {addresses: [198.51.100.10]}\n", "      bot: {addresses: [198.51.100.10]}\n    parameters: {graph: true}\n", 1)
	if err := os.WriteFile(file, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, "both reloads", func() bool {
		return strings.Count(stderr.String(), "reloaded") >= 2
	})
	status, body = connect(t, pxListen, "graph.microsoft.com:443")
	if status != http.StatusBadGateway || !strings.Contains(body, "dns") {
		t.Errorf("after the reload, CONNECT graph.microsoft.com:443 is still refused for its host: %d %q", status, body)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not stop after SIGTERM\n%s", stderr.String())
	}
	for _, a := range []string{gwListen, pxListen} {
		if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts after the stop", a)
		}
	}
}

// connect sends one CONNECT to the proxy at addr and returns the status
// and body of its answer.
func connect(t *testing.T, addr, target string) (int, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: http.MethodConnect})
	if err != nil {
		t.Fatalf("CONNECT %s: %v", target, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// TestServeReloadTakesCatalogUpdate: serve reads its catalog directory
// again on SIGHUP, so a catalog update reaches a running proxy without a
// restart. The 2020 data has no *.teams.cloud.microsoft; the derived data
// adds it to the calling bot's Teams set 12.
func TestServeReloadTakesCatalogUpdate(t *testing.T) {
	dir := t.TempDir()
	cat := filepath.Join(dir, "cat")
	if code, _, errs := run(t, "catalog", "update", "--dir", cat, "--from", m365Old); code != ExitOK {
		t.Fatal(errs)
	}
	pxListen, pxAdmin := freeAddr(t), freeAddr(t)
	spec := writeFile(t, dir, "bot.yaml", "name: t\ncloud: worldwide\nintegrations:\n  teams-calling-bot:\n    roles:\n      bot: {addresses: [198.51.100.20]}\n"+
		"egress:\n  listen: "+pxListen+"\n  scope: [teams-calling-bot/bot]\n  dns: [127.0.0.1:9]\n  limits: {dns_timeout: 1s}\n  admin:\n    listen: "+pxAdmin+"\n")

	cmd, stderr, done := startServe(t, []string{pxAdmin}, "serve", "--catalog", cat, spec)
	status, body := connect(t, pxListen, "emea.teams.cloud.microsoft:443")
	if status != http.StatusForbidden || !strings.Contains(body, "host-not-allowed") {
		t.Fatalf("before the update, CONNECT emea.teams.cloud.microsoft:443: %d %q", status, body)
	}
	if code, _, errs := run(t, "catalog", "update", "--dir", cat, "--from", m365Derived); code != ExitOK {
		t.Fatal(errs)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the reload", func() bool { return strings.Contains(stderr.String(), "reloaded") })
	// Allowed now: it fails only at the name server, which answers nothing.
	status, body = connect(t, pxListen, "emea.teams.cloud.microsoft:443")
	if status != http.StatusBadGateway || !strings.Contains(body, "dns") {
		t.Errorf("after the update and the reload: %d %q\n%s", status, body, stderr.String())
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("serve after SIGTERM: %v\n%s", err, stderr.String())
	}
}

// TestServeWatchKubeletVolume: with --watch, a spec in a directory laid
// out as kubelet lays out a ConfigMap volume (the file a link into
// ..data, which is itself a link swapped to a new timestamped directory)
// is reloaded when the volume changes, with no signal.
func TestServeWatchKubeletVolume(t *testing.T) {
	dir := t.TempDir()
	pxListen, pxAdmin := freeAddr(t), freeAddr(t)
	spec := "name: t\ncloud: worldwide\nintegrations:\n  teams-messaging-bot:\n    roles:\n      bot: {addresses: [198.51.100.10]}\n" +
		egressSection(pxListen, pxAdmin)
	// kubelet's atomic writer: DIR/..2026_12_07_a/deploy.yaml, DIR/..data ->
	// ..2026_12_07_a, DIR/deploy.yaml -> ..data/deploy.yaml.
	write := func(version, content string) {
		v := filepath.Join(dir, "..2026_12_07_"+version)
		if err := os.MkdirAll(v, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, v, "deploy.yaml", content)
		tmp := filepath.Join(dir, "..data_tmp")
		os.Remove(tmp)
		if err := os.Symlink(filepath.Base(v), tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	write("a", spec)
	if err := os.Symlink(filepath.Join("..data", "deploy.yaml"), filepath.Join(dir, "deploy.yaml")); err != nil {
		t.Fatal(err)
	}
	cmd, stderr, done := startServe(t, []string{pxAdmin}, "serve", filepath.Join(dir, "deploy.yaml"), "--watch", "1s")
	if status, body := connect(t, pxListen, "graph.microsoft.com:443"); status != http.StatusForbidden || !strings.Contains(body, "host-not-allowed") {
		t.Fatalf("before the change: %d %q", status, body)
	}
	write("b", strings.Replace(spec, "      bot: {addresses: [198.51.100.10]}\n", "      bot: {addresses: [198.51.100.10]}\n    parameters: {graph: true}\n", 1))
	eventually(t, "the reload", func() bool {
		return strings.Contains(stderr.String(), "files changed, reloading") && strings.Contains(stderr.String(), "reloaded")
	})
	if status, body := connect(t, pxListen, "graph.microsoft.com:443"); status != http.StatusBadGateway || !strings.Contains(body, "dns") {
		t.Errorf("after the volume changed: %d %q", status, body)
	}
	if strings.Count(stderr.String(), "files changed, reloading") != 1 {
		t.Errorf("one change, %d reloads:\n%s", strings.Count(stderr.String(), "files changed, reloading"), stderr.String())
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := <-done; err != nil {
		t.Fatalf("serve after SIGTERM: %v", err)
	}
}

// TestServeRuntimeSettings: serve chooses its processors and GOGC unless
// the environment does, and says so in its log.
func TestServeRuntimeSettings(t *testing.T) {
	var base []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOMAXPROCS=") && !strings.HasPrefix(kv, "GOGC=") {
			base = append(base, kv)
		}
	}
	runtimeLine := func(env []string) map[string]any {
		t.Helper()
		dir := t.TempDir()
		pxListen, pxAdmin := freeAddr(t), freeAddr(t)
		file := writeFile(t, dir, "egress.yaml", strings.NewReplacer("127.0.0.1:18943", freeAddr(t), "reuse_port: true", "reuse_port: false").Replace(serveSpec)+
			"  admin:\n    listen: "+freeAddr(t)+"\n"+egressSection(pxListen, pxAdmin))
		// the line comes before the daemons start: no listener is waited for
		cmd, stderr, done := startServeEnv(t, env, nil, "serve", file)
		defer func() {
			cmd.Process.Signal(syscall.SIGTERM)
			<-done
		}()
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			for _, l := range strings.Split(stderr.String(), "\n") {
				var m map[string]any
				if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "runtime" {
					return m
				}
			}
		}
		t.Fatalf("no runtime line in serve's log:\n%s", stderr.String())
		return nil
	}

	m := runtimeLine(base)
	got, from := int(m["gomaxprocs"].(float64)), m["procs_from"].(string)
	switch {
	case strings.Contains(from, "per CPU"):
		if want := max(min(runtimetune.ProcsPerCPU*runtime.NumCPU(), runtimetune.MaxProcs), runtime.NumCPU()); got != want {
			t.Errorf("without GOMAXPROCS or a quota: %v, want %d processors", m, want)
		}
	case strings.Contains(from, "CPU quota"):
		if got >= runtime.NumCPU() {
			t.Errorf("under a CPU quota: %v, want the quota's processors", m)
		}
	default:
		t.Errorf("without GOMAXPROCS: %v", m)
	}
	if m["gogc"] != "400" {
		t.Errorf("without GOGC: gogc %v, want 400", m["gogc"])
	}

	m = runtimeLine(append(base, "GOMAXPROCS=1", "GOGC=150"))
	if m["gomaxprocs"] != float64(1) || m["gogc"] != "150" || !strings.Contains(m["procs_from"].(string), "environment") {
		t.Errorf("with GOMAXPROCS=1 GOGC=150: %v", m)
	}
}
