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
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>
#include "app/memory_policy.h"
#include "app/mpi_launch.h"
#include "app/proc_stats.h"
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
    char host[256];      // this machine, as the store records a run's host
    struct Pending *pending; // runs launched through mpirun that have not shown up yet
    int64_t settled;         // a pending run that has shown since the last launch_poll (0: none)
};

// A run started on several processes (launch_np): its launcher writes to a log beside the run
// directories until the run exists, then the log moves into the run's directory.
typedef struct Pending {
    char name[STORE_NAME_MAX + 1];
    char log[PATH_MAX];
    char cmd[512];
    double started, deadline;
    int np;
    struct Pending *next;
} Pending;

// What a training thread has to say: stderr is the terminal the dashboard draws on, so it waits
// here for the app's next tick. job_show only shows (run_hooks' own warnings, which it puts in
// the run's console itself); job_warn and job_note (the core's TrainRunOpts.warn and .note)
// also go to the run's console, where they stay for later and for other dashboards.
static void job_show(void *ctx, const char *msg) {
    Job *j = ctx;
    StoreModel *sm = j->sm;
    pthread_mutex_lock(&sm->mu);
    size_t l = strlen(sm->notice);
    if (l + 8 < sizeof sm->notice)
        snprintf(sm->notice + l, sizeof sm->notice - l, "%srun %lld: %s", l ? "; " : "", (long long)j->id, msg);
    pthread_mutex_unlock(&sm->mu);
}

static void job_warn(void *ctx, const char *msg) {
    Job *j = ctx;
    run_hooks_console(j->rh, "warn", msg);
    job_show(ctx, msg);
}

static void job_note(void *ctx, const char *msg) {
    Job *j = ctx;
    run_hooks_console(j->rh, "note", msg);
    job_show(ctx, msg);
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
    TrainRunOpts o = {.ctx = j, .warn = job_warn, .note = job_note, .start = job_start};
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
    u->pid = r->pid;
    snprintf(u->host, sizeof u->host, "%s", r->host ? r->host : "");
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
    run_hooks_set_warn(rh, job_show, j);
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
    while (sm->pending) { Pending *p = sm->pending->next; free(sm->pending); sm->pending = p; }
    store_close(sm->st);
    pthread_mutex_destroy(&sm->mu);
    free(sm->path);
    free(sm);
}

static const char *where(UiBackend *m) { return ((StoreModel *)m)->path; }

// Runs launched on several processes: each settles once it shows in the store, or is given up
// (with the launcher's last words) when it has not shown by its deadline.
static void settle_pending(StoreModel *sm) {
    for (Pending **pp = &sm->pending; *pp;) {
        Pending *p = *pp;
        int64_t id = 0;
        char err[ERRLEN], note[PATH_MAX + STORE_NAME_MAX + 600];
        int rc = mpi_launch_settle(sm->st, p->name, p->log, p->cmd, &id, err);
        if (rc == 0 && now_seconds() < p->deadline) { pp = &p->next; continue; }
        if (rc == 0) {
            char tail[400];
            mpi_log_tail(p->log, tail, sizeof tail);
            snprintf(note, sizeof note, "run '%s' on several processes did not start: %s (log %s)", p->name,
                     tail[0] ? tail : "no output", p->log);
        } else if (rc < 0) snprintf(note, sizeof note, "run '%s': %s", p->name, err);
        if (rc == 1) sm->settled = id;
        if (rc <= 0) {
            pthread_mutex_lock(&sm->mu);
            size_t l = strlen(sm->notice);
            if (l + 8 < sizeof sm->notice)
                snprintf(sm->notice + l, sizeof sm->notice - l, "%s%.*s", l ? "; " : "", (int)(sizeof sm->notice - l - 3), note);
            pthread_mutex_unlock(&sm->mu);
        }
        *pp = p->next;
        free(p);
    }
}

