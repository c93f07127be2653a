// test_perceptual.c: the LPIPS-style distance on the frozen encoder (src/model/perceptual.h)
// against PyTorch (tests/gen_perceptual.py), finite differences to the reconstruction, and
// that it leaves the encoder's weights alone.
#include <unistd.h>
#include "model/perceptual.h"
#include "test.h"
#include "testutil.h"

enum { B = 2, N = B * 3 * 8 * 8 };

static EncoderLayout small_layout(void) {
    return (EncoderLayout){.channels = 3, .size = 8, .nlevels = 2, .ch = {4, 8}, .convs = 2, .groups = 2,
                           .num_classes = 3};
}

typedef struct {
    Perceptual *p;
    const float *x;
    float *xr;
} Ctx;

static double perc_fn(void *c) {
    Ctx *k = c;
    return perceptual_forward(k->p, k->x, k->xr, B);
}

TEST(perceptual_matches_torch_and_finite_differences) {
    SafeTensors st;
    LOAD_REF(st, "tests/ref/perceptual_ref.safetensors");
    EncoderLayout L = small_layout();
    Encoder e;
    char err[ERRLEN];
    CHECK(encoder_build(&e, &L, B, 0, err) == 0, "%s", err);
    CHECK(test_load_prefixed(&e.params, &st, "enc.") == 0, "reference lacks encoder weights");
    Perceptual p;
    CHECK(perceptual_build(&p, &e, B, err) == 0, "%s", err);
    REF_TENSOR(x, st, "x", N);
    REF_TENSOR(xr0, st, "xr", N);
    REF_TENSOR(loss, st, "loss", 1);
    REF_TENSOR(dxr_ref, st, "dxr", N);
    REF_TENSOR(w, st, "w", 1);
    REF_TENSOR(same, st, "same", 1);
    float xr[N], dxr[N];
    memcpy(xr, xr0, sizeof xr);
    float l = perceptual_forward(&p, x, xr, B);
    CHECK(fabsf(l - loss[0]) < 1e-4f * fabsf(loss[0]) + 1e-6f, "distance %.7g, torch %.7g", l, loss[0]);
    // Accumulates: start from ones and subtract them afterwards.
    for (int i = 0; i < N; i++) dxr[i] = 1.0f;
    params_zero_grad(&p.enc.params);
    perceptual_backward(&p, dxr, w[0]);
    for (int i = 0; i < N; i++) dxr[i] -= 1.0f;
    CHECK_CLOSE(dxr, dxr_ref, N, 2e-3, 1e-6, "d xr");
    CHECK(global_norm(p.enc.params.grad, p.enc.params.ntrain) == 0.0f, "the frozen encoder got weight gradients");
    CHECK(memcmp(p.enc.params.data, e.params.data, e.params.ntrain * sizeof(float)) == 0, "weights changed");
    CHECK(fabsf(perceptual_forward(&p, x, x, B) - same[0]) < 1e-6f, "d(x, x) = %g", perceptual_forward(&p, x, x, B));
    // Finite differences of the unweighted distance.
    memset(dxr, 0, sizeof dxr);
    perceptual_forward(&p, x, xr, B);
    perceptual_backward(&p, dxr, 1.0f);
    Ctx k = {&p, x, xr};
    CHECK_GRAD(xr, dxr, N, perc_fn, &k, 1e-2f, 3e-2, 1e-4, "xr");
    perceptual_free(&p);
    encoder_free(&e);
    st_free(&st);
}

TEST(perceptual_from_a_file) {
    char path[] = "/tmp/repae_test_perc_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    close(fd);
    EncoderLayout L = small_layout();
    Encoder e;
    char err[ERRLEN];
    CHECK(encoder_build(&e, &L, B, 0, err) == 0, "%s", err);
    Rng r;
    rng_seed(&r, 9);
    encoder_init(&e, &r);
    CHECK(encoder_save(&e, path, "ssl-encoder", "shapes", -1, err) == 0, "%s", err);
    Perceptual a, b;
    CHECK(perceptual_build(&a, &e, B, err) == 0, "%s", err);
    CHECK(perceptual_open(&b, path, 3, 8, B, err) == 0, "%s", err);
    float x[N], xr[N];
    rng_fill_normal(&r, x, N, 1.0f);
    rng_fill_normal(&r, xr, N, 1.0f);
    float la = perceptual_forward(&a, x, xr, B), lb = perceptual_forward(&b, x, xr, B);
    CHECK(la == lb && la > 0, "from memory %g, from the file %g", la, lb);
    perceptual_free(&b);
    CHECK(perceptual_open(&b, "/nonexistent/p.safetensors", 3, 8, B, err) != 0 && strstr(err, "/nonexistent"),
          "missing file: %s", err);
    perceptual_free(&a);
    encoder_free(&e);
    unlink(path);
}

int main(void) {
    RUN(perceptual_matches_torch_and_finite_differences);
    RUN(perceptual_from_a_file);
    return test_summary();
}
