#!/bin/sh
# test_ui_dashboard.sh: the dashboard as a person uses it, through a private tmux server:
# keys in with send-keys, the screen out with capture-pane, polled until the expected text
# shows (or a timeout). Prints PASS/FAIL lines like the C tests. Needs tmux and $BUILD/repae.
BUILD=${BUILD:-build}
BIN=$(cd "$(dirname "$BUILD/repae")" 2>/dev/null && pwd)/repae
SOCK=repae-test-$$
tmp=$(mktemp -d)
cleanup() { tmux -L "$SOCK" kill-server 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT INT TERM
if ! command -v tmux >/dev/null; then echo "FAIL tmux_available: install tmux (make deps-test)"; exit 1; fi
if [ ! -x "$BIN" ]; then echo "FAIL binary_built: no $BIN"; exit 1; fi
fails=0

T() { tmux -L "$SOCK" "$@"; }
snap() { T capture-pane -p -t "$1" > "$tmp/screen" 2>/dev/null; }
# wait_for PANE TEXT [SECONDS]: 0 once TEXT is on the screen
wait_for() {
  n=$(( ${3:-5} * 10 ))
  while [ "$n" -gt 0 ]; do snap "$1"; grep -qF -- "$2" "$tmp/screen" && return 0; sleep 0.1; n=$((n - 1)); done
  return 1
}
# wait_gone PANE TEXT [SECONDS]: 0 once TEXT has left the screen
wait_gone() {
  n=$(( ${3:-5} * 10 ))
  while [ "$n" -gt 0 ]; do snap "$1"; grep -qF -- "$2" "$tmp/screen" || return 0; sleep 0.1; n=$((n - 1)); done
  return 1
}
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; sed 's/^/    | /' "$tmp/screen"; fails=$((fails + 1)); }
expect() { if wait_for "$1" "$3" "${4:-5}"; then pass "$2"; else fail "$2" "'$3' not on screen"; fi; }
expect_gone() { if wait_gone "$1" "$3" "${4:-5}"; then pass "$2"; else fail "$2" "'$3' still on screen"; fi; }

# A session whose window shows "EXITED <status>" after the program ends, so quitting is visible.
start() { # name cols rows env-and-command...
  name=$1 cols=$2 rows=$3; shift 3
  T new-session -d -s "$name" -x "$cols" -y "$rows" -c "$PWD" \
    "env $* ; echo EXITED \$?; sleep 30" 2>/dev/null || T new-window -d -t "$name" "env $*"
}
# Start the server with a session that keeps it alive between the test sessions.
T -f /dev/null new-session -d -s keep -x 80 -y 24 "sleep 300"

# 1. an empty store: the home screen says how to start, help overlay, too small, quit.
start empty 100 30 "REPAE_DB=$tmp/empty.db" TERM=xterm-256color "$BIN"
expect empty opens_on_empty_store "No runs yet."
expect empty title_and_keys "? help"
T send-keys -t empty '?'
expect empty help_overlay "Help: Runs"
T send-keys -t empty Space
expect_gone empty help_closes_on_any_key "Help: Runs"
T resize-window -t empty -x 60 -y 20
expect empty too_small_message "terminal too small (60x20): need 80x24"
T resize-window -t empty -x 100 -y 30
expect empty survives_resize "No runs yet."
T send-keys -t empty n
expect empty launch_screen_lists_configs "tiny.json"
T send-keys -t empty Escape
expect empty back_from_launch "No runs yet."
T send-keys -t empty q
expect empty quits_cleanly "EXITED 0"
[ -f "$tmp/empty.db" ] && pass store_created || { snap empty; fail store_created "no $tmp/empty.db"; }

# 2. generated runs (REPAE_UI_FAKE): navigate, open a run, compare two, in 80x24 and 8 colours.
start fake 80 24 REPAE_UI_FAKE=6 TERM=xterm "$BIN"
expect fake lists_runs "repa-lr1e-4-6"
T send-keys -t fake Enter
expect fake run_screen_charts "diffusion"
expect fake run_screen_samples "samples"
expect fake run_screen_progress "it/s"
T send-keys -t fake l
expect fake log_y_toggle "log-y"
T send-keys -t fake Escape
expect fake back_to_runs "base-lr3e-4-1"
T send-keys -t fake Space Space c
expect fake compare_legend "Compare"
T send-keys -t fake 2
expect fake compare_table "final / best"
T send-keys -t fake Escape /
T send-keys -t fake -l base
T send-keys -t fake Enter
expect_gone fake filter_hides_rows "repa-lr1e-4-6"
T send-keys -t fake q
expect fake quit_from_home "EXITED 0"

# 3. NO_COLOR still draws everything.
start mono 80 24 REPAE_UI_FAKE=3 NO_COLOR=1 TERM=xterm "$BIN"
expect mono no_color_draws "base-lr3e-4-1"
T send-keys -t mono q
expect mono no_color_quits "EXITED 0"

[ "$fails" -eq 0 ]
