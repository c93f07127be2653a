// test_ops_linear.c: linear against PyTorch, a naive triple loop and finite differences;
// accumulation, NULL gradients and degenerate sizes.
#include "test.h"
#include "testutil.h"
#include "ops/ops.h"

static void linear_naive_forward(float *out, const float *x, const float *w, const float *b, int N, int nin, int nout) {
    for (int n = 0; n < N; n++)
        for (int o = 0; o < nout; o++) {
            double s = b ? b[o] : 0;
            for (int i = 0; i < nin; i++) s += (double)x[(size_t)n * nin + i] * w[(size_t)o * nin + i];
            out[(size_t)n * nout + o] = (float)s;
        }
}

static void linear_naive_backward(float *dx, float *dw, float *db, const float *dout, const float *x,
                                  const float *w, int N, int nin, int nout) {
    for (int n = 0; n < N; n++)
        for (int o = 0; o < nout; o++) {
            float d = dout[(size_t)n * nout + o];
            db[o] += d;
            for (int i = 0; i < nin; i++) {
                dx[(size_t)n * nin + i] += d * w[(size_t)o * nin + i];
                dw[(size_t)o * nin + i] += d * x[(size_t)n * nin + i];
            }
        }
}

static void check_case(const SafeTensors *st, const char *name) {
    REF_TENSOR(cfg, *st, test_key(name, "cfg"), 4);
    int N = (int)cfg[0], nin = (int)cfg[1], nout = (int)cfg[2], hb = (int)cfg[3];
    size_t nx = (size_t)N * nin, nw = (size_t)nout * nin, ny = (size_t)N * nout;
    REF_TENSOR(x, *st, test_key(name, "x"), nx);
    REF_TENSOR(w, *st, test_key(name, "w"), nw);
    REF_TENSOR(want, *st, test_key(name, "out"), ny);
    REF_TENSOR(g, *st, test_key(name, "g"), ny);
    REF_TENSOR(dx_want, *st, test_key(name, "dx"), nx);
    REF_TENSOR(dw_want, *st, test_key(name, "dw"), nw);
    const float *b = NULL, *db_want = NULL;
    if (hb) {
        REF_TENSOR(b_, *st, test_key(name, "b"), nout);
        REF_TENSOR(db_, *st, test_key(name, "db"), nout);
        b = b_; db_want = db_;
    }
    float *y = xcalloc(ny, 4), *dx = xcalloc(nx, 4), *dw = xcalloc(nw, 4), *db = xcalloc(nout, 4);
    linear_forward(y, x, w, b, N, nin, nout);
    CHECK_CLOSE(y, want, ny, 1e-5, 1e-5, test_key(name, "out"));
    linear_backward(dx, dw, b ? db : NULL, g, x, w, N, nin, nout);
    CHECK_CLOSE(dx, dx_want, nx, 1e-5, 1e-5, test_key(name, "dx"));
    CHECK_CLOSE(dw, dw_want, nw, 1e-5, 1e-5, test_key(name, "dw"));
    if (b) CHECK_CLOSE(db, db_want, (size_t)nout, 1e-5, 1e-5, test_key(name, "db"));
    free(y); free(dx); free(dw); free(db);
}

TEST(linear_matches_torch) {
    SafeTensors st;
    LOAD_REF(st, "tests/ref/ops_gemm_linear.safetensors");
    const char *cases[] = {"basic", "n1_i1_nobias", "o1", "wide"};
    for (int i = 0; i < 4; i++) {
        check_case(&st, cases[i]);
        if (test_failed_) return;
    }
    st_free(&st);
}

