#!/bin/sh
# test_mpi_srun.sh: data-parallel training launched by Slurm's srun for real, on a one-node
# cluster of its own (scripts/slurm-local.sh: munged, slurmctld, slurmd inside this test's
# temporary directory, MpiDefault=pmix). Skipped, saying why, where Slurm is not installed
# (`apt-get install -y slurm-wlm munge`; make test does not install it) or not as root.
#   - `srun -n 2 repae train` is one 2-process run (rank and size from PMIx), written by rank 0
#     alone, and reproduces one plain process: every loss within 1e-5 relative over 20 steps;
#   - kill -9 of one task takes the job step down within seconds, the run reads `interrupted`;
#   - `scancel` of a running job ends it `stopped` with a checkpoint at the step reached (both
#     ranks stop at the same step, before Slurm's KillWait), and `srun -n 2 repae resume`
#     continues from it bit for bit as the uninterrupted srun run;
#   - an sbatch script (`#SBATCH -n 2`, repae runs and srun inside) trains a 2-process run and
#     its plain `repae` calls start no MPI.
skip() { echo "SKIP test_mpi_srun: $1"; exit 0; }
[ "${REPAE_SLURM_TEST:-1}" = 0 ] && skip "REPAE_SLURM_TEST=0"
for b in srun sbatch scancel squeue slurmctld slurmd munged; do
    command -v $b >/dev/null 2>&1 || [ -x /usr/sbin/$b ] ||
        skip "Slurm is not installed (no $b): apt-get install -y slurm-wlm munge to run it"
