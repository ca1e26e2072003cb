package spec

import (
	"testing"
)

// TestDaemonSections: the gateway: and egress: sections are kept as
// written, each at its own position, for package ingress and package
// egress to decode; spec checks none of their keys, and a spec may have
// either, both or neither.
func TestDaemonSections(t *testing.T) {
	const head = `cloud: worldwide
integrations:
  teams-messaging-bot:
    roles:
      bot: {addresses: [198.51.100.10]}
`
	tests := []struct {
		name                    string
		tail                    string
		gateway, egress         bool
		gatewayLine, egressLine int
	}{
		{name: "neither"},
		{name: "gateway", tail: "gateway:\n  not_a_key: 1\n", gateway: true, gatewayLine: 6},
		{name: "egress", tail: "egress:\n  not_a_key: 1\n", egress: true, egressLine: 6},
		{name: "both", tail: "egress:\n  listen: 127.0.0.1:3128\ngateway:\n  plain_http: true\n", gateway: true, egress: true, gatewayLine: 8, egressLine: 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ds := Parse([]byte(head+tt.tail), "deploy.yaml", embedded(t))
			if len(ds) > 0 {
				t.Fatal(ds)
			}
			if s.Gateway.IsZero() == tt.gateway || s.Egress.IsZero() == tt.egress {
				t.Fatalf("gateway section %v, egress section %v", !s.Gateway.IsZero(), !s.Egress.IsZero())
			}
			if tt.gateway && s.Gateway.KeyAt().Line != tt.gatewayLine {
				t.Errorf("gateway: key at %s, want line %d", s.Gateway.KeyAt(), tt.gatewayLine)
			}
			if tt.egress {
				if got := s.Egress.KeyAt().Line; got != tt.egressLine {
					t.Errorf("egress: key at %s, want line %d", s.Egress.KeyAt(), tt.egressLine)
				}
				if s.Egress.Path[0] != "egress" {
					t.Errorf("egress section path %q", s.Egress.Path)
				}
			}
		})
	}
}
