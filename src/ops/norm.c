// ops_norm.c: GroupNorm (VAE), LayerNorm (SiT) and the latent BatchNorm (REPA-E).
//
// Statistics are accumulated in double with two passes (mean, then mean squared deviation):
// the one-pass E[x^2] - E[x]^2 loses everything to cancellation when |mean| >> std, which
// happens for real activations. mean/rstd are cached as float; backward recomputes
// xhat = (x - mean) * rstd from those cached floats, so forward and backward agree exactly.
#include <math.h>
#include <omp.h>
#include <string.h>
#include "ops/ops.h"
#include "ops/vecmath.h"
#ifdef __AVX__
#include <immintrin.h>
#endif

// Below this many elements a parallel region costs more than it saves.
#define PAR_MIN 16384
// GroupNorm backward folds the weight/bias sums into its input-gradient pass when the
// per-thread partial sums (threads x channels x 2 doubles, on the stack) stay this small.
#define GN_FUSE_MAX 8192

// ---------------------------------------------------------------------------------------------
// GroupNorm. Each (b, g) group is one contiguous block of (C/G)*HW floats in NCHW.
// C % G == 0 is the caller's contract (there is no err here): the VAE caps the group count at
// the channel count and rejects configs whose channels are not divisible by it, at build time.
// weight/bias may be NULL (treated as 1 and 0), although the VAE always uses the affine form.
// GroupNorm forward, optionally followed by SiLU in the same pass (groupnorm_silu_forward, the
// VAE's norm+SiLU; why fused: ops_fused.c). The group bodies are always_inline with `silu` a
// constant, and each public function has its own parallel loop: GCC outlines an OpenMP region
// before it inlines, so one region inside a shared always_inline function was compiled once
// with silu as a run-time value, and the vectoriser's if-conversion made plain GroupNorm
// compute SiLU's expf and division for every value and then select them away.
static inline __attribute__((always_inline)) void
gn_forward_group(float *out, float *mean, float *rstd, const float *inp, const float *weight, const float *bias,
                 int bg, int C, int HW, int G, float eps, const int silu, const int stats) {
    int cpg = C / G;
    size_t gsize = (size_t)cpg * HW;
    const float *x = inp + (size_t)bg * gsize;
    float *y = out + (size_t)bg * gsize;
    float m, r;
    if (stats) {
        ops_mean_rstd(x, gsize, eps, &m, &r);
        mean[bg] = m;
        rstd[bg] = r;
    } else { // groupnorm_silu_apply: the statistics of an earlier forward, never written
        m = mean[bg];
        r = rstd[bg];
    }
    int g = bg % G;
    for (int cc = 0; cc < cpg; cc++) {
        int c = g * cpg + cc;
        float w = weight ? weight[c] : 1.0f, b = bias ? bias[c] : 0.0f;
        const float *xc = x + (size_t)cc * HW;
        float *yc = y + (size_t)cc * HW;
        for (int i = 0; i < HW; i++) {
            float v = (xc[i] - m) * r * w + b;
            yc[i] = silu ? v / (1.0f + ops_expf(-v)) : v;
        }
    }
}

void groupnorm_forward(float *out, float *mean, float *rstd,
                       const float *inp, const float *weight, const float *bias,
                       int B, int C, int HW, int G, float eps) {
#pragma omp parallel for schedule(static) if ((size_t)B * C * HW >= PAR_MIN)
    for (int bg = 0; bg < B * G; bg++) gn_forward_group(out, mean, rstd, inp, weight, bias, bg, C, HW, G, eps, 0, 1);
}

