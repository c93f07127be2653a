// par.h: when a loop of the ops is worth an OpenMP team.
//
// repae runs with OMP_WAIT_POLICY=passive (src/cli/main.c), so a parallel region wakes a
// sleeping thread: on this 2-vCPU machine that costs about 6 us at best (an empty region,
// 2 threads, against 1.2 us on one thread), and far more when the other core is busy. Measured
// there (experiments/bench/README.md, session 5), SiT's modulate over 64 x 16 x 192 tokens took
// 24 us on one thread and 31 us on two, a 196608-float accumulate 20 us and 34 us. A region
// pays only when its one-thread work is well above the fork: about 50 us. These are element
// counts for that, by what a loop does per element. Loops whose results depend on how the work
// is split (parallel reductions) keep their own thresholds: changing them would change values.
#ifndef REPAE_OPS_PAR_H
#define REPAE_OPS_PAR_H

// The thresholds were chosen on a loaded machine (session 5); whether they cost wall time on a
// quiet one (loops that ran on two threads now run on one) is for a quiet A/B:
// `make BUILD=build-par SAN="-DOPS_PAR_STREAM=16384 -DOPS_PAR_SUMS=16384"` builds the old
// thresholds (experiments/bench/README.md, session 6). Values do not depend on them.
//
// One or two flops and a store per element, streaming (add, accumulate, modulate, gated
// residual, a bias broadcast, patch shuffles): ~0.1 ns an element on one thread.
#ifndef OPS_PAR_STREAM
#define OPS_PAR_STREAM ((size_t)1 << 19)
#endif
// A few flops per element plus per-column sums (the adaLN backwards, bias gradients).
#ifndef OPS_PAR_SUMS
#define OPS_PAR_SUMS ((size_t)1 << 17)
#endif

#endif
