// test_ops_conv.c: conv2d against PyTorch, against a naive direct convolution, by finite
// differences, and its contracts (accumulating backward, NULL gradients, workspace bounds,
// shape errors).
#include "test.h"
#include "testutil.h"
#include "ops/ops.h"
#include "ops/conv_implicit.h"
#include "ops/gemm.h"

// Direct 7-loop convolution: slow and obviously right, the reference for the im2col path.
static void conv_naive_forward(float *out, const float *inp, const float *w, const float *bias, const Conv2d *c) {
    for (int b = 0; b < c->B; b++)
        for (int co = 0; co < c->Cout; co++)
            for (int oh = 0; oh < c->Ho; oh++)
                for (int ow = 0; ow < c->Wo; ow++) {
                    double s = bias ? bias[co] : 0;
                    for (int ci = 0; ci < c->Cin; ci++)
                        for (int ki = 0; ki < c->k; ki++)
                            for (int kj = 0; kj < c->k; kj++) {
                                int ih = oh * c->stride + ki - c->pad_t, iw = ow * c->stride + kj - c->pad_l;
                                if (ih < 0 || ih >= c->H || iw < 0 || iw >= c->W) continue;
                                s += (double)inp[((size_t)(b * c->Cin + ci) * c->H + ih) * c->W + iw] *
                                     w[((size_t)(co * c->Cin + ci) * c->k + ki) * c->k + kj];
                            }
                    out[((size_t)(b * c->Cout + co) * c->Ho + oh) * c->Wo + ow] = (float)s;
                }
}

// Accumulates in double (sums over every pixel of the batch, 2048 terms at 32x32, would
// otherwise carry more rounding than the op under test), then adds into the float gradients.
static void conv_naive_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                                const float *w, const Conv2d *c) {
    size_t nx = (size_t)c->B * c->Cin * c->H * c->W, nw = (size_t)c->Cout * c->Cin * c->k * c->k;
    double *ax = calloc(nx, sizeof(double)), *aw = calloc(nw, sizeof(double)), *ab = calloc(c->Cout, sizeof(double));
    for (int b = 0; b < c->B; b++)
        for (int co = 0; co < c->Cout; co++)
            for (int oh = 0; oh < c->Ho; oh++)
                for (int ow = 0; ow < c->Wo; ow++) {
                    double d = dout[((size_t)(b * c->Cout + co) * c->Ho + oh) * c->Wo + ow];
                    ab[co] += d;
                    for (int ci = 0; ci < c->Cin; ci++)
                        for (int ki = 0; ki < c->k; ki++)
                            for (int kj = 0; kj < c->k; kj++) {
                                int ih = oh * c->stride + ki - c->pad_t, iw = ow * c->stride + kj - c->pad_l;
                                if (ih < 0 || ih >= c->H || iw < 0 || iw >= c->W) continue;
                                size_t xi = ((size_t)(b * c->Cin + ci) * c->H + ih) * c->W + iw;
                                size_t wi = ((size_t)(co * c->Cin + ci) * c->k + ki) * c->k + kj;
                                ax[xi] += d * w[wi];
                                aw[wi] += d * inp[xi];
                            }
                }
    for (size_t i = 0; i < nx; i++) dinp[i] += (float)ax[i];
    for (size_t i = 0; i < nw; i++) dw[i] += (float)aw[i];
    if (db) for (int i = 0; i < c->Cout; i++) db[i] += (float)ab[i];
    free(ax); free(aw); free(ab);
}

#define CFG_N 12
static const char *CASES[] = {"pad1", "ldm_down", "s2_pad1_cin1", "k1_small", "k1_direct", "k1_img1x1",
                              "k3_img1x1", "k2_s2_patch", "cin1_nobias", "asym_pad", "implicit_w16",
                              "implicit_w8_k2_asym", "implicit_s2_ldm", "windows_w32",
                              "phase_s2_ldm"};

