// schema.c: the store's schema as a list of migrations by PRAGMA user_version, and the checks
// that keep us from writing into a file we do not understand.
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "store/store.h"
#include "store/store_internal.h"
#include "base/util.h"

typedef struct {
    int version;
    const char *sql;
} Migration;

// Each entry takes the database from version-1 to version, in one transaction. Never edit a
// released entry: add a new one (old stores in the wild have already run the old ones).
static const Migration migrations[] = {
    {1,
     "CREATE TABLE runs("
     "  id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, status TEXT NOT NULL,"
     "  config TEXT NOT NULL DEFAULT '{}', created REAL NOT NULL, started REAL, ended REAL,"
     "  heartbeat REAL, pid INTEGER, step INTEGER NOT NULL DEFAULT 0,"
     "  total_steps INTEGER NOT NULL DEFAULT 0, error TEXT, notes TEXT NOT NULL DEFAULT '');"
     "CREATE TABLE tags(run INTEGER NOT NULL, tag TEXT NOT NULL, PRIMARY KEY(run, tag)) WITHOUT ROWID;"
     "CREATE TABLE metrics(run INTEGER NOT NULL, key TEXT NOT NULL, step INTEGER NOT NULL,"
     "  value REAL, wall REAL, PRIMARY KEY(run, key, step)) WITHOUT ROWID;"
     "CREATE TABLE samples(run INTEGER NOT NULL, step INTEGER NOT NULL, png BLOB NOT NULL,"
     "  w INTEGER NOT NULL, h INTEGER NOT NULL, wall REAL, PRIMARY KEY(run, step));"
     "CREATE TABLE checkpoints(run INTEGER NOT NULL, step INTEGER NOT NULL, weights TEXT,"
     "  state TEXT, wall REAL, PRIMARY KEY(run, step));"},
    // v2: metric keys become small integers (a third of the metrics table's size), a summary
    // row per (run, key) makes listing independent of the number of steps, and runs learn
    // their host (so a pid is only checked on its own machine), parent and stop requests.
    {2,
     "ALTER TABLE runs ADD COLUMN host TEXT;"
     "ALTER TABLE runs ADD COLUMN parent INTEGER;"
     "ALTER TABLE runs ADD COLUMN stop_requested INTEGER NOT NULL DEFAULT 0;"
     "CREATE TABLE metric_keys(id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE);"
     "INSERT INTO metric_keys(key) SELECT DISTINCT key FROM metrics ORDER BY key;"
     "CREATE TABLE metrics_v2(run INTEGER NOT NULL, key INTEGER NOT NULL, step INTEGER NOT NULL,"
     "  value REAL, wall REAL NOT NULL, PRIMARY KEY(run, key, step)) WITHOUT ROWID;"
     "INSERT INTO metrics_v2 SELECT m.run, k.id, m.step, m.value, COALESCE(m.wall, 0)"
     "  FROM metrics m JOIN metric_keys k ON k.key = m.key;"
     "DROP TABLE metrics;"
     "ALTER TABLE metrics_v2 RENAME TO metrics;"
     "CREATE TABLE summary(run INTEGER NOT NULL, key INTEGER NOT NULL, last_value REAL,"
     "  last_step INTEGER NOT NULL, last_wall REAL, vmin REAL, min_step INTEGER, vmax REAL,"
     "  PRIMARY KEY(run, key)) WITHOUT ROWID;"
     "INSERT INTO summary SELECT m.run, m.key,"
     "  (SELECT x.value FROM metrics x WHERE x.run = m.run AND x.key = m.key ORDER BY x.step DESC LIMIT 1),"
     "  MAX(m.step),"
     "  (SELECT x.wall FROM metrics x WHERE x.run = m.run AND x.key = m.key ORDER BY x.step DESC LIMIT 1),"
     "  MIN(m.value),"
     "  (SELECT x.step FROM metrics x WHERE x.run = m.run AND x.key = m.key AND x.value IS NOT NULL"
     "     ORDER BY x.value, x.step LIMIT 1),"
     "  MAX(m.value)"
     "  FROM metrics m GROUP BY m.run, m.key;"},
    // v3: run ids are never given twice. INTEGER PRIMARY KEY alone hands out max(id) + 1, so
    // deleting the newest run gave its id to the next one: `repae show 43` could silently mean
    // another run, and the new run met the old one's directory. SQLite can only add
    // AUTOINCREMENT by rebuilding the table; ids are copied as they are, so every row that
    // names a run (tags, metrics, summary, samples, checkpoints, parent) still points at it.
    // The counter starts above every id any table mentions: a deleted run's writer may have
    // left rows for its id behind, and those must not land on a new run.
    {3,
     "CREATE TABLE runs_v3("
     "  id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE, status TEXT NOT NULL,"
     "  config TEXT NOT NULL DEFAULT '{}', created REAL NOT NULL, started REAL, ended REAL,"
     "  heartbeat REAL, pid INTEGER, step INTEGER NOT NULL DEFAULT 0,"
     "  total_steps INTEGER NOT NULL DEFAULT 0, error TEXT, notes TEXT NOT NULL DEFAULT '',"
     "  host TEXT, parent INTEGER, stop_requested INTEGER NOT NULL DEFAULT 0);"
     "INSERT INTO runs_v3(id, name, status, config, created, started, ended, heartbeat, pid, step,"
     "  total_steps, error, notes, host, parent, stop_requested)"
     "  SELECT id, name, status, config, created, started, ended, heartbeat, pid, step,"
     "  total_steps, error, notes, host, parent, stop_requested FROM runs;"
     "DROP TABLE runs;"
     "ALTER TABLE runs_v3 RENAME TO runs;"
     "DELETE FROM sqlite_sequence WHERE name IN ('runs', 'runs_v3');"
     "INSERT INTO sqlite_sequence(name, seq) SELECT 'runs', COALESCE(MAX(x), 0) FROM ("
     "  SELECT MAX(id) AS x FROM runs UNION ALL SELECT MAX(parent) FROM runs"
     "  UNION ALL SELECT MAX(run) FROM tags UNION ALL SELECT MAX(run) FROM metrics"
     "  UNION ALL SELECT MAX(run) FROM summary UNION ALL SELECT MAX(run) FROM samples"
     "  UNION ALL SELECT MAX(run) FROM checkpoints);"},
    // 4: the time a run spent training. Elapsed time used to run from the first start to the
    // end, counting the time a run was down between an interruption and its resume. Older runs
    // get that old figure, the best there is for them.
    {4,
     "ALTER TABLE runs ADD COLUMN active REAL NOT NULL DEFAULT 0;"
     "UPDATE runs SET active = MAX(0, COALESCE(ended, heartbeat, started) - started) WHERE started IS NOT NULL;"},
    // 5: data-parallel runs and the dashboard's preferences. world_size is the number of MPI
    // processes of the run's latest stretch (a resume may change it); NULL for runs written
    // before it was recorded, which then read 0 ("not recorded") rather than a guess of 1.
    // Per-rank throughput is a metric (img_per_s_rank), not a column: it changes over a run
    // and across resumes with another world size, and a metric keeps that history, charts and
    // lists (summary) like every other figure. prefs: small key-value settings of the store
    // as a whole (the dashboard's chart layout).
    {5,
     "ALTER TABLE runs ADD COLUMN world_size INTEGER;"
     "CREATE TABLE prefs(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"},
    // 6: a run's console: the warnings, notes and final error its trainer reported, so that the
    // dashboard shows them for runs in other processes (headless `repae train`, MPI rank 0)
    // as for its own. One row per line, capped per run by the writer (store_console_add).
    {6,
     "CREATE TABLE console(id INTEGER PRIMARY KEY, run INTEGER NOT NULL, wall REAL NOT NULL,"
     "  level TEXT NOT NULL, text TEXT NOT NULL);"
     "CREATE INDEX console_run ON console(run, id);"},
};
#define NMIGRATIONS (int)(sizeof migrations / sizeof migrations[0])
_Static_assert(sizeof migrations / sizeof migrations[0] == STORE_SCHEMA_VERSION,
               "STORE_SCHEMA_VERSION must be the last migration");

