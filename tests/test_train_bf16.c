// test_train_bf16.c: training with train.precision = "bf16" (issue 15): the run resumes bit for
// bit, its loss curves stay within the spread that the seed alone gives fp32 runs, two
// precisions coexist in one process, and a CPU without AVX512-BF16 falls back to fp32 with a
// message (REPAE_CPU_PRETEND_MISSING, src/base/cpu.c).
#include "test.h"
#include "testutil.h"
#include "model/model.h"
#include "ops/gemm.h"
#include "train/train.h"
#include "train/trainer.h"
#include <omp.h>
#include <unistd.h>

static char tmp[256];

static int set(Config *c, const char *kv) {
    char err[ERRLEN];
    if (config_set(c, kv, err)) { fprintf(stderr, "%s: %s\n", kv, err); return -1; }
    return 0;
}

#include "train_rec.h"

static void base_cfg(Config *c) {
    config_defaults(c); // the tiny size on shapes
    c->train.log_every = 1;
    c->train.sample_every = 0;
    c->train.ckpt_every = 0;
    c->sample.n = 4;
    c->sample.steps = 4;
    c->train.threads = 1;
}

// As test_train.c's resume test, in bf16 and on two threads.
TEST(resume_is_bit_exact_in_bf16) {
    Config c;
    base_cfg(&c);
    CHECK(!set(&c, "train.precision=\"bf16\"") && !set(&c, "vae.latent_bn=true") && !set(&c, "sit.num_classes=5") &&
          !set(&c, "train.ema=0.9") && !set(&c, "train.warmup=3") && !set(&c, "train.steps=10") &&
          !set(&c, "train.ckpt_every=4") && !set(&c, "sit.class_dropout=0.3") && !set(&c, "train.threads=2"),
          "config");
    char da[300], db[300], err[ERRLEN];
    snprintf(da, sizeof da, "%s/bf16_full", tmp);
    snprintf(db, sizeof db, "%s/bf16_split", tmp);
    Rec a = {0}, b1 = {0}, b2 = {0};
    TrainHooks h = hooks_for(&a);
    CHECK(train_run(&c, da, 0, &h, err) == TRAIN_DONE, "full run: %s", err);
    CHECK(a.n == 10, "full run logged %d steps", a.n);
    b1.stop_after = 6;
    h = hooks_for(&b1);
    CHECK(train_run(&c, db, 0, &h, err) == TRAIN_STOPPED, "stopped run: %s", err);
    h = hooks_for(&b2);
    CHECK(train_run(&c, db, 1, &h, err) == TRAIN_DONE, "resumed run: %s", err);
    CHECK(b2.n == 4 && b2.step[0] == 7, "resumed run logged %d steps from %ld", b2.n, b2.step[0]);
    for (int k = 0; k < 10; k++) {
        const float *want = a.v[k], *got = k < 6 ? b1.v[k] : b2.v[k - 6];
        for (int i = 0; i < TRAIN_NMETRICS; i++) {
            if (strcmp(train_metric_names[i], "img_per_s") == 0) continue;
            CHECK(memcmp(&want[i], &got[i], sizeof(float)) == 0, "step %d %s: %.9g uninterrupted, %.9g resumed", k + 1,
                  train_metric_names[i], want[i], got[i]);
        }
    }
    static const char *files[] = {"vae.safetensors", "sit.safetensors", "sit_ema.safetensors", "state.safetensors"};
    for (int i = 0; i < 4; i++) {
        char fa[400], fb[400];
        snprintf(fa, sizeof fa, "%s/ckpt/00000010/%s", da, files[i]);
        snprintf(fb, sizeof fb, "%s/ckpt/00000010/%s", db, files[i]);
        CHECK(same_file(fa, fb), "final %s differs between the uninterrupted and the resumed run", files[i]);
    }
}

#define NSTEPS 40
static int run_curve(const char *prec, int seed, Rec *r, char *err) {
    Config c;
    base_cfg(&c);
    char kv[64], dir[300];
    snprintf(kv, sizeof kv, "train.precision=\"%s\"", prec);
    if (set(&c, kv) || set(&c, "train.steps=40") || set(&c, "vae.latent_bn=true")) return -1;
    c.train.seed = seed;
    snprintf(dir, sizeof dir, "%s/curve_%s_%d", tmp, prec, seed);
    memset(r, 0, sizeof *r);
    TrainHooks h = hooks_for(r);
    return train_run(&c, dir, 0, &h, err) == TRAIN_DONE && r->n == NSTEPS ? 0 : -1;
}