// One reference case with a workspace of `ws_floats` (0 = exactly conv2d_workspace_min).
static void check_case(const SafeTensors *st, const char *name, size_t ws_extra) {
    char err[ERRLEN];
    const StTensor *cfgt = st_find(st, test_key(name, "cfg"));
    CHECK(cfgt && cfgt->numel == CFG_N, "%s: missing cfg", name);
    int v[CFG_N];
    for (int i = 0; i < CFG_N; i++) v[i] = (int)cfgt->data[i];
    Conv2d c;
    CHECK(conv2d_init(&c, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], err) == 0,
          "%s: %s", name, err);
    size_t nx = (size_t)c.B * c.Cin * c.H * c.W, nw = (size_t)c.Cout * c.Cin * c.k * c.k;
    size_t ny = (size_t)c.B * c.Cout * c.Ho * c.Wo;
    REF_TENSOR(x, *st, test_key(name, "x"), nx);
    REF_TENSOR(w, *st, test_key(name, "w"), nw);
    REF_TENSOR(want, *st, test_key(name, "out"), ny);
    REF_TENSOR(g, *st, test_key(name, "g"), ny);
    REF_TENSOR(dx_want, *st, test_key(name, "dx"), nx);
    REF_TENSOR(dw_want, *st, test_key(name, "dw"), nw);
    const float *b = NULL, *db_want = NULL;
    if (v[11]) {
        REF_TENSOR(b_, *st, test_key(name, "b"), c.Cout);
        REF_TENSOR(db_, *st, test_key(name, "db"), c.Cout);
        b = b_; db_want = db_;
    }
    Workspace ws;
    workspace_init(&ws, conv2d_workspace_min(&c) + ws_extra);
    float *y = xcalloc(ny, sizeof(float)), *dx = xcalloc(nx, sizeof(float)), *dw = xcalloc(nw, sizeof(float));
    float *db = xcalloc(c.Cout, sizeof(float));
    conv2d_forward(y, x, w, b, &c, &ws);
    CHECK_CLOSE(y, want, ny, 1e-5, 1e-5, test_key(name, "out"));
    conv2d_backward(dx, dw, b ? db : NULL, g, x, w, &c, &ws);
    CHECK_CLOSE(dx, dx_want, nx, 1e-5, 1e-5, test_key(name, "dx"));
    CHECK_CLOSE(dw, dw_want, nw, 1e-5, 1e-5, test_key(name, "dw"));
    if (b) CHECK_CLOSE(db, db_want, (size_t)c.Cout, 1e-5, 1e-5, test_key(name, "db"));
    free(y); free(dx); free(dw); free(db);
    workspace_free(&ws);
}

TEST(conv_matches_torch_min_workspace) {
    SafeTensors st;
    LOAD_REF(st, "tests/ref/ops_gemm_conv.safetensors");
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) {
        check_case(&st, CASES[i], 0);
        if (test_failed_) return;
    }
    st_free(&st);
}

TEST(conv_matches_torch_large_workspace) {
    SafeTensors st;
    LOAD_REF(st, "tests/ref/ops_gemm_conv.safetensors");
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) {
        check_case(&st, CASES[i], 100000);
        if (test_failed_) return;
    }
    st_free(&st);
}

