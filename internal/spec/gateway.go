package spec

import "github.com/teamsgate/teamsgate/internal/diag"

// GatewayWire is the wire form of the spec's gateway: section.
type GatewayWire struct{}

// Gateway is the compiled gateway: section.
type Gateway struct{}

func compileGateway(w *GatewayWire, at func(path ...string) diag.Pos) (*Gateway, diag.List) {
	return &Gateway{}, nil
}
