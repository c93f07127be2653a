#!/bin/sh
# test_mpi_resume.sh: data-parallel runs that die and come back (issue 14). 2 ranks over TCP on
# loopback, the tiny config with the latent BatchNorm and labels, a checkpoint every 4 steps,
# more steps than any run here reaches (every run is killed once far enough):
#   - kill -9 of rank 1: the job goes down within seconds, the run reads `interrupted`, and
#     `mpirun -np 2 repae resume` continues from the last checkpoint bit for bit as an
#     uninterrupted 2-rank run (every loss at every step, printed with 9 digits);
#   - kill -9 of rank 0 of a 2-rank run, resumed by one process; and a one-process run killed
#     and resumed on 2 ranks: the losses follow the 2-rank run within 1e-5 relative (what 1
#     and 2 processes can agree on: the order of the gradient sums differs).
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
S="--set train.steps=100000 --set train.log_every=1 --set train.threads=1 --set vae.latent_bn=true
   --set sit.num_classes=5 --set train.sample_every=0 --set train.ckpt_every=4 --set sample.n=1
   --set loss.w_gan=0.1 --set loss.gan_start=2"
MPIRUN="mpirun --oversubscribe --allow-run-as-root --mca btl tcp,self --mca btl_tcp_if_include lo"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" # Open MPI's own leaks (see test_mpi.sh)
KILL_AT=8 # a checkpoint at or after this step exists when a run is killed mid-way