// Shapes for the naive comparison: chunking with a remainder (B 5 with room for 2 images),
// strides on odd sizes, both 1x1 paths, Cin 1.
static const int NAIVE[][11] = {
    // B, Cin, H, W, Cout, k, s, pt, pl, pb, pr
    {5, 3, 9, 7, 6, 3, 1, 1, 1, 1, 1},
    {5, 4, 9, 9, 3, 3, 2, 0, 0, 1, 1},
    {3, 1, 11, 6, 8, 3, 2, 1, 1, 1, 1},
    {5, 6, 4, 4, 7, 1, 1, 0, 0, 0, 0},
    {3, 5, 16, 20, 4, 1, 1, 0, 0, 0, 0},
    {2, 3, 8, 8, 4, 2, 2, 0, 0, 0, 0},
    {2, 2, 5, 3, 3, 5, 1, 2, 2, 2, 2},
    // From here on the implicit-GEMM path (conv_implicit.c) where the own kernel runs: Wo 8,
    // 16 and 32; k 1, 2 (asymmetric padding, as upconv), 3 and 5; Cin 1 (9-row col); Cout 1;
    // K over one 256 slice (Cin 40); more columns than one 2048-column block (3 x 1024).
    {2, 3, 8, 8, 5, 3, 1, 1, 1, 1, 1},
    {2, 4, 16, 16, 17, 3, 1, 1, 1, 1, 1},
    {3, 2, 32, 32, 4, 3, 1, 1, 1, 1, 1},
    {3, 5, 16, 16, 20, 1, 1, 0, 0, 0, 0},
    {2, 3, 8, 8, 4, 2, 1, 0, 1, 1, 0},
    {2, 3, 16, 16, 6, 5, 1, 2, 2, 2, 2},
    {2, 1, 8, 8, 20, 3, 1, 1, 1, 1, 1},
    {2, 20, 8, 8, 1, 3, 1, 1, 1, 1, 1},
    {1, 40, 8, 8, 30, 3, 1, 1, 1, 1, 1},
    // stride 2: LDM's right/bottom padding at 32 -> 16 and 16 -> 8, and padding on all sides
    {2, 3, 32, 32, 5, 3, 2, 0, 0, 1, 1},
    {2, 4, 16, 16, 6, 3, 2, 0, 0, 1, 1},
    {2, 3, 16, 16, 4, 3, 2, 1, 1, 1, 1},
    {2, 20, 16, 16, 17, 3, 2, 1, 1, 1, 1},
    {2, 16, 32, 32, 8, 3, 2, 0, 0, 1, 1}, // LDM padding, input gradient by phases (Cin >= 16)
    // 32-wide rows: shifted windows of a padded copy (forward; input gradient with Cin >= 16),
    // unpadded 1x1 reading the input in place, k 2 with asymmetric padding
    {2, 16, 32, 32, 8, 3, 1, 1, 1, 1, 1},
    {2, 16, 32, 32, 5, 1, 1, 0, 0, 0, 0},
    {2, 16, 32, 32, 4, 2, 1, 0, 1, 1, 0},
    {1, 17, 32, 64, 15, 3, 1, 1, 1, 1, 1},
    {2, 16, 16, 16, 8, 3, 1, 1, 1, 1, 1}, // 16-wide rows in pairs, both directions
    // the weight gradient of at most three output channels (conv_dweight_small): dec.conv_out,
    // three channels on 16-wide rows, asymmetric padding
    {2, 20, 32, 32, 1, 3, 1, 1, 1, 1, 1},
    {3, 5, 16, 16, 3, 3, 1, 1, 1, 1, 1},
    {2, 4, 16, 32, 2, 3, 1, 0, 1, 2, 1},
};
#define NAIVE_FIRST_IMPLICIT 7

