// test_ops_act.c: SiLU, tanh-GELU, LeakyReLU and softmax against PyTorch (tests/gen_ops_act.py), plus
// finite-difference gradient checks and the accumulate-into-gradient contract.
#include "test.h"
#include "testutil.h"
#include "ops/ops.h"
#include "ops/vecmath.h"

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
// The PatchGAN's slope (model/disc.c); the reference is torch.nn.LeakyReLU(0.2).
static void leaky_fwd(float *out, const float *inp, size_t n) { leaky_relu_forward(out, inp, n, 0.2f); }
static void leaky_bwd(float *dinp, const float *dout, const float *inp, size_t n) {
    leaky_relu_backward(dinp, dout, inp, n, 0.2f);
}
TEST(leaky_relu_matches_torch) { check_elementwise("leaky", leaky_fwd, leaky_bwd); }

// In place (out == inp), and the backward given the output instead of the input: the same
// gradient, which is what the discriminator relies on to keep one buffer per layer.
TEST(leaky_relu_in_place_and_from_output) {
    enum { N = 64 };
    float x[N], y[N], dy[N], g1[N] = {0}, g2[N] = {0};
    uint64_t s = 99;
    for (int i = 0; i < N; i++) { x[i] = (test_unit64(&s) - 0.5f) * 6; dy[i] = test_unit64(&s) - 0.5f; }
    x[0] = 0.0f; x[1] = -0.0f;
    leaky_relu_forward(y, x, N, 0.2f);
    leaky_relu_backward(g1, dy, x, N, 0.2f);
    float z[N];
    memcpy(z, x, sizeof z);
    leaky_relu_forward(z, z, N, 0.2f);
    leaky_relu_backward(g2, dy, z, N, 0.2f);
    for (int i = 0; i < N; i++) {
        CHECK(z[i] == y[i], "in-place leaky_relu(%g) = %g, want %g", x[i], z[i], y[i]);
        CHECK(g1[i] == g2[i], "leaky_relu backward from the output at x = %g: %g, from the input %g", x[i], g2[i], g1[i]);
    }
    CHECK(g1[0] == 0.2f * dy[0], "leaky_relu gradient at 0 is %g, want slope * dout = %g", g1[0], 0.2f * dy[0]);
}

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
    int kind; // 0 silu, 1 gelu, 2 softmax, 3 leaky relu
    float *x, *y, *probe;
    int N, C;
} ActCtx;

static void act_fwd(ActCtx *c) {
    size_t n = (size_t)c->N * c->C;
    if (c->kind == 0) silu_forward(c->y, c->x, n);
    else if (c->kind == 1) gelu_forward(c->y, c->x, n);
    else if (c->kind == 3) leaky_relu_forward(c->y, c->x, n, 0.2f);
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
        x[i] = (test_unit64(&s) - 0.5f) * 8; // [-4, 4)
        // LeakyReLU's kink: keep every point further than h from 0 so that the central
        // difference sees one side only.
        if (kind == 3 && fabsf(x[i]) < 0.05f) x[i] = x[i] < 0 ? -0.5f : 0.5f;
        probe[i] = test_unit64(&s) - 0.5f;
    }
    ActCtx c = {kind, x, y, probe, N, C};
    act_fwd(&c);
    if (kind == 0) silu_backward(g, probe, x, N * C);
    else if (kind == 1) gelu_backward(g, probe, x, N * C);
    else if (kind == 3) leaky_relu_backward(g, probe, x, N * C, 0.2f);
    else softmax_backward(g, probe, y, N, C);
    CHECK_GRAD(x, g, (size_t)N * C, act_loss, &c, 1e-2f, 1e-2, 1e-3, what);
}

TEST(silu_gradcheck) { gradcheck_act(0, "silu dx"); }
TEST(gelu_gradcheck) { gradcheck_act(1, "gelu dx"); }
TEST(softmax_gradcheck) { gradcheck_act(2, "softmax dx"); }
TEST(leaky_relu_gradcheck) { gradcheck_act(3, "leaky_relu dx"); }

// ---- the vectorisable exp (src/ops/vecmath.h) and the activations over their whole range ----------
TEST(fast_exp_accuracy) {
    double worst = 0, at = 0;
    for (int i = 0; i <= 1750000; i++) {
        float x = -87.0f + (float)i * 1e-4f;
        double want = exp((double)x), err = fabs(ops_expf(x) - want) / want;
        if (err > worst) { worst = err; at = x; }
    }
    // 2 ulp of a float is 2.4e-7 relative
    CHECK(worst < 2.4e-7, "ops_expf relative error %g at x = %g (want < 2 ulp)", worst, at);
    CHECK(ops_expf(0.0f) == 1.0f, "ops_expf(0) = %.9g", ops_expf(0.0f));
    CHECK(ops_expf(-100.0f) == 0.0f && ops_expf(-INFINITY) == 0.0f, "ops_expf does not underflow to 0");
    CHECK(isfinite(ops_expf(1000.0f)) && ops_expf(1000.0f) > 1e38f, "ops_expf(1000) = %g", ops_expf(1000.0f));
    CHECK(isnan(ops_expf(NAN)), "ops_expf(NaN) is not NaN");
}

