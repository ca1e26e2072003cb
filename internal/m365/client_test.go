package m365

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// testID is a client request id for the tests (a random version 4 GUID).
const testID = "0f8fad5b-d9cb-469f-a165-70867728950e"

// testNow is the fixed clock of the tests.
var testNow = time.Date(2026, 12, 7, 14, 4, 0, 0, time.UTC)

// fakeService starts a loopback server playing the web service with h, and
// returns a client of it with the fixed clock.
func fakeService(t *testing.T, h http.HandlerFunc) (*Client, *httptest.Server) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &Client{
		BaseURL:         srv.URL,
		ClientRequestID: testID,
		HTTP:            srv.Client(),
		now:             func() time.Time { return testNow },
	}, srv
}

// jsonBody answers with body as application/json.
func jsonBody(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		io.WriteString(w, body) //nolint:errcheck // the client sees a short write
	}
}

// rawResponse answers with the bytes of resp, written on the hijacked connection,
// then closes it: a response no well-behaved server would send.
func rawResponse(resp string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		conn, bw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer conn.Close()
		bw.WriteString(resp) //nolint:errcheck // the client sees a short write
		bw.Flush()           //nolint:errcheck // the client sees a short write
	}
}

func TestVersion(t *testing.T) {
	for _, tc := range []struct {
		name     string
		instance string
		body     string
		want     string // the version, or a part of the error
		wantErr  bool
	}{
		{name: "ok", instance: "Worldwide", body: `{"instance":"Worldwide","latest":"2026110100"}`, want: "2026110100"},
		{name: "instance in another case", instance: "USGovGCCHigh", body: `{"instance":"usgovgcchigh","latest":"2026033100"}`, want: "2026033100"},
		{name: "wrong instance", instance: "USGovDoD", body: `{"instance":"Worldwide","latest":"2026110100"}`, want: `the response is for instance "Worldwide", not "USGovDoD"`, wantErr: true},
		{name: "not 10 digits", instance: "Worldwide", body: `{"instance":"Worldwide","latest":"202611010"}`, want: `latest version "202611010" is not 10 digits`, wantErr: true},
		{name: "letters", instance: "Worldwide", body: `{"instance":"Worldwide","latest":"2026-11-01"}`, want: `latest version "2026-11-01" is not 10 digits`, wantErr: true},
		{name: "no latest", instance: "Worldwide", body: `{"instance":"Worldwide"}`, want: "want instance and latest", wantErr: true},
		{name: "array", instance: "Worldwide", body: `[{"instance":"Worldwide","latest":"2026110100"}]`, want: "not a version response", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var path, id, ua string
			c, _ := fakeService(t, func(w http.ResponseWriter, r *http.Request) {
				path, id, ua = r.URL.Path, r.URL.Query().Get("ClientRequestId"), r.UserAgent()
				jsonBody(tc.body)(w, r)
			})
			got, err := c.Version(context.Background(), tc.instance)
			if path != "/version/"+tc.instance || id != testID || ua != "teamsgate" {
				t.Errorf("server saw path %q, ClientRequestId %q, User-Agent %q", path, id, ua)
			}
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("Version: %q, %v; want an error containing %q", got, err, tc.want)
				}
				if !strings.Contains(err.Error(), `"`+c.BaseURL+"/version/"+tc.instance+`"`) || strings.Contains(err.Error(), testID) {
					t.Errorf("error %q: want the URL without its query", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Version: %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestEndpoints(t *testing.T) {
	data, err := os.ReadFile("../catalog/data/m365/gcch.json")
	if err != nil {
		t.Fatal(err)
	}
	var path, id string
	c, _ := fakeService(t, func(w http.ResponseWriter, r *http.Request) {
		path, id = r.URL.Path, r.URL.Query().Get("ClientRequestId")
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.Write(data) //nolint:errcheck // the client sees a short write
	})
	var progress [][2]int64
	c.Progress = func(read, total int64) { progress = append(progress, [2]int64{read, total}) }
	got, err := c.Endpoints(context.Background(), "USGovGCCHigh")
	if err != nil {
		t.Fatal(err)
	}
	if path != "/endpoints/USGovGCCHigh" || id != c.ClientRequestID {
		t.Errorf("server saw path %q, ClientRequestId %q; want /endpoints/USGovGCCHigh, %q", path, id, c.ClientRequestID)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("got %d bytes, want gcch.json's %d", len(got), len(data))
	}
	sets, ds := Parse(got)
	if ds.HasErrors() || len(sets) != 3 {
		t.Errorf("Parse: %d sets, %v; want 3 sets, no errors", len(sets), ds)
	}
	n := int64(len(data))
	if len(progress) == 0 || progress[len(progress)-1] != [2]int64{n, n} {
		t.Errorf("progress %v, want it to end at [%d %d]", progress, n, n)
	}
	for i := 1; i < len(progress); i++ {
		if progress[i][0] <= progress[i-1][0] {
			t.Errorf("progress %v does not grow", progress)
		}
	}
}

func TestChanges(t *testing.T) {
	const body = `[
	 {"id":426,"endpointSetId":31,"disposition":"change","version":"2018062700","impact":"AddedIp",
	  "add":{"effectiveDate":"20180609","ips":["52.114.0.0/16"],"urls":["*.teams.cloud.microsoft"]},
	  "remove":{"ips":["52.120.0.0/14"]},"previous":{"category":"Allow"},"current":{"category":"Optimize"}},
	 {"id":427,"endpointSetId":11,"disposition":"Remove","version":"2018062700","impact":"RemovedUrl",
	  "remove":{"urls":["old.example.com"]}}
	]`
	var path string
	c, _ := fakeService(t, func(w http.ResponseWriter, r *http.Request) {
		path = r.URL.Path
		jsonBody(body)(w, r)
	})
	var read int64
	c.Progress = func(r, _ int64) { read = r }
	got, err := c.Changes(context.Background(), "Worldwide", "2018062000")
	if err != nil {
		t.Fatal(err)
	}
	if path != "/changes/Worldwide/2018062000" {
		t.Errorf("server saw path %q", path)
	}
	if read != int64(len(body)) {
		t.Errorf("progress ended at %d, want %d", read, len(body))
	}
	want := []Change{
		{ID: 426, EndpointSetID: 31, Disposition: "Change", Version: "2018062700", Impact: "AddedIp",
			AddEffectiveDate: "20180609", AddIPs: []string{"52.114.0.0/16"}, AddURLs: []string{"*.teams.cloud.microsoft"},
			RemoveIPs: []string{"52.120.0.0/14"}},
		{ID: 427, EndpointSetID: 11, Disposition: "Remove", Version: "2018062700", Impact: "RemovedUrl",
			RemoveURLs: []string{"old.example.com"}},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Changes (-want +got):\n%s", d)
	}

	for _, tc := range []struct{ name, body, want string }{
		{name: "object", body: `{"id":1}`, want: "not a changes response"},
		{name: "no id", body: `[{"endpointSetId":1,"disposition":"Add"}]`, want: "change record [0]: want id and endpointSetId"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := fakeService(t, jsonBody(tc.body))
			if got, err := c.Changes(context.Background(), "Worldwide", "2018062000"); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Changes: %v, %v; want an error containing %q", got, err, tc.want)
			}
		})
	}
}

func TestRateLimit(t *testing.T) {
	for _, tc := range []struct {
		name       string
		retryAfter string
		call       func(*Client) error
		want       time.Duration
		wantMsg    string
	}{
		{name: "seconds", retryAfter: "120", want: 2 * time.Minute,
			wantMsg: "the web service refused: too many requests (HTTP 429); try again after 2026-12-07 14:06 UTC (in 2m0s)"},
		{name: "absent", want: time.Hour,
			wantMsg: "try again after 2026-12-07 15:04 UTC (in 1h0m0s)"},
		{name: "HTTP date", retryAfter: testNow.Add(90 * time.Minute).Format(http.TimeFormat), want: 90 * time.Minute},
		{name: "HTTP date past", retryAfter: testNow.Add(-time.Minute).Format(http.TimeFormat), want: 0},
		{name: "unusable", retryAfter: "soon", want: time.Hour},
		{name: "negative", retryAfter: "-5", want: time.Hour},
		{name: "odd seconds shown rounded up", retryAfter: "61", want: 61 * time.Second,
			wantMsg: "try again after 2026-12-07 14:06 UTC (in 1m1s)"},
		{name: "changes", retryAfter: "120", want: 2 * time.Minute,
			call: func(c *Client) error {
				_, err := c.Changes(context.Background(), "Worldwide", "2026110100")
				return err
			}},
		{name: "version", retryAfter: "120", want: 2 * time.Minute,
			call: func(c *Client) error { _, err := c.Version(context.Background(), "Worldwide"); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var requests atomic.Int32
			c, _ := fakeService(t, func(w http.ResponseWriter, r *http.Request) {
				requests.Add(1)
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusTooManyRequests)
				io.WriteString(w, `{"error":"too many requests"}`) //nolint:errcheck // the client sees a short write
			})
			call := tc.call
			if call == nil {
				call = func(c *Client) error { _, err := c.Endpoints(context.Background(), "Worldwide"); return err }
			}
			err := call(c)
			var rl *RateLimitError
			if !errors.As(err, &rl) {
				t.Fatalf("error %v, want a *RateLimitError", err)
			}
			if rl.RetryAfter != tc.want || !rl.At.Equal(testNow.Add(tc.want)) {
				t.Errorf("RetryAfter %v, At %v; want %v, %v", rl.RetryAfter, rl.At, tc.want, testNow.Add(tc.want))
			}
			if n := requests.Load(); n != 1 {
				t.Errorf("the server saw %d requests, want exactly 1 (no retry)", n)
			}
			if tc.wantMsg != "" && !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q, want it to contain %q", err, tc.wantMsg)
			}
		})
	}
}

func TestResponseErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		h        http.HandlerFunc
		maxBytes int64
		want     string
	}{
		{
			name: "truncated with Content-Length",
			h:    rawResponse("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n[{\"id\": 1, \"serviceArea\": \"Skype\""),
			want: "truncated: got 33 of 1000 bytes",
		},
		{
			name: "connection closed mid-chunk",
			h:    rawResponse("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n[{\"id\": 1, \"serv"),
			want: "truncated: got",
		},
		{
			name: "chunked, complete but incomplete JSON",
			h: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, `[{"id": 1, "serviceArea":`) //nolint:errcheck // the client sees a short write
				http.NewResponseController(w).Flush()          //nolint:errcheck // chunked from here
			},
			want: "not valid JSON",
		},
		{
			name: "text/html",
			h: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				io.WriteString(w, `<html><body>Please log in to the guest Wi-Fi</body></html>`) //nolint:errcheck // the client sees a short write
			},
			want: `content type "text/html; charset=utf-8", want application/json`,
		},
		{
			name: "no content type",
			h:    rawResponse("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]"),
			want: `content type "", want application/json`,
		},
		{
			name: "500 with a body",
			h: func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "backend exploded "+strings.Repeat("x", 500), http.StatusInternalServerError)
			},
			want: `HTTP 500 Internal Server Error: "backend exploded xxx`,
		},
		{
			name:     "larger than the limit, Content-Length",
			h:        jsonBody(`[1, 2, 3, 4, 5, 6, 7, 8, 9]`),
			maxBytes: 10,
			want:     "the response is 27 bytes, more than the 10",
		},
		{
			name: "larger than the limit, chunked",
			h: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				http.NewResponseController(w).Flush()   //nolint:errcheck // chunked from here
				io.WriteString(w, `[1, 2, 3, 4, 5, 6]`) //nolint:errcheck // the client sees a short write
			},
			maxBytes: 10,
			want:     "the response is more than the 10 bytes",
		},
		{
			name: "not JSON",
			h:    jsonBody(`[1, 2,`),
			want: "not valid JSON",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := fakeService(t, tc.h)
			c.maxBytes = tc.maxBytes
			got, err := c.Endpoints(context.Background(), "Worldwide")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Endpoints: %d bytes, %v; want an error containing %q", len(got), err, tc.want)
			}
			if !strings.Contains(err.Error(), "/endpoints/Worldwide") || strings.Contains(err.Error(), testID) {
				t.Errorf("error %q: want the URL without its query", err)
			}
			if len(err.Error()) > 500 {
				t.Errorf("error of %d bytes, want the body quoted to 200", len(err.Error()))
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	c, srv := fakeService(t, jsonBody(`[]`))
	srv.Close()
	_, err := c.Endpoints(context.Background(), "Worldwide")
	if err == nil || strings.Contains(err.Error(), testID) || !strings.Contains(err.Error(), "/endpoints/Worldwide") {
		t.Errorf("error %v: want one naming the URL without its query", err)
	}
}

