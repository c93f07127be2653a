// test_store.c: the run store on its own: schema and migrations (from frozen copies of old
// schemas), refusal of foreign files, runs, metrics, summary, samples, checkpoints, names as
// typed, deletion, ids never given twice, liveness, the status names and the binder.
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "app/run_hooks.h"
#include "store/store.h"
#include "store/store_internal.h"
#include "store_fixture.h"
#include "test.h"
#include "testutil.h"

static char tmpdir[256];

#define tpath(name) fixture_path(tmpdir, name)

static int file_equals(const char *path, const char *data, size_t n) {
    size_t len;
    char err[ERRLEN];
    char *got = read_file(path, &len, err);
    int eq = got && len == n && memcmp(got, data, n) == 0;
    free(got);
    return eq;
}

static int exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

TEST(create_log_list_series) {
    char err[ERRLEN];
    Store *s;
    CHECK(store_open(&s, tpath("a/b/basic.db"), STORE_CREATE, err) == 0, "%s", err);
    CHECK(store_schema_version(s) == STORE_SCHEMA_VERSION, "version %d", store_schema_version(s));
    int64_t id;
    CHECK(store_create_run(s, "first", "{\"a\":1}", 100, 0, "running", &id, err) == 0, "%s", err);
    StoreMetric m[300];
    int n = 0;
    for (long step = 1; step <= 100; step++) {
        m[n++] = (StoreMetric){"recon", step, 1.0 / step, 1000.0 + step};
        m[n++] = (StoreMetric){"kl", step, step == 50 ? NAN : (double)step, 1000.0 + step};
        if (step % 10 == 0) m[n++] = (StoreMetric){"diffusion", step, (step - 40) * (step - 40.0), 1000.0 + step};
    }
    CHECK(store_log_metrics(s, id, m, n / 2, err) == 0, "%s", err);
    CHECK(store_log_metrics(s, id, m + n / 2, n - n / 2, err) == 0, "%s", err);
    StoreRun *runs;
    int nr;
    CHECK(store_list_runs(s, &runs, &nr, err) == 0, "%s", err);
    CHECK(nr == 1 && runs[0].id == id, "%d runs", nr);
    CHECK(strcmp(runs[0].status, "running") == 0, "status %s", runs[0].status);
    CHECK(runs[0].step == 100 && runs[0].total_steps == 100, "step %ld/%ld", runs[0].step, runs[0].total_steps);
    CHECK(runs[0].nlatest == 3, "%d summary keys", runs[0].nlatest);
    const StoreLatest *d = store_run_latest(&runs[0], "diffusion");
    CHECK(d && d->last == 3600 && d->last_step == 100 && d->min == 0 && d->min_step == 40 && d->max == 3600,
          "diffusion summary last %g@%ld min %g@%ld max %g", d ? d->last : -1, d ? d->last_step : -1,
          d ? d->min : -1, d ? d->min_step : -1, d ? d->max : -1);
    const StoreLatest *kl = store_run_latest(&runs[0], "kl");
    CHECK(kl && kl->min == 1 && kl->max == 100, "kl min/max ignore NaN");
    store_runs_free(runs, nr);

    StoreSeries ser;
    CHECK(store_series(s, id, "kl", -1, &ser, err) == 0, "%s", err);
    CHECK(ser.n == 100 && ser.step[0] == 1 && ser.step[99] == 100, "kl series n %ld", ser.n);
    CHECK(isnan(ser.value[49]) && ser.value[50] == 51 && ser.wall[0] == 1001, "NaN kept, values in order");
    store_series_free(&ser);
    CHECK(store_series(s, id, "recon", 90, &ser, err) == 0 && ser.n == 10 && ser.step[0] == 91, "after_step");
    store_series_free(&ser);
    CHECK(store_series(s, id, "nope", -1, &ser, err) == 0 && ser.n == 0, "unknown key is empty");
    char **keys;
    int nk;
    CHECK(store_metric_keys(s, id, &keys, &nk, err) == 0 && nk == 3, "keys");
    CHECK(strcmp(keys[0], "diffusion") == 0 && strcmp(keys[2], "recon") == 0, "keys sorted");
    store_strings_free(keys, nk);

    // Re-logging a step replaces it (resume) and truncation rebuilds the summary.
    StoreMetric again = {"recon", 100, 5.0, 2000.0};
    CHECK(store_log_metrics(s, id, &again, 1, err) == 0, "%s", err);
    CHECK(store_series(s, id, "recon", 99, &ser, err) == 0 && ser.n == 1 && ser.value[0] == 5.0f, "replaced");
    store_series_free(&ser);
    CHECK(store_truncate_after(s, id, 60, err) == 0, "%s", err);
    StoreRun r;
    CHECK(store_get_run(s, id, &r, err) == 0, "%s", err);
    d = store_run_latest(&r, "diffusion");
    CHECK(d && d->last_step == 60 && d->last == 400 && d->max == 900, "summary rebuilt after truncation");
    CHECK(r.step == 60, "run step %ld after truncation", r.step);
    CHECK(strcmp(r.config, "{\"a\":1}") == 0, "config %s", r.config);
    store_run_free(&r);
    CHECK(store_integrity_check(s, err) == 0, "%s", err);
    store_close(s);
}

