#!/usr/bin/env bash
# bench/fleet.sh — the gateway against the closest peer that validates
# tokens at the edge, and the gateway as a fleet, on loopback, in one run.
#
#   apt-get install wrk nginx haproxy      # once
#   bench/fleet.sh                         # from the repository root
#
# Part 1, edge token validation, the same token and upstream for each:
#   gateway      teamsgate serve: source check, the full Bot Framework token
#                validation (signature from the published keys, issuer,
#                audience, expiry, serviceUrl, channel endorsement), metrics,
#                a JSON log line per request
#   haproxy-jwt  HAProxy 2.6 with jwt_verify, as its documentation shows:
#                the algorithm pinned to RS256, the signature verified
#                against the key file, iss, aud and exp checked with
#                jwt_payload_query; upstream connection reuse
#   nginx        nginx proxy_pass with upstream keepalive, no checks: the
#                limit figure
#   gateway-1cpu the gateway with the Go runtime's own defaults instead of
#                serve's (GOMAXPROCS = the CPUs, GOGC=100): what serve's
#                runtime settings (internal/runtimetune) are worth
# and the CPU time each proxy process spends per request (user + system,
# from /proc), which a shared machine disturbs less than requests/s.
#
# Part 2, fleet scaling: requests/s of 1, 2 and 3 gateway replicas behind
# HAProxy in TCP mode with the PROXY protocol v2 (as deploy/fleet_test.go
# runs them), and HAProxy alone in front of the upstream, for the ceiling.
#
# Everything shares the machine's CPUs (wrk, HAProxy, the replicas, the
# upstream): the figures are ratios within one run. Environment: DURATION
# per run (default 5s), ROUNDS (3; each figure is the median), THREADS (2),
# CONNS (64), UPSTREAM_GOMAXPROCS (the upstream's processors, 4 per CPU).
# Not run in CI.
set -euo pipefail

DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
CONNS=${CONNS:-64}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/teamsgate-fleet.XXXXXX)
PIDS=()

cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

for tool in wrk nginx haproxy go curl; do
	command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install wrk nginx haproxy)" >&2; exit 1; }
done

echo "== building"
(cd "$ROOT" && go build -o "$WORK/teamsgate" ./cmd/teamsgate && go build -o "$WORK/gatewaybench" ./bench/gatewaybench)

# The upstream (and issuer) is a Go server. With Go's one processor per
# CPU it holds every target back on this shared machine: its processors
# sit in loopback system calls while requests wait (under the gateway's
# load 6% of the CPUs stayed idle, 2% with 4 per CPU; nginx's figure rose
# by a tenth). It runs with 4 per CPU, as teamsgate serve does;
# UPSTREAM_GOMAXPROCS overrides it (UPSTREAM_GOMAXPROCS=2 on two CPUs
# gives the runtime's default).
UPSTREAM_GOMAXPROCS=${UPSTREAM_GOMAXPROCS:-$((4 * $(nproc)))}
GOMAXPROCS=$UPSTREAM_GOMAXPROCS "$WORK/gatewaybench" env "$WORK/env" >"$WORK/env.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do grep -q '^ready' "$WORK/env.log" 2>/dev/null && break; sleep 0.1; done
grep -q '^ready' "$WORK/env.log" || { cat "$WORK/env.log"; exit 1; }
APPID=$(sed -n 's/^  app_ids: \["\(.*\)"\]$/\1/p' "$WORK/env/gateway.yaml")

"$WORK/teamsgate" serve "$WORK/env/gateway.yaml" 2>"$WORK/gateway.log" >/dev/null &
GW_PID=$!
PIDS+=($GW_PID)
sed -e 's/127.0.0.1:18443/127.0.0.1:18444/' -e 's/127.0.0.1:19090/127.0.0.1:19091/' "$WORK/env/gateway.yaml" >"$WORK/env/gateway-1cpu.yaml"
GOMAXPROCS=$(nproc) GOGC=100 "$WORK/teamsgate" serve "$WORK/env/gateway-1cpu.yaml" 2>"$WORK/gateway-1cpu.log" >/dev/null &
G1_PID=$!
PIDS+=($G1_PID)

# Part 1: HAProxy with jwt_verify, after the HAProxy documentation's
# "JSON Web Token (JWT) verification" example.
cat >"$WORK/haproxy-jwt.cfg" <<EOF
global
  maxconn 8192
  nbthread 2
defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
frontend jwt
  bind 127.0.0.1:18460
  http-request set-var(txn.bearer) http_auth_bearer
  http-request set-var(txn.jwt_alg) var(txn.bearer),jwt_header_query('\$.alg')
  http-request set-var(txn.iss) var(txn.bearer),jwt_payload_query('\$.iss')
  http-request set-var(txn.aud) var(txn.bearer),jwt_payload_query('\$.aud')
  http-request set-var(txn.exp) var(txn.bearer),jwt_payload_query('\$.exp','int')
  http-request set-var(txn.now) date()
  http-request deny content-type text/plain string "unsupported algorithm" unless { var(txn.jwt_alg) -m str RS256 }
  http-request deny content-type text/plain string "wrong issuer" unless { var(txn.iss) -m str "https://api.botframework.com" }
  http-request deny content-type text/plain string "wrong audience" unless { var(txn.aud) -m str "$APPID" }
  http-request deny content-type text/plain string "expired" if { var(txn.exp),sub(txn.now) -m int lt 0 }
  http-request deny content-type text/plain string "bad signature" unless { var(txn.bearer),jwt_verify(txn.jwt_alg,"$WORK/env/jwt-key.pem") -m int 1 }
  default_backend bot
backend bot
  http-reuse always
  server bot 127.0.0.1:18080
EOF
haproxy -db -f "$WORK/haproxy-jwt.cfg" >"$WORK/haproxy-jwt.log" 2>&1 &
HJ_PID=$!
PIDS+=($HJ_PID)

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
	server {
		listen 127.0.0.1:18461;
		location / {
			proxy_pass http://bot;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
		}
	}
}
EOF
nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" &
NGINX_PID=$!
PIDS+=($NGINX_PID)

# Part 2: replicas behind HAProxy (TCP, PROXY v2).
replica() { # N -> spec with its ports, trusting HAProxy's PROXY header
	sed -e "s/127.0.0.1:18443/127.0.0.1:1847$1/" -e "s/127.0.0.1:19090/127.0.0.1:1948$1/" \
	    -e 's/^    extra: \[127.0.0.1\/32\]$/    extra: [127.0.0.1\/32]\n    trusted_proxies: [127.0.0.1\/32]\n    proxy_protocol: true/' \
	    "$WORK/env/gateway.yaml" >"$WORK/env/replica$1.yaml"
	grep -q proxy_protocol "$WORK/env/replica$1.yaml" || { echo "replica spec: no proxy_protocol" >&2; exit 1; }
}
FLEET_PIDS=()
for i in 1 2 3; do
	replica $i
	"$WORK/teamsgate" serve "$WORK/env/replica$i.yaml" 2>"$WORK/replica$i.log" >/dev/null &
	FLEET_PIDS+=($!)
	PIDS+=($!)
done
fleet_cfg() { # N -> HAProxy on port 18461+N in front of the first N replicas
	{
		printf 'global\n  maxconn 8192\n  nbthread 2\ndefaults\n  mode tcp\n  timeout connect 2s\n  timeout client 30s\n  timeout server 30s\n'
		printf 'frontend fe\n  bind 127.0.0.1:%s\n  default_backend gw\nbackend gw\n  balance roundrobin\n' "$((18461 + $1))"
		for i in $(seq "$1"); do printf '  server g%s 127.0.0.1:1847%s send-proxy-v2\n' "$i" "$i"; done
	} >"$WORK/haproxy-fleet$1.cfg"
}
for n in 1 2 3; do
	fleet_cfg $n
	haproxy -db -f "$WORK/haproxy-fleet$n.cfg" >"$WORK/haproxy-fleet$n.log" 2>&1 &
	PIDS+=($!)
done
printf 'global\n  maxconn 8192\n  nbthread 2\ndefaults\n  mode tcp\n  timeout connect 2s\n  timeout client 30s\n  timeout server 30s\nfrontend fe\n  bind 127.0.0.1:18465\n  default_backend up\nbackend up\n  server u 127.0.0.1:18080\n' >"$WORK/haproxy-tcp.cfg"
haproxy -db -f "$WORK/haproxy-tcp.cfg" >"$WORK/haproxy-tcp.log" 2>&1 &
PIDS+=($!)

