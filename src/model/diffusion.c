// diffusion.c: see diffusion.h.
#include "model/diffusion.h"
#include "base/util.h"
#include <math.h>
#include <string.h>

#define HALF_PI 1.5707963267948966

int diffusion_init(Diffusion *d, const char *path, const char *prediction, const char *t_sampling, char *err) {
    memset(d, 0, sizeof *d);
    if (strcmp(path, "linear") == 0) d->path = PATH_LINEAR;
    else if (strcmp(path, "cosine") == 0) d->path = PATH_COSINE;
    else return seterr(err, "diffusion.path: '%s' is not one of linear, cosine", path);
    if (strcmp(prediction, "velocity") == 0) d->pred = PRED_VELOCITY;
    else if (strcmp(prediction, "noise") == 0) d->pred = PRED_NOISE;
    else if (strcmp(prediction, "score") == 0) d->pred = PRED_SCORE;
    else return seterr(err, "diffusion.prediction: '%s' is not one of velocity, noise, score", prediction);
    if (strcmp(t_sampling, "uniform") == 0) d->tsample = TSAMPLE_UNIFORM;
    else if (strcmp(t_sampling, "logit-normal") == 0) d->tsample = TSAMPLE_LOGIT_NORMAL;
    else return seterr(err, "diffusion.t_sampling: '%s' is not one of uniform, logit-normal", t_sampling);
    d->t_min = d->pred == PRED_VELOCITY ? 0.0f : 1e-3f;
    return 0;
}

void path_coeffs(const Diffusion *d, float t, float *alpha, float *sigma, float *dalpha, float *dsigma) {
    if (d->path == PATH_LINEAR) {
        *alpha = 1.0f - t; *sigma = t; *dalpha = -1.0f; *dsigma = 1.0f;
    } else {
        double a = HALF_PI * t;
        *alpha = (float)cos(a); *sigma = (float)sin(a);
        *dalpha = (float)(-HALF_PI * sin(a)); *dsigma = (float)(HALF_PI * cos(a));
    }
}

float sample_t(const Diffusion *d, Rng *r) {
    float t;
    if (d->tsample == TSAMPLE_UNIFORM) t = rng_uniform(r);
    else t = 1.0f / (1.0f + expf(-rng_normal(r))); // logit-normal(0, 1), as in SD3 / REPA-E
    return d->t_min + (1.0f - d->t_min) * t;
}

void diffusion_make_xt(const Diffusion *d, float *xt, const float *z0, const float *eps, const float *t,
                       int B, size_t n) {
    for (int b = 0; b < B; b++) {
        float a, s, da, ds;
        path_coeffs(d, t[b], &a, &s, &da, &ds);
        const float *z = z0 + b * n, *e = eps + b * n;
        float *x = xt + b * n;
        for (size_t i = 0; i < n; i++) x[i] = a * z[i] + s * e[i];
    }
}

// Per-sample weight on the output and the target's coefficients on z0 and eps.
static void loss_terms(const Diffusion *d, float t, float *w, float *cz, float *ce) {
    float a, s, da, ds;
    path_coeffs(d, t, &a, &s, &da, &ds);
    if (d->pred == PRED_VELOCITY) { *w = 1; *cz = da; *ce = ds; }
    else if (d->pred == PRED_NOISE) { *w = 1; *cz = 0; *ce = 1; }
    else { *w = s; *cz = 0; *ce = -1; }
}

float diffusion_loss_forward(const Diffusion *d, const float *out, const float *z0, const float *eps,
                             const float *t, int B, size_t n) {
    double sum = 0;
    for (int b = 0; b < B; b++) {
        float w, cz, ce;
        loss_terms(d, t[b], &w, &cz, &ce);
        const float *o = out + b * n, *z = z0 + b * n, *e = eps + b * n;
        double sb = 0;
        for (size_t i = 0; i < n; i++) {
            float r = w * o[i] - (cz * z[i] + ce * e[i]);
            sb += (double)r * r;
        }
        sum += sb;
    }
    return (float)(sum / ((double)B * n));
}

void diffusion_loss_backward(const Diffusion *d, float *dout, float *dz0, const float *dxt,
                             const float *out, const float *z0, const float *eps, const float *t,
                             int B, size_t n, float dloss) {
    float k = 2.0f * dloss / (float)((double)B * n);
    for (int b = 0; b < B; b++) {
        float w, cz, ce, a, s, da, ds;
        loss_terms(d, t[b], &w, &cz, &ce);
        path_coeffs(d, t[b], &a, &s, &da, &ds);
        const float *o = out + b * n, *z = z0 + b * n, *e = eps + b * n;
        for (size_t i = 0; i < n; i++) {
            float r = k * (w * o[i] - (cz * z[i] + ce * e[i]));
            if (dout) dout[b * n + i] += w * r;
            if (dz0) dz0[b * n + i] += -cz * r + (dxt ? a * dxt[b * n + i] : 0.0f);
        }
    }
}

static float clamp_t(const Diffusion *d, float t) {
    if (d->pred == PRED_VELOCITY) return t;
    return t < 1e-3f ? 1e-3f : (t > 1.0f - 1e-3f ? 1.0f - 1e-3f : t);
}

void diffusion_to_velocity(const Diffusion *d, float *v, const float *out, const float *x, float t, size_t n) {
    if (d->pred == PRED_VELOCITY) { if (v != out) memcpy(v, out, n * sizeof(float)); return; }
    float a, s, da, ds;
    path_coeffs(d, clamp_t(d, t), &a, &s, &da, &ds);
    // E[eps|x] from the output, then z0 = (x - sigma eps)/alpha and v = alpha' z0 + sigma' eps.
    for (size_t i = 0; i < n; i++) {
        float e = d->pred == PRED_NOISE ? out[i] : -s * out[i]; // score s = -eps/sigma
        float z = (x[i] - s * e) / a;
        v[i] = da * z + ds * e;
    }
}

void diffusion_score_from_velocity(const Diffusion *d, float *sc, const float *v, const float *x, float t, size_t n) {
    float a, s, da, ds;
    path_coeffs(d, t < 1e-3f ? 1e-3f : t, &a, &s, &da, &ds);
    // Solve x = a z + s e, v = a' z + s' e for e; det = a s' - a' s is 1 (linear) or pi/2
    // (cosine) for every t, so only sigma -> 0 needs the clamp. score = -E[e|x] / sigma.
    float det = a * ds - da * s;
    for (size_t i = 0; i < n; i++) sc[i] = -((a * v[i] - da * x[i]) / det) / s;
}
