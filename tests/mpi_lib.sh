# mpi_lib.sh: what the 2-rank test scripts (test_mpi_resume.sh, test_mpi_signal.sh) share,
# sourced first: the binary, a temporary directory removed at exit (with every
# repae process still writing into it), pass/fail/check, mpirun's flags (TCP over loopback) and
# the helpers that watch a run from outside (its ranks' pids, its stored step, checkpoints,
# status) and compare two runs' exported losses.
BUILD=${BUILD:-build}
BIN=$(cd "$(dirname "$BUILD/repae")" 2>/dev/null && pwd)/repae
CONFIGS=$(cd "$(dirname "$0")/../configs" && pwd)
tmp=$(mktemp -d)
cleanup() { for p in $(pgrep -f "repae --db $tmp/" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT
trap 'cleanup; exit 1' INT TERM # a timeout must end the script, not let it run on without $tmp
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; [ -f "$tmp/err" ] && sed 's/^/    | /' "$tmp/err" | tail -10; }
check() { if [ "$2" -eq 0 ]; then pass "$1"; else fail "$1" "$3"; fi; }
if [ ! -x "$BIN" ]; then echo "FAIL binary_built: no $BIN"; exit 1; fi
if ! command -v mpirun >/dev/null 2>&1; then echo "FAIL mpirun_installed: no mpirun on PATH (apt-get install openmpi-bin)"; exit 1; fi
# The tiny config with the latent BatchNorm, labels and the GAN term, more steps than any run
# here reaches: every run is stopped or killed once far enough.
S="--set train.steps=100000 --set train.log_every=1 --set train.threads=1 --set vae.latent_bn=true
   --set sit.num_classes=5 --set train.sample_every=0 --set sample.n=1
   --set loss.w_gan=0.1 --set loss.gan_start=2"
MPIRUN="mpirun --oversubscribe --allow-run-as-root --mca btl tcp,self --mca btl_tcp_if_include lo"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" # Open MPI's own leaks (see test_mpi.sh)

# The pid of rank R of the job writing to DB (0 if none); VAR (third argument) is the
# launcher's rank variable, OMPI_COMM_WORLD_RANK for mpirun, SLURM_PROCID for srun.
rank_pid() {
    for p in $(pgrep -f "repae --db $1 " 2>/dev/null); do
        if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "${3:-OMPI_COMM_WORLD_RANK}=$2"; then echo "$p"; return; fi
    done
    echo 0
}
# Waits (up to 400 s) until the run's stored step reaches N.
wait_step() {
    i=0
    while :; do
        s=$("$BIN" --db "$1" show "$2" 2>/dev/null | awk '$1 == "progress" { split($2, a, "/"); print a[1] }')
        [ -n "$s" ] && [ "$s" -ge "$3" ] && return 0
        i=$((i + 1)); [ $i -gt 4000 ] && return 1
        sleep 0.1
    done
}
# Waits until the run's directory has a checkpoint at step N or later.
wait_ckpt() {
    i=0
    while :; do
        for c in "$1"/ckpt/*; do
            b=$(basename "$c"); case $b in *[!0-9]*) continue ;; esac
            [ "$(expr "$b" + 0)" -ge "$2" ] && return 0
        done
        i=$((i + 1)); [ $i -gt 4000 ] && return 1
        sleep 0.1
    done
}
# Waits until a resume's log says which checkpoint it continues from: the run's metrics after
# it are forgotten by then, so the stored step is the resumed run's (a killed run may have
# logged far past that checkpoint before it died).
# A resume that found no checkpoint says so: the wait ends there, and fails.
wait_resumed() {
    i=0
    until grep -q "continuing from the checkpoint at step\|no checkpoint yet" "$1" 2>/dev/null; do
        i=$((i + 1)); [ $i -gt 4000 ] && return 1
        sleep 0.1
    done
    grep -q "continuing from the checkpoint at step" "$1"
}
kill_all() { for p in $(pgrep -f "repae --db $1 " 2>/dev/null); do kill -9 "$p" 2>/dev/null; done; }
# The run's status as `show` reads it, polled up to 10 s until it is not "running".
status_of() {
    i=0
    while :; do
        st=$("$BIN" --db "$1" show "$2" 2>/dev/null | awk '$1 == "status" { print $2 }')
        [ "$st" != running ] && { echo "$st"; return; }
        i=$((i + 1)); [ $i -gt 100 ] && { echo "$st"; return; }
        sleep 0.1
    done
}
# compare A.csv B.csv exact|TOL FROM UPTO: the loss columns (by name in each file; one neither logs
# is skipped, one only one logs is a failure) at every
# step up to UPTO logged in both (a kill -9 loses the points of the last second before it),
# and at least 8 of them after FROM (the checkpoint the resume continued from).
compare() {
    awk -F, -v tol="$3" -v from="$4" -v upto="$5" '
      NR == FNR { if (FNR == 1) for (i = 1; i <= NF; i++) c1[$i] = i; else row[$1] = $0; next }
      FNR == 1 { for (i = 1; i <= NF; i++) c2[$i] = i; next }
      $1 <= upto && ($1 in row) { n++; if ($1 > from) after++
        split(row[$1], a, ",")
        split("recon kl diffusion align smooth total latent_std latent_sstd grad_norm_vae grad_norm_sit", ks, " ")
        for (k in ks) { if (!(ks[k] in c1) && !(ks[k] in c2)) continue # not logged by the recipe
          if (!(ks[k] in c1) || !(ks[k] in c2)) { printf "column %s in one file only\n", ks[k]; bad++; continue }
          x = a[c1[ks[k]]]; y = $(c2[ks[k]])
          if (tol == "exact") { if (x != y) { printf "step %s %s: %s vs %s\n", $1, ks[k], x, y; bad++ } continue }
          d = x - y; if (d < 0) d = -d; m = (x < 0 ? -x : x); if ((y < 0 ? -y : y) > m) m = (y < 0 ? -y : y)
          if (d > tol * m + 1e-12) { printf "step %s %s: %s vs %s\n", $1, ks[k], x, y; bad++ } } }
      END { if (after < 8) { printf "only %d steps after the resume at %d compared (%d in all)\n", after, from, n; exit 1 }
            exit bad > 0 }' "$1" "$2"
}
# The step a resume continued from, from its log.
resumed_from() { sed -n 's/.*continuing from the checkpoint at step \([0-9]*\).*/\1/p' "$1" | head -1; }
# Waits until the reference run has logged step N, then exports it to ref.csv.
ref_upto() { wait_step "$tmp/ref.db" ref "$1" && "$BIN" --db "$tmp/ref.db" export ref --csv "$tmp/ref.csv" 2>"$tmp/err"; }

