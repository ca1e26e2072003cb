package egress

import (
	"bytes"
	"context"
	"log/slog"
	"regexp"
	"testing"
	"time"

	"github.com/teamsgate/teamsgate/internal/model"
)

// TestLogLineShape: the decision line the proxy writes itself
// (Options.RequestLog) is byte for byte the line slog's JSON handler
// writes for the same request, but for the time.
func TestLogLineShape(t *testing.T) {
	start := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	records := []record{
		{method: "CONNECT", client: "198.51.100.10:40000", target: "graph.microsoft.com:443",
			decision: model.Decision{Verdict: model.VerdictAllow, Reason: "allowed", RuleID: "teams-messaging-bot.out.graph", Detail: "graph.microsoft.com"},
			addr:     "203.0.113.7:443", sni: "graph.microsoft.com", status: 200, up: 517, down: 6123},
		{method: "CONNECT", client: "198.51.100.10:40001", target: "evil.example:443", roles: []string{"teams-messaging-bot/bot", "b\"ot"},
			decision: model.Decision{Verdict: model.VerdictDeny, Reason: "host-not-allowed", Detail: "no rule allows host \"evil.example\"\n\t\r\x01\x1f<&> \u2028\u2029 é \xff\xfe"},
			status:   403},
		{method: "GET", client: "[2001:db8::1]:1", target: "login.microsoftonline.com:443", tenant: true, class: "private",
			decision: model.Decision{Verdict: model.VerdictReport, Reason: "denied-address"}, status: 0},
	}
	durations := []time.Duration{0, 10914 * time.Microsecond, 57 * time.Microsecond, 3 * time.Hour}
	strip := regexp.MustCompile(`^\{"time":"[^"]*",`)
	for i := range records {
		for _, d := range durations {
			r := records[i]
			r.start = start
			now := func() time.Time { return start.Add(d) }

			var viaSlog, direct bytes.Buffer
			slow := &Proxy{log: slog.New(slog.NewJSONHandler(&viaSlog, nil)).With("daemon", "egress"), now: now, metrics: newMetrics()}
			slow.finish(context.Background(), &r)
			fast := &Proxy{log: slog.New(slog.NewJSONHandler(&bytes.Buffer{}, nil)), now: now, metrics: newMetrics(),
				opts: Options{RequestLog: &direct}}
			fast.finish(context.Background(), &r)

			a, b := strip.ReplaceAll(viaSlog.Bytes(), nil), strip.ReplaceAll(direct.Bytes(), nil)
			if !bytes.Equal(a, b) {
				t.Errorf("record %d, %v:\nslog:   %s\ndirect: %s", i, d, viaSlog.Bytes(), direct.Bytes())
			}
			if !bytes.HasPrefix(direct.Bytes(), []byte(`{"time":"`+now().Format(time.RFC3339Nano)+`",`)) {
				t.Errorf("time: %s", direct.Bytes())
			}
		}
	}
}

// TestLogLineLevel: the logger's level still decides which lines are
// written.
func TestLogLineLevel(t *testing.T) {
	var direct bytes.Buffer
	p := &Proxy{log: slog.New(slog.NewJSONHandler(&bytes.Buffer{}, &slog.HandlerOptions{Level: slog.LevelWarn})), now: time.Now, metrics: newMetrics(),
		opts: Options{RequestLog: &direct}}
	p.finish(context.Background(), &record{start: time.Now(), decision: model.Decision{Verdict: model.VerdictAllow, Reason: "allowed"}})
	if direct.Len() != 0 {
		t.Errorf("an allow line at level warn: %s", direct.Bytes())
	}
	p.finish(context.Background(), &record{start: time.Now(), decision: model.Decision{Verdict: model.VerdictDeny, Reason: "host-not-allowed"}})
	if !bytes.Contains(direct.Bytes(), []byte(`"level":"WARN"`)) {
		t.Errorf("a deny line at level warn: %q", direct.Bytes())
	}
}

func BenchmarkLogLine(b *testing.B) {
	r := &record{start: time.Now(), method: "CONNECT", client: "198.51.100.10:40000", target: "graph.microsoft.com:443",
		decision: model.Decision{Verdict: model.VerdictAllow, Reason: "allowed", RuleID: "teams-messaging-bot.out.graph", Detail: "graph.microsoft.com"},
		addr:     "203.0.113.7:443", status: 200, up: 517, down: 6123}
	for _, c := range []struct {
		name string
		opts Options
	}{{"slog", Options{}}, {"direct", Options{RequestLog: discard{}}}} {
		b.Run(c.name, func(b *testing.B) {
			p := &Proxy{log: slog.New(slog.NewJSONHandler(discard{}, nil)).With("daemon", "egress"), now: time.Now, metrics: newMetrics(), opts: c.opts}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				p.finish(ctx, r)
			}
		})
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
