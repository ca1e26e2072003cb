package load

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/teamsgate/teamsgate/internal/botauth"
	"github.com/teamsgate/teamsgate/internal/catalog"
	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/ingress"
	"github.com/teamsgate/teamsgate/internal/planfile"
)

func embedded(t *testing.T) *catalog.Catalog {
	t.Helper()
	c, ds := catalog.Embedded()
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	return c
}

// copyExample puts examples/gateway.yaml in a temporary directory with
// the files it names.
func copyExample(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../../examples/gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "tls"), 0o700)
	for _, f := range []string{"tls/gateway.crt", "tls/gateway.key"} {
		os.WriteFile(filepath.Join(dir, f), []byte("placeholder"), 0o600)
	}
	name := filepath.Join(dir, "gateway.yaml")
	os.WriteFile(name, b, 0o600)
	return name
}

// TestExample: the shipped example loads, admits the plan's Teams ranges
// and its extra range, and nothing else.
func TestExample(t *testing.T) {
	name := copyExample(t)
	cfg, ds := File(embedded(t), name)
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	if len(ds) != 0 {
		t.Errorf("warnings: %s", ds)
	}
	for addr, want := range map[string]bool{
		"52.112.0.1": true, "52.115.255.254": true, "203.0.113.7": true,
		"52.116.0.1": false, "198.51.100.10": false, "127.0.0.1": false,
	} {
		a := netip.MustParseAddr(addr)
		if got := cfg.Sources.Plan.Contains(a) || cfg.Sources.Extra.Contains(a); got != want {
			t.Errorf("%s admitted %v, want %v", addr, got, want)
		}
	}
	if !cfg.Sources.TrustedProxies.Contains(netip.MustParseAddr("192.0.2.5")) {
		t.Error("trusted proxy missing")
	}
	if cfg.TLS.CertFile != filepath.Join(filepath.Dir(name), "tls/gateway.crt") {
		t.Errorf("cert file %q not resolved against the spec's directory", cfg.TLS.CertFile)
	}
	if cfg.Auth.Cloud != botauth.Worldwide || cfg.Upstreams.Active != "blue" || len(cfg.Upstreams.Groups) != 2 {
		t.Errorf("config %+v", cfg)
	}
}

// TestGovCloudSources: the plan's ranges follow the spec's cloud.
func TestGovCloudSources(t *testing.T) {
	cfg := mustConfig(t, minimal("gcch", ""), "gov.yaml")
	if !cfg.Sources.Plan.Contains(netip.MustParseAddr("52.127.88.1")) || cfg.Sources.Plan.Contains(netip.MustParseAddr("52.112.0.1")) {
		t.Errorf("gcch sources %v", cfg.Sources.Plan.Prefixes())
	}
	if cfg.Auth.Cloud != botauth.GCCHigh {
		t.Errorf("cloud %q", cfg.Auth.Cloud)
	}
}

// mustConfig parses src and builds its gateway config, failing t on any
// error.
func mustConfig(t *testing.T, src, name string) *ingress.Config {
	t.Helper()
	cfg, ds := gateway(t, src, name)
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	return cfg
}

// gateway reads spec text named name, plans it and builds its gateway
// config, with every diagnostic of the three steps.
func gateway(t *testing.T, src, name string) (*ingress.Config, diag.List) {
	t.Helper()
	pl, ds := planfile.Read(embedded(t), []byte(src), name)
	if pl == nil {
		return nil, ds
	}
	cfg, cds := Config(embedded(t), pl.Spec, pl.Plan)
	ds.Append(cds)
	return cfg, ds
}

// botSpec is the head of the test specs: a messaging bot in the public
// cloud, six lines, before the gateway section.
const botSpec = `name: t
cloud: worldwide
integrations:
  teams-messaging-bot:
    roles:
      bot: {addresses: [198.51.100.10]}
`

// minimal is a valid spec with a plain-HTTP gateway in cloud.
func minimal(cloud, gatewayExtra string) string {
	return strings.Replace(botSpec, "cloud: worldwide", "cloud: "+cloud, 1) + `gateway:
  plain_http: true
  listen: 127.0.0.1:8080
  app_ids: [8e6b1a4c-52d1-4d47-9d0c-3c6b6d1f2a11]
  upstreams:
    groups:
      blue: [http://127.0.0.1:3978]
` + gatewayExtra
}

