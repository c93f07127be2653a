// test_robust_resume.c: resume when the newest checkpoint is damaged. The run falls back to
// the older checkpoint CKPT_KEEP leaves and continues bit-exactly from its step; the
// damaged one is kept as <step>.corrupt (never pruned, never counted), a warning names it and
// why; when none loads the run fails naming every checkpoint tried.
#include "test.h"
#include "train/checkpoint.h"
#include "train/train.h"
#include "train/trainer.h"
#include <sys/stat.h>
#include <unistd.h>

static char tmp[256];

static int set(Config *c, const char *kv) {
    char err[ERRLEN];
    if (config_set(c, kv, err)) { fprintf(stderr, "%s: %s\n", kv, err); return -1; }
    return 0;
}

// Everything that carries state across steps (BN statistics, class dropout, EMA, warmup, the
// loader's cursor, both AdamW); checkpoints at 3 and 6, and at 7 where the run is stopped.
static void cfg_for(Config *c) {
    config_defaults(c);
    c->train.log_every = 1;
    c->train.sample_every = 0;
    c->sample.n = 4;
    c->sample.steps = 4;
    c->train.threads = 1;
    if (set(c, "vae.latent_bn=true") || set(c, "sit.num_classes=5") || set(c, "train.ema=0.9") ||
        set(c, "train.warmup=3") || set(c, "train.steps=10") || set(c, "train.ckpt_every=3") ||
        set(c, "sit.class_dropout=0.3"))
        abort();
}

#include "train_rec.h"

// What the core reports around the resume: warnings, and the step it started from.
typedef struct {
    int nwarn, started;
    char warn[4][2048];
    long from;
} Said;
static void said_warn(void *ctx, const char *msg) {
    Said *s = ctx;
    if (s->nwarn < 4) snprintf(s->warn[s->nwarn], sizeof s->warn[0], "%s", msg);
    s->nwarn++;
}
static int said_start(void *ctx, long from, char *err) {
    (void)err;
    Said *s = ctx;
    s->started++;
    s->from = from;
    return 0;
}

static Rec full;           // the uninterrupted run
static char full_dir[300]; // and its checkpoints
static char base_dir[300]; // a run stopped at step 7: checkpoints 6 and 7

static int exists(const char *fmt, const char *dir, const char *name) {
    char p[700];
    snprintf(p, sizeof p, fmt, dir, name);
    struct stat sb;
    return stat(p, &sb) == 0;
}

// A copy of the stopped run to damage.
static int copy_base(const char *name, char *dir, size_t n) {
    snprintf(dir, n, "%s/%s", tmp, name);
    char cmd[1000];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s' '%s'", dir, base_dir, dir);
    return system(cmd);
}

static int truncate_half(const char *dir, const char *step, const char *file) {
    char p[600];
    snprintf(p, sizeof p, "%s/ckpt/%s/%s", dir, step, file);
    struct stat sb;
    if (stat(p, &sb) != 0) return -1;
    return truncate(p, sb.st_size / 2);
}

// Resumes dir to step 10 and checks it continued from step 6 exactly as the uninterrupted
// run: the metrics of steps 7..10 bit for bit, and the final checkpoint's files.
static void resume_matches(const char *dir, Said *said) {
    Config c;
    cfg_for(&c);
    char err[ERRLEN] = "";
    Rec r = {0};
    TrainHooks h = hooks_for(&r);
    TrainRunOpts o = {.ctx = said, .warn = said_warn, .start = said_start};
    TrainStatus st = train_run_opts(&c, dir, 1, &h, &o, err);
    CHECK(st == TRAIN_DONE, "resume: %s: %s", train_status_name(st), err);
    CHECK(said->started == 1 && said->from == 6, "started %d times, from step %ld (want once, from 6)", said->started,
          said->from);
    CHECK(r.n == 4 && r.step[0] == 7, "resumed run logged %d steps from %ld", r.n, r.n ? r.step[0] : -1);
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < TRAIN_NMETRICS; i++) {
            if (strcmp(train_metric_names[i], "img_per_s") == 0) continue;
            CHECK(memcmp(&full.v[6 + k][i], &r.v[k][i], sizeof(float)) == 0, "step %d %s: %.9g uninterrupted, %.9g resumed",
                  7 + k, train_metric_names[i], full.v[6 + k][i], r.v[k][i]);
        }
    static const char *files[] = {"vae.safetensors", "sit.safetensors", "sit_ema.safetensors", "state.safetensors"};
    for (int i = 0; i < 4; i++) {
        char a[600], b[600];
        snprintf(a, sizeof a, "%s/ckpt/00000010/%s", full_dir, files[i]);
        snprintf(b, sizeof b, "%s/ckpt/00000010/%s", dir, files[i]);
        CHECK(same_file(a, b), "final %s differs from the uninterrupted run's", files[i]);
    }
}

