package ingress

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// writeRequest writes req to bw as (*http.Request).Write would, byte for
// byte, for the requests the gateway forwards: a POST with a body of known
// length, a User-Agent header (the reverse proxy always sets one, empty
// when the client sent none), no Close, no trailer and no transfer
// encoding, no header value holding a line break (the inbound parser lets
// none through), and no client trace that observes the write. It reports false, having written nothing, for
// any other request, which the caller then writes with Request.Write.
//
// Request.Write is general — any method, chunked bodies, proxies, traces —
// and pays for it on every request: a formatted print per line, a sorted
// copy of the header, and every header value passed through a
// strings.Replacer (the 1 KB token included), about 5% of the gateway's
// CPU per request in a profile. The wire format stays the standard
// library's: TestWriteRequestMatches and FuzzWriteRequest hold the two to
// the same bytes.
func writeRequest(bw *bufio.Writer, req *http.Request) (bool, error) {
	if req.Method != http.MethodPost || req.Close || req.ContentLength <= 0 || req.Body == nil || req.Body == http.NoBody ||
		len(req.TransferEncoding) > 0 || req.Trailer != nil || req.URL == nil || req.URL.Opaque != "" {
		return false, nil
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if !plainHost(host) {
		return false, nil
	}
	ua, ok := req.Header["User-Agent"]
	if !ok {
		return false, nil
	}
	userAgent := ""
	if len(ua) > 0 {
		userAgent = ua[0]
	}
	if hasLineBreak(userAgent) {
		return false, nil
	}
	if tr := httptrace.ContextClientTrace(req.Context()); tr != nil &&
		(tr.WroteHeaderField != nil || tr.WroteHeaders != nil || tr.WroteRequest != nil || tr.Wait100Continue != nil) {
		return false, nil
	}
	ruri := req.URL.RequestURI()
	if hasCTL(ruri) {
		return false, nil
	}
	var keysArr [24]string
	keys := keysArr[:0]
	for k, vs := range req.Header {
		switch k {
		case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer":
			continue
		}
		for _, v := range vs {
			if hasLineBreak(v) {
				return false, nil
			}
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)

	bw.WriteString(req.Method)
	bw.WriteByte(' ')
	bw.WriteString(ruri)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(host)
	bw.WriteString("\r\n")
	if userAgent != "" { // trimmed after the test, as Request.Write does
		bw.WriteString("User-Agent: ")
		bw.WriteString(textproto.TrimString(userAgent))
		bw.WriteString("\r\n")
	}
	bw.WriteString("Content-Length: ")
	bw.Write(strconv.AppendInt(bw.AvailableBuffer(), req.ContentLength, 10))
	bw.WriteString("\r\n")
	for _, k := range keys {
		if !httpguts.ValidHeaderFieldName(k) {
			continue // as Request.Write: dropped
		}
		for _, v := range req.Header[k] {
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(textproto.TrimString(v))
			bw.WriteString("\r\n")
		}
	}
	bw.WriteString("\r\n")
	return true, writeBody(bw, req)
}

// writeBody copies exactly req.ContentLength bytes of the body, and closes
// it, as Request.Write does: a body shorter or longer is an error.
func writeBody(bw *bufio.Writer, req *http.Request) error {
	defer req.Body.Close()
	n, err := io.Copy(bw, io.LimitReader(req.Body, req.ContentLength))
	if err != nil {
		return err
	}
	var one [1]byte
	extra, _ := io.ReadFull(req.Body, one[:])
	if n+int64(extra) != req.ContentLength {
		return fmt.Errorf("http: ContentLength=%d with Body length %d", req.ContentLength, n+int64(extra))
	}
	return nil
}

// plainHost reports whether h is a Host value Request.Write sends as it
// is: ASCII letters, digits, '.', '-', ':' and brackets (no zone, no
// Unicode to convert, nothing httpguts.ValidHostHeader refuses).
func plainHost(h string) bool {
	if h == "" {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == ':' || c == '[' || c == ']') {
			return false
		}
	}
	return true
}

// hasLineBreak reports whether v holds a byte Request.Write would replace
// with a space.
func hasLineBreak(v string) bool {
	return strings.IndexByte(v, '\n') >= 0 || strings.IndexByte(v, '\r') >= 0
}

// hasCTL reports whether s holds an ASCII control character, which
// Request.Write refuses in the request target.
func hasCTL(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < ' ' || b == 0x7f {
			return true
		}
	}
	return false
}
