// test_train_divergence.c: the divergence watch (train/divergence.h) on made-up loss sequences
// (a blow-up that persists fires; a spike, a blow-up inside the warm-up, a slowly rising but
// sane loss and a loss not computed do not), and on real tiny runs: train.lr=10 ends
// TRAIN_DIVERGED with the step, the loss and what to try; the default recipe runs to the end.
#include "test.h"
#include "testutil.h"
#include "train/divergence.h"
#include "train/train.h"
#include "train/trainer.h"
#include "train_rec.h"
#include <omp.h>
#include <unistd.h>

static char tmp[256];

// Feeds steps 1..n, with loss `slot` of two given by f(step) and the other at 1; returns the
// first step the watch fired at (and which loss in *which), or 0.
static long feed(int slot, double (*f)(long), long n, int *which) {
    Divergence d;
    divergence_init(&d, 2);
    for (long s = 1; s <= n; s++) {
        float x[2] = {1.0f, 1.0f};
        x[slot] = (float)f(s);
        int i = divergence_step(&d, x);
        if (i >= 0) { *which = i; return s; }
    }
    return 0;
}

static double blowup_at_61(long s) { return s <= 60 ? 3.1 : 1.2e8; }

TEST(fires_on_a_blowup_that_persists) {
    int which = -1;
    long at = feed(1, blowup_at_61, 500, &which);
    CHECK(at == 60 + DIVERGE_PATIENCE, "fired at step %ld, want %d", at, 60 + DIVERGE_PATIENCE);
    CHECK(which == 1, "fired on loss %d, want 1", which);
}

// lr=10's shape: blown up from the second step on. The lowest is the first step's value, so
// the watch fires as soon as the warm-up is over.
static double blowup_at_2(long s) { return s == 1 ? 12.7 : 4.7e10; }

TEST(fires_right_after_the_warmup_on_an_early_blowup) {
    int which = -1;
    long at = feed(0, blowup_at_2, 500, &which);
    CHECK(at == DIVERGE_WARMUP + 1, "fired at step %ld, want %d", at, DIVERGE_WARMUP + 1);
    CHECK(which == 0, "fired on loss %d", which);
}

// Spikes of 1e9 lasting 1 and then PATIENCE - 1 steps, back to normal in between.
static double spikes(long s) {
    if (s == 100) return 1e9;
    if (s >= 200 && s < 200 + DIVERGE_PATIENCE - 1) return 1e9;
    return 0.5;
}

TEST(spikes_shorter_than_the_patience_do_not_fire) {
    int which = -1;
    long at = feed(1, spikes, 1000, &which);
    CHECK(at == 0, "fired at step %ld on loss %d", at, which);
}

// Blown up for most of the warm-up, then recovered.
static double warmup_blowup(long s) { return s >= 2 && s <= DIVERGE_WARMUP - 1 ? 3e12 : 2.0; }

TEST(a_blowup_inside_the_warmup_that_recovers_does_not_fire) {
    int which = -1;
    long at = feed(0, warmup_blowup, 1000, &which);
    CHECK(at == 0, "fired at step %ld on loss %d", at, which);
}

// kl from a fresh encoder: 1e-3 at the start, growing 1000x every 1000 steps to 5e5 (far past
// 1e4 x its lowest, below the floor).
static double kl_rising(long s) { return fmin(1e-3 * pow(10.0, 3.0 * s / 1000.0), 5e5); }
// A loss whose healthy level is large: lowest 1e3, wandering up to 9e6 (over the floor, under
// 1e4 x its lowest).
static double large_scale(long s) { return s < 300 ? 1e3 : 9e6; }

TEST(a_slowly_rising_but_sane_loss_does_not_fire) {
    int which = -1;
    long at = feed(1, kl_rising, 4000, &which);
    CHECK(at == 0, "kl_rising fired at step %ld", at);
    at = feed(1, large_scale, 1000, &which);
    CHECK(at == 0, "large_scale fired at step %ld", at);
}

// The limit is 1e4 x the lowest when that is over the floor.
static double large_then_blowup(long s) { return s < 300 ? 1e3 : 2e7; }

TEST(the_limit_scales_with_the_lowest) {
    Divergence d;
    divergence_init(&d, 1);
    CHECK(divergence_limit(&d, 0) == DIVERGE_FLOOR, "limit before any value %g", divergence_limit(&d, 0));
    float x = 1e3f;
    divergence_step(&d, &x);
    CHECK(divergence_limit(&d, 0) == 1e7, "limit %g, want 1e7", divergence_limit(&d, 0));
    int which = -1;
    long at = feed(0, large_then_blowup, 1000, &which);
    CHECK(at == 299 + DIVERGE_PATIENCE, "fired at step %ld, want %d", at, 299 + DIVERGE_PATIENCE);
}

