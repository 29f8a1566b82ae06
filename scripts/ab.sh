#!/usr/bin/env bash
# A/B: runs benchmarks against two chat-server binaries, interleaved (A, B,
# A, B, …) so that both see the same machine, with one chat-bench.
#
#   scripts/ab.sh A_SERVER B_SERVER [NAME …]      # RUNS=2 by default
#
# NAME is one of scripts/bench.sh's benchmarks, fill-10k (10,000 members
# joining one group over 100 connections), fanout-1000-mux10-flood (1,000
# members over 10 connections) or sessions-10k-mux100 (100 sessions per connection). Output: ab-results/<time>/NAME-{a,b}-RUN.json
# and summary-{a,b}.md (medians per side).
set -uo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: scripts/ab.sh A_SERVER B_SERVER [NAME …]" >&2; exit 2; }
a=$1 b=$2
shift 2
names=("$@")
[ ${#names[@]} -eq 0 ] && names=(fanout-1000-flood fanout-200-rate100 sessions-10k direct-100-flood)
runs=${RUNS:-2}
out=${OUT:-ab-results/$(date -u +%Y%m%dT%H%M%SZ)}
bench=$(swift build -c release --show-bin-path)/chat-bench
[ -x "$bench" ] || { echo "build chat-bench first: swift build -c release --product chat-bench" >&2; exit 1; }
mkdir -p "$out"
ulimit -n 16384 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "A: $a" > "$out/sides.txt"
echo "B: $b" >> "$out/sides.txt"

arguments() {
  case $1 in
    fanout-1000-flood)  echo fanout --members 1000 --senders 4 --duration 10 ;;
    fanout-200-rate100) echo fanout --members 200 --senders 4 --rate 100 --duration 20 ;;
    sessions-10k)       echo sessions --sessions 10000 --hold 5 ;;
    direct-100-flood)   echo direct --pairs 100 --duration 10 ;;
    direct-100-rate1000) echo direct --pairs 100 --rate 1000 --duration 10 ;;
    direct-10-rate1000) echo direct --pairs 10 --rate 1000 --duration 10 ;;
    catchup-1000)       echo catchup --missed 1000 --rounds 5 ;;
    fanout-1000-mux10-flood) echo fanout --members 1000 --connections 10 --senders 4 --duration 10 ;;
    sessions-10k-mux100) echo sessions --sessions 10000 --connections 100 --hold 5 ;;
    fill-10k)           echo fanout --members 10000 --connections 100 --senders 1 --duration 1 --setup-timeout 900 ;;
    *) return 1 ;;
  esac
}

for name in "${names[@]}"; do
  args=$(arguments "$name") || { echo "unknown benchmark $name" >&2; exit 2; }
  for run in $(seq 1 "$runs"); do
    for side in a b; do
      server=$a
      [ $side = b ] && server=$b
      echo "== $name $side run $run"
      # shellcheck disable=SC2086
      "$bench" $args --spawn "$server" --json > "$out/$name-$side-$run.json" 2> "$out/$name-$side-$run.txt"
    done
  done
done

shopt -s nullglob
for side in a b; do
  reports=()
  for name in "${names[@]}"; do reports+=("$out/$name-$side"-[0-9]*.json); done
  [ ${#reports[@]} -gt 0 ] && "$bench" summarize "${reports[@]}" > "$out/summary-$side.md"
done
echo "results: $out"
