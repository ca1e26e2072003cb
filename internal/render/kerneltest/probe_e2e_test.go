package kerneltest

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/pion/stun/v3"

	"github.com/teamsgate/teamsgate/internal/certcheck/certtest"
	"github.com/teamsgate/teamsgate/internal/render/nftables"
	"github.com/teamsgate/teamsgate/internal/testutil"
	"github.com/teamsgate/teamsgate/internal/view"
)

// The probe's end-to-end test: a bot namespace, a firewall (router)
// namespace loaded with teamsgate's own nftables render of the plan, and an
// "internet" namespace with a TLS server for each host name of the plan
// (a test CA) and a STUN responder, all on documentation addresses; a
// catalog overlay maps the Microsoft names to them. The bot's name server
// runs on the bot's own loopback.

const (
	serversEnv = "TEAMSGATE_KERNELTEST_SERVERS"
	zoneEnv    = "TEAMSGATE_KERNELTEST_ZONE"
)

// e2eHosts are the plan's host names and the address each has in the
// test's internet.
var e2eHosts = map[string]string{
	"login.microsoftonline.com": "203.0.113.1",
	"api.botframework.com":      "203.0.113.2",
	"graph.microsoft.com":       "203.0.113.3",
	"login.botframework.com":    "203.0.113.4",
	"smba.trafficmanager.net":   "203.0.113.5",
	"relay.teams.example.test":  "203.0.113.9",
}

// e2eOverlay binds the messaging bot's address sets to those addresses,
// keeping their host names, and adds a lab integration whose one flow is
// UDP 3478-3481 to a Teams relay, for STUN.
const e2eOverlay = `version: probe-e2e
address_sets:
  aad-login: { values: { worldwide: { prefixes: [203.0.113.1/32], hosts: [login.microsoftonline.com] } } }
  botframework-api: { values: { worldwide: { prefixes: [203.0.113.2/32], hosts: [api.botframework.com] } } }
  graph: { values: { worldwide: { prefixes: [203.0.113.3/32], hosts: [graph.microsoft.com] } } }
  botframework-openid: { values: { worldwide: { prefixes: [203.0.113.4/32], hosts: [login.botframework.com] } } }
  teams-reply: { values: { worldwide: { prefixes: [203.0.113.5/32], hosts: [smba.trafficmanager.net] } } }
  teams-service: { values: { worldwide: { prefixes: [198.18.0.0/24] } } }
  teams-relay:
    description: "The Teams transport relay of the lab"
    values: { worldwide: { prefixes: [203.0.113.9/32], hosts: [relay.teams.example.test] } }
`

const e2eLab = `integration: probe-lab
title: "Probe lab"
document: "001"
description: "A media flow to a Teams transport relay, for the probe's STUN check"
roles:
  bot: { description: "the bot" }
flows:
  - id: probe-lab.relay
    from: { role: bot }
    to: { set: teams-relay }
    proto: udp
    ports: "3478-3481"
    app: rtp
    purpose: "Media to the Teams transport relay"
    reference: { section: "5", row: "lab" }
`

const e2eSpec = `name: probe-e2e
cloud: worldwide
integrations:
  teams-messaging-bot:
    roles: { bot: { addresses: [198.51.100.10] } }
    parameters: { graph: true }
  probe-lab:
    roles: { bot: { addresses: [198.51.100.10] } }
`

// serverSpec is one server of the internet namespace.
type serverSpec struct {
	Addr     string `json:"addr"`
	Kind     string `json:"kind"` // tls, tcp or stun
	CertPEM  string `json:"cert,omitempty"`
	KeyPEM   string `json:"key,omitempty"`
	MaxTLS11 bool   `json:"max_tls11,omitempty"`
}

