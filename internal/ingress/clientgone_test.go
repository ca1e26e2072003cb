package ingress

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A client that goes away while the bot has not answered abandons the
// exchange: the gateway closes its connection to the bot at once (not at
// write_timeout), logs client-gone, and the next request on a kept-alive
// connection of another client is served as usual. Over TLS and plain
// HTTP, with the client closing its connection and with it resetting it.
func TestClientGoneAbandonsExchange(t *testing.T) {
	for _, tc := range []struct {
		name  string
		plain bool
		reset bool
	}{
		{"tls-close", false, false},
		{"tls-reset", false, true},
		{"plain-close", true, false},
		{"plain-reset", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan struct{}, 1)
			ended := make(chan time.Duration, 1)
			var held atomic.Bool
			up := newRawUpstream(t, func(_ int, c net.Conn, br *bufio.Reader) {
				answerEach(c, br, func(req *http.Request) bool {
					if req.Method == http.MethodGet || held.Swap(true) {
						return true
					}
					// The first activity: no answer; wait for the
					// gateway to give the exchange up.
					start := time.Now()
					got <- struct{}{}
					c.SetReadDeadline(time.Now().Add(20 * time.Second))
					if _, err := br.ReadByte(); err != nil {
						ended <- time.Since(start)
					}
					return false
				})
			})
			h := newHarness(t, withConfig(func(h *harness, c *Config) {
				c.PlainHTTP = tc.plain
				c.Upstreams.Groups = []Group{{Name: "blue", URLs: []*url.URL{up.url()}}}
			}))
			var conn net.Conn
			var err error
			addr := h.g.Addr().String()
			if tc.plain {
				conn, err = net.Dial("tcp", addr)
			} else {
				conn, err = tls.Dial("tcp", addr, &tls.Config{RootCAs: h.ca.Pool(), ServerName: "localhost"})
			}
			if err != nil {
				t.Fatal(err)
			}
			body := activity()
			fmt.Fprintf(conn, "POST /api/messages HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
				h.token(), len(body), body)
			select {
			case <-got:
			case <-time.After(10 * time.Second):
				t.Fatal("the activity did not reach the bot")
			}
			if tc.reset {
				raw := conn
				if tc, ok := conn.(*tls.Conn); ok {
					raw = tc.NetConn()
				}
				raw.(*net.TCPConn).SetLinger(0)
				raw.Close()
			} else {
				conn.Close()
			}
			select {
			case d := <-ended:
				if d > 5*time.Second {
					t.Errorf("the gateway gave the exchange up after %v", d)
				}
			case <-time.After(15 * time.Second):
				t.Fatal("the gateway kept the exchange after its client left")
			}
			eventually(t, 5*time.Second, "client-gone logged", func() bool {
				return strings.Contains(h.logs.String(), `"reason":"client-gone"`)
			})
			if m := h.metric(`teamsgate_gateway_requests_total{decision="allow",reason="client-gone"}`); m != "1" {
				t.Errorf("client-gone requests counted: %q, want 1", m)
			}

			// Kept-alive connections go on: several requests in a row on
			// one connection each reach the bot and are answered.
			for i := range 3 {
				req, _ := http.NewRequest(http.MethodPost, h.base+"/api/messages", strings.NewReader(string(body)))
				req.Header.Set("Authorization", "Bearer "+h.token())
				req.Header.Set("Content-Type", "application/json")
				resp, rbody := h.do(req)
				if resp.StatusCode != 200 || string(rbody) != "ok" {
					t.Fatalf("request %d after: %d %q", i, resp.StatusCode, rbody)
				}
			}
		})
	}
}

// A bot may take longer than read_timeout to answer: the exchange is
// bounded by write_timeout, not by the server's read deadline, whether the
// body came with the headers or after them (when the body deadline was set
// on the socket and must be lifted).
func TestSlowBotOutlastsReadTimeout(t *testing.T) {
	up := newRawUpstream(t, func(_ int, c net.Conn, br *bufio.Reader) {
		answerEach(c, br, func(req *http.Request) bool {
			if req.Method == http.MethodPost {
				time.Sleep(700 * time.Millisecond)
			}
			return true
		})
	})
	for _, plain := range []bool{true, false} {
		h := newHarness(t, withConfig(func(h *harness, c *Config) {
			c.PlainHTTP = plain
			c.Limits.ReadTimeout = 300 * time.Millisecond
			c.Limits.BodyTimeout = 200 * time.Millisecond
			c.Upstreams.Groups = []Group{{Name: "blue", URLs: []*url.URL{up.url()}}}
			c.Upstreams.Health.Interval = time.Hour
		}))
		for _, split := range []bool{false, true} {
			t.Run(fmt.Sprintf("plain=%v/body-after-headers=%v", plain, split), func(t *testing.T) {
				var conn net.Conn
				var err error
				if plain {
					conn, err = net.Dial("tcp", h.g.Addr().String())
				} else {
					conn, err = tls.Dial("tcp", h.g.Addr().String(), &tls.Config{RootCAs: h.ca.Pool(), ServerName: "localhost"})
				}
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				body := activity()
				fmt.Fprintf(conn, "POST /api/messages HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
					h.token(), len(body))
				if split {
					time.Sleep(50 * time.Millisecond)
				}
				conn.Write(body)
				conn.SetReadDeadline(time.Now().Add(5 * time.Second))
				resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
				if err != nil {
					t.Fatal(err)
				}
				rbody, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != 200 || string(rbody) != "ok" {
					t.Errorf("%d %q, want the bot's 200", resp.StatusCode, rbody)
				}
			})
		}
	}
}

// answerEach reads the requests of an upstream connection and answers each
// 200 "ok" once before returns true; false ends the connection unanswered.
func answerEach(c net.Conn, br *bufio.Reader, before func(*http.Request) bool) {
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		if !before(req) {
			return
		}
		fmt.Fprint(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	}
}
