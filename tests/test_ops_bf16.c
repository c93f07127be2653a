// test_ops_bf16.c: the bf16 matrix products (gemm_bf16.c) and the ops that use them (conv2d via
// Workspace.bf16, linear_*_prec), on every kernel path (packed, edge tiles, K slices, windows of
// 32-, 16- and 8-wide rows, stride 2, split K, 1x1 direct, explicit im2col).
//
// Two checks per case: (1) exact arithmetic: the result equals a double-precision product of
// the bf16-rounded operands up to fp32 summation error, which pins down the rounding (nearest
// even) and the k-pair layout; (2) the stated bf16 tolerance against the fp32 op: every element
// within 2^-7 * sum_k |a_k b_k| (each operand's rounding error is at most 2^-9 relative), and
// the result measurably different from fp32's (the bf16 path really ran). On a CPU without
// AVX512-BF16 the bf16 request must give the fp32 result bit for bit. The convs are checked
// against PyTorch too (tests/gen_ops_bf16.py: torch's rounding, float64 conv).
#include "test.h"
#include "ops/gemm.h"
#include "ops/gemm_bf16.h"
#include "ops/conv_implicit.h"
#include "ops/ops.h"
#include "base/rng.h"
#include <omp.h>
#include <stdint.h>

static float bf16_round(float x) { // nearest even, an independent implementation
    uint32_t u;
    memcpy(&u, &x, 4);
    uint32_t lsb = (u >> 16) & 1u;
    u = (u + 0x7fffu + lsb) & 0xffff0000u;
    float y;
    memcpy(&y, &u, 4);
    return y;
}

static float *randv(size_t n, Rng *r) {
    float *x = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = rng_normal(r);
    return x;
}

static float *rounded(const float *x, size_t n) {
    float *y = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) y[i] = bf16_round(x[i]);
    return y;
}

// C = alpha op(A) op(B) + beta C in double; with abs_out, also sum_k |a b| * |alpha|.
static void ref_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                     int ldb, float beta, float *C, int ldc, float *abs_out) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0, sa = 0;
            for (int k = 0; k < K; k++) {
                double a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                double b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                s += a * b;
                sa += fabs(a * b);
            }
            float *c = C + (size_t)i * ldc + j;
            *c = (float)(alpha * s + (beta == 0.0f ? 0.0 : (double)beta * *c));
            if (abs_out) abs_out[(size_t)i * ldc + j] = (float)(fabs(alpha) * sa);
        }
}

static const int shapes[][3] = {{14, 32, 8},   {64, 64, 64},  {13, 31, 9},  {15, 33, 257}, {100, 70, 513},
                                {29, 1000, 17}, {170, 40, 300}, {8, 16, 8}, {32, 2048, 288}, {128, 64, 1025}};

// Worst ratio of |got - want| to bound (<= 1 passes) and the count of elements where got and
// other differ by more than fp32 rounding would explain.
static double worst_over(const float *got, const float *want, const float *bound, size_t n) {
    double w = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]) / (bound[i] + 1e-30);
        if (e > w || e != e) w = e != e ? INFINITY : e;
    }
    return w;
}

TEST(sgemm_bf16_is_the_product_of_rounded_operands) {
    if (!gemm_bf16_ok()) { printf("  (no AVX512-BF16 here: the fallback test covers this CPU)\n"); return; }
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int t = 0; t < 4; t++) {
            int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2], ta = t & 1, tb = t >> 1;
            float alpha = s % 2 ? 0.5f : 1.0f, beta = s % 3 ? 0.0f : 1.5f;
            Rng r;
            rng_seed(&r, (uint64_t)(s * 4 + t + 1));
            int lda = ta ? M : K, ldb = tb ? K : N;
            size_t na = (size_t)M * K, nb = (size_t)K * N, nc = (size_t)M * N;
            float *A = randv(na, &r), *B = randv(nb, &r), *C = randv(nc, &r);
            float *W = malloc(nc * sizeof(float)), *Ar = rounded(A, na), *Br = rounded(B, nb);
            memcpy(W, C, nc * sizeof(float));
            ref_gemm(ta, tb, M, N, K, alpha, Ar, lda, Br, ldb, beta, W, N, NULL);
            sgemm_prec(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, N, 1);
            size_t wi;
            double q = test_close_ratio(C, W, nc, 1e-5, 2e-6 * K, &wi);
            CHECK(q <= 1.0, "M %d N %d K %d ta %d tb %d: element %zu is %.8g, want %.8g", M, N, K, ta, tb, wi,
                  (double)C[wi], (double)W[wi]);
            free(A); free(B); free(C); free(W); free(Ar); free(Br);
        }
}

