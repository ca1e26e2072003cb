package ingress

import (
	"bytes"
	"log/slog"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"github.com/teamsgate/teamsgate/internal/model"
)

// TestRequestLineShape: the request line written directly (Options.
// RequestLog) is the line slog's JSON handler writes, byte for byte but
// for the time, for requests of every shape: allowed through an upstream,
// refused at the source, reported, with quotes and control characters in
// the detail and the path.
func TestRequestLineShape(t *testing.T) {
	start := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	up := &upstream{name: "http://127.0.0.1:3978"}
	cases := []struct {
		path string
		x    exchange
		d    model.Decision
	}{
		{"/api/messages", exchange{rec: recorder{status: 200}, clientS: "52.112.0.7", appID: "8e6b1a4c-52d1-4d47-9d0c-3c6b6d1f2a11", cached: true, group: "blue", up: up},
			model.Decision{Verdict: model.VerdictAllow, Reason: "allowed", RuleID: "teams-messaging-bot.in.activity"}},
		{"/api/mess\"ages\n\x01", exchange{rec: recorder{status: 403}, clientS: "203.0.113.9"},
			model.Decision{Verdict: model.VerdictDeny, Reason: "source-not-allowed", Detail: "no rule \"allows\" <é> \u2028 \xff"}},
		{"/api/messages", exchange{rec: recorder{status: 200}, clientS: "2001:db8::1", src: model.Decision{Verdict: model.VerdictReport, Reason: "source-not-allowed"}, appID: "x", group: "green", up: up},
			model.Decision{Verdict: model.VerdictAllow, Reason: "allowed"}},
	}
	strip := regexp.MustCompile(`^\{"time":"[^"]*",`)
	for i, tc := range cases {
		for _, d := range []time.Duration{0, 57 * time.Microsecond, 10914 * time.Microsecond, 3 * time.Hour} {
			req := httptest.NewRequest("POST", "http://gw"+"/", nil)
			req.URL.Path = tc.path
			req.RemoteAddr = "127.0.0.1:40000"
			var viaSlog, direct bytes.Buffer
			slow := &Gateway{log: slog.New(slog.NewJSONHandler(&viaSlog, nil)), now: func() time.Time { return start }}
			x := tc.x
			slow.logRequest(req, &x, &tc.d, d)
			fast := &Gateway{log: slog.New(slog.NewJSONHandler(&bytes.Buffer{}, nil)), now: func() time.Time { return start }, opts: Options{RequestLog: &direct}}
			fast.logRequest(req, &x, &tc.d, d)
			if a, b := strip.ReplaceAll(viaSlog.Bytes(), nil), strip.ReplaceAll(direct.Bytes(), nil); !bytes.Equal(a, b) {
				t.Errorf("case %d, %v:\nslog:   %s\ndirect: %s", i, d, viaSlog.Bytes(), direct.Bytes())
			}
		}
	}
	// The logger's level still decides.
	var direct bytes.Buffer
	quiet := &Gateway{log: slog.New(slog.NewJSONHandler(&bytes.Buffer{}, &slog.HandlerOptions{Level: slog.LevelWarn})), now: time.Now, opts: Options{RequestLog: &direct}}
	x := cases[0].x
	quiet.logRequest(httptest.NewRequest("POST", "/api/messages", nil), &x, &cases[0].d, time.Millisecond)
	if direct.Len() != 0 {
		t.Errorf("a request line at level warn: %s", direct.Bytes())
	}
}

// BenchmarkRequestLine: the request line through slog and written
// directly.
func BenchmarkRequestLine(b *testing.B) {
	up := &upstream{name: "http://127.0.0.1:3978"}
	x := exchange{rec: recorder{status: 200}, clientS: "52.112.0.7", appID: "8e6b1a4c-52d1-4d47-9d0c-3c6b6d1f2a11", cached: true, group: "blue", up: up}
	d := model.Decision{Verdict: model.VerdictAllow, Reason: "allowed", RuleID: "teams-messaging-bot.in.activity"}
	req := httptest.NewRequest("POST", "/api/messages", nil)
	for _, tc := range []struct {
		name string
		g    *Gateway
	}{
		{"slog", &Gateway{log: slog.New(slog.NewJSONHandler(discard{}, nil)), now: time.Now}},
		{"direct", &Gateway{log: slog.New(slog.NewJSONHandler(discard{}, nil)), now: time.Now, opts: Options{RequestLog: discard{}}}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tc.g.logRequest(req, &x, &d, 10914*time.Microsecond)
			}
		})
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