TEST(conv_matches_naive_chunked) {
    uint32_t seed = 7;
    for (size_t t = 0; t < sizeof NAIVE / sizeof *NAIVE; t++) {
        const int *v = NAIVE[t];
        Conv2d c;
        char err[ERRLEN];
        CHECK(conv2d_init(&c, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], err) == 0, "%s", err);
        if (gemm_own()) // the cases meant for the implicit path must take it, or they test nothing new
            CHECK(conv_implicit_ok(&c) == (t >= NAIVE_FIRST_IMPLICIT), "case %zu: implicit path %s", t,
                  conv_implicit_ok(&c) ? "taken" : "not taken");
        size_t nx = (size_t)c.B * c.Cin * c.H * c.W, nw = (size_t)c.Cout * c.Cin * c.k * c.k;
        size_t ny = (size_t)c.B * c.Cout * c.Ho * c.Wo;
        float *x = test_rand_array(nx, &seed), *w = test_rand_array(nw, &seed), *b = test_rand_array(c.Cout, &seed), *g = test_rand_array(ny, &seed);
        float *y = xcalloc(ny, 4), *yr = xcalloc(ny, 4), *dx = xcalloc(nx, 4), *dxr = xcalloc(nx, 4);
        float *dw = xcalloc(nw, 4), *dwr = xcalloc(nw, 4), *db = xcalloc(c.Cout, 4), *dbr = xcalloc(c.Cout, 4);
        Workspace ws;
        workspace_init(&ws, 2 * conv2d_workspace_min(&c) + 3);
        conv2d_forward(y, x, w, b, &c, &ws);
        conv_naive_forward(yr, x, w, b, &c);
        CHECK_CLOSE(y, yr, ny, 1e-5, 1e-5, "forward vs naive");
        conv2d_backward(dx, dw, db, g, x, w, &c, &ws);
        conv_naive_backward(dxr, dwr, dbr, g, x, w, &c);
        CHECK_CLOSE(dx, dxr, nx, 1e-4, 1e-5, "dinp vs naive");
        // dW and db sum over every output pixel of the batch: float32 rounding of a sum of n
        // unit-size terms grows like sqrt(n), so the absolute floor does too (1e-5 up to 64).
        double n_sum = (double)c.B * c.Ho * c.Wo, atol_sum = 1e-5 * (n_sum > 64 ? sqrt(n_sum / 64) : 1.0);
        CHECK_CLOSE(dw, dwr, nw, 1e-4, atol_sum, "dweight vs naive");
        CHECK_CLOSE(db, dbr, (size_t)c.Cout, 1e-4, atol_sum, "dbias vs naive");
        // conv2d_backward_set: the same input gradient over whatever dinp held (NaN here), the
        // weight and bias gradients still added to.
        float *dxs = xmalloc(nx * 4), *dws = xcalloc(nw, 4), *dbs = xcalloc(c.Cout, 4);
        for (size_t i = 0; i < nx; i++) dxs[i] = NAN;
        conv2d_backward_set(dxs, dws, dbs, g, x, w, &c, &ws);
        CHECK_SAME_VALUES(dxs, dx, nx, "conv2d_backward_set dinp");
        CHECK_SAME_VALUES(dws, dw, nw, "conv2d_backward_set dweight");
        CHECK_SAME_VALUES(dbs, db, c.Cout, "conv2d_backward_set dbias");
        free(dxs); free(dws); free(dbs);
        // gemm_windows with K slices outermost (its path for an A too large to hold): same bits
        float *y2 = xcalloc(ny, 4), *dx2 = xcalloc(nx, 4), *dw2 = xcalloc(nw, 4);
        gemm_windows_hold_enable(0);
        conv2d_forward(y2, x, w, b, &c, &ws);
        conv2d_backward(dx2, dw2, NULL, g, x, w, &c, &ws);
        gemm_windows_hold_enable(1);
        CHECK(!memcmp(y2, y, ny * 4) && !memcmp(dx2, dx, nx * 4) && !memcmp(dw2, dw, nw * 4),
              "case %zu: slices outermost changed the forward %d, dinp %d, dweight %d", t, !!memcmp(y2, y, ny * 4),
              !!memcmp(dx2, dx, nx * 4), !!memcmp(dw2, dw, nw * 4));
        free(y2); free(dx2); free(dw2);
        free(x); free(w); free(b); free(g); free(y); free(yr); free(dx); free(dxr);
        free(dw); free(dwr); free(db); free(dbr);
        workspace_free(&ws);
    }
}

// The same cases with every product on OpenBLAS (REPAE_GEMM=openblas, or a CPU without
// AVX-512): the explicit im2col/col2im path for every shape.
TEST(conv_matches_naive_on_openblas) {
    sgemm_force(0);
    CHECK(!gemm_own(), "forcing OpenBLAS left the own kernel on");
    conv_matches_naive_chunked();
    sgemm_force(-1);
}

