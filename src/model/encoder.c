// encoder.c: see encoder.h.
#include "model/encoder.h"
#include "base/safetensors.h"
#include "base/util.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ENC_GN_EPS 1e-5f

static int default_groups(int c) {
    int g = c < 8 ? c : 8;
    while (c % g) g--;
    return g;
}

EncoderLayout encoder_layout_default(int channels, int size, int num_classes) {
    EncoderLayout L = {.channels = channels, .size = size, .nlevels = 3, .ch = {16, 32, 64},
                       .convs = 2, .groups = 8, .num_classes = num_classes};
    return L;
}

// Different widths, one more (coarser) stage and a single conv per stage, so that the metric
// network does not share the target encoder's inductive biases or its features.
EncoderLayout evaluator_layout_default(int channels, int size, int num_classes) {
    EncoderLayout L = {.channels = channels, .size = size, .nlevels = 4, .ch = {24, 48, 96, 128},
                       .convs = 1, .groups = 4, .num_classes = num_classes};
    while (L.nlevels > 1 && (size >> (L.nlevels - 1)) < 2) L.nlevels--;
    return L;
}

void encoder_layout_str(const EncoderLayout *L, char *buf, size_t n) {
    int k = snprintf(buf, n, "C=%d S=%d ch=", L->channels, L->size);
    for (int i = 0; i < L->nlevels && k > 0 && (size_t)k < n; i++)
        k += snprintf(buf + k, n - k, "%s%d", i ? "," : "", L->ch[i]);
    if (k > 0 && (size_t)k < n)
        snprintf(buf + k, n - k, " convs=%d groups=%d classes=%d", L->convs, L->groups, L->num_classes);
}

int encoder_layout_parse(EncoderLayout *L, const char *s, char *err) {
    memset(L, 0, sizeof *L);
    char ch[128];
    if (sscanf(s, "C=%d S=%d ch=%127s convs=%d groups=%d classes=%d", &L->channels, &L->size, ch, &L->convs,
               &L->groups, &L->num_classes) != 6)
        return seterr(err, "encoder layout '%s' is not of the form 'C=1 S=32 ch=16,32,64 convs=2 groups=8 classes=10'", s);
    char *p = ch;
    while (*p && L->nlevels < ENC_MAXLEVELS) {
        L->ch[L->nlevels++] = (int)strtol(p, &p, 10);
        if (*p == ',') p++;
    }
    return 0;
}

static int check_layout(const EncoderLayout *L, char *err) {
    if (L->channels < 1 || L->size < 1 || L->nlevels < 1 || L->nlevels > ENC_MAXLEVELS || L->convs < 1 ||
        L->convs > ENC_MAXCONVS || L->groups < 1 || L->num_classes < 1)
        return seterr(err, "encoder layout out of range (channels %d, size %d, %d stages of at most %d, "
                           "%d convs of at most %d, groups %d, classes %d)", L->channels, L->size, L->nlevels,
                      ENC_MAXLEVELS, L->convs, ENC_MAXCONVS, L->groups, L->num_classes);
    if (L->size % (1 << (L->nlevels - 1)))
        return seterr(err, "encoder: image size %d is not divisible by 2^%d for %d stages", L->size, L->nlevels - 1,
                      L->nlevels);
    for (int i = 0; i < L->nlevels; i++)
        if (L->ch[i] < 1) return seterr(err, "encoder: stage %d has %d channels", i, L->ch[i]);
    return 0;
}

