// store.c: opening and closing a store (path policy, the read-only fallback), and what every
// query shares: the binder, transactions, error messages (see store_internal.h). The queries
// themselves are in runs.c, metrics.c and files.c; their SQL is in sql.c.
#include "store/store.h"
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "store/store_internal.h"
#include "base/util.h"

#define BUSY_TIMEOUT_MS 10000

static const char *access_hint(const Store *s);

// ---- the binder -----------------------------------------------------------------------------

// A mistake here is in the store's own code, the same on every call: abort loudly rather than
// run a statement with parameters left NULL, which would read or write the wrong rows quietly.
static _Noreturn void bind_bug(int which, const char *types, const char *why) {
    fprintf(stderr, "repae: internal error in the run store: statement %d (%s) with types \"%s\": %s\n", which,
            sql_text(which), types, why);
    abort();
}

// Every parameter is bound (the count is checked), so old values need no clearing first: that
// matters in store_log_metrics, which binds once per point.
static void vbind(Store *s, int which, const char *types, va_list ap) {
    sqlite3_stmt *st = s->st[which];
    sqlite3_reset(st);
    int n = (int)strlen(types);
    if (n != sqlite3_bind_parameter_count(st)) bind_bug(which, types, "wrong number of parameters");
    for (int i = 0; i < n; i++) {
        int rc;
        switch (types[i]) {
        case 'I': rc = sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t)); break;
        case 'L': rc = sqlite3_bind_int64(st, i + 1, (sqlite3_int64)va_arg(ap, long)); break;
        case 'i': rc = sqlite3_bind_int(st, i + 1, va_arg(ap, int)); break;
        case 'D': {
            // SQLite would store NaN as NULL anyway; say so here, and read it back with col_real.
            double v = va_arg(ap, double);
            rc = isnan(v) ? sqlite3_bind_null(st, i + 1) : sqlite3_bind_double(st, i + 1, v);
            break;
        }
        case 'T': {
            const char *t = va_arg(ap, const char *);
            rc = t ? sqlite3_bind_text(st, i + 1, t, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i + 1);
            break;
        }
        case 'B': {
            const void *p = va_arg(ap, const void *);
            size_t len = va_arg(ap, size_t);
            rc = sqlite3_bind_blob64(st, i + 1, p, len, SQLITE_STATIC);
            break;
        }
        default: bind_bug(which, types, "unknown type letter");
        }
        // Binding only fails for a bad index (checked above), a value too big for SQLite, or
        // no memory; the first two are bugs, the last aborts like every allocation here.
        if (rc == SQLITE_NOMEM) out_of_memory(0, __FILE__, __LINE__);
        if (rc != SQLITE_OK) bind_bug(which, types, sqlite3_errstr(rc));
    }
}

sqlite3_stmt *stmt_bind(Store *s, int which, const char *types, ...) {
    va_list ap;
    va_start(ap, types);
    vbind(s, which, types, ap);
    va_end(ap);
    return s->st[which];
}

int stmt_exec(Store *s, int which, const char *types, ...) {
    va_list ap;
    va_start(ap, types);
    vbind(s, which, types, ap);
    va_end(ap);
    int rc = run1(s->st[which]);
    if (strchr(types, 'B')) sqlite3_clear_bindings(s->st[which]); // drop the borrowed blob
    return rc;
}

// ---- helpers --------------------------------------------------------------------------------

int dberr(Store *s, char *err, const char *what) {
    int ro = sqlite3_errcode(s->db) == SQLITE_READONLY;
    return seterr(err, "%s: %s: %s%s", s->path, what, sqlite3_errmsg(s->db), ro ? access_hint(s) : "");
}

int run1(sqlite3_stmt *st) {
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc;
}

double col_real(sqlite3_stmt *st, int i) {
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

char *col_strdup(sqlite3_stmt *st, int i) {
    const unsigned char *t = sqlite3_column_text(st, i);
    return xstrdup(t ? (const char *)t : "");
}

int tx_begin(Store *s, char *err) {
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

int tx_end(Store *s, int ok, char *err) {
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
    metrics_forget_uncommitted(s);
    return -1;
}

int is_digits(const char *t) {
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
        sqlite3_stmt *st = stmt_bind(s, S_CKPT_UNDER, "T", prefix);
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
        rc = sqlite3_prepare_v3(s->db, sql_text(i), -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL);
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
    metrics_free_keys(s);
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
    sqlite3_stmt *st = stmt_bind(s, S_VERSION, "");
    int v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
    sqlite3_reset(st);
    return v;
}

int store_integrity_check(Store *s, char *err) {
    sqlite3_stmt *st = stmt_bind(s, S_INTEGRITY, "");
    int rc = sqlite3_step(st);
    int ok = rc == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0;
    if (!ok) {
        if (rc == SQLITE_ROW) seterr(err, "%s: integrity check: %s", s->path, sqlite3_column_text(st, 0));
        else dberr(s, err, "integrity check failed to run");
    }
    sqlite3_reset(st);
    return ok ? 0 : -1;
}
