// test_repa.c: the REPA projector and alignment loss (src/model/repa.h) against PyTorch
// (tests/gen_repa.py, REPA's loss.py formulation), finite differences, the target features of
// the frozen encoder, and the VAE-side path through a frozen SiT (no SiT or projector grads).
#include <stdlib.h>
#include <unistd.h>
#include "base/config.h"
#include "model/encoder.h"
#include "model/repa.h"
#include "model/sit.h"
#include "test.h"
#include "testutil.h"

enum { D = 12, P = 16, FD = 8, B = 2, T = 4 };

TEST(projector_and_loss_match_torch) {
    SafeTensors st;
    LOAD_REF(st, "tests/ref/repa_ref.safetensors");
    Projector p;
    char err[ERRLEN];
    CHECK(projector_build(&p, D, P, FD, B * T, 1, err) == 0, "%s", err);
    CHECK(test_load_prefixed(&p.params, &st, "proj.") == 0, "reference lacks projector weights");
    REF_TENSOR(h, st, "proj_h", B * T * D);
    REF_TENSOR(tgt, st, "proj_target", B * T * FD);
    REF_TENSOR(out, st, "proj_out", B * T * FD);
    REF_TENSOR(loss, st, "proj_loss", 1);
    REF_TENSOR(dh, st, "proj_dh", B * T * D);
    REF_TENSOR(w, st, "proj_w", 1);
    float a = repa_loss_forward(&p, h, tgt, B, T);
    CHECK_CLOSE(p.out, out, B * T * FD, 1e-4, 1e-6, "projector output");
    CHECK(fabsf(a - loss[0]) < 1e-6f, "align %.8g, torch %.8g", a, loss[0]);
    float dtok[B * T * D] = {0};
    params_zero_grad(&p.params);
    repa_loss_backward(&p, dtok, w[0], 1);
    CHECK_CLOSE(dtok, dh, B * T * D, 1e-3, 1e-7, "d tokens");
    char name[256];
    for (int i = 0; i < p.params.n; i++) {
        const ParamInfo *q = &p.params.p[i];
        snprintf(name, sizeof name, "proj_grad.%s", q->name);
        REF_TENSOR(g, st, name, q->numel);
        CHECK_CLOSE(p.params.grad + q->offset, g, q->numel, 1e-3, 1e-7, q->name);
    }
    // The frozen-projector path: token gradients identical, parameter gradients untouched.
    float dtok2[B * T * D] = {0};
    params_zero_grad(&p.params);
    repa_loss_backward(&p, dtok2, w[0], 0);
    CHECK(memcmp(dtok, dtok2, sizeof dtok) == 0, "token gradient depends on param_grads");
    CHECK(global_norm(p.params.grad, p.params.ntrain) == 0.0f, "param_grads = 0 wrote projector gradients");
    projector_free(&p);
    st_free(&st);
}

typedef struct {
    Projector *p;
    const float *h, *tgt;
} LossCtx;

static double align_loss(void *c) {
    LossCtx *k = c;
    return repa_loss_forward(k->p, k->h, k->tgt, B, T);
}

TEST(repa_loss_gradients_match_finite_differences) {
    Projector p;
    char err[ERRLEN];
    CHECK(projector_build(&p, D, P, FD, B * T, 1, err) == 0, "%s", err);
    Rng r;
    rng_seed(&r, 4);
    projector_init(&p, &r);
    rng_fill_uniform(&r, p.params.data, p.params.ntrain, -0.5f, 0.5f); // biases too
    float h[B * T * D], tgt[B * T * FD], dtok[B * T * D] = {0};
    rng_fill_normal(&r, h, B * T * D, 1.0f);
    rng_fill_normal(&r, tgt, B * T * FD, 1.0f);
    params_zero_grad(&p.params);
    repa_loss_forward(&p, h, tgt, B, T);
    repa_loss_backward(&p, dtok, 1.0f, 1);
    LossCtx k = {&p, h, tgt};
    CHECK_GRAD(h, dtok, B * T * D, align_loss, &k, 1e-2f, 2e-2, 1e-5, "tokens");
    CHECK_GRAD(p.params.data, p.params.grad, p.params.ntrain, align_loss, &k, 1e-2f, 2e-2, 1e-5, "projector");
    // The loss is the mean cosine: aligned targets give -1.
    const float *o = projector_forward(&p, h, B * T);
    float same[B * T * FD];
    for (int i = 0; i < B * T * FD; i++) same[i] = 3.0f * o[i];
    float a = repa_loss_forward(&p, h, same, B, T);
    CHECK(fabsf(a + 1.0f) < 1e-5f, "align with targets parallel to the projection is %.7f, want -1", a);
    projector_free(&p);
}