// serversMain serves TLS and STUN as the specs say, prints READY, and runs
// until its standard input closes.
func serversMain() int {
	var specs []serverSpec
	if err := json.Unmarshal([]byte(os.Getenv(serversEnv)), &specs); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	for _, s := range specs {
		switch s.Kind {
		case "tls":
			cert, err := tls.X509KeyPair([]byte(s.CertPEM), []byte(s.KeyPEM))
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 2
			}
			cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS10}
			if s.MaxTLS11 {
				cfg.MaxVersion = tls.VersionTLS11
			}
			ln, err := tls.Listen("tcp", s.Addr, cfg)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 2
			}
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					go func() {
						c.(*tls.Conn).Handshake()
						c.Close()
					}()
				}
			}()
		case "tcp":
			ln, err := net.Listen("tcp", s.Addr)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 2
			}
			go serveTCP(ln)
		case "stun":
			pc, err := net.ListenPacket("udp", s.Addr)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 2
			}
			go func() {
				buf := make([]byte, 1500)
				for {
					n, from, err := pc.ReadFrom(buf)
					if err != nil {
						return
					}
					req := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
					if req.Decode() != nil || req.Type != stun.BindingRequest {
						continue
					}
					ua := from.(*net.UDPAddr)
					res := stun.MustBuild(stun.NewTransactionIDSetter(req.TransactionID), stun.BindingSuccess, &stun.XORMappedAddress{IP: ua.IP, Port: ua.Port}, stun.Fingerprint)
					pc.WriteTo(res.Raw, from)
				}
			}()
		}
	}
	return serveUntilStdinCloses()
}

// dnsMain answers A queries for the zone on 127.0.0.1:53 of its namespace.
func dnsMain() int {
	zone := map[string]string{}
	if err := json.Unmarshal([]byte(os.Getenv(zoneEnv)), &zone); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:53")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	mux := dns.NewServeMux()
	mux.HandleFunc(".", func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		a, ok := zone[strings.TrimSuffix(q.Name, ".")]
		switch {
		case !ok:
			m.Rcode = dns.RcodeNameError
		case q.Qtype == dns.TypeA:
			rr, _ := dns.NewRR(q.Name + " 60 IN A " + a)
			m.Answer = append(m.Answer, rr)
		}
		w.WriteMsg(m)
	})
	go (&dns.Server{PacketConn: pc, Handler: mux}).ActivateAndServe()
	return serveUntilStdinCloses()
}

func serveUntilStdinCloses() int {
	fmt.Println("READY")
	done := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
	}
	return 0
}

// startHelper starts a helper mode in ns and waits for its READY; it stops
// when the returned func is called or the test ends.
func startHelper(t *testing.T, ns, mode string, env ...string) func() {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	cmd := helperCommand(t, ctx, ns, mode, env...)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cancel()
			<-done
		}
		cancel()
	}
	t.Cleanup(stop)
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "READY" {
		t.Fatalf("%s helper did not start: %q", mode, line)
	}
	go io.Copy(io.Discard, stdout)
	return stop
}

// e2eBinary builds teamsgate once for the test.
func e2eBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "teamsgate")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/teamsgate")
	cmd.Dir = testutil.Root()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

type probeOut struct {
	Results []struct {
		Rule, Host, Outcome, Reason, Address, Check string
		Port                                        int
	}
}

