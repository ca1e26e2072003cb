package m365

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpproxy"

	"github.com/teamsgate/teamsgate/internal/model"
)

// The Microsoft 365 IP Address and URL web service (Microsoft's page of that
// name) answers three calls, each with a ClientRequestId query parameter:
//
//   - GET <base>/version/<instance>: {"instance": …, "latest": "YYYYMMDDNN"};
//     not rate limited.
//   - GET <base>/endpoints/<instance>: the array of endpoint sets Parse
//     reads; rate limited, to be called only when the version changed.
//   - GET <base>/changes/<instance>/<version>: the change records since a
//     version; rate limited like endpoints.
//
// A rate-limited call that is made too often is answered with HTTP 429, and
// Microsoft asks the caller to wait an hour. The Client never retries.

// DefaultBaseURL is the web service's address.
const DefaultBaseURL = "https://endpoints.office.com"

// docClientRequestID is the example GUID of Microsoft's documentation,
// which "may be blocked" by the service.
const docClientRequestID = "b10c5ed1-bad1-445f-b386-b919946339a7"

// defaultRetryAfter is how long to wait after a 429 without a usable
// Retry-After header: Microsoft's documentation says an hour.
const defaultRetryAfter = time.Hour

// maxStatusBody bounds the part of an error response's body quoted in the
// error.
const maxStatusBody = 200

// Client talks to the web service. The zero value with ClientRequestID set
// is ready to use; a Client holds no state between calls.
type Client struct {
	// BaseURL is the service's address, an http or https URL without
	// query; "" means DefaultBaseURL.
	BaseURL string
	// ClientRequestID identifies the calling machine to the service: one
	// GUID per machine, generated once (NewClientRequestID) and kept. It is
	// required and checked by ValidClientRequestID.
	ClientRequestID string
	// HTTP is the client requests are made with; nil means a new
	// NewHTTPClient() for each call.
	HTTP *http.Client
	// Progress, when set, is called as an endpoints or changes body
	// arrives: the bytes read so far and the total (the Content-Length, -1
	// if unknown).
	Progress func(read, total int64)

	// now is the clock for RateLimitError.At; nil means time.Now.
	now func() time.Time
	// maxBytes bounds a response body; 0 means MaxBytes.
	maxBytes int64
}

// NewHTTPClient returns the client used when Client.HTTP is nil: proxies
// from the environment (HTTPS_PROXY, HTTP_PROXY and NO_PROXY, as
// http.ProxyFromEnvironment reads them), a 10 s dial timeout, a 10 s TLS
// handshake timeout, a 30 s response-header timeout and a 2 minute overall
// timeout.
//
// The environment is read when NewHTTPClient is called, through
// httpproxy.FromEnvironment: http.ProxyFromEnvironment reads it once per
// process and would ignore a later change (and a test's t.Setenv).
func NewHTTPClient() *http.Client {
	proxy := httpproxy.FromEnvironment().ProxyFunc()
	return &http.Client{
		Timeout: 2 * time.Minute,
		Transport: &http.Transport{
			Proxy: func(r *http.Request) (*url.URL, error) { return proxy(r.URL) },
			DialContext: (&net.Dialer{
				Timeout:   10 * time.Second,
				KeepAlive: 30 * time.Second,
			}).DialContext,
			ForceAttemptHTTP2:     true,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 30 * time.Second,
			ExpectContinueTimeout: time.Second,
			MaxIdleConns:          4,
			IdleConnTimeout:       90 * time.Second,
		},
	}
}

// NewClientRequestID returns a random (version 4) GUID, from crypto/rand,
// for Client.ClientRequestID.
func NewClientRequestID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generating a client request id: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 9562 variant
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32], nil
}

