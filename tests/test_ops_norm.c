// test_ops_norm.c: GroupNorm, LayerNorm and BatchNorm (+ denormalize) against PyTorch
// (tests/gen_ops_norm.py), finite-difference gradient checks, and the backward-accumulates
// and NULL-gradient contracts.
#include "test.h"
#include "testutil.h"
#include "ops/ops.h"

#define REF_GN "tests/ref/ops_norm_groupnorm.safetensors"
#define REF_LN "tests/ref/ops_norm_layernorm.safetensors"
#define REF_BN "tests/ref/ops_norm_batchnorm.safetensors"
// Against PyTorch: float32 on both sides, different summation orders.
#define RTOL 1e-5
#define ATOL 1e-5

// One input sequence through the whole file (test_fill), as the tests were tuned with.
static uint64_t lcg_state = 88172645463325252ULL;

// ---- GroupNorm ---------------------------------------------------------------------------------
static void check_groupnorm(const char *name, int B, int C, int HW, int G) {
    SafeTensors st;
    LOAD_REF(st, REF_GN);
    size_t n = (size_t)B * C * HW;
    REF_TENSOR(x, st, test_key(name, "x"), n);
    REF_TENSOR(w, st, test_key(name, "w"), C);
    REF_TENSOR(b, st, test_key(name, "b"), C);
    REF_TENSOR(y_ref, st, test_key(name, "y"), n);
    REF_TENSOR(dy, st, test_key(name, "dy"), n);
    REF_TENSOR(dx_ref, st, test_key(name, "dx"), n);
    REF_TENSOR(dw_ref, st, test_key(name, "dw"), C);
    REF_TENSOR(db_ref, st, test_key(name, "db"), C);
    float y[256], mean[16], rstd[16], dx[256] = {0}, dw[16] = {0}, db[16] = {0};
    float dx2[256], dw2[16], db2[16];
    groupnorm_forward(y, mean, rstd, x, w, b, B, C, HW, G, 1e-6f);
    groupnorm_backward(dx, dw, db, dy, x, mean, rstd, w, B, C, HW, G);
    for (size_t i = 0; i < n; i++) dx2[i] = 2 * dx[i];
    for (int i = 0; i < C; i++) { dw2[i] = 2 * dw[i]; db2[i] = 2 * db[i]; }
    groupnorm_backward(NULL, NULL, NULL, dy, x, mean, rstd, w, B, C, HW, G); // all skipped
    float dx_only[256] = {0};
    groupnorm_backward(dx_only, NULL, NULL, dy, x, mean, rstd, w, B, C, HW, G);
    CHECK_CLOSE(y, y_ref, n, RTOL, ATOL, "groupnorm out");
    CHECK_CLOSE(dx, dx_ref, n, RTOL, ATOL, "groupnorm dx");
    CHECK_CLOSE(dw, dw_ref, C, RTOL, ATOL, "groupnorm dweight");
    CHECK_CLOSE(db, db_ref, C, RTOL, ATOL, "groupnorm dbias");
    CHECK(memcmp(dx_only, dx, n * sizeof *dx) == 0, "groupnorm dx differs when dweight/dbias are NULL");
    // The _set variant: the same dx over what the buffer held, dweight/dbias still added to.
    float dx_set[256], dw_set[16] = {0}, db_set[16] = {0};
    for (size_t i = 0; i < n; i++) dx_set[i] = NAN;
    groupnorm_backward_set(dx_set, dw_set, db_set, dy, x, mean, rstd, w, B, C, HW, G);
    CHECK_SAME_VALUES(dx_set, dx, n, "groupnorm_backward_set dx");
    CHECK_SAME_VALUES(dw_set, dw, C, "groupnorm_backward_set dweight");
    CHECK_SAME_VALUES(db_set, db, C, "groupnorm_backward_set dbias");
    groupnorm_backward(dx, dw, db, dy, x, mean, rstd, w, B, C, HW, G);
    CHECK_CLOSE(dx, dx2, n, 1e-6, 1e-12, "groupnorm dx accumulates");
    CHECK_CLOSE(dw, dw2, C, 1e-6, 1e-12, "groupnorm dweight accumulates");
    CHECK_CLOSE(db, db2, C, 1e-6, 1e-12, "groupnorm dbias accumulates");
    st_free(&st);
}

