// disc.c: the PatchGAN discriminator (disc.h) on the op library: convs, a training-mode
// (Sync)BatchNorm of its own, LeakyReLU; and the hinge losses.
#include "model/disc.h"
#include "base/util.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

// Below this many elements a parallel region costs more than it saves (as in ops/act.c).
#define PAR_MIN 16384

static int mult(int n) { return n < 3 ? 1 << n : 8; } // min(2^n, 8)

int disc_build(Disc *d, int C, int S, int layers, int ch, int max_batch, int mode, char *err) {
    memset(d, 0, sizeof *d);
    if (layers < 1 || layers > DISC_MAXLAYERS)
        return seterr(err, "disc.layers is %d: use 1 .. %d", layers, DISC_MAXLAYERS);
    d->C = C; d->S = S; d->layers = layers; d->ch = ch; d->max_batch = max_batch; d->n = layers + 2;
    d->world = 1;
    params_init(&d->params);
    buf_init(&d->acts);
    int H = S, cin = C, seq = 0;
    size_t maxact = (size_t)max_batch * C * S * S, ws = 0;
    int maxc = 1;
    for (int i = 0; i < d->n; i++) {
        DiscLayer *L = &d->L[i];
        int last = i == d->n - 1, first = i == 0, bn = !first && !last;
        int cout = last ? 1 : ch * mult(i < layers ? i : layers);
        int stride = i < layers ? 2 : 1;
        if (conv2d_init(&L->c, max_batch, cin, H, H, cout, 4, stride, 1, 1, 1, 1, err) || L->c.Ho < 1) {
            params_free(&d->params);
            buf_free(&d->acts);
            return seterr(err, "the discriminator (disc.layers %d) shrinks data.image_size %d below one logit at "
                          "its conv %d: lower disc.layers (each stride-2 conv halves the side, the last two take "
                          "one off each)", layers, S, i);
        }
        snprintf(L->name, sizeof L->name, "main.%d", seq);
        char nm[PARAM_NAMELEN];
        snprintf(nm, sizeof nm, "%s.weight", L->name);
        params_add(&d->params, &L->w, 1, nm, 4, cout, cin, 4, 4);
        if (!bn) {
            snprintf(nm, sizeof nm, "%s.bias", L->name);
            params_add(&d->params, &L->b, 1, nm, 1, cout);
        } else {
            L->bn_index = seq + 1;
            snprintf(nm, sizeof nm, "main.%d.weight", seq + 1);
            params_add(&d->params, &L->g, 1, nm, 1, cout);
            snprintf(nm, sizeof nm, "main.%d.bias", seq + 1);
            params_add(&d->params, &L->beta, 1, nm, 1, cout);
            snprintf(nm, sizeof nm, "main.%d.running_mean", seq + 1);
            params_add(&d->params, &L->rmean, 0, nm, 1, cout);
            snprintf(nm, sizeof nm, "main.%d.running_var", seq + 1);
            params_add(&d->params, &L->rvar, 0, nm, 1, cout);
        }
        seq += first ? 2 : 3;
        size_t act = (size_t)max_batch * cout * L->c.Ho * L->c.Wo;
        buf_add(&d->acts, &L->y, act);
        if (bn) buf_add(&d->acts, &L->h, act);
        buf_add(&d->acts, &L->mean, cout);
        buf_add(&d->acts, &L->rstd, cout);
        buf_add(&d->acts, &L->uvar, cout);
        if (act > maxact) maxact = act;
        if (cout > maxc) maxc = cout;
        Conv2d one = L->c;
        one.B = 1;
        // Its maps are small: scratch for up to 64 images lets each conv be one or a few GEMMs.
        size_t w = conv2d_workspace_min(&one) * (size_t)(max_batch < 64 ? max_batch : 64);
        if (w > ws) ws = w;
        H = L->c.Ho;
        cin = cout;
    }
    d->Ho = d->Wo = H;
    buf_add(&d->acts, &d->g0, maxact);
    buf_add(&d->acts, &d->g1, maxact);
    buf_add(&d->acts, (float **)&d->stat, 4 * (size_t)maxc); // 2 maxc doubles
    params_alloc(&d->params, mode & (ALLOC_GRAD | ALLOC_COUNT));
    buf_alloc(&d->acts, mode & ALLOC_COUNT);
    if (mode & ALLOC_COUNT) {
        d->ws.cap = ws;
        return 0;
    }
    workspace_init(&d->ws, ws);
    for (int i = 0; i < d->n; i++)
        if (d->L[i].rvar)
            for (int c = 0; c < d->L[i].c.Cout; c++) d->L[i].rvar[c] = 1.0f;
    return 0;
}

void disc_free(Disc *d) {
    params_free(&d->params);
    buf_free(&d->acts);
    workspace_free(&d->ws);
    memset(d, 0, sizeof *d);
}

