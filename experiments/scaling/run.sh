#!/bin/sh
# experiments/scaling/run.sh [PAIRS [STEPS]]: on this machine, one process with 2 OpenMP threads
# against 2 MPI processes with 1 thread each, fm32-small (batch 64 global), alternating
# PAIRS times (default 2) so that a change in the machine's load hits both sides alike.
# Each trial trains STEPS steps (default 6) and reports the median img/s over its steps after
# the first (start-up excluded); the 2-process trials also the share of wall time in
# collectives and the MB handed to them per step (comm_share, comm_mb_per_step). With
# BIN_BEFORE=path/to/an/older/repae, each pair also runs that binary's 2-process trial (to
# compare two versions of the communication in the same minutes). Results:
# experiments/scaling/README.md.
set -e
cd "$(dirname "$0")/../.."
PAIRS=${1:-2}
STEPS=${2:-6}
BIN=${BIN:-build/repae}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
MPIRUN="mpirun --oversubscribe --allow-run-as-root --mca btl tcp,self --mca btl_tcp_if_include lo"
S="--set train.steps=$STEPS --set train.log_every=1 --set train.sample_every=0 --set train.ckpt_every=0
   --set sample.n=1 --set sample.steps=1"
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), uptime: $(uptime | sed 's/.*load/load/')"
# median of column KEY (by name) over rows with step >= 2
median() {
    awk -F, -v key="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == key) c = i; next }
      $1 >= 2 && c && $c != "" { v[n++] = $c + 0 }
      END { if (!n) { print "nan"; exit } for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
            print (n % 2) ? v[int(n / 2)] : (v[n / 2 - 1] + v[n / 2]) / 2 }' "$1"
}
for i in $(seq 1 "$PAIRS"); do
    "$BIN" --db "$tmp/s.db" train configs/fm32-small.json --name one$i $S --set train.threads=2 2>"$tmp/err" ||
        { cat "$tmp/err"; exit 1; }
    "$BIN" --db "$tmp/s.db" export one$i --csv "$tmp/one$i.csv" 2>/dev/null
    $MPIRUN -np 2 "$BIN" --db "$tmp/s.db" train configs/fm32-small.json --name two$i $S --set train.threads=1 \
        >"$tmp/err" 2>&1 || { cat "$tmp/err"; exit 1; }
    "$BIN" --db "$tmp/s.db" export two$i --csv "$tmp/two$i.csv" 2>/dev/null
    a=$(median "$tmp/one$i.csv" img_per_s)
    b=$(median "$tmp/two$i.csv" img_per_s)
    cs=$(median "$tmp/two$i.csv" comm_share)
    mb=$(median "$tmp/two$i.csv" comm_mb_per_step)
    echo "pair $i: 1x2 threads $a img/s, 2x1 thread $b img/s, ratio 2p/1p $(echo "scale=3; $b / $a" | bc)," \
         "comm share $cs, $mb MB/step handed to collectives"
    if [ -n "$BIN_BEFORE" ]; then
        $MPIRUN -np 2 "$BIN_BEFORE" --db "$tmp/b.db" train configs/fm32-small.json --name before$i $S \
            --set train.threads=1 >"$tmp/err" 2>&1 || { cat "$tmp/err"; exit 1; }
        "$BIN_BEFORE" --db "$tmp/b.db" export before$i --csv "$tmp/before$i.csv" 2>/dev/null
        echo "pair $i, BIN_BEFORE: 2x1 thread $(median "$tmp/before$i.csv" img_per_s) img/s," \
             "comm share $(median "$tmp/before$i.csv" comm_share), $(median "$tmp/before$i.csv" comm_mb_per_step) MB/step"
    fi
done
echo "# uptime after: $(uptime | sed 's/.*load/load/')"