TEST(sgemm_bf16_within_tolerance_of_fp32) {
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        Rng r;
        rng_seed(&r, (uint64_t)(100 + s));
        size_t nc = (size_t)M * N;
        float *A = randv((size_t)M * K, &r), *B = randv((size_t)K * N, &r);
        float *C = malloc(nc * sizeof(float)), *F = malloc(nc * sizeof(float));
        float *W = malloc(nc * sizeof(float)), *Ab = malloc(nc * sizeof(float));
        ref_gemm(0, 0, M, N, K, 1.0f, A, K, B, N, 0.0f, W, N, Ab);
        for (size_t i = 0; i < nc; i++) Ab[i] = Ab[i] * (1.0f / 128) + 1e-6f;
        sgemm_prec(0, 0, M, N, K, 1.0f, A, K, B, N, 0.0f, C, N, 1);
        sgemm(0, 0, M, N, K, 1.0f, A, K, B, N, 0.0f, F, N);
        double q = worst_over(C, W, Ab, nc);
        int differ = memcmp(C, F, nc * sizeof(float)) != 0;
        free(A); free(B); free(C); free(F); free(W); free(Ab);
        CHECK(q <= 1.0, "M %d N %d K %d: error %.3g x the bf16 bound 2^-7 sum|ab|", M, N, K, q);
        if (gemm_bf16_ok()) CHECK(differ, "M %d N %d K %d: bf16 gave the fp32 result bit for bit", M, N, K);
        else CHECK(!differ, "M %d N %d K %d: no BF16 on this CPU, yet the result differs from fp32", M, N, K);
    }
}

TEST(sgemm_bf16_falls_back_to_fp32_without_the_extension) {
    const char *old = getenv("REPAE_CPU_PRETEND_MISSING");
    setenv("REPAE_CPU_PRETEND_MISSING", "avx512bf16", 1);
    int ok = gemm_bf16_ok(), cpu = gemm_bf16_cpu();
    int M = 40, N = 96, K = 300;
    Rng r;
    rng_seed(&r, 7);
    float *A = randv((size_t)M * K, &r), *B = randv((size_t)K * N, &r);
    float *C = malloc((size_t)M * N * 4), *F = malloc((size_t)M * N * 4);
    sgemm_prec(0, 1, M, N, K, 1.0f, A, K, B, K, 0.0f, C, N, 1);
    sgemm(0, 1, M, N, K, 1.0f, A, K, B, K, 0.0f, F, N);
    int same = memcmp(C, F, (size_t)M * N * 4) == 0;
    if (old) setenv("REPAE_CPU_PRETEND_MISSING", old, 1);
    else unsetenv("REPAE_CPU_PRETEND_MISSING");
    free(A); free(B); free(C); free(F);
    CHECK(!ok && !cpu, "REPAE_CPU_PRETEND_MISSING=avx512bf16 still reports BF16 (ok %d, cpu %d)", ok, cpu);
    CHECK(same, "the fallback did not give the fp32 product bit for bit");
}

// The bf16 packers that skip the fp32 panel (GemmOperand.pack16) must give the panels of fp32
// packing plus conversion bit for bit, so the products are identical with them on and off.
TEST(sgemm_bf16_pack16_is_bit_exact) {
    if (!gemm_bf16_ok()) { printf("  (no AVX512-BF16 here)\n"); return; }
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int t = 0; t < 4; t++) {
            int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2], ta = t & 1, tb = t >> 1;
            Rng r;
            rng_seed(&r, (uint64_t)(300 + s * 4 + t));
            int lda = ta ? M : K, ldb = tb ? K : N;
            float *A = randv((size_t)M * K, &r), *B = randv((size_t)K * N, &r);
            float *C = malloc((size_t)M * N * 4), *F = malloc((size_t)M * N * 4);
            sgemm_prec(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, N, 1);
            gemm_pack16_enable(0);
            sgemm_prec(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, F, N, 1);
            gemm_pack16_enable(1);
            int same = memcmp(C, F, (size_t)M * N * 4) == 0;
            free(A); free(B); free(C); free(F);
            CHECK(same, "M %d N %d K %d ta %d tb %d: pack16 changed the product", M, N, K, ta, tb);
        }
}