TEST(groupnorm_matches_torch) { check_groupnorm("gn", 2, 6, 9, 3); }
TEST(groupnorm_channels_equal_groups_batch1) { check_groupnorm("gn_cg", 1, 4, 6, 4); }
TEST(groupnorm_one_group) { check_groupnorm("gn_g1", 3, 5, 4, 1); }
TEST(groupnorm_1x1_image) { check_groupnorm("gn_hw1", 2, 4, 1, 2); }

// Offset inputs: the one-pass E[x^2]-E[x]^2 in float would lose the variance entirely here.
TEST(groupnorm_stable_with_large_mean) {
    enum { HW = 64 };
    float x[HW], y[HW], mean[1], rstd[1], w = 1, b = 0;
    for (int i = 0; i < HW; i++) x[i] = 1e4f + (i % 2 ? 1.0f : -1.0f);
    groupnorm_forward(y, mean, rstd, x, &w, &b, 1, 1, HW, 1, 1e-6f);
    CHECK(fabsf(mean[0] - 1e4f) < 1e-3f && fabsf(rstd[0] - 1.0f) < 1e-5f, "mean %g rstd %g, want 1e4 and 1",
          mean[0], rstd[0]);
    for (int i = 0; i < HW; i++) CHECK(fabsf(fabsf(y[i]) - 1.0f) < 1e-4f, "y[%d] = %g, want +-1", i, y[i]);
}

// ---- finite differences -----------------------------------------------------------------------
// Every check: central differences with h 1e-2 on float32 forwards, 64 entries spread over the
// tensor, passing when |analytic - fd| <= 2e-3 + 1e-2 * max(|analytic|, |fd|).
#define FD_H 1e-2f
#define FD_RTOL 1e-2
#define FD_ATOL 2e-3

typedef struct {
    float *x, *w, *b, *y, *mean, *rstd, *probe, *rm, *rv;
    int B, C, HW, G, N, training;
} NormCtx;

static double gn_loss(void *p) {
    NormCtx *c = p;
    groupnorm_forward(c->y, c->mean, c->rstd, c->x, c->w, c->b, c->B, c->C, c->HW, c->G, 1e-6f);
    return test_dot(c->y, c->probe, (size_t)c->B * c->C * c->HW);
}

TEST(groupnorm_gradcheck) {
    enum { B = 2, C = 6, HW = 5, G = 3, n = B * C * HW };
    float x[n], w[C], b[C], y[n], mean[B * G], rstd[B * G], probe[n];
    float dx[n] = {0}, dw[C] = {0}, db[C] = {0};
    test_fill(x, n, &lcg_state, 2, 0.5f); test_fill(w, C, &lcg_state, 1, 0.5f);
    test_fill(b, C, &lcg_state, 1, 0); test_fill(probe, n, &lcg_state, 1, 0);
    NormCtx c = {.x = x, .w = w, .b = b, .y = y, .mean = mean, .rstd = rstd, .probe = probe,
                 .B = B, .C = C, .HW = HW, .G = G};
    gn_loss(&c);
    groupnorm_backward(dx, dw, db, probe, x, mean, rstd, w, B, C, HW, G);
    CHECK_GRAD(x, dx, n, gn_loss, &c, FD_H, FD_RTOL, FD_ATOL, "groupnorm dx");
    CHECK_GRAD(w, dw, C, gn_loss, &c, FD_H, FD_RTOL, FD_ATOL, "groupnorm dweight");
    CHECK_GRAD(b, db, C, gn_loss, &c, FD_H, FD_RTOL, FD_ATOL, "groupnorm dbias");
}

