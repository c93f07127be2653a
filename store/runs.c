// runs.c: run rows: the status names, reading runs (with their tags and summaries), liveness
// (dead writers read "interrupted"), the heartbeat, and writing a run's status.
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "store/store.h"
#include "store/store_internal.h"
#include "base/util.h"

// ---- reading runs ---------------------------------------------------------------------------

// A "running" run is dead when its writer stopped beating, or its pid is gone on this host.
static int run_is_dead(const Store *s, double heartbeat, int pid, const char *host, double now) {
    if (heartbeat > 0 && now - heartbeat > STORE_STALE_SECONDS) return 1;
    if (heartbeat <= 0) return 1;
    if (pid > 0 && host && strcmp(host, s->host) == 0 && kill(pid, 0) != 0 && errno == ESRCH) return 1;
    return 0;
}

static void read_run_row(const Store *s, sqlite3_stmt *st, StoreRun *r, double now) {
    memset(r, 0, sizeof *r);
    r->id = sqlite3_column_int64(st, 0);
    r->name = col_strdup(st, 1);
    const char *stored = (const char *)sqlite3_column_text(st, 2);
    snprintf(r->stored_status, sizeof r->stored_status, "%s", stored ? stored : "");
    if (!stored || run_status_parse(stored, &r->stored_state, NULL) != 0) r->stored_state = RUN_STATUS_UNKNOWN;
    r->created = sqlite3_column_double(st, 3);
    r->started = sqlite3_column_double(st, 4);
    r->ended = sqlite3_column_double(st, 5);
    r->heartbeat = sqlite3_column_double(st, 6);
    r->pid = sqlite3_column_int(st, 7);
    r->host = col_strdup(st, 8);
    r->step = (long)sqlite3_column_int64(st, 9);
    r->total_steps = (long)sqlite3_column_int64(st, 10);
    r->error = col_strdup(st, 11);
    r->parent = sqlite3_column_int64(st, 12);
    r->notes = col_strdup(st, 13);
    r->stop_requested = sqlite3_column_int(st, 14);
    r->active = sqlite3_column_double(st, 15);
    r->world_size = sqlite3_column_int(st, 16); // NULL (not recorded) reads 0
    r->ips_rank = NAN;                          // from the summary, if the run logged it
    r->state = r->stored_state;
    if (r->state == RUN_RUNNING && run_is_dead(s, r->heartbeat, r->pid, r->host, now)) r->state = RUN_INTERRUPTED;
    // The stored text as it is when it is a status we know; a newer repae's name stays readable.
    snprintf(r->status, sizeof r->status, "%s",
             r->state == RUN_STATUS_UNKNOWN ? r->stored_status : run_status_name(r->state));
}

static StoreRun *find_run(StoreRun *runs, int n, int64_t id) {
    // runs are sorted by id, descending
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (runs[mid].id == id) return &runs[mid];
        if (runs[mid].id > id) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}

static void read_tags(sqlite3_stmt *st, StoreRun *runs, int n) {
    while (sqlite3_step(st) == SQLITE_ROW) {
        StoreRun *r = find_run(runs, n, sqlite3_column_int64(st, 0));
        if (!r) continue;
        r->tags = xrealloc(r->tags, (r->ntags + 1) * sizeof *r->tags);
        r->tags[r->ntags++] = col_strdup(st, 1);
    }
    sqlite3_reset(st);
}

static void read_summary(sqlite3_stmt *st, StoreRun *runs, int n) {
    StoreRun *r = NULL;
    int cap = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        if (!r || r->id != id) { r = find_run(runs, n, id); cap = r ? r->nlatest : 0; }
        if (!r) continue;
        if (r->nlatest == cap) { cap = cap ? 2 * cap : 16; r->latest = xrealloc(r->latest, cap * sizeof *r->latest); }
        StoreLatest *l = &r->latest[r->nlatest++];
        l->key = col_strdup(st, 1);
        l->last = col_real(st, 2);
        l->last_step = (long)sqlite3_column_int64(st, 3);
        l->last_wall = col_real(st, 4);
        l->min = col_real(st, 5);
        l->min_step = (long)sqlite3_column_int64(st, 6);
        l->max = col_real(st, 7);
        if (strcmp(l->key, STORE_IPS_RANK_KEY) == 0) r->ips_rank = l->last;
    }
    sqlite3_reset(st);
}

