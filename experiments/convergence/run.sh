#!/bin/sh
# experiments/convergence/run.sh: the convergence study of issue 12 (README.md says what it
# measures and shows). From the repository root; safe to stop and re-run at any point:
#
#   experiments/convergence/run.sh
#   SEEDS=0 ARMS=A BUDGET=4000 EVAL_N=1000 experiments/convergence/run.sh   # the pilot
#
# Per seed: stage 1, a VAE trained alone (configs/two-stage-vae.json); then the arms, each from
# that VAE, one training at a time:
#   A   vanilla SiT on the frozen VAE        (two-stage.json, align.kind none)
#   B   REPA SiT on the frozen VAE           (two-stage.json)
#   C   REPA-E, the VAE tuned end to end     (repa-e.json, align.vae_bn running: the official)
#   Cb  C', the same with align.vae_bn batch (the VAE-side pass on batch statistics)
#   Dv  a fresh vanilla SiT on $D_FROM's final frozen VAE (its latent BN statistics with it)
#   Dr  a fresh REPA SiT on $D_FROM's final frozen VAE
#   E   naive end to end: the diffusion gradient into the VAE, nothing else (naive-e2e.json
#       with align.kind none), E_STEPS steps
# Every run keeps the checkpoints of the log-spaced steps 250, 500, 1000, ... up to BUDGET
# (train.ckpt_keep). A cell is one (arm, seed, step): `repae eval --step` at EVAL_N samples
# (FD, KID, ...) and, at a run's last step, also at FINAL_N; each finished cell writes
# results/cells/ARM-sSEED-STEP.json (committed). A rerun skips every cell that has its file and
# trains a run (or the stage-1 VAE, or C's VAE for D) only when a cell that needs it is missing,
# so a clone without work/ continues from the committed cells.
#
# Environment: SEEDS ("0 1 2"), ARMS ("A B C Cb D E"; D means Dv and Dr), D_FROM (Cb: the
# end-to-end arm whose VAE D trains on), BUDGET (the largest
# step, default 4000), EVAL_N (2000), FINAL_N (5000), STAGE1_STEPS (2000), E_STEPS (1000),
# EVAL_SEED (0: the same sampling noise and labels for every cell), REPORT (1: run report.py
# at the end), CELLS (the cells' folder; the pilot's: results/pilot/cells), EVAL_ONLY (1: train
# nothing, evaluate the missing cells of the checkpoints runs have reached: beside a pass that
# trains), EXTRA (more
# --set options for every run), WORK and RUNLOG (work folder and log, for a trial apart from the
# study), EVALUATOR and ENC (the networks' files), REPAE. Work (store, checkpoints) is in
# experiments/convergence/work/ (git-ignored), which is $REPAE_HOME. What a clone needs to go on
# is committed: the evaluator and target encoder in experiments/networks/, the stage-1 VAEs and
# the end-to-end arms' final VAEs in results/vae/ (each cell records their sha256).
set -eu
cd "$(dirname "$0")/../.."
scripts/deps.sh study
HERE=experiments/convergence
WORK=${WORK:-$HERE/work}
SEEDS=${SEEDS:-"0 1 2"}
ARMS=${ARMS:-"A B C Cb D E"}
D_FROM=${D_FROM:-Cb}
BUDGET=${BUDGET:-4000}
EVAL_N=${EVAL_N:-2000}
FINAL_N=${FINAL_N:-5000}
STAGE1_STEPS=${STAGE1_STEPS:-2000}
E_STEPS=${E_STEPS:-1000}
EVAL_SEED=${EVAL_SEED:-0}
REPORT=${REPORT:-1}
EVAL_ONLY=${EVAL_ONLY:-0}
EXTRA=${EXTRA:-}
. experiments/study.sh
LOG=${RUNLOG:-$LOG} # a trial apart from the study logs apart too
CELLS=${CELLS:-$HERE/results/cells}   # the pilot's go to results/pilot/cells
# grids beside the cells, named after them (cells -> grids, fp32-cells -> fp32-grids): two
# studies sharing a results folder keep their own
GRIDS=${GRIDS:-$(dirname "$CELLS")/$(basename "$CELLS" | sed 's/cells$/grids/')}
VAES=$HERE/results/vae
mkdir -p "$CELLS" "$GRIDS" "$VAES"

# The networks (committed, shared with experiments/fidelity): the evaluator must pass `repae
# eval`'s floor; the REPA target encoder is trained here when it is missing.
NETS=experiments/networks
EVALUATOR=${EVALUATOR:-$NETS/evaluator-fashion-mnist.safetensors}
ENC=${ENC:-$NETS/ssl-encoder-fashion-mnist.safetensors}

