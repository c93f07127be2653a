// test_store_v5.c: schema version 5 of the run store: a frozen version-4 store migrates in place
// (every row kept, world size "not recorded"), the world size a run records, the per-rank
// throughput read from its metric, and the prefs table (set, replace, remove, kept across
// connections, keys checked).
#include <sqlite3.h>
#include <unistd.h>
#include "store/store.h"
#include "store_fixture.h"
#include "test.h"
#include "testutil.h"

static char tmpdir[256];

#define tpath(name) fixture_path(tmpdir, name)

// A version-4 store as repae wrote it (the schema after migrations 1-4, frozen here): a done
// run with a tag, metrics and summary, a checkpoint; and the AUTOINCREMENT counter at 7.
static const char *v4_sql =
    "PRAGMA application_id=1919967589;"
    "CREATE TABLE tags(run INTEGER NOT NULL, tag TEXT NOT NULL, PRIMARY KEY(run, tag)) WITHOUT ROWID;"
    "CREATE TABLE samples(run INTEGER NOT NULL, step INTEGER NOT NULL, png BLOB NOT NULL,"
    "  w INTEGER NOT NULL, h INTEGER NOT NULL, wall REAL, PRIMARY KEY(run, step));"
    "CREATE TABLE checkpoints(run INTEGER NOT NULL, step INTEGER NOT NULL, weights TEXT,"
    "  state TEXT, wall REAL, PRIMARY KEY(run, step));"
    "CREATE TABLE metric_keys(id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE);"
    "CREATE TABLE metrics(run INTEGER NOT NULL, key INTEGER NOT NULL, step INTEGER NOT NULL,"
    "  value REAL, wall REAL NOT NULL, PRIMARY KEY(run, key, step)) WITHOUT ROWID;"
    "CREATE TABLE summary(run INTEGER NOT NULL, key INTEGER NOT NULL, last_value REAL,"
    "  last_step INTEGER NOT NULL, last_wall REAL, vmin REAL, min_step INTEGER, vmax REAL,"
    "  PRIMARY KEY(run, key)) WITHOUT ROWID;"
    "CREATE TABLE runs("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE, status TEXT NOT NULL,"
    "  config TEXT NOT NULL DEFAULT '{}', created REAL NOT NULL, started REAL, ended REAL,"
    "  heartbeat REAL, pid INTEGER, step INTEGER NOT NULL DEFAULT 0,"
    "  total_steps INTEGER NOT NULL DEFAULT 0, error TEXT, notes TEXT NOT NULL DEFAULT '',"
    "  host TEXT, parent INTEGER, stop_requested INTEGER NOT NULL DEFAULT 0,"
    "  active REAL NOT NULL DEFAULT 0);"
    "INSERT INTO runs VALUES(6, 'v4 run', 'done', '{\"z\":4}', 1700000000, 1700000001, 1700000101,"
    "  1700000101, 99, 40, 40, NULL, 'v4 notes', 'hostB', NULL, 0, 100);"
    "DELETE FROM sqlite_sequence; INSERT INTO sqlite_sequence VALUES('runs', 7);"
    "INSERT INTO tags VALUES(6, 'old');"
    "INSERT INTO metric_keys VALUES(1, 'recon'), (2, 'img_per_s');"
    "INSERT INTO metrics VALUES(6, 1, 20, 0.5, 1700000050), (6, 1, 40, 0.25, 1700000100),"
    "  (6, 2, 40, 12.5, 1700000100);"
    "INSERT INTO summary VALUES(6, 1, 0.25, 40, 1700000100, 0.25, 40, 0.5), (6, 2, 12.5, 40, 1700000100, 12.5, 40, 12.5);"
    "INSERT INTO checkpoints VALUES(6, 40, '/v4/w.safetensors', '/v4/s.bin', 1700000100);"
    "PRAGMA user_version=4;";

TEST(migrates_v4_in_place) {
    char err[ERRLEN];
    const char *path = tpath("v4.db");
    CHECK(fixture_exec(path, v4_sql, err) == 0, "%s", err);
    Store *s;
    CHECK(store_open(&s, path, 0, err) == 0, "%s", err);
    CHECK(store_schema_version(s) == STORE_SCHEMA_VERSION && STORE_SCHEMA_VERSION >= 5, "migrated to %d",
          store_schema_version(s));
    StoreRun r;
    CHECK(store_get_run(s, 6, &r, err) == 0, "%s", err);
    CHECK(strcmp(r.name, "v4 run") == 0 && r.state == RUN_DONE && strcmp(r.config, "{\"z\":4}") == 0 &&
          r.step == 40 && r.active == 100 && strcmp(r.notes, "v4 notes") == 0 && strcmp(r.host, "hostB") == 0 &&
          r.ntags == 1 && r.nlatest == 2, "the v4 run changed in the migration");
    CHECK(r.world_size == 0, "a run from before v5 reads world size %d, want 0 (not recorded)", r.world_size);
    CHECK(isnan(r.ips_rank), "no img_per_s_rank metric, yet ips_rank %g", r.ips_rank);
    store_run_free(&r);
    StoreCheckpoint *c;
    int nc;
    CHECK(store_checkpoints(s, 6, &c, &nc, err) == 0 && nc == 1 && strcmp(c[0].weights, "/v4/w.safetensors") == 0,
          "checkpoint kept");
    store_checkpoints_free(c, nc);
    char *v;
    CHECK(store_pref_get(s, "layout", &v, err) == 0 && v == NULL, "a new prefs table is empty: %s", err);
    CHECK(store_pref_set(s, "layout", "a", err) == 0, "%s", err);
    free(v);
    int64_t id;
    CHECK(store_create_run(s, "v5 run", "{}", 1, 0, "queued", &id, err) == 0 && id == 8, "new id %lld (want 8): %s",
          (long long)id, err);
    CHECK(store_integrity_check(s, err) == 0, "%s", err);
    store_close(s);
    // Reopening does not migrate again or lose what v5 added.
    CHECK(store_open(&s, path, 0, err) == 0 && store_schema_version(s) == STORE_SCHEMA_VERSION, "reopen: %s", err);
    CHECK(store_pref_get(s, "layout", &v, err) == 0 && v && strcmp(v, "a") == 0, "pref lost on reopen");
    free(v);
    store_close(s);
}

