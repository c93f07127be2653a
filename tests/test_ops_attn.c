// test_ops_attn.c: multi-head token attention and spatial attention against PyTorch
// (tests/gen_ops_attn.py), finite-difference gradient checks, the backward-accumulates and
// NULL-gradient contracts, exact scratch sizes, and the forward's direct path for small heads
// bit-equal to the sgemm path at any thread count (run under `make asan` to catch overruns).
#include "test.h"
#include "testutil.h"
#include "ops/ops.h"
#include "ops/gemm.h"
#include "ops/vecmath.h"
#include <omp.h>

#define REF "tests/ref/ops_attn.safetensors"
#define RTOL 1e-5
#define ATOL 1e-5

// One input sequence through the whole file (test_fill), as the tests were tuned with.
static uint64_t lcg_state = 0x9E3779B97F4A7C15ULL;

static void twice(float *dst, const float *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = 2 * src[i];
}

// ---- multi-head --------------------------------------------------------------------------------
static void check_mha(const char *name, int B, int T, int C, int NH) {
    SafeTensors st;
    LOAD_REF(st, REF);
    size_t nx = (size_t)B * T * 3 * C, ny = (size_t)B * T * C, na = (size_t)B * NH * T * T;
    REF_TENSOR(qkv, st, test_key(name, "qkv"), nx);
    REF_TENSOR(att_ref, st, test_key(name, "att"), na);
    REF_TENSOR(y_ref, st, test_key(name, "y"), ny);
    REF_TENSOR(dy, st, test_key(name, "dy"), ny);
    REF_TENSOR(dqkv_ref, st, test_key(name, "dqkv"), nx);
    float *y = xmalloc(ny * 4), *att = xmalloc(na * 4), *dqkv = xcalloc(nx, 4), *d2 = xmalloc(nx * 4);
    float *scratch = xmalloc(attention_scratch_floats(B, T, C, NH) * 4); // exact size
    attention_forward(y, att, qkv, B, T, C, NH);
    attention_backward(dqkv, dy, qkv, att, B, T, C, NH, scratch);
    double ry = test_close_ratio(y, y_ref, ny, RTOL, ATOL, NULL);
    double ra = test_close_ratio(att, att_ref, na, RTOL, 1e-6, NULL);
    double rd = test_close_ratio(dqkv, dqkv_ref, nx, RTOL, ATOL, NULL);
    twice(d2, dqkv, nx);
    attention_backward(dqkv, dy, qkv, att, B, T, C, NH, scratch);
    double racc = test_close_ratio(dqkv, d2, nx, 1e-6, 1e-12, NULL);
    attention_backward(NULL, dy, qkv, att, B, T, C, NH, scratch); // skipped
    free(y); free(att); free(dqkv); free(d2); free(scratch);
    st_free(&st);
    CHECK(ry <= 1, "%s: out differs from torch (ratio %g, rtol %g atol %g)", name, ry, RTOL, ATOL);
    CHECK(ra <= 1, "%s: att differs from torch (ratio %g)", name, ra);
    CHECK(rd <= 1, "%s: dqkv differs from torch (ratio %g, rtol %g atol %g)", name, rd, RTOL, ATOL);
    CHECK(racc <= 1, "%s: backward does not accumulate (ratio %g)", name, racc);
}

TEST(attention_matches_torch) { check_mha("mha", 2, 5, 12, 3); }
TEST(attention_t7_batch1) { check_mha("mha_t7", 1, 7, 8, 2); }
TEST(attention_one_head) { check_mha("mha_nh1", 2, 3, 4, 1); }
TEST(attention_single_token) { check_mha("mha_t1", 2, 1, 6, 2); }
TEST(attention_72_tokens) { check_mha("mha_big", 1, 72, 16, 2); } // parallel softmax paths

