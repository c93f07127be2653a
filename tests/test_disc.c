// test_disc.c: the PatchGAN discriminator (src/model/disc.c) against PyTorch (tests/gen_disc.py:
// taming's NLayerDiscriminator layout in training mode): state_dict names both ways, logits,
// input and weight gradients, running statistics; the hinge losses; finite-difference checks
// of the input and weight gradients; the init's statistics; impossible sizes refused.
#include "test.h"
#include "testutil.h"
#include "model/disc.h"
#include "base/util.h"
#include <math.h>
#include <string.h>

#define REF "tests/ref/disc.safetensors"

typedef struct { int C, S, L, ch, B; } Case;
static const Case CASE_A = {3, 16, 2, 8, 3}, CASE_B = {1, 32, 3, 4, 2};

static void check_case(const char *name, Case k) {
    SafeTensors st;
    LOAD_REF(st, REF);
    Disc d;
    char err[ERRLEN], pre[32];
    CHECK(disc_build(&d, k.C, k.S, k.L, k.ch, k.B, ALLOC_GRAD, err) == 0, "%s: %s", name, err);
    snprintf(pre, sizeof pre, "%s.sd.", name);
    int missing = test_load_prefixed(&d.params, &st, pre), in_file = 0;
    for (int i = 0; i < st.n; i++) in_file += strncmp(st.t[i].name, pre, strlen(pre)) == 0;
    CHECK(missing == 0, "%s: %d of repae's discriminator tensors are not in PyTorch's state_dict", name, missing);
    CHECK(in_file == d.params.n, "%s: PyTorch's state_dict has %d tensors (without num_batches_tracked), repae %d",
          name, in_file, d.params.n);
    size_t nx = (size_t)k.B * k.C * k.S * k.S, ny = (size_t)k.B * d.Ho * d.Wo;
    REF_TENSOR(x, st, test_key(name, "x"), nx);
    REF_TENSOR(y_ref, st, test_key(name, "y"), ny);
    REF_TENSOR(probe, st, test_key(name, "probe"), ny);
    REF_TENSOR(dx_ref, st, test_key(name, "dx"), nx);
    const float *y = disc_forward(&d, x, k.B, 1);
    CHECK_CLOSE(y, y_ref, ny, 1e-4, 1e-5, "logits");
    float *dx = test_zerosf(nx);
    disc_backward(&d, dx, probe, 1);
    CHECK_CLOSE(dx, dx_ref, nx, 1e-3, 1e-6, "input gradient");
    for (int i = 0; i < d.params.n; i++) {
        const ParamInfo *p = &d.params.p[i];
        char key[PARAM_NAMELEN + 32];
        if (p->trainable) {
            snprintf(key, sizeof key, "%s.grad.%s", name, p->name);
            REF_TENSOR(g_ref, st, key, p->numel);
            CHECK_CLOSE(d.params.grad + p->offset, g_ref, p->numel, 1e-3, 1e-5, p->name);
        } else {
            snprintf(key, sizeof key, "%s.after.%s", name, p->name);
            REF_TENSOR(r_ref, st, key, p->numel);
            CHECK_CLOSE(d.params.data + p->offset, r_ref, p->numel, 1e-4, 1e-6, p->name);
        }
    }
    free(dx);
    disc_free(&d);
    st_free(&st);
}

TEST(disc_matches_torch_16px) { check_case("a", CASE_A); }
TEST(disc_matches_torch_32px_3_layers) { check_case("b", CASE_B); }

TEST(hinge_losses_match_torch) {
    SafeTensors st;
    LOAD_REF(st, REF);
    enum { N = 40 };
    REF_TENSOR(real, st, "hinge.real", N);
    REF_TENSOR(fake, st, "hinge.fake", N);
    REF_TENSOR(ld, st, "hinge.d", 1);
    REF_TENSOR(lg, st, "hinge.g", 1);
    REF_TENSOR(dr_ref, st, "hinge.d_dreal", N);
    REF_TENSOR(df_ref, st, "hinge.d_dfake", N);
    REF_TENSOR(dg_ref, st, "hinge.g_dfake", N);
    float d = hinge_d_real_forward(real, N) + hinge_d_fake_forward(fake, N), g = hinge_g_forward(fake, N);
    CHECK(fabsf(d - ld[0]) <= 1e-6f * fabsf(ld[0]) + 1e-7f, "hinge d loss %.9g, torch %.9g", d, ld[0]);
    CHECK(fabsf(g - lg[0]) <= 1e-6f * fabsf(lg[0]) + 1e-7f, "hinge g loss %.9g, torch %.9g", g, lg[0]);
    float dr[N] = {0}, df[N] = {0}, dg[N] = {0};
    hinge_d_real_backward(dr, real, N, 1.0f);
    hinge_d_fake_backward(df, fake, N, 1.0f);
    hinge_g_backward(dg, N, 1.0f);
    CHECK_CLOSE(dr, dr_ref, N, 1e-6, 1e-9, "hinge d gradient on the real logits");
    CHECK_CLOSE(df, df_ref, N, 1e-6, 1e-9, "hinge d gradient on the fake logits");
    CHECK_CLOSE(dg, dg_ref, N, 1e-6, 1e-9, "hinge g gradient");
    st_free(&st);
}

