// run_hooks.c: TrainHooks that queue a run's records in memory and a writer thread that
// commits them to the store about once a second (see run_hooks.h).
#include "app/run_hooks.h"
#include "base/png_io.h"
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "store/store.h"
#include "base/util.h"

typedef struct { long step; unsigned char *png; size_t len; int w, h; } QSample;
typedef struct { long step; char *weights, *state; } QCkpt;

// What the training thread has handed over and the writer has not committed yet.
typedef struct {
    StoreMetric *m;
    int nm, capm;
    QSample *smp;
    int nsmp;
    QCkpt *ck;
    int nck;
    StoreConsoleLine *con; // console lines (text malloc'd)
    int ncon;
    long max_step;
} Queue;

// Console lines held in memory while the store cannot take them: beyond the store's own cap
// they would be dropped there anyway.
#define QUEUE_CONSOLE_MAX STORE_CONSOLE_MAX

struct RunHooks {
    Store *store; // used by the writer thread only while it runs
    int64_t id;
    char *name, *dir, *config;
    long total_steps, last_ckpt;

    pthread_t thread;
    pthread_mutex_t smu; // the store connection: the writer's, borrowed by run_hooks_truncate
    pthread_mutex_t mu;  // everything below
    pthread_cond_t wake, done;
    Queue q;
    // Metric keys are interned so queued entries never point into the caller's memory.
    char **keys;
    const char **key_from; // the caller's pointer last seen for each interned key
    int nkeys;
    double interval;
    int quit;
    unsigned long flush_req, flush_done;
    int flush_rc;
    long committed;
    char last_err[ERRLEN];

    void (*warn)(void *ctx, const char *msg); // problems worth telling the user (default: stderr)
    void *warn_ctx;

    atomic_int stop_remote;        // stop_requested seen in the store
    atomic_int gone;               // the run was deleted from the store while training
    atomic_int stop_local;         // run_hooks_stop (signal handlers and other threads; lock-free)
};

// Queues a console line for the writer (the mutex only: the training thread never waits on the
// store). Once the writer is gone (run_hooks_end), lines are written by end itself.
void run_hooks_console(RunHooks *rh, const char *level, const char *msg) {
    if (!rh || !msg) return;
    pthread_mutex_lock(&rh->mu);
    Queue *q = &rh->q;
    if (q->ncon >= QUEUE_CONSOLE_MAX) { // the oldest go first, as in the store
        free(q->con[0].text);
        memmove(q->con, q->con + 1, (size_t)(q->ncon - 1) * sizeof *q->con);
        q->ncon--;
    }
    q->con = xrealloc(q->con, (size_t)(q->ncon + 1) * sizeof *q->con);
    StoreConsoleLine *l = &q->con[q->ncon++];
    memset(l, 0, sizeof *l);
    snprintf(l->level, sizeof l->level, "%s", level);
    l->wall = wall_seconds();
    l->text = xstrdup(msg);
    pthread_mutex_unlock(&rh->mu);
}

void run_hooks_warn_hook(void *ctx, const char *msg) {
    run_hooks_console(ctx, "warn", msg);
    fprintf(stderr, "repae: warning: %s\n", msg);
}

void run_hooks_note_hook(void *ctx, const char *msg) {
    run_hooks_console(ctx, "note", msg);
    fprintf(stderr, "repae: %s\n", msg);
}

static void warn_stderr(void *ctx, const char *msg) {
    (void)ctx;
    fprintf(stderr, "repae: %s\n", msg);
}

