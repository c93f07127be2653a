// test_fd.c: Fréchet distance and Inception score (src/eval/frechet.h) against SciPy and basic properties.
#include "eval/frechet.h"
#include "base/rng.h"
#include "test.h"

static double fd_of(const float *a, long na, const float *b, long nb, int D) {
    char err[ERRLEN];
    double fd = NAN;
    if (fd_features(a, na, b, nb, D, &fd, err)) { fprintf(stderr, "%s\n", err); return NAN; }
    return fd;
}

TEST(fd_matches_scipy) {
    SafeTensors st;
    LOAD_REF(st, "tests/ref/fd_ref.safetensors");
    const StTensor *a = st_find(&st, "a"), *b = st_find(&st, "b"), *c = st_find(&st, "c"), *e = st_find(&st, "e");
    const StTensor *fab = st_find(&st, "fd_ab"), *fce = st_find(&st, "fd_ce");
    CHECK(a && b && c && e && fab && fce, "reference lacks a tensor");
    double got = fd_of(a->data, a->shape[0], b->data, b->shape[0], (int)a->shape[1]);
    double want = fab->data[0];
    CHECK(fabs(got - want) <= 1e-5 * fabs(want) + 1e-6, "fd(a,b) = %.9g, scipy says %.9g", got, want);
    got = fd_of(c->data, c->shape[0], e->data, e->shape[0], (int)c->shape[1]);
    want = fce->data[0];
    CHECK(fabs(got - want) <= 1e-5 * fabs(want) + 1e-6, "fd(c,e) = %.9g, scipy says %.9g", got, want);
    st_free(&st);
}

TEST(fd_of_a_set_with_itself_is_zero) {
    int n = 500, D = 64;
    float *x = xmalloc(sizeof(float) * n * D);
    Rng r;
    rng_seed(&r, 3);
    for (int i = 0; i < n; i++)
        for (int d = 0; d < D; d++) x[i * D + d] = rng_normal(&r) * (1.0f + d * 0.1f) + (d % 3 ? 0.0f : rng_normal(&r) * 0.1f);
    double fd = fd_of(x, n, x, n, D);
    // The trace terms are ~ sum of variances (~ 1500): zero up to rounding of that scale.
    CHECK(fabs(fd) < 1e-7 * 1500.0 * 10, "fd(x, x) = %.3g, want ~0", fd);
    // Rank-deficient covariance (n < D): still real, still ~0.
    double fd2 = fd_of(x, 20, x, 20, D);
    CHECK(isfinite(fd2) && fabs(fd2) < 1e-6 * 1500.0, "rank-deficient fd(x, x) = %.3g, want ~0", fd2);
    free(x);
}

TEST(fd_grows_with_noise) {
    int n = 2000, D = 16;
    float *x = xmalloc(sizeof(float) * n * D), *y = xmalloc(sizeof(float) * n * D);
    float *noise = xmalloc(sizeof(float) * n * D);
    Rng r;
    rng_seed(&r, 5);
    rng_fill_normal(&r, x, (size_t)n * D, 1.0f);
    rng_fill_normal(&r, noise, (size_t)n * D, 1.0f);
    double prev = -1;
    const float levels[] = {0.0f, 0.1f, 0.3f, 1.0f, 3.0f};
    for (int l = 0; l < 5; l++) {
        for (int i = 0; i < n * D; i++) y[i] = x[i] + levels[l] * noise[i];
        double fd = fd_of(x, n, y, n, D);
        CHECK(isfinite(fd) && fd > prev, "noise %.1f: fd %.6g is not above %.6g", levels[l], fd, prev);
        prev = fd;
    }
    // Independent N(0,1) and N(0, 1+s^2) per dim: fd ~ D (sqrt(1+s^2) - 1)^2 for s = 3.
    double want = D * (sqrt(10.0) - 1) * (sqrt(10.0) - 1);
    CHECK(fabs(prev - want) < 0.15 * want, "noise 3: fd %.4g, expected about %.4g", prev, want);
    free(x); free(y); free(noise);
}

TEST(fd_rejects_bad_input) {
    char err[ERRLEN];
    double fd;
    float x[4] = {1, 2, 3, 4};
    CHECK(fd_features(x, 1, x, 1, 4, &fd, err) != 0, "one vector accepted");
    float y[8] = {1, 2, NAN, 4, 5, 6, 7, 8};
    CHECK(fd_features(y, 4, y, 4, 2, &fd, err) != 0, "NaN features accepted");
}

TEST(inception_score_uniform_vs_peaked) {
    int n = 1000, K = 10;
    float *p = xmalloc(sizeof(float) * n * K);
    for (int i = 0; i < n * K; i++) p[i] = 1.0f / K;
    double sd;
    double is = inception_score(p, n, K, 10, &sd);
    CHECK(fabs(is - 1.0) < 1e-5, "uniform IS %.6f, want 1", is);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < K; k++) p[i * K + k] = k == i % K ? 0.991f : 0.001f;
    is = inception_score(p, n, K, 10, &sd);
    CHECK(is > 0.9 * K && is <= K + 1e-6 && sd < 1e-3, "peaked balanced IS %.4f (std %.2g), want close to %d", is, sd, K);
    // Confident but always the same class: IS 1 (no diversity).
    for (int i = 0; i < n; i++)
        for (int k = 0; k < K; k++) p[i * K + k] = k == 0 ? 0.991f : 0.001f;
    is = inception_score(p, n, K, 1, NULL);
    CHECK(fabs(is - 1.0) < 1e-5, "one-class IS %.6f, want 1", is);
    free(p);
}

int main(void) {
    RUN(fd_matches_scipy);
    RUN(fd_of_a_set_with_itself_is_zero);
    RUN(fd_grows_with_noise);
    RUN(fd_rejects_bad_input);
    RUN(inception_score_uniform_vs_peaked);
    return test_summary();
}
