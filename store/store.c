// store.c: the run store's queries (see store.h). Every statement lives in one enum-indexed
// table, prepared once at open; functions bind, step and reset. Writes go through
// tx_begin/tx_end: BEGIN IMMEDIATE takes the write lock up front, so a writer waits in the
// busy handler instead of failing half-way with SQLITE_BUSY.
#include "store/store.h"
#include <errno.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "store/store_internal.h"
#include "base/util.h"

#define BUSY_TIMEOUT_MS 10000
#define RUN_COLS "id, name, status, created, started, ended, heartbeat, pid, host, step, total_steps, " \
                 "error, parent, notes, stop_requested"

enum {
    S_BEGIN, S_BEGIN_READ, S_COMMIT, S_ROLLBACK,
    S_RUN_INSERT, S_RUN_BY_NAME, S_RUN_EXISTS, S_RUN_GET, S_RUN_CONFIG, S_RUN_LIST,
    S_TAGS_ALL, S_TAGS_RUN, S_SUMMARY_ALL, S_SUMMARY_RUN,
    S_KEY_FIND, S_KEY_INSERT, S_METRIC_INSERT, S_SUMMARY_UPSERT, S_RUN_PROGRESS, S_STOP_GET,
    S_SERIES, S_KEYS_RUN,
    S_SAMPLE_STEPS, S_SAMPLE_GET, S_SAMPLE_INSERT, S_CKPT_INSERT, S_CKPT_LIST,
    S_TAG_ADD, S_TAG_DEL, S_NOTE_SET, S_RENAME, S_STOP_SET,
    S_STATUS_RUNNING, S_STATUS_END,
    S_DEL_METRICS, S_DEL_SUMMARY, S_DEL_SAMPLES, S_DEL_CKPT, S_DEL_TAGS, S_DEL_RUN,
    S_RUNNING_LIST, S_SET_INTERRUPTED,
    S_TRUNC_METRICS, S_TRUNC_SAMPLES, S_SUMMARY_REBUILD, S_RUN_STEP_CAP,
    S_INTEGRITY, S_VERSION, S_CKPT_UNDER,
    S_COUNT
};

