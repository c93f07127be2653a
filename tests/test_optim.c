// test_optim.c: AdamW against torch.optim.AdamW over several steps (params and both moments),
// clipping against torch.nn.utils.clip_grad_norm_ when it clips and when it does not, EMA,
// and bit-identical norms across thread counts (tests/gen_ops_misc.py).
#include <omp.h>
#include "test.h"
#include "testutil.h"
#include "ops/ops.h"

#define REF "tests/ref/ops_misc_optim.safetensors"

static void adamw_case(const char *tag, float lr, float b1, float b2, float eps, float wd) {
    SafeTensors st;
    LOAD_REF(st, REF);
    enum { N = 50, STEPS = 5 };
    char k[64];
    snprintf(k, sizeof k, "%s.p0", tag);
    REF_TENSOR(p0, st, k, N);
    snprintf(k, sizeof k, "%s.grads", tag);
    REF_TENSOR(grads, st, k, STEPS * N);
    snprintf(k, sizeof k, "%s.params", tag);
    REF_TENSOR(want_p, st, k, STEPS * N);
    snprintf(k, sizeof k, "%s.m", tag);
    REF_TENSOR(want_m, st, k, N);
    snprintf(k, sizeof k, "%s.v", tag);
    REF_TENSOR(want_v, st, k, N);
    float p[N], m[N] = {0}, v[N] = {0};
    memcpy(p, p0, sizeof p);
    for (int s = 0; s < STEPS; s++) {
        adamw_update(p, grads + s * N, m, v, N, lr, b1, b2, eps, wd, s + 1);
        char what[64];
        snprintf(what, sizeof what, "%s params after step %d", tag, s + 1);
        CHECK_CLOSE(p, want_p + s * N, N, 1e-5, 1e-7, what);
    }
    CHECK_CLOSE(m, want_m, N, 1e-5, 1e-9, "exp_avg");
    CHECK_CLOSE(v, want_v, N, 1e-5, 1e-12, "exp_avg_sq");
    st_free(&st);
}

TEST(adamw_with_weight_decay_matches_torch) { adamw_case("adamw_a", 1e-2f, 0.9f, 0.999f, 1e-8f, 0.1f); }
TEST(adamw_without_decay_other_betas_matches_torch) { adamw_case("adamw_b", 3e-3f, 0.8f, 0.95f, 1e-6f, 0.0f); }

// AdamW's first step moves every parameter by about lr (mhat/sqrt(vhat) = sign(g)), after decay.
TEST(adamw_first_step_is_sign_step) {
    float p[3] = {1, -2, 0.5f}, g[3] = {0.3f, -7, 1e-3f}, m[3] = {0}, v[3] = {0};
    adamw_update(p, g, m, v, 3, 0.1f, 0.9f, 0.999f, 1e-8f, 0.5f, 1);
    float want[3] = {1 * 0.95f - 0.1f, -2 * 0.95f + 0.1f, 0.5f * 0.95f - 0.1f};
    CHECK_CLOSE(p, want, 3, 1e-5, 1e-6, "first step");
}

// The vectorised AdamW (eight lanes, then a scalar tail) gives the scalar formula's results bit
// for bit, on one and two threads, for a length that leaves tails in every block.
TEST(adamw_vector_lanes_match_the_scalar_formula) {
    enum { N = 70001 };
    float *p = malloc(N * 4), *g = malloc(N * 4), *m = malloc(N * 4), *v = malloc(N * 4);
    float *pw = malloc(N * 4), *mw = malloc(N * 4), *vw = malloc(N * 4);
    for (int th = 1; th <= 2; th++) {
        for (int i = 0; i < N; i++) {
            p[i] = pw[i] = sinf(i * 0.37f);
            g[i] = cosf(i * 1.3f) * (i % 7 ? 1.0f : 1e-4f);
            m[i] = mw[i] = 0.01f * sinf(i * 0.11f);
            v[i] = vw[i] = 1e-4f * (1.0f + cosf(i * 0.05f));
        }
        omp_set_num_threads(th);
        adamw_update(p, g, m, v, N, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 3);
        // adamw_update's scalars, formed as it forms them (torch's doubles: 0.9 -> 0.1 exactly)
        double bc1 = 1.0 - pow(0.9, 3), bc2 = 1.0 - pow(0.999, 3);
        float decay = (float)(1.0 - 1e-3 * 0.01), step = (float)(-1e-3 / bc1), bc2s = (float)sqrt(bc2);
        float a1 = (float)(1.0 - 0.9), a2 = (float)(1.0 - 0.999);
        for (int i = 0; i < N; i++) {
            float gi = g[i], pp = pw[i] * decay, mi = mw[i] * 0.9f + a1 * gi, vi = vw[i] * 0.999f + a2 * gi * gi;
            float denom = sqrtf(vi) / bc2s + 1e-8f;
            pw[i] = pp + step * (mi / denom);
            mw[i] = mi;
            vw[i] = vi;
        }
        int bad = -1;
        for (int i = 0; i < N && bad < 0; i++)
            if (memcmp(&p[i], &pw[i], 4) || memcmp(&m[i], &mw[i], 4) || memcmp(&v[i], &vw[i], 4)) bad = i;
        CHECK(bad < 0, "%d threads: element %d: param %.9g want %.9g, m %.9g want %.9g, v %.9g want %.9g", th, bad,
              p[bad], pw[bad], m[bad], mw[bad], v[bad], vw[bad]);
    }
    omp_set_num_threads(1);
    free(p); free(g); free(m); free(v); free(pw); free(mw); free(vw);
}