// TestDefaults: a spec with only the required keys runs with the
// gateway's defaults, the one set of them (WithDefaults of a config that
// sets nothing).
func TestDefaults(t *testing.T) {
	cfg := mustConfig(t, minimal("worldwide", ""), "min.yaml")
	want := ingress.Config{Upstreams: ingress.Upstreams{Groups: cfg.Upstreams.Groups}}.WithDefaults()
	if diff := cmp.Diff(want.Limits, cfg.Limits); diff != "" {
		t.Errorf("limits (-defaults +spec):\n%s", diff)
	}
	if diff := cmp.Diff(want.Upstreams, cfg.Upstreams, cmpopts.IgnoreFields(ingress.Upstreams{}, "Groups")); diff != "" {
		t.Errorf("upstreams (-defaults +spec):\n%s", diff)
	}
	if cfg.AdminListen != ingress.DefaultAdminListen || cfg.Limits.ReadHeaderTimeout != ingress.DefaultReadHeaderTimeout {
		t.Errorf("defaults %+v", cfg)
	}
}

// TestGatewayDiagnostics: every problem of the gateway section is
// reported, each at its line and column.
func TestGatewayDiagnostics(t *testing.T) {
	src := botSpec + `gateway:
  listen: "localhost:8443"
  plain_http: true
  tls: {cert: a.crt, key: a.key}
  mode: block
  app_ids: ["", "x y"]
  sources:
    extra: [203.0.113.1/24]
    trusted_proxies: [0.0.0.0/0]
    proxy_protocl: true
  botauth:
    metadata_url: http://login.example/md
    algorithms: [HS256]
    clock_skew: 1h
  limits:
    max_body: 2MiB
    rate: -1
    read_header_timeout: soon
  upstreams:
    active: purple
    groups:
      blue: [ftp://127.0.0.1, "http://127.0.0.1:3978?x=1"]
      green: []
    health: {path: healthz}
  admin:
    listen: 127.0.0.1:99999
`
	_, ds := gateway(t, src, "bad.yaml")
	want := []string{
		"bad.yaml:8:11: gateway: listen address \"localhost:8443\": the host must be an IP address",
		"bad.yaml:10:8: gateway: give tls or plain_http: true, not both",
		"bad.yaml:11:9: gateway: mode \"block\": want enforce or report",
		"bad.yaml:12:13: gateway: app id \"\": empty or contains spaces",
		"bad.yaml:12:17: gateway: app id \"x y\": empty or contains spaces",
		"bad.yaml:14:13: gateway: prefix \"203.0.113.1/24\" has host bits set",
		"bad.yaml:15:23: gateway: trusted proxy 0.0.0.0/0 trusts every address",
		"bad.yaml:16:5: gateway.sources: unknown key \"proxy_protocl\" (did you mean \"proxy_protocol\"?)",
		"bad.yaml:18:19: gateway: metadata url \"http://login.example/md\": plain http is refused",
		"bad.yaml:19:18: gateway: algorithm \"HS256\": want one of RS256, RS384, RS512",
		"bad.yaml:20:17: gateway: clock skew 1h0m0s: at most 10m",
		"bad.yaml:22:15: gateway: size \"2MiB\": at most 1048576 bytes",
		"bad.yaml:23:11: gateway: rate -1: want requests per second per source",
		"bad.yaml:24:26: gateway: duration \"soon\"",
		"bad.yaml:26:13: gateway: active group \"purple\" is not one of blue, green",
		"bad.yaml:28:14: gateway: group \"blue\": upstream \"ftp://127.0.0.1\": want an http:// or https:// URL",
		"bad.yaml:28:31: gateway: group \"blue\": upstream \"http://127.0.0.1:3978?x=1\"",
		"bad.yaml:29:14: gateway: group \"green\" has no upstream URLs",
		"bad.yaml:30:20: gateway: health path \"healthz\": want an absolute path",
		"bad.yaml:32:13: gateway: listen address \"127.0.0.1:99999\": bad port",
	}
	got := ds.String()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("missing diagnostic %q", w)
		}
	}
	if t.Failed() {
		t.Logf("got:\n%s", got)
	}
}

