// Command gatewaybench is the helper of bench/gateway.sh: it sets up what
// the gateway benchmark needs on loopback (a Bot Framework issuer over
// HTTPS with its own CA, a signed token, an activity, a wrk script, the
// gateway spec, a trivial upstream) and measures what wrk cannot: latency
// at a fixed request rate, and idle keep-alive connections held open.
//
//	gatewaybench env DIR         write DIR/*, serve issuer and upstream until SIGTERM
//	gatewaybench rate [flags]    fixed-rate load, prints latency percentiles
//	gatewaybench idle [flags]    hold N keep-alive connections open
//	gatewaybench profile SPEC    run the gateway in-process with pprof on 127.0.0.1:16060
//	gatewaybench bare LISTEN URL T  a bare httputil.ReverseProxy, no checks, on transport T
//	gatewaybench relay LISTEN ADDR a raw TCP relay, no HTTP at all: the machine's floor
//	gatewaybench front LISTEN SPEC the gateway's handler behind a minimal loop, not http.Server
package main

import (
	"bufio"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	_ "net/http/pprof" // for the profile command only
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/teamsgate/teamsgate/internal/ingress"
	"github.com/teamsgate/teamsgate/internal/ingress/ingresstest"
	"github.com/teamsgate/teamsgate/internal/ingress/load"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: gatewaybench env DIR | rate [flags] | idle [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "env":
		err = env(os.Args[2:])
	case "rate":
		err = rate(os.Args[2:])
	case "idle":
		err = idle(os.Args[2:])
	case "profile":
		err = profile(os.Args[2:])
	case "bare":
		err = bare(os.Args[2:])
	case "relay":
		err = relay(os.Args[2:])
	case "front":
		err = front(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gatewaybench:", err)
		os.Exit(1)
	}
}

// tb lets the ingresstest helpers run outside a test.
type tb struct{ cleanups []func() }

func (t *tb) Helper()                           {}
func (t *tb) Fatal(args ...any)                 { panic(fmt.Sprint(args...)) }
func (t *tb) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
func (t *tb) Cleanup(f func())                  { t.cleanups = append(t.cleanups, f) }

func (t *tb) close() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}

