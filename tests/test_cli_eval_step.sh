#!/bin/sh
# test_cli_eval_step.sh: `repae eval RUN --list` and `--step S` on a run with kept checkpoints
# (train.ckpt_keep): the list shows the kept steps and the newest, oldest first, with "ok" or
# why one cannot be used; --step of a step without a checkpoint fails naming the steps there
# are; --step of a kept step gets past the choice of checkpoint (to the evaluation network,
# which this test does not have); a damaged kept checkpoint is refused with the reason.
BUILD=${BUILD:-build}
BIN=$(cd "$(dirname "$BUILD/repae")" 2>/dev/null && pwd)/repae
CONFIGS=$(cd "$(dirname "$0")/../configs" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
if [ ! -x "$BIN" ]; then echo "FAIL binary_built: no $BIN"; exit 1; fi
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive} OMP_NUM_THREADS=1 REPAE_HOME="$tmp/home"
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; [ -f "$tmp/err" ] && sed 's/^/    | /' "$tmp/err"; }
check() { if [ "$2" -eq 0 ]; then pass "$1"; else fail "$1" "$3"; fi; }
R() { "$BIN" --db "$tmp/runs.db" "$@" 2>"$tmp/err"; }

R train "$CONFIGS/tiny.json" --name k --set train.steps=12 --set train.ckpt_every=4 --set train.ckpt_keep=[2,5] \
    --set train.sample_every=0 >/dev/null
check train_with_kept_steps $? "training failed"

R eval k --list >"$tmp/list"
[ $? -eq 0 ] && [ "$(cut -f1 "$tmp/list" | tr '\n' ' ')" = "2 5 8 12 " ] && [ "$(grep -c '	ok$' "$tmp/list")" = 4 ]
check list_kept_and_newest $? "list: $(tr '\n' '|' <"$tmp/list") (want 2 5 8 12, all ok)"

R eval k --step 3 --n 10 >/dev/null
[ $? -eq 1 ] && grep -q -- "--step 3: the run has no checkpoint of that step" "$tmp/err" && grep -q "steps: 2, 5, 8, 12" "$tmp/err"
check missing_step_lists_available $? "want exit 1 naming steps 2, 5, 8, 12"

# A kept step is chosen; the evaluation then stops at the missing evaluation network.
R eval k --step 5 --n 10 >/dev/null
[ $? -eq 1 ] && ! grep -q -- "--step" "$tmp/err" && grep -qi "evaluat" "$tmp/err"
check kept_step_is_chosen $? "want the step accepted and a complaint about the evaluation network"

dir=$(dirname "$(find "$tmp" -path '*ckpt/00000005/vae.safetensors')")
: >"$dir/vae.safetensors"
R eval k --step 5 --n 10 >/dev/null
[ $? -eq 1 ] && grep -q -- "--step 5: the checkpoint .*00000005 cannot be used: vae.safetensors" "$tmp/err"
check damaged_step_refused $? "want the damaged checkpoint refused with its file"
R eval k --list >"$tmp/list"
grep -q "^5	damaged: vae.safetensors" "$tmp/list"
check list_shows_damage $? "list: $(tr '\n' '|' <"$tmp/list")"
