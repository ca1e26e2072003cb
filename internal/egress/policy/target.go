package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/teamsgate/teamsgate/internal/model"
)

// maxHostInput bounds a host as the client wrote it, before percent-decoding
// and IDNA mapping. A DNS name is at most 253 characters (RFC 1035 §2.3.4);
// its Unicode or percent-encoded spelling can be longer, but not four times
// so for any name a client really asks for, and the bound keeps the work
// per request small.
const maxHostInput = 1024

// IsAddr reports whether the target is an IP literal rather than a name.
func (t Target) IsAddr() bool { return t.Addr.IsValid() }

// String returns the target in authority form, "api.example.com:443",
// "192.0.2.1:80" or "[2001:db8::1]:443": what ParseConnect parses back to
// t. The zero Target prints as ":0".
func (t Target) String() string {
	if t.IsAddr() {
		return netip.AddrPortFrom(t.Addr, t.Port).String()
	}
	return t.Host + ":" + strconv.Itoa(int(t.Port))
}

// ParseConnect parses the authority-form target of a CONNECT request
// (RFC 9110 §9.3.6: "host:port", the port required). The host is an IPv4
// literal, an IPv6 literal in square brackets, or a name, which
// NormalizeHost normalises. It refuses user information ("user@host", RFC
// 9110 §4.2.4), IPv6 zone identifiers, square brackets around anything but
// an IPv6 address (Smokescreen's CVE-2022-29188), wildcards, spaces and
// control characters, and a port that is not a decimal number from 1 to
// 65535 written without sign or leading zeros.
//
// The proxy must match, resolve and dial Target.Host, never the string the
// client sent: only the normalised name is what the allow list checked.
func ParseConnect(authority string) (Target, error) {
	t, err := parseAuthority(authority, 0)
	if err != nil {
		return Target{}, fmt.Errorf("CONNECT target %q: %w", authority, err)
	}
	return t, nil
}

// ParseAbsolute parses the absolute-form target of a plain HTTP proxy
// request (RFC 9112 §3.2.2), "http://host[:port][/path][?query]". Only the
// http scheme is accepted, in any letter case: an https URL in absolute
// form would ask the proxy to speak TLS on the client's behalf, and clients
// use CONNECT for https. The port defaults to 80 (RFC 9110 §4.2.1); the
// host follows ParseConnect's rules. The path and query are not part of
// the target and are not checked here.
func ParseAbsolute(rawURL string) (t Target, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("request target %q: %w", rawURL, err)
		}
	}()
	if r, ok := spaceOrControl(rawURL); ok {
		return Target{}, fmt.Errorf("character %q is not allowed in a request target", r)
	}
	scheme, rest, ok := strings.Cut(rawURL, "://")
	switch {
	case !ok || scheme == "" || strings.ContainsAny(scheme, "/?#[]@:"):
		return Target{}, errors.New("not an absolute http URL")
	case strings.EqualFold(scheme, "https"):
		return Target{}, errors.New("an https URL is not proxied in absolute form: use CONNECT")
	case !strings.EqualFold(scheme, "http"):
		return Target{}, fmt.Errorf("scheme %q is not proxied: only http", scheme)
	}
	authority := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority = rest[:i]
	}
	return parseAuthority(authority, 80)
}

