// ops_attn.c: SiT's multi-head token attention and the VAE AttnBlock's spatial attention.
//
// The T x T (HW x HW) score and mixing products go through sgemm (gemm.h) one (batch, head) at a
// time, reading q/k/v straight out of the packed qkv with leading dimension 3C (no copies);
// except the SiT forward's small heads (T <= 64, hs <= 128) with the own kernel: direct loops
// with the kernel's summation order, one (sample, head) per thread at a time (head_direct).
// The softmax passes between the products are OpenMP loops; they are separate from the sgemm
// calls because a threaded sgemm must never run inside an omp parallel region.
#include <math.h>
#include "ops/ops.h"
#include "ops/vecmath.h"
#include "ops/gemm.h"
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

// Below this many scores an omp region costs more than the row loop it would split.
#define ATTN_PAR_MIN 4096

static inline void softmax_row(float *x, int n) {
    float mx = -INFINITY;
    for (int j = 0; j < n; j++) mx = x[j] > mx ? x[j] : mx;
    for (int j = 0; j < n; j++) x[j] = ops_expf(x[j] - mx);
    float inv = (float)(1.0 / ops_sum(x, (size_t)n));
    for (int j = 0; j < n; j++) x[j] *= inv;
}

static void softmax_rows_inplace(float *s, long rows, int n) {
#pragma omp parallel for schedule(static) if ((long)rows * n >= ATTN_PAR_MIN)
    for (long r = 0; r < rows; r++) softmax_row(s + (size_t)r * n, n);
}

// One row of datt -> dscores: d[j] = att[j] * (d[j] - sum_k d[k] att[k]).
static inline void softmax_backward_row(float *di, const float *ai, int n) {
    float dd = (float)ops_dot(di, ai, (size_t)n);
    for (int j = 0; j < n; j++) di[j] = ai[j] * (di[j] - dd);
}

// d (in place, n x n): datt -> dscores, row by row.
static void softmax_backward_inplace(float *d, const float *att, int n) {
#pragma omp parallel for schedule(static) if ((long)n * n >= ATTN_PAR_MIN)
    for (int i = 0; i < n; i++) softmax_backward_row(d + (size_t)i * n, att + (size_t)i * n, n);
}

// ---------------------------------------------------------------------------------------------
// Multi-head attention. Head h of token t: q = qkv[t, h*hs ..], k = qkv[t, C + h*hs ..],
// v = qkv[t, 2C + h*hs ..]; out[t, h*hs ..] = sum_s att[h, t, s] v_s.
// Heads small enough for the direct loops below (every SiT here: T = 16..256 tokens, hs = 32..64).
#define ATTN_DIRECT_T 64
#define ATTN_DIRECT_HS 128

// One head of one sample without sgemm: its products (16 x 16 x 32 at fm32-small) are far
// below sgemm's threading threshold, and packing them for the register kernel cost more
// than the arithmetic (768 calls a block, 3.7 ms wall of a 64-sample block on one thread
// while the other waited: half of a sampling run). The sums are the register kernel's: each
// from 0, one fma per k in order, then times alpha; so the bits are the same as through
// sgemm's own kernel.
// s (T,T) = alpha * x (T,hs) y^T, rows of x and y at strides ldx and ldy: y transposed once,
// then each sum from 0 with one fma per d in order, times alpha (sgemm's kernel with beta 0).
static inline __attribute__((always_inline)) void head_scores(float *s, const float *x, int ldx, const float *y,
                                                              int ldy, int T, int hs, float alpha) {
    float yt[ATTN_DIRECT_HS * ATTN_DIRECT_T], acc[ATTN_DIRECT_T];
    for (int j = 0; j < T; j++)
        for (int d = 0; d < hs; d++) yt[d * T + j] = y[(size_t)j * ldy + d];
    for (int i = 0; i < T; i++) {
        const float *xi = x + (size_t)i * ldx;
        for (int j = 0; j < T; j++) acc[j] = 0.0f;
        for (int d = 0; d < hs; d++) {
            float xd = xi[d];
            const float *yd = yt + d * T;
            for (int j = 0; j < T; j++) acc[j] = fmaf(xd, yd[j], acc[j]);
        }
        for (int j = 0; j < T; j++) s[(size_t)i * T + j] = alpha * acc[j];
    }
}