// ---- LayerNorm -----------------------------------------------------------------------------------
static void check_layernorm(const char *name, int N, int C, int affine, float eps) {
    SafeTensors st;
    LOAD_REF(st, REF_LN);
    size_t n = (size_t)N * C;
    REF_TENSOR(x, st, test_key(name, "x"), n);
    REF_TENSOR(y_ref, st, test_key(name, "y"), n);
    REF_TENSOR(dy, st, test_key(name, "dy"), n);
    REF_TENSOR(dx_ref, st, test_key(name, "dx"), n);
    const float *w = NULL, *b = NULL, *dw_ref = NULL, *db_ref = NULL;
    if (affine) {
        REF_TENSOR(w_, st, test_key(name, "w"), C);
        REF_TENSOR(b_, st, test_key(name, "b"), C);
        REF_TENSOR(dw_, st, test_key(name, "dw"), C);
        REF_TENSOR(db_, st, test_key(name, "db"), C);
        w = w_; b = b_; dw_ref = dw_; db_ref = db_;
    }
    float y[128], mean[16], rstd[16], dx[128] = {0}, dw[16] = {0}, db[16] = {0}, dx2[128], dw2[16];
    layernorm_forward(y, mean, rstd, x, w, b, N, C, eps);
    layernorm_backward(dx, affine ? dw : NULL, affine ? db : NULL, dy, x, mean, rstd, w, N, C);
    CHECK_CLOSE(y, y_ref, n, RTOL, ATOL, "layernorm out");
    CHECK_CLOSE(dx, dx_ref, n, RTOL, ATOL, "layernorm dx");
    if (affine) {
        CHECK_CLOSE(dw, dw_ref, C, RTOL, ATOL, "layernorm dweight");
        CHECK_CLOSE(db, db_ref, C, RTOL, ATOL, "layernorm dbias");
    }
    for (size_t i = 0; i < n; i++) dx2[i] = 2 * dx[i];
    for (int i = 0; i < C; i++) dw2[i] = 2 * dw[i];
    layernorm_backward(dx, affine ? dw : NULL, NULL, dy, x, mean, rstd, w, N, C);
    CHECK_CLOSE(dx, dx2, n, 1e-6, 1e-12, "layernorm dx accumulates");
    CHECK_CLOSE(dw, dw2, C, 1e-6, 1e-12, "layernorm dweight accumulates");
    st_free(&st);
}

TEST(layernorm_affine_matches_torch) { check_layernorm("ln", 7, 12, 1, 1e-5f); }
TEST(layernorm_no_affine_matches_torch) { check_layernorm("ln_noaff", 5, 9, 0, 1e-6f); }
TEST(layernorm_one_row_two_channels) { check_layernorm("ln_n1c2", 1, 2, 1, 1e-6f); }

// C == 1: every value is its own mean, so out == bias and dx == 0 exactly. (Not compared with
// PyTorch, whose float mean is off by an ulp there, amplified by 1/sqrt(eps).)
TEST(layernorm_single_channel) {
    float x[3] = {1.7f, -0.3f, 1e3f}, w = 2, b = 0.25f, y[3], mean[3], rstd[3], dy[3] = {1, -2, 3};
    float dx[3] = {0}, dw = 0, db = 0;
    layernorm_forward(y, mean, rstd, x, &w, &b, 3, 1, 1e-6f);
    layernorm_backward(dx, &dw, &db, dy, x, mean, rstd, &w, 3, 1);
    for (int i = 0; i < 3; i++) CHECK(y[i] == b && dx[i] == 0, "row %d: y %g dx %g", i, y[i], dx[i]);
    CHECK(dw == 0 && db == 2, "dw %g db %g, want 0 and 2", dw, db);
}

// 200 columns: more than one column block of the weight-gradient reduction, and a partial one.
TEST(layernorm_wide_rows_accumulate_per_column) {
    enum { N = 3, C = 200 };
    static float x[N * C], y[N * C], dy[N * C], w[C], dw[C], db[C];
    float mean[N], rstd[N];
    test_fill(x, N * C, &lcg_state, 1, 0); test_fill(dy, N * C, &lcg_state, 1, 0);
    test_fill(w, C, &lcg_state, 1, 1);
    layernorm_forward(y, mean, rstd, x, w, NULL, N, C, 1e-6f);
    layernorm_backward(NULL, dw, db, dy, x, mean, rstd, w, N, C);
    for (int c = 0; c < C; c++) {
        double sw = 0, sb = 0;
        for (int n = 0; n < N; n++) {
            sw += (double)dy[n * C + c] * (x[n * C + c] - mean[n]) * rstd[n];
            sb += dy[n * C + c];
        }
        CHECK(fabs(dw[c] - sw) < 1e-5 && fabs(db[c] - sb) < 1e-5, "column %d: dw %g want %g, db %g want %g",
              c, dw[c], sw, db[c], sb);
    }
}