// With SiLU the loops are bound by its division: an AVX-512 build of each (vecmath.h,
// OPS_VEC_PAIR; the same bits) where the CPU has it. stats 0 (groupnorm_silu_apply) reads
// mean/rstd and never writes them.
OPS_VEC_PAIR(gns_fwd, (float *out, float *mean, float *rstd, const float *inp, const float *weight, const float *bias,
                       int B, int C, int HW, int G, float eps, int stats), {
    if (stats) {
        _Pragma("omp parallel for schedule(static) if ((size_t)B * C * HW >= PAR_MIN)")
        for (int bg = 0; bg < B * G; bg++) gn_forward_group(out, mean, rstd, inp, weight, bias, bg, C, HW, G, eps, 1, 1);
    } else {
        _Pragma("omp parallel for schedule(static) if ((size_t)B * C * HW >= PAR_MIN)")
        for (int bg = 0; bg < B * G; bg++) gn_forward_group(out, mean, rstd, inp, weight, bias, bg, C, HW, G, eps, 1, 0);
    }
})

void groupnorm_silu_forward(float *out, float *mean, float *rstd,
                            const float *inp, const float *weight, const float *bias,
                            int B, int C, int HW, int G, float eps) {
    (ops_vec512() ? gns_fwd_512 : gns_fwd_256)(out, mean, rstd, inp, weight, bias, B, C, HW, G, eps, 1);
}

void groupnorm_silu_apply(float *out, const float *mean, const float *rstd,
                          const float *inp, const float *weight, const float *bias,
                          int B, int C, int HW, int G) {
    // With stats 0 the group body reads mean/rstd and never writes them, so the casts are safe.
    (ops_vec512() ? gns_fwd_512 : gns_fwd_256)(out, (float *)mean, (float *)rstd, inp, weight, bias, B, C, HW, G, 0.0f, 0);
}

// Backward processes a channel in tiles of this many values: dn for one tile lives on the stack.
#define GN_TILE 256
// With SiLU, a group of at most this many values keeps its dn and xhat (two float arrays on the
// thread's stack, 64 KB) between the sums pass and the input-gradient pass, so SiLU's expf and
// division are computed once per value instead of twice (they were most of the backward).
// fm32-small's groups hold 1024-4096 values; larger ones recompute tile by tile as before.
#define GN_CACHE 8192

// dn = dL/d(normalised) for one tile and xh = xhat. With silu, n = xhat * w + b is recomputed
// and dn = dy * silu'(n); without, dn = dy.
static inline __attribute__((always_inline)) void
gn_tile_dn(float *restrict dn, float *restrict xh, const float *restrict x, const float *restrict dy, int len,
           float m, float r, float w, float b, const int silu) {
    for (int i = 0; i < len; i++) {
        float xv = (x[i] - m) * r;
        xh[i] = xv;
        if (!silu) { dn[i] = dy[i]; continue; }
        float v = xv * w + b;
        float e = ops_expf(-v);
        float s = 1.0f / (1.0f + e);
        dn[i] = dy[i] * s * (1.0f + v * (e * s));
    }
}

// Adds one tile's sum(dn) and sum(dn * xhat) into eight double partial sums each.
static inline __attribute__((always_inline)) void
gn_tile_sums(double *restrict a1, double *restrict a2, const float *restrict dn, const float *restrict xh, int len) {
    int i = 0;
#ifdef __AVX__
    // GCC keeps the loop below scalar (cvtss2sd, accumulators spilled to the stack); this is the
    // same arithmetic lane for lane (each product of two floats is exact in double, then one
    // add into partial sum j), so the bits are the loop's.
    __m256d s1l = _mm256_loadu_pd(a1), s1h = _mm256_loadu_pd(a1 + 4);
    __m256d s2l = _mm256_loadu_pd(a2), s2h = _mm256_loadu_pd(a2 + 4);
    for (; i + 8 <= len; i += 8) {
        __m256 d = _mm256_loadu_ps(dn + i), h = _mm256_loadu_ps(xh + i);
        __m256d dl = _mm256_cvtps_pd(_mm256_castps256_ps128(d)), dh = _mm256_cvtps_pd(_mm256_extractf128_ps(d, 1));
        __m256d hl = _mm256_cvtps_pd(_mm256_castps256_ps128(h)), hh = _mm256_cvtps_pd(_mm256_extractf128_ps(h, 1));
        s1l = _mm256_add_pd(s1l, dl);
        s1h = _mm256_add_pd(s1h, dh);
        s2l = _mm256_add_pd(s2l, _mm256_mul_pd(dl, hl));
        s2h = _mm256_add_pd(s2h, _mm256_mul_pd(dh, hh));
    }
    _mm256_storeu_pd(a1, s1l);
    _mm256_storeu_pd(a1 + 4, s1h);
    _mm256_storeu_pd(a2, s2l);
    _mm256_storeu_pd(a2 + 4, s2h);
#endif
    for (; i + 8 <= len; i += 8)
        for (int j = 0; j < 8; j++) {
            a1[j] += dn[i + j];
            a2[j] += (double)dn[i + j] * xh[i + j];
        }
    for (; i < len; i++) {
        a1[0] += dn[i];
        a2[0] += (double)dn[i] * xh[i];
    }
}

