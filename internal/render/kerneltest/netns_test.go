package kerneltest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// e2eEnv, set to 1 (as CI does), turns every skip of the kernel tests into
// a failure.
const e2eEnv = "TEAMSGATE_E2E"

// cmdTimeout bounds every command the tests run.
const cmdTimeout = 30 * time.Second

// requireKernel skips the test, with the reason, where the kernel tests
// cannot run: not root, a tool missing, no network namespaces. Under
// TEAMSGATE_E2E=1 it fails instead.
func requireKernel(t *testing.T) {
	t.Helper()
	skip := func(format string, args ...any) {
		t.Helper()
		if os.Getenv(e2eEnv) == "1" {
			t.Fatalf(e2eEnv+"=1 but the kernel test cannot run: "+format, args...)
		}
		t.Skipf(format+" (set "+e2eEnv+"=1 to make this a failure)", args...)
	}
	if testing.Short() {
		skip("-short: the kernel tests create network namespaces")
	}
	if os.Geteuid() != 0 {
		skip("needs root to create network namespaces and load firewall rules")
	}
	for _, bin := range []string{"ip", "nft", "iptables-restore", "ip6tables-restore", "iptables-save", "ip6tables-save", "sysctl"} {
		if _, err := exec.LookPath(bin); err != nil {
			skip("%s not found: install iproute2, nftables, iptables and procps", bin)
		}
	}
	name := "tgk-" + randomID(t) + "-probe"
	if out, err := run("ip", "netns", "add", name); err != nil {
		skip("cannot create a network namespace: %v: %s", err, out)
	}
	if out, err := run("ip", "netns", "del", name); err != nil {
		t.Fatalf("ip netns del %s: %v: %s", name, err, out)
	}
}

