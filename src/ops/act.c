// ops_act.c: elementwise activations (SiLU, tanh-GELU, LeakyReLU) and the row softmax.
#include <math.h>
#include "ops/ops.h"
#include "ops/vecmath.h"
#include "base/cpu.h"

// Below this many elements a parallel region costs more than it saves (measured on the tiny
// model: 2 threads were 15x slower than 1 on small tensors).
#define PAR_MIN 16384

// ---------------------------------------------------------------------------------------------
// AVX-512 builds of the elementwise loops (vecmath.h, OPS_VEC_PAIR): the default binary targets
// x86-64-v3, where these loops are bound by vdivps on 8 lanes; the same code built for
// AVX-512 runs 16 lanes with mask selects and gives the same bits (IEEE operations, no
// contraction, the same order). Decided once from the CPU; REPAE_CPU_PRETEND_MISSING=avx512f
// (base/cpu.h) or ops_vec512_force keeps the AVX2 build.
static int vec512 = -1;

int ops_vec512(void) {
    int v = __atomic_load_n(&vec512, __ATOMIC_RELAXED);
    if (v < 0) {
        v = cpu_has("avx512f") && cpu_has("avx512vl") && cpu_has("avx512dq");
        __atomic_store_n(&vec512, v, __ATOMIC_RELAXED);
    }
    return v;
}

void ops_vec512_force(int on) { __atomic_store_n(&vec512, on < 0 ? -1 : on && cpu_has("avx512f") && cpu_has("avx512vl") && cpu_has("avx512dq"), __ATOMIC_RELAXED); }

// ---------------------------------------------------------------------------------------------
// SiLU: x * sigmoid(x) = x / (1 + e), e = exp(-x). With ops_expf clamped, e is finite, so
// 1 - s = e * s has no 0 * inf; it is also exact where 1 - s would cancel (x >> 0).
static inline __attribute__((always_inline)) float silu1(float x) { return x / (1.0f + ops_expf(-x)); }

static inline __attribute__((always_inline)) float silu_grad1(float dy, float x) {
    float e = ops_expf(-x);
    float s = 1.0f / (1.0f + e);
    return dy * s * (1.0f + x * (e * s));
}

// Each loop twice, for AVX2 and AVX-512 (ops_vec512); the same operations in the same order.
OPS_VEC_PAIR(silu_fwd, (float *out, const float *inp, size_t n), {
_Pragma("omp parallel for schedule(static) if (n >= PAR_MIN)")
    for (size_t i = 0; i < n; i++) out[i] = silu1(inp[i]);
})

OPS_VEC_PAIR(silu_bwd, (float *dinp, const float *dout, const float *inp, size_t n), {
_Pragma("omp parallel for schedule(static) if (n >= PAR_MIN)")
    for (size_t i = 0; i < n; i++) dinp[i] += silu_grad1(dout[i], inp[i]);
})

void silu_forward(float *out, const float *inp, size_t n) {
    if (ops_vec512()) silu_fwd_512(out, inp, n);
    else silu_fwd_256(out, inp, n);
}

void silu_backward(float *dinp, const float *dout, const float *inp, size_t n) {
    if (!dinp) return;
    if (ops_vec512()) silu_bwd_512(dinp, dout, inp, n);
    else silu_bwd_256(dinp, dout, inp, n);
}

// ---------------------------------------------------------------------------------------------
// GELU, tanh approximation (torch GELU(approximate='tanh')):
// 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), computed as x * sigmoid(2u)
// (the same function: 0.5 (1 + tanh(u)) = 1 / (1 + exp(-2u))), which needs one vectorisable
// exp instead of a scalar tanhf and keeps full relative accuracy in the negative tail, where
// 1 + tanh(u) would cancel.
#define GELU_K 0.7978845608028654f // sqrt(2/pi)
#define GELU_A 0.044715f

static inline __attribute__((always_inline)) float gelu1(float x) {
    float u = GELU_K * (x + GELU_A * x * x * x);
    return x / (1.0f + ops_expf(-2.0f * u));
}

// d/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) u' with t = tanh(u) = 2s - 1, s = sigmoid(2u):
// 0.5 (1 + t) = s and 1 - t^2 = 4 s (1 - s), 1 - s = e s.
static inline __attribute__((always_inline)) float gelu_grad1(float dy, float x) {
    float u = GELU_K * (x + GELU_A * x * x * x);
    float e = ops_expf(-2.0f * u);
    float s = 1.0f / (1.0f + e);
    float du = GELU_K * (1.0f + 3.0f * GELU_A * x * x);
    float g = s + 2.0f * x * (s * (e * s)) * du;
    return dy * g;
}

OPS_VEC_PAIR(gelu_fwd, (float *out, const float *inp, size_t n), {
_Pragma("omp parallel for schedule(static) if (n >= PAR_MIN)")
    for (size_t i = 0; i < n; i++) out[i] = gelu1(inp[i]);
})

OPS_VEC_PAIR(gelu_bwd, (float *dinp, const float *dout, const float *inp, size_t n), {
_Pragma("omp parallel for schedule(static) if (n >= PAR_MIN)")
    for (size_t i = 0; i < n; i++) dinp[i] += gelu_grad1(dout[i], inp[i]);
})

void gelu_forward(float *out, const float *inp, size_t n) {
    if (ops_vec512()) gelu_fwd_512(out, inp, n);
    else gelu_fwd_256(out, inp, n);
}

void gelu_backward(float *dinp, const float *dout, const float *inp, size_t n) {
    if (!dinp) return;
    if (ops_vec512()) gelu_bwd_512(dinp, dout, inp, n);
    else gelu_bwd_256(dinp, dout, inp, n);
}

// ---------------------------------------------------------------------------------------------
// LeakyReLU (torch.nn.LeakyReLU(slope)): x for x > 0, slope * x otherwise. The gradient at
// exactly 0 is slope, as PyTorch's (its backward tests x > 0). In-place use (out == inp) is
// fine for the forward; the backward needs the input, so an in-place caller keeps the output
// instead: for slope > 0 the sign of out is the sign of inp, and either may be passed.
void leaky_relu_forward(float *out, const float *inp, size_t n, float slope) {
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        out[i] = x > 0.0f ? x : slope * x;
    }
}

void leaky_relu_backward(float *dinp, const float *dout, const float *inp, size_t n, float slope) {
    if (!dinp) return;
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++) dinp[i] += inp[i] > 0.0f ? dout[i] : slope * dout[i];
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
        for (int c = 0; c < C; c++) y[c] = ops_expf(x[c] - mx);
        float inv = (float)(1.0 / ops_sum(y, (size_t)C));
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
        float d = (float)ops_dot(dy, y, (size_t)C);
        for (int c = 0; c < C; c++) dx[c] += y[c] * (dy[c] - d);
    }
}
