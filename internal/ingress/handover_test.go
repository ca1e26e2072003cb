package ingress

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// handoverHelperEnv starts TestReusePortHandoverHelper's scenario in a
// process of its own, inside a network namespace.
const handoverHelperEnv = "TEAMSGATE_HANDOVER_HELPER"

// TestReusePortHandover: one of two instances sharing the port (reuse_port)
// shuts down under a stream of new connections, as in a binary upgrade,
// and no request fails: what it accepted it serves, and with
// net.ipv4.tcp_migrate_req = 1 the connections still queued at its
// listener go to the other instance instead of being reset. The scenario
// runs in a network namespace of its own, where the test may set that
// sysctl.
func TestReusePortHandover(t *testing.T) {
	if testing.Short() {
		skipOrFail(t, "-short: the hand-over test creates a network namespace")
	}
	if os.Geteuid() != 0 {
		skipOrFail(t, "needs root to create a network namespace")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		skipOrFail(t, "ip not found: install iproute2")
	}
	b := make([]byte, 3)
	rand.Read(b)
	ns := "tgw-" + hex.EncodeToString(b)
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		skipOrFail(t, "cannot create a network namespace: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", ns, err, out)
		}
	})
	for _, args := range [][]string{
		{"ip", "link", "set", "lo", "up"},
		{"sh", "-c", "echo 1 > /proc/sys/net/ipv4/tcp_migrate_req"},
	} {
		if out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("%s in %s: %v: %s", strings.Join(args, " "), ns, err, out)
		}
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, self, "-test.run=^TestReusePortHandoverHelper$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), handoverHelperEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("HANDOVER ok=")) {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "HANDOVER ") {
			t.Log(strings.TrimSpace(line))
		}
	}
}

// TestReusePortHandoverHelper is not a test: it is the scenario of
// TestReusePortHandover, run in the namespace, and returns at once
// otherwise.
func TestReusePortHandoverHelper(t *testing.T) {
	if os.Getenv(handoverHelperEnv) != "1" {
		return
	}
	opts := withConfig(func(h *harness, c *Config) {
		c.PlainHTTP, c.ReusePort = true, true
		c.Limits.ShutdownGrace = 200 * time.Millisecond
		c.Limits.Rate, c.Limits.Burst = 1e6, 1e6
	})
	leaving := newHarness(t, opts)
	addr := leaving.g.Addr().String()
	staying := newHarness(t, opts, withConfig(func(h *harness, c *Config) { c.Listen = addr }))

	tok := "Bearer " + leaving.token()
	var ok, failed atomic.Int64
	var shStart, shEnd atomic.Value
	shStart.Store("")
	shEnd.Store("")
	var mu sync.Mutex
	var firstErrs []string
	// A new connection per request: the kernel picks an instance for each.
	stop := make(chan struct{})
	wg := postOnNewConnections(addr, tok, stop, func(err error) {
		if err == nil {
			ok.Add(1)
			return
		}
		failed.Add(1)
		mu.Lock()
		if len(firstErrs) < 5 {
			firstErrs = append(firstErrs, fmt.Sprintf("%v at %v (shutdown %v..%v)", err, time.Now().Format("15:04:05.000"), shStart.Load(), shEnd.Load()))
		}
		mu.Unlock()
	})
	time.Sleep(300 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	shStart.Store(time.Now().Format("15:04:05.000"))
	if err := leaving.g.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	shEnd.Store(time.Now().Format("15:04:05.000"))
	atShutdown := ok.Load()
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()

	served := func(h *harness) string {
		return h.metric(`teamsgate_gateway_requests_total{decision="allow",reason="ok"}`)
	}
	fmt.Printf("HANDOVER ok=%d failed=%d after_shutdown=%d served_by_staying=%s\n", ok.Load(), failed.Load(), ok.Load()-atShutdown, served(staying))
	if failed.Load() != 0 {
		for _, l := range strings.Split(leaving.logs.String(), "\n") {
			if !strings.Contains(l, `"reason":"ok"`) {
				fmt.Println("LEAVING", l)
			}
		}
		t.Errorf("%d requests failed during the hand-over, first: %v", failed.Load(), firstErrs)
	}
	if ok.Load()-atShutdown < 10 {
		t.Errorf("only %d requests after the shutdown: the staying instance did not take over", ok.Load()-atShutdown)
	}
}

// TestShutdownNewConnections: clients keep opening new connections while a
// single gateway shuts down. Each request is answered or its connection
// refused: by the closed listener, or reset by the kernel when it was still
// queued at the listener as it closed (the gateway never read it; with
// several instances and net.ipv4.tcp_migrate_req it goes to another, see
// TestReusePortHandover). None is read and then closed without an answer,
// which net/http's Shutdown does to a request it reads after it began.
func TestShutdownNewConnections(t *testing.T) {
	h := newHarness(t, withConfig(func(h *harness, c *Config) {
		c.PlainHTTP = true
		c.Limits.ShutdownGrace = 100 * time.Millisecond
		c.Limits.Rate, c.Limits.Burst = 1e6, 1e6
	}))
	addr := h.g.Addr().String()
	tok := "Bearer " + h.token()
	var ok, refused atomic.Int64
	var mu sync.Mutex
	var bad []string
	stop := make(chan struct{})
	wg := postOnNewConnections(addr, tok, stop, func(err error) {
		switch {
		case err == nil:
			ok.Add(1)
		case errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET):
			refused.Add(1)
			time.Sleep(time.Millisecond)
		default:
			mu.Lock()
			bad = append(bad, err.Error())
			mu.Unlock()
		}
	})
	time.Sleep(200 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.g.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	time.Sleep(50 * time.Millisecond)
	close(stop)
	wg.Wait()
	if len(bad) > 0 {
		t.Errorf("%d requests accepted and not answered, first: %v", len(bad), bad[:min(len(bad), 5)])
	}
	if ok.Load() == 0 || refused.Load() == 0 {
		t.Errorf("answered %d, refused %d: the test proves nothing", ok.Load(), refused.Load())
	}
}

// postOnNewConnections posts activities to addr from four clients, each
// request on a new connection, until stop is closed, and hands each
// outcome to record: nil for a 200, else the error or the status. The
// returned group ends when the clients have.
func postOnNewConnections(addr, tok string, stop <-chan struct{}, record func(error)) *sync.WaitGroup {
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/api/messages", bytes.NewReader(activity()))
				req.Header.Set("Authorization", tok)
				resp, err := client.Do(req)
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				record(err)
			}
		}()
	}
	return &wg
}
