#!/usr/bin/env bash
# bench/egress.sh — the egress proxy (teamsgate serve, egress: section)
# against Squid and tinyproxy, in one run, on the loopback of a network
# namespace of its own, with the same allow list, upstream and load.
#
#   apt-get install squid-openssl tinyproxy haproxy   # once
#   bench/egress.sh                           # from the repository root, as root
#
# Root is needed for the network namespace (ip netns add) and the
# descriptor limit (ulimit -n 200000; without CAP_SYS_RESOURCE the hard
# limit stays, and part 1 adapts). Nothing leaves the namespace: it has
# a loopback interface only. Its resolv.conf (/etc/netns/NS/resolv.conf,
# which ip netns exec mounts over /etc/resolv.conf) names a name server in
# the namespace (egressbench dns, 127.0.0.1:53) that resolves the allowed
# names, and blocked.example, to the upstream's 127.0.0.1 with a TTL of
# 60 s; all three proxies ask it, as they would a site's name server, and
# keep its answers (teamsgate: limits.dns_cache, 10 s by default; Squid:
# its ipcache, for the TTL).
#
# The allow list is the plan of a messaging bot with graph: true (as in
# examples/egress.yaml): login.microsoftonline.com, api.botframework.com,
# login.botframework.com, smba.trafficmanager.net and graph.microsoft.com,
# each on 443, for clients at the bot's address 198.51.100.10 (a
# documentation address, RFC 5737, which the load generator binds inside
# the namespace, so that Squid's source ACL applies as rendered).
#
#   teamsgate  teamsgate serve on 127.0.0.1:3128: allow_ranges [127.0.0.0/8]
#              (the upstream is on loopback), allow_non_tls (see "plain"),
#              limits far above the load; its JSON request log to a file.
#   squid      Squid 5 (Debian squid-openssl) on port 3129 (of every
#              address of the namespace, as rendered), from
#              `teamsgate render --target squid --proxy 127.0.0.1:3129`
#              with these changes, and nothing else:
#                - tls-cert: a throw-away certificate in the run's directory
#                  instead of /etc/squid/teamsgate-peek.pem;
#                - 127.0.0.0/8 taken out of tg_internal: the same exception
#                  as teamsgate's allow_ranges, for the loopback upstream;
#                - what allow_non_tls is to teamsgate, so that the plain
#                  variant passes: on_unsupported_protocol tunnel all, and
#                  after each "http_access allow CONNECT ACLS…" the same
#                  rule without CONNECT (Squid checks the tunnel it makes
#                  of a stream that is not TLS as a request of no method
#                  against http_access again); a TLS tunnel is still peeked,
#                  and spliced only with an allowed SNI, as rendered;
#                - to run unprivileged in the bench: -N (no daemon, one
#                  process, no SMP kids), workers 1, max_filedescriptors
#                  65536, pid, cache.log and access.log (stdio, buffered:
#                  one line per request, as teamsgate logs) in the run's
#                  directory, cache deny all, no cache_dir, pinger_enable
#                  off, netdb_filename none, visible_hostname.
#              On its ssl-bump port Squid answers a refused CONNECT with
#              200 and then the error, inside the tunnel.
#   tinyproxy  tinyproxy 1.11 (Debian) on 127.0.0.1:3130: ConnectPort 443,
#              a Filter file of the same five names (anchored extended
#              regular expressions), FilterDefaultDeny Yes, MaxClients
#              20000, LogLevel Connect to a file (no syslog). It does not
#              look at the stream (no SNI check): informational.
#   direct     the upstream itself, no proxy: the reference.
#   gorelay    a bare CONNECT proxy in Go (egressbench relay, 127.0.0.1:3131):
#              request head, dial by name, 200, io.Copy both ways (splice),
#              nothing checked or logged: what Go and this machine's kernel
#              cost before any policy (informational).
#   haproxy-tcp  part 3 only: HAProxy (Debian haproxy) in TCP mode on
#              127.0.0.1:3132, forwarding every connection to the upstream
#              with `option splice-auto` (splice(2) both ways): no CONNECT,
#              no policy, no log — the bulk throughput a relay written in C
#              on kernel splicing reaches on this machine (informational).
#
# The upstream (egressbench upstream, 127.0.0.1:443) echoes, or sends or
# swallows N bytes when asked (bench/egressbench/upstream.go). Two kinds of
# tunnel are measured:
#   plain  the client sends a 16-byte payload that is not TLS after the
#          200 and reads it echoed; teamsgate peeks at the first byte, sees
#          no TLS handshake, and lets it through (allow_non_tls);
#   tls    the client sends a real TLS ClientHello (crypto/tls's, SNI
#          graph.microsoft.com, 1.5 KB with the post-quantum key share) and reads it echoed: teamsgate parses the ClientHello and
#          checks the SNI against the CONNECT host; Squid peeks at it (step
#          1) and splices on the SNI ACL (step 2). The upstream is not a
#          TLS server: no handshake is completed, which keeps the cost of
#          the ends out of the proxies' figures.
#
# Measures:
#   1. IDLE_N idle tunnels opened (64 at a time, each with one echo), held
#      for HOLD, checked alive again: the proxy's RSS (VmRSS, process and
#      descendants), descriptors and threads, and the machine's kernel
#      memory per tunnel; first, while the proxies are fresh processes.
#      Where the descriptor limit cannot be raised, each proxy holds what
#      its limit allows (from the descriptors a first hundred tunnels
#      cost it) and the RSS at IDLE_N is extrapolated, and says so;
#   2. new tunnels per second, closed loop: CONC workers each dial, CONNECT,
#      read the 200, echo the message, close, for DURATION, in ROUNDS
#      interleaved rounds (after a WARMUP each); the median, and the CPU
#      time each proxy (its process and descendants, /proc/PID/stat) spent
#      per tunnel, which a shared machine disturbs far less than the rate;
#   3. bulk throughput through one tunnel, BYTES each way (the upstream
#      sends: down; the client sends: up), best of 3, against a direct
#      connection, with the CPU seconds per GiB of the proxy, the load
#      generator and the upstream.
#
# Everything shares the machine's CPUs: the load generator, the upstream
# and the proxy under test. The figures are for this machine, side by side
# in one run; compare the ratios.
#
# Environment: PEER_GOMAXPROCS (the upstream's and the name server's Go
# processors, 4 per CPU), DURATION per tunnel run (default 5s), ROUNDS (3), CONC (32),
# WARMUP (1s), BYTES (2GiB), IDLE_N (10000), HOLD (10s), TLS (1: measure
# the tls variant too; 0: plain only). Not run in CI. A run with the
# defaults takes about five minutes.
#
# Profiling: bench/egressbench profile -spec SPEC -d 10s -out FILE runs the
# proxy in-process with a CPU profile while egressbench tunnels loads it
# (go tool pprof -top FILE).
set -euo pipefail

DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
CONC=${CONC:-32}
WARMUP=${WARMUP:-1s}
BYTES=${BYTES:-2GiB}
IDLE_N=${IDLE_N:-10000}
HOLD=${HOLD:-10s}
TLS=${TLS:-1}
# The upstream and the name server are Go programs: on Go's one processor
# per CPU they hold every target back on this shared machine (see
# bench/fleet.sh); they run with 4 per CPU, as teamsgate serve does.
PEER_GOMAXPROCS=${PEER_GOMAXPROCS:-$((4 * $(nproc)))}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NS=tgbench$$
BOT=198.51.100.10
HOSTS="login.microsoftonline.com api.botframework.com login.botframework.com smba.trafficmanager.net graph.microsoft.com"
TARGET=graph.microsoft.com:443

[ "$(id -u)" = 0 ] || { echo "run as root: the benchmark makes a network namespace" >&2; exit 1; }
for tool in go ip squid tinyproxy haproxy; do
	command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install squid-openssl tinyproxy haproxy)" >&2; exit 1; }
done
# each proxy process needs a descriptor per socket (and teamsgate two
# pipes per spliced direction): ten thousand tunnels need tens of
# thousands; where the hard limit cannot be raised (no CAP_SYS_RESOURCE,
# e.g. in a container), the idle test holds what the limit allows
if ! ulimit -n 200000 2>/dev/null; then
	ulimit -n "$(ulimit -Hn)"
	echo "warning: cannot raise the descriptor limit to 200000; it stays at $(ulimit -n)" >&2
