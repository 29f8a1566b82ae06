#!/usr/bin/env bash
# The SQLite store's writer thread, measured from /proc: starts BIN on the
# SQLite store (fresh data directory), runs one chat-bench scenario against
# it, and prints the server's CPU per message, the writer thread's share (the
# thread that wrote the store's bytes), voluntary context switches per
# message, and the store's transactions and operations ("store closed").
#
#   scripts/store-writer-cpu.sh BIN [STORE] -- BENCH_ARGS…
#   e.g. scripts/store-writer-cpu.sh .build/release/chat-server sqlite -- direct --pairs 10 --rate 1000 --duration 10
set -uo pipefail
cd "$(dirname "$0")/.."
bin=$1 store=${2:-sqlite}
shift 2; [ "${1:-}" = "--" ] && shift
bench=$(swift build -c release --show-bin-path)/chat-bench
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
port=$((20000 + RANDOM % 10000))
"$bin" --host 127.0.0.1 --port $port --log-level info --no-console --rate-limit off \
  --store "$store" --data-dir "$work/chat-data" > "$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do grep -q "listening on" "$work/server.log" && break; sleep 0.1; done
"$bench" "$@" --server 127.0.0.1:$port --server-pid $server --json > "$work/report.json" 2> "$work/bench.txt"
# Per thread: id, voluntary switches, CPU ticks, bytes written to storage.
for task in /proc/$server/task/*; do
  echo "$(basename "$task") $(awk '/^voluntary_ctxt_switches/{print $2}' "$task/status") \
$(awk '{print $14 + $15}' "$task/stat") $(awk '/^write_bytes/{print $2}' "$task/io")"
done > "$work/threads"
kill -TERM $server; wait $server
python3 - "$work" "$(getconf CLK_TCK)" <<'PY'
import json, re, sys
work, hz = sys.argv[1], int(sys.argv[2])
report = json.load(open(f"{work}/report.json"))
threads = [list(map(int, line.split())) for line in open(f"{work}/threads") if len(line.split()) == 4]
messages = report["messagesSent"]
writer = max(threads, key=lambda t: t[3])
stats = re.search(r"store closed.*", open(f"{work}/server.log").read())
print(f"messages {messages} at {report['messagesPerSecond']:.0f}/s, other cores {report['otherCores']:.2f}")
print(f"server CPU {report['server']['cpuSeconds'] * 1e6 / messages:.1f} µs/message")
if writer[3] > 0:
    print(f"writer thread CPU {writer[2] * 1e6 / hz / messages:.1f} µs/message")
print(f"voluntary context switches {sum(t[1] for t in threads) / messages:.2f}/message")
print(f"SendMessage p50 {report['sendLatency']['p50']:.2f} ms, p99 {report['sendLatency']['p99']:.2f} ms")
if stats: print(stats.group(0))
PY
