// ssl_view.c: the augmented views of the self-supervised objective (ssl.h): a random crop
// (scale and translation), a horizontal flip, intensity/colour jitter, and the token-cell
// correspondence between two views that the dense term needs.
#include "model/ssl.h"
#include <math.h>

SslAugment ssl_augment_default(void) {
    return (SslAugment){.min_scale = 0.6f, .shift = 2.0f, .flip_p = 0.5f, .gain = 0.4f, .bias = 0.3f,
                        .chroma = 0.2f, .grey_p = 0.2f};
}

static float unif(Rng *r, float lo, float hi) { return lo + (hi - lo) * rng_uniform(r); }

void ssl_view_draw(SslView *v, int S, const SslAugment *a, Rng *r) {
    // Square crops keep the token cells square, so one cell maps onto about one cell.
    float scale = unif(r, a->min_scale, 1.0f), side = scale * S;
    v->sy = v->sx = scale;
    v->y0 = unif(r, -a->shift, S - side + a->shift);
    v->x0 = unif(r, -a->shift, S - side + a->shift);
    v->flip = rng_uniform(r) < a->flip_p;
    v->grey = rng_uniform(r) < a->grey_p;
    float g = unif(r, 1.0f - a->gain, 1.0f + a->gain), b = unif(r, -a->bias, a->bias);
    for (int c = 0; c < 3; c++) {
        v->gain[c] = g * unif(r, 1.0f - a->chroma, 1.0f + a->chroma);
        v->bias[c] = b;
    }
}

static float clampf(float v, float lo, float hi) { return v < lo ? lo : v > hi ? hi : v; }

void ssl_view_apply(const SslView *v, const float *x, int C, int S, float *out) {
    size_t plane = (size_t)S * S;
    for (int i = 0; i < S; i++) {
        float ys = clampf(v->y0 + (i + 0.5f) * v->sy - 0.5f, 0.0f, (float)(S - 1));
        int y0 = (int)ys, y1 = y0 + 1 < S ? y0 + 1 : y0;
        float fy = ys - y0;
        for (int j = 0; j < S; j++) {
            float uf = v->flip ? S - (j + 0.5f) : j + 0.5f;
            float xs = clampf(v->x0 + uf * v->sx - 0.5f, 0.0f, (float)(S - 1));
            int x0 = (int)xs, x1 = x0 + 1 < S ? x0 + 1 : x0;
            float fx = xs - x0, val[3] = {0};
            for (int c = 0; c < C && c < 3; c++) {
                const float *p = x + c * plane;
                val[c] = (1 - fy) * ((1 - fx) * p[y0 * S + x0] + fx * p[y0 * S + x1]) +
                         fy * ((1 - fx) * p[y1 * S + x0] + fx * p[y1 * S + x1]);
            }
            if (v->grey && C == 3) {
                float m = 0.299f * val[0] + 0.587f * val[1] + 0.114f * val[2];
                val[0] = val[1] = val[2] = m;
            }
            for (int c = 0; c < C; c++) {
                float s = c < 3 ? val[c] : 0.0f;
                int k = c < 3 ? c : 2;
                out[c * plane + (size_t)i * S + j] = clampf(v->gain[k] * s + v->bias[k], -1.0f, 1.0f);
            }
        }
    }
}

int ssl_view_match(const SslView *a, const SslView *b, int S, int g, int n) {
    float cell = (float)S / g;
    float u = (n / g + 0.5f) * cell, w = (n % g + 0.5f) * cell;
    // view a -> source image
    float ys = a->y0 + u * a->sy;
    float xs = a->x0 + (a->flip ? S - w : w) * a->sx;
    // source image -> view b
    float ub = (ys - b->y0) / b->sy, wf = (xs - b->x0) / b->sx;
    float wb = b->flip ? S - wf : wf;
    if (ub < 0 || wb < 0 || ub >= S || wb >= S) return -1;
    int i = (int)floorf(ub / cell), j = (int)floorf(wb / cell);
    if (i >= g) i = g - 1;
    if (j >= g) j = g - 1;
    return i * g + j;
}