TEST(conv_backward_accumulates_and_skips_null) {
    uint32_t seed = 11;
    for (int direct = 0; direct < 2; direct++) {
        Conv2d c;
        char err[ERRLEN];
        int rc = direct ? conv2d_init(&c, 2, 3, 16, 16, 5, 1, 1, 0, 0, 0, 0, err)
                        : conv2d_init(&c, 3, 3, 6, 5, 4, 3, 2, 0, 0, 1, 1, err);
        CHECK(rc == 0, "%s", err);
        size_t nx = (size_t)c.B * c.Cin * c.H * c.W, nw = (size_t)c.Cout * c.Cin * c.k * c.k;
        size_t ny = (size_t)c.B * c.Cout * c.Ho * c.Wo;
        float *x = test_rand_array(nx, &seed), *w = test_rand_array(nw, &seed), *g = test_rand_array(ny, &seed);
        float *dx1 = xcalloc(nx, 4), *dw1 = xcalloc(nw, 4), *db1 = xcalloc(c.Cout, 4);
        float *dx2 = xcalloc(nx, 4), *dw2 = xcalloc(nw, 4), *db2 = xcalloc(c.Cout, 4);
        Workspace ws;
        workspace_init(&ws, conv2d_workspace_min(&c));
        conv2d_backward(dx1, dw1, db1, g, x, w, &c, &ws);
        conv2d_backward(dx2, dw2, db2, g, x, w, &c, &ws);
        conv2d_backward(dx2, dw2, db2, g, x, w, &c, &ws);
        for (size_t i = 0; i < nx; i++) dx1[i] *= 2;
        for (size_t i = 0; i < nw; i++) dw1[i] *= 2;
        for (int i = 0; i < c.Cout; i++) db1[i] *= 2;
        CHECK_CLOSE(dx2, dx1, nx, 1e-6, 1e-6, "dinp after two calls");
        CHECK_CLOSE(dw2, dw1, nw, 1e-6, 1e-6, "dweight after two calls");
        CHECK_CLOSE(db2, db1, (size_t)c.Cout, 1e-6, 1e-6, "dbias after two calls");
        // Each gradient alone equals its share of the full call (= half of the doubled value).
        float *dxo = xcalloc(nx, 4), *dwo = xcalloc(nw, 4), *dbo = xcalloc(c.Cout, 4);
        conv2d_backward(dxo, NULL, NULL, g, x, w, &c, &ws);
        conv2d_backward(NULL, dwo, NULL, g, x, w, &c, &ws);
        conv2d_backward(NULL, NULL, dbo, g, x, w, &c, &ws);
        conv2d_backward(NULL, NULL, NULL, g, x, w, &c, &ws);
        for (size_t i = 0; i < nx; i++) dxo[i] *= 2;
        for (size_t i = 0; i < nw; i++) dwo[i] *= 2;
        for (int i = 0; i < c.Cout; i++) dbo[i] *= 2;
        CHECK_CLOSE(dxo, dx1, nx, 1e-6, 1e-6, "dinp alone");
        CHECK_CLOSE(dwo, dw1, nw, 1e-6, 1e-6, "dweight alone");
        CHECK_CLOSE(dbo, db1, (size_t)c.Cout, 1e-6, 1e-6, "dbias alone");
        free(x); free(w); free(g); free(dx1); free(dw1); free(db1); free(dx2); free(dw2); free(db2);
        free(dxo); free(dwo); free(dbo);
        workspace_free(&ws);
    }
}

