#!/usr/bin/env bash
# The store's cost: scripts/ab.sh with one release chat-server run on the
# memory store (A) and on the SQLite store in a fresh data directory per run
# (B), interleaved.
#
#   scripts/store-ab.sh [NAME …]   # default: direct-100-flood direct-100-rate1000 catchup-1000
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product chat-server >&2
swift build -c release --product chat-bench >&2
server=$(swift build -c release --show-bin-path)/chat-server
wrappers=$(mktemp -d)
trap 'rm -rf "$wrappers"' EXIT
# The store options go last, so they win over the benchmark's own --store memory.
cat >"$wrappers/memory" <<SCRIPT
#!/usr/bin/env bash
exec "$server" "\$@" --store memory
SCRIPT
cat >"$wrappers/sqlite" <<SCRIPT
#!/usr/bin/env bash
data=\$(mktemp -d "$wrappers/data.XXXXXX")
exec "$server" "\$@" --store sqlite --data-dir "\$data/chat-data"
SCRIPT
chmod +x "$wrappers/memory" "$wrappers/sqlite"
names=("$@")
[ ${#names[@]} -eq 0 ] && names=(direct-100-flood direct-100-rate1000 catchup-1000)
scripts/ab.sh "$wrappers/memory" "$wrappers/sqlite" "${names[@]}"
