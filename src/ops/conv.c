// ops_conv.c: the Workspace and conv2d. Shapes conv_implicit_ok() accepts go to conv_implicit.c
// (implicit GEMMs on the own kernel); the rest, and every shape when products go to OpenBLAS,
// take the explicit path here: im2col + sgemm (gemm.h), col2im for the input gradient.
//
// A chunk of nb images is lowered at once into col (K, nb*P), K = Cin*k*k, P = Ho*Wo, columns
// image-major, so one sgemm covers the whole chunk: at the model's small late-stage images
// (8x8) a per-image sgemm has N = 64 and OpenBLAS runs far below peak. The product lands in a
// (Cout, nb*P) staging buffer and is scattered to NCHW; that copy is O(Cout*P) per image against
// O(Cout*K*P) flops. 1x1 stride-1 unpadded convs with large images skip both copies and call
// sgemm on the NCHW planes directly.
#include "ops/ops.h"
#include "ops/par.h"
#include "ops/conv_implicit.h"
#include "base/util.h"
#include "ops/gemm.h"
#include <stdlib.h>
#include <string.h>

// Images at least this large (Ho*Wo) make a per-image sgemm efficient enough that the 1x1 path
// reads NCHW directly instead of staging chunks (measured in experiments/bench).
#define CONV1X1_DIRECT_MIN_P 256
// Chunks stop growing at about this many columns even when the workspace allows more, so that
// the col block sgemm reads (and the dcol block col2im reads back) is still in cache: one
// lowering of all 64 images at 32x32 (75 MB) goes through DRAM twice. 4096 was ~20% faster
// than unbounded chunks at 32x32. At 1 thread 512-1024 were another 10-25% faster at 8x8 and
// 16x16, but at 2 threads (the training setting) 1024 was 0.5-0.9x of 4096 on every shape
// below 128@16: each chunk costs three fork/joins (im2col, sgemm, scatter), and with passive
// OpenMP waits each one wakes a sleeping thread (experiments/bench/README.md).
// Input channels below which the input gradient takes the explicit path (see conv2d_backward).
#define CONV_IMPLICIT_MIN_CIN 16
#ifndef CONV_CHUNK_COLS
#define CONV_CHUNK_COLS 4096
#endif

void workspace_init(Workspace *ws, size_t cap_floats) {
    ws->cap = cap_floats;
    ws->bf16 = 0;
    // 64-byte alignment keeps sgemm's packed loads on cache-line boundaries.
    size_t bytes = (cap_floats * sizeof(float) + 63) / 64 * 64;
    ws->buf = bytes ? xaligned_alloc(64, bytes) : NULL;
}

void workspace_free(Workspace *ws) {
    free(ws->buf);
    ws->buf = NULL;
    ws->cap = 0;
}

int conv2d_init(Conv2d *c, int B, int Cin, int H, int W, int Cout, int k, int stride,
                int pad_t, int pad_l, int pad_b, int pad_r, char *err) {
    memset(c, 0, sizeof *c);
    if (B < 1 || Cin < 1 || H < 1 || W < 1 || Cout < 1)
        return seterr(err, "conv2d: sizes must be positive (B %d, Cin %d, H %d, W %d, Cout %d)",
                      B, Cin, H, W, Cout);
    if (k < 1 || stride < 1)
        return seterr(err, "conv2d: kernel %d and stride %d must be at least 1", k, stride);
    if (pad_t < 0 || pad_l < 0 || pad_b < 0 || pad_r < 0)
        return seterr(err, "conv2d: padding must not be negative (top %d, left %d, bottom %d, right %d)",
                      pad_t, pad_l, pad_b, pad_r);
    int hp = H + pad_t + pad_b, wp = W + pad_l + pad_r;
    if (k > hp || k > wp)
        return seterr(err, "conv2d: %dx%d kernel is larger than the padded %dx%d input (%dx%d plus padding); "
                           "use a smaller kernel or more padding", k, k, hp, wp, H, W);
    int Ho = (hp - k) / stride + 1, Wo = (wp - k) / stride + 1;
    if (Ho < 1 || Wo < 1)
        return seterr(err, "conv2d: output would be %dx%d for a %dx%d input, kernel %d, stride %d",
                      Ho, Wo, H, W, k, stride);
    // Index arithmetic below is in size_t, but one image's col block must fit an int for BLAS.
    if ((size_t)Cin * k * k * Ho * Wo > (size_t)1 << 31 || (size_t)Cout * Cin * k * k > (size_t)1 << 31)
        return seterr(err, "conv2d: %dx%dx%d input with %d outputs is too large for one sgemm", Cin, H, W, Cout);
    c->B = B; c->Cin = Cin; c->H = H; c->W = W;
    c->Cout = Cout; c->k = k; c->stride = stride;
    c->pad_t = pad_t; c->pad_l = pad_l; c->pad_b = pad_b; c->pad_r = pad_r;
    c->Ho = Ho; c->Wo = Wo;
    return 0;
}