# The kept steps of a run of $1 steps: 250 x 2^k below it, and its last step.
kept_steps() {
    s=250 out=""
    while [ "$s" -lt "$1" ]; do out="$out $s"; s=$((s * 2)); done
    echo "$out $1"
}
keep_json() { echo "[$(kept_steps "$1" | sed 's/^ *//; s/ /,/g')]"; }

# The steps of arm $1: E is short.
arm_steps() { if [ "$1" = E ]; then [ "$E_STEPS" -lt "$BUDGET" ] && echo "$E_STEPS" || echo "$BUDGET"; else echo "$BUDGET"; fi; }

cell() { echo "$CELLS/$1-s$2-$3.json"; }
# 0 if some cell of arm $1, seed $2 has no file yet.
missing() {
    for st in $(kept_steps "$(arm_steps "$1")"); do [ -f "$(cell "$1" "$2" "$st")" ] || return 0; done
    return 1
}

# What every run of the study shares: the study size, the seeds, the kept checkpoints, sample
# grids at each kept step (250 divides them all).
common() { # ARM SEED STEPS
    echo "$SIZE --set train.sample_every=250 --set train.ckpt_keep=$(keep_json "$3")
          --set train.seed=$2 --set data.seed=$2 --set train.steps=$3 --set align.encoder=$PWD/$ENC $EXTRA"
}

# Stage 1 of seed $1: the VAE alone, its weights (with the latent BN statistics) as a file.
stage1() {
    sf=$VAES/vae-s$1.safetensors sn=vae-s$1
    [ -f "$sf" ] && return 0
    # shellcheck disable=SC2046
    train_or_resume "$sn" configs/two-stage-vae.json $(common V "$1" "$STAGE1_STEPS") --set train.ckpt_keep=[]
    [ "$(status "$sn")" = "done" ] || { say "$sn: not done; arms of seed $1 wait"; return 1; }
    cp "$(run_dir "$sn")/ckpt/$(printf %08d "$STAGE1_STEPS")/vae.safetensors" "$sf"
}

# $D_FROM's final VAE of seed $1 (trains that arm when it is not there: D needs it).
c_vae() {
    cf=$VAES/vae-$D_FROM-s$1.safetensors
    [ -f "$cf" ] && return 0
    run_arm "$D_FROM" "$1" || return 1
    cp "$(run_dir "$D_FROM-s$1")/ckpt/$(printf %08d "$BUDGET")/vae.safetensors" "$cf"
}

# The VAE file arm $1 of seed $2 starts from.
init_vae() { case $1 in Dv|Dr) echo "$VAES/vae-$D_FROM-s$2.safetensors" ;; *) echo "$VAES/vae-s$2.safetensors" ;; esac; }

# A run's directory: a store named runs.db keeps run ID's files in runs/ID beside it.
run_dir() {
    id=$("$REPAE" --db "$DB" runs --json 2>/dev/null | jq -r --arg n "$1" '[.[] | select(.name == $n)][0].id // empty')
    echo "$WORK/runs/$id"
}

# Trains arm $1 of seed $2 (to done), then evaluates its missing cells. (sh has no local
# variables: the VAE it starts from is made first, since that may run arm C through here.)
run_arm() {
    if [ "$EVAL_ONLY" = 1 ]; then # another pass trains: evaluate what is there, train nothing
        # (a run still training has the cells of the kept checkpoints it has reached)
        case $(status "$1-s$2") in done|running|stopped|interrupted) eval_cells "$1" "$2" "$(arm_steps "$1")" ;; esac
        return 0
    fi
    case $1 in Dv|Dr) c_vae "$2" || return 1 ;; *) stage1 "$2" || return 1 ;; esac
    a=$1 s=$2 n=$1-s$2 steps=$(arm_steps "$1")
    init=$(init_vae "$a" "$s")
    # shellcheck disable=SC2046
    case $a in
    A|Dv) train_or_resume "$n" configs/two-stage.json $(common "$a" "$s" "$steps") --set align.kind=none \
              --set init.vae="$PWD/$init" ;;
    B|Dr) train_or_resume "$n" configs/two-stage.json $(common "$a" "$s" "$steps") --set init.vae="$PWD/$init" ;;
    C)    train_or_resume "$n" configs/repa-e.json $(common "$a" "$s" "$steps") --set align.vae_bn=running \
              --set init.vae="$PWD/$init" ;;
    Cb)   train_or_resume "$n" configs/repa-e.json $(common "$a" "$s" "$steps") --set align.vae_bn=batch \
              --set init.vae="$PWD/$init" ;;
    E)    train_or_resume "$n" configs/naive-e2e.json $(common "$a" "$s" "$steps") --set align.kind=none \
              --set init.vae="$PWD/$init" ;;
    esac
    [ "$(status "$n")" = "done" ] || { say "$n: not done; its cells wait"; return 1; }
    eval_cells "$a" "$s" "$steps"
}

