// Package jsonline writes the daemons' per-request log lines directly, in
// the exact shape of log/slog's JSON handler, for a fraction of its cost:
// slog walks generic attributes and formats a float64 through
// encoding/json for every line; a daemon writes thousands a second. The
// daemons' tests compare their lines with slog's byte for byte.
package jsonline

import (
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

var bufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// Buffer returns an empty buffer from the pool; Release gives it back.
func Buffer() *[]byte {
	bp := bufs.Get().(*[]byte)
	*bp = (*bp)[:0]
	return bp
}

// Release returns a buffer to the pool.
func Release(bp *[]byte) { bufs.Put(bp) }

// Start appends the line's opening, as slog's JSON handler writes it:
// time, level and message.
func Start(b []byte, t time.Time, level, msg string) []byte {
	b = append(b, `{"time":"`...)
	b = t.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"`...)
	b = append(b, level...)
	b = append(b, `","msg":`...)
	return AppendString(b, msg)
}

// Field appends ,"key":"value".
func Field(b []byte, key, value string) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return AppendString(b, value)
}

// Int appends ,"key":n.
func Int(b []byte, key string, n int64) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return strconv.AppendInt(b, n, 10)
}

// Bool appends ,"key":true or false.
func Bool(b []byte, key string, v bool) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return strconv.AppendBool(b, v)
}

// Millis appends ,"key":d in milliseconds with microsecond precision, as
// encoding/json writes that float64: microseconds over 1000 are never
// below 1e-6 but for zero, nor 1e21 and above.
func Millis(b []byte, key string, d time.Duration) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return strconv.AppendFloat(b, float64(d.Microseconds())/1000, 'f', -1, 64)
}

// End closes the line.
func End(b []byte) []byte { return append(b, "}\n"...) }

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string as slog's JSON handler escapes
// it: quote, backslash and control characters escaped, invalid UTF-8 as
// U+FFFD, U+2028 and U+2029 escaped, HTML characters left as they are.
func AppendString(b []byte, s string) []byte {
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
