package squid_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/render/squid"
	"github.com/teamsgate/teamsgate/internal/testutil"
	"github.com/teamsgate/teamsgate/internal/view"
)

// goldenCase is one render of an example spec, compared with
// testdata/EXAMPLE.VARIANT.conf (or .error.txt).
type goldenCase struct {
	example string
	variant string
	scope   string
	proxy   string
	wantErr bool
}

var goldenCases = []goldenCase{
	{example: "messaging-bot", variant: "perimeter"},
	{example: "calling-bot", variant: "bot", scope: "bot", proxy: "192.0.2.3:8080"},
	{example: "pexip", variant: "perimeter"},
	{example: "pexip", variant: "conferencing-nodes", scope: "conferencing-nodes", wantErr: true},
	{example: "teamspro", variant: "perimeter"},
	{example: "combined", variant: "perimeter"},
}

func (c goldenCase) options() view.Options {
	opt := view.Options{Scope: c.scope}
	if c.proxy != "" {
		opt.Proxy = netip.MustParseAddrPort(c.proxy)
	}
	return opt
}

func TestGolden(t *testing.T) {
	covered := map[string]bool{}
	for _, c := range goldenCases {
		covered[c.example] = true
		t.Run(c.example+"/"+c.variant, func(t *testing.T) {
			base := filepath.Join("testdata", c.example+"."+c.variant)
			out, ds := squid.New().Render(testutil.Plan(t, testutil.ExamplePath(c.example), ""), c.options())
			if c.wantErr {
				if !ds.HasErrors() {
					t.Fatal("render succeeded, want an error")
				}
				testutil.Golden(t, base+".error.txt", []byte(ds.Err().Error()+"\n"))
				return
			}
			if ds.HasErrors() {
				t.Fatalf("render: %s", ds)
			}
			got := out.Files[squid.FileName]
			if len(out.Files) != 1 || got == nil {
				t.Fatalf("%d files, want only %s", len(out.Files), squid.FileName)
			}
			testutil.Golden(t, base+".conf", got)
			again, _ := squid.New().Render(testutil.Plan(t, testutil.ExamplePath(c.example), ""), c.options())
			if !bytes.Equal(got, again.Files[squid.FileName]) {
				t.Error("rendering twice gave different output")
			}
			checkOrder(t, got)
			parse(t, got)
		})
	}
	for _, ex := range testutil.Examples() {
		if !covered[ex] {
			t.Errorf("example %s has no golden render", ex)
		}
	}
}

// checkOrder checks the shape every rendered file must have: the internal
// ranges denied before any allow, deny all last, and no dstdomain with a
// leading dot (which would widen a name to its subdomains).
func checkOrder(t *testing.T, conf []byte) {
	t.Helper()
	var access []string
	for _, l := range strings.Split(string(conf), "\n") {
		if strings.HasPrefix(l, "http_access ") {
			access = append(access, l)
		}
		if strings.Contains(l, " dstdomain ") && regexp.MustCompile(` \.[a-z]`).MatchString(l) {
			t.Errorf("dstdomain with a leading dot: %s", l)
		}
	}
	if len(access) < 3 || access[0] != "http_access deny tg_internal" || access[len(access)-1] != "http_access deny all" {
		t.Errorf("http_access order:\n%s", strings.Join(access, "\n"))
	}
	if !bytes.Contains(conf, []byte("ssl_bump peek tg_step1\n")) || !bytes.HasSuffix(conf, []byte("ssl_bump terminate all\n")) {
		t.Error("no peek at step 1 or no terminate all last")
	}
}

// e2e reports whether a missing tool must fail the test (TEAMSGATE_E2E=1,
// set by CI) rather than skip it.
func e2e() bool { return os.Getenv("TEAMSGATE_E2E") == "1" }

