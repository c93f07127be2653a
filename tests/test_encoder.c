// test_encoder.c: the CNN of src/model/encoder.h against PyTorch (tests/gen_repa.py), finite
// differences, file round trips, and a short classifier training on shapes that must learn.
#include "base/config.h"
#include "data/data.h"
#include "model/encoder.h"
#include "model/evaluator.h"
#include "test.h"
#include "testutil.h"
#include <omp.h>
#include <unistd.h>

static const EncoderLayout REF_LAYOUT = {.channels = 3, .size = 8, .nlevels = 2, .ch = {4, 8}, .convs = 2,
                                         .groups = 2, .num_classes = 3};

TEST(encoder_matches_torch) {
    SafeTensors st;
    LOAD_REF(st, "tests/ref/repa_ref.safetensors");
    Encoder e;
    char err[ERRLEN];
    CHECK(encoder_build(&e, &REF_LAYOUT, 2, 1, err) == 0, "%s", err);
    CHECK(test_load_prefixed(&e.params, &st, "enc.") == 0, "reference lacks encoder weights");
    REF_TENSOR(x, st, "enc_x", 2 * 3 * 8 * 8);
    REF_TENSOR(yf, st, "enc_y", 2);
    REF_TENSOR(logits, st, "enc_logits", 2 * 3);
    REF_TENSOR(loss, st, "enc_loss", 1);
    int y[2] = {(int)yf[0], (int)yf[1]};
    const float *got = encoder_forward(&e, x, 2);
    CHECK_CLOSE(got, logits, 6, 1e-4, 1e-5, "logits");
    params_zero_grad(&e.params);
    float l = encoder_xent(&e, y, 1);
    CHECK(fabsf(l - loss[0]) < 1e-5f, "loss %.7g, torch %.7g", l, loss[0]);
    char name[256];
    for (int i = 0; i < e.params.n; i++) {
        const ParamInfo *p = &e.params.p[i];
        snprintf(name, sizeof name, "enc_grad.%s", p->name);
        REF_TENSOR(g, st, name, p->numel);
        CHECK_CLOSE(e.params.grad + p->offset, g, p->numel, 1e-3, 1e-5, p->name);
    }
    encoder_free(&e);
    st_free(&st);
}

typedef struct {
    Encoder *e;
    const float *x;
    const int *y;
} XentCtx;

static double xent_loss(void *c) {
    XentCtx *k = c;
    encoder_forward(k->e, k->x, 3);
    return encoder_xent(k->e, k->y, 0);
}

TEST(encoder_gradients_match_finite_differences) {
    EncoderLayout L = {.channels = 2, .size = 8, .nlevels = 3, .ch = {4, 6, 8}, .convs = 1, .groups = 2,
                       .num_classes = 4};
    Encoder e;
    char err[ERRLEN];
    CHECK(encoder_build(&e, &L, 3, 1, err) == 0, "%s", err);
    Rng r;
    rng_seed(&r, 11);
    encoder_init(&e, &r);
    for (int i = 0; i < e.nu; i++) { // off the init's symmetric point
        rng_fill_uniform(&r, e.u[i].gb, e.u[i].c.Cout, -0.3f, 0.3f);
        rng_fill_uniform(&r, e.u[i].b, e.u[i].c.Cout, -0.3f, 0.3f);
    }
    float x[3 * 2 * 8 * 8];
    rng_fill_normal(&r, x, sizeof x / sizeof x[0], 1.0f);
    int y[3] = {1, 3, 0};
    params_zero_grad(&e.params);
    encoder_forward(&e, x, 3);
    encoder_xent(&e, y, 1);
    XentCtx k = {&e, x, y};
    // Perturbing a copy would desync the grads: check the live weights in place.
    CHECK_GRAD(e.params.data, e.params.grad, e.params.ntrain, xent_loss, &k, 1e-2f, 2e-2, 2e-4, "all weights");
    encoder_free(&e);
}

