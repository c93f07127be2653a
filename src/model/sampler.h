// sampler.h: integrates the probability-flow ODE (Euler or Heun) or the reverse SDE
// (Euler-Maruyama) from t=1 (noise) to t=0 (data) on linspace(1, 0, steps+1) (noise and score
// models: from sampler_t_max, below 1). The model is
// reached only through a velocity callback, so the sampler knows nothing of the SiT,
// guidance or the prediction kind (the caller folds those into the callback).
#ifndef REPAE_SAMPLER_H
#define REPAE_SAMPLER_H
#include <stddef.h>
#include "model/diffusion.h"
#include "base/rng.h"

typedef enum { SOLVER_EULER, SOLVER_HEUN, SOLVER_SDE } SolverKind;

// v (B, n) = velocity at (x (B, n), t), the same t for the whole batch.
typedef void (*VelocityFn)(void *ctx, float *v, const float *x, float t, int B);

int solver_parse(SolverKind *s, const char *name, char *err);

// Where the grid starts: t = 1 for velocity models; SAMPLER_T_MAX_EPS for noise and score
// models, whose velocity is v = alpha' z0 + sigma' eps with z0 = (x - sigma eps) / alpha: near
// t = 1 alpha -> 0 (cosine: 1.6e-3 at t = 0.999) and an error in eps is amplified ~1/alpha, so
// the first steps dominate and more accurate integration got worse (seed recipe FD 12.8 -> 20.7
// -> 22.3 at 50/200/1000 steps). At 0.99 alpha is 1.6e-2 (cosine) or 1e-2 (linear), ~10x less
// amplification, while alpha z0 is still ~1% of x_t, so starting from sigma(0.99) * noise
// (the marginal's noise part) misses little. The grid is linspace(t_max, 0, steps + 1).
#define SAMPLER_T_MAX_EPS 0.99f
float sampler_t_max(const Diffusion *d);

// x (B, n): on entry the starting noise N(0, I) (scaled by sigma(t_max) here when t_max < 1),
// on return the sample at t=0.
// scratch: at least sampler_scratch_floats(B, n). rng: the SDE's noise (unused by the ODEs).
void sampler_run(float *x, int B, size_t n, int steps, SolverKind solver, const Diffusion *d,
                 VelocityFn vel, void *ctx, Rng *rng, float *scratch);
size_t sampler_scratch_floats(int B, size_t n);

#endif
