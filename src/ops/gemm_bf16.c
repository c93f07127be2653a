// gemm_bf16.c: see gemm_bf16.h. The register tile is the fp32 kernel's (14 x 32 of C in 28 zmm
// accumulators), with vdpbf16ps instead of vfmadd: per k pair, two vectors of B (32 columns x 2
// k) and 14 broadcast words of A, so each instruction does two k steps and the tile runs at
// twice the fp32 kernel's flops per instruction.
#include "ops/gemm_bf16.h"
#include "ops/gemm.h"
#include "ops/simd_lanes.h"
#include "ops/simd_transpose.h"
#include "base/cpu.h"
#include "base/util.h"
#include <immintrin.h>
#include <pthread.h>

#define MR GEMM_MR
#define NR GEMM_NR
#define BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512bf16")))

int gemm_bf16_cpu(void) { return cpu_has("avx512bf16") && cpu_has("avx512bw") && cpu_has("avx512f"); }

// The rates: 16 independent accumulator chains (enough for a 4-6 cycle latency on two ports)
// of one instruction, in registers only, on the calling core.
#define RATE_CHAINS 16

__attribute__((target("avx512f"))) double bf16_rate_fma(long iters) {
    __m512 a[RATE_CHAINS], x = _mm512_set1_ps(0.999f), y = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < RATE_CHAINS; i++) a[i] = _mm512_set1_ps((float)i);
    double t0 = now_seconds();
    for (long n = 0; n < iters; n++) {
#pragma GCC unroll 16
        for (int i = 0; i < RATE_CHAINS; i++) a[i] = _mm512_fmadd_ps(a[i], x, y);
    }
    double t = now_seconds() - t0;
    volatile float keep = 0; // the chains stay live
    for (int i = 0; i < RATE_CHAINS; i++) keep += _mm512_reduce_add_ps(a[i]);
    return t > 0 ? (double)iters * RATE_CHAINS * 32 / t * 1e-9 : 0;
}

BF16_TARGET double bf16_rate_dpbf16(long iters) {
    __m512 a[RATE_CHAINS];
    __m512bh x = (__m512bh)_mm512_set1_epi16(0x3f80), y = (__m512bh)_mm512_set1_epi16(0x3380); // 1, 6e-8
    for (int i = 0; i < RATE_CHAINS; i++) a[i] = _mm512_set1_ps((float)i);
    double t0 = now_seconds();
    for (long n = 0; n < iters; n++) {
#pragma GCC unroll 16
        for (int i = 0; i < RATE_CHAINS; i++) a[i] = _mm512_dpbf16_ps(a[i], x, y);
    }
    double t = now_seconds() - t0;
    volatile float keep = 0;
    for (int i = 0; i < RATE_CHAINS; i++) keep += _mm512_reduce_add_ps(a[i]);
    return t > 0 ? (double)iters * RATE_CHAINS * 64 / t * 1e-9 : 0;
}

// The CPU is the same for every run of the process, so the ratio is measured once: two
// alternated passes of 4000 iterations each (about 0.5 ms in all), the best of each.
static double speed;
static pthread_once_t speed_once = PTHREAD_ONCE_INIT;

static void speed_measure(void) {
    double f = 0, b = 0;
    for (int r = 0; r < 2; r++) {
        double vf = bf16_rate_fma(4000), vb = bf16_rate_dpbf16(4000);
        f = vf > f ? vf : f;
        b = vb > b ? vb : b;
    }
    speed = f > 0 ? b / f : 0;
}

double bf16_speed(void) {
    pthread_once(&speed_once, speed_measure);
    return speed;
}


// Interleaves two rows of 16 floats into 16 words (lo[j] low, hi[j] high), rounding to nearest even (vcvtne2ps2bf16).
BF16_TARGET static inline __m512i pair16(__m512 lo, __m512 hi) {
    const __m512i idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8,
                                         23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    __m512i v = (__m512i)_mm512_cvtne2ps_pbh(hi, lo); // [bf16(lo) | bf16(hi)]
    return _mm512_permutexvar_epi16(idx, v);
}

// An fp32 panel is kc rows of `width` values, so its k pairs are pairs of rows: bf16_pack_pairs,
// vectorised for A's 14-lane rows too (scalar was ~10x slower). vdpbf16ps reads bf16 denormals
// as zero, so the conversion's flushing them changes nothing.
void bf16_convert_a(uint32_t *restrict dst, const float *restrict src, int mc, int kc) {
    int kp = (kc + 1) / 2;
    for (int ir = 0; ir < mc; ir += MR) bf16_pack_pairs(dst + (size_t)ir * kp, src + (size_t)ir * kc, MR, MR, MR, kc);
}

