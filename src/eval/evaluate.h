// evaluate.h: the generation metrics of one checkpoint, as `repae eval` reports them (and the
// dashboard may): on held-out images (the test split) the VAE's reconstruction PSNR, the spread
// of its latents and the Fréchet distance of the reconstructions (rFD); on samples drawn with
// the run's sampler, their Fréchet distance to the held-out images (FD), the Inception-style
// score (IS) and, for class-conditional runs, the share the evaluator puts in the requested
// class. Features and class probabilities come from the evaluation network (model/evaluator.h);
// the distance and score math is frechet.h.
#ifndef REPAE_EVALUATE_H
#define REPAE_EVALUATE_H
#include <stdint.h>
#include "base/config.h"
#include "data/data.h"
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
} EvalOpts;

typedef struct {
    double fd, is, is_std;    // samples against the held-out images; IS over 10 splits (n >= 1000)
    double acc;               // conditional runs: share of samples in their class; NaN otherwise
    double psnr, latent_std;  // held-out images through the VAE (posterior mean), PSNR in dB
    double rfd;               // reconstructions against the held-out images
    long n, nheld;            // samples and held-out images used
    double seconds;           // eval_run's wall time
} EvalResult;

// One checkpoint opened for evaluation. Must not be moved once opened (it holds a Model).
typedef struct {
    EvalOpts o;
    Model m;
    Evaluator ev;
    Dataset *te;       // the test split
    SampleOpts so;     // the sampler, with the option overrides applied
    int use_ema;       // the checkpoint's EMA weights are used (the run keeps an EMA)
    long nheld;        // held-out images the metrics use: min(n, test split)
    int have_model, have_ev;
} Evaluation;

// Opens the evaluation network (for cfg's data), the test split of cfg's dataset and the
// checkpoint directory ckpt_dir (a Model of cfg, with the EMA weights when cfg.train.ema > 0).
// Returns 0, or -1 with err (ERRLEN) saying what is missing; nothing stays open then.
int eval_open(Evaluation *e, const Config *cfg, const char *ckpt_dir, const EvalOpts *o, char *err);
// Computes every metric. Returns 0, or -1 with err.
int eval_run(Evaluation *e, EvalResult *r, char *err);
void eval_close(Evaluation *e);

#endif
