package ingress

import (
	"errors"
	"net/netip"
	"strings"

	"go4.org/netipx"

	"github.com/teamsgate/teamsgate/internal/model"
)

// maxForwardedHops bounds how many X-Forwarded-For entries are examined:
// more trusted proxies than this in a row is a misconfiguration or an
// attack.
const maxForwardedHops = 32

var (
	errForwardedSyntax = errors.New("x-forwarded-for: entry is not an IP address")
	errForwardedHops   = errors.New("x-forwarded-for: too many trusted hops")
)

// clientAddr returns the address a request comes from. It is the peer (the
// socket peer, or the source a trusted PROXY protocol header gave) unless
// the peer is a trusted proxy; then it is the rightmost X-Forwarded-For
// entry that is not itself a trusted proxy, or the leftmost entry if all
// are. Entries to the left of the first untrusted one are never looked at:
// anyone may write them (gateway-anchors.md §4, "XFF trust"). An
// X-Forwarded-For header from an untrusted peer is ignored entirely.
//
// Entries may carry a port (Azure Application Gateway appends one) and are
// compared as unmapped addresses. A malformed entry that must be read is an
// error: guessing would hand the choice of source to the client.
func clientAddr(peer netip.Addr, xff []string, trusted *netipx.IPSet) (netip.Addr, error) {
	peer = peer.Unmap()
	if len(xff) == 0 || !contains(trusted, peer) {
		return peer, nil
	}
	addr, hops := peer, 0
	for i := len(xff) - 1; i >= 0; i-- {
		line := xff[i]
		for {
			j := strings.LastIndexByte(line, ',')
			entry := line[j+1:]
			line = line[:max(j, 0)]
			if hops++; hops > maxForwardedHops {
				return netip.Addr{}, errForwardedHops
			}
			a, err := parseForwardedEntry(entry)
			if err != nil {
				return netip.Addr{}, err
			}
			addr = a
			if !contains(trusted, a) {
				return a, nil
			}
			if j < 0 {
				break
			}
		}
	}
	return addr, nil
}

// parseForwardedEntry parses one X-Forwarded-For element: an address, an
// address:port, or a [v6]:port, with optional surrounding spaces. Zones are
// refused.
func parseForwardedEntry(s string) (netip.Addr, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return netip.Addr{}, errForwardedSyntax
	}
	var a netip.Addr
	var err error
	if s[0] == '[' || strings.Count(s, ":") == 1 {
		var ap netip.AddrPort
		ap, err = netip.ParseAddrPort(s)
		a = ap.Addr()
	} else {
		a, err = netip.ParseAddr(s)
	}
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, errForwardedSyntax
	}
	return a.Unmap(), nil
}

// sourcePolicy is the compiled source address check.
type sourcePolicy struct {
	mode     Mode
	plan     *netipx.IPSet
	planRule string
	extra    *netipx.IPSet
	trusted  *netipx.IPSet
	// frontDoorIDs are the Front Door profile ids (lower case) a request
	// through a trusted proxy must carry; nil checks nothing.
	frontDoorIDs []string
}

// Source check reasons: stable metric labels.
const (
	ReasonSourceAllowed    = "source-allowed"
	ReasonSourceNotAllowed = "source-not-allowed"
	ReasonBadForwardedFor  = "bad-forwarded-for"
)

// decide resolves the client address and decides whether it may reach the
// bot. In Report mode a source that would be denied gets VerdictReport.
func (p *sourcePolicy) decide(peer netip.Addr, xff []string) (netip.Addr, model.Decision) {
	client, err := clientAddr(peer, xff, p.trusted)
	if err != nil {
		return peer.Unmap(), p.deny(ReasonBadForwardedFor, err.Error())
	}
	switch {
	case contains(p.plan, client):
		return client, model.Decision{Verdict: model.VerdictAllow, Reason: ReasonSourceAllowed, RuleID: p.planRule}
	case contains(p.extra, client):
		return client, model.Decision{Verdict: model.VerdictAllow, Reason: ReasonSourceAllowed, RuleID: ExtraSourcesRule}
	}
	return client, p.deny(ReasonSourceNotAllowed, "")
}

func (p *sourcePolicy) deny(reason, detail string) model.Decision {
	v := model.VerdictDeny
	if p.mode == Report {
		v = model.VerdictReport
	}
	return model.Decision{Verdict: v, Reason: reason, RuleID: p.planRule, Detail: detail}
}

// frontDoor checks, for a request whose socket peer is a trusted proxy,
// that it came through the operator's own Azure Front Door: exactly one
// X-Azure-FDID header, naming one of the configured profiles. Front Door
// sets the header itself and overwrites a client's (Microsoft Learn,
// "Secure traffic to Azure Front Door origins"); its backend ranges are
// every customer's. A request from elsewhere, or with no ids configured,
// passes. In Report mode a mismatch gets VerdictReport.
func (p *sourcePolicy) frontDoor(peer netip.Addr, fdid []string) model.Decision {
	if len(p.frontDoorIDs) == 0 || !contains(p.trusted, peer.Unmap()) {
		return model.Decision{Verdict: model.VerdictAllow}
	}
	if len(fdid) == 1 {
		for _, id := range p.frontDoorIDs {
			if strings.EqualFold(strings.TrimSpace(fdid[0]), id) {
				return model.Decision{Verdict: model.VerdictAllow}
			}
		}
	}
	detail := "no X-Azure-FDID header"
	if len(fdid) > 1 {
		detail = "several X-Azure-FDID headers"
	} else if len(fdid) == 1 {
		detail = "another Front Door profile's X-Azure-FDID"
	}
	return p.deny(ReasonFrontDoor, detail)
}
