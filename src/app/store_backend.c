// app/store_backend.c: the UiBackend on the run store (store/store.h). Runs launched or resumed here
// train in background threads through run_hooks (the same path as `repae train`), so they
// write to the store exactly like a run in another process and show up the same way.
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "app/memory_policy.h"
#include "base/config.h"
#include "app/store_backend.h"
#include "app/run_hooks.h"
#include "store/store.h"
#include "train/train.h"
#include "base/util.h"

typedef struct StoreModel StoreModel;

// A run training in a thread of this process. The UI thread owns the Job and its RunHooks:
// the training thread ends the hooks (run_hooks_end) and sets finished, and the UI thread
// frees both only after joining it, so run_hooks_stop on a finishing run is always safe.
typedef struct Job {
    StoreModel *sm;
    pthread_t th;
    RunHooks *rh;
    int64_t id;
    Config cfg;
    int resume;
    atomic_int finished; // set by the training thread as its last act
    struct Job *next;
} Job;

struct StoreModel {
    UiBackend base;
    Store *st;
    char *path;
    Job *jobs;
    pthread_mutex_t mu;  // notice, written by training threads
    char notice[1024];   // warnings of training threads not yet shown ("" if none)
    struct stat at_open; // the store file as opened: a different inode later means replaced
};

// A training thread's warning (the core's TrainRunOpts.warn): stderr is the terminal the
// dashboard draws on, so it waits here for the app's next tick.
static void job_warn(void *ctx, const char *msg) {
    Job *j = ctx;
    StoreModel *sm = j->sm;
    pthread_mutex_lock(&sm->mu);
    size_t l = strlen(sm->notice);
    if (l + 8 < sizeof sm->notice)
        snprintf(sm->notice + l, sizeof sm->notice - l, "%srun %lld: %s", l ? "; " : "", (long long)j->id, msg);
    pthread_mutex_unlock(&sm->mu);
}

// Resume: once the core knows which checkpoint loaded (after setting aside unusable newer
// ones), forget the points logged after it, as `repae resume` does.
static int job_start(void *ctx, long from, char *err) {
    Job *j = ctx;
    return j->resume ? run_hooks_truncate(j->rh, from, err) : 0;
}

static void *job_main(void *arg) {
    Job *j = arg;
    char err[ERRLEN] = "";
    TrainHooks h = run_hooks_get(j->rh);
    TrainRunOpts o = {.ctx = j, .warn = job_warn, .note = job_warn, .start = job_start};
    TrainStatus st = train_run_opts(&j->cfg, run_hooks_dir(j->rh), j->resume, &h, &o, err);
    run_hooks_end(j->rh, train_status_name(st), st == TRAIN_DONE || st == TRAIN_STOPPED ? NULL : err);
    atomic_store(&j->finished, 1);
    return NULL;
}

static void job_free(Job *j) {
    pthread_join(j->th, NULL);
    run_hooks_free(j->rh);
    free(j);
}

// Joins finished training threads and frees them.
static void reap(StoreModel *sm) {
    Job **p = &sm->jobs;
    while (*p) {
        Job *j = *p;
        if (atomic_load(&j->finished)) { *p = j->next; job_free(j); }
        else p = &j->next;
    }
}

static Job *job_of(StoreModel *sm, int64_t id) {
    for (Job *j = sm->jobs; j; j = j->next) if (j->id == id && !atomic_load(&j->finished)) return j;
    return NULL;
}

