// test_eval_metrics.c: the set-to-set metrics on feature vectors against NumPy/SciPy and their
// basic properties: Fréchet distance and Inception score (src/eval/frechet.h), KID and k-NN
// precision/recall (src/eval/kid.h).
#include "eval/frechet.h"
#include "eval/kid.h"
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

TEST(kid_and_precision_recall_match_numpy) {
    SafeTensors st;
    char err[ERRLEN];
    LOAD_REF(st, "tests/ref/kid_pr_ref.safetensors");
    const StTensor *re = st_find(&st, "real"), *fa = st_find(&st, "fake"), *sa = st_find(&st, "same_a"),
                   *sb = st_find(&st, "same_b"), *k = st_find(&st, "kid"), *ks = st_find(&st, "kid_same"),
                   *p = st_find(&st, "precision"), *r = st_find(&st, "recall");
    CHECK(re && fa && sa && sb && k && ks && p && r, "reference lacks a tensor");
    int D = (int)re->shape[1];
    double kid, prec, rec;
    CHECK(kid_features(re->data, re->shape[0], fa->data, fa->shape[0], D, &kid, err) == 0, "%s", err);
    CHECK(fabs(kid - k->data[0]) <= 1e-5 * fabs(k->data[0]) + 1e-7, "kid %.9g, numpy says %.9g", kid, k->data[0]);
    CHECK(kid_features(sa->data, sa->shape[0], sb->data, sb->shape[0], D, &kid, err) == 0, "%s", err);
    CHECK(fabs(kid - ks->data[0]) <= 1e-6, "kid of one distribution %.9g, numpy says %.9g", kid, ks->data[0]);
    CHECK(precision_recall(re->data, re->shape[0], fa->data, fa->shape[0], D, PR_K_DEFAULT, &prec, &rec, err) == 0,
          "%s", err);
    // Shares of a few hundred points: equal up to float32 storage of the reference.
    CHECK(fabs(prec - p->data[0]) < 1e-6 && fabs(rec - r->data[0]) < 1e-6, "precision %.6f recall %.6f, "
          "scipy says %.6f %.6f", prec, rec, p->data[0], r->data[0]);
    CHECK(prec > 0.05 && prec < 0.95 && rec > 0.05 && rec < 0.95, "degenerate reference: %g %g", prec, rec);
    st_free(&st);
}

TEST(kid_is_unbiased_and_pr_of_a_set_with_itself_is_one) {
    // The mean KID of many small pairs of samples of one distribution is ~0 (FD's is > 0).
    int n = 50, D = 8, reps = 40;
    float *a = xmalloc(sizeof(float) * n * D), *b = xmalloc(sizeof(float) * n * D);
    Rng r;
    rng_seed(&r, 11);
    char err[ERRLEN];
    double sum = 0, fsum = 0, sum2 = 0;
    for (int t = 0; t < reps; t++) {
        rng_fill_normal(&r, a, (size_t)n * D, 1.0f);
        rng_fill_normal(&r, b, (size_t)n * D, 1.0f);
        double kid, fd;
        CHECK(kid_features(a, n, b, n, D, &kid, err) == 0, "%s", err);
        CHECK(fd_features(a, n, b, n, D, &fd, err) == 0, "%s", err);
        sum += kid;
        sum2 += kid * kid;
        fsum += fd;
    }
    double mean = sum / reps, sd = sqrt(sum2 / reps - mean * mean);
    CHECK(fabs(mean) < 3 * sd / sqrt(reps), "mean KID %.4g of one distribution is not ~0 (sd %.3g)", mean, sd);
    CHECK(fsum / reps > 0.5, "mean FD %.4g at n = 50: expected the bias of FD", fsum / reps);
    double p, rc;
    CHECK(precision_recall(a, n, a, n, D, 3, &p, &rc, err) == 0, "%s", err);
    CHECK(p == 1.0 && rc == 1.0, "a set against itself: precision %g recall %g", p, rc);
    // Far-away samples: no precision, no recall.
    for (int i = 0; i < n * D; i++) b[i] = a[i] + 100.0f;
    CHECK(precision_recall(a, n, b, n, D, 3, &p, &rc, err) == 0, "%s", err);
    CHECK(p == 0.0 && rc == 0.0, "disjoint sets: precision %g recall %g", p, rc);
    CHECK(precision_recall(a, 3, b, n, D, 3, &p, &rc, err) != 0 && strstr(err, "k = 3"), "too few accepted: %s", err);
    a[5] = NAN;
    CHECK(kid_features(a, n, b, n, D, &p, err) != 0 && strstr(err, "non-finite"), "NaN accepted: %s", err);
    free(a);
    free(b);
}

int main(void) {
    RUN(fd_matches_scipy);
    RUN(fd_of_a_set_with_itself_is_zero);
    RUN(fd_grows_with_noise);
    RUN(fd_rejects_bad_input);
    RUN(inception_score_uniform_vs_peaked);
    RUN(kid_and_precision_recall_match_numpy);
    RUN(kid_is_unbiased_and_pr_of_a_set_with_itself_is_one);
    return test_summary();
}
