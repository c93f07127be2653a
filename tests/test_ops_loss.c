// test_ops_loss.c: mse, l1, kl, negative cosine and smoothness losses against PyTorch
// (tests/gen_ops_misc.py, dloss 1.7), finite differences, accumulation, and bit-identical
// results across thread counts. Finite differences: central, h 1e-2 on the float loss
// (all but l1 and cosine are quadratic or smooth at that scale), rtol 1e-2 atol 1e-4.
#include <omp.h>
#include "test.h"
#include "testutil.h"
#include "ops/ops.h"

#define REF "tests/ref/ops_misc_loss.safetensors"
#define DL 1.7f
#define RTOL 1e-5
#define FD_H 1e-2f
#define FD_RTOL 1e-2
#define FD_ATOL 1e-4

static void check_doubles(float *g, size_t n, void (*again)(float *), const char *what, int *bad) {
    float *g1 = test_copyf(g, n);
    again(g);
    *bad = -1;
    for (size_t i = 0; i < n; i++)
        if (g[i] != 2 * g1[i]) { *bad = (int)i; break; }
    free(g1);
    (void)what;
}

// ---- mse / l1 --------------------------------------------------------------------------------
enum { N = 37 };
static const float *g_pred, *g_target;
static float *g_fdx;
static void mse_again(float *g) { mse_backward(g, g_pred, g_target, N, DL); }
static void l1_again(float *g) { l1_backward(g, g_pred, g_target, N, DL); }
static double mse_loss(void *p) { (void)p; return mse_forward(g_fdx, g_target, N); }
static double l1_loss(void *p) { (void)p; return l1_forward(g_fdx, g_target, N); }

TEST(mse_matches_torch) {
    SafeTensors st;
    LOAD_REF(st, REF);
    REF_TENSOR(pred, st, "pred", N);
    REF_TENSOR(target, st, "target", N);
    REF_TENSOR(want, st, "mse", 1);
    REF_TENSOR(wantg, st, "mse_grad", N);
    float loss = mse_forward(pred, target, N);
    CHECK_CLOSE(&loss, want, 1, RTOL, 0, "mse");
    float *g = test_zerosf(N);
    mse_backward(g, pred, target, N, DL);
    CHECK_CLOSE(g, wantg, N, RTOL, 1e-7, "mse grad");
    int bad;
    g_pred = pred; g_target = target;
    check_doubles(g, N, mse_again, "mse", &bad);
    CHECK(bad < 0, "mse grad does not accumulate at %d", bad);
    mse_backward(NULL, pred, target, N, DL);
    // finite differences of the loss itself (dloss 1)
    memset(g, 0, N * sizeof(float));
    mse_backward(g, pred, target, N, 1.0f);
    g_fdx = test_copyf(pred, N);
    CHECK_GRAD(g_fdx, g, N, mse_loss, NULL, FD_H, FD_RTOL, FD_ATOL, "mse (fd)");
    free(g_fdx); free(g);
    st_free(&st);
}

TEST(l1_matches_torch_with_ties) {
    SafeTensors st;
    LOAD_REF(st, REF);
    REF_TENSOR(pred, st, "pred", N);
    REF_TENSOR(target, st, "target", N);
    REF_TENSOR(want, st, "l1", 1);
    REF_TENSOR(wantg, st, "l1_grad", N);
    float loss = l1_forward(pred, target, N);
    CHECK_CLOSE(&loss, want, 1, RTOL, 0, "l1");
    float *g = test_zerosf(N);
    l1_backward(g, pred, target, N, DL);
    CHECK_CLOSE(g, wantg, N, RTOL, 1e-7, "l1 grad");
    CHECK(pred[0] == target[0] && g[0] == 0, "a tie must get gradient 0, got %g", g[0]);
    int bad;
    g_pred = pred; g_target = target;
    check_doubles(g, N, l1_again, "l1", &bad);
    CHECK(bad < 0, "l1 grad does not accumulate at %d", bad);
    // finite differences away from the ties (|p - t| > h), where l1 is linear
    memset(g, 0, N * sizeof(float));
    l1_backward(g, pred, target, N, 1.0f);
    g_fdx = test_copyf(pred, N);
    for (int i = 0; i < N; i++) {
        if (fabsf(pred[i] - target[i]) <= 2 * FD_H) continue;
        double r = test_gradcheck(g_fdx + i, g + i, 1, l1_loss, NULL, FD_H, FD_RTOL, FD_ATOL, 1, NULL, NULL, NULL);
        CHECK(r <= 1, "l1 (fd) at %d: gradient %g", i, g[i]);
    }
    free(g_fdx); free(g);
    st_free(&st);
}

