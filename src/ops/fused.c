// ops_fused.c: fused ops of the VAE. upconv (nearest x2 upsample + 3x3 conv) is here;
// GroupNorm+SiLU (norm1/norm2/norm_out) shares its loops with GroupNorm in ops_norm.c, and why
// it is fused is said here. Unfused, the normalised tensor is written by groupnorm_forward, read back by silu_forward,
// and in backward silu_backward writes dn (into a buffer zeroed first) that groupnorm_backward
// reads twice: five full passes over an activation per norm that this op does not make. The
// normalised value is never stored: backward recomputes it from x and the cached mean/rstd
// (a few flops an element, in cache), so the model also keeps one activation less per norm.
//
// The arithmetic is that of groupnorm_forward/backward followed by silu_forward/backward, in
// the same order, so the fused op gives the unfused results (tests/test_ops_fused.c).
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ops/ops.h"

// Below this many elements a parallel region costs more than it saves.
#define PAR_MIN 16384
// groupnorm_silu_forward and groupnorm_silu_backward live in ops_norm.c beside the plain
// GroupNorm: one body each, SiLU a constant.

// ---------------------------------------------------------------------------------------------
// Nearest x2 upsampling then a 3x3 "same" conv (the VAE decoder's Upsample), as four 2x2 convs
// on the small image, one per output phase (y % 2, x % 2). Output row 2i+a reads upsampled rows
// 2i+a-1 .. 2i+a+1, i.e. input rows i-1+a and i+a; the kernel rows that land on the same input
// row are summed into one 2x2 tap: 4 instead of 9 multiply-adds per output and input channel
// (2.25x fewer flops), and no upsampled copy of the input.
// TAPS[a][p]: the 3x3 kernel rows (or columns) that phase a's 2x2 tap p sums.
static const int TAPS[2][2][2] = {{{0, -1}, {1, 2}}, {{0, 1}, {2, -1}}};

static void phase_conv(Conv2d *c, int B, int Cin, int H, int W, int Cout, int a, int b) {
    char err[256];
    // Shapes are valid for any positive sizes (2x2 kernel, one row/column of padding).
    conv2d_init(c, B, Cin, H, W, Cout, 2, 1, a ? 0 : 1, b ? 0 : 1, a ? 1 : 0, b ? 1 : 0, err);
}

size_t upconv_workspace_floats(int B, int Cin, int H, int W, int Cout) {
    Conv2d c;
    phase_conv(&c, 1, Cin, H, W, Cout, 0, 0);
    size_t wk = (size_t)Cout * Cin * 4;
    return 5 * wk + 4 * (size_t)B * Cout * H * W + conv2d_workspace_min(&c) * (size_t)(B < 16 ? B : 16);
}

// The four phase kernels (Cout, Cin, 2, 2) from weight (Cout, Cin, 3, 3), phase = 2a + b.
static void phase_weights(float *w2, const float *weight, int Cout, int Cin) {
    size_t n = (size_t)Cout * Cin;
#pragma omp parallel for schedule(static) if (n >= 1024)
    for (size_t oc = 0; oc < n; oc++) {
        const float *w = weight + oc * 9;
        for (int a = 0; a < 2; a++)
            for (int b = 0; b < 2; b++)
                for (int p = 0; p < 2; p++)
                    for (int q = 0; q < 2; q++) {
                        float s = 0.0f;
                        for (int u = 0; u < 2; u++)
                            for (int v = 0; v < 2; v++) {
                                int ki = TAPS[a][p][u], kj = TAPS[b][q][v];
                                if (ki >= 0 && kj >= 0) s += w[ki * 3 + kj];
                            }
                        w2[(size_t)(2 * a + b) * n * 4 + oc * 4 + p * 2 + q] = s;
                    }
    }
}

// A workspace below upconv_workspace_floats is a caller bug, as in conv2d.
static void check_ws(const Workspace *ws, int B, int Cin, int H, int W, int Cout, const char *who) {
    size_t need = upconv_workspace_floats(B, Cin, H, W, Cout);
    if (!ws || ws->cap < need) {
        fprintf(stderr, "%s: workspace of %zu floats is below upconv_workspace_floats = %zu "
                        "(B %d, Cin %d, %dx%d, Cout %d)\n", who, ws ? ws->cap : 0, need, B, Cin, H, W, Cout);
        abort();
    }
}

