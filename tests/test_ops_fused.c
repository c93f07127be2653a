// test_ops_fused.c: groupnorm_silu and upconv forward/backward against PyTorch
// (tests/gen_ops_fused.py), against the unfused ops run in sequence, finite-difference gradient
// checks, and the backward-accumulates and NULL-gradient contracts.
#include "test.h"
#include "testutil.h"
#include "ops/ops.h"

#define REF "tests/ref/ops_fused_groupnorm_silu.safetensors"
#define RTOL 1e-5
#define ATOL 1e-5
#define MAXN 2400
#define MAXC 8
#define MAXBG 16

// One input sequence through the whole file (test_fill), as the tests were tuned with.
static uint64_t lcg_state = 88172645463325252ULL;

static void check_torch(const char *name, int B, int C, int HW, int G) {
    SafeTensors st;
    LOAD_REF(st, REF);
    size_t n = (size_t)B * C * HW;
    CHECK(n <= MAXN && C <= MAXC && B * G <= MAXBG, "test buffers too small for %s", name);
    REF_TENSOR(x, st, test_key(name, "x"), n);
    REF_TENSOR(w, st, test_key(name, "w"), C);
    REF_TENSOR(b, st, test_key(name, "b"), C);
    REF_TENSOR(y_ref, st, test_key(name, "y"), n);
    REF_TENSOR(dy, st, test_key(name, "dy"), n);
    REF_TENSOR(dx_ref, st, test_key(name, "dx"), n);
    REF_TENSOR(dw_ref, st, test_key(name, "dw"), C);
    REF_TENSOR(db_ref, st, test_key(name, "db"), C);
    static float y[MAXN], dx[MAXN], dx2[MAXN], dx_only[MAXN];
    float mean[MAXBG], rstd[MAXBG], dw[MAXC] = {0}, db[MAXC] = {0}, dw2[MAXC], db2[MAXC];
    float dw_only[MAXC] = {0}, db_only[MAXC] = {0};
    memset(dx, 0, sizeof dx);
    memset(dx_only, 0, sizeof dx_only);
    groupnorm_silu_forward(y, mean, rstd, x, w, b, B, C, HW, G, 1e-6f);
    groupnorm_silu_backward(dx, dw, db, dy, x, mean, rstd, w, b, B, C, HW, G);
    CHECK_CLOSE(y, y_ref, n, RTOL, ATOL, "groupnorm_silu out");
    CHECK_CLOSE(dx, dx_ref, n, RTOL, ATOL, "groupnorm_silu dx");
    CHECK_CLOSE(dw, dw_ref, C, RTOL, ATOL, "groupnorm_silu dweight");
    CHECK_CLOSE(db, db_ref, C, RTOL, ATOL, "groupnorm_silu dbias");
    // The VAE recomputes the output in backward from the cached statistics: the same bits.
    static float y_again[MAXN];
    for (size_t i = 0; i < n; i++) y_again[i] = NAN;
    groupnorm_silu_apply(y_again, mean, rstd, x, w, b, B, C, HW, G);
    CHECK(memcmp(y_again, y, n * sizeof *y) == 0, "groupnorm_silu_apply differs from the forward's output");
    // The _set variant: the same dx over what the buffer held, dweight/dbias still added to.
    static float dx_set[MAXN];
    float dw_set[MAXC] = {0}, db_set[MAXC] = {0};
    for (size_t i = 0; i < n; i++) dx_set[i] = NAN;
    groupnorm_silu_backward_set(dx_set, dw_set, db_set, dy, x, mean, rstd, w, b, B, C, HW, G);
    CHECK_SAME_VALUES(dx_set, dx, n, "groupnorm_silu_backward_set dx");
    CHECK_SAME_VALUES(dw_set, dw, C, "groupnorm_silu_backward_set dweight");
    CHECK_SAME_VALUES(db_set, db, C, "groupnorm_silu_backward_set dbias");
    groupnorm_silu_backward(NULL, NULL, NULL, dy, x, mean, rstd, w, b, B, C, HW, G); // all skipped
    groupnorm_silu_backward(dx_only, NULL, NULL, dy, x, mean, rstd, w, b, B, C, HW, G);
    CHECK(memcmp(dx_only, dx, n * sizeof *dx) == 0, "dx differs when dweight/dbias are NULL");
    // Without dinp the weight gradients take the separate per-channel pass.
    groupnorm_silu_backward(NULL, dw_only, db_only, dy, x, mean, rstd, w, b, B, C, HW, G);
    CHECK_CLOSE(dw_only, dw, C, 1e-6, 1e-7, "dweight from the pass without dinp");
    CHECK_CLOSE(db_only, db, C, 1e-6, 1e-7, "dbias from the pass without dinp");
    for (size_t i = 0; i < n; i++) dx2[i] = 2 * dx[i];
    for (int i = 0; i < C; i++) { dw2[i] = 2 * dw[i]; db2[i] = 2 * db[i]; }
    groupnorm_silu_backward(dx, dw, db, dy, x, mean, rstd, w, b, B, C, HW, G);
    CHECK_CLOSE(dx, dx2, n, 1e-6, 1e-12, "dx accumulates");
    CHECK_CLOSE(dw, dw2, C, 1e-6, 1e-12, "dweight accumulates");
    CHECK_CLOSE(db, db2, C, 1e-6, 1e-12, "dbias accumulates");
    st_free(&st);
}

