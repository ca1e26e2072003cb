package ingress

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"testing"
)

// reqSpec is a request as the reverse proxy hands one to the transport.
type reqSpec struct {
	method, target, host, body string
	header                     http.Header
	contentLength              int64 // body length when 0
	close                      bool
	trace                      *httptrace.ClientTrace
}

func (s reqSpec) build(t testing.TB) *http.Request {
	t.Helper()
	u, err := url.Parse(s.target)
	if err != nil {
		t.Skip(err)
	}
	req := &http.Request{
		Method:        s.method,
		URL:           u,
		Host:          s.host,
		Header:        s.header.Clone(),
		Body:          io.NopCloser(strings.NewReader(s.body)),
		ContentLength: int64(len(s.body)),
		Close:         s.close,
	}
	if s.contentLength != 0 {
		req.ContentLength = s.contentLength
	}
	if req.Header == nil {
		req.Header = http.Header{}
	}
	if s.trace != nil {
		req = req.WithContext(httptrace.WithClientTrace(context.Background(), s.trace))
	}
	return req
}

// compareWrite writes the request both ways and fails unless writeRequest
// declined (writing nothing) or wrote what Request.Write writes.
func compareWrite(t testing.TB, s reqSpec) bool {
	t.Helper()
	var fast bytes.Buffer
	bw := bufio.NewWriter(&fast)
	done, ferr := writeRequest(bw, s.build(t))
	bw.Flush()
	if !done {
		if fast.Len() != 0 {
			t.Fatalf("declined after writing %q", fast.String())
		}
		return false
	}
	var std bytes.Buffer
	serr := s.build(t).Write(&std)
	if (ferr == nil) != (serr == nil) {
		t.Fatalf("errors differ: writeRequest %v, Request.Write %v", ferr, serr)
	}
	if ferr == nil && fast.String() != std.String() {
		t.Fatalf("writeRequest wrote\n%q\nRequest.Write wrote\n%q", fast.String(), std.String())
	}
	return true
}

func TestWriteRequestMatches(t *testing.T) {
	token := "Bearer " + strings.Repeat("eyJhbGciOiJSUzI1NiJ9.", 40)
	forwarded := http.Header{
		"Authorization":     {token},
		"Content-Type":      {"application/json; charset=utf-8"},
		"User-Agent":        {"Microsoft-SkypeBotApi (Microsoft-BotFramework/3.0)"},
		"X-Forwarded-For":   {"52.112.0.7"},
		"X-Forwarded-Proto": {"https"},
		"X-Forwarded-Host":  {"bot.example.com"},
		"Traceparent":       {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		"Ms-Cv":             {"  padded value\t"},
		"Accept":            {"application/json", "text/plain"},
	}
	activity := `{"type":"message","channelId":"msteams","serviceUrl":"https://smba.trafficmanager.net/emea/"}`
	with := func(f func(h http.Header)) http.Header {
		h := forwarded.Clone()
		f(h)
		return h
	}
	cases := []struct {
		name string
		spec reqSpec
		fast bool
	}{
		{"forwarded activity", reqSpec{method: "POST", target: "http://127.0.0.1:3978/api/messages", body: activity, header: forwarded}, true},
		{"query and escaped path", reqSpec{method: "POST", target: "http://bot:3978/api/a%20b/messages?x=1&y=%2F", body: activity, header: forwarded}, true},
		{"empty user agent", reqSpec{method: "POST", target: "http://bot:3978/api/messages", body: activity, header: with(func(h http.Header) { h["User-Agent"] = []string{""} })}, true},
		{"user agent with no values", reqSpec{method: "POST", target: "http://bot:3978/api/messages", body: activity, header: with(func(h http.Header) { h["User-Agent"] = nil })}, true},
		{"host field", reqSpec{method: "POST", target: "http://bot:3978/api/messages", host: "other.example:8080", body: activity, header: forwarded}, true},
		{"IPv6 host", reqSpec{method: "POST", target: "http://[::1]:3978/api/messages", body: activity, header: forwarded}, true},
		{"invalid key dropped", reqSpec{method: "POST", target: "http://bot/api/messages", body: activity, header: with(func(h http.Header) { h["Bad Key"] = []string{"v"} })}, true},
		{"excluded keys", reqSpec{method: "POST", target: "http://bot/api/messages", body: activity, header: with(func(h http.Header) {
			h["Content-Length"] = []string{"999"}
			h["Transfer-Encoding"] = []string{"chunked"}
			h["Host"] = []string{"evil"}
			h["Trailer"] = []string{"X"}
		})}, true},
		{"body shorter than its length", reqSpec{method: "POST", target: "http://bot/api/messages", body: activity, contentLength: int64(len(activity)) + 5, header: forwarded}, true},
		{"body longer than its length", reqSpec{method: "POST", target: "http://bot/api/messages", body: activity, contentLength: 10, header: forwarded}, true},
		{"line break in a value", reqSpec{method: "POST", target: "http://bot/api/messages", body: activity, header: with(func(h http.Header) { h["X-Evil"] = []string{"a\r\nInjected: 1"} })}, false},
		{"line break in the user agent", reqSpec{method: "POST", target: "http://bot/api/messages", body: activity, header: with(func(h http.Header) { h["User-Agent"] = []string{"a\nb"} })}, false},
		{"no user agent key", reqSpec{method: "POST", target: "http://bot/api/messages", body: activity, header: with(func(h http.Header) { delete(h, "User-Agent") })}, false},
		{"GET", reqSpec{method: "GET", target: "http://bot/api/messages", header: forwarded}, false},
		{"empty body", reqSpec{method: "POST", target: "http://bot/api/messages", header: forwarded}, false},
		{"close", reqSpec{method: "POST", target: "http://bot/api/messages", body: activity, header: forwarded, close: true}, false},
		{"unicode host", reqSpec{method: "POST", target: "http://bücher.example/api/messages", body: activity, header: forwarded}, false},
		{"zone in host", reqSpec{method: "POST", target: "http://[fe80::1%25eth0]:3978/api/messages", body: activity, header: forwarded}, false},
		{"observing trace", reqSpec{method: "POST", target: "http://bot/api/messages", body: activity, header: forwarded, trace: &httptrace.ClientTrace{WroteHeaders: func() {}}}, false},
		{"the reverse proxy's trace", reqSpec{method: "POST", target: "http://bot/api/messages", body: activity, header: forwarded, trace: &httptrace.ClientTrace{Got1xxResponse: nil, GotConn: func(httptrace.GotConnInfo) {}}}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := compareWrite(t, tc.spec); got != tc.fast {
				t.Errorf("written by writeRequest: %v, want %v", got, tc.fast)
			}
		})
	}
}

