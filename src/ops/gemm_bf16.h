// gemm_bf16.h: the bf16 half of the own matrix kernel (gemm_bf16.c), used by gemm.c when a
// product is asked for in bf16 (GEMM_BF16). Not an op interface: gemm.c includes it, and
// conv_implicit.c for its bf16 copies and weight-gradient kernel.
//
// Operands are packed by the usual fp32 packers, then converted (round to nearest even) into
// k-pair panels for vdpbf16ps: each 32-bit word holds op(X)[.][k] in its low and op(X)[.][k+1]
// in its high half, an odd last k paired with 0. An A panel holds, per k pair, GEMM_MR words;
// a B panel GEMM_NR. Products sum in fp32 (vdpbf16ps adds each pair's two products into an
// fp32 lane), so only the inputs are rounded. The windowed convs' kernels (bf16_kernel_win,
// bf16_kernel_dw) read pair words in place from copies conv_implicit.c makes instead.
#ifndef REPAE_GEMM_BF16_H
#define REPAE_GEMM_BF16_H
#include <stddef.h>
#include <stdint.h>

// 1 if this CPU can run the kernels (AVX512-BF16 and BW), honouring REPAE_CPU_PRETEND_MISSING.
int gemm_bf16_cpu(void);
// vdpbf16ps's flops over vfmadd231ps's (zmm) on this core, timed once per process (gemm.h's
// gemm_bf16_speed); only where gemm_bf16_cpu.
double bf16_speed(void);
// GFLOP/s of zmm vfmadd231ps (32 flops each) and vdpbf16ps (64) on the calling core, timed over
// iters rounds of 16 independent register chains (bench_isa uses them too).
double bf16_rate_fma(long iters);
double bf16_rate_dpbf16(long iters);
// fp32 panels (gemm.c's layout: rows in panels of MR (A) or NR (B), kc values each) -> bf16
// k-pair panels. Panel p of the result starts at dst + p * width * ((kc + 1) / 2).
void bf16_convert_a(uint32_t *dst, const float *src, int mc, int kc);
void bf16_convert_b(uint32_t *dst, const float *src, int nc, int kc);
// One B tile of gemm_windows (32 columns: 16 at base + off[k], 16 at that + half, under mask[k]
// when mask != NULL) -> one bf16 B panel.
void bf16_convert_windows(uint32_t *dst, const float *base, const ptrdiff_t *off, ptrdiff_t half,
                          const uint16_t *mask, int kc);
// The k-pair panel of kc rows of x (stride ld) whose first n values are the panel's columns
// (op(A) transposed, op(B) not): dst[p * width + j] = the pair of x[2p][j] and x[2p + 1][j]
// for j < n, 0 for n <= j < width (width GEMM_MR or GEMM_NR).
void bf16_pack_pairs(uint32_t *dst, const float *x, size_t ld, int n, int width, int kc);
// C[0..mr)[0..nr) = alpha * a @ b + beta * C (beta == 0: C not read); mr <= MR, nr <= NR.
// cb != NULL: alpha * a @ b + cb[j] instead (as beta = 1 onto C filled with the bias); rb != NULL:
// alpha * a @ b + rb[i].
void bf16_kernel(int mr, int nr, int kc, const uint32_t *a, const uint32_t *b, float *C, int ldc,
                 float alpha, float beta, const float *cb, const float *rb);
// The same over all kp pairs of a (one panel, gemm.h's GemmWindows16) with B's 32 columns read in
// place: pair p is 16 words at base + off[p] and 16 at that + half, lanes outside mask[p] (mask
// NULL: none) read as 0. rb != NULL: alpha * a @ b + rb[i] for row i instead (beta unused).
void bf16_kernel_win(int mr, int kp, const uint32_t *a, const uint32_t *base, const ptrdiff_t *off,
                     ptrdiff_t half, const uint16_t *mask, float *C, int ldc, float alpha, float beta,
                     const float *rb);
// dst[i] = bf16(lo[i]) | bf16(hi[i]) << 16 (nearest even, as the packers), hi NULL: 0, for i < n.
void bf16_pair_words(uint32_t *dst, const float *lo, const float *hi, int n);
// dst[i] = bf16(src[i]) (nearest even) for i < n.
void bf16_round_row(uint16_t *dst, const float *src, int n);
// One column phase of pair words, laid out zero-padded: an H x W image whose value (i, j) is
// bf16(lo[i * ld + 2 j]) | bf16(hi[i * ld + 2 j]) << 16 (hi NULL: 0; nearest even, as
// bf16_pair_words) at dst, Hp x Wp, from row pad_t and column pad_l (columns past Wp dropped).
// The stride-2 convs' phase planes (conv_implicit.c).
void bf16_pair_phase_padded(uint32_t *dst, const float *lo, const float *hi, int H, int W, int ld, int Hp, int Wp,
                            int pad_t, int pad_l);
// A bf16 conv weight gradient's tile, transposed (conv_implicit.c): rows r < g * kw are the taps
// (row r / kw of grp, column tap r % kw), 32 columns the output channels. C[r][j] (ldc 32) = the
// sum over images n < nb, output rows oh < Ho and pixel pairs q < Wo / 2 of the pair at
// grp[r / kw] + n * img + oh * Wp + 2q + r % kw (bf16 values of padded input rows) dot b's
// next k-pair row (32 words: dout's pixel pairs, one per channel, packed in that order).
// kw 3 with g <= 4 or kw 2 with g <= 7; returns -1 (nothing done) for others.
// DW_TILE_DISPATCH(kw, g, TILE): those cases as a switch that runs TILE(KW, G) with both constant
// and returns 0, or returns -1; the fp32 tile (conv_implicit.c) is compiled for the same ones.
#define DW_TILE_DISPATCH(kw, g, TILE)                                                              \
    do {                                                                                           \
        if ((kw) == 3) switch (g) {                                                                \
            case 1: TILE(3, 1); return 0; case 2: TILE(3, 2); return 0;                            \
            case 3: TILE(3, 3); return 0; case 4: TILE(3, 4); return 0;                            \
            }                                                                                      \
        else if ((kw) == 2) switch (g) {                                                           \
            case 1: TILE(2, 1); return 0; case 2: TILE(2, 2); return 0; case 3: TILE(2, 3); return 0; \
            case 4: TILE(2, 4); return 0; case 5: TILE(2, 5); return 0; case 6: TILE(2, 6); return 0; \
            case 7: TILE(2, 7); return 0;                                                          \
            }                                                                                      \
        return -1;                                                                                 \
    } while (0)
int bf16_kernel_dw(int kw, int g, const uint16_t *const grp[], ptrdiff_t img, int nb, int Ho, int Wo, int Wp,
                   const uint32_t *b, float *C);
#endif
