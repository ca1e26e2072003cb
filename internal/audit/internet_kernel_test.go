package audit_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/teamsgate/teamsgate/internal/audit"
	"github.com/teamsgate/teamsgate/internal/audit/formats/iptables"
	"github.com/teamsgate/teamsgate/internal/audit/formats/nftables"
	"github.com/teamsgate/teamsgate/internal/audit/packet"
	"github.com/teamsgate/teamsgate/internal/audit/ruleset"
	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/model"
	riptables "github.com/teamsgate/teamsgate/internal/render/iptables"
	rnftables "github.com/teamsgate/teamsgate/internal/render/nftables"
	"github.com/teamsgate/teamsgate/internal/testutil"
	"github.com/teamsgate/teamsgate/internal/view"
)

// internetProbes are packets a Teams Connector instance of
// examples/pexip.yaml sends, with the verdict its host firewall must give:
// its OCSP (TCP 80) and Windows Update (TCP 80, 443) flows go to the public
// Internet and nowhere else. The destinations are routed to the testbed's
// sink namespace only; 1.2.3.4 stands for a public address there.
var internetProbes = []struct {
	probe probe
	want  bool
	why   string
}{
	{probe{proto: 6, src: netip.MustParseAddr("198.51.100.65"), dst: netip.MustParseAddr("1.2.3.4"), sport: 40001, dport: 80}, true, "OCSP to a public address"},
	{probe{proto: 6, src: netip.MustParseAddr("198.51.100.65"), dst: netip.MustParseAddr("1.2.3.4"), sport: 40002, dport: 443}, true, "Windows Update to a public address"},
	{probe{proto: 6, src: netip.MustParseAddr("198.51.100.65"), dst: netip.MustParseAddr("10.0.0.1"), sport: 40003, dport: 80}, false, "OCSP to a private address"},
	{probe{proto: 6, src: netip.MustParseAddr("198.51.100.65"), dst: netip.MustParseAddr("100.64.0.1"), sport: 40004, dport: 443}, false, "Windows Update to shared address space"},
	{probe{proto: 6, src: netip.MustParseAddr("198.51.100.65"), dst: netip.MustParseAddr("192.0.2.80"), sport: 40005, dport: 80}, false, "OCSP to a documentation address"},
	{probe{proto: 6, src: netip.MustParseAddr("198.51.100.65"), dst: netip.MustParseAddr("1.2.3.4"), sport: 40006, dport: 8080}, false, "a public address on another port"},
}

// TestKernelInternet renders the host firewall of the Teams Connector
// instances for nftables and iptables, loads it into a namespace, and sends
// the instances' packets to the Internet and to special-use space through
// it: the kernel, the evaluator and the test agree on each, and the audit
// of the loaded ruleset finds the flows to the Internet carried.
func TestKernelInternet(t *testing.T) {
	needKernel(t, "nft", "iptables-restore", "iptables-save")
	t.Parallel()
	p := testutil.Plan(t, testutil.ExamplePath("pexip"), "")
	opt := view.Options{Scope: "teams-connector-instances", FQDN: view.FQDNSkip}
	for _, target := range []string{"nftables", "iptables"} {
		t.Run(target, func(t *testing.T) {
			t.Parallel()
			tb := newTestbed(t, view.Outbound)
			ipBatch(t, tb.host.name,
				"route add 1.2.3.0/24 via 198.19.254.2",
				"route add 10.0.0.0/8 via 198.19.254.2",
				"route add 100.64.0.0/10 via 198.19.254.2")
			var cfg *ruleset.Config
			var ds diag.List
			switch target {
			case "nftables":
				out, rds := rnftables.New().Render(p, opt)
				if rds.HasErrors() {
					t.Fatal(rds)
				}
				f := filepath.Join(t.TempDir(), "rules.nft")
				if err := os.WriteFile(f, out.Files[rnftables.FileName], 0o644); err != nil {
					t.Fatal(err)
				}
				tb.host.must(t, nil, "nft", "-f", f)
				cfg, ds = nftables.Parse(tb.host.must(t, nil, "nft", "-j", "list", "ruleset"))
			case "iptables":
				out, rds := riptables.New().Render(p, opt)
				if rds.HasErrors() {
					t.Fatal(rds)
				}
				tb.host.must(t, out.Files["rules.v4"], "iptables-restore")
				cfg, ds = iptables.Parse(tb.host.must(t, nil, "iptables-save"))
			}
			if ds.HasErrors() {
				t.Fatalf("parse: %s", ds)
			}
			e := compile(t, cfg)
			var probes []probe
			for _, ip := range internetProbes {
				probes = append(probes, ip.probe)
			}
			tb.observe(t)
			seen := tb.run(t, probes)
			out := e.Universe.Class("d0")
			for _, ip := range internetProbes {
				pr := ip.probe
				kernel := seen[pr.key()]
				fr := e.Verdict(view.Outbound, packet.Packet{Proto: pr.proto, State: packet.StateNew, Out: out, Src: pr.src, Dst: pr.dst, SPort: pr.sport, DPort: pr.dport})
				ours := fr.Verdict == model.VerdictAllow
				if kernel != ip.want || ours != ip.want {
					t.Errorf("%s (%s): kernel %s, evaluator %s, want %s", ip.why, pr, verdictWord(kernel), verdictWord(ours), verdictWord(ip.want))
				}
			}
			rep, ads := audit.Run(p, cfg, audit.Options{Scope: opt.Scope, FQDN: view.FQDNSkip})
			if ads.HasErrors() {
				t.Fatalf("audit: %s", ads)
			}
			for _, id := range internetFlows {
				if got := flowStatus(rep, id); got != audit.FlowPass {
					t.Errorf("audit of the loaded ruleset: %s %q, want pass", id, got)
				}
			}
		})
	}
}
