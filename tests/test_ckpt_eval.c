// test_ckpt_eval.c: evaluating kept checkpoints (train.ckpt_keep) with common random numbers.
// The convergence study compares arms at the same step with the same sampling noise and labels:
// eval_run's noise and labels must come from the evaluation's own seed (--seed), never from the
// run (its train.seed), so that two runs evaluated with one --seed see the same draws. (The
// held-out images are the first N of the test split: fixed for fashion-mnist; on the built-in
// shapes data.seed draws the dataset itself, so runs compared there share data.seed.)
// Checked here: a checkpoint evaluated under two runs' configs of other train.seed gives
// the same numbers bit for bit; another --seed gives other numbers; a kept step's checkpoint is
// its own weights (its numbers differ from the final one's).
#include "test.h"
#include "eval/evaluate.h"
#include "model/encoder.h"
#include "train/checkpoint.h"
#include "train/train.h"
#include "testutil.h"
#include <unistd.h>

static char tmp[256], evpath[300];

static int set(Config *c, const char *kv) {
    char err[ERRLEN];
    if (config_set(c, kv, err)) { fprintf(stderr, "%s: %s\n", kv, err); return -1; }
    return 0;
}

static void cfg_for(Config *c, int seed) {
    config_defaults(c);
    char a[64], b[64];
    snprintf(a, sizeof a, "train.seed=%d", seed);
    snprintf(b, sizeof b, "data.seed=%d", 1);
    if (set(c, "train.steps=6") || set(c, "train.threads=1") || set(c, "train.sample_every=0") ||
        set(c, "sample.steps=2") || set(c, "sit.num_classes=5") || set(c, "train.ema=0.9") ||
        set(c, "train.ckpt_every=0") || set(c, "train.ckpt_keep=[3]") || set(c, a) || set(c, b))
        abort();
}

// eval_run of checkpoint dir ck under config c, sampling seed seed; 0 or -1 with err.
static int eval_at(const Config *c, const char *ck, uint64_t seed, EvalResult *R, char *err) {
    EvalOpts o = {.n = 24, .batch = 4, .steps = 2, .cfg_scale = -1, .seed = seed, .evaluator = evpath,
                  .unchecked = 1}; // a random evaluator: the numbers only need to be reproducible
    Evaluation *ev = xcalloc(1, sizeof *ev);
    int rc = eval_open(ev, c, ck, &o, err);
    if (rc == 0) {
        rc = eval_run(ev, R, err);
        eval_close(ev);
    }
    free(ev);
    return rc;
}

TEST(same_seed_same_draws_whatever_the_run) {
    char err[ERRLEN], run0[300], run1[300], k0[600], k1[600], fin[600];
    Config c0, c1;
    cfg_for(&c0, 0);
    cfg_for(&c1, 11);
    snprintf(run0, sizeof run0, "%s/run0", tmp);
    snprintf(run1, sizeof run1, "%s/run1", tmp);
    CHECK(train_run(&c0, run0, 0, NULL, err) == TRAIN_DONE, "%s", err);
    CHECK(train_run(&c1, run1, 0, NULL, err) == TRAIN_DONE, "%s", err);
    ckpt_dir(k0, sizeof k0, run0, 3);
    ckpt_dir(k1, sizeof k1, run1, 3);
    ckpt_dir(fin, sizeof fin, run0, 6);

    Dataset *ds;
    CHECK(dataset_open(&ds, &c0.data, DATA_TEST, err) == 0, "%s", err);
    int K = dataset_num_classes(ds);
    dataset_close(ds);
    EncoderLayout L = evaluator_layout_default(c0.data.channels, c0.data.image_size, K);
    Encoder e;
    CHECK(encoder_build(&e, &L, 4, 0, err) == 0, "%s", err);
    Rng r;
    rng_seed(&r, 5);
    encoder_init(&e, &r);
    snprintf(evpath, sizeof evpath, "%s/evaluator.safetensors", tmp);
    CHECK(encoder_save(&e, evpath, "evaluator", c0.data.dataset, -1, err) == 0, "%s", err);
    encoder_free(&e);

    EvalResult a, b, other_seed, other_run, final;
    CHECK(eval_at(&c0, k0, 7, &a, err) == 0, "%s", err);
    // Run 0's kept checkpoint under run 1's config (another train.seed): the same draws.
    CHECK(eval_at(&c1, k0, 7, &b, err) == 0, "%s", err);
    printf("  step 3, seed 7: fd %.6f is %.6f acc %.4f; under the other run's config: fd %.6f\n", a.fd, a.is, a.acc,
           b.fd);
    CHECK(a.fd == b.fd && a.kid == b.kid && a.is == b.is && a.acc == b.acc && a.precision == b.precision,
          "the run's seeds changed the evaluation: fd %.9g vs %.9g, is %.9g vs %.9g", a.fd, b.fd, a.is, b.is);
    // The evaluation's own seed does change the draws ...
    CHECK(eval_at(&c0, k0, 8, &other_seed, err) == 0, "%s", err);
    CHECK(other_seed.fd != a.fd, "--seed 8 gave the same fd as --seed 7 (%.9g): the seed is not used", a.fd);
    // ... and the weights matter: the other run's step 3, and run 0's final step.
    CHECK(eval_at(&c1, k1, 7, &other_run, err) == 0, "%s", err);
    CHECK(eval_at(&c0, fin, 7, &final, err) == 0, "%s", err);
    CHECK(other_run.fd != a.fd && final.fd != a.fd, "fd of other weights equal: %.9g %.9g %.9g", a.fd, other_run.fd,
          final.fd);
}

int main(void) {
    snprintf(tmp, sizeof tmp, "/tmp/repae_test_ckpt_eval_%d", (int)getpid());
    char err[ERRLEN];
    if (mkdir_p(tmp, err)) { printf("FAIL setup: %s\n", err); return 1; }
    RUN(same_seed_same_draws_whatever_the_run);
    test_rm_rf(tmp);
    return test_summary();
}