// sum(dn) and sum(dn * xhat) over one channel plane, eight double partial sums each. With
// silu and a cache (dnc, xhc: HW floats each), the tiles' dn and xhat are left there for the
// caller's second pass; the sums are the same either way (same tiles, same order).
static inline __attribute__((always_inline)) void
gn_channel_sums(const float *x, const float *dy, int HW, float m, float r, float w, float b, double *sdy,
                double *sdyx, float *restrict dnc, float *restrict xhc, const int silu) {
    double a1[8] = {0}, a2[8] = {0};
    float dn[GN_TILE], xh[GN_TILE];
    // dn = dy: only xhat is staged, a tile at a time. Written as one loop over the plane, GCC
    // left the double sums scalar (cvtss2sd, accumulators on the stack): 3x slower. Tiles are
    // a multiple of 8 long, so the partial sums see the values in the same order as that loop.
    for (int i0 = 0; !silu && i0 < HW; i0 += GN_TILE) {
        int len = HW - i0 < GN_TILE ? HW - i0 : GN_TILE;
        for (int i = 0; i < len; i++) xh[i] = (x[i0 + i] - m) * r;
        gn_tile_sums(a1, a2, dy + i0, xh, len);
    }
    for (int i0 = 0; silu && i0 < HW; i0 += GN_TILE) {
        int len = HW - i0 < GN_TILE ? HW - i0 : GN_TILE;
        float *d = dnc ? dnc + i0 : dn, *h = xhc ? xhc + i0 : xh;
        gn_tile_dn(d, h, x + i0, dy + i0, len, m, r, w, b, silu);
        gn_tile_sums(a1, a2, d, h, len);
    }
    double s1 = 0, s2 = 0;
    for (int j = 0; j < 8; j++) { s1 += a1[j]; s2 += a2[j]; }
    *sdy = s1;
    *sdyx = s2;
}

// GroupNorm backward, optionally through a SiLU after it (groupnorm_silu_backward: the
// normalised value is recomputed, never stored). dx = rstd * (dn*w - mean(dn*w) - xhat *
// mean(dn*w * xhat)) over the group. The per-channel sums of this pass, sum(dn) and
// sum(dn * xhat), are also the bias and weight gradients: each thread adds them into its own
// row of part (static schedule, rows summed in thread order, so results depend only on the
// thread count), which saves a separate pass over dout and inp.
typedef struct {
    float *dinp, *dweight, *dbias;
    const float *dout, *inp, *mean, *rstd, *weight, *bias;
    int B, C, HW, G;
    int set; // dinp overwritten (the _set variants), else added to
} GnBack;

