#!/bin/sh
# test_mpi_launch_env.sh: how repae reads a launcher from its environment (train/dist.h), without
# one: its variables are set by hand (tests/test_mpi_srun.sh runs a real Slurm where installed).
#   - a Slurm batch script (SLURM_PROCID=0, SLURM_NTASKS=4, no job step) and `srun -n 1` are one
#     plain process: no MPI at all (MPI_Init would leave its session directory, ompi.*, in
#     TMPDIR);
#   - an srun task of a 2-task step without PMIx (`srun --mpi=none`) is refused, naming
#     `srun --mpi=pmix`, and creates no run (each task would otherwise train a run of its own);
#   - a PMI-2 launch this Open MPI cannot join (PMI_RANK, PMI_SIZE=2) is refused the same way.
BUILD=${BUILD:-build}
BIN=$(cd "$(dirname "$BUILD/repae")" 2>/dev/null && pwd)/repae
CONFIGS=$(cd "$(dirname "$0")/../configs" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; [ -f "$tmp/err" ] && sed 's/^/    | /' "$tmp/err" | tail -10; }
check() { if [ "$2" -eq 0 ]; then pass "$1"; else fail "$1" "$3"; fi; }
if [ ! -x "$BIN" ]; then echo "FAIL binary_built: no $BIN"; exit 1; fi
S="--set train.steps=2 --set train.log_every=1 --set train.threads=1 --set train.sample_every=0 --set sample.n=1"
# run NAME VAR=VALUE...: trains with those variables and only them from any launcher
run() {
    name=$1; shift
    mkdir -p "$tmp/$name.tmp"
    env -u OMPI_COMM_WORLD_SIZE -u PMIX_RANK -u PMI_RANK -u SLURM_PROCID -u SLURM_STEP_NUM_TASKS \
        TMPDIR="$tmp/$name.tmp" "$@" "$BIN" --db "$tmp/$name.db" train "$CONFIGS/tiny.json" --name "$name" $S \
        >"$tmp/err" 2>&1
}
no_mpi() { [ -z "$(ls -A "$tmp/$1.tmp")" ]; }
runs_in() { "$BIN" --db "$tmp/$1.db" runs 2>/dev/null | grep -c "$1"; }

run batch SLURM_PROCID=0 SLURM_NTASKS=4 SLURM_JOB_ID=7 && ! grep -q "data parallel" "$tmp/err" && no_mpi batch
check slurm_batch_script_is_one_plain_process $? "exit, message, or MPI files in TMPDIR: $(ls "$tmp/batch.tmp")"

run one SLURM_PROCID=0 SLURM_NTASKS=1 SLURM_STEP_NUM_TASKS=1 SLURM_JOB_ID=7 && no_mpi one
check srun_one_task_is_one_plain_process $? "exit or MPI files in TMPDIR: $(ls "$tmp/one.tmp")"

run nopmix SLURM_PROCID=1 SLURM_NTASKS=2 SLURM_STEP_NUM_TASKS=2 SLURM_JOB_ID=7
rc=$?
[ $rc -ne 0 ] && grep -q "srun --mpi=pmix" "$tmp/err" && [ "$(runs_in nopmix)" = 0 ]
check srun_tasks_without_pmix_refused $? "exit $rc, $(runs_in nopmix) runs created"

run pmi2 PMI_RANK=1 PMI_SIZE=2
rc=$?
[ $rc -ne 0 ] && grep -q "sees a world of 1" "$tmp/err" && [ "$(runs_in pmi2)" = 0 ]
check pmi2_world_it_cannot_join_refused $? "exit $rc, $(runs_in pmi2) runs created"