// ---------------------------------------------------------------------------------------------
// conv2d in bf16: a naive double conv of the rounded operands, and the bound against fp32.
typedef struct {
    int Cin, H, W, Cout, k, s, pt, pl, pb, pr;
    int pairs; // bf16 on pair words (bits): 1 the forward, 2 the input gradient, 4 the weight gradient
} Shape;

static float at(const float *x, int C, int H, int W, int b, int c, int y, int xx) {
    if (y < 0 || y >= H || xx < 0 || xx >= W) return 0.0f;
    return x[(((size_t)b * C + c) * H + y) * W + xx];
}

// out, dinp, dweight of a conv in double (from the given operands); with absolute values too.
static void ref_conv(const Conv2d *c, const float *x, const float *w, const float *d, float *out, float *outa,
                     float *dx, float *dxa, float *dw, float *dwa) {
    int B = c->B, Ci = c->Cin, H = c->H, W = c->W, Co = c->Cout, k = c->k, S = c->stride, Ho = c->Ho, Wo = c->Wo;
    for (int b = 0; b < B; b++)
        for (int o = 0; o < Co; o++)
            for (int y = 0; y < Ho; y++)
                for (int xx = 0; xx < Wo; xx++) {
                    double s = 0, sa = 0;
                    for (int i = 0; i < Ci; i++)
                        for (int u = 0; u < k; u++)
                            for (int v = 0; v < k; v++) {
                                double p = (double)w[((o * Ci + i) * k + u) * k + v] *
                                           at(x, Ci, H, W, b, i, y * S + u - c->pad_t, xx * S + v - c->pad_l);
                                s += p; sa += fabs(p);
                            }
                    size_t oi = (((size_t)b * Co + o) * Ho + y) * Wo + xx;
                    out[oi] = (float)s; outa[oi] = (float)sa;
                }
    size_t nx = (size_t)B * Ci * H * W, nw = (size_t)Co * Ci * k * k;
    double *sx = calloc(nx, sizeof(double)), *sxa = calloc(nx, sizeof(double));
    double *sw = calloc(nw, sizeof(double)), *swa = calloc(nw, sizeof(double));
    for (int b = 0; b < B; b++)
        for (int o = 0; o < Co; o++)
            for (int y = 0; y < Ho; y++)
                for (int xx = 0; xx < Wo; xx++) {
                    double g = d[(((size_t)b * Co + o) * Ho + y) * Wo + xx];
                    for (int i = 0; i < Ci; i++)
                        for (int u = 0; u < k; u++)
                            for (int v = 0; v < k; v++) {
                                int iy = y * S + u - c->pad_t, ix = xx * S + v - c->pad_l;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                size_t xi = (((size_t)b * Ci + i) * H + iy) * W + ix, wi = ((o * Ci + i) * k + u) * k + v;
                                sx[xi] += g * w[wi]; sxa[xi] += fabs(g * w[wi]);
                                sw[wi] += g * x[xi]; swa[wi] += fabs(g * x[xi]);
                            }
                }
    for (size_t i = 0; i < nx; i++) { dx[i] = (float)sx[i]; dxa[i] = (float)sxa[i]; }
    for (size_t i = 0; i < nw; i++) { dw[i] = (float)sw[i]; dwa[i] = (float)swa[i]; }
    free(sx); free(sxa); free(sw); free(swa);
}