#if defined(__AVX2__) && defined(__FMA__)
// The same sums in 8-lane registers, for T and hs multiples of 8 (every head fm32-small trains;
// the plain loops above kept their sums in memory: 1.02 ms a 128-sample block on one thread).
// Each lane is one output's sum, from 0 with one fma per k in order, so the bits are the plain
// loops'. A block of R rows shares each loaded vector: R times the vectors of a row stay at or
// below 8 accumulators.
#define ATTN_VEC(T, hs) ((T) % 8 == 0 && (hs) % 8 == 0)
static inline int rows_per_block(int nv) { return nv == 1 ? 8 : nv == 2 ? 4 : nv <= 4 ? 2 : 1; }

// The eight partial sums of lo (lanes 0-3) and hi (4-7) added in ops_sum's order.
static inline double reduce8(__m256d lo, __m256d hi) {
    __m256d h = _mm256_hadd_pd(lo, hi); // a0+a1, a4+a5, a2+a3, a6+a7
    __m128d q = _mm_add_pd(_mm256_castpd256_pd128(h), _mm256_extractf128_pd(h, 1));
    return _mm_cvtsd_f64(_mm_add_sd(q, _mm_unpackhi_pd(q, q)));
}

// ops_sum of n floats, n a multiple of 8, in registers: the eight partial sums in two 4-lane
// double vectors, added in ops_sum's order.
static inline double sum8(const float *x, int n) {
    __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
    for (int i = 0; i < n; i += 8) {
        lo = _mm256_add_pd(lo, _mm256_cvtps_pd(_mm_loadu_ps(x + i)));
        hi = _mm256_add_pd(hi, _mm256_cvtps_pd(_mm_loadu_ps(x + i + 4)));
    }
    return reduce8(lo, hi);
}

// ops_dot for n a multiple of 8, as sum8 (each float product is exact in double).
static inline double dot8(const float *x, const float *y, int n) {
    __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
    for (int i = 0; i < n; i += 8) {
        lo = _mm256_add_pd(lo, _mm256_mul_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + i)), _mm256_cvtps_pd(_mm_loadu_ps(y + i))));
        hi = _mm256_add_pd(hi, _mm256_mul_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + i + 4)),
                                             _mm256_cvtps_pd(_mm_loadu_ps(y + i + 4))));
    }
    return reduce8(lo, hi);
}

// softmax_backward_row for n a multiple of 8.
static inline void softmax_backward_row8(float *di, const float *ai, int n) {
    const __m256 dd = _mm256_set1_ps((float)dot8(di, ai, n));
    for (int j = 0; j < n; j += 8)
        _mm256_storeu_ps(di + j, _mm256_mul_ps(_mm256_loadu_ps(ai + j), _mm256_sub_ps(_mm256_loadu_ps(di + j), dd)));
}

// softmax_row for n a multiple of 8.
static inline __attribute__((always_inline)) void softmax_row8(float *x, int n) {
    float mx = -INFINITY;
    for (int j = 0; j < n; j++) mx = x[j] > mx ? x[j] : mx;
    for (int j = 0; j < n; j++) x[j] = ops_expf(x[j] - mx);
    const __m256 inv = _mm256_set1_ps((float)(1.0 / sum8(x, n)));
    for (int j = 0; j < n; j += 8) _mm256_storeu_ps(x + j, _mm256_mul_ps(_mm256_loadu_ps(x + j), inv));
}

// The 8 x 8 block at s (rows at stride lds) transposed into d (stride ldd).
static inline void transpose8(float *d, int ldd, const float *s, int lds) {
    __m256 r[8], t[8];
    for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(s + (size_t)i * lds);
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
        r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int i = 0; i < 4; i++) {
        _mm256_storeu_ps(d + (size_t)i * ldd, _mm256_permute2f128_ps(r[i], r[i + 4], 0x20));
        _mm256_storeu_ps(d + (size_t)(i + 4) * ldd, _mm256_permute2f128_ps(r[i], r[i + 4], 0x31));
    }
}

