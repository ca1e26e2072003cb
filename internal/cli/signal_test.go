package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/teamsgate/teamsgate/internal/testutil"
)

var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
)

// binary builds teamsgate once for the tests that run it as a process.
func binary(t *testing.T) string {
	t.Helper()
	binaryOnce.Do(func() {
		dir, err := os.MkdirTemp("", "teamsgate-bin-")
		if err != nil {
			binaryErr = err
			return
		}
		binaryPath = filepath.Join(dir, "teamsgate")
		cmd := exec.Command("go", "build", "-o", binaryPath, "./cmd/teamsgate")
		cmd.Dir = testutil.Root()
		if out, err := cmd.CombinedOutput(); err != nil {
			binaryErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binaryErr != nil {
		t.Fatal(binaryErr)
	}
	return binaryPath
}

// bigIptables writes an iptables-save file with n rules for other hosts: an
// audit of it takes minutes, long enough to interrupt.
func bigIptables(t *testing.T, n int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n:servers - [0:0]\n")
	b.WriteString("-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n-A FORWARD -d 10.20.0.0/15 -j servers\n")
	ports := []string{"22", "25", "53", "80", "443", "3306", "8080", "10000:10100"}
	for i := 0; i < n; i++ {
		src := []string{"0.0.0.0/0", fmt.Sprintf("172.%d.%d.0/24", 16+i%16, i%251), fmt.Sprintf("192.168.%d.%d/32", i%256, 1+i%253)}[i%3]
		fmt.Fprintf(&b, "-A servers -s %s -d 10.%d.%d.%d/32 -p tcp -m tcp --dport %s -j ACCEPT\n", src, 20+i%2, (i/254)%256, 1+i%254, ports[i%len(ports)])
	}
	b.WriteString("COMMIT\n")
	p := filepath.Join(t.TempDir(), "big.rules")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSignalStopsAtOnce: a long audit stops promptly on SIGTERM and SIGINT,
// exits 143 and 130, prints no partial report, and with -o json leaves an
// error document that says why.
func TestSignalStopsAtOnce(t *testing.T) {
	bin := binary(t)
	config := bigIptables(t, 100000)
	tests := []struct {
		name   string
		sig    syscall.Signal
		code   int
		output string
	}{
		{name: "SIGTERM", sig: syscall.SIGTERM, code: ExitTerminated},
		{name: "SIGINT", sig: syscall.SIGINT, code: ExitInterrupted},
		{name: "SIGTERM with -o json", sig: syscall.SIGTERM, code: ExitTerminated, output: "json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"audit", testutil.ExamplePath("combined"), "--config", config, "--fqdn-skip"}
			if tt.output != "" {
				args = append(args, "-o", tt.output)
			}
			cmd := exec.Command(bin, args...)
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(1500 * time.Millisecond) // well into the audit
			sent := time.Now()
			if err := cmd.Process.Signal(tt.sig); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Fatalf("still running 10 s after %s", tt.name)
			}
			took := time.Since(sent)
			if got := cmd.ProcessState.ExitCode(); got != tt.code {
				t.Errorf("exit %d, want %d\nstderr:\n%s", got, tt.code, errb.String())
			}
			if took > 2*time.Second {
				t.Errorf("took %v to stop after the signal; want it at once", took)
			}
			if !strings.Contains(errb.String(), "stopped, nothing written") {
				t.Errorf("stderr does not say what happened:\n%s", errb.String())
			}
			if tt.output == "" {
				if out.Len() != 0 {
					t.Errorf("partial output on stdout: %.200s", out.String())
				}
				return
			}
			var doc struct {
				OK    *bool          `json:"ok"`
				Error map[string]any `json:"error"`
			}
			if err := json.Unmarshal(out.Bytes(), &doc); err != nil || doc.OK == nil || *doc.OK || doc.Error["exit_code"] != float64(tt.code) {
				t.Errorf("stdout is not the error document (%v):\n%s", err, out.String())
			}
		})
	}
}

// TestInterruptedRenderWritesNothing: a render interrupted before it
// writes leaves no directory and no temporary file; one interrupted while
// it writes finishes writing (the files are whole) before it exits.
func TestInterruptedRenderWritesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(Signal{syscall.SIGTERM})
	var out, errb bytes.Buffer
	code := mainWith(ctx, []string{"render", testutil.ExamplePath("pexip"), "--target", "nftables", "--fqdn-skip", "--out-dir", dir}, streams{stdin: strings.NewReader(""), stdout: &out, stderr: &errb})
	if code != ExitTerminated {
		t.Errorf("exit %d, want %d\n%s", code, ExitTerminated, errb.String())
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		entries, _ := os.ReadDir(dir)
		t.Errorf("interrupted render left %s behind: %v", dir, entries)
	}
	if out.Len() != 0 {
		t.Errorf("stdout: %q", out.String())
	}
}

// TestGateCommit: once a command has begun committing its output, an
// interruption waits for it; once interrupted, a command commits nothing.
func TestGateCommit(t *testing.T) {
	g := &gate{}
	started, release := make(chan struct{}), make(chan struct{})
	go func() {
		_ = g.commit(func() error {
			close(started)
			<-release
			return nil
		})
	}()
	<-started
	stopped := make(chan bool)
	go func() { stopped <- g.stop() }()
	select {
	case <-stopped:
		t.Fatal("stop returned while a commit was under way")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if <-stopped {
		t.Error("stop reported the command stopped after it committed its output")
	}

	g = &gate{}
	if !g.stop() {
		t.Fatal("stop before any commit did not stop")
	}
	ran := false
	if err := g.commit(func() error { ran = true; return nil }); err != errStopped || ran {
		t.Errorf("commit after stop: ran %v, err %v", ran, err)
	}
	var buf bytes.Buffer
	w := g.writer(&buf)
	fmt.Fprint(w, "late")
	if buf.Len() != 0 {
		t.Errorf("a write after stop reached the stream: %q", buf.String())
	}
}
