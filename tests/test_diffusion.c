// test_diffusion.c: interpolants, prediction losses and their conversion to velocities.
#include "test.h"
#include "model/diffusion.h"

static const char *paths[] = {"linear", "cosine"};
static const char *preds[] = {"velocity", "noise", "score"};

typedef struct { const Diffusion *d; float *out, *z0, *eps, *t; int B; size_t n; } LossCtx;
static double loss_fn(void *p) {
    LossCtx *c = p;
    return diffusion_loss_forward(c->d, c->out, c->z0, c->eps, c->t, c->B, c->n);
}

TEST(path_endpoints_and_derivatives) {
    for (int p = 0; p < 2; p++) {
        Diffusion d;
        char err[ERRLEN];
        CHECK(diffusion_init(&d, paths[p], "velocity", "uniform", err) == 0, "%s", err);
        float a, s, da, ds, a2, s2, x;
        path_coeffs(&d, 0, &a, &s, &da, &ds);
        CHECK(fabsf(a - 1) < 1e-6f && fabsf(s) < 1e-6f, "%s: t=0 is not data", paths[p]);
        path_coeffs(&d, 1, &a, &s, &da, &ds);
        CHECK(fabsf(a) < 1e-6f && fabsf(s - 1) < 1e-6f, "%s: t=1 is not noise", paths[p]);
        for (float t = 0.1f; t < 0.95f; t += 0.2f) {
            path_coeffs(&d, t, &a, &s, &da, &ds);
            path_coeffs(&d, t + 1e-3f, &a2, &s2, &x, &x);
            float fa = (a2 - a) / 1e-3f, fs = (s2 - s) / 1e-3f;
            CHECK(fabsf(fa - da) < 2e-3f && fabsf(fs - ds) < 2e-3f, "%s: derivative at %g", paths[p], t);
        }
    }
}

TEST(bad_names_are_errors) {
    Diffusion d;
    char err[ERRLEN];
    CHECK(diffusion_init(&d, "sqrt", "velocity", "uniform", err) != 0 && strstr(err, "diffusion.path"), "%s", err);
    CHECK(diffusion_init(&d, "linear", "x0", "uniform", err) != 0 && strstr(err, "velocity, noise, score"), "%s", err);
    CHECK(diffusion_init(&d, "linear", "noise", "beta", err) != 0 && strstr(err, "logit-normal"), "%s", err);
}

TEST(t_sampling_ranges) {
    Rng r;
    rng_seed(&r, 3);
    for (int p = 0; p < 3; p++) {
        Diffusion d;
        char err[ERRLEN];
        CHECK(diffusion_init(&d, "linear", preds[p], p == 2 ? "logit-normal" : "uniform", err) == 0, "%s", err);
        double mean = 0;
        for (int i = 0; i < 20000; i++) {
            float t = sample_t(&d, &r);
            CHECK(t >= d.t_min && t <= 1.0f, "%s: t=%g out of range", preds[p], t);
            mean += t;
        }
        CHECK(fabs(mean / 20000 - 0.5) < 0.02, "%s: mean t %g", preds[p], mean / 20000);
    }
}

// The loss gradient with respect to the output and (through the target) to z0.
TEST(loss_gradients_match_finite_differences) {
    enum { B = 3, N = 10 };
    float out[B * N], z0[B * N], eps[B * N], t[B] = {0.05f, 0.5f, 0.93f};
    Rng r;
    rng_seed(&r, 1);
    for (int p = 0; p < 2; p++)
        for (int q = 0; q < 3; q++) {
            Diffusion d;
            char err[ERRLEN];
            CHECK(diffusion_init(&d, paths[p], preds[q], "uniform", err) == 0, "%s", err);
            rng_fill_normal(&r, out, B * N, 1);
            rng_fill_normal(&r, z0, B * N, 1);
            rng_fill_normal(&r, eps, B * N, 1);
            float dout[B * N] = {0}, dz0[B * N] = {0};
            diffusion_loss_backward(&d, dout, dz0, NULL, out, z0, eps, t, B, N, 1.0f);
            LossCtx c = {&d, out, z0, eps, t, B, N};
            CHECK_GRAD(out, dout, B * N, loss_fn, &c, 1e-2f, 1e-2, 1e-4, "dout");
            CHECK_GRAD(z0, dz0, B * N, loss_fn, &c, 1e-2f, 1e-2, 1e-4, "dz0 via target");
        }
}