void upconv_forward(float *out, const float *inp, const float *weight, const float *bias,
                    int B, int Cin, int H, int W, int Cout, Workspace *ws) {
    check_ws(ws, B, Cin, H, W, Cout, "upconv_forward");
    size_t wk = (size_t)Cout * Cin * 4, plane = (size_t)H * W, n = (size_t)B * Cout * plane;
    float *w2 = ws->buf, *ph = ws->buf + 5 * wk;
    Workspace sub = {ph + 4 * n, ws->cap - 5 * wk - 4 * n, ws->bf16};
    phase_weights(w2, weight, Cout, Cin);
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++) {
            Conv2d c;
            phase_conv(&c, B, Cin, H, W, Cout, a, b);
            conv2d_forward(ph + (size_t)(2 * a + b) * n, inp, w2 + (size_t)(2 * a + b) * wk, bias, &c, &sub);
        }
    // Interleave: out row 2i+a takes phase (a, 0) and (a, 1) alternately.
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (size_t r = 0; r < (size_t)B * Cout * H; r++) {
        size_t bc = r / H, i = r % H;
        for (int a = 0; a < 2; a++) {
            const float *p0 = ph + (size_t)(2 * a) * n + bc * plane + i * W, *p1 = p0 + n;
            float *o = out + (bc * 4 * plane) + (2 * i + a) * 2 * W;
            for (int j = 0; j < W; j++) { o[2 * j] = p0[j]; o[2 * j + 1] = p1[j]; }
        }
    }
}

// set: dinp is overwritten by the first phase (upconv_backward_set), else added to.
static void upconv_bwd(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                       const float *weight, int B, int Cin, int H, int W, int Cout, Workspace *ws, int set) {
    if (!dinp && !dweight && !dbias) return;
    check_ws(ws, B, Cin, H, W, Cout, "upconv_backward");
    size_t wk = (size_t)Cout * Cin * 4, plane = (size_t)H * W, n = (size_t)B * Cout * plane;
    float *w2 = ws->buf, *dw2 = ws->buf + 4 * wk, *ph = ws->buf + 5 * wk;
    Workspace sub = {ph + 4 * n, ws->cap - 5 * wk - 4 * n, ws->bf16};
    phase_weights(w2, weight, Cout, Cin);
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (size_t r = 0; r < (size_t)B * Cout * H; r++) {
        size_t bc = r / H, i = r % H;
        for (int a = 0; a < 2; a++) {
            float *p0 = ph + (size_t)(2 * a) * n + bc * plane + i * W, *p1 = p0 + n;
            const float *d = dout + (bc * 4 * plane) + (2 * i + a) * 2 * W;
            for (int j = 0; j < W; j++) { p0[j] = d[2 * j]; p1[j] = d[2 * j + 1]; }
        }
    }
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++) {
            Conv2d c;
            phase_conv(&c, B, Cin, H, W, Cout, a, b);
            if (dweight) memset(dw2, 0, wk * sizeof(float));
            (set && a + b == 0 ? conv2d_backward_set : conv2d_backward)(dinp, dweight ? dw2 : NULL, dbias,
                                                                         ph + (size_t)(2 * a + b) * n, inp,
                                                                         w2 + (size_t)(2 * a + b) * wk, &c, &sub);
            if (!dweight) continue;
            // Each 3x3 tap gets the gradient of the one 2x2 tap it was summed into.
            for (size_t oc = 0; oc < (size_t)Cout * Cin; oc++)
                for (int p = 0; p < 2; p++)
                    for (int q = 0; q < 2; q++)
                        for (int u = 0; u < 2; u++)
                            for (int v = 0; v < 2; v++) {
                                int ki = TAPS[a][p][u], kj = TAPS[b][q][v];
                                if (ki >= 0 && kj >= 0) dweight[oc * 9 + ki * 3 + kj] += dw2[oc * 4 + p * 2 + q];
                            }
        }
}

void upconv_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                     const float *weight, int B, int Cin, int H, int W, int Cout, Workspace *ws) {
    upconv_bwd(dinp, dweight, dbias, dout, inp, weight, B, Cin, H, W, Cout, ws, 0);
}

void upconv_backward_set(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                         const float *weight, int B, int Cin, int H, int W, int Cout, Workspace *ws) {
    upconv_bwd(dinp, dweight, dbias, dout, inp, weight, B, Cin, H, W, Cout, ws, 1);
}