// TestGatewayRequired: the section's required parts are named.
func TestGatewayRequired(t *testing.T) {
	src := botSpec + `gateway:
  listen: 127.0.0.1:8443
`
	_, ds := gateway(t, src, "req.yaml")
	for _, w := range []string{"no tls:", "no app_ids:", "no upstreams.groups:"} {
		if !strings.Contains(ds.String(), w) {
			t.Errorf("missing %q in\n%s", w, ds)
		}
	}
}

// TestNoSources: a spec without the messaging bot and without extra
// ranges admits nothing, which is an error; replace without extra too.
func TestNoSources(t *testing.T) {
	src := strings.Replace(minimal("worldwide", ""), "teams-messaging-bot:\n    roles:\n      bot: {addresses: [198.51.100.10]}",
		"teams-calling-bot:\n    roles:\n      bot: {addresses: [198.51.100.10]}", 1)
	_, ds := gateway(t, src, "calling.yaml")
	if !strings.Contains(ds.String(), "nothing to admit") {
		t.Errorf("diagnostics %s", ds)
	}
	_, ds = gateway(t, minimal("worldwide", "  sources: {replace: true}\n"), "r.yaml")
	if !strings.Contains(ds.String(), "sources.replace is set but sources.extra is empty") {
		t.Errorf("diagnostics %s", ds)
	}
}

// TestMissingFiles: named files that do not exist are errors at their
// keys.
func TestMissingFiles(t *testing.T) {
	dir := t.TempDir()
	src := strings.Replace(minimal("worldwide", ""), "  plain_http: true\n", "  tls: {cert: nope.crt, key: nope.key}\n", 1)
	name := filepath.Join(dir, "s.yaml")
	os.WriteFile(name, []byte(src), 0o600)
	_, ds := File(embedded(t), name)
	for _, w := range []string{"s.yaml:8:15: gateway:", "nope.crt", "s.yaml:8:30: gateway:", "nope.key"} {
		if !strings.Contains(ds.String(), w) {
			t.Errorf("missing %q in\n%s", w, ds)
		}
	}
}

// TestReplaceSources: with sources.replace, only the extra ranges are
// admitted.
func TestReplaceSources(t *testing.T) {
	cfg := mustConfig(t, minimal("worldwide", "  sources: {replace: true, extra: [203.0.113.0/24, \"2001:db8::/32\"]}\n"), "r.yaml")
	if cfg.Sources.Plan != nil {
		t.Errorf("plan ranges kept: %v", cfg.Sources.Plan.Prefixes())
	}
	for addr, want := range map[string]bool{"203.0.113.9": true, "2001:db8::1": true, "52.112.0.1": false} {
		if got := cfg.Sources.Extra.Contains(netip.MustParseAddr(addr)); got != want {
			t.Errorf("%s: %v, want %v", addr, got, want)
		}
	}
}

func TestPolicyConfig(t *testing.T) {
	src := `cloud: worldwide
integrations:
  teams-messaging-bot:
    roles:
      bot: {addresses: [198.51.100.10]}
gateway:
  listen: "127.0.0.1:8443"
  plain_http: true
  app_ids: [app]
  botauth:
    service_url_hosts: [smba.trafficmanager.net, "a.*.example"]
    tenants: [72F988BF-86F1-41AF-91AB-2D7CD011DB47, contoso.com]
  upstreams:
    active: blue
    groups: {blue: ["http://127.0.0.1:3978"]}
`
	_, ds := gateway(t, src, "p.yaml")
	for _, w := range []string{
		`p.yaml:11:50: gateway: host "a.*.example": a wildcard may only be the whole left-most label`,
		`p.yaml:12:53: gateway: tenant "contoso.com": want a tenant id`,
	} {
		if !strings.Contains(ds.String(), w) {
			t.Errorf("diagnostics:\n%s\nwant %q", ds, w)
		}
	}
	good := strings.NewReplacer(`, "a.*.example"`, "", ", contoso.com", "").Replace(src)
	cfg := mustConfig(t, good, "p.yaml")
	if got := cfg.Policy; len(got.ServiceURLHosts) != 1 || got.Tenants[0] != "72f988bf-86f1-41af-91ab-2d7cd011db47" {
		t.Errorf("policy %+v", got)
	}
}