// FuzzWriteRequest holds writeRequest to Request.Write's bytes for every
// request it accepts.
func FuzzWriteRequest(f *testing.F) {
	f.Add("POST", "http://127.0.0.1:3978/api/messages", "", "Authorization", "Bearer x.y.z", "Microsoft-SkypeBotApi", `{"a":1}`, int64(0))
	f.Add("POST", "http://bot/p?q=%41", "h:1", "x-lower", " v ", "", "b", int64(3))
	f.Add("POST", "http://[::1]/", "", "Bad Key", "\x01", "ua\t", "body", int64(-1))
	f.Fuzz(func(t *testing.T, method, target, host, key, value, ua, body string, cl int64) {
		h := http.Header{"User-Agent": {ua}}
		if key != "" {
			h[key] = []string{value, value + "2"}
		}
		compareWrite(t, reqSpec{method: method, target: target, host: host, body: body, header: h, contentLength: cl})
	})
}

// fastWriteProbe is a transport that records whether writeRequest took the
// request the reverse proxy made, and answers like a bot.
type fastWriteProbe struct{ took, declined int }

func (p *fastWriteProbe) RoundTrip(r *http.Request) (*http.Response, error) {
	var b bytes.Buffer
	bw := bufio.NewWriter(&b)
	if done, err := writeRequest(bw, r); done && err == nil {
		p.took++
	} else {
		p.declined++
	}
	return stubTransport{}.RoundTrip(r)
}

// The requests the gateway forwards are the ones writeRequest writes.
func TestForwardedRequestsTakeTheFastWrite(t *testing.T) {
	h := newHarness(t, withConfig(func(h *harness, c *Config) { c.PlainHTTP = true }))
	probe := &fastWriteProbe{}
	for _, g := range h.g.state.Load().pool.order {
		for _, u := range g.ups {
			u.proxy.Transport = probe
		}
	}
	for _, ua := range []string{"", "Microsoft-SkypeBotApi (Microsoft-BotFramework/3.0)"} {
		req, _ := http.NewRequest(http.MethodPost, h.base+"/api/messages", bytes.NewReader(activity()))
		req.Header.Set("Authorization", "Bearer "+h.token())
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", ua)
		if resp, _ := h.do(req); resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	if probe.took != 2 || probe.declined != 0 {
		t.Errorf("writeRequest took %d and declined %d of 2 forwarded requests", probe.took, probe.declined)
	}
}
