// test_store_v6.c: schema version 6 of the run store: a frozen version-5 store migrates in
// place (its runs and prefs kept, an empty console), and a run's console lines: written and
// read back in order, read incrementally, levels checked, long lines cut, capped per run (the
// oldest go), kept apart per run and deleted with the run.
#include <sqlite3.h>
#include <unistd.h>
#include "store/store.h"
#include "store_fixture.h"
#include "test.h"
#include "testutil.h"

static char tmpdir[256];

#define tpath(name) fixture_path(tmpdir, name)

// A version-5 store as repae wrote it (the schema after migrations 1-5, frozen here): a done
// run with a world size, a metric, a pref; the AUTOINCREMENT counter at 9.
static const char *v5_sql =
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
    "  active REAL NOT NULL DEFAULT 0, world_size INTEGER);"
    "CREATE TABLE prefs(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
    "INSERT INTO runs VALUES(8, 'v5 run', 'failed', '{\"z\":5}', 1700000000, 1700000001, 1700000101,"
    "  1700000101, 99, 40, 80, 'boom', '', 'hostB', NULL, 0, 100, 2);"
    "DELETE FROM sqlite_sequence; INSERT INTO sqlite_sequence VALUES('runs', 9);"
    "INSERT INTO metric_keys VALUES(1, 'recon');"
    "INSERT INTO metrics VALUES(8, 1, 40, 0.25, 1700000100);"
    "INSERT INTO summary VALUES(8, 1, 0.25, 40, 1700000100, 0.25, 40, 0.25);"
    "INSERT INTO prefs VALUES('run.metrics', 'total');"
    "PRAGMA user_version=5;";

static StoreConsoleLine line(const char *level, const char *text) {
    StoreConsoleLine l = {0};
    snprintf(l.level, sizeof l.level, "%s", level);
    l.text = (char *)text;
    return l;
}

TEST(migrates_v5_in_place) {
    char err[ERRLEN];
    const char *path = tpath("v5.db");
    CHECK(fixture_exec(path, v5_sql, err) == 0, "%s", err);
    Store *s;
    CHECK(store_open(&s, path, 0, err) == 0, "%s", err);
    CHECK(store_schema_version(s) == STORE_SCHEMA_VERSION && STORE_SCHEMA_VERSION >= 6, "migrated to %d",
          store_schema_version(s));
    StoreRun r;
    CHECK(store_get_run(s, 8, &r, err) == 0, "%s", err);
    CHECK(strcmp(r.name, "v5 run") == 0 && r.stored_state == RUN_FAILED && r.world_size == 2 && r.step == 40 &&
          strcmp(r.error, "boom") == 0 && r.nlatest == 1, "the v5 run changed in the migration");
    store_run_free(&r);
    char *v = NULL;
    CHECK(store_pref_get(s, "run.metrics", &v, err) == 0 && v && !strcmp(v, "total"), "pref lost");
    free(v);
    StoreConsoleLine *l;
    int n;
    CHECK(store_console_lines(s, 8, 0, &l, &n, err) == 0 && n == 0, "an old run has no console: %d (%s)", n, err);
    store_console_free(l, n);
    StoreConsoleLine a = line("error", "boom");
    CHECK(store_console_add(s, 8, &a, 1, err) == 0, "%s", err);
    int64_t id;
    CHECK(store_create_run(s, "v6 run", "{}", 1, 0, "queued", &id, err) == 0 && id == 10, "new id %lld: %s",
          (long long)id, err);
    CHECK(store_integrity_check(s, err) == 0, "%s", err);
    store_close(s);
    CHECK(store_open(&s, path, 0, err) == 0 && store_schema_version(s) == STORE_SCHEMA_VERSION, "reopen: %s", err);
    CHECK(store_console_lines(s, 8, 0, &l, &n, err) == 0 && n == 1 && !strcmp(l[0].text, "boom"),
          "console lost on reopen (%d lines)", n);
    store_console_free(l, n);
    store_close(s);
}

