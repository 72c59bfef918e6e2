#!/usr/bin/env bash
# Idle cost of a release devnet: starts `tally-node devnet` (four validators on loopback, RPC on
# 8545-8548, one empty block a second) in a temporary directory, lets it settle for 15 s, then
# prints each validator's CPU (from /proc/<pid>/stat ticks) and RSS over SECONDS (default 60),
# and the blocks committed meanwhile; it stops the network and removes the directory itself.
# Build first: cargo build --release -p tally-node
set -euo pipefail

secs=${1:-60}
node=${CARGO_TARGET_DIR:-$HOME/.cache/tally-target}/release/tally-node
dir=$(mktemp -d)
"$node" devnet --dir "$dir/net" --reset >"$dir/devnet.out" 2>&1 &
devnet=$!
trap 'kill -TERM $devnet 2>/dev/null; wait $devnet 2>/dev/null; rm -rf "$dir"' EXIT

height() {
  curl -s http://127.0.0.1:8545 -H 'content-type: application/json' \
    -d '{"jsonrpc":"2.0","id":1,"method":"status"}' | sed -n 's/.*"latest_height":\([0-9]*\).*/\1/p'
}
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

sleep 15
pids=$(pgrep -P "$devnet")
declare -A before
for pid in $pids; do before[$pid]=$(ticks "$pid"); done
h0=$(height)
sleep "$secs"
h1=$(height)
hz=$(getconf CLK_TCK)
for pid in $pids; do
  awk -v t0="${before[$pid]}" -v t1="$(ticks "$pid")" -v hz="$hz" -v s="$secs" \
    -v rss="$(awk '/VmRSS/{print $2}' "/proc/$pid/status")" \
    'BEGIN { printf "validator pid %s: %.2f %% CPU, %.0f MiB RSS\n", "'"$pid"'", 100 * (t1 - t0) / hz / s, rss / 1024 }'
done
echo "blocks committed in ${secs} s: $((h1 - h0))"