// This thread's share of the groups (an orphaned `omp for` inside the caller's region), their
// weight/bias sums added into part (nt x 2 x C, this thread's row; NULL: not fused).
static inline __attribute__((always_inline)) void gn_backward_groups(const GnBack *a, double *part, const int silu) {
    const float *inp = a->inp, *dout = a->dout, *mean = a->mean, *rstd = a->rstd, *weight = a->weight,
                *bias = a->bias;
    int C = a->C, HW = a->HW, G = a->G, cpg = C / G;
    size_t gsize = (size_t)cpg * HW;
    double *pw = part ? part + (size_t)omp_get_thread_num() * 2 * C : NULL, *pb = pw ? pw + C : NULL;
    // One group's dn and xhat (silu only; see GN_CACHE).
    const int cache = silu && gsize <= GN_CACHE;
    float dnc[cache ? gsize : 1], xhc[cache ? gsize : 1];
#pragma omp for schedule(static)
    for (int bg = 0; bg < a->B * G; bg++) {
        const float *x = inp + (size_t)bg * gsize, *dy = dout + (size_t)bg * gsize;
        float *dx = a->dinp + (size_t)bg * gsize;
        float m = mean[bg], r = rstd[bg];
        int g = bg % G;
        double s1 = 0, s2 = 0;
        for (int cc = 0; cc < cpg; cc++) {
            int c = g * cpg + cc;
            float w = weight ? weight[c] : 1.0f, b = bias ? bias[c] : 0.0f;
            double sdy, sdyx;
            gn_channel_sums(x + (size_t)cc * HW, dy + (size_t)cc * HW, HW, m, r, w, b, &sdy, &sdyx,
                            cache ? dnc + (size_t)cc * HW : NULL, cache ? xhc + (size_t)cc * HW : NULL, silu);
            s1 += w * sdy;
            s2 += w * sdyx;
            if (pw) {
                pw[c] += sdyx;
                pb[c] += sdy;
            }
        }
        float ma = (float)(s1 / (double)gsize), bb = (float)(s2 / (double)gsize);
        float dn[GN_TILE], xh[GN_TILE];
        for (int cc = 0; cc < cpg; cc++) {
            int c = g * cpg + cc;
            float w = weight ? weight[c] : 1.0f, b = bias ? bias[c] : 0.0f;
            const float *xc = x + (size_t)cc * HW, *dyc = dy + (size_t)cc * HW;
            float *dxc = dx + (size_t)cc * HW;
            // The same loops twice, '=' and '+=': a select in the loop would cost a read of dx.
#define GN_DX(OP)                                                                                      \
            if (!silu)                                                                                 \
                for (int i = 0; i < HW; i++) dxc[i] OP r * (dyc[i] * w - ma - (xc[i] - m) * r * bb);   \
            if (silu && cache) {                                                                       \
                const float *restrict dnp = dnc + (size_t)cc * HW, *restrict xhp = xhc + (size_t)cc * HW; \
                for (int i = 0; i < HW; i++) dxc[i] OP r * (dnp[i] * w - ma - xhp[i] * bb);            \
                continue;                                                                              \
            }                                                                                          \
            for (int i0 = 0; silu && i0 < HW; i0 += GN_TILE) {                                         \
                int len = HW - i0 < GN_TILE ? HW - i0 : GN_TILE;                                       \
                gn_tile_dn(dn, xh, xc + i0, dyc + i0, len, m, r, w, b, silu);                          \
                float *restrict d = dxc + i0;                                                          \
                for (int i = 0; i < len; i++) d[i] OP r * (dn[i] * w - ma - xh[i] * bb);               \
            }
            if (a->set) { GN_DX(=) } else { GN_DX(+=) }
#undef GN_DX
        }
    }
}

