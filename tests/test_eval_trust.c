// test_eval_trust.c: `repae eval` refuses an evaluation network it cannot trust, saying why:
// one whose recorded test accuracy is below its dataset's floor (evaluator_accuracy_floor), one
// that records no accuracy at all, and a REPA target encoder passed as the evaluator.
#include "test.h"
#include "eval/evaluate.h"
#include "model/encoder.h"
#include <unistd.h>

static char tmp[256];

static int write_net(const char *path, const char *kind, const Config *c, double acc, char *err) {
    EncoderLayout L = evaluator_layout_default(c->data.channels, c->data.image_size, 5);
    Encoder e;
    if (encoder_build(&e, &L, 4, 0, err)) return -1;
    Rng r;
    rng_seed(&r, 1);
    encoder_init(&e, &r);
    int rc = encoder_save(&e, path, kind, c->data.dataset, acc, err);
    encoder_free(&e);
    return rc;
}

TEST(untrusted_evaluators_are_refused) {
    char err[ERRLEN], path[300];
    Config c;
    config_defaults(&c); // shapes
    EvalOpts o = {.n = 40, .batch = 4, .cfg_scale = -1, .evaluator = path};
    Evaluation *ev = xcalloc(1, sizeof *ev);
    double floor = evaluator_accuracy_floor("shapes");
    CHECK(floor >= 0.9 && evaluator_accuracy_floor("fashion-mnist") >= 0.93 && evaluator_accuracy_floor("folder") == 0,
          "floors %g %g", floor, evaluator_accuracy_floor("fashion-mnist"));

    snprintf(path, sizeof path, "%s/weak.safetensors", tmp);
    CHECK(write_net(path, "evaluator", &c, 0.86, err) == 0, "%s", err);
    CHECK(eval_open(ev, &c, tmp, &o, err) != 0 && strstr(err, "86.00%") && strstr(err, "90%") && strstr(err, "retrain"),
          "weak evaluator: %s", err);
    Evaluator e;
    CHECK(evaluator_open(&e, path, "shapes", c.data.channels, c.data.image_size, 4, err) != 0, "opened a weak one");

    snprintf(path, sizeof path, "%s/unknown.safetensors", tmp);
    CHECK(write_net(path, "evaluator", &c, -1, err) == 0, "%s", err);
    CHECK(eval_open(ev, &c, tmp, &o, err) != 0 && strstr(err, "no test accuracy"), "unrecorded evaluator: %s", err);
    // evaluator_open itself loads it (tests use random networks), with accuracy NaN.
    CHECK(evaluator_open(&e, path, "shapes", c.data.channels, c.data.image_size, 4, err) == 0, "%s", err);
    CHECK(isnan(e.accuracy) && e.floor == floor, "accuracy %g floor %g", e.accuracy, e.floor);
    evaluator_free(&e);

    snprintf(path, sizeof path, "%s/good.safetensors", tmp);
    CHECK(write_net(path, "evaluator", &c, 0.95, err) == 0, "%s", err);
    CHECK(evaluator_open(&e, path, "shapes", c.data.channels, c.data.image_size, 4, err) == 0, "%s", err);
    CHECK(fabs(e.accuracy - 0.95) < 1e-9, "accuracy %g", e.accuracy);
    evaluator_free(&e);
    // Trusted: eval_open goes on to the checkpoint, and fails there (there is none).
    CHECK(eval_open(ev, &c, tmp, &o, err) != 0 && strstr(err, "vae.safetensors"), "good evaluator: %s", err);

    snprintf(path, sizeof path, "%s/target.safetensors", tmp);
    CHECK(write_net(path, "encoder", &c, 0.99, err) == 0, "%s", err);
    CHECK(eval_open(ev, &c, tmp, &o, err) != 0 && strstr(err, "REPA target encoder"), "target encoder: %s", err);
    free(ev);
}

int main(void) {
    snprintf(tmp, sizeof tmp, "/tmp/repae_test_eval_trust_%d", (int)getpid());
    char err[ERRLEN];
    if (mkdir_p(tmp, err)) { printf("FAIL setup: %s\n", err); return 1; }
    RUN(untrusted_evaluators_are_refused);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    return test_summary();
}
