#!/usr/bin/env bash
# bench/gateway.sh — the ingress gateway against Caddy and nginx, on loopback,
# in one run, with the same upstream and the same wrk settings.
#
#   apt-get install wrk caddy nginx      # once
#   bench/gateway.sh                     # from the repository root
#
# Measures, each run bounded by DURATION:
#   1. requests/s with wrk (same threads, connections, duration, Lua script
#      posting an activity with a valid Bearer token) against:
#        direct    the trivial upstream itself
#        gateway   teamsgate serve: source check + cached token validation
#        gateway-x2 two teamsgate serve instances sharing the port
#                  (reuse_port), GOMAXPROCS=1 each, as nginx runs its
#                  worker processes
#        caddy     caddy reverse_proxy (no auth)
#        nginx     nginx proxy_pass with upstream keepalive (no auth): the
#                  target's reference
#        nginx-log the same with a buffered JSON access log line per request,
#                  as the gateway writes (informational)
#        nginx-plain nginx proxy_pass as it comes, without upstream keepalive:
#                  a new connection to the upstream per request (informational)
#        bare-http a bare httputil.ReverseProxy on http.Transport, no checks
#        bare      a bare httputil.ReverseProxy on the gateway's transport:
#                  the gateway without its checks, metrics and log
#        relay     a raw TCP relay that parses nothing: what the machine's
#                  system calls and wake-ups alone allow a Go program
#        front     the gateway's own handler (all checks, metrics, log,
#                  httputil.ReverseProxy on its transport) behind a minimal
#                  HTTP/1.1 loop on http.ReadRequest instead of http.Server:
#                  what leaving http.Server alone would buy
#        fasthttp  a reverse proxy on fasthttp (bench/fastref, a module of
#                  its own), no checks: what leaving net/http would buy
#        fastcheck the same fasthttp proxy doing the gateway's checks (source
#                  ranges, path, method, rate limit, concurrency cap, activity
#                  parse, botauth token validation, metrics, JSON log line):
#                  what a gateway outside net/http would reach
#      and the CPU time each proxy process spent per request, which shared
#      machines disturb far less than requests/s;
#   2. p99 latency added over the direct upstream at half the gateway's
#      peak rate, open loop at a constant rate (wrk2's model; wrk2 is not in
#      Debian): the gateway, and nginx at the same rate and at half its own
#      peak, for scale; and at LOWRATE req/s (a busy bot's load), where the
#      machine is mostly idle;
#   3. the gateway's RSS while it holds 2,000 idle keep-alive connections.
#
# Everything shares the machine's CPUs: wrk, the upstream and the proxy
# under test. The figures are for this machine, side by side in one run.
# The machine may be shared, so the targets are measured in ROUNDS
# interleaved rounds and each figure is the median of its rounds.
#
# Environment: DURATION per run (default 5s), ROUNDS (3), THREADS (2),
# CONNS (64), WARMUP (2s), LOWRATE (500). Not run in CI.
#
# A/B of two versions of the gateway: BASELINE=REV (a git revision, e.g.
# BASELINE=HEAD~1) builds teamsgate at REV as well and measures it as the
# target gateway-base, with the same spec, interleaved with the others in
# every round. ONLY="gateway gateway-base" restricts the rounds to the
# targets named (part 1 only; parts 2 and 3 need the gateway and nginx).
#
#   BASELINE=HEAD~1 ONLY="gateway gateway-base" ROUNDS=7 bench/gateway.sh
set -euo pipefail

DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
CONNS=${CONNS:-64}
WARMUP=${WARMUP:-2s}
LOWRATE=${LOWRATE:-500}
BASELINE=${BASELINE:-}
ONLY=${ONLY:-}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/teamsgate-bench.XXXXXX)
PIDS=()

cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [ -n "$BASELINE" ]; then git -C "$ROOT" worktree remove --force "$WORK/base" 2>/dev/null || true; fi
	rm -rf "$WORK"
}
trap cleanup EXIT

for tool in wrk caddy nginx go; do
	command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install wrk caddy nginx)" >&2; exit 1; }
done

echo "== building"
(cd "$ROOT" && go build -o "$WORK/teamsgate" ./cmd/teamsgate && go build -o "$WORK/gatewaybench" ./bench/gatewaybench)
(cd "$ROOT/bench/fastref" && go build -o "$WORK/fastref" .)
if [ -n "$BASELINE" ]; then
	echo "== building the baseline, $BASELINE ($(git -C "$ROOT" rev-parse --short "$BASELINE"))"
	git -C "$ROOT" worktree add --detach "$WORK/base" "$BASELINE" >/dev/null
	(cd "$WORK/base" && go build -o "$WORK/teamsgate-base" ./cmd/teamsgate)
