// sampler.h: integrates the probability-flow ODE (Euler or Heun) or the reverse SDE
// (Euler-Maruyama) from t=1 (noise) to t=0 (data) on linspace(1, 0, steps+1). The model is
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

// x (B, n): on entry the starting noise, on return the sample at t=0.
// scratch: at least sampler_scratch_floats(B, n). rng: the SDE's noise (unused by the ODEs).
void sampler_run(float *x, int B, size_t n, int steps, SolverKind solver, const Diffusion *d,
                 VelocityFn vel, void *ctx, Rng *rng, float *scratch);
size_t sampler_scratch_floats(int B, size_t n);

#endif