static const char *const sql_text[S_COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_BEGIN_READ] = "BEGIN",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_RUN_INSERT] = "INSERT INTO runs(name, status, config, created, total_steps, parent, notes)"
                     " VALUES(?1, ?2, ?3, ?4, ?5, NULLIF(?6, 0), '')",
    [S_RUN_BY_NAME] = "SELECT id FROM runs WHERE name = ?1",
    [S_RUN_EXISTS] = "SELECT id FROM runs WHERE id = ?1",
    [S_RUN_GET] = "SELECT " RUN_COLS " FROM runs WHERE id = ?1",
    [S_RUN_CONFIG] = "SELECT config FROM runs WHERE id = ?1",
    [S_RUN_LIST] = "SELECT " RUN_COLS " FROM runs ORDER BY id DESC",
    [S_TAGS_ALL] = "SELECT run, tag FROM tags ORDER BY run, tag",
    [S_TAGS_RUN] = "SELECT run, tag FROM tags WHERE run = ?1 ORDER BY tag",
    [S_SUMMARY_ALL] = "SELECT s.run, k.key, s.last_value, s.last_step, s.last_wall, s.vmin, s.min_step, s.vmax"
                      " FROM summary s JOIN metric_keys k ON k.id = s.key ORDER BY s.run, k.key",
    [S_SUMMARY_RUN] = "SELECT s.run, k.key, s.last_value, s.last_step, s.last_wall, s.vmin, s.min_step, s.vmax"
                      " FROM summary s JOIN metric_keys k ON k.id = s.key WHERE s.run = ?1 ORDER BY k.key",
    [S_KEY_FIND] = "SELECT id FROM metric_keys WHERE key = ?1",
    [S_KEY_INSERT] = "INSERT INTO metric_keys(key) VALUES(?1)",
    [S_METRIC_INSERT] = "INSERT OR REPLACE INTO metrics(run, key, step, value, wall) VALUES(?1, ?2, ?3, ?4, ?5)",
    // Assignments in an UPDATE all read the old row, so each CASE compares against old values.
    [S_SUMMARY_UPSERT] =
        "INSERT INTO summary(run, key, last_value, last_step, last_wall, vmin, min_step, vmax)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(run, key) DO UPDATE SET"
        " last_value = CASE WHEN excluded.last_step >= last_step THEN excluded.last_value ELSE last_value END,"
        " last_wall = CASE WHEN excluded.last_step >= last_step THEN excluded.last_wall ELSE last_wall END,"
        " last_step = MAX(last_step, excluded.last_step),"
        " min_step = CASE WHEN excluded.vmin IS NOT NULL AND (vmin IS NULL OR excluded.vmin < vmin)"
        "   THEN excluded.min_step ELSE min_step END,"
        " vmin = CASE WHEN excluded.vmin IS NOT NULL AND (vmin IS NULL OR excluded.vmin < vmin)"
        "   THEN excluded.vmin ELSE vmin END,"
        " vmax = CASE WHEN excluded.vmax IS NOT NULL AND (vmax IS NULL OR excluded.vmax > vmax)"
        "   THEN excluded.vmax ELSE vmax END",
    [S_RUN_PROGRESS] = "UPDATE runs SET heartbeat = ?2, step = CASE WHEN ?3 >= 0 THEN MAX(step, ?3) ELSE step END"
                       " WHERE id = ?1",
    [S_STOP_GET] = "SELECT stop_requested FROM runs WHERE id = ?1",
    [S_SERIES] = "SELECT step, value, wall FROM metrics WHERE run = ?1 AND key = ?2 AND step > ?3 ORDER BY step",
    [S_KEYS_RUN] = "SELECT k.key FROM summary s JOIN metric_keys k ON k.id = s.key WHERE s.run = ?1 ORDER BY k.key",
    [S_SAMPLE_STEPS] = "SELECT step FROM samples WHERE run = ?1 ORDER BY step",
    [S_SAMPLE_GET] = "SELECT step, png, w, h FROM samples WHERE run = ?1 AND (?2 < 0 OR step <= ?2)"
                     " ORDER BY step DESC LIMIT 1",
    [S_SAMPLE_INSERT] = "INSERT OR REPLACE INTO samples(run, step, png, w, h, wall) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    [S_CKPT_INSERT] = "INSERT OR REPLACE INTO checkpoints(run, step, weights, state, wall) VALUES(?1, ?2, ?3, ?4, ?5)",
    [S_CKPT_LIST] = "SELECT step, weights, state, wall FROM checkpoints WHERE run = ?1 ORDER BY step",
    [S_TAG_ADD] = "INSERT OR IGNORE INTO tags(run, tag) VALUES(?1, ?2)",
    [S_TAG_DEL] = "DELETE FROM tags WHERE run = ?1 AND tag = ?2",
    [S_NOTE_SET] = "UPDATE runs SET notes = ?2 WHERE id = ?1",
    [S_RENAME] = "UPDATE runs SET name = ?2 WHERE id = ?1",
    [S_STOP_SET] = "UPDATE runs SET stop_requested = 1 WHERE id = ?1",
    [S_STATUS_RUNNING] = "UPDATE runs SET status = 'running', pid = ?2, host = ?3, heartbeat = ?4,"
                         " started = COALESCE(started, ?4), ended = NULL, error = NULL, stop_requested = 0"
                         " WHERE id = ?1",
    [S_STATUS_END] = "UPDATE runs SET status = ?2, error = ?3, ended = ?4, heartbeat = ?4 WHERE id = ?1",
    [S_DEL_METRICS] = "DELETE FROM metrics WHERE run = ?1",
    [S_DEL_SUMMARY] = "DELETE FROM summary WHERE run = ?1",
    [S_DEL_SAMPLES] = "DELETE FROM samples WHERE run = ?1",
    [S_DEL_CKPT] = "DELETE FROM checkpoints WHERE run = ?1",
    [S_DEL_TAGS] = "DELETE FROM tags WHERE run = ?1",
    [S_DEL_RUN] = "DELETE FROM runs WHERE id = ?1",
    [S_RUNNING_LIST] = "SELECT id, heartbeat, pid, host FROM runs WHERE status = 'running'",
    [S_SET_INTERRUPTED] = "UPDATE runs SET status = 'interrupted', ended = heartbeat"
                          " WHERE id = ?1 AND status = 'running' AND heartbeat IS ?2",
    [S_TRUNC_METRICS] = "DELETE FROM metrics WHERE run = ?1 AND step > ?2",
    [S_TRUNC_SAMPLES] = "DELETE FROM samples WHERE run = ?1 AND step > ?2",
    [S_SUMMARY_REBUILD] =
        "INSERT INTO summary(run, key, last_value, last_step, last_wall, vmin, min_step, vmax)"
        " SELECT m.run, m.key,"
        "  (SELECT x.value FROM metrics x WHERE x.run = m.run AND x.key = m.key ORDER BY x.step DESC LIMIT 1),"
        "  MAX(m.step),"
        "  (SELECT x.wall FROM metrics x WHERE x.run = m.run AND x.key = m.key ORDER BY x.step DESC LIMIT 1),"
        "  MIN(m.value),"
        "  (SELECT x.step FROM metrics x WHERE x.run = m.run AND x.key = m.key AND x.value IS NOT NULL"
        "     ORDER BY x.value, x.step LIMIT 1),"
        "  MAX(m.value)"
        " FROM metrics m WHERE m.run = ?1 GROUP BY m.key",
    [S_RUN_STEP_CAP] = "UPDATE runs SET step = MIN(step, ?2) WHERE id = ?1",
    [S_INTEGRITY] = "PRAGMA integrity_check",
    [S_VERSION] = "PRAGMA user_version",
    [S_CKPT_UNDER] = "SELECT 1 FROM checkpoints WHERE substr(weights, 1, length(?1)) = ?1 LIMIT 1",
};

typedef struct { char *key; int64_t id; } KeyId;

struct Store {
    sqlite3 *db;
    sqlite3_stmt *st[S_COUNT];
    char *path; // absolute
    char *dir;  // directory holding the database
    char *runs; // directory of the run directories (see store_run_dir)
    char host[256];
    KeyId *keys; // metric key ids known to be committed
    int nkeys, capkeys;
};

static const char *const statuses[] = {"queued", "running", "done", "stopped", "failed", "diverged", "interrupted"};

static int valid_status(const char *s) {
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
        if (strcmp(s, statuses[i]) == 0) return 1;
    return 0;
}

// ---- helpers --------------------------------------------------------------------------------

static sqlite3_stmt *stmt(Store *s, int i) {
    sqlite3_reset(s->st[i]);
    sqlite3_clear_bindings(s->st[i]);
    return s->st[i];
}

static const char *access_hint(const Store *s);

static int dberr(Store *s, char *err, const char *what) {
    int ro = sqlite3_errcode(s->db) == SQLITE_READONLY;
    return seterr(err, "%s: %s: %s%s", s->path, what, sqlite3_errmsg(s->db), ro ? access_hint(s) : "");
}

// Steps a statement that returns no rows. Returns SQLITE_DONE or the error code.
static int run1(sqlite3_stmt *st) {
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc;
}

