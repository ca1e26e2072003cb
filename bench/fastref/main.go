// Command fastref is a reference point for bench/gateway.sh, not part of
// teamsgate: a reverse proxy on github.com/valyala/fasthttp (its own HTTP/1.1
// server and client, no net/http) with no checks at all. It shows what
// leaving net/http and httputil.ReverseProxy would buy on the benchmark's
// machine. It lives in a module of its own so that teamsgate does not
// depend on fasthttp.
//
//	fastref LISTEN UPSTREAM-ADDR
package main

import (
	"fmt"
	"os"

	"github.com/valyala/fasthttp"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: fastref LISTEN UPSTREAM-ADDR")
		os.Exit(2)
	}
	upstream := &fasthttp.HostClient{Addr: os.Args[2], MaxConns: 1024}
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
