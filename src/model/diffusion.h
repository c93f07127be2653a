// diffusion.h: interpolants, time sampling, the prediction losses and their conversion to a
// velocity for sampling. Time runs from t=0 (data) to t=1 (noise), the REPA/REPA-E convention.
//   x_t = alpha(t) z0 + sigma(t) eps,   v = alpha'(t) z0 + sigma'(t) eps
#ifndef REPAE_DIFFUSION_H
#define REPAE_DIFFUSION_H
#include <stddef.h>
#include "base/rng.h"

typedef enum { PATH_LINEAR, PATH_COSINE } PathKind;
typedef enum { PRED_VELOCITY, PRED_NOISE, PRED_SCORE } PredKind;
typedef enum { TSAMPLE_UNIFORM, TSAMPLE_LOGIT_NORMAL } TSampleKind;

typedef struct {
    PathKind path;
    PredKind pred;
    TSampleKind tsample;
    float t_min; // 1e-3 for noise and score models (the loss divides by nothing, but sigma->0 is
                 // where their targets carry no signal), 0 for velocity
} Diffusion;

// Parses the config strings; returns 0 or -1 with err naming the bad value.
int diffusion_init(Diffusion *d, const char *path, const char *prediction, const char *t_sampling, char *err);

void path_coeffs(const Diffusion *d, float t, float *alpha, float *sigma, float *dalpha, float *dsigma);
float sample_t(const Diffusion *d, Rng *r);

// Builds x_t (n elements per sample, B samples) from z0 and eps at times t (B).
void diffusion_make_xt(const Diffusion *d, float *xt, const float *z0, const float *eps, const float *t,
                       int B, size_t n);

// The prediction loss: mean over all B*n elements of (w(t) out - target)^2 with
//   velocity: w = 1, target = v;  noise: w = 1, target = eps;  score: w = sigma, target = -eps
// (the score loss is mean (sigma s + eps)^2, bounded as sigma -> 0).
float diffusion_loss_forward(const Diffusion *d, const float *out, const float *z0, const float *eps,
                             const float *t, int B, size_t n);
// Adds dloss * dL/dout into dout, and, when dz0 is not NULL, dloss * dL/dz0 through both x_t
// (given dxt, the gradient that reached the network input, already computed by the caller)
// and the target (the velocity target depends on z0). dxt may be NULL if nothing flowed back.
void diffusion_loss_backward(const Diffusion *d, float *dout, float *dz0, const float *dxt,
                             const float *out, const float *z0, const float *eps, const float *t,
                             int B, size_t n, float dloss);

// Converts one sample's network output at (x, t) into the probability-flow velocity, in place
// of v (n elements). For noise and score models t is clamped to [1e-3, 1 - 1e-3]: the
// conversion divides by alpha, which is 0 at t = 1 (SiT clamps the same way with sample_eps).
void diffusion_to_velocity(const Diffusion *d, float *v, const float *out, const float *x, float t, size_t n);
// The score s(x, t) implied by a velocity (for the SDE sampler); t is clamped to >= 1e-3.
void diffusion_score_from_velocity(const Diffusion *d, float *s, const float *v, const float *x, float t, size_t n);

#endif