// ---- finite differences: loss = sum(logits * probe), no running-statistics update ---------------
typedef struct {
    Disc *d;
    const float *x;
    const float *probe;
    int B;
} DCtx;

static double disc_loss(void *p) {
    DCtx *c = p;
    const float *y = disc_forward(c->d, c->x, c->B, 0);
    return test_dot(y, c->probe, (size_t)c->B * c->d->Ho * c->d->Wo);
}

TEST(disc_gradcheck) {
    enum { C = 2, S = 16, B = 2 };
    Disc d;
    char err[ERRLEN];
    CHECK(disc_build(&d, C, S, 2, 4, B, ALLOC_GRAD, err) == 0, "%s", err);
    Rng r;
    rng_seed(&r, 7);
    disc_init(&d, &r);
    // Larger weights than the init's 0.02 so that the logits move measurably with one input.
    for (size_t i = 0; i < d.params.ntrain; i++) d.params.data[i] *= 10.0f;
    size_t nx = (size_t)B * C * S * S, ny = (size_t)B * d.Ho * d.Wo;
    uint64_t s = 5;
    float *x = test_zerosf(nx), *probe = test_zerosf(ny), *dx = test_zerosf(nx);
    test_fill(x, nx, &s, 2.0f, -1.0f);
    test_fill(probe, ny, &s, 1.0f, -0.5f);
    DCtx c = {&d, x, probe, B};
    disc_forward(&d, x, B, 0);
    disc_backward(&d, dx, probe, 1);
    float *gw = test_copyf(d.params.grad, d.params.ntrain);
    CHECK_GRAD(x, dx, nx, disc_loss, &c, 1e-2f, 3e-2, 1e-3, "disc dx");
    CHECK_GRAD(d.params.data, gw, d.params.ntrain, disc_loss, &c, 1e-3f, 3e-2, 3e-3, "disc dweights");
    free(x); free(probe); free(dx); free(gw);
    disc_free(&d);
}

TEST(disc_init_statistics) {
    Disc d;
    char err[ERRLEN];
    CHECK(disc_build(&d, 3, 32, 2, 32, 1, 0, err) == 0, "%s", err);
    Rng r;
    rng_seed(&r, 11);
    disc_init(&d, &r);
    const ParamInfo *w = params_find(&d.params, "main.2.weight"), *g = params_find(&d.params, "main.3.weight");
    const ParamInfo *rv = params_find(&d.params, "main.3.running_var");
    CHECK(w && g && rv && !params_find(&d.params, "main.2.bias"), "taming's names (main.2 conv without bias, main.3 BN)");
    double s = 0, q = 0, gs = 0;
    for (size_t i = 0; i < w->numel; i++) { float v = d.params.data[w->offset + i]; s += v; q += v * v; }
    for (size_t i = 0; i < g->numel; i++) gs += d.params.data[g->offset + i];
    double sd = sqrt(q / w->numel - (s / w->numel) * (s / w->numel));
    CHECK(fabs(sd - 0.02) < 0.002, "conv weights' std %g, want 0.02", sd);
    CHECK(fabs(gs / g->numel - 1.0) < 0.01, "BN weights' mean %g, want 1", gs / g->numel);
    CHECK(d.params.data[rv->offset] == 1.0f, "running_var starts at %g, want 1", d.params.data[rv->offset]);
    CHECK(d.Ho == 6 && d.Wo == 6, "32 px through 2 layers gives %dx%d logits, want 6x6", d.Ho, d.Wo);
    disc_free(&d);
}

TEST(disc_refuses_too_small_images) {
    Disc d;
    char err[ERRLEN] = "";
    CHECK(disc_build(&d, 3, 16, 3, 8, 1, ALLOC_COUNT, err) != 0, "16 px through 3 layers was accepted");
    CHECK(strstr(err, "disc.layers") && strstr(err, "16"), "the error does not say what to change: %s", err);
    CHECK(disc_build(&d, 3, 16, 0, 8, 1, ALLOC_COUNT, err) != 0, "0 layers was accepted");
}

int main(void) {
    RUN(disc_matches_torch_16px);
    RUN(disc_matches_torch_32px_3_layers);
    RUN(hinge_losses_match_torch);
    RUN(disc_gradcheck);
    RUN(disc_init_statistics);
    RUN(disc_refuses_too_small_images);
    return test_summary();
}