// Mean over the steps of |x - y| for metric i.
static double curve_dist(const Rec *x, const Rec *y, int i) {
    double s = 0;
    for (int k = 0; k < NSTEPS; k++) s += fabs((double)x->v[k][i] - y->v[k][i]);
    return s / NSTEPS;
}

// bf16 against fp32 on the same seed must stay closer than fp32 runs of different seeds are
// to each other (the seed spread), for the reconstruction and the diffusion loss; and differ
// from fp32 at all (the bf16 products ran). Both precisions run in this one process.
TEST(bf16_loss_curves_within_the_seed_spread_of_fp32) {
    if (!gemm_bf16_ok()) { printf("  (no AVX512-BF16 on this CPU: bf16 runs are fp32 runs)\n"); return; }
    static Rec f[3], b;
    char err[ERRLEN] = "";
    for (int s = 0; s < 3; s++) CHECK(run_curve("fp32", s, &f[s], err) == 0, "fp32 seed %d: %s", s, err);
    CHECK(run_curve("bf16", 0, &b, err) == 0, "bf16: %s", err);
    const int metrics[] = {0, 2}; // recon, diffusion
    for (int m = 0; m < 2; m++) {
        int i = metrics[m];
        double dp = curve_dist(&b, &f[0], i);
        double ds = (curve_dist(&f[0], &f[1], i) + curve_dist(&f[0], &f[2], i) + curve_dist(&f[1], &f[2], i)) / 3;
        printf("  %s: mean |bf16 - fp32| %.3g, mean seed spread %.3g\n", train_metric_names[i], dp, ds);
        CHECK(dp > 0, "%s: the bf16 curve is fp32's bit for bit", train_metric_names[i]);
        CHECK(dp < ds, "%s: bf16 is %.3g from fp32, more than the seed spread %.3g", train_metric_names[i], dp, ds);
    }
}

static int note_bf16(const Config *c, char *note) { return model_precision_bf16(c, note, 320); }
// model_build's flags (m.bf16 + both parts'), or -1 if it failed; its precision_note into note.
static int build_flags(const Config *c, char *note) {
    Model m;
    char err[ERRLEN];
    if (model_build(&m, c, 2, 0, err)) { fprintf(stderr, "model_build: %s\n", err); return -1; }
    int f = m.bf16 + m.vae.ws.bf16 + m.sit.bf16;
    snprintf(note, 320, "%s", m.precision_note);
    model_free(&m);
    return f;
}

TEST(bf16_without_the_extension_falls_back_with_a_message) {
    Config c;
    base_cfg(&c);
    CHECK(!set(&c, "train.precision=\"bf16\""), "config");
    setenv("REPAE_CPU_PRETEND_MISSING", "avx512bf16", 1);
    char msg[320], bmsg[320];
    int on = note_bf16(&c, msg), mb = build_flags(&c, bmsg);
    unsetenv("REPAE_CPU_PRETEND_MISSING");
    CHECK(on == 0, "bf16 reported on with AVX512-BF16 pretended missing");
    CHECK(strstr(msg, "train.precision") && strstr(msg, "fp32") &&
              (strstr(msg, "AVX512-BF16") || strstr(msg, "REPAE_GEMM")), "message: '%s'", msg);
    CHECK(mb == 0 && strstr(bmsg, "fp32 instead"), "model_build: bf16 flags %d (-1: failed), noted '%s'", mb, bmsg);
    // fp32 has nothing to say; bf16 with the extension is on
    Config f;
    base_cfg(&f);
    on = note_bf16(&f, msg);
    CHECK(on == 0 && msg[0] == 0, "fp32: on %d, message '%s'", on, msg);
    on = note_bf16(&c, msg);
    CHECK(on == gemm_bf16_ok() && (on || msg[0]), "bf16 with the CPU's own support: on %d, message '%s'", on, msg);
}

