#!/bin/sh
# test_ui_dashboard.sh: the dashboard as a person uses it, through a private tmux server:
# keys in with send-keys, the screen out with capture-pane, polled until the expected text
# shows (or a timeout). Prints PASS/FAIL lines like the C tests. Needs tmux and $BUILD/repae.
# Sections: an empty store; generated runs (tests/fake_dashboard) in 80x24 and 8 colours; NO_COLOR;
# and a real store: prepared with two short `repae train` runs, then a run launched from the
# dashboard (live step count and curves, stop, resume), a run from another process showing up
# live, Compare on two runs, resizes, and quitting with a run training (asks, checkpoints).
BUILD=${BUILD:-build}
BIN=$(cd "$(dirname "$BUILD/repae")" 2>/dev/null && pwd)/repae
FAKE=$(cd "$BUILD/tests" 2>/dev/null && pwd)/fake_dashboard
SOCK=repae-test-$$
tmp=$(mktemp -d)
cleanup() { tmux -L "$SOCK" kill-server 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT INT TERM
if ! command -v tmux >/dev/null; then echo "FAIL tmux_available: install tmux (make deps-test)"; exit 1; fi
if [ ! -x "$BIN" ]; then echo "FAIL binary_built: no $BIN"; exit 1; fi
fails=0

export LC_ALL=C.UTF-8 # grep -P over braille characters below
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
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

# 2. generated runs (tests/fake_dashboard): navigate, open a run, compare two, in 80x24 and 8 colours.
start fake 80 24 TERM=xterm "$FAKE" 6
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
start mono 80 24 NO_COLOR=1 TERM=xterm "$FAKE" 3
expect mono no_color_draws "base-lr3e-4-1"
T send-keys -t mono q
expect mono no_color_quits "EXITED 0"

# 4. A real store: two prepared runs, then everything a person does with training.
db=$tmp/real/runs.db
mkdir -p "$tmp/real"
prep_ok=1
"$BIN" --db "$db" train configs/tiny.json --name alpha --set train.steps=30 --set train.sample_every=10 \
  > "$tmp/prep.log" 2>&1 || prep_ok=0
"$BIN" --db "$db" train configs/tiny.json --name beta --set train.steps=30 --set train.sample_every=10 \
  --set train.lr=0.001 --set loss.w_kl=0.0001 >> "$tmp/prep.log" 2>&1 || prep_ok=0
if [ $prep_ok = 1 ]; then pass prepare_store; else echo "FAIL prepare_store: repae train failed:"; sed 's/^/    | /' "$tmp/prep.log"; fails=$((fails + 1)); fi
# the number after "step " in "step N/TOTAL" on the screen (the Run screen header)
step_on_screen() { snap "$1"; grep -o "step [0-9]*/$2" "$tmp/screen" | head -1 | sed 's/step \([0-9]*\)\/.*/\1/'; }
# the braille dots on the screen, nothing else: the curves
curves() { snap "$1"; grep -oP '[\x{2801}-\x{28FF}]' "$tmp/screen" | tr -d '\n'; }

# The Launch screen preselects configs/first-run.json; the runs launched below are tiny ones
# (seconds, also under the sanitizers), so this dashboard runs where configs/ holds tiny alone.
mkdir -p "$tmp/launchdir/configs" && cp configs/tiny.json "$tmp/launchdir/configs/"
(cd "$tmp/launchdir" && start real 100 30 "REPAE_DB=$db" TERM=xterm-256color "$BIN")
expect real lists_prepared_runs "beta"
expect real prepared_runs_done "done"
# navigate: beta is newest (first); j moves to alpha; enter opens it
T send-keys -t real j
sleep 0.3
T send-keys -t real Enter
expect real run_screen_of_selected "alpha done"
expect real run_screen_step_count "step 30/30"
expect real run_screen_samples_slider "(latest)"
T send-keys -t real Escape
expect real back_to_runs_again "enter open"

# launch from the Launch screen: tiny with overrides; the run is listed at once and selected
T send-keys -t real n
expect real launch_opens "configs/tiny.json"
T send-keys -t real o
expect real override_prompt "override key=value"
T send-keys -t real -l "train.steps=100000"
T send-keys -t real Enter
expect real override_listed "train.steps=100000"
T send-keys -t real o
sleep 0.2
T send-keys -t real -l "train.nonsense=1"
T send-keys -t real Enter
expect real bad_override_refused "train.nonsense"
T send-keys -t real o
sleep 0.2
T send-keys -t real -l "train.sample_every=20"
T send-keys -t real Enter
T send-keys -t real N
sleep 0.2
T send-keys -t real -l "live"
T send-keys -t real Enter
expect real name_set "name: live"
T send-keys -t real Enter
expect real launched_run_listed "running"
expect real launched_message "started run"
T send-keys -t real Enter
expect real launched_run_opens "live running"
# watch it: the step count and the curves change on screen
wait_for real "step " 5
# Poll (up to 30 s) rather than sleep a fixed time: under ASan/UBSan a step is ~50x slower.
s1=$(step_on_screen real 100000); c1=$(curves real)
i=0
while :; do
  sleep 0.5
  s2=$(step_on_screen real 100000); c2=$(curves real)
  if [ -n "$s1" ] && [ -n "$s2" ] && [ "$s2" -gt "$s1" ] && [ -n "$c2" ] && [ "$c1" != "$c2" ]; then break; fi
  i=$((i + 1)); [ $i -ge 60 ] && break
done
if [ -n "$s1" ] && [ -n "$s2" ] && [ "$s2" -gt "$s1" ]; then pass step_count_advances; else fail step_count_advances "step '$s1' then '$s2'"; fi
if [ -n "$c2" ] && [ "$c1" != "$c2" ]; then pass curves_change; else fail curves_change "the braille curves did not change"; fi
expect real samples_appear "(latest)" 20
# stop: a checkpoint, then "stopped"; resume: running again, from that checkpoint
T send-keys -t real x
expect real stop_says_checkpoint "checkpoints first"
expect real run_stopped "live stopped" 20
ck=$(ls "$tmp/real/runs/3/ckpt" 2>/dev/null | tail -1)
if [ -n "$ck" ]; then pass stop_wrote_checkpoint; else fail stop_wrote_checkpoint "no checkpoint in $tmp/real/runs/3/ckpt"; fi
s3=$(step_on_screen real 100000)
T send-keys -t real r
expect real resumed "live running" 10
i=0
while :; do
  sleep 0.5
  s4=$(step_on_screen real 100000)
  if [ -n "$s3" ] && [ -n "$s4" ] && [ "$s4" -gt "$s3" ]; then break; fi
  i=$((i + 1)); [ $i -ge 60 ] && break
done
if [ -n "$s3" ] && [ -n "$s4" ] && [ "$s4" -gt "$s3" ]; then pass resume_continues; else fail resume_continues "step '$s3' then '$s4'"; fi
T send-keys -t real Escape
expect real back_with_live_run "1 live"

# a run started by another process shows up and advances
"$BIN" --db "$db" train configs/tiny.json --name other --set train.steps=120 > "$tmp/other.log" 2>&1 &
other=$!
expect real other_process_run_appears "other" 10
expect real two_live "2 live" 10
expect real other_process_run_finishes "4 runs, 1 live" 30
wait $other

# Compare alpha and beta: legend, table with the differing keys
T send-keys -t real G
sleep 0.2
T send-keys -t real Space
sleep 0.2
T send-keys -t real k
sleep 0.2
T send-keys -t real Space
expect real two_marked "2 marked"
T send-keys -t real c
expect real compare_opens "1 curves"
expect real compare_legend_both "● alpha"
expect real compare_charts "diffusion"
T send-keys -t real 2
expect real compare_differing_keys "config keys that differ"
expect real compare_lr_differs "train.lr"
T send-keys -t real 3
expect real compare_samples "samples at step"
# resize while comparing, and while a run trains
T resize-window -t real -x 80 -y 24
expect real compare_at_80x24 "samples at step"
T send-keys -t real 1
expect real compare_curves_80x24 "smooth"
T resize-window -t real -x 70 -y 20
expect real too_small_while_training "terminal too small"
T resize-window -t real -x 120 -y 36
expect_gone real back_from_too_small "terminal too small"
T send-keys -t real Escape
expect real runs_after_resize "1 live"

# quit with a run training: asks, then stops it with a checkpoint
T send-keys -t real q
expect real quit_asks "stop with a checkpoint and quit?"
T send-keys -t real y
expect real quit_after_stopping "EXITED 0" 30
st=$("$BIN" --db "$db" runs 2>&1 | grep ' live ')
case $st in *stopped*) pass run_stopped_on_quit ;; *) snap real; fail run_stopped_on_quit "after quitting: $st" ;; esac
n=$(ls "$tmp/real/runs/3/ckpt" | wc -l)
if [ "$n" -ge 2 ]; then pass quit_wrote_checkpoint; else fail quit_wrote_checkpoint "$n checkpoints"; fi

[ "$fails" -eq 0 ]