int encoder_build(Encoder *e, const EncoderLayout *L, int max_batch, int mode, char *err) {
    memset(e, 0, sizeof *e);
    if (check_layout(L, err)) return -1;
    e->L = *L;
    e->max_batch = max_batch;
    params_init(&e->params);
    int cin = L->channels, H = L->size;
    size_t maxact = (size_t)max_batch * cin * H * H, ws = 0;
    char name[PARAM_NAMELEN];
    for (int i = 0; i < L->nlevels; i++)
        for (int j = 0; j < L->convs; j++) {
            EncUnit *u = &e->u[e->nu++];
            int s = (i > 0 && j == 0) ? 2 : 1, cout = L->ch[i];
            char e2[ERRLEN];
            if (conv2d_init(&u->c, max_batch, cin, H, H, cout, 3, s, 1, 1, 1, 1, e2))
                return seterr(err, "encoder stage %d conv %d: %s", i, j, e2);
            u->G = L->groups < cout ? L->groups : cout;
            if (cout % u->G)
                return seterr(err, "encoder stage %d: %d channels are not divisible into %d GroupNorm groups", i, cout,
                              u->G);
            snprintf(name, sizeof name, "stages.%d.%d.conv.weight", i, j);
            params_add(&e->params, &u->w, 1, name, 4, cout, cin, 3, 3);
            snprintf(name, sizeof name, "stages.%d.%d.conv.bias", i, j);
            params_add(&e->params, &u->b, 1, name, 1, cout);
            snprintf(name, sizeof name, "stages.%d.%d.norm.weight", i, j);
            params_add(&e->params, &u->gw, 1, name, 1, cout);
            snprintf(name, sizeof name, "stages.%d.%d.norm.bias", i, j);
            params_add(&e->params, &u->gb, 1, name, 1, cout);
            size_t P = (size_t)u->c.Ho * u->c.Wo, per = conv2d_workspace_min(&u->c);
            size_t imgs = (4096 + P - 1) / P;
            if (imgs > (size_t)max_batch) imgs = max_batch;
            if (per * imgs > ws) ws = per * imgs;
            cin = cout;
            H = u->c.Ho;
            size_t act = (size_t)max_batch * cout * H * H;
            if (act > maxact) maxact = act;
        }
    int K = L->num_classes, F = L->ch[L->nlevels - 1];
    params_add(&e->params, &e->head_w, 1, "head.weight", 2, K, F);
    params_add(&e->params, &e->head_b, 1, "head.bias", 1, K);
    params_alloc(&e->params, mode);
    buf_init(&e->acts);
    buf_add(&e->acts, &e->x, (size_t)max_batch * L->channels * L->size * L->size);
    for (int k = 0; k < e->nu; k++) {
        EncUnit *u = &e->u[k];
        size_t n = (size_t)max_batch * u->c.Cout * u->c.Ho * u->c.Wo;
        buf_add(&e->acts, &u->conv, n);
        buf_add(&e->acts, &u->norm, n);
        buf_add(&e->acts, &u->out, n);
        buf_add(&e->acts, &u->mean, (size_t)max_batch * u->G);
        buf_add(&e->acts, &u->rstd, (size_t)max_batch * u->G);
    }
    buf_add(&e->acts, &e->pool, (size_t)max_batch * F);
    buf_add(&e->acts, &e->logits, (size_t)max_batch * K);
    buf_add(&e->acts, &e->probs, (size_t)max_batch * K);
    if (mode & ALLOC_GRAD) {
        buf_add(&e->acts, &e->g[0], maxact);
        buf_add(&e->acts, &e->g[1], maxact);
        buf_add(&e->acts, &e->gt, maxact);
        buf_add(&e->acts, &e->dpool, (size_t)max_batch * F);
        buf_add(&e->acts, &e->dlogits, (size_t)max_batch * K);
    }
    buf_alloc(&e->acts, mode & ALLOC_COUNT);
    if (mode & ALLOC_COUNT) e->ws.cap = ws ? ws : 1;
    else workspace_init(&e->ws, ws ? ws : 1);
    return 0;
}

void encoder_free(Encoder *e) {
    params_free(&e->params);
    buf_free(&e->acts);
    workspace_free(&e->ws);
    memset(e, 0, sizeof *e);
}

void encoder_init(Encoder *e, Rng *r) {
    memset(e->params.data, 0, e->params.ntrain * sizeof(float));
    for (int k = 0; k < e->nu; k++) {
        EncUnit *u = &e->u[k];
        int fan_in = u->c.Cin * 9;
        float a = 1.0f / sqrtf((float)fan_in); // PyTorch's kaiming_uniform_(a=sqrt(5)) bound
        rng_fill_uniform(r, u->w, (size_t)u->c.Cout * fan_in, -a, a);
        for (int c = 0; c < u->c.Cout; c++) u->gw[c] = 1.0f;
    }
    int F = e->L.ch[e->L.nlevels - 1];
    float a = 1.0f / sqrtf((float)F);
    rng_fill_uniform(r, e->head_w, (size_t)e->L.num_classes * F, -a, a);
}

const float *encoder_forward(Encoder *e, const float *x, int B) {
    REPAE_ASSERT(B <= e->max_batch, "encoder_forward: batch %d exceeds max_batch %d", B, e->max_batch);
    e->B = B;
    const EncoderLayout *L = &e->L;
    memcpy(e->x, x, (size_t)B * L->channels * L->size * L->size * sizeof(float));
    const float *in = e->x;
    for (int k = 0; k < e->nu; k++) {
        EncUnit *u = &e->u[k];
        Conv2d c = u->c;
        c.B = B;
        int HW = c.Ho * c.Wo;
        u->in = in;
        conv2d_forward(u->conv, in, u->w, u->b, &c, &e->ws);
        groupnorm_forward(u->norm, u->mean, u->rstd, u->conv, u->gw, u->gb, B, c.Cout, HW, u->G, ENC_GN_EPS);
        silu_forward(u->out, u->norm, (size_t)B * c.Cout * HW);
        in = u->out;
    }
    EncUnit *last = &e->u[e->nu - 1];
    int F = last->c.Cout, HW = last->c.Ho * last->c.Wo, K = L->num_classes;
#pragma omp parallel for
    for (int i = 0; i < B * F; i++) {
        double s = 0;
        for (int p = 0; p < HW; p++) s += last->out[(size_t)i * HW + p];
        e->pool[i] = (float)(s / HW);
    }
    linear_forward(e->logits, e->pool, e->head_w, e->head_b, B, F, K);
    softmax_forward(e->probs, e->logits, B, K);
    return e->logits;
}

