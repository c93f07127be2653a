// conv_implicit.c: conv2d forward and backward as products of the own AVX-512 kernel
// (gemm.h) whose operands are packed straight from the NCHW tensors: no im2col buffer, no
// col2im, no staging copies, and one product for the whole batch.
//
// col = im2col(x) has rows r = (ci, ki, kj) and columns n = (b, oh, ow); col[r][n] =
// x[b, ci, oh + ki - pad_t, ow + kj - pad_l] (0 outside the image). With stride 1, 16
// consecutive columns are one shifted segment of an input row (Wo a multiple of 16) or two
// (Wo == 8), so a packer reads them with one or two masked vector loads.
//   forward   out (Cout, n)    = W (Cout, r) @ col (r, n)                 [B packs col]
//   dweight   dW (Cout, r)    += dout (Cout, n) @ col^T (n, r)            [B packs col^T]
//   dinput    dx (Cin, n')    += W' (Cin, r') @ col'(dout) (r', n')       [B packs col']
// where the input gradient of a stride-1 conv is itself a stride-1 conv of dout, with the
// kernel flipped and its in/out channels swapped (W'[ci][co][ki][kj] = W[co][ci][k-1-ki][k-1-kj])
// and padding k-1-pad on each side; its A packer reads W in that order. Stride-2 convs (the
// LDM downsamples) take the forward and weight-gradient products here, their columns read as
// the even lanes of two loads, and their input gradient as four stride-1 products, one per
// input phase (conv_phase_dinp); in bf16 the forward and the phases run on windows of pair-word
// copies (conv_windows16 with s = 2, conv_phase_dinp16). A weight gradient of at most three
// output channels is summed directly (conv_dweight_small).
//
// The 32-column-row layers use shifted windows of a zero-padded copy instead (conv_windows).
// The weight gradient of stride-1 convs is taken transposed (conv_dweight_t): tiles of (taps,
// 32 output channels), the taps' pixels broadcast from a padded copy (bf16: pixel pairs), dout
// packed. In bf16 the forward and input gradient read a copy of channel-pair words in place
// (conv_windows16). conv_pairs_enable(0) turns both off for tests.
#include "ops/conv_implicit.h"
#include "ops/gemm.h"
#include "ops/gemm_bf16.h"
#include "ops/simd_lanes.h"
#include "ops/simd_transpose.h"
#include "base/util.h"
#include <immintrin.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const float *x;         // (B, C, H, W)
    int C, H, W, k, pad_t, pad_l;
    int Ho, Wo, P;          // output plane; P = Ho * Wo columns per image
    int s;                  // stride: 1, or 2 (forward and weight gradient only)
} ColView;

int conv_implicit_ok(const Conv2d *c) {
    if (!gemm_own() || c->stride > 2) return 0;
    // The output plane must be whole 16-column segments (rows of 16k, or pairs of 8-rows)
    // and its column groups whole register tiles.
    int P = c->Ho * c->Wo;
    return (c->Wo % 16 == 0 || c->Wo == 8) && P % GEMM_NR == 0;
}

// Stride 2: the input plane splits into four phases (row and column parity), each an
// (H/2) x (W/2) plane that must be whole segments like an output plane.
static int phases_ok(const Conv2d *c) {
    return c->stride == 2 && c->H % 2 == 0 && c->W % 2 == 0 && c->H / 2 == c->Ho && c->W / 2 == c->Wo;
}

int conv_implicit_dinp_ok(const Conv2d *c) {
    // The input gradient is the flipped-kernel conv of dout (stride 1) or four of them, one per
    // phase (stride 2); its output planes must be whole segments too.
    if (!conv_implicit_ok(c)) return 0;
    if (c->stride == 2) return phases_ok(c); // the phase planes are Ho x Wo: checked above
    return (c->W % 16 == 0 || c->W == 8) && (c->H * c->W) % GEMM_NR == 0;
}

// col[r][n .. n+16) for r = (ci, ki, kj), n a multiple of 16; (b, oh, ow) is column n's position.
__attribute__((target("avx512f,avx512vl,avx512dq")))
static inline __m512 col16(const ColView *v, int ci, int ki, int kj, int b, int oh, int ow) {
    const float *plane = v->x + ((size_t)b * v->C + ci) * v->H * v->W;
    int iw = ow + kj - v->pad_l;
    __mmask16 m = lane_mask(-iw, v->W - iw);
    if (v->Wo >= 16) {
        int ih = oh + ki - v->pad_t;
        if (ih < 0 || ih >= v->H || !m) return _mm512_setzero_ps();
        // Plain loads where no lane is masked: masked loads were several times slower here.
        if (m == 0xFFFF) return _mm512_loadu_ps(plane + (size_t)ih * v->W + iw);
        return _mm512_maskz_loadu_ps(m, shifted(plane + (size_t)ih * v->W, iw));
    }
    // Wo == 8: lanes 0..7 are output row oh, lanes 8..15 row oh + 1.
    __mmask8 m8 = (__mmask8)(m & 0xFF);
    int ih0 = oh + ki - v->pad_t, ih1 = ih0 + 1;
    int ok0 = ih0 >= 0 && ih0 < v->H, ok1 = ih1 >= 0 && ih1 < v->H;
    if (v->W == 8) { // the two input rows are adjacent in memory: one load, edges masked
        __mmask16 mm = (__mmask16)((ok0 ? m8 : 0) | (ok1 ? (unsigned)m8 << 8 : 0));
        if (mm == 0xFFFF) return _mm512_loadu_ps(plane + (size_t)ih0 * v->W + iw);
        return _mm512_maskz_loadu_ps(mm, shifted(plane, ih0 * v->W + iw));
    }
    __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
    if (m8 == 0xFF) {
        if (ok0) lo = _mm256_loadu_ps(plane + (size_t)ih0 * v->W + iw);
        if (ok1) hi = _mm256_loadu_ps(plane + (size_t)ih1 * v->W + iw);
    } else if (m8) {
        if (ok0) lo = _mm256_maskz_loadu_ps(m8, shifted(plane + (size_t)ih0 * v->W, iw));
        if (ok1) hi = _mm256_maskz_loadu_ps(m8, shifted(plane + (size_t)ih1 * v->W, iw));
    }
    return _mm512_insertf32x8(_mm512_castps256_ps512(lo), hi, 1);
}

// Stride 2: output lanes ow..ow+15 read input columns 2*ow + kj - pad_l + 2*l: the even lanes
// of the 32 floats from there (two loads, one two-source permute). With Wo == 8 the two
// 16-float loads are the two input rows of output rows oh and oh + 1.
__attribute__((target("avx512f")))
static inline __m512 load16_masked(const float *plane, int ih, int H, int W, int iw) {
    if (ih < 0 || ih >= H) return _mm512_setzero_ps();
    __mmask16 m = lane_mask(-iw, W - iw);
    const float *row = plane + (size_t)ih * W;
    if (m == 0xFFFF) return _mm512_loadu_ps(row + iw);
    return m ? _mm512_maskz_loadu_ps(m, shifted(row, iw)) : _mm512_setzero_ps();
}

__attribute__((target("avx512f")))
static inline __m512 col16_s2(const ColView *v, int ci, int ki, int kj, int b, int oh, int ow) {
    const float *plane = v->x + ((size_t)b * v->C + ci) * v->H * v->W;
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    int iw = 2 * ow + kj - v->pad_l, ih = 2 * oh + ki - v->pad_t;
    __m512 lo, hi;
    if (v->Wo >= 16) {
        lo = load16_masked(plane, ih, v->H, v->W, iw);
        hi = load16_masked(plane, ih, v->H, v->W, iw + 16);
    } else {
        lo = load16_masked(plane, ih, v->H, v->W, iw);
        hi = load16_masked(plane, ih + 2, v->H, v->W, iw);
    }
    return _mm512_permutex2var_ps(lo, even, hi);
}

__attribute__((target("avx512f,avx512vl,avx512dq")))
static inline __m512 col16_any(const ColView *v, int ci, int ki, int kj, int b, int oh, int ow) {
    return v->s == 1 ? col16(v, ci, ki, kj, b, oh, ow) : col16_s2(v, ci, ki, kj, b, oh, ow);
}

typedef struct { int b, oh, ow; } Pos;
static inline Pos col_pos(const ColView *v, int n) {
    Pos p;
    p.b = n / v->P;
    int q = n % v->P;
    p.oh = q / v->Wo;
    p.ow = q % v->Wo;
    return p;
}

