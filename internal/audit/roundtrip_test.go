package audit_test

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/teamsgate/teamsgate/internal/audit"
	"github.com/teamsgate/teamsgate/internal/audit/eval"
	"github.com/teamsgate/teamsgate/internal/audit/formats/awssg"
	"github.com/teamsgate/teamsgate/internal/audit/formats/azurensg"
	"github.com/teamsgate/teamsgate/internal/audit/formats/iptables"
	"github.com/teamsgate/teamsgate/internal/audit/formats/nftables"
	"github.com/teamsgate/teamsgate/internal/audit/packet"
	"github.com/teamsgate/teamsgate/internal/audit/ruleset"
	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/render"
	rawssg "github.com/teamsgate/teamsgate/internal/render/awssg"
	razurensg "github.com/teamsgate/teamsgate/internal/render/azurensg"
	riptables "github.com/teamsgate/teamsgate/internal/render/iptables"
	rnftables "github.com/teamsgate/teamsgate/internal/render/nftables"
	"github.com/teamsgate/teamsgate/internal/servicetag"
	"github.com/teamsgate/teamsgate/internal/testutil"
	"github.com/teamsgate/teamsgate/internal/view"
)

// proxy is the egress proxy host-name flows are rendered to.
var proxy = netip.MustParseAddrPort("192.0.2.3:3128")

// rtCase is one render of an example spec: perimeter, or scoped to a role.
type rtCase struct {
	example string
	scope   string
	fqdn    view.FQDNMode
	tags    bool
}

func (c rtCase) name() string {
	s := c.scope
	if s == "" {
		s = "perimeter"
	}
	return c.example + "/" + strings.ReplaceAll(s, "/", ":")
}

var rtCases = []rtCase{
	{example: "messaging-bot", fqdn: view.FQDNViaProxy},
	{example: "messaging-bot", scope: "bot", fqdn: view.FQDNSkip},
	{example: "calling-bot", fqdn: view.FQDNViaProxy, tags: true},
	{example: "calling-bot", scope: "bot", fqdn: view.FQDNSkip, tags: true},
	{example: "pexip", fqdn: view.FQDNSkip},
	{example: "pexip", scope: "teams-connector-instances", fqdn: view.FQDNViaProxy},
	{example: "pexip", scope: "conferencing-nodes"},
	{example: "teamspro", fqdn: view.FQDNViaProxy},
	{example: "teamspro", scope: "clients", fqdn: view.FQDNViaProxy},
	{example: "combined", fqdn: view.FQDNViaProxy},
	{example: "combined", scope: "teams-calling-bot/bot", fqdn: view.FQDNSkip},
}

func testTags(t testing.TB) *servicetag.Data {
	t.Helper()
	data, ds := servicetag.ParseFile(filepath.Join("testdata", "servicetags.json"))
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	return data
}

func (c rtCase) renderOptions(t testing.TB) view.Options {
	opt := view.Options{Scope: c.scope, FQDN: c.fqdn}
	if c.fqdn == view.FQDNViaProxy {
		opt.Proxy = proxy
	}
	if c.tags {
		opt.ServiceTags = testTags(t)
	}
	return opt
}

func (c rtCase) auditOptions(t testing.TB, scope string) audit.Options {
	// The audit takes the render's choice for host-name flows.
	opt := audit.Options{Scope: scope, FQDN: c.fqdn, Tags: ruleset.ServiceTags{Data: testTags(t)}}
	if c.fqdn == view.FQDNViaProxy {
		opt.Proxy = proxy
	}
	return opt
}

// rtConfig is one rendered configuration as the auditor reads it, and the
// scope it is audited with.
type rtConfig struct {
	name  string
	scope string
	parse func() (*ruleset.Config, diag.List)
}

// rendered returns the configurations a target renders for a case, in
// the form the auditor reads (for nftables, loaded into a namespace and
// listed with nft -j; for AWS, the groups as describe-security-groups
// shows them after apply.sh).
func rendered(t *testing.T, p *model.Plan, target string, c rtCase) []rtConfig {
	var r render.Renderer
	switch target {
	case "nftables":
		r = rnftables.New()
	case "iptables":
		r = riptables.New()
	case "azure-nsg":
		r = razurensg.New()
	case "aws-sg":
		r = rawssg.New()
	}
	out, ds := r.Render(p, c.renderOptions(t))
	if ds.HasErrors() {
		t.Fatalf("render %s: %s", target, ds)
	}
	var cfgs []rtConfig
	switch target {
	case "nftables":
		needKernel(t, "nft")
		ns := newNetns(t)
		f := filepath.Join(t.TempDir(), "rules.nft")
		if err := os.WriteFile(f, out.Files[rnftables.FileName], 0o644); err != nil {
			t.Fatal(err)
		}
		ns.must(t, nil, "nft", "-f", f)
		js := ns.must(t, nil, "nft", "-j", "list", "ruleset")
		cfgs = append(cfgs, rtConfig{name: "nft", scope: c.scope, parse: func() (*ruleset.Config, diag.List) { return nftables.Parse(js) }})
	case "iptables":
		for name, b := range out.Files {
			b := b
			cfgs = append(cfgs, rtConfig{name: name, scope: c.scope, parse: func() (*ruleset.Config, diag.List) { return iptables.Parse(b) }})
		}
	case "azure-nsg":
		b := out.Files[razurensg.TemplateFile]
		cfgs = append(cfgs, rtConfig{name: "nsg.json", scope: c.scope, parse: func() (*ruleset.Config, diag.List) {
			return azurensg.Parse(b, azurensg.Options{Tags: ruleset.ServiceTags{Data: testTags(t)}})
		}})
	case "aws-sg":
		groups := map[string]map[string][]json.RawMessage{}
		for name, b := range out.Files {
			if !strings.HasSuffix(name, ".json") {
				continue
			}
			base := strings.TrimSuffix(name, ".json")
			key, dir := "", base
			if i := strings.LastIndex(base, "."); i >= 0 {
				key, dir = base[:i], base[i+1:]
			}
			var in struct{ IpPermissions []json.RawMessage }
			if err := json.Unmarshal(b, &in); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if groups[key] == nil {
				groups[key] = map[string][]json.RawMessage{}
			}
			groups[key][dir] = in.IpPermissions
		}
		for key, g := range groups {
			scope := c.scope
			if key != "" {
				integ, role, _ := strings.Cut(key, ".")
				scope = integ + "/" + role
			}
			grp := map[string]any{"GroupId": "sg-0123456789", "GroupName": "teamsgate", "IpPermissions": nonNil(g["ingress"])}
			// apply.sh revokes the default egress rule from every group.
			grp["IpPermissionsEgress"] = nonNil(g["egress"])
			b, err := json.Marshal(map[string]any{"SecurityGroups": []any{grp}})
			if err != nil {
				t.Fatal(err)
			}
			cfgs = append(cfgs, rtConfig{name: key, scope: scope, parse: func() (*ruleset.Config, diag.List) { return awssg.Parse(b, awssg.Options{}) }})
		}
	}
	sort.Slice(cfgs, func(i, j int) bool { return cfgs[i].name < cfgs[j].name })
	return cfgs
}

