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
