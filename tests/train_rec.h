// train_rec.h: TrainHooks that record what a training run reports (metrics by name, samples,
// checkpoints) and can ask it to stop after n logged steps, and a file comparison; for the
// training tests (header-only, include after test.h and train/trainer.h).
#ifndef REPAE_TEST_TRAIN_REC_H
#define REPAE_TEST_TRAIN_REC_H
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "train/trainer.h"

#define MAXREC 64
typedef struct {
    int n;                          // metrics calls
    long step[MAXREC];
    float v[MAXREC][TRAIN_NMETRICS]; // by train_metric_names index; NaN if not logged
    int stop_after;                 // should_stop once this many steps were logged (0: never)
    int nsamples, sw, sh;
    long last_ckpt;
} Rec;

static __attribute__((unused)) void rec_metrics(void *ctx, long step, int n, const char *const *keys, const float *vals) {
    Rec *r = ctx;
    if (r->n >= MAXREC) return;
    r->step[r->n] = step;
    for (int i = 0; i < TRAIN_NMETRICS; i++) r->v[r->n][i] = NAN;
    for (int k = 0; k < n; k++)
        for (int i = 0; i < TRAIN_NMETRICS; i++)
            if (strcmp(keys[k], train_metric_names[i]) == 0) r->v[r->n][i] = vals[k];
    r->n++;
}
static __attribute__((unused)) void rec_sample(void *ctx, long step, const uint8_t *rgb, int w, int h) {
    (void)step; (void)rgb;
    Rec *r = ctx;
    r->nsamples++;
    r->sw = w;
    r->sh = h;
}
static __attribute__((unused)) void rec_ckpt(void *ctx, long step, const char *w, const char *s) {
    (void)w; (void)s;
    ((Rec *)ctx)->last_ckpt = step;
}
static __attribute__((unused)) int rec_stop(void *ctx) {
    Rec *r = ctx;
    return r->stop_after > 0 && r->n >= r->stop_after;
}
static __attribute__((unused)) TrainHooks hooks_for(Rec *r) { return (TrainHooks){r, rec_metrics, rec_sample, rec_ckpt, rec_stop}; }

// 1 if both files exist and have the same bytes.
static __attribute__((unused)) int same_file(const char *a, const char *b) {
    size_t na, nb;
    char err[ERRLEN];
    char *x = read_file(a, &na, err), *y = read_file(b, &nb, err);
    int same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

#endif