func TestReusePort(t *testing.T) {
	for _, reuse := range []bool{false, true} {
		src := minimal("worldwide", "")
		if reuse {
			src = strings.Replace(src, "  plain_http: true\n", "  plain_http: true\n  reuse_port: true\n", 1)
		}
		cfg := mustConfig(t, src, "gw.yaml")
		if cfg.ReusePort != reuse {
			t.Errorf("reuse_port %v in the spec: config has %v", reuse, cfg.ReusePort)
		}
	}
}

// TestEmbeddedFile: the embedded catalog's configuration of a spec, and
// the spec's positioned errors as one error.
func TestEmbeddedFile(t *testing.T) {
	cfg, err := EmbeddedFile(copyExample(t))
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Sources.Plan.Contains(netip.MustParseAddr("52.112.0.1")) {
		t.Error("Teams range missing from the plan's sources")
	}
	dir := t.TempDir()
	name := filepath.Join(dir, "s.yaml")
	os.WriteFile(name, []byte(strings.Replace(minimal("worldwide", ""), "  plain_http: true\n", "  tls: {cert: nope.crt, key: nope.key}\n", 1)), 0o600)
	if _, err := EmbeddedFile(name); err == nil || !strings.Contains(err.Error(), "s.yaml:8:15") {
		t.Errorf("error %v, want one positioned at s.yaml:8:15", err)
	}
}