// parseAuthority parses "host:port", or "host" alone when defaultPort is
// not 0. Its errors do not repeat the input; the callers add it.
func parseAuthority(a string, defaultPort uint16) (Target, error) {
	if a == "" {
		return Target{}, errors.New("empty host")
	}
	if len(a) > maxHostInput+len(":65535") {
		return Target{}, fmt.Errorf("longer than %d characters", maxHostInput)
	}
	if r, ok := spaceOrControl(a); ok {
		return Target{}, fmt.Errorf("character %q is not allowed in a host", r)
	}
	if strings.Contains(a, "@") {
		return Target{}, errors.New("user information (\"user@host\") is not allowed")
	}
	if i := strings.IndexAny(a, `/?#\`); i >= 0 {
		return Target{}, fmt.Errorf("%q is not allowed in host:port", a[i:i+1])
	}
	host, port, hasPort, err := splitHostPort(a)
	if err != nil {
		return Target{}, err
	}
	t := Target{Port: defaultPort}
	switch {
	case hasPort:
		if t.Port, err = parsePort(port); err != nil {
			return Target{}, err
		}
	case defaultPort == 0:
		return Target{}, errors.New("a port is required (host:port)")
	}
	if strings.HasPrefix(host, "[") {
		if t.Addr, err = parseBracketed(host); err != nil {
			return Target{}, err
		}
		return t, nil
	}
	if strings.Contains(host, ":") {
		return Target{}, errors.New("an IPv6 address must be in square brackets")
	}
	if addr, err := netip.ParseAddr(host); err == nil {
		t.Addr = addr // only a dotted-quad IPv4 address gets here
		return t, nil
	}
	if t.Host, err = NormalizeHost(host); err != nil {
		return Target{}, err
	}
	return t, nil
}

// splitHostPort splits at the colon after the host: after the closing
// bracket of an IPv6 literal, else at the last colon.
func splitHostPort(a string) (host, port string, hasPort bool, err error) {
	if strings.HasPrefix(a, "[") {
		end := strings.IndexByte(a, ']')
		if end < 0 {
			return "", "", false, errors.New("missing ']'")
		}
		host, rest := a[:end+1], a[end+1:]
		if rest == "" {
			return host, "", false, nil
		}
		port, ok := strings.CutPrefix(rest, ":")
		if !ok {
			return "", "", false, fmt.Errorf("%q after ']' is not a port", rest)
		}
		return host, port, true, nil
	}
	if strings.Contains(a, "]") {
		return "", "", false, errors.New("']' without '['")
	}
	i := strings.LastIndexByte(a, ':')
	if i < 0 {
		return a, "", false, nil
	}
	if strings.Count(a, ":") > 1 {
		return "", "", false, errors.New("an IPv6 address must be in square brackets")
	}
	return a[:i], a[i+1:], true, nil
}

// parsePort parses a port of a target: decimal digits only, no sign, no
// leading zero, 1 to 65535. Port 0 cannot be connected to.
func parsePort(s string) (uint16, error) {
	if s == "" {
		return 0, errors.New("empty port")
	}
	if len(s) > 5 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("port %q is not a number from 1 to 65535", s)
	}
	if s[0] == '0' {
		return 0, fmt.Errorf("port %q: a port is written without leading zeros, from 1 to 65535", s)
	}
	n, _ := strconv.Atoi(s)
	if n > 65535 {
		return 0, fmt.Errorf("port %q is not a number from 1 to 65535", s)
	}
	return uint16(n), nil
}

// parseBracketed parses "[IPv6]" (RFC 3986 §3.2.2 IP-literal). The brackets
// hold an IPv6 address and nothing else: not a name (Smokescreen's
// CVE-2022-29188 let "[example.com]" past its deny list), not an IPv4
// address, not an IPvFuture literal, not a zone ("%25eth0", RFC 6874),
// which would pick the proxy's own interface.
func parseBracketed(h string) (netip.Addr, error) {
	in := strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if strings.Contains(in, "%") {
		return netip.Addr{}, errors.New("an IPv6 zone identifier is not allowed")
	}
	addr, err := netip.ParseAddr(in)
	if err != nil || !addr.Is6() {
		return netip.Addr{}, fmt.Errorf("square brackets must hold an IPv6 address, not %q", in)
	}
	return addr, nil
}

// NormalizeHost returns the host name s as the allow list matches it: the
// percent-encoding of an RFC 3986 reg-name decoded first ("%61pi" is
// "api"; "%2e" is a dot), then normalised as model.ParseHost does (letter
// case, one trailing dot, IDNA mapping to A-labels: "bücher.example" is
// "xn--bcher-kva.example") and validated. It refuses an empty name,
// square brackets, wildcards, spaces and control characters (also when
// percent-encoded: "%00", "%20"), any byte a DNS name cannot hold once
// decoded ("%2f", "%40", "%25": no second round of decoding), empty labels
// (".." or a second trailing dot), and names longer than DNS allows.
//
// It also refuses a name whose last label is all digits or "0x" and hex
// digits ("127.1", "0x7f.1", "017700000001", and "１２７.０.０.１", which
// IDNA maps to "127.0.0.1"): resolvers and URL parsers read such names as
// IPv4 addresses in inet_aton's shorthand (the WHATWG URL Standard's IPv4
// parser does too), so they would reach an address the allow list never
// saw as one. No top-level domain is all-numeric (RFC 3696 §2), so no
// real name is lost. An IPv4 address in dotted-quad form is not a name
// either; ParseConnect reads it as an address before calling NormalizeHost.
func NormalizeHost(s string) (string, error) {
	if plainName(s) {
		return s, nil
	}
	return normalizeHost(s)
}

// plainName reports whether s is already a normalised host name in the
// form nearly every client sends: lower-case ASCII letters, digits and
// hyphens in labels of 1 to 63 characters, none starting or ending with a
// hyphen or holding one in its third and fourth places (so no A-label),
// no trailing dot, at most 253 characters, its last label not numeric.
// normalizeHost returns such a name unchanged (FuzzPlainName checks it);
// this spares it the IDNA mapping on every request.
func plainName(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != '.' {
			c := s[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
			continue
		}
		l := s[start:i]
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' || len(l) >= 4 && l[2] == '-' && l[3] == '-' {
			return false
		}
		start = i + 1
	}
	return !numericLabel(s[strings.LastIndexByte(s, '.')+1:])
}

// normalizeHost is NormalizeHost for any input.
func normalizeHost(s string) (string, error) {
	if s == "" {
		return "", errors.New("empty host")
	}
	if len(s) > maxHostInput {
		return "", fmt.Errorf("host is longer than %d characters", maxHostInput)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x80 && c != '%' && !isNameByte(c) {
			return "", fmt.Errorf("host %q: character %q is not allowed in a host name", s, c)
		}
	}
	name, err := percentDecode(s)
	if err != nil {
		return "", fmt.Errorf("host %q: %w", s, err)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x80 && !isNameByte(c) {
			return "", fmt.Errorf("host %q: percent-encoding decodes to %q, which is not allowed in a host name", s, c)
		}
	}
	h, err := model.ParseHost(name)
	if err != nil {
		if errors.Is(err, model.ErrHostIsAddress) {
			return "", fmt.Errorf("host %q is an IP address, not a host name", s)
		}
		return "", err
	}
	if h.IsWildcard() {
		return "", fmt.Errorf("host %q: a target cannot be a wildcard", s)
	}
	out := h.String()
	if numericLabel(out[strings.LastIndexByte(out, '.')+1:]) {
		return "", fmt.Errorf("host %q reads as an IPv4 address (%q): write the address in dotted-quad form", s, out)
	}
	return out, nil
}

// isNameByte reports whether an ASCII byte may stand in a host name before
// IDNA: a letter, digit, hyphen, dot or underscore (IDNA's own rules then
// decide the underscore).
func isNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_'
}

// spaceOrControl returns the first space, or ASCII or C1 control
// character, of s.
func spaceOrControl(s string) (rune, bool) {
	for _, r := range s {
		if r <= ' ' || r == 0x7f || 0x80 <= r && r <= 0x9f {
			return r, true
		}
	}
	return 0, false
}

// percentDecode decodes every "%XX" of s once. A '%' that is not followed
// by two hex digits is an error, not a literal.
func percentDecode(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return "", fmt.Errorf("%q is not a percent-encoded byte", s[i:min(i+3, len(s))])
		}
		n, _ := strconv.ParseUint(s[i+1:i+3], 16, 8)
		b.WriteByte(byte(n))
		i += 2
	}
	return b.String(), nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// numericLabel reports whether a normalised label is one an IPv4 parser
// takes for a number: all decimal digits, or "0x" followed by hex digits
// (possibly none), the WHATWG URL Standard's "ends in a number" test.
func numericLabel(l string) bool {
	if hex, ok := strings.CutPrefix(l, "0x"); ok {
		return strings.TrimLeft(hex, "0123456789abcdef") == ""
	}
	return l != "" && strings.TrimLeft(l, "0123456789") == ""
}