static void to_ui(StoreModel *sm, const StoreRun *r, UiRun *u) {
    memset(u, 0, sizeof *u);
    u->id = r->id;
    snprintf(u->name, sizeof u->name, "%s", r->name ? r->name : "");
    snprintf(u->status, sizeof u->status, "%s", r->status);
    u->step = r->step;
    u->total_steps = r->total_steps;
    u->created = r->created; u->started = r->started; u->ended = r->ended; u->heartbeat = r->heartbeat;
    u->active = r->active;
    u->world_size = r->world_size;
    size_t l = 0;
    for (int i = 0; i < r->ntags && l < sizeof u->tags - 1; i++)
        l += (size_t)snprintf(u->tags + l, sizeof u->tags - l, "%s%s", i ? "," : "", r->tags[i]);
    snprintf(u->notes, sizeof u->notes, "%s", r->notes ? r->notes : "");
    snprintf(u->error, sizeof u->error, "%s", r->error ? r->error : "");
    u->local = job_of(sm, r->id) != NULL;
    for (int i = 0; i < r->nlatest && u->nlatest < UI_MAXLATEST; i++) {
        UiLatest *d = &u->latest[u->nlatest++];
        snprintf(d->key, sizeof d->key, "%s", r->latest[i].key);
        d->last = r->latest[i].last;
        d->min = r->latest[i].min;
        d->max = r->latest[i].max;
        d->last_step = r->latest[i].last_step;
        d->min_step = r->latest[i].min_step;
    }
}

static int list_runs(UiBackend *m, UiRun **out, int *n, char *err) {
    StoreModel *sm = (StoreModel *)m;
    StoreRun *rs = NULL;
    int k = 0;
    reap(sm);
    if (store_list_runs(sm->st, &rs, &k, err)) return -1;
    *out = xmalloc(sizeof(UiRun) * (size_t)(k + 1));
    for (int i = 0; i < k; i++) to_ui(sm, &rs[i], &(*out)[i]);
    *n = k;
    store_runs_free(rs, k);
    return 0;
}

static int config(UiBackend *m, int64_t id, char **json, char *err) {
    StoreRun r;
    if (store_get_run(((StoreModel *)m)->st, id, &r, err)) return -1;
    *json = xstrdup(r.config ? r.config : "");
    store_run_free(&r);
    return 0;
}

static int series_append(UiBackend *m, int64_t id, const char *key, UiSeries *s, char *err) {
    StoreSeries ser = {0};
    if (store_series(((StoreModel *)m)->st, id, key, s->n ? s->step[s->n - 1] : -1, &ser, err)) return -1;
    for (long i = 0; i < ser.n; i++) ui_series_push(s, ser.step[i], ser.value[i], ser.wall[i]);
    store_series_free(&ser);
    return 0;
}

static int sample_steps(UiBackend *m, int64_t id, long **steps, int *n, char *err) {
    return store_sample_steps(((StoreModel *)m)->st, id, steps, n, err);
}

static int sample(UiBackend *m, int64_t id, long step, long *got, Image *img, char *err) {
    unsigned char *png = NULL;
    size_t len = 0;
    int w = 0, h = 0;
    if (store_sample_get(((StoreModel *)m)->st, id, step, got, &png, &len, &w, &h, err)) return -1;
    int rc = image_decode_png(png, len, img, err);
    free(png);
    return rc;
}

static int start_job(StoreModel *sm, RunHooks *rh, const Config *cfg, int resume) {
    Job *j = xcalloc(1, sizeof *j);
    j->sm = sm;
    j->rh = rh;
    j->id = run_hooks_id(rh);
    j->cfg = *cfg;
    j->resume = resume;
    run_hooks_set_warn(rh, job_warn, j);
    if (pthread_create(&j->th, NULL, job_main, j)) {
        run_hooks_finish(rh, run_status_name(RUN_FAILED), "could not start the training thread");
        free(j);
        return -1;
    }
    j->next = sm->jobs;
    sm->jobs = j;
    return 0;
}

