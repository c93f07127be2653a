// ops_resample.c: nearest x2 upsampling and SiT's patchify / unpatchify (pure index shuffles).
#include "ops/ops.h"
#include "ops/par.h"

void upsample2x_forward(float *out, const float *inp, int B, int C, int H, int W) {
    const int W2 = 2 * W;
    #pragma omp parallel for schedule(static) if ((size_t)B * C * H * W >= OPS_PAR_STREAM)
    for (int plane = 0; plane < B * C; plane++) {
        const float *src = inp + (size_t)plane * H * W;
        float *dst = out + (size_t)plane * 4 * H * W;
        for (int h = 0; h < H; h++) {
            float *r0 = dst + (size_t)(2 * h) * W2, *r1 = r0 + W2;
            for (int w = 0; w < W; w++) {
                float v = src[(size_t)h * W + w];
                r0[2 * w] = v; r0[2 * w + 1] = v;
                r1[2 * w] = v; r1[2 * w + 1] = v;
            }
        }
    }
}

void upsample2x_backward(float *dinp, const float *dout, int B, int C, int H, int W) {
    const int W2 = 2 * W;
    #pragma omp parallel for schedule(static) if ((size_t)B * C * H * W >= OPS_PAR_STREAM)
    for (int plane = 0; plane < B * C; plane++) {
        const float *src = dout + (size_t)plane * 4 * H * W;
        float *dst = dinp + (size_t)plane * H * W;
        for (int h = 0; h < H; h++) {
            const float *r0 = src + (size_t)(2 * h) * W2, *r1 = r0 + W2;
            for (int w = 0; w < W; w++)
                dst[(size_t)h * W + w] += (r0[2 * w] + r0[2 * w + 1]) + (r1[2 * w] + r1[2 * w + 1]);
        }
    }
}

// Token (b, gi, gj) element (c, i, j) <-> pixel (b, c, gi*p+i, gj*p+j); Gw = W/p tokens per row.
void patchify_forward(float *out, const float *inp, int B, int C, int H, int W, int p) {
    const int Gh = H / p, Gw = W / p, D = C * p * p;
    #pragma omp parallel for collapse(2) schedule(static) if ((size_t)B * C * H * W >= OPS_PAR_STREAM)
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < Gh * Gw; t++) {
            int gi = t / Gw, gj = t % Gw;
            float *o = out + ((size_t)b * Gh * Gw + t) * D;
            for (int c = 0; c < C; c++)
                for (int i = 0; i < p; i++)
                    for (int j = 0; j < p; j++)
                        o[(c * p + i) * p + j] = inp[(((size_t)b * C + c) * H + gi * p + i) * W + gj * p + j];
        }
    }
}

void patchify_backward(float *dinp, const float *dout, int B, int C, int H, int W, int p) {
    const int Gh = H / p, Gw = W / p, D = C * p * p;
    // Patches do not overlap, so each thread's tokens touch disjoint pixels.
    #pragma omp parallel for collapse(2) schedule(static) if ((size_t)B * C * H * W >= OPS_PAR_STREAM)
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < Gh * Gw; t++) {
            int gi = t / Gw, gj = t % Gw;
            const float *d = dout + ((size_t)b * Gh * Gw + t) * D;
            for (int c = 0; c < C; c++)
                for (int i = 0; i < p; i++)
                    for (int j = 0; j < p; j++)
                        dinp[(((size_t)b * C + c) * H + gi * p + i) * W + gj * p + j] += d[(c * p + i) * p + j];
        }
    }
}

// Token element order [i, j, c] (DiT's unpatchify: 'nhwpqc->nchpwq').
void unpatchify_forward(float *out, const float *inp, int B, int C, int H, int W, int p) {
    const int Gh = H / p, Gw = W / p, D = C * p * p;
    #pragma omp parallel for collapse(2) schedule(static) if ((size_t)B * C * H * W >= OPS_PAR_STREAM)
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < Gh * Gw; t++) {
            int gi = t / Gw, gj = t % Gw;
            const float *x = inp + ((size_t)b * Gh * Gw + t) * D;
            for (int i = 0; i < p; i++)
                for (int j = 0; j < p; j++)
                    for (int c = 0; c < C; c++)
                        out[(((size_t)b * C + c) * H + gi * p + i) * W + gj * p + j] = x[(i * p + j) * C + c];
        }
    }
}

void unpatchify_backward(float *dinp, const float *dout, int B, int C, int H, int W, int p) {
    const int Gh = H / p, Gw = W / p, D = C * p * p;
    #pragma omp parallel for collapse(2) schedule(static) if ((size_t)B * C * H * W >= OPS_PAR_STREAM)
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < Gh * Gw; t++) {
            int gi = t / Gw, gj = t % Gw;
            float *d = dinp + ((size_t)b * Gh * Gw + t) * D;
            for (int i = 0; i < p; i++)
                for (int j = 0; j < p; j++)
                    for (int c = 0; c < C; c++)
                        d[(i * p + j) * C + c] += dout[(((size_t)b * C + c) * H + gi * p + i) * W + gj * p + j];
        }
    }
}