TEST(truncated_weights_fall_back_to_the_older_checkpoint) {
    char dir[300];
    CHECK(copy_base("cut", dir, sizeof dir) == 0, "copy");
    CHECK(truncate_half(dir, "00000007", "vae.safetensors") == 0, "truncate");
    CHECK(train_latest_checkpoint(dir) == 6, "latest usable checkpoint %ld, want 6", train_latest_checkpoint(dir));
    // a leftover of an interrupted write: pruning removes it, unlike the set-aside checkpoint
    char p[400];
    snprintf(p, sizeof p, "%s/ckpt/00000005.tmp", dir);
    CHECK(mkdir(p, 0755) == 0, "mkdir %s", p);
    Said said = {0};
    resume_matches(dir, &said);
    if (test_failed_) return;
    CHECK(said.nwarn == 1, "%d warnings", said.nwarn);
    CHECK(strstr(said.warn[0], "ckpt/00000007") && strstr(said.warn[0], "vae.safetensors") &&
          strstr(said.warn[0], "cut short") && strstr(said.warn[0], "00000007.corrupt") && strstr(said.warn[0], "step 6"),
          "warning: %s", said.warn[0]);
    printf("  warning: %s\n", said.warn[0]);
    // kept for inspection, as it was; the run went on to checkpoints 9 and 10 and pruned 6
    CHECK(exists("%s/ckpt/%s", dir, "00000007.corrupt/vae.safetensors") && !exists("%s/ckpt/%s", dir, "00000007"),
          "00000007 was not set aside as 00000007.corrupt");
    CHECK(exists("%s/ckpt/%s", dir, "00000009") && exists("%s/ckpt/%s", dir, "00000010") &&
          !exists("%s/ckpt/%s", dir, "00000006") && !exists("%s/ckpt/%s", dir, "00000005.tmp"),
          "pruning kept the wrong checkpoints");
    CHECK(train_latest_checkpoint(dir) == 10, "latest %ld", train_latest_checkpoint(dir));
}

TEST(missing_state_falls_back) {
    char dir[300], p[400];
    CHECK(copy_base("nostate", dir, sizeof dir) == 0, "copy");
    snprintf(p, sizeof p, "%s/ckpt/00000007/state.safetensors", dir);
    CHECK(unlink(p) == 0, "unlink");
    Said said = {0};
    resume_matches(dir, &said);
    if (test_failed_) return;
    CHECK(said.nwarn == 1 && strstr(said.warn[0], "state.safetensors: missing"), "warning: %s", said.warn[0]);
    CHECK(exists("%s/ckpt/%s", dir, "00000007.corrupt"), "not set aside");
}

// Files that are whole but do not load (a tensor set that does not fit): found only by the
// load itself, after the weights of step 7 were already read in; the fallback must replace
// all of them with step 6's.
TEST(checkpoint_failing_mid_load_falls_back) {
    char dir[300], a[400], b[400];
    CHECK(copy_base("midload", dir, sizeof dir) == 0, "copy");
    snprintf(a, sizeof a, "%s/ckpt/00000007/vae.safetensors", dir);
    snprintf(b, sizeof b, "%s/ckpt/00000007/sit_ema.safetensors", dir);
    char cmd[900];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", a, b);
    CHECK(system(cmd) == 0, "cp");
    CHECK(train_latest_checkpoint(dir) == 7, "the files are whole: latest %ld", train_latest_checkpoint(dir));
    Said said = {0};
    resume_matches(dir, &said);
    if (test_failed_) return;
    CHECK(said.nwarn == 1 && strstr(said.warn[0], "sit_ema.safetensors"), "warning: %s", said.warn[0]);
}

