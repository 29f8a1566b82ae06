#!/usr/bin/env bash
# The demo behind logs.txt: a chat-server on a free port with its SQLite
# store, three scripted chat-clients: alice signs up for an account, bob and
# carol are guests; they create and join groups, chat in a group and
# directly, list channels and make mistakes; the operator, on the server's
# console, lists users, kicks carol and broadcasts a notice; bob quits, and
# the operator shuts the server down. The server starts again on the same
# port and data: alice's client reconnects by itself, resumes where it was
# and reads #general's history; a guest, dave, joins and lists who is online;
# alice quits and dave is told she went offline once the presence grace has
# passed; the operator lists accounts, the lobby's members and the users,
# and shuts down. Every session joins the lobby (--lobby lobby).
# Every line the server and the clients print goes to logs.txt at
# the repository root, in time order, labelled, with the seconds since the
# demo began.
#
#   scripts/demo.sh            # debug build (what `swift test` already built)
#   scripts/demo.sh release    # release build
set -euo pipefail
cd "$(dirname "$0")/.."

configuration=${1:-debug}
swift build -c "$configuration" --product chat-server >&2
swift build -c "$configuration" --product chat-client >&2
bin=$(swift build -c "$configuration" --show-bin-path)

work=$(mktemp -d)
server_pid=
cleanup() {
  [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

now_us() { echo "${EPOCHREALTIME/./}"; }
start_us=$(now_us)

# label NAME: prefixes each line read with the seconds since the start and
# NAME, and appends it to one file (one write per line, so lines never mix).
label() {
  local line elapsed
  while IFS= read -r line; do
    elapsed=$(( ${EPOCHREALTIME/./} - start_us ))
    printf '%3d.%03d %-7s %s\n' $((elapsed / 1000000)) $((elapsed / 1000 % 1000)) "$1" "$line"
  done >>"$work/all"
}

# at SECONDS LINE: waits until SECONDS after the clients' start, then prints
# LINE (for a client's standard input, or the server console).
at() {
  local whole=${1%.*} fraction=0
  [[ $1 == *.* ]] && fraction=${1#*.}
  fraction="${fraction}000000"
  local wait_us=$(( clients_us + whole * 1000000 + 10#${fraction:0:6} - $(now_us) ))
  (( wait_us > 0 )) && sleep "$((wait_us / 1000000)).$(printf '%06d' $((wait_us % 1000000)))"
  printf '%s\n' "$2"
}

# The server reads its console from a FIFO that this script holds open.
mkfifo "$work/console"
exec 3<>"$work/console"
# start_server PORT: the server on the demo's data directory.
start_server() {
  "$bin/chat-server" --port "$1" --store sqlite --data-dir "$work/data" --lobby lobby --presence-grace 1s \
    <"$work/console" > >(label server) 2>&1 &
  server_pid=$!
}
start_server 0

# wait_listening N: until the server has said 'listening on' N times; sets address.
wait_listening() {
  address=
  for _ in $(seq 100); do
    if (( $(grep -c 'listening on [0-9.:]*' "$work/all" 2>/dev/null || true) >= $1 )); then
      address=$(grep -o 'listening on [0-9.:]*' "$work/all" | tail -1 | cut -d' ' -f3)
      return
    fi
    sleep 0.1
  done
  echo "chat-server did not start:" >&2
  cat "$work/all" >&2
  exit 1
}
wait_listening 1
clients_us=$(now_us)

alice() {
  at 0.2 "/signup alice"
  at 0.5 "/create general"
  at 1.5 "/say general hi everyone, welcome to #general"
  at 2.5 "/to @bob"
  at 2.6 "are you coming tonight?"
  at 4.0 "/list"
  at 5.6 "/say general carol, please keep it civil"
  at 7.5 "/list"
  # The server restarts at 10-11; the client reconnects by itself.
  at 12.5 "/to #general"
  at 12.6 "/history 4"
  at 13.2 "/members"
  at 13.5 "/msg bob are you still there?"
  at 14.5 "/quit"
}
bob() {
  at 1.0 "/join general"
  at 2.0 "/say general hi alice!"
  at 3.2 "/msg alice yes, see you at 8"
  at 3.5 "/join nowhere"
  at 4.5 "/create books"
  at 5.0 "/leave books"
  at 8.5 "/quit"
}
carol() {
  at 1.2 "/join #general"
  at 3.0 "/create general"
  at 4.8 "/msg bob cheap watches, ask me!"
  at 5.2 "/say general CHEAP WATCHES"
  at 6.0 "/say general CHEAP WATCHES!!!"
  at 11 ""
}
dave() {
  at 12.0 "/join general"
  at 12.8 "/list"
  at 13.8 "/members lobby"
  at 16.0 "/quit"
}
console() {
  at 4.2 "users"
  at 6.5 "kick carol spamming"
  at 9.2 "broadcast server restarts now"
  at 10 "shutdown"
}
console_after_restart() {
  at 13 "accounts"
  at 14 "members lobby"
  at 14.2 "users"
  at 16.5 "shutdown"
}

# run NAME [OPTION…]: one scripted client; its exit status is logged when it ends.
run() {
  local name=$1
  shift
  (
    status=0
    "$bin/chat-client" "$@" --server "$address" --token-dir "$work/tokens" < <("$name") 2>&1 || status=$?
    echo "[exit status $status]"
  ) > >(label "$name") &
}

# alice starts unconnected and signs up (the password from the environment).
CHAT_PASSWORD="correct horse battery" run alice
run bob bob --no-reconnect
run carol carol --no-reconnect

# operate COMMANDS: feeds a console script to the server, then waits for it to exit.
operate() {
  "$1" | while IFS= read -r command; do
    echo "> $command" | label console
    echo "$command" >&3
  done
  local status=0
  wait "$server_pid" || status=$?
  server_pid=
  echo "[exit status $status]" | label server
}
operate console
start_server "${address##*:}"
wait_listening 2
run dave dave --no-reconnect
operate console_after_restart
wait  # for the clients
sleep 0.5  # and the last lines through the label pipes

{
  echo "# scripts/demo.sh ($configuration build): seconds since start, who, what they printed."
  echo "# Clients: '>' a line the script typed, '*' what happened, '!' an error, a notice or the end."
  sort -s -n -k1,1 "$work/all"
} >logs.txt
echo "wrote logs.txt ($(wc -l <logs.txt) lines)" >&2