static void bind_text(sqlite3_stmt *st, int i, const char *t) {
    if (t) sqlite3_bind_text(st, i, t, -1, SQLITE_TRANSIENT);
    else sqlite3_bind_null(st, i);
}

// SQLite turns NaN into NULL; we keep that and map NULL back to NaN when reading.
static void bind_real(sqlite3_stmt *st, int i, double v) {
    if (isnan(v)) sqlite3_bind_null(st, i);
    else sqlite3_bind_double(st, i, v);
}

static double col_real(sqlite3_stmt *st, int i) {
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

static char *col_strdup(sqlite3_stmt *st, int i) {
    const unsigned char *t = sqlite3_column_text(st, i);
    return xstrdup(t ? (const char *)t : "");
}

static int tx_begin(Store *s, char *err) {
    for (int tries = 0;; tries++) {
        int rc = run1(s->st[S_BEGIN]);
        if (rc == SQLITE_DONE) return 0;
        // The busy handler already waited BUSY_TIMEOUT_MS; a writer that holds the lock longer
        // than that is unusual but not fatal, so keep waiting a while before giving up.
        if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED) return dberr(s, err, "cannot write to the store");
        if (tries >= 6) return dberr(s, err, "cannot take the write lock (another process holds it; try again)");
        usleep(100000);
    }
}

static void forget_uncommitted_keys(Store *s);

static int tx_end(Store *s, int ok, char *err) {
    if (ok) {
        for (int tries = 0;; tries++) {
            int rc = run1(s->st[S_COMMIT]);
            if (rc == SQLITE_DONE) return 0;
            if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || tries >= 20) {
                dberr(s, err, "commit failed");
                break;
            }
            usleep(50000);
        }
    }
    run1(s->st[S_ROLLBACK]);
    forget_uncommitted_keys(s);
    return -1;
}

static int is_digits(const char *t) {
    if (!*t) return 0;
    for (; *t; t++)
        if (*t < '0' || *t > '9') return 0;
    return 1;
}

// ---- open / close ---------------------------------------------------------------------------

static char *absolute_path(const char *path, int create, char *err) {
    char *copy = xstrdup(path), *dcopy = xstrdup(path);
    char *dir = dirname(dcopy), *base = basename(copy);
    char *result = NULL;
    if (create && mkdir_p(dir, err) != 0) goto out;
    char real[PATH_MAX];
    if (!realpath(dir, real)) {
        seterr(err, "%s: the directory %s does not exist (%s)", path, dir, strerror(errno));
        goto out;
    }
    result = xmalloc(strlen(real) + strlen(base) + 2);
    sprintf(result, "%s/%s", strcmp(real, "/") == 0 ? "" : real, base);
out:
    free(copy);
    free(dcopy);
    return result;
}

// Why a store cannot be written, when the file system says so ("" otherwise). A WAL store
// needs its directory writable (for PATH-wal and PATH-shm) as well as the file.
static const char *access_hint(const Store *s) {
    static _Thread_local char hint[PATH_MAX + 160];
    char shm[PATH_MAX];
    snprintf(shm, sizeof shm, "%s-shm", s->path);
    if (access(s->dir, W_OK) != 0)
        snprintf(hint, sizeof hint, " (the directory %s is not writable: SQLite needs to create %s-wal and -shm "
                 "there; copy the store to a writable place)", s->dir, s->path);
    else if (access(s->path, F_OK) == 0 && access(s->path, W_OK) != 0)
        snprintf(hint, sizeof hint, " (the file is read-only: make it writable, or copy it)");
    else if (access(shm, F_OK) == 0 && access(shm, W_OK) != 0)
        snprintf(hint, sizeof hint, " (%s is read-only, left from a read-only open: remove it when no repae "
                 "is running on this store)", shm);
    else hint[0] = 0;
    return hint;
}

// A store that cannot be opened for writing (read-only file or directory) is still readable:
// reopen it read-only and immutable, which needs no -shm file. Only when no -wal file holds
// commits that the database file lacks (immutable reads would not see them).
static int readonly_fallback(Store *s) {
    char wal[PATH_MAX];
    snprintf(wal, sizeof wal, "%s-wal", s->path);
    struct stat sb;
    if (stat(wal, &sb) == 0 && sb.st_size > 0) return 0;
    char *uri = sqlite3_mprintf("file:%s?immutable=1", s->path);
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
    sqlite3_free(uri);
    if (rc != SQLITE_OK) { sqlite3_close(db); return 0; }
    sqlite3_close(s->db);
    s->db = db;
    return 1;
}

// Where the run directories of this store live. Two stores in one directory must not share
// them (run ids are per store: runs/1 of one would be runs/1 of the other), so only the
// default name keeps the plain runs/; any other store X gets X-runs/, named like SQLite's own
// X-wal and X-shm. A store made before this rule whose checkpoints are under runs/ keeps it.
static char *runs_root(Store *s) {
    const char *base = strrchr(s->path, '/') + 1;
    size_t n = strlen(s->dir) + strlen(base) + 16;
    char *legacy = xmalloc(n), *own = xmalloc(n);
    snprintf(legacy, n, "%s/runs", s->dir);
    snprintf(own, n, "%s/%s-runs", s->dir, base);
    if (strcmp(base, "runs.db") == 0) { free(own); return legacy; }
    struct stat sb;
    if (stat(own, &sb) != 0 && stat(legacy, &sb) == 0) {
        char prefix[PATH_MAX];
        snprintf(prefix, sizeof prefix, "%s/", legacy);
        sqlite3_stmt *st = stmt(s, S_CKPT_UNDER);
        sqlite3_bind_text(st, 1, prefix, -1, SQLITE_TRANSIENT);
        int old = sqlite3_step(st) == SQLITE_ROW;
        sqlite3_reset(st);
        if (old) { free(own); return legacy; }
    }
    free(legacy);
    return own;
}