fi

"$WORK/gatewaybench" env "$WORK/env" >"$WORK/env.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do grep -q '^ready' "$WORK/env.log" 2>/dev/null && break; sleep 0.1; done
grep -q '^ready' "$WORK/env.log" || { cat "$WORK/env.log"; exit 1; }

"$WORK/teamsgate" serve "$WORK/env/gateway.yaml" 2>"$WORK/gateway.log" >/dev/null &
GW_PID=$!
PIDS+=($GW_PID)
sed -e 's/127.0.0.1:18443/127.0.0.1:18449/' -e 's/^  plain_http: true$/  plain_http: true\n  reuse_port: true/' "$WORK/env/gateway.yaml" >"$WORK/env/gateway-rp.yaml"
grep -q 'reuse_port: true' "$WORK/env/gateway-rp.yaml" || { echo "no reuse_port in the second spec" >&2; exit 1; }
GW2_PIDS=""
for i in 1 2; do
	GOMAXPROCS=1 "$WORK/teamsgate" serve "$WORK/env/gateway-rp.yaml" --admin-listen "127.0.0.1:1909$i" 2>"$WORK/gateway-x2-$i.log" >/dev/null &
	GW2_PIDS+="$! "
	PIDS+=($!)
done
BASE_PID=""
if [ -n "$BASELINE" ]; then
	sed -e 's/127.0.0.1:18443/127.0.0.1:18450/' -e 's/127.0.0.1:19090/127.0.0.1:19094/' "$WORK/env/gateway.yaml" >"$WORK/env/gateway-base.yaml"
	"$WORK/teamsgate-base" serve "$WORK/env/gateway-base.yaml" 2>"$WORK/gateway-base.log" >/dev/null &
	BASE_PID=$!
	PIDS+=($BASE_PID)
fi

cat >"$WORK/Caddyfile" <<EOF
{
	admin off
	auto_https off
}
:18444 {
	bind 127.0.0.1
	reverse_proxy 127.0.0.1:18080
}
EOF
XDG_DATA_HOME="$WORK/caddy" XDG_CONFIG_HOME="$WORK/caddy" caddy run --config "$WORK/Caddyfile" --adapter caddyfile >"$WORK/caddy.log" 2>&1 &
CADDY_PID=$!
PIDS+=($CADDY_PID)

mkdir -p "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes auto;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 8192; }
http {
	access_log off;
	client_body_temp_path $WORK/nginx;
	proxy_temp_path $WORK/nginx;
	upstream bot { server 127.0.0.1:18080; keepalive 128; }
	log_format json escape=json '{"time":"\$time_iso8601","method":"\$request_method","path":"\$uri","status":\$status,"client":"\$remote_addr","upstream":"\$upstream_addr","duration_ms":\$request_time}';
	server {
		listen 127.0.0.1:18445;
		location / {
			proxy_pass http://bot;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
		}
	}
	server {
		listen 127.0.0.1:18456;
		access_log $WORK/nginx/access.log json buffer=64k flush=1s;
		location / {
			proxy_pass http://bot;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
		}
	}
	server {
		listen 127.0.0.1:18457;
		location / {
			proxy_pass http://127.0.0.1:18080;
		}
	}
}
EOF
nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" &
NGINX_PID=$!
PIDS+=($NGINX_PID)

"$WORK/gatewaybench" bare 127.0.0.1:18446 http://127.0.0.1:18080 http &
BAREH_PID=$!
PIDS+=($BAREH_PID)
"$WORK/gatewaybench" bare 127.0.0.1:18448 http://127.0.0.1:18080 gateway &
BARE_PID=$!
PIDS+=($BARE_PID)
"$WORK/gatewaybench" relay 127.0.0.1:18447 127.0.0.1:18080 &
RELAY_PID=$!
PIDS+=($RELAY_PID)
sed -e 's/127.0.0.1:18443/127.0.0.1:18453/' -e 's/127.0.0.1:19090/127.0.0.1:19093/' "$WORK/env/gateway.yaml" >"$WORK/env/gateway-front.yaml"
"$WORK/gatewaybench" front 127.0.0.1:18454 "$WORK/env/gateway-front.yaml" 2>"$WORK/front.log" &
FRONT_PID=$!
PIDS+=($FRONT_PID)
"$WORK/fastref" 127.0.0.1:18452 127.0.0.1:18080 &
FAST_PID=$!
PIDS+=($FAST_PID)
"$WORK/fastref" 127.0.0.1:18455 127.0.0.1:18080 "$WORK/env/gateway.yaml" 2>"$WORK/fastcheck.log" &
FASTC_PID=$!
PIDS+=($FASTC_PID)
ENV_PID=${PIDS[0]}

