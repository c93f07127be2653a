#!/bin/sh
# test_cli_errors.sh: `repae resume` when the newest checkpoint is damaged (a warning naming it
# and why, the older checkpoint resumed from, the damaged one kept as <step>.corrupt); a config
# too large for memory refused before its run exists, saying what to lower.
BUILD=${BUILD:-build}
BIN=$(cd "$(dirname "$BUILD/repae")" 2>/dev/null && pwd)/repae
CONFIGS=$(cd "$(dirname "$0")/../configs" && pwd)
tmp=$(mktemp -d)
bg=
cleanup() { [ -n "$bg" ] && kill "$bg" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT INT TERM
if [ ! -x "$BIN" ]; then echo "FAIL binary_built: no $BIN"; exit 1; fi
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; [ -f "$tmp/err" ] && sed 's/^/    | /' "$tmp/err"; }
check() { if [ "$2" -eq 0 ]; then pass "$1"; else fail "$1" "$3"; fi; }
db=$tmp/runs.db
# ckpts RUN_ID: the numbered checkpoint directories, oldest first
ckpts() { ls "$tmp/runs/$1/ckpt" 2>/dev/null | grep -E '^[0-9]+$'; }
# wait_until SECONDS COMMAND...: polls every 0.1 s
wait_until() {
  n=$(($1 * 10)); shift
  while [ "$n" -gt 0 ]; do "$@" && return 0; sleep 0.1; n=$((n - 1)); done
  return 1
}
two_ckpts() { [ "$(ckpts 1 | wc -l)" -ge 2 ]; }

# ---- resume past a checkpoint cut short ---------------------------------------------------------
"$BIN" --db "$db" train "$CONFIGS/tiny.json" --name r --set train.steps=1000000 --set train.ckpt_every=5 \
  --set train.sample_every=0 --set train.threads=1 2>"$tmp/train.err" &
bg=$!
wait_until 60 two_ckpts
kill -INT "$bg"; wait "$bg"; bg=
newest=$(ckpts 1 | tail -1); older=$(ckpts 1 | tail -2 | head -1)
if [ -n "$newest" ] && [ "$newest" != "$older" ]; then
  pass stopped_run_has_two_checkpoints
  f=$tmp/runs/1/ckpt/$newest/vae.safetensors
  truncate -s $(($(stat -c %s "$f") / 2)) "$f"
  "$BIN" --db "$db" resume r 2>"$tmp/err" &
  bg=$!
  wait_until 60 grep -q "continuing from" "$tmp/err"
  kill -INT "$bg"; wait "$bg"; bg=
  grep -q "warning: checkpoint .*/ckpt/$newest cannot be used (vae.safetensors: cut short" "$tmp/err"
  check resume_warns_naming_checkpoint_and_reason $? "no warning naming ckpt/$newest and the cut-short vae.safetensors"
  step=$(echo "$older" | sed 's/^0*//')
  grep -q "continuing from the checkpoint at step $step\$" "$tmp/err"
  check resume_continues_from_older_checkpoint $? "not continued from step $step"
  [ -f "$tmp/runs/1/ckpt/$newest.corrupt/vae.safetensors" ]
  check damaged_checkpoint_kept_as_corrupt $? "no $newest.corrupt"
  "$BIN" --db "$db" show r >"$tmp/show" 2>&1
  grep -q "^status  *stopped" "$tmp/show"
  check resumed_run_stops_cleanly $? "$(head -3 "$tmp/show")"
  # A headless run's warnings reach its console in the store (the dashboard's console pane).
  grep -q "^  .* warn  *checkpoint .*/ckpt/$newest cannot be used" "$tmp/show"
  check headless_warning_in_console $? "$(grep -A3 '^console' "$tmp/show")"
else
  cp "$tmp/train.err" "$tmp/err"
  fail stopped_run_has_two_checkpoints "checkpoints: $(ckpts 1 | tr '\n' ' ')"
fi

# ---- too large for memory: refused before the run exists -----------------------------------------
m=$tmp/m.db
runs_in() { "$BIN" --db "$1" runs --json 2>/dev/null | grep -c '"id"'; }
"$BIN" --db "$m" train "$CONFIGS/tiny.json" --name huge --set train.batch_size=65536 --set data.image_size=256 2>"$tmp/err"
rc=$?
[ $rc -eq 2 ] && grep -q "needs about .* but only .* is available" "$tmp/err" && grep -q "lower train.batch_size to at most" "$tmp/err" \
  && ! grep -q "repae: run " "$tmp/err"
check huge_batch_refused_with_what_to_lower $? "exit $rc"
[ "$(runs_in "$m")" = 0 ]
check huge_batch_leaves_no_run $? "$(runs_in "$m") runs in the store"
"$BIN" --db "$m" train "$CONFIGS/tiny.json" --name wide --set sit.hidden=16384 --set sit.heads=16 --set sit.depth=128 2>"$tmp/err"
rc=$?
[ $rc -eq 2 ] && grep -q "even one image per batch does not fit: lower the model's size (vae.ch, sit.hidden" "$tmp/err" \
  && [ "$(runs_in "$m")" = 0 ]
check huge_model_refused_naming_width $? "exit $rc"
# An address-space limit counts too (ASan cannot run under one: its shadow memory).
if ! ldd "$BIN" 2>/dev/null | grep -q libasan; then
  (ulimit -v 4000000 && "$BIN" --db "$m" train "$CONFIGS/tiny.json" --set train.batch_size=16384 2>"$tmp/err")
  rc=$?
  [ $rc -eq 2 ] && grep -q "ulimit -v" "$tmp/err" && [ "$(runs_in "$m")" = 0 ]
  check address_space_limit_refused $? "exit $rc"
fi
# What fits still trains.
"$BIN" --db "$m" train "$CONFIGS/tiny.json" --name fits --set train.steps=2 --set train.threads=1 2>"$tmp/err"
rc=$?
check fitting_config_trains $rc "exit $rc"
