// perceptual.c: the LPIPS-style distance on the frozen target encoder (perceptual.h).
#include "model/perceptual.h"
#include "base/util.h"
#include <math.h>
#include <string.h>

#define PERC_EPS 1e-10f // LPIPS' normalize_tensor

static int setup(Perceptual *p) {
    const Encoder *e = &p->enc;
    p->ns = e->L.nlevels;
    buf_init(&p->bufs);
    for (int s = 0; s < p->ns; s++) {
        int H = encoder_stage_size(e, s);
        size_t n = (size_t)e->max_batch * e->L.ch[s] * H * H;
        buf_add(&p->bufs, &p->xhat[s], n);
        buf_add(&p->bufs, &p->rhat[s], n);
        buf_add(&p->bufs, &p->dst[s], n);
        buf_add(&p->bufs, &p->rnorm[s], (size_t)e->max_batch * H * H);
    }
    buf_alloc(&p->bufs, 0);
    return 0;
}

int perceptual_build(Perceptual *p, const Encoder *src, int max_batch, char *err) {
    memset(p, 0, sizeof *p);
    if (encoder_build(&p->enc, &src->L, max_batch, ALLOC_GRAD, err)) return -1;
    memcpy(p->enc.params.data, src->params.data, src->params.ntrain * sizeof(float));
    return setup(p);
}

int perceptual_open(Perceptual *p, const char *path, int channels, int size, int max_batch, char *err) {
    memset(p, 0, sizeof *p);
    if (encoder_load_mode(&p->enc, path, channels, size, max_batch, ALLOC_GRAD, NULL, err)) return -1;
    return setup(p);
}

void perceptual_free(Perceptual *p) {
    encoder_free(&p->enc);
    buf_free(&p->bufs);
    memset(p, 0, sizeof *p);
}

// out = f / (|f|_c + eps) per (b, position); norm (B,HW) may be NULL.
static void normalise(float *out, float *norm, const float *f, int B, int C, int HW) {
#pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++)
        for (int q = 0; q < HW; q++) {
            const float *x = f + (size_t)b * C * HW + q;
            double s = 0;
            for (int c = 0; c < C; c++) s += (double)x[(size_t)c * HW] * x[(size_t)c * HW];
            float n = (float)sqrt(s), inv = 1.0f / (n + PERC_EPS);
            if (norm) norm[(size_t)b * HW + q] = n;
            float *o = out + (size_t)b * C * HW + q;
            for (int c = 0; c < C; c++) o[(size_t)c * HW] = x[(size_t)c * HW] * inv;
        }
}

float perceptual_forward(Perceptual *p, const float *x, const float *xr, int B) {
    Encoder *e = &p->enc;
    p->B = B;
    encoder_forward(e, x, B);
    for (int s = 0; s < p->ns; s++) {
        int H = encoder_stage_size(e, s);
        normalise(p->xhat[s], NULL, encoder_stage_out(e, s), B, e->L.ch[s], H * H);
    }
    // xr last: its activations stay in the encoder for the backward.
    encoder_forward(e, xr, B);
    double total = 0;
    for (int s = 0; s < p->ns; s++) {
        int H = encoder_stage_size(e, s), C = e->L.ch[s];
        size_t n = (size_t)B * C * H * H;
        normalise(p->rhat[s], p->rnorm[s], encoder_stage_out(e, s), B, C, H * H);
        double d = 0;
        for (size_t i = 0; i < n; i++) {
            double v = (double)p->rhat[s][i] - p->xhat[s][i];
            d += v * v;
        }
        total += d / ((double)B * H * H);
    }
    return (float)total;
}

void perceptual_backward(Perceptual *p, float *dxr, float weight) {
    Encoder *e = &p->enc;
    int B = p->B;
    const float *dstage[ENC_MAXLEVELS] = {0};
    for (int s = 0; s < p->ns; s++) {
        int H = encoder_stage_size(e, s), C = e->L.ch[s], HW = H * H;
        const float *f = encoder_stage_out(e, s), *rh = p->rhat[s], *xh = p->xhat[s];
        float k = 2.0f * weight / (float)(B * HW);
        float *d = p->dst[s];
        // rhat = f / (n + eps): df = g / (n + eps) - f (f . g) / (n (n + eps)^2), g = d/d rhat.
#pragma omp parallel for collapse(2)
        for (int b = 0; b < B; b++)
            for (int q = 0; q < HW; q++) {
                size_t o = (size_t)b * C * HW + q;
                float n = p->rnorm[s][(size_t)b * HW + q], ne = n + PERC_EPS;
                double fg = 0;
                for (int c = 0; c < C; c++) {
                    size_t i = o + (size_t)c * HW;
                    fg += (double)f[i] * k * (rh[i] - xh[i]);
                }
                float proj = n > 0 ? (float)(fg / ((double)n * ne * ne)) : 0.0f;
                for (int c = 0; c < C; c++) {
                    size_t i = o + (size_t)c * HW;
                    d[i] = k * (rh[i] - xh[i]) / ne - f[i] * proj;
                }
            }
        dstage[s] = d;
    }
    encoder_backward(e, dstage, NULL, dxr, 0);
}