int store_list_runs(Store *s, StoreRun **out, int *nout, char *err) {
    *out = NULL;
    *nout = 0;
    // One read transaction, so the three queries see the same snapshot.
    if (run1(s->st[S_BEGIN_READ]) != SQLITE_DONE) return dberr(s, err, "cannot read runs");
    double now = wall_seconds();
    StoreRun *runs = NULL;
    int n = 0, cap = 0, rc;
    sqlite3_stmt *st = stmt_bind(s, S_RUN_LIST, "");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) { cap = cap ? 2 * cap : 64; runs = xrealloc(runs, cap * sizeof *runs); }
        read_run_row(s, st, &runs[n++], now);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        dberr(s, err, "cannot list runs");
        run1(s->st[S_ROLLBACK]);
        store_runs_free(runs, n);
        return -1;
    }
    read_tags(stmt_bind(s, S_TAGS_ALL, ""), runs, n);
    read_summary(stmt_bind(s, S_SUMMARY_ALL, ""), runs, n);
    run1(s->st[S_COMMIT]);
    *out = runs;
    *nout = n;
    return 0;
}

void store_run_free(StoreRun *r) {
    if (!r) return;
    free(r->name);
    free(r->config);
    free(r->host);
    free(r->error);
    free(r->notes);
    for (int i = 0; i < r->ntags; i++) free(r->tags[i]);
    free(r->tags);
    for (int i = 0; i < r->nlatest; i++) free(r->latest[i].key);
    free(r->latest);
    memset(r, 0, sizeof *r);
}

void store_runs_free(StoreRun *runs, int n) {
    for (int i = 0; i < n; i++) store_run_free(&runs[i]);
    free(runs);
}

int store_resolve(Store *s, const char *ref, int64_t *id, char *err) {
    sqlite3_stmt *st;
    if (is_digits(ref) && strlen(ref) < 19) {
        st = stmt_bind(s, S_RUN_EXISTS, "I", (int64_t)strtoll(ref, NULL, 10));
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) { *id = sqlite3_column_int64(st, 0); sqlite3_reset(st); return 0; }
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) return dberr(s, err, "cannot look up the run");
    }
    st = stmt_bind(s, S_RUN_BY_NAME, "T", ref);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) { *id = sqlite3_column_int64(st, 0); sqlite3_reset(st); return 0; }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) return dberr(s, err, "cannot look up the run");
    return seterr(err, "no run with id or name '%s' in %s (see `repae runs`)", ref, s->path);
}

int store_get_run(Store *s, int64_t id, StoreRun *r, char *err) {
    memset(r, 0, sizeof *r);
    if (run1(s->st[S_BEGIN_READ]) != SQLITE_DONE) return dberr(s, err, "cannot read the run");
    sqlite3_stmt *st = stmt_bind(s, S_RUN_GET, "I", id);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        run1(s->st[S_ROLLBACK]);
        if (rc == SQLITE_DONE) return seterr(err, "no run with id %lld in %s", (long long)id, s->path);
        return dberr(s, err, "cannot read the run");
    }
    read_run_row(s, st, r, wall_seconds());
    sqlite3_reset(st);
    st = stmt_bind(s, S_RUN_CONFIG, "I", id);
    r->config = sqlite3_step(st) == SQLITE_ROW ? col_strdup(st, 0) : xstrdup("{}");
    sqlite3_reset(st);
    read_tags(stmt_bind(s, S_TAGS_RUN, "I", id), r, 1);
    read_summary(stmt_bind(s, S_SUMMARY_RUN, "I", id), r, 1);
    run1(s->st[S_COMMIT]);
    return 0;
}

const StoreLatest *store_run_latest(const StoreRun *r, const char *key) {
    for (int i = 0; i < r->nlatest; i++)
        if (strcmp(r->latest[i].key, key) == 0) return &r->latest[i];
    return NULL;
}

// ---- liveness -------------------------------------------------------------------------------

int store_heartbeat(Store *s, int64_t run, long step, int *stop, char *err) {
    if (tx_begin(s, err) != 0) return -1;
    int ok = stmt_exec(s, S_RUN_PROGRESS, "IDL", run, wall_seconds(), step) == SQLITE_DONE;
    if (!ok) dberr(s, err, "cannot write the heartbeat");
    if (ok && sqlite3_changes(s->db) == 0) { // the run was deleted (repae rm --force)
        if (stop) *stop = 2;
        return tx_end(s, 1, err);
    }
    if (ok && stop) {
        sqlite3_stmt *st = stmt_bind(s, S_STOP_GET, "I", run);
        *stop = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
        sqlite3_reset(st);
    }
    return tx_end(s, ok, err);
}

