package cli

import (
	"strings"
	"testing"
)

const serveSpec = `name: t
cloud: worldwide
integrations:
  teams-messaging-bot:
    roles:
      bot: {addresses: [198.51.100.10]}
gateway:
  plain_http: true
  listen: 127.0.0.1:18943
  reuse_port: true
  app_ids: [8e6b1a4c-52d1-4d47-9d0c-3c6b6d1f2a11]
  upstreams:
    groups:
      blue: [http://127.0.0.1:3978]
`

func TestServeCheckAdminListen(t *testing.T) {
	spec := writeFile(t, t.TempDir(), "gw.yaml", serveSpec)
	code, out, errs := run(t, "serve", "--check", "--admin-listen", "127.0.0.1:19091", spec)
	if code != ExitOK || !strings.Contains(out, "gateway configuration ok") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	for _, bad := range []string{"nope", "127.0.0.1"} {
		code, _, errs = run(t, "serve", "--check", "--admin-listen", bad, spec)
		if code != ExitError || !strings.Contains(errs, `--admin-listen "`+bad+`": want host:port`) {
			t.Errorf("--admin-listen %s: exit %d, stderr %q", bad, code, errs)
		}
	}
}

// TestServeCheckAdminOffLoopback: --admin-listen off loopback is refused
// like gateway.admin.listen is, unless the spec gives an admin token file,
// which is then read and checked.
func TestServeCheckAdminOffLoopback(t *testing.T) {
	dir := t.TempDir()
	spec := writeFile(t, dir, "gw.yaml", serveSpec)
	for _, addr := range []string{"0.0.0.0:9091", "[::]:9091", ":9091", "192.0.2.1:9091"} {
		code, out, errs := run(t, "serve", spec, "--admin-listen", addr, "--check")
		if code != ExitError || !strings.Contains(errs, `admin listener "`+addr+`"`) || !strings.Contains(errs, "token") {
			t.Errorf("--admin-listen %s without a token: exit %d\nstdout: %s\nstderr: %s", addr, code, out, errs)
		}
	}

	withToken := writeFile(t, dir, "gw-token.yaml", serveSpec+"  admin:\n    token_file: admin.token\n")
	writeFile(t, dir, "admin.token", "0123456789abcdef0123456789abcdef\n")
	code, out, errs := run(t, "serve", withToken, "--admin-listen", "0.0.0.0:9091", "--check")
	if code != ExitOK || !strings.Contains(out, "gateway configuration ok") {
		t.Fatalf("--admin-listen 0.0.0.0:9091 with a token: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}

	writeFile(t, dir, "admin.token", "short\n")
	code, _, errs = run(t, "serve", withToken, "--admin-listen", "0.0.0.0:9091", "--check")
	if code != ExitError || !strings.Contains(errs, "shorter than 16") || strings.Contains(errs, "short\n") {
		t.Errorf("with a short token: exit %d\nstderr: %s", code, errs)
	}
}

// egressSection is an egress: section on loopback ports the tests choose.
// Its name server is a loopback port nothing answers on, so that no name
// a test asks for leaves the machine.
func egressSection(listen, admin string) string {
	return "egress:\n  listen: " + listen + "\n  scope: [teams-messaging-bot/bot]\n  dns: [127.0.0.1:9]\n  limits: {dns_timeout: 1s}\n  admin:\n    listen: " + admin + "\n"
}

func TestServeCheckSections(t *testing.T) {
	dir := t.TempDir()
	both := writeFile(t, dir, "both.yaml", serveSpec+egressSection("127.0.0.1:13128", "127.0.0.1:19092"))
	code, out, errs := run(t, "serve", "--check", both)
	if code != ExitOK || !strings.Contains(out, "gateway configuration ok") ||
		!strings.Contains(out, "egress configuration ok: listen 127.0.0.1:13128, mode enforce, 4 allowed flows (teams-messaging-bot/bot)") {
		t.Fatalf("both sections: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}

	neither := writeFile(t, dir, "neither.yaml", serveSpec[:strings.Index(serveSpec, "gateway:")])
	code, out, errs = run(t, "serve", "--check", neither)
	if code != ExitError || !strings.Contains(errs, "neither a gateway: nor an egress: section") || out != "" {
		t.Errorf("no section: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}

	// a problem in either section fails the whole check, positioned
	bad := writeFile(t, dir, "bad.yaml", serveSpec+egressSection("127.0.0.1:13128", "127.0.0.1:19092")+"  mode: enforcing\n")
	code, out, errs = run(t, "serve", "--check", bad)
	if code != ExitError || !strings.Contains(errs, "bad.yaml:22:9:") || !strings.Contains(errs, "enforcing") || out != "" {
		t.Errorf("bad egress mode: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}

	code, _, errs = run(t, "serve", "--check", "--egress-admin-listen", "nope", both)
	if code != ExitError || !strings.Contains(errs, `--egress-admin-listen "nope": want host:port`) {
		t.Errorf("--egress-admin-listen nope: exit %d, stderr %q", code, errs)
	}
}

// TestServeCheckTrustFromCatalog: a gateway trusting Front Door by its
// service tag takes the tag's prefixes from the catalog that catalog
// update --service-tags filled, without a sources.service_tags file.
func TestServeCheckTrustFromCatalog(t *testing.T) {
	dir := t.TempDir()
	cat := dir + "/catalog"
	spec := writeFile(t, dir, "gw.yaml", serveSpec+"  sources:\n    trusted_proxies: [AzureFrontDoor.Backend]\n    front_door_ids: [a5b7c8d9-0000-4000-8000-000000000001]\n")
	code, _, errs := run(t, "serve", "--check", spec)
	if code != ExitError || !strings.Contains(errs, "catalog update --service-tags") {
		t.Fatalf("without service tags: exit %d, stderr %q", code, errs)
	}
	if code, _, errs := run(t, "catalog", "update", "--dir", cat, "--service-tags", tagsReal); code != ExitOK {
		t.Fatalf("catalog update: exit %d: %s", code, errs)
	}
	code, out, errs := run(t, "serve", "--check", "--catalog", cat, spec)
	if code != ExitOK || !strings.Contains(out, "gateway configuration ok") {
		t.Fatalf("with the catalog's tags: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
}