static int launch(UiBackend *m, const char *path, const char *name, int nset, char *const *sets, int64_t *id, char *err) {
    StoreModel *sm = (StoreModel *)m;
    Config cfg;
    config_defaults(&cfg);
    if (config_load(&cfg, path, err)) return -1;
    for (int i = 0; i < nset; i++) if (config_set(&cfg, sets[i], err)) return -1;
    if (config_validate(&cfg, err)) return -1;
    if (app_memory_check(&cfg, err)) return -1; // before the run exists
    char *json = config_to_json(&cfg);
    RunHooks *rh = NULL;
    int rc = run_hooks_open(&rh, sm->path, name, json, cfg.train.steps, err);
    free(json);
    if (rc) return -1;
    *id = run_hooks_id(rh);
    if (start_job(sm, rh, &cfg, 0)) return seterr(err, "could not start a training thread");
    return 0;
}

static int stop(UiBackend *m, int64_t id, char *err) {
    StoreModel *sm = (StoreModel *)m;
    Job *j = job_of(sm, id);
    if (j) run_hooks_stop(j->rh); // rh lives until the Job is reaped on this thread
    return store_request_stop(sm->st, id, err);
}

static int resume(UiBackend *m, int64_t id, char *err) {
    StoreModel *sm = (StoreModel *)m;
    if (job_of(sm, id)) return seterr(err, "run %lld is already training here", (long long)id);
    char ref[32];
    snprintf(ref, sizeof ref, "%lld", (long long)id);
    Config cfg;
    // Memory first, while the run still reads as it did (stopped, interrupted...).
    StoreRun r;
    if (store_get_run(sm->st, id, &r, err) == 0) {
        config_defaults(&cfg);
        int rc = config_parse(&cfg, r.config ? r.config : "{}", "the run's stored config", err) == 0 &&
                 app_memory_check(&cfg, err) != 0;
        store_run_free(&r);
        if (rc) return -1;
    }
    RunHooks *rh = NULL;
    if (run_hooks_resume(&rh, sm->path, ref, -1, err)) return -1;
    config_defaults(&cfg);
    // The core picks the checkpoint (the newest that loads) and forgets what was logged after
    // it through job_start, so the curves never mix two continuations.
    if (config_parse(&cfg, run_hooks_config(rh), "the run's stored config", err) || config_validate(&cfg, err)) {
        char e2[ERRLEN];
        snprintf(e2, sizeof e2, "%s", err);
        run_hooks_finish(rh, run_status_name(RUN_FAILED), e2);
        return -1;
    }
    return start_job(sm, rh, &cfg, 1);
}

static int removerun(UiBackend *m, int64_t id, char *err) {
    StoreModel *sm = (StoreModel *)m;
    if (job_of(sm, id)) return seterr(err, "run %lld is training here: stop it (x) first", (long long)id);
    // A run training in another process would go on writing into a run that no longer exists.
    StoreRun r;
    if (store_get_run(sm->st, id, &r, err) != 0) return -1;
    int live = r.state == RUN_RUNNING;
    int pid = r.pid;
    store_run_free(&r);
    if (live) return seterr(err, "run %lld is training in another process (pid %d): stop it (x) first", (long long)id, pid);
    return store_delete_run(sm->st, id, err);
}

static int tag(UiBackend *m, int64_t id, const char *t, int remove, char *err) {
    StoreModel *sm = (StoreModel *)m;
    return remove ? store_tag_remove(sm->st, id, t, err) : store_tag_add(sm->st, id, t, err);
}

static int note(UiBackend *m, int64_t id, const char *text, char *err) { return store_set_note(((StoreModel *)m)->st, id, text, err); }

static int local_active(UiBackend *m) {
    StoreModel *sm = (StoreModel *)m;
    reap(sm);
    int n = 0;
    for (Job *j = sm->jobs; j; j = j->next) n += !atomic_load(&j->finished);
    return n;
}

static void stop_local(UiBackend *m) {
    StoreModel *sm = (StoreModel *)m;
    for (Job *j = sm->jobs; j; j = j->next) run_hooks_stop(j->rh);
    Job *j = sm->jobs;
    while (j) { Job *n = j->next; job_free(j); j = n; }
    sm->jobs = NULL;
}