int store_reap_dead(Store *s, char *err) {
    typedef struct { int64_t id; double hb; } Dead;
    Dead *dead = NULL;
    int n = 0;
    double now = wall_seconds();
    sqlite3_stmt *st = stmt_bind(s, S_RUNNING_LIST, "T", run_status_name(RUN_RUNNING));
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *host = sqlite3_column_text(st, 3);
        double hb = sqlite3_column_double(st, 1);
        if (run_is_dead(s, hb, sqlite3_column_int(st, 2), (const char *)host, now)) {
            dead = xrealloc(dead, (n + 1) * sizeof *dead);
            dead[n].id = sqlite3_column_int64(st, 0);
            dead[n].hb = sqlite3_column_type(st, 1) == SQLITE_NULL ? NAN : hb;
            n++;
        }
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) { free(dead); return dberr(s, err, "cannot list running runs"); }
    if (n == 0) return 0;
    if (tx_begin(s, err) != 0) { free(dead); return -1; }
    int ok = 1, changed = 0;
    for (int i = 0; ok && i < n; i++) {
        rc = stmt_exec(s, S_SET_INTERRUPTED, "IDTT", dead[i].id, dead[i].hb, run_status_name(RUN_INTERRUPTED),
                       run_status_name(RUN_RUNNING));
        if (rc != SQLITE_DONE) { ok = 0; dberr(s, err, "cannot mark a run interrupted"); }
        changed += sqlite3_changes(s->db);
    }
    free(dead);
    if (tx_end(s, ok, err) != 0) return -1;
    return changed;
}

// ---- writing runs ---------------------------------------------------------------------------

int store_set_world_size(Store *s, int64_t run, int n, char *err) {
    if (n < 1) return seterr(err, "world size %d for run %lld: it counts processes, so it is at least 1", n, (long long)run);
    if (tx_begin(s, err) != 0) return -1;
    int ok = stmt_exec(s, S_WORLD_SET, "Ii", run, n) == SQLITE_DONE;
    if (!ok) dberr(s, err, "cannot record the world size");
    else if (sqlite3_changes(s->db) == 0) { ok = 0; seterr(err, "no run with id %lld in %s", (long long)run, s->path); }
    return tx_end(s, ok, err);
}

// status running: this process's pid and host, heartbeat now (see S_STATUS_RUNNING).
static int mark_running(Store *s, int64_t run) {
    return stmt_exec(s, S_STATUS_RUNNING, "ITiTD", run, run_status_name(RUN_RUNNING), (int)getpid(), s->host,
                     wall_seconds());
}

int store_create_run(Store *s, const char *name, const char *config_json, long total_steps, int64_t parent,
                     const char *status, int64_t *id, char *err) {
    RunStatus st;
    if (store_check_name(name, err) != 0) return -1;
    if (run_status_parse(status, &st, err) != 0) return -1;
    if (tx_begin(s, err) != 0) return -1;
    int rc = stmt_exec(s, S_RUN_INSERT, "TTTDLI", name, run_status_name(st), config_json ? config_json : "{}",
                       wall_seconds(), total_steps, parent);
    int ok = rc == SQLITE_DONE;
    if (!ok) {
        if (rc == SQLITE_CONSTRAINT)
            seterr(err, "a run named '%s' already exists in %s; pick another --name", name, s->path);
        else dberr(s, err, "cannot create the run");
    } else {
        // AUTOINCREMENT (schema version 3): larger than any id given before, deleted ones too.
        *id = sqlite3_last_insert_rowid(s->db);
        // In the same transaction, so no reader ever sees a running run without pid and heartbeat.
        if (st == RUN_RUNNING && mark_running(s, *id) != SQLITE_DONE) {
            ok = 0;
            dberr(s, err, "cannot mark the run running");
        }
    }
    return tx_end(s, ok, err);
}

int store_set_status(Store *s, int64_t run, const char *status, const char *error, char *err) {
    RunStatus st;
    if (run_status_parse(status, &st, err) != 0) return -1;
    if (tx_begin(s, err) != 0) return -1;
    int rc = st == RUN_RUNNING ? mark_running(s, run)
                               : stmt_exec(s, S_STATUS_END, "ITTDT", run, run_status_name(st), error, wall_seconds(),
                                           run_status_name(RUN_RUNNING));
    int ok = rc == SQLITE_DONE;
    if (!ok) dberr(s, err, "cannot set the run's status");
    else if (sqlite3_changes(s->db) == 0) { ok = 0; seterr(err, "no run with id %lld in %s", (long long)run, s->path); }
    return tx_end(s, ok, err);
}