void bf16_convert_b(uint32_t *restrict dst, const float *restrict src, int nc, int kc) {
    int kp = (kc + 1) / 2;
    for (int jr = 0; jr < nc; jr += NR) bf16_pack_pairs(dst + (size_t)jr * kp, src + (size_t)jr * kc, NR, NR, NR, kc);
}

BF16_TARGET void bf16_convert_windows(uint32_t *restrict dst, const float *base, const ptrdiff_t *off,
                                      ptrdiff_t half, const uint16_t *mask, int kc) {
    int kp = (kc + 1) / 2;
    for (int p = 0; p < kp; p++) {
        int k = 2 * p, has_hi = k + 1 < kc;
        __mmask16 ml = mask ? mask[k] : 0xFFFF, mh = has_hi ? (mask ? mask[k + 1] : 0xFFFF) : 0;
        const float *lo = base + off[k], *hi = has_hi ? base + off[k + 1] : base;
        for (int h = 0; h < 2; h++) {
            __m512 l = _mm512_maskz_loadu_ps(ml, lo + h * half), u = _mm512_maskz_loadu_ps(mh, hi + h * half);
            _mm512_store_si512((void *)(dst + (size_t)p * NR + 16 * h), pair16(l, u));
        }
    }
}

BF16_TARGET void gemm_pack16_rows(uint32_t *restrict dst, size_t ldd, int nq, const float *const src[16],
                                  ptrdiff_t half, const uint16_t *mask, int nk) {
    __mmask16 ml = nk >= 16 ? 0xFFFF : (__mmask16)((1u << nk) - 1);
    __mmask16 mh = nk >= 32 ? 0xFFFF : nk > 16 ? (__mmask16)((1u << (nk - 16)) - 1) : 0;
    __mmask16 keep = nq >= 16 ? 0xFFFF : (__mmask16)((1u << nq) - 1);
    __m512 v[16];
    for (int q = 0; q < 16; q++) {
        if (q >= nq || !src[q]) {
            v[q] = _mm512_setzero_ps();
            continue;
        }
        __mmask16 m = mask ? mask[q] : 0xFFFF;
        __m512 lo = _mm512_maskz_loadu_ps(m & ml, src[q]);
        __m512 hi = mh ? _mm512_maskz_loadu_ps(m & mh, src[q] + half) : _mm512_setzero_ps();
        v[q] = (__m512)_mm512_cvtne2ps_pbh(hi, lo); // halves k0..k31 in order: words are the k pairs
    }
    int np = (nk + 1) / 2;
    if (np == 16) {
        transpose16_store_mask(v, (float *)dst, ldd, keep);
        return;
    }
    _Alignas(64) float t[16 * 16];
    transpose16_store(v, t, 16);
    for (int p = 0; p < np; p++) _mm512_mask_storeu_ps((float *)dst + (size_t)p * ldd, keep, _mm512_load_ps(t + 16 * p));
}

BF16_TARGET void bf16_pack_pairs(uint32_t *restrict dst, const float *x, size_t ld, int n, int width, int kc) {
    int kp = (kc + 1) / 2;
    __mmask16 m0 = n >= 16 ? 0xFFFF : (__mmask16)((1u << n) - 1);
    __mmask16 m1 = n >= 32 ? 0xFFFF : n > 16 ? (__mmask16)((1u << (n - 16)) - 1) : 0;
    __mmask16 w0 = width >= 16 ? 0xFFFF : (__mmask16)((1u << width) - 1);
    for (int p = 0; p < kp; p++) {
        const float *lo = x + (size_t)2 * p * ld, *hi = lo + ld;
        int has_hi = 2 * p + 1 < kc;
        uint32_t *d = dst + (size_t)p * width;
        __m512 l = _mm512_maskz_loadu_ps(m0, lo), u = has_hi ? _mm512_maskz_loadu_ps(m0, hi) : _mm512_setzero_ps();
        _mm512_mask_storeu_epi32(d, w0, pair16(l, u));
        if (width > 16) {
            l = _mm512_maskz_loadu_ps(m1, lo + 16);
            u = has_hi ? _mm512_maskz_loadu_ps(m1, hi + 16) : _mm512_setzero_ps();
            _mm512_storeu_si512((void *)(d + 16), pair16(l, u));
        }
    }
}

