// test_ops_adaln.c: modulate, gated residual, label embedding, timestep embedding and the
// elementwise add/accumulate against PyTorch (tests/gen_ops_misc.py), finite differences,
// and backward accumulation. Finite differences: central, h 1e-3 on sum(out * probe) in
// double, rtol 1e-2 atol 1e-4 (float forwards limit it to about 1e-4 absolute).
#include <omp.h>
#include "test.h"
#include "testutil.h"
#include "ops/ops.h"

#define REF "tests/ref/ops_misc_adaln.safetensors"
#define RTOL 1e-5
#define FD_H 1e-3f
#define FD_RTOL 1e-2
#define FD_ATOL 1e-4

static const float *ref_get(const SafeTensors *st, const char *tag, const char *name, size_t *n) {
    const StTensor *t = st_find(st, test_key(tag, name));
    if (t && n) *n = t->numel;
    return t ? t->data : NULL;
}

// ---- modulate / gate_residual ----------------------------------------------------------------
typedef struct { float *out, *x, *y, *ada, *probe; int B, T, C, gate; } AdaCtx;

static double ada_loss(void *p) {
    AdaCtx *c = p;
    int C = c->C, ld = 6 * C;
    if (c->gate) gate_residual_forward(c->out, c->x, c->y, c->ada + 2 * C, c->B, c->T, C, ld);
    else modulate_forward(c->out, c->x, c->ada, c->ada + C, c->B, c->T, C, ld);
    return test_dot(c->out, c->probe, (size_t)c->B * c->T * C);
}

static void adaln_case(const char *tag, int B, int T, int C) {
    SafeTensors st;
    LOAD_REF(st, REF);
    size_t n = (size_t)B * T * C, na = (size_t)B * 6 * C;
    const float *ada = ref_get(&st, tag, "ada", NULL), *x = ref_get(&st, tag, "x", NULL),
                *y = ref_get(&st, tag, "y", NULL), *probe = ref_get(&st, tag, "probe", NULL);
    CHECK(ada && x && y && probe, "reference lacks %s inputs", tag);
    int ld = 6 * C;
    float *out = test_zerosf(n), *dx = test_zerosf(n), *dy = test_zerosf(n), *dada = test_zerosf(na);

    // modulate: shift = ada[:, 0:C], scale = ada[:, C:2C]
    modulate_forward(out, x, ada, ada + C, B, T, C, ld);
    CHECK_CLOSE(out, ref_get(&st, tag, "mod", NULL), n, RTOL, 1e-6, "modulate out");
    modulate_backward(dx, dada, dada + C, probe, x, ada + C, B, T, C, ld);
    CHECK_CLOSE(dx, ref_get(&st, tag, "mod_dx", NULL), n, RTOL, 1e-6, "modulate dx");
    // the whole (B,6C) gradient: untouched slices must stay zero, so ld is honoured
    CHECK_CLOSE(dada, ref_get(&st, tag, "mod_dada", NULL), na, RTOL, 1e-6, "modulate dshift/dscale");

    // calling backward again doubles every gradient
    float *dx1 = test_copyf(dx, n), *dada1 = test_copyf(dada, na);
    modulate_backward(dx, dada, dada + C, probe, x, ada + C, B, T, C, ld);
    for (size_t i = 0; i < n; i++) CHECK(dx[i] == 2 * dx1[i], "modulate dx does not accumulate at %zu", i);
    for (size_t i = 0; i < na; i++) CHECK(dada[i] == 2 * dada1[i], "modulate dada does not accumulate at %zu", i);
    // NULL gradients are skipped
    modulate_backward(NULL, NULL, NULL, probe, x, ada + C, B, T, C, ld);

    // finite differences against the analytic gradients
    AdaCtx ctx = {out, test_copyf(x, n), test_copyf(y, n), test_copyf(ada, na), (float *)probe, B, T, C, 0};
    memset(dx, 0, n * sizeof(float));
    memset(dada, 0, na * sizeof(float));
    modulate_backward(dx, dada, dada + C, probe, x, ada + C, B, T, C, ld);
    CHECK_GRAD(ctx.x, dx, n, ada_loss, &ctx, FD_H, FD_RTOL, FD_ATOL, "modulate dx (fd)");
    CHECK_GRAD(ctx.ada, dada, na, ada_loss, &ctx, FD_H, FD_RTOL, FD_ATOL, "modulate dada (fd)");

    // gated residual: gate = ada[:, 2C:3C]; in place on a copy of x
    float *xo = test_copyf(x, n);
    gate_residual_forward(xo, xo, y, ada + 2 * C, B, T, C, ld);
    CHECK_CLOSE(xo, ref_get(&st, tag, "gate", NULL), n, RTOL, 1e-6, "gate_residual out (in place)");
    memset(dx, 0, n * sizeof(float));
    memset(dada, 0, na * sizeof(float));
    gate_residual_backward(dx, dy, dada + 2 * C, probe, y, ada + 2 * C, B, T, C, ld);
    CHECK_CLOSE(dx, ref_get(&st, tag, "gate_dx", NULL), n, RTOL, 1e-6, "gate_residual dx");
    CHECK_CLOSE(dy, ref_get(&st, tag, "gate_dy", NULL), n, RTOL, 1e-6, "gate_residual dy");
    CHECK_CLOSE(dada, ref_get(&st, tag, "gate_dada", NULL), na, RTOL, 1e-6, "gate_residual dgate");
    float *dy1 = test_copyf(dy, n);
    memcpy(dada1, dada, na * sizeof(float));
    gate_residual_backward(NULL, dy, dada + 2 * C, probe, y, ada + 2 * C, B, T, C, ld);
    for (size_t i = 0; i < n; i++) CHECK(dy[i] == 2 * dy1[i], "gate dy does not accumulate at %zu", i);
    for (size_t i = 0; i < na; i++) CHECK(dada[i] == 2 * dada1[i], "gate dgate does not accumulate at %zu", i);

    ctx.gate = 1;
    memset(dx, 0, n * sizeof(float));
    memset(dy, 0, n * sizeof(float));
    memset(dada, 0, na * sizeof(float));
    gate_residual_backward(dx, dy, dada + 2 * C, probe, y, ada + 2 * C, B, T, C, ld);
    CHECK_GRAD(ctx.x, dx, n, ada_loss, &ctx, FD_H, FD_RTOL, FD_ATOL, "gate_residual dx (fd)");
    CHECK_GRAD(ctx.y, dy, n, ada_loss, &ctx, FD_H, FD_RTOL, FD_ATOL, "gate_residual dy (fd)");
    CHECK_GRAD(ctx.ada, dada, na, ada_loss, &ctx, FD_H, FD_RTOL, FD_ATOL, "gate_residual dgate (fd)");

    free(out); free(dx); free(dy); free(dada); free(dx1); free(dada1); free(dy1); free(xo);
    free(ctx.x); free(ctx.y); free(ctx.ada);
    st_free(&st);
}

