#!/usr/bin/env bash
# The two transports side by side: scripts/ab.sh with A = chat-server
# --transport nio and B = chat-server --transport nghttp2 (the same release
# binary), interleaved so that both see the same machine.
#
#   scripts/transport-ab.sh [NAME …]       # RUNS=2 by default; names as in ab.sh
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product chat-server >/dev/null
swift build -c release --product chat-bench >/dev/null
bin=$(swift build -c release --show-bin-path)
wrappers=$(mktemp -d)
for transport in nio nghttp2; do
  # exec: the benchmark measures the server's own pid.
  printf '#!/bin/sh\nexec %s/chat-server --transport %s "$@"\n' "$bin" "$transport" > "$wrappers/chat-server-$transport"
  chmod +x "$wrappers/chat-server-$transport"
done
scripts/ab.sh "$wrappers/chat-server-nio" "$wrappers/chat-server-nghttp2" "$@"