static void clip_case(const char *tag, int clips) {
    SafeTensors st;
    LOAD_REF(st, REF);
    enum { N = 100 };
    char k[64];
    snprintf(k, sizeof k, "%s.g", tag);
    REF_TENSOR(g0, st, k, N);
    snprintf(k, sizeof k, "%s.norm", tag);
    REF_TENSOR(want_norm, st, k, 1);
    snprintf(k, sizeof k, "%s.clipped", tag);
    REF_TENSOR(want_g, st, k, N);
    float g[N];
    memcpy(g, g0, sizeof g);
    float norm = global_norm(g, N);
    CHECK_CLOSE(&norm, want_norm, 1, 1e-6, 0, "global_norm");
    norm = clip_grad_norm(g, N, 1.0f);
    CHECK_CLOSE(&norm, want_norm, 1, 1e-6, 0, "clip_grad_norm's returned (pre-clip) norm");
    CHECK_CLOSE(g, want_g, N, 1e-6, 1e-9, "clipped gradients");
    if (clips) {
        float after = global_norm(g, N);
        CHECK(fabsf(after - 1.0f) < 1e-5f, "norm after clipping is %g, want 1", after);
    } else {
        CHECK(memcmp(g, g0, sizeof g) == 0, "gradients under max_norm must be left untouched");
    }
    st_free(&st);
}

TEST(clip_grad_norm_clips_like_torch) { clip_case("clip_big", 1); }
TEST(clip_grad_norm_leaves_small_norms_like_torch) { clip_case("clip_small", 0); }

TEST(scale_inplace_and_global_norm_edge_cases) {
    float x[4] = {3, 4, 0, 0};
    CHECK(global_norm(x, 4) == 5.0f, "norm of (3,4) is %g", global_norm(x, 4));
    CHECK(global_norm(x, 0) == 0.0f, "empty norm");
    scale_inplace(x, 4, -0.5f);
    CHECK(x[0] == -1.5f && x[1] == -2.0f && x[2] == 0, "scale_inplace");
    float z[3] = {0, 0, 0};
    CHECK(clip_grad_norm(z, 3, 1.0f) == 0.0f && z[0] == 0, "zero gradients stay zero");
}

TEST(ema_update_is_exact) {
    enum { N = 40000 }; // over the threading threshold
    float *e = xmalloc(N * sizeof(float)), *p = xmalloc(N * sizeof(float)), *w = xmalloc(N * sizeof(float));
    for (int i = 0; i < N; i++) { e[i] = (float)(i % 17) - 8; p[i] = 0.25f * (float)(i % 5); w[i] = e[i]; }
    // torch: ema.mul_(0.9999).add_(p, alpha=1 - 0.9999), both scalars Python doubles
    float d = 0.9999f, a = (float)(1.0 - 0.9999);
    for (int s = 0; s < 3; s++) {
        ema_update(e, p, N, d);
        for (int i = 0; i < N; i++) w[i] = w[i] * d + a * p[i];
    }
    CHECK(memcmp(e, w, N * sizeof(float)) == 0, "EMA differs from ema*d + (1-d)*p");
    float one = 2.0f, q = 5.0f;
    ema_update(&one, &q, 1, 0.0f);
    CHECK(one == 5.0f, "decay 0 copies the parameters, got %g", one);
    ema_update(&one, &q, 1, 1.0f);
    CHECK(one == 5.0f, "decay 1 keeps the EMA");
    free(e); free(p); free(w);
}

// Clipping decides every step's update, so the norm must not depend on the thread count.
TEST(global_norm_bit_identical_across_thread_counts) {
    size_t n = 1000003;
    float *g = xmalloc(n * sizeof(float));
    uint32_t s = 7;
    for (size_t i = 0; i < n; i++) {
        g[i] = (test_unit32(&s) - 0.5f) * (i % 3 ? 1.0f : 1e-3f);
    }
    int saved = omp_get_max_threads();
    float r[3];
    for (int k = 0; k < 3; k++) {
        omp_set_num_threads(k + 1);
        r[k] = global_norm(g, n);
    }
    omp_set_num_threads(saved);
    CHECK(memcmp(&r[0], &r[1], sizeof(float)) == 0 && memcmp(&r[0], &r[2], sizeof(float)) == 0,
          "norms differ: %.9g %.9g %.9g on 1/2/3 threads", r[0], r[1], r[2]);
    double want = 0;
    for (size_t i = 0; i < n; i++) want += (double)g[i] * g[i];
    CHECK(fabs(r[0] - sqrt(want)) <= 1e-6 * sqrt(want), "norm %.9g, want %.9g", r[0], sqrt(want));
    free(g);
}

int main(void) {
    RUN(adamw_with_weight_decay_matches_torch);
    RUN(adamw_without_decay_other_betas_matches_torch);
    RUN(adamw_first_step_is_sign_step);
    RUN(adamw_vector_lanes_match_the_scalar_formula);
    RUN(clip_grad_norm_clips_like_torch);
    RUN(clip_grad_norm_leaves_small_norms_like_torch);
    RUN(scale_inplace_and_global_norm_edge_cases);
    RUN(ema_update_is_exact);
    RUN(global_norm_bit_identical_across_thread_counts);
    return test_summary();
}
