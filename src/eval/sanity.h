// sanity.h: does the evaluation network rank image sets the way a person would? The metrics are
// only worth reading if FD grows as the data degrade and if no trivial set (one grey image,
// uniform noise) comes anywhere near the data. A 1000-step run of uniform green noise once had
// the best FD of a store (ux.md M3) because nothing checked this; now `repae evaluator train`
// and `repae eval` run the ladder below and refuse an evaluator that fails it.
//
// The ladder, all FD to the held-out images `a` (n each). The degraded sets are made from b,
// other real images disjoint from a, as samples are: degrading a itself would keep its sampling
// noise and score below the floor.
//   floor     b itself: FD's bias at this n
//   blur[i]   b box-blurred, radius 1 and 2 (a near-perfect and a soft reconstruction)
//   noise[i]  b + N(0, sigma^2), sigma 0.2 and 0.5, clamped to [-1, 1]
//   grey      every pixel 0 (mid-grey in [-1, 1])
//   uniform   every pixel U(-1, 1)
// It passes when floor < blur[0] < blur[1], floor < noise[0] < noise[1], and grey and uniform
// are both above SANITY_TRIVIAL_FACTOR times the milder rungs (blur[0], noise[0]: what a decent
// VAE reconstruction looks like).
#ifndef REPAE_SANITY_H
#define REPAE_SANITY_H
#include <stdint.h>
#include "model/evaluator.h"

#define SANITY_TRIVIAL_FACTOR 3.0

typedef struct {
    long n;
    double floor, blur[2], noise[2], grey, uniform;
} EvalSanity;

// Image degradations of n images (n, C, S, S) in [-1, 1], out of place.
void images_box_blur(const float *x, long n, int C, int S, int radius, float *out);
void images_add_noise(const float *x, long n, size_t per, float sigma, uint64_t seed, float *out);

// Runs the ladder on two disjoint real sets a and b of n images (n >= 2) each.
int eval_sanity_run(Evaluator *ev, const float *a, const float *b, long n, uint64_t seed, EvalSanity *s, char *err);
// 0 if s passes, else -1 with why (ERRLEN) naming the broken rung and what to do.
int eval_sanity_check(const EvalSanity *s, char *why);
// One line "floor 0.21  blur 0.5/1.9  noise 0.8/3.1  grey 80.1  uniform 95.2" into buf.
void eval_sanity_str(const EvalSanity *s, char *buf, size_t n);

#endif