TEST(world_size_and_ips_rank) {
    char err[ERRLEN];
    Store *s;
    CHECK(store_open(&s, tpath("world.db"), STORE_CREATE, err) == 0, "%s", err);
    int64_t id;
    CHECK(store_create_run(s, "w", "{}", 10, 0, "running", &id, err) == 0, "%s", err);
    StoreRun r;
    CHECK(store_get_run(s, id, &r, err) == 0 && r.world_size == 0, "new run world %d", r.world_size);
    store_run_free(&r);
    CHECK(store_set_world_size(s, id, 4, err) == 0, "%s", err);
    CHECK(store_set_world_size(s, id, 0, err) != 0 && strstr(err, "at least 1"), "world 0 accepted: %s", err);
    CHECK(store_set_world_size(s, id + 100, 2, err) != 0 && strstr(err, "no run"), "missing run: %s", err);
    StoreMetric m[2] = {{STORE_IPS_RANK_KEY, 1, 7.5, 1}, {STORE_IPS_RANK_KEY, 2, 6.25, 2}};
    CHECK(store_log_metrics(s, id, m, 2, err) == 0, "%s", err);
    StoreRun *runs;
    int n;
    CHECK(store_list_runs(s, &runs, &n, err) == 0 && n == 1, "%s", err);
    CHECK(runs[0].world_size == 4 && runs[0].ips_rank == 6.25, "list: world %d ips_rank %g", runs[0].world_size,
          runs[0].ips_rank);
    store_runs_free(runs, n);
    // A resume with another world size replaces it (the latest stretch's).
    CHECK(store_set_world_size(s, id, 2, err) == 0, "%s", err);
    CHECK(store_get_run(s, id, &r, err) == 0 && r.world_size == 2 && r.ips_rank == 6.25, "get: world %d ips %g",
          r.world_size, r.ips_rank);
    store_run_free(&r);
    store_close(s);
}

TEST(prefs_get_set_remove) {
    char err[ERRLEN];
    Store *s, *t;
    const char *path = tpath("prefs.db");
    CHECK(store_open(&s, path, STORE_CREATE, err) == 0, "%s", err);
    CHECK(store_open(&t, path, 0, err) == 0, "%s", err);
    char *v = (char *)1;
    CHECK(store_pref_get(s, "dash.charts", &v, err) == 0 && v == NULL, "unset key: %s", err);
    CHECK(store_pref_set(s, "dash.charts", "recon,kl", err) == 0, "%s", err);
    CHECK(store_pref_set(s, "dash.charts", "total", err) == 0, "replace: %s", err);
    CHECK(store_pref_set(s, "other", "", err) == 0, "empty value: %s", err);
    CHECK(store_pref_get(t, "dash.charts", &v, err) == 0 && v && strcmp(v, "total") == 0,
          "another connection reads '%s'", v ? v : "(null)");
    free(v);
    CHECK(store_pref_get(t, "other", &v, err) == 0 && v && !*v, "empty value kept as empty");
    free(v);
    CHECK(store_pref_set(t, "dash.charts", NULL, err) == 0, "%s", err);
    CHECK(store_pref_get(s, "dash.charts", &v, err) == 0 && v == NULL, "removed key still reads '%s'", v);
    CHECK(store_pref_set(s, "", "x", err) != 0 && strstr(err, "empty"), "empty key: %s", err);
    CHECK(store_pref_set(s, "a\nb", "x", err) != 0 && strstr(err, "control"), "control char: %s", err);
    char big[STORE_PREF_KEY_MAX + 2];
    memset(big, 'k', sizeof big - 1);
    big[sizeof big - 1] = 0;
    CHECK(store_pref_get(s, big, &v, err) != 0 && strstr(err, "at most"), "long key: %s", err);
    char *huge = xmalloc(STORE_PREF_VALUE_MAX + 2);
    memset(huge, 'v', STORE_PREF_VALUE_MAX + 1);
    huge[STORE_PREF_VALUE_MAX + 1] = 0;
    int rc = store_pref_set(s, "huge", huge, err);
    free(huge);
    CHECK(rc != 0 && strstr(err, "at most"), "huge value: %s", err);
    store_close(t);
    store_close(s);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/repae_test_store_v5_%d", (int)getpid());
    char err[ERRLEN];
    if (mkdir_p(tmpdir, err) != 0) { printf("FAIL setup: %s\n", err); return 1; }
    RUN(migrates_v4_in_place);
    RUN(world_size_and_ips_rank);
    RUN(prefs_get_set_remove);
    test_rm_rf(tmpdir);
    return test_summary();
}