// ---- spatial -----------------------------------------------------------------------------------
static void check_spatial(const char *name, int B, int C, int HW) {
    SafeTensors st;
    LOAD_REF(st, REF);
    size_t n = (size_t)B * C * HW, na = (size_t)B * HW * HW;
    REF_TENSOR(q, st, test_key(name, "q"), n);
    REF_TENSOR(k, st, test_key(name, "k"), n);
    REF_TENSOR(v, st, test_key(name, "v"), n);
    REF_TENSOR(att_ref, st, test_key(name, "att"), na);
    REF_TENSOR(y_ref, st, test_key(name, "y"), n);
    REF_TENSOR(dy, st, test_key(name, "dy"), n);
    REF_TENSOR(dq_ref, st, test_key(name, "dq"), n);
    REF_TENSOR(dk_ref, st, test_key(name, "dk"), n);
    REF_TENSOR(dv_ref, st, test_key(name, "dv"), n);
    float *y = xmalloc(n * 4), *att = xmalloc(na * 4), *g = xcalloc(6 * n, 4);
    float *dq = g, *dk = g + n, *dv = g + 2 * n, *d1 = g + 3 * n, *d2 = g + 4 * n, *d3 = g + 5 * n;
    float *scratch = xmalloc(spatial_attention_scratch_floats(B, C, HW) * 4); // exact size
    spatial_attention_forward(y, att, q, k, v, B, C, HW);
    spatial_attention_backward(dq, dk, dv, dy, q, k, v, att, B, C, HW, scratch);
    double r[8];
    r[0] = test_close_ratio(y, y_ref, n, RTOL, ATOL, NULL);
    r[1] = test_close_ratio(att, att_ref, na, RTOL, 1e-6, NULL);
    r[2] = test_close_ratio(dq, dq_ref, n, RTOL, ATOL, NULL);
    r[3] = test_close_ratio(dk, dk_ref, n, RTOL, ATOL, NULL);
    r[4] = test_close_ratio(dv, dv_ref, n, RTOL, ATOL, NULL);
    // Each gradient alone (others NULL) equals the one computed together.
    spatial_attention_backward(d1, NULL, NULL, dy, q, k, v, att, B, C, HW, scratch);
    spatial_attention_backward(NULL, d2, NULL, dy, q, k, v, att, B, C, HW, scratch);
    spatial_attention_backward(NULL, NULL, d3, dy, q, k, v, att, B, C, HW, scratch);
    int same = memcmp(d1, dq, n * 4) == 0 && memcmp(d2, dk, n * 4) == 0 && memcmp(d3, dv, n * 4) == 0;
    twice(d1, dq, 3 * n); // dq, dk, dv are contiguous in g
    spatial_attention_backward(dq, dk, dv, dy, q, k, v, att, B, C, HW, scratch);
    r[5] = test_close_ratio(dq, d1, 3 * n, 1e-6, 1e-12, NULL);
    free(y); free(att); free(g); free(scratch);
    st_free(&st);
    const char *what[6] = {"out", "att", "dq", "dk", "dv", "accumulated (twice) gradients"};
    for (int i = 0; i < 6; i++)
        CHECK(r[i] <= 1, "%s: %s differs from %s (ratio %g)", name, what[i],
              i == 5 ? "2x a single backward" : "torch (rtol 1e-5)", r[i]);
    CHECK(same, "%s: a gradient computed alone differs from the one computed with the others", name);
}

TEST(spatial_attention_matches_torch) { check_spatial("sp", 2, 6, 5); }
TEST(spatial_attention_1x1_image) { check_spatial("sp_hw1", 1, 4, 1); }
TEST(spatial_attention_hw7_batch1) { check_spatial("sp_hw7", 1, 3, 7); }
TEST(spatial_attention_8x8) { check_spatial("sp_big", 2, 8, 64); } // parallel softmax paths

// With the own kernel the images run in parallel, each on one thread: the same bits as one
// image at a time (B = 1 takes the serial path), at 1 and 2 threads, forward and backward.
TEST(spatial_attention_parallel_images_same_bits) {
    if (!gemm_own()) { printf("  (no own kernel here)\n"); return; }
    enum { B = 4, C = 32, HW = 64 };
    size_t n = (size_t)B * C * HW, na = (size_t)B * HW * HW, CN = (size_t)C * HW, NN = (size_t)HW * HW;
    float *x = xmalloc(4 * n * 4), *q = x, *k = x + n, *v = x + 2 * n, *dy = x + 3 * n;
    float *y = xmalloc(n * 4), *att = xmalloc(na * 4), *g = xcalloc(3 * n, 4);
    float *y1 = xmalloc(n * 4), *att1 = xmalloc(na * 4), *g1 = xcalloc(3 * n, 4);
    float *scratch = xmalloc(spatial_attention_scratch_floats(B, C, HW) * 4);
    uint64_t st = 4242;
    test_fill(x, 4 * n, &st, 1.0f, 0.0f);
    test_fill(g1, 3 * n, &st, 0.5f, 0.0f); // gradients are added to: start from the same values
    for (int b = 0; b < B; b++) {
        spatial_attention_forward(y1 + b * CN, att1 + b * NN, q + b * CN, k + b * CN, v + b * CN, 1, C, HW);
        spatial_attention_backward(g1 + b * CN, g1 + n + b * CN, g1 + 2 * n + b * CN, dy + b * CN, q + b * CN,
                                   k + b * CN, v + b * CN, att1 + b * NN, 1, C, HW, scratch);
    }
    int nt0 = omp_get_max_threads(), bad = 0;
    for (int nt = 1; nt <= 2 && !bad; nt++) {
        omp_set_num_threads(nt);
        uint64_t st2 = 4242;
        test_fill(x, 4 * n, &st2, 1.0f, 0.0f);
        test_fill(g, 3 * n, &st2, 0.5f, 0.0f);
        spatial_attention_forward(y, att, q, k, v, B, C, HW);
        spatial_attention_backward(g, g + n, g + 2 * n, dy, q, k, v, att, B, C, HW, scratch);
        bad = memcmp(y, y1, n * 4) ? 1 : memcmp(att, att1, na * 4) ? 2 : memcmp(g, g1, 3 * n * 4) ? 3 : 0;
        if (bad) CHECK(0, "%d thread(s): %s differs from one image at a time", nt,
                       bad == 1 ? "the output" : bad == 2 ? "att" : "a gradient");
    }
    omp_set_num_threads(nt0);
    free(x); free(y); free(att); free(g); free(y1); free(att1); free(g1); free(scratch);
}

