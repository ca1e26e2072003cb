package ingress

import (
	"bufio"
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/teamsgate/teamsgate/internal/botauth"
	"github.com/teamsgate/teamsgate/internal/ingress/ingresstest"
)

func TestClientAddr(t *testing.T) {
	trusted := ipset(t, "10.0.0.0/8", "2001:db8:1::/48")
	tests := []struct {
		name    string
		peer    string
		xff     []string
		want    string
		wantErr bool
	}{
		{name: "untrusted peer, no header", peer: "203.0.113.1", want: "203.0.113.1"},
		{name: "untrusted peer ignores header", peer: "203.0.113.1", xff: []string{"52.112.0.1"}, want: "203.0.113.1"},
		{name: "untrusted peer ignores malformed header", peer: "203.0.113.1", xff: []string{"garbage"}, want: "203.0.113.1"},
		{name: "mapped peer is unmapped", peer: "::ffff:203.0.113.1", want: "203.0.113.1"},
		{name: "trusted peer, one entry", peer: "10.0.0.1", xff: []string{"52.112.0.1"}, want: "52.112.0.1"},
		{name: "rightmost untrusted wins", peer: "10.0.0.1", xff: []string{"1.1.1.1, 52.112.0.1, 10.0.0.2"}, want: "52.112.0.1"},
		{name: "entries left of it are never read", peer: "10.0.0.1", xff: []string{"bogus, 52.112.0.1"}, want: "52.112.0.1"},
		{name: "several header lines", peer: "10.0.0.1", xff: []string{"1.1.1.1", "52.112.0.1", "10.0.0.3"}, want: "52.112.0.1"},
		{name: "all trusted: the leftmost", peer: "10.0.0.1", xff: []string{"10.0.0.9, 10.0.0.8"}, want: "10.0.0.9"},
		{name: "port on IPv4", peer: "10.0.0.1", xff: []string{"52.112.0.1:443"}, want: "52.112.0.1"},
		{name: "IPv6 with brackets and port", peer: "10.0.0.1", xff: []string{"[2001:db8:2::1]:443"}, want: "2001:db8:2::1"},
		{name: "bare IPv6", peer: "2001:db8:1::5", xff: []string{"2001:db8:2::1"}, want: "2001:db8:2::1"},
		{name: "trusted IPv6 hop skipped", peer: "10.0.0.1", xff: []string{"2001:db8:2::1, 2001:db8:1::7"}, want: "2001:db8:2::1"},
		{name: "mapped entry unmapped", peer: "10.0.0.1", xff: []string{"::ffff:52.112.0.1"}, want: "52.112.0.1"},
		{name: "spaces", peer: "10.0.0.1", xff: []string{"  52.112.0.1  "}, want: "52.112.0.1"},
		{name: "malformed rightmost", peer: "10.0.0.1", xff: []string{"52.112.0.1, nope"}, wantErr: true},
		{name: "empty entry", peer: "10.0.0.1", xff: []string{"52.112.0.1,,10.0.0.2"}, wantErr: true},
		{name: "empty header", peer: "10.0.0.1", xff: []string{""}, wantErr: true},
		{name: "zone", peer: "10.0.0.1", xff: []string{"fe80::1%eth0"}, wantErr: true},
		{name: "hostname", peer: "10.0.0.1", xff: []string{"unknown"}, wantErr: true},
		{name: "too many trusted hops", peer: "10.0.0.1", xff: []string{strings.Repeat("10.0.0.2,", 40) + "10.0.0.2"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := clientAddr(netip.MustParseAddr(tc.peer), tc.xff, trusted)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error %v", err, tc.wantErr)
			}
			if !tc.wantErr && got.String() != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// TestClientAddrOracle compares clientAddr with a straightforward
// reference on generated chains of hops.
func TestClientAddrOracle(t *testing.T) {
	trusted := ipset(t, "10.0.0.0/8")
	hops := []string{"10.0.0.1", "10.0.0.2", "52.112.0.1", "203.0.113.9"}
	oracle := func(peer string, chain []string) string {
		if !strings.HasPrefix(peer, "10.") {
			return peer
		}
		for i := len(chain) - 1; i >= 0; i-- {
			if !strings.HasPrefix(chain[i], "10.") {
				return chain[i]
			}
		}
		if len(chain) > 0 {
			return chain[0]
		}
		return peer
	}
	var gen func(chain []string, depth int)
	n := 0
	gen = func(chain []string, depth int) {
		for _, peer := range hops {
			var xff []string
			if len(chain) > 0 {
				xff = []string{strings.Join(chain, ", ")}
			}
			got, err := clientAddr(netip.MustParseAddr(peer), xff, trusted)
			if err != nil {
				t.Fatalf("peer %s chain %v: %v", peer, chain, err)
			}
			if want := oracle(peer, chain); got.String() != want {
				t.Fatalf("peer %s chain %v: got %s, want %s", peer, chain, got, want)
			}
			n++
		}
		if depth == 0 {
			return
		}
		for _, h := range hops {
			gen(append(append([]string{}, chain...), h), depth-1)
		}
	}
	gen(nil, 4)
	t.Logf("%d chains checked", n)
}

func TestClientAddrAllocs(t *testing.T) {
	trusted := ipset(t, "10.0.0.0/8")
	peer := netip.MustParseAddr("10.0.0.1")
	xff := []string{"1.1.1.1, 52.112.0.1, 10.0.0.2"}
	if n := testing.AllocsPerRun(100, func() { clientAddr(peer, xff, trusted) }); n != 0 {
		t.Errorf("clientAddr allocates %v times per call", n)
	}
}

func TestParseProxyHeader(t *testing.T) {
	v4src, v4dst := netip.MustParseAddrPort("203.0.113.5:40000"), netip.MustParseAddrPort("192.0.2.1:443")
	v6src, v6dst := netip.MustParseAddrPort("[2001:db8::5]:40000"), netip.MustParseAddrPort("[2001:db8::1]:443")
	local := append(append([]byte{}, v2Signature...), 0x20, 0x00, 0, 0)
	tests := []struct {
		name    string
		in      []byte
		want    proxyHeader
		rest    string
		wantErr error // errNotProxy, or any error when set to errAny
	}{
		{name: "v1 TCP4", in: append(proxyV1(v4src, v4dst), "GET"...), want: proxyHeader{Version: 1, Source: v4src, Dest: v4dst}, rest: "GET"},
		{name: "v1 TCP6", in: proxyV1(v6src, v6dst), want: proxyHeader{Version: 1, Source: v6src, Dest: v6dst}},
		{name: "v1 UNKNOWN", in: []byte("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\nX"), want: proxyHeader{Version: 1}, rest: "X"},
		{name: "v2 TCP4", in: append(proxyV2(v4src, v4dst), 0x16), want: proxyHeader{Version: 2, Source: v4src, Dest: v4dst}, rest: "\x16"},
		{name: "v2 TCP6", in: proxyV2(v6src, v6dst), want: proxyHeader{Version: 2, Source: v6src, Dest: v6dst}},
		{name: "v2 LOCAL", in: local, want: proxyHeader{Version: 2}},
		{name: "TLS client hello", in: []byte{0x16, 0x03, 0x01}, wantErr: errNotProxy, rest: "\x16\x03\x01"},
		{name: "HTTP POST", in: []byte("POST / HTTP/1.1\r\n"), wantErr: errNotProxy, rest: "POST / HTTP/1.1\r\n"},
		{name: "HTTP PUT", in: []byte("PUT / HTTP/1.1\r\n"), wantErr: errNotProxy, rest: "PUT / HTTP/1.1\r\n"},
		{name: "short P", in: []byte("PRO"), wantErr: errNotProxy, rest: "PRO"},
		{name: "v1 mixed families", in: []byte("PROXY TCP4 2001:db8::1 192.0.2.1 1 2\r\n"), wantErr: errAny},
		{name: "v1 bad port", in: []byte("PROXY TCP4 192.0.2.9 192.0.2.1 65536 2\r\n"), wantErr: errAny},
		{name: "v1 leading zero port", in: []byte("PROXY TCP4 192.0.2.9 192.0.2.1 080 2\r\n"), wantErr: errAny},
		{name: "v1 no CRLF", in: []byte("PROXY TCP4 192.0.2.9 192.0.2.1 1 2\n"), wantErr: errAny},
		{name: "v1 too long", in: []byte("PROXY TCP4 " + strings.Repeat("1", 200) + "\r\n"), wantErr: errAny},
		{name: "v2 bad version", in: append(append([]byte{}, v2Signature...), 0x31, 0x11, 0, 12), wantErr: errAny},
		{name: "v2 short addresses", in: append(append([]byte{}, v2Signature...), 0x21, 0x11, 0, 4, 1, 2, 3, 4), wantErr: errAny},
		{name: "v2 too long", in: append(append([]byte{}, v2Signature...), 0x21, 0x11, 0xff, 0xff), wantErr: errAny},
		{name: "v2 truncated", in: append(append([]byte{}, v2Signature...), 0x21, 0x11, 0, 12, 1), wantErr: errAny},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := bufio.NewReader(bytes.NewReader(tc.in))
			got, err := parseProxyHeader(r)
			switch {
			case tc.wantErr == errAny:
				if err == nil {
					t.Fatalf("parsed %+v, want an error", got)
				}
				return
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error %v, want %v", err, tc.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			default:
				if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
					t.Errorf("header (-want +got):\n%s", diff)
				}
			}
			rest := new(bytes.Buffer)
			rest.ReadFrom(r)
			if rest.String() != tc.rest {
				t.Errorf("left %q in the stream, want %q", rest, tc.rest)
			}
		})
	}
}

