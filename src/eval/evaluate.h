// evaluate.h: the generation metrics of one checkpoint, as `repae eval` reports them (and the
// dashboard may): on held-out images (the test split) the VAE's reconstruction PSNR, the spread
// of its latents and the Fréchet distance of the reconstructions (rFD); on samples drawn with
// the run's sampler, their Fréchet distance to the held-out images (FD), the Inception-style
// score (IS) and, for class-conditional runs, the share the evaluator puts in the requested
// class, their KID and k-NN precision/recall. Beside every set-to-set number it computes the
// same number for other real images (the training split) against the held-out ones at the same
// N: the floor a perfect generator would reach, FD's bias at that N. The evaluation network
// must pass its accuracy floor and the sanity ladder (sanity.h) first, or eval refuses.
// Features and class probabilities come from the evaluation network (model/evaluator.h); the
// math is frechet.h and kid.h.
#ifndef REPAE_EVALUATE_H
#define REPAE_EVALUATE_H
#include <stdint.h>
#include "base/config.h"
#include "data/data.h"
#include "eval/sanity.h"
#include "model/evaluator.h"
#include "model/model.h"

// Samples are drawn in chunks of this many batches; progress is reported after each.
#define EVAL_CHUNK_BATCHES 4

typedef struct {
    long n;                // samples, and at most this many held-out images (n >= 2)
    int batch;             // images per forward pass (the model's and the evaluator's max batch)
    int steps;             // sampling steps; <= 0: the config's sample.steps
    double cfg_scale;      // classifier-free guidance scale; < 0: the config's sample.cfg
    uint64_t seed;         // of the samples' noise
    const char *evaluator; // the evaluation network's file; NULL or "": its default path
    // After each chunk of samples (may be NULL): done of total samples, seconds since eval_run
    // began. On the calling thread.
    void (*progress)(void *ctx, long done, long total, double seconds);
    void *ctx;
    // Skip the evaluator's accuracy floor and sanity ladder (tests with random networks only).
    int unchecked;
} EvalOpts;

// Final numbers need at least this many samples: below it FD's bias and the spread over
// sampling seeds are of the size of the differences between runs (science.md §3).
#define EVAL_FINAL_N 5000

// The set-to-set metrics of one set of images against the held-out images.
typedef struct {
    double fd, kid, precision, recall;
} SetMetrics;

typedef struct {
    double fd, is, is_std;    // samples against the held-out images; IS over 10 splits (n >= 1000)
    double acc;               // conditional runs: share of samples in their class; NaN otherwise
    double psnr, latent_std;  // held-out images through the VAE (posterior mean), PSNR in dB
    double rfd;               // reconstructions against the held-out images
    double kid, precision, recall; // samples against the held-out images (kid.h, k = 3)
    SetMetrics recon;         // reconstructions (recon.fd == rfd)
    SetMetrics floor;         // other real images (the training split, n of them)
    EvalSanity sanity;        // the evaluator's ladder (unchecked: zero)
    long n, nheld, nfloor;    // samples, held-out and floor images used
    double seconds;           // eval_run's wall time
} EvalResult;

// One checkpoint opened for evaluation. Must not be moved once opened (it holds a Model).
typedef struct {
    EvalOpts o;
    Model m;
    Evaluator ev;
    Dataset *te;       // the test split
    Dataset *tr;       // the training split: the floor's other real images
    SampleOpts so;     // the sampler, with the option overrides applied
    int use_ema;       // the checkpoint's EMA weights are used (the run keeps an EMA)
    long nheld;        // held-out images the metrics use: min(n, test split)
    long nfloor;       // floor images: min(n, training split)
    int have_model, have_ev;
} Evaluation;

// Opens the evaluation network (for cfg's data), the test split of cfg's dataset and the
// checkpoint directory ckpt_dir (a Model of cfg, with the EMA weights when cfg.train.ema > 0).
// Returns 0, or -1 with err (ERRLEN) saying what is missing or why the evaluation network is not
// trusted (below its accuracy floor, or no recorded accuracy); nothing stays open then.
int eval_open(Evaluation *e, const Config *cfg, const char *ckpt_dir, const EvalOpts *o, char *err);
// Computes every metric. Returns 0, or -1 with err (also when the evaluator fails the sanity
// ladder on these images: its numbers would mislead).
int eval_run(Evaluation *e, EvalResult *r, char *err);
void eval_close(Evaluation *e);

#endif