// ---- finite differences -----------------------------------------------------------------------
// Central differences, h 1e-2, float32 forwards, 64 entries spread over each input; passes when
// |analytic - fd| <= 2e-3 + 1e-2 * max(|analytic|, |fd|).
#define FD_H 1e-2f
#define FD_RTOL 1e-2
#define FD_ATOL 2e-3

typedef struct {
    float *qkv, *q, *k, *v, *y, *att, *probe;
    int B, T, C, NH, HW;
} AttnCtx;

static double mha_loss(void *p) {
    AttnCtx *c = p;
    attention_forward(c->y, c->att, c->qkv, c->B, c->T, c->C, c->NH);
    return test_dot(c->y, c->probe, (size_t)c->B * c->T * c->C);
}

TEST(attention_gradcheck) {
    enum { B = 2, T = 5, C = 8, NH = 2 };
    float qkv[B * T * 3 * C], y[B * T * C], att[B * NH * T * T], probe[B * T * C], g[B * T * 3 * C] = {0};
    float scratch[T * T];
    CHECK(attention_scratch_floats(B, T, C, NH) <= T * T, "scratch grew: update this test");
    test_fill(qkv, sizeof qkv / 4, &lcg_state, 1.5f, 0);
    test_fill(probe, sizeof probe / 4, &lcg_state, 1, 0);
    AttnCtx c = {.qkv = qkv, .y = y, .att = att, .probe = probe, .B = B, .T = T, .C = C, .NH = NH};
    mha_loss(&c);
    attention_backward(g, probe, qkv, att, B, T, C, NH, scratch);
    CHECK_GRAD(qkv, g, sizeof qkv / 4, mha_loss, &c, FD_H, FD_RTOL, FD_ATOL, "attention dqkv");
}

static double sp_loss(void *p) {
    AttnCtx *c = p;
    spatial_attention_forward(c->y, c->att, c->q, c->k, c->v, c->B, c->C, c->HW);
    return test_dot(c->y, c->probe, (size_t)c->B * c->C * c->HW);
}

TEST(spatial_attention_gradcheck) {
    enum { B = 2, C = 4, HW = 6, n = B * C * HW };
    float q[n], k[n], v[n], y[n], att[B * HW * HW], probe[n], dq[n] = {0}, dk[n] = {0}, dv[n] = {0};
    float scratch[B * HW * HW];
    CHECK(spatial_attention_scratch_floats(B, C, HW) <= B * HW * HW, "scratch grew: update this test");
    test_fill(q, n, &lcg_state, 1.5f, 0); test_fill(k, n, &lcg_state, 1.5f, 0);
    test_fill(v, n, &lcg_state, 1, 0); test_fill(probe, n, &lcg_state, 1, 0);
    AttnCtx c = {.q = q, .k = k, .v = v, .y = y, .att = att, .probe = probe, .B = B, .C = C, .HW = HW};
    sp_loss(&c);
    spatial_attention_backward(dq, dk, dv, probe, q, k, v, att, B, C, HW, scratch);
    CHECK_GRAD(q, dq, n, sp_loss, &c, FD_H, FD_RTOL, FD_ATOL, "spatial attention dq");
    CHECK_GRAD(k, dk, n, sp_loss, &c, FD_H, FD_RTOL, FD_ATOL, "spatial attention dk");
    CHECK_GRAD(v, dv, n, sp_loss, &c, FD_H, FD_RTOL, FD_ATOL, "spatial attention dv");
}

