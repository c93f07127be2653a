// latent_bn.h: REPA-E's latent BatchNorm between the VAE and the SiT (vae.latent_bn):
// BatchNorm2d over the z channels, affine off, eps 1e-4, momentum 0.1. Training normalises
// with batch statistics and updates the running ones; sampling de-normalises generated
// latents with the running statistics before decoding. Its two buffers are a parameter
// table of their own ("running_mean", "running_var"; save it under the prefix "bn."), with
// no trainable tensors. Must not be copied once built (the table points at its fields).
#ifndef REPAE_LATENT_BN_H
#define REPAE_LATENT_BN_H
#include "model/params.h"

#define LATENT_BN_EPS 1e-4f
#define LATENT_BN_MOMENTUM 0.1f

typedef struct {
    int C;
    ParamTable params;
    float *running_mean, *running_var; // (C); start at 0 and 1 as in PyTorch
    float *mean, *rstd;                // (C) cached by forward for backward
    int training;                      // batch statistics in the latest forward (LBN_TRAIN, LBN_BATCH)
    // Data-parallel training (SyncBatchNorm): sums n doubles in place over every process's
    // share of the batch, and world is how many equal shares there are. NULL (the default):
    // this process holds the whole batch, and the statistics are the plain BatchNorm's.
    void (*reduce)(void *ctx, double *v, int n);
    void *reduce_ctx;
    int world;
} LatentBn;

void latent_bn_build(LatentBn *bn, int C);
void latent_bn_free(LatentBn *bn);
// out (B,C,HW) = normalised inp. mode LBN_EVAL: running statistics; LBN_TRAIN: batch
// statistics, updating the running ones (PyTorch's train mode); LBN_BATCH: batch statistics,
// running ones untouched (align.vae_bn "batch": the VAE-side pass normalises scale-free without
// moving the statistics the SiT pass updates). The backward follows the mode.
enum { LBN_EVAL = 0, LBN_TRAIN = 1, LBN_BATCH = 2 };
void latent_bn_forward(LatentBn *bn, float *out, const float *inp, int B, int HW, int mode);
// dinp (B,C,HW) += dL/dinp for the latest forward (same inp).
void latent_bn_backward(LatentBn *bn, float *dinp, const float *dout, const float *inp, int B, int HW);
// Eval-mode inverse: out = inp * sqrt(running_var + eps) + running_mean.
void latent_bn_denormalize(const LatentBn *bn, float *out, const float *inp, int B, int HW);

#endif
