#!/usr/bin/env bash
# Two servers measured at the same time: each round runs A and B side by
# side, each under its own grpc-go generator (scripts/go-fanout.sh), so both
# see the same machine; the order they start in alternates per round.
#
#   scripts/go-fanout-pair.sh ROUNDS WRAPPER_A WRAPPER_B [go-fanout options…]
#
# Default options: -direct -members 200 -rate 1000 -duration 20 (each pair
# then takes about 1.3 of this machine's 2 cores, so neither waits for a
# core). Prints each round's server CPU per delivery for A and B and B − A,
# then the median of B − A per delivery (and per message with -direct: 2
# deliveries each). A wrapper execs chat-server with its --store options and
# the arguments it is given. A pair with A and B the same binary (an A/A
# run) shows the method's own spread.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 3 ] || { echo "usage: scripts/go-fanout-pair.sh ROUNDS WRAPPER_A WRAPPER_B [options…]" >&2; exit 2; }
rounds=$1 a=$2 b=$3
shift 3
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(-direct -members 200 -rate 1000 -duration 20)
per_message=1
for arg in "${args[@]}"; do [ "$arg" = "-direct" ] && per_message=2; done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cpu() { grep -o '[0-9.]* µs/delivery' "$1" | cut -d' ' -f1; }
for round in $(seq 1 "$rounds"); do
  first=$a second=$b
  [ $((round % 2)) -eq 0 ] && first=$b second=$a
  scripts/go-fanout.sh "$first" "${args[@]}" >"$work/first.txt" 2>&1 &
  one=$!
  scripts/go-fanout.sh "$second" "${args[@]}" >"$work/second.txt" 2>&1 &
  two=$!
  wait $one $two
  if [ "$first" = "$a" ]; then x=$(cpu "$work/first.txt") y=$(cpu "$work/second.txt")
  else x=$(cpu "$work/second.txt") y=$(cpu "$work/first.txt"); fi
  lost=$(cat "$work/first.txt" "$work/second.txt" | grep -o 'lost [0-9]*' | tr '\n' ' ')
  difference=$(awk -v x="$x" -v y="$y" 'BEGIN { printf "%+.2f", y - x }')
  echo "round $round: A $x  B $y  µs/delivery  B−A $difference  ($lost)"
  echo "$difference" >>"$work/differences"
done
sort -g "$work/differences" | awk -v per="$per_message" '
  { d[NR] = $1 }
  END {
    m = (NR % 2) ? d[(NR + 1) / 2] : (d[NR / 2] + d[NR / 2 + 1]) / 2
    printf "median B−A: %+.2f µs per delivery, %+.2f per message (%d rounds)\n", m, m * per, NR
  }'
