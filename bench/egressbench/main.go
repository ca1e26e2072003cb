// Command egressbench is the helper of bench/egress.sh: the upstream the
// egress proxies under test tunnel to, and the load that measures them
// (new CONNECT tunnels per second, bulk throughput through one tunnel,
// idle tunnels held open), each bounded in time and count. Everything it
// dials is given on the command line; the script runs it inside a network
// namespace of its own, on loopback.
//
//	egressbench upstream [flags]    echo, source and sink server (the tunnels' far end)
//	egressbench dns [flags] NAME…   a name server resolving NAMEs to the upstream
//	egressbench tunnels [flags]     new tunnels per second, closed loop
//	egressbench throughput [flags]  bulk MB/s through one tunnel, best of N
//	egressbench idle [flags]        hold N tunnels, report the proxy's RSS and descriptors
//	egressbench relay [flags]       a bare CONNECT proxy with no checks, for scale
//	egressbench peekcert FILE       a self-signed certificate and key (PEM), for Squid's ssl-bump port
//	egressbench profile [flags]     the egress proxy in this process, with a CPU profile
//
// Output is one line of key=value pairs per measurement, for the script.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: egressbench upstream|dns|tunnels|throughput|idle|relay|peekcert|profile [flags]")
		os.Exit(2)
	}
	var err error
	args := os.Args[2:]
	switch os.Args[1] {
	case "upstream":
		err = upstream(args)
	case "dns":
		err = dnsServer(args)
	case "tunnels":
		err = tunnels(args)
	case "throughput":
		err = throughput(args)
	case "idle":
		err = idle(args)
	case "relay":
		err = relay(args)
	case "peekcert":
		err = peekCert(args)
	case "profile":
		err = profile(args)
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "egressbench:", err)
		os.Exit(1)
	}
}