static void close_(UiBackend *m) {
    StoreModel *sm = (StoreModel *)m;
    stop_local(m);
    store_close(sm->st);
    pthread_mutex_destroy(&sm->mu);
    free(sm->path);
    free(sm);
}

static const char *where(UiBackend *m) { return ((StoreModel *)m)->path; }

static int take_notice(UiBackend *m, char *msg, size_t n) {
    StoreModel *sm = (StoreModel *)m;
    pthread_mutex_lock(&sm->mu);
    int has = sm->notice[0] != 0;
    if (has) snprintf(msg, n, "%s", sm->notice);
    sm->notice[0] = 0;
    pthread_mutex_unlock(&sm->mu);
    return has;
}

// SQLite keeps reading an open file that was unlinked or renamed over, and the dashboard
// would go on showing it as if live: compare the path's inode with the one opened (a stat
// per tick).
int store_backend_file_check(const char *path, const struct stat *at_open, char *msg, size_t n) {
    struct stat now;
    if (stat(path, &now) != 0) {
        snprintf(msg, n, "store file deleted or moved: what is shown is stale; press q and reopen (%s)", path);
        return 1;
    }
    if (now.st_ino != at_open->st_ino || now.st_dev != at_open->st_dev) {
        snprintf(msg, n, "store file replaced by another file: what is shown is stale; press q and reopen (%s)", path);
        return 1;
    }
    return 0;
}

static int check(UiBackend *m, char *msg, size_t n) {
    StoreModel *sm = (StoreModel *)m;
    return store_backend_file_check(sm->path, &sm->at_open, msg, n);
}

// The dashboard's layout, in the store's prefs table: the next dashboard on this store (from any
// directory) comes back with the same metrics, columns, smoothing and baseline.
static int pref_get(UiBackend *m, const char *key, char *val, size_t n) {
    char *v = NULL, err[ERRLEN];
    if (store_pref_get(((StoreModel *)m)->st, key, &v, err) || !v) return 0;
    snprintf(val, n, "%s", v);
    free(v);
    return 1;
}

static int pref_set(UiBackend *m, const char *key, const char *val, char *err) {
    return store_pref_set(((StoreModel *)m)->st, key, val, err);
}

// train_memory_estimate is a count-only pass of the builders (instant); the measurement is
// train_bench's few steps, what `repae bench` times.
static int estimate(UiBackend *m, const char *path, int nset, char *const *sets, int measure, UiEstimate *e, char *err) {
    (void)m;
    Config cfg;
    config_defaults(&cfg);
    if (config_load(&cfg, path, err)) return -1;
    for (int i = 0; i < nset; i++) if (config_set(&cfg, sets[i], err)) return -1;
    if (config_validate(&cfg, err)) return -1;
    memset(e, 0, sizeof *e);
    e->steps = cfg.train.steps;
    e->mem_bytes = train_memory_estimate(&cfg, NULL);
    if (!measure) return 0;
    TrainBench tb;
    if (train_bench(&cfg, 2, &tb, err)) return -1;
    e->step_s = tb.step_s;
    e->gflop_per_step = tb.gflop_per_step;
    return 0;
}

static const UiBackendOps store_ops = {list_runs, config, series_append, sample_steps, sample, launch, stop, resume,
                                   removerun, tag, note, local_active, stop_local, close_, where, take_notice, check,
                                   pref_get, pref_set, estimate};

UiBackend *store_backend_open(const char *path, char *err) {
    StoreModel *sm = xcalloc(1, sizeof *sm);
    sm->base.ops = &store_ops;
    if (store_open(&sm->st, path, STORE_CREATE, err)) { free(sm); return NULL; }
    if (stat(path, &sm->at_open) != 0) {
        seterr(err, "%s: cannot stat the store just opened: %s", path, strerror(errno));
        store_close(sm->st);
        free(sm);
        return NULL;
    }
    pthread_mutex_init(&sm->mu, NULL);
    sm->path = xstrdup(path);
    return &sm->base;
}
