#!/bin/sh
# experiments/ablations/run.sh: the ablation study of issue 6 at the "study" size (README.md).
#
#   experiments/ablations/run.sh            # from the repository root; safe to re-run
#
# Idempotent and resumable: a finished run is skipped, a stopped or interrupted one is resumed
# (`repae resume`), a failed or diverged one is kept as it is (its status goes into the table);
# an evaluated run is not evaluated again. Everything large lives in experiments/ablations/work/
# (git-ignored): the run store work/runs.db with its run directories, the target encoder and
# the evaluation network ($REPAE_HOME = work/). Results go to experiments/ablations/results/.
#
# Environment: REPAE (binary; default work/repae, else build/repae, built with make),
# STEPS (per recipe, default 800), EVAL_N (samples per eval, default 1000),
# ENC_STEPS (target encoder and evaluator training steps, default 800), RECIPES (subset),
# LONG (recipes also trained for 2 x STEPS as "<recipe>-x2", default repa-e: the two-stage
# baseline sees STEPS VAE steps and then STEPS SiT steps).
set -eu
cd "$(dirname "$0")/../.."
scripts/deps.sh study
HERE=experiments/ablations
WORK=$HERE/work
STEPS=${STEPS:-800}
EVAL_N=${EVAL_N:-1000}
ENC_STEPS=${ENC_STEPS:-800}
RECIPES=${RECIPES:-"repa-e no-align naive-e2e two-stage-vae two-stage no-bn seed no-smooth no-kl"}
LONG=${LONG-repa-e}
# The study size (SIZE), REPAE, DB, say and status. Same seeds for every recipe (train.seed and
# data.seed are the defaults).
. experiments/study.sh

# ---- the two small networks -----------------------------------------------------------------
for kind in encoder evaluator; do
    # The REPA target (align.target "ssl", the default) is the self-supervised encoder, whose
    # default file is ssl-encoder-DATASET (src/model/repa.h).
    file=$kind
    [ "$kind" = encoder ] && file=ssl-encoder
    f=$WORK/$file-fashion-mnist.safetensors
    if [ ! -f "$f" ]; then
        say "$kind: training ($ENC_STEPS steps)"
        "$REPAE" $kind train --dataset fashion-mnist --steps "$ENC_STEPS" --out "$f" 2>&1 | tail -3 | tee -a "$LOG"
    fi
done

# ---- training and evaluation ----------------------------------------------------------------
train_one() { # run name, recipe, steps
    r=$1 recipe=$2 steps=$3
    extra=""
    if [ "$r" = two-stage ]; then
        # Stage 2 reads the stage-1 VAE (and its BN statistics) from its newest checkpoint.
        s1=$(status two-stage-vae)
        [ "$s1" = done ] || { say "two-stage: stage 1 is '$s1', skipped"; return 0; }
        dir=$("$REPAE" --db "$DB" runs --json | jq -r '.[] | select(.name == "two-stage-vae") | .id')
        ck=$(ls -d "$WORK/runs/$dir/ckpt/"[0-9]* | sort | tail -1)
        extra="--set init.vae=$PWD/$ck/vae.safetensors"
    fi
    st=$(status "$r")
    case $st in
    done) ;;
    absent)
        say "$r: training $steps steps"
        t0=$(date +%s)
        # shellcheck disable=SC2086
        "$REPAE" --db "$DB" train "configs/$recipe.json" --name "$r" $SIZE --set train.steps="$steps" $extra \
            2>>"$WORK/$r.err" || true
        say "$r: $(status "$r") after $(( $(date +%s) - t0 )) s" ;;
    stopped|interrupted)
        say "$r: resuming ($st)"
        "$REPAE" --db "$DB" resume "$r" 2>>"$WORK/$r.err" || true
        say "$r: $(status "$r")" ;;
    *) say "$r: $st (kept; see $WORK/$r.err)" ;;
    esac
    # two-stage-vae has no SiT of its own to sample from: it is evaluated through two-stage.
    if [ "$(status "$r")" = done ] && [ "$r" != two-stage-vae ] && [ ! -f "$WORK/$r.eval" ]; then
        say "$r: eval --n $EVAL_N"
        if "$REPAE" --db "$DB" eval "$r" --n "$EVAL_N" >"$WORK/$r.eval.tmp" 2>>"$WORK/$r.err"; then
            mv "$WORK/$r.eval.tmp" "$WORK/$r.eval"
            tee -a "$LOG" <"$WORK/$r.eval"
        else say "$r: eval failed (see $WORK/$r.err)"; fi
    fi
    if [ "$(status "$r")" = done ]; then
        mkdir -p "$WORK/samples/$r"
        "$REPAE" --db "$DB" export "$r" --samples "$WORK/samples/$r" >/dev/null 2>&1 || true
        "$REPAE" --db "$DB" export "$r" --csv "$HERE/results/$r.csv" >/dev/null 2>&1 || true
    fi
}

for r in $RECIPES; do train_one "$r" "$r" "$STEPS"; done
for r in $LONG; do train_one "$r-x2" "$r" $((2 * STEPS)); done

# ---- table and plots ------------------------------------------------------------------------
LONGRUNS=""
for r in $LONG; do LONGRUNS="$LONGRUNS $r-x2"; done
# shellcheck disable=SC2086
/usr/bin/python3 "$HERE/report.py" "$REPAE" "$DB" "$HERE/results" $RECIPES $LONGRUNS | tee -a "$LOG"
say "study finished"