int store_open(Store **out, const char *path, int flags, char *err) {
    *out = NULL;
    struct stat sb;
    int exists = stat(path, &sb) == 0;
    if (!exists && !(flags & STORE_CREATE))
        return seterr(err, "no run store at %s (train a run to create it, or pass --db PATH)", path);
    if (exists && S_ISDIR(sb.st_mode))
        return seterr(err, "%s is a directory, not a run store; pass the database file with --db", path);
    char *abs = absolute_path(path, !exists, err);
    if (!abs) return -1;

    Store *s = xcalloc(1, sizeof *s);
    s->path = abs;
    char *dcopy = xstrdup(abs);
    s->dir = xstrdup(dirname(dcopy));
    free(dcopy);
    if (gethostname(s->host, sizeof s->host - 1) != 0) strcpy(s->host, "localhost");

    int oflags = SQLITE_OPEN_READWRITE | (exists ? 0 : SQLITE_OPEN_CREATE);
    int rc = sqlite3_open_v2(abs, &s->db, oflags, NULL);
    if (rc != SQLITE_OK) {
        seterr(err, "%s: cannot open the store: %s%s", abs, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc),
               access_hint(s));
        store_close(s);
        return -1;
    }
    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    sqlite3_extended_result_codes(s->db, 0);
    rc = schema_prepare(s->db, abs, 0, err);
    if (rc > 0 && exists && readonly_fallback(s)) rc = schema_prepare(s->db, abs, 1, err);
    if (rc != 0) {
        if (rc > 0) { size_t n = strlen(err); snprintf(err + n, ERRLEN - n, "%s", access_hint(s)); }
        store_close(s);
        return -1;
    }
    // Reading a run's curves touches thousands of pages: mapping the file saves a read() and
    // a copy per page, and a larger cache keeps the dashboard's repeated reads in memory.
    sqlite3_exec(s->db, "PRAGMA mmap_size=1073741824; PRAGMA cache_size=-32768", NULL, NULL, NULL);
    for (int i = 0; i < S_COUNT; i++) {
        rc = sqlite3_prepare_v3(s->db, sql_text[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL);
        if (rc != SQLITE_OK) {
            seterr(err, "%s: internal error preparing statement %d: %s", abs, i, sqlite3_errmsg(s->db));
            store_close(s);
            return -1;
        }
    }
    s->runs = runs_root(s);
    *out = s;
    return 0;
}

void store_close(Store *s) {
    if (!s) return;
    for (int i = 0; i < S_COUNT; i++) sqlite3_finalize(s->st[i]);
    sqlite3_close(s->db);
    for (int i = 0; i < s->nkeys; i++) free(s->keys[i].key);
    free(s->keys);
    free(s->path);
    free(s->dir);
    free(s->runs);
    free(s);
}

const char *store_path(const Store *s) { return s->path; }

char *store_run_dir(const Store *s, int64_t run, char *buf, size_t n) {
    snprintf(buf, n, "%s/%lld", s->runs, (long long)run);
    return buf;
}

int store_schema_version(Store *s) {
    sqlite3_stmt *st = stmt(s, S_VERSION);
    int v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
    sqlite3_reset(st);
    return v;
}

int store_integrity_check(Store *s, char *err) {
    sqlite3_stmt *st = stmt(s, S_INTEGRITY);
    int rc = sqlite3_step(st);
    int ok = rc == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0;
    if (!ok) {
        if (rc == SQLITE_ROW) seterr(err, "%s: integrity check: %s", s->path, sqlite3_column_text(st, 0));
        else dberr(s, err, "integrity check failed to run");
    }
    sqlite3_reset(st);
    return ok ? 0 : -1;
}

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
    snprintf(r->stored_status, sizeof r->stored_status, "%s", (const char *)sqlite3_column_text(st, 2));
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
    strcpy(r->status, r->stored_status);
    if (strcmp(r->status, "running") == 0 && run_is_dead(s, r->heartbeat, r->pid, r->host, now))
        strcpy(r->status, "interrupted");
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
    sqlite3_stmt *st = stmt(s, S_RUN_LIST);
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
    read_tags(stmt(s, S_TAGS_ALL), runs, n);
    read_summary(stmt(s, S_SUMMARY_ALL), runs, n);
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
        st = stmt(s, S_RUN_EXISTS);
        sqlite3_bind_int64(st, 1, strtoll(ref, NULL, 10));
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) { *id = sqlite3_column_int64(st, 0); sqlite3_reset(st); return 0; }
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) return dberr(s, err, "cannot look up the run");
    }
    st = stmt(s, S_RUN_BY_NAME);
    sqlite3_bind_text(st, 1, ref, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) { *id = sqlite3_column_int64(st, 0); sqlite3_reset(st); return 0; }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) return dberr(s, err, "cannot look up the run");
    return seterr(err, "no run with id or name '%s' in %s (see `repae runs`)", ref, s->path);
}

int store_get_run(Store *s, int64_t id, StoreRun *r, char *err) {
    memset(r, 0, sizeof *r);
    if (run1(s->st[S_BEGIN_READ]) != SQLITE_DONE) return dberr(s, err, "cannot read the run");
    sqlite3_stmt *st = stmt(s, S_RUN_GET);
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        run1(s->st[S_ROLLBACK]);
        if (rc == SQLITE_DONE) return seterr(err, "no run with id %lld in %s", (long long)id, s->path);
        return dberr(s, err, "cannot read the run");
    }
    read_run_row(s, st, r, wall_seconds());
    sqlite3_reset(st);
    st = stmt(s, S_RUN_CONFIG);
    sqlite3_bind_int64(st, 1, id);
    r->config = sqlite3_step(st) == SQLITE_ROW ? col_strdup(st, 0) : xstrdup("{}");
    sqlite3_reset(st);
    st = stmt(s, S_TAGS_RUN);
    sqlite3_bind_int64(st, 1, id);
    read_tags(st, r, 1);
    st = stmt(s, S_SUMMARY_RUN);
    sqlite3_bind_int64(st, 1, id);
    read_summary(st, r, 1);
    run1(s->st[S_COMMIT]);
    return 0;
}

