#!/bin/sh
# regions.sh [BUILD] [STEPS] [PRECISION]: where a training step's wall time goes between and
# inside OpenMP parallel regions, the part a per-symbol profile (profile.sh) cannot show: perf
# samples CPU time, so a thread asleep at a barrier or waiting for serial work is invisible.
# regions.c (an LD_PRELOAD shim around GOMP_parallel) times every top-level region of a
# `repae bench` run, from the end of its warm-up step to the end of its last step (the EMA
# update's region ends each step), so only whole steady steps count. Prints, per step:
#   - time in regions (as the opening thread sees it) and between them (serial work);
#   - regions' own cost: wall - the slower thread's time in the body (waking the team, barriers);
#   - waiting: call by call, the slower thread's time in the body minus the faster's (what
#     balancing the threads could at most halve);
#   - solo: regions whose `if` clause kept them on one thread (the other sleeps through them);
#   - t0 - t1: thread 0's time in bodies minus thread 1's (+: the opening thread is slower);
#   - the regions and serial stretches that take the most.
#
#   experiments/bench/regions.sh build 8 bf16
build=${1:-build}
steps=${2:-8}
prec=${3:-fp32}
out=${TMPDIR:-/tmp}/repae-regions.$$
[ -x "$build/repae" ] || { echo "regions.sh: $build/repae not found; run make first"; exit 1; }
for t in addr2line nm cc; do command -v $t >/dev/null || { echo "regions.sh: $t is not installed (binutils, gcc)"; exit 1; }; done
mkdir -p "$build/bench"
so="$build/bench/regions.so"
case $so in /*) ;; *) so="$PWD/$so" ;; esac # LD_PRELOAD wants it absolute
if [ ! -f "$so" ] || [ experiments/bench/regions.c -nt "$so" ]; then
    cc -O2 -shared -fPIC -o "$so" experiments/bench/regions.c -ldl || { echo "regions.sh: building $so failed"; exit 1; }
fi
echo "# regions.sh: $build/repae bench fm32-small, $steps steps, precision $prec, 2 threads, $(date -u +%Y-%m-%dT%H:%MZ), load before: $(cut -d' ' -f1-3 /proc/loadavg)"
mark=$(nm "$build/repae" | awk '$3 == "ema_update._omp_fn.0" { print $1 }')
[ -n "$mark" ] || { echo "regions.sh: ema_update._omp_fn.0 not found in $build/repae (stripped?)"; exit 1; }
REGIONS_MARK="$mark" REGIONS_OUT="$out.r" LD_PRELOAD="$so" OMP_NUM_THREADS=2 "$build/repae" bench \
    --config configs/fm32-small.json --steps "$steps" --set vae.latent_bn=true --set train.threads=2 \
    --set "train.precision=\"$prec\"" 2>/dev/null | tail -n 1 > "$out.json"
[ -s "$out.r" ] || { echo "regions.sh: no region data (LD_PRELOAD refused?)"; rm -f "$out".*; exit 1; }
step=$(sed -n 's/.*"step_s":\([0-9.]*\).*/\1/p' "$out.json")
k=$(awk '$1 == "S" { print $2 }' "$out.r")
[ "${k:-0}" -gt 0 ] || { echo "regions.sh: no whole step was counted (the EMA region never ran twice)"; rm -f "$out".*; exit 1; }
# per step: totals over the counted steps / their number, in ms
awk '$1 == "S" { k = $2; span = $3 } $1 == "R" { printf "R %s %.2f %.4f %.4f %.4f %.4f %.4f\n", $2, $3 / k, $4 * 1e3 / k, $5 * 1e3 / k, $6 * 1e3 / k, $7 * 1e3 / k, $8 * 1e3 / k }
     $1 == "G" { printf "G %s %s %.2f %.4f\n", $2, $3, $4 / k, $5 * 1e3 / k }
     END { printf "S %d %.4f\n", k, span * 1e3 / k > "/dev/stderr" }' "$out.r" > "$out.d" 2> "$out.s"
read -r _ k span < "$out.s"
echo "# $k steady steps counted, $span ms each (bench: step $step s, the shim in place)"
awk '{ print $2; if ($1 == "G") print $3 }' "$out.d" | sort -u > "$out.addr"
addr2line -f -s -e "$build/repae" $(cat "$out.addr") | awk 'NR % 2' > "$out.names"
paste -d' ' "$out.addr" "$out.names" > "$out.map"
awk -v step="$span" '
NR == FNR { name[$1] = $2; next }
$1 == "R" { n += $3; w += $4; body += $7; wt = 2 * $7 - $5 - $6; wait += wt; d += $5 - $6; solo += $8
            rw[$2] = $4; rn[$2] = $3; rd[$2] = $5 - $6; ro[$2] = $4 - $7; rwt[$2] = wt; rs[$2] = $8 }
$1 == "G" { gs += $5; key = name[$2] " -> " name[$3]; gap[key] += $5; gn[key] += $4 }
END {
    printf "per step: %.0f regions; %.1f ms in regions (own cost %.1f ms, one thread waiting %.1f ms, t0 - t1 %+.1f ms; %.1f ms of them on one thread); %.1f ms serial between them\n",
           n, w, w - body, wait, d, solo, gs
    if (step > 0) printf "          of a %.1f ms step: %.1f%% in regions (%.1f%% their own cost, %.1f%% waiting, %.1f%% on one thread), %.1f%% serial between them\n",
           step, 100 * w / step, 100 * (w - body) / step, 100 * wait / step, 100 * solo / step, 100 * gs / step
    print "regions by wall time (ms a step; own cost = wall - slower thread; wait = slower - faster, call by call; solo = calls on one thread; t0 - t1):"
    for (a in rw) printf "  %8.2f  %6.1f regions  own %6.2f  wait %6.2f  solo %6.2f  t0-t1 %+7.2f  %s\n", rw[a], rn[a], ro[a], rwt[a], rs[a], rd[a], name[a] | "sort -rn | head -15"
    close("sort -rn | head -15")
    print "serial stretches between regions (ms a step; count):"
    for (g in gap) if (gap[g] >= 0.05) printf "  %8.2f  %6.1f  %s\n", gap[g], gn[g], g | "sort -rn | head -10"
    close("sort -rn | head -10")
}' "$out.map" "$out.d"
rm -f "$out".*