fi

WORK=$(mktemp -d /tmp/teamsgate-egress-bench.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	ip netns del "$NS" 2>/dev/null || true
	rm -rf "/etc/netns/$NS" "$WORK"
}
trap cleanup EXIT

echo "== building"
(cd "$ROOT" && go build -o "$WORK/teamsgate" ./cmd/teamsgate && go build -o "$WORK/egressbench" ./bench/egressbench)
EB=$WORK/egressbench

echo "== network namespace $NS (loopback, $BOT on lo, resolv.conf)"
ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" addr add "$BOT/32" dev lo
# the tunnels' short connections: more ephemeral ports than the default
ip netns exec "$NS" sysctl -qw net.ipv4.ip_local_port_range="10000 65000"
mkdir -p "/etc/netns/$NS"
echo "127.0.0.1 localhost" >"/etc/netns/$NS/hosts"
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"/etc/netns/$NS/resolv.conf"
nsx() { ip netns exec "$NS" "$@"; }

# The spec: the messaging bot of examples/egress.yaml, for the bench.
cat >"$WORK/egress.yaml" <<EOF
name: egress-bench
cloud: worldwide
integrations:
  teams-messaging-bot:
    roles:
      bot:
        addresses: [$BOT]
        hosts: [bot.contoso.example]
    parameters:
      graph: true
egress:
  listen: 127.0.0.1:3128
  scope: [teams-messaging-bot/bot]
  # the upstream is on loopback
  allow_ranges: [127.0.0.0/8]
  # the plain variant's payload is not TLS
  allow_non_tls: true
  limits:
    max_tunnels: 30000
    max_conns: 30000
    rate: 100000
    burst: 100000
    idle_timeout: 10m
  admin:
    listen: 127.0.0.1:9091
EOF
"$WORK/teamsgate" serve "$WORK/egress.yaml" --check

echo "== squid configuration (rendered, then the bench's changes)"
mkdir -p "$WORK/squid"
"$WORK/teamsgate" render "$WORK/egress.yaml" --target squid --proxy 127.0.0.1:3129 --out-dir "$WORK/squid/rendered" 2>/dev/null
"$EB" peekcert "$WORK/squid/peek.pem"
sed -e "s#tls-cert=/etc/squid/teamsgate-peek.pem#tls-cert=$WORK/squid/peek.pem#" \
	-e '/^acl tg_internal dst /s# 127\.0\.0\.0/8##' \
	-e '/^http_access allow CONNECT /{p;s/ CONNECT//;}' \
	"$WORK/squid/rendered/squid.conf" >"$WORK/squid/squid.conf"
cat >>"$WORK/squid/squid.conf" <<EOF

# --- bench/egress.sh: the counterpart of allow_non_tls, and what running
# unprivileged in a temporary directory needs
on_unsupported_protocol tunnel all
workers 1
max_filedescriptors 65536
pid_filename $WORK/squid/squid.pid
cache_log $WORK/squid/cache.log
access_log stdio:$WORK/squid/access.log
cache deny all
coredump_dir $WORK/squid
pinger_enable off
netdb_filename none
logfile_rotate 0
visible_hostname egress-bench
shutdown_lifetime 1 seconds
EOF
diff "$WORK/squid/rendered/squid.conf" "$WORK/squid/squid.conf" | sed 's/^/  /' || true
grep -q "^acl tg_internal dst 0.0.0.0/8 10.0.0.0/8 100.64.0.0/10 169.254.0.0/16" "$WORK/squid/squid.conf" &&
	grep -q "^http_access allow tg1_src tg1_port tg1_dst$" "$WORK/squid/squid.conf" ||
	{ echo "the rendered squid.conf changed: check the changes above" >&2; exit 1; }
