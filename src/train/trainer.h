// trainer.h: the Trainer behind train_run, for the training core's own files (trainer.c: the
// step; checkpoint.c: saving, loading and resuming it; run.c: the run loop; memory.c: the
// estimate) and for tests that drive single steps with inputs of their own (the PyTorch step
// comparison) or inspect the state.
#ifndef REPAE_TRAINER_H
#define REPAE_TRAINER_H
#include "base/config.h"
#include "train/train.h"

#include "data/data.h"
#include "model/model.h"
#include "model/repa.h"
#include "model/disc.h"
#include "model/perceptual.h"
#include "model/repa_cache.h"
#include "base/rng.h"
#include "train/dist.h"

typedef enum { ALIGN_NONE, ALIGN_SCORE, ALIGN_REPA } AlignKind;

typedef struct Trainer {
    Config cfg;
    Model m;
    AlignKind align;
    int recon_l1;
    int B;             // this process's share of the batch (all of it without MPI)
    // Data parallel (dist.h): world processes each take B of the global batch Bg, this one
    // images off .. off + B - 1. Every random draw is made for the whole global batch in the
    // single-process order and each process keeps its share, so that N processes reproduce the
    // one-process run. dist NULL (or world 1): no collective is ever called.
    const Dist *dist;
    int world, rank, Bg, off;
    float *scratch;    // one sample's draws that belong to another process
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
    // The targets of the training split, cached once (targets.c); idx: the dataset indices of
    // this process's share of the latest batch, have_idx when they are known (not across an
    // epoch boundary), so that the step looks its targets up instead of running the encoder.
    RepaCache tcache;
    int *idx, have_idx;
    // loss.w_perc > 0 with the VAE training: the perceptual term on the frozen target encoder.
    Perceptual perc;
    int perc_on;
    Projector proj;
    float *proj_opt, *m_proj, *v_proj, *ema_proj;
    // loss.w_gan > 0 with the VAE training (gan_step.c): the PatchGAN discriminator, its AdamW
    // moments (one allocation), and its step buffers: the logits' gradient, the generator
    // term's gradient on xr, the BN running statistics before the step (put back on abort).
    int gan;
    Disc disc;
    float *disc_opt, *m_disc, *v_disc;
    float *dlog, *dxr_gan, *disc_save, *disc_stats;
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
    // The collapse watch: latent_sstd's peak since this process built the trainer (a resumed
    // run starts it again), and whether it has since fallen TRAIN_COLLAPSE_FACTOR below it
    // (1; 2 once run.c has warned).
    float sstd_peak;
    int collapsed;
} Trainer;

// ---- trainer.c: build and step ----------------------------------------------------------------
// mode of trainer_build (bit flags):
//   TRAINER_SYNTHETIC  no dataset: inputs are uniform noise (bench and tests). With align.kind
//                      "repa" the target encoder is loaded from align.encoder when it is set and
//                      otherwise is a randomly initialised one of the default layout (same cost,
//                      no file needed).
//   TRAINER_COUNT      a dry run (implies TRAINER_SYNTHETIC): every part is built with
//                      ALLOC_COUNT (model/params.h), so its tables hold the sizes of a real build
//                      but nothing is allocated and nothing may run; the target encoder is the
//                      default layout whatever align.encoder says. For train_memory_estimate.
//                      Freed with trainer_free like a built trainer.
// 0 and 1 keep meaning "with the dataset" and "synthetic".
enum { TRAINER_SYNTHETIC = 1, TRAINER_COUNT = 2 };
int trainer_build(Trainer *tr, const Config *cfg, int mode, char *err);
// trainer_build as one process of dist's world (NULL: alone). train.batch_size is the global
// batch and must divide evenly by the world size (each share's losses are means, so their
// average is the global batch's only for equal shares).
int trainer_build_dist(Trainer *tr, const Config *cfg, int mode, const Dist *dist, char *err);
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
// Whether the step runs the SiT at all: it trains, or the VAE learns through it (grad_to_vae).
int trainer_sit_needed(const Trainer *tr);

#define TRAIN_NMETRICS 20
extern const char *const train_metric_names[TRAIN_NMETRICS];
// Indices into vals and train_metric_names.
// M_SSTD "latent_sstd": the spatial std of the latents as the SiT sees them, std / sqrt(running_var
// + eps) per channel (= latent_std without the BN), scale-free where latent_std behind a BN
// says nothing about collapse; M_COLLAPSE "collapse": 1 once it has fallen 10x below its peak.
enum { M_RECON, M_KL, M_DIFF, M_ALIGN, M_SMOOTH, M_TOTAL, M_LSTD, M_GN_VAE, M_GN_SIT, M_LR_VAE, M_LR_SIT, M_IPS,
       M_SSTD, M_COLLAPSE, M_GAN_G, M_GAN_D, M_LOGITS_REAL, M_LOGITS_FAKE, M_GN_DISC, M_PERC, M_COUNT };
