// sit.h: the SiT denoiser (DiT/SiT layout and parameter names), forward and backward on the op
// library. See docs/model.md "SiT in DiT's layout and names".
//
// Parameter names and order are those of DiT's state_dict: pos_embed (a fixed 2-D sin-cos
// buffer, saved but never trained), x_embedder.proj.*, t_embedder.mlp.{0,2}.*,
// y_embedder.embedding_table.weight (only when num_classes > 0), blocks.{i}.*, final_layer.*.
//
// Use (batch B <= max_batch):
//   const float *v = sit_forward(s, x_t, t, labels, B);  // (B,zc,H,W)
//   const float *h = sit_tokens(s, k);                   // (B,T,D) after block k (1-based)
//   sit_backward(s, dx_t, dv, dh, k, 1);                 // param grads (+=) and dx_t (+=)
// labels (B) are in [0, num_classes]; num_classes is the null class (the training loop does
// class dropout); labels NULL means "all null"; ignored when num_classes == 0.
// Backward uses the activations of the latest forward. A Sit must not be copied or moved
// once built (its parameter table points at its own fields).
#ifndef REPAE_SIT_H
#define REPAE_SIT_H
#include "base/config.h"
#include "ops/ops.h"
#include "model/params.h"
#include "base/rng.h"

#define SIT_FREQ_DIM 256

typedef struct {
    // weights
    float *qkv_w, *qkv_b;     // (3D,D), (3D)
    float *proj_w, *proj_b;   // (D,D), (D)
    float *fc1_w, *fc1_b;     // (M,D), (M)
    float *fc2_w, *fc2_b;     // (D,M), (D)
    float *ada_w, *ada_b;     // (6D,D), (6D): shift/scale/gate for attention, then for the MLP
    // activations
    const float *in;          // (B,T,D) block input (the previous output)
    float *ada;               // (B,6D)
    float *ln1, *m1, *r1;     // (B,T,D), (B*T), (B*T)
    float *qkv;               // (B,T,3D)
    float *att;               // (B,NH,T,T)
    float *ao, *proj;         // (B,T,D)
    float *xmid;              // (B,T,D) after the attention residual
    float *ln2, *m2, *r2;
    float *fc1;               // (B,T,M)
    // modulate(ln1), modulate(ln2) and gelu(fc1), the inputs of qkv, fc1 and fc2, are not kept:
    // backward recomputes them into its scratch.
    float *fc2;               // (B,T,D)
    float *out;               // (B,T,D)
} SitBlock;

typedef struct {
    SitConfig cfg;
    int zc, H, W, p, gh, gw, T, D, NH, M, max_batch;
    ParamTable params;
    float *pos_embed;                 // (1,T,D) buffer
    float *xe_w, *xe_b;               // (D,zc,p,p), (D)
    float *t0_w, *t0_b, *t2_w, *t2_b; // (D,256), (D), (D,D), (D)
    float *y_table;                   // (num_classes+1, D) or NULL
    SitBlock *blocks;
    float *fl_w, *fl_b;               // final_layer.linear (p*p*zc, D)
    float *fa_w, *fa_b;               // final_layer.adaLN_modulation.1 (2D, D)
    // activations
    BufTable acts;
    int B;                            // batch of the latest forward
    int *labels;                      // (B) copy
    float *tin;                       // (B) copy
    float *patches;                   // (B,T,zc*p*p)
    float *x0;                        // (B,T,D) embedded tokens + pos_embed
    float *tfreq, *th, *ths, *temb;   // (B,256), (B,D) x3
    float *c, *sc;                    // (B,D): conditioning and silu(conditioning)
    float *fada;                      // (B,2D)
    float *lnf, *mf, *rf, *modf;      // final norm (B,T,D), (B*T) x2, (B,T,D)
    float *lin;                       // (B,T,p*p*zc)
    float *out;                       // (B,zc,H,W)
    // gradient scratch
    float *dX[2], *s1, *s2, *s3;      // (B,T,D) x2, (B,T,D), (B,T,max(D,M)), (B,T,max(M,3D))
    float *dada, *dsc, *dc, *dt1, *dt2; // (B,6D), (B,D) x4
    float *dlin, *dpatch;             // (B,T,p*p*zc) x2
    float *scratch;                   // attention backward
    int grads;                        // parameter gradients wanted in the current backward
    // When set, sit_backward (with parameter gradients) reports each piece of params.grad it
    // has finished, so that a data-parallel trainer can start reducing it while the backward
    // goes on (train/trainer.c). The pieces, each once per backward, in this order whatever
    // the call: the final layer, block depth-1 down to block 0, then the embedders (the front
    // of the table); a piece the call does not reach (dout NULL leaves the final layer and
    // the blocks after k) is reported first, as it is final too.
    void (*grad_ready)(void *ctx, float *grad, size_t n);
    void *grad_ready_ctx;
    int bf16;                         // linears in bf16 (train.precision, set by model_build)
} Sit;

// Builds the model for latents (max_batch, zc, H, W); parameters are zero (pos_embed filled)
// until sit_init or params_load. mode: ALLOC_GRAD allocates gradients, ALLOC_COUNT only sizes
// the tables (params.h). Returns 0 or -1 with err.
int sit_build(Sit *s, const SitConfig *cfg, int zc, int H, int W, int max_batch, int mode,
              char *err);
void sit_free(Sit *s);
// DiT's initialize_weights: xavier-uniform linears (x_embedder.proj as a flattened linear),
// zero biases, normal(0.02) for both t_embedder linears and the label table, zeros for every
// adaLN_modulation and for final_layer.linear; pos_embed the 2-D sin-cos table.
void sit_init(Sit *s, Rng *rng);
size_t sit_num_params(const Sit *s); // trainable (pos_embed excluded)

const float *sit_forward(Sit *s, const float *x, const float *t, const int *labels, int B);
// The forward up to block k only (REPA-E's align_only pass breaks there): returns its tokens
// (B,T,D); later blocks and the final layer are not run, so the only backward of it is
// sit_backward with dout NULL (which walks blocks 1..k).
const float *sit_forward_tokens(Sit *s, const float *x, const float *t, const int *labels, int B, int k);
// Tokens after block k (1-based, REPA's encoder_depth) of the latest forward: (B,T,D).
const float *sit_tokens(const Sit *s, int k);
// Backward of the latest forward. dout (B,zc,H,W) may be NULL; dtok (B,T,D) (may be NULL) is
// added to the gradient of the output of block k (1 <= k <= depth). With dout NULL only blocks
// 1..k are walked. dx (B,zc,H,W) gets dL/dx_t added (NULL: not computed). param_grads 0 leaves
// every parameter gradient untouched (REPA-E's VAE-side alignment path).
void sit_backward(Sit *s, float *dx, const float *dout, const float *dtok, int k, int param_grads);

// The MAE 2-D sin-cos positional embedding for a gh x gw grid: out (gh*gw, D), token n = i*gw + j
// gets [sin(j w), cos(j w), sin(i w), cos(i w)], w_k = 10000^(-k/(D/4)), k < D/4.
void sit_pos_embed(float *out, int D, int gh, int gw);

#endif