chown -R proxy:proxy "$WORK/squid"
chmod 755 "$WORK"
nsx squid -k parse -f "$WORK/squid/squid.conf" 2>"$WORK/squid/parse.log" || { cat "$WORK/squid/parse.log" >&2; exit 1; }

echo "== tinyproxy configuration"
mkdir -p "$WORK/tinyproxy"
for h in $HOSTS; do echo "^${h//./\\.}\$"; done >"$WORK/tinyproxy/filter"
cat >"$WORK/tinyproxy/tinyproxy.conf" <<EOF
User nobody
Group nogroup
Port 3130
Listen 127.0.0.1
Timeout 600
MaxClients 20000
ConnectPort 443
Filter "$WORK/tinyproxy/filter"
FilterType ere
FilterDefaultDeny Yes
LogFile "$WORK/tinyproxy/tinyproxy.log"
LogLevel Connect
Syslog Off
PidFile "$WORK/tinyproxy/tinyproxy.pid"
EOF
chown -R nobody:nogroup "$WORK/tinyproxy"

echo "== starting the name server, the upstream and the proxies in $NS"
ip netns exec "$NS" env GOMAXPROCS="$PEER_GOMAXPROCS" "$EB" dns -listen 127.0.0.1:53 -addr 127.0.0.1 -ttl 60 $HOSTS blocked.example >"$WORK/dns.log" 2>&1 &
DNS_PID=$!
PIDS+=($DNS_PID)
ip netns exec "$NS" env GOMAXPROCS="$PEER_GOMAXPROCS" "$EB" upstream -listen 127.0.0.1:443 >"$WORK/upstream.log" 2>&1 &
UP_PID=$!
PIDS+=($UP_PID)
ip netns exec "$NS" "$WORK/teamsgate" serve "$WORK/egress.yaml" 2>"$WORK/teamsgate.log" >/dev/null &
TG_PID=$!
PIDS+=($TG_PID)
ip netns exec "$NS" squid -N -f "$WORK/squid/squid.conf" >"$WORK/squid/stdout.log" 2>&1 &
SQ_PID=$!
PIDS+=($SQ_PID)
ip netns exec "$NS" tinyproxy -d -c "$WORK/tinyproxy/tinyproxy.conf" >"$WORK/tinyproxy/stdout.log" 2>&1 &
TP_PID=$!
PIDS+=($TP_PID)
ip netns exec "$NS" "$EB" relay -listen 127.0.0.1:3131 >"$WORK/relay.log" 2>&1 &
GR_PID=$!
PIDS+=($GR_PID)
printf 'global\n  maxconn 1000\ndefaults\n  mode tcp\n  option splice-auto\n  timeout connect 5s\n  timeout client 5m\n  timeout server 5m\nfrontend relay\n  bind 127.0.0.1:3132\n  default_backend upstream\nbackend upstream\n  server u 127.0.0.1:443\n' >"$WORK/haproxy-tcp.cfg"
ip netns exec "$NS" haproxy -db -f "$WORK/haproxy-tcp.cfg" >"$WORK/haproxy-tcp.log" 2>&1 &
HT_PID=$!
PIDS+=($HT_PID)

declare -A ADDR=([direct]="" [teamsgate]=127.0.0.1:3128 [squid]=127.0.0.1:3129 [tinyproxy]=127.0.0.1:3130 [gorelay]=127.0.0.1:3131)
declare -A PID=([direct]=0 [teamsgate]=$TG_PID [squid]=$SQ_PID [tinyproxy]=$TP_PID [gorelay]=$GR_PID)
NAMES="direct teamsgate squid tinyproxy gorelay"
PROXIES="teamsgate squid tinyproxy gorelay"
# the policy checks are for the three proxies; gorelay has none
POLICED="teamsgate squid tinyproxy"
PEERS=$UP_PID,$DNS_PID
VARIANTS=plain
[ "$TLS" = 1 ] && VARIANTS="plain tls"

