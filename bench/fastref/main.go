// Command fastref is a reference point for bench/gateway.sh, not part of
// teamsgate: a reverse proxy on github.com/valyala/fasthttp (its own HTTP/1.1
// server and client, no net/http), with no checks at all or with the
// gateway's per-request checks (checks.go). It shows what leaving net/http
// and httputil.ReverseProxy would buy on the benchmark's machine, and what
// the gateway's own work costs there. It lives in a module of its own so
// that teamsgate does not depend on fasthttp.
//
//	fastref LISTEN UPSTREAM-ADDR          no checks
//	fastref LISTEN UPSTREAM-ADDR SPEC     the gateway's checks of SPEC (checks.go)
package main

import (
	"fmt"
	"os"

	"github.com/valyala/fasthttp"
)

func main() {
	if len(os.Args) != 3 && len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: fastref LISTEN UPSTREAM-ADDR [SPEC]")
		os.Exit(2)
	}
	upstream := &fasthttp.HostClient{Addr: os.Args[2], MaxConns: 1024}
	if len(os.Args) == 4 {
		if err := serveChecked(os.Args[1], os.Args[3], upstream); err != nil {
			fmt.Fprintln(os.Stderr, "fastref:", err)
			os.Exit(1)
		}
		return
	}
	handler := func(ctx *fasthttp.RequestCtx) {
		if err := upstream.Do(&ctx.Request, &ctx.Response); err != nil {
			ctx.Error("bad gateway", fasthttp.StatusBadGateway)
		}
	}
	if err := fasthttp.ListenAndServe(os.Args[1], handler); err != nil {
		fmt.Fprintln(os.Stderr, "fastref:", err)
		os.Exit(1)
	}
}