func nonNil(m []json.RawMessage) []json.RawMessage {
	if m == nil {
		return []json.RawMessage{}
	}
	return m
}

// flowsIn returns the plan rule ids a configuration line names in its
// comment (every renderer puts the flow id there).
func flowsIn(p *model.Plan, l *ruleset.Line) []string {
	text := l.Comment + " " + l.ID
	fields := strings.FieldsFunc(text, func(r rune) bool { return strings.ContainsRune(" ,:;[]()\"", r) })
	var out []string
	for _, f := range fields {
		if p.Rule(f) != nil {
			out = append(out, f)
		}
	}
	return out
}

// TestRoundTrip renders every example with every target the auditor
// reads, and checks that the render audits clean against its own plan,
// and that deleting any one of its flow rules gives a missing finding for
// that flow.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, target := range []string{"iptables", "azure-nsg", "aws-sg", "nftables"} {
		for _, c := range rtCases {
			t.Run(target+"/"+c.name(), func(t *testing.T) {
				t.Parallel()
				p := testutil.Plan(t, testutil.ExamplePath(c.example), "")
				if target == "aws-sg" {
					// A security group cannot hold the public Internet.
					p = bindInternetRoles(p)
				}
				for _, rc := range rendered(t, p, target, c) {
					cfg, ds := rc.parse()
					if ds.HasErrors() {
						t.Fatalf("%s: parse: %s", rc.name, ds)
					}
					opt := c.auditOptions(t, rc.scope)
					rep, ds := audit.Run(p, cfg, opt)
					if ds.HasErrors() {
						t.Fatalf("%s: audit: %s", rc.name, ds)
					}
					failed := false
					for _, f := range rep.Findings {
						switch {
						case f.Severity == audit.SevNote:
							t.Logf("%s: %s %s: %s", rc.name, f.Severity, f.Kind, f.Message)
						default:
							failed = true
							t.Errorf("%s: %s %s %s: %s", rc.name, f.Severity, f.Kind, f.Flow, f.Message)
						}
					}
					if failed {
						continue
					}
					deletions, redundant := 0, 0
					for ci, ch := range cfg.Chains {
						for li, l := range ch.Lines {
							ids := flowsIn(p, l)
							if l.Action != ruleset.Accept || l.Default || len(ids) == 0 {
								continue
							}
							deletions++
							cfg2, _ := rc.parse()
							ch2 := cfg2.Chains[ci]
							ch2.Lines = append(ch2.Lines[:li:li], ch2.Lines[li+1:]...)
							rep, ds := audit.Run(p, cfg2, opt)
							if ds.HasErrors() {
								t.Fatalf("%s: audit without %s: %s", rc.name, l.ID, ds)
							}
							if hasMissing(rep, ids) {
								continue
							}
							// Without a missing finding the rule must have
							// been redundant: other accept rules of its chain
							// cover it (overlapping flows of the plan, such
							// as Microsoft 365 endpoint sets).
							if coveredByOthers(t, cfg, ch, l) {
								redundant++
								continue
							}
							t.Errorf("%s: deleting %s (%s) gives no missing finding for %v; findings: %v", rc.name, l.ID, l.Text, ids, kinds(rep))
						}
					}
					t.Logf("%s: clean; %d rules deleted one at a time: %d reported missing, %d covered by other rules", rc.name, deletions, deletions-redundant, redundant)
				}
			})
		}
	}
}

// coveredByOthers reports whether the other accept lines of the chain
// cover a line's match.
func coveredByOthers(t *testing.T, cfg *ruleset.Config, ch *ruleset.Chain, l *ruleset.Line) bool {
	e, err := eval.Compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var others packet.Space
	for _, o := range ch.Lines {
		if o != l && o.Action == ruleset.Accept && len(o.Unresolved) == 0 {
			others = others.Union(e.MatchSpace(o))
		}
	}
	return others.Covers(e.MatchSpace(l))
}

func hasMissing(rep *audit.Report, ids []string) bool {
	for _, f := range rep.Findings {
		if f.Kind != audit.Missing {
			continue
		}
		for _, id := range ids {
			if f.Flow == id {
				return true
			}
		}
	}
	return false
}

func kinds(rep *audit.Report) []string {
	var out []string
	for _, f := range rep.Findings {
		out = append(out, string(f.Kind)+":"+f.Flow)
	}
	return out
}