TEST(a_loss_not_computed_changes_nothing) {
    Divergence d;
    divergence_init(&d, 2);
    for (long s = 1; s <= 500; s++) {
        // diffusion without a SiT pass: NaN every step; and a blow-up interrupted by NaN.
        float x[2] = {NAN, s % 5 == 0 ? NAN : 1e9f};
        int i = divergence_step(&d, x);
        CHECK(i < 0, "fired at step %ld on loss %d", s, i);
    }
    CHECK(isinf(d.lowest[0]), "a NaN set the lowest to %g", d.lowest[0]);
}

// ---- real runs --------------------------------------------------------------------------------

static void base_cfg(Config *c) {
    config_defaults(c); // the tiny size on shapes
    c->train.log_every = 1;
    c->train.sample_every = 0;
    c->sample.n = 4;
    c->sample.steps = 4;
    c->train.threads = 1;
}

static void quiet(void *ctx, const char *msg) { (void)ctx; (void)msg; } // the collapse warning

TEST(lr_10_ends_diverged_with_the_step_and_what_to_try) {
    char dir[300], err[ERRLEN];
    snprintf(dir, sizeof dir, "%s/lr10", tmp);
    Config c;
    base_cfg(&c);
    CHECK(!config_set(&c, "train.lr=10", err) && !config_set(&c, "train.steps=200", err) &&
          !config_set(&c, "train.ckpt_every=20", err), "config: %s", err);
    Rec r = {0};
    TrainHooks h = hooks_for(&r);
    TrainRunOpts o = {.warn = quiet};
    TrainStatus st = train_run_opts(&c, dir, 0, &h, &o, err);
    CHECK(st == TRAIN_DIVERGED, "status %s: %s", train_status_name(st), err);
    // Blown up from step 2 on (kl ~1e10): the first step past the warm-up.
    char want[64];
    snprintf(want, sizeof want, "step %d: kl is ", DIVERGE_WARMUP + 1);
    CHECK(strstr(err, want), "message '%s' lacks '%s'", err, want);
    CHECK(strstr(err, "its lowest") && strstr(err, "train.lr"), "message '%s' lacks the lowest or what to try", err);
    CHECK(strstr(err, "the checkpoint of step 40 is kept"), "message '%s' does not say which checkpoint is kept", err);
    CHECK(train_latest_checkpoint(dir) == 40, "latest checkpoint %ld, want 40 (none written after the stop)",
          train_latest_checkpoint(dir));
    // The step that tripped the watch is on the curve, and was the last one.
    CHECK(r.n > 0 && r.step[r.n - 1] == DIVERGE_WARMUP + 1 && r.v[r.n - 1][M_KL] > 1e6, "logged %d steps, the last %ld "
          "with kl %g", r.n, r.n > 0 ? r.step[r.n - 1] : -1L, r.n > 0 ? r.v[r.n - 1][M_KL] : NAN);
}

TEST(the_default_tiny_run_is_not_flagged) {
    char dir[300], err[ERRLEN];
    snprintf(dir, sizeof dir, "%s/tiny", tmp);
    Config c;
    base_cfg(&c);
    CHECK(!config_set(&c, "train.steps=200", err) && !config_set(&c, "train.ckpt_every=0", err), "config: %s", err);
    Rec r = {0};
    TrainHooks h = hooks_for(&r);
    TrainStatus st = train_run_opts(&c, dir, 0, &h, NULL, err);
    CHECK(st == TRAIN_DONE, "status %s: %s", train_status_name(st), err);
}

int main(void) {
    snprintf(tmp, sizeof tmp, "/tmp/repae_test_divergence_XXXXXX");
    if (!mkdtemp(tmp)) { perror("mkdtemp"); return 1; }
    omp_set_num_threads(1);
    RUN(fires_on_a_blowup_that_persists);
    RUN(fires_right_after_the_warmup_on_an_early_blowup);
    RUN(spikes_shorter_than_the_patience_do_not_fire);
    RUN(a_blowup_inside_the_warmup_that_recovers_does_not_fire);
    RUN(a_slowly_rising_but_sane_loss_does_not_fire);
    RUN(the_limit_scales_with_the_lowest);
    RUN(a_loss_not_computed_changes_nothing);
    RUN(lr_10_ends_diverged_with_the_step_and_what_to_try);
    RUN(the_default_tiny_run_is_not_flagged);
    test_rm_rf(tmp);
    return test_summary();
}