TEST(names_as_typed) {
    char err[ERRLEN];
    Store *s;
    CHECK(store_open(&s, tpath("names.db"), STORE_CREATE, err) == 0, "%s", err);
    const char *names[] = {"it's \"quoted\"", "with spaces  ", "ünïcødé ✓ 学习", "x'); DROP TABLE runs; --", "42x",
                           "%s%n"};
    int64_t ids[6];
    for (int i = 0; i < 6; i++)
        CHECK(store_create_run(s, names[i], "{}", 10, 0, "queued", &ids[i], err) == 0, "%s: %s", names[i], err);
    int64_t dup;
    CHECK(store_create_run(s, names[0], "{}", 10, 0, "queued", &dup, err) != 0 && strstr(err, "already exists"),
          "duplicate name refused: %s", err);
    for (int i = 0; i < 6; i++) {
        int64_t got;
        CHECK(store_resolve(s, names[i], &got, err) == 0 && got == ids[i], "resolve '%s': %s", names[i], err);
        StoreRun r;
        CHECK(store_get_run(s, got, &r, err) == 0 && strcmp(r.name, names[i]) == 0, "round trip '%s'", names[i]);
        store_run_free(&r);
    }
    char idtext[32];
    snprintf(idtext, sizeof idtext, "%lld", (long long)ids[2]);
    int64_t got;
    CHECK(store_resolve(s, idtext, &got, err) == 0 && got == ids[2], "resolve by id");
    CHECK(store_resolve(s, "no such run", &got, err) != 0 && strstr(err, "no such run"), "missing: %s", err);
    CHECK(store_tag_add(s, ids[3], "tag'x'", err) == 0 && store_tag_add(s, ids[3], "b", err) == 0, "%s", err);
    CHECK(store_set_note(s, ids[3], "note; DELETE FROM runs", err) == 0, "%s", err);
    StoreRun r;
    CHECK(store_get_run(s, ids[3], &r, err) == 0, "%s", err);
    CHECK(r.ntags == 2 && strcmp(r.tags[0], "b") == 0 && strcmp(r.tags[1], "tag'x'") == 0, "tags");
    CHECK(strcmp(r.notes, "note; DELETE FROM runs") == 0, "notes '%s'", r.notes);
    store_run_free(&r);
    StoreRun *runs;
    int n;
    CHECK(store_list_runs(s, &runs, &n, err) == 0 && n == 6, "still 6 runs");
    store_runs_free(runs, n);
    store_close(s);
}

TEST(samples_checkpoints_delete) {
    char err[ERRLEN];
    Store *s;
    CHECK(store_open(&s, tpath("files.db"), STORE_CREATE, err) == 0, "%s", err);
    int64_t id, other;
    CHECK(store_create_run(s, "r", "{}", 10, 0, "queued", &id, err) == 0, "%s", err);
    CHECK(store_create_run(s, "keep", "{}", 10, 0, "queued", &other, err) == 0, "%s", err);
    uint8_t rgb[4 * 3 * 3];
    for (int i = 0; i < 36; i++) rgb[i] = (uint8_t)(i * 7);
    size_t len;
    unsigned char *png = run_hooks_png_rgb(rgb, 4, 3, &len);
    CHECK(png && len > 40 && memcmp(png + 1, "PNG", 3) == 0, "png encoded");
    for (long step = 100; step <= 300; step += 100)
        CHECK(store_add_sample(s, id, step, png, len, 4, 3, err) == 0, "%s", err);
    long *steps;
    int ns;
    CHECK(store_sample_steps(s, id, &steps, &ns, err) == 0 && ns == 3 && steps[2] == 300, "sample steps");
    free(steps);
    unsigned char *blob;
    size_t blen;
    long got;
    int w, h;
    CHECK(store_sample_get(s, id, 250, &got, &blob, &blen, &w, &h, err) == 0, "%s", err);
    CHECK(got == 200 && blen == len && memcmp(blob, png, len) == 0 && w == 4 && h == 3, "sample at or before");
    free(blob);
    CHECK(store_sample_get(s, id, -1, &got, &blob, &blen, &w, &h, err) == 0 && got == 300, "latest sample");
    free(blob);
    CHECK(store_sample_get(s, id, 50, &got, &blob, &blen, &w, &h, err) != 0, "none before the first");
    free(png);

    char dir[512], f[600];
    store_run_dir(s, id, dir, sizeof dir);
    CHECK(mkdir_p(dir, err) == 0, "%s", err);
    snprintf(f, sizeof f, "%s/ckpt.safetensors", dir);
    CHECK(write_file_atomic(f, "x", 1, err) == 0, "%s", err);
    CHECK(store_add_checkpoint(s, id, 200, f, "", err) == 0, "%s", err);
    StoreCheckpoint *c;
    int nc;
    CHECK(store_checkpoints(s, id, &c, &nc, err) == 0 && nc == 1 && c[0].step == 200 && strcmp(c[0].weights, f) == 0,
          "checkpoint recorded");
    store_checkpoints_free(c, nc);
    StoreMetric m = {"recon", 1, 1, 1};
    CHECK(store_log_metrics(s, id, &m, 1, err) == 0 && store_log_metrics(s, other, &m, 1, err) == 0, "%s", err);
    CHECK(store_delete_run(s, id, err) == 0, "%s", err);
    CHECK(!exists(dir), "run directory removed");
    int64_t x;
    CHECK(store_resolve(s, "r", &x, err) != 0, "run gone");
    StoreSeries ser;
    CHECK(store_series(s, id, "recon", -1, &ser, err) == 0 && ser.n == 0, "metrics gone");
    CHECK(store_series(s, other, "recon", -1, &ser, err) == 0 && ser.n == 1, "other run kept");
    store_series_free(&ser);
    store_close(s);
}