static int conv_is_direct1x1(const Conv2d *c) {
    return c->k == 1 && c->stride == 1 && !c->pad_t && !c->pad_l && !c->pad_b && !c->pad_r
        && c->Ho * c->Wo >= CONV1X1_DIRECT_MIN_P;
}

// Floats per image of a chunk: col (K x P) plus the staging buffer (Cout x P).
static size_t conv_floats_per_image(const Conv2d *c) {
    size_t P = (size_t)c->Ho * c->Wo, K = (size_t)c->Cin * c->k * c->k;
    return (K + c->Cout) * P;
}

size_t conv2d_workspace_min(const Conv2d *c) {
    return conv_is_direct1x1(c) ? 0 : conv_floats_per_image(c);
}

// Images per chunk the workspace allows; a workspace below the minimum is a caller bug.
static int conv_chunk(const Conv2d *c, const Workspace *ws, const char *who) {
    size_t per = conv_floats_per_image(c);
    size_t nb = ws ? ws->cap / per : 0;
    if (nb < 1) {
        fprintf(stderr, "%s: workspace of %zu floats is below conv2d_workspace_min = %zu "
                        "(Cin %d, %dx%d, Cout %d, k %d); size it with conv2d_workspace_min\n",
                who, ws ? ws->cap : 0, per, c->Cin, c->H, c->W, c->Cout, c->k);
        abort();
    }
    size_t P = (size_t)c->Ho * c->Wo, want = (CONV_CHUNK_COLS + P - 1) / P;
    if (nb > want) nb = want;
    return nb > (size_t)c->B ? c->B : (int)nb;
}

// The output columns [*lo, *hi) of one kernel tap whose input index o*s + off lies in [0, n):
// computing the range once keeps the inner loops free of bounds tests (and vectorisable).
static void tap_range(int off, int s, int n, int nout, int *lo, int *hi) {
    int l = off >= 0 ? 0 : (-off + s - 1) / s;         // first o with o*s + off >= 0
    int h = n - 1 - off < 0 ? 0 : (n - 1 - off) / s + 1; // first o with o*s + off >= n
    *lo = l < nout ? l : nout;
    *hi = h < nout ? h : nout;
    if (*hi < *lo) *hi = *lo;
}