# load COMMAND NAME [flags…]: egressbench COMMAND against the target NAME.
load() {
	local cmd=$1 name=$2
	shift 2
	nsx "$EB" "$cmd" -proxy "${ADDR[$name]}" -src "$BOT" -label "$name" "$@"
}
field() { grep -o "$1=[^ ]*" | head -1 | cut -d= -f2; }

for name in $NAMES; do
	ok=""
	for _ in $(seq 100); do
		out=$(load tunnels "$name" -host "$TARGET" -c 1 -d 100ms 2>&1 || true)
		if [ "$(field tunnels <<<"$out")" -gt 0 ] 2>/dev/null; then ok=1; break; fi
		sleep 0.1
	done
	[ -n "$ok" ] || { echo "$name does not tunnel: $out" >&2; tail -n 5 "$WORK/teamsgate.log" "$WORK/squid/cache.log" "$WORK/tinyproxy/tinyproxy.log" >&2; exit 1; }
done
for name in $POLICED; do
	for v in $VARIANTS; do
		flag=""
		[ "$v" = tls ] && flag=-tls
		out=$(load tunnels "$name" -host "$TARGET" -c 1 -d 200ms $flag)
		[ "$(field errors <<<"$out")" = 0 ] || { echo "$name ($v) fails: $out" >&2; exit 1; }
	done
	# the allow list is in force: a name outside it, resolving to the same
	# upstream, is refused
	out=$(load tunnels "$name" -host blocked.example:443 -c 1 -d 100ms)
	[ "$(field tunnels <<<"$out")" = 0 ] || { echo "$name let blocked.example through: $out" >&2; exit 1; }
	refused=$(grep -o 'first error: .*' <<<"$out" | cut -c14- | head -c 60)
	# a ClientHello naming another server than the CONNECT host: teamsgate
	# and Squid close the tunnel, tinyproxy does not look
	out=$(load tunnels "$name" -host "$TARGET" -tls -sni blocked.example -c 1 -d 100ms)
	if [ "$(field tunnels <<<"$out")" = 0 ]; then sni="closed"; else sni="passed"; fi
	printf '%-10s ready: tunnels %s; blocked.example refused (%s); SNI blocked.example in a tunnel to %s: %s\n' "$name" "$VARIANTS" "$refused" "$TARGET" "$sni"
done

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "-"; else printf "%.2f", a / b }'; }

# The idle tunnels first, while the proxies are fresh processes: their
# memory is then the tunnels', not what the load before left behind.
echo "== 1. $IDLE_N idle tunnels held $HOLD (each proxy fresh)"
declare -A IHELD IRSS IKB IAT IFDS ITHR IKERN IDEAD
for name in $PROXIES; do
	out=$(load idle "$name" -host "$TARGET" -n "$IDLE_N" -hold "$HOLD" -pid "${PID[$name]}" 2>&1) || { echo "$name: $out" >&2; IRSS[$name]=failed; continue; }
	echo "$out"
	IHELD[$name]=$(field held <<<"$out")
	IRSS[$name]=$(field rss_mb <<<"$out")
	IKB[$name]=$(field per_tunnel_kb <<<"$out")
	IAT[$name]=$(field "rss_at_${IDLE_N}_mb" <<<"$out")
	IFDS[$name]=$(field fds_per_tunnel <<<"$out")
	ITHR[$name]=$(field threads <<<"$out")
	IKERN[$name]=$(field kernel_kb_per_tunnel <<<"$out")
	IDEAD[$name]=$(field dead_after_hold <<<"$out")
	# let the closed tunnels' sockets go before the next proxy's turn
	sleep 2
done