TEST(status_and_liveness) {
    char err[ERRLEN];
    Store *s;
    CHECK(store_open(&s, tpath("live.db"), STORE_CREATE, err) == 0, "%s", err);
    int64_t mine, dead;
    CHECK(store_create_run(s, "mine", "{}", 10, 0, "running", &mine, err) == 0, "%s", err);
    // A run marked running by a child that then exits: its pid is gone.
    pid_t pid = fork();
    if (pid == 0) {
        Store *c;
        int64_t id;
        if (store_open(&c, tpath("live.db"), 0, err) != 0) _exit(1);
        if (store_create_run(c, "dead child", "{}", 10, 0, "running", &id, err) != 0) _exit(1);
        store_close(c);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child failed");
    CHECK(store_resolve(s, "dead child", &dead, err) == 0, "%s", err);
    StoreRun r;
    CHECK(store_get_run(s, mine, &r, err) == 0 && strcmp(r.status, "running") == 0 && r.state == RUN_RUNNING &&
          run_status_live(r.state), "live run reads running");
    store_run_free(&r);
    CHECK(store_get_run(s, dead, &r, err) == 0 && strcmp(r.status, "interrupted") == 0 &&
          strcmp(r.stored_status, "running") == 0, "dead run reads interrupted (%s)", r.status);
    CHECK(r.state == RUN_INTERRUPTED && r.stored_state == RUN_RUNNING && !run_status_live(r.state),
          "dead run's state %d stored %d", r.state, r.stored_state);
    store_run_free(&r);
    CHECK(store_reap_dead(s, err) == 1, "reap marks one: %s", err);
    CHECK(store_get_run(s, dead, &r, err) == 0 && strcmp(r.stored_status, "interrupted") == 0, "stored");
    store_run_free(&r);
    CHECK(store_request_stop(s, mine, err) == 0, "%s", err);
    int stop = 0;
    CHECK(store_heartbeat(s, mine, 5, &stop, err) == 0 && stop == 1, "stop flag seen by heartbeat");
    CHECK(store_set_status(s, mine, "stopped", NULL, err) == 0, "%s", err);
    CHECK(store_set_status(s, mine, "bogus", NULL, err) != 0, "unknown status refused");
    CHECK(store_get_run(s, mine, &r, err) == 0 && strcmp(r.status, "stopped") == 0 && r.ended > 0 && r.step == 5,
          "stopped");
    store_run_free(&r);
    store_close(s);
}

// A version-1 store as an older repae wrote it, built by hand.
static const char *v1_sql =
    "PRAGMA application_id=1919967589;"
    "CREATE TABLE runs(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, status TEXT NOT NULL,"
    "  config TEXT NOT NULL DEFAULT '{}', created REAL NOT NULL, started REAL, ended REAL,"
    "  heartbeat REAL, pid INTEGER, step INTEGER NOT NULL DEFAULT 0,"
    "  total_steps INTEGER NOT NULL DEFAULT 0, error TEXT, notes TEXT NOT NULL DEFAULT '');"
    "CREATE TABLE tags(run INTEGER NOT NULL, tag TEXT NOT NULL, PRIMARY KEY(run, tag)) WITHOUT ROWID;"
    "CREATE TABLE metrics(run INTEGER NOT NULL, key TEXT NOT NULL, step INTEGER NOT NULL,"
    "  value REAL, wall REAL, PRIMARY KEY(run, key, step)) WITHOUT ROWID;"
    "CREATE TABLE samples(run INTEGER NOT NULL, step INTEGER NOT NULL, png BLOB NOT NULL,"
    "  w INTEGER NOT NULL, h INTEGER NOT NULL, wall REAL, PRIMARY KEY(run, step));"
    "CREATE TABLE checkpoints(run INTEGER NOT NULL, step INTEGER NOT NULL, weights TEXT,"
    "  state TEXT, wall REAL, PRIMARY KEY(run, step));"
    "INSERT INTO runs(id, name, status, config, created, step, total_steps, notes)"
    "  VALUES(1, 'old run', 'done', '{\"x\":2}', 1700000000, 3, 3, 'from v1');"
    "INSERT INTO tags VALUES(1, 'baseline');"
    "INSERT INTO metrics VALUES(1, 'recon', 1, 0.5, 1700000001), (1, 'recon', 2, 0.25, 1700000002),"
    "  (1, 'recon', 3, 0.375, 1700000003), (1, 'kl', 3, NULL, NULL);"
    "INSERT INTO checkpoints VALUES(1, 3, '/x/w.safetensors', '/x/s.bin', 1700000003);"
    "PRAGMA user_version=1;";

TEST(migrates_v1) {
    char err[ERRLEN];
    const char *path = tpath("v1.db");
    sqlite3 *db;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK, "open");
    CHECK(sqlite3_exec(db, v1_sql, NULL, NULL, NULL) == SQLITE_OK, "v1: %s", sqlite3_errmsg(db));
    sqlite3_close(db);
    Store *s;
    CHECK(store_open(&s, path, 0, err) == 0, "%s", err);
    CHECK(store_schema_version(s) == STORE_SCHEMA_VERSION, "migrated to %d", store_schema_version(s));
    StoreRun r;
    int64_t id;
    CHECK(store_resolve(s, "old run", &id, err) == 0 && id == 1, "%s", err);
    CHECK(store_get_run(s, 1, &r, err) == 0, "%s", err);
    CHECK(strcmp(r.status, "done") == 0 && strcmp(r.config, "{\"x\":2}") == 0 && strcmp(r.notes, "from v1") == 0 &&
          r.ntags == 1 && strcmp(r.tags[0], "baseline") == 0, "run kept");
    const StoreLatest *l = store_run_latest(&r, "recon");
    CHECK(l && l->last == 0.375 && l->last_step == 3 && l->min == 0.25 && l->min_step == 2 && l->max == 0.5,
          "summary built from v1 metrics");
    l = store_run_latest(&r, "kl");
    CHECK(l && isnan(l->last) && isnan(l->min), "NULL kl is NaN");
    store_run_free(&r);
    StoreSeries ser;
    CHECK(store_series(s, 1, "recon", -1, &ser, err) == 0 && ser.n == 3 && ser.value[1] == 0.25f &&
          ser.wall[2] == 1700000003.0, "metrics kept");
    store_series_free(&ser);
    StoreCheckpoint *c;
    int nc;
    CHECK(store_checkpoints(s, 1, &c, &nc, err) == 0 && nc == 1 && strcmp(c[0].state, "/x/s.bin") == 0, "ckpt kept");
    store_checkpoints_free(c, nc);
    // and the migrated store takes new writes
    StoreMetric m = {"recon", 4, 0.125, 1700000004};
    CHECK(store_log_metrics(s, 1, &m, 1, err) == 0, "%s", err);
    int64_t nid;
    CHECK(store_create_run(s, "after v1", "{}", 1, 0, "queued", &nid, err) == 0 && nid == 2, "new id %lld: %s",
          (long long)nid, err);
    CHECK(store_integrity_check(s, err) == 0, "%s", err);
    store_close(s);
    CHECK(store_open(&s, path, 0, err) == 0 && store_schema_version(s) == STORE_SCHEMA_VERSION, "reopen: %s", err);
    store_close(s);
}