func randomID(t *testing.T) string {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// run runs a command with the standard timeout and returns its combined
// output.
func run(name string, args ...string) (string, error) {
	return runIn(nil, name, args...)
}

// runIn runs a command with stdin from the given bytes.
func runIn(stdin []byte, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := run(name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// topology is a client namespace and a host namespace joined by a veth
// pair, or, for a perimeter, joined through a router namespace. The client
// holds the flows' source addresses; the host the destination addresses,
// and for a host firewall the rendered rules, which for a perimeter the
// router holds.
type topology struct {
	client, host, router string
}

// newTopology creates the namespaces, removed again when the test ends.
func newTopology(t *testing.T, hostAddrs, clientAddrs []netip.Addr) topology {
	t.Helper()
	id := randomID(t)
	top := topology{client: "tgk-" + id + "-c", host: "tgk-" + id + "-h"}
	vc, vh := "tgc"+id, "tgh"+id // interface names: at most 15 bytes
	for _, ns := range []string{top.client, top.host} {
		mustRun(t, "ip", "netns", "add", ns)
		t.Cleanup(func() {
			if out, err := run("ip", "netns", "del", ns); err != nil {
				t.Errorf("ip netns del %s: %v: %s", ns, err, out)
			}
		})
	}
	mustRun(t, "ip", "link", "add", vc, "netns", top.client, "type", "veth", "peer", "name", vh, "netns", top.host)
	setup := func(ns, dev string, addrs []netip.Addr) {
		mustRun(t, "ip", "-n", ns, "link", "set", "lo", "up")
		for _, a := range addrs {
			args := []string{"-n", ns, "addr", "add", netip.PrefixFrom(a, a.BitLen()).String(), "dev", dev}
			if a.Is6() {
				args = append(args, "nodad")
			}
			mustRun(t, "ip", args...)
		}
		mustRun(t, "ip", "-n", ns, "link", "set", dev, "up")
		// On-link default routes: every address of the other side is
		// reached directly over the veth pair.
		mustRun(t, "ip", "-n", ns, "-4", "route", "add", "default", "dev", dev)
		mustRun(t, "ip", "-n", ns, "-6", "route", "add", "default", "dev", dev)
	}
	setup(top.client, vc, clientAddrs)
	setup(top.host, vh, hostAddrs)
	return top
}

// Router addresses for a perimeter topology: a documentation address no
// test set holds, and a link-local IPv6 address on each link.
var (
	routerV4 = netip.MustParseAddr("203.0.113.254")
	routerV6 = netip.MustParseAddr("fe80::1")
)

// newRoutedTopology creates a client, a router and a server namespace:
// the client holds clientAddrs, the server (topology.host) serverAddrs,
// and the router forwards between them, through the chains the rendered
// perimeter rules install.
func newRoutedTopology(t *testing.T, serverAddrs, clientAddrs []netip.Addr) topology {
	t.Helper()
	id := randomID(t)
	top := topology{client: "tgk-" + id + "-c", host: "tgk-" + id + "-s", router: "tgk-" + id + "-r"}
	for _, ns := range []string{top.client, top.host, top.router} {
		mustRun(t, "ip", "netns", "add", ns)
		t.Cleanup(func() {
			if out, err := run("ip", "netns", "del", ns); err != nil {
				t.Errorf("ip netns del %s: %v: %s", ns, err, out)
			}
		})
		mustRun(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}
	mustRun(t, "ip", "netns", "exec", top.router, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
	for _, side := range []struct {
		ns, dev, rdev string
		addrs         []netip.Addr
	}{
		{top.client, "tgc" + id, "tgrc" + id, clientAddrs},
		{top.host, "tgs" + id, "tgrs" + id, serverAddrs},
	} {
		mustRun(t, "ip", "link", "add", side.dev, "netns", side.ns, "type", "veth", "peer", "name", side.rdev, "netns", top.router)
		mustRun(t, "ip", "-n", top.router, "addr", "add", routerV4.String()+"/32", "dev", side.rdev)
		mustRun(t, "ip", "-n", top.router, "addr", "add", routerV6.String()+"/64", "dev", side.rdev, "nodad")
		mustRun(t, "ip", "-n", top.router, "link", "set", side.rdev, "up")
		for _, a := range side.addrs {
			args := []string{"-n", side.ns, "addr", "add", netip.PrefixFrom(a, a.BitLen()).String(), "dev", side.dev}
			if a.Is6() {
				args = append(args, "nodad")
			}
			mustRun(t, "ip", args...)
			mustRun(t, "ip", "-n", top.router, "route", "add", netip.PrefixFrom(a, a.BitLen()).String(), "dev", side.rdev)
		}
		mustRun(t, "ip", "-n", side.ns, "link", "set", side.dev, "up")
		mustRun(t, "ip", "-n", side.ns, "-4", "route", "add", "default", "via", routerV4.String(), "dev", side.dev, "onlink")
		mustRun(t, "ip", "-n", side.ns, "-6", "route", "add", "default", "via", routerV6.String(), "dev", side.dev)
	}
	return top
}

// load applies the rendered files inside the host namespace twice and
// checks that the second application leaves the same ruleset as the first.
func load(t *testing.T, ns, target string, files map[string][]byte) {
	t.Helper()
	first := apply(t, ns, target, files)
	second := apply(t, ns, target, files)
	if first != second {
		t.Errorf("%s: applying the rules twice changed the ruleset:\nfirst:\n%s\nsecond:\n%s", target, first, second)
	}
	if !strings.Contains(first, "policy drop") && !strings.Contains(first, " DROP [") {
		t.Fatalf("%s: no default-drop policy in the loaded ruleset:\n%s", target, first)
	}
}

var counters = regexp.MustCompile(`\[\d+:\d+\]`)

// apply loads the files and returns the resulting ruleset, normalised.
func apply(t *testing.T, ns, target string, files map[string][]byte) string {
	t.Helper()
	switch target {
	case "nftables":
		for name, data := range files {
			f := writeTemp(t, name, data)
			if out, err := run("ip", "netns", "exec", ns, "nft", "-f", f); err != nil {
				t.Fatalf("nft -f %s: %v\n%s", name, err, out)
			}
		}
		return mustRun(t, "ip", "netns", "exec", ns, "nft", "list", "table", "inet", "teamsgate")
	case "iptables":
		var b strings.Builder
		for _, fam := range []struct{ file, restore, save string }{
			{"rules.v4", "iptables-restore", "iptables-save"},
			{"rules.v6", "ip6tables-restore", "ip6tables-save"},
		} {
			data, ok := files[fam.file]
			if !ok {
				t.Fatalf("iptables render has no %s", fam.file)
			}
			if out, err := runIn(data, "ip", "netns", "exec", ns, fam.restore); err != nil {
				t.Fatalf("%s < %s: %v\n%s", fam.restore, fam.file, err, out)
			}
			saved := mustRun(t, "ip", "netns", "exec", ns, fam.save, "-t", "filter")
			for _, line := range strings.Split(saved, "\n") {
				if strings.HasPrefix(line, "#") {
					continue // iptables-save stamps the time here
				}
				b.WriteString(counters.ReplaceAllString(line, "[0:0]") + "\n")
			}
		}
		return b.String()
	}
	t.Fatalf("no loader for target %q", target)
	return ""
}

func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	f := t.TempDir() + "/" + name
	if err := os.WriteFile(f, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// helperCommand runs this test binary as a helper process inside a
// namespace.
func helperCommand(t *testing.T, ctx context.Context, ns, mode string, env ...string) *exec.Cmd {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, self, "-test.run=^TestHelperProcess$", "-test.count=1", "-test.timeout=5m")
	cmd.Env = append(append(os.Environ(), helperEnv+"="+mode), env...)
	cmd.Stderr = &prefixWriter{t: t, prefix: mode + " helper: "}
	return cmd
}

// startListener starts the listening helper in the host namespace and
// waits until every socket is bound. It is stopped when the test ends.
func startListener(t *testing.T, ns string, specs []listenSpec) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	spec, _ := json.Marshal(specs)
	cmd := helperCommand(t, ctx, ns, "listen", listenEnv+"="+string(spec))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close() // the helper exits when its stdin closes
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cancel()
			<-done
		}
		cancel()
	})
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- line
		io.Copy(io.Discard, stdout)
	}()
	select {
	case line := <-ready:
		if strings.TrimSpace(line) != "READY" {
			t.Fatalf("listener helper did not start: %q", line)
		}
	case <-time.After(cmdTimeout):
		t.Fatal("listener helper did not get ready in time")
	}
}

// sendProbes runs the probing helper in the client namespace.
func sendProbes(t *testing.T, ns string, probes []probe) []result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := helperCommand(t, ctx, ns, "probe")
	in, _ := json.Marshal(probes)
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("probe helper: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, resultsPrefix); ok {
			var rs []result
			if err := json.Unmarshal([]byte(rest), &rs); err != nil {
				t.Fatalf("probe helper output: %v", err)
			}
			if len(rs) != len(probes) {
				t.Fatalf("probe helper returned %d results for %d probes", len(rs), len(probes))
			}
			return rs
		}
	}
	t.Fatalf("probe helper printed no results:\n%s", out)
	return nil
}

// prefixWriter logs a helper's standard error through the test.
type prefixWriter struct {
	t      *testing.T
	prefix string
}

func (w *prefixWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.t.Log(w.prefix + line)
	}
	return len(p), nil
}

func (top topology) String() string {
	return fmt.Sprintf("client %s, host %s, router %s", top.client, top.host, top.router)
}
