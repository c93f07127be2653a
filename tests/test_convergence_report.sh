#!/bin/sh
# test_convergence_report.sh: experiments/convergence/report.py on synthetic cells: the speed-up
# of arm A over C is the ratio of the steps each needs to the common FD level, interpolated in
# log(steps) (A halves its FD per 4x steps, C per 2x: a known answer); against C' (Cb) too when
# its cells are there; `cell` records the networks' sha256; cells measured with two different
# evaluators are refused, naming them.
HERE=$(cd "$(dirname "$0")/.." && pwd)
REPORT=$HERE/experiments/convergence/report.py
PY=/usr/bin/python3
tmp=${KEEP_TMP:-$(mktemp -d)}; mkdir -p "$tmp"
[ -n "${KEEP_TMP:-}" ] || trap 'rm -rf "$tmp"' EXIT INT TERM
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; [ -f "$tmp/err" ] && sed 's/^/    | /' "$tmp/err"; }
check() { if [ "$2" -eq 0 ]; then pass "$1"; else fail "$1" "$3"; fi; }
if [ ! -x "$PY" ]; then echo "PASS report_skipped_no_python (no $PY: the study's report needs it)"; exit 0; fi

# cells: ARM SEED STEP FD [EVALUATOR_SHA]
mk() {
    d=$tmp/res/cells; mkdir -p "$d"
    nets=""; [ -n "${5:-}" ] && nets=", \"networks\": {\"evaluator\": \"$5\"}"
    cat >"$d/$1-s$2-$3.json" <<J
{"arm": "$1", "seed": $2, "step": $3, "n": 100, "fd": $4, "kid": 0.01, "is": 2.0, "precision": 0.5,
 "recall": 0.5, "rfd": 0.5, "psnr": 20.0, "latent_std": 1.0, "latent_sstd": 0.9, "train_seconds": $3,
 "fd_floor": 0.1$nets}
J
}
# A: 16, 8, 4 at 250, 1000, 4000; C: 16, 8, 4, 2 at 250, 500, 1000, 2000 (and 2 at 4000).
# Level = the worst arm's best mean FD = 4: A reaches it at 4000, C at 1000 -> ratio 4.
for s in 0 1; do
    mk A $s 250 16; mk A $s 1000 8; mk A $s 4000 4
    mk C $s 250 16; mk C $s 500 8; mk C $s 1000 4; mk C $s 2000 2; mk C $s 4000 2
done
"$PY" "$REPORT" report "$tmp/res" >"$tmp/out" 2>"$tmp/err"
grep -q "^| A | 4000 | 4.00 |" "$tmp/res/speedup.md"
check speedup_is_step_ratio $? "want A 4000 steps, ratio 4.00 in: $(grep '^| A' "$tmp/res/speedup.md" | head -1)"

# level between checkpoints: C' at 250 16, 1000 2; FD linear in log(steps) between them, so FD 4
# is 12/14 of the way: 250 * 4^(12/14) = 820
for s in 0 1; do mk Cb $s 250 16; mk Cb $s 1000 2; mk Cb $s 4000 1; done
"$PY" "$REPORT" report "$tmp/res" >"$tmp/out" 2>"$tmp/err"
want=$(awk 'BEGIN { printf "%.0f", 250 * exp(log(4) * (12 / 14)) }')
grep -q "Against C' REPA-E" "$tmp/res/speedup.md" && grep -q "^| Cb | $want |" "$tmp/res/speedup.md"
check speedup_against_cb_log_interpolated $? "want a C' section with Cb reaching FD 4 at $want steps"

# `cell` records the sha256 of each --net
mkdir -p "$tmp/c"
printf 'x' >"$tmp/c/ev.bin"
cat >"$tmp/c/eval.txt" <<E
repae eval: step 250: 100 samples and 100 reconstructions
  fd       5.0   0.2   0.9
  kid      0.01  0.001 0.002
  precision 0.5  0.9   0.9
  recall   0.5   0.9   0.9
  is 2.0 (+- 0.1)  acc 0.5  psnr 20.0 dB  latent_std 1.0  [3 s]
E
printf 'step,img_per_s,latent_sstd\n250,32,0.8\n' >"$tmp/c/run.csv"
"$PY" "$REPORT" cell --arm A --seed 0 --step 250 --eval "$tmp/c/eval.txt" --csv "$tmp/c/run.csv" \
    --out "$tmp/c/cell.json" --net evaluator="$tmp/c/ev.bin" 2>"$tmp/err"
sha=$(sha256sum "$tmp/c/ev.bin" | cut -d' ' -f1)
grep -q "\"evaluator\": \"$sha\"" "$tmp/c/cell.json"
check cell_records_network_sha $? "no evaluator sha $sha in $(tr -d '\n' <"$tmp/c/cell.json" | cut -c1-300)"

# two evaluators in one folder: refused, naming both
mk A 2 250 10 aaaaaaaaaaaaaaaa; mk A 2 1000 9 bbbbbbbbbbbbbbbb
"$PY" "$REPORT" report "$tmp/res" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -ne 0 ] && grep -q "2 different evaluators" "$tmp/err" && grep -q "aaaaaaaaaaaa" "$tmp/err" && grep -q "bbbbbbbbbbbb" "$tmp/err"
check mixed_evaluators_refused $? "exit $rc; want a refusal naming both evaluators"
