// vecmath.h: an expf the compiler can vectorise, for the elementwise loops of the ops.
//
// glibc's expf is a scalar call, and without -ffast-math GCC will not swap in a vector
// version, so every SiLU/GELU/softmax loop ran one element at a time (expf and its
// neighbours were ~8% of an fm32-small training step). This is Cephes' expf: round
// x/ln2 to n, r = x - n ln2 in two parts, a degree-6 polynomial for exp(r) on
// |r| <= ln2/2, and 2^n built in the exponent bits. Plain branch-free float code, so it
// vectorises without any math-relaxing flag. Error: within 2 ulp of expf on the clamped range
// (tested in tests/test_ops_act.c). Below -87 the result is 0 (expf would give a denormal
// or 0); above 88 it stays at exp(88) = 1.7e38 instead of going to inf, so that sigmoid-style
// callers never form 0 * inf. NaN stays NaN: the clamp maps a NaN to -87, so the
// float-to-int conversion of n is always defined (converting NaN is undefined behaviour), and
// the NaN is put back by the last select.
#ifndef REPAE_OPS_EXP_H
#define REPAE_OPS_EXP_H
#include <math.h>
#include <stdint.h>
#include <string.h>

// OPS_VEC_PAIR(name, (params), { body }) defines name_256 (the build's target, x86-64-v3) and
// name_512 (AVX-512 F/VL/DQ, 512-bit vectors) with the same body; the caller picks one with
// ops_vec512() (ops.h). The OpenMP pragma (as _Pragma) belongs inside the body, so that the
// region GCC outlines from each function is compiled for that function's target.
#define OPS_VEC512_TARGET __attribute__((target("avx512f,avx512vl,avx512dq,prefer-vector-width=512")))
#define OPS_VEC_PAIR(name, params, body) \
    static void name##_256 params body \
    OPS_VEC512_TARGET static void name##_512 params body

static inline float ops_expf(float x0) {
    // Written as selects, not fminf/fmaxf (GCC calls libm for those unless finite-math is on,
    // which stops vectorisation). A NaN fails "x0 > -87" and becomes -87 here.
    float x = x0 > -87.0f ? x0 : -87.0f;
    x = x < 88.0f ? x : 88.0f;
    // Round to nearest by the 1.5 * 2^23 trick (exact in float without reassociation).
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    // The rest as fused multiply-adds (one rounding each, and half the instructions of the
    // mul-then-add pairs ISO C's no-contraction default gave: SiLU and GroupNorm's loops are
    // bound by these instructions, not by memory).
    float r = fmaf(n, -0.693359375f, x); // ln2 split: the high part is exact in 9 bits
    r = fmaf(n, 2.12194440e-4f, r);
    float p = 1.9875691500e-4f;
    p = fmaf(p, r, 1.3981999507e-3f);
    p = fmaf(p, r, 8.3334519073e-3f);
    p = fmaf(p, r, 4.1665795894e-2f);
    p = fmaf(p, r, 1.6666665459e-1f);
    p = fmaf(p, r, 5.0000001201e-1f);
    float y = fmaf(p, r * r, r) + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    float e = x0 < -87.0f ? 0.0f : y * scale;
    return x0 != x0 ? x0 : e;
}

// Sum and dot product of n floats in double with eight independent partial sums: a single
// running double sum is one serial chain of adds (~4 cycles an element) that GCC may not
// reorder without -ffast-math; eight chains vectorise and stay as accurate.
static inline double ops_sum(const float *x, size_t n) {
    double acc[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += x[i + j];
    for (; i < n; i++) acc[0] += x[i];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

static inline double ops_dot(const float *x, const float *y, size_t n) {
    double acc[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += (double)x[i + j] * y[i + j];
    for (; i < n; i++) acc[0] += (double)x[i] * y[i];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// Mean and 1/sqrt(biased variance + eps) of n floats, two passes in double with eight partial
// sums each (GroupNorm, LayerNorm and the fused GroupNorm+SiLU share it).
static inline void ops_mean_rstd(const float *x, size_t n, float eps, float *mean, float *rstd) {
    double m = ops_sum(x, n) / (double)n, acc[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) {
            double d = x[i + j] - m;
            acc[j] += d * d;
        }
    for (; i < n; i++) acc[0] += (x[i] - m) * (x[i] - m);
    double v = (((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))) / (double)n;
    *mean = (float)m;
    *rstd = (float)(1.0 / sqrt(v + eps));
}

#endif
