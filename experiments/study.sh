# experiments/study.sh: what the studies under experiments/ share, sourced by their run.sh after
# they set HERE (the study's folder) and WORK (its git-ignored work folder):
#   SIZE     the "study size": fm32-small shrunk so that a study fits in hours on 2 cores
#            (experiments/ablations/README.md, "Size", says why each number is what it is)
#   REPAE    the binary (default: $WORK/repae if present, else build/repae, built with make)
#   DB       the study's run store, $WORK/runs.db; REPAE_HOME is $WORK (networks live there)
#   say      a timestamped line on stdout and in $HERE/results/run.log
#   status   a run's status in the store, or "absent"
mkdir -p "$WORK" "$HERE/results"
export REPAE_HOME="$PWD/$WORK"
DB="$PWD/$WORK/runs.db"
if [ -z "${REPAE:-}" ]; then
    if [ -x "$WORK/repae" ]; then REPAE="$PWD/$WORK/repae"
    else make -s build/repae && REPAE="$PWD/build/repae"; fi
fi
LOG=$HERE/results/run.log
say() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$LOG"; }

SIZE="--set vae.ch=[16,32,64] --set sit.hidden=96 --set sit.depth=4 --set sit.heads=4 --set sit.patch=2
 --set align.depth=2 --set align.projector_dim=256
 --set train.batch_size=32 --set train.lr=0.0002 --set train.ema=0.99
 --set train.log_every=10 --set train.sample_every=200 --set train.ckpt_every=200 --set sample.n=16"

status() { # status of run $1 in the store, or "absent"
    "$REPAE" --db "$DB" runs --json 2>/dev/null |
        jq -r --arg n "$1" '[.[] | select(.name == $n)][0].status // "absent"'
}

# train_or_resume NAME ARGS...: trains NAME with `repae train ARGS` when the store has no such
# run, resumes it when it is stopped or interrupted, and leaves a done, failed or diverged run
# as it is. stderr goes to $WORK/NAME.err.
train_or_resume() {
    n=$1; shift
    st=$(status "$n")
    case $st in
    done) ;;
    absent)
        say "$n: training"
        t0=$(date +%s)
        "$REPAE" --db "$DB" train "$@" --name "$n" 2>>"$WORK/$n.err" || true
        say "$n: $(status "$n") after $(( $(date +%s) - t0 )) s" ;;
    stopped|interrupted)
        say "$n: resuming ($st)"
        "$REPAE" --db "$DB" resume "$n" 2>>"$WORK/$n.err" || true
        say "$n: $(status "$n")" ;;
    *) say "$n: $st (kept; see $WORK/$n.err)" ;;
    esac
}
