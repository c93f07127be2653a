// cmd_train.c: `repae train`, `repae resume`, `repae bench`: a run in this process, written to
// the store through run_hooks, with a progress line on stderr. Ctrl-C stops with a checkpoint.
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "app/memory_policy.h"
#include "app/run_hooks.h"
#include "base/config.h"
#include "base/fmt.h"
#include "base/metrics.h"
#include "base/util.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "data/data.h"
#include "ops/gemm.h"
#include "store/store.h"
#include "train/train.h"
#include "train/trainer.h"
#include "train/dist.h"

// The one run of this process, for the SIGINT handler (run_hooks_stop is async-signal-safe).
static RunHooks *sigint_run;
// Stop requests (SIGINT, SIGTERM) received so far; the ranks of a data-parallel run read it at
// every step (agree_stop).
static volatile sig_atomic_t sigint_count;

static void on_sigint(int sig) {
    (void)sig;
    if (++sigint_count > 1) _exit(130); // a second Ctrl-C: give up at once
    if (sigint_run) run_hooks_stop(sigint_run);
    static const char msg[] = "\nrepae: stopping after this step (writing a checkpoint); Ctrl-C again to abort\n";
    ssize_t r = write(2, msg, sizeof msg - 1);
    (void)r;
}

// The other ranks of a data-parallel run: the same, without a message of their own (rank 0's
// says it for the job).
static void on_sigint_quiet(int sig) {
    (void)sig;
    if (++sigint_count > 1) _exit(130);
}

