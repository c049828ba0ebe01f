#!/usr/bin/env bash
# Run a command and fail if it changed the machine's own network namespace:
# links, addresses, routes, iptables/nftables rules, net.* sysctls; or left a
# service's daemon or its files (pid files, sockets, leases) on the machine.
#   usage: ci/host-unchanged.sh cargo test
set -euo pipefail

snapshot() {
    # Counters and timers change by themselves: keep only configuration.
    ip -o link | sed -E 's/ qlen [0-9]+//'
    ip -o addr | sed -E 's/ valid_lft .*//'
    ip route
    ip -6 route
    { iptables-save 2>/dev/null || true; } | { grep -v '^#' || true; } | sed -E 's/\[[0-9]+:[0-9]+\]//'
    nft list ruleset 2>/dev/null || true
    ip netns list
    # Sysctls that move on their own (random seeds, counters) are left out.
    { sysctl -a 2>/dev/null || true; } | { grep '^net\.' || true; } | { grep -Ev 'net\.(netfilter\.nf_conntrack_count|ipv4\.tcp_fastopen_key|core\.netdev_rss_key|ipv6\.conf\.[^.]+\.stable_secret)' || true; }
    # Services: no daemon left running, no pid file, socket or lease left on the machine.
    ps -e -o comm= | { grep -xE 'dnsmasq|dhclient|bird' || true; }
    ls -A /run | { grep -E 'dnsmasq|dhclient|bird' || true; }
    ls -A /run/bird /run/dnsmasq /var/lib/misc /var/lib/dhcp /var/lib/bird 2>/dev/null || true
}

before=$(mktemp)
after=$(mktemp)
trap 'rm -f "$before" "$after"' EXIT
snapshot >"$before"
"$@"
snapshot >"$after"
if ! diff -u "$before" "$after"; then
    echo "host-unchanged: the command changed the machine's own network namespace (diff above)" >&2
    exit 1
fi
echo "host-unchanged: the machine's own network namespace is unchanged"
