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
. "$(dirname "$0")/mpi_lib.sh"
S="$S --set train.ckpt_every=4"
KILL_AT=8 # a checkpoint at or after this step exists when a run is killed mid-way

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
