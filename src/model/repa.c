// repa.c: see repa.h.
#include "model/repa.h"
#include "base/util.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int projector_build(Projector *p, int D, int P, int F, int max_rows, int mode, char *err) {
    memset(p, 0, sizeof *p);
    if (D < 1 || P < 1 || F < 1 || max_rows < 1)
        return seterr(err, "projector: sizes D %d, P %d, F %d, rows %d must be positive", D, P, F, max_rows);
    p->D = D; p->P = P; p->F = F; p->max_rows = max_rows;
    params_init(&p->params);
    params_add(&p->params, &p->w0, 1, "projectors.0.0.weight", 2, P, D);
    params_add(&p->params, &p->b0, 1, "projectors.0.0.bias", 1, P);
    params_add(&p->params, &p->w2, 1, "projectors.0.2.weight", 2, P, P);
    params_add(&p->params, &p->b2, 1, "projectors.0.2.bias", 1, P);
    params_add(&p->params, &p->w4, 1, "projectors.0.4.weight", 2, F, P);
    params_add(&p->params, &p->b4, 1, "projectors.0.4.bias", 1, F);
    params_alloc(&p->params, mode);
    size_t N = (size_t)max_rows;
    buf_init(&p->acts);
    buf_add(&p->acts, &p->h, N * D);
    buf_add(&p->acts, &p->a1, N * P);
    buf_add(&p->acts, &p->s1, N * P);
    buf_add(&p->acts, &p->a2, N * P);
    buf_add(&p->acts, &p->s2, N * P);
    buf_add(&p->acts, &p->out, N * F);
    buf_add(&p->acts, &p->dout, N * F);
    buf_add(&p->acts, &p->ds, N * P);
    buf_add(&p->acts, &p->da, N * P);
    buf_alloc(&p->acts, mode & ALLOC_COUNT);
    return 0;
}

void projector_free(Projector *p) {
    params_free(&p->params);
    buf_free(&p->acts);
    memset(p, 0, sizeof *p);
}

static void xavier(Rng *r, float *w, int fan_out, int fan_in) {
    float a = sqrtf(6.0f / (float)(fan_in + fan_out));
    rng_fill_uniform(r, w, (size_t)fan_out * fan_in, -a, a);
}

void projector_init(Projector *p, Rng *r) {
    memset(p->params.data, 0, p->params.ntrain * sizeof(float));
    xavier(r, p->w0, p->P, p->D);
    xavier(r, p->w2, p->P, p->P);
    xavier(r, p->w4, p->F, p->P);
}

const float *projector_forward(Projector *p, const float *tokens, int N) {
    REPAE_ASSERT(N <= p->max_rows, "projector_forward: %d rows exceed max_rows %d", N, p->max_rows);
    p->N = N;
    size_t nP = (size_t)N * p->P;
    memcpy(p->h, tokens, (size_t)N * p->D * sizeof(float));
    linear_forward(p->a1, p->h, p->w0, p->b0, N, p->D, p->P);
    silu_forward(p->s1, p->a1, nP);
    linear_forward(p->a2, p->s1, p->w2, p->b2, N, p->P, p->P);
    silu_forward(p->s2, p->a2, nP);
    linear_forward(p->out, p->s2, p->w4, p->b4, N, p->P, p->F);
    return p->out;
}

void projector_backward(Projector *p, float *dtokens, const float *dout, int param_grads) {
    const ParamTable *t = &p->params;
    int N = p->N, D = p->D, P = p->P, F = p->F;
    size_t nP = (size_t)N * P;
#define G(w) (param_grads ? param_grad(t, (w)) : NULL)
    memset(p->ds, 0, nP * sizeof(float));
    linear_backward(p->ds, G(p->w4), G(p->b4), dout, p->s2, p->w4, N, P, F);
    memset(p->da, 0, nP * sizeof(float));
    silu_backward(p->da, p->ds, p->a2, nP);
    memset(p->ds, 0, nP * sizeof(float));
    linear_backward(p->ds, G(p->w2), G(p->b2), p->da, p->s1, p->w2, N, P, P);
    memset(p->da, 0, nP * sizeof(float));
    silu_backward(p->da, p->ds, p->a1, nP);
    linear_backward(dtokens, G(p->w0), G(p->b0), p->da, p->h, p->w0, N, D, P);
#undef G
}

float repa_loss_forward(Projector *p, const float *tokens, const float *targets, int B, int T) {
    const float *out = projector_forward(p, tokens, B * T);
    p->target = targets;
    return neg_cosine_forward(out, targets, B * T, p->F);
}

void repa_loss_backward(Projector *p, float *dtokens, float w, int param_grads) {
    size_t nF = (size_t)p->N * p->F;
    memset(p->dout, 0, nF * sizeof(float));
    neg_cosine_backward(p->dout, NULL, p->out, p->target, p->N, p->F, w);
    projector_backward(p, dtokens, p->dout, param_grads);
}

// ---- targets ---------------------------------------------------------------------------------

