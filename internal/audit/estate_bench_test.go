package audit_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/teamsgate/teamsgate/internal/audit"
	"github.com/teamsgate/teamsgate/internal/audit/formats/awssg"
	"github.com/teamsgate/teamsgate/internal/audit/ruleset"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/testutil"
)

// genEstate returns a describe-security-groups export of n groups of
// rules rules each (60% ingress), every group tagged teamsgate:role with
// one of roles in turn. It models an account's groups: each opens a few
// well-known services and more application ports (1024-65535), to sources
// that are mostly the account's own networks and partners (a /16, a /24, a
// /32) and seldom the whole Internet, with now and then an all-traffic
// rule from the VPC; each role's hosts get a hundred or more of them, the
// worst case for the union a role is checked through.
func genEstate(r *rand.Rand, n, rules int, roles []string) []byte {
	type ipRange struct {
		CidrIP string `json:"CidrIp"`
	}
	type perm struct {
		IPProtocol string    `json:"IpProtocol"`
		FromPort   *int      `json:"FromPort,omitempty"`
		ToPort     *int      `json:"ToPort,omitempty"`
		IPRanges   []ipRange `json:"IpRanges"`
	}
	type tag struct{ Key, Value string }
	type group struct {
		GroupID    string `json:"GroupId"`
		GroupName  string
		Ingress    []perm `json:"IpPermissions"`
		Egress     []perm `json:"IpPermissionsEgress"`
		Tags       []tag
		VpcID      string `json:"VpcId"`
		OwnerID    string `json:"OwnerId"`
		Descriptio string `json:"Description"`
	}
	rule := func() perm {
		if r.IntN(30) == 0 {
			return perm{IPProtocol: "-1", IPRanges: []ipRange{{"10.0.0.0/8"}}}
		}
		svc := services[r.IntN(len(services))]
		if r.IntN(10) < 6 {
			svc = strconv.Itoa(1024 + r.IntN(64512))
		}
		first, last, _ := strings.Cut(svc, ":")
		if last == "" {
			last = first
		}
		f, _ := strconv.Atoi(first)
		l, _ := strconv.Atoi(last)
		var rs []ipRange
		for range 1 + r.IntN(3) {
			src := source(r)
			if src == "0.0.0.0/0" && r.IntN(5) > 0 {
				src = fmt.Sprintf("10.%d.%d.0/24", r.IntN(256), r.IntN(256))
			}
			rs = append(rs, ipRange{src})
		}
		return perm{IPProtocol: []string{"tcp", "udp"}[r.IntN(2)], FromPort: &f, ToPort: &l, IPRanges: rs}
	}
	groups := make([]group, n)
	for i := range groups {
		g := &groups[i]
		g.GroupID = fmt.Sprintf("sg-%017x", i+1)
		g.GroupName = fmt.Sprintf("estate-%d", i+1)
		g.VpcID, g.OwnerID, g.Descriptio = "vpc-0c0ffee0", "123456789012", "generated"
		g.Tags = []tag{{"Name", g.GroupName}, {"teamsgate:role", roles[i%len(roles)]}}
		g.Ingress, g.Egress = []perm{}, []perm{}
		for j := range rules {
			if j < rules*6/10 {
				g.Ingress = append(g.Ingress, rule())
			} else {
				g.Egress = append(g.Egress, rule())
			}
		}
	}
	b, err := json.Marshal(map[string]any{"SecurityGroups": groups})
	if err != nil {
		panic(err)
	}
	return b
}

// estateRoles returns the roles of a plan bound to addresses, as a role
// tag names them.
func estateRoles(p *model.Plan) []string {
	var out []string
	for k, t := range p.Roles {
		if len(t.Prefixes) > 0 {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// BenchmarkEstate audits an account-wide export of 1,000 security groups
// of 20 rules each against the combined example plan, every group tagged
// for one of its roles: parse, per role the union of its groups through
// every flow and the too-open analysis, per group its redundant rules. Run
// with -cpu 1 for the one-core figure (docs/audit.md: under 2 s).
func BenchmarkEstate(b *testing.B) {
	p := benchPlan(b)
	data := genEstate(rand.New(rand.NewPCG(1000, 20)), 1000, 20, estateRoles(p))
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		auditEstate(b, p, data)
	}
}

// auditEstate reads an estate export and audits it against the plan.
func auditEstate(tb testing.TB, p *model.Plan, data []byte) (*ruleset.Config, *audit.Report) {
	cfg, ds := awssg.Parse(data, awssg.Options{RoleTag: "teamsgate:role"})
	if ds.HasErrors() {
		tb.Fatal(ds)
	}
	rep, ds := audit.Run(p, cfg, benchOptions)
	if ds.HasErrors() || rep == nil {
		tb.Fatal(ds)
	}
	return cfg, rep
}

// TestEstateBenchFindings checks that the benchmark's estate is audited in
// full: every role through its groups, findings of every kind, each naming
// its groups.
func TestEstateBenchFindings(t *testing.T) {
	if testing.Short() {
		t.Skip("a large configuration")
	}
	p := testutil.Plan(t, testutil.ExamplePath("combined"), "")
	roles := estateRoles(p)
	cfg, rep := auditEstate(t, p, genEstate(rand.New(rand.NewPCG(1000, 20)), 1000, 20, roles))
	if n := len(cfg.Lines()); n < 20000 {
		t.Fatalf("%d rules", n)
	}
	count := map[audit.Kind]int{}
	seen := map[string]bool{}
	for _, f := range rep.Findings {
		count[f.Kind]++
		if len(f.Groups) == 0 || len(f.Roles) == 0 {
			t.Fatalf("%s finding without its groups and roles: %s", f.Kind, f.Message)
		}
		for _, r := range f.Roles {
			seen[r] = true
		}
	}
	t.Logf("%d roles, %d rules, findings %v, notes %d", len(roles), len(cfg.Lines()), count, len(rep.Notes))
	for _, k := range []audit.Kind{audit.Missing, audit.TooOpen, audit.Shadowed} {
		if count[k] == 0 {
			t.Errorf("no %s finding", k)
		}
	}
	if len(seen) != len(roles) {
		t.Errorf("findings for %d roles of %d", len(seen), len(roles))
	}
}