TEST(modulate_and_gate_match_torch_C70) { adaln_case("big", 2, 5, 70); }
TEST(modulate_and_gate_match_torch_batch1_T1) { adaln_case("tiny", 1, 1, 3); }

// ---- embedding -------------------------------------------------------------------------------
TEST(embedding_matches_torch) {
    SafeTensors st;
    LOAD_REF(st, REF);
    enum { V = 7, B = 5, C = 6 };
    REF_TENSOR(table, st, "emb.table", V * C);
    REF_TENSOR(flabels, st, "emb.labels", B);
    REF_TENSOR(probe, st, "emb.probe", B * C);
    REF_TENSOR(want, st, "emb.out", B * C);
    REF_TENSOR(wantd, st, "emb.dtable", V * C);
    int labels[B];
    for (int b = 0; b < B; b++) labels[b] = (int)flabels[b];
    float out[B * C], dtable[V * C] = {0};
    embedding_forward(out, table, labels, B, C);
    CHECK(memcmp(out, want, sizeof out) == 0, "embedding out is not an exact copy of the table rows");
    embedding_backward(dtable, probe, labels, B, C);
    CHECK_CLOSE(dtable, wantd, V * C, RTOL, 1e-6, "embedding dtable (label 3 repeats)");
    embedding_backward(dtable, probe, labels, B, C);
    for (int i = 0; i < V * C; i++) {
        float w = 2 * wantd[i];
        CHECK(fabsf(dtable[i] - w) <= 1e-6f + 1e-5f * fabsf(w), "dtable does not accumulate at %d", i);
    }
    embedding_backward(NULL, probe, labels, B, C);
    st_free(&st);
}

// ---- timestep embedding ----------------------------------------------------------------------
typedef struct { float *out, *t, *probe; int B, dim; } TsCtx;

static double ts_loss(void *p) {
    TsCtx *c = p;
    timestep_embedding_forward(c->out, c->t, c->B, c->dim, 10000.0f);
    return test_dot(c->out, c->probe, (size_t)c->B * c->dim);
}

static void ts_case(const char *tag, int dim, double atol_out, double atol_dt, int fd) {
    SafeTensors st;
    LOAD_REF(st, REF);
    size_t B = 0, n = 0;
    const float *t = ref_get(&st, tag, "t", &B), *probe = ref_get(&st, tag, "probe", NULL),
                *want = ref_get(&st, tag, "out", &n), *wantd = ref_get(&st, tag, "dt", NULL);
    CHECK(t && probe && want && wantd && n == B * dim, "reference lacks %s", tag);
    float *out = test_zerosf(n), *dt = test_zerosf(B);
    for (size_t i = 0; i < n; i++) out[i] = NAN; // the odd pad must be written
    timestep_embedding_forward(out, t, (int)B, dim, 10000.0f);
    CHECK_CLOSE(out, want, n, RTOL, atol_out, "timestep embedding out");
    timestep_embedding_backward(dt, probe, t, (int)B, dim, 10000.0f);
    CHECK_CLOSE(dt, wantd, B, RTOL, atol_dt, "timestep embedding dt");
    float *dt1 = test_copyf(dt, B);
    timestep_embedding_backward(dt, probe, t, (int)B, dim, 10000.0f);
    for (size_t i = 0; i < B; i++) CHECK(dt[i] == 2 * dt1[i], "dt does not accumulate at %zu", i);
    free(dt1);
    timestep_embedding_backward(NULL, probe, t, (int)B, dim, 10000.0f);
    if (fd) { // t of order 1; at large t the embedding is too curved for float differences
        TsCtx ctx = {out, test_copyf(t, B), (float *)probe, (int)B, dim};
        memset(dt, 0, B * sizeof(float));
        timestep_embedding_backward(dt, probe, t, (int)B, dim, 10000.0f);
        CHECK_GRAD(ctx.t, dt, B, ts_loss, &ctx, FD_H, FD_RTOL, FD_ATOL, "timestep dt (fd)");
        free(ctx.t);
    }
    free(out);
    free(dt);
    st_free(&st);
}

