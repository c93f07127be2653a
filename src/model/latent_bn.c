// latent_bn.c: see latent_bn.h.
#include "model/latent_bn.h"
#include "ops/ops.h"
#include "base/util.h"
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

void latent_bn_forward(LatentBn *bn, float *out, const float *inp, int B, int HW, int mode) {
    bn->training = mode != LBN_EVAL;
    int keep = mode == LBN_BATCH; // batch statistics without touching the running ones
    batchnorm_forward(out, bn->mean, bn->rstd, keep ? NULL : bn->running_mean, keep ? NULL : bn->running_var,
                      inp, B, bn->C, HW, LATENT_BN_EPS, LATENT_BN_MOMENTUM, bn->training);
}

void latent_bn_backward(LatentBn *bn, float *dinp, const float *dout, const float *inp, int B, int HW) {
    batchnorm_backward(dinp, dout, inp, bn->mean, bn->rstd, B, bn->C, HW, bn->training);
}

void latent_bn_denormalize(const LatentBn *bn, float *out, const float *inp, int B, int HW) {
    batchnorm_denormalize(out, inp, bn->running_mean, bn->running_var, B, bn->C, HW, LATENT_BN_EPS);
}
