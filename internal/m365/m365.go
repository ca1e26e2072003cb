// Package m365 reads the Microsoft 365 IP Address and URL web service's
// endpoint data (https://endpoints.office.com/endpoints/<instance>), the
// source of the Teams address ranges and URLs.
//
// The format is described in docs/reference/endpoints.md §1: an array of endpoint
// sets, each with an immutable id per instance, a service area ("Skype" for
// Teams, whatever its display name), URLs, IP prefixes, TCP and UDP port
// lists, a category (Optimize > Allow > Default) and a required flag.
package m365

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/jsonpos"
	"github.com/teamsgate/teamsgate/internal/model"
)

// EndpointSet is one endpoint set of the web service.
type EndpointSet struct {
	ID          int
	ServiceArea string
	DisplayName string
	// URLs are the set's host patterns as published. Some sets use
	// patterns that are not RFC 6125 wildcards ("*cdn.onenote.net",
	// "autodiscover.*.onmicrosoft.com"); Hosts parses those it can.
	URLs         []string
	IPs          []netip.Prefix
	TCPPorts     model.PortSet
	UDPPorts     model.PortSet
	ExpressRoute bool
	Category     string
	Required     bool
	Notes        string
}

type wireSet struct {
	ID                     *int     `json:"id"`
	ServiceArea            string   `json:"serviceArea"`
	ServiceAreaDisplayName string   `json:"serviceAreaDisplayName"`
	URLs                   []string `json:"urls"`
	IPs                    []string `json:"ips"`
	TCPPorts               string   `json:"tcpPorts"`
	UDPPorts               string   `json:"udpPorts"`
	ExpressRoute           bool     `json:"expressRoute"`
	Category               string   `json:"category"`
	Required               bool     `json:"required"`
	Notes                  string   `json:"notes"`
}

// MaxBytes bounds an endpoints response: the Worldwide one, every service
// area, is about 100 KiB (2026).
const MaxBytes = 16 << 20

// Parse reads an endpoints response. Each problem is reported at its line
// and column with the endpoint set it concerns; sets with errors are left
// out of the result. Fields the service may add later are ignored.
func Parse(data []byte) ([]EndpointSet, diag.List) {
	if len(data) > MaxBytes {
		var ds diag.List
		ds.Errorf(diag.Pos{Line: 1, Col: 1}, "", "the file is %d bytes; a Microsoft 365 endpoints response is at most %d MiB", len(data), MaxBytes>>20)
		return nil, ds
	}
	var wire []json.RawMessage
	if err := json.Unmarshal(data, &wire); err != nil {
		var ds diag.List
		_, msg := jsonpos.Describe(err)
		ds.Errorf(jsonpos.ErrorPos(data, err), "", "not a Microsoft 365 endpoints response (a JSON array of endpoint sets): %s", msg)
		return nil, ds
	}
	var out []EndpointSet
	var ds jsonpos.Deferred
	seen := map[int]bool{}
	for i, raw := range wire {
		at := jsonpos.Index("$", i)
		subject := fmt.Sprintf("endpoint set [%d]", i)
		var w wireSet
		if err := json.Unmarshal(raw, &w); err != nil {
			field, msg := jsonpos.Describe(err)
			ds.Errorf(jsonpos.Dotted(at, field), subject, "%s", msg)
			continue
		}
		if w.ID == nil {
			ds.Errorf(at, subject, "no id")
			continue
		}
		subject = fmt.Sprintf("endpoint set %d", *w.ID)
		if seen[*w.ID] {
			ds.Errorf(jsonpos.Member(at, "id"), subject, "id given twice")
			continue
		}
		seen[*w.ID] = true
		if s, ok := compile(w, at, subject, &ds); ok {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, ds.List(data)
}

// compile checks the set at path at; ok is false when it had errors.
func compile(w wireSet, at, subject string, ds *jsonpos.Deferred) (s EndpointSet, ok bool) {
	before := ds.Len()
	s = EndpointSet{
		ID:           *w.ID,
		ServiceArea:  w.ServiceArea,
		DisplayName:  w.ServiceAreaDisplayName,
		ExpressRoute: w.ExpressRoute,
		Category:     w.Category,
		Required:     w.Required,
		Notes:        w.Notes,
	}
	switch w.Category {
	case "Optimize", "Allow", "Default":
	default:
		ds.Errorf(jsonpos.Member(at, "category"), subject, "unknown category %q (want Optimize, Allow or Default)", w.Category)
	}
	if w.ServiceArea == "" {
		ds.Errorf(jsonpos.Member(at, "serviceArea"), subject, "no serviceArea")
	}
	for k, u := range w.URLs {
		if err := checkURL(u); err != nil {
			ds.Errorf(jsonpos.Index(jsonpos.Member(at, "urls"), k), subject, "url %q: %v", u, err)
			continue
		}
		s.URLs = append(s.URLs, u)
	}
	for k, ip := range w.IPs {
		p, err := netip.ParsePrefix(ip)
		if err != nil {
			ds.Errorf(jsonpos.Index(jsonpos.Member(at, "ips"), k), subject, "%v", err)
			continue
		}
		s.IPs = append(s.IPs, p.Masked())
	}
	var err error
	if w.TCPPorts != "" {
		if s.TCPPorts, err = model.ParsePortSet(w.TCPPorts); err != nil {
			ds.Errorf(jsonpos.Member(at, "tcpPorts"), subject, "tcpPorts: %v", err)
		}
	}
	if w.UDPPorts != "" {
		if s.UDPPorts, err = model.ParsePortSet(w.UDPPorts); err != nil {
			ds.Errorf(jsonpos.Member(at, "udpPorts"), subject, "udpPorts: %v", err)
		}
	}
	if ds.Len() > before {
		return s, false
	}
	if len(s.URLs) == 0 && len(s.IPs) == 0 {
		ds.Errorf(at, subject, "neither urls nor ips")
		return s, false
	}
	return s, true
}

// checkURL accepts what the service publishes as a URL: a host name,
// possibly with "*" wildcards of any form ("*.lync.com", "*cdn.onenote.net",
// "autodiscover.*.onmicrosoft.com"), without scheme, port or path. Hosts
// says which of them a firewall can take.
func checkURL(u string) error {
	switch {
	case strings.TrimSpace(u) == "":
		return errors.New("empty")
	case len(u) > 253:
		return fmt.Errorf("%d characters; a host name has at most 253", len(u))
	case strings.Contains(u, ".."), strings.HasPrefix(u, "."):
		return errors.New("an empty label")
	}
	for _, r := range u {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '*') {
			return fmt.Errorf("%q is not a host name character (a URL is a host name or a wildcard of one, without scheme, port or path)", r)
		}
	}
	return nil
}

// Hosts returns the set's URLs as host patterns, and the URLs that are not
// expressible as one (a partial-label wildcard), with the reason.
func (s EndpointSet) Hosts() ([]model.Host, []error) {
	var hs []model.Host
	var errs []error
	for _, u := range s.URLs {
		h, err := model.ParseHost(u)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		hs = append(hs, h)
	}
	return hs, errs
}

// Area returns the sets of one service area, in id order. Teams is the
// "Skype" service area, whose display name changed over time
// (docs/reference/endpoints.md §2.4), so the display name is never the key.
func Area(sets []EndpointSet, area string) []EndpointSet {
	var out []EndpointSet
	for _, s := range sets {
		if strings.EqualFold(s.ServiceArea, area) {
			out = append(out, s)
		}
	}
	return out
}
