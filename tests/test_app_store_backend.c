// test_app_store_backend.c: runs trained in threads of the dashboard's store backend, stopped
// while they finish. The UI thread may call stop on a run whose training thread is just ending
// it; the Job and its RunHooks must outlive that (under make asan and make tsan this test is what
// would catch a use after free or a data race), and every run must end in a final status.
#include "test.h"
#include "testutil.h"
#include "app/store_backend.h"
#include "store/store.h"
#include <time.h>
#include <unistd.h>

static char tmp[256];

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static const char *status_of(UiBackend *m, int64_t id, char *buf, size_t n) {
    UiRun *rs = NULL;
    int k = 0;
    char err[ERRLEN];
    snprintf(buf, n, "?");
    if (m->ops->list_runs(m, &rs, &k, err) == 0)
        for (int i = 0; i < k; i++) if (rs[i].id == id) snprintf(buf, n, "%s", rs[i].status);
    free(rs);
    return buf;
}

// Two short runs at a time, and stop hammered on both from the moment they start until the
// backend has reaped them: some stops land mid-run, some while the thread is finishing.
TEST(stop_while_runs_finish) {
    char db[300], err[ERRLEN], name[32], st[32];
    snprintf(db, sizeof db, "%s/jobs.db", tmp);
    UiBackend *m = store_backend_open(db, err);
    CHECK(m, "%s", err);
    char *sets[] = {"train.steps=3", "train.log_every=1", "train.sample_every=0", "train.ckpt_every=2",
                    "train.threads=1"};
    for (int round = 0; round < 6; round++) {
        int64_t ids[2];
        for (int r = 0; r < 2; r++) {
            snprintf(name, sizeof name, "r%d-%d", round, r);
            CHECK(m->ops->launch(m, "configs/tiny.json", name, 5, sets, &ids[r], err) == 0, "launch: %s", err);
        }
        double t0 = now();
        long spins = 0;
        // Early rounds stop at once, later ones let the runs get further before stopping.
        while (m->ops->local_active(m) > 0) {
            if (now() - t0 > 0.02 * round)
                for (int r = 0; r < 2; r++) m->ops->stop(m, ids[r], err), spins++;
            CHECK(now() - t0 < 60, "runs of round %d still active after 60 s", round);
        }
        for (int r = 0; r < 2; r++) {
            status_of(m, ids[r], st, sizeof st);
            CHECK(!strcmp(st, "done") || !strcmp(st, "stopped"), "round %d run %lld ended '%s'", round,
                  (long long)ids[r], st);
        }
        (void)spins;
    }
    // And close with runs still training: close stops and joins them, with checkpoints.
    int64_t id;
    char *longer[] = {"train.steps=200", "train.log_every=1", "train.sample_every=0", "train.ckpt_every=100",
                      "train.threads=1"};
    CHECK(m->ops->launch(m, "configs/tiny.json", "closing", 5, longer, &id, err) == 0, "launch: %s", err);
    usleep(50000);
    m->ops->close(m);
    Store *s;
    CHECK(store_open(&s, db, 0, err) == 0, "%s", err);
    StoreRun r;
    CHECK(store_get_run(s, id, &r, err) == 0, "%s", err);
    int ok = !strcmp(r.status, "stopped") || !strcmp(r.status, "done");
    snprintf(st, sizeof st, "%s", r.status);
    store_run_free(&r);
    store_close(s);
    CHECK(ok, "run closed with the backend ended '%s'", st);
}

// The dashboard's layout lives in the store: a second backend on the same file (the next
// dashboard) reads what the first one set, and the estimate reads the config with overrides.
// A run trained by `mpirun -np 2` (rank 0 records the world size) lists as 2 processes, and one
// from before schema 5 as 0 (not recorded): what the Run screen's header reads.
TEST(world_size_reaches_the_dashboard) {
    char db[300], err[ERRLEN];
    snprintf(db, sizeof db, "%s/world.db", tmp);
    Store *s = NULL;
    CHECK(store_open(&s, db, STORE_CREATE, err) == 0, "%s", err);
    int64_t a = 0, b = 0;
    CHECK(store_create_run(s, "mpi", "{}", 10, 0, "done", &a, err) == 0 && store_set_world_size(s, a, 2, err) == 0, "%s", err);
    CHECK(store_create_run(s, "old", "{}", 10, 0, "done", &b, err) == 0, "%s", err);
    store_close(s);
    UiBackend *m = store_backend_open(db, err);
    CHECK(m, "%s", err);
    UiRun *rs = NULL;
    int k = 0, wa = -1, wb = -1;
    CHECK(m->ops->list_runs(m, &rs, &k, err) == 0, "%s", err);
    for (int i = 0; i < k; i++) {
        if (rs[i].id == a) wa = rs[i].world_size;
        if (rs[i].id == b) wb = rs[i].world_size;
    }
    free(rs);
    m->ops->close(m);
    CHECK(wa == 2 && wb == 0, "world sizes %d (mpi run) and %d (unrecorded)", wa, wb);
}

TEST(layout_kept_in_the_store_and_estimates) {
    char db[300], err[ERRLEN], v[256];
    snprintf(db, sizeof db, "%s/prefs.db", tmp);
    UiBackend *m = store_backend_open(db, err);
    CHECK(m, "%s", err);
    CHECK(!ui_pref_get(m, "run.metrics", v, sizeof v) && !v[0], "a pref never set should be absent");
    ui_pref_set(m, "run.metrics", "total eval.*");
    ui_pref_set(m, "baseline", "7");
    m->ops->close(m);
    m = store_backend_open(db, err);
    CHECK(m, "%s", err);
    CHECK(ui_pref_get(m, "run.metrics", v, sizeof v) && !strcmp(v, "total eval.*"), "run.metrics '%s' after reopening", v);
    CHECK(ui_pref_get(m, "baseline", v, sizeof v) && !strcmp(v, "7"), "baseline '%s' after reopening", v);
    UiEstimate e1, e2;
    char *sets[] = {"train.batch_size=2", "train.steps=17"}, *more[] = {"train.batch_size=8"};
    CHECK(m->ops->estimate(m, "configs/tiny.json", 2, sets, 0, &e1, err) == 0, "%s", err);
    CHECK(m->ops->estimate(m, "configs/tiny.json", 1, more, 0, &e2, err) == 0, "%s", err);
    CHECK(e1.steps == 17 && e1.mem_bytes > 0 && e2.mem_bytes > e1.mem_bytes, "estimates %g (batch 2), %g (batch 8), %ld steps",
          e1.mem_bytes, e2.mem_bytes, e1.steps);
    char *bad[] = {"train.batch_size=0"};
    CHECK(m->ops->estimate(m, "configs/tiny.json", 1, bad, 0, &e1, err) && strstr(err, "batch_size"), "a bad override: '%s'", err);
    m->ops->close(m);
}

int main(void) {
    snprintf(tmp, sizeof tmp, "/tmp/repae_test_app_backend_%d", (int)getpid());
    char err[ERRLEN];
    if (mkdir_p(tmp, err)) { printf("FAIL setup: %s\n", err); return 1; }
    RUN(stop_while_runs_finish);
    RUN(world_size_reaches_the_dashboard);
    RUN(layout_kept_in_the_store_and_estimates);
    test_rm_rf(tmp);
    return test_summary();
}
