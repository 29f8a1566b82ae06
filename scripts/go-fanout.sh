#!/usr/bin/env bash
# The fan-out benchmark with grpc-go as the load generator (scripts/go-fanout/main.go):
#
#   scripts/go-fanout.sh SERVER_BINARY [go-fanout options…]
#
# Starts SERVER_BINARY as chat-bench --spawn does (127.0.0.1, a free port,
# --rate-limit off, --log-level notice, --no-console; add --store … through
# a wrapper script), runs go-fanout against it, and stops it. The client is
# built offline in GOPATH mode against Debian's golang-google-grpc-dev, as
# the interop test's is (apt-get install golang-go golang-google-grpc-dev).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: scripts/go-fanout.sh SERVER_BINARY [options…]" >&2; exit 2; }
server=$1
shift
binary=.build/go-fanout
if [ ! -x "$binary" ] || [ scripts/go-fanout/main.go -nt "$binary" ]; then
  mkdir -p .build
  GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= GOCACHE="${GOCACHE:-$PWD/.build/go-cache}" \
    go build -o "$binary" scripts/go-fanout/main.go
fi
ulimit -n 16384 2>/dev/null || ulimit -n "$(ulimit -Hn)"
log=$(mktemp /tmp/go-fanout-server.XXXXXX)
"$server" --host 127.0.0.1 --port 0 --rate-limit off --log-level notice --no-console </dev/null >"$log" 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 1 300); do grep -q "listening" "$log" && break; sleep 0.1; done
port=$(grep -o 'address=127.0.0.1:[0-9]*' "$log" | head -1 | cut -d: -f2)
[ -n "$port" ] || { cat "$log" >&2; exit 1; }
"$binary" -addr "127.0.0.1:$port" -pid "$pid" "$@"
