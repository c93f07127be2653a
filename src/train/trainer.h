// train_internal.h: the Trainer behind train_run, for tests that drive single steps with
// inputs of their own (the PyTorch step comparison) or inspect the state.
#ifndef REPAE_TRAIN_INTERNAL_H
#define REPAE_TRAIN_INTERNAL_H
#include "base/config.h"
#include "train/train.h"

#include "data/data.h"
#include "model/model.h"
#include "model/repa.h"
#include "base/rng.h"

typedef enum { ALIGN_NONE, ALIGN_SCORE, ALIGN_REPA } AlignKind;

typedef struct {
    Config cfg;
    Model m;
    AlignKind align;
    int recon_l1;
    int B;
    Dataset *data;     // NULL: synthetic input (bench)
    Loader loader;
    Rng rng;           // every random draw of the step: eps, t, class dropout
    long step;         // steps completed
    // optimiser state: one allocation
    float *opt;
    float *m_vae, *v_vae, *m_sit, *v_sit;
    float *ema;        // SiT: every tensor (trainable ones averaged, buffers copied)
    float *backup;     // SiT weights while the EMA is swapped in for sampling
    // align.kind "repa": the frozen target encoder and the projector, whose AdamW moments and
    // EMA live in one allocation of their own (the projector is part of REPA's SiT module: one
    // clip over SiT + projector, one EMA over both).
    RepaTarget tgt;
    Projector proj;
    float *proj_opt, *m_proj, *v_proj, *ema_proj;
    // step buffers: one allocation
    BufTable bufs;
    // The step's random inputs, drawn by trainer_draw_inputs (tests set them directly):
    float *x;          // (B,C,S,S) images
    int *y, *ydrop;    // (B) labels, and after class dropout (num_classes = null)
    int *ykeep;        // (B) repa VAE side: labels mod num_classes, never dropped
    float *eps_vae;    // (B,nz) posterior noise
    float *t, *eps;    // (B), (B,nz) diffusion time and noise
    float *t2, *eps2;  // the same for the score alignment's second denoising pass
    // work buffers
    float *zn, *xt, *dout, *dxt, *dzn, *dxr, *sample_imgs;
    float *bn_save;    // (2 zc) BN running statistics before the step, restored if it aborts
    float *targets;    // repa: (B,T,F) target features of x
    float *dtok;       // repa: (B,T,D) gradient on the SiT tokens after block align.depth
    float *zv;         // repa: (B,nz) the VAE-side pass's eval-mode BN output, then its x_t
    double last_log_time;
    long last_log_step;
} Trainer;


// synthetic: no dataset (inputs are uniform noise; bench and tests). With align.kind "repa" a
// synthetic trainer loads align.encoder when it is set and otherwise builds a randomly
// initialised target encoder of the default layout (same cost, no file needed).
int trainer_build(Trainer *tr, const Config *cfg, int synthetic, char *err);
void trainer_free(Trainer *tr);
// Seeded init, then init.vae / init.sit; the EMA starts at the weights.
int trainer_init_weights(Trainer *tr, char *err);
// Draws every random input of the next step from the data and tr->rng.
void trainer_draw_inputs(Trainer *tr);
// One optimisation step on the drawn inputs. vals gets TRAIN_NMETRICS values in the order of
// train_metric_names (NaN where not computed). Returns the metric name of the first non-finite
// loss or gradient norm ("recon" ... "smooth", "grad_norm_vae", "grad_norm_sit"), and then
// leaves the trainer as it was (weights, moments, EMA, BN statistics, step), or NULL.
const char *trainer_step(Trainer *tr, float *vals);

// FLOPs of one step as trainer_step runs it for this config (forward + backward), in GFLOP.
double trainer_step_gflop(const Trainer *tr);

#define TRAIN_NMETRICS 12
extern const char *const train_metric_names[TRAIN_NMETRICS];

#endif
