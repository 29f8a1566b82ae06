#!/usr/bin/env bash
# The store's share of the SQLite server's CPU, by sampling, per message:
#
#   scripts/store-share.sh ROUNDS SERVER_WRAPPER… [-- go-fanout options…]
#
# Each round runs every wrapper once, in an order rotated per round, under
# scripts/go-fanout.sh (default: -direct -members 200 -rate 2000 -duration
# 14), records the server with `perf record -F 2000 -g` for 8 s starting 4 s
# in, and prints the run's server CPU per message (2 deliveries each with
# -direct) and the part of it in samples with a ChatStore frame and no
# encoding frame (scripts/perf-share.py). A wrapper is an executable that
# execs chat-server with its --store options and the arguments it is given.
# Needs perf (Debian: linux-perf) and Go (see scripts/go-fanout.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: scripts/store-share.sh ROUNDS SERVER_WRAPPER… [-- go-fanout options…]" >&2; exit 2; }
rounds=$1
shift
wrappers=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do wrappers+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(-direct -members 200 -rate 2000 -duration 14)
per_message=1
for arg in "${args[@]}"; do [ "$arg" = "-direct" ] && per_message=2; done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
count=${#wrappers[@]}
for round in $(seq 1 "$rounds"); do
  for index in $(seq 0 $((count - 1))); do
    wrapper=${wrappers[$(((index + round) % count))]}
    scripts/go-fanout.sh "$wrapper" "${args[@]}" > "$work/run.txt" 2>&1 &
    run=$!
    server=
    for _ in $(seq 1 100); do
      server=$(pgrep -n -f -- "--rate-limit off --log-level notice --no-console" || true)
      [ -n "$server" ] && break
      sleep 0.1
    done
    sleep 4
    perf record -F 2000 -g -p "$server" -o "$work/perf.data" -- sleep 8 > /dev/null 2>&1
    wait $run
    cpu=$(grep -o '[0-9.]* µs/delivery' "$work/run.txt" | cut -d' ' -f1)
    share=$(perf script -i "$work/perf.data" 2>/dev/null | scripts/perf-share.py | awk '{print $6}')
    python3 -c "import sys; c, s = float(sys.argv[1]) * $per_message, float(sys.argv[2]); \
print(f'round $round $wrapper: server {c:.1f} µs/message, store {c * s:.2f} µs/message (share {s:.4f})')" \
      "$cpu" "$share"
  done
done
