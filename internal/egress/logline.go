package egress

import (
	"time"

	"github.com/teamsgate/teamsgate/internal/jsonline"
)

// The decision line is the proxy's hottest piece of logging: one per
// request. Through slog's JSON handler it costs a float64 through
// encoding/json (duration_ms) and a walk over generic attributes; with
// Options.RequestLog the proxy writes the same line itself, in the JSON
// handler's exact shape, for a fraction of that (TestLogLineShape compares
// the two).

// appendLine appends r's decision line, as slog's JSON handler writes it
// for a logger with the attribute daemon=egress, and a newline.
func appendLine(b []byte, t time.Time, level string, r *record, d time.Duration) []byte {
	b = jsonline.Start(b, t, level, "egress request")
	b = append(b, `,"daemon":"egress"`...)
	b = jsonline.Field(b, "decision", r.decision.Verdict.String())
	b = jsonline.Field(b, "reason", r.decision.Reason)
	b = jsonline.Field(b, "method", r.method)
	b = jsonline.Field(b, "client", r.client)
	b = jsonline.Field(b, "target", r.target)
	if r.decision.RuleID != "" {
		b = jsonline.Field(b, "flow", r.decision.RuleID)
	}
	if len(r.roles) > 0 {
		b = append(b, `,"roles":[`...)
		for i, role := range r.roles {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonline.AppendString(b, role)
		}
		b = append(b, ']')
	}
	if r.addr != "" {
		b = jsonline.Field(b, "addr", r.addr)
	}
	if r.sni != "" {
		b = jsonline.Field(b, "sni", r.sni)
	}
	if r.class != "" {
		b = jsonline.Field(b, "address_class", r.class)
	}
	if r.tenant {
		b = append(b, `,"tenant_restrictions":true`...)
	}
	if r.decision.Detail != "" {
		b = jsonline.Field(b, "detail", r.decision.Detail)
	}
	b = jsonline.Int(b, "status", int64(r.status))
	b = jsonline.Int(b, "bytes_up", r.up)
	b = jsonline.Int(b, "bytes_down", r.down)
	b = jsonline.Millis(b, "duration_ms", d)
	return jsonline.End(b)
}
