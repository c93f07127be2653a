// test_train_eval.c: train.eval_every, evaluation during a training run (src/train/run.c on
// src/eval/eval_live.h): eval.fd / eval.kid / precision / recall and the floor logged at every
// eval_every steps and at the end; without an evaluation network the run trains on and says why.
#include "test.h"
#include "train/train.h"
#include "train/trainer.h"
#include "model/encoder.h"
#include "model/evaluator.h"
#include "testutil.h"
#include <unistd.h>

static char tmp[256];

typedef struct { int n, nfd; long step[16]; float fd[16], floor_fd[16]; int warned; char warn[600]; } EvalRec;

static void rec(void *ctx, long step, int n, const char *const *keys, const float *vals) {
    EvalRec *r = ctx;
    int i_fd = -1, i_floor = -1;
    for (int k = 0; k < n; k++) {
        if (!strcmp(keys[k], "eval.fd")) i_fd = k;
        if (!strcmp(keys[k], "eval.fd_floor")) i_floor = k;
    }
    if (i_fd >= 0 && r->nfd < 16) {
        r->step[r->nfd] = step;
        r->fd[r->nfd] = vals[i_fd];
        r->floor_fd[r->nfd] = i_floor >= 0 ? vals[i_floor] : NAN;
        r->nfd++;
    }
    r->n++;
}

static void warn(void *ctx, const char *msg) {
    EvalRec *r = ctx;
    r->warned++;
    snprintf(r->warn, sizeof r->warn, "%s", msg);
}

static int tiny_cfg(Config *c, char *err) {
    config_defaults(c);
    const char *sets[] = {"train.steps=4", "train.log_every=1", "train.sample_every=0", "train.ckpt_every=0",
                          "train.eval_every=2", "train.eval_n=32", "sample.steps=2", "sample.n=4"};
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++)
        if (config_set(c, sets[i], err)) return -1;
    return config_validate(c, err);
}

TEST(eval_every_logs_fd_beside_the_floor) {
    char err[ERRLEN], path[400], run[400];
    Config c;
    CHECK(tiny_cfg(&c, err) == 0, "%s", err);
    // An evaluation network at the default place (untrained, with a stated accuracy: what is
    // tested here is the wiring, not the network).
    encoder_default_path("evaluator", c.data.dataset, path, sizeof path);
    EncoderLayout L = evaluator_layout_default(c.data.channels, c.data.image_size, 5);
    Encoder e;
    CHECK(encoder_build(&e, &L, 16, 0, err) == 0, "%s", err);
    Rng r;
    rng_seed(&r, 3);
    encoder_init(&e, &r);
    CHECK(encoder_save(&e, path, "evaluator", c.data.dataset, 0.95, err) == 0, "%s", err);
    encoder_free(&e);
    snprintf(run, sizeof run, "%s/run1", tmp);
    EvalRec rr = {0};
    TrainHooks h = {&rr, rec, NULL, NULL, NULL};
    TrainRunOpts o = {.ctx = &rr, .warn = warn};
    TrainStatus st = train_run_opts(&c, run, 0, &h, &o, err);
    CHECK(st == TRAIN_DONE, "status %d: %s", st, err);
    CHECK(rr.warned == 0, "warned: %s", rr.warn);
    CHECK(rr.nfd == 2 && rr.step[0] == 2 && rr.step[1] == 4, "eval.fd logged %d times (first at %ld)", rr.nfd,
          rr.nfd ? rr.step[0] : -1);
    for (int i = 0; i < rr.nfd; i++)
        CHECK(isfinite(rr.fd[i]) && isfinite(rr.floor_fd[i]) && rr.fd[i] > rr.floor_fd[i],
              "step %ld: fd %g floor %g", rr.step[i], rr.fd[i], rr.floor_fd[i]);
    unlink(path);
}

TEST(eval_every_without_an_evaluator_trains_on) {
    char err[ERRLEN], run[400];
    Config c;
    CHECK(tiny_cfg(&c, err) == 0, "%s", err);
    snprintf(run, sizeof run, "%s/run2", tmp);
    EvalRec rr = {0};
    TrainHooks h = {&rr, rec, NULL, NULL, NULL};
    TrainRunOpts o = {.ctx = &rr, .warn = warn};
    TrainStatus st = train_run_opts(&c, run, 0, &h, &o, err);
    CHECK(st == TRAIN_DONE, "status %d: %s", st, err);
    CHECK(rr.nfd == 0 && rr.n >= 4, "eval.fd logged %d times, metrics %d", rr.nfd, rr.n);
    CHECK(rr.warned == 1 && strstr(rr.warn, "train.eval_every") && strstr(rr.warn, "evaluator"),
          "warnings %d: %s", rr.warned, rr.warn);
}

int main(void) {
    snprintf(tmp, sizeof tmp, "/tmp/repae_test_train_eval_%d", (int)getpid());
    char err[ERRLEN];
    if (mkdir_p(tmp, err)) { printf("FAIL setup: %s\n", err); return 1; }
    setenv("REPAE_HOME", tmp, 1);
    RUN(eval_every_logs_fd_beside_the_floor);
    RUN(eval_every_without_an_evaluator_trains_on);
    test_rm_rf(tmp);
    return test_summary();
}