const StoreLatest *store_run_latest(const StoreRun *r, const char *key) {
    for (int i = 0; i < r->nlatest; i++)
        if (strcmp(r->latest[i].key, key) == 0) return &r->latest[i];
    return NULL;
}

// ---- metrics --------------------------------------------------------------------------------

void store_strings_free(char **v, int n) {
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

int store_metric_keys(Store *s, int64_t run, char ***keys, int *n, char *err) {
    sqlite3_stmt *st = stmt(s, S_KEYS_RUN);
    sqlite3_bind_int64(st, 1, run);
    char **v = NULL;
    int k = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        v = xrealloc(v, (k + 1) * sizeof *v);
        v[k++] = col_strdup(st, 0);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) { store_strings_free(v, k); return dberr(s, err, "cannot read metric keys"); }
    *keys = v;
    *n = k;
    return 0;
}

static void key_remember(Store *s, const char *key, int64_t id, int committed);

// Key id lookup for reading: 0 if the key was never logged.
static int key_lookup(Store *s, const char *key, int64_t *id, char *err) {
    for (int i = 0; i < s->nkeys; i++)
        if (strcmp(s->keys[i].key, key) == 0) { *id = s->keys[i].id; return 0; }
    sqlite3_stmt *st = stmt(s, S_KEY_FIND);
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    *id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return dberr(s, err, "cannot read metric keys");
    if (rc == SQLITE_ROW) key_remember(s, key, *id, 1);
    return 0;
}

static void key_remember(Store *s, const char *key, int64_t id, int committed) {
    if (s->nkeys == s->capkeys) {
        s->capkeys = s->capkeys ? 2 * s->capkeys : 32;
        s->keys = xrealloc(s->keys, s->capkeys * sizeof *s->keys);
    }
    // An id inserted by a transaction that later rolls back must not stay cached: mark it
    // with a negative id until the commit.
    s->keys[s->nkeys].key = xstrdup(key);
    s->keys[s->nkeys].id = committed ? id : -id;
    s->nkeys++;
}

static void forget_uncommitted_keys(Store *s) {
    int j = 0;
    for (int i = 0; i < s->nkeys; i++) {
        if (s->keys[i].id < 0) free(s->keys[i].key);
        else s->keys[j++] = s->keys[i];
    }
    s->nkeys = j;
}

static void confirm_keys(Store *s) {
    for (int i = 0; i < s->nkeys; i++)
        if (s->keys[i].id < 0) s->keys[i].id = -s->keys[i].id;
}

// Key id for writing, inside a write transaction: creates the key if needed.
static int key_id(Store *s, const char *key, int64_t *id, char *err) {
    for (int i = 0; i < s->nkeys; i++)
        if (strcmp(s->keys[i].key, key) == 0) { *id = s->keys[i].id < 0 ? -s->keys[i].id : s->keys[i].id; return 0; }
    sqlite3_stmt *st = stmt(s, S_KEY_FIND);
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        key_remember(s, key, *id, 1);
        return 0;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) return dberr(s, err, "cannot read metric keys");
    st = stmt(s, S_KEY_INSERT);
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    if (run1(st) != SQLITE_DONE) return dberr(s, err, "cannot add a metric key");
    *id = sqlite3_last_insert_rowid(s->db);
    key_remember(s, key, *id, 0);
    return 0;
}

int store_series(Store *s, int64_t run, const char *key, long after_step, StoreSeries *out, char *err) {
    memset(out, 0, sizeof *out);
    int64_t kid;
    if (key_lookup(s, key, &kid, err) != 0) return -1;
    if (kid == 0) return 0;
    sqlite3_stmt *st = stmt(s, S_SERIES);
    sqlite3_bind_int64(st, 1, run);
    sqlite3_bind_int64(st, 2, kid);
    sqlite3_bind_int64(st, 3, after_step);
    long cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (out->n == cap) {
            cap = cap ? 2 * cap : 1024;
            out->step = xrealloc(out->step, cap * sizeof *out->step);
            out->value = xrealloc(out->value, cap * sizeof *out->value);
            out->wall = xrealloc(out->wall, cap * sizeof *out->wall);
        }
        out->step[out->n] = (long)sqlite3_column_int64(st, 0);
        out->value[out->n] = (float)col_real(st, 1);
        out->wall[out->n] = sqlite3_column_double(st, 2);
        out->n++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) { store_series_free(out); return dberr(s, err, "cannot read metrics"); }
    return 0;
}

void store_series_free(StoreSeries *ser) {
    free(ser->step);
    free(ser->value);
    free(ser->wall);
    memset(ser, 0, sizeof *ser);
}

typedef struct {
    const char *key;
    int64_t kid;
    long last_step, min_step;
    double last, last_wall, min, max;
} KeyAgg;

typedef struct { int64_t kid; long step; int i, ai; } Order;

static int order_cmp(const void *a, const void *b) {
    const Order *x = a, *y = b;
    if (x->kid != y->kid) return x->kid < y->kid ? -1 : 1;
    if (x->step != y->step) return x->step < y->step ? -1 : 1;
    return x->i - y->i; // a repeated (key, step): the later one is written last and wins
}