static int take_notice(UiBackend *m, char *msg, size_t n) {
    StoreModel *sm = (StoreModel *)m;
    settle_pending(sm);
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

static int console(UiBackend *m, int64_t run, int64_t after, UiConsoleLine **out, int *n, char *err) {
    StoreConsoleLine *l;
    int k;
    if (store_console_lines(((StoreModel *)m)->st, run, after, &l, &k, err)) return -1;
    *out = xmalloc(sizeof **out * (size_t)(k + 1));
    for (int i = 0; i < k; i++) {
        UiConsoleLine *u = &(*out)[i];
        u->id = l[i].id;
        u->wall = l[i].wall;
        snprintf(u->level, sizeof u->level, "%s", l[i].level);
        snprintf(u->text, sizeof u->text, "%s", l[i].text);
    }
    *n = k;
    store_console_free(l, k);
    return 0;
}

// The process of a run: this one for a run training in its threads (its figures are the whole
// dashboard's, which says so), the run's pid when it trains on this machine, else where it is.
static int proc(UiBackend *m, const UiRun *r, UiProc *p, char *err) {
    StoreModel *sm = (StoreModel *)m;
    memset(p, 0, sizeof *p);
    p->wall = now_seconds();
    int pid = 0;
    if (job_of(sm, r->id)) {
        int n = local_active(m);
        p->kind = UI_PROC_SHARED;
        snprintf(p->what, sizeof p->what, "dashboard process (%d run%s)", n, n == 1 ? "" : "s");
        pid = (int)getpid();
    } else if (strcmp(r->status, "running")) {
        p->kind = UI_PROC_NONE;
        snprintf(p->what, sizeof p->what, "not training (%s)", r->status);
        return 0;
    } else if (r->host[0] && strcmp(r->host, sm->host)) {
        p->kind = UI_PROC_REMOTE;
        snprintf(p->what, sizeof p->what, "on host %s (pid %d)", r->host, r->pid);
        return 0;
    } else {
        p->kind = UI_PROC_PID;
        pid = r->pid;
        if (r->world_size > 1) snprintf(p->what, sizeof p->what, "pid %d (rank 0 of %d)", pid, r->world_size);
        else snprintf(p->what, sizeof p->what, "pid %d", pid);
    }
    ProcStats ps;
    if (pid <= 0 || proc_stats_read(pid, &ps, err) != 0 || ps.state == 'Z') {
        p->kind = UI_PROC_GONE;
        snprintf(p->what, sizeof p->what, "pid %d: its process is gone", pid);
        return 0;
    }
    // A run on several processes: its ranks on this machine together (mpirun's children).
    int nr = p->kind == UI_PROC_PID && r->world_size > 1 ? proc_stats_ranks(pid, &ps) : 0;
    if (nr > 1) {
        size_t l = strlen(p->what);
        snprintf(p->what + l, sizeof p->what - l, ", %d ranks here summed", nr);
    }
    p->cpu_s = ps.cpu_s;
    p->rss_bytes = ps.rss_bytes;
    p->threads = ps.threads;
    return 0;
}

// A run on np local processes: checked as launch checks it (so a bad override is said here, not
// in a log), then `repae train` under mpirun, detached. The run's id is known once its rank 0
// has created it, usually within a second or two: wait that long, then leave it to
// settle_pending.
static int launch_np(UiBackend *m, int np, const char *path, const char *name, int nset, char *const *sets, int64_t *id,
                     char *err) {
    StoreModel *sm = (StoreModel *)m;
    *id = 0;
    if (np <= 1) return launch(m, path, name, nset, sets, id, err);
    Config cfg;
    config_defaults(&cfg);
    if (config_load(&cfg, path, err)) return -1;
    for (int i = 0; i < nset; i++) if (config_set(&cfg, sets[i], err)) return -1;
    if (config_validate(&cfg, err)) return -1;
    char mpirun[PATH_MAX], bin[PATH_MAX], cfgabs[PATH_MAX];
    if (mpi_launcher_find(mpirun, sizeof mpirun, err)) return -1;
    ssize_t bl = readlink("/proc/self/exe", bin, sizeof bin - 1);
    if (bl <= 0) return seterr(err, "cannot find this program's own path (/proc/self/exe): %s", strerror(errno));
    bin[bl] = 0;
    if (!realpath(path, cfgabs)) return seterr(err, "%s: %s", path, strerror(errno));
    // The run must be found by its name: give it one when none was typed.
    char nm[STORE_NAME_MAX + 1];
    if (name && *name) snprintf(nm, sizeof nm, "%s", name);
    else {
        const char *b = strrchr(path, '/');
        b = b ? b + 1 : path;
        int bn = (int)strcspn(b, ".");
        snprintf(nm, sizeof nm, "%.*s-np%d-%ld", bn > 60 ? 60 : bn, b, np, (long)wall_seconds());
    }
    int64_t taken;
    char e2[ERRLEN];
    if (store_resolve(sm->st, nm, &taken, e2) == 0)
        return seterr(err, "a run named '%s' exists already (run %lld): pick another name", nm, (long long)taken);
    if (store_check_name(nm, err)) return -1;
    Pending *p = xcalloc(1, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", nm);
    char dir[PATH_MAX - 64];
    store_run_dir(sm->st, 0, dir, sizeof dir); // <runs>/0: its parent holds every run's directory
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    if (mkdir_p(dir, err)) { free(p); return -1; }
    snprintf(p->log, sizeof p->log, "%s/launch-%d-%ld.log", dir, (int)getpid(), (long)wall_seconds());
    char **argv = mpi_argv(mpirun, np, bin, store_path(sm->st), cfgabs, nm, nset, sets);
    snprintf(p->cmd, sizeof p->cmd, "mpirun -np %d", np);
    // The whole command heads the log, for whoever wonders how the run was started.
    FILE *lf = fopen(p->log, "w");
    if (lf) {
        fprintf(lf, "repae dashboard: starting");
        for (char **a = argv; *a; a++) fprintf(lf, " %s", *a);
        fprintf(lf, "\n");
        fclose(lf);
    }
    int rc = mpi_spawn_detached(argv, p->log, err);
    mpi_argv_free(argv);
    if (rc) { free(p); return -1; }
    // The UI does not wait here: launch_poll, from its main loop, follows the start-up (a few
    // seconds of Open MPI's on a loaded machine) and selects the run once it shows.
    p->started = now_seconds();
    p->deadline = p->started + 60; // Open MPI's start-up on a loaded machine can take a while
    p->np = np;
    p->next = sm->pending;
    sm->pending = p;
    return 0;
}

static int launch_poll(UiBackend *m, char *what, size_t n, double *elapsed, int64_t *settled) {
    StoreModel *sm = (StoreModel *)m;
    settle_pending(sm);
    *settled = sm->settled;
    sm->settled = 0;
    int k = 0;
    const Pending *oldest = NULL;
    for (const Pending *p = sm->pending; p; p = p->next, k++) oldest = p; // the list is newest first
    if (oldest) {
        snprintf(what, n, "'%s' on %d processes", oldest->name, oldest->np);
        *elapsed = now_seconds() - oldest->started;
    }
    return k;
}

static const UiBackendOps store_ops = {list_runs, config, series_append, sample_steps, sample, launch, stop, resume,
                                   removerun, tag, note, local_active, stop_local, close_, where, take_notice, check,
                                   pref_get, pref_set, estimate, console, proc, launch_np,
                                   launch_poll};

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
    if (gethostname(sm->host, sizeof sm->host - 1) != 0) strcpy(sm->host, "localhost");
    return &sm->base;
}