const float *encoder_stage_out(const Encoder *e, int stage) {
    return e->u[(stage + 1) * e->L.convs - 1].out;
}

int encoder_stage_size(const Encoder *e, int stage) { return e->L.size >> stage; }

float encoder_xent(Encoder *e, const int *labels, int backward) {
    int B = e->B, K = e->L.num_classes;
    double loss = 0;
    for (int b = 0; b < B; b++) {
        float p = e->probs[(size_t)b * K + labels[b]];
        loss -= log(p > 1e-30f ? p : 1e-30f);
    }
    loss /= B;
    if (!backward || !e->params.grad) return (float)loss;
    // d(mean CE)/dlogits = (softmax - onehot) / B
    for (int b = 0; b < B; b++)
        for (int k = 0; k < K; k++)
            e->dlogits[(size_t)b * K + k] = (e->probs[(size_t)b * K + k] - (k == labels[b] ? 1.0f : 0.0f)) / B;
    int F = e->u[e->nu - 1].c.Cout;
    memset(e->dpool, 0, (size_t)B * F * sizeof(float));
    linear_backward(e->dpool, param_grad(&e->params, e->head_w), param_grad(&e->params, e->head_b), e->dlogits,
                    e->pool, e->head_w, B, F, K);
    encoder_backward(e, NULL, e->dpool, NULL, 1);
    return (float)loss;
}

void encoder_backward(Encoder *e, const float *const *dstage, const float *dpool, float *dx, int param_grads) {
    REPAE_ASSERT(e->g[0], "encoder_backward: the encoder was built without gradient scratch (ALLOC_GRAD)");
    int B = e->B, convs = e->L.convs;
    const ParamTable *t = &e->params;
    float *dout = NULL; // gradient at the current unit's output; NULL while nothing has flowed in
    EncUnit *last = &e->u[e->nu - 1];
    if (dpool) {
        int F = last->c.Cout, HW = last->c.Ho * last->c.Wo;
        dout = e->g[0];
#pragma omp parallel for
        for (int i = 0; i < B * F; i++)
            for (int p = 0; p < HW; p++) dout[(size_t)i * HW + p] = dpool[i] / HW;
    }
#define G(w) (param_grads ? param_grad(t, (w)) : NULL)
    for (int k = e->nu - 1; k >= 0; k--) {
        EncUnit *u = &e->u[k];
        Conv2d c = u->c;
        c.B = B;
        size_t n = (size_t)B * c.Cout * c.Ho * c.Wo;
        const float *ds = (dstage && (k + 1) % convs == 0) ? dstage[k / convs] : NULL;
        if (ds) {
            if (!dout) {
                dout = e->g[0];
                memcpy(dout, ds, n * sizeof(float));
            } else
                for (size_t i = 0; i < n; i++) dout[i] += ds[i];
        }
        if (!dout) continue; // no gradient above this unit yet: nothing to do
        // dout (g[0]) is consumed into dn before g[0] is reused for the input gradient.
        float *dn = e->gt, *dc = e->g[1];
        memset(dn, 0, n * sizeof(float));
        silu_backward(dn, dout, u->norm, n);
        memset(dc, 0, n * sizeof(float));
        groupnorm_backward(dc, G(u->gw), G(u->gb), dn, u->conv, u->mean, u->rstd, u->gw, B, c.Cout, c.Ho * c.Wo,
                           u->G);
        // The first conv's input gradient goes to dx (accumulated), or is skipped.
        float *din = k > 0 ? e->g[0] : dx;
        if (k > 0) memset(din, 0, (size_t)B * c.Cin * c.H * c.W * sizeof(float));
        conv2d_backward(din, G(u->w), G(u->b), dc, u->in, u->w, &c, &e->ws);
        dout = din;
    }
#undef G
}

// ---- files ---------------------------------------------------------------------------------

int encoder_save(const Encoder *e, const char *path, const char *kind, const char *dataset, double accuracy,
                 char *err) {
    return encoder_save_meta(e, path, kind, dataset, accuracy, NULL, 0, err);
}