// Weight/bias gradients of channel c alone, over the batch (no two threads write one entry).
static inline __attribute__((always_inline)) void gn_backward_channel(const GnBack *a, int c, const int silu) {
    int C = a->C, HW = a->HW, G = a->G, g = c / (C / G);
    double sw = 0, sb = 0;
    float w = a->weight ? a->weight[c] : 1.0f, b = a->bias ? a->bias[c] : 0.0f;
    for (int bb = 0; bb < a->B; bb++) {
        size_t off = ((size_t)bb * C + c) * HW;
        double sdy, sdyx;
        gn_channel_sums(a->inp + off, a->dout + off, HW, a->mean[bb * G + g], a->rstd[bb * G + g], w, b, &sdy,
                        &sdyx, NULL, NULL, silu);
        sw += sdyx;
        sb += sdy;
    }
    if (a->dweight) a->dweight[c] += (float)sw;
    if (a->dbias) a->dbias[c] += (float)sb;
}

// The parallel regions, one copy per variant (see gn_forward_group for why).
#define GN_PAR(a) ((size_t)(a)->B * (a)->C * (a)->HW >= PAR_MIN)
static void gn_groups_plain(const GnBack *a, double *part) {
#pragma omp parallel if (GN_PAR(a))
    gn_backward_groups(a, part, 0);
}
OPS_VEC_PAIR(gn_groups_silu, (const GnBack *a, double *part), {
    _Pragma("omp parallel if (GN_PAR(a))")
    gn_backward_groups(a, part, 1);
})
static void gn_groups_silu(const GnBack *a, double *part) {
    (ops_vec512() ? gn_groups_silu_512 : gn_groups_silu_256)(a, part);
}
static void gn_channels_plain(const GnBack *a) {
#pragma omp parallel for schedule(static) if (GN_PAR(a))
    for (int c = 0; c < a->C; c++) gn_backward_channel(a, c, 0);
}
OPS_VEC_PAIR(gn_channels_silu, (const GnBack *a), {
    _Pragma("omp parallel for schedule(static) if (GN_PAR(a))")
    for (int c = 0; c < a->C; c++) gn_backward_channel(a, c, 1);
})
static void gn_channels_silu(const GnBack *a) {
    (ops_vec512() ? gn_channels_silu_512 : gn_channels_silu_256)(a);
}

static void groupnorm_backward_impl(const GnBack *a, const int silu) {
    int nt = omp_get_max_threads(), C = a->C;
    int fuse = a->dinp && (a->dweight || a->dbias) && (size_t)nt * C <= GN_FUSE_MAX;
    double part[fuse ? nt : 1][2][fuse ? C : 1];
    if (fuse) memset(part, 0, sizeof part);
    if (a->dinp) {
        (silu ? gn_groups_silu : gn_groups_plain)(a, fuse ? &part[0][0][0] : NULL);
        if (fuse) {
            for (int c = 0; c < C; c++) {
                double sw = 0, sb = 0;
                for (int t = 0; t < nt; t++) { sw += part[t][0][c]; sb += part[t][1][c]; }
                if (a->dweight) a->dweight[c] += (float)sw;
                if (a->dbias) a->dbias[c] += (float)sb;
            }
            return;
        }
    }
    if (a->dweight || a->dbias) (silu ? gn_channels_silu : gn_channels_plain)(a);
}

void groupnorm_backward(float *dinp, float *dweight, float *dbias,
                        const float *dout, const float *inp, const float *mean, const float *rstd,
                        const float *weight, int B, int C, int HW, int G) {
    GnBack a = {dinp, dweight, dbias, dout, inp, mean, rstd, weight, NULL, B, C, HW, G, 0};
    groupnorm_backward_impl(&a, 0);
}

void groupnorm_backward_set(float *dinp, float *dweight, float *dbias,
                            const float *dout, const float *inp, const float *mean, const float *rstd,
                            const float *weight, int B, int C, int HW, int G) {
    GnBack a = {dinp, dweight, dbias, dout, inp, mean, rstd, weight, NULL, B, C, HW, G, 1};
    groupnorm_backward_impl(&a, 0);
}

void groupnorm_silu_backward(float *dinp, float *dweight, float *dbias,
                             const float *dout, const float *inp, const float *mean, const float *rstd,
                             const float *weight, const float *bias, int B, int C, int HW, int G) {
    GnBack a = {dinp, dweight, dbias, dout, inp, mean, rstd, weight, bias, B, C, HW, G, 0};
    groupnorm_backward_impl(&a, 1);
}