# Wait for everyone to answer.
for url in http://127.0.0.1:18080/ http://127.0.0.1:19090/readyz http://127.0.0.1:19091/readyz http://127.0.0.1:19092/readyz http://127.0.0.1:18444/ http://127.0.0.1:18445/ http://127.0.0.1:18456/ http://127.0.0.1:18457/ http://127.0.0.1:18446/ http://127.0.0.1:18447/ http://127.0.0.1:18448/ http://127.0.0.1:18452/ http://127.0.0.1:19093/readyz; do
	for _ in $(seq 100); do curl -sf -o /dev/null "$url" && break; sleep 0.1; done
	curl -sf -o /dev/null "$url" || { echo "not answering: $url" >&2; cat "$WORK/gateway.log" >&2; exit 1; }
done

for _ in $(seq 100); do curl -s -o /dev/null http://127.0.0.1:18455/ && break; sleep 0.1; done
if [ -n "$BASELINE" ]; then
	for _ in $(seq 100); do curl -sf -o /dev/null http://127.0.0.1:19094/readyz && break; sleep 0.1; done
	curl -sf -o /dev/null http://127.0.0.1:19094/readyz || { echo "the baseline gateway is not ready" >&2; cat "$WORK/gateway-base.log" >&2; exit 1; }
fi

# A sanity check: the gateway really validates (no token → 401).
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' --data-binary @"$WORK/env/activity.json" http://127.0.0.1:18443/api/messages)
[ "$code" = 401 ] || { echo "gateway answered $code without a token" >&2; exit 1; }
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' --data-binary @"$WORK/env/activity.json" http://127.0.0.1:18454/api/messages)
[ "$code" = 401 ] || { echo "front answered $code without a token" >&2; exit 1; }
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' --data-binary @"$WORK/env/activity.json" http://127.0.0.1:18455/api/messages)
[ "$code" = 401 ] || { echo "fastcheck answered $code without a token" >&2; exit 1; }

declare -A URL=(
	[direct]=http://127.0.0.1:18080/api/messages
	[gateway]=http://127.0.0.1:18443/api/messages
	[gateway-x2]=http://127.0.0.1:18449/api/messages
	[caddy]=http://127.0.0.1:18444/api/messages
	[nginx]=http://127.0.0.1:18445/api/messages
	[nginx-log]=http://127.0.0.1:18456/api/messages
	[nginx-plain]=http://127.0.0.1:18457/api/messages
	[bare-http]=http://127.0.0.1:18446/api/messages
	[bare]=http://127.0.0.1:18448/api/messages
	[relay]=http://127.0.0.1:18447/api/messages
	[fasthttp]=http://127.0.0.1:18452/api/messages
	[front]=http://127.0.0.1:18454/api/messages
	[fastcheck]=http://127.0.0.1:18455/api/messages
)
TARGETS="direct gateway gateway-x2 caddy nginx nginx-log nginx-plain bare-http bare front relay fasthttp fastcheck"
if [ -n "$BASELINE" ]; then
	URL[gateway-base]=http://127.0.0.1:18450/api/messages
	TARGETS="$TARGETS gateway-base"
fi
if [ -n "$ONLY" ]; then
	TARGETS=$ONLY
fi

# cputicks NAME: CPU clock ticks used so far by the target's processes.
cputicks() {
	local pids
	case $1 in
	direct) pids=$ENV_PID ;;
	gateway) pids=$GW_PID ;;
	gateway-base) pids=$BASE_PID ;;
	gateway-x2) pids=$GW2_PIDS ;;
	caddy) pids=$CADDY_PID ;;
	bare-http) pids=$BAREH_PID ;;
	bare) pids=$BARE_PID ;;
	relay) pids=$RELAY_PID ;;
	fasthttp) pids=$FAST_PID ;;
	front) pids=$FRONT_PID ;;
	fastcheck) pids=$FASTC_PID ;;
	nginx | nginx-log | nginx-plain) pids="$NGINX_PID $(pgrep -P "$NGINX_PID" | tr '\n' ' ')" ;;
	esac
	for p in $pids; do awk '{print $14 + $15}' "/proc/$p/stat"; done | awk '{ s += $1 } END { print s }'
}
TCK=$(getconf CLK_TCK)
declare -A RPS

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "== wrk -t$THREADS -c$CONNS -d$DURATION -s post.lua, $ROUNDS interleaved rounds (after a $WARMUP warm-up each)"
for name in $TARGETS; do
	wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" -s "$WORK/env/post.lua" "${URL[$name]}" >/dev/null