TEST(groupnorm_silu_matches_torch) { check_torch("gns", 2, 6, 9, 3); }
TEST(groupnorm_silu_channels_equal_groups_batch1) { check_torch("gns_cg", 1, 4, 6, 4); }
TEST(groupnorm_silu_one_group) { check_torch("gns_g1", 3, 5, 4, 1); }
TEST(groupnorm_silu_1x1_image) { check_torch("gns_hw1", 2, 4, 1, 2); }
TEST(groupnorm_silu_planes_longer_than_a_tile) { check_torch("gns_tile", 2, 4, 300, 2); }

// The fused op replaces groupnorm + silu in the VAE: it must give what the two ops give, on a
// size that runs the parallel paths (>= 16384 elements).
TEST(groupnorm_silu_equals_the_two_ops) {
    enum { B = 4, C = 16, HW = 400, G = 4, n = B * C * HW };
    static float x[n], y1[n], y2[n], nrm[n], dy[n], dn[n], dx1[n], dx2[n];
    float w[C], b[C], m1[B * G], r1[B * G], m2[B * G], r2[B * G];
    float dw1[C] = {0}, db1[C] = {0}, dw2[C] = {0}, db2[C] = {0};
    test_fill(x, n, &lcg_state, 3, 1); test_fill(w, C, &lcg_state, 2, 0.5f);
    test_fill(b, C, &lcg_state, 1, 0); test_fill(dy, n, &lcg_state, 1, 0);
    groupnorm_forward(nrm, m1, r1, x, w, b, B, C, HW, G, 1e-6f);
    silu_forward(y1, nrm, n);
    memset(dn, 0, sizeof dn); memset(dx1, 0, sizeof dx1); memset(dx2, 0, sizeof dx2);
    silu_backward(dn, dy, nrm, n);
    groupnorm_backward(dx1, dw1, db1, dn, x, m1, r1, w, B, C, HW, G);
    groupnorm_silu_forward(y2, m2, r2, x, w, b, B, C, HW, G, 1e-6f);
    groupnorm_silu_backward(dx2, dw2, db2, dy, x, m2, r2, w, b, B, C, HW, G);
    CHECK(memcmp(m1, m2, sizeof m1) == 0 && memcmp(r1, r2, sizeof r1) == 0, "statistics differ");
    CHECK_CLOSE(y2, y1, n, 1e-6, 1e-7, "out vs groupnorm + silu");
    CHECK_CLOSE(dx2, dx1, n, 1e-5, 1e-6, "dx vs groupnorm + silu");
    CHECK_CLOSE(dw2, dw1, C, 1e-5, 1e-6, "dweight vs groupnorm + silu");
    CHECK_CLOSE(db2, db1, C, 1e-5, 1e-6, "dbias vs groupnorm + silu");
}

