package policy

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// targetCase is one input of a target parser: the target it gives, or a
// piece of the error it gives.
type targetCase struct {
	name    string
	in      string
	want    Target
	wantErr string
}

func name(host string, port uint16) Target { return Target{Host: host, Port: port} }

func addr(s string, port uint16) Target { return Target{Addr: netip.MustParseAddr(s), Port: port} }

var connectCases = []targetCase{
	{name: "name", in: "api.example.com:443", want: name("api.example.com", 443)},
	{name: "single label", in: "localhost:8080", want: name("localhost", 8080)},
	{name: "highest port", in: "api.example.com:65535", want: name("api.example.com", 65535)},

	// CVE-2022-24825: letter case and a trailing dot slipped past
	// Smokescreen's deny list.
	{name: "CVE-2022-24825 case and trailing dot", in: "API.EXAMPLE.COM.:443", want: name("api.example.com", 443)},
	{name: "CVE-2022-24825 mixed case", in: "Api.Example.Com:443", want: name("api.example.com", 443)},
	{name: "two trailing dots", in: "api.example.com..:443", wantErr: "empty label"},
	{name: "leading dot", in: ".api.example.com:443", wantErr: "empty label"},
	{name: "empty label", in: "api..example.com:443", wantErr: "empty label"},

	// CVE-2022-29188: "[example.com]" slipped past it in HTTP mode.
	{name: "CVE-2022-29188 bracketed name", in: "[example.com]:443", wantErr: `square brackets must hold an IPv6 address, not "example.com"`},
	{name: "bracketed IPv4", in: "[192.0.2.1]:443", wantErr: "square brackets must hold an IPv6 address"},
	{name: "IPvFuture", in: "[v1.fe80::a+en1]:443", wantErr: "square brackets must hold an IPv6 address"},
	{name: "empty brackets", in: "[]:443", wantErr: "square brackets must hold an IPv6 address"},
	{name: "unclosed bracket", in: "[2001:db8::1:443", wantErr: "missing ']'"},
	{name: "stray closing bracket", in: "example.com]:443", wantErr: "']' without '['"},
	{name: "text after bracket", in: "[2001:db8::1]443", wantErr: `"443" after ']' is not a port`},

	{name: "IPv4", in: "192.0.2.1:443", want: addr("192.0.2.1", 443)},
	{name: "IPv6", in: "[2001:db8::1]:443", want: addr("2001:db8::1", 443)},
	{name: "IPv6 upper case", in: "[2001:DB8::1]:443", want: addr("2001:db8::1", 443)},
	{name: "IPv4-mapped IPv6 is an address", in: "[::ffff:192.0.2.1]:443", want: addr("::ffff:192.0.2.1", 443)},
	{name: "IPv6 without brackets", in: "2001:db8::1:443", wantErr: "an IPv6 address must be in square brackets"},
	{name: "zone encoded", in: "[fe80::1%25eth0]:443", wantErr: "zone identifier is not allowed"},
	{name: "zone", in: "[fe80::1%eth0]:443", wantErr: "zone identifier is not allowed"},

	// IPv4 addresses in the shorthand of inet_aton are not names.
	{name: "short IPv4", in: "127.1:443", wantErr: "reads as an IPv4 address"},
	{name: "hex IPv4", in: "0x7f.1:443", wantErr: "reads as an IPv4 address"},
	{name: "hex IPv4 whole", in: "0x7f000001:443", wantErr: "reads as an IPv4 address"},
	{name: "octal IPv4 whole", in: "017700000001:443", wantErr: "reads as an IPv4 address"},
	{name: "decimal IPv4 whole", in: "2130706433:443", wantErr: "reads as an IPv4 address"},
	{name: "leading zero octet", in: "01.2.3.4:443", wantErr: "reads as an IPv4 address"},
	{name: "five parts", in: "1.2.3.4.5:443", wantErr: "reads as an IPv4 address"},
	{name: "bare 0x label", in: "api.0x:443", wantErr: "reads as an IPv4 address"},
	{name: "IPv4 with trailing dot", in: "127.0.0.1.:443", wantErr: "is an IP address, not a host name"},
	{name: "fullwidth digits", in: "１２７.０.０.１:443", wantErr: "reads as an IPv4 address"},
	{name: "ideographic full stops", in: "127。0。0。1:443", wantErr: "reads as an IPv4 address"},
	{name: "percent-encoded IPv4", in: "%31%32%37.0.0.1:443", wantErr: "is an IP address, not a host name"},
	{name: "hex first label is a name", in: "0x7f.example.com:443", want: name("0x7f.example.com", 443)},
	{name: "digits first label is a name", in: "1e100.net:443", want: name("1e100.net", 443)},

	{name: "userinfo", in: "user@api.example.com:443", wantErr: "user information"},
	{name: "userinfo with password", in: "user:pw@api.example.com:443", wantErr: "user information"},
	{name: "URL", in: "http://api.example.com:443", wantErr: `"/" is not allowed in host:port`},
	{name: "path", in: "api.example.com:443/", wantErr: `"/" is not allowed in host:port`},
	{name: "backslash", in: `api.example.com\evil.example:443`, wantErr: `"\\" is not allowed in host:port`},

	{name: "no port", in: "api.example.com", wantErr: "a port is required"},
	{name: "empty port", in: "api.example.com:", wantErr: "empty port"},
	{name: "port 0", in: "api.example.com:0", wantErr: "without leading zeros, from 1 to 65535"},
	{name: "port too high", in: "api.example.com:65536", wantErr: `port "65536" is not a number from 1 to 65535`},
	{name: "port plus", in: "api.example.com:+443", wantErr: `port "+443" is not a number`},
	{name: "port minus", in: "api.example.com:-1", wantErr: `port "-1" is not a number`},
	{name: "port leading zero", in: "api.example.com:0443", wantErr: "without leading zeros"},
	{name: "port name", in: "api.example.com:https", wantErr: `port "https" is not a number`},
	{name: "port long", in: "api.example.com:000000443", wantErr: "is not a number"},

	{name: "empty", in: "", wantErr: "empty host"},
	{name: "empty host", in: ":443", wantErr: "empty host"},
	{name: "trailing space", in: "api.example.com:443 ", wantErr: `character ' ' is not allowed`},
	{name: "leading space", in: " api.example.com:443", wantErr: `character ' ' is not allowed`},
	{name: "inner space", in: "api.exa mple.com:443", wantErr: `character ' ' is not allowed`},
	{name: "CRLF", in: "api.example.com\r\n:443", wantErr: `character '\r' is not allowed`},
	{name: "NUL", in: "api.example.com\x00:443", wantErr: `character '\x00' is not allowed`},
	{name: "C1 control", in: "api.example.com\u0085:443", wantErr: `character '\u0085' is not allowed`},
	{name: "wildcard", in: "*.example.com:443", wantErr: `character '*' is not allowed`},
	{name: "star label", in: "a*.example.com:443", wantErr: `character '*' is not allowed`},

	// RFC 3986 §2.1, §6.2.2.2: percent-encoded reg-name bytes are decoded
	// once, then normalised and checked like any other.
	{name: "percent letter", in: "%61pi.example.com:443", want: name("api.example.com", 443)},
	{name: "percent upper", in: "%41PI.EXAMPLE.COM:443", want: name("api.example.com", 443)},
	{name: "percent dot", in: "api%2eexample.com:443", want: name("api.example.com", 443)},
	{name: "percent trailing dot", in: "api.example.com%2e:443", want: name("api.example.com", 443)},
	{name: "percent two trailing dots", in: "api.example.com%2e%2e:443", wantErr: "empty label"},
	{name: "percent dots only", in: "%2e%2e:443", wantErr: "empty label"},
	{name: "percent NUL", in: "api.example.com%00:443", wantErr: `percent-encoding decodes to '\x00'`},
	{name: "percent NUL inside", in: "api.example.com%00.evil.example:443", wantErr: `percent-encoding decodes to '\x00'`},
	{name: "percent space", in: "api%20example.com:443", wantErr: `percent-encoding decodes to ' '`},
	{name: "percent slash", in: "evil.example%2fapi.example.com:443", wantErr: `percent-encoding decodes to '/'`},
	{name: "percent at", in: "api.example.com%40evil.example:443", wantErr: `percent-encoding decodes to '@'`},
	{name: "percent colon", in: "api.example.com%3a443:443", wantErr: `percent-encoding decodes to ':'`},
	{name: "percent star", in: "%2a.example.com:443", wantErr: `percent-encoding decodes to '*'`},
	{name: "percent bracket", in: "%5bexample.com%5d:443", wantErr: `percent-encoding decodes to '['`},
	{name: "double encoding", in: "%2561pi.example.com:443", wantErr: `percent-encoding decodes to '%'`},
	{name: "bad percent", in: "api%zz.example.com:443", wantErr: `"%zz" is not a percent-encoded byte`},
	{name: "short percent", in: "api.example.com%6:443", wantErr: `"%6" is not a percent-encoded byte`},
	{name: "percent at end", in: "api.example.com%:443", wantErr: `"%" is not a percent-encoded byte`},
	{name: "percent invalid UTF-8", in: "%ff.example:443", wantErr: "not valid UTF-8"},

	// IDNA: a U-label and its A-label are one name.
	{name: "IDNA U-label", in: "bücher.example:443", want: name("xn--bcher-kva.example", 443)},
	{name: "IDNA A-label", in: "xn--bcher-kva.example:443", want: name("xn--bcher-kva.example", 443)},
	{name: "IDNA A-label upper case", in: "XN--BCHER-KVA.EXAMPLE:443", want: name("xn--bcher-kva.example", 443)},
	{name: "IDNA percent-encoded UTF-8", in: "b%C3%BCcher.example:443", want: name("xn--bcher-kva.example", 443)},
	{name: "IDNA fullwidth letters", in: "ＡＰＩ.example.com:443", want: name("api.example.com", 443)},
	{name: "IDNA bad A-label", in: "xn--zz.example:443", wantErr: "IDNA"},
	{name: "IDNA fullwidth star", in: "＊.example.com:443", wantErr: "IDNA"},

	{name: "label too long", in: strings.Repeat("a", 64) + ".example:443", wantErr: "longer than 63"},
	{name: "name too long", in: strings.Repeat("a.", 126) + "com:443", wantErr: "longer than 253"},
	{name: "name longest", in: strings.Repeat("a.", 125) + "com:443", want: name(strings.Repeat("a.", 125)+"com", 443)},
	{name: "input too long", in: strings.Repeat("%61", 400) + ":443", wantErr: "longer than 1024"},
	{name: "underscore", in: "_sip.example.com:443", wantErr: "IDNA"},
	{name: "hyphen first", in: "-api.example.com:443", wantErr: "IDNA"},
}