func TestTimeouts(t *testing.T) {
	for _, tc := range []struct {
		name string
		// partial sends the headers and a part of the body before stalling.
		partial bool
		// setup shortens a timeout of the client or returns a context with
		// one.
		setup func(*Client, *httptest.Server) (context.Context, context.CancelFunc)
		want  string
	}{
		{
			name: "context deadline",
			setup: func(*Client, *httptest.Server) (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 100*time.Millisecond)
			},
			want: "context deadline exceeded",
		},
		{
			name:    "context deadline mid-body",
			partial: true,
			setup: func(*Client, *httptest.Server) (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 100*time.Millisecond)
			},
			want: "reading the body, after 5 bytes",
		},
		{
			name: "client timeout",
			setup: func(c *Client, srv *httptest.Server) (context.Context, context.CancelFunc) {
				c.HTTP = &http.Client{Transport: srv.Client().Transport, Timeout: 100 * time.Millisecond}
				return context.WithCancel(context.Background())
			},
			want: "Client.Timeout exceeded",
		},
		{
			name: "NewHTTPClient's response-header timeout",
			setup: func(c *Client, srv *httptest.Server) (context.Context, context.CancelFunc) {
				c.HTTP = NewHTTPClient()
				c.HTTP.Transport.(*http.Transport).ResponseHeaderTimeout = 100 * time.Millisecond
				return context.WithCancel(context.Background())
			},
			want: "timeout awaiting response headers",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			c, srv := fakeService(t, func(w http.ResponseWriter, r *http.Request) {
				if tc.partial {
					w.Header().Set("Content-Type", "application/json")
					w.Header().Set("Content-Length", "100")
					io.WriteString(w, `[1, 2`)            //nolint:errcheck // the client sees a short write
					http.NewResponseController(w).Flush() //nolint:errcheck // the client sees a short write
				}
				select {
				case <-r.Context().Done():
				case <-release:
				}
			})
			t.Cleanup(func() { close(release) }) // runs before srv.Close
			ctx, cancel := tc.setup(c, srv)
			defer cancel()
			start := time.Now()
			_, err := c.Endpoints(ctx, "Worldwide")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Endpoints: %v, want an error containing %q", err, tc.want)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Endpoints returned after %v", d)
			}
		})
	}
}

