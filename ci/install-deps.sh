#!/usr/bin/env bash
# Install the system packages netrig needs (Debian/Ubuntu, as root). Idempotent.
set -euo pipefail
# iputils-ping: `ping` for the benchmark's bash baseline (harness/benches/classic.sh).
# procps, python3: what exec's tests run inside a node (ps, pgrep, pkill, python3).
packages=(libpcap-dev iproute2 iptables nftables tcpdump librsvg2-bin iputils-ping procps python3)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