// The forward's direct loops (small heads, own kernel) against the products through sgemm and
// the same softmax, at SiT fm32-small's shape (T = 16, hs = 32): the same bits, at 1 and 2
// threads (a sampling run must not change when attention is split among threads).
static void mha_via_sgemm(float *out, float *att, const float *qkv, int B, int T, int C, int NH) {
    int hs = C / NH, C3 = 3 * C;
    float scale = (float)(1.0 / sqrt((double)hs));
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            const float *base = qkv + (size_t)b * T * C3;
            float *a = att + ((size_t)b * NH + h) * T * T;
            sgemm(0, 1, T, T, hs, scale, base + h * hs, C3, base + C + h * hs, C3, 0.0f, a, T);
            for (int i = 0; i < T; i++) {
                float *x = a + (size_t)i * T, mx = -INFINITY;
                for (int j = 0; j < T; j++) mx = x[j] > mx ? x[j] : mx;
                for (int j = 0; j < T; j++) x[j] = ops_expf(x[j] - mx);
                float inv = (float)(1.0 / ops_sum(x, (size_t)T));
                for (int j = 0; j < T; j++) x[j] *= inv;
            }
            sgemm(0, 0, T, hs, T, 1.0f, a, T, base + 2 * C + h * hs, C3, 0.0f, out + (size_t)b * T * C + h * hs, C);
        }
}

static void check_direct_bits(int B, int T, int C, int NH, int exact) {
    size_t nq = (size_t)B * T * 3 * C, no = (size_t)B * T * C, na = (size_t)B * NH * T * T;
    float *qkv = xmalloc(nq * sizeof(float)), *y0 = xmalloc(no * sizeof(float)), *a0 = xmalloc(na * sizeof(float));
    float *y = xmalloc(no * sizeof(float)), *a = xmalloc(na * sizeof(float));
    uint64_t st = 12345;
    test_fill(qkv, nq, &st, 1.0f, 0.0f);
    mha_via_sgemm(y0, a0, qkv, B, T, C, NH);
    int nt0 = omp_get_max_threads(), bad = 0;
    for (int nt = 1; nt <= 2 && !bad; nt++) {
        omp_set_num_threads(nt);
        attention_forward(y, a, qkv, B, T, C, NH);
        if (exact) bad = memcmp(y, y0, no * sizeof(float)) ? 1 : memcmp(a, a0, na * sizeof(float)) ? 2 : 0;
        else bad = test_rel_err(y, y0, no) > 1e-6 ? 1 : test_rel_err(a, a0, na) > 1e-6 ? 2 : 0;
        if (bad) {
            omp_set_num_threads(nt0);
            free(qkv); free(y0); free(a0); free(y); free(a);
            CHECK(0, "T %d C %d NH %d, %d thread(s): %s differs from the sgemm path%s", T, C, NH, nt, bad == 1 ? "output" : "att",
                  exact ? "" : " by more than 1e-6 relative");
        }
    }
    omp_set_num_threads(nt0);
    free(qkv); free(y0); free(a0); free(y); free(a);
}

// B, T, C, NH and whether the bits must match: fm32-small's heads (the constant-size instance),
// the register paths' other row blocks (T 24, 32, 40; T 64 with hs 128 in two 64-wide column
// chunks), sizes off the multiples of 8 (the plain loops), and T = hs = 8 (8-row blocks), where
// sgemm's reference runs OpenBLAS (below the own kernel's N of 16): within 1e-6 there.
static const int direct_shapes[][5] = {{8, 16, 192, 6, 1}, {8, 24, 96, 2, 1}, {4, 32, 32, 2, 1}, {4, 40, 64, 2, 1},
                                       {2, 64, 256, 2, 1}, {4, 20, 40, 2, 1}, {4, 8, 16, 2, 0}};
#define N_DIRECT_SHAPES ((int)(sizeof direct_shapes / sizeof direct_shapes[0]))

TEST(attention_direct_bits) {
    if (!gemm_own()) return; // the direct path only runs with the own kernel
    for (int i = 0; i < N_DIRECT_SHAPES && !test_failed_; i++)
        check_direct_bits(direct_shapes[i][0], direct_shapes[i][1], direct_shapes[i][2], direct_shapes[i][3],
                          direct_shapes[i][4]);
}