// s (T,T) = alpha * x (T,hs) y^T, as head_scores.
static inline __attribute__((always_inline)) void head_scores8(float *s, const float *x, int ldx, const float *y,
                                                               int ldy, int T, int hs, float alpha) {
    _Alignas(32) float yt[ATTN_DIRECT_HS * ATTN_DIRECT_T];
    for (int j = 0; j < T; j += 8)
        for (int d = 0; d < hs; d += 8) transpose8(yt + d * T + j, T, y + (size_t)j * ldy + d, ldy);
    const int nv = T / 8, R = rows_per_block(nv);
    const __m256 va = _mm256_set1_ps(alpha);
    for (int i0 = 0; i0 < T; i0 += R) {
        __m256 acc[8];
        for (int u = 0; u < R * nv; u++) acc[u] = _mm256_setzero_ps();
        for (int d = 0; d < hs; d++)
            for (int r = 0; r < R; r++) {
                const __m256 xv = _mm256_broadcast_ss(x + (size_t)(i0 + r) * ldx + d);
                for (int u = 0; u < nv; u++)
                    acc[r * nv + u] = _mm256_fmadd_ps(xv, _mm256_load_ps(yt + d * T + u * 8), acc[r * nv + u]);
            }
        for (int r = 0; r < R; r++)
            for (int u = 0; u < nv; u++) _mm256_storeu_ps(s + (size_t)(i0 + r) * T + u * 8, _mm256_mul_ps(va, acc[r * nv + u]));
    }
}

// Row i of o (T rows, hs columns, stride ldo) from sum_s c[i * ci + s * cs] v[s] (rows of v at
// stride ld; s in order from 0): stored (add 0), or added as add_as_sgemm adds with alpha.
static inline __attribute__((always_inline)) void head_mix8(float *o, int ldo, const float *c, int ci, int cs,
                                                            const float *v, int ld, int T, int hs, int add,
                                                            float alpha, int dfull) {
    const __m256 va = _mm256_set1_ps(alpha);
    for (int d0 = 0; d0 < hs; d0 += 64) {
        const int nv = (hs - d0 < 64 ? hs - d0 : 64) / 8, R = rows_per_block(nv);
        for (int i0 = 0; i0 < T; i0 += R) {
            __m256 acc[8];
            for (int u = 0; u < R * nv; u++) acc[u] = _mm256_setzero_ps();
            for (int s = 0; s < T; s++)
                for (int r = 0; r < R; r++) {
                    const __m256 cv = _mm256_broadcast_ss(c + (size_t)(i0 + r) * ci + (size_t)s * cs);
                    for (int u = 0; u < nv; u++)
                        acc[r * nv + u] = _mm256_fmadd_ps(cv, _mm256_loadu_ps(v + (size_t)s * ld + d0 + u * 8), acc[r * nv + u]);
                }
            for (int r = 0; r < R; r++)
                for (int u = 0; u < nv; u++) {
                    float *od = o + (size_t)(i0 + r) * ldo + d0 + u * 8;
                    __m256 x = acc[r * nv + u];
                    if (add)
                        x = d0 + u * 8 < dfull ? _mm256_fmadd_ps(va, x, _mm256_loadu_ps(od))
                                               : _mm256_add_ps(_mm256_mul_ps(va, x), _mm256_loadu_ps(od));
                    _mm256_storeu_ps(od, x);
                }
        }
    }
}
#else
#define ATTN_VEC(T, hs) 0
#define head_scores8 head_scores
#define head_mix8(...) ((void)0)
#define softmax_row8 softmax_row
#define softmax_backward_row8 softmax_backward_row
#endif

static inline __attribute__((always_inline)) void head_direct(float *out, int ldo, float *a, const float *q, const float *k, const float *v, int ld,
                        int T, int hs, float scale) {
    float acc[ATTN_DIRECT_HS];
    if (ATTN_VEC(T, hs)) {
        head_scores8(a, q, ld, k, ld, T, hs, scale);
        for (int i = 0; i < T; i++) softmax_row8(a + (size_t)i * T, T);
        head_mix8(out, ldo, a, T, 1, v, ld, T, hs, 0, 1.0f, 0);
        return;
    }
    head_scores(a, q, ld, k, ld, T, hs, scale);
    for (int i = 0; i < T; i++) softmax_row(a + (size_t)i * T, T); // no nested omp region
    for (int i = 0; i < T; i++) {
        const float *ai = a + (size_t)i * T;
        for (int d = 0; d < hs; d++) acc[d] = 0.0f;
        for (int s = 0; s < T; s++) {
            float x = ai[s];
            const float *vs = v + (size_t)s * ld;
            for (int d = 0; d < hs; d++) acc[d] = fmaf(x, vs[d], acc[d]);
        }
        for (int d = 0; d < hs; d++) out[(size_t)i * ldo + d] = acc[d];
    }
}

