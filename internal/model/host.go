package model

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Host is a DNS name pattern: an exact FQDN, or a wildcard "*.example.com"
// whose "*" stands for exactly one left-most label (RFC 6125 §6.4.3, the
// rule Pexip and Microsoft both state). Names are normalised at parse time:
// lower case, no trailing dot, IDNA A-labels. The zero value is the empty,
// invalid host.
type Host struct {
	name     string // without the "*." for wildcards
	wildcard bool
}

var idnaProfile = idna.New(idna.MapForLookup(), idna.Transitional(false), idna.BidiRule())

// ErrHostIsAddress is wrapped by ParseHost's error for an IP address or
// prefix given where a host name belongs, so that callers can say where the
// address goes instead.
var ErrHostIsAddress = errors.New("an IP address or prefix is not a host name")

// ParseHost parses an FQDN or a one-label wildcard pattern.
func ParseHost(s string) (Host, error) {
	in := s
	s = strings.TrimSuffix(strings.TrimSpace(s), ".")
	wild := false
	if rest, ok := strings.CutPrefix(s, "*."); ok {
		wild, s = true, rest
	}
	if s == "" {
		return Host{}, fmt.Errorf("host %q is empty", in)
	}
	if !utf8.ValidString(s) {
		return Host{}, fmt.Errorf("host %q is not valid UTF-8", in)
	}
	if strings.Contains(s, "*") {
		return Host{}, fmt.Errorf("host %q: a wildcard may only be the whole left-most label (\"*.example.com\")", in)
	}
	if _, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return Host{}, fmt.Errorf("host %q: %w", in, ErrHostIsAddress)
	}
	if _, err := netip.ParsePrefix(s); err == nil {
		return Host{}, fmt.Errorf("host %q: %w", in, ErrHostIsAddress)
	}
	ascii, err := idnaProfile.ToASCII(s)
	if err != nil {
		return Host{}, fmt.Errorf("host %q is not a valid host name (IDNA: %s)", in, strings.TrimPrefix(err.Error(), "idna: "))
	}
	ascii = strings.ToLower(ascii)
	labels := strings.Split(ascii, ".")
	for _, l := range labels {
		if l == "" {
			return Host{}, fmt.Errorf("host %q has an empty label", in)
		}
		if len(l) > 63 {
			return Host{}, fmt.Errorf("host %q has a label longer than 63 characters", in)
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return Host{}, fmt.Errorf("host %q: character %q is not allowed in a DNS name", in, c)
			}
		}
	}
	if len(ascii) > 253 {
		return Host{}, fmt.Errorf("host %q is longer than 253 characters", in)
	}
	if wild && len(labels) < 2 {
		return Host{}, fmt.Errorf("host %q: a wildcard needs at least two labels after it", in)
	}
	return Host{name: ascii, wildcard: wild}, nil
}

// MustParseHost is ParseHost for tests; it panics on error.
func MustParseHost(s string) Host {
	h, err := ParseHost(s)
	if err != nil {
		panic(err)
	}
	return h
}

// IsValid reports whether h is not the zero value.
func (h Host) IsValid() bool { return h.name != "" }

// IsWildcard reports whether h is a "*." pattern.
func (h Host) IsWildcard() bool { return h.wildcard }

// Domain returns the name without the wildcard label.
func (h Host) Domain() string { return h.name }

// String returns the normalised pattern, "*.example.com" or "a.example.com".
func (h Host) String() string {
	if h.wildcard {
		return "*." + h.name
	}
	return h.name
}

// Matches reports whether the DNS name matches h: exactly for an FQDN, and
// for a wildcard, any name with exactly one more label in front of the
// domain ("*.contoso.com" matches "a.contoso.com", not "a.b.contoso.com" nor
// "contoso.com"). The name is compared case-insensitively, ignoring a
// trailing dot.
func (h Host) Matches(name string) bool {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if !h.wildcard {
		return name == h.name
	}
	label, rest, ok := strings.Cut(name, ".")
	return ok && label != "" && rest == h.name
}

// Covers reports whether every name h2 matches is also matched by h.
func (h Host) Covers(h2 Host) bool {
	if h == h2 {
		return true
	}
	return h.wildcard && !h2.wildcard && h.Matches(h2.name)
}

// MarshalText implements encoding.TextMarshaler.
func (h Host) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (h *Host) UnmarshalText(b []byte) error {
	v, err := ParseHost(string(b))
	if err != nil {
		return err
	}
	*h = v
	return nil
}