// parse runs squid -k parse on the configuration, with a throw-away
// certificate in place of CertFile. Any WARNING, ERROR or FATAL fails.
func parse(t *testing.T, conf []byte) {
	t.Helper()
	bin, err := exec.LookPath("squid")
	if err != nil {
		if e2e() {
			t.Fatal("squid is not installed (TEAMSGATE_E2E=1): apt-get install squid-openssl")
		}
		t.Skip("squid is not installed; apt-get install squid-openssl to validate the rendered configuration")
	}
	dir := t.TempDir()
	cert := filepath.Join(dir, "peek.pem")
	if err := os.WriteFile(cert, selfSigned(t), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "squid.conf")
	conf = bytes.ReplaceAll(conf, []byte(squid.CertFile), []byte(cert))
	if err := os.WriteFile(file, conf, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-k", "parse", "-f", file).CombinedOutput()
	if err != nil {
		t.Fatalf("squid -k parse: %v\n%s", err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "WARNING") || strings.Contains(l, "ERROR") || strings.Contains(l, "FATAL") {
			t.Errorf("squid -k parse: %s", l)
		}
	}
}

func selfSigned(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "teamsgate test peek"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})...)
}

// TestWildcardRegexIsOneLabel checks the regular expression rendered for a
// wildcard against the plan's own matcher, with Go's regexp standing in for
// Squid's POSIX one (the expressions use only anchors, a bracket
// expression and escaped dots, which both read alike).
func TestWildcardRegexIsOneLabel(t *testing.T) {
	out, ds := squid.New().Render(testutil.Plan(t, testutil.ExamplePath("teamspro"), ""), view.Options{})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	conf := string(out.Files[squid.FileName])
	re := regexp.MustCompile(`(?m)^acl tg\d+_dstre dstdom_regex -n -i (.*)$`)
	ms := re.FindAllStringSubmatch(conf, -1)
	if len(ms) == 0 {
		t.Fatal("no dstdom_regex")
	}
	for _, m := range ms {
		for _, expr := range strings.Fields(m[1]) {
			domain := strings.ReplaceAll(strings.TrimSuffix(strings.TrimPrefix(expr, `^[^.]+\.`), "$"), `\.`, ".")
			h := model.MustParseHost("*." + domain)
			rx := regexp.MustCompile("(?i)" + expr)
			for _, name := range []string{"a." + domain, "A." + strings.ToUpper(domain), domain, "a.b." + domain, "a" + domain, "a." + domain + ".evil.example"} {
				if got, want := rx.MatchString(name), h.Matches(name); got != want {
					t.Errorf("%s on %q = %v, the plan says %v", expr, name, got, want)
				}
			}
		}
	}
}

func TestAddressFlowsAreListedNotRendered(t *testing.T) {
	out, ds := squid.New().Render(testutil.Plan(t, testutil.ExamplePath("pexip"), ""), view.Options{})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	conf := string(out.Files[squid.FileName])
	for _, want := range []string{
		"# pexip-teams-connector.cn-to-instance.media: not rendered, squid filters host names and this rule has none",
		"# pexip-teams-connector.instance-to-cn.media: not rendered, the destination is the machines of role conferencing-nodes",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("header lacks %q", want)
		}
	}
	if !strings.Contains(conf, "acl tg1_dst dstdomain -n contoso-tc-eh.servicebus.windows.net") || !strings.Contains(conf, "acl tg1_port port 5671") {
		t.Errorf("event hub flow on 5671 not rendered:\n%s", conf)
	}
}

func TestPortEighty(t *testing.T) {
	out, ds := squid.New().Render(testutil.Plan(t, testutil.ExamplePath("calling-bot"), ""), view.Options{})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	conf := string(out.Files[squid.FileName])
	if !regexp.MustCompile(`(?m)^http_access allow !CONNECT tg\d+_src tg\d+_http tg\d+_dst$`).MatchString(conf) {
		t.Errorf("no plain HTTP allow for the port 80 flows:\n%s", conf)
	}
	if strings.Contains(conf, "port 80 443") {
		t.Error("CONNECT allowed to port 80")
	}
}

func TestListenPortFromProxy(t *testing.T) {
	out, ds := squid.New().Render(testutil.Plan(t, testutil.ExamplePath("teamspro"), ""), view.Options{Proxy: netip.MustParseAddrPort("192.0.2.3:8080")})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	if !bytes.Contains(out.Files[squid.FileName], []byte("\nhttp_port 8080 ssl-bump ")) {
		t.Error("http_port does not take the proxy's port")
	}
}
