package egress

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/teamsgate/teamsgate/internal/egress/policy"
	"github.com/teamsgate/teamsgate/internal/model"
)

// addrsKey carries a forwarded request's checked addresses to the
// transport's dialer.
type addrsKey struct{}

// newTransport returns the transport of forwarded requests: it dials only
// the addresses the request was checked for (from the request's context),
// never a name, and never goes through another proxy.
func newTransport(connectTimeout time.Duration) *http.Transport {
	return &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			addrs, _ := ctx.Value(addrsKey{}).([]netip.AddrPort)
			if len(addrs) == 0 {
				return nil, errors.New("no checked address to dial")
			}
			c, _, err := dial(ctx, addrs, connectTimeout)
			return c, err
		},
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		ForceAttemptHTTP2:     false,
	}
}

// forward serves an allowed absolute-form HTTP request: it is sent on to
// the checked address with the proxy's own headers removed, and the
// response streamed back.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, st *state, t policy.Target, addrs []netip.AddrPort, rec *record) {
	var up, down atomic.Int64
	var failed atomic.Bool
	rp := &httputil.ReverseProxy{
		Transport: st.transport,
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out = pr.Out.WithContext(context.WithValue(pr.Out.Context(), addrsKey{}, addrs))
			pr.Out.URL.Host = targetString(t)
			pr.Out.Host = pr.In.Host
			pr.Out.RequestURI = ""
			// the proxy's own headers are for the proxy
			pr.Out.Header.Del("Proxy-Authorization")
			pr.Out.Header.Del("Proxy-Connection")
			if pr.Out.Body != nil {
				pr.Out.Body = &countBody{ReadCloser: pr.Out.Body, n: &up}
			}
		},
		ModifyResponse: func(resp *http.Response) error {
			rec.status = resp.StatusCode
			resp.Body = &countBody{ReadCloser: resp.Body, n: &down}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			failed.Store(true)
			rec.status = http.StatusBadGateway
			if rec.decision.Verdict != model.VerdictReport {
				rec.decision = model.Decision{Verdict: model.VerdictAllow, Reason: ReasonUpstream, RuleID: rec.decision.RuleID, Detail: err.Error()}
			}
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, "teamsgate egress: the upstream failed\n") //nolint:errcheck
		},
		FlushInterval: -1,
	}
	if len(addrs) > 0 {
		rec.addr = addrs[0].String()
	}
	rp.ServeHTTP(w, r)
	rec.up, rec.down = up.Load(), down.Load()
	_ = failed.Load()
}

// countBody counts the bytes read through it.
type countBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}