TEST(linear_matches_naive) {
    uint32_t seed = 9;
    const int shapes[][3] = {{64, 256, 192}, {1024, 192, 576}, {17, 3, 29}, {5, 300, 1}};
    for (int s = 0; s < 4; s++) {
        int N = shapes[s][0], nin = shapes[s][1], nout = shapes[s][2];
        size_t nx = (size_t)N * nin, nw = (size_t)nout * nin, ny = (size_t)N * nout;
        float *x = test_rand_array(nx, &seed), *w = test_rand_array(nw, &seed), *b = test_rand_array(nout, &seed), *g = test_rand_array(ny, &seed);
        float *y = xcalloc(ny, 4), *yr = xcalloc(ny, 4), *dx = xcalloc(nx, 4), *dxr = xcalloc(nx, 4);
        float *dw = xcalloc(nw, 4), *dwr = xcalloc(nw, 4), *db = xcalloc(nout, 4), *dbr = xcalloc(nout, 4);
        linear_forward(y, x, w, b, N, nin, nout);
        linear_naive_forward(yr, x, w, b, N, nin, nout);
        CHECK_CLOSE(y, yr, ny, 1e-4, 1e-5, "forward vs naive");
        linear_backward(dx, dw, db, g, x, w, N, nin, nout);
        linear_naive_backward(dxr, dwr, dbr, g, x, w, N, nin, nout);
        // The naive loops sum in float in another order: ~sqrt(N) ulps apart.
        CHECK_CLOSE(dx, dxr, nx, 1e-4, 1e-4, "dinp vs naive");
        CHECK_CLOSE(dw, dwr, nw, 1e-4, 1e-4, "dweight vs naive");
        CHECK_CLOSE(db, dbr, (size_t)nout, 1e-4, 1e-4, "dbias vs naive");
        free(x); free(w); free(b); free(g); free(y); free(yr); free(dx); free(dxr);
        free(dw); free(dwr); free(db); free(dbr);
    }
}

TEST(linear_backward_accumulates_and_skips_null) {
    uint32_t seed = 2;
    int N = 6, nin = 5, nout = 7;
    size_t nx = (size_t)N * nin, nw = (size_t)nout * nin, ny = (size_t)N * nout;
    float *x = test_rand_array(nx, &seed), *w = test_rand_array(nw, &seed), *g = test_rand_array(ny, &seed);
    float *dx1 = xcalloc(nx, 4), *dw1 = xcalloc(nw, 4), *db1 = xcalloc(nout, 4);
    float *dx2 = xcalloc(nx, 4), *dw2 = xcalloc(nw, 4), *db2 = xcalloc(nout, 4);
    linear_backward(dx1, dw1, db1, g, x, w, N, nin, nout);
    linear_backward(dx2, dw2, db2, g, x, w, N, nin, nout);
    linear_backward(dx2, NULL, NULL, g, x, w, N, nin, nout);
    linear_backward(NULL, dw2, NULL, g, x, w, N, nin, nout);
    linear_backward(NULL, NULL, db2, g, x, w, N, nin, nout);
    linear_backward(NULL, NULL, NULL, g, x, w, N, nin, nout);
    for (size_t i = 0; i < nx; i++) dx1[i] *= 2;
    for (size_t i = 0; i < nw; i++) dw1[i] *= 2;
    for (int i = 0; i < nout; i++) db1[i] *= 2;
    CHECK_CLOSE(dx2, dx1, nx, 1e-6, 1e-6, "dinp");
    CHECK_CLOSE(dw2, dw1, nw, 1e-6, 1e-6, "dweight");
    CHECK_CLOSE(db2, db1, (size_t)nout, 1e-6, 1e-6, "dbias");
    free(x); free(w); free(g); free(dx1); free(dw1); free(db1); free(dx2); free(dw2); free(db2);
}

// linear_backward_prec_set: dinp overwritten with the values of adding into zeros, over NaN;
// weight and bias gradients still added to. fp32 and bf16, SiT's shape (own kernel) and a small one.
TEST(linear_backward_set_overwrites_dinp) {
    static const int S[][3] = {{6, 5, 7}, {1024, 192, 768}, {64, 192, 1152}};
    uint32_t seed = 5;
    for (size_t t = 0; t < sizeof S / sizeof *S; t++)
        for (int bf16 = 0; bf16 < 2; bf16++) {
            int N = S[t][0], nin = S[t][1], nout = S[t][2];
            size_t nx = (size_t)N * nin, nw = (size_t)nout * nin, ny = (size_t)N * nout;
            float *x = test_rand_array(nx, &seed), *w = test_rand_array(nw, &seed), *g = test_rand_array(ny, &seed);
            float *dx = xcalloc(nx, 4), *dw = xcalloc(nw, 4), *db = xcalloc(nout, 4);
            float *dxs = xmalloc(nx * 4), *dws = xcalloc(nw, 4), *dbs = xcalloc(nout, 4);
            for (size_t i = 0; i < nx; i++) dxs[i] = NAN;
            linear_backward_prec(dx, dw, db, g, x, w, N, nin, nout, bf16);
            linear_backward_prec_set(dxs, dws, dbs, g, x, w, N, nin, nout, bf16);
            int ok = 1;
            for (size_t i = 0; i < nx; i++) ok &= dxs[i] == dx[i];
            for (size_t i = 0; i < nw; i++) ok &= dws[i] == dw[i];
            for (int i = 0; i < nout; i++) ok &= dbs[i] == db[i];
            free(x); free(w); free(g); free(dx); free(dw); free(db); free(dxs); free(dws); free(dbs);
            CHECK(ok, "N %d nin %d nout %d bf16 %d: the _set gradients differ from adding into zeros", N, nin, nout, bf16);
        }
}