// On a CPU whose vdpbf16ps is slower than its fp32 FMA (session 20's machine: 0.5x) a bf16 run
// is slower than fp32: it still runs in bf16, as asked, but says so.
TEST(bf16_on_a_cpu_where_it_is_slower_says_so) {
    if (!gemm_bf16_ok()) {
        CHECK(gemm_bf16_speed() == 0, "speed %g without BF16", gemm_bf16_speed());
        return;
    }
    const char *old = getenv("REPAE_BF16_SPEED");
    unsetenv("REPAE_BF16_SPEED");
    double v = gemm_bf16_speed();
    CHECK(v > 0.05 && v < 20, "measured vdpbf16ps / FMA flops %g is not a plausible ratio", v);
    Config c;
    base_cfg(&c);
    CHECK(!set(&c, "train.precision=\"bf16\""), "config");
    char msg[320];
    setenv("REPAE_BF16_SPEED", "0.5", 1);
    int on = note_bf16(&c, msg);
    CHECK(on == 1 && strstr(msg, "0.50x") && strstr(msg, "slower than fp32"), "slow bf16: on %d, said '%s'", on, msg);
    setenv("REPAE_BF16_SPEED", "2", 1);
    on = note_bf16(&c, msg);
    CHECK(on == 1 && msg[0] == 0, "fast bf16: on %d, said '%s'", on, msg);
    if (old) setenv("REPAE_BF16_SPEED", old, 1);
    else unsetenv("REPAE_BF16_SPEED");
}

// The note reaches a run's user through TrainRunOpts.warn (the dashboard's notice line and the
// run's console), never as bytes on stderr, where the dashboard is drawing.
typedef struct { int n; char last[400]; } Warned;
static void collect(void *ctx, const char *msg) {
    Warned *w = ctx;
    w->n++;
    snprintf(w->last, sizeof w->last, "%s", msg);
}

TEST(the_precision_note_goes_to_the_run_not_to_stderr) {
    Config c;
    base_cfg(&c);
    CHECK(!set(&c, "train.precision=\"bf16\"") && !set(&c, "train.steps=1"), "config");
    // Whatever this CPU is, one of the two notes applies: no BF16 (fallback) or a slow one.
    setenv("REPAE_BF16_SPEED", "0.5", 1);
    char dir[300], err[ERRLEN], path[320];
    snprintf(dir, sizeof dir, "%s/note_run", tmp);
    snprintf(path, sizeof path, "%s/note_stderr.txt", tmp);
    Warned w = {0};
    TrainRunOpts o = {.ctx = &w, .warn = collect};
    Rec r = {0};
    TrainHooks h = hooks_for(&r);
    fflush(stderr);
    int saved = dup(2);
    FILE *f = fopen(path, "w+");
    CHECK(f != NULL, "cannot open %s", path);
    dup2(fileno(f), 2);
    TrainStatus st = train_run_opts(&c, dir, 0, &h, &o, err);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(f);
    char out[2048];
    size_t k = fread(out, 1, sizeof out - 1, f);
    out[k] = 0;
    fclose(f);
    unsetenv("REPAE_BF16_SPEED");
    CHECK(st == TRAIN_DONE, "status %d: %s", st, err);
    CHECK(w.n >= 1 && strstr(w.last, "train.precision"), "warn called %d times, last '%s'", w.n, w.last);
    CHECK(!strstr(out, "train.precision"), "the note went to stderr too: '%s'", out);
}

TEST(precision_defaults_to_fp32_and_names_itself_when_wrong) {
    Config c;
    base_cfg(&c);
    CHECK(strcmp(c.train.precision, "fp32") == 0, "default precision '%s'", c.train.precision);
    char err[ERRLEN];
    CHECK(config_set(&c, "train.precision=\"fp16\"", err) != 0 && strstr(err, "train.precision"),
          "fp16 accepted or the error does not name the key: %s", err);
}

int main(void) {
    snprintf(tmp, sizeof tmp, "/tmp/repae_test_train_bf16_XXXXXX");
    if (!mkdtemp(tmp)) { perror("mkdtemp"); return 1; }
    omp_set_num_threads(1);
    RUN(bf16_without_the_extension_falls_back_with_a_message);
    RUN(bf16_on_a_cpu_where_it_is_slower_says_so);
    RUN(the_precision_note_goes_to_the_run_not_to_stderr);
    RUN(precision_defaults_to_fp32_and_names_itself_when_wrong);
    RUN(resume_is_bit_exact_in_bf16);
    RUN(bf16_loss_curves_within_the_seed_spread_of_fp32);
    test_rm_rf(tmp);
    return test_summary();
}