func TestNewHTTPClient(t *testing.T) {
	c := NewHTTPClient()
	tr, ok := c.Transport.(*http.Transport)
	if !ok {
		t.Fatalf("transport %T", c.Transport)
	}
	if c.Timeout != 2*time.Minute || tr.TLSHandshakeTimeout != 10*time.Second || tr.ResponseHeaderTimeout != 30*time.Second || tr.Proxy == nil || tr.DialContext == nil {
		t.Errorf("timeout %v, TLS handshake %v, response header %v, proxy set %v", c.Timeout, tr.TLSHandshakeTimeout, tr.ResponseHeaderTimeout, tr.Proxy != nil)
	}
}

// TestProxyFromEnvironment has the client reach http://endpoints.test and
// https://endpoints.test, names that resolve nowhere, through a proxy named
// by HTTP_PROXY and HTTPS_PROXY: only the proxy can answer. The https
// tunnel ends at a loopback TLS server whose certificate names example.com.
func TestProxyFromEnvironment(t *testing.T) {
	target := httptest.NewTLSServer(jsonBody(`{"instance":"Worldwide","latest":"2026110200"}`))
	t.Cleanup(target.Close)

	var mu sync.Mutex
	var seen []string // what the proxy was asked, "GET <absolute URL>" or "CONNECT <host>"
	var tunnels sync.WaitGroup
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if r.Method == http.MethodConnect {
			seen = append(seen, "CONNECT "+r.Host)
		} else {
			seen = append(seen, r.Method+" "+r.URL.String())
		}
		mu.Unlock()
		switch {
		case r.Method == http.MethodConnect && r.Host == "endpoints.test:443":
			up, err := net.Dial("tcp", target.Listener.Addr().String())
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			conn, bw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				up.Close()
				return
			}
			bw.WriteString("HTTP/1.1 200 Connection established\r\n\r\n") //nolint:errcheck // the client sees a short write
			bw.Flush()                                                    //nolint:errcheck // the client sees a short write
			tunnels.Add(2)
			go func() { defer tunnels.Done(); io.Copy(up, bw); up.Close() }()     //nolint:errcheck // ends with the tunnel
			go func() { defer tunnels.Done(); io.Copy(conn, up); conn.Close() }() //nolint:errcheck // ends with the tunnel
		case r.URL.IsAbs() && r.URL.Host == "endpoints.test":
			jsonBody(`{"instance":"Worldwide","latest":"2026110100"}`)(w, r)
		default:
			http.Error(w, "not a proxy request", http.StatusBadRequest)
		}
	}))
	t.Cleanup(proxy.Close)

	t.Setenv("HTTP_PROXY", proxy.URL)
	t.Setenv("HTTPS_PROXY", proxy.URL)
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")
	t.Setenv("REQUEST_METHOD", "") // a CGI environment ignores HTTP_PROXY

	for _, tc := range []struct{ name, base, want, wantSeen string }{
		{name: "HTTP_PROXY", base: "http://endpoints.test", want: "2026110100",
			wantSeen: "GET http://endpoints.test/version/Worldwide?ClientRequestId=" + testID},
		{name: "HTTPS_PROXY", base: "https://endpoints.test", want: "2026110200", wantSeen: "CONNECT endpoints.test:443"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			seen = nil
			mu.Unlock()
			hc := NewHTTPClient()
			tr := hc.Transport.(*http.Transport)
			pool := x509.NewCertPool()
			pool.AddCert(target.Certificate())
			tr.TLSClientConfig = &tls.Config{RootCAs: pool, ServerName: "example.com"}
			// Only the proxy may be dialled: were it bypassed, the test
			// must fail here rather than look endpoints.test up.
			dial := tr.DialContext
			tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
				if addr != proxy.Listener.Addr().String() {
					return nil, fmt.Errorf("the test refuses a direct dial to %s", addr)
				}
				return dial(ctx, network, addr)
			}
			defer tr.CloseIdleConnections()
			c := &Client{BaseURL: tc.base, ClientRequestID: testID, HTTP: hc}
			got, err := c.Version(context.Background(), "Worldwide")
			if err != nil || got != tc.want {
				t.Errorf("Version: %q, %v; want %q", got, err, tc.want)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(seen) != 1 || seen[0] != tc.wantSeen {
				t.Errorf("the proxy saw %q, want [%q]", seen, tc.wantSeen)
			}
		})
	}
	proxy.CloseClientConnections()
	target.CloseClientConnections()
	tunnels.Wait()
}