TEST(conv_min_workspace_equals_large) {
    uint32_t seed = 3;
    Conv2d c;
    char err[ERRLEN];
    CHECK(conv2d_init(&c, 7, 4, 9, 8, 5, 3, 1, 1, 1, 1, 1, err) == 0, "%s", err);
    size_t nx = (size_t)c.B * c.Cin * c.H * c.W, nw = (size_t)c.Cout * c.Cin * 9, ny = (size_t)c.B * c.Cout * c.Ho * c.Wo;
    float *x = test_rand_array(nx, &seed), *w = test_rand_array(nw, &seed), *b = test_rand_array(c.Cout, &seed), *g = test_rand_array(ny, &seed);
    float *y1 = xcalloc(ny, 4), *y2 = xcalloc(ny, 4), *dx1 = xcalloc(nx, 4), *dx2 = xcalloc(nx, 4);
    float *dw1 = xcalloc(nw, 4), *dw2 = xcalloc(nw, 4);
    Workspace small, large;
    workspace_init(&small, conv2d_workspace_min(&c));
    workspace_init(&large, 10 * c.B * conv2d_workspace_min(&c));
    conv2d_forward(y1, x, w, b, &c, &small);
    conv2d_forward(y2, x, w, b, &c, &large);
    CHECK_CLOSE(y1, y2, ny, 1e-6, 1e-6, "forward");
    conv2d_backward(dx1, dw1, NULL, g, x, w, &c, &small);
    conv2d_backward(dx2, dw2, NULL, g, x, w, &c, &large);
    CHECK_CLOSE(dx1, dx2, nx, 1e-6, 1e-6, "dinp");
    CHECK_CLOSE(dw1, dw2, nw, 1e-5, 1e-5, "dweight"); // summed over chunks in another order
    free(x); free(w); free(b); free(g); free(y1); free(y2); free(dx1); free(dx2); free(dw1); free(dw2);
    workspace_free(&small);
    workspace_free(&large);
}

typedef struct { Conv2d c; float *x, *w, *b, *probe, *y; Workspace *ws; } ConvCtx;

static double conv_loss(void *p) {
    ConvCtx *k = p;
    conv2d_forward(k->y, k->x, k->w, k->b, &k->c, k->ws);
    return test_dot(k->y, k->probe, (size_t)k->c.B * k->c.Cout * k->c.Ho * k->c.Wo);
}

// A conv of shape v (conv2d_init's arguments) with random x, w, b and probe, its workspace ws.
static int conv_ctx_init(ConvCtx *k, const int v[11], Workspace *ws, uint32_t *seed) {
    char err[ERRLEN];
    if (conv2d_init(&k->c, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], err)) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    size_t nx = (size_t)k->c.B * k->c.Cin * k->c.H * k->c.W, nw = (size_t)k->c.Cout * k->c.Cin * k->c.k * k->c.k;
    size_t ny = (size_t)k->c.B * k->c.Cout * k->c.Ho * k->c.Wo;
    k->ws = ws;
    k->x = test_rand_array(nx, seed); k->w = test_rand_array(nw, seed); k->b = test_rand_array(k->c.Cout, seed);
    k->probe = test_rand_array(ny, seed); k->y = xmalloc(ny * 4);
    return 0;
}

static void conv_ctx_free(ConvCtx *k) { free(k->x); free(k->w); free(k->b); free(k->probe); free(k->y); }