done
declare -A ALL P99S CPUS
for round in $(seq "$ROUNDS"); do
	for name in $TARGETS; do
		t0=$(cputicks "$name")
		out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s "$WORK/env/post.lua" "${URL[$name]}")
		t1=$(cputicks "$name")
		rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
		n=$(awk '/requests in/ {print $1}' <<<"$out")
		non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out")
		p99=$(awk '$1=="99%" {print $2}' <<<"$out")
		[ -z "$non2xx" ] || { echo "$name: $non2xx non-2xx answers" >&2; exit 1; }
		cpu=$(awk -v a="$t0" -v b="$t1" -v n="$n" -v t="$TCK" 'BEGIN { printf "%.1f", (b - a) / t * 1e6 / n }')
		ALL[$name]+="$rps "
		P99S[$name]+="$p99 "
		CPUS[$name]+="$cpu "
		printf 'round %d  %-10s %10s req/s   p99 %-8s  %6s us CPU/request\n' "$round" "$name" "$rps" "$p99" "$cpu"
	done
done
echo "-- medians"
declare -A CPU
for name in $TARGETS; do
	RPS[$name]=$(tr ' ' '\n' <<<"${ALL[$name]}" | grep . | median)
	CPU[$name]=$(tr ' ' '\n' <<<"${CPUS[$name]}" | grep . | median)
	printf '%-10s %10s req/s  %6s us CPU/request  (rounds: %s; p99s: %s)\n' "$name" "${RPS[$name]}" "${CPU[$name]}" "${ALL[$name]}" "${P99S[$name]}"
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
if [ -n "$BASELINE" ] && [ -n "${RPS[gateway-base]:-}" ] && [ -n "${RPS[gateway]:-}" ]; then
	echo "A/B: gateway/gateway-base req/s = $(ratio "${RPS[gateway]}" "${RPS[gateway-base]}"), CPU per request gateway/gateway-base = $(awk -v a="${CPU[gateway]}" -v b="${CPU[gateway-base]}" 'BEGIN { printf "%.3f", a / b }')   (this checkout against $BASELINE)"
fi
if [ -n "$ONLY" ]; then
	exit 0
fi
echo "gateway/caddy = $(ratio "${RPS[gateway]}" "${RPS[caddy]}")   (target >= 1.0)"
echo "gateway/nginx = $(ratio "${RPS[gateway]}" "${RPS[nginx]}")   (target >= 0.8)"
echo "gateway/nginx-log = $(ratio "${RPS[gateway]}" "${RPS[nginx-log]}"), gateway/nginx-plain = $(ratio "${RPS[gateway]}" "${RPS[nginx-plain]}")   (informational: nginx logging each request; nginx without upstream keepalive)"
echo "gateway-x2/nginx = $(ratio "${RPS[gateway-x2]}" "${RPS[nginx]}"), gateway-x2/caddy = $(ratio "${RPS[gateway-x2]}" "${RPS[caddy]}")   (two instances, GOMAXPROCS=1 each; nginx runs two workers)"
echo "gateway/bare  = $(ratio "${RPS[gateway]}" "${RPS[bare]}")   (the checks, metrics and log against a bare httputil.ReverseProxy on the same transport)"
echo "bare/nginx    = $(ratio "${RPS[bare]}" "${RPS[nginx]}")   (httputil.ReverseProxy on net/http with no checks at all: the design's ceiling)"
echo "front/nginx   = $(ratio "${RPS[front]}" "${RPS[nginx]}"), front/gateway = $(ratio "${RPS[front]}" "${RPS[gateway]}")   (the gateway's handler and reverse proxy without http.Server)"
echo "relay/nginx   = $(ratio "${RPS[relay]}" "${RPS[nginx]}")   (a Go relay that parses no HTTP, for scale)"
echo "fasthttp/nginx = $(ratio "${RPS[fasthttp]}" "${RPS[nginx]}")   (a fasthttp proxy with no checks: outside net/http)"
echo "fastcheck/nginx = $(ratio "${RPS[fastcheck]}" "${RPS[nginx]}"), fastcheck/gateway = $(ratio "${RPS[fastcheck]}" "${RPS[gateway]}")   (the gateway's checks on fasthttp)"
echo "CPU per request, gateway/caddy = $(ratio "${CPU[gateway]}" "${CPU[caddy]}"), gateway/nginx = $(ratio "${CPU[gateway]}" "${CPU[nginx]}"), gateway/bare = $(ratio "${CPU[gateway]}" "${CPU[bare]}"), front/gateway = $(ratio "${CPU[front]}" "${CPU[gateway]}"), bare-http/bare = $(ratio "${CPU[bare-http]}" "${CPU[bare]}"), relay/nginx = $(ratio "${CPU[relay]}" "${CPU[nginx]}"), fastcheck/nginx = $(ratio "${CPU[fastcheck]}" "${CPU[nginx]}")"