TEST(timestep_embedding_dim16_matches_torch) { ts_case("ts16", 16, 1e-6, 1e-5, 1); }
TEST(timestep_embedding_odd_dim_pads_zero) { ts_case("ts7", 7, 1e-6, 1e-5, 1); }
TEST(timestep_embedding_dim3_batch1) { ts_case("ts3", 3, 1e-6, 1e-5, 1); }
// t up to 999 (DiT's integer timesteps): args are rounded through float exactly as in torch,
// so the embedding still agrees; dt sums terms of size ~1e3 and gets a larger atol.
TEST(timestep_embedding_large_t_matches_torch) { ts_case("tsbig", 32, 1e-6, 1e-4, 0); }

// ---- add / accumulate ------------------------------------------------------------------------
TEST(add_and_accumulate) {
    size_t n = 40000; // over the threading threshold
    float *a = xmalloc(n * sizeof(float)), *b = xmalloc(n * sizeof(float)), *o = xmalloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) { a[i] = (float)i * 0.5f; b[i] = 1.0f - (float)(i % 7); }
    add_forward(o, a, b, n);
    for (size_t i = 0; i < n; i++) CHECK(o[i] == a[i] + b[i], "add at %zu", i);
    accumulate(o, a, n);
    for (size_t i = 0; i < n; i++) CHECK(o[i] == (a[i] + b[i]) + a[i], "accumulate at %zu", i);
    add_forward(a, a, a, 3); // in place
    CHECK(a[0] == 0 && a[1] == 1.0f && a[2] == 2.0f, "add in place");
    free(a); free(b); free(o);
}

// Sizes over the threading threshold: the parallel backward (one task per image and column
// chunk) must give exactly the single-thread result, or resumed runs would drift.
TEST(adaln_backward_threaded_equals_serial) {
    int B = 2, T = 64, C = 200, ld = 6 * C;
    size_t n = (size_t)B * T * C, na = (size_t)B * ld;
    float *x = xmalloc(n * sizeof(float)), *y = xmalloc(n * sizeof(float)), *d = xmalloc(n * sizeof(float));
    float *ada = xmalloc(na * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        x[i] = sinf((float)i * 0.37f);
        y[i] = cosf((float)i * 0.11f);
        d[i] = sinf((float)i * 0.05f + 1);
    }
    for (size_t i = 0; i < na; i++) ada[i] = 0.1f * sinf((float)i);
    float *g[2][3];
    int saved = omp_get_max_threads();
    for (int k = 0; k < 2; k++) {
        omp_set_num_threads(k + 1);
        g[k][0] = test_zerosf(n); g[k][1] = test_zerosf(n); g[k][2] = test_zerosf(na);
        modulate_backward(g[k][0], g[k][2], g[k][2] + C, d, x, ada + C, B, T, C, ld);
        gate_residual_backward(g[k][0], g[k][1], g[k][2] + 2 * C, d, y, ada + 2 * C, B, T, C, ld);
    }
    omp_set_num_threads(saved);
    CHECK(memcmp(g[0][0], g[1][0], n * sizeof(float)) == 0, "dx differs between 1 and 2 threads");
    CHECK(memcmp(g[0][1], g[1][1], n * sizeof(float)) == 0, "dy differs between 1 and 2 threads");
    CHECK(memcmp(g[0][2], g[1][2], na * sizeof(float)) == 0, "dada differs between 1 and 2 threads");
    for (int k = 0; k < 2; k++) for (int j = 0; j < 3; j++) free(g[k][j]);
    free(x); free(y); free(d); free(ada);
}

int main(void) {
    RUN(modulate_and_gate_match_torch_C70);
    RUN(modulate_and_gate_match_torch_batch1_T1);
    RUN(embedding_matches_torch);
    RUN(timestep_embedding_dim16_matches_torch);
    RUN(timestep_embedding_odd_dim_pads_zero);
    RUN(timestep_embedding_dim3_batch1);
    RUN(timestep_embedding_large_t_matches_torch);
    RUN(add_and_accumulate);
    RUN(adaln_backward_threaded_equals_serial);
    return test_summary();
}