// TestFrontDoorCatalogTags: without sources.service_tags, a service tag
// among the trusted proxies is resolved from the catalog's service tags
// (catalog update --service-tags), so that the trust follows the catalog;
// a file the section names still comes first.
func TestFrontDoorCatalogTags(t *testing.T) {
	dir := t.TempDir()
	catDir := filepath.Join(dir, "catalog")
	os.MkdirAll(catDir, 0o755)
	tags, err := os.ReadFile("../../../testdata/data/ServiceTags_Public.changeNumber398.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(tags))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	// as catalog update --service-tags keeps it: the JSON, named by catalog.yaml
	os.WriteFile(filepath.Join(catDir, "ServiceTags_Public.json"), plain, 0o600)
	os.WriteFile(filepath.Join(catDir, "catalog.yaml"), []byte("service_tags:\n  Public:\n    file: ServiceTags_Public.json\n    change_number: 398\n"), 0o600)
	cat, ds := planfile.Catalog(catDir)
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	name := filepath.Join(dir, "fd.yaml")
	write := func(extra string) {
		os.WriteFile(name, []byte(minimal("worldwide", extra)), 0o600)
	}
	write("  sources:\n    trusted_proxies: [AzureFrontDoor.Backend]\n    front_door_ids: [a5b7c8d9-0000-4000-8000-000000000001]\n")
	cfg, ds := File(cat, name)
	if cfg == nil {
		t.Fatalf("Front Door spec with the catalog's tags refused:\n%s", ds)
	}
	if !cfg.Sources.TrustedProxies.Contains(netip.MustParseAddr("4.153.250.3")) || cfg.Sources.TrustedProxies.Contains(netip.MustParseAddr("192.0.2.1")) {
		t.Error("the catalog's AzureFrontDoor.Backend prefixes are not the trusted proxies")
	}
	// the embedded catalog carries no service tags
	if cfg, ds := File(embedded(t), name); cfg != nil || !strings.Contains(ds.String(), "catalog update --service-tags") {
		t.Errorf("without tags anywhere: want an error naming both ways, got\n%s", ds)
	}
	// a tag the catalog's file does not have
	write("  sources:\n    trusted_proxies: [AzureFrontDor.Backend]\n")
	if cfg, ds := File(cat, name); cfg != nil || !strings.Contains(ds.String(), `"AzureFrontDor.Backend"`) {
		t.Errorf("unknown tag: got\n%s", ds)
	}
	// the section's own file comes first, even when it is missing
	write("  sources:\n    trusted_proxies: [AzureFrontDoor.Backend]\n    service_tags: nope.json\n    front_door_ids: [a5b7c8d9-0000-4000-8000-000000000001]\n")
	if cfg, ds := File(cat, name); cfg != nil || !strings.Contains(ds.String(), `nope.json": no such file`) {
		t.Errorf("missing sources.service_tags with catalog tags: got\n%s", ds)
	}
}

// TestFrontDoor: trusted proxies may name a service tag, resolved from
// the service tags file, and trusting Front Door's shared backend ranges
// needs the profile's id.
func TestFrontDoor(t *testing.T) {
	dir := t.TempDir()
	tags, err := os.ReadFile("../../../testdata/data/ServiceTags_Public.changeNumber398.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "tags.json.gz"), tags, 0o600)
	load := func(extra string) (*ingress.Config, string) {
		name := filepath.Join(dir, "fd.yaml")
		os.WriteFile(name, []byte(minimal("worldwide", extra)), 0o600)
		cfg, ds := File(embedded(t), name)
		return cfg, ds.String()
	}
	cfg, ds := load("  sources:\n    trusted_proxies: [AzureFrontDoor.Backend]\n    service_tags: tags.json.gz\n    front_door_ids: [A5B7C8D9-0000-4000-8000-000000000001]\n")
	if cfg == nil {
		t.Fatalf("Front Door spec refused:\n%s", ds)
	}
	// 4.153.250.0/29 is the first prefix of AzureFrontDoor.Backend in
	// change 398.
	if !cfg.Sources.TrustedProxies.Contains(netip.MustParseAddr("4.153.250.3")) || cfg.Sources.TrustedProxies.Contains(netip.MustParseAddr("192.0.2.1")) {
		t.Error("the service tag's prefixes are not the trusted proxies")
	}
	if diff := cmp.Diff([]string{"a5b7c8d9-0000-4000-8000-000000000001"}, cfg.Sources.FrontDoorIDs); diff != "" {
		t.Errorf("front door ids (-want +got):\n%s", diff)
	}
	for _, tc := range []struct {
		extra, want string
	}{
		{"  sources:\n    trusted_proxies: [AzureFrontDoor.Backend]\n    service_tags: tags.json.gz\n", "trusting AzureFrontDoor.Backend needs sources.front_door_ids"},
		{"  sources:\n    trusted_proxies: [AzureFrontDoor.Backend]\n    front_door_ids: [a5b7c8d9-0000-4000-8000-000000000001]\n", "needs sources.service_tags"},
		{"  sources:\n    trusted_proxies: [AzureFrontDor.Backend]\n    service_tags: tags.json.gz\n", `"AzureFrontDor.Backend"`},
		{"  sources:\n    trusted_proxies: [192.0.2.0/24]\n    front_door_ids: [not-a-guid]\n", `front door id "not-a-guid": want the profile's id`},
		{"  sources:\n    front_door_ids: [a5b7c8d9-0000-4000-8000-000000000001]\n", "sources.front_door_ids needs sources.trusted_proxies"},
		{"  sources:\n    trusted_proxies: [AzureFrontDoor.Backend]\n    service_tags: nope.json\n    front_door_ids: [a5b7c8d9-0000-4000-8000-000000000001]\n", `nope.json": no such file`},
		{"  limits: {body_timeout: 40s}\n", "body_timeout 40s exceeds read_timeout 30s"},
		{"  admin: {listen: 0.0.0.0:9091}\n", `admin listener "0.0.0.0:9091" listens on every address`},
	} {
		if cfg, ds := load(tc.extra); cfg != nil || !strings.Contains(ds, tc.want) {
			t.Errorf("%q: want an error containing %q, got\n%s", tc.extra, tc.want, ds)
		}
	}
}

// TestFleetLimits: with limits.replicas the spec's rate and burst are the
// fleet's, and each replica enforces its share; without it they are each
// replica's own.
func TestFleetLimits(t *testing.T) {
	one := mustConfig(t, minimal("worldwide", "  limits: {rate: 300, burst: 600}\n"), "one.yaml")
	if one.Limits.Rate != 300 || one.Limits.Burst != 600 || one.Limits.Replicas != 1 {
		t.Errorf("without replicas: %+v", one.Limits)
	}
	fleet := mustConfig(t, minimal("worldwide", "  limits: {rate: 300, burst: 601, replicas: 3}\n"), "fleet.yaml")
	if fleet.Limits.Rate != 100 || fleet.Limits.Burst != 201 || fleet.Limits.Replicas != 3 {
		t.Errorf("replicas 3: rate %v burst %d replicas %d, want 100, 201, 3", fleet.Limits.Rate, fleet.Limits.Burst, fleet.Limits.Replicas)
	}
}
