#!/usr/bin/env bash
# Builds release chat-server and chat-bench, then runs the standard benchmark
# set (the goals table of issue 5), each run against a fresh server it starts
# itself, and writes every report plus a table of medians.
#
#   scripts/bench.sh                 # every benchmark, 3 runs each
#   RUNS=5 scripts/bench.sh fanout-1000-flood sessions-10k
#
# Output: bench-results/<UTC time>/NAME-RUN.json (one report per run),
# NAME-RUN.txt (stderr), machine.txt, summary.md (medians).
set -uo pipefail
cd "$(dirname "$0")/.."

runs=${RUNS:-3}
out=${OUT:-bench-results/$(date -u +%Y%m%dT%H%M%SZ)}
all=(fanout-1000-flood fanout-200-rate100 fanout-1000-rate100 sessions-10k sessions-100k-mux100 direct-100-flood
  fanout-1000-flood-loops fanout-1000-rate100-loops)
selected=("$@")
[ ${#selected[@]} -eq 0 ] && selected=("${all[@]}")

swift build -c release --product chat-server || exit 1
swift build -c release --product chat-bench || exit 1
bin=$(swift build -c release --show-bin-path)
mkdir -p "$out"

# One descriptor per connection on each side: 10,000 connections need more
# than the usual 1,024 (and some headroom).
want=16384
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $want ]; then
  hard=$(ulimit -Hn)
  if [ "$hard" = unlimited ] || [ "$hard" -ge $want ]; then
    ulimit -n $want
  else
    ulimit -n "$hard"
    echo "warning: at most $hard descriptors (hard limit): sessions-10k needs more than 10,000" >&2
  fi
fi

{
  echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit:  $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- Sources Package.swift || echo ' (modified)')"
  echo "cpu:     $(nproc) × $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "memory:  $(free -m | awk '/^Mem:/ {print $2 " MiB"}')"
  echo "kernel:  $(uname -sr)"
  echo "swift:   $(swift --version 2>&1 | head -1)"
  echo "ulimit:  $(ulimit -n) descriptors"
  echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) before the first run"
} > "$out/machine.txt"
cat "$out/machine.txt"

# Busy cores over the next $1 seconds, all processes together (from /proc/stat).
busy_cores() {
  local _ u n s i w q sq st before after
  read -r _ u n s i w q sq st _ < /proc/stat
  before=$((u + n + s + q + sq + st))
  sleep "$1"
  read -r _ u n s i w q sq st _ < /proc/stat
  after=$((u + n + s + q + sq + st))
  awk -v d=$((after - before)) -v hz="$(getconf CLK_TCK)" -v s="$1" 'BEGIN { printf "%.2f", d / hz / s }'
}

# The machine is shared: wait (up to QUIET_WAIT seconds) until other work
# leaves it nearly idle (under QUIET_CORES busy cores), so it does not skew a run.
wait_quiet() {
  local deadline=$((SECONDS + ${QUIET_WAIT:-600})) busy
  while :; do
    busy=$(busy_cores 3)
    if awk -v b="$busy" -v q="${QUIET_CORES:-0.3}" 'BEGIN { exit !(b < q) }'; then
      echo "   machine quiet ($busy cores busy)"
      return
    fi
    if [ $SECONDS -ge $deadline ]; then
      echo "   machine still busy ($busy cores) after ${QUIET_WAIT:-600} s of waiting: running anyway"
      return
    fi
    sleep 5
  done
}

arguments() {
  case $1 in
    fanout-1000-flood)   echo fanout --members 1000 --senders 4 --duration 10 ;;
    fanout-200-rate100)  echo fanout --members 200 --senders 4 --rate 100 --duration 20 ;;
    fanout-1000-rate100) echo fanout --members 1000 --senders 4 --rate 100 --duration 20 ;;
    sessions-10k)        echo sessions --sessions 10000 --hold 5 ;;
    sessions-100k-mux100) echo sessions --sessions 100000 --connections 1000 --hold 5 --connect-timeout 300 ;;
    direct-100-flood)    echo direct --pairs 100 --duration 10 ;;
    # The same with chat-server --tasks-on-event-loops (a trade-off: see BENCHMARKS.md).
    fanout-1000-flood-loops)   echo fanout --members 1000 --senders 4 --duration 10 --server-arg=--tasks-on-event-loops ;;
    fanout-1000-rate100-loops) echo fanout --members 1000 --senders 4 --rate 100 --duration 20 --server-arg=--tasks-on-event-loops ;;
    *) return 1 ;;
  esac
}

for name in "${selected[@]}"; do
  args=$(arguments "$name") || { echo "unknown benchmark $name; known: ${all[*]}" >&2; exit 2; }
  for run in $(seq 1 "$runs"); do
    echo "== $name run $run: chat-bench $args --spawn $bin/chat-server"
    wait_quiet
    # shellcheck disable=SC2086
    "$bin/chat-bench" $args --spawn "$bin/chat-server" --json > "$out/$name-$run.json" 2> "$out/$name-$run.txt"
    status=$?
    if [ ! -s "$out/$name-$run.json" ]; then
      echo "   failed (status $status) without a report: $(tail -3 "$out/$name-$run.txt")"
      rm -f "$out/$name-$run.json"
    elif [ $status -ne 0 ]; then
      echo "   NOT OK (lost deliveries, ended or unconnected sessions): see $out/$name-$run.json"
    fi
  done
done

shopt -s nullglob
reports=()
for name in "${selected[@]}"; do reports+=("$out/$name"-[0-9]*.json); done
if [ ${#reports[@]} -gt 0 ]; then
  "$bin/chat-bench" summarize "${reports[@]}" > "$out/summary.md"
  echo
  cat "$out/summary.md"
fi
echo
echo "results: $out"