static double ln_loss(void *p) {
    NormCtx *c = p;
    layernorm_forward(c->y, c->mean, c->rstd, c->x, c->w, c->b, c->N, c->C, 1e-6f);
    return test_dot(c->y, c->probe, (size_t)c->N * c->C);
}

static void gradcheck_layernorm(int affine) {
    enum { N = 5, C = 7, n = N * C };
    float x[n], w[C], b[C], y[n], mean[N], rstd[N], probe[n], dx[n] = {0}, dw[C] = {0}, db[C] = {0};
    test_fill(x, n, &lcg_state, 2, -1); test_fill(w, C, &lcg_state, 1, 0.5f);
    test_fill(b, C, &lcg_state, 1, 0); test_fill(probe, n, &lcg_state, 1, 0);
    NormCtx c = {.x = x, .w = affine ? w : NULL, .b = affine ? b : NULL, .y = y, .mean = mean,
                 .rstd = rstd, .probe = probe, .N = N, .C = C};
    ln_loss(&c);
    layernorm_backward(dx, affine ? dw : NULL, affine ? db : NULL, probe, x, mean, rstd, c.w, N, C);
    CHECK_GRAD(x, dx, n, ln_loss, &c, FD_H, FD_RTOL, FD_ATOL, "layernorm dx");
    if (affine) {
        CHECK_GRAD(w, dw, C, ln_loss, &c, FD_H, FD_RTOL, FD_ATOL, "layernorm dweight");
        CHECK_GRAD(b, db, C, ln_loss, &c, FD_H, FD_RTOL, FD_ATOL, "layernorm dbias");
    }
}
TEST(layernorm_affine_gradcheck) { gradcheck_layernorm(1); }
TEST(layernorm_no_affine_gradcheck) { gradcheck_layernorm(0); }

