// Package probe checks from a host that the flows of its plan really get
// through: DNS resolution of the plan's host names, TCP connections to
// their ports (open, refused — something answered — or filtered), TLS
// handshakes with the plan's SNI (chain, names, version of at least TLS
// 1.2 as 000 and 002 require), HTTP CONNECT through the egress proxy, and
// STUN Binding Requests (RFC 5389) to the Teams media relays.
//
// Only destinations the plan names are contacted: a check is built from a
// plan rule, its address is a plan prefix or an answer for a plan host
// name, and its ports are the rule's. Each destination and port is probed
// once, with a bounded number of checks at a time and a timeout each, and
// nothing is retried.
package probe

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/teamsgate/teamsgate/internal/model"
)

// Kind is what a check does.
type Kind string

const (
	KindTCP  Kind = "tcp"
	KindTLS  Kind = "tls"
	KindSTUN Kind = "stun"
)

// Outcome is a check's result.
type Outcome string

const (
	Pass         Outcome = "pass"
	Blocked      Outcome = "blocked"
	DNSFailure   Outcome = "dns-failure"
	TLSFailure   Outcome = "tls-failure"
	ProxyRefused Outcome = "proxy-refused"
	Skipped      Outcome = "skipped"
)

// Check is one probe of one destination and port.
type Check struct {
	Rule string
	Kind Kind
	// Host is the plan's host name, "" for an address of a plan prefix.
	Host string
	// Addr is the address to probe when Host is empty.
	Addr netip.Addr
	Port uint16
	// Prefixes bound the addresses the check may contact: a DNS answer
	// outside them is not dialled (empty: any answer for the plan's
	// host).
	Prefixes []netip.Prefix
	// Reason says why a check is skipped.
	Reason string
	// udp marks an echo check over UDP.
	udp bool
}

func (c Check) target() string {
	h := c.Host
	if h == "" {
		h = c.Addr.String()
	}
	return fmt.Sprintf("%s port %d", h, c.Port)
}

// Result is what a check found.
type Result struct {
	Rule    string        `json:"rule"`
	Kind    Kind          `json:"check"`
	Host    string        `json:"host,omitempty"`
	Port    uint16        `json:"port"`
	Outcome Outcome       `json:"outcome"`
	Reason  string        `json:"reason,omitempty"`
	Addr    string        `json:"address,omitempty"`
	Answers []string      `json:"dns_answers,omitempty"`
	Elapsed time.Duration `json:"-"`
	Millis  float64       `json:"ms"`
	// TLSVersion and CertNames are a TLS check's negotiated version and
	// the leaf certificate's DNS names; RTT a STUN check's round trip.
	TLSVersion string   `json:"tls_version,omitempty"`
	CertNames  []string `json:"certificate_names,omitempty"`
	ViaProxy   bool     `json:"via_proxy,omitempty"`
}

// maxPortsPerRange is how many ports of a port range are probed: its
// first and its last. A range of media ports is thousands wide; its ends
// show whether the firewall took the whole range.
const maxPortsPerRange = 2

// Checks builds the checks of the rules whose source is role (a role name,
// or INTEGRATION/ROLE): every outbound flow of that role's host. Rules it
// cannot probe come back as skipped results, with the reason.
func Checks(p *model.Plan, role string) ([]Check, []Result, error) {
	integration, name := "", role
	if i, r, ok := strings.Cut(role, "/"); ok {
		integration, name = i, r
	}
	var checks []Check
	var skipped []Result
	seen := map[string]bool{}
	found := false
	for _, r := range p.Rules {
		if r.Source.Role != name || integration != "" && r.Integration != integration {
			continue
		}
		found = true
		skip := func(host string, why string) {
			skipped = append(skipped, Result{Rule: r.ID, Host: host, Outcome: Skipped, Reason: why})
		}
		if r.Action == model.Deny {
			skip("", "a deny: nothing should get through")
			continue
		}
		var kind Kind
		switch {
		case r.Proto == model.ProtoTCP && (r.App == "https" || r.App == "tls" || r.App == "http/https" || r.App == ""):
			// HTTPS, and the Microsoft 365 sets' 443 (their App is not
			// given): TLS on 443, a plain connect on other ports.
			kind = KindTLS
		case r.Proto == model.ProtoTCP:
			kind = KindTCP
		case r.Proto == model.ProtoUDP && stunPorts(r.DestPorts):
			kind = KindSTUN
		case r.Proto == model.ProtoUDP:
			skip("", "UDP other than STUN on 3478-3481: only a peer running probe listen answers it")
			continue
		default:
			skip("", fmt.Sprintf("protocol %s: nothing to probe", r.Proto))
			continue
		}
		if r.DestPorts.IsAny() {
			skip("", "any port: the plan names no port to probe")
			continue
		}
		ports := samplePorts(r.DestPorts)
		if kind == KindTLS && !r.DestPorts.Contains(443) {
			// An "http/https" flow probes TLS on 443 and TCP elsewhere.
			kind = KindTCP
		}
		add := func(c Check) {
			k := string(c.Kind) + " " + c.target()
			if seen[k] {
				return
			}
			seen[k] = true
			checks = append(checks, c)
		}
		dst := r.Destination
		for _, h := range dst.Hosts {
			if h.IsWildcard() {
				skip(h.String(), "a wildcard: the catalog names no host of it to probe")
				continue
			}
			for _, port := range ports {
				k := kind
				if k == KindTLS && port != 443 {
					k = KindTCP
				}
				add(Check{Rule: r.ID, Kind: k, Host: h.String(), Port: port, Prefixes: dst.Prefixes})
			}
		}
		if len(dst.Hosts) == 0 {
			switch {
			case dst.Any || dst.Internet:
				skip("", "the destination is any address: the plan names none to probe")
			case len(dst.Prefixes) > 0:
				var single []netip.Addr
				for _, pf := range dst.Prefixes {
					if pf.IsSingleIP() {
						single = append(single, pf.Addr())
					}
				}
				if len(single) == 0 {
					skip("", "address ranges only: the plan names no host in them to probe")
					continue
				}
				for _, a := range single {
					for _, port := range ports {
						k := kind
						if k == KindTLS {
							k = KindTCP // no name to send as SNI
						}
						add(Check{Rule: r.ID, Kind: k, Addr: a, Port: port})
					}
				}
			default:
				skip("", "no destination address or host")
			}
		}
	}
	if !found {
		return nil, nil, fmt.Errorf("no rule of the plan has role %q as its source", role)
	}
	return checks, skipped, nil
}

// stunPorts reports whether the ports are those of the Teams transport
// relays, 3478-3481 (Microsoft 365 endpoint set 11).
func stunPorts(s model.PortSet) bool {
	return !s.IsAny() && s.Contains(3478) && s.Contains(3481)
}

// samplePorts returns the ports to probe: every single port, and the
// first and last of each range.
func samplePorts(s model.PortSet) []uint16 {
	var out []uint16
	for _, r := range s.Ranges() {
		out = append(out, r.First)
		if r.Last != r.First && maxPortsPerRange > 1 {
			out = append(out, r.Last)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