static void catch_stop_signals(void (*handler)(int)) {
    struct sigaction sa = {0};
    sa.sa_handler = handler;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

// Whether the run stops before this step, the same answer on every rank: a launcher signals
// the ranks one by one (Open MPI's mpirun, Slurm's srun and scancel send SIGTERM to each), so
// some may have it at this step boundary and others not yet; a stop asked of any rank stops
// them all here. A collective: the core polls should_stop once per step on every rank (train.h).
static int agree_stop(const Dist *d, int local) {
    if (dist_size(d) <= 1) return local;
    double any = local ? 1.0 : 0.0;
    dist_allreduce_sum_d(d, &any, 1);
    return any > 0;
}

// Wraps the store's hooks with a progress line.
typedef struct {
    TrainHooks inner;
    const Dist *dist;
    long total;
    long first_step;
    double t0, last_print;
    int tty;
} Progress;

static void progress_metrics(void *ctx, long step, int n, const char *const *keys, const float *vals) {
    Progress *p = ctx;
    if (p->inner.metrics) p->inner.metrics(p->inner.ctx, step, n, keys, vals);
    double now = now_seconds();
    if (p->first_step < 0) { p->first_step = step; p->t0 = now; }
    int last = step >= p->total;
    // A terminal gets a line rewritten ~4 times a second; a log file one line every 10 s.
    if (!last && now - p->last_print < (p->tty ? 0.25 : 10.0)) return;
    p->last_print = now;
    double rate = step > p->first_step ? (step - p->first_step) / (now - p->t0) : NAN;
    char eta[32], its[32], line[512];
    fmt_duration(eta, sizeof eta, (p->total - step) / rate);
    if (isfinite(rate)) snprintf(its, sizeof its, "%.2f", rate);
    else snprintf(its, sizeof its, "-"); // the first log: no rate yet
    int len = snprintf(line, sizeof line, "step %ld/%ld  %s it/s  ETA %s ", step, p->total, its, eta);
    // The charted metrics, in their chart order.
    for (int k = 0; k < METRIC_NCHARTED; k++)
        for (int i = 0; i < n; i++)
            if (strcmp(keys[i], metric_at(k)->name) == 0 && len < (int)sizeof line - 32)
                len += snprintf(line + len, sizeof line - len, " %s %.4g", keys[i], vals[i]);
    fprintf(stderr, p->tty ? "\r%s\033[K" : "%s\n", line);
    if (last && p->tty) fputc('\n', stderr);
}

static void progress_sample(void *ctx, long step, const uint8_t *rgb, int w, int h) {
    Progress *p = ctx;
    if (p->inner.sample) p->inner.sample(p->inner.ctx, step, rgb, w, h);
}
static void progress_checkpoint(void *ctx, long step, const char *weights, const char *state) {
    Progress *p = ctx;
    if (p->inner.checkpoint) p->inner.checkpoint(p->inner.ctx, step, weights, state);
}
static int progress_should_stop(void *ctx) {
    Progress *p = ctx;
    return agree_stop(p->dist, p->inner.should_stop ? p->inner.should_stop(p->inner.ctx) : 0);
}

// Out of memory (a model or batch too large for this machine) aborts the process; record it as
// the run's failure first, or the run would read "interrupted" and invite a resume that fails
// the same way. A fresh store connection: the writer thread's may be mid-transaction.
static const char *oom_db;
static int64_t oom_run;
static void on_oom(const char *msg) {
    Store *s;
    char err[ERRLEN];
    if (!oom_db || store_open(&s, oom_db, 0, err) != 0) return;
    store_set_status(s, oom_run, run_status_name(RUN_FAILED), msg, err);
    store_close(s);
}

// Runs one training run on already-open hooks and records how it ended. Returns the exit code.
static int run_training(RunHooks *rh, const Config *cfg, int resume, const TrainRunOpts *opts, const Dist *d) {
    char err[ERRLEN] = "";
    Progress p = {.inner = run_hooks_get(rh), .dist = d, .total = cfg->train.steps, .first_step = -1,
                  .tty = isatty(2)};
    TrainHooks h = {&p, progress_metrics, progress_sample, progress_checkpoint, progress_should_stop};
    sigint_run = rh;
    catch_stop_signals(on_sigint);
    fprintf(stderr, "repae: run %lld '%s' (%s)\n", (long long)run_hooks_id(rh), run_hooks_name(rh), run_hooks_dir(rh));
    oom_run = run_hooks_id(rh);
    util_set_oom_hook(on_oom);
    TrainRunOpts o = opts ? *opts : (TrainRunOpts){0};
    o.dist = d;
    // The trainer's warnings and notes go to the run's console in the store too (and, as its
    // defaults do, to stderr), so the dashboard shows them for a headless run as well.
    if (!o.warn && !o.note && (!o.ctx || o.ctx == rh)) {
        o.ctx = rh;
        o.warn = run_hooks_warn_hook;
        o.note = run_hooks_note_hook;
    }
    if (dist_size(d) > 1) fprintf(stderr, "repae: data parallel over %d processes\n", dist_size(d));
    if (run_hooks_set_world_size(rh, dist_size(d), err) != 0) fprintf(stderr, "repae: %s\n", err);
    TrainStatus st = train_run_opts(cfg, run_hooks_dir(rh), resume, &h, &o, err);
    util_set_oom_hook(NULL);
    sigint_run = NULL;
    int ok = st == TRAIN_DONE || st == TRAIN_STOPPED;
    if (!ok) fprintf(stderr, "repae: run %s: %s\n", train_status_name(st), err);
    else fprintf(stderr, "repae: run %s\n", train_status_name(st));
    int rc = run_hooks_finish(rh, train_status_name(st), ok ? NULL : err) != 0 || !ok;
    // A failure of this process alone would leave the others waiting in a collective.
    if (!ok && st != TRAIN_DIVERGED) dist_abort(d, 1);
    return rc;
}

// ---- data parallel: the processes other than rank 0 -------------------------------------------
// Rank 0 opens the run in the store; the others learn its directory and config from it and
// train their shares with no hooks (they write nothing).
typedef struct {
    int ok;
    char dir[4096];
    int json_len;
} Shared;

// On rank 0 (rh NULL when it failed): sends the run to the others. 0 when it goes ahead.
static int share_run(const Dist *d, RunHooks *rh, const char *json) {
    if (dist_size(d) <= 1) return rh ? 0 : -1;
    Shared sh = {.ok = rh != NULL};
    if (rh) {
        snprintf(sh.dir, sizeof sh.dir, "%s", run_hooks_dir(rh));
        sh.json_len = (int)strlen(json) + 1;
    }
    dist_bcast(d, &sh, sizeof sh, 0);
    if (sh.ok) dist_bcast(d, (void *)json, (size_t)sh.json_len, 0);
    return sh.ok ? 0 : -1;
}

// The other ranks' hooks: no records, only their share of the stop decision.
static int follower_should_stop(void *ctx) { return agree_stop(ctx, sigint_count > 0); }

// On the other ranks: trains rank 0's run. Returns the exit code.
static int follow_run(const Dist *d, const char *what, int resume) {
    // A stop signal must not kill this rank while rank 0 writes the checkpoint of the step
    // they agree on; it is counted from now on.
    catch_stop_signals(on_sigint_quiet);
    Shared sh;
    dist_bcast(d, &sh, sizeof sh, 0);
    if (!sh.ok) return 1; // rank 0 said why
    char *json = xmalloc((size_t)sh.json_len), err[ERRLEN];
    dist_bcast(d, json, (size_t)sh.json_len, 0);
    Config cfg;
    config_defaults(&cfg);
    int rc = config_parse(&cfg, json, "rank 0's config", err);
    free(json);
    if (rc != 0) { fprintf(stderr, "repae %s (rank %d): %s\n", what, dist_rank(d), err); dist_abort(d, 1); }
    TrainRunOpts o = {.dist = d};
    TrainHooks h = {.ctx = (void *)d, .should_stop = follower_should_stop};
    TrainStatus st = train_run_opts(&cfg, sh.dir, resume, &h, &o, err);
    int ok = st == TRAIN_DONE || st == TRAIN_STOPPED;
    if (!ok) fprintf(stderr, "repae %s (rank %d): run %s: %s\n", what, dist_rank(d), train_status_name(st), err);
    if (st == TRAIN_STOPPED) fprintf(stderr, "repae %s (rank %d): run stopped\n", what, dist_rank(d));
    if (!ok && st != TRAIN_DIVERGED) dist_abort(d, 1);
    return ok ? 0 : 1;
}

// Joins the launcher's world, if any. -1 (said why) when MPI cannot start.
static int dist_start(Dist *d, const char *what) {
    char err[ERRLEN];
    if (dist_init(d, err) == 0) return 0;
    fprintf(stderr, "repae %s: %s\n", what, err);
    return -1;
}

// --set overrides in the order given, after the config file: later ones win.
static int apply_sets(const Args *a, Config *cfg) {
    char err[ERRLEN];
    const char *set;
    for (int k = 0; (set = args_nth(a, "--set", k)); k++)
        if (config_set(cfg, set, err) != 0) {
            fprintf(stderr, "repae %s: %s\n", a->spec->cmd, err);
            return -1;
        }
    return 0;
}

const ArgSpec train_args = {
    .cmd = "train",
    .usage = "usage: repae train CONFIG [--name NAME] [--set key.path=value]...\n\n"
    "Trains a model headless: a progress line on stderr, metrics, samples and checkpoints\n"
    "into the run store. CONFIG is a JSON recipe (see configs/README.md). Ctrl-C stops\n"
    "cleanly with a checkpoint; `repae resume RUN` continues.\n",
    .opts = (const ArgOpt[]){ARG_OPT_STR("--name"), ARG_OPT_STR("--set"), ARG_OPT_END},
};

int cmd_train(const Globals *g, int argc, char **argv) {
    Args a;
    if (args_parse(&a, &train_args, argc, argv) != 0) return a.status;
    if (a.npos == 0) return args_usage_error(&a, "missing CONFIG");
    if (a.npos > 1) return args_usage_error(&a, "more than one CONFIG ('%s', '%s')", args_pos(&a, 0), args_pos(&a, 1));
    const char *path = args_pos(&a, 0), *name = args_str(&a, "--name", NULL);
    Config cfg;
    config_defaults(&cfg);
    char err[ERRLEN];
    // Messages from config_load start with the file's path already.
    if (config_load(&cfg, path, err) != 0) { fprintf(stderr, "repae train: %s\n", err); return 2; }
    if (apply_sets(&a, &cfg) != 0) return 2;
    if (config_validate(&cfg, err) != 0) { fprintf(stderr, "repae train: %s: %s\n", path, err); return 2; }
    // A missing dataset is the config's fault: say so before a run is created to fail at once.
    if (strcmp(cfg.data.dataset, "shapes") != 0) {
        Dataset *ds;
        if (dataset_open(&ds, &cfg.data, DATA_TRAIN, err) != 0) { fprintf(stderr, "repae train: %s: %s\n", path, err); return 2; }
        dataset_close(ds);
    }
    // So is a model or batch too large for this machine: refused before the run exists, with
    // what to lower (the out-of-memory hook only catches what the estimate misses).
    if (app_memory_check(&cfg, err) != 0) { fprintf(stderr, "repae train: %s: %s\n", path, err); return 2; }
    Dist d;
    if (dist_start(&d, "train") != 0) return 1;
    if (d.rank != 0) {
        int rc = follow_run(&d, "train", 0);
        dist_finalize(&d);
        return rc;
    }
    char *json = config_to_json(&cfg);
    RunHooks *rh;
    oom_db = g->db;
    int rc = run_hooks_open(&rh, g->db, name, json, cfg.train.steps, err);
    if (rc != 0) rh = NULL;
    share_run(&d, rh, json);
    free(json);
    if (rc != 0) { fprintf(stderr, "repae train: %s\n", err); dist_finalize(&d); return 1; }
    rc = run_training(rh, &cfg, 0, NULL, &d);
    dist_finalize(&d);
    return rc;
}

// The run's stored config, read without changing the run. 0, or -1 with err.
static int stored_config(const Globals *g, const char *ref, Config *cfg, char *err) {
    Store *s;
    if (store_open(&s, g->db, 0, err) != 0) return -1;
    int64_t id;
    StoreRun r;
    int rc = store_resolve(s, ref, &id, err);
    if (rc == 0 && (rc = store_get_run(s, id, &r, err)) == 0) {
        config_defaults(cfg);
        rc = config_parse(cfg, r.config ? r.config : "{}", "the run's stored config", err);
        store_run_free(&r);
    }
    store_close(s);
    return rc;
}

// Once the core knows which checkpoint loaded (an unusable newer one may have been set
// aside): forget the points logged after it, so that the curves never mix the old and the
// new continuation.
static int resume_start(void *ctx, long from, char *err) {
    RunHooks *rh = ctx;
    if (run_hooks_truncate(rh, from, err) != 0) return -1;
    if (from < 0) fprintf(stderr, "repae resume: no checkpoint yet; starting the run again from step 0\n");
    else fprintf(stderr, "repae resume: continuing from the checkpoint at step %ld\n", from);
    return 0;
}

const ArgSpec resume_args = {
    .cmd = "resume",
    .usage = "usage: repae resume RUN\n\n"
    "Continues a stopped or interrupted run (id or name) from its last checkpoint,\n"
    "with the configuration it was started with.\n",
    .opts = NULL,
};

int cmd_resume(const Globals *g, int argc, char **argv) {
    Args a;
    if (args_parse(&a, &resume_args, argc, argv) != 0) return a.status;
    if (a.npos != 1) return args_usage_error(&a, "expected one RUN");
    const char *ref = args_pos(&a, 0);
    char err[ERRLEN];
    Config cfg;
    // Memory first, while the run still reads as it did (stopped, interrupted...).
    if (stored_config(g, ref, &cfg, err) == 0 && app_memory_check(&cfg, err) != 0) {
        fprintf(stderr, "repae resume: %s\n", err);
        return 1;
    }
    Dist d;
    if (dist_start(&d, "resume") != 0) return 1;
    if (d.rank != 0) {
        int rc = follow_run(&d, "resume", 1);
        dist_finalize(&d);
        return rc;
    }
    RunHooks *rh;
    oom_db = g->db;
    if (run_hooks_resume(&rh, g->db, ref, -1, err) != 0) {
        fprintf(stderr, "repae resume: %s\n", err);
        share_run(&d, NULL, NULL);
        dist_finalize(&d);
        return 1;
    }
    config_defaults(&cfg);
    if (config_parse(&cfg, run_hooks_config(rh), "the run's stored config", err) != 0 || config_validate(&cfg, err) != 0) {
        fprintf(stderr, "repae resume: %s\n", err);
        run_hooks_finish(rh, run_status_name(RUN_FAILED), err);
        share_run(&d, NULL, NULL);
        dist_finalize(&d);
        return 1;
    }
    share_run(&d, rh, run_hooks_config(rh));
    TrainRunOpts opts = {.ctx = rh, .start = resume_start};
    int rc = run_training(rh, &cfg, 1, &opts, &d);
    dist_finalize(&d);
    return rc;
}

const ArgSpec bench_args = {
    .cmd = "bench",
    .usage = "usage: repae bench [--config F] [--steps N] [--set key.path=value]...\n\n"
    "Times training steps on synthetic input of the config's shapes (default: the\n"
    "embedded tiny model) and prints one JSON line: step_s, img_per_s, GFLOP/s, and which\n"
    "matrix-product path ran (gemm: avx512, or openblas; REPAE_GEMM=openblas forces the latter).\n",
    .opts = (const ArgOpt[]){ARG_OPT_STR("--config"), ARG_OPT_INT("--steps", 1, 1000000), ARG_OPT_STR("--set"), ARG_OPT_END},
};

int cmd_bench(const Globals *g, int argc, char **argv) {
    (void)g;
    Args a;
    if (args_parse(&a, &bench_args, argc, argv) != 0) return a.status;
    if (a.npos) return args_usage_error(&a, "unexpected argument '%s'", args_pos(&a, 0));
    Config cfg;
    config_defaults(&cfg);
    char err[ERRLEN];
    int steps = (int)args_long(&a, "--steps", 10);
    const char *path = args_str(&a, "--config", NULL);
    if (path && config_load(&cfg, path, err) != 0) { fprintf(stderr, "repae bench: %s\n", err); return 2; }
    if (apply_sets(&a, &cfg) != 0) return 2;
    if (config_validate(&cfg, err) != 0) { fprintf(stderr, "repae bench: %s\n", err); return 2; }
    TrainBench b;
    if (train_bench(&cfg, steps, &b, err) != 0) { fprintf(stderr, "repae bench: %s\n", err); return 1; }
    printf("{\"config\":\"%s\",\"batch\":%d,\"steps\":%d,\"step_s\":%.5f,\"img_per_s\":%.2f,"
           "\"gflop_per_step\":%.3f,\"gflops\":%.2f,\"gemm\":\"%s\"}\n",
           path ? path : "tiny (embedded)", cfg.train.batch_size, steps, b.step_s, b.img_per_s, b.gflop_per_step, b.gflops,
           sgemm_backend());
    return 0;
}