void attention_forward(float *out, float *att, const float *qkv, int B, int T, int C, int NH) {
    int hs = C / NH, C3 = 3 * C;
    float scale = (float)(1.0 / sqrt((double)hs));
    size_t TT = (size_t)T * T;
    if (gemm_own() && T <= ATTN_DIRECT_T && hs <= ATTN_DIRECT_HS) {
        // Samples and heads split among the threads.
        #pragma omp parallel for schedule(static) if ((long)B * NH * TT >= ATTN_PAR_MIN)
        for (long bh = 0; bh < (long)B * NH; bh++) {
            int b = (int)(bh / NH), h = (int)(bh % NH);
            const float *base = qkv + (size_t)b * T * C3;
            float *o = out + (size_t)b * T * C + h * hs, *a = att + (size_t)bh * TT;
            const float *q = base + h * hs, *k = base + C + h * hs, *v = base + 2 * C + h * hs;
            // fm32-small's heads with constant sizes: the loops unroll and the sums stay in
            // registers (0.9-1.85 -> 0.67-1.03 ms CPU a call at load 5; the same operations).
            if (T == 16 && hs == 32) head_direct(o, C, a, q, k, v, C3, 16, 32, scale);
            else head_direct(o, C, a, q, k, v, C3, T, hs, scale);
        }
        return;
    }
    for (int b = 0; b < B; b++) {
        const float *base = qkv + (size_t)b * T * C3;
        for (int h = 0; h < NH; h++) {
            const float *q = base + h * hs, *k = base + C + h * hs;
            float *a = att + ((size_t)b * NH + h) * TT;
            // scores (T,T) = scale * q (T,hs) k^T
            sgemm(0, 1, T, T, hs, scale, q, C3, k, C3, 0.0f, a, T);
        }
    }
    softmax_rows_inplace(att, (long)B * NH * T, T);
    for (int b = 0; b < B; b++) {
        const float *base = qkv + (size_t)b * T * C3;
        for (int h = 0; h < NH; h++) {
            const float *v = base + 2 * C + h * hs;
            const float *a = att + ((size_t)b * NH + h) * TT;
            // out[:, h*hs ..] (T,hs), row stride C = att (T,T) v (T,hs)
            sgemm(0, 0, T, hs, T, 1.0f, a, T, v, C3, 0.0f,
                        out + (size_t)b * T * C + h * hs, C);
        }
    }
}

// One head at a time through a T x T scratch: datt = dout v^T, then dscores in place.
size_t attention_scratch_floats(int B, int T, int C, int NH) {
    (void)B; (void)C; (void)NH;
    return (size_t)T * T;
}

// o[d] += alpha * acc[d] as sgemm's register kernel adds into C: fma in the columns of whole
// 32-wide tiles (d < dfull), alpha * acc then + o (two roundings; -std=c11 contracts nothing)
// in a last partial tile.
static inline void add_as_sgemm(float *o, const float *acc, int n, int dfull, float alpha) {
    for (int d = 0; d < dfull; d++) o[d] = fmaf(alpha, acc[d], o[d]);
    for (int d = dfull; d < n; d++) o[d] = alpha * acc[d] + o[d];
}