TOKEN=$(cat "$WORK/env/token")
# The token with one signature character changed, ten from the end: the
# last character of an RS256 signature carries padding bits that decoders
# may ignore, so changing it does not always change the signature.
i=$((${#TOKEN} - 10))
c=${TOKEN:$i:1}
if [ "$c" = A ]; then r=B; else r=A; fi
BROKEN=${TOKEN:0:$i}$r${TOKEN:$((i + 1))}
for url in http://127.0.0.1:18080/ http://127.0.0.1:19090/readyz http://127.0.0.1:19091/readyz http://127.0.0.1:19481/readyz http://127.0.0.1:19482/readyz http://127.0.0.1:19483/readyz http://127.0.0.1:18461/; do
	for _ in $(seq 100); do curl -sf -o /dev/null "$url" && break; sleep 0.1; done
done
check() { # URL -> the activity must be accepted
	code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' --data-binary @"$WORK/env/activity.json" "$1")
	[ "$code" = 200 ] || { echo "$1 answers $code to a valid activity" >&2; exit 1; }
	code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $BROKEN" -H 'Content-Type: application/json' --data-binary @"$WORK/env/activity.json" "$1")
	[ "$code" != 200 ] || { echo "$1 accepts a token with a broken signature" >&2; exit 1; }
}
for u in http://127.0.0.1:18443/api/messages http://127.0.0.1:18444/api/messages http://127.0.0.1:18460/api/messages http://127.0.0.1:18462/api/messages http://127.0.0.1:18463/api/messages http://127.0.0.1:18464/api/messages; do check "$u"; done

cpu() { # PID... -> clock ticks of user + system time, summed
	local t=0
	for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
	echo $t
}
HZ=$(getconf CLK_TCK)
declare -A RPS CPU
measure() { # NAME URL PIDS... -> requests/s and CPU µs per request of the PIDs
	local name=$1 url=$2
	shift 2
	local before after out rps reqs
	before=$(cpu "$@")
	out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" -s "$WORK/env/post.lua" "$url")
	after=$(cpu "$@")
	rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
	reqs=$(echo "$out" | awk '/requests in/ {print $1}')
	if echo "$out" | grep -q 'Non-2xx'; then echo "$name: non-2xx answers:" >&2; echo "$out" >&2; exit 1; fi
	RPS[$name]+="$rps "
	CPU[$name]+="$(awk -v t=$((after - before)) -v hz="$HZ" -v n="$reqs" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}') "
}
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "== $ROUNDS rounds of $DURATION, wrk -t$THREADS -c$CONNS, upstream GOMAXPROCS=$UPSTREAM_GOMAXPROCS"
for r in $(seq "$ROUNDS"); do
	echo "round $r"
	# The gateway and HAProxy side by side, first one then the other.
	if [ $((r % 2)) = 1 ]; then
		measure gateway http://127.0.0.1:18443/api/messages $GW_PID
		measure haproxy-jwt http://127.0.0.1:18460/api/messages $HJ_PID
	else
		measure haproxy-jwt http://127.0.0.1:18460/api/messages $HJ_PID
		measure gateway http://127.0.0.1:18443/api/messages $GW_PID
	fi
	measure gateway-1cpu http://127.0.0.1:18444/api/messages $G1_PID
	measure nginx http://127.0.0.1:18461/api/messages $NGINX_PID $(pgrep -P $NGINX_PID)
	measure fleet-1 http://127.0.0.1:18462/api/messages "${FLEET_PIDS[0]}"
	measure fleet-2 http://127.0.0.1:18463/api/messages "${FLEET_PIDS[0]}" "${FLEET_PIDS[1]}"
	measure fleet-3 http://127.0.0.1:18464/api/messages "${FLEET_PIDS[@]}"
	measure haproxy-tcp http://127.0.0.1:18465/api/messages
done

echo
printf '%-12s %10s %14s\n' target 'req/s' 'CPU µs/req'
for t in gateway haproxy-jwt gateway-1cpu nginx fleet-1 fleet-2 fleet-3 haproxy-tcp; do
	printf '%-12s %10s %14s\n' "$t" "$(echo "${RPS[$t]}" | median)" "$(echo "${CPU[$t]}" | median)"
done
g=$(echo "${RPS[gateway]}" | median); h=$(echo "${RPS[haproxy-jwt]}" | median); n=$(echo "${RPS[nginx]}" | median)
gc=$(echo "${CPU[gateway]}" | median); hc=$(echo "${CPU[haproxy-jwt]}" | median); nc=$(echo "${CPU[nginx]}" | median)
f1=$(echo "${RPS[fleet-1]}" | median); f2=$(echo "${RPS[fleet-2]}" | median); f3=$(echo "${RPS[fleet-3]}" | median)
echo
awk -v g="$g" -v h="$h" -v n="$n" 'BEGIN {printf "gateway / haproxy-jwt: %.2fx requests/s (target: at least 1.0x)\ngateway / nginx (no checks): %.2fx requests/s\n", g/h, g/n}'
# The ratio of each round's pair, measured a few seconds apart, is
# disturbed less by the machine's drift between rounds than the ratio of
# the medians.
paired=$(paste -d' ' <(echo "${RPS[gateway]}" | tr ' ' '\n' | grep -v '^$') <(echo "${RPS[haproxy-jwt]}" | tr ' ' '\n' | grep -v '^$') | awk '{printf "%.3f ", $1/$2}')
echo "gateway / haproxy-jwt in each round: $paired(median $(echo "$paired" | median))"
g1=$(echo "${RPS[gateway-1cpu]}" | median)
awk -v g="$g1" -v h="$h" 'BEGIN {printf "gateway with the runtime defaults / haproxy-jwt: %.2fx requests/s\n", g/h}'
awk -v g="$gc" -v h="$hc" -v n="$nc" 'BEGIN {printf "CPU per request: gateway %.2fx haproxy-jwt, %.2fx nginx\n", g/h, g/n}'
awk -v a="$f1" -v b="$f2" -v c="$f3" 'BEGIN {printf "fleet scaling: 2 replicas %.2fx, 3 replicas %.2fx of 1 (2 cores shared by wrk, HAProxy, the replicas and the upstream)\n", b/a, c/a}'