int store_log_metrics(Store *s, int64_t run, const StoreMetric *m, int n, char *err) {
    if (n <= 0) return 0;
    if (tx_begin(s, err) != 0) return -1;
    KeyAgg *agg = NULL;
    int nagg = 0, capagg = 0, ok = 0;
    long maxstep = -1;
    Order *ord = xmalloc((size_t)n * sizeof *ord);
    const char *prevkey = NULL;
    int64_t prevkid = 0;
    int previdx = -1;
    for (int i = 0; i < n; i++) {
        // Batches repeat the same few keys; skip the lookups when the key pointer repeats.
        if (!prevkey || (m[i].key != prevkey && strcmp(m[i].key, prevkey) != 0)) {
            int64_t kid = 0;
            int ai;
            for (ai = 0; ai < nagg && strcmp(agg[ai].key, m[i].key) != 0; ai++) {}
            if (ai == nagg) {
                if (key_id(s, m[i].key, &kid, err) != 0) goto out;
                if (nagg == capagg) { capagg = capagg ? 2 * capagg : 16; agg = xrealloc(agg, capagg * sizeof *agg); }
                agg[nagg++] = (KeyAgg){m[i].key, kid, LONG_MIN, 0, NAN, NAN, NAN, NAN};
            }
            prevkey = m[i].key;
            prevkid = agg[ai].kid;
            previdx = ai;
        }
        ord[i] = (Order){prevkid, m[i].step, i, previdx};
    }
    // Insert in primary-key order rather than the step-major order training produces, so a
    // batch appends to each key's range in turn instead of hopping between them.
    qsort(ord, n, sizeof *ord, order_cmp);
    sqlite3_stmt *ins = stmt(s, S_METRIC_INSERT);
    for (int o = 0; o < n; o++) {
        const StoreMetric *mi = &m[ord[o].i];
        sqlite3_bind_int64(ins, 1, run);
        sqlite3_bind_int64(ins, 2, ord[o].kid);
        sqlite3_bind_int64(ins, 3, mi->step);
        bind_real(ins, 4, mi->value);
        sqlite3_bind_double(ins, 5, mi->wall);
        if (run1(ins) != SQLITE_DONE) { dberr(s, err, "cannot write metrics"); goto out; }
        KeyAgg *a = &agg[ord[o].ai];
        double v = mi->value;
        if (mi->step >= a->last_step) { a->last_step = mi->step; a->last = v; a->last_wall = mi->wall; }
        if (!isnan(v)) {
            if (isnan(a->min) || v < a->min) { a->min = v; a->min_step = mi->step; }
            if (isnan(a->max) || v > a->max) a->max = v;
        }
        if (mi->step > maxstep) maxstep = mi->step;
    }
    sqlite3_stmt *up = stmt(s, S_SUMMARY_UPSERT);
    for (int i = 0; i < nagg; i++) {
        sqlite3_bind_int64(up, 1, run);
        sqlite3_bind_int64(up, 2, agg[i].kid);
        bind_real(up, 3, agg[i].last);
        sqlite3_bind_int64(up, 4, agg[i].last_step);
        sqlite3_bind_double(up, 5, agg[i].last_wall);
        bind_real(up, 6, agg[i].min);
        sqlite3_bind_int64(up, 7, agg[i].min_step);
        bind_real(up, 8, agg[i].max);
        if (run1(up) != SQLITE_DONE) { dberr(s, err, "cannot update the metric summary"); goto out; }
    }
    sqlite3_stmt *pr = stmt(s, S_RUN_PROGRESS);
    sqlite3_bind_int64(pr, 1, run);
    sqlite3_bind_double(pr, 2, wall_seconds());
    sqlite3_bind_int64(pr, 3, maxstep);
    if (run1(pr) != SQLITE_DONE) { dberr(s, err, "cannot update the run's progress"); goto out; }
    ok = 1;
out:
    free(agg);
    free(ord);
    if (tx_end(s, ok, err) != 0) return -1;
    confirm_keys(s);
    return 0;
}

int store_heartbeat(Store *s, int64_t run, long step, int *stop, char *err) {
    if (tx_begin(s, err) != 0) return -1;
    sqlite3_stmt *st = stmt(s, S_RUN_PROGRESS);
    sqlite3_bind_int64(st, 1, run);
    sqlite3_bind_double(st, 2, wall_seconds());
    sqlite3_bind_int64(st, 3, step);
    int ok = run1(st) == SQLITE_DONE;
    if (!ok) dberr(s, err, "cannot write the heartbeat");
    if (ok && sqlite3_changes(s->db) == 0) { // the run was deleted (repae rm --force)
        if (stop) *stop = 2;
        return tx_end(s, 1, err);
    }
    if (ok && stop) {
        st = stmt(s, S_STOP_GET);
        sqlite3_bind_int64(st, 1, run);
        *stop = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
        sqlite3_reset(st);
    }
    return tx_end(s, ok, err);
}

// ---- samples and checkpoints ----------------------------------------------------------------

int store_sample_steps(Store *s, int64_t run, long **steps, int *n, char *err) {
    sqlite3_stmt *st = stmt(s, S_SAMPLE_STEPS);
    sqlite3_bind_int64(st, 1, run);
    long *v = NULL;
    int k = 0, cap = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (k == cap) { cap = cap ? 2 * cap : 64; v = xrealloc(v, cap * sizeof *v); }
        v[k++] = (long)sqlite3_column_int64(st, 0);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) { free(v); return dberr(s, err, "cannot read samples"); }
    *steps = v;
    *n = k;
    return 0;
}

