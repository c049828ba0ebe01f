#!/usr/bin/env bash
# Install the system packages netrig needs (Debian/Ubuntu, as root). Idempotent.
set -euo pipefail
# iputils-ping: `ping` for the benchmark's bash baseline (harness/benches/classic.sh).
# procps, python3: what exec's tests run inside a node (ps, pgrep, pkill, python3).
# dnsmasq-base, isc-dhcp-client, bird2: the daemons of scenarios/services. dnsmasq-base is
# the binary alone (the `dnsmasq` package would run a DNS server on the machine).
# radvd: the IPv6 router advertisement daemon of scenarios/ipv6/ra-default-route.
# qemu-system-x86, busybox-static, linux-image-amd64 and virtme-ng (pip): `netrig run --kernel`
# boots another kernel in a microVM. virtme-ng needs a *statically linked* busybox for its
# initramfs (Debian's `busybox` is dynamic; busybox-static replaces it), and the generic
# linux-image-amd64 (6.1 on Debian 12): the -cloud flavour lacks the 9p modules that
# mount the machine's files in the guest.
# clang: compiles netrig's drop tracer (harness/bpf/drops.bpf.c) at build time; without
# it netrig builds and runs, but cannot say why packets were dropped.
packages=(clang libpcap-dev iproute2 iptables nftables tcpdump librsvg2-bin iputils-ping procps python3
    dnsmasq-base isc-dhcp-client bird2 radvd qemu-system-x86 busybox-static linux-image-amd64)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    apt-get update -qq
    # bird2 enables and starts bird.service on a machine with systemd: scenarios run
    # their own bird in a node, never one on the machine. A policy-rc.d answering 101
    # ("action forbidden") stops maintainer scripts from starting services; one that
    # exists already is left alone.
    own_policy=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        own_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    [ -z "$own_policy" ] || rm -f /usr/sbin/policy-rc.d
    # The packages also enable bird.service and radvd.service for the next boot: not
    # when we installed them.
    if [[ " ${missing[*]} " == *" bird2 "* ]] && command -v systemctl >/dev/null; then
        systemctl disable bird.service >/dev/null 2>&1 || true
    fi
    if [[ " ${missing[*]} " == *" radvd "* ]] && command -v systemctl >/dev/null; then
        systemctl disable radvd.service >/dev/null 2>&1 || true
    fi
fi

if ! command -v vng >/dev/null; then
    echo "install-deps: installing virtme-ng (pip)"
    pip install -q virtme-ng || pip install -q --break-system-packages virtme-ng
fi
