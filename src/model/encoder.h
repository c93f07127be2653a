// encoder.h: a small CNN classifier built from the op library. Two uses:
//   - REPA's frozen target encoder: trained as a classifier on the training labels, then its
//     feature map at one level gives one target vector per SiT token (src/model/repa.h);
//   - the evaluation network of the generation metrics (src/model/evaluator.h), a second instance with
//     another layout and seed: penultimate features for FD, class probabilities for IS/accuracy.
//
// Layout (PyTorch names, state_dict order):
//   stages.{i}.{j}.conv   3x3 conv, padding 1; stride 2 for j = 0 of every stage i > 0
//   stages.{i}.{j}.norm   GroupNorm (eps 1e-5, affine), then SiLU
//   head                  Linear(ch[last], num_classes) on the global average pool
// Stage i works at resolution size / 2^i with ch[i] channels. The pooled vector (B, ch[last])
// is the penultimate feature; stage outputs are the feature maps.
//
// Files: safetensors with these names and the layout in the metadata ("repae.kind" =
// "encoder", "repae.layout" = "C=1 S=32 ch=16,32,64 convs=2 groups=8 classes=10"), so any file
// of the same layout loads; files without the metadata get the layout from the tensor shapes
// with groups = the default rule below.
#ifndef REPAE_ENCODER_H
#define REPAE_ENCODER_H
#include "data/data.h"
#include "ops/ops.h"
#include "model/params.h"
#include "base/rng.h"

#define ENC_MAXLEVELS 6
#define ENC_MAXCONVS 3

typedef struct {
    int channels, size;        // input images (C, S, S)
    int nlevels;
    int ch[ENC_MAXLEVELS];
    int convs;                 // 3x3 convs per stage
    int groups;                // GroupNorm groups, capped at each channel count
    int num_classes;
} EncoderLayout;

typedef struct {
    float *w, *b;              // conv (Cout,Cin,3,3), (Cout)
    float *gw, *gb;            // norm (Cout), (Cout)
    Conv2d c;                  // at max batch
    int G;
    const float *in;           // input of the latest forward
    float *conv, *norm, *mean, *rstd, *out; // (B,Cout,Ho,Wo), ..., (B*G) x2, (B,Cout,Ho,Wo)
} EncUnit;

typedef struct {
    EncoderLayout L;
    int max_batch, B;
    ParamTable params;
    EncUnit u[ENC_MAXLEVELS * ENC_MAXCONVS];
    int nu;
    float *head_w, *head_b;    // (K, ch[last]), (K)
    BufTable acts;
    float *x;                  // (B,C,S,S) copy of the input
    float *pool;               // (B, ch[last]) penultimate features
    float *logits, *probs;     // (B, K)
    float *g[2], *gt;          // gradient scratch, max activation size
    float *dpool, *dlogits;
    Workspace ws;
} Encoder;

// Default layouts: the target encoder and the (deliberately different) evaluator.
EncoderLayout encoder_layout_default(int channels, int size, int num_classes);
EncoderLayout evaluator_layout_default(int channels, int size, int num_classes);
// "C=1 S=32 ch=16,32,64 convs=2 groups=8 classes=10" and back.
void encoder_layout_str(const EncoderLayout *L, char *buf, size_t n);
int encoder_layout_parse(EncoderLayout *L, const char *s, char *err);

// mode: ALLOC_GRAD allocates gradients (and their scratch), ALLOC_COUNT only sizes the tables
// and e->ws.cap (params.h).
int encoder_build(Encoder *e, const EncoderLayout *L, int max_batch, int mode, char *err);
void encoder_free(Encoder *e);
// Kaiming-uniform-like convs (PyTorch's default init), zero biases, unit GroupNorm.
void encoder_init(Encoder *e, Rng *rng);

// Forward of B <= max_batch images (B,C,S,S): fills e->pool, e->logits, e->probs and every
// stage output. Returns the logits (B, K).
const float *encoder_forward(Encoder *e, const float *x, int B);
// Output of stage i of the latest forward: (B, ch[i], S/2^i, S/2^i).
const float *encoder_stage_out(const Encoder *e, int stage);
int encoder_stage_size(const Encoder *e, int stage); // S / 2^stage
// Mean cross entropy of the latest forward against labels (B); with backward != 0 also adds
// its parameter gradients (scaled by 1) into e->params.grad.
float encoder_xent(Encoder *e, const int *labels, int backward);

// Backward from features, no labels needed (the self-supervised objective, src/model/ssl.h, and
// the perceptual term, src/model/perceptual.h): dstage[i] (may be NULL, or have NULL entries) is
// d(loss)/d(stage i's output) (B, ch[i], S/2^i, S/2^i) of the latest forward, dpool (may be NULL)
// d(loss)/d(e->pool). dx (may be NULL) += d(loss)/d(input images); with param_grads != 0 also
// e->params.grad += the parameter gradients. Needs the gradient scratch (built with ALLOC_GRAD).
void encoder_backward(Encoder *e, const float *const *dstage, const float *dpool, float *dx, int param_grads);

// Files. meta_dataset is recorded (may be NULL); accuracy < 0 is not recorded.
int encoder_save(const Encoder *e, const char *path, const char *kind, const char *dataset, double accuracy,
                 char *err);
// The same with extra metadata: nmeta (key, value) pairs in meta[2*i], meta[2*i+1].
int encoder_save_meta(const Encoder *e, const char *path, const char *kind, const char *dataset, double accuracy,
                      const char *const *meta, int nmeta, char *err);
// Builds e (without gradients) from a file: layout from its metadata or its shapes, checked
// against the images it will see (channels, size). kind (32 bytes, may be NULL) gets the
// recorded kind ("encoder": supervised REPA target, "ssl-encoder": self-supervised REPA target,
// "evaluator", or "" when the file has none).
int encoder_load(Encoder *e, const char *path, int channels, int size, int max_batch, char *kind, char *err);
// The same with a build mode (ALLOC_GRAD: the gradient scratch encoder_backward needs).
int encoder_load_mode(Encoder *e, const char *path, int channels, int size, int max_batch, int mode, char *kind,
                      char *err);

// Default file of a trained network: $REPAE_HOME/<kind>-<dataset>.safetensors, else
// $HOME/.cache/repae/<kind>-<dataset>.safetensors (kind "encoder", "ssl-encoder" or
// "evaluator"). Returns buf.
char *encoder_default_path(const char *kind, const char *dataset, char *buf, size_t n);

// Classifier training with AdamW over a shuffled stream of the dataset. progress (may be NULL)
// is called every log_every steps with the running loss and accuracy. Returns the final
// running accuracy.
typedef void (*EncoderProgress)(void *ctx, int step, int steps, float loss, float acc);
typedef struct {
    int steps, batch;
    float lr;
    uint64_t seed;
    int log_every;
    EncoderProgress progress;
    void *ctx;
    // Random horizontal flips and translations by up to `augment` pixels (the edge pixels fill
    // in); 0: the images as they are. Lets a wider net train longer without memorising.
    int augment;
    // The cosine schedule ends at lr * lr_end (0: decays to zero); AdamW's decoupled weight
    // decay (applied as lr * weight_decay * w per step; 0: none).
    float lr_end, weight_decay;
} EncoderTrainOpts;
// The augmentation of encoder_train on B images (B,C,S,S), in place.
void encoder_augment(float *x, int B, int C, int S, int shift, Rng *r);
float encoder_train(Encoder *e, const Dataset *ds, const EncoderTrainOpts *o);
// Top-1 accuracy on the first n images of ds (n <= 0: all).
float encoder_accuracy(Encoder *e, const Dataset *ds, int n);

#endif