void groupnorm_silu_backward_set(float *dinp, float *dweight, float *dbias,
                                 const float *dout, const float *inp, const float *mean, const float *rstd,
                                 const float *weight, const float *bias, int B, int C, int HW, int G) {
    GnBack a = {dinp, dweight, dbias, dout, inp, mean, rstd, weight, bias, B, C, HW, G, 1};
    groupnorm_backward_impl(&a, 1);
}

// ---------------------------------------------------------------------------------------------
// LayerNorm over the last dim of (N, C); weight/bias NULL for SiT's non-affine norms.
void layernorm_forward(float *out, float *mean, float *rstd,
                       const float *inp, const float *weight, const float *bias,
                       int N, int C, float eps) {
#pragma omp parallel for schedule(static) if ((size_t)N * C >= PAR_MIN)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *y = out + (size_t)n * C;
        float m, r;
        ops_mean_rstd(x, (size_t)C, eps, &m, &r);
        mean[n] = m;
        rstd[n] = r;
        for (int c = 0; c < C; c++) {
            float v = (x[c] - m) * r;
            if (weight) v *= weight[c];
            if (bias) v += bias[c];
            y[c] = v;
        }
    }
}

// Column block for the weight/bias reduction: threads own disjoint columns and stream the
// rows in contiguous segments of this many floats.
#define LN_COLS 64

