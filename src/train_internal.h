// train_internal.h: the Trainer behind train_run, for tests that drive single steps with
// inputs of their own (the PyTorch step comparison) or inspect the state; and what callers of
// train_run use beyond train.h (checkpoint fallback reporting, the memory check).
//
// The dashboard includes only the second part: define REPAE_TRAIN_API_ONLY first (its own
// "model.h" is another Model than src/model.h). Its natural home is train.h.
#ifndef REPAE_TRAIN_INTERNAL_H
#define REPAE_TRAIN_INTERNAL_H
#include "config.h"
#include "train.h"

// ---- around train_run ------------------------------------------------------------------------
// What a caller of train_run may want beyond TrainHooks (every member may be NULL).
typedef struct {
    void *ctx;
    // A warning for the person running it: a checkpoint that cannot be used was set aside and
    // an older one is tried. NULL: printed on stderr ("repae: warning: ...").
    void (*warn)(void *ctx, const char *msg);
    // Called once the starting point is settled, before the first step and before any hook:
    // from is the step of the checkpoint resumed from (after falling back past unusable ones),
    // or -1 for a fresh start. The place to forget what was logged after it. Non-zero, with
    // err (ERRLEN) filled, fails the run.
    int (*start)(void *ctx, long from, char *err);
} TrainRunOpts;

// train_run with opts (NULL: as train_run). With resume, the newest checkpoint that loads is
// used: one whose files are missing, cut short, unreadable or do not fit the config is renamed
// <step>.corrupt (kept for inspection, never pruned nor counted as a checkpoint), a warning
// names it and the reason, and the next older one is tried. The run fails, with every
// checkpoint tried and why in err, when none loads (also when only .corrupt ones are left:
// starting again from step 0 is for the person to decide, by removing them).
TrainStatus train_run_opts(const Config *cfg, const char *run_dir, int resume, const TrainHooks *hooks,
                           const TrainRunOpts *opts, char *err);

// ---- memory ----------------------------------------------------------------------------------
// Bytes train_run allocates for cfg, counted from the layer shapes as the builders lay them
// out (weights, gradients, AdamW moments, the SiT EMA and its backup, activations and scratch
// for train.batch_size images); per_image gets the part that grows with the batch (NULL: not
// wanted). Left out: the dataset (8-bit, small), BLAS and thread buffers, sampling's scratch;
// with align "repa" the target encoder counts with the default layout.
double train_memory_estimate(const Config *cfg, double *per_image);
// Bytes this process may still allocate: the least of MemAvailable (/proc/meminfo), the
// cgroup's memory limit minus its usage, and the address-space limit (ulimit -v) minus what
// the process maps; what names the limit that decided ("MemAvailable", ...). -1 if unknown.
double train_memory_available(const char **what);
// Fails (-1, err) when cfg clearly cannot fit: the estimate plus headroom exceeds what is
// available. The message gives both numbers and what to lower (train.batch_size, with the
// largest that fits, or the model's width and depth). REPAE_MEM_CHECK=0 skips the check.
int train_memory_check(const Config *cfg, char *err);

#ifndef REPAE_TRAIN_API_ONLY
#include "data.h"
#include "model.h"
#include "repa.h"
#include "rng.h"

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
#endif // REPAE_TRAIN_API_ONLY

#endif
