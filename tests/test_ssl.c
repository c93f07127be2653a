// test_ssl.c: the self-supervised objective of the REPA target encoder (src/model/ssl.h):
// VICReg and the whole two-view objective against PyTorch (tests/gen_ssl.py), finite
// differences, the views and their token correspondence, and a short label-free training.
#include <omp.h>
#include "base/config.h"
#include "model/ssl.h"
#include "test.h"
#include "testutil.h"

enum { VN = 10, VD = 6, OB = 3, OG = 2 };

TEST(vicreg_matches_torch) {
    SafeTensors st;
    LOAD_REF(st, "tests/ref/ssl_ref.safetensors");
    REF_TENSOR(z1, st, "vic_z1", VN * VD);
    REF_TENSOR(z2, st, "vic_z2", VN * VD);
    REF_TENSOR(loss, st, "vic_loss", 1);
    REF_TENSOR(parts, st, "vic_parts", 3);
    REF_TENSOR(dz1, st, "vic_dz1", VN * VD);
    REF_TENSOR(dz2, st, "vic_dz2", VN * VD);
    REF_TENSOR(scale, st, "vic_scale", 1);
    VicregWeights w = vicreg_default();
    float g1[VN * VD], g2[VN * VD], p[3];
    float l = vicreg_loss(z1, z2, VN, VD, &w, scale[0], g1, g2, p);
    CHECK(fabsf(l - loss[0]) < 1e-4f * fabsf(loss[0]), "loss %.7g, torch %.7g", l, loss[0]);
    CHECK_CLOSE(p, parts, 3, 1e-4, 1e-6, "inv, var, cov");
    CHECK(parts[1] > 0, "the reference has no active variance hinge");
    CHECK_CLOSE(g1, dz1, VN * VD, 1e-3, 1e-6, "dz1");
    CHECK_CLOSE(g2, dz2, VN * VD, 1e-3, 1e-6, "dz2");
    st_free(&st);
}

typedef struct {
    float *z1, *z2;
} VicCtx;

static double vic_fn(void *c) {
    VicCtx *k = c;
    VicregWeights w = vicreg_default();
    return vicreg_loss(k->z1, k->z2, VN, VD, &w, 1.0f, NULL, NULL, NULL);
}

TEST(vicreg_gradients_match_finite_differences) {
    Rng r;
    rng_seed(&r, 11);
    float z1[VN * VD], z2[VN * VD], g1[VN * VD], g2[VN * VD];
    rng_fill_normal(&r, z1, VN * VD, 1.0f);
    rng_fill_normal(&r, z2, VN * VD, 1.0f);
    for (int i = 0; i < VN * VD; i++) { // columns of std ~0.4 .. 2: both sides of the hinge
        z1[i] *= 0.4f + 0.3f * (i % VD);
        z2[i] *= 0.4f + 0.3f * (i % VD);
    }
    VicregWeights w = vicreg_default();
    vicreg_loss(z1, z2, VN, VD, &w, 1.0f, g1, g2, NULL);
    VicCtx k = {z1, z2};
    CHECK_GRAD(z1, g1, VN * VD, vic_fn, &k, 1e-2f, 2e-2, 1e-2, "z1");
    CHECK_GRAD(z2, g2, VN * VD, vic_fn, &k, 1e-2f, 2e-2, 1e-2, "z2");
}

static EncoderLayout small_layout(void) {
    return (EncoderLayout){.channels = 3, .size = 8, .nlevels = 2, .ch = {4, 8}, .convs = 2, .groups = 2,
                           .num_classes = 3};
}

typedef struct {
    Encoder *e;
    Projector *ex;
    const float *xa, *xb;
    int pa[16], pb[16], M;
    float w_dense;
} ObjCtx;

static double obj_fn(void *c) {
    ObjCtx *k = c;
    VicregWeights w = vicreg_default();
    char err[ERRLEN];
    return ssl_pairs_loss(k->e, k->ex, k->xa, k->xb, OB, OG, k->pa, k->pb, k->M, k->w_dense, &w, 0, NULL, err);
}

