package egress

import (
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// The decision line is the proxy's hottest piece of logging: one per
// request. Through slog's JSON handler it costs a float64 through
// encoding/json (duration_ms) and a walk over generic attributes; with
// Options.RequestLog the proxy writes the same line itself, in the JSON
// handler's exact shape, for a fraction of that (TestLogLineShape compares
// the two).

var lineBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// appendLine appends r's decision line, as slog's JSON handler writes it
// for a logger with the attribute daemon=egress, and a newline.
func appendLine(b []byte, t time.Time, level string, r *record, d time.Duration) []byte {
	b = append(b, `{"time":"`...)
	b = t.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"`...)
	b = append(b, level...)
	b = append(b, `","msg":"egress request","daemon":"egress"`...)
	b = appendField(b, "decision", r.decision.Verdict.String())
	b = appendField(b, "reason", r.decision.Reason)
	b = appendField(b, "method", r.method)
	b = appendField(b, "client", r.client)
	b = appendField(b, "target", r.target)
	if r.decision.RuleID != "" {
		b = appendField(b, "flow", r.decision.RuleID)
	}
	if len(r.roles) > 0 {
		b = append(b, `,"roles":[`...)
		for i, role := range r.roles {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, role)
		}
		b = append(b, ']')
	}
	if r.addr != "" {
		b = appendField(b, "addr", r.addr)
	}
	if r.sni != "" {
		b = appendField(b, "sni", r.sni)
	}
	if r.class != "" {
		b = appendField(b, "address_class", r.class)
	}
	if r.tenant {
		b = append(b, `,"tenant_restrictions":true`...)
	}
	if r.decision.Detail != "" {
		b = appendField(b, "detail", r.decision.Detail)
	}
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(r.status), 10)
	b = append(b, `,"bytes_up":`...)
	b = strconv.AppendInt(b, r.up, 10)
	b = append(b, `,"bytes_down":`...)
	b = strconv.AppendInt(b, r.down, 10)
	b = append(b, `,"duration_ms":`...)
	// what encoding/json writes for a float64 of this range: microseconds
	// over 1000 are never below 1e-6 but for zero, nor 1e21 and above
	b = strconv.AppendFloat(b, float64(d.Microseconds())/1000, 'f', -1, 64)
	return append(b, "}\n"...)
}

func appendField(b []byte, key, value string) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return appendString(b, value)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string as slog's JSON handler escapes
// it: quote, backslash and control characters escaped, invalid UTF-8 as
// U+FFFD, U+2028 and U+2029 escaped, HTML characters left as they are.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
