// perceptual.h: a perceptual reconstruction distance, a stand-in for LPIPS (docs/encoder.md).
// LPIPS (Zhang et al. 2018) compares a pretrained VGG/AlexNet's stage features with learned
// per-channel weights; those weights are not available here, so this is the same construction
// on the frozen self-supervised target encoder (ssl.h) with every channel weight 1:
//   d(x, xr) = mean_b sum_s mean_{h,w} sum_c (xhat_s - rhat_s)^2,
//   xhat_s = f_s(x) / (|f_s(x)|_c + 1e-10)   (LPIPS' normalize_tensor: unit length over channels
//                                             at each position), f_s the encoder's stage outputs.
// It is NOT LPIPS: no ImageNet features, no learned weights, no calibration to human judgments;
// on small grey or toy images it measures how differently the target encoder sees xr and x.
// Gradients go to xr only (x is the data; the encoder's weights are frozen).
//
// Trainer wiring (loss.w_perc, once per run; C, S the images, B the batch):
//   Perceptual pc;  perceptual_open(&pc, path, C, S, B, err)  (or perceptual_build(&pc, &enc, B, err))
//   per step:  float lp = perceptual_forward(&pc, x, xr, B);   perceptual_backward(&pc, dxr, w_perc);
//   where dxr is the VAE decoder output's gradient buffer (accumulated: +=).
#ifndef REPAE_PERCEPTUAL_H
#define REPAE_PERCEPTUAL_H
#include "model/encoder.h"

typedef struct {
    Encoder enc;                       // a frozen copy, with gradient scratch for the input gradient
    int B, ns;                         // latest batch, stages used
    float *xhat[ENC_MAXLEVELS];        // (B,C,H,W) normalised stage features of x
    float *rhat[ENC_MAXLEVELS];        // of xr
    float *rnorm[ENC_MAXLEVELS];       // (B,H,W) channel norms of xr's features
    float *dst[ENC_MAXLEVELS];         // (B,C,H,W) gradient scratch
    BufTable bufs;
} Perceptual;

// From an encoder in memory (its weights are copied) or from a file (encoder_load). max_batch
// images per call. Returns 0 or -1 with err.
int perceptual_build(Perceptual *p, const Encoder *src, int max_batch, char *err);
int perceptual_open(Perceptual *p, const char *path, int channels, int size, int max_batch, char *err);
void perceptual_free(Perceptual *p);
// d(x, xr) of B images (B,C,S,S) each, x the clean images and xr the reconstructions.
float perceptual_forward(Perceptual *p, const float *x, const float *xr, int B);
// dxr (B,C,S,S) += weight * d(d)/d(xr) of the latest forward.
void perceptual_backward(Perceptual *p, float *dxr, float weight);

#endif