// R rows (a constant in each instance: the loops unroll into registers); columns past nr are
// computed on the panel's zero padding and not stored (masks m0, m1). WIN (a constant): B's k
// pair p is read in place, 16 words at base + off[p] and 16 at that + half (under mask[p] when
// MASKED), instead of from the packed panel b.
__attribute__((target("avx512f,avx512bw,avx512bf16"), always_inline))
static inline void tile_any(const int R, const int WIN, const int MASKED, int kp, const uint32_t *restrict a,
                            const uint32_t *restrict b, const uint32_t *base, const ptrdiff_t *off, ptrdiff_t half,
                            const uint16_t *mask, float *C, int ldc, float alpha, float beta, const float *cb,
                            const float *rb, __mmask16 m0, __mmask16 m1) {
    __m512 c0[MR], c1[MR];
    #pragma GCC unroll 14
    for (int r = 0; r < R; r++) c0[r] = c1[r] = _mm512_setzero_ps();
    for (int p = 0; p < kp; p++) {
        __m512bh b0, b1;
        if (WIN) {
            const uint32_t *w = base + off[p];
            if (MASKED) {
                b0 = (__m512bh)_mm512_maskz_loadu_epi32(mask[p], w);
                b1 = (__m512bh)_mm512_maskz_loadu_epi32(mask[p], w + half);
            } else {
                b0 = (__m512bh)_mm512_loadu_si512((const void *)w);
                b1 = (__m512bh)_mm512_loadu_si512((const void *)(w + half));
            }
        } else {
            b0 = (__m512bh)_mm512_load_si512((const void *)b);
            b1 = (__m512bh)_mm512_load_si512((const void *)(b + 16));
            b += NR;
        }
        #pragma GCC unroll 14
        for (int r = 0; r < R; r++) {
            __m512bh av = (__m512bh)_mm512_set1_epi32((int)a[r]);
            c0[r] = _mm512_dpbf16_ps(c0[r], av, b0);
            c1[r] = _mm512_dpbf16_ps(c1[r], av, b1);
        }
        a += MR;
    }
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    #pragma GCC unroll 14
    for (int r = 0; r < R; r++) {
        float *cr = C + (size_t)r * ldc;
        __m512 x0 = _mm512_mul_ps(va, c0[r]), x1 = _mm512_mul_ps(va, c1[r]);
        if (cb) { // as beta = 1 onto C filled with the column bias
            x0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, cb), x0);
            x1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, cb + 16), x1);
        } else if (rb) { // the same with a row bias
            __m512 vr = _mm512_set1_ps(rb[r]);
            x0 = _mm512_add_ps(vr, x0);
            x1 = _mm512_add_ps(vr, x1);
        } else if (beta != 0.0f) {
            x0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, cr), x0);
            x1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, cr + 16), x1);
        }
        _mm512_mask_storeu_ps(cr, m0, x0);
        _mm512_mask_storeu_ps(cr + 16, m1, x1);
    }
}

BF16_TARGET void bf16_kernel(int mr, int nr, int kc, const uint32_t *a, const uint32_t *b, float *C, int ldc,
                             float alpha, float beta, const float *cb, const float *rb) {
    int kp = (kc + 1) / 2;
    __mmask16 m0 = nr >= 16 ? 0xFFFF : (__mmask16)((1u << nr) - 1);
    __mmask16 m1 = nr >= 32 ? 0xFFFF : nr > 16 ? (__mmask16)((1u << (nr - 16)) - 1) : 0;
    switch (mr) {
#define K_(R) case R: tile_any(R, 0, 0, kp, a, b, NULL, NULL, 0, NULL, C, ldc, alpha, beta, cb, rb, m0, m1); break;
    K_(1) K_(2) K_(3) K_(4) K_(5) K_(6) K_(7) K_(8) K_(9) K_(10) K_(11) K_(12) K_(13) K_(14)
#undef K_
    }
}

BF16_TARGET void bf16_kernel_win(int mr, int kp, const uint32_t *a, const uint32_t *base, const ptrdiff_t *off,
                                 ptrdiff_t half, const uint16_t *mask, float *C, int ldc, float alpha, float beta,
                                 const float *rb) {
    if (mask) {
        switch (mr) {
#define K_(R) case R: tile_any(R, 1, 1, kp, a, NULL, base, off, half, mask, C, ldc, alpha, beta, NULL, rb, 0xFFFF, 0xFFFF); break;
        K_(1) K_(2) K_(3) K_(4) K_(5) K_(6) K_(7) K_(8) K_(9) K_(10) K_(11) K_(12) K_(13) K_(14)
#undef K_
        }
        return;
    }
    switch (mr) {
#define K_(R) case R: tile_any(R, 1, 0, kp, a, NULL, base, off, half, NULL, C, ldc, alpha, beta, NULL, rb, 0xFFFF, 0xFFFF); break;
    K_(1) K_(2) K_(3) K_(4) K_(5) K_(6) K_(7) K_(8) K_(9) K_(10) K_(11) K_(12) K_(13) K_(14)
#undef K_
    }
}

BF16_TARGET void bf16_pair_words(uint32_t *restrict dst, const float *lo, const float *hi, int n) {
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        __m512 l = _mm512_maskz_loadu_ps(m, lo + i), u = hi ? _mm512_maskz_loadu_ps(m, hi + i) : _mm512_setzero_ps();
        _mm512_mask_storeu_epi32(dst + i, m, pair16(l, u));
    }
}