// ---- kl --------------------------------------------------------------------------------------
static float *g_mu, *g_lv;
static double kl_loss(void *p) { (void)p; return kl_forward(g_mu, g_lv, N); }

TEST(kl_matches_torch) {
    SafeTensors st;
    LOAD_REF(st, REF);
    REF_TENSOR(mu, st, "kl.mu", N);
    REF_TENSOR(lv, st, "kl.logvar", N);
    REF_TENSOR(want, st, "kl", 1);
    REF_TENSOR(wdmu, st, "kl.dmu", N);
    REF_TENSOR(wdlv, st, "kl.dlogvar", N);
    float loss = kl_forward(mu, lv, N);
    CHECK_CLOSE(&loss, want, 1, RTOL, 0, "kl");
    float *dmu = test_zerosf(N), *dlv = test_zerosf(N);
    kl_backward(dmu, dlv, mu, lv, N, DL);
    CHECK_CLOSE(dmu, wdmu, N, RTOL, 1e-7, "kl dmu");
    CHECK_CLOSE(dlv, wdlv, N, RTOL, 1e-7, "kl dlogvar");
    float *dmu1 = test_copyf(dmu, N), *dlv1 = test_copyf(dlv, N);
    kl_backward(dmu, NULL, mu, lv, N, DL);
    kl_backward(NULL, dlv, mu, lv, N, DL);
    for (int i = 0; i < N; i++)
        CHECK(dmu[i] == 2 * dmu1[i] && dlv[i] == 2 * dlv1[i], "kl grads do not accumulate at %d", i);
    memset(dmu, 0, N * sizeof(float));
    memset(dlv, 0, N * sizeof(float));
    kl_backward(dmu, dlv, mu, lv, N, 1.0f);
    g_mu = test_copyf(mu, N);
    g_lv = test_copyf(lv, N);
    CHECK_GRAD(g_mu, dmu, N, kl_loss, NULL, FD_H, FD_RTOL, FD_ATOL, "kl dmu (fd)");
    CHECK_GRAD(g_lv, dlv, N, kl_loss, NULL, FD_H, FD_RTOL, FD_ATOL, "kl dlogvar (fd)");
    free(g_mu); free(g_lv); free(dmu); free(dlv); free(dmu1); free(dlv1);
    st_free(&st);
}

// REPA-E's reduction (loss.kl_reduce "sum"): the sum over C,H,W averaged over the batch of 3.
static double kl_sum_loss(void *p) { (void)p; return kl_forward_div(g_mu, g_lv, 120, 3.0); }

TEST(kl_sum_matches_torch) {
    enum { NK = 3 * 4 * 2 * 5 };
    SafeTensors st;
    LOAD_REF(st, REF);
    REF_TENSOR(mu, st, "kl_sum.mu", NK);
    REF_TENSOR(lv, st, "kl_sum.logvar", NK);
    REF_TENSOR(want, st, "kl_sum", 1);
    REF_TENSOR(wdmu, st, "kl_sum.dmu", NK);
    REF_TENSOR(wdlv, st, "kl_sum.dlogvar", NK);
    float loss = kl_forward_div(mu, lv, NK, 3.0);
    CHECK_CLOSE(&loss, want, 1, RTOL, 0, "kl_sum");
    // The mean over elements is the same sum over 40 times as many terms.
    float mean = kl_forward(mu, lv, NK);
    CHECK(fabsf(mean * 40.0f - loss) <= 1e-5f * loss, "kl mean %g x 40 != kl sum %g", mean, loss);
    float *dmu = test_zerosf(NK), *dlv = test_zerosf(NK);
    kl_backward_div(dmu, dlv, mu, lv, NK, 3.0, DL);
    CHECK_CLOSE(dmu, wdmu, NK, RTOL, 1e-7, "kl_sum dmu");
    CHECK_CLOSE(dlv, wdlv, NK, RTOL, 1e-7, "kl_sum dlogvar");
    memset(dmu, 0, NK * sizeof(float));
    memset(dlv, 0, NK * sizeof(float));
    kl_backward_div(dmu, dlv, mu, lv, NK, 3.0, 1.0f);
    g_mu = test_copyf(mu, NK);
    g_lv = test_copyf(lv, NK);
    CHECK_GRAD(g_mu, dmu, NK, kl_sum_loss, NULL, FD_H, FD_RTOL, 1e-3, "kl_sum dmu (fd)");
    CHECK_GRAD(g_lv, dlv, NK, kl_sum_loss, NULL, FD_H, FD_RTOL, 1e-3, "kl_sum dlogvar (fd)");
    free(g_mu); free(g_lv); free(dmu); free(dlv);
    st_free(&st);
}

