// ops_adaln.c: SiT's conditioning ops — adaLN modulate and gated residual, the label
// embedding table, the sinusoidal timestep embedding — and the elementwise add/accumulate
// used by residual paths.
#include <math.h>
#include "ops/ops.h"
#include "ops/par.h"

// Below this many elements a loop runs on one thread: forking costs more than it saves.
#define PAR_MIN 16384
// Columns of one (b, chunk) task in the adaLN backwards: the per-column sums over T live on
// the stack, so every task writes its own dshift/dscale/dgate entries and no reduction races.
#define COLS 64

// ---------------------------------------------------------------------------------------------
void modulate_forward(float *out, const float *x, const float *shift, const float *scale,
                      int B, int T, int C, int ld) {
    // out, x (B,T,C); shift, scale (B, C) rows ld apart
    #pragma omp parallel for collapse(2) if ((size_t)B * T * C >= OPS_PAR_STREAM)
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) {
            const float *sh = shift + (size_t)b * ld, *sc = scale + (size_t)b * ld;
            const float *xr = x + ((size_t)b * T + t) * C;
            float *o = out + ((size_t)b * T + t) * C;
            for (int c = 0; c < C; c++) o[c] = xr[c] * (1.0f + sc[c]) + sh[c];
        }
    }
}

void modulate_backward(float *dx, float *dshift, float *dscale, const float *dout,
                       const float *x, const float *scale, int B, int T, int C, int ld) {
    int nch = (C + COLS - 1) / COLS;
    #pragma omp parallel for collapse(2) if ((size_t)B * T * C >= OPS_PAR_SUMS)
    for (int b = 0; b < B; b++) {
        for (int ch = 0; ch < nch; ch++) {
            int c0 = ch * COLS, c1 = c0 + COLS < C ? c0 + COLS : C;
            const float *sc = scale + (size_t)b * ld;
            double sshift[COLS] = {0}, sscale[COLS] = {0};
            for (int t = 0; t < T; t++) {
                size_t row = ((size_t)b * T + t) * C;
                for (int c = c0; c < c1; c++) {
                    float d = dout[row + c];
                    if (dx) dx[row + c] += d * (1.0f + sc[c]);
                    sshift[c - c0] += d;
                    sscale[c - c0] += (double)d * x[row + c];
                }
            }
            for (int c = c0; c < c1; c++) {
                if (dshift) dshift[(size_t)b * ld + c] += (float)sshift[c - c0];
                if (dscale) dscale[(size_t)b * ld + c] += (float)sscale[c - c0];
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
void gate_residual_forward(float *out, const float *x, const float *y, const float *gate,
                           int B, int T, int C, int ld) {
    // out, x, y (B,T,C); gate (B, C) rows ld apart. out may alias x.
    #pragma omp parallel for collapse(2) if ((size_t)B * T * C >= OPS_PAR_STREAM)
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) {
            const float *g = gate + (size_t)b * ld;
            size_t row = ((size_t)b * T + t) * C;
            for (int c = 0; c < C; c++) out[row + c] = x[row + c] + g[c] * y[row + c];
        }
    }
}

void gate_residual_backward(float *dx, float *dy, float *dgate, const float *dout,
                            const float *y, const float *gate, int B, int T, int C, int ld) {
    int nch = (C + COLS - 1) / COLS;
    #pragma omp parallel for collapse(2) if ((size_t)B * T * C >= OPS_PAR_SUMS)
    for (int b = 0; b < B; b++) {
        for (int ch = 0; ch < nch; ch++) {
            int c0 = ch * COLS, c1 = c0 + COLS < C ? c0 + COLS : C;
            const float *g = gate + (size_t)b * ld;
            double sgate[COLS] = {0};
            for (int t = 0; t < T; t++) {
                size_t row = ((size_t)b * T + t) * C;
                for (int c = c0; c < c1; c++) {
                    float d = dout[row + c];
                    if (dx) dx[row + c] += d;
                    if (dy) dy[row + c] += d * g[c];
                    sgate[c - c0] += (double)d * y[row + c];
                }
            }
            if (dgate)
                for (int c = c0; c < c1; c++) dgate[(size_t)b * ld + c] += (float)sgate[c - c0];
        }
    }
}

// ---------------------------------------------------------------------------------------------
void embedding_forward(float *out, const float *table, const int *labels, int B, int C) {
    // out (B,C); table (V,C); labels (B) in [0, V)
    for (int b = 0; b < B; b++) {
        const float *src = table + (size_t)labels[b] * C;
        float *o = out + (size_t)b * C;
        for (int c = 0; c < C; c++) o[c] = src[c];
    }
}

void embedding_backward(float *dtable, const float *dout, const int *labels, int B, int C) {
    // Serial over b: repeated labels add into the same row. B*C is one small table row per image.
    if (!dtable) return;
    for (int b = 0; b < B; b++) {
        float *d = dtable + (size_t)labels[b] * C;
        const float *g = dout + (size_t)b * C;
        for (int c = 0; c < C; c++) d[c] += g[c];
    }
}

// ---------------------------------------------------------------------------------------------
// Frequency i of the embedding, rounded through float at each step as the PyTorch reference
// does (float32 arange times a Python scalar, then divided by half), so args match closely.
static float timestep_freq(int i, int half, float max_period) {
    float a = (float)(-log((double)max_period)) * (float)i;
    return expf(a / (float)half);
}

void timestep_embedding_forward(float *out, const float *t, int B, int dim, float max_period) {
    // out (B, dim) = [cos(t f) | sin(t f) | 0 if dim is odd]; t (B)
    int half = dim / 2;
    #pragma omp parallel for if ((size_t)B * dim >= PAR_MIN)
    for (int b = 0; b < B; b++) {
        float *o = out + (size_t)b * dim;
        for (int i = 0; i < half; i++) {
            float arg = t[b] * timestep_freq(i, half, max_period);
            o[i] = cosf(arg);
            o[half + i] = sinf(arg);
        }
        if (dim % 2) o[dim - 1] = 0.0f;
    }
}

void timestep_embedding_backward(float *dt, const float *dout, const float *t, int B, int dim,
                                 float max_period) {
    if (!dt) return;
    int half = dim / 2;
    #pragma omp parallel for if ((size_t)B * dim >= PAR_MIN)
    for (int b = 0; b < B; b++) {
        const float *g = dout + (size_t)b * dim;
        double s = 0;
        for (int i = 0; i < half; i++) {
            float f = timestep_freq(i, half, max_period);
            float arg = t[b] * f;
            s += ((double)g[half + i] * cosf(arg) - (double)g[i] * sinf(arg)) * f;
        }
        dt[b] += (float)s;
    }
}

// ---------------------------------------------------------------------------------------------
void add_forward(float *out, const float *a, const float *b, size_t n) {
    #pragma omp parallel for if (n >= OPS_PAR_STREAM)
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void accumulate(float *dst, const float *src, size_t n) {
    #pragma omp parallel for if (n >= OPS_PAR_STREAM)
    for (size_t i = 0; i < n; i++) dst[i] += src[i];
}