BF16_TARGET void bf16_round_row(uint16_t *restrict dst, const float *src, int n) {
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        __m256i v = (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, src + i));
        if (m == 0xFFFF) {
            _mm256_storeu_si256((__m256i *)(dst + i), v);
        } else {
            uint16_t t[16];
            _mm256_storeu_si256((__m256i *)t, v);
            __builtin_memcpy(dst + i, t, (size_t)(n - i) * sizeof *t);
        }
    }
}

// Lanes q .. q+15 of a padded row whose image values are src[0], src[2], .. src[2 (W - 1)]
// (one column phase of a row twice as wide) at columns [pad_l, pad_l + W), zeros elsewhere:
// the even lanes of two masked loads of 32 consecutive floats. The loads stop before
// src[2W - 1], which for the odd phase (src one past the row's start) lies past the row.
BF16_TARGET static inline __m512 phase16(const float *src, int q, int pad_l, int W) {
    if (!src) return _mm512_setzero_ps();
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const int base = 2 * (q - pad_l);
    __m512 v0 = _mm512_maskz_loadu_ps(lane_mask(-base, 2 * W - 1 - base), shifted(src, base));
    __m512 v1 = _mm512_maskz_loadu_ps(lane_mask(-base - 16, 2 * W - 1 - base - 16), shifted(src, base + 16));
    return _mm512_permutex2var_ps(v0, even, v1);
}

BF16_TARGET void bf16_pair_phase_padded(uint32_t *restrict dst, const float *lo, const float *hi, int H, int W, int ld,
                                        int Hp, int Wp, int pad_t, int pad_l) {
    for (int r = 0; r < Hp; r++) {
        int in = r - pad_t >= 0 && r - pad_t < H;
        const float *l = in ? lo + (size_t)(r - pad_t) * ld : NULL, *u = in && hi ? hi + (size_t)(r - pad_t) * ld : NULL;
        uint32_t *d = dst + (size_t)r * Wp;
        for (int q = 0; q < Wp; q += 16)
            _mm512_mask_storeu_epi32(d + q, lane_mask(0, Wp - q), pair16(phase16(l, q, pad_l, W), phase16(u, q, pad_l, W)));
    }
}

// KW taps of G input rows (constants in each instance): 2 * KW * G zmm accumulators, one
// pointer per row; a tap's pair word is the 32 bits at the row pointer + 2q + j.
__attribute__((target("avx512f,avx512bw,avx512bf16"), always_inline))
static inline void dw_tile(const int KW, const int G, const uint16_t *const grp[], ptrdiff_t img, int nb, int Ho,
                           int Wo, int Wp, const uint32_t *restrict b, float *C) {
    __m512 c0[MR], c1[MR];
    #pragma GCC unroll 14
    for (int r = 0; r < KW * G; r++) c0[r] = c1[r] = _mm512_setzero_ps();
    for (int n = 0; n < nb; n++)
        for (int oh = 0; oh < Ho; oh++) {
            const uint16_t *p[MR];
            #pragma GCC unroll 14
            for (int g = 0; g < G; g++) p[g] = grp[g] + n * img + (ptrdiff_t)oh * Wp;
            for (int q = 0; q < Wo / 2; q++) {
                __m512bh b0 = (__m512bh)_mm512_load_si512((const void *)b);
                __m512bh b1 = (__m512bh)_mm512_load_si512((const void *)(b + 16));
                b += NR;
                #pragma GCC unroll 14
                for (int g = 0; g < G; g++)
                    #pragma GCC unroll 4
                    for (int j = 0; j < KW; j++) {
                        uint32_t w;
                        __builtin_memcpy(&w, p[g] + 2 * q + j, sizeof w);
                        __m512bh av = (__m512bh)_mm512_set1_epi32((int)w);
                        c0[g * KW + j] = _mm512_dpbf16_ps(c0[g * KW + j], av, b0);
                        c1[g * KW + j] = _mm512_dpbf16_ps(c1[g * KW + j], av, b1);
                    }
            }
        }
    #pragma GCC unroll 14
    for (int r = 0; r < KW * G; r++) {
        _mm512_storeu_ps(C + (size_t)r * NR, c0[r]);
        _mm512_storeu_ps(C + (size_t)r * NR + 16, c1[r]);
    }
}

BF16_TARGET int bf16_kernel_dw(int kw, int g, const uint16_t *const grp[], ptrdiff_t img, int nb, int Ho, int Wo,
                               int Wp, const uint32_t *b, float *C) {
#define TILE(KW, G) dw_tile(KW, G, grp, img, nb, Ho, Wo, Wp, b, C)
    DW_TILE_DISPATCH(kw, g, TILE);
#undef TILE
}
