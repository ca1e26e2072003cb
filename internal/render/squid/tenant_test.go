package squid_test

import (
	"bytes"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/teamsgate/teamsgate/internal/render/squid"
	"github.com/teamsgate/teamsgate/internal/testutil"
	"github.com/teamsgate/teamsgate/internal/view"
)

const (
	trContext = "9188040d-6c67-4c5b-b112-36a304b66dad"
	// trSection puts tenant restrictions in force.
	trSection = "tenant_restrictions:\n  tenants: [contoso.com]\n  context: " + trContext + "\n"
	// trOff is the same section, not in force.
	trOff = "tenant_restrictions:\n  enabled: false\n  tenants: [contoso.com]\n  context: " + trContext + "\n"

	// messagingBot reaches login.microsoftonline.com by its exact name.
	messagingBot = "cloud: worldwide\nintegrations:\n  teams-messaging-bot:\n    roles: { bot: { addresses: [198.51.100.1] } }\n    parameters: { app-type: multi-tenant }\n"
	// botAndClients adds TeamsPro clients, which reach login.windows.net
	// and login.microsoft.com through the wildcards *.windows.net and
	// *.microsoft.com: two groups, one with exact names, one with
	// wildcards.
	botAndClients = messagingBot + "  teamspro-saas:\n    roles: { clients: { addresses: [192.0.2.128/25] } }\n"
)

// renderSpec plans spec text and renders it, failing the test on error.
func renderSpec(t *testing.T, src string, opt view.Options) []byte {
	t.Helper()
	out, ds := squid.New().Render(testutil.PlanBytes(t, src, ""), opt)
	if ds.HasErrors() {
		t.Fatalf("render: %s", ds)
	}
	conf := out.Files[squid.FileName]
	if conf == nil {
		t.Fatalf("no %s", squid.FileName)
	}
	return conf
}

