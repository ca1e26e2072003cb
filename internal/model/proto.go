// Package model holds the value types that every stage past the parsers
// shares: protocols, ports, host patterns, endpoints, catalog flows, planned
// rules and decisions. It imports nothing from the rest of teamsgate, so
// renderers, the auditor and the daemons depend on it and never on a wire
// format.
package model

import (
	"fmt"
	"strings"
)

// Proto is an IP protocol a flow uses. The zero value is ProtoAny, which
// matches every protocol. Values other than the named constants are IANA
// protocol numbers.
type Proto uint8

// Protocol numbers, from the IANA "Assigned Internet Protocol Numbers"
// registry, except ProtoAny.
const (
	ProtoAny  Proto = 0
	ProtoICMP Proto = 1
	ProtoTCP  Proto = 6
	ProtoUDP  Proto = 17
)

// ParseProto parses "tcp", "udp", "icmp" or "any" (case-insensitive; "*" is
// "any").
func ParseProto(s string) (Proto, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "tcp":
		return ProtoTCP, nil
	case "udp":
		return ProtoUDP, nil
	case "icmp":
		return ProtoICMP, nil
	case "any", "*":
		return ProtoAny, nil
	}
	return 0, fmt.Errorf("unknown protocol %q (want tcp, udp, icmp or any)", s)
}

// String returns the lower-case protocol name.
func (p Proto) String() string {
	switch p {
	case ProtoAny:
		return "any"
	case ProtoTCP:
		return "tcp"
	case ProtoUDP:
		return "udp"
	case ProtoICMP:
		return "icmp"
	}
	return fmt.Sprintf("proto-%d", uint8(p))
}

// HasPorts reports whether the protocol carries port numbers.
func (p Proto) HasPorts() bool { return p == ProtoTCP || p == ProtoUDP }

// MarshalText implements encoding.TextMarshaler.
func (p Proto) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *Proto) UnmarshalText(b []byte) error {
	v, err := ParseProto(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}