done
[ "$(id -u)" = 0 ] || skip "a local Slurm node needs root (slurmd starts the tasks)"
. "$(dirname "$0")/mpi_lib.sh"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
S="$S --set train.ckpt_every=0"
slurm=$tmp/slurm
cleanup_slurm() { "$ROOT/scripts/slurm-local.sh" stop "$slurm" >/dev/null 2>&1; cleanup; }
trap cleanup_slurm EXIT
trap 'cleanup_slurm; exit 1' INT TERM
if ! "$ROOT/scripts/slurm-local.sh" start "$slurm" >"$tmp/err" 2>&1; then
    fail slurm_local_cluster_starts "scripts/slurm-local.sh start failed"
    tail -5 "$slurm"/log/*.log 2>/dev/null | sed 's/^/    | /'
    exit 1
fi
pass slurm_local_cluster_starts
export SLURM_CONF=$slurm/slurm.conf
unset SLURM_JOB_ID SLURM_PROCID SLURM_STEP_NUM_TASKS SLURM_NTASKS
# job_of NAME: the job id of the job named NAME (empty when it is gone)
job_of() { squeue -h -n "$1" -o %i 2>/dev/null | head -1; }
# gone DB SECONDS: waits until no process writes to DB
gone() {
    i=0
    while pgrep -f "repae --db $1 " >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -gt $(($2 * 10)) ] && return 1
        sleep 0.1
    done
}

# ---- srun -n 2 against one process ------------------------------------------------------------
# 300 steps, the reference for the resume below too (a scancel under load lands well past the
# step it was sent at: one landed at 93). The learning rate is constant after warmup, so
# train.steps changes nothing before them.
timeout 300 srun -n 2 -J repae-ref "$BIN" --db "$tmp/ref.db" train "$CONFIGS/tiny.json" --name ref $S \
    --set train.steps=300 >"$tmp/ref.log" 2>&1 && grep -q "data parallel over 2 processes" "$tmp/ref.log"
check srun_2_tasks_train_one_run $? "$(tail -3 "$tmp/ref.log")"
cp "$tmp/ref.log" "$tmp/err"
[ "$("$BIN" --db "$tmp/ref.db" runs | grep -c " ref ")" = 1 ] &&
    "$BIN" --db "$tmp/ref.db" show ref | grep -q "^processes *2," && [ "$(ls "$tmp/ref.db-runs")" = 1 ]
check srun_rank0_alone_writes_world_size_2 $? "$("$BIN" --db "$tmp/ref.db" runs)"
env -u OMPI_COMM_WORLD_SIZE -u PMIX_RANK -u SLURM_PROCID "$BIN" --db "$tmp/one.db" train "$CONFIGS/tiny.json" \
    --name one $S --set train.steps=20 2>"$tmp/err" &&
    "$BIN" --db "$tmp/one.db" export one --csv "$tmp/one.csv" 2>"$tmp/err" &&
    "$BIN" --db "$tmp/ref.db" export ref --csv "$tmp/ref.csv" 2>"$tmp/err" &&
    compare "$tmp/one.csv" "$tmp/ref.csv" 1e-5 0 20 >"$tmp/err" 2>&1
check srun_losses_equal_one_process_1e-5 $? "$(head -3 "$tmp/err")"

# ---- kill -9 of one task ----------------------------------------------------------------------
srun -n 2 -J repae-k9 "$BIN" --db "$tmp/k9.db" train "$CONFIGS/tiny.json" --name k9 $S >"$tmp/k9.log" 2>&1 &
srun_pid=$!
wait_step "$tmp/k9.db" k9 5
check k9_run_started $? "$(tail -3 "$tmp/k9.log")"
t0=$(date +%s)
kill -9 "$(rank_pid "$tmp/k9.db" 1 SLURM_PROCID)"
gone "$tmp/k9.db" 20 && [ -z "$(job_of repae-k9)" ]
check k9_job_down_within_20s $? "after $(($(date +%s) - t0)) s: $(pgrep -af "repae --db $tmp/k9.db" | head -2)"
kill_all "$tmp/k9.db"; wait $srun_pid 2>/dev/null
st=$(status_of "$tmp/k9.db" k9)
case $st in interrupted*) true ;; *) false ;; esac
check k9_run_reads_interrupted $? "status '$st'"

# ---- scancel ----------------------------------------------------------------------------------
srun -n 2 -J repae-sc "$BIN" --db "$tmp/sc.db" train "$CONFIGS/tiny.json" --name sc $S >"$tmp/sc.log" 2>&1 &
srun_pid=$!
wait_step "$tmp/sc.db" sc 6
check scancel_run_started $? "$(tail -3 "$tmp/sc.log")"
scancel "$(job_of repae-sc)"
# Slurm sends SIGTERM to every task and SIGKILL KillWait (30 s here) later.
gone "$tmp/sc.db" 60; wait $srun_pid 2>/dev/null
cp "$tmp/sc.log" "$tmp/err"
st=$(status_of "$tmp/sc.db" sc)
step=$("$BIN" --db "$tmp/sc.db" show sc 2>/dev/null | awk '$1 == "progress" { split($2, a, "/"); print a[1] }')
[ "$st" = stopped ] && [ -d "$tmp/sc.db-runs/1/ckpt/$(printf %08d "${step:-0}")" ]
check scancel_stops_with_checkpoint $? "status '$st' at step '$step', checkpoints: $(ls "$tmp/sc.db-runs/1/ckpt" 2>/dev/null)"
grep -q "^repae: run stopped" "$tmp/sc.log" && grep -q "(rank 1): run stopped" "$tmp/sc.log" &&
    ! grep -q "task [01]: Killed" "$tmp/sc.log"
check scancel_every_rank_stopped_cleanly $? "$(grep -v '^step' "$tmp/sc.log" | tail -5 | tr '\n' ' ')"
timeout 300 srun -n 2 -J repae-scr "$BIN" --db "$tmp/sc.db" resume sc >"$tmp/scr.log" 2>&1 &
srun_pid=$!
upto=$((step + 10)); [ $upto -gt 300 ] && upto=300
wait_resumed "$tmp/scr.log" && from=$(resumed_from "$tmp/scr.log") && [ "$from" = "$step" ] &&
    wait_step "$tmp/sc.db" sc $upto
check scancel_resume_continues_from_stop $? "from '$from' (stopped at $step): $(tail -3 "$tmp/scr.log")"
scancel "$(job_of repae-scr)" 2>/dev/null; gone "$tmp/sc.db" 60; kill_all "$tmp/sc.db"; wait $srun_pid 2>/dev/null
"$BIN" --db "$tmp/sc.db" export sc --csv "$tmp/sc.csv" 2>"$tmp/err" &&
    compare "$tmp/ref.csv" "$tmp/sc.csv" exact "$from" $upto >"$tmp/err" 2>&1
check scancel_resumed_bit_for_bit $? "$(head -3 "$tmp/err")"

# ---- sbatch -----------------------------------------------------------------------------------
mkdir -p "$tmp/batch.tmp"
flat=$(echo $S) # one line: S spans several
cat >"$tmp/job.sh" <<EOF
#!/bin/sh
#SBATCH -n 2
#SBATCH -J repae-batch
#SBATCH -o $tmp/batch.log
TMPDIR=$tmp/batch.tmp "$BIN" --db "$tmp/plain.db" train "$CONFIGS/tiny.json" --name plain $flat --set train.steps=2 2>&1 |
    grep "data parallel" || echo "plain train: one process"
srun "$BIN" --db "$tmp/batch.db" train "$CONFIGS/tiny.json" --name batch $flat --set train.steps=10
"$BIN" --db "$tmp/batch.db" show batch
EOF
timeout 120 sbatch --wait "$tmp/job.sh" >"$tmp/err" 2>&1
cp "$tmp/batch.log" "$tmp/err" 2>/dev/null
grep -q "^status *done" "$tmp/batch.log" && grep -q "^processes *2," "$tmp/batch.log"
check sbatch_script_trains_2_process_run $? "$(tail -3 "$tmp/batch.log" 2>/dev/null)"
grep -q "^plain train: one process" "$tmp/batch.log" && [ -z "$(ls -A "$tmp/batch.tmp")" ] &&
    "$BIN" --db "$tmp/plain.db" show plain | grep -q "^status *done"
check sbatch_plain_repae_is_one_process_no_mpi $? "$(head -2 "$tmp/batch.log"); TMPDIR: $(ls "$tmp/batch.tmp")"
