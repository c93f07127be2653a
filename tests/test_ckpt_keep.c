// test_ckpt_keep.c: train.ckpt_keep, the checkpoints a study evaluates later. A kept step gets
// a checkpoint even where train.ckpt_every does not fall, pruning leaves it while the rolling
// newest ones move on, and a resume still starts from the newest checkpoint, not a kept one.
// Also the key itself: parsed, written back, checked for order, and a stored run from before
// it keeps only the newest checkpoints (its legacy value, []).
#include "test.h"
#include "base/config_keys.h"
#include "train/checkpoint.h"
#include "testutil.h"
#include "train/train.h"
#include "train/trainer.h"
#include <sys/stat.h>
#include <unistd.h>

static char tmp[256];

#include "train_rec.h"

static int set(Config *c, const char *kv) {
    char err[ERRLEN];
    if (config_set(c, kv, err)) { fprintf(stderr, "%s: %s\n", kv, err); return -1; }
    return 0;
}

// The tiny model; checkpoints every 4 steps, and kept ones at 3 and 6 (neither a multiple of 4).
static void cfg_for(Config *c, int steps, const char *keep) {
    config_defaults(c);
    c->train.log_every = 1;
    c->train.sample_every = 0;
    c->sample.n = 4;
    c->sample.steps = 2;
    c->train.threads = 1;
    c->train.steps = steps;
    char kv[128];
    snprintf(kv, sizeof kv, "train.ckpt_keep=%s", keep);
    if (set(c, "train.ckpt_every=4") || set(c, kv)) abort();
}

// The steps of dir's checkpoints, ascending, as "3 6 8 12".
static void steps_of(const char *dir, char *out, size_t n) {
    long *steps;
    int k = ckpt_list(dir, &steps, NULL);
    out[0] = 0;
    size_t used = 0;
    for (int i = k - 1; i >= 0; i--) used += (size_t)snprintf(out + used, n - used, i == k - 1 ? "%ld" : " %ld", steps[i]);
    free(steps);
}

TEST(kept_steps_are_written_and_survive_pruning) {
    char dir[300], got[256], err[ERRLEN] = "";
    snprintf(dir, sizeof dir, "%s/keep", tmp);
    Config c;
    cfg_for(&c, 14, "[3,6]");
    Rec r = {0};
    TrainHooks h = hooks_for(&r);
    TrainStatus st = train_run(&c, dir, 0, &h, err);
    CHECK(st == TRAIN_DONE, "train: %s: %s", train_status_name(st), err);
    steps_of(dir, got, sizeof got);
    // 3 and 6 kept; of 4, 8, 12 and the final 14 the newest CKPT_KEEP (12, 14) remain.
    CHECK(strcmp(got, "3 6 12 14") == 0, "checkpoints after the run: %s (want 3 6 12 14)", got);
    for (int i = 0; i < 2; i++) {
        char ck[400], why[ERRLEN];
        ckpt_dir(ck, sizeof ck, dir, i ? 6 : 3);
        CHECK(ckpt_check(ck, why) == 0, "kept checkpoint %s is not whole: %s", ck, why);
    }
}

TEST(without_the_key_only_the_newest_remain) {
    char dir[300], got[256], err[ERRLEN] = "";
    snprintf(dir, sizeof dir, "%s/plain", tmp);
    Config c;
    cfg_for(&c, 14, "[]");
    TrainStatus st = train_run(&c, dir, 0, NULL, err);
    CHECK(st == TRAIN_DONE, "train: %s: %s", train_status_name(st), err);
    steps_of(dir, got, sizeof got);
    CHECK(strcmp(got, "12 14") == 0, "checkpoints after the run: %s (want 12 14)", got);
}