// lines returns the lines of conf that start with prefix.
func lines(conf []byte, prefix string) []string {
	var out []string
	for _, l := range strings.Split(string(conf), "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}

// parseTenant runs squid -k parse on a configuration that decrypts: the
// throw-away certificate of parse, a CA, stands in for TenantCAFile.
func parseTenant(t *testing.T, conf []byte) {
	t.Helper()
	parse(t, bytes.ReplaceAll(conf, []byte(squid.TenantCAFile), []byte(squid.CertFile)))
}

// TestTenantRestrictions checks what the file does for the plan's tenant
// restrictions: decrypt TLS to the sign-in hosts only, for the clients and
// ports that may reach them, splice everything else, and set both headers
// with the plan's values on the sign-in hosts after removing the client's.
func TestTenantRestrictions(t *testing.T) {
	tests := []struct {
		name       string
		spec       string
		opt        view.Options
		wantBump   []string
		wantSplice []string
		wantAccess []string
		wantTenant string
	}{
		{
			name:       "exact name",
			spec:       messagingBot + trSection,
			wantBump:   []string{"ssl_bump bump tg1_src tg1_port tg1_sni tg_tr_sni"},
			wantSplice: []string{"ssl_bump splice tg1_src tg1_port tg1_sni"},
			wantAccess: []string{
				"http_access deny tg_internal",
				"http_access allow CONNECT tg1_src tg1_port tg1_dst",
				"http_access allow !CONNECT tg1_src tg1_port tg1_dst tg_tr_dst tg_tr_https",
				"http_access deny all",
			},
			wantTenant: "contoso.com,botframework.com",
		},
		{
			name:     "exact name and wildcards",
			spec:     botAndClients + trSection,
			wantBump: []string{"ssl_bump bump tg1_src tg1_port tg1_sni tg_tr_sni", "ssl_bump bump tg2_src tg2_port tg2_snire tg_tr_sni"},
			wantSplice: []string{
				"ssl_bump splice tg1_src tg1_port tg1_sni",
				"ssl_bump splice tg2_src tg2_port tg2_sni",
				"ssl_bump splice tg2_src tg2_port tg2_snire",
			},
			wantAccess: []string{
				"http_access deny tg_internal",
				"http_access allow CONNECT tg1_src tg1_port tg1_dst",
				"http_access allow CONNECT tg2_src tg2_port tg2_dst",
				"http_access allow CONNECT tg2_src tg2_port tg2_dstre",
				"http_access allow !CONNECT tg1_src tg1_port tg1_dst tg_tr_dst tg_tr_https",
				"http_access allow !CONNECT tg2_src tg2_port tg2_dstre tg_tr_dst tg_tr_https",
				"http_access deny all",
			},
			wantTenant: "contoso.com,botframework.com",
		},
		{
			// A --scope render of a single-tenant calling bot: the
			// role's own outbound flows, the spec's tenants only.
			name:     "scope",
			spec:     "cloud: worldwide\nintegrations:\n  teams-calling-bot:\n    roles: { bot: { addresses: [198.51.100.2] } }\n    parameters: { app-type: single-tenant, app-tenant: contoso.com }\n" + trSection,
			opt:      view.Options{Scope: "bot"},
			wantBump: []string{"ssl_bump bump tg1_src tg1_port tg1_sni tg_tr_sni"},
			wantSplice: []string{
				"ssl_bump splice tg1_src tg1_port tg1_sni",
				"ssl_bump splice tg1_src tg1_port tg1_snire",
				"ssl_bump splice tg2_src tg2_port tg2_sni",
				"ssl_bump splice tg2_src tg2_port tg2_snire",
			},
			wantTenant: "contoso.com",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conf := renderSpec(t, tt.spec, tt.opt)
			checkOrder(t, conf)

			bump := lines(conf, "ssl_bump bump")
			if diff := cmp.Diff(tt.wantBump, bump); diff != "" {
				t.Errorf("ssl_bump bump (-want +got):\n%s", diff)
			}
			// Every bump is limited to the sign-in hosts' SNI.
			for _, l := range bump {
				if !strings.HasSuffix(l, " tg_tr_sni") {
					t.Errorf("bump not limited to the sign-in hosts: %s", l)
				}
			}
			if diff := cmp.Diff(tt.wantSplice, lines(conf, "ssl_bump splice")); diff != "" {
				t.Errorf("ssl_bump splice (-want +got):\n%s", diff)
			}
			// peek at step 1, the bumps before the splices, terminate
			// last: Squid takes the first ssl_bump rule that matches.
			ssl := lines(conf, "ssl_bump ")
			want := append(append(append([]string{"ssl_bump peek tg_step1"}, tt.wantBump...), tt.wantSplice...), "ssl_bump terminate all")
			if diff := cmp.Diff(want, ssl); diff != "" {
				t.Errorf("ssl_bump order (-want +got):\n%s", diff)
			}
			if tt.wantAccess != nil {
				if diff := cmp.Diff(tt.wantAccess, lines(conf, "http_access ")); diff != "" {
					t.Errorf("http_access (-want +got):\n%s", diff)
				}
			}

			const hosts = "login.microsoftonline.com login.microsoft.com login.windows.net"
			for _, w := range []string{
				"acl tg_tr_dst dstdomain -n " + hosts + "\n",
				"acl tg_tr_sni ssl::server_name --client-requested " + hosts + "\n",
				"acl tg_tr_https proto HTTPS\n",
				"\nhttp_port " + "3128" + " ssl-bump tls-cert=" + squid.TenantCAFile + " generate-host-certificates=on dynamic_cert_mem_cache_size=4MB\n",
				"# tenant restrictions (v1): TLS to " + hosts + " only is decrypted, to set Restrict-Access-To-Tenants: " + tt.wantTenant + " and Restrict-Access-Context: " + trContext + "\n",
			} {
				if !bytes.Contains(conf, []byte(w)) {
					t.Errorf("no %q in:\n%s", w, conf)
				}
			}
			// Microsoft's exclusions from break-and-inspect are in no
			// ACL of the file.
			for _, l := range lines(conf, "acl ") {
				if strings.Contains(l, "device.login.microsoftonline.com") || strings.Contains(l, "enterpriseregistration.windows.net") {
					t.Errorf("an excluded host in an ACL: %s", l)
				}
			}
			if bytes.Contains(conf, []byte(squid.CertFile)) {
				t.Errorf("the peek certificate %s is named where the CA %s stands in for it", squid.CertFile, squid.TenantCAFile)
			}

			// The client's copies removed, whatever the spelling; the
			// plan's values added on the sign-in hosts only.
			wantHeaders := []string{
				"request_header_access Restrict-Access-To-Tenants deny all",
				"request_header_access Restrict_Access_To_Tenants deny all",
				"request_header_access Restrict-Access-Context deny all",
				"request_header_access Restrict_Access_Context deny all",
				`request_header_add Restrict-Access-To-Tenants "` + tt.wantTenant + `" tg_tr_dst`,
				`request_header_add Restrict-Access-Context "` + trContext + `" tg_tr_dst`,
			}
			if diff := cmp.Diff(wantHeaders, lines(conf, "request_header_")); diff != "" {
				t.Errorf("header rules (-want +got):\n%s", diff)
			}

			again := renderSpec(t, tt.spec, tt.opt)
			if !bytes.Equal(conf, again) {
				t.Error("rendering twice gave different output")
			}
			parseTenant(t, conf)
		})
	}
}

// TestTenantRestrictionsAbsent checks that a plan without tenant
// restrictions in force renders nothing of them: the same file, byte for
// byte, whether the spec has no section or one with enabled: false.
func TestTenantRestrictionsAbsent(t *testing.T) {
	for _, base := range []string{messagingBot, botAndClients} {
		without := renderSpec(t, base, view.Options{})
		off := renderSpec(t, base+trOff, view.Options{})
		if !bytes.Equal(without, off) {
			t.Errorf("enabled: false changed the file:\n%s", cmp.Diff(string(without), string(off)))
		}
		for _, no := range []string{"tg_tr_", "ssl_bump bump", "request_header_", "Restrict-Access", "Restrict_Access", squid.TenantCAFile, "generate-host-certificates=on", "tenant restrictions", "Tenant restrictions", "decrypted"} {
			if bytes.Contains(without, []byte(no)) {
				t.Errorf("without tenant restrictions the file has %q", no)
			}
		}
		if !bytes.Contains(without, []byte("\nhttp_port 3128 ssl-bump tls-cert="+squid.CertFile+" generate-host-certificates=off\n")) {
			t.Errorf("without tenant restrictions: want the peek-only http_port")
		}
	}
}

// TestTenantRestrictionsNoSignIn: in force, but no flow of the file goes
// to a sign-in host (the US Government sign-in host is not one of them):
// nothing is decrypted and the header says so.
func TestTenantRestrictionsNoSignIn(t *testing.T) {
	spec := "cloud: gcch\nintegrations:\n  teams-messaging-bot:\n    roles: { bot: { addresses: [198.51.100.1] } }\n    parameters: { app-type: multi-tenant }\n"
	conf := renderSpec(t, spec+trSection, view.Options{})
	note := "# tenant restrictions: no flow of this file goes to a sign-in host (login.microsoftonline.com login.microsoft.com login.windows.net); nothing is decrypted and no header is set\n"
	if !bytes.Contains(conf, []byte(note)) {
		t.Errorf("no note %q in:\n%s", note, conf)
	}
	// Apart from the note and the plan's warning, the file is the one
	// without tenant restrictions.
	got := string(conf)
	for _, l := range []string{note, "# plan warning: tenant_restrictions: no planned flow goes to a sign-in host"} {
		i := strings.Index(got, l)
		if i < 0 {
			t.Fatalf("no %q in:\n%s", l, got)
		}
		got = got[:i] + got[i+strings.Index(got[i:], "\n")+1:]
	}
	if want := string(renderSpec(t, spec, view.Options{})); got != want {
		t.Errorf("file differs from the one without tenant restrictions:\n%s", cmp.Diff(want, got))
	}
	checkOrder(t, conf)
	parse(t, conf)
}

// TestTenantRestrictionsOnlySignInDecrypted checks, for the combined
// example with tenant restrictions, that every ssl_bump bump line is
// limited to the sign-in hosts, and that each group which reaches a
// sign-in host by CONNECT has one.
func TestTenantRestrictionsOnlySignInDecrypted(t *testing.T) {
	conf := renderSpec(t, testutil.ExampleOutside(t, "combined")+trSection, view.Options{})
	checkOrder(t, conf)
	bumped := map[string]bool{}
	for _, l := range lines(conf, "ssl_bump bump ") {
		if !strings.HasSuffix(l, " tg_tr_sni") {
			t.Errorf("bump not limited to the sign-in hosts: %s", l)
		}
		bumped[regexp.MustCompile(`tg\d+_`).FindString(strings.TrimPrefix(l, "ssl_bump bump "))] = true
	}
	// The groups whose names take in a sign-in host, exactly or by a
	// wildcard.
	signIn := regexp.MustCompile(`(?m)^acl (tg\d+_)sni(?:re)? ssl::server_name(?:_regex)? --client-requested (?:-i )?.*(?:login\.microsoftonline\.com|\^\[\^\.\]\+\\\.windows\\\.net\$|\^\[\^\.\]\+\\\.microsoft\\\.com\$)`)
	want := map[string]bool{}
	for _, m := range signIn.FindAllStringSubmatch(string(conf), -1) {
		want[m[1]] = true
	}
	if len(want) == 0 {
		t.Fatal("no group reaches a sign-in host")
	}
	if diff := cmp.Diff(want, bumped); diff != "" {
		t.Errorf("groups bumped (-want +got):\n%s", diff)
	}
	parseTenant(t, conf)
}

// TestTenantGolden compares a render with tenant restrictions with
// testdata/tenant-restrictions.perimeter.conf (-update rewrites it).
func TestTenantGolden(t *testing.T) {
	conf := renderSpec(t, "name: contoso-tr\n"+botAndClients+trSection, view.Options{})
	testutil.Golden(t, filepath.Join("testdata", "tenant-restrictions.perimeter.conf"), conf)
	parseTenant(t, conf)
}