// Opens path with plain SQLite and runs sql (frozen old schemas, hand edits).
// A version-2 store as repae wrote it before ids were kept from reuse: runs 1 and 2 (2 a child
// of 1), and rows for run 3 that a deleted run's writer left behind (a metric, a sample).
static const char *v2_sql =
    "PRAGMA application_id=1919967589;"
    "CREATE TABLE runs(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, status TEXT NOT NULL,"
    "  config TEXT NOT NULL DEFAULT '{}', created REAL NOT NULL, started REAL, ended REAL,"
    "  heartbeat REAL, pid INTEGER, step INTEGER NOT NULL DEFAULT 0,"
    "  total_steps INTEGER NOT NULL DEFAULT 0, error TEXT, notes TEXT NOT NULL DEFAULT '', host TEXT,"
    "  parent INTEGER, stop_requested INTEGER NOT NULL DEFAULT 0);"
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
    "INSERT INTO runs VALUES(1, 'base', 'stopped', '{\"y\":1}', 1700000000, 1700000001, 1700000009,"
    "  1700000009, 4242, 20, 100, 'stop asked', 'v2 notes', 'hostA', NULL, 1);"
    "INSERT INTO runs VALUES(2, 'child', 'failed', '{}', 1700000010, NULL, 1700000011, NULL, NULL, 0, 5,"
    "  'out of memory', '', NULL, 1, 0);"
    "INSERT INTO tags VALUES(1, 'keep'), (2, 'x');"
    "INSERT INTO metric_keys VALUES(1, 'kl'), (2, 'recon');"
    "INSERT INTO metrics VALUES(1, 2, 10, 0.5, 1700000002), (1, 2, 20, 0.25, 1700000003),"
    "  (1, 1, 20, NULL, 1700000003), (3, 2, 1, 9.0, 1700000020);"
    "INSERT INTO summary VALUES(1, 2, 0.25, 20, 1700000003, 0.25, 20, 0.5), (1, 1, NULL, 20, 1700000003, NULL, NULL, NULL);"
    "INSERT INTO samples VALUES(1, 20, x'89504e47', 2, 1, 1700000003), (3, 1, x'00', 1, 1, 1700000020);"
    "INSERT INTO checkpoints VALUES(1, 20, '/y/w.safetensors', '/y/s.bin', 1700000003);"
    "PRAGMA user_version=2;";