static const Shape conv_shapes[] = {
    {32, 32, 32, 32, 3, 1, 1, 1, 1, 1, 7},  // windows, 32-wide rows
    {64, 16, 16, 64, 3, 1, 1, 1, 1, 1, 7},  // 16-wide rows
    {128, 8, 8, 128, 3, 1, 1, 1, 1, 1, 7},  // 8-wide rows (masked windows)
    {3, 32, 32, 17, 3, 1, 1, 1, 1, 1, 5},   // windows of an odd channel count (a pair with 0)
    {16, 16, 16, 17, 3, 1, 1, 1, 1, 1, 7},  // the same for the input gradient (dout's 17)
    {17, 8, 8, 16, 3, 1, 1, 1, 1, 1, 7},    // masked windows, odd channels
    {16, 16, 16, 40, 2, 1, 0, 0, 1, 1, 7},  // 2x2 (upconv's phases), padded right and bottom
    {32, 32, 32, 32, 3, 2, 0, 0, 1, 1, 3},  // stride 2 (LDM downsample): forward on phase windows,
                                            // input gradient by phases on windows of dout
    {64, 16, 16, 64, 3, 2, 0, 0, 1, 1, 3},  // stride 2 to 8-wide rows (masked phase windows)
    {16, 16, 16, 17, 3, 2, 1, 1, 1, 1, 3},  // both on all-side padding, an odd dout channel count
    {5, 16, 16, 24, 3, 2, 1, 1, 1, 1, 1},   // stride 2 padded on all sides, odd channels
    {3, 64, 64, 16, 3, 2, 0, 0, 1, 1, 1},   // stride 2 to 32-wide rows
    {32, 16, 16, 64, 1, 1, 0, 0, 0, 0, 0},  // 1x1 (its own path)
    {4, 8, 8, 128, 3, 1, 1, 1, 1, 1, 5},    // input gradient with < 16 input channels: explicit
    {3, 12, 12, 20, 3, 1, 1, 1, 1, 1, 0},   // not implicit at all: im2col + sgemm
};

// The three results of a bf16 conv (po, px, pw) against the double conv of the rounded operands
// (ro, rx, rw: computed once per shape), within fp32 summation error: what is a label.
#define CHECK_ROUNDED(po, px, pw, what) do { \
    CHECK_CLOSE(po, ro, no, 1e-5, 2e-6 * K, "forward" what " vs rounded operands"); \
    CHECK_CLOSE(px, rx, nx, 1e-5, 2e-6 * Kx, "input gradient" what " vs rounded operands"); \
    CHECK_CLOSE(pw, rw, nw, 1e-5, 2e-6 * Kw, "weight gradient" what " vs rounded operands"); } while (0)