// The chain through x_t: dz0 gets alpha * dxt.
TEST(loss_backward_adds_input_path) {
    Diffusion d;
    char err[ERRLEN];
    CHECK(diffusion_init(&d, "cosine", "noise", "uniform", err) == 0, "%s", err);
    float out[4] = {0}, z0[4] = {1, 2, 3, 4}, eps[4] = {0}, t[1] = {0.3f}, dxt[4] = {1, 1, 1, 1}, dz0[4] = {0};
    diffusion_loss_backward(&d, NULL, dz0, dxt, out, z0, eps, t, 1, 4, 1.0f);
    float a, s, da, ds;
    path_coeffs(&d, 0.3f, &a, &s, &da, &ds);
    for (int i = 0; i < 4; i++) CHECK(fabsf(dz0[i] - a) < 1e-6f, "dz0[%d]=%g want %g", i, dz0[i], a);
}

// A perfect prediction of each kind converts to the true velocity.
TEST(perfect_predictions_convert_to_the_velocity) {
    enum { N = 16 };
    Rng r;
    rng_seed(&r, 9);
    float z0[N], eps[N], x[N], out[N], v[N], vt[N], sc[N];
    rng_fill_normal(&r, z0, N, 1);
    rng_fill_normal(&r, eps, N, 1);
    for (int p = 0; p < 2; p++)
        for (int q = 0; q < 3; q++) {
            Diffusion d;
            char err[ERRLEN];
            CHECK(diffusion_init(&d, paths[p], preds[q], "uniform", err) == 0, "%s", err);
            for (float t = 0.1f; t < 0.95f; t += 0.2f) {
                float a, s, da, ds;
                path_coeffs(&d, t, &a, &s, &da, &ds);
                for (int i = 0; i < N; i++) {
                    x[i] = a * z0[i] + s * eps[i];
                    vt[i] = da * z0[i] + ds * eps[i];
                    out[i] = q == 0 ? vt[i] : q == 1 ? eps[i] : -eps[i] / s;
                }
                diffusion_to_velocity(&d, v, out, x, t, N);
                CHECK_CLOSE(v, vt, N, 1e-4, 1e-4, "velocity");
                // and the implied score is -eps/sigma
                diffusion_score_from_velocity(&d, sc, vt, x, t, N);
                for (int i = 0; i < N; i++) out[i] = -eps[i] / s;
                CHECK_CLOSE(sc, out, N, 1e-3, 1e-3, "score");
            }
        }
}

// The score loss stays bounded as sigma -> 0; the write-up's (s + eps/sigma)^2 would not.
TEST(score_loss_bounded_near_data) {
    Diffusion d;
    char err[ERRLEN];
    CHECK(diffusion_init(&d, "linear", "score", "uniform", err) == 0, "%s", err);
    float out[4] = {1, -1, 2, 0}, z0[4] = {0}, eps[4] = {1, 1, 1, 1}, t[1] = {1e-3f};
    float l = diffusion_loss_forward(&d, out, z0, eps, t, 1, 4);
    CHECK(l > 0.9f && l < 1.1f, "loss %g", l);
}

int main(void) {
    RUN(path_endpoints_and_derivatives);
    RUN(bad_names_are_errors);
    RUN(t_sampling_ranges);
    RUN(loss_gradients_match_finite_differences);
    RUN(loss_backward_adds_input_path);
    RUN(perfect_predictions_convert_to_the_velocity);
    RUN(score_loss_bounded_near_data);
    return test_summary();
}
