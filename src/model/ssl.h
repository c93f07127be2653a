// ssl.h: the self-supervised REPA target encoder (align.target "ssl", docs/encoder.md): the
// Encoder of encoder.h trained WITHOUT labels by VICReg (Bardes et al. 2022) on two augmented
// views of each image, with a global term on the pooled features and a dense term (as in
// VICRegL) on the per-token features of matching positions, so that the targets REPA aligns
// to carry per-image, per-position information and not the class alone.
//
// Why VICReg: at the small batches two cores afford (64 images, 128 views) contrastive losses
// (SimCLR) have few negatives, and BYOL/DINO need a momentum teacher and collapse-avoiding
// tricks tuned for large runs; VICReg's variance and covariance terms keep every feature
// dimension alive with no negatives and no teacher, and the same loss works row-wise on the
// dense pairs.
//
// VICReg on rows z1, z2 (N, D) (the official vicreg/main.py; the rows are the tokens passed
// through an expander MLP, F -> 128 -> 128 -> 128, trained with the encoder and discarded):
//   inv = mean_{n,d} (z1 - z2)^2
//   var = (mean_d relu(1 - std_d(z1)) + mean_d relu(1 - std_d(z2))) / 2,  std = sqrt(Var_unbiased + eps)
//   cov = sum_{i != j} C(z1)_ij^2 / D + sum_{i != j} C(z2)_ij^2 / D,  C = centred z^T z / (N - 1)
//   loss = w.inv * inv + w.var * var + w.cov * cov   (25, 25, 1, eps 1e-4)
//
// The features: the encoder's stage picked by repa_pick_stage for the SiT token grid g x g,
// average-pooled onto it (what repa_targets gives the trainer). Global rows: the mean over the
// g*g tokens of each view (B rows). Dense rows: for each token cell of view A, the cell of view
// B that sees the same image point (from the two views' known crop/flip/translate), when it is
// inside view B (M <= B*g*g rows). total = global + w_dense * dense.
#ifndef REPAE_SSL_H
#define REPAE_SSL_H
#include "model/encoder.h"
#include "model/repa.h"

typedef struct {
    float inv, var, cov, eps;
} VicregWeights;
VicregWeights vicreg_default(void);

// Returns the loss; parts (may be NULL) gets inv, var, cov unweighted. dz1, dz2 (may be NULL)
// are overwritten with scale * d(loss)/d(z).
float vicreg_loss(const float *z1, const float *z2, int N, int D, const VicregWeights *w, float scale, float *dz1,
                  float *dz2, float parts[3]);

// ---- views ------------------------------------------------------------------------------------
// One augmented view of one image: output pixel centre u (in pixels, 0..S) along each axis
// samples the source at y0 + u * sy (rows) and x0 + uf * sx (columns, uf = S - u when flipped),
// bilinear with the edge pixels extended; then intensity v -> gain[c] * v + bias[c] (clamped to
// [-1, 1]) and, for colour images, optionally grey.
typedef struct {
    float y0, x0, sy, sx;
    int flip, grey;
    float gain[3], bias[3];
} SslView;

typedef struct {
    float min_scale;   // crop side as a fraction of the image side: [min_scale, 1]
    float shift;       // extra translation of the crop, in pixels, either way
    float flip_p;      // horizontal flip probability
    float gain, bias;  // intensity gain in [1-gain, 1+gain], offset in [-bias, bias]
    float chroma;      // per-channel gain spread on top of gain (colour images)
    float grey_p;      // probability of a grey view (colour images)
} SslAugment;
SslAugment ssl_augment_default(void);

void ssl_view_draw(SslView *v, int S, const SslAugment *a, Rng *r);
// One view of one image x (C,S,S) into out (C,S,S).
void ssl_view_apply(const SslView *v, const float *x, int C, int S, float *out);
// Token cell of view b matching cell n of view a (g x g cells over S pixels), or -1 outside b.
int ssl_view_match(const SslView *a, const SslView *b, int S, int g, int n);

// ---- training ---------------------------------------------------------------------------------
typedef void (*SslProgress)(void *ctx, int step, int steps, float loss, const float parts[4]);
typedef struct {
    int steps, batch;       // batch images, 2*batch views per step (the encoder's max_batch >= 2*batch)
    float lr, w_dense;
    int grid;               // SiT token grid side
    int expander;           // width of the expander MLP VICReg sees (0: VICReg on the tokens)
    uint64_t seed;
    int log_every;
    SslAugment aug;
    VicregWeights vic;
    SslProgress progress;   // parts: global inv, var, cov, dense loss (running means)
    void *ctx;
} SslTrainOpts;
SslTrainOpts ssl_train_default(int grid);

// The whole objective on a batch already in views a, b. ex (may be NULL): the expander MLP
// (repa.h's Projector shape: F -> E -> E -> E with SiLU) that VICReg's rows go through; its
// parameter gradients are added too.
// Views a, b (B,C,S,S each) with their SslView:
// forward of both (one encoder pass of 2B images), the loss, and with backward != 0 the
// parameter gradients added into e->params.grad. parts (may be NULL): global inv, var, cov and
// the dense loss. Returns the total.
float ssl_step_loss(Encoder *e, Projector *ex, const float *xa, const float *xb, const SslView *va, const SslView *vb, int B,
                    int grid, float w_dense, const VicregWeights *w, int backward, float parts[4], char *err);
// The same on explicit dense pairs: token pa[k] (b*T + n) of views a against token pb[k] of
// views b, k < M (what ssl_step_loss builds from ssl_view_match; tests give their own).
float ssl_pairs_loss(Encoder *e, Projector *ex, const float *xa, const float *xb, int B, int grid, const int *pa, const int *pb,
                     int M, float w_dense, const VicregWeights *w, int backward, float parts[4], char *err);
// AdamW with cosine decay over o->steps batches of ds (labels unused). Returns the final running
// loss, or NAN with err when the encoder's layout does not fit the grid or the batch.
float ssl_train(Encoder *e, const Dataset *ds, const SslTrainOpts *o, char *err);

#endif