// Central differences with h 1e-2: the loss is linear in each argument, so the only error is
// float32 rounding of a loss of size ~10, about 1e-4 after dividing by 2h; atol 2e-3, rtol 1e-3.
TEST(conv_finite_differences) {
    uint32_t seed = 5;
    // The first two take the explicit im2col path; the others the own kernel's paths: implicit
    // (8-wide rows, input gradient with Cin 16), shifted windows (32-wide rows), stride 2 by phases.
    const int shapes[][11] = {{2, 3, 5, 7, 4, 3, 2, 0, 0, 1, 1}, {2, 3, 4, 4, 2, 1, 1, 0, 0, 0, 0},
                              {1, 16, 8, 8, 3, 3, 1, 1, 1, 1, 1}, {1, 16, 32, 32, 2, 3, 1, 1, 1, 1, 1},
                              {1, 16, 16, 16, 2, 3, 2, 0, 0, 1, 1}};
    for (int s = 0; s < 5; s++) {
        ConvCtx k;
        Workspace ws = {0};
        CHECK(conv_ctx_init(&k, shapes[s], &ws, &seed) == 0, "shape %d", s);
        workspace_init(&ws, conv2d_workspace_min(&k.c));
        size_t nx = (size_t)k.c.B * k.c.Cin * k.c.H * k.c.W, nw = (size_t)k.c.Cout * k.c.Cin * k.c.k * k.c.k;
        float *dx = xcalloc(nx, 4), *dw = xcalloc(nw, 4), *db = xcalloc(k.c.Cout, 4);
        conv2d_backward(dx, dw, db, k.probe, k.x, k.w, &k.c, &ws);
        CHECK_GRAD(k.x, dx, nx, conv_loss, &k, 1e-2f, 1e-3, 2e-3, "dinp");
        CHECK_GRAD(k.w, dw, nw, conv_loss, &k, 1e-2f, 1e-3, 2e-3, "dweight");
        CHECK_GRAD(k.b, db, (size_t)k.c.Cout, conv_loss, &k, 1e-2f, 1e-3, 2e-3, "dbias");
        conv_ctx_free(&k);
        free(dx); free(dw); free(db);
        workspace_free(&ws);
    }
}

// The fp32 weight gradient taken transposed (conv_dweight_t: tiles of taps x 32 output channels,
// pixels broadcast from a padded copy) on the shapes it takes: the model's 32@32, two channel
// tiles with the second partial, k 2 with asymmetric padding, 8x8 with an odd image split. It
// must be taken (or this tests the other path), agree with the packed product it replaces
// (conv_pairs_enable(0)) and the naive sum, give the bias gradient the same bits, repeat its
// own bits, and pass a finite-difference check.
TEST(conv_dweight_transposed_fp32) {
    if (!gemm_own()) { CHECK(1, "no own kernel here"); return; }
    uint32_t seed = 13;
    const int shapes[][11] = {{2, 32, 32, 32, 32, 3, 1, 1, 1, 1, 1}, {2, 8, 16, 16, 40, 3, 1, 1, 1, 1, 1},
                              {2, 6, 16, 16, 20, 2, 1, 0, 1, 1, 0}, {3, 5, 8, 8, 33, 3, 1, 1, 1, 1, 1}};
    for (int s = 0; s < 4; s++) {
        ConvCtx k;
        Workspace ws = {0};
        CHECK(conv_ctx_init(&k, shapes[s], &ws, &seed) == 0, "shape %d", s);
        workspace_init(&ws, (size_t)1 << 22);
        size_t nx = (size_t)k.c.B * k.c.Cin * k.c.H * k.c.W, nw = (size_t)k.c.Cout * k.c.Cin * k.c.k * k.c.k;
        float *dw = xcalloc(nw, 4), *dw2 = xcalloc(nw, 4), *dwp = xcalloc(nw, 4), *dwr = xcalloc(nw, 4);
        float *db = xcalloc(k.c.Cout, 4), *db2 = xcalloc(k.c.Cout, 4), *dbp = xcalloc(k.c.Cout, 4);
        float *dbr = xcalloc(k.c.Cout, 4), *dxr = xcalloc(nx, 4);
        long w_, n0, n1, n2;
        conv_pairs_counts(&w_, &n0);
        conv2d_backward(NULL, dw, db, k.probe, k.x, k.w, &k.c, &ws);
        conv_pairs_counts(&w_, &n1);
        conv2d_backward(NULL, dw2, db2, k.probe, k.x, k.w, &k.c, &ws);
        conv_pairs_enable(0);
        conv2d_backward(NULL, dwp, dbp, k.probe, k.x, k.w, &k.c, &ws);
        conv_pairs_enable(1);
        conv_pairs_counts(&w_, &n2);
        CHECK(n1 == n0 + 1 && n2 == n1 + 1, "shape %d: transposed path taken %ld times of 2 (off: %ld)", s,
              n1 - n0 + (n2 > n1 ? 1 : 0), n2 - n1 - 1);
        CHECK_SAME_VALUES(dw2, dw, nw, "dweight, twice");
        CHECK_SAME_VALUES(dbp, db, (size_t)k.c.Cout, "dbias against the packed path");
        double n_sum = (double)k.c.B * k.c.Ho * k.c.Wo, atol_sum = 1e-5 * (n_sum > 64 ? sqrt(n_sum / 64) : 1.0);
        CHECK_CLOSE(dw, dwp, nw, 1e-5, atol_sum, "dweight against the packed path");
        conv_naive_backward(dxr, dwr, dbr, k.probe, k.x, k.w, &k.c);
        CHECK_CLOSE(dw, dwr, nw, 1e-4, atol_sum, "dweight vs naive");
        if (s == 3) CHECK_GRAD(k.w, dw, nw, conv_loss, &k, 1e-2f, 1e-3, 2e-3, "dweight");
        conv_ctx_free(&k);
        free(dw); free(dw2); free(dwp); free(dwr); free(db); free(db2); free(dbp); free(dbr); free(dxr);
        workspace_free(&ws);
    }
}