// ---- negative cosine -------------------------------------------------------------------------
typedef struct { float *a, *b; int n, d; } CosCtx;
static double cos_loss(void *p) { CosCtx *c = p; return neg_cosine_forward(c->a, c->b, c->n, c->d); }

static void cos_case(const char *tag, int n, int d, int fd) {
    SafeTensors st;
    LOAD_REF(st, REF);
    char k[64];
    size_t nd = (size_t)n * d;
    snprintf(k, sizeof k, "%s.a", tag);
    REF_TENSOR(a, st, k, nd);
    snprintf(k, sizeof k, "%s.b", tag);
    REF_TENSOR(b, st, k, nd);
    REF_TENSOR(want, st, tag, 1);
    snprintf(k, sizeof k, "%s.da", tag);
    REF_TENSOR(wda, st, k, nd);
    snprintf(k, sizeof k, "%s.db", tag);
    REF_TENSOR(wdb, st, k, nd);
    float loss = neg_cosine_forward(a, b, n, d);
    CHECK_CLOSE(&loss, want, 1, RTOL, 1e-7, "neg_cosine");
    float *da = test_zerosf(nd), *db = test_zerosf(nd);
    neg_cosine_backward(da, db, a, b, n, d, DL);
    CHECK_CLOSE(da, wda, nd, RTOL, 1e-7, "neg_cosine da");
    CHECK_CLOSE(db, wdb, nd, RTOL, 1e-7, "neg_cosine db");
    float *da1 = test_copyf(da, nd), *db1 = test_copyf(db, nd);
    neg_cosine_backward(da, NULL, a, b, n, d, DL);
    neg_cosine_backward(NULL, db, a, b, n, d, DL);
    for (size_t i = 0; i < nd; i++)
        CHECK(da[i] == 2 * da1[i] && db[i] == 2 * db1[i], "neg_cosine grads do not accumulate at %zu", i);
    if (fd) {
        memset(da, 0, nd * sizeof(float));
        memset(db, 0, nd * sizeof(float));
        neg_cosine_backward(da, db, a, b, n, d, 1.0f);
        CosCtx c = {test_copyf(a, nd), test_copyf(b, nd), n, d};
        CHECK_GRAD(c.a, da, nd, cos_loss, &c, FD_H, FD_RTOL, FD_ATOL, "neg_cosine da (fd)");
        CHECK_GRAD(c.b, db, nd, cos_loss, &c, FD_H, FD_RTOL, FD_ATOL, "neg_cosine db (fd)");
        free(c.a); free(c.b);
    }
    free(da); free(db); free(da1); free(db1);
    st_free(&st);
}

TEST(neg_cosine_matches_torch) { cos_case("cos", 5, 9, 1); }
// A zero row divides by eps (F.normalize): its gradient is ~1e8 and no finite difference applies.
TEST(neg_cosine_zero_row_matches_torch) { cos_case("cos0", 3, 4, 0); }

// ---- smooth ----------------------------------------------------------------------------------
typedef struct { float *z; int B, C, H, W; } SmCtx;
static double sm_loss(void *p) { SmCtx *c = p; return smooth_forward(c->z, c->B, c->C, c->H, c->W); }