TEST(migrates_v2_ids_stay) {
    char err[ERRLEN];
    const char *path = tpath("v2.db");
    CHECK(fixture_exec(path, v2_sql, err) == 0, "%s", err);
    Store *s;
    CHECK(store_open(&s, path, 0, err) == 0, "%s", err);
    CHECK(store_schema_version(s) == STORE_SCHEMA_VERSION, "migrated to %d", store_schema_version(s));
    StoreRun r;
    CHECK(store_get_run(s, 1, &r, err) == 0, "%s", err);
    CHECK(strcmp(r.name, "base") == 0 && r.state == RUN_STOPPED && strcmp(r.config, "{\"y\":1}") == 0 &&
          r.created == 1700000000 && r.started == 1700000001 && r.ended == 1700000009 && r.pid == 4242 &&
          strcmp(r.host, "hostA") == 0 && r.step == 20 && r.total_steps == 100 && strcmp(r.error, "stop asked") == 0 &&
          strcmp(r.notes, "v2 notes") == 0 && r.parent == 0 && r.stop_requested == 1,
          "run 1 changed in the migration");
    CHECK(r.ntags == 1 && strcmp(r.tags[0], "keep") == 0 && r.nlatest == 2, "run 1's tags and summary");
    const StoreLatest *l = store_run_latest(&r, "recon");
    CHECK(l && l->last == 0.25 && l->last_step == 20 && l->max == 0.5, "run 1's summary");
    store_run_free(&r);
    CHECK(store_get_run(s, 2, &r, err) == 0 && r.parent == 1 && r.state == RUN_FAILED &&
          strcmp(r.error, "out of memory") == 0 && r.ntags == 1, "run 2 and its parent kept");
    store_run_free(&r);
    StoreSeries ser;
    CHECK(store_series(s, 1, "recon", -1, &ser, err) == 0 && ser.n == 2 && ser.value[1] == 0.25f, "metrics kept");
    store_series_free(&ser);
    StoreCheckpoint *c;
    int nc;
    CHECK(store_checkpoints(s, 1, &c, &nc, err) == 0 && nc == 1 && strcmp(c[0].weights, "/y/w.safetensors") == 0,
          "checkpoints kept");
    store_checkpoints_free(c, nc);
    // Run 3 was deleted but left rows: a new run must not become run 3 and inherit them.
    int64_t id;
    CHECK(store_create_run(s, "new", "{}", 1, 0, "queued", &id, err) == 0, "%s", err);
    CHECK(id == 4, "new run got id %lld, want 4 (above the leftover rows of run 3)", (long long)id);
    CHECK(store_delete_run(s, id, err) == 0, "%s", err);
    CHECK(store_create_run(s, "newer", "{}", 1, 0, "queued", &id, err) == 0 && id == 5, "after delete: id %lld",
          (long long)id);
    CHECK(store_integrity_check(s, err) == 0, "%s", err);
    store_close(s);
}

TEST(ids_never_reused) {
    char err[ERRLEN];
    Store *s;
    const char *path = tpath("ids.db");
    CHECK(store_open(&s, path, STORE_CREATE, err) == 0, "%s", err);
    int64_t id[3], next;
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof name, "r%d", i + 1);
        CHECK(store_create_run(s, name, "{}", 1, 0, "queued", &id[i], err) == 0 && id[i] == i + 1, "id %lld: %s",
              (long long)id[i], err);
    }
    CHECK(store_delete_run(s, 3, err) == 0, "%s", err);
    CHECK(store_create_run(s, "r4", "{}", 1, 0, "queued", &next, err) == 0, "%s", err);
    CHECK(next == 4, "after deleting the newest run 3 the next id is %lld, want 4", (long long)next);
    CHECK(store_resolve(s, "3", &next, err) != 0, "id 3 still resolves");
    // The counter is in the database, not the connection.
    CHECK(store_delete_run(s, 4, err) == 0, "%s", err);
    store_close(s);
    CHECK(store_open(&s, path, 0, err) == 0, "%s", err);
    CHECK(store_create_run(s, "r5", "{}", 1, 0, "queued", &next, err) == 0 && next == 5, "after reopen: %lld",
          (long long)next);
    store_close(s);
}