static void rh_warn(RunHooks *rh, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rh_warn(RunHooks *rh, const char *fmt, ...) {
    char msg[ERRLEN + 256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    run_hooks_console(rh, "warn", msg);
    rh->warn(rh->warn_ctx, msg);
}

void run_hooks_set_warn(RunHooks *rh, void (*warn)(void *ctx, const char *msg), void *ctx) {
    rh->warn = warn ? warn : warn_stderr;
    rh->warn_ctx = ctx;
}

// ---- PNG ------------------------------------------------------------------------------------

// Sample grids are stored as PNG (one encoder for the project: src/base/png_io.c).
unsigned char *run_hooks_png_rgb(const uint8_t *rgb, int w, int h, size_t *len) {
    uint8_t *out = NULL;
    char err[ERRLEN];
    if (png_encode(rgb, w, h, 3, &out, len, err) != 0) {
        fprintf(stderr, "repae: sample not stored: %s\n", err);
        *len = 0;
        return NULL;
    }
    return out;
}

// ---- the writer thread ----------------------------------------------------------------------

static void queue_free(Queue *q) {
    free(q->m);
    for (int i = 0; i < q->nsmp; i++) free(q->smp[i].png);
    free(q->smp);
    for (int i = 0; i < q->nck; i++) { free(q->ck[i].weights); free(q->ck[i].state); }
    free(q->ck);
    store_console_free(q->con, q->ncon);
    memset(q, 0, sizeof *q);
    q->max_step = -1;
}

// Puts a batch that failed to commit back in front of what was queued meanwhile.
static void queue_requeue(Queue *q, Queue *b) {
    if (b->nm) {
        StoreMetric *m = xmalloc((size_t)(b->nm + q->nm + 1) * sizeof *m);
        memcpy(m, b->m, b->nm * sizeof *m);
        if (q->nm) memcpy(m + b->nm, q->m, q->nm * sizeof *m);
        free(q->m);
        q->m = m;
        q->nm += b->nm;
        q->capm = q->nm + 1;
    }
    if (b->nsmp) {
        q->smp = xrealloc(q->smp, (size_t)(q->nsmp + b->nsmp) * sizeof *q->smp);
        memmove(q->smp + b->nsmp, q->smp, q->nsmp * sizeof *q->smp);
        memcpy(q->smp, b->smp, b->nsmp * sizeof *q->smp);
        q->nsmp += b->nsmp;
    }
    if (b->nck) {
        q->ck = xrealloc(q->ck, (size_t)(q->nck + b->nck) * sizeof *q->ck);
        memmove(q->ck + b->nck, q->ck, q->nck * sizeof *q->ck);
        memcpy(q->ck, b->ck, b->nck * sizeof *q->ck);
        q->nck += b->nck;
    }
    if (b->ncon) {
        q->con = xrealloc(q->con, (size_t)(q->ncon + b->ncon) * sizeof *q->con);
        memmove(q->con + b->ncon, q->con, q->ncon * sizeof *q->con);
        memcpy(q->con, b->con, b->ncon * sizeof *q->con);
        q->ncon += b->ncon;
    }
    if (b->max_step > q->max_step) q->max_step = b->max_step;
    free(b->m); free(b->smp); free(b->ck); free(b->con);
    memset(b, 0, sizeof *b);
}

// Commits one batch; returns 0, or -1 with err (the batch is then untouched).
static int commit_batch(RunHooks *rh, Queue *b, char *err) {
    // The heartbeat first: it also tells whether the run still exists. A run deleted under a
    // live writer (repae rm --force) must get no more rows, or a later run given the same id
    // would inherit them.
    int stop = 0;
    if (store_heartbeat(rh->store, rh->id, -1, &stop, err) != 0) return -1;
    if (stop == 2) {
        atomic_store(&rh->gone, 1);
        atomic_store(&rh->stop_remote, 1);
        queue_free(b);
        return 0;
    }
    if (stop) atomic_store(&rh->stop_remote, 1);
    // Samples and checkpoints first: each is its own small transaction, and one that is done
    // is dropped from the batch so a retry does not write it twice.
    while (b->nsmp) {
        QSample *s = &b->smp[0];
        if (store_add_sample(rh->store, rh->id, s->step, s->png, s->len, s->w, s->h, err) != 0) return -1;
        free(s->png);
        memmove(b->smp, b->smp + 1, --b->nsmp * sizeof *b->smp);
    }
    while (b->nck) {
        QCkpt *c = &b->ck[0];
        if (store_add_checkpoint(rh->store, rh->id, c->step, c->weights, c->state, err) != 0) return -1;
        free(c->weights);
        free(c->state);
        memmove(b->ck, b->ck + 1, --b->nck * sizeof *b->ck);
    }
    if (b->ncon) {
        if (store_console_add(rh->store, rh->id, b->con, b->ncon, err) != 0) return -1;
        store_console_free(b->con, b->ncon);
        b->con = NULL;
        b->ncon = 0;
    }
    if (b->nm) {
        if (store_log_metrics(rh->store, rh->id, b->m, b->nm, err) != 0) return -1;
        b->nm = 0;
    }
    return 0;
}

static void *writer_main(void *arg) {
    RunHooks *rh = arg;
    int failures = 0;
    pthread_mutex_lock(&rh->mu);
    for (;;) {
        if (!rh->quit && rh->flush_req == rh->flush_done) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            double t = ts.tv_sec + ts.tv_nsec * 1e-9 + rh->interval;
            ts.tv_sec = (time_t)t;
            ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
            pthread_cond_timedwait(&rh->wake, &rh->mu, &ts);
        }
        unsigned long req = rh->flush_req;
        int quit = rh->quit;
        Queue b = rh->q;
        memset(&rh->q, 0, sizeof rh->q);
        rh->q.max_step = -1;
        pthread_mutex_unlock(&rh->mu);

        char err[ERRLEN] = "";
        pthread_mutex_lock(&rh->smu);
        int rc = commit_batch(rh, &b, err);
        pthread_mutex_unlock(&rh->smu);
        if (rc != 0 && quit) usleep(200000);

        pthread_mutex_lock(&rh->mu);
        if (rc == 0) {
            if (b.max_step > rh->committed) rh->committed = b.max_step;
            free(b.m); free(b.smp); free(b.ck); free(b.con);
            failures = 0;
            rh->last_err[0] = 0;
        } else {
            queue_requeue(&rh->q, &b);
            snprintf(rh->last_err, sizeof rh->last_err, "%s", err);
            failures++;
        }
        // Flush waiters learn the outcome of the first attempt that covered their request.
        if (req != rh->flush_done) {
            rh->flush_done = req;
            rh->flush_rc = rc;
            pthread_cond_broadcast(&rh->done);
        }
        if (quit && (rc == 0 || failures >= 3)) break;
    }
    pthread_mutex_unlock(&rh->mu);
    return NULL;
}

// ---- the hooks (training thread) ------------------------------------------------------------

static const char *intern_key(RunHooks *rh, const char *key) {
    for (int i = 0; i < rh->nkeys; i++)
        if (rh->key_from[i] == key) return rh->keys[i];
    for (int i = 0; i < rh->nkeys; i++)
        if (strcmp(rh->keys[i], key) == 0) { rh->key_from[i] = key; return rh->keys[i]; }
    rh->keys = xrealloc(rh->keys, (rh->nkeys + 1) * sizeof *rh->keys);
    rh->key_from = xrealloc(rh->key_from, (rh->nkeys + 1) * sizeof *rh->key_from);
    rh->keys[rh->nkeys] = xstrdup(key);
    rh->key_from[rh->nkeys] = key;
    return rh->keys[rh->nkeys++];
}

static void hook_metrics(void *ctx, long step, int n, const char *const *keys, const float *vals) {
    RunHooks *rh = ctx;
    double wall = wall_seconds();
    pthread_mutex_lock(&rh->mu);
    Queue *q = &rh->q;
    if (q->nm + n > q->capm) {
        q->capm = q->capm * 2 > q->nm + n ? q->capm * 2 : q->nm + n + 64;
        q->m = xrealloc(q->m, (size_t)q->capm * sizeof *q->m);
    }
    for (int i = 0; i < n; i++)
        q->m[q->nm++] = (StoreMetric){intern_key(rh, keys[i]), step, vals[i], wall};
    if (step > q->max_step) q->max_step = step;
    pthread_mutex_unlock(&rh->mu);
}

static void hook_sample(void *ctx, long step, const uint8_t *rgb, int w, int h) {
    RunHooks *rh = ctx;
    size_t len;
    uint8_t *png = NULL;
    char err[ERRLEN];
    if (png_encode(rgb, w, h, 3, &png, &len, err) != 0) {
        rh_warn(rh, "run %lld: the sample of step %ld is not stored: %s", (long long)rh->id, step, err);
        return;
    }
    pthread_mutex_lock(&rh->mu);
    rh->q.smp = xrealloc(rh->q.smp, (rh->q.nsmp + 1) * sizeof *rh->q.smp);
    rh->q.smp[rh->q.nsmp++] = (QSample){step, png, len, w, h};
    pthread_mutex_unlock(&rh->mu);
}

static void hook_checkpoint(void *ctx, long step, const char *weights, const char *state) {
    RunHooks *rh = ctx;
    pthread_mutex_lock(&rh->mu);
    rh->q.ck = xrealloc(rh->q.ck, (rh->q.nck + 1) * sizeof *rh->q.ck);
    rh->q.ck[rh->q.nck++] = (QCkpt){step, xstrdup(weights ? weights : ""), xstrdup(state ? state : "")};
    if (step > rh->last_ckpt) rh->last_ckpt = step;
    pthread_mutex_unlock(&rh->mu);
}

static int hook_should_stop(void *ctx) {
    RunHooks *rh = ctx;
    return atomic_load(&rh->stop_local) || atomic_load(&rh->stop_remote);
}

// ---- life cycle -----------------------------------------------------------------------------

static RunHooks *rh_new(Store *s, int64_t id, char *err) {
    StoreRun r;
    if (store_get_run(s, id, &r, err) != 0) return NULL;
    RunHooks *rh = xcalloc(1, sizeof *rh);
    rh->store = s;
    rh->id = id;
    rh->name = r.name; r.name = NULL;
    rh->config = r.config; r.config = NULL;
    rh->total_steps = r.total_steps;
    store_run_free(&r);
    char dir[PATH_MAX];
    rh->dir = xstrdup(store_run_dir(s, id, dir, sizeof dir));
    rh->last_ckpt = -1;
    rh->committed = -1;
    rh->q.max_step = -1;
    rh->interval = 1.0;
    rh->warn = warn_stderr;
    return rh;
}

static void rh_free(RunHooks *rh) {
    queue_free(&rh->q);
    for (int i = 0; i < rh->nkeys; i++) free(rh->keys[i]);
    free(rh->keys);
    free(rh->key_from);
    free(rh->name);
    free(rh->dir);
    free(rh->config);
    free(rh);
}

// A new run's directory must start empty: one left by a deleted run whose id was given again
// (SQLite reuses the largest id) would hand its checkpoints to `repae resume` of the new run.
// It is moved aside rather than deleted, since it may hold the only copy of something.
static int clear_stale_dir(const char *dir, char *err) {
    struct stat sb;
    if (stat(dir, &sb) != 0) return 0;
    char aside[PATH_MAX];
    snprintf(aside, sizeof aside, "%s.orphan-%ld", dir, (long)wall_seconds());
    if (rename(dir, aside) != 0)
        return seterr(err, "%s already exists (left by a deleted run) and cannot be moved aside: %s; remove it",
                      dir, strerror(errno));
    return 0;
}

static int rh_start(RunHooks *rh, char *err) {
    if (mkdir_p(rh->dir, err) != 0) return -1;
    pthread_mutex_init(&rh->mu, NULL);
    pthread_mutex_init(&rh->smu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_cond_init(&rh->wake, &ca);
    pthread_cond_init(&rh->done, &ca);
    pthread_condattr_destroy(&ca);
    int rc = pthread_create(&rh->thread, NULL, writer_main, rh);
    if (rc != 0) return seterr(err, "cannot start the run's writer thread: %s", strerror(rc));
    return 0;
}

int run_hooks_open(RunHooks **out, const char *db, const char *name, const char *config_json, long total_steps,
                   char *err) {
    *out = NULL;
    Store *s;
    if (store_open(&s, db, STORE_CREATE, err) != 0) return -1;
    int64_t id;
    int unnamed = !name || !*name;
    char tmp[64];
    if (unnamed) { // a unique placeholder until the id is known
        snprintf(tmp, sizeof tmp, "run-pending-%d-%.6f", (int)getpid(), now_seconds());
        name = tmp;
    }
    if (store_create_run(s, name, config_json, total_steps, 0, run_status_name(RUN_RUNNING), &id, err) != 0) { store_close(s); return -1; }
    // One process until the caller says otherwise (run_hooks_set_world_size under mpirun).
    store_set_world_size(s, id, 1, NULL);
    if (unnamed) {
        char final[64];
        snprintf(final, sizeof final, "run-%lld", (long long)id);
        for (int k = 2; store_rename(s, id, final, NULL) != 0 && k < 1000; k++)
            snprintf(final, sizeof final, "run-%lld-%d", (long long)id, k);
    }
    RunHooks *rh = rh_new(s, id, err);
    if (!rh || clear_stale_dir(rh->dir, err) != 0 || rh_start(rh, err) != 0) {
        char e2[ERRLEN];
        store_set_status(s, id, run_status_name(RUN_FAILED), err, e2);
        if (rh) rh_free(rh);
        store_close(s);
        return -1;
    }
    *out = rh;
    return 0;
}

int run_hooks_resume(RunHooks **out, const char *db, const char *run_ref, long from_step, char *err) {
    *out = NULL;
    Store *s;
    if (store_open(&s, db, 0, err) != 0) return -1;
    int64_t id;
    StoreRun r;
    if (store_resolve(s, run_ref, &id, err) != 0 || store_get_run(s, id, &r, err) != 0) { store_close(s); return -1; }
    int refuse = 0;
    if (r.state == RUN_RUNNING) {
        refuse = seterr(err, "run '%s' is running (pid %d on %s); stop it first", r.name, r.pid, r.host);
    } else if (r.state == RUN_DONE) {
        refuse = seterr(err, "run '%s' is done (%ld/%ld steps); nothing to resume", r.name, r.step, r.total_steps);
    }
    store_run_free(&r);
    if (refuse) { store_close(s); return -1; }
    // A resume may use another number of processes: one until the caller says otherwise.
    if (store_set_status(s, id, run_status_name(RUN_RUNNING), NULL, err) != 0 ||
        store_set_world_size(s, id, 1, err) != 0 ||
        (from_step >= 0 && store_truncate_after(s, id, from_step, err) != 0)) {
        store_close(s);
        return -1;
    }
    RunHooks *rh = rh_new(s, id, err);
    if (rh) {
        StoreCheckpoint *c;
        int n;
        if (store_checkpoints(s, id, &c, &n, err) == 0) {
            if (n) rh->last_ckpt = c[n - 1].step;
            store_checkpoints_free(c, n);
        }
    }
    if (!rh || rh_start(rh, err) != 0) {
        char e2[ERRLEN];
        store_set_status(s, id, run_status_name(RUN_INTERRUPTED), err, e2);
        if (rh) rh_free(rh);
        store_close(s);
        return -1;
    }
    *out = rh;
    return 0;
}

TrainHooks run_hooks_get(RunHooks *rh) {
    return (TrainHooks){rh, hook_metrics, hook_sample, hook_checkpoint, hook_should_stop};
}

int64_t run_hooks_id(const RunHooks *rh) { return rh->id; }
const char *run_hooks_name(const RunHooks *rh) { return rh->name; }
const char *run_hooks_dir(const RunHooks *rh) { return rh->dir; }
const char *run_hooks_config(const RunHooks *rh) { return rh->config; }
long run_hooks_total_steps(const RunHooks *rh) { return rh->total_steps; }
long run_hooks_last_checkpoint(const RunHooks *rh) { return rh->last_ckpt; }

int run_hooks_truncate(RunHooks *rh, long after_step, char *err) {
    // Pending points are from before the truncation point's timeline: commit them first so
    // the truncation also covers them.
    if (run_hooks_flush(rh, err) != 0) return -1;
    pthread_mutex_lock(&rh->smu);
    int rc = store_truncate_after(rh->store, rh->id, after_step, err);
    pthread_mutex_unlock(&rh->smu);
    pthread_mutex_lock(&rh->mu);
    if (rc == 0 && rh->committed > after_step) rh->committed = after_step;
    pthread_mutex_unlock(&rh->mu);
    return rc;
}

int run_hooks_set_world_size(RunHooks *rh, int n, char *err) {
    pthread_mutex_lock(&rh->smu);
    int rc = store_set_world_size(rh->store, rh->id, n, err);
    pthread_mutex_unlock(&rh->smu);
    return rc;
}

void run_hooks_set_interval(RunHooks *rh, double seconds) {
    pthread_mutex_lock(&rh->mu);
    rh->interval = seconds > 0.001 ? seconds : 0.001;
    pthread_mutex_unlock(&rh->mu);
}

int run_hooks_flush(RunHooks *rh, char *err) {
    pthread_mutex_lock(&rh->mu);
    unsigned long my = ++rh->flush_req;
    pthread_cond_signal(&rh->wake);
    while (rh->flush_done < my) pthread_cond_wait(&rh->done, &rh->mu);
    int rc = rh->flush_rc;
    if (rc != 0) seterr(err, "%s", rh->last_err);
    pthread_mutex_unlock(&rh->mu);
    return rc;
}

long run_hooks_committed_step(RunHooks *rh) {
    pthread_mutex_lock(&rh->mu);
    long c = rh->committed;
    pthread_mutex_unlock(&rh->mu);
    return c;
}

void run_hooks_last_error(RunHooks *rh, char *err) {
    pthread_mutex_lock(&rh->mu);
    snprintf(err, ERRLEN, "%s", rh->last_err);
    pthread_mutex_unlock(&rh->mu);
}

void run_hooks_stop(RunHooks *rh) { atomic_store(&rh->stop_local, 1); }

int run_hooks_end(RunHooks *rh, const char *status, const char *error) {
    pthread_mutex_lock(&rh->mu);
    rh->quit = 1;
    rh->flush_req++;
    pthread_cond_signal(&rh->wake);
    pthread_mutex_unlock(&rh->mu);
    pthread_join(rh->thread, NULL);
    int rc = 0;
    char err[ERRLEN];
    if (atomic_load(&rh->gone)) {
        // Deleted while training: what the core wrote since is not wanted either.
        rh_warn(rh, "run %lld '%s' was deleted from the store while training; its files are removed",
                (long long)rh->id, rh->name);
        // Only while no new run holds the id: deleting rows of an absent id removes just the directory.
        StoreRun r;
        if (store_get_run(rh->store, rh->id, &r, err) == 0) store_run_free(&r);
        else store_delete_run(rh->store, rh->id, err);
        rc = -1;
        goto out;
    }
    // The final error belongs in the console too (with what was still queued), so that the
    // dashboard shows why a run in another process ended.
    if (error && *error) run_hooks_console(rh, "error", error);
    if (rh->q.ncon) {
        if (store_console_add(rh->store, rh->id, rh->q.con, rh->q.ncon, err) == 0) {
            store_console_free(rh->q.con, rh->q.ncon);
            rh->q.con = NULL;
            rh->q.ncon = 0;
        } else fprintf(stderr, "repae: run %lld: console lines not stored: %s\n", (long long)rh->id, err);
    }
    if (rh->q.nm || rh->q.nsmp || rh->q.nck) {
        rh_warn(rh, "run %lld: %d metric points could not be written to the store: %s", (long long)rh->id, rh->q.nm,
                rh->last_err);
        rc = -1;
    }
    if (store_set_status(rh->store, rh->id, status, error, err) != 0) {
        rh_warn(rh, "run %lld: cannot record its final status '%s': %s", (long long)rh->id, status, err);
        rc = -1;
    }
out:
    pthread_mutex_destroy(&rh->mu);
    pthread_mutex_destroy(&rh->smu);
    pthread_cond_destroy(&rh->wake);
    pthread_cond_destroy(&rh->done);
    store_close(rh->store);
    rh->store = NULL;
    return rc;
}

void run_hooks_free(RunHooks *rh) {
    if (rh) rh_free(rh);
}

int run_hooks_finish(RunHooks *rh, const char *status, const char *error) {
    int rc = run_hooks_end(rh, status, error);
    rh_free(rh);
    return rc;
}