// Groups of more than 8192 values (norm.c's GN_CACHE) recompute dn tile by tile instead of
// keeping it between the backward's two passes: that path against the two ops too, with a
// plane that is not a multiple of the tile (4200 = 16 x 256 + 104).
TEST(groupnorm_silu_groups_larger_than_the_dn_cache) {
    enum { B = 2, C = 4, HW = 4200, G = 2, n = B * C * HW };
    static float x[n], y1[n], y2[n], nrm[n], dy[n], dn[n], dx1[n], dx2[n];
    float w[C], b[C], m1[B * G], r1[B * G], m2[B * G], r2[B * G];
    float dw1[C] = {0}, db1[C] = {0}, dw2[C] = {0}, db2[C] = {0};
    test_fill(x, n, &lcg_state, 3, 1); test_fill(w, C, &lcg_state, 2, 0.5f);
    test_fill(b, C, &lcg_state, 1, 0); test_fill(dy, n, &lcg_state, 1, 0);
    groupnorm_forward(nrm, m1, r1, x, w, b, B, C, HW, G, 1e-6f);
    silu_forward(y1, nrm, n);
    memset(dn, 0, sizeof dn); memset(dx1, 0, sizeof dx1); memset(dx2, 0, sizeof dx2);
    silu_backward(dn, dy, nrm, n);
    groupnorm_backward(dx1, dw1, db1, dn, x, m1, r1, w, B, C, HW, G);
    groupnorm_silu_forward(y2, m2, r2, x, w, b, B, C, HW, G, 1e-6f);
    groupnorm_silu_backward(dx2, dw2, db2, dy, x, m2, r2, w, b, B, C, HW, G);
    CHECK_CLOSE(y2, y1, n, 1e-6, 1e-7, "out vs groupnorm + silu");
    CHECK_CLOSE(dx2, dx1, n, 1e-5, 1e-6, "dx vs groupnorm + silu");
    CHECK_CLOSE(dw2, dw1, C, 1e-5, 1e-6, "dweight vs groupnorm + silu");
    CHECK_CLOSE(db2, db1, C, 1e-5, 1e-6, "dbias vs groupnorm + silu");
}

// A NaN input spreads to its group as in PyTorch rather than being clamped into a number.
TEST(groupnorm_silu_nan_propagates) {
    float x[8] = {1, 2, 3, NAN, 5, 6, 7, 8}, y[8], mean[2], rstd[2], w[2] = {1, 1}, b[2] = {0, 0};
    groupnorm_silu_forward(y, mean, rstd, x, w, b, 1, 2, 4, 2, 1e-6f);
    CHECK(isnan(y[0]) && isnan(y[3]), "NaN in group 0 gave y[0] %g y[3] %g", y[0], y[3]);
    for (int i = 4; i < 8; i++) CHECK(isfinite(y[i]), "group 1 y[%d] = %g, want finite", i, y[i]);
}

// ---- finite differences (as tests/test_ops_norm.c) ----------------------------------------------
#define FD_H 1e-2f
#define FD_RTOL 1e-2
#define FD_ATOL 2e-3

typedef struct {
    float *x, *w, *b, *y, *mean, *rstd, *probe;
    int B, C, HW, G;
} Ctx;

static double loss(void *p) {
    Ctx *c = p;
    groupnorm_silu_forward(c->y, c->mean, c->rstd, c->x, c->w, c->b, c->B, c->C, c->HW, c->G, 1e-6f);
    return test_dot(c->y, c->probe, (size_t)c->B * c->C * c->HW);
}

TEST(groupnorm_silu_gradcheck) {
    enum { B = 2, C = 6, HW = 5, G = 3, n = B * C * HW };
    float x[n], w[C], b[C], y[n], mean[B * G], rstd[B * G], probe[n];
    float dx[n] = {0}, dw[C] = {0}, db[C] = {0};
    test_fill(x, n, &lcg_state, 2, 0.5f); test_fill(w, C, &lcg_state, 2, 0.5f);
    test_fill(b, C, &lcg_state, 1, 0); test_fill(probe, n, &lcg_state, 1, 0);
    Ctx c = {.x = x, .w = w, .b = b, .y = y, .mean = mean, .rstd = rstd, .probe = probe,
             .B = B, .C = C, .HW = HW, .G = G};
    loss(&c);
    groupnorm_silu_backward(dx, dw, db, probe, x, mean, rstd, w, b, B, C, HW, G);
    CHECK_GRAD(x, dx, n, loss, &c, FD_H, FD_RTOL, FD_ATOL, "groupnorm_silu dx");
    CHECK_GRAD(w, dw, C, loss, &c, FD_H, FD_RTOL, FD_ATOL, "groupnorm_silu dweight");
    CHECK_GRAD(b, db, C, loss, &c, FD_H, FD_RTOL, FD_ATOL, "groupnorm_silu dbias");
}

// ---- upsample2x + 3x3 conv ------------------------------------------------------------------
#define REF_UP "tests/ref/ops_fused_upconv.safetensors"
#define UPMAX 1200