// B = col: panels of GEMM_NR columns n, each k-major (32 floats per row r). The loops go image
// by image within the block, rows r inside, that image's panels innermost: consecutive loads
// walk along one input plane, and the planes a block touches for one image are adjacent
// channels. Rows outside images (8x8 planes, 32 images to a block: one plane per image 32 KB
// apart, all in the same L1 set) or panels outside rows (32x32: channel planes 4 KB apart,
// again one L1 set) stalled on L1 conflict misses; the packer was a third of the step.
#define PACK_MAX_PANELS (GEMM_NC / GEMM_NR)
__attribute__((target("avx512f,avx512vl,avx512dq")))
static void pack_col(const void *ctx, float *dst, int n0, int nc, int r0, int rc) {
    const ColView *v = ctx;
    Pos pos[2 * PACK_MAX_PANELS];
    int halves = nc / 16; // nc is a multiple of GEMM_NR (P is)
    if (halves > 2 * PACK_MAX_PANELS) { // cannot happen with gemm.c's blocking
        fprintf(stderr, "conv_implicit: %d columns in one B block exceed %d\n", nc, 32 * PACK_MAX_PANELS);
        abort();
    }
    for (int h = 0; h < halves; h++) pos[h] = col_pos(v, n0 + 16 * h);
    const int ci0 = r0 / (v->k * v->k), ki0 = (r0 / v->k) % v->k, kj0 = r0 % v->k;
    for (int h0 = 0; h0 < halves;) {
        int h1 = h0 + 1; // [h0, h1): the halves of one image
        while (h1 < halves && pos[h1].b == pos[h0].b) h1++;
        int ci = ci0, ki = ki0, kj = kj0;
        for (int r = 0; r < rc; r++) {
            float *d = dst + (size_t)r * GEMM_NR;
            for (int h = h0; h < h1; h++) {
                float *dp = d + (size_t)(h / 2) * GEMM_NR * rc + (h % 2) * 16;
                _mm512_store_ps(dp, col16_any(v, ci, ki, kj, pos[h].b, pos[h].oh, pos[h].ow));
            }
            if (++kj == v->k) { kj = 0; if (++ki == v->k) { ki = 0; ci++; } }
        }
        h0 = h1;
    }
}

// B = col^T for the weight gradient: panels of GEMM_NR rows r of col, k-major over columns n
// (the product's k): 16 x 16 blocks of col are loaded row-wise and transposed in registers.
__attribute__((target("avx512f,avx512vl,avx512dq")))
static void pack_colT(const void *ctx, float *dst, int rr0, int rrc, int n0, int nc) {
    const ColView *v = ctx;
    const int kk = v->k * v->k, R = v->C * kk;
    for (int j = 0; j < rrc; j += GEMM_NR) {
        float *d = dst + (size_t)j * nc;
        for (int h = 0; h < GEMM_NR; h += 16) {
            int rbase = rr0 + j + h;
            // Decode the 16 rows of this half-panel once.
            int ci[16], ki[16], kj[16], valid[16];
            for (int t = 0; t < 16; t++) {
                int r = rbase + t;
                valid[t] = r < rr0 + rrc && r < R;
                ci[t] = r / kk; ki[t] = (r / v->k) % v->k; kj[t] = r % v->k;
            }
            Pos p = col_pos(v, n0); // then stepped: four divisions per block cost more than its loads
            const int Ho = v->P / v->Wo;
            for (int n = 0; n < nc; n += 16) { // nc is a multiple of 16 (P is)
                __m512 rows[16];
                for (int t = 0; t < 16; t++)
                    rows[t] = valid[t] ? col16_any(v, ci[t], ki[t], kj[t], p.b, p.oh, p.ow) : _mm512_setzero_ps();
                transpose16_store(rows, d + (size_t)n * GEMM_NR + h, GEMM_NR);
                p.ow += 16;
                while (p.ow >= v->Wo) { p.ow -= v->Wo; p.oh++; }
                if (p.oh >= Ho) { p.oh = 0; p.b++; }
            }
        }
    }
}

// A = dout as a (Cout, n) matrix of the weight gradient: row co, column n = (b, p).
typedef struct { const float *d; int Cout, P; } GroupedRows;

__attribute__((target("avx512f")))
static void pack_grouped(const void *ctx, float *dst, int i0, int mc, int n0, int nc) {
    const GroupedRows *g = ctx;
    for (int ir = 0; ir < mc; ir += GEMM_MR) {
        int mr = mc - ir < GEMM_MR ? mc - ir : GEMM_MR;
        float *d = dst + (size_t)ir * nc;
        for (int n = 0; n < nc;) { // one image's run of columns at a time (rows are planes)
            int b = (n0 + n) / g->P, p = (n0 + n) % g->P, len = g->P - p < nc - n ? g->P - p : nc - n;
            const float *s = g->d + ((size_t)b * g->Cout + i0 + ir) * g->P + p;
            transpose_rows_to_panel(d + (size_t)n * GEMM_MR, GEMM_MR, s, (size_t)g->P, mr, len);
            n += len;
        }
    }
}

// pack_grouped straight into bf16 k-pair panels (GemmOperand.pack16): each row's pixels are
// contiguous within an image, so 32 of them are two runs of 16 (P a multiple of 16).
static void pack_grouped16(const void *ctx, uint32_t *dst, int i0, int mc, int n0, int nc) {
    const GroupedRows *g = ctx;
    const int kp = (nc + 1) / 2;
    for (int ir = 0; ir < mc; ir += GEMM_MR) {
        int mr = mc - ir < GEMM_MR ? mc - ir : GEMM_MR;
        const float *src[16] = {0};
        for (int n = 0; n < nc; n += 32) {
            int j = n0 + n, nk = nc - n < 32 ? nc - n : 32;
            const float *lo = g->d + ((size_t)(j / g->P) * g->Cout + i0 + ir) * g->P + j % g->P, *hi = lo;
            if (nk > 16) hi = g->d + ((size_t)((j + 16) / g->P) * g->Cout + i0 + ir) * g->P + (j + 16) % g->P;
            for (int q = 0; q < mr; q++) src[q] = lo + (size_t)q * g->P;
            gemm_pack16_rows(dst + (size_t)ir * kp + (size_t)(n / 2) * GEMM_MR, GEMM_MR, GEMM_MR, src, hi - lo, NULL, nk);
        }
    }
}

// A = W' for the input gradient: row ci, column r' = (co, ki, kj) -> W[co][ci][k-1-ki][k-1-kj].
typedef struct { const float *w; int Cout, Cin, k; } FlippedW;