// ValidClientRequestID reports whether s is a GUID the service accepts:
// 8-4-4-4-12 hexadecimal digits, either case, and not the documentation's
// example GUID, which the service may block.
func ValidClientRequestID(s string) error {
	if s == "" {
		return errors.New("no client request id (a GUID identifying this machine; generate one once and keep it)")
	}
	if len(s) != 36 {
		return fmt.Errorf("client request id %q: not a GUID (8-4-4-4-12 hexadecimal digits)", s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return fmt.Errorf("client request id %q: not a GUID (8-4-4-4-12 hexadecimal digits)", s)
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return fmt.Errorf("client request id %q: not a GUID (8-4-4-4-12 hexadecimal digits)", s)
			}
		}
	}
	if strings.EqualFold(s, docClientRequestID) {
		return fmt.Errorf("client request id %q is the example of Microsoft's documentation, which the service may block; generate one for this machine", s)
	}
	return nil
}

// Instance maps a teamsgate cloud name (as model.ParseCloud reads it) to
// the web service's instance: worldwide and gcc use "Worldwide", gcch
// "USGovGCCHigh" and dod "USGovDoD".
func Instance(name string) (string, error) {
	c, err := model.ParseCloud(name)
	if err != nil {
		return "", err
	}
	switch c {
	case model.CloudWorldwide, model.CloudGCC:
		return "Worldwide", nil
	case model.CloudGCCHigh:
		return "USGovGCCHigh", nil
	case model.CloudDoD:
		return "USGovDoD", nil
	}
	return "", fmt.Errorf("cloud %q has no Microsoft 365 web service instance (want worldwide, gcc, gcch or dod)", name)
}

// RateLimitError is an HTTP 429 answer: the service asks the caller to wait.
// The Client returns it (wrapped; use errors.As) at once and never retries.
type RateLimitError struct {
	// RetryAfter comes from the Retry-After header (seconds or an HTTP
	// date), or is one hour, Microsoft's advice, when there is none.
	RetryAfter time.Duration
	// At is when to try again: the time of the answer plus RetryAfter.
	At time.Time
}

func (e *RateLimitError) Error() string {
	at := e.At.UTC()
	if t := at.Truncate(time.Minute); !t.Equal(at) {
		at = t.Add(time.Minute) // never show a time before At
	}
	return fmt.Sprintf("the web service refused: too many requests (HTTP 429); try again after %s (in %s)",
		at.Format("2006-01-02 15:04 UTC"), e.RetryAfter.Round(time.Second))
}