static void check_upconv_torch(const char *name, int B, int Cin, int H, int W, int Cout) {
    SafeTensors st;
    LOAD_REF(st, REF_UP);
    size_t nx = (size_t)B * Cin * H * W, ny = (size_t)B * Cout * 4 * H * W, nw = (size_t)Cout * Cin * 9;
    CHECK(ny <= UPMAX && nx <= UPMAX && nw <= 200, "test buffers too small for %s", name);
    REF_TENSOR(x, st, test_key(name, "x"), nx);
    REF_TENSOR(w, st, test_key(name, "w"), nw);
    REF_TENSOR(b, st, test_key(name, "b"), Cout);
    REF_TENSOR(y_ref, st, test_key(name, "y"), ny);
    REF_TENSOR(dy, st, test_key(name, "dy"), ny);
    REF_TENSOR(dx_ref, st, test_key(name, "dx"), nx);
    REF_TENSOR(dw_ref, st, test_key(name, "dw"), nw);
    REF_TENSOR(db_ref, st, test_key(name, "db"), Cout);
    static float y[UPMAX], dx[UPMAX], dx2[UPMAX];
    float dw[200] = {0}, db[8] = {0}, dw2[200], db2[8];
    memset(dx, 0, sizeof dx);
    Workspace ws;
    workspace_init(&ws, upconv_workspace_floats(B, Cin, H, W, Cout));
    upconv_forward(y, x, w, b, B, Cin, H, W, Cout, &ws);
    upconv_backward(dx, dw, db, dy, x, w, B, Cin, H, W, Cout, &ws);
    CHECK_CLOSE(y, y_ref, ny, RTOL, ATOL, "upconv out");
    CHECK_CLOSE(dx, dx_ref, nx, RTOL, ATOL, "upconv dx");
    CHECK_CLOSE(dw, dw_ref, nw, RTOL, ATOL, "upconv dweight");
    CHECK_CLOSE(db, db_ref, Cout, RTOL, ATOL, "upconv dbias");
    { // the _set variant: the same dx over what the buffer held, dweight/dbias still added to
        static float dxs[UPMAX];
        float dws[200] = {0}, dbs[8] = {0};
        for (size_t i = 0; i < nx; i++) dxs[i] = NAN;
        upconv_backward_set(dxs, dws, dbs, dy, x, w, B, Cin, H, W, Cout, &ws);
        CHECK_SAME_VALUES(dxs, dx, nx, "upconv_backward_set dx");
        CHECK_SAME_VALUES(dws, dw, nw, "upconv_backward_set dweight");
        CHECK_SAME_VALUES(dbs, db, Cout, "upconv_backward_set dbias");
    }
    for (size_t i = 0; i < nx; i++) dx2[i] = 2 * dx[i];
    for (size_t i = 0; i < nw; i++) dw2[i] = 2 * dw[i];
    for (int i = 0; i < Cout; i++) db2[i] = 2 * db[i];
    upconv_backward(NULL, NULL, NULL, dy, x, w, B, Cin, H, W, Cout, &ws); // all skipped
    // Four phase contributions are added into each gradient, so a second pass rounds
    // differently from doubling: close, not exact.
    upconv_backward(dx, dw, db, dy, x, w, B, Cin, H, W, Cout, &ws);
    CHECK_CLOSE(dx, dx2, nx, 1e-5, 1e-6, "upconv dx accumulates");
    CHECK_CLOSE(dw, dw2, nw, 1e-5, 1e-6, "upconv dweight accumulates");
    CHECK_CLOSE(db, db2, Cout, 1e-5, 1e-6, "upconv dbias accumulates");
    float dx_only[UPMAX] = {0};
    upconv_backward(dx_only, NULL, NULL, dy, x, w, B, Cin, H, W, Cout, &ws);
    for (size_t i = 0; i < nx; i++) dx2[i] = dx[i] / 2;
    CHECK_CLOSE(dx_only, dx2, nx, 1e-5, 1e-6, "upconv dx alone");
    workspace_free(&ws);
    st_free(&st);
}

TEST(upconv_matches_torch) { check_upconv_torch("up", 2, 3, 4, 5, 4); }
TEST(upconv_1x1_input_matches_torch) { check_upconv_torch("up_1x1", 1, 2, 1, 1, 3); }
TEST(upconv_larger_matches_torch) { check_upconv_torch("up_big", 3, 5, 6, 6, 2); }

