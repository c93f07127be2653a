// repa.h: the REPA alignment of REPA-E (align.kind = "repa"): a projector MLP on the SiT tokens
// after block align.depth, the frozen target encoder's per-token features of the clean images,
// and the negative cosine loss between them. See docs/losses.md ("What updates what", "REPA-E's
// two passes"), REPA's loss.py (Yu et al. 2024) and REPA-E's train_repae.py.
//
// Projector (REPA's build_mlp, names as in REPA's SiT state_dict, one projector):
//   projectors.0.0  Linear(D, P)   -> SiLU
//   projectors.0.2  Linear(P, P)   -> SiLU
//   projectors.0.4  Linear(P, F)
// D = sit.hidden, P = align.projector_dim, F = the target features' width. Init as REPA's SiT
// initialize_weights does for every Linear: xavier-uniform weights, zero biases. Its own
// ParamTable, saved under no prefix (names already start with "projectors."), trained by an
// AdamW of its own with the SiT's settings (lr, clipping: clip the SiT and projector grads
// as one set if you want REPA's exact clip_grad_norm_(model.parameters()), since REPA's
// projector lives inside the SiT module).
//
// Loss (REPA loss.py): align = mean over batch and tokens of -cos(proj(h)_bt, target_bt), with
// F.normalize semantics (x / max(|x|, 1e-8)); exactly neg_cosine_forward over the B*T rows.
//
// Targets: the encoder (src/model/encoder.h) runs on the clean images x in [-1, 1]; its deepest stage
// whose side is a multiple of the SiT grid (gh x gw) is average-pooled onto that grid, token
// n = i*gw + j (the SiT's patch order), giving (B, T, F) with F = that stage's channels.
//
// ---- Wiring into the trainer (src/train/trainer.c, align.kind = "repa") -------------------
// Build (once per run; gh x gw = the SiT's token grid, T = gh*gw, D = sit.hidden):
//   RepaTarget tgt;  repa_target_open(&tgt, cfg->align.encoder, cfg->data.dataset,
//                                     C, S, s->gh, s->gw, B, err);
//   Projector proj;  projector_build(&proj, s->D, cfg->align.projector_dim, tgt.F, B * s->T, 1, err);
//   projector_init(&proj, &rng);  plus AdamW moments for proj.params.ntrain floats.
// Checkpoints: REPA's state_dict holds projectors.* beside the SiT's names, so saving
// proj.params as a second ParamGroup (prefix "") of sit.safetensors (and of the EMA file, or
// not: REPA-E's EMA covers the whole SiT module) keeps the files loadable by REPA's code;
// its AdamW moments go in the state file.
//
// Gradient routing (REPA-E, train_repae.py). Per step, with x the clean images, y the labels,
// z the VAE posterior sample (B,zc,h,w), and ONE draw of t (B) and eps (B,zc,h,w) shared by
// both passes (REPA-E samples them in the VAE pass and hands the same time_input/noises to
// the SiT pass):
//
//   repa_targets(&tgt, x, B, targets);                      // (B,T,F), frozen, no gradient
//
//   (1) VAE side, only when train.vae (REPA-E: requires_grad(model, False); model.eval()).
//       The SiT, the projector and the latent BN are frozen and in eval mode, so the BN uses
//       its RUNNING statistics (as they are before this step's pass (2) updates them) and
//       labels are NOT dropped (the label embedder drops only in training mode):
//         zv = BN_eval(z)      latent_bn_forward(bn, zv, z, B, HW, 0)   (no latent BN: zv = z)
//         xt_v = alpha(t) zv + sigma(t) eps                  diffusion_make_xt
//         sit_forward(s, xt_v, t, y, B);  h = sit_tokens(s, depth);
//         align_v = repa_loss_forward(&proj, h, targets, B, T);
//         memset(dtok, 0);  repa_loss_backward(&proj, dtok, w_vae, 0);  // projector frozen
//         memset(dxt, 0);   sit_backward(s, dxt, NULL, dtok, depth, 0); // blocks 1..depth only,
//                                                                      // no SiT weight grads
//         dzv[b] = alpha(t_b) * dxt[b]          (x_t is linear in zv; path_coeffs gives alpha)
//         latent_bn_backward(bn, v->dz, dzv, z, B, HW)   (eval mode: dzv / sqrt(rv + eps))
//       and v->dz goes on into the encoder with the recon/kl/smooth terms. The SiT's output
//       and diffusion loss play no part in this pass (REPA-E's align_only).
//   (2) SiT side: the usual diffusion pass on the DETACHED latents, BN in training mode
//       (batch statistics; running statistics updated), labels dropped with class_dropout,
//       the same t and eps:
//         zn = BN_train(z);  xt = alpha zn + sigma eps;
//         out = sit_forward(s, xt, t, ydrop, B);  h = sit_tokens(s, depth);
//         align = repa_loss_forward(&proj, h, targets, B, T);          // the logged "align"
//         diffusion_loss_backward(..., dout, ..., w_diff);
//         memset(dtok, 0);  repa_loss_backward(&proj, dtok, w_sit, 1); // projector grads
//         sit_backward(s, NULL (or dxt if diffusion.grad_to_vae), dout, dtok, depth, train_sit);
//       then AdamW on the SiT and on the projector (REPA clips both as one set: its
//       projectors live in the SiT module, clip_grad_norm_(model.parameters(), 1.0)).
//   Nothing from (2) reaches the VAE unless diffusion.grad_to_vae; nothing from (1) reaches a
//   SiT or projector weight. Each sit_forward overwrites the SiT's activations and each
//   latent_bn_forward the BN's cache, so finish (1)'s backward before (2)'s forwards. The
//   logged total uses w_sit * align. With train.sit = false, (2) still runs its forward for the
//   logged values but updates nothing.
#ifndef REPAE_REPA_H
#define REPAE_REPA_H
#include "model/encoder.h"
#include "model/params.h"
#include "base/rng.h"