TEST(no_loadable_checkpoint_fails_and_keeps_them) {
    char dir[300];
    CHECK(copy_base("none", dir, sizeof dir) == 0, "copy");
    CHECK(truncate_half(dir, "00000007", "sit.safetensors") == 0 && truncate_half(dir, "00000006", "state.safetensors") == 0,
          "truncate");
    Config c;
    cfg_for(&c);
    char err[ERRLEN] = "";
    Said said = {0};
    TrainRunOpts o = {.ctx = &said, .warn = said_warn, .start = said_start};
    TrainStatus st = train_run_opts(&c, dir, 1, NULL, &o, err);
    CHECK(st == TRAIN_FAILED, "resume: %s", train_status_name(st));
    CHECK(strstr(err, "step 7: sit.safetensors") && strstr(err, "step 6: state.safetensors") && strstr(err, ".corrupt"),
          "error: %s", err);
    printf("  error: %s\n", err);
    CHECK(said.nwarn == 2 && !said.started, "%d warnings, started %d", said.nwarn, said.started);
    CHECK(exists("%s/ckpt/%s", dir, "00000007.corrupt") && exists("%s/ckpt/%s", dir, "00000006.corrupt"),
          "both kept as .corrupt");
    // Again: no silent fresh start over the set-aside history.
    st = train_run_opts(&c, dir, 1, NULL, &o, err);
    CHECK(st == TRAIN_FAILED && strstr(err, "set aside") && !said.started, "second resume: %s: %s",
          train_status_name(st), err);
    // A second damaged checkpoint of the same step gets its own name.
    char p[400];
    snprintf(p, sizeof p, "%s/ckpt/00000007", dir);
    CHECK(mkdir(p, 0755) == 0, "mkdir");
    st = train_run_opts(&c, dir, 1, NULL, &o, err);
    CHECK(st == TRAIN_FAILED && exists("%s/ckpt/%s", dir, "00000007.corrupt.2"), "second set-aside of step 7: %s", err);
}


