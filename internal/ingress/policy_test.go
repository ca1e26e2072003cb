package ingress

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/teamsgate/teamsgate/internal/ingress/ingresstest"
	"github.com/teamsgate/teamsgate/internal/model"
)

// TestPolicies checks the optional checks after a valid token: the
// serviceUrl host allow-list (botauth.md §6.10) and the tenant allow-list
// (§6.12).
func TestPolicies(t *testing.T) {
	const tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	h := newHarness(t, withConfig(func(h *harness, c *Config) {
		c.Policy = Policy{
			ServiceURLHosts: []model.Host{model.MustParseHost("smba.trafficmanager.net"), model.MustParseHost("*.teams.example")},
			Tenants:         []string{tenant},
		}
	}))
	now := time.Now()
	activity := func(serviceURL, tenantID string) []byte {
		var m map[string]any
		if err := json.Unmarshal(ingresstest.Activity("msteams", serviceURL), &m); err != nil {
			t.Fatal(err)
		}
		if tenantID != "" {
			m["channelData"] = map[string]any{"tenant": map[string]string{"id": tenantID}}
		}
		b, _ := json.Marshal(m)
		return b
	}
	token := func(serviceURL string) string {
		c := ingresstest.ValidClaims(now)
		c.ServiceURL = serviceURL
		return "Bearer " + ingresstest.Sign(t, mainKey, "k1", c)
	}
	tests := []struct {
		name, serviceURL, tenant string
		status                   int
		reason                   string
	}{
		{name: "allowed host and tenant", serviceURL: ingresstest.ServiceURL, tenant: tenant, status: 200, reason: "ok"},
		{name: "tenant id in upper case", serviceURL: ingresstest.ServiceURL, tenant: "72F988BF-86F1-41AF-91AB-2D7CD011DB47", status: 200, reason: "ok"},
		{name: "wildcard host", serviceURL: "https://emea.teams.example/x/", tenant: tenant, status: 200, reason: "ok"},
		{name: "host outside the list, token and body agree", serviceURL: "https://evil.example/teams/", tenant: tenant, status: 403, reason: ReasonServiceURLHost},
		{name: "two labels under the wildcard", serviceURL: "https://a.b.teams.example/", tenant: tenant, status: 403, reason: ReasonServiceURLHost},
		{name: "plain http serviceUrl", serviceURL: "http://smba.trafficmanager.net/teams/", tenant: tenant, status: 403, reason: ReasonServiceURLHost},
		{name: "other tenant", serviceURL: ingresstest.ServiceURL, tenant: "00000000-0000-0000-0000-000000000001", status: 403, reason: ReasonTenant},
		{name: "no tenant", serviceURL: ingresstest.ServiceURL, status: 403, reason: ReasonTenant},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := h.bots["blue-1"].Requests()
			resp, body := h.post("", activity(tc.serviceURL, tc.tenant), "Authorization", token(tc.serviceURL))
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (body %q)", resp.StatusCode, tc.status, body)
			}
			if reached := h.bots["blue-1"].Requests() - before; reached != int64(b2i(tc.status == 200)) {
				t.Errorf("bot received %d requests", reached)
			}
			if line := lastRequestLog(t, h); !strings.Contains(line, `"reason":"`+tc.reason+`"`) {
				t.Errorf("log line %s lacks reason %q", line, tc.reason)
			}
		})
	}
}
