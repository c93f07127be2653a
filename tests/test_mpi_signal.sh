#!/bin/sh
# test_mpi_signal.sh: SIGTERM or SIGINT (Ctrl-C) sent to mpirun ends a 2-rank run `stopped`, with
# a checkpoint at the step reached, as `repae train` alone does (issue 14). Open MPI 4.1's
# mpirun does not forward either signal: it sends every rank SIGCONT, then SIGTERM after
# odls_base_sigkill_timeout seconds, then SIGKILL after as many again. The ranks must agree on
# the step to stop at, rank 0 write the checkpoint and all of them exit before the SIGKILL;
# the grace given here (GRACE) is what the README tells users to pass. Each signal's run, then:
#   - reads `stopped`, its last checkpoint is at the run's step, both ranks said they stopped
#     and none was killed;
#   - `mpirun -np 2 repae resume` continues from that checkpoint bit for bit as an
#     uninterrupted 2-rank run (every loss at every step, printed with 9 digits).
. "$(dirname "$0")/mpi_lib.sh"
S="$S --set train.ckpt_every=0" # the stop writes the only checkpoint
GRACE=15
STOP_AT=6 # the signal goes once the run has logged this step

# The largest checkpoint step in a run directory (-1 if none).
last_ckpt() {
    n=-1
    for c in "$1"/ckpt/*; do
        b=$(basename "$c"); case $b in *[!0-9]*) continue ;; esac
        b=$(expr "$b" + 0); [ "$b" -gt "$n" ] && n=$b
    done
    echo $n
}
stored_step() { "$BIN" --db "$1" show "$2" 2>/dev/null | awk '$1 == "progress" { split($2, a, "/"); print a[1] }'; }

# ---- the uninterrupted 2-rank run, training until the end of the test ---------------------------
$MPIRUN -x ASAN_OPTIONS -np 2 "$BIN" --db "$tmp/ref.db" train "$CONFIGS/tiny.json" --name ref $S >"$tmp/ref.log" 2>&1 &

# ---- both signals at once (two jobs side by side: the grace is waited out once) -----------------
for sig in TERM INT; do
    $MPIRUN --mca odls_base_sigkill_timeout $GRACE -x ASAN_OPTIONS -np 2 "$BIN" --db "$tmp/$sig.db" train \
        "$CONFIGS/tiny.json" --name "s$sig" $S >"$tmp/$sig.log" 2>&1 &
    echo $! >"$tmp/$sig.pid"
done
for sig in TERM INT; do
    wait_step "$tmp/$sig.db" "s$sig" $STOP_AT
    check "${sig}_run_started" $? "$(tail -3 "$tmp/$sig.log")"
    kill -$sig "$(cat "$tmp/$sig.pid")"
done
# mpirun goes after SIGTERM + SIGKILL: at most 2 x GRACE, and more on a loaded machine.
for sig in TERM INT; do
    mp=$(cat "$tmp/$sig.pid")
    i=0; while kill -0 "$mp" 2>/dev/null && [ $i -lt $((20 * GRACE + 600)) ]; do sleep 0.1; i=$((i + 1)); done
    kill -0 "$mp" 2>/dev/null && { fail "${sig}_job_ends" "mpirun still up $((2 * GRACE + 60)) s after SIG$sig"; kill_all "$tmp/$sig.db"; }
    wait "$mp" 2>/dev/null
done

for sig in TERM INT; do
    db=$tmp/$sig.db log=$tmp/$sig.log
    st=$(status_of "$db" "s$sig")
    [ "$st" = stopped ]
    check "${sig}_run_reads_stopped" $? "status '$st'; $(grep -v '^step' "$log" | tail -4 | tr '\n' ' ')"
    step=$(stored_step "$db" "s$sig") ck=$(last_ckpt "$db-runs/1")
    [ -n "$step" ] && [ "$step" -ge $STOP_AT ] && [ "$ck" = "$step" ]
    check "${sig}_checkpoint_at_stop_step" $? "run at step '$step', last checkpoint at step $ck"
    # Rank 0 says how the run ended, rank 1 that it stopped too; mpirun names a killed rank.
    grep -q "^repae: run stopped" "$log" && grep -q "(rank 1): run stopped" "$log" &&
        ! grep -q -i "signal 9\|killed" "$log"
    check "${sig}_every_rank_stopped_cleanly" $? "$(grep -v '^step' "$log" | tail -6 | tr '\n' ' ')"
    [ "$(rank_pid "$db" 0)" = 0 ] && [ "$(rank_pid "$db" 1)" = 0 ]
    check "${sig}_no_rank_left_behind" $? "a rank is still alive after mpirun ended"

    $MPIRUN -x ASAN_OPTIONS -np 2 "$BIN" --db "$db" resume "s$sig" >"$tmp/${sig}r.log" 2>&1 &
    wait_resumed "$tmp/${sig}r.log" && from=$(resumed_from "$tmp/${sig}r.log") && [ "$from" = "$step" ] &&
        wait_step "$db" "s$sig" $((from + 10))
    check "${sig}_resume_continues_from_stop" $? "from '$from' (stopped at $step): $(tail -3 "$tmp/${sig}r.log")"
    kill_all "$db"; wait $! 2>/dev/null
    "$BIN" --db "$db" export "s$sig" --csv "$tmp/$sig.csv" 2>"$tmp/err" && ref_upto $((from + 10)) &&
        compare "$tmp/ref.csv" "$tmp/$sig.csv" exact "$from" $((from + 10)) >"$tmp/err" 2>&1
    check "${sig}_resumed_bit_for_bit" $? "$(head -3 "$tmp/err")"
done