static void smooth_case(const char *tag, int B, int C, int H, int W) {
    SafeTensors st;
    LOAD_REF(st, REF);
    char k[64];
    size_t n = (size_t)B * C * H * W;
    snprintf(k, sizeof k, "%s.z", tag);
    REF_TENSOR(z, st, k, n);
    REF_TENSOR(want, st, tag, 1);
    snprintf(k, sizeof k, "%s.dz", tag);
    REF_TENSOR(wdz, st, k, n);
    float loss = smooth_forward(z, B, C, H, W);
    CHECK_CLOSE(&loss, want, 1, RTOL, 1e-7, "smooth");
    float *dz = test_zerosf(n);
    smooth_backward(dz, z, B, C, H, W, DL);
    CHECK_CLOSE(dz, wdz, n, RTOL, 1e-6, "smooth dz");
    float *dz1 = test_copyf(dz, n);
    smooth_backward(dz, z, B, C, H, W, DL);
    for (size_t i = 0; i < n; i++) CHECK(dz[i] == 2 * dz1[i], "smooth dz does not accumulate at %zu", i);
    smooth_backward(NULL, z, B, C, H, W, DL);
    memset(dz, 0, n * sizeof(float));
    smooth_backward(dz, z, B, C, H, W, 1.0f);
    SmCtx c = {test_copyf(z, n), B, C, H, W};
    CHECK_GRAD(c.z, dz, n, sm_loss, &c, FD_H, FD_RTOL, FD_ATOL, "smooth dz (fd)");
    free(c.z); free(dz); free(dz1);
    st_free(&st);
}

TEST(smooth_3x5_matches_torch) { smooth_case("sm35", 2, 3, 3, 5); }
TEST(smooth_H1_has_no_vertical_term) { smooth_case("smh1", 1, 2, 1, 5); }
TEST(smooth_W1_has_no_horizontal_term) { smooth_case("smw1", 1, 1, 4, 1); }
TEST(smooth_1x1_is_zero) { smooth_case("sm11", 1, 1, 1, 1); }

// ---- determinism -----------------------------------------------------------------------------
// Resumed training must reproduce its losses bit for bit: the reductions may not depend on the
// thread count or on scheduling. Sizes are over the threading threshold.
TEST(losses_bit_identical_across_thread_counts) {
    int B = 2, C = 4, H = 33, W = 65, n = B * C * H * W, Nr = 200, D = 77; // Nr * D <= n
    float *x = xmalloc(n * sizeof(float)), *y = xmalloc(n * sizeof(float));
    uint32_t s = 12345;
    for (int i = 0; i < n; i++) {
        x[i] = test_unit32(&s) - 0.5f;
        y[i] = x[i] * 0.7f + (float)(i % 13) * 0.01f;
    }
    int saved = omp_get_max_threads();
    float r[2][5];
    for (int k = 0; k < 2; k++) {
        omp_set_num_threads(k == 0 ? 1 : 3);
        r[k][0] = mse_forward(x, y, n);
        r[k][1] = l1_forward(x, y, n);
        r[k][2] = kl_forward(x, y, n);
        r[k][3] = neg_cosine_forward(x, y, Nr, D);
        r[k][4] = smooth_forward(x, B, C, H, W);
    }
    omp_set_num_threads(saved);
    for (int j = 0; j < 5; j++)
        CHECK(memcmp(&r[0][j], &r[1][j], sizeof(float)) == 0, "loss %d differs: %.9g on 1 thread, %.9g on 3", j,
              r[0][j], r[1][j]);
    free(x); free(y);
}

int main(void) {
    RUN(mse_matches_torch);
    RUN(l1_matches_torch_with_ties);
    RUN(kl_matches_torch);
    RUN(kl_sum_matches_torch);
    RUN(neg_cosine_matches_torch);
    RUN(neg_cosine_zero_row_matches_torch);
    RUN(smooth_3x5_matches_torch);
    RUN(smooth_H1_has_no_vertical_term);
    RUN(smooth_W1_has_no_horizontal_term);
    RUN(smooth_1x1_is_zero);
    RUN(losses_bit_identical_across_thread_counts);
    return test_summary();
}