// The backward's direct loops against the four products through sgemm (the path before them)
// with the same softmax backward: the same bits, at 1 and 2 threads.
static void mha_backward_via_sgemm(float *dqkv, const float *dout, const float *qkv, const float *att,
                                   int B, int T, int C, int NH, float *scratch) {
    int hs = C / NH, C3 = 3 * C;
    float scale = (float)(1.0 / sqrt((double)hs));
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            const float *base = qkv + (size_t)b * T * C3, *dy = dout + (size_t)b * T * C + h * hs;
            const float *q = base + h * hs, *k = base + C + h * hs, *v = base + 2 * C + h * hs;
            float *db = dqkv + (size_t)b * T * C3, *dq = db + h * hs, *dk = db + C + h * hs, *dv = db + 2 * C + h * hs;
            const float *a = att + ((size_t)b * NH + h) * T * T;
            sgemm(0, 1, T, T, hs, 1.0f, dy, C, v, C3, 0.0f, scratch, T);
            sgemm(1, 0, T, hs, T, 1.0f, a, T, dy, C, 1.0f, dv, C3);
            for (int i = 0; i < T; i++) {
                float *di = scratch + (size_t)i * T;
                const float *ai = a + (size_t)i * T;
                float dd = (float)ops_dot(di, ai, (size_t)T);
                for (int j = 0; j < T; j++) di[j] = ai[j] * (di[j] - dd);
            }
            sgemm(0, 0, T, hs, T, scale, scratch, T, k, C3, 1.0f, dq, C3);
            sgemm(1, 0, T, hs, T, scale, scratch, T, q, C3, 1.0f, dk, C3);
        }
}

static void check_direct_backward_bits(int B, int T, int C, int NH, int exact) {
    size_t nq = (size_t)B * T * 3 * C, no = (size_t)B * T * C, na = (size_t)B * NH * T * T;
    float *qkv = xmalloc(nq * sizeof(float)), *y = xmalloc(no * sizeof(float)), *a = xmalloc(na * sizeof(float));
    float *dy = xmalloc(no * sizeof(float)), *d0 = xmalloc(nq * sizeof(float)), *d = xmalloc(nq * sizeof(float));
    float *init = xmalloc(nq * sizeof(float)), *scratch = xmalloc((size_t)T * T * sizeof(float));
    uint64_t st = 777;
    test_fill(qkv, nq, &st, 1.0f, 0.0f);
    test_fill(dy, no, &st, 1.0f, 0.0f);
    test_fill(init, nq, &st, 0.5f, 0.0f); // dqkv accumulates: start from nonzero values
    attention_forward(y, a, qkv, B, T, C, NH);
    memcpy(d0, init, nq * sizeof(float));
    mha_backward_via_sgemm(d0, dy, qkv, a, B, T, C, NH, scratch);
    int nt0 = omp_get_max_threads(), bad = 0, nt = 1;
    for (; nt <= 2 && !bad; nt++) {
        omp_set_num_threads(nt);
        memcpy(d, init, nq * sizeof(float));
        attention_backward(d, dy, qkv, a, B, T, C, NH, scratch);
        bad = exact ? memcmp(d, d0, nq * sizeof(float)) != 0 : test_rel_err(d, d0, nq) > 1e-6;
    }
    omp_set_num_threads(nt0);
    size_t at = 0;
    while (bad && at < nq && !memcmp(d + at, d0 + at, sizeof(float))) at++; // the first that differs
    float got = bad ? d[at] : 0, want = bad ? d0[at] : 0;
    free(qkv); free(y); free(a); free(dy); free(d0); free(d); free(init); free(scratch);
    CHECK(!bad, "T %d C %d NH %d, %d thread(s): dqkv[%zu] is %.9g, the sgemm path gives %.9g", T, C, NH, nt - 1,
          at, (double)got, (double)want);
}

TEST(attention_backward_direct_bits) {
    if (!gemm_own()) return; // the direct path only runs with the own kernel
    for (int i = 0; i < N_DIRECT_SHAPES && !test_failed_; i++)
        check_direct_backward_bits(direct_shapes[i][0], direct_shapes[i][1], direct_shapes[i][2], direct_shapes[i][3],
                                   direct_shapes[i][4]);
}

int main(void) {
    RUN(attention_matches_torch);
    RUN(attention_t7_batch1);
    RUN(attention_one_head);
    RUN(attention_single_token);
    RUN(attention_72_tokens);
    RUN(attention_direct_bits);
    RUN(attention_backward_direct_bits);
    RUN(spatial_attention_matches_torch);
    RUN(spatial_attention_1x1_image);
    RUN(spatial_attention_hw7_batch1);
    RUN(spatial_attention_8x8);
    RUN(spatial_attention_parallel_images_same_bits);
    RUN(attention_gradcheck);
    RUN(spatial_attention_gradcheck);
    return test_summary();
}
