// store_internal.h: what the store's files share (not part of the public API).
//   sql.c      every statement, in one enum-indexed table
//   store.c    open/close, where run directories go, read-only fallback, transactions, the binder
//   schema.c   the migrations
//   runs.c     run rows, reads, liveness, status writes, the status names
//   metrics.c  metrics, the summary and the metric key-id cache
//   prefs.c    the prefs table (store-wide settings)
//   console.c  a run's console lines (warnings, notes, the final error)
//   files.c    samples, checkpoint rows, deleting a run and its directory, housekeeping
#ifndef REPAE_STORE_INTERNAL_H
#define REPAE_STORE_INTERNAL_H
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include "store/store.h"

// application_id of every repae store ("rpae"), so a SQLite file of another program is refused.
#define STORE_APP_ID 0x72706165

// Checks that db (just opened, nothing written yet) is a repae store this code can use, then
// switches it to WAL and applies the missing migrations, each in its own transaction.
// path is only for messages. readonly: db was opened read-only (immutable): only the checks.
// Returns 0, or with err: -1, or the SQLite code when the file could not be read at all.
int schema_prepare(sqlite3 *db, const char *path, int readonly, char *err);

// ---- statements (sql.c) -----------------------------------------------------------------------
// Every statement the store runs after opening, prepared once per connection.
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
    S_WORLD_SET, S_PREF_GET, S_PREF_SET, S_PREF_DEL,
    S_CONSOLE_INSERT, S_CONSOLE_CAP, S_CONSOLE_GET, S_DEL_CONSOLE,
    S_COUNT
};
// The SQL text of statement which (one of S_*).
const char *sql_text(int which);

// ---- the connection -------------------------------------------------------------------------
typedef struct { char *key; int64_t id; } KeyId;

struct Store {
    sqlite3 *db;
    sqlite3_stmt *st[S_COUNT];
    char *path; // absolute
    char *dir;  // directory holding the database
    char *runs; // directory of the run directories (see store_run_dir)
    char host[256];
    KeyId *keys; // metric key ids; negative while the transaction that made them is open
    int nkeys, capkeys;
};

// ---- helpers (store.c) ------------------------------------------------------------------------
// The binder, in the style of freebsd/pkg's argtypes: one letter per SQL parameter, in order,
// then the values.
//   I int64_t   L long   i int   D double (NaN binds NULL)   T const char * (NULL binds NULL)
//   B const void *, size_t: a blob, not copied (stmt_exec clears it before returning)
// A letter count that differs from the statement's parameters, or an unknown letter, is a bug
// in the store that every test run would hit: it aborts with the statement's text.
//
// stmt_bind resets statement which, binds the values and returns it for stepping.
sqlite3_stmt *stmt_bind(Store *s, int which, const char *types, ...);
// Binds, steps once and resets a statement that returns no rows: SQLITE_DONE or the error code.
int stmt_exec(Store *s, int which, const char *types, ...);
// Steps a statement that returns no rows and resets it. Returns SQLITE_DONE or the error code.
int run1(sqlite3_stmt *st);

// err = "PATH: what: SQLite's message" (plus why the file cannot be written, when it cannot).
// Returns -1.
int dberr(Store *s, char *err, const char *what);
// Column i as a double, NULL read back as NaN (SQLite stores NaN as NULL).
double col_real(sqlite3_stmt *st, int i);
// Column i as a malloc'd string, "" for NULL.
char *col_strdup(sqlite3_stmt *st, int i);
// Write transactions: BEGIN IMMEDIATE takes the write lock up front (waiting for it), so a
// writer never fails half-way with SQLITE_BUSY. tx_end commits when ok, else rolls back (and
// forgets metric keys the transaction made); it returns 0 only after a commit.
int tx_begin(Store *s, char *err);
int tx_end(Store *s, int ok, char *err);
// 1 when t is a non-empty string of decimal digits.
int is_digits(const char *t);

// ---- across files -----------------------------------------------------------------------------
// runs.c: whether run exists, and whether it is training in a live process (*name: malloc'd,
// for messages). 0, or -1 with err.
int runs_probe(Store *s, int64_t run, int *exists, int *live, char **name, char *err);
// metrics.c: drops cached key ids of a rolled-back transaction / frees the whole cache.
void metrics_forget_uncommitted(Store *s);
void metrics_free_keys(Store *s);

#endif
