// simd_transpose.h: a 16 x 16 float transpose in AVX-512 registers, for the packers of
// gemm.c and conv_implicit.c (header-only; callers are AVX-512 code paths).
#ifndef REPAE_SIMD_TRANSPOSE_H
#define REPAE_SIMD_TRANSPOSE_H
#include <immintrin.h>
#include <stddef.h>

// dst row c (16 floats, stride ldd) = lane c of r[0..16): three rounds of shuffles, within
// 128-bit lanes and then across them. Only the lanes in `keep` of each dst row are written.
__attribute__((target("avx512f"), unused))
static inline void transpose16_store_mask(const __m512 r[16], float *dst, size_t ldd, __mmask16 keep) {
    __m512 t[16], u[16];
    for (int i = 0; i < 8; i++) { // lane L of t[2i]: rows 2i, 2i+1 at columns 4L, 4L+1
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int g = 0; g < 4; g++) { // lane L of u[4g+m]: rows 4g..4g+3 at column 4L+m
        u[4 * g + 0] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
        u[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
        u[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
        u[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
    }
    for (int m = 0; m < 4; m++) { // gather lane L of the four row groups: column 4L+m
        __m512 v0 = _mm512_shuffle_f32x4(u[m], u[4 + m], 0x88), v1 = _mm512_shuffle_f32x4(u[m], u[4 + m], 0xDD);
        __m512 v2 = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], 0x88), v3 = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], 0xDD);
        _mm512_mask_storeu_ps(dst + (size_t)(0 + m) * ldd, keep, _mm512_shuffle_f32x4(v0, v2, 0x88));
        _mm512_mask_storeu_ps(dst + (size_t)(4 + m) * ldd, keep, _mm512_shuffle_f32x4(v1, v3, 0x88));
        _mm512_mask_storeu_ps(dst + (size_t)(8 + m) * ldd, keep, _mm512_shuffle_f32x4(v0, v2, 0xDD));
        _mm512_mask_storeu_ps(dst + (size_t)(12 + m) * ldd, keep, _mm512_shuffle_f32x4(v1, v3, 0xDD));
    }
}

__attribute__((target("avx512f"), unused))
static inline void transpose16_store(const __m512 r[16], float *dst, size_t ldd) {
    transpose16_store_mask(r, dst, ldd, 0xFFFF);
}

// An MR-row A panel (MR <= 16) from rows that are contiguous in k: d[k * width + r] =
// base[r * ld + k] for k < kc and r < mr, 0 for mr <= r < width. Sixteen k at a time are
// loaded row-wise and transposed in registers (the scalar strided copy cost 2-3% of a step).
__attribute__((target("avx512f"), unused))
static inline void transpose_rows_to_panel(float *d, int width, const float *base, size_t ld, int mr, int kc) {
    __m512 v[16];
    __mmask16 keep = (__mmask16)((1u << width) - 1);
    int k = 0;
    for (; k + 16 <= kc; k += 16) {
        for (int r = 0; r < 16; r++) v[r] = r < mr ? _mm512_loadu_ps(base + (size_t)r * ld + k) : _mm512_setzero_ps();
        transpose16_store_mask(v, d + (size_t)k * width, (size_t)width, keep);
    }
    if (k < kc) {
        int rem = kc - k;
        __mmask16 m = (__mmask16)((1u << rem) - 1);
        _Alignas(64) float t[16 * 16];
        for (int r = 0; r < 16; r++) v[r] = r < mr ? _mm512_maskz_loadu_ps(m, base + (size_t)r * ld + k) : _mm512_setzero_ps();
        transpose16_store(v, t, 16);
        for (int q = 0; q < rem; q++)
            for (int r = 0; r < width; r++) d[(size_t)(k + q) * width + r] = t[q * 16 + r];
    }
}

#endif
