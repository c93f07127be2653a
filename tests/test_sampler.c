// test_sampler.c: the ODE and SDE samplers on data whose exact velocity field is known.
#include "test.h"
#include "model/sampler.h"

// Data z0 ~ N(mu, s^2) per element: E[v | x] = a' mu + sig' E[eps|x] + a' E[z0-mu|x] in closed form.
typedef struct { const Diffusion *d; float mu, s; int calls; } Gauss;
static void gauss_velocity(void *p, float *v, const float *x, float t, int B) {
    Gauss *g = p;
    float a, s, da, ds;
    path_coeffs(g->d, t, &a, &s, &da, &ds);
    double var = (double)a * a * g->s * g->s + (double)s * s;
    double k = ((double)a * da * g->s * g->s + (double)s * ds) / var; // Cov(v, x) / Var(x)
    for (int i = 0; i < B * 64; i++) v[i] = (float)(da * g->mu + k * (x[i] - a * g->mu));
    g->calls++;
}

static void moments(const float *x, size_t n, double *mean, double *std) {
    double m = 0, q = 0;
    for (size_t i = 0; i < n; i++) m += x[i];
    m /= n;
    for (size_t i = 0; i < n; i++) q += (x[i] - m) * (x[i] - m);
    *mean = m;
    *std = sqrt(q / n);
}

TEST(ode_and_sde_reach_the_data_distribution) {
    const char *paths[] = {"linear", "cosine"}, *solvers[] = {"euler", "heun", "sde"};
    enum { B = 64, N = 64 };
    static float x[B * N], scratch[3 * B * N];
    for (int p = 0; p < 2; p++)
        for (int so = 0; so < 3; so++) {
            Diffusion d;
            SolverKind solver;
            char err[ERRLEN];
            CHECK(diffusion_init(&d, paths[p], "velocity", "uniform", err) == 0, "%s", err);
            CHECK(solver_parse(&solver, solvers[so], err) == 0, "%s", err);
            Gauss g = {&d, 0.7f, 0.3f, 0};
            Rng r;
            rng_seed(&r, 5);
            rng_fill_normal(&r, x, B * N, 1);
            sampler_run(x, B, N, 50, solver, &d, gauss_velocity, &g, &r, scratch);
            double m, s;
            moments(x, B * N, &m, &s);
            CHECK(fabs(m - 0.7) < 0.03 && fabs(s - 0.3) < 0.03, "%s/%s: mean %.4f std %.4f, want 0.7 and 0.3",
                  paths[p], solvers[so], m, s);
            CHECK(g.calls == (so == 1 ? 99 : 50) || (so == 1 && g.calls == 100), "%s/%s: %d model calls",
                  paths[p], solvers[so], g.calls);
        }
}

// With one data point the ODE must land on it; the old loop (t from 0 to 1) would not.
TEST(point_mass_is_reached) {
    enum { B = 2, N = 64 };
    float x[B * N], scratch[3 * B * N];
    Diffusion d;
    char err[ERRLEN];
    CHECK(diffusion_init(&d, "linear", "velocity", "uniform", err) == 0, "%s", err);
    Gauss g = {&d, -0.4f, 0.0f, 0};
    Rng r;
    rng_seed(&r, 1);
    rng_fill_normal(&r, x, B * N, 1);
    sampler_run(x, B, N, 10, SOLVER_EULER, &d, gauss_velocity, &g, &r, scratch);
    for (int i = 0; i < B * N; i++) CHECK(fabsf(x[i] + 0.4f) < 1e-4f, "x[%d] = %g", i, x[i]);
}

TEST(bad_solver_name) {
    SolverKind s;
    char err[ERRLEN];
    CHECK(solver_parse(&s, "rk4", err) != 0 && strstr(err, "euler, heun, sde"), "%s", err);
}

// Noise and score models start the grid at sampler_t_max < 1 (the eps -> v conversion divides
// by alpha, ~0 at t = 1); velocity models at 1. Every evaluation lies on linspace(t_max, 0).
typedef struct { float tmax, tmin; int calls; } TRec;
static void rec_velocity(void *ctx, float *v, const float *x, float t, int B) {
    TRec *r = ctx;
    (void)x;
    if (t > r->tmax) r->tmax = t;
    if (t < r->tmin) r->tmin = t;
    r->calls++;
    memset(v, 0, (size_t)B * 2 * sizeof(float));
}

TEST(noise_and_score_grids_start_below_one) {
    static const char *preds[] = {"velocity", "noise", "score"};
    char err[ERRLEN];
    for (int p = 0; p < 3; p++) {
        Diffusion d;
        CHECK(diffusion_init(&d, "cosine", preds[p], "uniform", err) == 0, "%s", err);
        float x[4] = {1, 1, 1, 1}, scratch[12];
        TRec r = {0, 2, 0};
        Rng g;
        rng_seed(&g, 1);
        sampler_run(x, 2, 2, 10, SOLVER_EULER, &d, rec_velocity, &r, &g, scratch);
        float want = p == 0 ? 1.0f : SAMPLER_T_MAX_EPS;
        CHECK(r.calls == 10 && r.tmax == want, "%s: grid starts at %g, want %g", preds[p], r.tmax, want);
        float a, s, da, ds;
        path_coeffs(&d, want, &a, &s, &da, &ds);
        CHECK(a > 1e-2f || p == 0, "%s: alpha(t_max) = %g", preds[p], a);
        CHECK(fabsf(x[0] - (p == 0 ? 1.0f : s)) < 1e-6f, "%s: start noise scaled to %g, want sigma %g", preds[p], x[0], s);
    }
}

int main(void) {
    RUN(noise_and_score_grids_start_below_one);
    RUN(ode_and_sde_reach_the_data_distribution);
    RUN(point_mass_is_reached);
    RUN(bad_solver_name);
    return test_summary();
}
