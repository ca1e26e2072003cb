// Package policy holds what the egress proxy decides with, apart from the
// network: the request target as the client wrote it, normalised; the
// allow list the plan gives (host patterns and address prefixes, each with
// its ports and its flow); and the classifier of the addresses a name
// resolves to. It has no I/O; package egress does the proxying.
package policy

import (
	"net/netip"

	"github.com/teamsgate/teamsgate/internal/model"
)

// Target is where a client asks the proxy to connect: a normalised host
// name (lower case, no trailing dot, IDNA A-labels), or an IP literal, and
// a port.
type Target struct {
	// Host is the normalised name; empty when the target is an address.
	Host string
	// Addr is the IP literal the client wrote (brackets removed, zone
	// refused); invalid when the target is a name.
	Addr netip.Addr
	Port uint16
}

// Rule is one allow-list entry: the outbound flow of a role of the plan,
// its destination host patterns or prefixes, and its destination ports.
type Rule struct {
	FlowID   string
	Role     string // "INTEGRATION/ROLE" whose outbound flow it is
	Hosts    []model.Host
	Prefixes []netip.Prefix
	Ports    model.PortSet
}

// Reason says why the policy decided as it did, for the decision log and
// the metrics' reason label (a small fixed set).
type Reason string

// The reasons of the policy.
const (
	Allowed        Reason = "allowed"
	BadTarget      Reason = "bad-target"          // the target cannot be parsed or normalised
	HostNotAllowed Reason = "host-not-allowed"    // no rule names the host
	PortNotAllowed Reason = "port-not-allowed"    // a rule names the host, none with this port
	AddrNotAllowed Reason = "address-not-allowed" // an IP-literal target no rule's prefixes and ports hold
	DeniedAddress  Reason = "denied-address"      // the classifier refuses an address the name resolves to
)
