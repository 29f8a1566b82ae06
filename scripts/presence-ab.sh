#!/usr/bin/env bash
# The presence benchmark of BENCHMARKS.md: RUNS interleaved rounds of a mass
# reconnect (10,000 accounts in 100 groups of 100) with --presence-grace 0
# against a grace longer than the reconnect (60s), on one release binary.
#
#   scripts/presence-ab.sh                 # release build in .build/release
#   BIN=/path/to/bin RUNS=5 scripts/presence-ab.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BIN:-.build/release}
runs=${RUNS:-3}
for round in $(seq "$runs"); do
  for grace in 0 60s; do
    echo "== round $round grace $grace load $(cut -d' ' -f1 /proc/loadavg)"
    "$bin/chat-bench" presence --spawn "$bin/chat-server" --accounts 10000 --group-size 100 --connections 100 \
      --server-arg=--presence-grace=$grace | grep -E "^connect |^server |note +mass"
  done
done