var errAny = errors.New("any error")

// FuzzForwardedFor: clientAddr never panics, and whatever it returns is
// the peer or one of the header's entries.
func FuzzForwardedFor(f *testing.F) {
	for _, s := range []string{"52.112.0.1", "1.1.1.1, 10.0.0.2", "[::1]:80", "10.0.0.1,,", " , ", "::ffff:1.2.3.4:5", "fe80::1%eth0"} {
		f.Add("10.0.0.1", s)
	}
	trusted := ipset(f, "10.0.0.0/8", "::1/128")
	f.Fuzz(func(t *testing.T, peer, xff string) {
		p, err := netip.ParseAddr(peer)
		if err != nil {
			return
		}
		got, err := clientAddr(p, []string{xff}, trusted)
		if err != nil {
			return
		}
		if got == p.Unmap() {
			return
		}
		if !containsAddr(xff, got) {
			t.Fatalf("client %s is neither the peer %s nor in %q", got, p, xff)
		}
		if trusted.Contains(got) && !allTrusted(xff, trusted) {
			t.Fatalf("client %s is a trusted proxy though %q has an untrusted entry", got, xff)
		}
	})
}

func containsAddr(xff string, a netip.Addr) bool {
	for _, e := range strings.Split(xff, ",") {
		if b, err := parseForwardedEntry(e); err == nil && b == a {
			return true
		}
	}
	return false
}