TEST(console_lines_in_order_and_incremental) {
    char err[ERRLEN];
    Store *s;
    CHECK(store_open(&s, tpath("console.db"), STORE_CREATE, err) == 0, "%s", err);
    int64_t a, b;
    CHECK(store_create_run(s, "a", "{}", 10, 0, "running", &a, err) == 0, "%s", err);
    CHECK(store_create_run(s, "b", "{}", 10, 0, "running", &b, err) == 0, "%s", err);
    StoreConsoleLine in[3] = {line("note", "building the cache"), line("warn", "checkpoint 40 set aside"),
                              line("error", "out of memory")};
    in[0].wall = 1234.5;
    CHECK(store_console_add(s, a, in, 2, err) == 0, "%s", err);
    StoreConsoleLine ob = line("note", "run b");
    CHECK(store_console_add(s, b, &ob, 1, err) == 0, "%s", err);
    CHECK(store_console_add(s, a, in + 2, 1, err) == 0, "%s", err);
    StoreConsoleLine *l;
    int n;
    CHECK(store_console_lines(s, a, 0, &l, &n, err) == 0 && n == 3, "%d lines: %s", n, err);
    for (int i = 0; i < 3; i++)
        CHECK(!strcmp(l[i].level, in[i].level) && !strcmp(l[i].text, in[i].text), "line %d: %s %s", i, l[i].level,
              l[i].text);
    CHECK(l[0].wall == 1234.5 && l[1].wall > 1e9, "walls %g %g (given, then now)", l[0].wall, l[1].wall);
    CHECK(l[0].id < l[1].id && l[1].id < l[2].id, "ids not increasing");
    int64_t after = l[1].id;
    store_console_free(l, n);
    CHECK(store_console_lines(s, a, after, &l, &n, err) == 0 && n == 1 && !strcmp(l[0].text, "out of memory"),
          "after id: %d lines", n);
    store_console_free(l, n);
    CHECK(store_console_lines(s, b, 0, &l, &n, err) == 0 && n == 1 && !strcmp(l[0].text, "run b"), "run b: %d", n);
    store_console_free(l, n);
    StoreConsoleLine bad = line("debug", "x");
    CHECK(store_console_add(s, a, &bad, 1, err) != 0 && strstr(err, "debug") && strstr(err, "error, warn, note"),
          "an unknown level was accepted: %s", err);
    // A long line is cut at the limit, on a character boundary.
    char *big = xmalloc(STORE_CONSOLE_LINE_MAX * 2);
    memset(big, 'x', STORE_CONSOLE_LINE_MAX * 2 - 1);
    big[STORE_CONSOLE_LINE_MAX * 2 - 1] = 0;
    memcpy(big + STORE_CONSOLE_LINE_MAX - 1, "\xc3\xa9", 2); // é across the limit
    StoreConsoleLine lg = line("warn", big);
    CHECK(store_console_add(s, b, &lg, 1, err) == 0, "%s", err);
    free(big);
    CHECK(store_console_lines(s, b, 0, &l, &n, err) == 0 && n == 2, "%d", n);
    CHECK(strlen(l[1].text) == STORE_CONSOLE_LINE_MAX - 1, "long line kept %zu bytes (want %d)", strlen(l[1].text),
          STORE_CONSOLE_LINE_MAX - 1);
    store_console_free(l, n);
    // Deleting a run deletes its console, and only its.
    CHECK(store_delete_run(s, b, err) == 0, "%s", err);
    CHECK(store_console_lines(s, b, 0, &l, &n, err) == 0 && n == 0, "deleted run keeps %d lines", n);
    store_console_free(l, n);
    CHECK(store_console_lines(s, a, 0, &l, &n, err) == 0 && n == 3, "the other run lost lines: %d", n);
    store_console_free(l, n);
    store_close(s);
}

TEST(console_capped_per_run) {
    char err[ERRLEN];
    Store *s;
    CHECK(store_open(&s, tpath("cap.db"), STORE_CREATE, err) == 0, "%s", err);
    int64_t a, b;
    CHECK(store_create_run(s, "chatty", "{}", 10, 0, "running", &a, err) == 0, "%s", err);
    CHECK(store_create_run(s, "quiet", "{}", 10, 0, "running", &b, err) == 0, "%s", err);
    StoreConsoleLine q = line("note", "quiet line");
    CHECK(store_console_add(s, b, &q, 1, err) == 0, "%s", err);
    // Three and a half caps' worth, in batches of 50 and one by one.
    int total = STORE_CONSOLE_MAX * 7 / 2;
    char texts[50][32];
    StoreConsoleLine batch[50];
    for (int k = 0; k < total;) {
        int m = k % 3 ? 1 : 50;
        if (k + m > total) m = total - k;
        for (int i = 0; i < m; i++) {
            snprintf(texts[i], sizeof texts[i], "line %d", k + i);
            batch[i] = line("warn", texts[i]);
        }
        CHECK(store_console_add(s, a, batch, m, err) == 0, "%s", err);
        k += m;
    }
    StoreConsoleLine *l;
    int n;
    CHECK(store_console_lines(s, a, 0, &l, &n, err) == 0 && n == STORE_CONSOLE_MAX, "kept %d lines, cap %d", n,
          STORE_CONSOLE_MAX);
    char want[32];
    snprintf(want, sizeof want, "line %d", total - STORE_CONSOLE_MAX);
    CHECK(!strcmp(l[0].text, want), "oldest kept '%s', want '%s'", l[0].text, want);
    snprintf(want, sizeof want, "line %d", total - 1);
    CHECK(!strcmp(l[n - 1].text, want), "newest '%s', want '%s'", l[n - 1].text, want);
    store_console_free(l, n);
    CHECK(store_console_lines(s, b, 0, &l, &n, err) == 0 && n == 1, "the quiet run's line went with the cap: %d", n);
    store_console_free(l, n);
    store_close(s);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/repae_test_store_v6_%d", (int)getpid());
    char err[ERRLEN];
    if (mkdir_p(tmpdir, err) != 0) { printf("FAIL setup: %s\n", err); return 1; }
    RUN(migrates_v5_in_place);
    RUN(console_lines_in_order_and_incremental);
    RUN(console_capped_per_run);
    test_rm_rf(tmpdir);
    return test_summary();
}