// ---- BatchNorm -----------------------------------------------------------------------------------
// Three training steps (outputs, input gradients and running statistics after each step),
// then eval mode with the running statistics, then denormalize inverting eval.
static void check_batchnorm(const char *name, int B, int C, int HW) {
    SafeTensors st;
    LOAD_REF(st, REF_BN);
    size_t n = (size_t)B * C * HW;
    float rm[8], rv[8], y[128], mean[8], rstd[8], dx[128], dx2[128], back[128];
    for (int c = 0; c < C; c++) { rm[c] = 0; rv[c] = 1; } // PyTorch's initial buffers
    char pre[64];
    for (int step = 0; step < 3; step++) {
        snprintf(pre, sizeof pre, "%s.%d", name, step);
        REF_TENSOR(x, st, test_key(pre, "x"), n);
        REF_TENSOR(y_ref, st, test_key(pre, "y"), n);
        REF_TENSOR(dy, st, test_key(pre, "dy"), n);
        REF_TENSOR(dx_ref, st, test_key(pre, "dx"), n);
        REF_TENSOR(rm_ref, st, test_key(pre, "running_mean"), C);
        REF_TENSOR(rv_ref, st, test_key(pre, "running_var"), C);
        batchnorm_forward(y, mean, rstd, rm, rv, x, B, C, HW, 1e-4f, 0.1f, 1);
        memset(dx, 0, sizeof dx);
        batchnorm_backward(dx, dy, x, mean, rstd, B, C, HW, 1);
        CHECK_CLOSE(y, y_ref, n, RTOL, ATOL, "batchnorm training out");
        CHECK_CLOSE(dx, dx_ref, n, RTOL, ATOL, "batchnorm training dx");
        CHECK_CLOSE(rm, rm_ref, C, RTOL, 1e-6, "batchnorm running_mean");
        CHECK_CLOSE(rv, rv_ref, C, RTOL, 1e-6, "batchnorm running_var");
        for (size_t i = 0; i < n; i++) dx2[i] = 2 * dx[i];
        batchnorm_backward(dx, dy, x, mean, rstd, B, C, HW, 1);
        CHECK_CLOSE(dx, dx2, n, 1e-6, 1e-12, "batchnorm training dx accumulates");
    }
    snprintf(pre, sizeof pre, "%s.eval", name);
    REF_TENSOR(x, st, test_key(pre, "x"), n);
    REF_TENSOR(y_ref, st, test_key(pre, "y"), n);
    REF_TENSOR(dy, st, test_key(pre, "dy"), n);
    REF_TENSOR(dx_ref, st, test_key(pre, "dx"), n);
    float rm0[8], rv0[8];
    memcpy(rm0, rm, sizeof rm); memcpy(rv0, rv, sizeof rv);
    batchnorm_forward(y, mean, rstd, rm, rv, x, B, C, HW, 1e-4f, 0.1f, 0);
    CHECK(memcmp(rm0, rm, sizeof rm) == 0 && memcmp(rv0, rv, sizeof rv) == 0, "eval changed the running stats");
    memset(dx, 0, sizeof dx);
    batchnorm_backward(dx, dy, x, mean, rstd, B, C, HW, 0);
    CHECK_CLOSE(y, y_ref, n, RTOL, ATOL, "batchnorm eval out");
    CHECK_CLOSE(dx, dx_ref, n, RTOL, ATOL, "batchnorm eval dx");
    for (size_t i = 0; i < n; i++) dx2[i] = 2 * dx[i];
    batchnorm_backward(dx, dy, x, mean, rstd, B, C, HW, 0);
    CHECK_CLOSE(dx, dx2, n, 1e-6, 1e-12, "batchnorm eval dx accumulates");
    batchnorm_backward(NULL, dy, x, mean, rstd, B, C, HW, 0); // skipped
    batchnorm_denormalize(back, y, rm, rv, B, C, HW, 1e-4f);
    CHECK_CLOSE(back, x, n, 1e-6, 1e-6, "denormalize(eval normalize(x))");
    st_free(&st);
}

TEST(batchnorm_train_eval_matches_torch) { check_batchnorm("bn", 3, 4, 6); }
TEST(batchnorm_batch1_matches_torch) { check_batchnorm("bn_b1", 1, 2, 5); }

TEST(batchnorm_denormalize_formula) {
    float x[6] = {0, 1, -2, 3, 0.5f, -1}, y[6], rm[2] = {1.5f, -3}, rv[2] = {4, 0.25f};
    batchnorm_denormalize(y, x, rm, rv, 3, 2, 1, 1e-4f); // B 3, C 2, HW 1: channel = i % 2
    for (int i = 0; i < 6; i++) {
        double want = x[i] * sqrt((double)rv[i % 2] + 1e-4) + rm[i % 2];
        CHECK(fabs(y[i] - want) < 1e-6 * (1 + fabs(want)), "y[%d] = %.8g, want %.8g", i, y[i], want);
    }
}

static double bn_loss(void *p) {
    NormCtx *c = p;
    float rm[8], rv[8]; // the FD probes must not drift the real running statistics
    memcpy(rm, c->rm, sizeof rm); memcpy(rv, c->rv, sizeof rv);
    batchnorm_forward(c->y, c->mean, c->rstd, rm, rv, c->x, c->B, c->C, c->HW, 1e-4f, 0.1f, c->training);
    return test_dot(c->y, c->probe, (size_t)c->B * c->C * c->HW);
}