// The same as upsample2x_forward + conv2d at a size that runs the parallel and batched paths.
TEST(upconv_equals_the_two_ops) {
    enum { B = 8, Cin = 16, H = 8, W = 8, Cout = 12 };
    size_t nx = (size_t)B * Cin * H * W, nu = nx * 4, ny = (size_t)B * Cout * 4 * H * W, nw = (size_t)Cout * Cin * 9;
    float *x = xmalloc(nx * 4), *up = xmalloc(nu * 4), *y1 = xmalloc(ny * 4), *y2 = xmalloc(ny * 4);
    float *dy = xmalloc(ny * 4), *dup = xcalloc(nu, 4), *dx1 = xcalloc(nx, 4), *dx2 = xcalloc(nx, 4);
    float w[Cout * Cin * 9], b[Cout], dw1[Cout * Cin * 9] = {0}, dw2[Cout * Cin * 9] = {0}, db1[Cout] = {0}, db2[Cout] = {0};
    test_fill(x, nx, &lcg_state, 1, 0); test_fill(w, nw, &lcg_state, 0.3f, 0);
    test_fill(b, Cout, &lcg_state, 1, 0); test_fill(dy, ny, &lcg_state, 1, 0);
    Conv2d c;
    char err[ERRLEN];
    CHECK(conv2d_init(&c, B, Cin, 2 * H, 2 * W, Cout, 3, 1, 1, 1, 1, 1, err) == 0, "%s", err);
    Workspace ws;
    size_t a = upconv_workspace_floats(B, Cin, H, W, Cout), m = conv2d_workspace_min(&c) * B;
    workspace_init(&ws, a > m ? a : m);
    upsample2x_forward(up, x, B, Cin, H, W);
    conv2d_forward(y1, up, w, b, &c, &ws);
    conv2d_backward(dup, dw1, db1, dy, up, w, &c, &ws);
    upsample2x_backward(dx1, dup, B, Cin, H, W);
    upconv_forward(y2, x, w, b, B, Cin, H, W, Cout, &ws);
    upconv_backward(dx2, dw2, db2, dy, x, w, B, Cin, H, W, Cout, &ws);
    CHECK_CLOSE(y2, y1, ny, 1e-5, 1e-5, "out vs upsample2x + conv2d");
    CHECK_CLOSE(dx2, dx1, nx, 1e-5, 1e-5, "dx vs upsample2x + conv2d");
    CHECK_CLOSE(dw2, dw1, nw, 1e-5, 1e-4, "dweight vs upsample2x + conv2d");
    CHECK_CLOSE(db2, db1, Cout, 1e-5, 1e-4, "dbias vs upsample2x + conv2d");
    workspace_free(&ws);
    free(x); free(up); free(y1); free(y2); free(dy); free(dup); free(dx1); free(dx2);
}

typedef struct {
    float *x, *w, *b, *y, *probe;
    int B, Cin, H, W, Cout;
    Workspace *ws;
} UpCtx;

static double up_loss(void *p) {
    UpCtx *c = p;
    upconv_forward(c->y, c->x, c->w, c->b, c->B, c->Cin, c->H, c->W, c->Cout, c->ws);
    return test_dot(c->y, c->probe, (size_t)c->B * c->Cout * 4 * c->H * c->W);
}

TEST(upconv_gradcheck) {
    enum { B = 2, Cin = 3, H = 3, W = 4, Cout = 2, nx = B * Cin * H * W, ny = B * Cout * 4 * H * W, nw = Cout * Cin * 9 };
    float x[nx], w[nw], b[Cout], y[ny], probe[ny], dx[nx] = {0}, dw[nw] = {0}, db[Cout] = {0};
    test_fill(x, nx, &lcg_state, 1, 0); test_fill(w, nw, &lcg_state, 0.5f, 0);
    test_fill(b, Cout, &lcg_state, 1, 0); test_fill(probe, ny, &lcg_state, 1, 0);
    Workspace ws;
    workspace_init(&ws, upconv_workspace_floats(B, Cin, H, W, Cout));
    UpCtx c = {.x = x, .w = w, .b = b, .y = y, .probe = probe, .B = B, .Cin = Cin, .H = H, .W = W,
               .Cout = Cout, .ws = &ws};
    up_loss(&c);
    upconv_backward(dx, dw, db, probe, x, w, B, Cin, H, W, Cout, &ws);
    CHECK_GRAD(x, dx, nx, up_loss, &c, FD_H, FD_RTOL, FD_ATOL, "upconv dx");
    CHECK_GRAD(w, dw, nw, up_loss, &c, FD_H, FD_RTOL, FD_ATOL, "upconv dweight");
    CHECK_GRAD(b, db, Cout, up_loss, &c, FD_H, FD_RTOL, FD_ATOL, "upconv dbias");
    workspace_free(&ws);
}

