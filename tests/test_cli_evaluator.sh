#!/bin/sh
# test_cli_evaluator.sh: `repae evaluator train` as a person runs it, into a temporary
# $REPAE_HOME: the dataset's default recipe in the header line (shapes keeps the small net),
# progress lines with the time so far and an ETA, the file written with its test accuracy,
# and the usage text naming fashion-mnist's recipe. Prints PASS/FAIL lines like the C tests.
BUILD=${BUILD:-build}
BIN=$(cd "$(dirname "$BUILD/repae")" 2>/dev/null && pwd)/repae
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
if [ ! -x "$BIN" ]; then echo "FAIL binary_built: no $BIN"; exit 1; fi
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive} OMP_NUM_THREADS=1 REPAE_HOME="$tmp"
fails=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; [ -f "$tmp/err" ] && sed 's/^/    | /' "$tmp/err"; fails=$((fails + 1)); }
check() { if [ "$2" -eq 0 ]; then pass "$1"; else fail "$1" "$3"; fi; }

# 20 steps are far below the shapes floor, so the command exits 1 and says eval would refuse it.
"$BIN" evaluator train --dataset shapes --steps 20 >"$tmp/out" 2>"$tmp/err"; rc=$?
check short_run_below_floor_exits_1 $([ $rc -eq 1 ]; echo $?) "exit status $rc, not 1"
grep -q "layout C=3 S=16 ch=24,48,96,128 convs=1 groups=4 classes=5, 20 steps of 64, lr 0.002 (cosine to 0.0002), weight decay 0.0001, augment 0" "$tmp/err"
check shapes_keeps_small_recipe $? "header line is not the small shapes recipe"
n=$(grep -c "step [0-9]*/20 .*\[[0-9]* s, ETA [0-9]* min [0-9][0-9] s\]" "$tmp/err")
check progress_lines_with_eta $([ "$n" -eq 10 ]; echo $?) "$n progress lines with an ETA, not 10"
grep -q "step 20/20 .*ETA 0 min 00 s" "$tmp/err"
check eta_zero_at_end $? "the last progress line's ETA is not 0"
[ -s "$tmp/evaluator-shapes.safetensors" ] && grep -q "evaluator: test accuracy 0\.[0-9]* (chance 0.20) after 20 steps" "$tmp/out"
check file_and_accuracy $? "no evaluator-shapes.safetensors in REPAE_HOME or no test accuracy line"
grep -q "below the 90% accuracy floor" "$tmp/out"
check floor_reported $? "no word of the 90% floor"

# Options override the recipe's parts.
"$BIN" evaluator train --dataset shapes --steps 2 --augment 1 --lr 0.001 --lr-end 0.5 --weight-decay 0.01 --batch 8 --out "$tmp/o.safetensors" \
    >"$tmp/out" 2>"$tmp/err"
grep -q "2 steps of 8, lr 0.001 (cosine to 0.0005), weight decay 0.01, augment 1" "$tmp/err" && [ -s "$tmp/o.safetensors" ]
check options_override_recipe $? "header line does not show the options"

"$BIN" evaluator train --help >"$tmp/out" 2>"$tmp/err"
grep -q "ch=32,64,128,256 convs=2 groups=8 classes=10' --steps 15000 --augment 1" "$tmp/out"
check usage_names_fmnist_recipe $? "the usage text does not name the fashion-mnist recipe"

[ "$fails" -eq 0 ]