int store_sample_get(Store *s, int64_t run, long step, long *got_step, unsigned char **png, size_t *len, int *w,
                     int *h, char *err) {
    *png = NULL;
    *len = 0;
    sqlite3_stmt *st = stmt(s, S_SAMPLE_GET);
    sqlite3_bind_int64(st, 1, run);
    sqlite3_bind_int64(st, 2, step);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        if (rc == SQLITE_DONE) {
            if (step < 0) return seterr(err, "run %lld has no samples yet", (long long)run);
            return seterr(err, "run %lld has no sample at or before step %ld", (long long)run, step);
        }
        return dberr(s, err, "cannot read a sample");
    }
    if (got_step) *got_step = (long)sqlite3_column_int64(st, 0);
    *len = (size_t)sqlite3_column_bytes(st, 1);
    *png = xmalloc(*len);
    memcpy(*png, sqlite3_column_blob(st, 1), *len);
    if (w) *w = sqlite3_column_int(st, 2);
    if (h) *h = sqlite3_column_int(st, 3);
    sqlite3_reset(st);
    return 0;
}

int store_add_sample(Store *s, int64_t run, long step, const void *png, size_t len, int w, int h, char *err) {
    if (tx_begin(s, err) != 0) return -1;
    sqlite3_stmt *st = stmt(s, S_SAMPLE_INSERT);
    sqlite3_bind_int64(st, 1, run);
    sqlite3_bind_int64(st, 2, step);
    sqlite3_bind_blob64(st, 3, png, len, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, w);
    sqlite3_bind_int(st, 5, h);
    sqlite3_bind_double(st, 6, wall_seconds());
    int ok = run1(st) == SQLITE_DONE;
    if (!ok) dberr(s, err, "cannot write a sample");
    sqlite3_clear_bindings(st); // drop the borrowed blob
    return tx_end(s, ok, err);
}

int store_add_checkpoint(Store *s, int64_t run, long step, const char *weights, const char *state, char *err) {
    if (tx_begin(s, err) != 0) return -1;
    sqlite3_stmt *st = stmt(s, S_CKPT_INSERT);
    sqlite3_bind_int64(st, 1, run);
    sqlite3_bind_int64(st, 2, step);
    bind_text(st, 3, weights);
    bind_text(st, 4, state);
    sqlite3_bind_double(st, 5, wall_seconds());
    int ok = run1(st) == SQLITE_DONE;
    if (!ok) dberr(s, err, "cannot record a checkpoint");
    return tx_end(s, ok, err);
}

int store_checkpoints(Store *s, int64_t run, StoreCheckpoint **c, int *n, char *err) {
    sqlite3_stmt *st = stmt(s, S_CKPT_LIST);
    sqlite3_bind_int64(st, 1, run);
    StoreCheckpoint *v = NULL;
    int k = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        v = xrealloc(v, (k + 1) * sizeof *v);
        v[k].step = (long)sqlite3_column_int64(st, 0);
        v[k].weights = col_strdup(st, 1);
        v[k].state = col_strdup(st, 2);
        v[k].wall = sqlite3_column_double(st, 3);
        k++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) { store_checkpoints_free(v, k); return dberr(s, err, "cannot read checkpoints"); }
    *c = v;
    *n = k;
    return 0;
}

void store_checkpoints_free(StoreCheckpoint *c, int n) {
    for (int i = 0; i < n; i++) { free(c[i].weights); free(c[i].state); }
    free(c);
}

// ---- housekeeping ---------------------------------------------------------------------------

// One-statement writes of the form (run id, optional text).
static int write_run_text(Store *s, int which, int64_t run, const char *text, const char *what, char *err) {
    if (tx_begin(s, err) != 0) return -1;
    sqlite3_stmt *st = stmt(s, which);
    sqlite3_bind_int64(st, 1, run);
    if (text) sqlite3_bind_text(st, 2, text, -1, SQLITE_TRANSIENT);
    int rc = run1(st);
    int ok = rc == SQLITE_DONE;
    if (!ok) {
        if (rc == SQLITE_CONSTRAINT && which == S_RENAME)
            seterr(err, "a run named '%s' already exists in %s", text, s->path);
        else dberr(s, err, what);
    }
    return tx_end(s, ok, err);
}

int store_tag_add(Store *s, int64_t run, const char *tag, char *err) {
    return write_run_text(s, S_TAG_ADD, run, tag, "cannot add the tag", err);
}
int store_tag_remove(Store *s, int64_t run, const char *tag, char *err) {
    return write_run_text(s, S_TAG_DEL, run, tag, "cannot remove the tag", err);
}
int store_set_note(Store *s, int64_t run, const char *text, char *err) {
    return write_run_text(s, S_NOTE_SET, run, text, "cannot set the note", err);
}
int store_check_name(const char *name, char *err) {
    if (!name || !*name) return seterr(err, "a run name cannot be empty");
    if (is_digits(name))
        return seterr(err, "run name '%s' is all digits and would be read as a run id; add a letter", name);
    int blank = 1;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return seterr(err, "a run name cannot hold control characters (tab, newline, ...): '%s'", name);
        if (*p != ' ') blank = 0;
    }
    if (blank) return seterr(err, "a run name cannot be only spaces");
    if (strlen(name) > STORE_NAME_MAX)
        return seterr(err, "a run name can have at most %d bytes (this one has %zu)", STORE_NAME_MAX, strlen(name));
    return 0;
}

int store_rename(Store *s, int64_t run, const char *name, char *err) {
    if (store_check_name(name, err) != 0) return -1;
    return write_run_text(s, S_RENAME, run, name, "cannot rename the run", err);
}
int store_request_stop(Store *s, int64_t run, char *err) {
    return write_run_text(s, S_STOP_SET, run, NULL, "cannot request the stop", err);
}