func allTrusted(xff string, trusted interface{ Contains(netip.Addr) bool }) bool {
	for _, e := range strings.Split(xff, ",") {
		if a, err := parseForwardedEntry(e); err == nil && !trusted.Contains(a) {
			return false
		}
	}
	return true
}

// FuzzProxyHeader: the PROXY parser never panics, never reads past the
// header's declared end, and gives back a valid source whenever it
// claims one.
func FuzzProxyHeader(f *testing.F) {
	src, dst := netip.MustParseAddrPort("203.0.113.5:40000"), netip.MustParseAddrPort("192.0.2.1:443")
	f.Add(proxyV1(src, dst))
	f.Add(proxyV2(src, dst))
	f.Add(proxyV2(netip.MustParseAddrPort("[2001:db8::5]:1"), netip.MustParseAddrPort("[2001:db8::1]:2")))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add([]byte("POST / HTTP/1.1\r\n"))
	f.Add([]byte{0x16, 3, 1, 0, 5})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bufio.NewReaderSize(bytes.NewReader(in), 256)
		h, err := parseProxyHeader(r)
		if err != nil {
			if errors.Is(err, errNotProxy) && r.Buffered() != min(len(in), 256) && len(in) > 0 {
				// Not a header: nothing may be consumed.
				t.Fatalf("errNotProxy but %d of %d bytes consumed", len(in)-r.Buffered(), len(in))
			}
			return
		}
		if h.Version != 1 && h.Version != 2 {
			t.Fatalf("version %d", h.Version)
		}
		if h.Source.IsValid() && (!h.Source.Addr().IsValid() || h.Source.Addr().Zone() != "") {
			t.Fatalf("bad source %v", h.Source)
		}
	})
}

// FuzzActivityBody drives the gateway's body path: read under the limit,
// parse as an activity, validate. Nothing may panic, and nothing that is
// not a well-formed activity with a genuine token may pass.
func FuzzActivityBody(f *testing.F) {
	f.Add(ingresstest.Activity("msteams", ingresstest.ServiceURL))
	f.Add([]byte(`{"channelId":"msteams","serviceUrl":"https://smba.trafficmanager.net/teams/","ServiceUrl":"x"}`))
	f.Add([]byte(`{"channelId":1}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"serviceUrl":"\ud800"}`))
	f.Add([]byte("{\"channelId\":\"msteams\"}\x00"))
	v, err := botauth.New(botauth.Config{AppIDs: []string{ingresstest.AppID}, MetadataURL: "https://127.0.0.1:1/md", MinRefetchInterval: time.Hour})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := httptestRequest(in)
		b, err := readBody(r, 4096)
		if err != nil {
			if !errors.Is(err, errBodyTooLarge) || len(in) <= 4096 {
				t.Fatalf("readBody: %v for %d bytes", err, len(in))
			}
			return
		}
		if !bytes.Equal(b, in) {
			t.Fatal("body changed in reading")
		}
		act, err := botauth.ParseActivity(b)
		if err != nil {
			return
		}
		if res := v.Validate(t.Context(), "Bearer a.b.c", act); res.OK() {
			t.Fatal("a garbage token passed")
		}
	})
}

func httptestRequest(body []byte) *http.Request {
	return httptest.NewRequest(http.MethodPost, "/api/messages", bytes.NewReader(body))
}