// The backward of one head without sgemm, for the heads head_direct runs (the four products
// through sgemm, one head at a time on one thread, were 3.4 ms of a block's backward at
// fm32-small against 0.3 ms for its forward). Each sum is the register kernel's, from 0 with
// one fma per k in order, added into C as sgemm adds (add_as_sgemm). So the bits are those of
// the sgemm path. dy, q, k, v, dq, dk, dv have row strides ldy and ld.
static inline __attribute__((always_inline)) void head_direct_backward(float *dq, float *dk, float *dv,
        const float *dy, int ldy, const float *a, const float *q, const float *k, const float *v, int ld,
        int T, int hs, float scale) {
    float ds[ATTN_DIRECT_T * ATTN_DIRECT_T], acc[ATTN_DIRECT_HS];
    const int dfull = hs / GEMM_NR * GEMM_NR; // columns of dq, dk in sgemm's whole tiles
    if (ATTN_VEC(T, hs)) {
        head_scores8(ds, dy, ldy, v, ld, T, hs, 1.0f);
        head_mix8(dv, ld, a, 1, T, dy, ldy, T, hs, 1, 1.0f, dfull); // row s: sum over i of att[i, s] dy_i
        for (int i = 0; i < T; i++) softmax_backward_row8(ds + i * T, a + (size_t)i * T, T);
        head_mix8(dq, ld, ds, T, 1, k, ld, T, hs, 1, scale, dfull);
        head_mix8(dk, ld, ds, 1, T, q, ld, T, hs, 1, scale, dfull);
        return;
    }
    head_scores(ds, dy, ldy, v, ld, T, hs, 1.0f); // datt (T,T) = dy v^T
    // dv (T,hs) += att^T dy, over tokens t in order
    for (int s = 0; s < T; s++) {
        for (int d = 0; d < hs; d++) acc[d] = 0.0f;
        for (int i = 0; i < T; i++) {
            float x = a[(size_t)i * T + s];
            const float *yi = dy + (size_t)i * ldy;
            for (int d = 0; d < hs; d++) acc[d] = fmaf(x, yi[d], acc[d]);
        }
        add_as_sgemm(dv + (size_t)s * ld, acc, hs, dfull, 1.0f); // fma(1, acc, o) = acc + o
    }
    for (int i = 0; i < T; i++) softmax_backward_row(ds + i * T, a + (size_t)i * T, T);
    // dq (T,hs) += scale * dS k
    for (int i = 0; i < T; i++) {
        for (int d = 0; d < hs; d++) acc[d] = 0.0f;
        for (int j = 0; j < T; j++) {
            float x = ds[i * T + j];
            const float *kj = k + (size_t)j * ld;
            for (int d = 0; d < hs; d++) acc[d] = fmaf(x, kj[d], acc[d]);
        }
        add_as_sgemm(dq + (size_t)i * ld, acc, hs, dfull, scale);
    }
    // dk (T,hs) += scale * dS^T q
    for (int j = 0; j < T; j++) {
        for (int d = 0; d < hs; d++) acc[d] = 0.0f;
        for (int i = 0; i < T; i++) {
            float x = ds[i * T + j];
            const float *qi = q + (size_t)i * ld;
            for (int d = 0; d < hs; d++) acc[d] = fmaf(x, qi[d], acc[d]);
        }
        add_as_sgemm(dk + (size_t)j * ld, acc, hs, dfull, scale);
    }
}

