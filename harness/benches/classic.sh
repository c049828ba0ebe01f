#!/usr/bin/env bash
# The classic way, as the baseline of `cargo bench --bench topologies`: build one of the
# benchmark topologies with `ip` commands, ping once per node, tear it down.
#
#   usage: classic.sh bridge|chain|vxlan N
#   prints: <build µs> <ping µs> <teardown µs>
#
# The same topologies as the Rust generator (harness/benches/topologies/generate.rs),
# with the same addresses. One `ip` command per operation, `ip -n NS` where it
# exists and `ip netns exec NS ping -c1 -W1` to ping: what people type.
#
# Every node, the "host" included, is a named namespace `netrig-bench-<pid>-...`;
# nothing runs in or changes the machine's own namespace. Every namespace with
# this run's prefix is deleted on exit, whether the run succeeds, fails or is
# interrupted.
set -euo pipefail
export LC_ALL=C # $EPOCHREALTIME with a '.' separator

topology=${1:?usage: classic.sh bridge|chain|vxlan N}
n=${2:?usage: classic.sh bridge|chain|vxlan N}
prefix="netrig-bench-$$-"

cleanup() {
    local ns
    for ns in $(ip netns list | awk -v p="$prefix" 'index($1, p) == 1 { print $1 }'); do
        ip netns del "$ns" || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP


# A namespace with lo up, as netrig's nodes start.
add_ns() {
    ip netns add "$1"
    ip -n "$1" link set lo up
}

# A veth pair from $1:$2 to $3:$4, both ends created in their namespaces.
add_veth() {
    ip -n "$1" link add "$2" type veth peer name "$4" netns "$3"
}

failed_pings=0
ping_from() {
    ip netns exec "$1" ping -c1 -W1 -q "$2" >/dev/null || {
        echo "classic.sh: ping from $1 to $2 failed" >&2
        failed_pings=$((failed_pings + 1))
    }
}

# ---- docker-style bridge: host:br0 10.0.0.1/16, node i behind it ----------------
# Address helpers set a variable instead of printing: a $(...) forks, and the
# baseline should not pay for forks a person typing the commands would not.
# bridge_addr VAR I: the address of node I.
bridge_addr() { printf -v "$1" '10.0.%d.%d' $((1 + $2 / 250)) $((1 + $2 % 250)); }

bridge_build() {
    local host=${prefix}host i ns addr
    add_ns "$host"
    ip -n "$host" link add br0 type bridge
    ip -n "$host" addr add 10.0.0.1/16 dev br0
    ip -n "$host" link set br0 up
    for ((i = 0; i < n; i++)); do
        ns=${prefix}n$i
        add_ns "$ns"
        add_veth "$host" "v$i" "$ns" eth0
        ip -n "$host" link set "v$i" master br0
        ip -n "$host" link set "v$i" up
        bridge_addr addr "$i"
        ip -n "$ns" addr add "$addr/16" dev eth0
        ip -n "$ns" link set eth0 up
    done
}

bridge_ping() {
    local i
    for ((i = 0; i < n; i++)); do ping_from "${prefix}n$i" 10.0.0.1; done
}

# ---- chain of routers: link i joins r_i:e1 (.1) and r_{i+1}:e0 (.2) -------------
# link_net VAR I: the first three octets of link I's /24.
link_net() { printf -v "$1" '10.%d.%d' $((1 + $2 / 250)) $(($2 % 250)); }

chain_build() {
    local i r here next
    for ((i = 0; i < n; i++)); do add_ns "${prefix}r$i"; done
    # The ends send with TTL 255, so end-to-end pings survive up to 254 routers.
    for r in "${prefix}r0" "${prefix}r$((n - 1))"; do
        ip netns exec "$r" sysctl -qw net.ipv4.ip_default_ttl=255
    done
    for ((i = 1; i < n - 1; i++)); do
        ip netns exec "${prefix}r$i" sysctl -qw net.ipv4.ip_forward=1
    done
    for ((i = 0; i < n - 1; i++)); do
        here=${prefix}r$i next=${prefix}r$((i + 1))
        link_net net "$i"
        add_veth "$here" e1 "$next" e0
        ip -n "$here" addr add "$net.1/24" dev e1
        ip -n "$next" addr add "$net.2/24" dev e0
        ip -n "$here" link set e1 up
        ip -n "$next" link set e0 up
    done
    chain_routes
}

# Towards the last router by default; back to the first link's subnet explicitly.
chain_routes() {
    local i first last ahead behind
    link_net first 0
    link_net last $((n - 2))
    ip -n "${prefix}r0" route add default via "$first.2"
    ip -n "${prefix}r$((n - 1))" route add default via "$last.1"
    for ((i = 1; i < n - 1; i++)); do
        link_net ahead "$i"
        link_net behind $((i - 1))
        ip -n "${prefix}r$i" route add default via "$ahead.2"
        # r1 is on the first link already.
        if ((i >= 2)); then
            ip -n "${prefix}r$i" route add "$first.0/24" via "$behind.1"
        fi
    done
}

chain_ping() {
    local i net last
    for ((i = 0; i < n - 1; i++)); do
        link_net net "$i"
        ping_from "${prefix}r$i" "$net.2"
    done
    link_net last $((n - 2))
    ping_from "${prefix}r$((n - 1))" "$last.1"
    ping_from "${prefix}r0" "$last.2" # end to end
}

# ---- VXLAN host pairs: pair i has underlay 172.x.y.0/24, overlay 10.x.y.0/24 ----
# underlay VAR I / overlay VAR I: the first three octets of pair I's networks.
underlay() { printf -v "$1" '172.%d.%d' $((16 + $2 / 250)) $(($2 % 250)); }
overlay() { printf -v "$1" '10.%d.%d' $((100 + $2 / 250)) $(($2 % 250)); }

vxlan_build() {
    local i a b under over
    for ((i = 0; i < n; i++)); do
        a=${prefix}h${i}a b=${prefix}h${i}b
        underlay under "$i"
        overlay over "$i"
        add_ns "$a"
        add_ns "$b"
        add_veth "$a" eth0 "$b" eth0
        vxlan_end "$a" "$under.1" "$under.2" "$over.1"
        vxlan_end "$b" "$under.2" "$under.1" "$over.2"
    done
}

# vxlan_end NS UNDERLAY REMOTE OVERLAY
vxlan_end() {
    ip -n "$1" addr add "$2/24" dev eth0
    ip -n "$1" link set eth0 up
    ip -n "$1" link add vxlan100 type vxlan id 100 remote "$3" dstport 4789 dev eth0
    ip -n "$1" addr add "$4/24" dev vxlan100
    ip -n "$1" link set vxlan100 up
}

vxlan_ping() {
    local i over
    for ((i = 0; i < n; i++)); do
        overlay over "$i"
        ping_from "${prefix}h${i}a" "$over.2"
        ping_from "${prefix}h${i}b" "$over.1"
    done
}

case $topology in
bridge | vxlan) ;;
chain) ((n >= 3)) || { echo "classic.sh: a chain needs at least 3 routers" >&2; exit 2; } ;;
*) echo "classic.sh: unknown topology $topology" >&2; exit 2 ;;
esac

t0=${EPOCHREALTIME/./}
"${topology}_build"
t1=${EPOCHREALTIME/./}
"${topology}_ping"
t2=${EPOCHREALTIME/./}
cleanup
t3=${EPOCHREALTIME/./}
if ((failed_pings > 0)); then
    echo "classic.sh: $failed_pings pings failed" >&2
    exit 1
fi
echo "$((t1 - t0)) $((t2 - t1)) $((t3 - t2))"