echo "== 2. new tunnels/s: -c $CONC -d $DURATION, $ROUNDS interleaved rounds (after a $WARMUP warm-up each), variants: $VARIANTS"
for v in $VARIANTS; do
	flag=""
	[ "$v" = tls ] && flag=-tls
	for name in $NAMES; do load tunnels "$name" -host "$TARGET" -c "$CONC" -d "$WARMUP" $flag >/dev/null; done
done
declare -A RATES CPUS SELFS PEERC ERRS PAIR
for round in $(seq "$ROUNDS"); do
	for v in $VARIANTS; do
		flag=""
		[ "$v" = tls ] && flag=-tls
		for name in $NAMES; do
			out=$(load tunnels "$name" -host "$TARGET" -c "$CONC" -d "$DURATION" -pid "${PID[$name]}" -peers "$PEERS" $flag)
			rate=$(field rate <<<"$out")
			cpu=$(field cpu_us <<<"$out")
			RATES[$v/$name]+="$rate "
			CPUS[$v/$name]+="$cpu "
			SELFS[$v/$name]+="$(field self_cpu_us <<<"$out") "
			PEERC[$v/$name]+="$(field peers_cpu_us <<<"$out") "
			ERRS[$v/$name]=$((${ERRS[$v/$name]:-0} + $(field errors <<<"$out")))
			printf 'round %d  %-5s %-10s %6s tunnels/s   CPU us/tunnel: proxy %6s  client %6s  upstream+dns %6s   p50 %6s us  p99 %6s us  errors %s\n' \
				"$round" "$v" "$name" "$rate" "$cpu" "$(field self_cpu_us <<<"$out")" "$(field peers_cpu_us <<<"$out")" "$(field p50_us <<<"$out")" "$(field p99_us <<<"$out")" "$(field errors <<<"$out")"
			grep '^first error' <<<"$out" || true
		done
		# the round's own ratio: the machine's speed drifts between rounds
		PAIR[$v]+="$(ratio "$(tr ' ' '\n' <<<"${RATES[$v/teamsgate]}" | grep . | tail -n 1)" "$(tr ' ' '\n' <<<"${RATES[$v/squid]}" | grep . | tail -n 1)") "
	done
done
declare -A RATE CPU SELF PEER
for v in $VARIANTS; do
	for name in $NAMES; do
		RATE[$v/$name]=$(tr ' ' '\n' <<<"${RATES[$v/$name]}" | grep . | median)
		CPU[$v/$name]=$(tr ' ' '\n' <<<"${CPUS[$v/$name]}" | grep . | median)
		SELF[$v/$name]=$(tr ' ' '\n' <<<"${SELFS[$v/$name]}" | grep . | median)
		PEER[$v/$name]=$(tr ' ' '\n' <<<"${PEERC[$v/$name]}" | grep . | median)
	done
done

echo "== 3. throughput through one tunnel: $BYTES each way, best of 3"
declare -A TPUT TCPU TALL
for dir in down up; do
	for name in $NAMES; do
		out=$(load throughput "$name" -host "$TARGET" -bytes "$BYTES" -dir "$dir" -runs 3 -pid "${PID[$name]}" -peers "$UP_PID")
		TPUT[$dir/$name]=$(field best_mbs <<<"$out")
		TCPU[$dir/$name]=$(field cpu_s_per_gib <<<"$out")
		TALL[$dir/$name]=$(awk -v a="${TCPU[$dir/$name]}" -v b="$(field self_cpu_s_per_gib <<<"$out")" -v c="$(field peers_cpu_s_per_gib <<<"$out")" 'BEGIN { printf "%.2f", a + b + c }')
		printf '%-4s %-10s %6s MB/s best   CPU s/GiB: proxy %5s  client %5s  upstream %5s  all %5s   runs %s\n' "$dir" "$name" "${TPUT[$dir/$name]}" "${TCPU[$dir/$name]}" \
			"$(field self_cpu_s_per_gib <<<"$out")" "$(field peers_cpu_s_per_gib <<<"$out")" "${TALL[$dir/$name]}" "$(grep -o 'runs_mbs=.*' <<<"$out" | cut -d= -f2)"
	done
	# HAProxy in TCP mode: a plain connection to its port, relayed to the upstream
	out=$(nsx "$EB" throughput -upstream 127.0.0.1:3132 -src "$BOT" -label haproxy-tcp -bytes "$BYTES" -dir "$dir" -runs 3 -pid "$HT_PID" -peers "$UP_PID")
	TPUT[$dir/haproxy-tcp]=$(field best_mbs <<<"$out")
	printf '%-4s %-10s %6s MB/s best   CPU s/GiB: proxy %5s  client %5s  upstream %5s   runs %s\n' "$dir" haproxy-tcp "${TPUT[$dir/haproxy-tcp]}" "$(field cpu_s_per_gib <<<"$out")" \
		"$(field self_cpu_s_per_gib <<<"$out")" "$(field peers_cpu_s_per_gib <<<"$out")" "$(grep -o 'runs_mbs=.*' <<<"$out" | cut -d= -f2)"
