package audit_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
)

// Generators of random rulesets over the documentation ranges, for the
// kernel differential test and the fuzz seeds.

var docNets = []netip.Prefix{
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("198.18.0.0/16"),
	netip.MustParsePrefix("198.19.0.0/17"),
}

var portPool = []int{22, 53, 80, 443, 1000, 1024, 3389, 3478, 5000, 8080, 16000, 33000, 50000, 65535}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func chance(r *rand.Rand, p float64) bool { return r.Float64() < p }

// randPrefix returns a random prefix inside a documentation range.
func randPrefix(r *rand.Rand) netip.Prefix {
	base := pick(r, docNets)
	bits := base.Bits() + r.IntN(32-base.Bits()+1)
	a := base.Addr().As4()
	v := be32(a) | uint32(r.Uint32())&(uint32(1)<<(32-base.Bits())-1)
	p, _ := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}).Prefix(bits)
	return p
}

func randRange(r *rand.Rand) (netip.Addr, netip.Addr) {
	p := randPrefix(r)
	for p.Bits() > 28 {
		p = randPrefix(r)
	}
	lo := p.Addr()
	hi := lo
	for i, n := 0, 1+r.IntN(40); i < n; i++ {
		hi = hi.Next()
	}
	return lo, hi
}

func randPort(r *rand.Rand) int {
	p := pick(r, portPool)
	switch r.IntN(4) {
	case 0:
		if p > 1 {
			p--
		}
	case 1:
		if p < 65535 {
			p++
		}
	}
	return p
}

func randPortRange(r *rand.Rand, sep string) string {
	a, b := randPort(r), randPort(r)
	if a > b {
		a, b = b, a
	}
	if a == b {
		return fmt.Sprint(a)
	}
	return fmt.Sprintf("%d%s%d", a, sep, b)
}

