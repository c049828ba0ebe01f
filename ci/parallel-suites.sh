#!/usr/bin/env bash
# Run two copies of the scenario suite at the same time: namespaces are anonymous
# and held by fd, so parallel runs must never collide.
set -euo pipefail
cargo test --test scenarios --no-run -q 2>/dev/null
log1=$(mktemp); log2=$(mktemp)
trap 'rm -f "$log1" "$log2"' EXIT
cargo test -q --test scenarios >"$log1" 2>&1 & first=$!
cargo test -q --test scenarios >"$log2" 2>&1 & second=$!
status=0
wait "$first" || status=1
wait "$second" || status=1
if [ "$status" -ne 0 ]; then
    echo "parallel-suites: a copy failed"; cat "$log1" "$log2"; exit 1
fi
echo "parallel-suites: both copies passed: $(grep -h 'test result' "$log1" | head -1)"
