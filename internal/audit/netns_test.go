package audit_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// needKernel skips a test that needs root and the given tools, unless
// TEAMSGATE_E2E=1, under which a missing prerequisite fails the test.
func needKernel(t testing.TB, tools ...string) {
	t.Helper()
	skip := func(reason string) {
		t.Helper()
		if os.Getenv("TEAMSGATE_E2E") == "1" {
			t.Fatalf("TEAMSGATE_E2E=1 but the kernel test cannot run: %s", reason)
		}
		t.Skip(reason)
	}
	if testing.Short() && os.Getenv("TEAMSGATE_E2E") != "1" {
		t.Skip("kernel test skipped with -short")
	}
	if os.Geteuid() != 0 {
		skip("needs root to create network namespaces")
	}
	for _, tool := range append([]string{"ip"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			skip(fmt.Sprintf("%s is not installed (apt-get install nftables iptables iproute2)", tool))
		}
	}
}

var nsSeq atomic.Int64

// netns is a network namespace the test created and deletes at cleanup.
type netns struct {
	name string
}

func newNetns(t testing.TB) *netns {
	t.Helper()
	n := &netns{name: fmt.Sprintf("tga%d-%d", os.Getpid(), nsSeq.Add(1))}
	if out, err := command(nil, "ip", "netns", "add", n.name); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := command(nil, "ip", "netns", "del", n.name); err != nil {
			t.Errorf("ip netns del %s: %v: %s", n.name, err, out)
		}
	})
	return n
}

// run runs a command inside the namespace.
func (n *netns) run(stdin []byte, args ...string) ([]byte, error) {
	return command(stdin, append([]string{"ip", "netns", "exec", n.name}, args...)...)
}

func (n *netns) must(t testing.TB, stdin []byte, args ...string) []byte {
	t.Helper()
	out, err := n.run(stdin, args...)
	if err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return out
}

// command runs a command with a time limit, so a hung tool cannot hang the
// test.
func command(stdin []byte, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}