// The public checkpoint facts (checkpoint.h) the CLI and the dashboard rely on.
TEST(checkpoint_api_finds_the_newest_usable_and_merges_it) {
    char dir[300], d[600], want[600], err[ERRLEN];
    CHECK(strcmp(ckpt_dir(d, sizeof d, "/r", 7), "/r/ckpt/00000007") == 0, "ckpt_dir: %s", d);
    CHECK(copy_base("api", dir, sizeof dir) == 0, "copy");
    long *steps;
    int corrupt, n = ckpt_list(dir, &steps, &corrupt);
    CHECK(n == 2 && steps[0] == 7 && steps[1] == 6 && !corrupt, "%d checkpoints, newest %ld", n, n ? steps[0] : -1);
    free(steps);
    snprintf(want, sizeof want, "%s/ckpt/00000007", dir);
    CHECK(ckpt_newest_usable(dir, d, sizeof d) == 7 && strcmp(d, want) == 0, "newest: %s", d);
    // A damaged newest one is skipped; leftovers and set-aside ones do not count.
    CHECK(truncate_half(dir, "00000007", "sit_ema.safetensors") == 0, "truncate");
    CHECK(ckpt_check(want, err) != 0 && strstr(err, "sit_ema.safetensors: cut short"), "check: %s", err);
    char p[700];
    snprintf(p, sizeof p, "%s/ckpt/00000008.tmp", dir);
    CHECK(mkdir(p, 0755) == 0, "mkdir %s", p);
    snprintf(p, sizeof p, "%s/ckpt/00000009.corrupt", dir);
    CHECK(mkdir(p, 0755) == 0, "mkdir %s", p);
    n = ckpt_list(dir, &steps, &corrupt);
    CHECK(n == 2 && steps[0] == 7 && corrupt, "%d checkpoints, set-aside ones seen: %d", n, corrupt);
    free(steps);
    snprintf(want, sizeof want, "%s/ckpt/00000006", dir);
    CHECK(ckpt_newest_usable(dir, d, sizeof d) == 6 && strcmp(d, want) == 0, "newest usable: %s", d);
    CHECK(train_latest_checkpoint(dir) == 6, "train_latest_checkpoint disagrees");
    snprintf(p, sizeof p, "%s/nothing", tmp);
    snprintf(d, sizeof d, "untouched");
    CHECK(ckpt_newest_usable(p, d, sizeof d) == -1 && strcmp(d, "untouched") == 0, "no run: %s", d);

    // One weights file: every weights tensor under its file's stem, the training state left out.
    const CkptFile *f = ckpt_files();
    CHECK(strcmp(f[0].name, "vae.safetensors") == 0 && f[0].weights && strcmp(f[3].name, CKPT_STATE_FILE) == 0 &&
          !f[3].weights, "ckpt_files");
    char out[400];
    snprintf(out, sizeof out, "%s/merged.safetensors", tmp);
    const char *meta[] = {"step", "6", "run", "api", NULL};
    CHECK(ckpt_merge_weights(want, out, meta, err) == 0, "merge: %s", err);
    SafeTensors m;
    CHECK(st_read(&m, out, err) == 0, "%s", err);
    int total = 0;
    for (int i = 0; i < CKPT_NFILES; i++) {
        if (!f[i].weights) continue;
        SafeTensors src;
        snprintf(p, sizeof p, "%s/%s", want, f[i].name);
        CHECK(st_read(&src, p, err) == 0, "%s", err);
        int stem = (int)(strchr(f[i].name, '.') - f[i].name);
        for (int t = 0; t < src.n; t++) {
            char name[300];
            snprintf(name, sizeof name, "%.*s.%s", stem, f[i].name, src.t[t].name);
            const StTensor *x = st_find(&m, name);
            CHECK(x && x->numel == src.t[t].numel && memcmp(x->data, src.t[t].data, x->numel * sizeof(float)) == 0,
                  "%s differs or is missing", name);
        }
        total += src.n;
        st_free(&src);
    }
    CHECK(m.n == total, "merged %d tensors, the weights files hold %d", m.n, total);
    CHECK(st_meta(&m, "step") && strcmp(st_meta(&m, "step"), "6") == 0 && st_meta(&m, "run"), "metadata");
    st_free(&m);
    snprintf(p, sizeof p, "%s/nothing", tmp);
    CHECK(ckpt_merge_weights(p, out, NULL, err) != 0 && strstr(err, "nothing"), "merging no directory: %s", err);
}

int main(void) {
    snprintf(tmp, sizeof tmp, "/tmp/repae_test_robust_resume_%d", (int)getpid());
    char err[ERRLEN];
    if (mkdir_p(tmp, err)) { printf("FAIL setup: %s\n", err); return 1; }
    Config c;
    cfg_for(&c);
    snprintf(full_dir, sizeof full_dir, "%s/full", tmp);
    snprintf(base_dir, sizeof base_dir, "%s/base", tmp);
    TrainHooks h = hooks_for(&full);
    Rec b = {.stop_after = 7};
    TrainHooks hb = hooks_for(&b);
    if (train_run(&c, full_dir, 0, &h, err) != TRAIN_DONE || full.n != 10) { printf("FAIL setup: full run: %s\n", err); return 1; }
    if (train_run(&c, base_dir, 0, &hb, err) != TRAIN_STOPPED || train_latest_checkpoint(base_dir) != 7 ||
        !exists("%s/ckpt/%s", base_dir, "00000006")) {
        printf("FAIL setup: the stopped run has no checkpoints 6 and 7: %s\n", err);
        return 1;
    }
    RUN(truncated_weights_fall_back_to_the_older_checkpoint);
    RUN(missing_state_falls_back);
    RUN(checkpoint_failing_mid_load_falls_back);
    RUN(no_loadable_checkpoint_fails_and_keeps_them);
    RUN(checkpoint_api_finds_the_newest_usable_and_merges_it);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    return test_summary();
}