int encoder_save_meta(const Encoder *e, const char *path, const char *kind, const char *dataset, double accuracy,
                      const char *const *meta, int nmeta, char *err) {
    StWriter w;
    st_writer_init(&w);
    const ParamTable *t = &e->params;
    for (int i = 0; i < t->n; i++)
        st_writer_add(&w, t->p[i].name, t->data + t->p[i].offset, t->p[i].ndim, t->p[i].shape);
    char buf[256];
    encoder_layout_str(&e->L, buf, sizeof buf);
    st_writer_meta(&w, "format", "pt");
    st_writer_meta(&w, "repae.kind", kind ? kind : "encoder");
    st_writer_meta(&w, "repae.layout", buf);
    if (dataset) st_writer_meta(&w, "repae.dataset", dataset);
    if (accuracy >= 0) {
        snprintf(buf, sizeof buf, "%.4f", accuracy);
        st_writer_meta(&w, "repae.test_accuracy", buf);
    }
    for (int i = 0; i < nmeta; i++) st_writer_meta(&w, meta[2 * i], meta[2 * i + 1]);
    int rc = st_writer_save(&w, path, err);
    st_writer_free(&w);
    return rc;
}

// The layout of a file without repae metadata, from its tensor shapes.
static int layout_from_shapes(EncoderLayout *L, const SafeTensors *st, const char *path, char *err) {
    memset(L, 0, sizeof *L);
    char name[PARAM_NAMELEN];
    for (int i = 0; i < ENC_MAXLEVELS; i++) {
        snprintf(name, sizeof name, "stages.%d.0.conv.weight", i);
        const StTensor *t = st_find(st, name);
        if (!t) break;
        if (t->ndim != 4) return seterr(err, "%s: %s is not a 4-d conv weight", path, name);
        L->ch[L->nlevels++] = (int)t->shape[0];
        if (i == 0) L->channels = (int)t->shape[1];
    }
    if (!L->nlevels)
        return seterr(err, "%s: no tensor stages.0.0.conv.weight: not an encoder file of repae's layout "
                           "(write one with `repae encoder train`)", path);
    for (L->convs = 1; L->convs < ENC_MAXCONVS; L->convs++) {
        snprintf(name, sizeof name, "stages.0.%d.conv.weight", L->convs);
        if (!st_find(st, name)) break;
    }
    const StTensor *h = st_find(st, "head.weight");
    if (!h || h->ndim != 2) return seterr(err, "%s: no 2-d tensor head.weight", path);
    L->num_classes = (int)h->shape[0];
    L->groups = 8;
    for (int i = 0; i < L->nlevels; i++) {
        int g = default_groups(L->ch[i]);
        if (g < L->groups) L->groups = g;
    }
    L->size = 0; // unknown: the caller's image size is used
    return 0;
}

int encoder_load(Encoder *e, const char *path, int channels, int size, int max_batch, char *kind, char *err) {
    return encoder_load_mode(e, path, channels, size, max_batch, 0, kind, err);
}

int encoder_load_mode(Encoder *e, const char *path, int channels, int size, int max_batch, int mode, char *kind,
                      char *err) {
    SafeTensors st;
    char e2[ERRLEN];
    if (st_read(&st, path, e2)) return seterr(err, "%s", e2);
    EncoderLayout L;
    const char *ls = st_meta(&st, "repae.layout"), *k = st_meta(&st, "repae.kind");
    int rc = ls ? encoder_layout_parse(&L, ls, err) : layout_from_shapes(&L, &st, path, err);
    if (kind) snprintf(kind, 32, "%s", k ? k : "");
    st_free(&st);
    if (rc) return -1;
    if (L.channels != channels || (L.size && L.size != size))
        return seterr(err, "%s: the network takes %d-channel %dx%d images, but the data here are %d-channel %dx%d; "
                           "train one for this dataset", path, L.channels, L.size, L.size, channels, size, size);
    L.size = size;
    if (encoder_build(e, &L, max_batch, mode, e2)) return seterr(err, "%s: %s", path, e2);
    ParamGroup g = {&e->params, ""};
    if (params_load(&g, 1, path, 0, e2)) {
        encoder_free(e);
        return seterr(err, "%s", e2);
    }
    return 0;
}

char *encoder_default_path(const char *kind, const char *dataset, char *buf, size_t n) {
    const char *home = getenv("REPAE_HOME");
    if (home && *home) snprintf(buf, n, "%s/%s-%s.safetensors", home, kind, dataset);
    else {
        const char *h = getenv("HOME");
        snprintf(buf, n, "%s/.cache/repae/%s-%s.safetensors", h && *h ? h : ".", kind, dataset);
    }
    return buf;
}