done

echo
echo "== summary (tunnels: medians of $ROUNDS rounds; CPU is the proxy's)"
row() { printf '%-28s %10s %10s %10s %10s %10s\n' "$@"; }
row "" direct teamsgate squid tinyproxy gorelay
for v in $VARIANTS; do
	row "tunnels/s ($v)" "${RATE[$v/direct]}" "${RATE[$v/teamsgate]}" "${RATE[$v/squid]}" "${RATE[$v/tinyproxy]}" "${RATE[$v/gorelay]}"
	row "CPU us/tunnel, client ($v)" "${SELF[$v/direct]}" "${SELF[$v/teamsgate]}" "${SELF[$v/squid]}" "${SELF[$v/tinyproxy]}" "${SELF[$v/gorelay]}"
	row "CPU us/tunnel, peers ($v)" "${PEER[$v/direct]}" "${PEER[$v/teamsgate]}" "${PEER[$v/squid]}" "${PEER[$v/tinyproxy]}" "${PEER[$v/gorelay]}"
	row "CPU us/tunnel ($v)" - "${CPU[$v/teamsgate]}" "${CPU[$v/squid]}" "${CPU[$v/tinyproxy]}" "${CPU[$v/gorelay]}"
	row "errors ($v)" "${ERRS[$v/direct]}" "${ERRS[$v/teamsgate]}" "${ERRS[$v/squid]}" "${ERRS[$v/tinyproxy]}" "${ERRS[$v/gorelay]}"
done
for dir in down up; do
	row "MB/s ($dir)" "${TPUT[$dir/direct]}" "${TPUT[$dir/teamsgate]}" "${TPUT[$dir/squid]}" "${TPUT[$dir/tinyproxy]}" "${TPUT[$dir/gorelay]}"
	row "CPU s/GiB, all ($dir)" "${TALL[$dir/direct]}" "${TALL[$dir/teamsgate]}" "${TALL[$dir/squid]}" "${TALL[$dir/tinyproxy]}" "${TALL[$dir/gorelay]}"
	row "CPU s/GiB ($dir)" - "${TCPU[$dir/teamsgate]}" "${TCPU[$dir/squid]}" "${TCPU[$dir/tinyproxy]}" "${TCPU[$dir/gorelay]}"