TEST(conv2d_bf16_matches_rounded_reference_and_fp32_bound) {
    int have = gemm_bf16_ok();
    for (size_t s = 0; s < sizeof conv_shapes / sizeof *conv_shapes; s++) {
        const Shape *h = &conv_shapes[s];
        Conv2d c;
        char err[ERRLEN];
        CHECK(conv2d_init(&c, 2, h->Cin, h->H, h->W, h->Cout, h->k, h->s, h->pt, h->pl, h->pb, h->pr, err) == 0, "%s", err);
        size_t nx = (size_t)c.B * c.Cin * c.H * c.W, nw = (size_t)c.Cout * c.Cin * c.k * c.k;
        size_t no = (size_t)c.B * c.Cout * c.Ho * c.Wo;
        Rng r;
        rng_seed(&r, 11 + s);
        float *x = randv(nx, &r), *w = randv(nw, &r), *d = randv(no, &r);
        float *xr = rounded(x, nx), *wr = rounded(w, nw), *dr = rounded(d, no);
        float *o = malloc(no * 4), *oa = malloc(no * 4), *dx = malloc(nx * 4), *dxa = malloc(nx * 4);
        float *dw = malloc(nw * 4), *dwa = malloc(nw * 4);
        float *go = malloc(no * 4), *gx = calloc(nx, 4), *gw = calloc(nw, 4);
        float *ro = malloc(no * 4), *rx = malloc(nx * 4), *rw = malloc(nw * 4);
        const int K = c.Cin * c.k * c.k, Kx = c.Cout * c.k * c.k, Kw = c.B * c.Ho * c.Wo;
        Workspace ws;
        workspace_init(&ws, conv2d_workspace_min(&c) * 4);
        ws.bf16 = 1;
        long w0, d0, w1, d1, w2, d2;
        conv_pairs_counts(&w0, &d0);
        conv2d_forward(go, x, w, NULL, &c, &ws);
        conv_pairs_counts(&w1, &d1);
        conv2d_backward(gx, gw, NULL, d, x, w, &c, &ws);
        conv_pairs_counts(&w2, &d2);
        if (have) {
            int took = (w1 > w0) + 2 * (w2 > w1) + 4 * (d2 > d1);
            CHECK(took == h->pairs, "shape %zu: pair paths taken: forward %d, input gradient %d, weight gradient %d; "
                  "want %d", s, took & 1, took >> 1 & 1, took >> 2, h->pairs);
        }
        // (1) the product of the rounded operands (only where bf16 runs)
        if (have) {
            ref_conv(&c, xr, wr, dr, ro, oa, rx, dxa, rw, dwa); // oa, dxa, dwa: (2) fills them again
            CHECK_ROUNDED(go, gx, gw, "");
        }
        // (2) the bf16 bound against the exact fp32 conv
        ref_conv(&c, x, w, d, o, oa, dx, dxa, dw, dwa);
        for (size_t i = 0; i < no; i++) oa[i] = oa[i] / 128 + 1e-5f;
        for (size_t i = 0; i < nx; i++) dxa[i] = dxa[i] / 128 + 1e-5f;
        for (size_t i = 0; i < nw; i++) dwa[i] = dwa[i] / 128 + 1e-5f;
        if (have) { // (3) the bf16 packers that skip the fp32 panel change nothing
            float *po = malloc(no * 4), *px = calloc(nx, 4), *pw = calloc(nw, 4);
            gemm_pack16_enable(0);
            conv2d_forward(po, x, w, NULL, &c, &ws);
            conv2d_backward(px, pw, NULL, d, x, w, &c, &ws);
            gemm_pack16_enable(1);
            CHECK(!memcmp(po, go, no * 4) && !memcmp(px, gx, nx * 4) && !memcmp(pw, gw, nw * 4),
                  "shape %zu: pack16 changed the forward %d, dinp %d, dweight %d", s, !!memcmp(po, go, no * 4),
                  !!memcmp(px, gx, nx * 4), !!memcmp(pw, gw, nw * 4));
            // (4) nor do the windows' K slices taken outermost (A not held)
            memset(px, 0, nx * 4);
            memset(pw, 0, nw * 4);
            gemm_windows_hold_enable(0);
            conv2d_forward(po, x, w, NULL, &c, &ws);
            conv2d_backward(px, pw, NULL, d, x, w, &c, &ws);
            gemm_windows_hold_enable(1);
            CHECK(!memcmp(po, go, no * 4) && !memcmp(px, gx, nx * 4) && !memcmp(pw, gw, nw * 4),
                  "shape %zu: slices outermost changed the forward %d, dinp %d, dweight %d", s,
                  !!memcmp(po, go, no * 4), !!memcmp(px, gx, nx * 4), !!memcmp(pw, gw, nw * 4));
            // (5) without the pair paths (the fp32 windows converted per tile, col^T packed for
            // dW): the same products in another pair order, also within (1)'s bound
            if (h->pairs) {
                memset(px, 0, nx * 4);
                memset(pw, 0, nw * 4);
                conv_pairs_enable(0);
                conv2d_forward(po, x, w, NULL, &c, &ws);
                conv2d_backward(px, pw, NULL, d, x, w, &c, &ws);
                conv_pairs_enable(1);
                CHECK_ROUNDED(po, px, pw, " without pairs");
            }
            // (6) the pair windows add a bias as they store the product: the same bits as adding
            // it after (other paths start the sums from the bias)
            if (h->pairs & 1) {
                float *bias = randv((size_t)c.Cout, &r);
                conv2d_forward(po, x, w, bias, &c, &ws);
                size_t P = (size_t)c.Ho * c.Wo, nbad = 0;
                for (size_t i = 0; i < no; i++) nbad += po[i] != go[i] + bias[(i / P) % c.Cout];
                CHECK(nbad == 0, "shape %zu: forward with a bias: %zu values differ from without it plus the bias", s, nbad);
                free(bias);
            }
            // (7) the bias gradient, summed on the bf16 weight gradient's pass where it runs: the
            // fp32 backward's bits (it is an fp32 sum in both), added to what was there
            float *b16 = malloc((size_t)c.Cout * 4), *b32 = malloc((size_t)c.Cout * 4);
            for (int i = 0; i < c.Cout; i++) b16[i] = b32[i] = 0.25f * (float)i;
            conv2d_backward(NULL, pw, b16, d, x, w, &c, &ws);
            ws.bf16 = 0;
            conv2d_backward(NULL, pw, b32, d, x, w, &c, &ws);
            ws.bf16 = 1;
            CHECK(!memcmp(b16, b32, (size_t)c.Cout * 4), "shape %zu: the bf16 backward's bias gradient is not fp32's", s);
            free(b16); free(b32);
            // (8) the smallest workspace the conv allows: the pair paths then take fewer images a
            // chunk or give way to the packed products, and the results stay within (1)'s bound
            {
                Workspace small;
                workspace_init(&small, conv2d_workspace_min(&c));
                small.bf16 = 1;
                memset(px, 0, nx * 4);
                memset(pw, 0, nw * 4);
                conv2d_forward(po, x, w, NULL, &c, &small);
                conv2d_backward(px, pw, NULL, d, x, w, &c, &small);
                workspace_free(&small);
                CHECK_ROUNDED(po, px, pw, " (smallest workspace)");
            }
            free(po); free(px); free(pw);
        }
        double qo = worst_over(go, o, oa, no), qx = worst_over(gx, dx, dxa, nx), qw = worst_over(gw, dw, dwa, nw);
        workspace_free(&ws);
        free(x); free(w); free(d); free(xr); free(wr); free(dr); free(o); free(oa); free(dx); free(dxa);
        free(ro); free(rx); free(rw);
        free(dw); free(dwa); free(go); free(gx); free(gw);
        CHECK(qo <= 1 && qx <= 1 && qw <= 1, "shape %zu: error / (2^-7 sum|ab|): forward %.3g, dinp %.3g, dweight %.3g",
              s, qo, qx, qw);
    }
}