// col (K, nb*P) from images b0 .. b0+nb-1. Row r = (ci, ki, kj); padding reads as 0.
// GCC would turn the short edge-zeroing loops (0..pad floats) into memset calls, which at 8x8
// images made the whole conv 25% slower (measured): hence the optimize attribute.
__attribute__((optimize("no-tree-loop-distribute-patterns")))
static void im2col(float *restrict col, const float *restrict inp, const Conv2d *c, int b0, int nb) {
    const int k = c->k, s = c->stride, H = c->H, W = c->W, Ho = c->Ho, Wo = c->Wo;
    const size_t P = (size_t)Ho * Wo, ld = (size_t)nb * P;
    const int rows = c->Cin * k * k;
    #pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < nb; n++) {
        for (int r = 0; r < rows; r++) {
            int ci = r / (k * k), ki = (r / k) % k, kj = r % k;
            const float *src = inp + ((size_t)(b0 + n) * c->Cin + ci) * H * W;
            float *dst = col + (size_t)r * ld + (size_t)n * P;
            int oh0, oh1, ow0, ow1, ih0 = ki - c->pad_t, iw0 = kj - c->pad_l;
            tap_range(ih0, s, H, Ho, &oh0, &oh1);
            tap_range(iw0, s, W, Wo, &ow0, &ow1);
            if (s == 1 && Wo == W && oh1 > oh0 && ow1 > ow0) {
                // "Same" convolution: every valid output row is the input row shifted by
                // iw0, so the whole tap is one contiguous copy of the plane shifted by
                // ih0*W + iw0; the columns that wrapped into a neighbouring row are then zeroed.
                size_t first = (size_t)oh0 * W + ow0, last = (size_t)(oh1 - 1) * W + ow1;
                memset(dst, 0, first * sizeof(float));
                memcpy(dst + first, src + (size_t)((oh0 + ih0) * W + ow0 + iw0), (last - first) * sizeof(float));
                memset(dst + last, 0, (P - last) * sizeof(float));
                for (int oh = oh0; oh < oh1; oh++) {
                    float *d = dst + (size_t)oh * Wo;
                    for (int ow = 0; ow < ow0; ow++) d[ow] = 0.0f;
                    for (int ow = ow1; ow < Wo; ow++) d[ow] = 0.0f;
                }
                continue;
            }
            memset(dst, 0, (size_t)oh0 * Wo * sizeof(float));
            for (int oh = oh0; oh < oh1; oh++) {
                const float *srow = src + (size_t)(oh * s + ih0) * W;
                float *d = dst + (size_t)oh * Wo;
                for (int ow = 0; ow < ow0; ow++) d[ow] = 0.0f;
                for (int ow = ow0; ow < ow1; ow++) d[ow] = srow[ow * s + iw0];
                for (int ow = ow1; ow < Wo; ow++) d[ow] = 0.0f;
            }
            memset(dst + (size_t)oh1 * Wo, 0, (size_t)(Ho - oh1) * Wo * sizeof(float));
        }
    }
}

// dinp += col2im(dcol): the adjoint of im2col. One thread owns one (image, channel) plane,
// so the k*k rows that overlap in it are summed without races. dcol is scratch: the "same"
// convolution path zeroes the wrapped columns in it (the mirror of im2col's one-copy path) so
// that each tap becomes one contiguous add over the plane instead of Ho short row loops.
static void col2im_add(float *restrict dinp, float *restrict dcol, const Conv2d *c, int b0, int nb) {
    const int k = c->k, s = c->stride, H = c->H, W = c->W, Ho = c->Ho, Wo = c->Wo;
    const size_t P = (size_t)Ho * Wo, ld = (size_t)nb * P;
    #pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < nb; n++) {
        for (int ci = 0; ci < c->Cin; ci++) {
            float *dst = dinp + ((size_t)(b0 + n) * c->Cin + ci) * H * W;
            for (int ki = 0; ki < k; ki++) {
                int oh0, oh1, ih0 = ki - c->pad_t;
                tap_range(ih0, s, H, Ho, &oh0, &oh1);
                for (int kj = 0; kj < k; kj++) {
                    float *src = dcol + ((size_t)(ci * k + ki) * k + kj) * ld + (size_t)n * P;
                    int ow0, ow1, iw0 = kj - c->pad_l;
                    tap_range(iw0, s, W, Wo, &ow0, &ow1);
                    if (oh1 <= oh0 || ow1 <= ow0) continue;
                    if (s == 1 && Wo == W) {
                        for (int oh = oh0; oh < oh1; oh++) {
                            float *r = src + (size_t)oh * Wo;
                            for (int ow = 0; ow < ow0; ow++) r[ow] = 0.0f;
                            for (int ow = ow1; ow < Wo; ow++) r[ow] = 0.0f;
                        }
                        size_t first = (size_t)oh0 * W + ow0, last = (size_t)(oh1 - 1) * W + ow1;
                        float *restrict d = dst + (size_t)((oh0 + ih0) * W + ow0 + iw0);
                        const float *restrict sr = src + first;
                        for (size_t q = 0; q < last - first; q++) d[q] += sr[q];
                        continue;
                    }
                    for (int oh = oh0; oh < oh1; oh++) {
                        float *restrict drow = dst + (size_t)(oh * s + ih0) * W;
                        const float *restrict srow = src + (size_t)oh * Wo;
                        if (s == 1) for (int ow = ow0; ow < ow1; ow++) drow[ow + iw0] += srow[ow];
                        else for (int ow = ow0; ow < ow1; ow++) drow[ow * s + iw0] += srow[ow];
                    }
                }
            }
        }
    }
}

