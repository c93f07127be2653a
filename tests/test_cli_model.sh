#!/bin/sh
# test_cli_model.sh: `repae train`, Ctrl-C and `repae resume`, `repae sample` and
# `repae reconstruct` as a person runs them, on a temporary store: a short tiny run (class
# conditional, latent BN, EMA), then sample grids (sizes, determinism by seed, options, errors)
# and reconstructions (sizes, --pair, errors). Prints PASS/FAIL lines like the C tests.
BUILD=${BUILD:-build}
BIN=$(cd "$(dirname "$BUILD/repae")" 2>/dev/null && pwd)/repae
CONFIGS=$(cd "$(dirname "$0")/../configs" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
if [ ! -x "$BIN" ]; then echo "FAIL binary_built: no $BIN"; exit 1; fi
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
fails=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; [ -f "$tmp/err" ] && sed 's/^/    | /' "$tmp/err"; fails=$((fails + 1)); }
R() { "$BIN" --db "$tmp/runs.db" "$@" 2>"$tmp/err"; }
# png_size FILE: "W H" from the IHDR chunk
png_size() { od -An -tu1 -j16 -N8 "$1" | awk '{print $1*16777216+$2*65536+$3*256+$4, $5*16777216+$6*65536+$7*256+$8}'; }
# check NAME CONDITION-EXIT-STATUS MESSAGE
check() { if [ "$2" -eq 0 ]; then pass "$1"; else fail "$1" "$3"; fi; }

TINY="$CONFIGS/tiny.json"
SETS="--set train.threads=1 --set sit.num_classes=5 --set vae.latent_bn=true --set train.ema=0.9 --set sample.steps=4 --set sample.n=4 --set train.sample_every=0"

# ---- train ---------------------------------------------------------------------------------------
R train "$TINY" --name m1 $SETS --set train.steps=20; rc=$?
check train_tiny_run $rc "repae train exited $rc"
grep -q "run done" "$tmp/err"; check train_reports_done $? "no 'run done' on stderr"

# ---- Ctrl-C and resume ---------------------------------------------------------------------------
"$BIN" --db "$tmp/runs.db" train "$TINY" --name m2 $SETS --set train.steps=400 2>"$tmp/err2" &
pid=$!
sleep 1
kill -INT $pid
wait $pid; rc=$?
if grep -q "run stopped" "$tmp/err2"; then
  pass sigint_stops_run
  R resume m2; rc=$?
  check resume_finishes $rc "repae resume exited $rc"
  grep -q "continuing from the checkpoint at step" "$tmp/err" && grep -q "run done" "$tmp/err"
  check resume_continues_from_checkpoint $? "resume did not continue from a checkpoint"
else
  cp "$tmp/err2" "$tmp/err"
  fail sigint_stops_run "the run did not report 'run stopped' (exit $rc)"
fi

# ---- sample --------------------------------------------------------------------------------------
R sample m1 --n 6 --steps 4 --cfg 2 --class 1 --seed 3 --solver heun --out "$tmp/a.png"; rc=$?
check sample_writes_png $rc "repae sample exited $rc"
[ "$(png_size "$tmp/a.png")" = "52 35" ]; check sample_grid_size $? "grid is $(png_size "$tmp/a.png"), want 52 35 (3x2 of 16 px, 1 px borders)"
R sample m1 --n 6 --steps 4 --cfg 2 --class 1 --seed 3 --solver heun --out "$tmp/b.png" &&
  cmp -s "$tmp/a.png" "$tmp/b.png"; check sample_same_seed_same_images $? "same seed, different grids"
R sample 1 --n 6 --steps 4 --cfg 2 --class 1 --seed 4 --solver heun --out "$tmp/c.png" &&
  ! cmp -s "$tmp/a.png" "$tmp/c.png"; check sample_by_id_other_seed_differs $? "seed 4 gives the seed-3 grid"
R sample m1 --n 3 --steps 3 --solver sde --out "$tmp/d.png" && [ "$(png_size "$tmp/d.png")" = "35 35" ]
check sample_sde_defaults $? "sde sample failed or wrong size"
R sample m1 --class 7 --out "$tmp/e.png"; rc=$?
[ $rc -ne 0 ] && grep -q "classes 0..4" "$tmp/err"; check sample_bad_class $? "exit $rc"
R sample nosuchrun --out "$tmp/e.png"; rc=$?
[ $rc -ne 0 ] && grep -q "nosuchrun" "$tmp/err"; check sample_unknown_run $? "exit $rc"
R sample m1 --n 2; rc=$?
[ $rc -eq 2 ] && grep -q "missing --out" "$tmp/err"; check sample_needs_out $? "exit $rc"
R sample m1 --solver rk4 --out "$tmp/e.png"; rc=$?
[ $rc -ne 0 ] && grep -q "rk4" "$tmp/err"; check sample_bad_solver $? "exit $rc"
# A run that failed before its first checkpoint.
R train "$TINY" --name nock --set train.threads=1 --set init.vae="$tmp/missing.safetensors"
R sample nock --out "$tmp/e.png"; rc=$?
[ $rc -ne 0 ] && grep -q "no checkpoint" "$tmp/err"; check sample_run_without_checkpoint $? "exit $rc"
"$BIN" sample --help | grep -q -- "--solver"; check sample_help $? "no --solver in --help"

# ---- reconstruct ---------------------------------------------------------------------------------
R reconstruct m1 "$tmp/a.png" "$tmp/r.png"; rc=$?
check reconstruct_writes_png $rc "repae reconstruct exited $rc"
[ "$(png_size "$tmp/r.png")" = "16 16" ] && grep -q "PSNR" "$tmp/err"
check reconstruct_size_and_psnr $? "got $(png_size "$tmp/r.png"), want 16 16 and a PSNR line"
R reconstruct m1 "$tmp/a.png" "$tmp/r2.png" && cmp -s "$tmp/r.png" "$tmp/r2.png"
check reconstruct_deterministic $? "two reconstructions differ"
R reconstruct m1 "$tmp/a.png" "$tmp/p.png" --pair && [ "$(png_size "$tmp/p.png")" = "35 18" ]
check reconstruct_pair $? "pair is $(png_size "$tmp/p.png"), want 35 18"
echo "not a png" > "$tmp/bad.png"
R reconstruct m1 "$tmp/bad.png" "$tmp/r3.png"; rc=$?
[ $rc -ne 0 ] && grep -q "bad.png" "$tmp/err" && [ ! -e "$tmp/r3.png" ]; check reconstruct_bad_png $? "exit $rc"
R reconstruct m1 "$tmp/none.png" "$tmp/r3.png"; rc=$?
[ $rc -ne 0 ] && grep -q "none.png" "$tmp/err"; check reconstruct_missing_png $? "exit $rc"
R reconstruct nock "$tmp/a.png" "$tmp/r3.png"; rc=$?
[ $rc -ne 0 ] && grep -q "no checkpoint" "$tmp/err"; check reconstruct_run_without_checkpoint $? "exit $rc"
R reconstruct m1 "$tmp/a.png"; rc=$?
[ $rc -eq 2 ]; check reconstruct_usage $? "exit $rc"

[ $fails -eq 0 ]