// TestProbeEndToEnd: every flow of the bot passes through teamsgate's own
// firewall; deleting one rule makes exactly that flow blocked; a wrong
// certificate is a TLS failure; a server limited to TLS 1.1 fails the
// version check.
func TestProbeEndToEnd(t *testing.T) {
	requireKernel(t)
	dir := t.TempDir()
	overlay := filepath.Join(dir, "catalog")
	os.MkdirAll(filepath.Join(overlay, "integrations"), 0o755)
	os.WriteFile(filepath.Join(overlay, "catalog.yaml"), []byte(e2eOverlay), 0o644)
	os.WriteFile(filepath.Join(overlay, "integrations", "probe-lab.yaml"), []byte(e2eLab), 0o644)
	spec := filepath.Join(dir, "spec.yaml")
	os.WriteFile(spec, []byte(e2eSpec), 0o644)
	pki, other := certtest.NewPKI(t), certtest.NewOtherPKI(t)
	roots := filepath.Join(dir, "roots.pem")
	os.WriteFile(roots, pki.RootsPEM(), 0o644)

	var serverAddrs []netip.Addr
	for _, a := range e2eHosts {
		serverAddrs = append(serverAddrs, netip.MustParseAddr(a))
	}
	top := newRoutedTopology(t, serverAddrs, []netip.Addr{netip.MustParseAddr("198.51.100.10")})

	plan := testutil.Plan(t, spec, overlay)
	out, ds := nftables.New().Render(plan, view.Options{})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	ruleset := out.Files[nftables.FileName]
	load(t, top.router, "nftables", out.Files)

	zone, _ := json.Marshal(e2eHosts)
	startHelper(t, top.client, "probe-dns", zoneEnv+"="+string(zone))

	leaf := func(p *certtest.PKI, host string) (string, string) {
		l := p.Leaf(t, certtest.Template{CN: host, DNSNames: []string{host}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)})
		return string(certtest.CertsPEM(l.Cert, p.Intermediate.Cert)), string(certtest.KeyPEM(t, l.Key))
	}
	servers := func(mutate func(host string, s *serverSpec)) func() {
		var specs []serverSpec
		for host, addr := range e2eHosts {
			if host == "relay.teams.example.test" {
				for _, port := range []string{"3478", "3481"} {
					specs = append(specs, serverSpec{Addr: addr + ":" + port, Kind: "stun"})
				}
				continue
			}
			s := serverSpec{Addr: addr + ":443", Kind: "tls"}
			s.CertPEM, s.KeyPEM = leaf(pki, host)
			if mutate != nil {
				mutate(host, &s)
			}
			specs = append(specs, s)
		}
		b, _ := json.Marshal(specs)
		return startHelper(t, top.host, "probe-servers", serversEnv+"="+string(b))
	}
	bin := e2eBinary(t)
	probe := func(extra ...string) (map[string]string, map[string]string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		args := append([]string{"netns", "exec", top.client, bin, "probe", spec, "--role", "bot",
			"--catalog", overlay, "--dns", "127.0.0.1:53", "--roots", roots, "--timeout", "2s", "-o", "json"}, extra...)
		cmd := exec.CommandContext(ctx, "ip", args...)
		cmd.Env = append(os.Environ(), "HTTPS_PROXY=")
		b, _ := cmd.Output()
		var po probeOut
		if err := json.Unmarshal(b, &po); err != nil {
			t.Fatalf("probe output: %v\n%s", err, b)
		}
		outcomes, reasons := map[string]string{}, map[string]string{}
		for _, r := range po.Results {
			k := fmt.Sprintf("%s %s:%d", r.Rule, r.Host, r.Port)
			outcomes[k], reasons[k] = r.Outcome, r.Reason
		}
		return outcomes, reasons
	}
	want := map[string]string{
		"teams-messaging-bot.out.login login.microsoftonline.com:443":   "pass",
		"teams-messaging-bot.out.botframework api.botframework.com:443": "pass",
		"teams-messaging-bot.out.graph graph.microsoft.com:443":         "pass",
		"teams-messaging-bot.out.openid login.botframework.com:443":     "pass",
		"teams-messaging-bot.out.reply smba.trafficmanager.net:443":     "pass",
		"probe-lab.relay relay.teams.example.test:3478":                 "pass",
		"probe-lab.relay relay.teams.example.test:3481":                 "pass",
	}
	check := func(stage string, want map[string]string, extra ...string) {
		t.Helper()
		got, reasons := probe(extra...)
		for k, w := range want {
			if got[k] != w {
				t.Errorf("%s: %s: %s (%s), want %s", stage, k, got[k], reasons[k], w)
			}
		}
		if len(got) != len(want) {
			t.Errorf("%s: %d results, want %d: %v", stage, len(got), len(want), got)
		}
	}

	stop := servers(nil)
	start := time.Now()
	check("every flow open", want)
	t.Logf("every flow open: %d checks in %s", len(want), time.Since(start).Round(time.Millisecond))

	// A firewall that drops everything: every check is filtered, and the
	// run takes about one timeout, the checks running at once.
	var none []string
	for _, line := range strings.Split(string(ruleset), "\n") {
		if !strings.Contains(line, " accept comment ") {
			none = append(none, line)
		}
	}
	load(t, top.router, "nftables", map[string][]byte{nftables.FileName: []byte(strings.Join(none, "\n"))})
	filtered := map[string]string{}
	for k := range want {
		filtered[k] = "blocked"
	}
	start = time.Now()
	check("everything filtered", filtered)
	t.Logf("everything filtered: %d checks in %s with --timeout 2s", len(want), time.Since(start).Round(time.Millisecond))
	load(t, top.router, "nftables", out.Files)

	// Delete the Graph rule from the firewall: exactly that flow fails.
	var kept []string
	for _, line := range strings.Split(string(ruleset), "\n") {
		if !strings.Contains(line, "teams-messaging-bot.out.graph") {
			kept = append(kept, line)
		}
	}
	load(t, top.router, "nftables", map[string][]byte{nftables.FileName: []byte(strings.Join(kept, "\n"))})
	blocked := map[string]string{}
	for k, v := range want {
		blocked[k] = v
	}
	blocked["teams-messaging-bot.out.graph graph.microsoft.com:443"] = "blocked"
	check("graph rule deleted", blocked)
	if text, _ := exec.Command("ip", "netns", "exec", top.client, bin, "probe", spec, "--role", "bot", "--catalog", overlay,
		"--dns", "127.0.0.1:53", "--roots", roots, "--timeout", "2s").Output(); len(text) > 0 {
		t.Logf("probe with the Graph rule deleted:\n%s", text)
	}
	load(t, top.router, "nftables", out.Files)

	// Through teamsgate's egress proxy on the bot's loopback, run from a
	// spec without Graph: the proxy refuses graph.microsoft.com, and the
	// probe says it was the proxy; the other flows pass through it.
	proxySpec := filepath.Join(dir, "proxy.yaml")
	os.WriteFile(proxySpec, []byte(strings.Replace(e2eSpec, "    parameters: { graph: true }\n", "", 1)+
		"egress:\n  listen: 127.0.0.1:3128\n  scope: [teams-messaging-bot/bot]\n  dns: [127.0.0.1:53]\n  allow_ranges: [203.0.113.0/24]\n  admin: { listen: 127.0.0.1:9091 }\n"), 0o644)
	pctx, pcancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer pcancel()
	px := exec.CommandContext(pctx, "ip", "netns", "exec", top.client, bin, "serve", proxySpec, "--catalog", overlay)
	if err := px.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { px.Process.Kill(); px.Wait() })
	for i := 0; ; i++ {
		if out, err := run("ip", "netns", "exec", top.client, "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/3128"); err == nil {
			break
		} else if i > 100 {
			t.Fatalf("the egress proxy did not start: %s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	viaProxy := map[string]string{}
	for k, v := range want {
		viaProxy[k] = v
	}
	viaProxy["teams-messaging-bot.out.graph graph.microsoft.com:443"] = "proxy-refused"
	check("through the egress proxy", viaProxy, "--fqdn-via-proxy", "127.0.0.1:3128")
	_, reasons := probe("--fqdn-via-proxy", "127.0.0.1:3128")
	if r := reasons["teams-messaging-bot.out.graph graph.microsoft.com:443"]; !strings.Contains(r, "403") || !strings.Contains(r, "host-not-allowed") {
		t.Errorf("the proxy's refusal: %q", r)
	}
	px.Process.Kill()

	// A certificate of another CA for Graph, TLS 1.1 only for Entra ID.
	stop()
	servers(func(host string, s *serverSpec) {
		switch host {
		case "graph.microsoft.com":
			s.CertPEM, s.KeyPEM = leaf(other, host)
		case "login.microsoftonline.com":
			s.MaxTLS11 = true
		}
	})
	bad := map[string]string{}
	for k, v := range want {
		bad[k] = v
	}
	bad["teams-messaging-bot.out.graph graph.microsoft.com:443"] = "tls-failure"
	bad["teams-messaging-bot.out.login login.microsoftonline.com:443"] = "tls-failure"
	check("wrong certificate and TLS 1.1", bad)
	_, reasons = probe()
	if r := reasons["teams-messaging-bot.out.login login.microsoftonline.com:443"]; !strings.Contains(r, "TLS 1.1") {
		t.Errorf("the TLS 1.1 server: %q", r)
	}
}

// TestProbePeer: probe listen on a Conferencing Node and probe --peer from
// a Teams Connector instance, for the Pexip signalling and media flows
// between them; a source outside the plan gets no answer.
func TestProbePeer(t *testing.T) {
	requireKernel(t)
	cn, instance, outsider := netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("198.51.100.65"), netip.MustParseAddr("192.0.2.99")
	top := newTopology(t, []netip.Addr{cn}, []netip.Addr{instance})
	bin := e2eBinary(t)
	spec := testutil.ExamplePath("pexip")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	listen := exec.CommandContext(ctx, "ip", "netns", "exec", top.host, bin, "probe", "listen", spec, "--role", "conferencing-nodes", "--for", "90s")
	stderr, _ := listen.StderrPipe()
	if err := listen.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { listen.Process.Kill(); listen.Wait() })
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "ports open") {
				ready <- sc.Text()
			}
		}
	}()
	select {
	case line := <-ready:
		if !strings.Contains(line, "tcp 443, tcp 4277, udp 40000, udp 49999") {
			t.Errorf("listen: %s", line)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("probe listen did not start")
	}
	peer := func() map[string]string {
		t.Helper()
		cmd := exec.CommandContext(ctx, "ip", "netns", "exec", top.client, bin, "probe", spec, "--role", "teams-connector-instances",
			"--peer", "conferencing-nodes="+cn.String(), "--timeout", "2s", "-o", "json")
		b, _ := cmd.Output()
		var po probeOut
		if err := json.Unmarshal(b, &po); err != nil {
			t.Fatalf("probe output: %v\n%s", err, b)
		}
		got := map[string]string{}
		for _, r := range po.Results {
			got[r.Address] = r.Outcome
		}
		return got
	}
	want := []string{"tcp 203.0.113.10:443", "tcp 203.0.113.10:4277", "udp 203.0.113.10:40000", "udp 203.0.113.10:49999"}
	got := peer()
	for _, w := range want {
		if got[w] != "pass" {
			t.Errorf("from the instance, %s: %q, want pass (all: %v)", w, got[w], got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d checks, want %d: %v", len(got), len(want), got)
	}
	// The same probe from an address outside the plan's sources: the
	// listener answers nothing.
	mustRun(t, "ip", "-n", top.client, "addr", "add", outsider.String()+"/32", "dev", "tgc"+strings.TrimSuffix(strings.TrimPrefix(top.client, "tgk-"), "-c"))
	mustRun(t, "ip", "-n", top.client, "addr", "del", instance.String()+"/32", "dev", "tgc"+strings.TrimSuffix(strings.TrimPrefix(top.client, "tgk-"), "-c"))
	got = peer()
	for _, w := range want {
		// TCP 443 is open to any source: 002's Alternative Dial
		// Instructions (pexip-teams-connector.any-to-cn.dial-instructions).
		expect := "blocked"
		if w == "tcp 203.0.113.10:443" {
			expect = "pass"
		}
		if got[w] != expect {
			t.Errorf("from %s, outside the plan, %s: %q, want %s", outsider, w, got[w], expect)
		}
	}
}

// TestProbeCombinedBot probes every outbound flow of the combined
// example's bots (messaging and calling) against an "internet" namespace
// that answers each: a TLS server per host name on 443, a TCP listener on
// 80, the Teams ranges of the Microsoft 365 data mapped to 203.0.113.0/24
// by a catalog overlay. Every check passes; the log gives the time the run
// took.
func TestProbeCombinedBot(t *testing.T) {
	requireKernel(t)
	dir := t.TempDir()
	overlay := filepath.Join(dir, "catalog")
	os.MkdirAll(filepath.Join(overlay, "m365"), 0o755)
	ww, err := os.ReadFile(filepath.Join(testutil.Root(), "internal", "catalog", "data", "m365", "worldwide.json"))
	if err != nil {
		t.Fatal(err)
	}
	var sets []map[string]any
	if err := json.Unmarshal(ww, &sets); err != nil {
		t.Fatal(err)
	}
	for _, set := range sets {
		if _, ok := set["ips"]; ok {
			set["ips"] = []string{"203.0.113.0/24"}
		}
	}
	b, _ := json.Marshal(sets)
	os.WriteFile(filepath.Join(overlay, "m365", "worldwide.json"), b, 0o644)
	os.WriteFile(filepath.Join(overlay, "catalog.yaml"), []byte("version: probe-combined\nm365:\n  worldwide: { file: m365/worldwide.json, instance: Worldwide, date: \"2026-06-06\" }\n"), 0o644)

	hosts := []string{"login.microsoftonline.com", "api.botframework.com", "api.aps.skype.com", "pma.teams.microsoft.com", "pma.cloud.microsoft",
		"graph.microsoft.com", "teams.microsoft.com", "teams.cloud.microsoft", "aka.ms", "adl.windows.com", "join.secure.skypeassets.com",
		"mlccdnprod.azureedge.net", "login.botframework.com", "smba.trafficmanager.net"}
	zone := map[string]string{}
	var addrs []netip.Addr
	pki := certtest.NewPKI(t)
	var specs []serverSpec
	for i, h := range hosts {
		a := netip.AddrFrom4([4]byte{203, 0, 113, byte(20 + i)})
		zone[h] = a.String()
		addrs = append(addrs, a)
		l := pki.Leaf(t, certtest.Template{CN: h, DNSNames: []string{h}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)})
		specs = append(specs, serverSpec{Addr: a.String() + ":443", Kind: "tls", CertPEM: string(certtest.CertsPEM(l.Cert, pki.Intermediate.Cert)), KeyPEM: string(certtest.KeyPEM(t, l.Key))},
			serverSpec{Addr: a.String() + ":80", Kind: "tcp"})
	}
	roots := filepath.Join(dir, "roots.pem")
	os.WriteFile(roots, pki.RootsPEM(), 0o644)
	top := newTopology(t, addrs, []netip.Addr{netip.MustParseAddr("198.51.100.10")})
	sb, _ := json.Marshal(specs)
	startHelper(t, top.host, "probe-servers", serversEnv+"="+string(sb))
	zb, _ := json.Marshal(zone)
	startHelper(t, top.client, "probe-dns", zoneEnv+"="+string(zb))
	bin := e2eBinary(t)

	start := time.Now()
	out, _ := exec.Command("ip", "netns", "exec", top.client, bin, "probe", testutil.ExamplePath("combined"), "--role", "bot",
		"--catalog", overlay, "--dns", "127.0.0.1:53", "--roots", roots, "--timeout", "3s", "-o", "json").Output()
	took := time.Since(start)
	var po probeOut
	if err := json.Unmarshal(out, &po); err != nil {
		t.Fatalf("probe output: %v\n%s", err, out)
	}
	checked := 0
	for _, r := range po.Results {
		switch r.Outcome {
		case "pass":
			checked++
		case "skipped":
		default:
			t.Errorf("%s %s:%d: %s (%s)", r.Rule, r.Host, r.Port, r.Outcome, r.Reason)
		}
	}
	if checked < 15 {
		t.Errorf("%d checks passed; the combined bots have more flows than that", checked)
	}
	t.Logf("combined example, role bot: %d checks passed, %d skipped, in %s (the teamsgate process, start to end)", checked, len(po.Results)-checked, took.Round(time.Millisecond))
}