done
row "idle tunnels held" - "${IHELD[teamsgate]:-}" "${IHELD[squid]:-}" "${IHELD[tinyproxy]:-}" "${IHELD[gorelay]:-}"
row "RSS MB, tunnels held" - "${IRSS[teamsgate]:-}" "${IRSS[squid]:-}" "${IRSS[tinyproxy]:-}" "${IRSS[gorelay]:-}"
row "RSS KB/idle tunnel" - "${IKB[teamsgate]:-}" "${IKB[squid]:-}" "${IKB[tinyproxy]:-}" "${IKB[gorelay]:-}"
row "RSS MB at $IDLE_N (1)" - "${IAT[teamsgate]:-}" "${IAT[squid]:-}" "${IAT[tinyproxy]:-}" "${IAT[gorelay]:-}"
row "kernel KB/idle tunnel (2)" - "${IKERN[teamsgate]:-}" "${IKERN[squid]:-}" "${IKERN[tinyproxy]:-}" "${IKERN[gorelay]:-}"
row "fds/idle tunnel" - "${IFDS[teamsgate]:-}" "${IFDS[squid]:-}" "${IFDS[tinyproxy]:-}" "${IFDS[gorelay]:-}"
row "threads, idle" - "${ITHR[teamsgate]:-}" "${ITHR[squid]:-}" "${ITHR[tinyproxy]:-}" "${ITHR[gorelay]:-}"
row "dead after hold" - "${IDEAD[teamsgate]:-}" "${IDEAD[squid]:-}" "${IDEAD[tinyproxy]:-}" "${IDEAD[gorelay]:-}"
echo "CPU: \"CPU us/tunnel\" and \"CPU s/GiB\" are the proxy's; client is the load generator, peers the upstream and the name server; all is proxy + client + upstream"
echo "(1) measured when all $IDLE_N were held, else RSS before + KB per tunnel x $IDLE_N: the descriptor limit ($(ulimit -n)) capped the tunnels held"
echo "(2) growth of the machine's slab, kernel stacks and page tables per tunnel: includes the load generator's and the upstream's sockets"

echo
verdict() { awk -v r="$1" -v t="$2" -v dir="$3" 'BEGIN { if (r == "-" || r == "") print "no figure"; else if ((dir == "min" && r + 0 >= t) || (dir == "max" && r + 0 < t)) print "met"; else print "NOT met" }'; }
for v in $VARIANTS; do
	r=$(ratio "${RATE[$v/teamsgate]}" "${RATE[$v/squid]}")
	echo "teamsgate/squid tunnels/s ($v) = $r   (target >= 1.5: $(verdict "$r" 1.5 min)); in each round: ${PAIR[$v]}; CPU per tunnel teamsgate/squid = $(ratio "${CPU[$v/teamsgate]}" "${CPU[$v/squid]}"); teamsgate/tinyproxy = $(ratio "${RATE[$v/teamsgate]}" "${RATE[$v/tinyproxy]}"); teamsgate/gorelay = $(ratio "${RATE[$v/teamsgate]}" "${RATE[$v/gorelay]}") (CPU $(ratio "${CPU[$v/teamsgate]}" "${CPU[$v/gorelay]}")); teamsgate/direct = $(ratio "${RATE[$v/teamsgate]}" "${RATE[$v/direct]}")"
done
for dir in down up; do
	r=$(ratio "${TPUT[$dir/teamsgate]}" "${TPUT[$dir/direct]}")
	echo "teamsgate/direct throughput ($dir) = $r   (target >= 0.9: $(verdict "$r" 0.9 min)); squid/direct = $(ratio "${TPUT[$dir/squid]}" "${TPUT[$dir/direct]}"), tinyproxy/direct = $(ratio "${TPUT[$dir/tinyproxy]}" "${TPUT[$dir/direct]}"), gorelay/direct = $(ratio "${TPUT[$dir/gorelay]}" "${TPUT[$dir/direct]}"), haproxy-tcp/direct = $(ratio "${TPUT[$dir/haproxy-tcp]}" "${TPUT[$dir/direct]}")"
done
held=""
[ "${IHELD[teamsgate]:-}" = "$IDLE_N" ] || held=", extrapolated from ${IHELD[teamsgate]:-0} held"
echo "teamsgate RSS with $IDLE_N idle tunnels = ${IAT[teamsgate]:-} MB$held   (target < 300 MB: $(verdict "${IAT[teamsgate]:-}" 300 max)); dead after the hold: ${IDEAD[teamsgate]:-}"
echo "request lines: teamsgate $(grep -c '"msg":"egress request"' "$WORK/teamsgate.log" || true), squid access.log $(wc -l <"$WORK/squid/access.log" 2>/dev/null || echo 0)"