var absoluteCases = []targetCase{
	{name: "path", in: "http://api.example.com/path", want: name("api.example.com", 80)},
	{name: "no path", in: "http://api.example.com", want: name("api.example.com", 80)},
	{name: "query", in: "http://api.example.com?x=1", want: name("api.example.com", 80)},
	{name: "fragment", in: "http://api.example.com#x", want: name("api.example.com", 80)},
	{name: "port", in: "http://api.example.com:8080/x?y", want: name("api.example.com", 8080)},
	{name: "scheme and host case, trailing dot", in: "HTTP://API.EXAMPLE.COM./", want: name("api.example.com", 80)},
	{name: "IPv4", in: "http://192.0.2.1/", want: addr("192.0.2.1", 80)},
	{name: "IPv6", in: "http://[2001:db8::1]/", want: addr("2001:db8::1", 80)},
	{name: "IPv6 port", in: "http://[2001:db8::1]:8080/", want: addr("2001:db8::1", 8080)},
	{name: "percent", in: "http://%61pi.example.com/", want: name("api.example.com", 80)},
	{name: "IDNA", in: "http://bücher.example/", want: name("xn--bcher-kva.example", 80)},
	{name: "CVE-2022-29188", in: "http://[example.com]/", wantErr: "square brackets must hold an IPv6 address"},
	{name: "https", in: "https://api.example.com/", wantErr: "use CONNECT"},
	{name: "HTTPS", in: "HTTPS://api.example.com/", wantErr: "use CONNECT"},
	{name: "other scheme", in: "ftp://api.example.com/", wantErr: `scheme "ftp" is not proxied`},
	{name: "origin form", in: "/path", wantErr: "not an absolute http URL"},
	{name: "origin form with URL in query", in: "/path?next=http://api.example.com/", wantErr: "not an absolute http URL"},
	{name: "no scheme", in: "://api.example.com/", wantErr: "not an absolute http URL"},
	{name: "scheme only", in: "http:api.example.com/", wantErr: "not an absolute http URL"},
	{name: "userinfo", in: "http://user:pw@api.example.com/", wantErr: "user information"},
	{name: "empty host", in: "http:///path", wantErr: "empty host"},
	{name: "empty port", in: "http://api.example.com:/", wantErr: "empty port"},
	{name: "bad port", in: "http://api.example.com:80x/", wantErr: `port "80x" is not a number`},
	{name: "backslash", in: `http://api.example.com\@evil.example/`, wantErr: "user information"},
	{name: "space", in: "http://api.example.com /", wantErr: `character ' ' is not allowed in a request target`},
	{name: "short IPv4", in: "http://0x7f.1/", wantErr: "reads as an IPv4 address"},
	{name: "wildcard", in: "http://*.example.com/", wantErr: `character '*' is not allowed`},
}

