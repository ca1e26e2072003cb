package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"golang.org/x/net/dns/dnsmessage"
)

// dnsServer answers the proxies' name lookups over UDP, as a site's name
// server would: an A record with -addr for each name given, no AAAA
// record (NOERROR, no answer) for them, NXDOMAIN for every other name.
// The answers carry -ttl, so that a proxy that caches them (Squid's
// ipcache) may, and one that does not asks again.
func dnsServer(args []string) error {
	fs := flag.NewFlagSet("dns", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:53", "UDP address to listen on")
	addr := fs.String("addr", "127.0.0.1", "the IPv4 address every name resolves to")
	ttl := fs.Uint("ttl", 60, "TTL of the answers, seconds")
	fs.Parse(args)
	a, err := netip.ParseAddr(*addr)
	if err != nil || !a.Is4() {
		return fmt.Errorf("dns: -addr %q: want an IPv4 address", *addr)
	}
	names := map[string]bool{}
	for _, n := range fs.Args() {
		names[strings.ToLower(strings.TrimSuffix(n, "."))+"."] = true
	}
	pc, err := net.ListenPacket("udp", *listen)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); pc.Close() }()
	fmt.Printf("ready: name server on %s for %d names\n", pc.LocalAddr(), len(names))
	buf := make([]byte, 1500)
	out := make([]byte, 0, 512)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			continue
		}
		resp, ok := dnsAnswer(buf[:n], out[:0], names, a.As4(), uint32(*ttl))
		if ok {
			pc.WriteTo(resp, from)
		}
	}
}

// dnsAnswer builds the response to one query into out; ok is false for
// what is no query.
func dnsAnswer(query, out []byte, names map[string]bool, a [4]byte, ttl uint32) ([]byte, bool) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil || h.Response {
		return nil, false
	}
	q, err := p.Question()
	if err != nil {
		return nil, false
	}
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired, RecursionAvailable: true}
	known := names[strings.ToLower(q.Name.String())]
	if !known {
		rh.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(out, rh)
	b.EnableCompression()
	if b.StartQuestions() != nil || b.Question(q) != nil || b.StartAnswers() != nil {
		return nil, false
	}
	if known && q.Type == dnsmessage.TypeA && q.Class == dnsmessage.ClassINET {
		err := b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: ttl}, dnsmessage.AResource{A: a})
		if err != nil {
			return nil, false
		}
	}
	resp, err := b.Finish()
	return resp, err == nil
}