typedef struct { float *x, *w, *b, *probe, *y; int N, nin, nout; } LinCtx;

static double lin_loss(void *p) {
    LinCtx *k = p;
    linear_forward(k->y, k->x, k->w, k->b, k->N, k->nin, k->nout);
    return test_dot(k->y, k->probe, (size_t)k->N * k->nout);
}

// Linear in every argument: h 1e-2 leaves only float32 rounding of the loss; atol 2e-3, rtol 1e-3.
TEST(linear_finite_differences) {
    uint32_t seed = 4;
    LinCtx k = {.N = 5, .nin = 6, .nout = 4};
    size_t nx = (size_t)k.N * k.nin, nw = (size_t)k.nout * k.nin, ny = (size_t)k.N * k.nout;
    k.x = test_rand_array(nx, &seed); k.w = test_rand_array(nw, &seed); k.b = test_rand_array(k.nout, &seed);
    k.probe = test_rand_array(ny, &seed); k.y = xmalloc(ny * 4);
    float *dx = xcalloc(nx, 4), *dw = xcalloc(nw, 4), *db = xcalloc(k.nout, 4);
    linear_backward(dx, dw, db, k.probe, k.x, k.w, k.N, k.nin, k.nout);
    CHECK_GRAD(k.x, dx, nx, lin_loss, &k, 1e-2f, 1e-3, 2e-3, "dinp");
    CHECK_GRAD(k.w, dw, nw, lin_loss, &k, 1e-2f, 1e-3, 2e-3, "dweight");
    CHECK_GRAD(k.b, db, (size_t)k.nout, lin_loss, &k, 1e-2f, 1e-3, 2e-3, "dbias");
    free(k.x); free(k.w); free(k.b); free(k.probe); free(k.y); free(dx); free(dw); free(db);
}

// Empty sizes are no-ops (an empty product gives the bias), not BLAS parameter errors.
TEST(linear_degenerate_sizes) {
    float x[4] = {1, 2, 3, 4}, w[4] = {1, 1, 1, 1}, b[2] = {0.5f, -1}, out[4] = {9, 9, 9, 9};
    float dx[4] = {0}, dw[4] = {0}, db[2] = {0};
    linear_forward(out, x, w, b, 0, 2, 2);
    CHECK(out[0] == 9, "N 0 wrote the output");
    linear_forward(out, x, w, b, 2, 0, 2);
    CHECK(out[0] == 0.5f && out[1] == -1 && out[2] == 0.5f && out[3] == -1, "I 0: out is not the bias");
    linear_backward(dx, dw, db, x, x, w, 2, 0, 2);
    CHECK(db[0] == 4 && db[1] == 6 && dx[0] == 0, "I 0 backward: db %g %g", db[0], db[1]);
    linear_backward(dx, dw, db, x, x, w, 0, 2, 2);
    CHECK(db[0] == 4 && dx[0] == 0 && dw[0] == 0, "N 0 backward changed gradients");
}

int main(void) {
    RUN(linear_matches_torch);
    RUN(linear_matches_naive);
    RUN(linear_backward_accumulates_and_skips_null);
    RUN(linear_backward_set_overwrites_dinp);
    RUN(linear_finite_differences);
    RUN(linear_degenerate_sizes);
    return test_summary();
}