// SiLU and GELU forward and backward against double formulas from -100 to 100: the tails, where
// sigmoid saturates and the clamped exp takes over, must stay accurate and finite.
TEST(silu_gelu_whole_range) {
    enum { N = 20001 };
    float *x = xmalloc(N * sizeof *x), *y = xmalloc(N * sizeof *y), *g = xmalloc(N * sizeof *g);
    float *one = xmalloc(N * sizeof *one);
    for (int i = 0; i < N; i++) { x[i] = -100.0f + 0.01f * (float)i; one[i] = 1.0f; }
    for (int kind = 0; kind < 2; kind++) {
        memset(g, 0, N * sizeof *g);
        if (kind == 0) { silu_forward(y, x, N); silu_backward(g, one, x, N); }
        else { gelu_forward(y, x, N); gelu_backward(g, one, x, N); }
        for (int i = 0; i < N; i++) {
            // 0.5 v (1 + tanh(u)) as v sigmoid(2u): in the negative tail 1 + tanh(u) cancels
            // to 0 even in double, which would make the reference the wrong one.
            double v = x[i], u = kind ? 0.7978845608028654 * (v + 0.044715 * v * v * v) : 0.5 * v;
            double e = exp(-2 * u), sg = 1 / (1 + e), f = v * sg;
            double du = kind ? 0.7978845608028654 * (1 + 3 * 0.044715 * v * v) : 0.5;
            double d = sg + 2 * v * sg * (isinf(e) ? 1.0 : e * sg) * du;
            const char *name = kind ? "gelu" : "silu";
            // u itself is rounded in float (as in PyTorch), an error exp(-2u) multiplies by |2u|
            double rtol = 2e-6 + 4e-7 * fabs(2 * u);
            CHECK(isfinite(y[i]) && fabs(y[i] - f) <= rtol * fabs(f) + 1e-30,
                  "%s(%g) = %.9g, want %.9g", name, v, y[i], f);
            // the derivative crosses 0 near -1.28 (silu) / -0.75 (gelu), where s (1 + x (1 - s))
            // cancels in float: an absolute floor of 1e-7 there
            CHECK(isfinite(g[i]) && fabs(g[i] - d) <= rtol * fabs(d) + 1e-7,
                  "%s'(%g) = %.9g, want %.9g", name, v, g[i], d);
        }
    }
    free(x); free(y); free(g); free(one);
}

// The AVX-512 builds of the loops (ops_vec512) give the AVX2 build's bits: every value of a
// sweep over the range with the special values, odd lengths (masked tails), one and two threads
// alike. Fails if either build computes differently (contraction, another order, a fast path).
static int same_both_builds(elem_fwd fwd, elem_bwd bwd, const float *x, const float *dy, size_t n, float *a, float *b) {
    ops_vec512_force(0);
    fwd(a, x, n);
    memset(a + n, 0, n * sizeof *a);
    bwd(a + n, dy, x, n);
    ops_vec512_force(1);
    fwd(b, x, n);
    memset(b + n, 0, n * sizeof *b);
    bwd(b + n, dy, x, n);
    ops_vec512_force(-1);
    return memcmp(a, b, 2 * n * sizeof *a) == 0;
}

TEST(avx512_builds_give_the_same_bits) {
    if (!(ops_vec512_force(1), ops_vec512())) { ops_vec512_force(-1); printf("  (no AVX-512 here: skipped)\n"); return; }
    ops_vec512_force(-1);
    size_t n = 100003;
    float *x = xmalloc(n * sizeof *x), *dy = xmalloc(n * sizeof *dy);
    float *a = xmalloc(2 * n * sizeof *a), *b = xmalloc(2 * n * sizeof *b);
    uint64_t s = 99;
    for (size_t i = 0; i < n; i++) { x[i] = 24.0f * test_urand(&s); dy[i] = test_urand(&s); }
    const float special[] = {0.0f, -0.0f, NAN, INFINITY, -INFINITY, 88.5f, -88.5f, 1e-40f, -1e-40f, 3e38f, -3e38f};
    for (size_t i = 0; i < sizeof special / sizeof *special; i++) x[17 + 31 * i] = special[i];
    size_t lens[] = {n, 7, 15, 16, 17, 40000};
    for (size_t k = 0; k < sizeof lens / sizeof *lens; k++) {
        CHECK(same_both_builds(silu_forward, silu_backward, x, dy, lens[k], a, b), "silu differs, n = %zu", lens[k]);
        CHECK(same_both_builds(gelu_forward, gelu_backward, x, dy, lens[k], a, b), "gelu differs, n = %zu", lens[k]);
    }
    free(x); free(dy); free(a); free(b);
}

int main(void) {
    RUN(fast_exp_accuracy);
    RUN(silu_gelu_whole_range);
    RUN(silu_matches_torch);
    RUN(gelu_matches_torch);
    RUN(leaky_relu_matches_torch);
    RUN(leaky_relu_in_place_and_from_output);
    RUN(softmax_matches_torch);
    RUN(softmax_single_column);
    RUN(softmax_stable_for_huge_logits);
    RUN(silu_gradcheck);
    RUN(gelu_gradcheck);
    RUN(softmax_gradcheck);
    RUN(leaky_relu_gradcheck);
    RUN(avx512_builds_give_the_same_bits);
    return test_summary();
}