// The AVX-512 builds (ops_vec512) of groupnorm_silu's forward, apply and backward (groups that
// keep dn and those that recompute it tile by tile, and the weight-only channel pass) give the
// AVX2 build's bits.
static void gns_all(int vec512, int B, int C, int HW, int G, const float *x, const float *w, const float *b,
                    const float *dy, float *y, float *ya, float *dx, float *dw, float *db, float *dw_only, float *mr) {
    ops_vec512_force(vec512);
    size_t n = (size_t)B * C * HW;
    groupnorm_silu_forward(y, mr, mr + B * G, x, w, b, B, C, HW, G, 1e-6f);
    groupnorm_silu_apply(ya, mr, mr + B * G, x, w, b, B, C, HW, G);
    memset(dx, 0, n * sizeof *dx); memset(dw, 0, C * sizeof *dw); memset(db, 0, C * sizeof *db);
    memset(dw_only, 0, 2 * C * sizeof *dw_only);
    groupnorm_silu_backward(dx, dw, db, dy, x, mr, mr + B * G, w, b, B, C, HW, G);
    groupnorm_silu_backward(NULL, dw_only, dw_only + C, dy, x, mr, mr + B * G, w, b, B, C, HW, G);
    ops_vec512_force(-1);
}

TEST(groupnorm_silu_avx512_builds_give_the_same_bits) {
    if (!(ops_vec512_force(1), ops_vec512())) { ops_vec512_force(-1); printf("  (no AVX-512 here: skipped)\n"); return; }
    enum { MAXV = 2 * 4 * 4200 };
    static float x[MAXV], dy[MAXV], y[2][MAXV], ya[2][MAXV], dx[2][MAXV];
    float w[16], b[16], dw[2][16], db[2][16], dwo[2][32], mr[2][64];
    const int shapes[][4] = {{4, 16, 400, 4}, {2, 4, 4200, 2}, {3, 6, 9, 3}, {1, 8, 1, 8}};
    for (int k = 0; k < 4; k++) {
        int B = shapes[k][0], C = shapes[k][1], HW = shapes[k][2], G = shapes[k][3];
        size_t n = (size_t)B * C * HW;
        test_fill(x, n, &lcg_state, 3, 1); test_fill(w, C, &lcg_state, 2, 0.5f);
        test_fill(b, C, &lcg_state, 1, 0); test_fill(dy, n, &lcg_state, 1, 0);
        for (int v = 0; v < 2; v++) gns_all(v, B, C, HW, G, x, w, b, dy, y[v], ya[v], dx[v], dw[v], db[v], dwo[v], mr[v]);
        CHECK(memcmp(y[0], y[1], n * sizeof(float)) == 0, "forward differs, shape %d", k);
        CHECK(memcmp(ya[0], ya[1], n * sizeof(float)) == 0 && memcmp(ya[0], y[0], n * sizeof(float)) == 0,
              "apply differs, shape %d", k);
        CHECK(memcmp(mr[0], mr[1], 2 * B * G * sizeof(float)) == 0, "statistics differ, shape %d", k);
        CHECK(memcmp(dx[0], dx[1], n * sizeof(float)) == 0, "dx differs, shape %d", k);
        CHECK(memcmp(dw[0], dw[1], C * sizeof(float)) == 0 && memcmp(db[0], db[1], C * sizeof(float)) == 0,
              "dweight/dbias differ, shape %d", k);
        CHECK(memcmp(dwo[0], dwo[1], 2 * C * sizeof(float)) == 0, "the channel pass differs, shape %d", k);
    }
}

int main(void) {
    RUN(groupnorm_silu_matches_torch);
    RUN(groupnorm_silu_channels_equal_groups_batch1);
    RUN(groupnorm_silu_one_group);
    RUN(groupnorm_silu_1x1_image);
    RUN(groupnorm_silu_planes_longer_than_a_tile);
    RUN(groupnorm_silu_equals_the_two_ops);
    RUN(groupnorm_silu_groups_larger_than_the_dn_cache);
    RUN(groupnorm_silu_nan_propagates);
    RUN(groupnorm_silu_gradcheck);
    RUN(groupnorm_silu_avx512_builds_give_the_same_bits);
    RUN(upconv_matches_torch);
    RUN(upconv_1x1_input_matches_torch);
    RUN(upconv_larger_matches_torch);
    RUN(upconv_equals_the_two_ops);
    RUN(upconv_gradcheck);
    return test_summary();
}
