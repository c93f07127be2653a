#!/bin/sh
# test_mpi_dist.sh: the bucketed non-blocking gradient reduction (tests/test_dist.c) under
# mpirun on 2 and 3 ranks, over TCP on loopback (the transport used between machines).
BUILD=${BUILD:-build}
T=$BUILD/tests/test_dist
if [ ! -x "$T" ]; then echo "FAIL test_dist_built: no $T"; exit 1; fi
if ! command -v mpirun >/dev/null 2>&1; then echo "FAIL mpirun_installed: no mpirun on PATH (apt-get install openmpi-bin)"; exit 1; fi
MPIRUN="mpirun --oversubscribe --allow-run-as-root --mca btl tcp,self --mca btl_tcp_if_include lo"
for np in 2 3; do
    out=$(timeout 120 env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" $MPIRUN -x ASAN_OPTIONS -np $np "$T" 2>&1)
    rc=$?
    echo "$out" | grep -E "^(PASS|FAIL) " | sed "s/^\(PASS\|FAIL\) \([^:]*\)/\1 np${np}_\2/"
    if [ $rc -ne 0 ]; then echo "FAIL np${np}_all_ranks_exit_0: mpirun exit $rc"; echo "$out" | tail -5 | sed 's/^/    | /'
    else echo "PASS np${np}_all_ranks_exit_0"; fi
done