HALF=$(awk -v r="${RPS[gateway]}" 'BEGIN { printf "%d", r / 2 }')
XHALF=$(awk -v r="${RPS[gateway-x2]}" 'BEGIN { printf "%d", r / 2 }')
NHALF=$(awk -v r="${RPS[nginx]}" 'BEGIN { printf "%d", r / 2 }')
# rate NAME RATE: one open-loop run; prints its result line.
rate() { "$WORK/gatewaybench" rate -url "${URL[$1]}" -dir "$WORK/env" -rate "$2" -conns "$CONNS" -duration "$DURATION"; }
p99of() { grep -o 'p99_us=[0-9]*' | cut -d= -f2; }
echo "== open loop at $HALF req/s (half the gateway's median peak), $CONNS connections; gateway-x2 at $XHALF req/s and nginx at $NHALF req/s (half their own peaks); $ROUNDS interleaved rounds"
declare -A LAT
for round in $(seq "$ROUNDS"); do
	for run in "direct $HALF" "gateway $HALF" "nginx $HALF" "direct $XHALF" "gateway-x2 $XHALF" "direct $NHALF" "nginx $NHALF" "direct $LOWRATE" "gateway $LOWRATE" "nginx $LOWRATE"; do
		set -- $run
		out=$(rate "$1" "$2")
		printf 'round %d  %-10s @%-6s %s\n' "$round" "$1" "$2" "$out"
		LAT[$1@$2]+="$(p99of <<<"$out") "
	done
done
med() { tr ' ' '\n' <<<"${LAT[$1]}" | grep . | median; }
added() { echo $(($(med "$1@$2") - $(med "direct@$2"))); }
echo "median p99 at $HALF req/s: direct $(med "direct@$HALF") us, gateway $(med "gateway@$HALF") us, nginx $(med "nginx@$HALF") us"
echo "p99 added by the gateway at half its peak: $(added gateway "$HALF") us   (target < 1000 us)"
echo "p99 added by gateway-x2 at half its peak ($XHALF req/s): $(added gateway-x2 "$XHALF") us"
echo "p99 added by nginx at the same rate: $(added nginx "$HALF") us; at half its own peak ($NHALF req/s): $(added nginx "$NHALF") us"
echo "at $LOWRATE req/s: p99 added by the gateway $(added gateway "$LOWRATE") us, by nginx $(added nginx "$LOWRATE") us"

echo "== RSS with 2000 idle keep-alive connections"
rss_before=$(awk '/VmRSS/ {print $2}' /proc/$GW_PID/status)
"$WORK/gatewaybench" idle -addr 127.0.0.1:18443 -dir "$WORK/env" -n 2000 -hold 30s >"$WORK/idle.log" 2>&1 &
IDLE_PID=$!
PIDS+=($IDLE_PID)
for _ in $(seq 300); do grep -q '^holding' "$WORK/idle.log" 2>/dev/null && break; sleep 0.1; done
cat "$WORK/idle.log"
sleep 1
rss=$(awk '/VmRSS/ {print $2}' /proc/$GW_PID/status)
echo "gateway RSS: $((rss_before / 1024)) MiB before, $((rss / 1024)) MiB with the idle connections   (target < 100 MiB)"
kill $IDLE_PID 2>/dev/null || true

echo "== the gateway's decisions during the run"
curl -s http://127.0.0.1:19090/metrics | grep -E '^teamsgate_gateway_(requests_total\{decision="allow",reason="ok"\}|token_signature_verifications_total|token_cache_lookups_total)'
