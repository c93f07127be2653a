// train.h: one training run, headless. The core knows nothing of the store or the UI: it
// reports through TrainHooks, and whoever runs it (the CLI, a dashboard thread) decides
// where metrics, samples and checkpoints go.
#ifndef REPAE_TRAIN_H
#define REPAE_TRAIN_H
#include <stdint.h>
#include "base/config.h"
#include "base/run_status.h"
#include "train/dist.h"

typedef struct {
    void *ctx;
    // Every logged step: n metrics (names such as "recon", "kl", "diffusion", "align",
    // "smooth", "total", "latent_std", "grad_norm_vae", "grad_norm_sit", "lr_vae", "lr_sit",
    // "img_per_s", "latent_sstd", "collapse"). latent_sstd is the scale-free spatial std of the
    // latents after the BN (std / sqrt(running_var)); collapse is 1 from the step it fell 10x
    // below its peak (and warn is called once). Called on the training thread; must not block.
    void (*metrics)(void *ctx, long step, int n, const char *const *keys, const float *vals);
    // A sample grid as 8-bit RGB (gray images replicated), row-major, w x h pixels.
    void (*sample)(void *ctx, long step, const uint8_t *rgb, int w, int h);
    // A checkpoint was written: weights (safetensors) and training-state file paths.
    void (*checkpoint)(void *ctx, long step, const char *weights_path, const char *state_path);
    // Polled once per step; non-zero asks the run to stop cleanly (with a checkpoint).
    int (*should_stop)(void *ctx);
} TrainHooks;

typedef enum { TRAIN_DONE, TRAIN_STOPPED, TRAIN_FAILED, TRAIN_DIVERGED } TrainStatus;
// The run status each ending is recorded as (base/run_status.h holds the names).
static inline RunStatus train_run_status(TrainStatus s) {
    static const RunStatus m[] = {RUN_DONE, RUN_STOPPED, RUN_FAILED, RUN_DIVERGED};
    return m[s];
}
static inline const char *train_status_name(TrainStatus s) { return run_status_name(train_run_status(s)); }

// Runs (or with resume != 0, continues from the latest checkpoint in run_dir) a training run,
// writing checkpoints into run_dir. err (ERRLEN) says why on FAILED or DIVERGED.
// train.threads > 0 sets the calling thread's OpenMP thread count (which the OpenMP OpenBLAS
// follows; its process-wide setting is left alone) for the run and restores the previous value
// when it returns; 0 leaves it alone.
// DIVERGED: a loss or a gradient norm was NaN/Inf (that step changed nothing), or a loss stayed
// blown up though finite (train/divergence.h); the newest checkpoint (from an earlier step) is
// the last state.
TrainStatus train_run(const Config *cfg, const char *run_dir, int resume, const TrainHooks *hooks, char *err);

// The step of the newest complete checkpoint in run_dir, or -1 if there is none: the same as
// ckpt_newest_usable(run_dir, NULL, 0) (train/checkpoint.h, which also gives its directory).
long train_latest_checkpoint(const char *run_dir);

// Throughput of training steps on synthetic input of the config's shapes (no dataset, no
// checkpoints): the mean over `steps` steps after one warm-up step.
typedef struct {
    double step_s, img_per_s;
    double gflop_per_step; // forward + backward, counted from the model shapes
    double gflops;         // achieved
} TrainBench;
int train_bench(const Config *cfg, int steps, TrainBench *out, char *err);

// ---- around train_run ------------------------------------------------------------------------
// What a caller of train_run may want beyond TrainHooks (every member may be NULL).
typedef struct {
    void *ctx;
    // A warning for the person running it: a checkpoint that cannot be used was set aside and
    // an older one is tried, or the latents are collapsing (latent_sstd 10x below its peak).
    // NULL: printed on stderr ("repae: warning: ...").
    void (*warn)(void *ctx, const char *msg);
    // Progress of work before the first step that takes a while (building the REPA target
    // cache). NULL: printed on stderr ("repae: ...").
    void (*note)(void *ctx, const char *msg);
    // Called once the starting point is settled, before the first step and before any hook:
    // from is the step of the checkpoint resumed from (after falling back past unusable ones),
    // or -1 for a fresh start. The place to forget what was logged after it. Non-zero, with
    // err (ERRLEN) filled, fails the run.
    int (*start)(void *ctx, long from, char *err);
    // Data-parallel training (dist.h; NULL: this process alone): every process of the world
    // calls train_run_opts with the same config and run_dir and trains its share of each
    // global batch. Only rank 0 writes: checkpoints, and whatever its hooks do (the others
    // should pass NULL hooks); rank 0's should_stop stops every process at the same step.
    const Dist *dist;
} TrainRunOpts;

// train_run with opts (NULL: as train_run). With resume, the newest checkpoint that loads is
// used: one whose files are missing, cut short or unreadable is renamed <step>.corrupt (kept
// for inspection, never pruned nor counted as a checkpoint), a warning names it and the
// reason, and the next older one is tried. Whole files that do not fit the config are set
// aside only if an older checkpoint then loads; if none does, nothing is renamed and err says
// to resume with the run's config. The run fails, with every checkpoint tried and why in err,
// when none loads (also when only .corrupt ones are left: starting again from step 0 is for
// the person to decide, by removing them).
TrainStatus train_run_opts(const Config *cfg, const char *run_dir, int resume, const TrainHooks *hooks,
                           const TrainRunOpts *opts, char *err);

// ---- memory ----------------------------------------------------------------------------------
// Bytes train_run allocates for cfg (weights, gradients, AdamW moments, the SiT EMA and its
// backup, activations and scratch for train.batch_size images), read from a dry run of the
// builders (TRAINER_COUNT in trainer.h: every table sized as the run would size it, nothing
// allocated); per_image gets the part that grows with the batch, the slope at large batches
// (NULL: not wanted). Left out: the dataset (8-bit, small), BLAS and thread buffers, sampling's
// scratch; with align "repa" the target encoder counts with the default layout. -1 when cfg
// cannot be built at all (the run's own build then says why).
double train_memory_estimate(const Config *cfg, double *per_image);
// Fails (-1, err) when cfg clearly cannot fit: the estimate plus headroom exceeds what this
// process may still allocate (sysmem_available). The message gives both numbers and what to
// lower (train.batch_size, with the largest that fits, or the model's width and depth).
// Always checks: whether to check at all is the caller's policy (repae's CLI and dashboard skip
// it when REPAE_MEM_CHECK=0).
int train_memory_check(const Config *cfg, char *err);

#endif
