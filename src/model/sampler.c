// sampler.c: see sampler.h.
#include "model/sampler.h"
#include "base/util.h"
#include <math.h>
#include <string.h>

int solver_parse(SolverKind *s, const char *name, char *err) {
    if (strcmp(name, "euler") == 0) *s = SOLVER_EULER;
    else if (strcmp(name, "heun") == 0) *s = SOLVER_HEUN;
    else if (strcmp(name, "sde") == 0) *s = SOLVER_SDE;
    else return seterr(err, "sample.solver: '%s' is not one of euler, heun, sde", name);
    return 0;
}

size_t sampler_scratch_floats(int B, size_t n) { return 3 * (size_t)B * n; }

float sampler_t_max(const Diffusion *d) { return d->pred == PRED_VELOCITY ? 1.0f : SAMPLER_T_MAX_EPS; }

void sampler_run(float *x, int B, size_t n, int steps, SolverKind solver, const Diffusion *d,
                 VelocityFn vel, void *ctx, Rng *rng, float *scratch) {
    size_t N = (size_t)B * n;
    float *v = scratch, *v2 = scratch + N, *xp = scratch + 2 * N;
    float tmax = sampler_t_max(d);
    if (tmax < 1.0f) {
        // x_tmax = alpha z0 + sigma eps: the noise part of the marginal (alpha z0 is ~1% of it).
        float a, s, da, ds;
        path_coeffs(d, tmax, &a, &s, &da, &ds);
        for (size_t j = 0; j < N; j++) x[j] *= s;
    }
    for (int i = 0; i < steps; i++) {
        float t = tmax * (1.0f - (float)i / steps), tn = tmax * (1.0f - (float)(i + 1) / steps);
        float h = t - tn; // > 0: we integrate backwards in time
        vel(ctx, v, x, t, B);
        if (solver == SOLVER_EULER || (solver == SOLVER_HEUN && i == steps - 1 && d->pred != PRED_VELOCITY)) {
            // Heun's corrector would evaluate a noise/score model at t=0, where it is undefined.
            for (size_t j = 0; j < N; j++) x[j] -= h * v[j];
        } else if (solver == SOLVER_HEUN) {
            for (size_t j = 0; j < N; j++) xp[j] = x[j] - h * v[j];
            vel(ctx, v2, xp, tn, B);
            for (size_t j = 0; j < N; j++) x[j] -= 0.5f * h * (v[j] + v2[j]);
        } else {
            // Reverse SDE with the same marginals: dx = [v - g^2/2 s] dt + g dW, g^2 = 2 sigma^2
            // (noise fades as t -> 0); the last step is deterministic, as SiT's sampler does.
            float a, s, da, ds;
            path_coeffs(d, t, &a, &s, &da, &ds);
            float g2 = 2.0f * s * s;
            if (i == steps - 1) {
                for (size_t j = 0; j < N; j++) x[j] -= h * v[j];
            } else {
                for (int b = 0; b < B; b++) diffusion_score_from_velocity(d, v2 + b * n, v + b * n, x + b * n, t, n);
                float sq = sqrtf(g2 * h);
                for (size_t j = 0; j < N; j++) x[j] += -h * (v[j] - 0.5f * g2 * v2[j]) + sq * rng_normal(rng);
            }
        }
    }
}