func TestParseConnect(t *testing.T) {
	testTargets(t, connectCases, ParseConnect)
}

func TestParseAbsolute(t *testing.T) {
	testTargets(t, absoluteCases, ParseAbsolute)
}

func testTargets(t *testing.T, cases []targetCase, parse func(string) (Target, error)) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse(tt.in)
			if tt.wantErr != "" {
				if got != (Target{}) {
					t.Errorf("parse(%q) = %v with its error; want the zero Target", tt.in, got)
				}
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parse(%q) = %v, %v; want an error with %q", tt.in, got, err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), strconv.Quote(tt.in)) {
					t.Errorf("error %q does not quote the input", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("parse(%q) (-want +got):\n%s", tt.in, diff)
			}
			if back, err := ParseConnect(got.String()); err != nil || back != got {
				t.Errorf("round trip %v → %q → %v, %v", got, got.String(), back, err)
			}
		})
	}
}

func TestNormalizeHost(t *testing.T) {
	tests := []struct {
		in, want, wantErr string
	}{
		{in: "API.Example.COM.", want: "api.example.com"},
		{in: "%61pi.example.com", want: "api.example.com"},
		{in: "bücher.example", want: "xn--bcher-kva.example"},
		{in: "xn--bcher-kva.example", want: "xn--bcher-kva.example"},
		{in: "", wantErr: "empty host"},
		{in: "192.0.2.1", wantErr: "is an IP address, not a host name"},
		{in: "[2001:db8::1]", wantErr: `character '['`},
		{in: "2001:db8::1", wantErr: `character ':'`},
		{in: "*.example.com", wantErr: `character '*'`},
		{in: "example.com:443", wantErr: `character ':'`},
	}
	for _, tt := range tests {
		got, err := NormalizeHost(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("NormalizeHost(%q) = %q, %v; want an error with %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizeHost(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestTargetString(t *testing.T) {
	for _, tt := range []struct {
		t    Target
		want string
	}{
		{name("api.example.com", 443), "api.example.com:443"},
		{addr("192.0.2.1", 80), "192.0.2.1:80"},
		{addr("2001:db8::1", 443), "[2001:db8::1]:443"},
		{Target{}, ":0"},
	} {
		if got := tt.t.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.t, got, tt.want)
		}
	}
}

func TestPlainName(t *testing.T) {
	for s, want := range map[string]bool{
		"api.example.com": true, "login.microsoftonline.com": true, "a": true, "a-b.c9": true,
		"xn--bcher-kva.example": false, "ab--c.example": false, "API.example.com": false,
		"example.com.": false, "a_b.example": false, "-a.example": false, "a-.example": false,
		"a..b": false, ".a": false, "": false, "1.2.3.4": false, "example.0x1f": false,
		"example.123": false, "bücher.example": false, "%61pi.example": false,
		strings.Repeat("a", 64) + ".example": false, strings.Repeat("a.", 127) + "b": false,
	} {
		if got := plainName(s); got != want {
			t.Errorf("plainName(%q) = %v, want %v", s, got, want)
		}
	}
}

// TestPlainNameExhaustive: every string of up to seven characters over
// letters, digits, hyphen, dot and x (for A-labels and hex) that the fast
// path takes, the full normalisation returns unchanged.
func TestPlainNameExhaustive(t *testing.T) {
	const alphabet = "a0-.xn"
	var walk func(prefix string, depth int)
	n := 0
	walk = func(prefix string, depth int) {
		if prefix != "" && plainName(prefix) {
			n++
			if got, err := normalizeHost(prefix); err != nil || got != prefix {
				t.Fatalf("plainName(%q) but normalizeHost gives %q, %v", prefix, got, err)
			}
		}
		if depth == 0 {
			return
		}
		for i := 0; i < len(alphabet); i++ {
			walk(prefix+alphabet[i:i+1], depth-1)
		}
	}
	walk("", 7)
	if n < 1000 {
		t.Errorf("only %d plain names checked", n)
	}
}
