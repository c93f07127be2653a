// ops_act.c: elementwise activations (SiLU, tanh-GELU) and the row softmax.
#include <math.h>
#include "ops.h"

// Below this many elements a parallel region costs more than it saves (measured on the tiny
// model: 2 threads were 15x slower than 1 on small tensors).
#define PAR_MIN 16384

// ---------------------------------------------------------------------------------------------
// SiLU: x * sigmoid(x). 1/(1+exp(-x)) saturates cleanly at both ends in float (exp overflows
// to inf, giving 0), so no branch is needed for large |x|.
void silu_forward(float *out, const float *inp, size_t n) {
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        out[i] = x / (1.0f + expf(-x));
    }
}

void silu_backward(float *dinp, const float *dout, const float *inp, size_t n) {
    if (!dinp) return;
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        float s = 1.0f / (1.0f + expf(-x));
        dinp[i] += dout[i] * s * (1.0f + x * (1.0f - s));
    }
}

// ---------------------------------------------------------------------------------------------
// GELU, tanh approximation (torch GELU(approximate='tanh')):
// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
#define GELU_K 0.7978845608028654f // sqrt(2/pi)
#define GELU_A 0.044715f

void gelu_forward(float *out, const float *inp, size_t n) {
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        float u = GELU_K * (x + GELU_A * x * x * x);
        out[i] = 0.5f * x * (1.0f + tanhf(u));
    }
}

void gelu_backward(float *dinp, const float *dout, const float *inp, size_t n) {
    if (!dinp) return;
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        float u = GELU_K * (x + GELU_A * x * x * x);
        float t = tanhf(u);
        // 1 - tanh^2 written as a product of cosh^-2 would overflow for large u; 1 - t*t
        // just goes to 0 there, which is the right limit.
        float du = GELU_K * (1.0f + 3.0f * GELU_A * x * x);
        float g = 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
        dinp[i] += dout[i] * g;
    }
}

// ---------------------------------------------------------------------------------------------
// Softmax over the last dim. Subtracting the row max keeps exp() finite for any logits;
// the sum is accumulated in double so that long rows (HW x HW attention) stay accurate.
void softmax_forward(float *out, const float *inp, int N, int C) {
#pragma omp parallel for schedule(static) if ((size_t)N * C >= PAR_MIN)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *y = out + (size_t)n * C;
        float mx = -INFINITY;
        for (int c = 0; c < C; c++) mx = x[c] > mx ? x[c] : mx;
        double sum = 0;
        for (int c = 0; c < C; c++) {
            float e = expf(x[c] - mx);
            y[c] = e;
            sum += e;
        }
        float inv = (float)(1.0 / sum);
        for (int c = 0; c < C; c++) y[c] *= inv;
    }
}

// dinp = y * (dout - sum(dout * y)) row by row.
void softmax_backward(float *dinp, const float *dout, const float *out, int N, int C) {
    if (!dinp) return;
#pragma omp parallel for schedule(static) if ((size_t)N * C >= PAR_MIN)
    for (int n = 0; n < N; n++) {
        const float *y = out + (size_t)n * C, *dy = dout + (size_t)n * C;
        float *dx = dinp + (size_t)n * C;
        double dot = 0;
        for (int c = 0; c < C; c++) dot += (double)dy[c] * y[c];
        float d = (float)dot;
        for (int c = 0; c < C; c++) dx[c] += y[c] * (dy[c] - d);
    }
}