static void gradcheck_batchnorm(int training) {
    enum { B = 2, C = 3, HW = 5, n = B * C * HW };
    float x[n], y[n], mean[C], rstd[C], probe[n], dx[n] = {0};
    float rm[8] = {0.3f, -0.2f, 1.0f}, rv[8] = {1.5f, 0.7f, 2.0f};
    test_fill(x, n, &lcg_state, 2, 0.3f); test_fill(probe, n, &lcg_state, 1, 0);
    NormCtx c = {.x = x, .y = y, .mean = mean, .rstd = rstd, .probe = probe, .rm = rm, .rv = rv,
                 .B = B, .C = C, .HW = HW, .training = training};
    bn_loss(&c);
    batchnorm_backward(dx, probe, x, mean, rstd, B, C, HW, training);
    CHECK_GRAD(x, dx, n, bn_loss, &c, FD_H, FD_RTOL, FD_ATOL, training ? "batchnorm train dx" : "batchnorm eval dx");
}
TEST(batchnorm_train_gradcheck) { gradcheck_batchnorm(1); }
TEST(batchnorm_eval_gradcheck) { gradcheck_batchnorm(0); }

// At a size that runs the threaded path, the weight/bias sums folded into the input-gradient pass
// (per-thread partials) equal the separate per-channel pass used when dinp is NULL, and the
// input gradient is the same with and without them.
TEST(groupnorm_fused_weight_grads_match_separate_pass) {
    enum { B = 4, C = 32, HW = 256, G = 8 };
    size_t n = (size_t)B * C * HW;
    float *x = xmalloc(n * sizeof *x), *dy = xmalloc(n * sizeof *dy), *y = xmalloc(n * sizeof *y);
    float *dx1 = xcalloc(n, sizeof *dx1), *dx2 = xcalloc(n, sizeof *dx2);
    float w[C], b[C], mean[B * G], rstd[B * G], dw1[C] = {0}, db1[C] = {0}, dw2[C] = {0}, db2[C] = {0};
    uint64_t st = 77;
    for (size_t i = 0; i < n; i++) {
        x[i] = test_unit64(&st) * 4 - 1;
        dy[i] = test_unit64(&st) - 0.5f;
    }
    for (int c = 0; c < C; c++) { w[c] = 0.5f + 0.03f * c; b[c] = 0.1f * c; }
    groupnorm_forward(y, mean, rstd, x, w, b, B, C, HW, G, 1e-6f);
    groupnorm_backward(dx1, dw1, db1, dy, x, mean, rstd, w, B, C, HW, G);
    groupnorm_backward(NULL, dw2, db2, dy, x, mean, rstd, w, B, C, HW, G);
    groupnorm_backward(dx2, NULL, NULL, dy, x, mean, rstd, w, B, C, HW, G);
    double r1 = test_close_ratio(dw1, dw2, C, 1e-5, 1e-6, NULL), r2 = test_close_ratio(db1, db2, C, 1e-5, 1e-6, NULL);
    double r3 = test_close_ratio(dx1, dx2, n, 1e-6, 1e-7, NULL);
    free(x); free(dy); free(y); free(dx1); free(dx2);
    CHECK(r1 <= 1 && r2 <= 1, "fused dweight/dbias differ from the separate pass (ratios %g, %g)", r1, r2);
    CHECK(r3 <= 1, "dinp differs with and without the weight gradients (ratio %g)", r3);
}

int main(void) {
    RUN(groupnorm_fused_weight_grads_match_separate_pass);
    RUN(groupnorm_matches_torch);
    RUN(groupnorm_channels_equal_groups_batch1);
    RUN(groupnorm_one_group);
    RUN(groupnorm_1x1_image);
    RUN(groupnorm_stable_with_large_mean);
    RUN(groupnorm_gradcheck);
    RUN(layernorm_affine_matches_torch);
    RUN(layernorm_no_affine_matches_torch);
    RUN(layernorm_one_row_two_channels);
    RUN(layernorm_single_channel);
    RUN(layernorm_wide_rows_accumulate_per_column);
    RUN(layernorm_affine_gradcheck);
    RUN(layernorm_no_affine_gradcheck);
    RUN(batchnorm_train_eval_matches_torch);
    RUN(batchnorm_batch1_matches_torch);
    RUN(batchnorm_denormalize_formula);
    RUN(batchnorm_train_gradcheck);
    RUN(batchnorm_eval_gradcheck);
    return test_summary();
}