static void pack_flipped(const void *ctx, float *dst, int i0, int mc, int r0, int rc) {
    const FlippedW *f = ctx;
    const int kk = f->k * f->k;
    for (int ir = 0; ir < mc; ir += GEMM_MR) {
        int mr = mc - ir < GEMM_MR ? mc - ir : GEMM_MR;
        float *d = dst + (size_t)ir * rc;
        for (int q = 0; q < rc; q++) {
            int r = r0 + q, co = r / kk, t = r % kk; // t = ki * k + kj; flipped tap = kk - 1 - t
            const float *w = f->w + ((size_t)co * f->Cin + i0 + ir) * kk + (kk - 1 - t);
            float *dq = d + (size_t)q * GEMM_MR;
            int i = 0;
            for (; i < mr; i++) dq[i] = w[(size_t)i * kk];
            for (; i < GEMM_MR; i++) dq[i] = 0.0f;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Shifted windows, for stride-1 convs whose output rows are whole 32-column tiles (Wo a
// multiple of 32: the 32x32 layers, where Cout is only 32 or 64 and packing col cost about as
// much as the product) or pairs of 16-wide rows (a tile's second half is the next padded row). The input is copied once per chunk of images into a zero-padded
// buffer (Ho + k - 1 rows of Wo + k - 1): tap (ci, ki, kj) of output row oh, columns
// ow0..ow0+31, is then the contiguous window at padded (oh + ki, ow0 + kj) of plane ci, which
// the kernel loads in place (gemm_windows). Nothing is packed but the weights.
typedef struct {
    const float *xp;        // (nb, C, Hp, Wp) padded images
    int C, Hp, Wp, Wo, P;   // P = Ho * Wo output columns per image
} Windows;

static const float *window_base(const void *ctx, int j) {
    const Windows *w = ctx;
    int b = j / w->P, q = j % w->P, oh = q / w->Wo, ow = q % w->Wo;
    return w->xp + (size_t)b * w->C * w->Hp * w->Wp + (size_t)oh * w->Wp + ow;
}

// The same over a pair-word copy (conv_windows16): C2 planes of channel pairs.
typedef struct {
    const uint32_t *xp;
    int C2, Hp, Wp, Wo, P;
} Windows16;

static const uint32_t *window_base16(const void *ctx, int j) {
    const Windows16 *w = ctx;
    int b = j / w->P, q = j % w->P, oh = q / w->Wo, ow = q % w->Wo;
    return w->xp + (size_t)b * w->C2 * w->Hp * w->Wp + (size_t)oh * w->Wp + ow;
}

// B = col^T for the weight gradient, read from the padded copy: 16 rows r x 16 pixels at a
// time, each a plain (or, 8-wide, masked) load at the pixels' window base + off[r], then
// transposed in registers. Cheaper than col16's bounds tests per vector.
typedef struct {
    Windows w;
    const ptrdiff_t *off;
    const uint16_t *mask;
} WindowsT;

__attribute__((target("avx512f")))
static void pack_winT(const void *ctx, float *dst, int rr0, int rrc, int n0, int nc) {
    const WindowsT *t = ctx;
    for (int j = 0; j < rrc; j += GEMM_NR) {
        float *d = dst + (size_t)j * nc;
        for (int h = 0; h < GEMM_NR; h += 16) {
            int rb = rr0 + j + h, nv = rr0 + rrc - rb; // rows [rb, rb + nv) exist
            for (int n = 0; n < nc; n += 16) { // nc and n0 are multiples of 16 (P is)
                const float *base = window_base(&t->w, n0 + n);
                __m512 rows[16];
                for (int q = 0; q < 16; q++) {
                    if (q >= nv) { rows[q] = _mm512_setzero_ps(); continue; }
                    const float *p = base + t->off[rb + q];
                    rows[q] = t->mask ? _mm512_maskz_loadu_ps(t->mask[rb + q], p) : _mm512_loadu_ps(p);
                }
                transpose16_store(rows, d + (size_t)n * GEMM_NR + h, GEMM_NR);
            }
        }
    }
}

// pack_winT straight into bf16 k-pair panels (GemmOperand.pack16): a tap's 32 pixels are two
// 16-pixel windows, whose distance is the same for every tap.
static void pack_winT16(const void *ctx, uint32_t *dst, int rr0, int rrc, int n0, int nc) {
    const WindowsT *t = ctx;
    const int kp = (nc + 1) / 2;
    for (int j = 0; j < rrc; j += GEMM_NR) {
        uint32_t *d = dst + (size_t)j * kp;
        for (int h = 0; h < GEMM_NR; h += 16) {
            int rb = rr0 + j + h, nv = rr0 + rrc - rb; // rows [rb, rb + nv) exist
            const float *src[16] = {0};
            for (int n = 0; n < nc; n += 32) { // nc and n0 are multiples of 16 (P is)
                int nk = nc - n < 32 ? nc - n : 32;
                const float *base = window_base(&t->w, n0 + n);
                ptrdiff_t half = nk > 16 ? window_base(&t->w, n0 + n + 16) - base : 0;
                for (int q = 0; q < 16 && q < nv; q++) src[q] = base + t->off[rb + q];
                gemm_pack16_rows(d + (size_t)(n / 2) * GEMM_NR + h, GEMM_NR, 16, src, half,
                                 t->mask ? t->mask + rb : NULL, nk);
            }
        }
    }
}

static int conv_windows_ok(int Ho, int Wo) {
    return gemm_own() && (Wo % GEMM_NR == 0 || (Wo == 16 && Ho % 2 == 0) || (Wo == 8 && Ho % 4 == 0));
}

// out (B, M, Ho, Wo) = beta * out + A (M, C*k*k) @ col(x), col of a stride-1 k x k conv of x
// (B, C, H, W) with padding pad_t/pad_l (the rest implied by Ho, Wo). ws holds the padded
// copies of as many images as fit; an unpadded 1x1 conv reads x itself. 8-wide rows (a tile is
// four rows, each vector two) pad only vertically: the padded rows stay 8 wide so that two of
// them are one vector, and the columns a tap shifts out of the row are masked off. Returns -1,
// having done nothing, when the shape or the workspace does not allow it (the caller packs).
// With dw set, the product is instead the weight gradient dW (M = Cout, C*k*k) += dout (Cout,
// B*P) @ col(x)^T, chunk by chunk (out, beta and a unused).
static int pairs_on = 1; // conv_pairs_enable

static long windows16_calls, dweight_t_calls; // conv_pairs_counts (atomic adds)

void conv_pairs_enable(int on) { pairs_on = on != 0; }

void conv_pairs_counts(long *windows, long *dweight) {
    *windows = __atomic_load_n(&windows16_calls, __ATOMIC_RELAXED);
    *dweight = __atomic_load_n(&dweight_t_calls, __ATOMIC_RELAXED);
}

// Of 8-wide rows (two per vector): the lanes tap column kj reads from inside the row.
static uint16_t tap_mask(int kj, int pad_l, int W) {
    unsigned m = 0;
    for (int l = 0; l < 16; l++) {
        int iw = l % 8 + kj - pad_l;
        if (iw >= 0 && iw < W) m |= 1u << l;
    }
    return (uint16_t)m;
}

// Row r of a plane padded to Wp columns, pad_t rows and pad_l columns before the image (H x W):
// the image row it holds, or -1 for a padding row, and the columns [*c0, *c1) taken from it.
static int pad_row(int r, int pad_t, int H, int pad_l, int W, int Wp, int *c0, int *c1) {
    int ih = r - pad_t;
    *c0 = pad_l;
    *c1 = pad_l + W < Wp ? pad_l + W : Wp;
    return ih >= 0 && ih < H ? ih : -1;
}

// One plane (H x W elements of esz bytes) laid out zero-padded at d: Hp x Wp, the image from row
// pad_t and column pad_l (pad_row's split).
static void pad_plane(void *d, const void *src, size_t esz, int H, int W, int Hp, int Wp, int pad_t, int pad_l) {
    memset(d, 0, (size_t)Hp * Wp * esz);
    for (int r = 0; r < Hp; r++) {
        int c0, c1, ih = pad_row(r, pad_t, H, pad_l, W, Wp, &c0, &c1);
        if (ih >= 0)
            memcpy((char *)d + ((size_t)r * Wp + c0) * esz, (const char *)src + (size_t)ih * W * esz,
                   (size_t)(c1 - c0) * esz);
    }
}

// One H x W plane pair (lo, hi: channels 2c and 2c + 1; hi NULL: 0) as pair words laid out
// zero-padded at d: Hp x Wp, the image from row pad_t and column pad_l. Each image row is
// converted whole and the edges written alone, which measured faster than masked 16-lane
// vectors over the padded row (rows of 10 to 34 words: a third vector for 2 words of 34).
static void pair_plane(uint32_t *d, const float *lo, const float *hi, int H, int W, int Hp, int Wp, int pad_t,
                       int pad_l) {
    for (int r = 0; r < Hp; r++) {
        uint32_t *dr = d + (size_t)r * Wp;
        int c0, c1, ih = pad_row(r, pad_t, H, pad_l, W, Wp, &c0, &c1);
        if (ih < 0) { memset(dr, 0, (size_t)Wp * sizeof *dr); continue; }
        for (int q = 0; q < c0; q++) dr[q] = 0;
        bf16_pair_words(dr + c0, lo + (size_t)ih * W, hi ? hi + (size_t)ih * W : NULL, c1 - c0);
        for (int q = c1; q < Wp; q++) dr[q] = 0;
    }
}

// floor(a / 2), for the phase taps of negative offsets.
static inline int half_floor(int a) { return a >= 0 ? a / 2 : -((1 - a) / 2); }

// conv_windows in bf16: the padded copy is of pair words, channels 2c and 2c + 1 of a pixel in
// one word (an odd last channel paired with 0), and the k pairs are (channel pair, tap), so the
// kernel loads B in place as it is, where converting each tile's fp32 windows was 22% of a
// 32x32 conv's forward. A's pairs follow that order (gemm_pack_a_pairs). Same contract, and
// bias != NULL (beta unused) adds the bias of each row in the product's store.
// Stride s = 2 (the downsamples; H = 2 Ho, W = 2 Wo): each channel pair's copy is four phase
// planes (input row and column parity), each an Ho x Wo image padded like a stride-1 input;
// tap (ki, kj) reads phase ((ki - pad_t) mod 2, (kj - pad_l) mod 2) shifted by
// floor((ki - pad_t) / 2) rows and floor((kj - pad_l) / 2) columns, so it is a stride-1 window
// too (packing the strided columns instead ran at 200-340 GFLOP/s).
static int conv_windows16(float *out, int M, float beta, const float *bias, GemmOperand a, const float *x, int B, int C,
                          int H, int W, int k, int s, int pad_t, int pad_l, int Ho, int Wo, Workspace *ws) {
    const int masked = Wo == 8, nph = s == 2 ? 4 : 1;
    const int Hi = s == 2 ? Ho : H, Wi = s == 2 ? Wo : W; // the (phase) image a plane holds
    if (masked && Wi != Wo) return -1;
    // The taps' row and column shifts in a plane: [dy0, dy1] and [dx0, dx1].
    const int dy0 = s == 2 ? half_floor(-pad_t) : -pad_t, dy1 = s == 2 ? half_floor(k - 1 - pad_t) : k - 1 - pad_t;
    const int dx0 = s == 2 ? half_floor(-pad_l) : -pad_l, dx1 = s == 2 ? half_floor(k - 1 - pad_l) : k - 1 - pad_l;
    const int Hp = Ho + dy1 - dy0, Wp = masked ? Wi : Wo + dx1 - dx0, P = Ho * Wo, kk = k * k, C2 = (C + 1) / 2;
    const int ppt = -dy0, cpl = masked ? 0 : -dx0, kp = C2 * kk; // the image's place in a plane
    const size_t per = (size_t)C2 * nph * Hp * Wp, margin = masked ? 16 : 0; // words
    int nbmax = ws && ws->cap >= per + 2 * margin ? (int)((ws->cap - 2 * margin) / per) : 0;
    if (nbmax < 1) return -1;
    ptrdiff_t *off = xmalloc((size_t)kp * sizeof *off);
    uint16_t *mask = masked ? xmalloc((size_t)kp * sizeof *mask) : NULL;
    int *lo = xmalloc((size_t)kp * sizeof *lo), *hi = xmalloc((size_t)kp * sizeof *hi);
    for (int p = 0; p < kp; p++) {
        int c2 = p / kk, t = p % kk, u = t / k - pad_t, v = t % k - pad_l;
        int dy = s == 2 ? half_floor(u) : u, dx = s == 2 ? half_floor(v) : v;
        int ph = s == 2 ? (u - 2 * dy) * 2 + (v - 2 * dx) : 0;
        off[p] = ((ptrdiff_t)c2 * nph + ph) * Hp * Wp + (ptrdiff_t)(dy - dy0) * Wp + (masked ? dx : dx - dx0);
        if (masked) mask[p] = tap_mask(dx, 0, Wi);
        lo[p] = 2 * c2 * kk + t;
        hi[p] = 2 * c2 + 1 < C ? (2 * c2 + 1) * kk + t : -1;
    }
    __atomic_add_fetch(&windows16_calls, 1, __ATOMIC_RELAXED);
    uint32_t *a16 = xaligned_alloc(64, gemm_pairs_words(M, kp) * sizeof(uint32_t));
    // With at least two images a thread, each thread takes its own images, a chunk at a time
    // small enough for L2 (~512 KB), copies and multiplies them: one parallel region, and the
    // copy is read back from L2. Fewer images: all threads copy a chunk, then split its tiles.
    int nt = omp_in_parallel() ? 1 : omp_get_max_threads(), nb = nbmax; // images a chunk
    int own = nt > 1 && B >= 2 * nt;
    if (own) {
        long fit = ((long)(ws->cap / nt) - 2 * (long)margin - 15) / (long)per; // a thread's share of ws
        nb = (int)((size_t)128 * 1024 / per); // ~512 KB
        if (nb < 1) nb = 1;
        if (nb > (B + nt - 1) / nt) nb = (B + nt - 1) / nt;
        if (nb > fit) nb = (int)fit;
        own = nb >= 1;
    }
    if (!own) { // the shared chunks
        nt = 1;
        nb = nbmax;
        gemm_pack_a_pairs(a16, a, M, C * kk, lo, hi, kp);
    }
    const size_t stride = ((size_t)nb * per + 2 * margin + 15) / 16 * 16; // words a thread
    #pragma omp parallel num_threads(nt) if (nt > 1)
    {
        const int id = omp_get_thread_num(), n = omp_get_num_threads();
        const int i0 = (int)((long)B * id / n), i1 = (int)((long)B * (id + 1) / n);
        uint32_t *buf = (uint32_t *)ws->buf + (size_t)id * stride, *pad = buf + margin;
        if (own) gemm_pack_a_pairs_shared(a16, a, M, C * kk, lo, hi, kp); // the team packs A, then waits
        for (int b0 = i0; b0 < i1; b0 += nb) {
            const int m = i1 - b0 < nb ? i1 - b0 : nb;
            memset(buf, 0, margin * sizeof(uint32_t));
            memset(pad + (size_t)m * per, 0, margin * sizeof(uint32_t));
            #pragma omp parallel for collapse(2) schedule(static) if (n == 1)
            for (int i = 0; i < m; i++)
                for (int c2 = 0; c2 < C2; c2++)
                    for (int ph = 0; ph < nph; ph++) { // phase (ph / 2, ph % 2): its first value
                        uint32_t *d = pad + (((size_t)i * C2 + c2) * nph + ph) * Hp * Wp;
                        const float *s0 = x + ((size_t)(b0 + i) * C + 2 * c2) * H * W + (size_t)(ph / 2) * W + ph % 2;
                        const float *s1 = 2 * c2 + 1 < C ? s0 + (size_t)H * W : NULL;
                        if (s == 2) bf16_pair_phase_padded(d, s0, s1, Hi, Wi, 2 * W, Hp, Wp, ppt, cpl);
                        else pair_plane(d, s0, s1, H, W, Hp, Wp, ppt, cpl);
                    }
            Windows16 w = {pad, C2 * nph, Hp, Wp, Wo, P};
            gemm_windows16(M, m * P, kp, 1.0f, a16, (GemmWindows16){window_base16, &w, off, Wo == 16 ? Wp : 16, mask},
                           beta, (GemmC){out + (size_t)b0 * M * P, P, P, (size_t)M * P, NULL, bias});
        }
    }
    free(a16);
    free(off);
    free(mask);
    free(lo);
    free(hi);
    return 0;
}

// Images [b0, b0 + nb) of x (C planes of H x W) zero-padded into pad: planes of Hp x Wp, the
// image from row pad_t and column cpl, and `margin` zeros before and after (masked lanes may
// point there), in a parallel loop.
static void pad_copy(float *pad, const float *x, int b0, int nb, int C, int H, int W, int Hp, int Wp, int pad_t,
                     int cpl, size_t margin) {
    const size_t per = (size_t)C * Hp * Wp;
    memset(pad - margin, 0, margin * sizeof(float));
    memset(pad + (size_t)nb * per, 0, margin * sizeof(float));
    #pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < nb; n++)
        for (int ci = 0; ci < C; ci++)
            pad_plane(pad + ((size_t)n * C + ci) * Hp * Wp, x + ((size_t)(b0 + n) * C + ci) * H * W, sizeof(float), H,
                      W, Hp, Wp, pad_t, cpl);
}

// s: the stride, 1, or 2 (the bf16 forward only, on phase planes: conv_windows16).
static int conv_windows(float *out, int M, float beta, const float *bias, GemmOperand a, const float *x, int B, int C,
                        int H, int W, int k, int s, int pad_t, int pad_l, int Ho, int Wo, Workspace *ws, float *dw,
                        const float *dout) {
    if (!dw && ws && ws->bf16 && pairs_on && gemm_bf16_ok())
        return conv_windows16(out, M, beta, bias, a, x, B, C, H, W, k, s, pad_t, pad_l, Ho, Wo, ws);
    if (s != 1) return -1;
    const int masked = Wo == 8;
    if (masked && W != Wo) return -1;
    const int Hp = Ho + k - 1, Wp = masked ? W : Wo + k - 1, P = Ho * Wo, K = C * k * k;
    const int cpl = masked ? 0 : pad_l; // columns of left padding in the copy
    const size_t per = (size_t)C * Hp * Wp, margin = masked ? 16 : 0; // masked lanes may point before/after
    const int in_place = Hp == H && Wp == W && pad_t == 0 && pad_l == 0;
    int nbmax = in_place ? B : ws && ws->cap >= per + 2 * margin ? (int)((ws->cap - 2 * margin) / per) : 0;
    if (nbmax < 1) return -1;
    ptrdiff_t *off = xmalloc((size_t)K * sizeof *off);
    uint16_t *mask = masked ? xmalloc((size_t)K * sizeof *mask) : NULL;
    for (int r = 0; r < K; r++) {
        int ci = r / (k * k), ki = (r / k) % k, kj = r % k;
        off[r] = (ptrdiff_t)ci * Hp * Wp + (ptrdiff_t)ki * Wp + (masked ? kj - pad_l : kj);
        if (masked) mask[r] = tap_mask(kj, pad_l, W);
    }
    for (int b0 = 0; b0 < B; b0 += nbmax) {
        int nb = B - b0 < nbmax ? B - b0 : nbmax;
        const float *xp = x + (size_t)b0 * per;
        if (!in_place) {
            pad_copy(ws->buf + margin, x, b0, nb, C, H, W, Hp, Wp, pad_t, cpl, margin);
            xp = ws->buf + margin;
        }
        Windows w = {xp, C, Hp, Wp, Wo, P};
        if (dw) {
            WindowsT t = {w, off, mask};
            GroupedRows g = {dout + (size_t)b0 * M * P, M, P};
            gemm_packed_prec(M, K, nb * P, 1.0f, (GemmOperand){pack_grouped, &g, pack_grouped16},
                             (GemmOperand){pack_winT, &t, pack_winT16}, 1.0f,
                        (GemmC){dw, K, 0, 0, NULL, NULL}, ws->bf16);
            continue;
        }
        gemm_windows_prec(M, nb * P, K, 1.0f, a, (GemmWindows){window_base, &w, off, Wo == 16 ? Wp : 16, mask}, beta,
                     (GemmC){out + (size_t)b0 * M * P, P, P, (size_t)M * P, NULL, bias}, ws->bf16);
    }
    free(off);
    free(mask);
    return 0;
}

// ---------------------------------------------------------------------------------------------
// Input gradient of a stride-2 conv, by phases. Input pixel (2i + a, 2j + c) receives exactly the
// taps ki with ki = a + pad_t (mod 2), kj likewise, from dout[co][i + dy][j + dx] with
// dy = (a + pad_t - ki) / 2: for each phase (a, c) a stride-1 product over dout with the phase's
// taps only (2x2, 2x1, 1x2, 1x1 of a 3x3 kernel: 9 in all, no multiply by an inserted zero),
// written to a staging plane and added into dinp at stride 2.
typedef struct {
    const float *w;
    int Cout, Cin, k, ntap;
    int ki[9], kj[9];          // the phase's taps (k <= 3)
} PhaseW;
typedef struct {
    ColView v;                 // dout, pad 0: col16 gets the offsets directly
    int ntap, dy[9], dx[9];
} PhaseCol;

// A (Cin, Cout * ntap): row ci, column (co, t) -> W[co][ci][ki_t][kj_t].
static void pack_phase_w(const void *ctx, float *dst, int i0, int mc, int r0, int rc) {
    const PhaseW *f = ctx;
    for (int ir = 0; ir < mc; ir += GEMM_MR) {
        int mr = mc - ir < GEMM_MR ? mc - ir : GEMM_MR;
        float *d = dst + (size_t)ir * rc;
        for (int q = 0; q < rc; q++) {
            int r = r0 + q, co = r / f->ntap, t = r % f->ntap;
            const float *w = f->w + ((size_t)co * f->Cin + i0 + ir) * f->k * f->k + f->ki[t] * f->k + f->kj[t];
            float *dq = d + (size_t)q * GEMM_MR;
            int i = 0;
            for (; i < mr; i++) dq[i] = w[(size_t)i * f->k * f->k];
            for (; i < GEMM_MR; i++) dq[i] = 0.0f;
        }
    }
}

// B: rows (co, t), columns the phase plane's pixels: dout[co][i + dy_t][j + dx_t].
__attribute__((target("avx512f,avx512vl,avx512dq")))
static void pack_phase_col(const void *ctx, float *dst, int n0, int nc, int r0, int rc) {
    const PhaseCol *pc = ctx;
    const ColView *v = &pc->v;
    for (int h = 0; h < nc / 16; h++) {
        Pos p = col_pos(v, n0 + 16 * h);
        float *d = dst + (size_t)(h / 2) * GEMM_NR * rc + (h % 2) * 16;
        for (int q = 0; q < rc; q++) {
            int r = r0 + q, co = r / pc->ntap, t = r % pc->ntap;
            _mm512_store_ps(d + (size_t)q * GEMM_NR, col16(v, co, pc->dy[t], pc->dx[t], p.b, p.oh, p.ow));
        }
    }
}

// Phase (a, cc) of the input gradient: its taps (ki = a + pad_t mod 2, kj likewise) into f,
// and the dout offsets each reads, dy = (a + pad_t - ki) / 2 (exact) and dx likewise.
static void phase_taps(const Conv2d *c, const float *weight, int a, int cc, PhaseW *f, int dy[9], int dx[9]) {
    *f = (PhaseW){weight, c->Cout, c->Cin, c->k, 0, {0}, {0}};
    for (int ki = 0; ki < c->k; ki++)
        for (int kj = 0; kj < c->k; kj++) {
            if ((ki - a - c->pad_t) % 2 || (kj - cc - c->pad_l) % 2) continue;
            int t = f->ntap++;
            f->ki[t] = ki;
            f->kj[t] = kj;
            dy[t] = (a + c->pad_t - ki) / 2;
            dx[t] = (cc + c->pad_l - kj) / 2;
        }
}

// dinp's phase (a, cc) pixels of images [b0, b0 + nb) set to (set) or added to from the staging
// planes (Cin planes of Ho x Wo an image; stage NULL: zeros, for a phase with no taps).
static void phase_store(float *dinp, const float *stage, const Conv2d *c, int b0, int nb, int a, int cc, int set) {
    const int Ho = c->Ho, Wo = c->Wo;
    #pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < nb; n++)
        for (int ci = 0; ci < c->Cin; ci++) {
            const float *sp = stage ? stage + ((size_t)n * c->Cin + ci) * Ho * Wo : NULL;
            float *dp = dinp + ((size_t)(b0 + n) * c->Cin + ci) * c->H * c->W;
            for (int i = 0; i < Ho; i++)
                for (int j = 0; j < Wo; j++) {
                    float *o = dp + (size_t)(2 * i + a) * c->W + 2 * j + cc, v = sp ? sp[i * Wo + j] : 0.0f;
                    *o = set ? v : *o + v;
                }
        }
}

// The phases in bf16 on windows (conv_windows16's layout): dout is copied once per chunk of
// images as channel-pair words, padded by the phases' shifts, and each phase is a windowed
// product over that copy with its own taps (A: the phase's weights as pairs), into the staging
// planes, then stored into dinp at stride 2. Packing dout's shifted columns into fp32 panels
// per phase and converting them ran at 180-280 GFLOP/s. Returns -1 (nothing done) where the
// shape or the workspace does not allow it.
static int conv_phase_dinp16(float *dinp, const float *dout, const float *weight, const Conv2d *c, Workspace *ws,
                             int set) {
    const int Ho = c->Ho, Wo = c->Wo, P = Ho * Wo, Cout = c->Cout, Cin = c->Cin, C2 = (Cout + 1) / 2;
    const int masked = Wo == 8;
    if (!ws || !ws->bf16 || !pairs_on || !gemm_bf16_ok() || !conv_windows_ok(Ho, Wo) || c->k > 3) return -1;
    // Each phase's taps, and the shifts over all of them: [dy0, dy1] x [dx0, dx1].
    PhaseW f[4];
    int dy[4][9], dx[4][9], dy0 = 0, dy1 = 0, dx0 = 0, dx1 = 0;
    for (int ph = 0; ph < 4; ph++) {
        phase_taps(c, weight, ph / 2, ph % 2, &f[ph], dy[ph], dx[ph]);
        for (int t = 0; t < f[ph].ntap; t++) {
            if (dy[ph][t] < dy0) dy0 = dy[ph][t];
            if (dy[ph][t] > dy1) dy1 = dy[ph][t];
            if (dx[ph][t] < dx0) dx0 = dx[ph][t];
            if (dx[ph][t] > dx1) dx1 = dx[ph][t];
        }
    }
    const int Hp = Ho + dy1 - dy0, Wp = masked ? Wo : Wo + dx1 - dx0, cpl = masked ? 0 : -dx0;
    const size_t per = (size_t)C2 * Hp * Wp, stage_per = (size_t)Cin * P, margin = masked ? 16 : 0; // words, floats
    const size_t fixed = 2 * margin + 16;
    int nb = ws->cap > fixed ? (int)((ws->cap - fixed) / (per + stage_per)) : 0;
    if (nb < 1) return -1;
    if (nb > c->B) nb = c->B;
    float *stage = ws->buf;
    uint32_t *buf = (uint32_t *)(ws->buf + ((size_t)nb * stage_per + 15) / 16 * 16), *pad = buf + margin;
    const int kpmax = C2 * 9;
    ptrdiff_t *off = xmalloc((size_t)4 * kpmax * sizeof *off);
    uint16_t *mask = masked ? xmalloc((size_t)4 * kpmax * sizeof *mask) : NULL;
    int *lo = xmalloc((size_t)kpmax * sizeof *lo), *hi = xmalloc((size_t)kpmax * sizeof *hi);
    uint32_t *a16[4] = {0};
    for (int ph = 0; ph < 4; ph++) {
        const int nt = f[ph].ntap, kp = C2 * nt;
        if (!nt) continue;
        for (int p = 0; p < kp; p++) {
            int c2 = p / nt, t = p % nt;
            off[ph * kpmax + p] = (ptrdiff_t)c2 * Hp * Wp + (ptrdiff_t)(dy[ph][t] - dy0) * Wp + (masked ? dx[ph][t] : dx[ph][t] - dx0);
            if (masked) mask[ph * kpmax + p] = tap_mask(dx[ph][t], 0, Wo);
            lo[p] = 2 * c2 * nt + t;
            hi[p] = 2 * c2 + 1 < Cout ? (2 * c2 + 1) * nt + t : -1;
        }
        a16[ph] = xaligned_alloc(64, gemm_pairs_words(Cin, kp) * sizeof(uint32_t));
        gemm_pack_a_pairs(a16[ph], (GemmOperand){pack_phase_w, &f[ph], NULL}, Cin, Cout * nt, lo, hi, kp);
    }
    __atomic_add_fetch(&windows16_calls, 1, __ATOMIC_RELAXED);
    for (int b0 = 0; b0 < c->B; b0 += nb) {
        const int m = c->B - b0 < nb ? c->B - b0 : nb;
        memset(buf, 0, margin * sizeof(uint32_t));
        memset(pad + (size_t)m * per, 0, margin * sizeof(uint32_t));
        #pragma omp parallel for collapse(2) schedule(static)
        for (int i = 0; i < m; i++)
            for (int c2 = 0; c2 < C2; c2++) {
                const float *s0 = dout + ((size_t)(b0 + i) * Cout + 2 * c2) * P;
                pair_plane(pad + ((size_t)i * C2 + c2) * Hp * Wp, s0, 2 * c2 + 1 < Cout ? s0 + P : NULL, Ho, Wo, Hp, Wp,
                           -dy0, cpl);
            }
        Windows16 w = {pad, C2, Hp, Wp, Wo, P};
        for (int ph = 0; ph < 4; ph++) {
            if (f[ph].ntap)
                gemm_windows16(Cin, m * P, C2 * f[ph].ntap, 1.0f, a16[ph],
                               (GemmWindows16){window_base16, &w, off + ph * kpmax, Wo == 16 ? Wp : 16,
                                               masked ? mask + ph * kpmax : NULL},
                               0.0f, (GemmC){stage, P, P, stage_per, NULL, NULL});
            if (f[ph].ntap || set) phase_store(dinp, f[ph].ntap ? stage : NULL, c, b0, m, ph / 2, ph % 2, set);
        }
    }
    for (int ph = 0; ph < 4; ph++) free(a16[ph]);
    free(off);
    free(mask);
    free(lo);
    free(hi);
    return 0;
}

// Returns -1 (nothing done) when the workspace cannot hold one image's staging plane. set:
// dinp's pixels are overwritten (a phase with no taps writes zeros), else added to.
static int conv_phase_dinp(float *dinp, const float *dout, const float *weight, const Conv2d *c, Workspace *ws,
                           int set) {
    if (conv_phase_dinp16(dinp, dout, weight, c, ws, set) == 0) return 0;
    const int Ha = c->Ho, Wa = c->Wo, Pa = Ha * Wa;
    const size_t per = (size_t)c->Cin * Pa;
    int nbmax = ws && ws->cap >= per ? (int)(ws->cap / per) : 0;
    if (nbmax < 1) return -1;
    for (int a = 0; a < 2; a++)
        for (int cc = 0; cc < 2; cc++) {
            PhaseW f;
            PhaseCol pcol = {{dout, c->Cout, c->Ho, c->Wo, c->k, 0, 0, Ha, Wa, Pa, 1}, 0, {0}, {0}};
            phase_taps(c, weight, a, cc, &f, pcol.dy, pcol.dx);
            pcol.ntap = f.ntap;
            if (!f.ntap) {
                if (set) phase_store(dinp, NULL, c, 0, c->B, a, cc, 1);
                continue;
            }
            for (int b0 = 0; b0 < c->B; b0 += nbmax) {
                int nb = c->B - b0 < nbmax ? c->B - b0 : nbmax;
                pcol.v.x = dout + (size_t)b0 * c->Cout * c->Ho * c->Wo;
                float *stage = ws->buf;
                gemm_packed_prec(c->Cin, nb * Pa, c->Cout * f.ntap, 1.0f, (GemmOperand){pack_phase_w, &f, NULL},
                            (GemmOperand){pack_phase_col, &pcol, NULL}, 0.0f, (GemmC){stage, Pa, Pa, per, NULL, NULL}, ws->bf16);
                phase_store(dinp, stage, c, b0, nb, a, cc, set);
            }
        }
    return 0;
}

// fp32 tile of the transposed weight gradient (conv_dweight_t): rows r = g * KW + j are the taps
// (row group g, column j), columns 32 output channels; for each output pixel of nb images,
// B's 32 dout values (one row of the packed panel) times the tap's input pixel, broadcast.
__attribute__((target("avx512f")))
static inline void dw_tile32(const int KW, const int G, const float *const grp[], ptrdiff_t img, int nb, int Ho,
                             int Wo, int Wp, const float *restrict b, float *C) {
    __m512 c0[GEMM_MR], c1[GEMM_MR];
    #pragma GCC unroll 14
    for (int r = 0; r < KW * G; r++) c0[r] = c1[r] = _mm512_setzero_ps();
    const float *p[GEMM_MR] = {0}; // zeroed for GCC's sake: the G in use are set below, no other is read
    for (int n = 0; n < nb; n++)
        for (int oh = 0; oh < Ho; oh++) {
            #pragma GCC unroll 14
            for (int g = 0; g < G; g++) p[g] = grp[g] + n * img + (ptrdiff_t)oh * Wp;
            for (int q = 0; q < Wo; q++) {
                __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
                b += GEMM_NR;
                #pragma GCC unroll 14
                for (int g = 0; g < G; g++)
                    #pragma GCC unroll 4
                    for (int j = 0; j < KW; j++) {
                        __m512 av = _mm512_set1_ps(p[g][q + j]);
                        c0[g * KW + j] = _mm512_fmadd_ps(av, b0, c0[g * KW + j]);
                        c1[g * KW + j] = _mm512_fmadd_ps(av, b1, c1[g * KW + j]);
                    }
            }
        }
    #pragma GCC unroll 14
    for (int r = 0; r < KW * G; r++) {
        _mm512_storeu_ps(C + (size_t)r * GEMM_NR, c0[r]);
        _mm512_storeu_ps(C + (size_t)r * GEMM_NR + 16, c1[r]);
    }
}

__attribute__((target("avx512f")))
static int kernel_dw32(int kw, int g, const float *const grp[], ptrdiff_t img, int nb, int Ho, int Wo, int Wp,
                       const float *b, float *C) {
#define TILE(KW, G) dw_tile32(KW, G, grp, img, nb, Ho, Wo, Wp, b, C)
    DW_TILE_DISPATCH(kw, g, TILE);
#undef TILE
}

// dout's 32-channel tile t of one image as fp32 B rows: dst[px * 32 + q] = channel t * 32 + q at
// pixel px (0 past Cout), sixteen channels by sixteen pixels transposed in registers.
__attribute__((target("avx512f")))
static void pack_dout32(float *dst, const float *d, int Cout, int t, int P) {
    for (int h = 0; h < GEMM_NR; h += 16)
        for (int px = 0; px < P; px += 16) {
            __m512 v[16];
            for (int q = 0; q < 16; q++) {
                int co = t * GEMM_NR + h + q;
                v[q] = co < Cout ? _mm512_loadu_ps(d + (size_t)co * P + px) : _mm512_setzero_ps();
            }
            transpose16_store(v, dst + (size_t)px * GEMM_NR + h, GEMM_NR);
        }
}

// The weight gradient of a stride-1 conv with a 2x2 or 3x3 kernel, transposed: tiles of (taps,
// 32 output channels), the taps' input pixels read in place from a padded copy of the input
// and dout packed as B, each output pixel one row of 32 channels. bf16 (ws->bf16, on CPUs with
// AVX512-BF16; even output rows): the copy is of bf16 values, two adjacent pixels of a row one
// pair word, and B's rows are pixel pairs. Packing col^T instead (pack_winT16) was 20% of a
// 32x32 conv's bf16 backward: it touches k * k values per input pixel, dout's pack Cout per
// output pixel. In fp32 the packed product (M = Cout rows of 14-row panels: 32 channels fill
// 32 of 42 rows) or the windows ran at 250-320 GFLOP/s against 350-400 for the forward.
// One parallel region: each thread takes its share of the images in chunks small enough for
// L2 (4096 pixels in bf16, 2048 in fp32: B's panels are the same bytes), packs and copies them,
// and sums every tile over the chunk in registers into its own dW (thread 0: dweight itself;
// the others a partial added after, in thread order, so the bits depend only on the thread
// count). dbias != NULL: the bias gradient too, from each plane's conv_plane_sum8 as it is
// packed, folded as conv.c does (the same bits). Returns -1, having done nothing, when it does
// not apply or the workspace cannot hold a chunk of one image per thread.
static int conv_dweight_t(float *dweight, float *dbias, const float *dout, const float *inp, const Conv2d *c,
                          Workspace *ws) {
    const int k = c->k, Ho = c->Ho, Wo = c->Wo, P = Ho * Wo, Cin = c->Cin, Cout = c->Cout, H = c->H, W = c->W;
    const int bf16 = ws && ws->bf16 && gemm_bf16_ok();
    // Cout < 16 would waste most of the 32 columns (dec.conv_out's 1: 3.9 ms against 3.2 packed)
    if (c->stride != 1 || (k != 2 && k != 3) || (bf16 && Wo % 2) || P % 32 || Cout < 16 || !ws || !pairs_on ||
        !gemm_own())
        return -1;
    const int Hp = Ho + k - 1, Wp = Wo + k - 1, G = GEMM_MR / k, K = Cin * k * k, NR = GEMM_NR;
    const int rows = Cin * k, panels = (rows + G - 1) / G, ct = (Cout + NR - 1) / NR; // rows (ci, ki), G a panel
    const size_t img = (size_t)Cin * Hp * Wp; // values of one image's copy
    // floats per image: the copy, dout's rows (bf16: pair words)
    const size_t per = bf16 ? (img + 31) / 32 * 16 + (size_t)ct * P * 16 : (img + 15) / 16 * 16 + (size_t)ct * P * 32;
    const size_t dwn = (size_t)Cout * K, dwpad = (dwn + 15) / 16 * 16; // partials 64-byte aligned
    int nt = omp_in_parallel() ? 1 : omp_get_max_threads();
    if (nt > c->B) nt = c->B;
    const int pix = bf16 ? 4096 : 2048;
    int nb = pix / P > 1 ? pix / P : 1; // images per chunk
    if (nb > (c->B + nt - 1) / nt) nb = (c->B + nt - 1) / nt;
    const size_t sums = dbias ? ((size_t)c->B * Cout * 8 + 15) / 16 * 16 : 0; // per plane, for dbias
    const size_t part = (size_t)(nt - 1) * dwpad + sums; // the partial dWs, the sums, each thread's chunk buffer
    float *psum = ws->buf + (size_t)(nt - 1) * dwpad;
#define CHUNK(nb) (((size_t)(nb) * per + 15) / 16 * 16) // floats, a multiple of 64 bytes
    while (nb > 1 && ws->cap < part + (size_t)nt * CHUNK(nb)) nb--;
    if (ws->cap < part + (size_t)nt * CHUNK(nb)) return -1;
    const size_t chunk = CHUNK(nb);
#undef CHUNK
    __atomic_add_fetch(&dweight_t_calls, 1, __ATOMIC_RELAXED);
    #pragma omp parallel num_threads(nt) if (nt > 1)
    {
        const int id = omp_get_thread_num(), n = omp_get_num_threads();
        const int i0 = (int)((long)c->B * id / n), i1 = (int)((long)c->B * (id + 1) / n);
        float *mine = id ? ws->buf + (size_t)(id - 1) * dwpad : dweight;
        if (id) memset(mine, 0, dwn * sizeof(float));
        // B: ct panels of nb * P rows (bf16: nb * P / 2 pair rows), panel t at bp + t * m * P * 16
        // words (fp32: bf + t * m * P * 32 floats); then the copy.
        float *bf = ws->buf + part + (size_t)id * chunk;
        uint32_t *bp = (uint32_t *)bf;
        uint16_t *xp = (uint16_t *)(bp + (size_t)ct * nb * P * 16);
        float *xf = bf + (size_t)ct * nb * P * 32;
        uint16_t *plane16 = bf16 ? xmalloc((size_t)H * W * sizeof *plane16) : NULL;
        for (int b0 = i0; b0 < i1; b0 += nb) {
            const int m = i1 - b0 < nb ? i1 - b0 : nb; // images in this chunk
            if (dbias)
                for (int i = 0; i < m; i++)
                    for (int co = 0; co < Cout; co++)
                        conv_plane_sum8(psum + ((size_t)(b0 + i) * Cout + co) * 8,
                                        dout + ((size_t)(b0 + i) * Cout + co) * P, (size_t)P);
            for (int t = 0; t < ct; t++)
                for (int i = 0; i < m; i++) {
                    const float *d = dout + (size_t)(b0 + i) * Cout * P;
                    if (!bf16) {
                        pack_dout32(bf + ((size_t)t * m * P + (size_t)i * P) * NR, d, Cout, t, P);
                        continue;
                    }
                    for (int h = 0; h < NR; h += 16)
                        for (int px = 0; px < P; px += 32) {
                            const float *src[16] = {0};
                            for (int q = 0; q < 16 && t * NR + h + q < Cout; q++)
                                src[q] = d + (size_t)(t * NR + h + q) * P + px;
                            gemm_pack16_rows(bp + ((size_t)t * m * P / 2 + (size_t)i * P / 2 + px / 2) * NR + h, NR,
                                             16, src, 16, NULL, 32);
                        }
                }
            // bf16: each plane is rounded in one pass into plane16 (rows of 8 or 16 values were
            // as many short masked calls: 11% of a 128@8x8 weight gradient), then laid out padded.
            for (int i = 0; i < m; i++)
                for (int ci = 0; ci < Cin; ci++) {
                    const float *x = inp + ((size_t)(b0 + i) * Cin + ci) * H * W;
                    size_t at = ((size_t)i * Cin + ci) * Hp * Wp;
                    if (!bf16) {
                        pad_plane(xf + at, x, sizeof(float), H, W, Hp, Wp, c->pad_t, c->pad_l);
                        continue;
                    }
                    bf16_round_row(plane16, x, H * W);
                    pad_plane(xp + at, plane16, sizeof *plane16, H, W, Hp, Wp, c->pad_t, c->pad_l);
                }
            for (int pn = 0; pn < panels; pn++)
                for (int t = 0; t < ct; t++) {
                    const int g0 = pn * G, g = rows - g0 < G ? rows - g0 : G;
                    _Alignas(64) float tile[GEMM_MR * GEMM_NR];
                    size_t grp[GEMM_MR]; // each tap row group's first value in the copy
                    for (int q = 0; q < g; q++)
                        grp[q] = (size_t)((g0 + q) / k) * Hp * Wp + (size_t)((g0 + q) % k) * Wp;
                    if (bf16) {
                        const uint16_t *gp[GEMM_MR];
                        for (int q = 0; q < g; q++) gp[q] = xp + grp[q];
                        bf16_kernel_dw(k, g, gp, (ptrdiff_t)img, m, Ho, Wo, Wp, bp + (size_t)t * m * P * 16, tile);
                    } else {
                        const float *gp[GEMM_MR];
                        for (int q = 0; q < g; q++) gp[q] = xf + grp[q];
                        kernel_dw32(k, g, gp, (ptrdiff_t)img, m, Ho, Wo, Wp, bf + (size_t)t * m * P * 32, tile);
                    }
                    // tile row r is tap g0 * k + r (= (ci * k + ki) * k + kj), column j channel t * 32 + j:
                    // each channel's taps are a run of dW's row
                    for (int j = 0; j < NR && t * NR + j < Cout; j++) {
                        float *dr = mine + (size_t)(t * NR + j) * K + g0 * k;
                        for (int r = 0; r < g * k; r++) dr[r] += tile[r * NR + j];
                    }
                }
        }
        free(plane16);
        if (n > 1) {
            #pragma omp barrier
            const size_t e0 = dwn * id / n, e1 = dwn * (id + 1) / n; // each thread adds a range, in thread order
            for (int p = 1; p < n; p++) {
                const float *src = ws->buf + (size_t)(p - 1) * dwpad;
                for (size_t e = e0; e < e1; e++) dweight[e] += src[e];
            }
        }
        if (dbias) {
            #pragma omp barrier
            #pragma omp for schedule(static)
            for (int co = 0; co < Cout; co++) {
                double sm = 0;
                for (int b = 0; b < c->B; b++)
                    for (int j = 0; j < 8; j++) sm += psum[((size_t)b * Cout + co) * 8 + j];
                dbias[co] += (float)sm;
            }
        }
    }
    return 0;
}

void conv_implicit_forward(float *out, const float *inp, const float *weight, const float *bias,
                           const Conv2d *c, Workspace *ws) {
    const int P = c->Ho * c->Wo, K = c->Cin * c->k * c->k;
    GemmMat w = {weight, K, 0};
    // The windows add the bias as they store (no pass that fills it first)
    if ((c->stride == 1 || phases_ok(c)) && conv_windows_ok(c->Ho, c->Wo) &&
        conv_windows(out, c->Cout, 0.0f, bias, (GemmOperand){gemm_pack_a, &w, gemm_pack_a16(&w)}, inp, c->B, c->Cin,
                     c->H, c->W, c->k, c->stride, c->pad_t, c->pad_l, c->Ho, c->Wo, ws, NULL, NULL) == 0)
        return;
    if (bias) {
        #pragma omp parallel for collapse(2) schedule(static)
        for (int b = 0; b < c->B; b++)
            for (int co = 0; co < c->Cout; co++) {
                float *o = out + ((size_t)b * c->Cout + co) * P;
                for (int p = 0; p < P; p++) o[p] = bias[co];
            }
    }
    ColView v = {inp, c->Cin, c->H, c->W, c->k, c->pad_t, c->pad_l, c->Ho, c->Wo, P, c->stride};
    gemm_packed_prec(c->Cout, c->B * P, K, 1.0f, (GemmOperand){gemm_pack_a, &w, gemm_pack_a16(&w)}, (GemmOperand){pack_col, &v, NULL},
                bias ? 1.0f : 0.0f, (GemmC){out, P, P, (size_t)c->Cout * P, NULL, NULL}, ws->bf16);
}

// The weight gradient of a stride-1 3x3 conv with at most three output channels (dec.conv_out:
// 32 > 1 here, 32 > 3 for colour images), in fp32 in either precision: for each input channel,
// the 9 * Cout sums over all images' pixels of dout times the tap's shifted input, 16 pixels a
// vector from a zero-padded copy of the plane (ws: one per thread). As a product it filled one
// or three of the kernel's 14 rows and packed col^T for them: 31 GFLOP/s. Each input channel's
// sums are one thread's, in image order, so the bits do not depend on the thread count.
// Returns -1, having done nothing, where it does not apply.
__attribute__((target("avx512f"), always_inline))
static inline void dw_small_channel(const int CO, float *dweight, const float *dout, const float *inp, const Conv2d *c,
                                    int ci, float *pp) {
    const int Hp = c->Ho + 2, Wp = c->Wo + 2, Ho = c->Ho, Wo = c->Wo, P = Ho * Wo;
    __m512 acc[27];
    #pragma GCC unroll 27
    for (int r = 0; r < 9 * CO; r++) acc[r] = _mm512_setzero_ps();
    for (int b = 0; b < c->B; b++) {
        pad_plane(pp, inp + ((size_t)b * c->Cin + ci) * c->H * c->W, sizeof(float), c->H, c->W, Hp, Wp, c->pad_t,
                  c->pad_l);
        const float *d = dout + (size_t)b * CO * P;
        for (int oh = 0; oh < Ho; oh++)
            for (int ow = 0; ow < Wo; ow += 16) {
                __m512 dv[3];
                #pragma GCC unroll 3
                for (int co = 0; co < CO; co++) dv[co] = _mm512_loadu_ps(d + (size_t)co * P + oh * Wo + ow);
                #pragma GCC unroll 9
                for (int t = 0; t < 9; t++) {
                    __m512 xv = _mm512_loadu_ps(pp + (size_t)(oh + t / 3) * Wp + ow + t % 3);
                    #pragma GCC unroll 3
                    for (int co = 0; co < CO; co++) acc[co * 9 + t] = _mm512_fmadd_ps(dv[co], xv, acc[co * 9 + t]);
                }
            }
    }
    #pragma GCC unroll 27
    for (int r = 0; r < 9 * CO; r++) dweight[((size_t)(r / 9) * c->Cin + ci) * 9 + r % 9] += _mm512_reduce_add_ps(acc[r]);
}

__attribute__((target("avx512f")))
static int conv_dweight_small(float *dweight, const float *dout, const float *inp, const Conv2d *c, Workspace *ws) {
    const size_t plane = ((size_t)(c->Ho + 2) * (c->Wo + 2) + 15) / 16 * 16;
    const int nt = omp_in_parallel() ? 1 : omp_get_max_threads();
    if (c->stride != 1 || c->k != 3 || c->Cout > 3 || c->Wo % 16 || !gemm_own() || !ws || ws->cap < (size_t)nt * plane)
        return -1;
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (int ci = 0; ci < c->Cin; ci++) {
        float *pp = ws->buf + (size_t)omp_get_thread_num() * plane;
        if (c->Cout == 1) dw_small_channel(1, dweight, dout, inp, c, ci, pp);
        else if (c->Cout == 2) dw_small_channel(2, dweight, dout, inp, c, ci, pp);
        else dw_small_channel(3, dweight, dout, inp, c, ci, pp);
    }
    return 0;
}

int conv_implicit_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                           const float *weight, const Conv2d *c, Workspace *ws, int set_dinp) {
    const int P = c->Ho * c->Wo, K = c->Cin * c->k * c->k, N = c->B * P;
    const float dbeta = set_dinp ? 0.0f : 1.0f;
    int bias_done = 0;
    if (dweight) { // dW (Cout, K) += dout (Cout, N) @ col^T (N, K)
        // Stride 1, k 2 or 3: transposed tiles; else col^T from the windows' padded copy, or packed.
        int done = conv_dweight_small(dweight, dout, inp, c, ws) == 0;
        if (!done) {
            done = conv_dweight_t(dweight, dbias, dout, inp, c, ws) == 0;
            bias_done = done && dbias;
        }
        done = done || (c->stride == 1 && conv_windows_ok(c->Ho, c->Wo) &&
                   conv_windows(NULL, c->Cout, 1.0f, NULL, (GemmOperand){0}, inp, c->B, c->Cin, c->H, c->W, c->k, 1,
                                c->pad_t, c->pad_l, c->Ho, c->Wo, ws, dweight, dout) == 0);
        if (!done) {
            ColView v = {inp, c->Cin, c->H, c->W, c->k, c->pad_t, c->pad_l, c->Ho, c->Wo, P, c->stride};
            GroupedRows g = {dout, c->Cout, P};
            gemm_packed_prec(c->Cout, K, N, 1.0f, (GemmOperand){pack_grouped, &g, P % 16 ? NULL : pack_grouped16},
                             (GemmOperand){pack_colT, &v, NULL},
                        1.0f, (GemmC){dweight, K, 0, 0, NULL, NULL}, ws->bf16);
        }
    }
    if (dinp) { // dx (Cin, B*H*W) += W' (Cin, Cout*k*k) @ col'(dout); the caller checked conv_implicit_dinp_ok
        if (c->stride == 2) {
            if (conv_phase_dinp(dinp, dout, weight, c, ws, set_dinp) == 0) return bias_done;
            fprintf(stderr, "conv_implicit_backward: workspace of %zu floats is below one image's staging plane "
                            "(%d x %d x %d); size it with conv2d_workspace_min\n", ws ? ws->cap : 0, c->Cin, c->Ho, c->Wo);
            abort();
        }
        const int HW = c->H * c->W;
        FlippedW f = {weight, c->Cout, c->Cin, c->k};
        if (conv_windows_ok(c->H, c->W) &&
            conv_windows(dinp, c->Cin, dbeta, NULL, (GemmOperand){pack_flipped, &f, NULL}, dout, c->B, c->Cout, c->Ho, c->Wo,
                         c->k, 1, c->k - 1 - c->pad_t, c->k - 1 - c->pad_l, c->H, c->W, ws, NULL, NULL) == 0)
            return bias_done;
        ColView v = {dout, c->Cout, c->Ho, c->Wo, c->k, c->k - 1 - c->pad_t, c->k - 1 - c->pad_l,
                     c->H, c->W, HW, 1};
        gemm_packed_prec(c->Cin, c->B * HW, c->Cout * c->k * c->k, 1.0f, (GemmOperand){pack_flipped, &f, NULL},
                    (GemmOperand){pack_col, &v, NULL}, dbeta, (GemmC){dinp, HW, HW, (size_t)c->Cin * HW, NULL, NULL}, ws->bf16);
    }
    return bias_done;
}
