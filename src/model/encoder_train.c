// encoder_train.c: training a classifier Encoder (encoder.h): the augmentation, the AdamW loop
// with cosine decay, and test accuracy. The self-supervised objective of the REPA target lives
// apart from this label-supervised loop.
#include "model/encoder.h"
#include "base/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void encoder_augment(float *x, int B, int C, int S, int shift, Rng *r) {
    size_t plane = (size_t)S * S;
    float *tmp = xmalloc(plane * sizeof(float));
    for (int b = 0; b < B; b++) {
        int flip = rng_uniform(r) < 0.5f;
        int dx = (int)(rng_uniform(r) * (2 * shift + 1)) - shift, dy = (int)(rng_uniform(r) * (2 * shift + 1)) - shift;
        if (dx > shift) dx = shift;
        if (dy > shift) dy = shift;
        for (int c = 0; c < C; c++) {
            float *p = x + ((size_t)b * C + c) * plane;
            for (int i = 0; i < S; i++)
                for (int j = 0; j < S; j++) {
                    int si = i - dy, sj = flip ? S - 1 - (j - dx) : j - dx;
                    si = si < 0 ? 0 : si >= S ? S - 1 : si;
                    sj = sj < 0 ? 0 : sj >= S ? S - 1 : sj;
                    tmp[i * S + j] = p[si * S + sj];
                }
            memcpy(p, tmp, plane * sizeof(float));
        }
    }
    free(tmp);
}

float encoder_train(Encoder *e, const Dataset *ds, const EncoderTrainOpts *o) {
    const EncoderLayout *L = &e->L;
    int B = o->batch < e->max_batch ? o->batch : e->max_batch;
    size_t n = e->params.ntrain;
    float *m = xcalloc(2 * n, sizeof(float)), *v = m + n;
    float *x = xmalloc((size_t)B * L->channels * L->size * L->size * sizeof(float));
    int *y = xmalloc((size_t)B * sizeof(int));
    Loader ld;
    loader_init(&ld, ds, o->seed);
    double run_loss = 0, run_acc = 0, wsum = 0;
    float acc = 0;
    Rng ar;
    rng_seed(&ar, o->seed ^ 0xa5a5a5a5ULL);
    for (int step = 0; step < o->steps; step++) {
        loader_next(&ld, B, x, y);
        if (o->augment > 0) encoder_augment(x, B, L->channels, L->size, o->augment, &ar);
        params_zero_grad(&e->params);
        encoder_forward(e, x, B);
        float loss = encoder_xent(e, y, 1);
        int hit = 0;
        for (int b = 0; b < B; b++) {
            const float *p = e->probs + (size_t)b * L->num_classes;
            int arg = 0;
            for (int k = 1; k < L->num_classes; k++) if (p[k] > p[arg]) arg = k;
            hit += arg == y[b];
        }
        // Cosine decay from lr to lr * lr_end.
        float lr = o->lr * (o->lr_end + (1.0f - o->lr_end) * 0.5f * (1.0f + cosf((float)M_PI * step / (float)o->steps)));
        adamw_update(e->params.data, e->params.grad, m, v, n, lr, 0.9f, 0.999f, 1e-8f, o->weight_decay, step + 1);
        // Exponential running averages, bias-corrected, over roughly the last 50 steps.
        run_loss = 0.98 * run_loss + 0.02 * loss;
        run_acc = 0.98 * run_acc + 0.02 * (double)hit / B;
        wsum = 0.98 * wsum + 0.02;
        acc = (float)(run_acc / wsum);
        if (o->progress && o->log_every > 0 && ((step + 1) % o->log_every == 0 || step + 1 == o->steps))
            o->progress(o->ctx, step + 1, o->steps, (float)(run_loss / wsum), acc);
    }
    loader_free(&ld);
    free(m); free(x); free(y);
    return acc;
}

float encoder_accuracy(Encoder *e, const Dataset *ds, int n) {
    const EncoderLayout *L = &e->L;
    int N = dataset_len(ds);
    if (n <= 0 || n > N) n = N;
    int B = e->max_batch;
    size_t per = (size_t)L->channels * L->size * L->size;
    float *x = xmalloc((size_t)B * per * sizeof(float));
    int *y = xmalloc((size_t)B * sizeof(int));
    long hit = 0;
    for (int i0 = 0; i0 < n; i0 += B) {
        int nb = n - i0 < B ? n - i0 : B;
#pragma omp parallel for
        for (int b = 0; b < nb; b++) dataset_get(ds, i0 + b, x + (size_t)b * per, &y[b]);
        encoder_forward(e, x, nb);
        for (int b = 0; b < nb; b++) {
            const float *p = e->probs + (size_t)b * L->num_classes;
            int arg = 0;
            for (int k = 1; k < L->num_classes; k++) if (p[k] > p[arg]) arg = k;
            hit += arg == y[b];
        }
    }
    free(x); free(y);
    return n ? (float)hit / n : 0.0f;
}

