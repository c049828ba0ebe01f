#!/usr/bin/env bash
# netrig as another project uses it: installed with `cargo install`, run in a directory
# outside this checkout on a failing scenario. Its artifacts must land in that
# project, and nothing may be written into the checkout.
set -euo pipefail
checkout=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Reuse the dev build (the tests just built it) instead of a release build from scratch.
cargo install -q --path harness --debug --target-dir target --root "$work/install" --locked
netrig="$work/install/bin/netrig"

mkdir -p "$work/project/net"
cat >"$work/project/net/unanswered.yaml" <<'YAML'
nodes: {a: {}, b: {}}
links: [{veth: [a:eth0 10.66.0.1/24, b:eth0 10.66.0.2/24]}]
steps:
  - capture: [b:eth0]
    expect: [{ping: {from: a, to: 10.66.0.3, timeout: 300ms}}]
YAML
before=$(find "$checkout" -path "$checkout/.git" -prune -o -newer "$work/project/net/unanswered.yaml" -print | wc -l)

status=0
(cd "$work/project" && env -u CARGO_TARGET_DIR "$netrig" run net) >"$work/out.txt" 2>&1 || status=$?
if [ "$status" -ne 1 ]; then
    echo "outside-checkout: expected exit 1 from a failing scenario, got $status"; cat "$work/out.txt"; exit 1
fi
# One directory per run: target/netrig/<path in the project>/run-<pid>-<n>/.
pcap=$(find "$work/project/target/netrig/net/unanswered" -path '*/run-*/b-eth0.pcap' -print -quit 2>/dev/null || true)
if [ -z "$pcap" ] || [ ! -s "$pcap" ] || ! grep -qF "$pcap" "$work/out.txt"; then
    echo "outside-checkout: no pcap of the failure under the project's target/netrig/net/unanswered/run-*/ (or not named in the message)"; cat "$work/out.txt"
    find "$work/project"; exit 1
fi
after=$(find "$checkout" -path "$checkout/.git" -prune -o -newer "$work/project/net/unanswered.yaml" -print | wc -l)
if [ "$after" -ne "$before" ]; then
    echo "outside-checkout: the run wrote into the checkout:"
    find "$checkout" -path "$checkout/.git" -prune -o -newer "$work/project/net/unanswered.yaml" -print; exit 1
fi
echo "outside-checkout: the installed netrig kept its artifacts in the project ($pcap) and wrote nothing into the checkout"