// Forward, 1x1 direct path: out_b (Cout, P) = W (Cout, Cin) @ inp_b (Cin, P).
static void conv1x1_forward_direct(float *out, const float *inp, const float *weight, const float *bias,
                                   const Conv2d *c, int bf16) {
    const int P = c->Ho * c->Wo;
    for (int b = 0; b < c->B; b++) {
        float *o = out + (size_t)b * c->Cout * P;
        float beta = 0.0f;
        if (bias) {
            #pragma omp parallel for schedule(static)
            for (int co = 0; co < c->Cout; co++)
                for (int p = 0; p < P; p++) o[(size_t)co * P + p] = bias[co];
            beta = 1.0f;
        }
        sgemm_prec(0, 0, c->Cout, P, c->Cin, 1.0f, weight, c->Cin, inp + (size_t)b * c->Cin * P, P, beta, o,
                   P, bf16);
    }
}

void conv2d_forward(float *out, const float *inp, const float *weight, const float *bias,
                    const Conv2d *c, Workspace *ws) {
    if (conv_implicit_ok(c)) { conv_implicit_forward(out, inp, weight, bias, c, ws); return; }
    if (conv_is_direct1x1(c)) { conv1x1_forward_direct(out, inp, weight, bias, c, ws->bf16); return; }
    const int nbmax = conv_chunk(c, ws, "conv2d_forward");
    const int K = c->Cin * c->k * c->k, Cout = c->Cout;
    const size_t P = (size_t)c->Ho * c->Wo;
    for (int b0 = 0; b0 < c->B; b0 += nbmax) {
        int nb = c->B - b0 < nbmax ? c->B - b0 : nbmax;
        size_t N = (size_t)nb * P;
        float *col = ws->buf, *stage = ws->buf + (size_t)K * N;
        im2col(col, inp, c, b0, nb);
        sgemm_prec(0, 0, Cout, (int)N, K, 1.0f, weight, K, col, (int)N, 0.0f, stage, (int)N, ws->bf16);
        #pragma omp parallel for collapse(2) schedule(static)
        for (int n = 0; n < nb; n++) {
            for (int co = 0; co < Cout; co++) {
                const float *src = stage + (size_t)co * N + (size_t)n * P;
                float *dst = out + ((size_t)(b0 + n) * Cout + co) * P;
                float bv = bias ? bias[co] : 0.0f;
                for (size_t p = 0; p < P; p++) dst[p] = src[p] + bv;
            }
        }
    }
}

static void conv_dbias(float *dbias, const float *dout, const Conv2d *c) {
    const size_t P = (size_t)c->Ho * c->Wo;
    // Each channel's sum is one thread's, so the split does not change values (par.h).
    #pragma omp parallel for schedule(static) if ((size_t)c->B * c->Cout * P >= OPS_PAR_SUMS)
    for (int co = 0; co < c->Cout; co++) {
        // Eight independent partial sums per plane (a plain running sum is one serial chain
        // of adds that the compiler may not reorder), then double across images.
        double s = 0;
        for (int b = 0; b < c->B; b++) {
            float acc[8];
            conv_plane_sum8(acc, dout + ((size_t)b * c->Cout + co) * P, P);
            for (int j = 0; j < 8; j++) s += acc[j];
        }
        dbias[co] += (float)s;
    }
}

