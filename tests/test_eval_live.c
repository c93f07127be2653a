// test_eval_live.c: evaluation during training (src/eval/eval_live.h) on a tiny untrained
// model: finite FD/KID beside their floor, the same numbers from the same seed, samples of the
// model judged worse than the floor, and n beyond what was opened refused.
#include "test.h"
#include "eval/eval_live.h"
#include "model/encoder.h"
#include <unistd.h>

TEST(eval_during_training_on_a_fresh_model) {
    char err[ERRLEN], path[300];
    snprintf(path, sizeof path, "/tmp/repae_test_eval_live_%d.safetensors", (int)getpid());
    Config c;
    config_defaults(&c);
    CHECK(config_set(&c, "sample.steps=2", err) == 0, "%s", err);
    CHECK(config_validate(&c, err) == 0, "%s", err);
    EncoderLayout L = evaluator_layout_default(c.data.channels, c.data.image_size, 5);
    Encoder e;
    CHECK(encoder_build(&e, &L, 16, 0, err) == 0, "%s", err);
    Rng r;
    rng_seed(&r, 5);
    encoder_init(&e, &r);
    CHECK(encoder_save(&e, path, "evaluator", c.data.dataset, 0.95, err) == 0, "%s", err); // stated, not reached
    encoder_free(&e);
    EvalLive live;
    CHECK(eval_live_open(&live, &c, path, 64, 16, err) == 0, "%s", err);
    CHECK(live.nh == 64 && isfinite(live.floor.fd) && isfinite(live.floor.kid), "nh %ld floor %g %g", live.nh,
          live.floor.fd, live.floor.kid);
    Model m;
    CHECK(model_build(&m, &c, 16, 0, err) == 0, "%s", err);
    Rng mr;
    rng_seed(&mr, 1);
    model_init(&m, &mr);
    SampleOpts so;
    CHECK(sample_opts_from_config(&so, &c.sample, err) == 0, "%s", err);
    SetMetrics a, b;
    CHECK(eval_during_training(&live, &m, &so, 32, 7, &a, err) == 0, "%s", err);
    CHECK(eval_during_training(&live, &m, &so, 32, 7, &b, err) == 0, "%s", err);
    printf("  fd %.4f (floor %.4f)  kid %.5f (floor %.5f)  precision %.3f recall %.3f\n", a.fd, live.floor.fd, a.kid,
           live.floor.kid, a.precision, a.recall);
    CHECK(a.fd == b.fd && a.kid == b.kid, "the same seed gave fd %g then %g", a.fd, b.fd);
    CHECK(isfinite(a.fd) && a.fd > live.floor.fd, "untrained samples: fd %g, floor %g", a.fd, live.floor.fd);
    CHECK(eval_during_training(&live, &m, &so, 65, 7, &a, err) != 0 && strstr(err, "65"), "n > opened: %s", err);
    model_free(&m);
    eval_live_close(&live);
    unlink(path);
}

int main(void) {
    RUN(eval_during_training_on_a_fresh_model);
    return test_summary();
}