// env writes the benchmark's files into DIR and serves the issuer and the
// upstream until interrupted.
func env(args []string) error {
	fs := flag.NewFlagSet("env", flag.ExitOnError)
	upstream := fs.String("upstream", "127.0.0.1:18080", "address of the trivial upstream")
	listen := fs.String("gateway", "127.0.0.1:18443", "gateway listen address (written into the spec)")
	admin := fs.String("admin", "127.0.0.1:19090", "gateway admin address (written into the spec)")
	fs.Parse(args)
	if fs.NArg() != 1 {
		return fmt.Errorf("env: want DIR")
	}
	dir := fs.Arg(0)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	t := &tb{}
	defer t.close()
	ca := ingresstest.NewCA(t, "bench CA")
	key := ingresstest.NewRSAKey(t)
	iss := ingresstest.NewIssuer(t, ca, ingresstest.Key{ID: "bench", Private: key, Endorsements: []string{"msteams"}})
	claims := ingresstest.ValidClaims(time.Now())
	claims.Expiry = time.Now().Add(6 * time.Hour)
	token := ingresstest.Sign(t, key, "bench", claims)
	body := ingresstest.Activity("msteams", ingresstest.ServiceURL)

	files := map[string]string{
		"ca.pem": string(ca.PEM),
		// The signing key's public half, for a proxy that verifies the
		// token's signature from a key file (HAProxy's jwt_verify).
		"jwt-key.pem":   publicPEM(key),
		"token":         token,
		"activity.json": string(body),
		"post.lua": fmt.Sprintf(`wrk.method = "POST"
wrk.body = %q
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %s"
`, body, token),
		"gateway.yaml": fmt.Sprintf(`name: bench
cloud: worldwide
integrations:
  teams-messaging-bot:
    roles:
      bot: {addresses: [198.51.100.10]}
gateway:
  listen: %q
  plain_http: true
  app_ids: [%q]
  paths: [/api/messages]
  sources:
    extra: [127.0.0.1/32]
  botauth:
    metadata_url: %q
    ca_file: ca.pem
  limits:
    rate: 1000000
    burst: 1000000
    max_concurrent: 8192
  upstreams:
    groups:
      blue: [http://%s]
  admin:
    listen: %q
`, *listen, ingresstest.AppID, iss.MetadataURL, *upstream, *admin),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}

	ln, err := net.Listen("tcp", *upstream)
	if err != nil {
		return err
	}
	ok := []byte(`{"status":"ok"}`)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(ok)
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go srv.Serve(ln)
	fmt.Printf("ready: issuer %s, upstream http://%s, files in %s\n", iss.URL, *upstream, dir)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// publicPEM is an RSA key's public half as a PEM "PUBLIC KEY" block.
func publicPEM(k *rsa.PrivateKey) string {
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		panic(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// rate is a constant-throughput, open-loop load (wrk2's model): each of
// conns keep-alive connections owns every conns-th slot of a schedule of
// rate requests per second, spread evenly over the connections, and
// latency is measured from each request's scheduled start, so that a
// request delayed by a slow predecessor counts its wait (no coordinated
// omission); the load generator's own timer lateness is left out. Requests are written as prepared bytes and answers read with
// http.ReadResponse, to keep the load generator cheap next to the targets
// sharing its CPUs.
func rate(args []string) error {
	fs := flag.NewFlagSet("rate", flag.ExitOnError)
	target := fs.String("url", "", "target URL (http)")
	dir := fs.String("dir", "", "env directory (token and activity)")
	rps := fs.Int("rate", 1000, "requests per second")
	conns := fs.Int("conns", 64, "connections")
	dur := fs.Duration("duration", 10*time.Second, "duration")
	fs.Parse(args)
	u, err := url.Parse(*target)
	if err != nil || u.Scheme != "http" {
		return fmt.Errorf("rate: want an http URL, got %q", *target)
	}
	token, err := os.ReadFile(filepath.Join(*dir, "token"))
	if err != nil {
		return err
	}
	body, err := os.ReadFile(filepath.Join(*dir, "activity.json"))
	if err != nil {
		return err
	}
	req := []byte(fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		u.RequestURI(), u.Host, token, len(body), body))
	n := int(dur.Seconds() * float64(*rps))
	interval := time.Second / time.Duration(*rps)
	lats := make([][]time.Duration, *conns)
	var errs atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now().Add(100 * time.Millisecond) // every connection dialled first
	for k := range *conns {
		c, err := net.Dial("tcp", u.Host)
		if err != nil {
			return err
		}
		defer c.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			br := bufio.NewReader(c)
			own := make([]time.Duration, 0, n / *conns + 1)
			free := start // when this connection's previous answer was read
			for i := k; i < n; i += *conns {
				at := start.Add(time.Duration(i) * interval)
				if d := time.Until(at); d > 0 {
					time.Sleep(d)
				}
				// The clock of the request: its scheduled time when the
				// connection was still busy then (the target's slowness
				// delayed it: that wait counts), else the moment it was
				// sent (the load generator's own timer lateness, up to the
				// runtime's 1 ms poller granularity, is not the target's).
				from := at
				if !free.After(at) {
					from = time.Now()
				}
				c.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := c.Write(req); err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err)
					return
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.Close { // the target's keep-alive request limit (nginx: 1000)
					c.Close()
					nc, err := net.Dial("tcp", u.Host)
					if err != nil {
						errs.Add(1)
						firstErr.CompareAndSwap(nil, err)
						return
					}
					c = nc
					defer nc.Close()
					br.Reset(c)
				}
				if resp.StatusCode != 200 {
					errs.Add(1)
					continue
				}
				free = time.Now()
				own = append(own, free.Sub(from))
			}
			lats[k] = own
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	var lat []time.Duration
	for _, l := range lats {
		lat = append(lat, l...)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(float64(len(lat))*p))]
	}
	fmt.Printf("rate=%d achieved=%.0f ok=%d errors=%d p50_us=%d p90_us=%d p99_us=%d p999_us=%d max_us=%d\n",
		*rps, float64(len(lat))/elapsed.Seconds(), len(lat), errs.Load(),
		pct(.50).Microseconds(), pct(.90).Microseconds(), pct(.99).Microseconds(), pct(.999).Microseconds(), pct(1).Microseconds())
	if e := firstErr.Load(); e != nil {
		return fmt.Errorf("rate: %v", e)
	}
	return nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// idle opens n keep-alive connections, sends one activity on each, and
// holds them open until interrupted or hold has passed.
func idle(args []string) error {
	fs := flag.NewFlagSet("idle", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:18443", "gateway address")
	dir := fs.String("dir", "", "env directory")
	n := fs.Int("n", 2000, "connections")
	hold := fs.Duration("hold", 20*time.Second, "how long to hold them")
	fs.Parse(args)
	token, err := os.ReadFile(filepath.Join(*dir, "token"))
	if err != nil {
		return err
	}
	body, err := os.ReadFile(filepath.Join(*dir, "activity.json"))
	if err != nil {
		return err
	}
	req := fmt.Sprintf("POST /api/messages HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", token, len(body), body)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	okCount := 0
	for range *n {
		c, err := net.Dial("tcp", *addr)
		if err != nil {
			return fmt.Errorf("after %d connections: %w", len(conns), err)
		}
		conns = append(conns, c)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write([]byte(req)); err != nil {
			return err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		bufio.NewReader(resp.Body).WriteTo(discard{})
		resp.Body.Close()
		if resp.StatusCode == 200 {
			okCount++
		}
		c.SetDeadline(time.Time{})
	}
	fmt.Printf("holding %d keep-alive connections (%d answered 200)\n", len(conns), okCount)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case <-ctx.Done():
	case <-time.After(*hold):
	}
	return nil
}

// newGateway loads spec's gateway, logging to log.
func newGateway(spec string, log *slog.Logger) (*ingress.Gateway, error) {
	cfg, err := load.EmbeddedFile(spec)
	if err != nil {
		return nil, err
	}
	return ingress.New(*cfg, ingress.Options{Logger: log, RequestLog: io.Discard})
}

// profile runs the gateway of a spec in this process, with the pprof
// handlers on 127.0.0.1:16060, for profiling the hot path under wrk.
func profile(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("profile: want SPEC")
	}
	g, err := newGateway(args[0], slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	go http.ListenAndServe("127.0.0.1:16060", nil)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return g.Run(ctx)
}

// bare serves a plain httputil.ReverseProxy with no checks at all, on
// http.Transport (TRANSPORT "http") or on the gateway's own upstream
// transport ("gateway"): the second is the gateway minus its checks, its
// metrics and its log, which tells what they cost.
func bare(args []string) error {
	if len(args) != 3 {
		return fmt.Errorf("bare: want LISTEN UPSTREAM-URL TRANSPORT (http or gateway)")
	}
	target, err := url.Parse(args[1])
	if err != nil {
		return err
	}
	rp := &httputil.ReverseProxy{
		Rewrite:  func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
		ErrorLog: log.New(io.Discard, "", 0),
	}
	switch args[2] {
	case "http":
		rp.Transport = &http.Transport{
			MaxIdleConns: 4096, MaxIdleConnsPerHost: 1024, IdleConnTimeout: 90 * time.Second, DisableCompression: true,
		}
	case "gateway":
		rp.Transport = ingress.NewUpstreamTransport(target)
	default:
		return fmt.Errorf("bare: transport %q: want http or gateway", args[2])
	}
	srv := &http.Server{Addr: args[0], Handler: rp, ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); srv.Close() }()
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		return err
	}
	return nil
}

// relay copies bytes between each client connection and a connection of
// its own to the upstream, one read and one write each way per exchange,
// parsing nothing. It is no proxy (it assumes a request and its answer
// each fit one read); it measures what a Go program pays on this machine
// for the system calls and wake-ups of a proxied exchange, so that the
// HTTP work of the others can be told from the cost of the path.
func relay(args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("relay: want LISTEN UPSTREAM-ADDR")
	}
	ln, err := net.Listen("tcp", args[0])
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); ln.Close() }()
	for {
		c, err := ln.Accept()
		if err != nil {
			return nil
		}
		go func() {
			defer c.Close()
			u, err := net.Dial("tcp", args[1])
			if err != nil {
				return
			}
			defer u.Close()
			buf := make([]byte, 64<<10)
			for {
				n, err := c.Read(buf)
				if err != nil {
					return
				}
				if _, err := u.Write(buf[:n]); err != nil {
					return
				}
				if n, err = u.Read(buf); err != nil {
					return
				}
				if _, err := c.Write(buf[:n]); err != nil {
					return
				}
			}
		}()
	}
}