TEST(objective_matches_torch_and_finite_differences) {
    SafeTensors st;
    LOAD_REF(st, "tests/ref/ssl_ref.safetensors");
    EncoderLayout L = small_layout();
    Encoder e;
    char err[ERRLEN];
    CHECK(encoder_build(&e, &L, 2 * OB, ALLOC_GRAD, err) == 0, "%s", err);
    CHECK(test_load_prefixed(&e.params, &st, "enc.") == 0, "reference lacks encoder weights");
    REF_TENSOR(xa, st, "obj_xa", OB * 3 * 64);
    REF_TENSOR(xb, st, "obj_xb", OB * 3 * 64);
    REF_TENSOR(pa, st, "obj_pa", 10);
    REF_TENSOR(pb, st, "obj_pb", 10);
    REF_TENSOR(loss, st, "obj_loss", 1);
    REF_TENSOR(wd, st, "obj_w_dense", 1);
    ObjCtx k = {.e = &e, .xa = xa, .xb = xb, .M = 10, .w_dense = wd[0]};
    for (int i = 0; i < 10; i++) {
        k.pa[i] = (int)pa[i];
        k.pb[i] = (int)pb[i];
    }
    VicregWeights w = vicreg_default();
    params_zero_grad(&e.params);
    float parts[4];
    float l = ssl_pairs_loss(&e, NULL, xa, xb, OB, OG, k.pa, k.pb, k.M, k.w_dense, &w, 1, parts, err);
    CHECK(fabsf(l - loss[0]) < 1e-4f * fabsf(loss[0]), "objective %.7g, torch %.7g (%s)", l, loss[0], err);
    char name[256];
    for (int i = 0; i < e.params.n; i++) {
        const ParamInfo *q = &e.params.p[i];
        snprintf(name, sizeof name, "enc_grad.%s", q->name);
        REF_TENSOR(g, st, name, q->numel);
        CHECK_CLOSE(e.params.grad + q->offset, g, q->numel, 2e-3, 1e-5, q->name);
    }
    // Finite differences on the first conv and the last norm (the two ends of the backward).
    const ParamInfo *c0 = &e.params.p[0], *nl = &e.params.p[e.params.n - 3];
    CHECK_GRAD(e.params.data + c0->offset, e.params.grad + c0->offset, c0->numel, obj_fn, &k, 1e-2f, 3e-2, 1e-3,
               c0->name);
    CHECK_GRAD(e.params.data + nl->offset, e.params.grad + nl->offset, nl->numel, obj_fn, &k, 1e-2f, 3e-2, 1e-3,
               nl->name);
    // With an expander (VICReg on its outputs): finite differences on the encoder's first conv
    // and on the expander's weights.
    Projector ex;
    CHECK(projector_build(&ex, 8, 6, 5, 2 * OB * OG * OG, ALLOC_GRAD, err) == 0, "%s", err);
    Rng r;
    rng_seed(&r, 12);
    projector_init(&ex, &r);
    k.ex = &ex;
    params_zero_grad(&e.params);
    params_zero_grad(&ex.params);
    l = ssl_pairs_loss(&e, &ex, xa, xb, OB, OG, k.pa, k.pb, k.M, k.w_dense, &w, 1, parts, err);
    CHECK(isfinite(l), "%s", err);
    CHECK_GRAD(e.params.data + c0->offset, e.params.grad + c0->offset, c0->numel, obj_fn, &k, 1e-2f, 3e-2, 1e-3,
               "first conv, through the expander");
    CHECK_GRAD(ex.params.data, ex.params.grad, ex.params.ntrain, obj_fn, &k, 1e-2f, 3e-2, 1e-3, "expander");
    projector_free(&ex);
    encoder_free(&e);
    st_free(&st);
}