static int pragma_int(sqlite3 *db, const char *sql, int *out) {
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) { *out = sqlite3_column_int(st, 0); rc = SQLITE_OK; }
    else if (rc == SQLITE_DONE) { *out = 0; rc = SQLITE_OK; }
    sqlite3_finalize(st);
    return rc;
}

// Runs sql, retrying while another connection holds the lock beyond the busy timeout.
static int exec_retry(sqlite3 *db, const char *sql, char **msg) {
    int rc;
    for (int tries = 0;; tries++) {
        rc = sqlite3_exec(db, sql, NULL, NULL, msg);
        if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || tries >= 20) return rc;
        if (msg && *msg) { sqlite3_free(*msg); *msg = NULL; }
        usleep(50000);
    }
}

int schema_prepare(sqlite3 *db, const char *path, int readonly, char *err) {
    // Only reads until the file is known to be ours: a wrong file must stay byte for byte as it was.
    // One read transaction, so the three values come from the same snapshot even while another
    // process is creating the schema.
    int app = 0, version = 0, ntables = 0;
    int rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    if (rc == SQLITE_OK) rc = pragma_int(db, "PRAGMA application_id", &app);
    if (rc == SQLITE_OK) rc = pragma_int(db, "PRAGMA user_version", &version);
    if (rc == SQLITE_OK) rc = pragma_int(db, "SELECT count(*) FROM sqlite_master", &ntables);
    char why[256]; // COMMIT resets the message
    snprintf(why, sizeof why, "%s", sqlite3_errmsg(db));
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc == SQLITE_NOTADB)
        return seterr(err, "%s is not a repae run store (not a SQLite database); pass another --db path", path);
    if (rc != SQLITE_OK) { seterr(err, "%s: cannot read the store: %s", path, why); return rc; }
    if (app != STORE_APP_ID && (app != 0 || version != 0 || ntables != 0))
        return seterr(err, "%s is a SQLite database of another program (application_id %d, %d tables), "
                           "not a repae run store; pass another --db path", path, app, ntables);
    if (version > STORE_SCHEMA_VERSION)
        return seterr(err, "%s was written by a newer repae (store schema version %d, this build knows up to %d); "
                           "use a newer repae, or another --db path", path, version, STORE_SCHEMA_VERSION);

    if (readonly) {
        if (version < STORE_SCHEMA_VERSION && ntables != 0)
            return seterr(err, "%s: an older store (schema version %d) that cannot be upgraded where it is "
                               "(read-only); copy it to a writable place", path, version);
        if (ntables == 0) return seterr(err, "%s: an empty store on a read-only location", path);
        return 0;
    }
    char *msg = NULL;
    rc = exec_retry(db, "PRAGMA journal_mode=WAL", &msg);
    if (rc == SQLITE_OK) rc = exec_retry(db, "PRAGMA synchronous=NORMAL", &msg);
    if (rc != SQLITE_OK) {
        seterr(err, "%s: cannot switch the store to WAL mode: %s", path, msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return -1;
    }
    for (int i = 0; i < NMIGRATIONS; i++) {
        const Migration *m = &migrations[i];
        if (m->version <= version) continue;
        rc = exec_retry(db, "BEGIN IMMEDIATE", &msg);
        if (rc != SQLITE_OK) goto fail;
        // Another process may have migrated while we waited for the lock.
        rc = pragma_int(db, "PRAGMA user_version", &version);
        if (rc != SQLITE_OK) goto fail_rollback;
        if (m->version <= version) { sqlite3_exec(db, "COMMIT", NULL, NULL, NULL); continue; }
        rc = sqlite3_exec(db, m->sql, NULL, NULL, &msg);
        if (rc != SQLITE_OK) goto fail_rollback;
        char set[96];
        snprintf(set, sizeof set, "PRAGMA user_version=%d; PRAGMA application_id=%d", m->version, STORE_APP_ID);
        rc = sqlite3_exec(db, set, NULL, NULL, &msg);
        if (rc != SQLITE_OK) goto fail_rollback;
        rc = exec_retry(db, "COMMIT", &msg);
        if (rc != SQLITE_OK) goto fail_rollback;
        version = m->version;
        continue;
    fail_rollback:
        seterr(err, "%s: migrating the store to schema version %d failed: %s (nothing was changed)", path,
               m->version, msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    fail:
        seterr(err, "%s: cannot lock the store to migrate it: %s", path, msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}