void disc_init(Disc *d, Rng *rng) {
    for (int i = 0; i < d->n; i++) {
        DiscLayer *L = &d->L[i];
        const Conv2d *c = &L->c;
        rng_fill_normal(rng, L->w, (size_t)c->Cout * c->Cin * 16, 0.02f);
        if (L->b) {
            float bound = 1.0f / sqrtf((float)(c->Cin * 16));
            rng_fill_uniform(rng, L->b, c->Cout, -bound, bound);
        }
        if (L->g) {
            rng_fill_normal(rng, L->g, c->Cout, 0.02f);
            for (int k = 0; k < c->Cout; k++) {
                L->g[k] += 1.0f;
                L->beta[k] = 0.0f;
                L->rmean[k] = 0.0f;
                L->rvar[k] = 1.0f;
            }
        }
    }
}

// PyTorch's running-statistics update (momentum 0.1, float arithmetic).
static void track_one(DiscLayer *L, const float *mean, const float *uvar) {
    for (int c = 0; c < L->c.Cout; c++) {
        L->rmean[c] = (1 - DISC_BN_MOMENTUM) * L->rmean[c] + DISC_BN_MOMENTUM * mean[c];
        L->rvar[c] = (1 - DISC_BN_MOMENTUM) * L->rvar[c] + DISC_BN_MOMENTUM * uvar[c];
    }
}

size_t disc_stats_floats(const Disc *d) {
    size_t n = 0;
    for (int i = 0; i < d->n; i++)
        if (d->L[i].g) n += 2 * (size_t)d->L[i].c.Cout;
    return n;
}

void disc_stats_save(const Disc *d, float *buf) {
    for (int i = 0; i < d->n; i++) {
        const DiscLayer *L = &d->L[i];
        if (!L->g) continue;
        memcpy(buf, L->mean, L->c.Cout * sizeof(float));
        memcpy(buf + L->c.Cout, L->uvar, L->c.Cout * sizeof(float));
        buf += 2 * L->c.Cout;
    }
}

void disc_track_stats(Disc *d, const float *buf) {
    for (int i = 0; i < d->n; i++) {
        DiscLayer *L = &d->L[i];
        if (!L->g) continue;
        track_one(L, buf, buf + L->c.Cout);
        buf += 2 * L->c.Cout;
    }
}

static void sum_all(const Disc *d, double *v, int n) {
    if (d->reduce) d->reduce(d->reduce_ctx, v, n);
}

// Training-mode BatchNorm of y into h, then LeakyReLU in place. The sums are in double, so
// that one pass (sum, sum of squares) is as exact as PyTorch's two and reduces in one call.
static void bn_forward(Disc *d, DiscLayer *L, int B, int track) {
    int C = L->c.Cout, HW = L->c.Ho * L->c.Wo;
    double *s = d->stat, n = (double)B * HW * d->world;
#pragma omp parallel for schedule(static) if ((size_t)B * C * HW >= PAR_MIN)
    for (int c = 0; c < C; c++) {
        double a = 0, q = 0;
        for (int b = 0; b < B; b++) {
            const float *y = L->y + ((size_t)b * C + c) * HW;
            for (int p = 0; p < HW; p++) { a += y[p]; q += (double)y[p] * y[p]; }
        }
        s[c] = a;
        s[C + c] = q;
    }
    sum_all(d, s, 2 * C);
    for (int c = 0; c < C; c++) {
        double mean = s[c] / n, var = s[C + c] / n - mean * mean;
        if (var < 0) var = 0;
        L->mean[c] = (float)mean;
        L->rstd[c] = (float)(1.0 / sqrt(var + DISC_BN_EPS));
        L->uvar[c] = (float)(n > 1 ? var * n / (n - 1) : var);
    }
    if (track) track_one(L, L->mean, L->uvar);
#pragma omp parallel for schedule(static) if ((size_t)B * C * HW >= PAR_MIN)
    for (int bc = 0; bc < B * C; bc++) {
        int c = bc % C;
        float m = L->mean[c], r = L->rstd[c] * L->g[c], be = L->beta[c];
        const float *y = L->y + (size_t)bc * HW;
        float *h = L->h + (size_t)bc * HW;
        for (int p = 0; p < HW; p++) {
            float v = (y[p] - m) * r + be;
            h[p] = v > 0 ? v : DISC_SLOPE * v;
        }
    }
}

const float *disc_forward(Disc *d, const float *x, int B, int track) {
    REPAE_ASSERT(B >= 1 && B <= d->max_batch, "disc_forward: batch %d outside 1 .. %d", B, d->max_batch);
    d->B = B;
    const float *in = x;
    for (int i = 0; i < d->n; i++) {
        DiscLayer *L = &d->L[i];
        Conv2d c = L->c;
        c.B = B;
        L->in = in;
        conv2d_forward(L->y, in, L->w, L->b, &c, &d->ws);
        size_t n = (size_t)B * c.Cout * c.Ho * c.Wo;
        if (L->g) {
            bn_forward(d, L, B, track);
            in = L->h;
        } else if (i < d->n - 1) {
            leaky_relu_forward(L->y, L->y, n, DISC_SLOPE);
            in = L->y;
        }
    }
    return d->L[d->n - 1].y;
}