typedef struct {
    int D, P, F, max_rows;
    ParamTable params;
    float *w0, *b0, *w2, *b2, *w4, *b4; // (P,D), (P), (P,P), (P), (F,P), (F)
    BufTable acts;
    int N;                              // rows of the latest forward
    float *h;                           // (N,D) copy of the input tokens
    float *a1, *s1, *a2, *s2, *out;     // pre/post SiLU (N,P) x4, output (N,F)
    const float *target;                // (N,F) of the latest repa_loss_forward
    float *dout, *ds, *da;              // (N,F), (N,P), (N,P)
} Projector;

// max_rows = max_batch * T. mode: ALLOC_GRAD allocates parameter gradients, ALLOC_COUNT only
// sizes the tables (params.h). Returns 0 or -1 with err.
int projector_build(Projector *p, int D, int P, int F, int max_rows, int mode, char *err);
void projector_free(Projector *p);
void projector_init(Projector *p, Rng *rng);
// out (N,F) for tokens (N,D), N <= max_rows. The input is copied.
const float *projector_forward(Projector *p, const float *tokens, int N);
// Backward of the latest forward: dtokens (N,D) += dL/dtokens (NULL: skipped); parameter
// gradients added only when param_grads != 0 and the table has gradients. dout is (N,F).
void projector_backward(Projector *p, float *dtokens, const float *dout, int param_grads);

// align = -mean_{b,t} cos(proj(tokens_bt), targets_bt); tokens (B,T,D), targets (B,T,F) must
// stay valid until the matching backward.
float repa_loss_forward(Projector *p, const float *tokens, const float *targets, int B, int T);
// dtokens (B,T,D) += w * d(align)/d(tokens) (NULL: skipped); with param_grads also
// p->params.grad += w * d(align)/d(projector weights).
void repa_loss_backward(Projector *p, float *dtokens, float w, int param_grads);

// ---- targets ---------------------------------------------------------------------------------
typedef struct {
    Encoder enc;
    int stage, factor;   // pooled stage of the encoder and its pooling factor
    int gh, gw, T, F;
    char path[1024];     // the file repa_target_open_for loaded ("" when built in place)
} RepaTarget;

// Loads the frozen encoder for align.target `target` ("ssl" or "supervised") from path ("" =
// encoder_default_path("ssl-encoder" or "encoder", dataset)) for images (channels, size) and
// picks the stage for the SiT token grid gh x gw. A file recording another kind is refused (an
// "encoder" file never stands in for "ssl-encoder"). Returns 0 or -1 with err (a missing file
// names the command that writes it; nothing is trained on the fly, docs/encoder.md).
int repa_target_open_for(RepaTarget *t, const char *target, const char *path, const char *dataset, int channels,
                         int size, int gh, int gw, int max_batch, char *err);
// repa_target_open_for(t, "supervised", ...): what the trainer called before align.target.
int repa_target_open(RepaTarget *t, const char *path, const char *dataset, int channels, int size, int gh, int gw,
                     int max_batch, char *err);
// The stage of e whose side pools evenly onto a gh x gw grid (the deepest such) and its pooling
// factor; what repa_target_init and the self-supervised training (ssl.h) use.
int repa_pick_stage(const Encoder *e, int gh, int gw, int *stage, int *factor, char *err);
// Average-pools a stage map m (B,F,s,s) by f onto the token grid (T = (s/f)^2 tokens, gw per
// row): out (B,T,F), token n = i*gw + j. The backward writes (=, not +=) every element of
// dm (B,F,s,s) from dout (B,T,F); s must be gw*f.
void repa_pool_grid(const float *m, int B, int F, int s, int f, int gw, int T, float *out);
void repa_pool_grid_backward(float *dm, int B, int F, int s, int f, int gw, int T, const float *dout);
// Picks the stage for an encoder already built in place in t->enc (tests build their own).
int repa_target_init(RepaTarget *t, int gh, int gw, char *err);
void repa_target_free(RepaTarget *t);
// out (B,T,F): per-token features of the clean images x (B,C,S,S), B <= max_batch.
void repa_targets(RepaTarget *t, const float *x, int B, float *out);

#endif
