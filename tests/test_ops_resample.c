// test_ops_resample.c: upsample2x, patchify and unpatchify against PyTorch, by finite
// differences, accumulation, and patchify + linear == the strided conv of SiT's x_embedder.
#include "test.h"
#include "testutil.h"
#include "ops/ops.h"

enum { UPSAMPLE, PATCHIFY, UNPATCHIFY };

static void op_forward(int op, float *out, const float *inp, const int *v) {
    if (op == UPSAMPLE) upsample2x_forward(out, inp, v[0], v[1], v[2], v[3]);
    else if (op == PATCHIFY) patchify_forward(out, inp, v[0], v[1], v[2], v[3], v[4]);
    else unpatchify_forward(out, inp, v[0], v[1], v[2], v[3], v[4]);
}

static void op_backward(int op, float *dinp, const float *dout, const int *v) {
    if (op == UPSAMPLE) upsample2x_backward(dinp, dout, v[0], v[1], v[2], v[3]);
    else if (op == PATCHIFY) patchify_backward(dinp, dout, v[0], v[1], v[2], v[3], v[4]);
    else unpatchify_backward(dinp, dout, v[0], v[1], v[2], v[3], v[4]);
}

// Element counts of inp and out; the image side is B*C*H*W either way for the patch ops.
static void op_sizes(int op, const int *v, size_t *nin, size_t *nout) {
    size_t img = (size_t)v[0] * v[1] * v[2] * v[3];
    if (op == UPSAMPLE) { *nin = img; *nout = 4 * img; }
    else { *nin = img; *nout = img; }
}

static void check_case(const SafeTensors *st, const char *name, int op) {
    int ncfg = op == UPSAMPLE ? 4 : 5, v[5] = {0};
    REF_TENSOR(cfg, *st, test_key(name, "cfg"), ncfg);
    for (int i = 0; i < ncfg; i++) v[i] = (int)cfg[i];
    size_t nx, ny;
    op_sizes(op, v, &nx, &ny);
    REF_TENSOR(x, *st, test_key(name, "x"), nx);
    REF_TENSOR(want, *st, test_key(name, "out"), ny);
    REF_TENSOR(g, *st, test_key(name, "g"), ny);
    REF_TENSOR(dx_want, *st, test_key(name, "dx"), nx);
    float *y = xcalloc(ny, 4), *dx = xcalloc(nx, 4);
    op_forward(op, y, x, v);
    CHECK_CLOSE(y, want, ny, 0, 1e-30, test_key(name, "out")); // a pure shuffle: exact
    op_backward(op, dx, g, v);
    CHECK_CLOSE(dx, dx_want, nx, 1e-6, 1e-6, test_key(name, "dx"));
    op_backward(op, dx, g, v); // adds: twice the gradient
    for (size_t i = 0; i < nx; i++) dx[i] *= 0.5f;
    CHECK_CLOSE(dx, dx_want, nx, 1e-6, 1e-6, test_key(name, "dx after two calls, halved"));
    free(y); free(dx);
}

TEST(resample_matches_torch) {
    SafeTensors st;
    LOAD_REF(st, "tests/ref/ops_gemm_resample.safetensors");
    const char *ups[] = {"up_a", "up_1x1"}, *ps[] = {"p2", "p3", "p1"};
    char name[64];
    for (int i = 0; i < 2; i++) { check_case(&st, ups[i], UPSAMPLE); if (test_failed_) return; }
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof name, "patch_%s", ps[i]);
        check_case(&st, name, PATCHIFY);
        if (test_failed_) return;
        snprintf(name, sizeof name, "unpatch_%s", ps[i]);
        check_case(&st, name, UNPATCHIFY);
        if (test_failed_) return;
    }
    st_free(&st);
}

typedef struct { int op; const int *v; float *x, *probe, *y; size_t ny; } RsCtx;

static double rs_loss(void *p) {
    RsCtx *k = p;
    op_forward(k->op, k->y, k->x, k->v);
    return test_dot(k->y, k->probe, k->ny);
}

// Linear shuffles: h 1e-2, atol 1e-3 and rtol 1e-3 cover the float32 rounding of the loss.
TEST(resample_finite_differences) {
    uint32_t seed = 8;
    static const int shapes[3][5] = {{2, 2, 3, 5, 0}, {2, 3, 4, 6, 2}, {1, 2, 6, 3, 3}};
    for (int op = 0; op < 3; op++) {
        RsCtx k = {.op = op, .v = shapes[op]};
        size_t nx;
        op_sizes(op, k.v, &nx, &k.ny);
        k.x = test_rand_array(nx, &seed); k.probe = test_rand_array(k.ny, &seed); k.y = xmalloc(k.ny * 4);
        float *dx = xcalloc(nx, 4);
        op_backward(op, dx, k.probe, k.v);
        CHECK_GRAD(k.x, dx, nx, rs_loss, &k, 1e-2f, 1e-3, 1e-3, op == UPSAMPLE ? "upsample" : op == PATCHIFY ? "patchify" : "unpatchify");
        free(k.x); free(k.probe); free(k.y); free(dx);
    }
}

// SiT's x_embedder is a conv with kernel = stride = p; patchify's [c, i, j] token order must
// make it the same as a linear with the conv weight flattened.
TEST(patchify_linear_equals_strided_conv) {
    uint32_t seed = 12;
    int B = 2, C = 4, H = 4, W = 6, p = 2, D = 5, T = (H / p) * (W / p), K = C * p * p;
    float *x = test_rand_array((size_t)B * C * H * W, &seed), *w = test_rand_array((size_t)D * K, &seed), *b = test_rand_array(D, &seed);
    float *tok = xmalloc((size_t)B * T * K * 4), *lin = xmalloc((size_t)B * T * D * 4);
    float *conv = xmalloc((size_t)B * D * T * 4), *conv_t = xmalloc((size_t)B * T * D * 4);
    Conv2d c;
    char err[ERRLEN];
    CHECK(conv2d_init(&c, B, C, H, W, D, p, p, 0, 0, 0, 0, err) == 0, "%s", err);
    Workspace ws;
    workspace_init(&ws, conv2d_workspace_min(&c));
    conv2d_forward(conv, x, w, b, &c, &ws);
    for (int bb = 0; bb < B; bb++) // (B, D, T) -> (B, T, D)
        for (int t = 0; t < T; t++)
            for (int d = 0; d < D; d++) conv_t[((size_t)bb * T + t) * D + d] = conv[((size_t)bb * D + d) * T + t];
    patchify_forward(tok, x, B, C, H, W, p);
    linear_forward(lin, tok, w, b, B * T, K, D);
    CHECK_CLOSE(lin, conv_t, (size_t)B * T * D, 1e-5, 1e-6, "patchify + linear vs conv");
    free(x); free(w); free(b); free(tok); free(lin); free(conv); free(conv_t);
    workspace_free(&ws);
}

int main(void) {
    RUN(resample_matches_torch);
    RUN(resample_finite_differences);
    RUN(patchify_linear_equals_strided_conv);
    return test_summary();
}