// The windows (forward, input gradient; fp32 and bf16's pair words) split images or tiles among
// the threads but never a sum: the same bits at 1, 2 and 3 threads. 8 images, so that 2 threads
// take their own images (from two a thread) and 1 or 3 share each chunk's tiles.
TEST(conv2d_windows_same_bits_any_threads) {
    static const Shape shapes[] = {{32, 32, 32, 32, 3, 1, 1, 1, 1, 1, 3}, {128, 8, 8, 64, 3, 1, 1, 1, 1, 1, 3},
                                   {64, 16, 16, 32, 3, 1, 1, 1, 1, 1, 3}};
    int nt0 = omp_get_max_threads();
    for (int bf = 0; bf < 2; bf++) {
        if (bf && !gemm_bf16_ok()) { printf("  (no AVX512-BF16 here: fp32 only)\n"); break; }
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes && !test_failed_; s++) {
            const Shape *h = &shapes[s];
            Conv2d c;
            char err[ERRLEN];
            CHECK(conv2d_init(&c, 8, h->Cin, h->H, h->W, h->Cout, h->k, h->s, h->pt, h->pl, h->pb, h->pr, err) == 0,
                  "%s", err);
            size_t nx = (size_t)c.B * c.Cin * c.H * c.W, nw = (size_t)c.Cout * c.Cin * c.k * c.k;
            size_t no = (size_t)c.B * c.Cout * c.Ho * c.Wo;
            Rng r;
            rng_seed(&r, 99 + s);
            float *x = randv(nx, &r), *w = randv(nw, &r), *d = randv(no, &r), *b = randv((size_t)c.Cout, &r);
            float *o[3], *dx[3];
            Workspace ws;
            workspace_init(&ws, (size_t)16 << 20);
            ws.bf16 = bf;
            for (int t = 0; t < 3; t++) {
                o[t] = malloc(no * 4);
                dx[t] = malloc(nx * 4);
                omp_set_num_threads(t + 1);
                conv2d_forward(o[t], x, w, b, &c, &ws);
                conv2d_backward_set(dx[t], NULL, NULL, d, x, w, &c, &ws);
            }
            omp_set_num_threads(nt0);
            for (int t = 1; t < 3; t++)
                CHECK(!memcmp(o[t], o[0], no * 4) && !memcmp(dx[t], dx[0], nx * 4),
                      "%s shape %zu, %d threads: forward %d, input gradient %d differ from 1 thread", bf ? "bf16" : "fp32",
                      s, t + 1, !!memcmp(o[t], o[0], no * 4), !!memcmp(dx[t], dx[0], nx * 4));
            for (int t = 0; t < 3; t++) { free(o[t]); free(dx[t]); }
            workspace_free(&ws);
            free(x); free(w); free(d); free(b);
        }
    }
}

