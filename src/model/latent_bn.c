// latent_bn.c: see latent_bn.h.
#include "model/latent_bn.h"
#include "ops/ops.h"
#include "base/util.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

void latent_bn_build(LatentBn *bn, int C) {
    memset(bn, 0, sizeof *bn);
    bn->C = C;
    params_init(&bn->params);
    params_add(&bn->params, &bn->running_mean, 0, "running_mean", 1, C);
    params_add(&bn->params, &bn->running_var, 0, "running_var", 1, C);
    params_alloc(&bn->params, 0);
    for (int c = 0; c < C; c++) bn->running_var[c] = 1.0f;
    bn->mean = calloc_check(2 * (size_t)C, sizeof(float), __FILE__, __LINE__);
    bn->rstd = bn->mean + C;
}

void latent_bn_free(LatentBn *bn) {
    params_free(&bn->params);
    free(bn->mean);
    memset(bn, 0, sizeof *bn);
}

// The synchronised training forward: the statistics of the global batch (every process's
// share), computed as batchnorm_forward computes them for one batch (the mean first, then the
// squared deviations from it, in double), with the per-share sums reduced in between.
static void sync_forward(LatentBn *bn, float *out, const float *inp, int B, int HW, int keep) {
    int C = bn->C;
    size_t cs = (size_t)C * HW;
    double *acc = xcalloc(2 * (size_t)C, sizeof(double)), n = (double)B * HW * bn->world;
    for (int c = 0; c < C; c++)
        for (int b = 0; b < B; b++) {
            const float *x = inp + b * cs + (size_t)c * HW;
            for (int i = 0; i < HW; i++) acc[c] += x[i];
        }
    bn->reduce(bn->reduce_ctx, acc, C);
    for (int c = 0; c < C; c++) {
        double dm = acc[c] / n;
        for (int b = 0; b < B; b++) {
            const float *x = inp + b * cs + (size_t)c * HW;
            for (int i = 0; i < HW; i++) {
                double d = x[i] - dm;
                acc[C + c] += d * d;
            }
        }
    }
    bn->reduce(bn->reduce_ctx, acc + C, C);
    for (int c = 0; c < C; c++) {
        double dm = acc[c] / n, var = acc[C + c] / n, unbiased = n > 1 ? acc[C + c] / (n - 1) : var;
        float m = (float)dm, r = (float)(1.0 / sqrt(var + LATENT_BN_EPS));
        if (!keep) {
            bn->running_mean[c] = (1.0f - LATENT_BN_MOMENTUM) * bn->running_mean[c] + LATENT_BN_MOMENTUM * m;
            bn->running_var[c] = (1.0f - LATENT_BN_MOMENTUM) * bn->running_var[c] + LATENT_BN_MOMENTUM * (float)unbiased;
        }
        bn->mean[c] = m;
        bn->rstd[c] = r;
        for (int b = 0; b < B; b++) {
            const float *x = inp + b * cs + (size_t)c * HW;
            float *y = out + b * cs + (size_t)c * HW;
            for (int i = 0; i < HW; i++) y[i] = (x[i] - m) * r;
        }
    }
    free(acc);
}

// The synchronised backward: mean(dy) and mean(dy * xhat) over the global batch.
static void sync_backward(LatentBn *bn, float *dinp, const float *dout, const float *inp, int B, int HW) {
    int C = bn->C;
    size_t cs = (size_t)C * HW;
    double *acc = xcalloc(2 * (size_t)C, sizeof(double)), n = (double)B * HW * bn->world;
    for (int c = 0; c < C; c++) {
        float m = bn->mean[c], r = bn->rstd[c];
        for (int b = 0; b < B; b++) {
            size_t off = b * cs + (size_t)c * HW;
            for (int i = 0; i < HW; i++) {
                acc[c] += dout[off + i];
                acc[C + c] += (double)dout[off + i] * ((inp[off + i] - m) * r);
            }
        }
    }
    bn->reduce(bn->reduce_ctx, acc, 2 * C);
    for (int c = 0; c < C; c++) {
        float m = bn->mean[c], r = bn->rstd[c], a = (float)(acc[c] / n), bb = (float)(acc[C + c] / n);
        for (int b = 0; b < B; b++) {
            size_t off = b * cs + (size_t)c * HW;
            for (int i = 0; i < HW; i++) dinp[off + i] += r * (dout[off + i] - a - (inp[off + i] - m) * r * bb);
        }
    }
    free(acc);
}

void latent_bn_forward(LatentBn *bn, float *out, const float *inp, int B, int HW, int mode) {
    bn->training = mode != LBN_EVAL;
    int keep = mode == LBN_BATCH; // batch statistics without touching the running ones
    if (bn->training && bn->reduce) { sync_forward(bn, out, inp, B, HW, keep); return; }
    batchnorm_forward(out, bn->mean, bn->rstd, keep ? NULL : bn->running_mean, keep ? NULL : bn->running_var,
                      inp, B, bn->C, HW, LATENT_BN_EPS, LATENT_BN_MOMENTUM, bn->training);
}

void latent_bn_backward(LatentBn *bn, float *dinp, const float *dout, const float *inp, int B, int HW) {
    if (bn->training && bn->reduce) {
        if (dinp) sync_backward(bn, dinp, dout, inp, B, HW);
        return;
    }
    batchnorm_backward(dinp, dout, inp, bn->mean, bn->rstd, B, bn->C, HW, bn->training);
}

void latent_bn_denormalize(const LatentBn *bn, float *out, const float *inp, int B, int HW) {
    batchnorm_denormalize(out, inp, bn->running_mean, bn->running_var, B, bn->C, HW, LATENT_BN_EPS);
}