int repa_pick_stage(const Encoder *e, int gh, int gw, int *stage, int *factor, char *err) {
    *stage = -1;
    // The deepest stage whose grid pools evenly onto the tokens: the most semantic features
    // that still keep one vector per token position.
    for (int i = e->L.nlevels - 1; i >= 0; i--) {
        int s = encoder_stage_size(e, i);
        if (s >= gh && s >= gw && s % gh == 0 && s % gw == 0 && s / gh == s / gw) {
            *stage = i;
            *factor = s / gh;
            return 0;
        }
    }
    return seterr(err, "the target encoder's feature maps (%dx%d down to %dx%d) do not pool evenly onto the "
                       "SiT's %dx%d token grid; change sit.patch or the encoder's layout",
                  e->L.size, e->L.size, encoder_stage_size(e, e->L.nlevels - 1),
                  encoder_stage_size(e, e->L.nlevels - 1), gh, gw);
}

int repa_target_init(RepaTarget *t, int gh, int gw, char *err) {
    const Encoder *e = &t->enc;
    t->gh = gh; t->gw = gw; t->T = gh * gw;
    if (repa_pick_stage(e, gh, gw, &t->stage, &t->factor, err)) return -1;
    t->F = e->L.ch[t->stage];
    return 0;
}

int repa_target_open_for(RepaTarget *t, const char *target, const char *path, const char *dataset, int channels,
                         int size, int gh, int gw, int max_batch, char *err) {
    memset(t, 0, sizeof *t);
    int ssl = !target || strcmp(target, "supervised") != 0;
    const char *want = ssl ? "ssl-encoder" : "encoder";
    const char *how = ssl ? "" : " --objective supervised";
    char def[1024];
    if (!path || !*path) path = encoder_default_path(want, dataset, def, sizeof def);
    struct stat sb;
    if (stat(path, &sb) != 0)
        return seterr(err, "target encoder %s does not exist: run `repae encoder train --dataset %s%s` first "
                           "(a few minutes), or name a trained encoder in align.encoder", path, dataset, how);
    char kind[32];
    if (encoder_load(&t->enc, path, channels, size, max_batch, kind, err)) return -1;
    // A file that says what it is must be what align.target asks for: a supervised encoder
    // silently standing in for the self-supervised one would make REPA class supervision again.
    if (kind[0] && strcmp(kind, want) != 0) {
        encoder_free(&t->enc);
        return seterr(err, "%s is a \"%s\" file but align.target \"%s\" needs an \"%s\" one: set align.target to "
                           "\"%s\", or train one with `repae encoder train --dataset %s%s`", path, kind,
                      ssl ? "ssl" : "supervised", want, strcmp(kind, "ssl-encoder") == 0 ? "ssl" : "supervised",
                      dataset, how);
    }
    if (repa_target_init(t, gh, gw, err)) {
        encoder_free(&t->enc);
        return -1;
    }
    snprintf(t->path, sizeof t->path, "%s", path);
    return 0;
}

int repa_target_open(RepaTarget *t, const char *path, const char *dataset, int channels, int size, int gh, int gw,
                     int max_batch, char *err) {
    return repa_target_open_for(t, "supervised", path, dataset, channels, size, gh, gw, max_batch, err);
}

void repa_target_free(RepaTarget *t) {
    encoder_free(&t->enc);
    memset(t, 0, sizeof *t);
}

void repa_pool_grid(const float *m, int B, int F, int s, int f, int gw, int T, float *out) {
    float inv = 1.0f / (float)(f * f);
#pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++)
        for (int n = 0; n < T; n++) {
            int i = n / gw, j = n % gw;
            float *o = out + ((size_t)b * T + n) * F;
            for (int c = 0; c < F; c++) {
                const float *p = m + (((size_t)b * F + c) * s + (size_t)i * f) * s + (size_t)j * f;
                float acc = 0;
                for (int di = 0; di < f; di++)
                    for (int dj = 0; dj < f; dj++) acc += p[(size_t)di * s + dj];
                o[c] = acc * inv;
            }
        }
}

void repa_pool_grid_backward(float *dm, int B, int F, int s, int f, int gw, int T, const float *dout) {
    float inv = 1.0f / (float)(f * f);
#pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++)
        for (int n = 0; n < T; n++) {
            int i = n / gw, j = n % gw;
            const float *o = dout + ((size_t)b * T + n) * F;
            for (int c = 0; c < F; c++) {
                float *p = dm + (((size_t)b * F + c) * s + (size_t)i * f) * s + (size_t)j * f;
                for (int di = 0; di < f; di++)
                    for (int dj = 0; dj < f; dj++) p[(size_t)di * s + dj] = o[c] * inv;
            }
        }
}

void repa_targets(RepaTarget *t, const float *x, int B, float *out) {
    Encoder *e = &t->enc;
    encoder_forward(e, x, B);
    repa_pool_grid(encoder_stage_out(e, t->stage), B, t->F, encoder_stage_size(e, t->stage), t->factor, t->gw,
                   t->T, out);
}