TEST(encoder_file_round_trip) {
    Encoder e, f;
    char err[ERRLEN], kind[32];
    CHECK(encoder_build(&e, &REF_LAYOUT, 2, 0, err) == 0, "%s", err);
    Rng r;
    rng_seed(&r, 2);
    encoder_init(&e, &r);
    char path[] = "/tmp/repae_test_encoder_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    close(fd);
    CHECK(encoder_save(&e, path, "evaluator", "shapes", 0.5, err) == 0, "%s", err);
    CHECK(encoder_load(&f, path, 3, 8, 4, kind, err) == 0, "%s", err);
    CHECK(strcmp(kind, "evaluator") == 0, "kind '%s'", kind);
    CHECK(f.L.nlevels == 2 && f.L.ch[1] == 8 && f.L.convs == 2 && f.L.groups == 2 && f.L.num_classes == 3,
          "layout not restored");
    CHECK(f.params.total == e.params.total && memcmp(f.params.data, e.params.data, e.params.total * 4) == 0,
          "weights differ after the round trip");
    encoder_free(&f);
    // The wrong image size is refused with a message.
    CHECK(encoder_load(&f, path, 3, 16, 4, NULL, err) != 0 && strstr(err, "8x8"), "size mismatch accepted: %s", err);
    // A file without repae metadata: layout from the shapes.
    StWriter w;
    st_writer_init(&w);
    for (int i = 0; i < e.params.n; i++)
        st_writer_add(&w, e.params.p[i].name, e.params.data + e.params.p[i].offset, e.params.p[i].ndim,
                      e.params.p[i].shape);
    CHECK(st_writer_save(&w, path, err) == 0, "%s", err);
    st_writer_free(&w);
    CHECK(encoder_load(&f, path, 3, 8, 4, kind, err) == 0, "no metadata: %s", err);
    CHECK(kind[0] == 0 && f.L.nlevels == 2 && f.L.convs == 2 && f.L.num_classes == 3, "layout from shapes");
    encoder_free(&f);
    unlink(path);
    CHECK(encoder_load(&f, path, 3, 8, 4, NULL, err) != 0, "a missing file loaded");
    encoder_free(&e);
}

TEST(evaluator_files_and_batches) {
    char err[ERRLEN], path[] = "/tmp/repae_test_evaluator_XXXXXX";
    Evaluator ev;
    CHECK(evaluator_open(&ev, "/nonexistent/ev.safetensors", "shapes", 3, 8, 4, err) != 0 &&
              strstr(err, "repae evaluator train --dataset shapes"), "missing file message: %s", err);
    Encoder e;
    CHECK(encoder_build(&e, &REF_LAYOUT, 5, 0, err) == 0, "%s", err);
    Rng r;
    rng_seed(&r, 8);
    encoder_init(&e, &r);
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    close(fd);
    CHECK(encoder_save(&e, path, "encoder", "shapes", -1, err) == 0, "%s", err);
    CHECK(evaluator_open(&ev, path, "shapes", 3, 8, 2, err) != 0 && strstr(err, "target encoder"),
          "a target encoder was accepted as the evaluator: %s", err);
    CHECK(encoder_save(&e, path, "evaluator", "shapes", -1, err) == 0, "%s", err);
    CHECK(evaluator_open(&ev, path, "shapes", 3, 8, 2, err) == 0, "%s", err);
    CHECK(ev.F == 8 && ev.K == 3, "F %d K %d", ev.F, ev.K);
    // Five images in batches of two give what one batch of five gives.
    float x[5 * 3 * 8 * 8], f[5 * 8], p[5 * 3];
    rng_fill_normal(&r, x, sizeof x / sizeof x[0], 1.0f);
    evaluator_run(&ev, x, 5, f, p);
    encoder_forward(&e, x, 5);
    CHECK_CLOSE(f, e.pool, 5 * 8, 1e-5, 1e-6, "features");
    CHECK_CLOSE(p, e.probs, 5 * 3, 1e-5, 1e-6, "probabilities");
    evaluator_free(&ev);
    encoder_free(&e);
    unlink(path);
}

