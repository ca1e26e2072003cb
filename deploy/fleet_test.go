package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/teamsgate/teamsgate/internal/ingress/ingresstest"
	"github.com/teamsgate/teamsgate/internal/testutil"
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

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// replica is one teamsgate serve process of the fleet.
type replica struct {
	port, admin int
	cmd         *exec.Cmd
	log         *lockedBuffer
	done        chan error
}

// TestFleetBehindHAProxy: HAProxy (TCP mode, PROXY protocol v2) in front of
// three teamsgate serve instances on loopback, under a steady load of
// Teams activities from 127.0.0.2. The gateways log the client's address,
// not HAProxy's; a rolling restart of the three, one by one, loses no
// request; a blue-green switch made by changing the one spec file (and a
// SIGHUP to each) reaches all three and loses no request.
func TestFleetBehindHAProxy(t *testing.T) {
	haproxy, err := exec.LookPath("haproxy")
	if err != nil {
		if os.Getenv("TEAMSGATE_E2E") == "1" {
			t.Fatal("TEAMSGATE_E2E=1 but haproxy is missing (Debian package haproxy)")
		}
		t.Skip("haproxy not found (Debian package haproxy)")
	}
	if testing.Short() {
		t.Skip("-short: starts HAProxy and three gateways")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "teamsgate")
	build := exec.Command("go", "build", "-o", bin, "./cmd/teamsgate")
	build.Dir = testutil.Root()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	// The Bot Framework as the gateways see it: a local issuer, a token.
	ca := ingresstest.NewCA(t, "fleet CA")
	key := ingresstest.NewRSAKey(t)
	iss := ingresstest.NewIssuer(t, ca, ingresstest.Key{ID: "fleet", Private: key, Endorsements: []string{"msteams"}})
	claims := ingresstest.ValidClaims(time.Now())
	claims.Expiry = time.Now().Add(time.Hour)
	token := ingresstest.Sign(t, key, "fleet", claims)
	body := ingresstest.Activity("msteams", ingresstest.ServiceURL)
	os.WriteFile(filepath.Join(dir, "ca.pem"), ca.PEM, 0o644)

	// Two upstreams, blue and green, that say which they are.
	upstream := func(colour string) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			io.WriteString(w, colour)
		})}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
		return ln.Addr().String()
	}
	blue, green := upstream("blue"), upstream("green")

	replicas := make([]*replica, 3)
	for i := range replicas {
		replicas[i] = &replica{port: freePort(t), admin: freePort(t)}
	}
	spec := filepath.Join(dir, "fleet.yaml")
	writeSpec := func(active string) {
		// One spec for the fleet: each replica takes its own ports from the
		// command line (--listen is not a flag, so the ports are written per
		// replica into a copy that differs only there).
		for i, r := range replicas {
			s := fmt.Sprintf(`name: fleet
cloud: worldwide
integrations:
  teams-messaging-bot:
    roles:
      bot: {addresses: [198.51.100.10]}
gateway:
  listen: 127.0.0.1:%d
  plain_http: true
  app_ids: [%q]
  paths: [/api/messages]
  sources:
    extra: [127.0.0.2/32]
    trusted_proxies: [127.0.0.1/32]
    proxy_protocol: true
  botauth:
    metadata_url: %q
    ca_file: ca.pem
  limits:
    rate: 100000   # per source, per replica: the load comes from one address
    burst: 100000
    shutdown_grace: 1s
    shutdown_timeout: 5s
  upstreams:
    active: %s
    groups:
      blue: [http://%s]
      green: [http://%s]
  admin:
    listen: 127.0.0.1:%d
`, r.port, ingresstest.AppID, iss.MetadataURL, active, blue, green, r.admin)
			if err := os.WriteFile(fmt.Sprintf("%s.%d", spec, i), []byte(s), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	writeSpec("blue")
	start := func(i int) {
		r := replicas[i]
		r.log = &lockedBuffer{}
		r.cmd = exec.Command(bin, "serve", fmt.Sprintf("%s.%d", spec, i))
		r.cmd.Stderr = r.log
		if err := r.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		r.done = make(chan error, 1)
		go func() { r.done <- r.cmd.Wait() }()
		waitFor(t, fmt.Sprintf("replica %d ready", i), 20*time.Second, func() bool {
			resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", r.admin))
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		})
	}
	for i := range replicas {
		start(i)
	}
	t.Cleanup(func() {
		for _, r := range replicas {
			if r.cmd.ProcessState == nil {
				r.cmd.Process.Kill()
				<-r.done
			}
		}
	})

	// HAProxy: TCP mode, PROXY v2 to each replica, health-checked on the
	// replica's /readyz, retrying a failed connection on another replica.
	front := freePort(t)
	var servers strings.Builder
	for i, r := range replicas {
		fmt.Fprintf(&servers, "  server g%d 127.0.0.1:%d send-proxy-v2 check port %d inter 200ms fall 1 rise 2\n", i, r.port, r.admin)
	}
	cfg := fmt.Sprintf(`global
  maxconn 1024
defaults
  mode tcp
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  retries 3
  option redispatch
frontend fe
  bind 127.0.0.1:%d
  default_backend gateways
backend gateways
  balance roundrobin
  option httpchk GET /readyz
%s`, front, servers.String())
	cfgFile := filepath.Join(dir, "haproxy.cfg")
	os.WriteFile(cfgFile, []byte(cfg), 0o644)
	hctx, hcancel := context.WithCancel(context.Background())
	defer hcancel()
	hp := exec.CommandContext(hctx, haproxy, "-db", "-f", cfgFile)
	var hlog lockedBuffer
	hp.Stderr, hp.Stdout = &hlog, &hlog
	if err := hp.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hcancel(); hp.Wait() })

	// The load, bounded: four workers, each posting an activity every 5 ms
	// at most from 127.0.0.2 on a
	// new connection per request (as Teams does across its many senders),
	// until told to stop; every answer is counted.
	var ok, failed atomic.Int64
	var lastColour atomic.Value
	var failures lockedBuffer
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext:       (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).DialContext,
	}}
	send := func() {
		req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/api/messages", front), bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			failed.Add(1)
			fmt.Fprintf(&failures, "%v\n", err)
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			failed.Add(1)
			fmt.Fprintf(&failures, "%d %s\n", resp.StatusCode, b)
			return
		}
		ok.Add(1)
		lastColour.Store(string(b))
	}
	waitFor(t, "HAProxy to answer", 20*time.Second, func() bool {
		before := ok.Load()
		send()
		return ok.Load() > before
	})
	ok.Store(0)
	failed.Store(0)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
					send()
				}
			}
		}()
	}
	settle := func() { time.Sleep(700 * time.Millisecond) }
	settle()

	// A rolling restart, one replica at a time.
	for i := range replicas {
		r := replicas[i]
		r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("replica %d after SIGTERM: %v", i, err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("replica %d did not stop", i)
		}
		start(i)
		settle()
	}
	afterRestart := ok.Load()

	// Blue-green: the fleet's colour is in the spec; change it and reload
	// every replica.
	writeSpec("green")
	for _, r := range replicas {
		r.cmd.Process.Signal(syscall.SIGHUP)
	}
	waitFor(t, "every replica on green", 10*time.Second, func() bool {
		for _, r := range replicas {
			resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/upstreams", r.admin))
			if err != nil {
				return false
			}
			var st struct{ Active string }
			err = json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			if err != nil || st.Active != "green" {
				return false
			}
		}
		return true
	})
	settle()
	close(stop)
	wg.Wait()

	t.Logf("%d requests answered, %d failed (%d before the blue-green switch)", ok.Load(), failed.Load(), afterRestart)
	if failed.Load() != 0 {
		t.Errorf("%d requests lost:\n%s", failed.Load(), failures.String())
	}
	if ok.Load() < 50 {
		t.Errorf("only %d requests answered: the load did not run", ok.Load())
	}
	if c, _ := lastColour.Load().(string); c != "green" {
		t.Errorf("after the switch the fleet answers from %q, want green", c)
	}
	// Every replica served requests and logged the client's address (from
	// the PROXY header), never HAProxy's.
	for i, r := range replicas {
		l := r.log.String()
		if !strings.Contains(l, `"client":"127.0.0.2"`) {
			t.Errorf("replica %d logged no request from 127.0.0.2:\n%s", i, tail(l))
		}
		if strings.Contains(l, `"client":"127.0.0.1"`) {
			t.Errorf("replica %d logged HAProxy's address as the client:\n%s", i, tail(l))
		}
	}
}

func tail(s string) string {
	if len(s) > 2000 {
		return s[len(s)-2000:]
	}
	return s
}