TEST(views_and_their_correspondence) {
    enum { S = 8, G = 4 };
    SslView id = {.y0 = 0, .x0 = 0, .sy = 1, .sx = 1, .gain = {1, 1, 1}};
    SslView fl = id;
    fl.flip = 1;
    for (int n = 0; n < G * G; n++) {
        CHECK(ssl_view_match(&id, &id, S, G, n) == n, "identity views: cell %d does not match itself", n);
        int want = (n / G) * G + (G - 1 - n % G);
        CHECK(ssl_view_match(&id, &fl, S, G, n) == want, "flip: cell %d matched %d, want %d", n,
              ssl_view_match(&id, &fl, S, G, n), want);
    }
    // A crop of the lower-right quarter, scaled up: its cell 0 sees source cell (2,2).
    SslView q = {.y0 = 4, .x0 = 4, .sy = 0.5f, .sx = 0.5f, .gain = {1, 1, 1}};
    CHECK(ssl_view_match(&q, &id, S, G, 0) == 2 * G + 2, "quarter crop cell 0 -> %d", ssl_view_match(&q, &id, S, G, 0));
    CHECK(ssl_view_match(&id, &q, S, G, 0) == -1, "a source corner outside the crop matched");
    // Pixels: identity reproduces the image, the flip mirrors it, gain and bias act on values.
    float x[3 * S * S], y[3 * S * S];
    for (int i = 0; i < 3 * S * S; i++) x[i] = (float)(i % 17) / 17.0f - 0.5f;
    ssl_view_apply(&id, x, 3, S, y);
    CHECK_CLOSE(y, x, 3 * S * S, 1e-6, 1e-6, "identity view");
    ssl_view_apply(&fl, x, 3, S, y);
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < S; i++)
            for (int j = 0; j < S; j++)
                CHECK(fabsf(y[(c * S + i) * S + j] - x[(c * S + i) * S + S - 1 - j]) < 1e-6f, "flip at %d,%d", i, j);
    SslView gb = id;
    gb.gain[0] = gb.gain[1] = gb.gain[2] = 0.5f;
    gb.bias[0] = gb.bias[1] = gb.bias[2] = 0.1f;
    ssl_view_apply(&gb, x, 3, S, y);
    CHECK(fabsf(y[5] - (0.5f * x[5] + 0.1f)) < 1e-6f, "gain/bias: %g from %g", y[5], x[5]);
    // Random views stay in range and differ from each other.
    Rng r;
    rng_seed(&r, 2);
    SslAugment a = ssl_augment_default();
    SslView v1, v2;
    ssl_view_draw(&v1, S, &a, &r);
    ssl_view_draw(&v2, S, &a, &r);
    CHECK(v1.sy >= a.min_scale && v1.sy <= 1 && v1.sy == v1.sx, "crop scale %g", v1.sy);
    CHECK(memcmp(&v1, &v2, sizeof v1) != 0, "two draws gave the same view");
}

static void quiet(void *ctx, int step, int steps, float loss, const float parts[4]) {
    float *first = ctx;
    if (first[0] != first[0]) first[0] = loss; // NaN: the first report
    (void)step; (void)steps; (void)parts;
}

TEST(training_without_labels_lowers_the_loss) {
    Config c;
    config_defaults(&c); // shapes, 16x16 RGB
    Dataset *tr;
    char err[ERRLEN];
    CHECK(dataset_open(&tr, &c.data, DATA_TRAIN, err) == 0, "%s", err);
    EncoderLayout L = encoder_layout_default(c.data.channels, c.data.image_size, dataset_num_classes(tr));
    Encoder e;
    CHECK(encoder_build(&e, &L, 32, ALLOC_GRAD, err) == 0, "%s", err);
    Rng r;
    rng_seed(&r, 1);
    encoder_init(&e, &r);
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    SslTrainOpts o = ssl_train_default(4);
    o.steps = 80;
    o.batch = 16;
    o.log_every = 10;
    float first = NAN;
    o.progress = quiet;
    o.ctx = &first;
    float last = ssl_train(&e, tr, &o, err);
    omp_set_num_threads(threads);
    printf("  shapes: running VICReg loss %.3f after 10 steps -> %.3f after %d\n", first, last, o.steps);
    CHECK(isfinite(last), "%s", err);
    CHECK(last < 0.9f * first, "the loss did not fall: %.4f -> %.4f", first, last);
    // A batch too large for the encoder is refused with the numbers.
    o.batch = 32;
    CHECK(isnan(ssl_train(&e, tr, &o, err)) && strstr(err, "64 views"), "oversized batch: %s", err);
    encoder_free(&e);
    dataset_close(tr);
}

int main(void) {
    RUN(vicreg_matches_torch);
    RUN(vicreg_gradients_match_finite_differences);
    RUN(objective_matches_torch_and_finite_differences);
    RUN(views_and_their_correspondence);
    RUN(training_without_labels_lowers_the_loss);
    return test_summary();
}
