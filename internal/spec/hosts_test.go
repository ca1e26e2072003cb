package spec

import (
	"strings"
	"testing"
)

// TestHostsRefuseAddresses: an address under hosts: is an error at its
// position that says where it goes, not a host name "192.0.2.5".
func TestHostsRefuseAddresses(t *testing.T) {
	cat := embedded(t)
	for _, h := range []string{"192.0.2.5", "2001:db8::5", "[2001:db8::5]", "192.0.2.0/24"} {
		t.Run(h, func(t *testing.T) {
			src := "cloud: worldwide\nintegrations:\n  teams-messaging-bot:\n    roles:\n      bot:\n        addresses: [198.51.100.10]\n        hosts: [\"" + h + "\"]\n"
			_, ds := Parse([]byte(src), "deploy.yaml", cat)
			want := `deploy.yaml:7:17: teams-messaging-bot: role "bot": hosts: "` + h + `" is an IP address or prefix, not a host name; put it under addresses:`
			if !ds.HasErrors() || !strings.Contains(ds.String(), want) {
				t.Errorf("diagnostics:\n%s\nwant %q", ds, want)
			}
		})
	}
}