static void quiet(void *ctx, int step, int steps, float loss, float acc) {
    (void)ctx; (void)step; (void)steps; (void)loss; (void)acc;
}

TEST(encoder_training_learns_shapes) {
    Config c;
    config_defaults(&c); // shapes, 16x16 RGB, 5 classes
    Dataset *tr, *te;
    char err[ERRLEN];
    CHECK(dataset_open(&tr, &c.data, DATA_TRAIN, err) == 0, "%s", err);
    CHECK(dataset_open(&te, &c.data, DATA_TEST, err) == 0, "%s", err);
    int K = dataset_num_classes(tr);
    EncoderLayout L = encoder_layout_default(c.data.channels, c.data.image_size, K);
    Encoder e;
    CHECK(encoder_build(&e, &L, 32, 1, err) == 0, "%s", err);
    Rng r;
    rng_seed(&r, 1);
    encoder_init(&e, &r);
    float before = encoder_accuracy(&e, te, 500);
    // One thread: this test is about learning, and on a loaded 2-core machine the many small
    // OpenMP regions of a step spin-wait ~15x slower with two threads than with one.
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    EncoderTrainOpts o = {.steps = 250, .batch = 32, .lr = 3e-3f, .seed = 7, .log_every = 50, .progress = quiet};
    double t0 = now_seconds();
    encoder_train(&e, tr, &o);
    double dt = now_seconds() - t0;
    float after = encoder_accuracy(&e, te, 500);
    omp_set_num_threads(threads);
    printf("  shapes: test accuracy %.3f -> %.3f after %d steps (%.1f s, chance %.2f)\n", before, after, o.steps, dt,
           1.0 / K);
    CHECK(after > 0.7f, "test accuracy %.3f after training (chance %.2f)", after, 1.0 / K);
    encoder_free(&e);
    dataset_close(tr);
    dataset_close(te);
}

TEST(augmentation_flips_and_shifts) {
    // One 1x4x4 image with distinct pixels: shift 0 gives it or its mirror image; shift 1 moves
    // it by at most one pixel with the edge repeated, so every value stays one of the image's.
    float img[16], x[16];
    for (int i = 0; i < 16; i++) img[i] = (float)i;
    Rng r;
    rng_seed(&r, 3);
    int seen_id = 0, seen_flip = 0;
    for (int t = 0; t < 40; t++) {
        memcpy(x, img, sizeof x);
        encoder_augment(x, 1, 1, 4, 0, &r);
        int id = 1, fl = 1;
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) {
                id &= x[i * 4 + j] == img[i * 4 + j];
                fl &= x[i * 4 + j] == img[i * 4 + 3 - j];
            }
        CHECK(id || fl, "shift 0 gave neither the image nor its mirror");
        seen_id |= id;
        seen_flip |= fl;
    }
    CHECK(seen_id && seen_flip, "flips are not random: identity %d, mirror %d", seen_id, seen_flip);
    int moved = 0;
    for (int t = 0; t < 40; t++) {
        memcpy(x, img, sizeof x);
        encoder_augment(x, 1, 1, 4, 1, &r);
        // Row i of the result comes from row i - dy clamped: its values lie in rows i-1..i+1.
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) {
                int row = (int)x[i * 4 + j] / 4;
                CHECK(abs(row - i) <= 1, "pixel (%d,%d) came from row %d", i, j, row);
            }
        moved |= memcmp(x, img, sizeof x) != 0;
    }
    CHECK(moved, "shift 1 never moved the image");
}

int main(void) {
    RUN(encoder_matches_torch);
    RUN(encoder_gradients_match_finite_differences);
    RUN(encoder_file_round_trip);
    RUN(evaluator_files_and_batches);
    RUN(encoder_training_learns_shapes);
    RUN(augmentation_flips_and_shifts);
    return test_summary();
}