TEST(conv_init_rejects_impossible_shapes) {
    Conv2d c;
    char err[ERRLEN];
    CHECK(conv2d_init(&c, 0, 3, 8, 8, 4, 3, 1, 1, 1, 1, 1, err) < 0 && strstr(err, "positive"), "B 0: %s", err);
    CHECK(conv2d_init(&c, 1, -1, 8, 8, 4, 3, 1, 1, 1, 1, 1, err) < 0 && strstr(err, "positive"), "Cin -1: %s", err);
    CHECK(conv2d_init(&c, 1, 3, 8, 8, 0, 3, 1, 1, 1, 1, 1, err) < 0 && strstr(err, "Cout 0"), "Cout 0: %s", err);
    CHECK(conv2d_init(&c, 1, 3, 8, 8, 4, 0, 1, 0, 0, 0, 0, err) < 0 && strstr(err, "kernel"), "k 0: %s", err);
    CHECK(conv2d_init(&c, 1, 3, 8, 8, 4, 3, 0, 1, 1, 1, 1, err) < 0 && strstr(err, "stride"), "stride 0: %s", err);
    CHECK(conv2d_init(&c, 1, 3, 8, 8, 4, 3, 1, -1, 1, 1, 1, err) < 0 && strstr(err, "padding"), "pad -1: %s", err);
    CHECK(conv2d_init(&c, 1, 3, 2, 8, 4, 3, 1, 0, 0, 0, 0, err) < 0 && strstr(err, "larger than the padded"),
          "3x3 on 2 rows: %s", err);
    CHECK(conv2d_init(&c, 1, 3, 1, 1, 4, 3, 2, 0, 0, 1, 1, err) < 0, "3x3 on 1x1 padded to 2x2: accepted");
    // A valid stride-2 shape on odd sizes: (7 + 1 - 3) / 2 + 1 = 3.
    CHECK(conv2d_init(&c, 1, 3, 7, 7, 4, 3, 2, 0, 0, 1, 1, err) == 0 && c.Ho == 3 && c.Wo == 3, "ldm 7x7: %s", err);
    CHECK(conv2d_init(&c, 1, 3, 1, 1, 4, 3, 1, 1, 1, 1, 1, err) == 0 && c.Ho == 1 && c.Wo == 1, "1x1 pad1: %s", err);
}

int main(void) {
    RUN(conv_matches_torch_min_workspace);
    RUN(conv_matches_torch_large_workspace);
    RUN(conv_matches_naive_chunked);
    RUN(conv_matches_naive_on_openblas);
    RUN(conv_backward_accumulates_and_skips_null);
    RUN(conv_min_workspace_equals_large);
    RUN(conv_finite_differences);
    RUN(conv_dweight_transposed_fp32);
    RUN(conv_init_rejects_impossible_shapes);
    return test_summary();
}
