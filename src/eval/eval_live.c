// eval_live.c: see eval_live.h.
#include "eval/eval_live.h"
#include "eval/frechet.h"
#include "eval/kid.h"
#include "base/util.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int metrics_of(const float *h, long nh, const float *x, long nx, int F, SetMetrics *m, char *err) {
    if (fd_features(h, nh, x, nx, F, &m->fd, err) || kid_features(h, nh, x, nx, F, &m->kid, err)) return -1;
    m->precision = m->recall = NAN;
    if (nh > PR_K_DEFAULT && nx > PR_K_DEFAULT)
        return precision_recall(h, nh, x, nx, F, PR_K_DEFAULT, &m->precision, &m->recall, err);
    return 0;
}

int eval_live_open(EvalLive *l, const Config *cfg, const char *evaluator, long n, int batch, char *err) {
    memset(l, 0, sizeof *l);
    const DataConfig *dc = &cfg->data;
    if (n < 2 || batch < 1) return seterr(err, "eval during training: %ld samples in batches of %d (need n >= 2)", n, batch);
    if (evaluator_open(&l->ev, evaluator, dc->dataset, dc->channels, dc->image_size, batch, err)) return -1;
    if (isnan(l->ev.accuracy)) {
        evaluator_free(&l->ev);
        return seterr(err, "the evaluation network records no test accuracy: train one with `repae evaluator train "
                           "--dataset %s`", dc->dataset);
    }
    Dataset *te = NULL, *tr = NULL;
    if (dataset_open(&te, dc, DATA_TEST, err) || dataset_open(&tr, dc, DATA_TRAIN, err)) {
        if (te) dataset_close(te);
        evaluator_free(&l->ev);
        return -1;
    }
    long nh = n;
    if (dataset_len(te) < nh) nh = dataset_len(te);
    if (dataset_len(tr) < nh) nh = dataset_len(tr);
    int F = l->ev.F;
    l->nh = nh;
    l->nx = (size_t)dc->channels * dc->image_size * dc->image_size;
    l->fh = xmalloc((size_t)nh * F * sizeof(float));
    l->samples = xmalloc((size_t)n * l->nx * sizeof(float));
    l->fs = xmalloc((size_t)n * F * sizeof(float));
    for (long i = 0; i < nh; i++) dataset_get(te, (int)i, l->samples + (size_t)i * l->nx, NULL);
    evaluator_run(&l->ev, l->samples, nh, l->fh, NULL);
    for (long i = 0; i < nh; i++) dataset_get(tr, (int)i, l->samples + (size_t)i * l->nx, NULL);
    evaluator_run(&l->ev, l->samples, nh, l->fs, NULL);
    dataset_close(te);
    dataset_close(tr);
    int rc = metrics_of(l->fh, nh, l->fs, nh, F, &l->floor, err);
    if (rc) eval_live_close(l);
    return rc;
}

int eval_during_training(EvalLive *l, Model *m, const SampleOpts *so, long n, uint64_t seed, SetMetrics *out,
                         char *err) {
    // Up to nh samples (the scratch holds n >= nh images): more would not improve the estimate
    // against nh held-out images much anyway.
    if (n < 2 || n > l->nh)
        return seterr(err, "eval during training: %ld samples; need 2 to %ld (the n eval_live_open was given)", n, l->nh);
    model_sample(m, (int)n, NULL, so, seed, l->samples);
    evaluator_run(&l->ev, l->samples, n, l->fs, NULL);
    return metrics_of(l->fh, l->nh, l->fs, n, l->ev.F, out, err);
}

void eval_live_close(EvalLive *l) {
    if (l->fh) evaluator_free(&l->ev);
    free(l->fh);
    free(l->samples);
    free(l->fs);
    memset(l, 0, sizeof *l);
}