func TestClientSettings(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Client
		want string
	}{
		{name: "no id", c: Client{}, want: "no client request id"},
		{name: "documentation id", c: Client{ClientRequestID: "b10c5ed1-bad1-445f-b386-b919946339a7"}, want: "example of Microsoft's documentation"},
		{name: "base URL scheme", c: Client{ClientRequestID: testID, BaseURL: "ftp://endpoints.test"}, want: `base URL "ftp://endpoints.test"`},
		{name: "base URL query", c: Client{ClientRequestID: testID, BaseURL: "http://endpoints.test/?a=b"}, want: "without query"},
		{name: "base URL no host", c: Client{ClientRequestID: testID, BaseURL: "endpoints.test"}, want: "want an http or https URL"},
		{name: "instance with a slash", c: Client{ClientRequestID: testID}, want: `web service instance "Worldwide/../x"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var requests atomic.Int32
			tc.c.HTTP = &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
				requests.Add(1)
				return nil, errors.New("no request should be made")
			})}
			instance := "Worldwide"
			if tc.name == "instance with a slash" {
				instance = "Worldwide/../x"
			}
			_, err := tc.c.Version(context.Background(), instance)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Version: %v, want an error containing %q", err, tc.want)
			}
			if requests.Load() != 0 {
				t.Errorf("a request was made")
			}
		})
	}
	t.Run("changes since a bad version", func(t *testing.T) {
		c := &Client{ClientRequestID: testID, HTTP: &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
			return nil, errors.New("no request should be made")
		})}}
		if _, err := c.Changes(context.Background(), "Worldwide", "2026"); err == nil || !strings.Contains(err.Error(), `version "2026" is not 10 digits`) {
			t.Errorf("Changes: %v", err)
		}
	})
	t.Run("default base URL", func(t *testing.T) {
		var got string
		c := &Client{ClientRequestID: testID, HTTP: &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			got = r.URL.String()
			return nil, errors.New("stop here")
		})}}
		c.Endpoints(context.Background(), "USGovDoD") //nolint:errcheck // only the URL is of interest
		if want := "https://endpoints.office.com/endpoints/USGovDoD?ClientRequestId=" + testID; got != want {
			t.Errorf("URL %q, want %q", got, want)
		}
	})
}

// roundTripFunc is an http.RoundTripper that never touches the network.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestValidClientRequestID(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{name: "lowercase", in: testID, ok: true},
		{name: "uppercase", in: strings.ToUpper(testID), ok: true},
		{name: "mixed case", in: "0F8fad5b-D9cb-469f-a165-70867728950E", ok: true},
		{name: "empty", in: ""},
		{name: "braces", in: "{" + testID + "}"},
		{name: "no dashes", in: strings.ReplaceAll(testID, "-", "")},
		{name: "dash misplaced", in: "0f8fad5bd-9cb-469f-a165-70867728950e"},
		{name: "not hex", in: "0f8fad5b-d9cb-469f-a165-70867728950g"},
		{name: "too long", in: testID + "0"},
		{name: "spaces", in: " " + testID[1:]},
		{name: "documentation GUID", in: "b10c5ed1-bad1-445f-b386-b919946339a7"},
		{name: "documentation GUID uppercase", in: "B10C5ED1-BAD1-445F-B386-B919946339A7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := ValidClientRequestID(tc.in); (err == nil) != tc.ok {
				t.Errorf("ValidClientRequestID(%q) = %v, want ok %v", tc.in, err, tc.ok)
			}
		})
	}
}

func TestNewClientRequestID(t *testing.T) {
	a, err := NewClientRequestID()
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewClientRequestID()
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{a, b} {
		if err := ValidClientRequestID(id); err != nil {
			t.Error(err)
		}
		if id[14] != '4' || !strings.ContainsRune("89ab", rune(id[19])) {
			t.Errorf("%q is not a version 4 GUID", id)
		}
	}
	if a == b {
		t.Errorf("two calls both gave %q", a)
	}
}

func TestInstance(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"worldwide", "Worldwide"},
		{"gcc", "Worldwide"},
		{"gcch", "USGovGCCHigh"},
		{"GCC-High", "USGovGCCHigh"},
		{"dod", "USGovDoD"},
		{"china", ""},
		{"", ""},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Instance(tc.in)
			if tc.want == "" {
				if err == nil || !strings.Contains(err.Error(), "worldwide, gcc, gcch or dod") {
					t.Errorf("Instance(%q) = %q, %v; want an error listing the names", tc.in, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("Instance(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}
