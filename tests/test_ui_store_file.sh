#!/bin/sh
# test_ui_store_file.sh: the dashboard in a private tmux server when its store file is deleted or
# replaced underneath it: a warning on the status line, the screens still work, q quits.
BUILD=${BUILD:-build}
BIN=$(cd "$(dirname "$BUILD/repae")" 2>/dev/null && pwd)/repae
CONFIGS=$(cd "$(dirname "$0")/../configs" && pwd)
SOCK=repae-robust-$$
tmp=$(mktemp -d)
cleanup() { tmux -L "$SOCK" kill-server 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT INT TERM
if ! command -v tmux >/dev/null; then echo "FAIL tmux_available: install tmux (make deps-test)"; exit 1; fi
if [ ! -x "$BIN" ]; then echo "FAIL binary_built: no $BIN"; exit 1; fi
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
T() { tmux -L "$SOCK" "$@"; }
snap() { T capture-pane -p -t "$1" > "$tmp/screen" 2>/dev/null; }
wait_for() {
  n=$(( ${3:-5} * 10 ))
  while [ "$n" -gt 0 ]; do snap "$1"; grep -qF -- "$2" "$tmp/screen" && return 0; sleep 0.1; n=$((n - 1)); done
  return 1
}
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; sed 's/^/    | /' "$tmp/screen"; }
expect() { if wait_for "$1" "$3" "${4:-5}"; then pass "$2"; else fail "$2" "'$3' not on screen"; fi; }
start() { # name env-and-command...
  name=$1; shift
  T new-session -d -s "$name" -x 120 -y 30 -c "$PWD" "env $* ; echo EXITED \$?; sleep 30"
}
T -f /dev/null new-session -d -s keep -x 80 -y 24 "sleep 300"

db=$tmp/a/runs.db
mkdir -p "$tmp/a"
"$BIN" --db "$db" train "$CONFIGS/tiny.json" --name first --set train.steps=3 --set train.threads=1 >/dev/null 2>&1

# deleted
start del "REPAE_DB=$db" TERM=xterm-256color "$BIN"
expect del lists_the_run "first"
rm -f "$db" "$db-wal" "$db-shm"
expect del warns_store_deleted "store file deleted or moved: what is shown is stale; press q and reopen"
T send-keys -t del Enter
expect del still_works_after_delete "first done"
T send-keys -t del Escape
sleep 0.3
T send-keys -t del q
expect del quits_after_delete "EXITED 0"

# replaced by another store
db=$tmp/b/runs.db
mkdir -p "$tmp/b"
"$BIN" --db "$db" train "$CONFIGS/tiny.json" --name second --set train.steps=3 --set train.threads=1 >/dev/null 2>&1
start rep "REPAE_DB=$db" TERM=xterm-256color "$BIN"
expect rep lists_the_other_run "second"
"$BIN" --db "$tmp/b/new.db" train "$CONFIGS/tiny.json" --name third --set train.steps=1 --set train.threads=1 >/dev/null 2>&1
mv "$tmp/b/new.db" "$db"
expect rep warns_store_replaced "store file replaced by another file"
T send-keys -t rep q
expect rep quits_after_replace "EXITED 0"