static int rm_entry(const char *p, const struct stat *sb, int type, struct FTW *ftw) {
    (void)sb; (void)type; (void)ftw;
    return remove(p) != 0 && errno != ENOENT ? -1 : 0;
}

int store_delete_run(Store *s, int64_t run, char *err) {
    if (tx_begin(s, err) != 0) return -1;
    static const int dels[] = {S_DEL_METRICS, S_DEL_SUMMARY, S_DEL_SAMPLES, S_DEL_CKPT, S_DEL_TAGS, S_DEL_RUN};
    int ok = 1;
    for (size_t i = 0; ok && i < sizeof dels / sizeof dels[0]; i++) {
        sqlite3_stmt *st = stmt(s, dels[i]);
        sqlite3_bind_int64(st, 1, run);
        if (run1(st) != SQLITE_DONE) { ok = 0; dberr(s, err, "cannot delete the run"); }
    }
    if (tx_end(s, ok, err) != 0) return -1;
    char dir[PATH_MAX];
    store_run_dir(s, run, dir, sizeof dir);
    struct stat sb;
    if (stat(dir, &sb) == 0 && nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        return seterr(err, "run %lld deleted from the store, but removing %s failed: %s", (long long)run, dir,
                      strerror(errno));
    return 0;
}

int store_reap_dead(Store *s, char *err) {
    typedef struct { int64_t id; double hb; } Dead;
    Dead *dead = NULL;
    int n = 0;
    double now = wall_seconds();
    sqlite3_stmt *st = stmt(s, S_RUNNING_LIST);
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
        st = stmt(s, S_SET_INTERRUPTED);
        sqlite3_bind_int64(st, 1, dead[i].id);
        bind_real(st, 2, dead[i].hb); // only if it did not beat since we looked
        if (run1(st) != SQLITE_DONE) { ok = 0; dberr(s, err, "cannot mark a run interrupted"); }
        changed += sqlite3_changes(s->db);
    }
    free(dead);
    if (tx_end(s, ok, err) != 0) return -1;
    return changed;
}

// ---- writing runs ---------------------------------------------------------------------------

int store_create_run(Store *s, const char *name, const char *config_json, long total_steps, int64_t parent,
                     const char *status, int64_t *id, char *err) {
    if (store_check_name(name, err) != 0) return -1;
    if (!valid_status(status)) return seterr(err, "unknown run status '%s'", status);
    if (tx_begin(s, err) != 0) return -1;
    sqlite3_stmt *st = stmt(s, S_RUN_INSERT);
    bind_text(st, 1, name);
    bind_text(st, 2, status);
    bind_text(st, 3, config_json ? config_json : "{}");
    sqlite3_bind_double(st, 4, wall_seconds());
    sqlite3_bind_int64(st, 5, total_steps);
    sqlite3_bind_int64(st, 6, parent);
    int rc = run1(st);
    int ok = rc == SQLITE_DONE;
    if (!ok) {
        if (rc == SQLITE_CONSTRAINT)
            seterr(err, "a run named '%s' already exists in %s; pick another --name", name, s->path);
        else dberr(s, err, "cannot create the run");
    } else {
        *id = sqlite3_last_insert_rowid(s->db);
        // In the same transaction, so no reader ever sees a running run without pid and heartbeat.
        if (strcmp(status, "running") == 0) {
            st = stmt(s, S_STATUS_RUNNING);
            sqlite3_bind_int64(st, 1, *id);
            sqlite3_bind_int(st, 2, (int)getpid());
            bind_text(st, 3, s->host);
            sqlite3_bind_double(st, 4, wall_seconds());
            if (run1(st) != SQLITE_DONE) { ok = 0; dberr(s, err, "cannot mark the run running"); }
        }
    }
    return tx_end(s, ok, err);
}

int store_set_status(Store *s, int64_t run, const char *status, const char *error, char *err) {
    if (!valid_status(status)) return seterr(err, "unknown run status '%s'", status);
    if (tx_begin(s, err) != 0) return -1;
    sqlite3_stmt *st;
    if (strcmp(status, "running") == 0) {
        st = stmt(s, S_STATUS_RUNNING);
        sqlite3_bind_int64(st, 1, run);
        sqlite3_bind_int(st, 2, (int)getpid());
        bind_text(st, 3, s->host);
        sqlite3_bind_double(st, 4, wall_seconds());
    } else {
        st = stmt(s, S_STATUS_END);
        sqlite3_bind_int64(st, 1, run);
        bind_text(st, 2, status);
        bind_text(st, 3, error);
        sqlite3_bind_double(st, 4, wall_seconds());
    }
    int ok = run1(st) == SQLITE_DONE;
    if (!ok) dberr(s, err, "cannot set the run's status");
    else if (sqlite3_changes(s->db) == 0) { ok = 0; seterr(err, "no run with id %lld in %s", (long long)run, s->path); }
    return tx_end(s, ok, err);
}

int store_truncate_after(Store *s, int64_t run, long step, char *err) {
    if (tx_begin(s, err) != 0) return -1;
    static const int seq[] = {S_TRUNC_METRICS, S_TRUNC_SAMPLES, S_DEL_SUMMARY, S_SUMMARY_REBUILD, S_RUN_STEP_CAP};
    int ok = 1;
    for (size_t i = 0; ok && i < sizeof seq / sizeof seq[0]; i++) {
        sqlite3_stmt *st = stmt(s, seq[i]);
        sqlite3_bind_int64(st, 1, run);
        if (sqlite3_bind_parameter_count(st) >= 2) sqlite3_bind_int64(st, 2, step);
        if (run1(st) != SQLITE_DONE) { ok = 0; dberr(s, err, "cannot forget metrics after the checkpoint"); }
    }
    return tx_end(s, ok, err);
}
