// test_eval_trust.c: `repae eval` refuses an evaluation network it cannot trust, saying why:
// one whose recorded test accuracy is below its dataset's floor (evaluator_accuracy_floor), one
// that records no accuracy at all, and a REPA target encoder passed as the evaluator.
#include "test.h"
#include "eval/evaluate.h"
#include "model/encoder.h"
#include "model/evaluator.h"
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

// The default recipes of `repae evaluator train`: fashion-mnist's is the wider, longer one
// that reaches its 93% floor; shapes and simple-shapes keep the small fast net; all of them
// differ from the REPA target encoder's layout and build.
TEST(evaluator_recipes) {
    char err[ERRLEN];
    EncoderLayout small = evaluator_layout_default(1, 32, 10), target = encoder_layout_default(1, 32, 10);
    EvaluatorRecipe fm = evaluator_recipe("fashion-mnist", 1, 32, 10);
    CHECK(fm.layout.nlevels == 4 && fm.layout.convs == 2 && fm.layout.ch[0] == 32 && fm.layout.ch[1] == 64 &&
          fm.layout.ch[2] == 128 && fm.layout.ch[3] == 256 && fm.layout.num_classes == 10 && fm.layout.channels == 1 &&
          fm.layout.size == 32,
          "fashion-mnist layout: %d stages, %d convs, ch %d,%d,%d,%d", fm.layout.nlevels, fm.layout.convs,
          fm.layout.ch[0], fm.layout.ch[1], fm.layout.ch[2], fm.layout.ch[3]);
    CHECK(fm.steps == 15000 && fm.batch == 64 && fm.augment == 1 && fabsf(fm.lr - 2e-3f) < 1e-9f &&
              fm.lr_end == 0 && fabsf(fm.weight_decay - 0.05f) < 1e-9f,
          "fashion-mnist recipe: %d steps of %d, augment %d, lr %g to x%g, decay %g", fm.steps, fm.batch, fm.augment,
          fm.lr, fm.lr_end, fm.weight_decay);
    char a[256], b[256];
    encoder_layout_str(&fm.layout, a, sizeof a);
    encoder_layout_str(&target, b, sizeof b);
    CHECK(strcmp(a, b) != 0, "the evaluator's layout is the target encoder's: %s", a);
    Encoder e;
    CHECK(encoder_build(&e, &fm.layout, 2, 0, err) == 0, "%s", err);
    encoder_free(&e);
    // An image size the three stages do not divide falls back to the small net.
    EvaluatorRecipe odd = evaluator_recipe("fashion-mnist", 1, 30, 10);
    CHECK(odd.layout.convs == evaluator_layout_default(1, 30, 10).convs && odd.steps == 1500,
          "fashion-mnist at 30x30: %d convs, %d steps", odd.layout.convs, odd.steps);
    // Shapes and simple-shapes stay fast: the small net, 600 / 1500 steps, no augmentation.
    EvaluatorRecipe sh = evaluator_recipe("shapes", 3, 16, 5), ss = evaluator_recipe("simple-shapes", 3, 16, 4);
    EncoderLayout sm = evaluator_layout_default(3, 16, 5);
    CHECK(sh.steps == 600 && sh.augment == 0 && fabsf(sh.lr_end - 0.1f) < 1e-9f && fabsf(sh.weight_decay - 1e-4f) < 1e-9f && sh.layout.convs == sm.convs && sh.layout.nlevels == sm.nlevels &&
          sh.layout.ch[0] == sm.ch[0] && ss.steps == 1500 && ss.augment == 0 && ss.layout.convs == sm.convs,
          "shapes %d steps augment %d, simple-shapes %d steps augment %d", sh.steps, sh.augment, ss.steps,
          ss.augment);
    CHECK(small.convs == 1, "the small evaluator has %d convs per stage", small.convs);
}

int main(void) {
    snprintf(tmp, sizeof tmp, "/tmp/repae_test_eval_trust_%d", (int)getpid());
    char err[ERRLEN];
    if (mkdir_p(tmp, err)) { printf("FAIL setup: %s\n", err); return 1; }
    RUN(untrusted_evaluators_are_refused);
    RUN(evaluator_recipes);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    return test_summary();
}
