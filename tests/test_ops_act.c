// test_ops_act.c: SiLU, tanh-GELU and softmax against PyTorch (tests/gen_ops_act.py), plus
// finite-difference gradient checks and the accumulate-into-gradient contract.
#include "test.h"
#include "ops.h"

#define REF "tests/ref/ops_act.safetensors"

typedef void (*elem_fwd)(float *, const float *, size_t);
typedef void (*elem_bwd)(float *, const float *, const float *, size_t);

// Forward and gradient of one elementwise op against the reference, then twice-backward == 2x.
static void check_elementwise(const char *name, elem_fwd fwd, elem_bwd bwd) {
    SafeTensors st;
    LOAD_REF(st, REF);
    char key[64];
    const StTensor *tx = st_find(&st, (snprintf(key, sizeof key, "%s.x", name), key));
    CHECK(tx, "reference lacks %s", key);
    size_t n = tx->numel;
    REF_TENSOR(y_ref, st, (snprintf(key, sizeof key, "%s.y", name), key), n);
    REF_TENSOR(dy, st, (snprintf(key, sizeof key, "%s.dy", name), key), n);
    REF_TENSOR(dx_ref, st, (snprintf(key, sizeof key, "%s.dx", name), key), n);
    float *y = xmalloc(n * sizeof *y), *dx = xcalloc(n, sizeof *dx), *dx2 = xmalloc(n * sizeof *dx2);
    fwd(y, tx->data, n);
    double r1 = test_close_ratio(y, y_ref, n, 1e-5, 1e-6, NULL);
    bwd(dx, dy, tx->data, n);
    double r2 = test_close_ratio(dx, dx_ref, n, 1e-5, 1e-6, NULL);
    for (size_t i = 0; i < n; i++) dx2[i] = 2 * dx[i];
    bwd(dx, dy, tx->data, n);
    double r3 = test_close_ratio(dx, dx2, n, 1e-6, 1e-12, NULL);
    bwd(NULL, dy, tx->data, n); // NULL gradient: skipped, must not crash
    free(y); free(dx); free(dx2);
    st_free(&st);
    CHECK(r1 <= 1, "%s forward differs from torch (ratio %g, rtol 1e-5 atol 1e-6)", name, r1);
    CHECK(r2 <= 1, "%s backward differs from torch (ratio %g, rtol 1e-5 atol 1e-6)", name, r2);
    CHECK(r3 <= 1, "%s backward does not accumulate (ratio %g)", name, r3);
}

TEST(silu_matches_torch) { check_elementwise("silu", silu_forward, silu_backward); }
TEST(gelu_matches_torch) { check_elementwise("gelu", gelu_forward, gelu_backward); }

static void check_softmax(const char *name, int N, int C) {
    SafeTensors st;
    LOAD_REF(st, REF);
    char key[64];
    size_t n = (size_t)N * C;
    REF_TENSOR(x, st, (snprintf(key, sizeof key, "%s.x", name), key), n);
    REF_TENSOR(y_ref, st, (snprintf(key, sizeof key, "%s.y", name), key), n);
    REF_TENSOR(dy, st, (snprintf(key, sizeof key, "%s.dy", name), key), n);
    REF_TENSOR(dx_ref, st, (snprintf(key, sizeof key, "%s.dx", name), key), n);
    float y[128], dx[128] = {0}, dx2[128];
    softmax_forward(y, x, N, C);
    double r1 = test_close_ratio(y, y_ref, n, 1e-5, 1e-7, NULL);
    softmax_backward(dx, dy, y, N, C);
    double r2 = test_close_ratio(dx, dx_ref, n, 1e-5, 1e-6, NULL);
    for (size_t i = 0; i < n; i++) dx2[i] = 2 * dx[i];
    softmax_backward(dx, dy, y, N, C);
    double r3 = test_close_ratio(dx, dx2, n, 1e-6, 1e-12, NULL);
    st_free(&st);
    CHECK(r1 <= 1, "%s forward differs from torch (ratio %g)", name, r1);
    CHECK(r2 <= 1, "%s backward differs from torch (ratio %g)", name, r2);
    CHECK(r3 <= 1, "%s backward does not accumulate (ratio %g)", name, r3);
}

TEST(softmax_matches_torch) { check_softmax("softmax", 6, 11); }
TEST(softmax_single_column) { check_softmax("softmax1", 3, 1); }

TEST(softmax_stable_for_huge_logits) {
    float x[4] = {1e30f, 1e30f, -1e30f, 0}, y[4];
    softmax_forward(y, x, 1, 4);
    CHECK(fabsf(y[0] - 0.5f) < 1e-7f && fabsf(y[1] - 0.5f) < 1e-7f && y[2] == 0 && y[3] == 0,
          "softmax(1e30,1e30,-1e30,0) = %g %g %g %g", y[0], y[1], y[2], y[3]);
}

// ---- finite differences: loss = sum(f(x) * probe) in double ------------------------------------
typedef struct {
    int kind; // 0 silu, 1 gelu, 2 softmax
    float *x, *y, *probe;
    int N, C;
} ActCtx;

static void act_fwd(ActCtx *c) {
    size_t n = (size_t)c->N * c->C;
    if (c->kind == 0) silu_forward(c->y, c->x, n);
    else if (c->kind == 1) gelu_forward(c->y, c->x, n);
    else softmax_forward(c->y, c->x, c->N, c->C);
}

static double act_loss(void *p) {
    ActCtx *c = p;
    act_fwd(c);
    return test_dot(c->y, c->probe, (size_t)c->N * c->C);
}

// h 1e-2 with float32 forward passes: tolerance rtol 1e-2, atol 1e-3 on each gradient entry.
static void gradcheck_act(int kind, const char *what) {
    enum { N = 4, C = 9 };
    float x[N * C], y[N * C], probe[N * C], g[N * C] = {0};
    uint64_t s = 12345 + kind;
    for (int i = 0; i < N * C; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = ((float)(s >> 40) / (float)(1 << 24) - 0.5f) * 8; // [-4, 4)
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        probe[i] = (float)(s >> 40) / (float)(1 << 24) - 0.5f;
    }
    ActCtx c = {kind, x, y, probe, N, C};
    act_fwd(&c);
    if (kind == 0) silu_backward(g, probe, x, N * C);
    else if (kind == 1) gelu_backward(g, probe, x, N * C);
    else softmax_backward(g, probe, y, N, C);
    CHECK_GRAD(x, g, (size_t)N * C, act_loss, &c, 1e-2f, 1e-2, 1e-3, what);
}

TEST(silu_gradcheck) { gradcheck_act(0, "silu dx"); }
TEST(gelu_gradcheck) { gradcheck_act(1, "gelu dx"); }
TEST(softmax_gradcheck) { gradcheck_act(2, "softmax dx"); }

int main(void) {
    RUN(silu_matches_torch);
    RUN(gelu_matches_torch);
    RUN(softmax_matches_torch);
    RUN(softmax_single_column);
    RUN(softmax_stable_for_huge_logits);
    RUN(silu_gradcheck);
    RUN(gelu_gradcheck);
    RUN(softmax_gradcheck);
    return test_summary();
}
