// train.h: one training run, headless. The core knows nothing of the store or the UI: it
// reports through TrainHooks, and whoever runs it (the CLI, a dashboard thread) decides
// where metrics, samples and checkpoints go.
#ifndef REPAE_TRAIN_H
#define REPAE_TRAIN_H
#include <stdint.h>
#include "config.h"

typedef struct {
    void *ctx;
    // Every logged step: n metrics (names such as "recon", "kl", "diffusion", "align",
    // "smooth", "total", "latent_std", "grad_norm_vae", "grad_norm_sit", "lr_vae", "lr_sit",
    // "img_per_s"). Called on the training thread; must not block for long.
    void (*metrics)(void *ctx, long step, int n, const char *const *keys, const float *vals);
    // A sample grid as 8-bit RGB (gray images replicated), row-major, w x h pixels.
    void (*sample)(void *ctx, long step, const uint8_t *rgb, int w, int h);
    // A checkpoint was written: weights (safetensors) and training-state file paths.
    void (*checkpoint)(void *ctx, long step, const char *weights_path, const char *state_path);
    // Polled once per step; non-zero asks the run to stop cleanly (with a checkpoint).
    int (*should_stop)(void *ctx);
} TrainHooks;

typedef enum { TRAIN_DONE, TRAIN_STOPPED, TRAIN_FAILED, TRAIN_DIVERGED } TrainStatus;
static inline const char *train_status_name(TrainStatus s) {
    static const char *n[] = {"done", "stopped", "failed", "diverged"};
    return n[s];
}

// Runs (or with resume != 0, continues from the latest checkpoint in run_dir) a training run,
// writing checkpoints into run_dir. err (ERRLEN) says why on FAILED or DIVERGED.
// train.threads > 0 sets the calling thread's OpenMP thread count (which the OpenMP OpenBLAS
// follows) for the run and restores the previous value when it returns; 0 leaves it alone.
// DIVERGED: a loss or a gradient norm was NaN/Inf; that step changed nothing and the newest
// checkpoint (from an earlier step) is the last state.
TrainStatus train_run(const Config *cfg, const char *run_dir, int resume, const TrainHooks *hooks, char *err);

// The step of the newest complete checkpoint in run_dir, or -1 if there is none.
long train_latest_checkpoint(const char *run_dir);

// Throughput of training steps on synthetic input of the config's shapes (no dataset, no
// checkpoints): the mean over `steps` steps after one warm-up step.
typedef struct {
    double step_s, img_per_s;
    double gflop_per_step; // forward + backward, counted from the model shapes
    double gflops;         // achieved
} TrainBench;
int train_bench(const Config *cfg, int steps, TrainBench *out, char *err);

#endif
