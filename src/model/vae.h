// vae.h: the KL autoencoder (LDM/SD AutoencoderKL layout and parameter names), forward and
// backward on the op library. See docs/model.md "VAE: AutoencoderKL in LDM's layout".
//
// Parameter names are those of LDM's state_dict: "encoder.*", "decoder.*", and the two 1x1
// convs "quant_conv.*" / "post_quant_conv.*" at the top level as LDM has them (so that SD-VAE
// checkpoints in LDM naming load unchanged). Order = PyTorch state_dict order.
//
// Use (one training step, batch B <= max_batch):
//   vae_encode(v, x, B);                  // v->mean, v->logvar (B,z,h,w); clears v->dmean/dlogvar/dz
//   vae_sample(v, eps, B);                // v->z = mean + exp(logvar/2)*eps  (eps NULL: z = mean)
//   const float *xr = vae_decode(v, v->z, B);  // (B,C,H,W)
//   ... loss gradients: dxr, and terms on z / mean / logvar added into v->dz, v->dmean, v->dlogvar
//   vae_decode_backward(v, v->dz, dxr);   // decoder grads; adds dL/dz into v->dz
//   vae_sample_backward(v, v->dmean, v->dlogvar, v->dz, eps, B);
//   vae_encode_backward(v, v->dmean, v->dlogvar);  // encoder grads
// Backward uses the activations of the latest encode / decode; each forward copies its input,
// so the caller's buffers need not outlive the call. Gradients ADD into v->params.grad
// (cleared by params_zero_grad once per step). A Vae must not be copied or moved once built
// (its parameter table points at its own fields).
#ifndef REPAE_VAE_H
#define REPAE_VAE_H
#include "base/config.h"
#include "ops/ops.h"
#include "model/params.h"
#include "base/rng.h"

typedef enum { VST_CONV, VST_RES, VST_ATTN, VST_UPCONV, VST_NORMSILU } VaeStageKind;

typedef struct {
    float *w, *b;   // weight (Cout,Cin,k,k), bias (Cout)
    Conv2d c;       // shapes at max batch
} VaeConv;

typedef struct {
    float *w, *b;   // (C), (C)
    int C, HW, G;
} VaeNorm;

// One step of the encoder or decoder pipeline; its input is the previous stage's output.
typedef struct {
    VaeStageKind kind;
    char name[64];            // parameter name prefix, e.g. "decoder.up.1.block.0"
    int level;                // decoder up-level (state_dict order differs from run order), else -1
    int cin, cout, Hin, Win, Hout, Wout;
    VaeNorm norm1, norm2;     // RES: norm1, norm2; ATTN, NORMSILU: norm1
    VaeConv conv1, conv2, nin;// CONV, UPCONV: conv1; RES: conv1, conv2, nin (if has_nin); ATTN: q k v proj below
    VaeConv q, k, v, proj;
    int has_nin;
    // activations, (B, ., H, W) at max batch
    const float *in;          // set by forward
    float *n1, *m1, *r1, *h1, *m2, *r2; // RES: m/r of norm1/norm2, h1 = conv1(silu(norm1(in)));
                                        // silu(norm(.)) is recomputed in backward (ATTN: n1/m1/r1; NORMSILU: m1/r1)
    float *qa, *ka, *va, *att, *o;                     // ATTN
    float *out;
} VaeStage;

typedef struct {
    VaeConfig cfg;
    int channels, size, max_batch;
    int zc, zh, zw;            // latent shape
    ParamTable params;
    VaeStage *enc, *dec;
    int nenc, ndec;
    BufTable acts;             // every activation and scratch buffer: one allocation
    float *x;                  // (B,C,H,W) copy of the encoder input
    float *zin;                // (B,zc,zh,zw) copy of the decoder input
    float *mean, *logvar, *z;  // (B,zc,zh,zw); logvar clamped to [-30, 20]
    float *dmean, *dlogvar, *dz; // (B,zc,zh,zw) gradient accumulators for the caller's losses
    float *dmom;               // (B,2zc,zh,zw)
    float *g[2], *t[4];        // gradient ping-pong and backward temporaries (t[0], t[1] also
                               // forward scratch), max activation size each; t[3] attention-sized
    Workspace ws;
    int encB, decB;            // batch of the latest encode / decode
    // When set, the backwards call it after each stage, from the calling thread and outside any
    // parallel region, so that a data-parallel trainer can move the gradient reductions in
    // flight on while the VAE computes (train/trainer_dist.c). It must not touch the model.
    void (*progress)(void *ctx);
    void *progress_ctx;
} Vae;

// Builds the model for images (max_batch, channels, image_size, image_size); parameters are
// zero until vae_init or params_load. mode: ALLOC_GRAD allocates gradients, ALLOC_COUNT only
// sizes the tables and v->ws.cap (params.h). Returns 0 or -1 with err.
int vae_build(Vae *v, const VaeConfig *cfg, int channels, int image_size, int max_batch,
              int mode, char *err);
void vae_free(Vae *v);
// PyTorch default init: conv weights kaiming-uniform(a=sqrt(5)), i.e. U(+-1/sqrt(fan_in)),
// biases U(+-1/sqrt(fan_in)); GroupNorm weight 1, bias 0.
void vae_init(Vae *v, Rng *rng);
// Number of trainable parameters.
size_t vae_num_params(const Vae *v);

void vae_encode(Vae *v, const float *x, int B);
void vae_sample(Vae *v, const float *eps, int B);
const float *vae_decode(Vae *v, const float *z, int B);

// dz (B,zc,zh,zw) gets dL/dz added (may be NULL); decoder parameter gradients are added.
void vae_decode_backward(Vae *v, float *dz, const float *dxrec);
// dmean += dz; dlogvar += dz * eps * exp(logvar/2) / 2 (eps NULL: the z = mean path).
void vae_sample_backward(Vae *v, float *dmean, float *dlogvar, const float *dz, const float *eps, int B);
// Encoder parameter gradients from dL/dmean and dL/dlogvar (either may be NULL); the clamp
// passes no gradient where logvar was clamped. No input gradient.
void vae_encode_backward(Vae *v, const float *dmean, const float *dlogvar);

#endif