TEST(status_names) {
    char err[ERRLEN];
    const char *want[] = {"queued", "running", "done", "stopped", "failed", "diverged", "interrupted"};
    CHECK(RUN_STATUS_COUNT == 7, "%d statuses", RUN_STATUS_COUNT);
    for (int i = 0; i < RUN_STATUS_COUNT; i++) {
        RunStatus st;
        CHECK(strcmp(run_status_name((RunStatus)i), want[i]) == 0, "name %d is %s", i, run_status_name((RunStatus)i));
        CHECK(run_status_parse(want[i], &st, err) == 0 && st == (RunStatus)i, "parse %s", want[i]);
        CHECK(run_status_live(st) == (st == RUN_QUEUED || st == RUN_RUNNING), "live %s", want[i]);
    }
    RunStatus st = RUN_DONE;
    CHECK(run_status_parse("Running", &st, err) != 0 && st == RUN_DONE, "case matters, *st untouched");
    CHECK(strstr(err, "'Running'") && strstr(err, "queued, running, done"), "message: %s", err);
    CHECK(run_status_parse("unknown", &st, NULL) != 0 && run_status_parse(NULL, &st, NULL) != 0, "unknown parsed");
    CHECK(strcmp(run_status_name(RUN_STATUS_UNKNOWN), "unknown") == 0 && strcmp(run_status_name((RunStatus)-1),
          "unknown") == 0 && !run_status_live(RUN_STATUS_UNKNOWN), "out of range");

    // The store reads them into StoreRun.state, keeps unknown text readable, refuses to write it.
    Store *s;
    const char *path = tpath("status.db");
    CHECK(store_open(&s, path, STORE_CREATE, err) == 0, "%s", err);
    int64_t a, b;
    CHECK(store_create_run(s, "a", "{}", 1, 0, "queued", &a, err) == 0, "%s", err);
    CHECK(store_create_run(s, "b", "{}", 1, 0, "queued", &b, err) == 0, "%s", err);
    CHECK(store_set_status(s, a, "diverged", "loss is NaN", err) == 0, "%s", err);
    CHECK(store_set_status(s, a, "unknown", NULL, err) != 0 && strstr(err, "unknown run status"), "%s", err);
    CHECK(store_create_run(s, "c", "{}", 1, 0, "paused", &b, err) != 0 && strstr(err, "'paused'"), "%s", err);
    char sql[128];
    snprintf(sql, sizeof sql, "UPDATE runs SET status = 'paused' WHERE id = %lld", (long long)b);
    CHECK(fixture_exec(path, sql, err) == 0, "%s", err); // as a newer repae might write
    StoreRun *runs;
    int n;
    CHECK(store_list_runs(s, &runs, &n, err) == 0 && n == 2, "%s", err);
    CHECK(runs[0].state == RUN_STATUS_UNKNOWN && runs[0].stored_state == RUN_STATUS_UNKNOWN &&
          strcmp(runs[0].status, "paused") == 0, "unknown status read as %d '%s'", runs[0].state, runs[0].status);
    CHECK(runs[1].state == RUN_DIVERGED && runs[1].stored_state == RUN_DIVERGED &&
          strcmp(runs[1].status, "diverged") == 0 && strcmp(runs[1].error, "loss is NaN") == 0, "diverged");
    store_runs_free(runs, n);
    store_close(s);
}

// A binder type list that does not match the statement is a bug: it must abort, not run.
static int binder_aborts(int which, const char *types) {
    pid_t pid = fork();
    if (pid == 0) {
        char err[ERRLEN];
        Store *s;
        if (freopen("/dev/null", "w", stderr) == NULL) _exit(3);
        if (store_open(&s, tpath("bind.db"), 0, err) != 0) _exit(2);
        stmt_bind(s, which, types, (int64_t)1, (int64_t)2);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    return WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;
}

TEST(binder) {
    char err[ERRLEN];
    Store *s;
    CHECK(store_open(&s, tpath("bind.db"), STORE_CREATE, err) == 0, "%s", err);
    int64_t run;
    CHECK(store_create_run(s, "b", "{}", 1, 0, "queued", &run, err) == 0, "%s", err);
    // Every letter: I L i D(NaN) T(NULL) B, read back through the public API.
    long big = 5000000000L; // beyond 32 bits
    const unsigned char blob[5] = {1, 0, 2, 0, 3};
    CHECK(tx_begin(s, err) == 0, "%s", err);
    int ok = stmt_exec(s, S_SAMPLE_INSERT, "ILBiiD", run, big, blob, sizeof blob, 7, 9, NAN) == SQLITE_DONE &&
             stmt_exec(s, S_CKPT_INSERT, "ILTTD", run, big, (const char *)NULL, "st", 1.5) == SQLITE_DONE;
    CHECK(tx_end(s, ok, err) == 0 && ok, "%s", err);
    unsigned char *png;
    size_t len;
    long got;
    int w, h;
    CHECK(store_sample_get(s, run, -1, &got, &png, &len, &w, &h, err) == 0, "%s", err);
    CHECK(got == big && len == sizeof blob && memcmp(png, blob, len) == 0 && w == 7 && h == 9, "sample round trip");
    free(png);
    StoreCheckpoint *c;
    int nc;
    CHECK(store_checkpoints(s, run, &c, &nc, err) == 0 && nc == 1, "%s", err);
    CHECK(c[0].step == big && strcmp(c[0].weights, "") == 0 && strcmp(c[0].state, "st") == 0 && c[0].wall == 1.5,
          "checkpoint round trip");
    store_checkpoints_free(c, nc);
    sqlite3_stmt *st = stmt_bind(s, S_SAMPLE_GET, "IL", run, -1L);
    CHECK(sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_INTEGER, "query bound");
    sqlite3_reset(st);
    st = stmt_bind(s, S_RUN_EXISTS, "I", run); // rebinding resets the statement first
    CHECK(sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) == run, "rebound");
    sqlite3_reset(st);
    store_close(s);
    CHECK(binder_aborts(S_RUN_EXISTS, "II"), "too many types did not abort");
    CHECK(binder_aborts(S_SERIES, "I"), "too few types did not abort");
    CHECK(binder_aborts(S_RUN_EXISTS, "X"), "an unknown letter did not abort");
}