// A run stopped after a kept step resumes from its newest checkpoint (not the kept one) and
// keeps the kept ones while pruning the rest.
TEST(resume_picks_the_newest_and_keeps_the_kept) {
    char dir[300], got[256], err[ERRLEN] = "";
    snprintf(dir, sizeof dir, "%s/resume", tmp);
    Config c;
    cfg_for(&c, 14, "[3,6]");
    Rec r = {.stop_after = 9};
    TrainHooks h = hooks_for(&r);
    TrainStatus st = train_run(&c, dir, 0, &h, err);
    CHECK(st == TRAIN_STOPPED, "first part: %s: %s", train_status_name(st), err);
    CHECK(train_latest_checkpoint(dir) == 9, "stopped at step 9: newest checkpoint %ld", train_latest_checkpoint(dir));
    Rec r2 = {0};
    TrainHooks h2 = hooks_for(&r2);
    st = train_run(&c, dir, 1, &h2, err);
    CHECK(st == TRAIN_DONE, "resume: %s: %s", train_status_name(st), err);
    CHECK(r2.n > 0 && r2.step[0] == 10, "the resumed run logged from step %ld (want 10: from the newest, 9)",
          r2.n ? r2.step[0] : -1);
    steps_of(dir, got, sizeof got);
    CHECK(strcmp(got, "3 6 12 14") == 0, "checkpoints after the resume: %s (want 3 6 12 14)", got);
}

TEST(key_parses_writes_back_and_checks_order) {
    Config c, d;
    char err[ERRLEN];
    config_defaults(&c);
    CHECK(c.train.ckpt_keep.n == 0, "default has %d kept steps", c.train.ckpt_keep.n);
    CHECK(config_set(&c, "train.ckpt_keep=[250,500,1000]", err) == 0, "%s", err);
    CHECK(c.train.ckpt_keep.n == 3 && c.train.ckpt_keep.step[2] == 1000, "parsed %d steps", c.train.ckpt_keep.n);
    char *json = config_to_json(&c);
    config_defaults(&d);
    CHECK(config_parse(&d, json, "dump", err) == 0, "%s", err);
    free(json);
    CHECK(config_equal(&c, &d) && d.train.ckpt_keep.n == 3 && d.train.ckpt_keep.step[1] == 500, "round trip");
    CHECK(config_validate(&c, err) == 0, "%s", err);
    CHECK(config_set(&c, "train.ckpt_keep=[500,250]", err) == 0, "%s", err);
    CHECK(config_validate(&c, err) != 0 && strstr(err, "train.ckpt_keep") && strstr(err, "ascending"), "order: %s", err);
    CHECK(config_set(&c, "train.ckpt_keep=[0]", err) != 0 && strstr(err, "train.ckpt_keep[0]"), "step 0: %s", err);
    CHECK(config_set(&c, "train.ckpt_keep=500", err) != 0 && strstr(err, "array"), "not a list: %s", err);
}

// A stored config from before the key (every other key given): it gets the legacy [], so
// resuming an old run keeps pruning as it did.
TEST(old_stored_config_keeps_none) {
    Config c;
    char err[ERRLEN];
    config_defaults(&c);
    config_set(&c, "train.ckpt_keep=[7]", err);
    char *json = config_to_json(&c);
    char *at = strstr(json, "\"ckpt_keep\"");
    CHECK(at, "no ckpt_keep in the dump");
    char *end = strchr(at, '\n'); // drop the line (its comma stays valid: ckpt_every precedes it)
    memmove(at, end + 1, strlen(end + 1) + 1);
    Config d;
    config_defaults(&d);
    d.train.ckpt_keep.n = 5;
    int rc = config_parse(&d, json, "old dump", err);
    free(json);
    CHECK(rc == 0, "%s", err);
    CHECK(d.train.ckpt_keep.n == 0, "an old run's config keeps %d steps (want none)", d.train.ckpt_keep.n);
}

int main(void) {
    snprintf(tmp, sizeof tmp, "/tmp/repae_test_ckpt_keep_%d", (int)getpid());
    char err[ERRLEN];
    if (mkdir_p(tmp, err)) { printf("FAIL setup: %s\n", err); return 1; }
    RUN(kept_steps_are_written_and_survive_pruning);
    RUN(without_the_key_only_the_newest_remain);
    RUN(resume_picks_the_newest_and_keeps_the_kept);
    RUN(key_parses_writes_back_and_checks_order);
    RUN(old_stored_config_keeps_none);
    test_rm_rf(tmp);
    return test_summary();
}
