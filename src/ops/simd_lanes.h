// simd_lanes.h: lane masks and masked-load addresses for the AVX-512 packers of conv_implicit.c
// and gemm_bf16.c (header-only).
#ifndef REPAE_SIMD_LANES_H
#define REPAE_SIMD_LANES_H
#include <immintrin.h>
#include <stdint.h>

// Lanes [lo, hi) of a 16-lane mask (clamped to [0, 16)).
static inline __mmask16 lane_mask(int lo, int hi) {
    if (lo < 0) lo = 0;
    if (hi > 16) hi = 16;
    if (hi <= lo) return 0;
    return (__mmask16)((((uint32_t)1 << hi) - 1) & ~(((uint32_t)1 << lo) - 1));
}

// Address arithmetic in integers: the masked-off lanes of a load may lie before the start of
// x (the left padding), and forming such a pointer with pointer arithmetic would be undefined.
static inline const float *shifted(const float *row, int off) {
    return (const float *)((uintptr_t)row + (intptr_t)off * (intptr_t)sizeof(float));
}
#endif
