#!/usr/bin/env bash
# How long a restart takes with a big retained log: fills a SQLite store
# through the server (scripts/fill_store.py: an account sending into 100
# groups it stays in) with MESSAGES messages, stops it, then starts it again
# on the same data RUNS times and reports the time from exec to "listening on".
#
#   scripts/restart-bench.sh [MESSAGES]   # default 1000000; RUNS=3; BIN=DIR; DATA=DIR
#
# DATA=DIR keeps the filled store in DIR/chat-data: filled on first use,
# reused as it is after (so binaries can be compared on the same data; a
# newer binary may migrate it, after which an older one refuses it: keep a
# copy per binary).
set -euo pipefail
cd "$(dirname "$0")/.."
messages=${1:-1000000}
runs=${RUNS:-3}
# BIN=DIR uses the chat-server in DIR instead of building one.
if [ -z "${BIN:-}" ]; then
  swift build -c release --product chat-server >&2
fi
bin=${BIN:-$(swift build -c release --show-bin-path)}
if [ -n "${DATA:-}" ]; then
  mkdir -p "$DATA"
  data=$DATA
  trap 'kill "${pid:-}" 2>/dev/null || true' EXIT
else
  data=$(mktemp -d)
  trap 'kill "${pid:-}" 2>/dev/null || true; rm -rf "$data"' EXIT
fi
log="$data/server.log"

start() {
  : >"$log"
  "$bin/chat-server" --port 0 --no-console --rate-limit off --log-level notice --store sqlite \
    --data-dir "$data/chat-data" --history-limit $((messages / 100 + 1000)) >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 600); do
    grep -q 'listening on' "$log" && return 0
    sleep 0.05
  done
  echo "the server did not start:" >&2
  cat "$log" >&2
  exit 1
}

if [ -d "$data/chat-data" ]; then
  echo "reusing the store in $data/chat-data" >&2
else
  start
  address=$(grep -o -m1 'listening on [0-9.:]*' "$log" | cut -d' ' -f3)
  echo "filling $address with about $messages messages" >&2
  python3 scripts/fill_store.py "$address" "$messages" 100 256 | tee "$data/fill.txt" >&2
  kill -TERM "$pid"
  wait "$pid" || true
fi
ls -l "$data/chat-data" >&2

for run in $(seq "$runs"); do
  started=${EPOCHREALTIME/./}
  start
  listening=${EPOCHREALTIME/./}
  loaded=$(grep -o 'store loaded.*' "$log" | head -1)
  # CPU (user + sys) the server spent by then: what a start costs whatever else the machine runs.
  read -r -a stat <"/proc/$pid/stat"
  cpu=$(( (stat[13] + stat[14]) * 1000 / $(getconf CLK_TCK) ))
  echo "run $run: $(( (listening - started) / 1000 )) ms from exec to listening, $cpu ms of CPU ($loaded); RSS $(ps -o rss= -p "$pid") KiB"
  kill -TERM "$pid"
  wait "$pid" || true
done
