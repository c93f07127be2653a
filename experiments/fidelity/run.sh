#!/bin/sh
# experiments/fidelity/run.sh: the latent scale under the two BatchNorm modes of REPA-E's
# VAE-side pass (align.vae_bn "running", the official eval-mode pass, and "batch"), at the study
# size with 3 training seeds each. README.md says what it shows.
#
#   experiments/fidelity/run.sh            # from the repository root; safe to re-run
#
# Resumable: a finished run is skipped, an interrupted one resumed. Work (store, checkpoints,
# networks) in experiments/fidelity/work/ (git-ignored); results/ gets one CSV per run (`repae
# export --csv`), table.md and latent.png (report.py).
# Environment: STEPS (default 800), SEEDS (default "0 1 2"), MODES (default "running batch"),
# EVAL_N (samples for `repae eval` after each run when an evaluator of the study exists; 0: no
# eval, the default), ENC_STEPS (target encoder training steps; default: the command's),
# EXTRA (more --set options for every run, e.g. "--set train.threads=1" to run the two MODES
# as two processes side by side), REPAE (binary).
set -eu
cd "$(dirname "$0")/../.."
scripts/deps.sh study
HERE=experiments/fidelity
WORK=$HERE/work
STEPS=${STEPS:-800}
SEEDS=${SEEDS:-"0 1 2"}
MODES=${MODES:-"running batch"}
EVAL_N=${EVAL_N:-0}
EXTRA=${EXTRA:-}
. experiments/study.sh

# The REPA target encoder of the recipe (align.encoder "" = the default file in $REPAE_HOME).
# The committed network (experiments/networks/, shared with experiments/convergence) unless
# ENC_STEPS asks for another.
if [ -n "${ENC_STEPS:-}" ]; then ENC=$WORK/ssl-encoder-fashion-mnist-$ENC_STEPS.safetensors
else ENC=experiments/networks/ssl-encoder-fashion-mnist.safetensors; fi
EVALUATOR=${EVALUATOR:-experiments/networks/evaluator-fashion-mnist.safetensors}
if [ ! -f "$ENC" ]; then
    say "target encoder: training"
    "$REPAE" encoder train --dataset fashion-mnist ${ENC_STEPS:+--steps "$ENC_STEPS"} --out "$ENC" 2>&1 | tail -5 | tee -a "$LOG"
fi

RUNS=""
for mode in $MODES; do
    for seed in $SEEDS; do
        n=repa-e-$mode-s$seed
        RUNS="$RUNS $n"
        # shellcheck disable=SC2086
        train_or_resume "$n" configs/repa-e.json $SIZE --set align.vae_bn="$mode" --set align.encoder="$PWD/$ENC" \
            --set train.seed="$seed" --set data.seed="$seed" --set train.steps="$STEPS" $EXTRA
        [ "$(status "$n")" = done ] || continue
        "$REPAE" --db "$DB" export "$n" --csv "$HERE/results/$n.csv" >/dev/null
        if [ "$EVAL_N" -gt 0 ] && [ ! -f "$WORK/$n.eval" ]; then
            "$REPAE" --db "$DB" eval "$n" --n "$EVAL_N" --evaluator "$PWD/$EVALUATOR" >"$WORK/$n.eval.tmp" 2>>"$WORK/$n.err" &&
                mv "$WORK/$n.eval.tmp" "$WORK/$n.eval" || say "$n: eval failed (see $WORK/$n.err)"
        fi
    done
done
# shellcheck disable=SC2086
/usr/bin/python3 "$HERE/report.py" "$HERE/results" "$WORK" $RUNS | tee -a "$LOG"
say "fidelity study finished"
