#!/bin/sh
# profile.sh [BUILD] [STEPS] [PRECISION]: where one fm32-small training step's time goes (issue 15's
# per-op profile): `perf record` of `repae bench` (2 threads, latent BN as bench_step runs it),
# then every sampled symbol put into one class: matrix kernels, matrix packing (operand panels,
# transposes, bf16 conversion), norms, activations, attention softmax, copies, zeroing (memset,
# page clearing), optimiser (AdamW, EMA, clipping), data, OpenMP/kernel scheduling, other.
# Prints each class's share of the samples and the top symbols of "other", so a change can be
# checked against the table in experiments/bench/README.md.
#
# Steady state only: setup (vae_build's and sit_build's memsets, the first step's page faults:
# ~69000 of them, 5 s of CPU, which made "zeroing" 9% of an 8-step profile) is the same in
# any run, so a 1-step run is recorded too and its samples are taken off symbol by symbol:
# what is left is the work of STEPS - 1 steps (`bench --steps N` runs a warm-up step and N). PROFILE_SETUP=1 keeps the setup in (the old figures).
#
#   experiments/bench/profile.sh build 8 fp32
#   experiments/bench/profile.sh build 8 bf16
build=${1:-build}
steps=${2:-8}
prec=${3:-fp32}
out=${TMPDIR:-/tmp}/repae-profile.$$
command -v perf >/dev/null || { echo "profile.sh: perf is not installed (apt-get install linux-perf)"; exit 1; }
[ -x "$build/repae" ] || { echo "profile.sh: $build/repae not found; run make first"; exit 1; }
echo "# profile.sh: $build/repae bench fm32-small, $steps steps, precision $prec, 2 threads, $(date -u +%Y-%m-%dT%H:%MZ), load before: $(cut -d' ' -f1-3 /proc/loadavg)"
# record N OUT: perf record of an N-step bench; per-symbol sample counts to OUT.txt
record() {
    OMP_NUM_THREADS=2 perf record -q -o "$2.data" -F 999 -- "$build/repae" bench --config configs/fm32-small.json \
        --steps "$1" --set vae.latent_bn=true --set train.threads=2 --set "train.precision=\"$prec\"" \
        > "$2.json" 2>/dev/null || { echo "profile.sh: perf record failed (perf_event_paranoid?)"; rm -f "$out".*; exit 1; }
    # By object and symbol: libgomp has no symbols here, its addresses are named by the library.
    perf report -q -i "$2.data" --no-children --sort dso,symbol -g none -n --percent-limit 0 2>/dev/null |
        awk '{ n = $2; dso = $3; sym = $0; sub(/^ *[0-9.]+% +[0-9]+ +[^ ]+ +\[[^]]*\] +/, "", sym);
               sub(/ +-? *-? *$/, "", sym); if (sym ~ /^0x/) sym = dso " " sym; print n "\t" sym }' > "$2.txt"
}
record "$steps" "$out.n"
tail -n 1 "$out.n.json"
if [ "${PROFILE_SETUP:-0}" = 1 ]; then : > "$out.1.txt"; echo "# setup included"
else record 1 "$out.1"; echo "# steady state: the samples of a 1-step run taken off, symbol by symbol"; fi
awk -F'\t' 'NR == FNR { one[$2] += $1; next } { d = $1 - one[$2]; if (d > 0) printf "%d\t%s\n", d, $2 }' \
    "$out.1.txt" "$out.n.txt" |
awk -F'\t' '
function cls(s) {
    if (s ~ /kernel_14x32|kernel_edge|kernel_win|kernel_rows|kernel_tile|kernel_dw32|dw_tile|bf16_kernel|^tile|sgemm_kernel|gemm_block/) return "matrix kernels";
    if (s ~ /pack|transpose|bf16_convert|bf16_pair_words|bf16_round_row|conv_windows16|conv_dweight|sgemm_[a-z]*copy|window_base/) return "matrix packing";
    if (s ~ /groupnorm|layernorm|batchnorm|^gn_|^gns_/) return "norms (+fused SiLU)";
    if (s ~ /silu|gelu/) return "activations";
    if (s ~ /softmax|attention/) return "attention softmax";
    if (s ~ /memmove|memcpy|interleave|im2col|col2im|upconv|pad_copy|patchify/) return "copies";
    if (s ~ /memset|clear_page/) return "zeroing";
    if (s ~ /adamw|ema_|clip|grad_norm|optim/) return "optimiser";
    if (s ~ /data_|shapes|fmnist|folder|rng_/) return "data";
    # (not "omp_" anywhere: the body of every parallel loop is a "name._omp_fn.N" symbol)
    if (s ~ /gomp|GOMP|futex|schedule|pvm_|irq|syscall|sched_|_raw_spin|finish_task|^omp_/) return "scheduling (OpenMP, kernel)";
    return "other";
}
{ p = $1; sym = $2; c = cls(sym); share[c] += p; total += p;
  if (c == "other") { other[sym] += p } }
END {
    for (c in share) share[c] *= 100 / total;
    for (s in other) other[s] *= 100 / total;
    for (c in share) printf "%6.1f%%  %s\n", share[c], c | "sort -rn";
    close("sort -rn");
    print "top of \"other\":";
    for (s in other) if (other[s] >= 0.5) printf "  %5.1f%%  %s\n", other[s], s | "sort -rn";
    close("sort -rn");
}'
rm -f "$out".*