TEST(targets_match_torch) {
    SafeTensors st;
    LOAD_REF(st, "tests/ref/repa_ref.safetensors");
    EncoderLayout L = {.channels = 3, .size = 8, .nlevels = 2, .ch = {4, 8}, .convs = 2, .groups = 2,
                       .num_classes = 3};
    RepaTarget t;
    memset(&t, 0, sizeof t);
    char err[ERRLEN];
    CHECK(encoder_build(&t.enc, &L, 2, 0, err) == 0, "%s", err);
    CHECK(test_load_prefixed(&t.enc.params, &st, "enc.") == 0, "reference lacks encoder weights");
    REF_TENSOR(x, st, "enc_x", 2 * 3 * 8 * 8);
    REF_TENSOR(t2, st, "enc_targets_2x2", 2 * 4 * 8);
    REF_TENSOR(t4, st, "enc_targets_4x4", 2 * 16 * 8);
    float out[2 * 16 * 8];
    CHECK(repa_target_init(&t, 2, 2, err) == 0, "%s", err);
    CHECK(t.stage == 1 && t.factor == 2 && t.F == 8 && t.T == 4, "2x2 grid: stage %d factor %d", t.stage, t.factor);
    repa_targets(&t, x, 2, out);
    CHECK_CLOSE(out, t2, 2 * 4 * 8, 1e-4, 1e-5, "2x2 targets");
    CHECK(repa_target_init(&t, 4, 4, err) == 0, "%s", err);
    CHECK(t.stage == 1 && t.factor == 1, "4x4 grid: stage %d factor %d", t.stage, t.factor);
    repa_targets(&t, x, 2, out);
    CHECK_CLOSE(out, t4, 2 * 16 * 8, 1e-4, 1e-5, "4x4 targets");
    CHECK(repa_target_init(&t, 3, 3, err) != 0 && strstr(err, "3x3"), "a 3x3 grid accepted: %s", err);
    repa_target_free(&t);
    CHECK(repa_target_open(&t, "/nonexistent/enc.safetensors", "shapes", 3, 8, 2, 2, 2, err) != 0 &&
              strstr(err, "repae encoder train --dataset shapes"),
          "missing encoder message: %s", err);
    st_free(&st);
}

// The VAE side of REPA-E: align(SiT_frozen(x_t)) with gradients to x_t only.
typedef struct {
    Sit *s;
    Projector *p;
    const float *t, *tgt;
    int k;
} SitCtx;

static float *g_xt;
static double sit_align_loss(void *c) {
    SitCtx *k = c;
    sit_forward(k->s, g_xt, k->t, NULL, B);
    return repa_loss_forward(k->p, sit_tokens(k->s, k->k), k->tgt, B, k->s->T);
}

TEST(vae_side_path_through_frozen_sit) {
    Config c;
    config_defaults(&c); // the tiny SiT: D 32, depth 2, heads 2, patch 2
    Sit s;
    Projector p;
    char err[ERRLEN];
    CHECK(sit_build(&s, &c.sit, 4, 4, 4, B, 1, err) == 0, "%s", err);
    int Ts = s.T, Ds = s.D, k = 1;
    CHECK(projector_build(&p, Ds, 16, FD, B * Ts, 1, err) == 0, "%s", err);
    Rng r;
    rng_seed(&r, 9);
    sit_init(&s, &r);
    // DiT's init zeroes adaLN; random weights make the blocks (and the gradient) non-trivial.
    rng_fill_uniform(&r, s.params.data, s.params.ntrain, -0.2f, 0.2f);
    projector_init(&p, &r);
    size_t nz = (size_t)B * 4 * 4 * 4;
    float *xt = xmalloc(nz * sizeof(float)), *dxt = xcalloc(nz, sizeof(float));
    float *tgt = xmalloc((size_t)B * Ts * FD * sizeof(float)), *dtok = xcalloc((size_t)B * Ts * Ds, sizeof(float));
    float tt[B] = {0.3f, 0.8f};
    rng_fill_normal(&r, xt, nz, 1.0f);
    rng_fill_normal(&r, tgt, (size_t)B * Ts * FD, 1.0f);
    params_zero_grad(&s.params);
    params_zero_grad(&p.params);
    sit_forward(&s, xt, tt, NULL, B);
    repa_loss_forward(&p, sit_tokens(&s, k), tgt, B, Ts);
    repa_loss_backward(&p, dtok, 1.5f, 0);
    sit_backward(&s, dxt, NULL, dtok, k, 0);
    CHECK(global_norm(s.params.grad, s.params.ntrain) == 0.0f, "the frozen SiT got weight gradients");
    CHECK(global_norm(p.params.grad, p.params.ntrain) == 0.0f, "the frozen projector got weight gradients");
    CHECK(global_norm(dxt, nz) > 0.0f, "no gradient reached x_t");
    scale_inplace(dxt, nz, 1.0f / 1.5f);
    SitCtx ctx = {&s, &p, tt, tgt, k};
    g_xt = xt;
    CHECK_GRAD(xt, dxt, nz, sit_align_loss, &ctx, 1e-2f, 3e-2, 1e-5, "d align / d x_t");
    free(xt); free(dxt); free(tgt); free(dtok);
    projector_free(&p);
    sit_free(&s);
}