# The pid of rank R of the job writing to DB (0 if none).
rank_pid() {
    for p in $(pgrep -f "repae --db $1 " 2>/dev/null); do
        if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2"; then echo "$p"; return; fi
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
wait_resumed() {
    i=0
    until grep -q "continuing from the checkpoint at step" "$1" 2>/dev/null; do
        i=$((i + 1)); [ $i -gt 4000 ] && return 1
        sleep 0.1
    done
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
# compare A.csv B.csv exact|TOL FROM UPTO: the loss columns (by name in each file) at every
# step up to UPTO logged in both (a kill -9 loses the points of the last second before it),
# and at least 8 of them after FROM (the checkpoint the resume continued from).
compare() {
    awk -F, -v tol="$3" -v from="$4" -v upto="$5" '
      NR == FNR { if (FNR == 1) for (i = 1; i <= NF; i++) c1[$i] = i; else row[$1] = $0; next }
      FNR == 1 { for (i = 1; i <= NF; i++) c2[$i] = i; next }
      $1 <= upto && ($1 in row) { n++; if ($1 > from) after++
        split(row[$1], a, ",")
        split("recon kl diffusion align smooth total latent_std latent_sstd grad_norm_vae grad_norm_sit", ks, " ")
        for (k in ks) { x = a[c1[ks[k]]]; y = $(c2[ks[k]])
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

# ---- the uninterrupted 2-rank run, training until the end of the test ---------------------------
$MPIRUN -x ASAN_OPTIONS -np 2 "$BIN" --db "$tmp/ref.db" train "$CONFIGS/tiny.json" --name ref $S >"$tmp/ref.log" 2>&1 &

# ---- kill -9 of rank 1, resumed on 2 ranks ----------------------------------------------------------
db=$tmp/k2.db
$MPIRUN -x ASAN_OPTIONS -np 2 "$BIN" --db "$db" train "$CONFIGS/tiny.json" --name k2 $S >"$tmp/k2.log" 2>&1 &
mp=$!
wait_ckpt "$db-runs/1" $KILL_AT
victim=$(rank_pid "$db" 1)
[ "$victim" != 0 ]
check found_rank_1 $? "no process with OMPI_COMM_WORLD_RANK=1 writing $db"
t0=$(date +%s)
kill -9 "$victim" 2>/dev/null
i=0; while kill -0 $mp 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
down=$(($(date +%s) - t0))
if kill -0 $mp 2>/dev/null; then fail job_down_within_seconds "mpirun still up 30 s after kill -9 of rank 1"; kill_all "$db"
else [ $down -le 15 ]; check job_down_within_seconds $? "took $down s"; fi
wait $mp 2>/dev/null
[ "$(rank_pid "$db" 0)" = 0 ]
check no_rank_left_behind $? "rank 0 still alive after the job went down"
st=$(status_of "$db" k2)
[ "$st" = interrupted ]
check killed_run_reads_interrupted $? "status '$st'"
$MPIRUN -x ASAN_OPTIONS -np 2 "$BIN" --db "$db" resume k2 >"$tmp/k2r.log" 2>&1 &
wait_resumed "$tmp/k2r.log" && from=$(resumed_from "$tmp/k2r.log") && wait_step "$db" k2 $((from + 10))
check resume_2_ranks_continues $? "$(tail -3 "$tmp/k2r.log")"
kill_all "$db"; wait $! 2>/dev/null
"$BIN" --db "$db" export k2 --csv "$tmp/k2.csv" 2>"$tmp/err" && ref_upto $((from + 10)) &&
  compare "$tmp/ref.csv" "$tmp/k2.csv" exact "$from" $((from + 10)) >"$tmp/err" 2>&1
check resumed_2_ranks_bit_for_bit $? "$(head -3 "$tmp/err")"

# ---- kill -9 of rank 0 of 2, resumed by one process ------------------------------------------------
db=$tmp/k21.db
$MPIRUN -x ASAN_OPTIONS -np 2 "$BIN" --db "$db" train "$CONFIGS/tiny.json" --name k21 $S >"$tmp/k21.log" 2>&1 &
mp=$!
wait_ckpt "$db-runs/1" $KILL_AT
kill -9 "$(rank_pid "$db" 0)" 2>/dev/null
i=0; while kill -0 $mp 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
kill -0 $mp 2>/dev/null && { fail job_down_after_rank_0_killed "mpirun still up after 30 s"; kill_all "$db"; }
wait $mp 2>/dev/null
st=$(status_of "$db" k21)
[ "$st" = interrupted ]
check rank_0_killed_reads_interrupted $? "status '$st'"
"$BIN" --db "$db" resume k21 >"$tmp/k21r.log" 2>&1 &
wait_resumed "$tmp/k21r.log" && from=$(resumed_from "$tmp/k21r.log") && wait_step "$db" k21 $((from + 10))
check resume_2_saved_on_1_process $? "$(tail -3 "$tmp/k21r.log")"
kill_all "$db"; wait $! 2>/dev/null
"$BIN" --db "$db" export k21 --csv "$tmp/k21.csv" 2>"$tmp/err" && ref_upto $((from + 10)) &&
  compare "$tmp/ref.csv" "$tmp/k21.csv" 1e-5 "$from" $((from + 10)) >"$tmp/err" 2>&1
check resumed_on_1_follows_2_ranks $? "$(head -3 "$tmp/err")"
"$BIN" --db "$db" show k21 | grep -q "^processes    1"
check resumed_world_size_recorded $? "show does not say 1 process after the resume"

# ---- one process killed, resumed on 2 ranks --------------------------------------------------------
db=$tmp/k12.db
"$BIN" --db "$db" train "$CONFIGS/tiny.json" --name k12 $S >"$tmp/k12.log" 2>&1 &
pid=$!
wait_ckpt "$db-runs/1" $KILL_AT
kill -9 $pid; wait $pid 2>/dev/null
$MPIRUN -x ASAN_OPTIONS -np 2 "$BIN" --db "$db" resume k12 >"$tmp/k12r.log" 2>&1 &
wait_resumed "$tmp/k12r.log" && from=$(resumed_from "$tmp/k12r.log") && wait_step "$db" k12 $((from + 10))
check resume_1_saved_on_2_ranks $? "$(tail -3 "$tmp/k12r.log")"
"$BIN" --db "$db" show k12 >"$tmp/show" 2>&1; grep -q "^processes    2" "$tmp/show"
check resumed_world_size_2_recorded $? "show does not say 2 processes: $(grep -E "^(processes|status)" "$tmp/show")"
kill_all "$db"; wait $! 2>/dev/null
"$BIN" --db "$db" export k12 --csv "$tmp/k12.csv" 2>"$tmp/err" && ref_upto $((from + 10)) &&
  compare "$tmp/ref.csv" "$tmp/k12.csv" 1e-5 "$from" $((from + 10)) >"$tmp/err" 2>&1
check resumed_on_2_follows_2_ranks $? "$(head -3 "$tmp/err")"