// g (gradient of h) becomes in place the gradient of y: LeakyReLU (from its output h), then
// BatchNorm with batch statistics; dgamma, dbeta added when wgrad.
static void bn_backward(Disc *d, DiscLayer *L, float *g, int B, int wgrad) {
    int C = L->c.Cout, HW = L->c.Ho * L->c.Wo;
    double *s = d->stat, n = (double)B * HW * d->world;
    float *dg = wgrad ? param_grad(&d->params, L->g) : NULL, *db = wgrad ? param_grad(&d->params, L->beta) : NULL;
#pragma omp parallel for schedule(static) if ((size_t)B * C * HW >= PAR_MIN)
    for (int c = 0; c < C; c++) {
        double a = 0, q = 0; // sum of dh, sum of dh * xhat (dh: the gradient of BN's output)
        float m = L->mean[c], r = L->rstd[c];
        for (int b = 0; b < B; b++) {
            size_t o = ((size_t)b * C + c) * HW;
            const float *y = L->y + o, *h = L->h + o;
            float *gg = g + o;
            for (int p = 0; p < HW; p++) {
                if (!(h[p] > 0)) gg[p] *= DISC_SLOPE;
                a += gg[p];
                q += (double)gg[p] * ((y[p] - m) * r);
            }
        }
        s[c] = a;
        s[C + c] = q;
        if (dg) { dg[c] += (float)q; db[c] += (float)a; }
    }
    // The parameter gradients above are this share's (the trainer averages them over the
    // processes); the input gradient needs the sums over the whole batch.
    sum_all(d, s, 2 * C);
#pragma omp parallel for schedule(static) if ((size_t)B * C * HW >= PAR_MIN)
    for (int bc = 0; bc < B * C; bc++) {
        int c = bc % C;
        float m = L->mean[c], r = L->rstd[c], k = r * L->g[c];
        float ma = (float)(s[c] / n), mq = (float)(s[C + c] / n);
        const float *y = L->y + (size_t)bc * HW;
        float *gg = g + (size_t)bc * HW;
        for (int p = 0; p < HW; p++) gg[p] = k * (gg[p] - ma - (y[p] - m) * r * mq);
    }
}

void disc_backward(Disc *d, float *dx, const float *dlogits, int wgrad) {
    int B = d->B;
    const float *dout = dlogits;
    float *buf[2] = {d->g0, d->g1};
    int cur = 0;
    for (int i = d->n - 1; i >= 0; i--) {
        DiscLayer *L = &d->L[i];
        Conv2d c = L->c;
        c.B = B;
        float *dinp = NULL;
        if (i > 0) {
            dinp = buf[cur];
            memset(dinp, 0, (size_t)B * c.Cin * c.H * c.W * sizeof(float));
        } else {
            dinp = dx;
        }
        float *dw = wgrad ? param_grad(&d->params, L->w) : NULL, *dbias = wgrad ? param_grad(&d->params, L->b) : NULL;
        if (dinp || dw) conv2d_backward(dinp, dw, dbias, dout, L->in, L->w, &c, &d->ws);
        if (i == 0) break;
        // dinp is the gradient of the previous layer's activation: back through its LeakyReLU
        // (and BatchNorm) in place, to the gradient of its conv's output.
        DiscLayer *P = &d->L[i - 1];
        size_t n = (size_t)B * P->c.Cout * P->c.Ho * P->c.Wo;
        if (P->g) bn_backward(d, P, dinp, B, wgrad);
        else
            for (size_t k = 0; k < n; k++)
                if (!(P->y[k] > 0)) dinp[k] *= DISC_SLOPE;
        dout = dinp;
        cur ^= 1;
    }
}

// ---- hinge losses -------------------------------------------------------------------------------
float hinge_g_forward(const float *logits, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += logits[i];
    return (float)(-s / (double)n);
}

void hinge_g_backward(float *dlog, size_t n, float scale) {
    float g = -scale / (float)n;
    for (size_t i = 0; i < n; i++) dlog[i] += g;
}

static float hinge_half(const float *l, size_t n, float sign) {
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        float v = 1.0f + sign * l[i];
        if (v > 0) s += v;
    }
    return (float)(0.5 * s / (double)n);
}

float hinge_d_real_forward(const float *real, size_t n) { return hinge_half(real, n, -1.0f); }
float hinge_d_fake_forward(const float *fake, size_t n) { return hinge_half(fake, n, 1.0f); }

// d/dl 0.5 mean relu(1 + sign l) = 0.5 sign / n where 1 + sign l > 0 (PyTorch's relu: 0 at 0).
static void hinge_half_backward(float *dlog, const float *l, size_t n, float sign, float scale) {
    float g = 0.5f * sign * scale / (float)n;
    for (size_t i = 0; i < n; i++)
        if (1.0f + sign * l[i] > 0) dlog[i] += g;
}

void hinge_d_real_backward(float *dlog, const float *real, size_t n, float scale) {
    hinge_half_backward(dlog, real, n, -1.0f, scale);
}
void hinge_d_fake_backward(float *dlog, const float *fake, size_t n, float scale) {
    hinge_half_backward(dlog, fake, n, 1.0f, scale);
}