// align.target: the default file of each target kind, the refusal of a file of the other kind,
// and missing-file messages that name the command writing the file.
TEST(target_kinds_are_never_mistaken) {
    char dir[] = "/tmp/repae_test_repa_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char *old = getenv("REPAE_HOME") ? strdup(getenv("REPAE_HOME")) : NULL;
    setenv("REPAE_HOME", dir, 1);
    EncoderLayout L = {.channels = 3, .size = 8, .nlevels = 2, .ch = {4, 8}, .convs = 2, .groups = 2,
                       .num_classes = 3};
    Encoder e;
    char err[ERRLEN], sup[1024], ssl[1024];
    CHECK(encoder_build(&e, &L, 2, 0, err) == 0, "%s", err);
    Rng r;
    rng_seed(&r, 5);
    encoder_init(&e, &r);
    RepaTarget t;
    CHECK(repa_target_open_for(&t, "ssl", "", "shapes", 3, 8, 2, 2, 2, err) != 0 &&
              strstr(err, "ssl-encoder-shapes.safetensors") && strstr(err, "`repae encoder train --dataset shapes`"),
          "missing ssl encoder message: %s", err);
    CHECK(repa_target_open_for(&t, "supervised", "", "shapes", 3, 8, 2, 2, 2, err) != 0 &&
              strstr(err, "/encoder-shapes.safetensors") &&
              strstr(err, "`repae encoder train --dataset shapes --objective supervised`"),
          "missing supervised encoder message: %s", err);
    encoder_default_path("encoder", "shapes", sup, sizeof sup);
    encoder_default_path("ssl-encoder", "shapes", ssl, sizeof ssl);
    CHECK(encoder_save(&e, sup, "encoder", "shapes", -1, err) == 0, "%s", err);
    // Only the supervised file exists: the ssl target does not fall back to it.
    CHECK(repa_target_open_for(&t, "ssl", "", "shapes", 3, 8, 2, 2, 2, err) != 0 && strstr(err, "does not exist"),
          "the ssl target found something: %s", err);
    CHECK(repa_target_open_for(&t, "ssl", sup, "shapes", 3, 8, 2, 2, 2, err) != 0 && strstr(err, "align.target"),
          "a supervised file accepted as the ssl target: %s", err);
    CHECK(repa_target_open_for(&t, "supervised", "", "shapes", 3, 8, 2, 2, 2, err) == 0, "%s", err);
    repa_target_free(&t);
    CHECK(encoder_save(&e, ssl, "ssl-encoder", "shapes", -1, err) == 0, "%s", err);
    CHECK(repa_target_open_for(&t, "ssl", "", "shapes", 3, 8, 2, 2, 2, err) == 0, "%s", err);
    CHECK(t.stage == 1 && t.factor == 2, "stage %d factor %d", t.stage, t.factor);
    repa_target_free(&t);
    CHECK(repa_target_open_for(&t, "supervised", ssl, "shapes", 3, 8, 2, 2, 2, err) != 0 && strstr(err, "\"ssl\""),
          "an ssl file accepted as the supervised target: %s", err);
    encoder_free(&e);
    unlink(sup);
    unlink(ssl);
    rmdir(dir);
    if (old) setenv("REPAE_HOME", old, 1);
    else unsetenv("REPAE_HOME");
    free(old);
}

// align.target (generation 2): "ssl" by default and for partial recipes; a stored run's full
// dump from before the key resumes with the supervised target it trained with.
TEST(align_target_default_and_legacy) {
    Config a, b;
    char err[ERRLEN];
    config_defaults(&a);
    CHECK(strcmp(a.align.target, "ssl") == 0, "default align.target %s", a.align.target);
    char *json = config_to_json(&a);
    char *at = strstr(json, "\"target\"");
    CHECK(at != NULL, "the dump lacks align.target");
    char *ls = at, *le = strchr(at, '\n');
    while (ls > json && ls[-1] != '\n') ls--;
    memmove(ls, le + 1, strlen(le + 1) + 1);
    config_defaults(&b);
    CHECK(config_parse(&b, json, "old dump", err) == 0, "%s", err);
    CHECK(strcmp(b.align.target, "supervised") == 0, "an old stored run resumes with align.target %s", b.align.target);
    free(json);
    config_defaults(&b);
    CHECK(config_parse(&b, "{\"align\": {\"kind\": \"repa\"}}", "partial", err) == 0, "%s", err);
    CHECK(strcmp(b.align.target, "ssl") == 0, "a partial recipe gets align.target %s", b.align.target);
    CHECK(config_set(&b, "align.target=dino", err) != 0 && strstr(err, "supervised"), "bad value: %s", err);
    CHECK(config_set(&b, "align.target=supervised", err) == 0, "%s", err);
}

int main(void) {
    RUN(projector_and_loss_match_torch);
    RUN(repa_loss_gradients_match_finite_differences);
    RUN(targets_match_torch);
    RUN(vae_side_path_through_frozen_sit);
    RUN(target_kinds_are_never_mistaken);
    RUN(align_target_default_and_legacy);
    return test_summary();
}
