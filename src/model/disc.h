// disc.h: the PatchGAN discriminator of the VAE's GAN term (loss.w_gan), in the layout of
// taming-transformers' NLayerDiscriminator (what REPA-E's loss/losses.py builds), with its
// state_dict names ("main.<i>.weight" ...), so that disc.safetensors loads into
// NLayerDiscriminator(input_nc=C, ndf=ch, n_layers=layers) with load_state_dict (PyTorch
// adds the BatchNorms' num_batches_tracked, which is not saved). See docs/losses.md.
//
// Layout (k 4, pad 1; m_n = min(2^n, 8)):
//   main.0        conv C -> ch, stride 2, bias                then LeakyReLU(0.2)
//   main.3n-1     conv ch m_{n-1} -> ch m_n, stride 2, no bias, main.3n BatchNorm2d, LeakyReLU
//                 for n = 1 .. layers-1
//   main.3L-1     conv ch m_{L-1} -> ch m_L, stride 1, no bias, main.3L BatchNorm2d, LeakyReLU
//   main.3L+2     conv ch m_L -> 1, stride 1, bias: the (B,1,Ho,Wo) map of patch logits
// Each stride-2 conv halves the side, each stride-1 conv takes one off it: layers 2 turns
// 32 px into 6x6 logits and 16 px into 2x2; layers 3 (taming's default) needs 24 px or more.
//
// The BatchNorms run in training mode (batch statistics, eps 1e-5, momentum 0.1), as the
// official loss module's discriminator does during training; their running statistics are
// tracked for a PyTorch user and never used here. With data parallel (reduce set) they are
// SyncBatchNorm: the statistics, and the backward's two per-channel sums, are summed over every
// process's share, so that N processes compute what one process does with the whole batch.
//
// Use: disc_forward(d, x, B, track) -> logits; disc_backward(d, dx, dlogits, wgrad) for the
// latest forward (x must still hold its values). Gradients ADD (cleared by params_zero_grad).
// A Disc must not be copied once built (its table points at its own fields).
#ifndef REPAE_DISC_H
#define REPAE_DISC_H
#include "ops/ops.h"
#include "model/params.h"
#include "base/rng.h"

#define DISC_MAXLAYERS 6
#define DISC_BN_EPS 1e-5f
#define DISC_BN_MOMENTUM 0.1f
#define DISC_SLOPE 0.2f

typedef struct {
    Conv2d c;                  // shapes at max batch
    float *w, *b;              // weight (Cout,Cin,4,4); bias (Cout) on the first and last conv only
    float *g, *beta;           // BatchNorm weight and bias (Cout), or NULL (first and last conv)
    float *rmean, *rvar;       // BatchNorm running statistics (buffers)
    float *y;                  // conv output (B,Cout,Ho,Wo); after the first conv also its LeakyReLU
    float *h;                  // BN layers: LeakyReLU(BN(y))
    float *mean, *rstd;        // (Cout) batch statistics of the latest forward
    float *uvar;               // (Cout) its unbiased variance (what the running variance tracks)
    const float *in;           // the input of the latest forward
    char name[16];             // "main.<i>" of the conv; the BN is main.<i+1>
    int bn_index;
} DiscLayer;

typedef struct {
    int C, S, layers, ch, max_batch, n;  // n convs = layers + 2
    int B;                               // batch of the latest forward
    int Ho, Wo;                          // the logits map
    DiscLayer L[DISC_MAXLAYERS + 2];
    ParamTable params;
    BufTable acts;
    Workspace ws;
    float *g0, *g1;                      // backward: the gradient ping-pong (largest activation)
    double *stat;                        // (2 x largest Cout) per-channel sums
    // Data parallel: as LatentBn (latent_bn.h). NULL: this process holds the whole batch.
    void (*reduce)(void *ctx, double *v, int n);
    void *reduce_ctx;
    int world;
} Disc;

// C channels of S x S images, batch up to max_batch. mode: ALLOC_GRAD / ALLOC_COUNT (params.h).
// Returns 0, or -1 with err for a size the layers cannot take (logits map below 1 x 1).
int disc_build(Disc *d, int C, int S, int layers, int ch, int max_batch, int mode, char *err);
void disc_free(Disc *d);
// taming's weights_init: conv weights N(0, 0.02), BN weights N(1, 0.02), BN biases 0; the two
// conv biases PyTorch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in)); running stats 0 and 1.
void disc_init(Disc *d, Rng *rng);
// logits (B,1,Ho,Wo). track: update the BN running statistics (PyTorch's train-mode forward).
const float *disc_forward(Disc *d, const float *x, int B, int track);
// dx (B,C,S,S) += dL/dx (NULL: not computed); wgrad: add the weight gradients too.
void disc_backward(Disc *d, float *dx, const float *dlogits, int wgrad);
// The latest forward's batch statistics (mean, unbiased variance of every BN): disc_stats_floats
// floats copied out by disc_stats_save; disc_track_stats applies saved ones to the running
// statistics as a tracked forward of that batch would (PyTorch's second, identical forward).
size_t disc_stats_floats(const Disc *d);
void disc_stats_save(const Disc *d, float *buf);
void disc_track_stats(Disc *d, const float *buf);

// ---- the hinge losses over n logits (means; REPA-E's / taming's) ------------------------------
// generator: -mean(logits). dlog += scale * d/dlogits.
float hinge_g_forward(const float *logits, size_t n);
void hinge_g_backward(float *dlog, size_t n, float scale);
// discriminator: 0.5 (mean relu(1 - real) + mean relu(1 + fake)), split in its two halves:
// hinge_d_real = 0.5 mean relu(1 - real), hinge_d_fake = 0.5 mean relu(1 + fake).
float hinge_d_real_forward(const float *real, size_t n);
float hinge_d_fake_forward(const float *fake, size_t n);
void hinge_d_real_backward(float *dlog, const float *real, size_t n, float scale);
void hinge_d_fake_backward(float *dlog, const float *fake, size_t n, float scale);

#endif