// Version returns the latest version (YYYYMMDDNN) of the instance's
// endpoint data. The call is not rate limited; call Endpoints only when its
// answer changed.
func (c *Client) Version(ctx context.Context, instance string) (string, error) {
	u, err := c.url(instance, "version", instance)
	if err != nil {
		return "", err
	}
	body, err := c.get(ctx, u, false)
	if err != nil {
		return "", err
	}
	var v struct {
		Instance *string `json:"instance"`
		Latest   *string `json:"latest"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return "", fmt.Errorf("GET %q: not a version response (a JSON object with instance and latest): %w", redact(u), err)
	}
	switch {
	case v.Instance == nil || v.Latest == nil:
		return "", fmt.Errorf("GET %q: not a version response: want instance and latest, got %q", redact(u), bodyStart(body))
	case !strings.EqualFold(*v.Instance, instance):
		return "", fmt.Errorf("GET %q: the response is for instance %q, not %q", redact(u), *v.Instance, instance)
	case !validVersion(*v.Latest):
		return "", fmt.Errorf("GET %q: latest version %q is not 10 digits (YYYYMMDDNN)", redact(u), *v.Latest)
	}
	return *v.Latest, nil
}

// Endpoints returns the instance's endpoints response, checked to be
// complete JSON but not parsed: pass it to Parse. The call is rate limited:
// make it only when Version changed.
func (c *Client) Endpoints(ctx context.Context, instance string) ([]byte, error) {
	u, err := c.url(instance, "endpoints", instance)
	if err != nil {
		return nil, err
	}
	return c.get(ctx, u, true)
}

// Change is one change record of the web service: an endpoint set's
// addresses or URLs added, removed or changed in a version.
type Change struct {
	// ID is the record's id; EndpointSetID the endpoint set it concerns.
	ID, EndpointSetID int
	// Disposition is "Change", "Add" or "Remove" (the service varies the
	// case; these three are given in this form, others as published).
	Disposition string
	// Version is the version (YYYYMMDDNN) that made the change.
	Version string
	// Impact is the service's summary, e.g. "AddedIp" or "RemovedUrl".
	Impact string
	// AddEffectiveDate is add.effectiveDate (YYYYMMDD), when the added
	// addresses are in use; "" when not given.
	AddEffectiveDate string
	// AddIPs, AddURLs, RemoveIPs and RemoveURLs are the add and remove
	// members' ips and urls, as published.
	AddIPs, AddURLs, RemoveIPs, RemoveURLs []string
}

// Changes returns the instance's change records since sinceVersion
// (YYYYMMDDNN). The call is rate limited like Endpoints.
func (c *Client) Changes(ctx context.Context, instance, sinceVersion string) ([]Change, error) {
	if !validVersion(sinceVersion) {
		return nil, fmt.Errorf("version %q is not 10 digits (YYYYMMDDNN)", sinceVersion)
	}
	u, err := c.url(instance, "changes", instance, sinceVersion)
	if err != nil {
		return nil, err
	}
	body, err := c.get(ctx, u, true)
	if err != nil {
		return nil, err
	}
	var wire []struct {
		ID            *int   `json:"id"`
		EndpointSetID *int   `json:"endpointSetId"`
		Disposition   string `json:"disposition"`
		Version       string `json:"version"`
		Impact        string `json:"impact"`
		Add           *struct {
			EffectiveDate string   `json:"effectiveDate"`
			IPs           []string `json:"ips"`
			URLs          []string `json:"urls"`
		} `json:"add"`
		Remove *struct {
			IPs  []string `json:"ips"`
			URLs []string `json:"urls"`
		} `json:"remove"`
	}
	if err := json.Unmarshal(body, &wire); err != nil {
		return nil, fmt.Errorf("GET %q: not a changes response (a JSON array of change records): %w", redact(u), err)
	}
	out := make([]Change, 0, len(wire))
	for i, w := range wire {
		if w.ID == nil || w.EndpointSetID == nil {
			return nil, fmt.Errorf("GET %q: change record [%d]: want id and endpointSetId", redact(u), i)
		}
		ch := Change{
			ID:            *w.ID,
			EndpointSetID: *w.EndpointSetID,
			Disposition:   w.Disposition,
			Version:       w.Version,
			Impact:        w.Impact,
		}
		for _, d := range []string{"Change", "Add", "Remove"} {
			if strings.EqualFold(w.Disposition, d) {
				ch.Disposition = d
			}
		}
		if w.Add != nil {
			ch.AddEffectiveDate, ch.AddIPs, ch.AddURLs = w.Add.EffectiveDate, w.Add.IPs, w.Add.URLs
		}
		if w.Remove != nil {
			ch.RemoveIPs, ch.RemoveURLs = w.Remove.IPs, w.Remove.URLs
		}
		out = append(out, ch)
	}
	return out, nil
}

// url returns the address of a call: the base URL, the path elements and
// the ClientRequestId query parameter. It checks the client's settings and
// the instance name.
func (c *Client) url(instance string, elems ...string) (*url.URL, error) {
	if err := ValidClientRequestID(c.ClientRequestID); err != nil {
		return nil, err
	}
	if instance == "" {
		return nil, errors.New("no web service instance (want Worldwide, USGovGCCHigh or USGovDoD)")
	}
	for _, r := range instance {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') {
			return nil, fmt.Errorf("web service instance %q: want a name such as Worldwide, USGovGCCHigh or USGovDoD", instance)
		}
	}
	base := c.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("base URL %q: %w", base, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("base URL %q: want an http or https URL without query", base)
	}
	u = u.JoinPath(elems...)
	u.RawQuery = url.Values{"ClientRequestId": {c.ClientRequestID}}.Encode()
	return u, nil
}

// get makes one GET request and returns the checked body: status 200,
// a JSON content type, complete, at most maxBytes and valid JSON. A 429 is
// returned as a *RateLimitError at once. With progress, c.Progress is
// called as the body arrives.
func (c *Client) get(ctx context.Context, u *url.URL, progress bool) ([]byte, error) {
	where := redact(u)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("GET %q: %w", where, err)
	}
	req.Header.Set("User-Agent", "teamsgate")
	req.Header.Set("Accept", "application/json")
	hc := c.HTTP
	if hc == nil {
		hc = NewHTTPClient()
		defer hc.CloseIdleConnections()
	}
	resp, err := hc.Do(req)
	if err != nil {
		// A *url.Error names the URL with its query; name it without.
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		return nil, fmt.Errorf("GET %q: %w", where, err)
	}
	defer resp.Body.Close()

	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusTooManyRequests:
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10)) //nolint:errcheck // drained for connection reuse only
		now := time.Now
		if c.now != nil {
			now = c.now
		}
		t := now()
		wait := retryAfter(resp.Header.Get("Retry-After"), t)
		return nil, fmt.Errorf("GET %q: %w", where, &RateLimitError{RetryAfter: wait, At: t.Add(wait)})
	default:
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxStatusBody)) //nolint:errcheck // a partial body is still worth quoting
		return nil, fmt.Errorf("GET %q: HTTP %s: %q", where, resp.Status, strings.TrimSpace(strings.ToValidUTF8(string(b), "\uFFFD")))
	}

	ct := resp.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
		return nil, fmt.Errorf("GET %q: content type %q, want application/json (a proxy's or captive portal's page?)", where, ct)
	}

	limit := c.maxBytes
	if limit <= 0 {
		limit = MaxBytes
	}
	total := resp.ContentLength
	if total > limit {
		return nil, fmt.Errorf("GET %q: the response is %d bytes, more than the %d a web service response may have", where, total, limit)
	}
	var body io.Reader = io.LimitReader(resp.Body, limit+1)
	if progress && c.Progress != nil {
		body = &progressReader{r: body, total: total, f: c.Progress}
	}
	var buf bytes.Buffer
	if total > 0 {
		buf.Grow(int(total))
	}
	n, err := buf.ReadFrom(body)
	switch {
	case err != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil):
		return nil, fmt.Errorf("GET %q: reading the body, after %d bytes: %w", where, n, err)
	case total >= 0 && n < total:
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("GET %q: truncated: got %d of %d bytes: %w", where, n, total, err)
	case err != nil:
		return nil, fmt.Errorf("GET %q: truncated: got %d bytes, then: %w", where, n, err)
	case n > limit:
		return nil, fmt.Errorf("GET %q: the response is more than the %d bytes a web service response may have", where, limit)
	}
	b := buf.Bytes()
	if !json.Valid(b) {
		return nil, fmt.Errorf("GET %q: the body (%d bytes) is not valid JSON (truncated?)", where, len(b))
	}
	return b, nil
}

// retryAfter reads a Retry-After header, delay-seconds or an HTTP date
// (RFC 9110 §10.2.3), at time now; absent or unusable, it is an hour.
func retryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return defaultRetryAfter
	}
	if s, err := strconv.ParseInt(h, 10, 64); err == nil {
		if s < 0 || s > math.MaxInt64/int64(time.Second) {
			return defaultRetryAfter
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(t.Sub(now), 0)
	}
	return defaultRetryAfter
}

// progressReader calls f with the bytes read so far after each read.
type progressReader struct {
	r     io.Reader
	read  int64
	total int64
	f     func(read, total int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.read += int64(n)
		p.f(p.read, p.total)
	}
	return n, err
}

// redact returns u without its query (which holds the ClientRequestId) and
// without a password, for errors.
func redact(u *url.URL) string {
	v := *u
	v.RawQuery = ""
	v.ForceQuery = false
	return v.Redacted()
}

// validVersion reports whether v is a version of the web service: 10
// digits, YYYYMMDDNN.
func validVersion(v string) bool {
	if len(v) != 10 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
	}
	return true
}

// bodyStart returns the start of b, for quoting in an error.
func bodyStart(b []byte) string {
	if len(b) > maxStatusBody {
		b = b[:maxStatusBody]
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}