// tests/gen_ops_bf16.py: torch's float64 conv of the operands torch rounded to bfloat16.
TEST(conv2d_bf16_matches_torch_on_rounded_operands) {
    if (!gemm_bf16_ok()) { printf("  (no AVX512-BF16 here)\n"); return; }
    SafeTensors st;
    LOAD_REF(st, "tests/ref/ops_bf16.safetensors");
    static const char *const cases[] = {"win32", "win16", "win8", "down", "k1", "cin4"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char k[64];
        snprintf(k, sizeof k, "%s.cfg", cases[i]);
        REF_TENSOR(cfg, st, k, 10);
        int v[10];
        for (int j = 0; j < 10; j++) v[j] = (int)cfg[j];
        Conv2d c;
        char err[ERRLEN];
        CHECK(conv2d_init(&c, 1, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], err) == 0, "%s", err);
        size_t nx = (size_t)c.Cin * c.H * c.W, nw = (size_t)c.Cout * c.Cin * c.k * c.k, no = (size_t)c.Cout * c.Ho * c.Wo;
        snprintf(k, sizeof k, "%s.x", cases[i]);
        REF_TENSOR(x, st, k, nx);
        snprintf(k, sizeof k, "%s.w", cases[i]);
        REF_TENSOR(w, st, k, nw);
        snprintf(k, sizeof k, "%s.g", cases[i]);
        REF_TENSOR(g, st, k, no);
        snprintf(k, sizeof k, "%s.out", cases[i]);
        REF_TENSOR(want_o, st, k, no);
        snprintf(k, sizeof k, "%s.dx", cases[i]);
        REF_TENSOR(want_dx, st, k, nx);
        snprintf(k, sizeof k, "%s.dw", cases[i]);
        REF_TENSOR(want_dw, st, k, nw);
        Workspace ws;
        workspace_init(&ws, conv2d_workspace_min(&c) * 4);
        ws.bf16 = 1;
        float *o = malloc(no * 4), *dx = calloc(nx, 4), *dw = calloc(nw, 4);
        conv2d_forward(o, x, w, NULL, &c, &ws);
        conv2d_backward(dx, dw, NULL, g, x, w, &c, &ws);
        workspace_free(&ws);
        int K = c.Cin * c.k * c.k, Kx = c.Cout * c.k * c.k, Kw = c.Ho * c.Wo;
        size_t wi;
        double qo = test_close_ratio(o, want_o, no, 1e-5, 2e-6 * K, &wi);
        double qx = test_close_ratio(dx, want_dx, nx, 1e-5, 2e-6 * Kx, NULL);
        double qw = test_close_ratio(dw, want_dw, nw, 1e-5, 2e-6 * Kw, NULL);
        free(o); free(dx); free(dw);
        CHECK(qo <= 1 && qx <= 1 && qw <= 1, "%s: closeness forward %.3g (element %zu), dinp %.3g, dweight %.3g (<= 1 passes)",
              cases[i], qo, wi, qx, qw);
    }
    st_free(&st);
}

TEST(linear_bf16_within_tolerance_and_not_fp32) {
    int N = 256, In = 192, O = 576;
    Rng r;
    rng_seed(&r, 5);
    float *x = randv((size_t)N * In, &r), *w = randv((size_t)O * In, &r), *b = randv(O, &r);
    float *y16 = malloc((size_t)N * O * 4), *y32 = malloc((size_t)N * O * 4);
    linear_forward_prec(y16, x, w, b, N, In, O, 1);
    linear_forward_prec(y32, x, w, b, N, In, O, 0);
    double worst = 0;
    for (size_t i = 0; i < (size_t)N * O; i++) {
        double e = fabs(y16[i] - y32[i]) / (In * 1.0 / 128 + 1e-3); // E|ab| <= 1 for N(0,1) pairs
        if (e > worst) worst = e;
    }
    int differ = memcmp(y16, y32, (size_t)N * O * 4) != 0;
    free(x); free(w); free(b); free(y16); free(y32);
    CHECK(worst <= 1, "linear bf16 off fp32 by %.3g x the bound", worst);
    CHECK(differ == gemm_bf16_ok(), "bf16 %s the fp32 result", differ ? "differs from" : "equals");
}

int main(void) {
    RUN(sgemm_bf16_is_the_product_of_rounded_operands);
    RUN(sgemm_bf16_within_tolerance_of_fp32);
    RUN(sgemm_bf16_falls_back_to_fp32_without_the_extension);
    RUN(sgemm_bf16_pack16_is_bit_exact);
    RUN(conv2d_bf16_matches_rounded_reference_and_fp32_bound);
    RUN(conv2d_windows_same_bits_any_threads);
    RUN(conv2d_bf16_matches_torch_on_rounded_operands);
    RUN(linear_bf16_within_tolerance_and_not_fp32);
    return test_summary();
}