void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *att,
                        int B, int T, int C, int NH, float *scratch) {
    if (!dqkv) return;
    int hs = C / NH, C3 = 3 * C;
    float scale = (float)(1.0 / sqrt((double)hs));
    size_t TT = (size_t)T * T;
    if (gemm_own() && T <= ATTN_DIRECT_T && hs <= ATTN_DIRECT_HS) {
        // Samples and heads split among the threads: each writes only its own head's columns.
        #pragma omp parallel for schedule(static) if ((long)B * NH * TT >= ATTN_PAR_MIN)
        for (long bh = 0; bh < (long)B * NH; bh++) {
            int b = (int)(bh / NH), h = (int)(bh % NH);
            const float *base = qkv + (size_t)b * T * C3 + h * hs;
            float *db = dqkv + (size_t)b * T * C3 + h * hs;
            const float *dy = dout + (size_t)b * T * C + h * hs, *a = att + (size_t)bh * TT;
            if (T == 16 && hs == 32)
                head_direct_backward(db, db + C, db + 2 * C, dy, C, a, base, base + C, base + 2 * C, C3, 16, 32, scale);
            else
                head_direct_backward(db, db + C, db + 2 * C, dy, C, a, base, base + C, base + 2 * C, C3, T, hs, scale);
        }
        return;
    }
    for (int b = 0; b < B; b++) {
        const float *base = qkv + (size_t)b * T * C3;
        float *dbase = dqkv + (size_t)b * T * C3;
        const float *dy = dout + (size_t)b * T * C;
        for (int h = 0; h < NH; h++) {
            const float *q = base + h * hs, *k = base + C + h * hs, *v = base + 2 * C + h * hs;
            float *dq = dbase + h * hs, *dk = dbase + C + h * hs, *dv = dbase + 2 * C + h * hs;
            const float *a = att + ((size_t)b * NH + h) * TT;
            const float *dyh = dy + h * hs;
            // datt (T,T) = dout_h (T,hs) v^T
            sgemm(0, 1, T, T, hs, 1.0f, dyh, C, v, C3, 0.0f, scratch, T);
            // dv (T,hs) += att^T dout_h
            sgemm(1, 0, T, hs, T, 1.0f, a, T, dyh, C, 1.0f, dv, C3);
            softmax_backward_inplace(scratch, a, T);
            // dq += scale * dS k ; dk += scale * dS^T q
            sgemm(0, 0, T, hs, T, scale, scratch, T, k, C3, 1.0f, dq, C3);
            sgemm(1, 0, T, hs, T, scale, scratch, T, q, C3, 1.0f, dk, C3);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Spatial attention, channel-major (B,C,HW): with Q, K, V the (C,HW) matrices of one image,
// scores = scale Q^T K (HW,HW) and out = V att^T (C,HW).
// Images split among the threads, each image's products on the own kernel in that thread (one
// parallel region, not one per product: 64 images made 900 regions a step, each waking the
// other thread). The same sums as one product at a time: the own kernel gives every element
// the same order on any number of threads. Elsewhere (OpenBLAS, tiny planes) the region's `if`
// keeps it inactive, a serial loop whose products thread themselves as outside any region (an
// inactive region does not count as one: omp_in_parallel() is 0 in it). Either way each
// image goes through the same function (whose softmax loops run serially inside the region).
static int spatial_par(int B, int C, int HW) {
    return B > 1 && sgemm_own_shape(HW, HW, C) && sgemm_own_shape(C, HW, HW);
}

static void spatial_forward_image(float *out, float *att, const float *q, const float *k, const float *v, int C,
                                  int HW, float scale) {
    sgemm(1, 0, HW, HW, C, scale, q, HW, k, HW, 0.0f, att, HW);
    softmax_rows_inplace(att, HW, HW);
    sgemm(0, 1, C, HW, HW, 1.0f, v, HW, att, HW, 0.0f, out, HW);
}

void spatial_attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                               int B, int C, int HW) {
    float scale = (float)(1.0 / sqrt((double)C));
    size_t CN = (size_t)C * HW, NN = (size_t)HW * HW;
#define IMAGE(b) spatial_forward_image(out + (b) * CN, att + (b) * NN, q + (b) * CN, k + (b) * CN, v + (b) * CN, C, HW, scale)
    #pragma omp parallel for schedule(static) if (spatial_par(B, C, HW))
    for (int b = 0; b < B; b++) IMAGE(b);
#undef IMAGE
}

// One HW x HW plane per image (the images may run in parallel).
size_t spatial_attention_scratch_floats(int B, int C, int HW) {
    (void)C;
    return (size_t)B * HW * HW;
}

static void spatial_backward_image(float *dq, float *dk, float *dv, const float *dy, const float *q, const float *k,
                                   const float *v, const float *a, int C, int HW, float scale, float *scratch) {
    // dV (C,HW) += dout (C,HW) att
    if (dv) sgemm(0, 0, C, HW, HW, 1.0f, dy, HW, a, HW, 1.0f, dv, HW);
    if (!dq && !dk) return;
    // datt (HW,HW) = dout^T V, then dscores in place
    sgemm(1, 0, HW, HW, C, 1.0f, dy, HW, v, HW, 0.0f, scratch, HW);
    softmax_backward_inplace(scratch, a, HW);
    // dQ (C,HW) += scale K dS^T ; dK (C,HW) += scale Q dS
    if (dq) sgemm(0, 1, C, HW, HW, scale, k, HW, scratch, HW, 1.0f, dq, HW);
    if (dk) sgemm(0, 0, C, HW, HW, scale, q, HW, scratch, HW, 1.0f, dk, HW);
}

void spatial_attention_backward(float *dq, float *dk, float *dv, const float *dout,
                                const float *q, const float *k, const float *v, const float *att,
                                int B, int C, int HW, float *scratch) {
    float scale = (float)(1.0 / sqrt((double)C));
    size_t CN = (size_t)C * HW, NN = (size_t)HW * HW;
#define IMAGE(b) spatial_backward_image(dq ? dq + (b) * CN : NULL, dk ? dk + (b) * CN : NULL, dv ? dv + (b) * CN : NULL, \
                                        dout + (b) * CN, q + (b) * CN, k + (b) * CN, v + (b) * CN, att + (b) * NN, C, \
                                        HW, scale, scratch + (b) * NN)
    #pragma omp parallel for schedule(static) if (spatial_par(B, C, HW))
    for (int b = 0; b < B; b++) IMAGE(b);
#undef IMAGE
}