# One eval into $WORK/$n-STEP-N.eval (kept; the cell is made from it).
eval_at() { # RUN STEP N [--no-store]
    out=$WORK/$1-$2-$3.eval
    [ -f "$out" ] && return 0
    t0=$(date +%s)
    if "$REPAE" --db "$DB" eval "$1" --step "$2" --n "$3" --seed "$EVAL_SEED" --evaluator "$PWD/$EVALUATOR" ${4:+"$4"} \
        >"$out.tmp" 2>>"$WORK/$1.err"; then
        mv "$out.tmp" "$out"
        say "$1 step $2: eval --n $3 in $(( $(date +%s) - t0 )) s: $(grep '^  fd ' "$out" | awk '{print "fd", $2}')"
    else
        say "$1 step $2: eval --n $3 failed (see $WORK/$1.err)"
        return 1
    fi
}

eval_cells() { # ARM SEED STEPS
    n=$1-s$2
    if [ ! -f "$EVALUATOR" ]; then say "$n: no evaluator at $EVALUATOR yet: cells wait (rerun later)"; return 0; fi
    "$REPAE" --db "$DB" export "$n" --csv "$WORK/$n.csv" >/dev/null
    mkdir -p "$WORK/samples/$n"
    "$REPAE" --db "$DB" export "$n" --samples "$WORK/samples/$n" >/dev/null 2>&1 || true
    "$REPAE" --db "$DB" eval "$n" --list >"$WORK/$n.kept" 2>/dev/null || : >"$WORK/$n.kept"
    for st in $(kept_steps "$3"); do
        c=$(cell "$1" "$2" "$st")
        [ -f "$c" ] && continue
        # not reached yet (a run still training): a later pass makes it
        grep -q "^$st	.*ok\$" "$WORK/$n.kept" || continue
        eval_at "$n" "$st" "$EVAL_N" || continue
        final=""
        # The last step: the full metric set at FINAL_N too (not stored: the store's eval.fd
        # curve stays at one N).
        if [ "$st" = "$3" ]; then eval_at "$n" "$st" "$FINAL_N" --no-store || continue; final=$WORK/$n-$st-$FINAL_N.eval; fi
        /usr/bin/python3 "$HERE/report.py" cell --arm "$1" --seed "$2" --step "$st" --eval "$WORK/$n-$st-$EVAL_N.eval" \
            ${final:+--final "$final"} --csv "$WORK/$n.csv" --out "$c" \
            --net evaluator="$EVALUATOR" --net encoder="$ENC" --net vae="$(init_vae "$1" "$2")"
        g=$WORK/samples/$n/step_$(printf %08d "$st").png
        [ -f "$g" ] && cp "$g" "$GRIDS/$1-s$2-$st.png"
        say "$n step $st: cell written"
    done
}

# ---- the networks ----------------------------------------------------------------------------
if [ ! -f "$ENC" ]; then
    say "target encoder: training into $ENC (commit it: every arm's REPA target)"
    "$REPAE" encoder train --dataset fashion-mnist --out "$ENC" 2>&1 | tail -3 | tee -a "$LOG"
fi
[ -f "$EVALUATOR" ] || say "no evaluation network at $EVALUATOR: training goes on, cells wait (README.md, Networks: \`repae evaluator train --dataset fashion-mnist --seed 3 --out $EVALUATOR\`)"

# ---- the study -------------------------------------------------------------------------------
say "convergence: seeds $SEEDS, arms $ARMS, budget $BUDGET (kept steps$(kept_steps "$BUDGET")), eval n $EVAL_N / final $FINAL_N"
for seed_ in $SEEDS; do
    for arm_ in $ARMS; do
        case $arm_ in D) list_="Dv Dr" ;; *) list_=$arm_ ;; esac
        for a_ in $list_; do
            missing "$a_" "$seed_" || continue
            run_arm "$a_" "$seed_" || true
        done
    done
done
# The report beside the cells: results/ (the pilot's: results/pilot/).
if [ "$REPORT" = 1 ]; then /usr/bin/python3 "$HERE/report.py" report "$(dirname "$CELLS")" | tee -a "$LOG"; fi
say "convergence: finished this pass ($(find "$CELLS" -name '*.json' | wc -l) cells in $CELLS)"
