#!/usr/bin/env bash
# Installs the Debian packages the tests need (kernel, namespace, TLS and
# proxy peers, the headless browser of the report test), only those missing. Run as root; without root it only
# reports what is missing, and the tests that need it skip with a reason
# (or fail, under TEAMSGATE_E2E=1).
set -euo pipefail

# command → Debian package
declare -A need=(
  [nft]=nftables
  [iptables]=iptables
  [ip6tables]=iptables
  [ip]=iproute2
  [sysctl]=procps
  [openssl]=openssl
  [curl]=curl
  [node]=nodejs
  [chromium]=chromium
  [systemd-analyze]=systemd
  [haproxy]=haproxy
)

missing=()
for cmd in "${!need[@]}"; do
  if ! command -v "$cmd" >/dev/null 2>&1 && ! [ -x "/usr/sbin/$cmd" ] && ! [ -x "/sbin/$cmd" ]; then
    missing+=("${need[$cmd]}")
  fi
done
# The squid target's ssl_bump lines need Squid built with OpenSSL
# (Debian's squid-openssl; plain squid rejects them).
if ! command -v squid >/dev/null 2>&1 && ! [ -x /usr/sbin/squid ] || ! { squid -v 2>/dev/null || /usr/sbin/squid -v 2>/dev/null; } | grep -q -- '--with-openssl'; then
  missing+=(squid-openssl)
fi
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
if [ "$(id -u)" -ne 0 ]; then
  echo "install-test-deps: not root; missing packages: ${missing[*]} (the tests that need them will skip)" >&2
  exit 0
fi
echo "install-test-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