// The GAN term (gan_step.c; NaN before loss.gan_start and without it): M_GAN_G "gan_g" the
// generator's hinge loss -mean(D(xr)) (weighted by loss.w_gan in total), M_GAN_D "gan_d" the
// discriminator's, M_LOGITS_REAL / M_LOGITS_FAKE the mean logits on x and xr, M_GN_DISC its
// gradient norm before clipping.
// latent_sstd below its peak by this factor is a collapse (REPA-E's naive end-to-end failure:
// spatial variance 17.06 -> 0.02).
#define TRAIN_COLLAPSE_FACTOR 10.0f

// ---- checkpoint.c: a trainer's checkpoints (the directory facts are in checkpoint.h) ----------
// Writes the trainer's state as run_dir/ckpt/<step> (a temporary directory renamed into place),
// prunes older checkpoints and reports it through h->checkpoint.
int trainer_save(Trainer *tr, const char *run_dir, const TrainHooks *h, char *err);
// Loads a checkpoint directory into the trainer: weights, BN statistics, projector, EMA, AdamW
// moments, step, RNG and data cursor. A failed load may have overwritten part of that.
int trainer_load(Trainer *tr, const char *ckpt_dir, char *err);
// Resume (train_run_opts' policy, see train.h): loads the newest checkpoint of run_dir that
// loads, setting aside those that cannot be used and warning through o->warn. *from gets its
// step, or -1 when run_dir has no checkpoint at all.
int trainer_resume(Trainer *tr, const char *run_dir, const TrainRunOpts *o, long *from, char *err);

// ---- gan_step.c: the GAN term and the discriminator's step ------------------------------------
// Builds (or counts) the discriminator, its moments and buffers when loss.w_gan > 0 and the
// VAE trains (tr->gan); with data parallel its BatchNorms are synchronised.
int gan_build(Trainer *tr, int mode, char *err);
void gan_free(Trainer *tr);
// Seeded init (its own stream: the other parts' init is as without the GAN).
void gan_init_weights(Trainer *tr);
// Whether this step runs the GAN: built, and step >= loss.gan_start.
int gan_on(const Trainer *tr);
// After the VAE forward, before the finiteness checks: the discriminator on x and xr (clears
// and fills its gradients, the hinge loss's), the generator term's gradient w_gan * d gan_g/dxr
// into tr->dxr_gan, and the four GAN metrics. Touches no weight (the BN running statistics
// are saved first for gan_abort).
void gan_pass(Trainer *tr, const float *xr, float *vals);
// Data parallel: averages the discriminator's gradients; then its norm into vals[M_GN_DISC].
void gan_grad_norm(Trainer *tr, float *vals);
// Clip and AdamW update of the discriminator (after the VAE and SiT updates, as REPA-E's loop).
void gan_update(Trainer *tr, const float *vals);
// An aborted step: the BN running statistics go back to what they were.
void gan_abort(Trainer *tr);

// ---- targets.c: the REPA target cache and the perceptual term ----------------------------------
// Opens (building it when absent or stale, log getting its progress) the cache of the REPA
// targets of the training split; nothing to do without align "repa", a dataset or an encoder
// file. After trainer_build, before the first step; every process of a world calls it.
int trainer_open_cache(Trainer *tr, RepaCacheLog log, void *ctx, char *err);
// After the loader drew the batch (before: its state before that draw): records the batch's
// dataset indices for the cache lookup.
void trainer_note_batch(Trainer *tr, LoaderState before);
// tr->targets for tr->x: the cached rows when known, else computed by the encoder.
void trainer_targets(Trainer *tr);
void trainer_targets_free(Trainer *tr);
// loss.w_perc: builds the term on the REPA target encoder (or, without align "repa", on the file
// align.target / align.encoder name); perc_forward_pass sets vals[M_PERC] (NaN when off),
// perc_backward_pass adds w_perc times its gradient into dxr.
int perc_build(Trainer *tr, int mode, char *err);
void perc_free(Trainer *tr);
void perc_forward_pass(Trainer *tr, const float *xr, float *vals);
void perc_backward_pass(Trainer *tr, float *dxr);

// ---- run.c --------------------------------------------------------------------------------------
// FLOPs of one step as trainer_step runs it for this config (forward + backward), in GFLOP.
double trainer_step_gflop(const Trainer *tr);

#endif