// set: dinp is overwritten (conv2d_backward_set), else added to.
static void conv_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                          const float *weight, const Conv2d *c, Workspace *ws, int set) {
    if ((dinp || dweight) && conv_implicit_ok(c)) {
        // The implicit input gradient (stride 1, or stride 2 by phases) packs all Cout*k*k
        // rows of col(dout) for only Cin rows of output: with few input channels (dec.conv_in:
        // 4) the explicit product and col2im are cheaper.
        int implicit_dinp = c->Cin >= CONV_IMPLICIT_MIN_CIN && conv_implicit_dinp_ok(c);
        if (conv_implicit_backward(implicit_dinp ? dinp : NULL, dweight, dbias, dout, inp, weight, c, ws, set))
            dbias = NULL; // summed on the way
        if (implicit_dinp) dinp = NULL;
        dweight = NULL; // done: what is left is the input gradient alone, below
    }
    if (dbias) conv_dbias(dbias, dout, c);
    if (!dinp && !dweight) return;
    const int K = c->Cin * c->k * c->k, Cout = c->Cout;
    const size_t P = (size_t)c->Ho * c->Wo;
    if (conv_is_direct1x1(c)) {
        for (int b = 0; b < c->B; b++) {
            const float *d = dout + (size_t)b * Cout * P, *x = inp + (size_t)b * c->Cin * P;
            if (dweight) // dW (Cout, Cin) += dout_b (Cout, P) @ inp_b^T (P, Cin)
                sgemm_prec(0, 1, Cout, c->Cin, (int)P, 1.0f, d, (int)P, x, (int)P, 1.0f, dweight, c->Cin, ws->bf16);
            if (dinp) // dinp_b (Cin, P) += W^T (Cin, Cout) @ dout_b (Cout, P)
                sgemm_prec(1, 0, c->Cin, (int)P, Cout, 1.0f, weight, c->Cin, d, (int)P, set ? 0.0f : 1.0f,
                           dinp + (size_t)b * c->Cin * P, (int)P, ws->bf16);
        }
        return;
    }
    const int nbmax = conv_chunk(c, ws, "conv2d_backward");
    for (int b0 = 0; b0 < c->B; b0 += nbmax) {
        int nb = c->B - b0 < nbmax ? c->B - b0 : nbmax;
        size_t N = (size_t)nb * P;
        float *col = ws->buf, *stage = ws->buf + (size_t)K * N;
        // Gather the chunk's dout into (Cout, nb*P), the layout the col columns use.
        #pragma omp parallel for collapse(2) schedule(static)
        for (int n = 0; n < nb; n++)
            for (int co = 0; co < Cout; co++)
                memcpy(stage + (size_t)co * N + (size_t)n * P, dout + ((size_t)(b0 + n) * Cout + co) * P,
                       P * sizeof(float));
        if (dweight) { // dW (Cout, K) += dout (Cout, N) @ col^T (N, K)
            im2col(col, inp, c, b0, nb);
            sgemm_prec(0, 1, Cout, K, (int)N, 1.0f, stage, (int)N, col, (int)N, 1.0f, dweight, K, ws->bf16);
        }
        if (dinp) { // dcol (K, N) = W^T (K, Cout) @ dout (Cout, N), then scattered back
            sgemm_prec(1, 0, K, (int)N, Cout, 1.0f, weight, K, stage, (int)N, 0.0f, col, (int)N, ws->bf16);
            if (set) memset(dinp + (size_t)b0 * c->Cin * c->H * c->W, 0, (size_t)nb * c->Cin * c->H * c->W * sizeof(float));
            col2im_add(dinp, col, c, b0, nb);
        }
    }
}

void conv2d_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                     const float *weight, const Conv2d *c, Workspace *ws) {
    conv_backward(dinp, dweight, dbias, dout, inp, weight, c, ws, 0);
}

void conv2d_backward_set(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                         const float *weight, const Conv2d *c, Workspace *ws) {
    conv_backward(dinp, dweight, dbias, dout, inp, weight, c, ws, 1);
}