TEST(refuses_foreign_files_unchanged) {
    char err[ERRLEN];
    Store *s;
    // not a database at all
    const char *text = "this is not a database, just some text that is long enough to look at\n";
    const char *p1 = tpath("notes.txt");
    CHECK(write_file_atomic(p1, text, strlen(text), err) == 0, "%s", err);
    CHECK(store_open(&s, p1, STORE_CREATE, err) != 0, "text file opened");
    CHECK(strstr(err, "not a SQLite database"), "message: %s", err);
    CHECK(file_equals(p1, text, strlen(text)), "text file changed");
    CHECK(!exists(tpath("notes.txt-wal")) && !exists(tpath("notes.txt-shm")), "side files created");

    // a repae store from the future
    const char *p2 = tpath("future.db");
    sqlite3 *db;
    CHECK(sqlite3_open(p2, &db) == SQLITE_OK, "open");
    CHECK(sqlite3_exec(db, "PRAGMA application_id=1919967589; CREATE TABLE runs(id INTEGER PRIMARY KEY, hyper TEXT);"
                           "INSERT INTO runs VALUES(1, 'x'); PRAGMA user_version=99;",
                       NULL, NULL, NULL) == SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_close(db);
    size_t n2;
    char *before = read_file(p2, &n2, err);
    CHECK(before, "%s", err);
    int rc = store_open(&s, p2, STORE_CREATE, err);
    int same = file_equals(p2, before, n2);
    free(before);
    CHECK(rc != 0, "future store opened");
    CHECK(strstr(err, "newer repae") && strstr(err, "99"), "message: %s", err);
    CHECK(same, "future store changed");
    CHECK(!exists(tpath("future.db-wal")), "future store switched to WAL");

    // another program's SQLite database
    const char *p3 = tpath("other.db");
    CHECK(sqlite3_open(p3, &db) == SQLITE_OK, "open");
    CHECK(sqlite3_exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES(1);", NULL, NULL, NULL) == SQLITE_OK, "other");
    sqlite3_close(db);
    before = read_file(p3, &n2, err);
    rc = store_open(&s, p3, STORE_CREATE, err);
    same = file_equals(p3, before, n2);
    free(before);
    CHECK(rc != 0 && strstr(err, "another program"), "other db: %s", err);
    CHECK(same, "other db changed");

    // a missing store is not created unless asked
    CHECK(store_open(&s, tpath("missing.db"), 0, err) != 0 && !exists(tpath("missing.db")), "missing created");
    CHECK(store_open(&s, tmpdir, STORE_CREATE, err) != 0 && strstr(err, "directory"), "dir: %s", err);
}

TEST(hooks_write_a_run) {
    char err[ERRLEN];
    RunHooks *rh;
    const char *db = tpath("hooks.db");
    CHECK(run_hooks_open(&rh, db, NULL, "{\"train\":{\"steps\":50}}", 50, err) == 0, "%s", err);
    char want[32];
    snprintf(want, sizeof want, "run-%lld", (long long)run_hooks_id(rh));
    CHECK(strcmp(run_hooks_name(rh), want) == 0, "default name %s", run_hooks_name(rh));
    CHECK(exists(run_hooks_dir(rh)), "run dir made");
    run_hooks_set_interval(rh, 0.01);
    TrainHooks h = run_hooks_get(rh);
    const char *keys[2] = {"recon", "kl"};
    uint8_t img[8 * 8 * 3] = {0};
    for (long step = 1; step <= 50; step++) {
        char kbuf[8] = "kl"; // a key in a reused buffer must still be copied
        const char *k2[2] = {keys[0], kbuf};
        float v[2] = {1.0f / step, (float)step};
        h.metrics(h.ctx, step, 2, k2, v);
        memset(kbuf, 'X', 2);
        if (step % 25 == 0) h.sample(h.ctx, step, img, 8, 8);
        if (step % 25 == 0) h.checkpoint(h.ctx, step, "w.safetensors", "s.bin");
        CHECK(!h.should_stop(h.ctx), "stop too early");
    }
    CHECK(run_hooks_flush(rh, err) == 0, "%s", err);
    CHECK(run_hooks_committed_step(rh) == 50, "committed %ld", run_hooks_committed_step(rh));
    // a stop request from another connection
    Store *s;
    CHECK(store_open(&s, db, 0, err) == 0, "%s", err);
    int64_t id = run_hooks_id(rh);
    CHECK(store_request_stop(s, id, err) == 0, "%s", err);
    double t0 = now_seconds();
    while (!h.should_stop(h.ctx) && now_seconds() - t0 < 5) usleep(5000);
    CHECK(h.should_stop(h.ctx), "stop request not seen");
    CHECK(run_hooks_finish(rh, "stopped", NULL) == 0, "finish");
    StoreRun r;
    CHECK(store_get_run(s, id, &r, err) == 0, "%s", err);
    CHECK(strcmp(r.status, "stopped") == 0 && r.step == 50, "status %s step %ld", r.status, r.step);
    const StoreLatest *kl = store_run_latest(&r, "kl");
    CHECK(kl && kl->last == 50 && r.nlatest == 2, "kl key interned");
    store_run_free(&r);
    long *steps;
    int ns;
    CHECK(store_sample_steps(s, id, &steps, &ns, err) == 0 && ns == 2, "samples %d", ns);
    free(steps);
    // resume: refused while live is covered elsewhere; here continue the stopped run
    CHECK(run_hooks_resume(&rh, db, want, 25, err) == 0, "%s", err);
    CHECK(run_hooks_last_checkpoint(rh) == 50, "last checkpoint %ld", run_hooks_last_checkpoint(rh));
    CHECK(strstr(run_hooks_config(rh), "steps"), "config");
    StoreSeries ser;
    CHECK(store_series(s, id, "recon", -1, &ser, err) == 0 && ser.n == 25, "truncated to 25: %ld", ser.n);
    store_series_free(&ser);
    CHECK(store_get_run(s, id, &r, err) == 0 && strcmp(r.status, "running") == 0 && !r.stop_requested, "running");
    store_run_free(&r);
    CHECK(!h.should_stop(run_hooks_get(rh).ctx), "new hooks start unstopped");
    RunHooks *twice;
    CHECK(run_hooks_resume(&twice, db, want, -1, err) != 0 && strstr(err, "is running"), "resume of a live run: %s",
          err);
    CHECK(run_hooks_finish(rh, "done", NULL) == 0, "finish");
    CHECK(run_hooks_resume(&rh, db, want, -1, err) != 0 && strstr(err, "done"), "resume of done: %s", err);
    store_close(s);
}

// Elapsed time is the time spent training: heartbeats of a live writer add up, and the time a
// run was down (killed, then resumed later) is not counted.
TEST(active_time_excludes_downtime) {
    char err[ERRLEN];
    Store *s;
    CHECK(store_open(&s, tpath("active.db"), STORE_CREATE, err) == 0, "%s", err);
    int64_t id;
    CHECK(store_create_run(s, "a", "{}", 10, 0, "queued", &id, err) == 0, "%s", err);
    CHECK(store_set_status(s, id, "running", NULL, err) == 0, "%s", err);
    usleep(300000);
    CHECK(store_heartbeat(s, id, 1, NULL, err) == 0, "%s", err);
    usleep(1000000); // killed here: no heartbeat, nothing ends the run
    CHECK(store_set_status(s, id, "running", NULL, err) == 0, "%s", err); // resumed
    usleep(300000);
    CHECK(store_set_status(s, id, "done", NULL, err) == 0, "%s", err);
    StoreRun r;
    CHECK(store_get_run(s, id, &r, err) == 0, "%s", err);
    double active = r.active, wall = r.ended - r.started;
    store_run_free(&r);
    store_close(s);
    CHECK(active > 0.55 && active < 1.2 && wall > 1.5, "active %.3f s of %.3f s wall (want ~0.6)", active, wall);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/repae_test_store_%d", (int)getpid());
    char err[ERRLEN];
    if (mkdir_p(tmpdir, err) != 0) { printf("FAIL setup: %s\n", err); return 1; }
    RUN(create_log_list_series);
    RUN(names_as_typed);
    RUN(samples_checkpoints_delete);
    RUN(status_and_liveness);
    RUN(migrates_v1);
    RUN(migrates_v2_ids_stay);
    RUN(ids_never_reused);
    RUN(status_names);
    RUN(binder);
    RUN(refuses_foreign_files_unchanged);
    RUN(hooks_write_a_run);
    RUN(active_time_excludes_downtime);
    test_rm_rf(tmpdir);
    return test_summary();
}