void layernorm_backward(float *dinp, float *dweight, float *dbias,
                        const float *dout, const float *inp, const float *mean, const float *rstd,
                        const float *weight, int N, int C) {
    if (dinp) {
#pragma omp parallel for schedule(static) if ((size_t)N * C >= PAR_MIN)
        for (int n = 0; n < N; n++) {
            const float *x = inp + (size_t)n * C, *dy = dout + (size_t)n * C;
            float *dx = dinp + (size_t)n * C;
            float m = mean[n], r = rstd[n];
            double s1 = 0, s2 = 0;
            for (int c = 0; c < C; c++) {
                float dxh = weight ? dy[c] * weight[c] : dy[c];
                s1 += dxh;
                s2 += (double)dxh * ((x[c] - m) * r);
            }
            float a = (float)(s1 / C), bb = (float)(s2 / C);
            for (int c = 0; c < C; c++) {
                float dxh = weight ? dy[c] * weight[c] : dy[c];
                dx[c] += r * (dxh - a - (x[c] - m) * r * bb);
            }
        }
    }
    if (dweight || dbias) {
        int nblk = (C + LN_COLS - 1) / LN_COLS;
#pragma omp parallel for schedule(static) if ((size_t)N * C >= PAR_MIN)
        for (int blk = 0; blk < nblk; blk++) {
            int c0 = blk * LN_COLS, c1 = c0 + LN_COLS < C ? c0 + LN_COLS : C;
            double sw[LN_COLS] = {0}, sb[LN_COLS] = {0};
            for (int n = 0; n < N; n++) {
                const float *x = inp + (size_t)n * C, *dy = dout + (size_t)n * C;
                float m = mean[n], r = rstd[n];
                for (int c = c0; c < c1; c++) {
                    sw[c - c0] += (double)dy[c] * ((x[c] - m) * r);
                    sb[c - c0] += dy[c];
                }
            }
            for (int c = c0; c < c1; c++) {
                if (dweight) dweight[c] += (float)sw[c - c0];
                if (dbias) dbias[c] += (float)sb[c - c0];
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// BatchNorm2d without affine over (B, C, HW): channel c's values are B strided runs of HW.
// Training with B*HW == 1 is undefined (PyTorch raises); the caller must not do it. Here the
// running variance then gets the biased (zero) variance instead of dividing by zero.
void batchnorm_forward(float *out, float *mean, float *rstd, float *running_mean, float *running_var,
                       const float *inp, int B, int C, int HW, float eps, float momentum, int training) {
    size_t cstride = (size_t)C * HW;
#pragma omp parallel for schedule(static) if ((size_t)B * C * HW >= PAR_MIN)
    for (int c = 0; c < C; c++) {
        float m, r;
        if (training) {
            double s = 0, v = 0, n = (double)B * HW;
            for (int b = 0; b < B; b++) {
                const float *x = inp + b * cstride + (size_t)c * HW;
                for (int i = 0; i < HW; i++) s += x[i];
            }
            double dm = s / n;
            for (int b = 0; b < B; b++) {
                const float *x = inp + b * cstride + (size_t)c * HW;
                for (int i = 0; i < HW; i++) {
                    double d = x[i] - dm;
                    v += d * d;
                }
            }
            double var = v / n, unbiased = n > 1 ? v / (n - 1) : var;
            m = (float)dm;
            r = (float)(1.0 / sqrt(var + eps));
            // PyTorch: running = (1 - momentum) * running + momentum * batch (unbiased var).
            if (running_mean) running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * m;
            if (running_var) running_var[c] = (1.0f - momentum) * running_var[c] + momentum * (float)unbiased;
        } else {
            m = running_mean[c];
            r = (float)(1.0 / sqrt((double)running_var[c] + eps));
        }
        mean[c] = m;
        rstd[c] = r;
        for (int b = 0; b < B; b++) {
            const float *x = inp + b * cstride + (size_t)c * HW;
            float *y = out + b * cstride + (size_t)c * HW;
            for (int i = 0; i < HW; i++) y[i] = (x[i] - m) * r;
        }
    }
}

// training: the batch statistics depend on the input, giving the usual
// dx = rstd * (dy - mean(dy) - xhat * mean(dy * xhat)); eval: the statistics are constants.
void batchnorm_backward(float *dinp, const float *dout, const float *inp, const float *mean,
                        const float *rstd, int B, int C, int HW, int training) {
    if (!dinp) return;
    size_t cstride = (size_t)C * HW;
#pragma omp parallel for schedule(static) if ((size_t)B * C * HW >= PAR_MIN)
    for (int c = 0; c < C; c++) {
        float m = mean[c], r = rstd[c], a = 0, bb = 0;
        if (training) {
            double s1 = 0, s2 = 0, n = (double)B * HW;
            for (int b = 0; b < B; b++) {
                size_t off = b * cstride + (size_t)c * HW;
                for (int i = 0; i < HW; i++) {
                    s1 += dout[off + i];
                    s2 += (double)dout[off + i] * ((inp[off + i] - m) * r);
                }
            }
            a = (float)(s1 / n);
            bb = (float)(s2 / n);
        }
        for (int b = 0; b < B; b++) {
            size_t off = b * cstride + (size_t)c * HW;
            for (int i = 0; i < HW; i++) {
                float g = dout[off + i];
                if (training) g = g - a - (inp[off + i] - m) * r * bb;
                dinp[off + i] += r * g;
            }
        }
    }
}

void batchnorm_denormalize(float *out, const float *inp, const float *running_mean,
                           const float *running_var, int B, int C, int HW, float eps) {
    size_t cstride = (size_t)C * HW;
#pragma omp parallel for schedule(static) if ((size_t)B * C * HW >= PAR_MIN)
    for (int c = 0; c < C; c++) {
        // The eval forward multiplies by the float rstd; dividing by that same float
        // (rather than multiplying by sqrt) makes the round trip as exact as float allows.
        float r = (float)(1.0 / sqrt((double)running_var[c] + eps)), m = running_mean[c];
        for (int b = 0; b < B; b++) {
            const float *x = inp + b * cstride + (size_t)c * HW;
            float *y = out + b * cstride + (size_t)c * HW;
            for (int i = 0; i < HW; i++) y[i] = x[i] / r + m;
        }
    }
}