// genIptables returns a random iptables-restore file: filter with user
// chains, and sometimes mangle and raw rules on the same paths.
func genIptables(r *rand.Rand) string {
	var b strings.Builder
	pol := func() string { return pick(r, []string{"ACCEPT", "DROP"}) }
	if chance(r, 0.3) {
		b.WriteString("*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n")
		for _, ch := range []string{"PREROUTING", "OUTPUT"} {
			for i := r.IntN(3); i > 0; i-- {
				b.WriteString(iptRule(r, "raw", ch, false) + "\n")
			}
		}
		b.WriteString("COMMIT\n")
	}
	if chance(r, 0.3) {
		b.WriteString("*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n")
		for _, ch := range []string{"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"} {
			for i := r.IntN(3); i > 0; i-- {
				b.WriteString(iptRule(r, "mangle", ch, false) + "\n")
			}
		}
		b.WriteString("COMMIT\n")
	}
	fmt.Fprintf(&b, "*filter\n:INPUT %s [0:0]\n:FORWARD %s [0:0]\n:OUTPUT %s [0:0]\n:u1 - [0:0]\n:u2 - [0:0]\n", pol(), pol(), pol())
	for _, ch := range []string{"INPUT", "FORWARD", "OUTPUT", "u1", "u2"} {
		n := r.IntN(9)
		if strings.HasPrefix(ch, "u") {
			n = r.IntN(5)
		}
		for i := 0; i < n; i++ {
			b.WriteString(iptRule(r, "filter", ch, true) + "\n")
		}
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

func neg(r *rand.Rand, p float64) string {
	if chance(r, p) {
		return "! "
	}
	return ""
}

func iptRule(r *rand.Rand, table, chain string, filter bool) string {
	parts := []string{"-A", chain}
	proto := pick(r, []string{"tcp", "udp", "tcp", "udp", "all"})
	if chance(r, 0.4) {
		parts = append(parts, neg(r, 0.25)+"-s", randPrefix(r).String())
	}
	if chance(r, 0.4) {
		parts = append(parts, neg(r, 0.25)+"-d", randPrefix(r).String())
	}
	user := strings.HasPrefix(chain, "u")
	if !user && (chain == "INPUT" || chain == "FORWARD" || chain == "PREROUTING") && chance(r, 0.2) {
		parts = append(parts, neg(r, 0.3)+"-i", pick(r, []string{"h0", "h+", "lo", "x9"}))
	}
	if !user && (chain == "OUTPUT" || chain == "FORWARD" || chain == "POSTROUTING") && chance(r, 0.2) {
		parts = append(parts, neg(r, 0.3)+"-o", pick(r, []string{"d0", "d+", "lo"}))
	}
	if proto != "all" || chance(r, 0.3) {
		if proto == "all" {
			proto = "tcp"
		}
		parts = append(parts, "-p", proto)
		if chance(r, 0.5) {
			parts = append(parts, "-m", proto)
			if chance(r, 0.7) {
				parts = append(parts, neg(r, 0.2)+"--dport", randPortRange(r, ":"))
			}
			if chance(r, 0.3) {
				parts = append(parts, neg(r, 0.2)+"--sport", randPortRange(r, ":"))
			}
			if proto == "tcp" && chance(r, 0.15) {
				parts = append(parts, neg(r, 0.3)+"--syn")
			}
		} else if chance(r, 0.4) {
			var list []string
			for i := 1 + r.IntN(4); i > 0; i-- {
				list = append(list, randPortRange(r, ":"))
			}
			parts = append(parts, "-m", "multiport", neg(r, 0.2)+pick(r, []string{"--dports", "--sports", "--ports"}), strings.Join(list, ","))
		}
	}
	if table != "raw" && chance(r, 0.3) {
		parts = append(parts, "-m", "conntrack", neg(r, 0.2)+"--ctstate", pick(r, []string{"NEW", "ESTABLISHED", "NEW,ESTABLISHED", "RELATED,ESTABLISHED", "INVALID"}))
	}
	if chance(r, 0.1) {
		lo, hi := randRange(r)
		parts = append(parts, "-m", "iprange", neg(r, 0.2)+pick(r, []string{"--src-range", "--dst-range"}), lo.String()+"-"+hi.String())
	}
	if chance(r, 0.1) {
		parts = append(parts, "-m", "comment", "--comment", `"generated rule"`)
	}
	targets := []string{"ACCEPT", "DROP", "RETURN", ""}
	if filter {
		targets = append(targets, "REJECT", "ACCEPT", "DROP")
		switch chain {
		case "u1":
			targets = append(targets, "u2", "g:u2")
		case "u2":
		default:
			targets = append(targets, "u1", "u2", "g:u1", "u1")
		}
	}
	switch t := pick(r, targets); {
	case t == "":
	case strings.HasPrefix(t, "g:"):
		parts = append(parts, "-g", t[2:])
	default:
		parts = append(parts, "-j", t)
	}
	return strings.Join(parts, " ")
}

// genNft returns a random nft ruleset: inet and ip tables, base chains on
// every hook with random priorities and policies, user chains, named and
// anonymous sets, ranges, verdict maps.
func genNft(r *rand.Rand) string {
	var b strings.Builder
	pol := func() string { return pick(r, []string{"accept", "drop"}) }
	prio := func() int { return r.IntN(201) - 100 }
	b.WriteString("table inet f1 {\n")
	var elems []string
	for i := 1 + r.IntN(3); i > 0; i-- {
		if chance(r, 0.3) {
			lo, hi := randRange(r)
			elems = append(elems, lo.String()+"-"+hi.String())
		} else {
			elems = append(elems, randPrefix(r).String())
		}
	}
	fmt.Fprintf(&b, "\tset a1 {\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\tauto-merge\n\t\telements = { %s }\n\t}\n", strings.Join(elems, ", "))
	var ports []string
	for i := 1 + r.IntN(3); i > 0; i-- {
		ports = append(ports, randPortRange(r, "-"))
	}
	fmt.Fprintf(&b, "\tset p1 {\n\t\ttype inet_service\n\t\tflags interval\n\t\tauto-merge\n\t\telements = { %s }\n\t}\n", strings.Join(ports, ", "))
	for _, h := range []string{"prerouting", "input", "forward", "output", "postrouting"} {
		if (h == "prerouting" || h == "postrouting") && chance(r, 0.6) {
			continue
		}
		fmt.Fprintf(&b, "\tchain %s1 {\n\t\ttype filter hook %s priority %d; policy %s;\n", h, h, prio(), pol())
		for i := r.IntN(8); i > 0; i-- {
			b.WriteString("\t\t" + nftRule(r, h) + "\n")
		}
		b.WriteString("\t}\n")
	}
	for _, u := range []string{"u1", "u2"} {
		fmt.Fprintf(&b, "\tchain %s {\n", u)
		for i := r.IntN(5); i > 0; i-- {
			b.WriteString("\t\t" + nftRule(r, u) + "\n")
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	if chance(r, 0.5) {
		h := pick(r, []string{"input", "forward", "output"})
		fmt.Fprintf(&b, "table ip f2 {\n\tchain %s2 {\n\t\ttype filter hook %s priority %d; policy %s;\n", h, h, prio(), pol())
		for i := r.IntN(5); i > 0; i-- {
			b.WriteString("\t\t" + nftRule(r, h+"-f2") + "\n")
		}
		b.WriteString("\t}\n}\n")
	}
	return b.String()
}

func nftNeg(r *rand.Rand) string {
	if chance(r, 0.2) {
		return "!= "
	}
	return ""
}

func nftAddr(r *rand.Rand, inF1 bool) string {
	switch r.IntN(5) {
	case 0:
		lo, hi := randRange(r)
		return lo.String() + "-" + hi.String()
	case 1:
		return fmt.Sprintf("{ %s, %s }", randPrefix(r), randPrefix(r))
	case 2:
		if inF1 {
			return "@a1"
		}
	}
	return randPrefix(r).String()
}

func nftRule(r *rand.Rand, chain string) string {
	var parts []string
	inF1 := !strings.HasSuffix(chain, "-f2")
	hook := strings.TrimSuffix(chain, "-f2")
	user := strings.HasPrefix(chain, "u")
	if chance(r, 0.4) {
		parts = append(parts, "ip saddr "+nftNeg(r)+nftAddr(r, inF1))
	}
	if chance(r, 0.4) {
		parts = append(parts, "ip daddr "+nftNeg(r)+nftAddr(r, inF1))
	}
	proto := "" // the transport protocol the rule already names
	l4 := func() string {
		proto = pick(r, []string{"tcp", "udp"})
		return proto
	}
	switch r.IntN(9) {
	case 0:
		parts = append(parts, l4()+" dport "+nftNeg(r)+randPortRange(r, "-"))
	case 1:
		parts = append(parts, l4()+" sport "+nftNeg(r)+randPortRange(r, "-"))
	case 2:
		parts = append(parts, "meta l4proto { tcp, udp } th dport "+randPortRange(r, "-"))
		proto = "both"
	case 3:
		parts = append(parts, fmt.Sprintf("tcp dport { %s, %s }", randPortRange(r, "-"), randPortRange(r, "-")))
		proto = "tcp"
	case 4:
		if inF1 {
			parts = append(parts, l4()+" dport "+nftNeg(r)+"@p1")
		}
	case 5:
		parts = append(parts, fmt.Sprintf("%s dport %s %d", l4(), pick(r, []string{"<", ">", "<=", ">="}), randPort(r)))
	case 6:
		parts = append(parts, "meta l4proto "+l4())
	}
	if chance(r, 0.25) {
		parts = append(parts, pick(r, []string{"ct state new", "ct state established,related", "ct state != established", "ct state { new, established }", "ct state invalid"}))
	}
	if !user && (hook == "input" || hook == "forward" || hook == "prerouting") && chance(r, 0.2) {
		parts = append(parts, "iifname "+nftNeg(r)+pick(r, []string{`"h0"`, `"h*"`, `"lo"`, `"x9"`}))
	}
	if !user && (hook == "output" || hook == "forward" || hook == "postrouting") && chance(r, 0.2) {
		parts = append(parts, "oifname "+nftNeg(r)+pick(r, []string{`"d0"`, `"d*"`, `"lo"`}))
	}
	tcpOK := proto == "" || proto == "tcp"
	if tcpOK && chance(r, 0.1) {
		parts = append(parts, "tcp flags & (fin|syn|rst|ack) == syn")
		proto = "tcp"
	}
	verdicts := []string{"accept", "drop", "counter", "accept", "drop"}
	if hook == "input" || hook == "forward" || hook == "output" {
		verdicts = append(verdicts, "reject")
	}
	switch {
	case chain == "u1":
		verdicts = append(verdicts, "return", "jump u2", "goto u2")
	case chain == "u2":
		verdicts = append(verdicts, "return")
	case inF1:
		verdicts = append(verdicts, "jump u1", "goto u2", "jump u2")
		if tcpOK {
			verdicts = append(verdicts, "vmap")
		}
	}
	v := pick(r, verdicts)
	if v == "vmap" {
		return strings.Join(append(parts, fmt.Sprintf("tcp dport vmap { %d : accept, %d : drop, %s : jump u1 }", 22, 80, "1000-2000")), " ")
	}
	return strings.Join(append(parts, v), " ")
}
