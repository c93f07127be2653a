// eval_live.h: evaluation during training (train.eval_every): FD and KID (and precision/recall)
// of a few samples of the model being trained against held-out images whose features are
// computed once, so each evaluation costs only the sampling. Small N: the numbers are biased
// (FD) and noisy; the floor at the same N comes with them so a curve can be read against it.
//
// Wiring (the trainer, src/train; not done here): once per run, when train.eval_every > 0,
//   EvalLive live;  eval_live_open(&live, cfg, "", 500, B, err)   (failure: log, run on without)
// and every train.eval_every steps, with the model holding the weights to judge (the EMA ones
// if the run keeps an EMA: copy them in as the sampler preview does):
//   SetMetrics g;  eval_during_training(&live, &model, &sample_opts, 500, seed, &g, err);
//   log eval.fd = g.fd, eval.kid = g.kid, eval.precision, eval.recall at this step (and
//   eval.fd_floor = live.floor.fd once);
//   eval_live_close(&live) at the end.
#ifndef REPAE_EVAL_LIVE_H
#define REPAE_EVAL_LIVE_H
#include <stdint.h>
#include "base/config.h"
#include "eval/evaluate.h"
#include "model/evaluator.h"
#include "model/model.h"

typedef struct {
    Evaluator ev;
    long nh;        // held-out images
    float *fh;      // (nh, F) their features
    SetMetrics floor; // nh training images against them
    float *samples, *fs; // scratch for up to nh samples: images, features
    size_t nx;
} EvalLive;

// Opens the evaluation network for cfg's data (evaluator "" = the default file; it must pass
// the same accuracy floor as for `repae eval`) and computes the features of the first n test
// images and the floor. Returns 0 or -1 with err.
int eval_live_open(EvalLive *l, const Config *cfg, const char *evaluator, long n, int batch, char *err);
// n (<= the n given to open) samples of m with so and seed (labels k % classes) against the
// held-out features. Returns 0 or -1 with err.
int eval_during_training(EvalLive *l, Model *m, const SampleOpts *so, long n, uint64_t seed, SetMetrics *out,
                         char *err);
void eval_live_close(EvalLive *l);

#endif
