// test_store_concurrent.c: several runs writing at once (4 threads in this process and 2
// forked processes, each through run_hooks with its own connection) while 2 reader threads
// poll like a dashboard, all starting on a store that does not exist yet. Every metric must
// arrive exactly once and nobody may see an error (no "database is locked").
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>
#include "app/run_hooks.h"
#include "store/store.h"
#include "test.h"
#include "testutil.h"

#define NSTEPS 3000
#define NKEYS 4
#define NTHREADS 4
#define NPROCS 2
#define NREADERS 2

static char db[256];
static const char *const keys[NKEYS] = {"recon", "kl", "diffusion", "align"};
static atomic_int writers_left, reader_errors, reads_done;
static char reader_err[ERRLEN];

static float value_of(int writer, long step, int k) { return (float)(writer * 100000 + step) + 0.25f * k; }

// Writes one run; returns 0 or -1 with err.
static int write_run(int writer, char *err) {
    char name[64];
    snprintf(name, sizeof name, "writer %d 'w'", writer);
    RunHooks *rh;
    if (run_hooks_open(&rh, db, name, "{}", NSTEPS, err) != 0) return -1;
    run_hooks_set_interval(rh, 0.02); // many commits, so writers really contend
    TrainHooks h = run_hooks_get(rh);
    for (long step = 1; step <= NSTEPS; step++) {
        float v[NKEYS];
        for (int k = 0; k < NKEYS; k++) v[k] = value_of(writer, step, k);
        h.metrics(h.ctx, step, NKEYS, keys, v);
        if (step % 20 == 0) usleep(2000); // spread the run over ~0.3 s
    }
    char e2[ERRLEN];
    run_hooks_last_error(rh, e2);
    if (e2[0]) { seterr(err, "writer %d saw: %s", writer, e2); run_hooks_finish(rh, "failed", e2); return -1; }
    return run_hooks_finish(rh, "done", NULL) == 0 ? 0 : seterr(err, "writer %d: finish failed", writer);
}

static char thread_err[NTHREADS][ERRLEN];
static void *writer_thread(void *arg) {
    int w = (int)(intptr_t)arg;
    if (write_run(w, thread_err[w]) != 0) {}
    else thread_err[w][0] = 0;
    atomic_fetch_sub(&writers_left, 1);
    return NULL;
}

static void *reader_thread(void *arg) {
    (void)arg;
    char err[ERRLEN];
    Store *s = NULL;
    // The store may not exist yet: the writers create it.
    while (atomic_load(&writers_left) > 0 && store_open(&s, db, 0, err) != 0) usleep(1000);
    if (!s && store_open(&s, db, 0, err) != 0) goto fail;
    long last[64] = {0};
    while (atomic_load(&writers_left) > 0) {
        StoreRun *runs;
        int n;
        if (store_list_runs(s, &runs, &n, err) != 0) goto fail;
        for (int i = 0; i < n; i++) {
            long *lp = &last[runs[i].id % 64];
            StoreSeries ser;
            // incremental polling, as the dashboard does
            if (store_series(s, runs[i].id, "kl", *lp, &ser, err) != 0) { store_runs_free(runs, n); goto fail; }
            for (long j = 0; j < ser.n; j++)
                if (ser.step[j] <= *lp) { seterr(err, "series went backwards"); store_runs_free(runs, n); goto fail; }
            if (ser.n) *lp = ser.step[ser.n - 1];
            store_series_free(&ser);
        }
        store_runs_free(runs, n);
        atomic_fetch_add(&reads_done, 1);
        usleep(1000);
    }
    store_close(s);
    return NULL;
fail:
    snprintf(reader_err, sizeof reader_err, "%s", err);
    atomic_fetch_add(&reader_errors, 1);
    if (s) store_close(s);
    return NULL;
}

TEST(writers_and_readers_at_once) {
    atomic_store(&writers_left, NTHREADS + NPROCS);
    pid_t pids[NPROCS];
    for (int p = 0; p < NPROCS; p++) {
        pids[p] = fork();
        if (pids[p] == 0) {
            char err[ERRLEN];
            if (write_run(NTHREADS + p, err) != 0) { fprintf(stderr, "child: %s\n", err); _exit(1); }
            _exit(0);
        }
    }
    pthread_t th[NTHREADS], rd[NREADERS];
    for (int r = 0; r < NREADERS; r++) pthread_create(&rd[r], NULL, reader_thread, NULL);
    for (int t = 0; t < NTHREADS; t++) pthread_create(&th[t], NULL, writer_thread, (void *)(intptr_t)t);
    int child_fail = 0;
    for (int p = 0; p < NPROCS; p++) {
        int st;
        waitpid(pids[p], &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) child_fail++;
        atomic_fetch_sub(&writers_left, 1);
    }
    for (int t = 0; t < NTHREADS; t++) pthread_join(th[t], NULL);
    for (int r = 0; r < NREADERS; r++) pthread_join(rd[r], NULL);
    CHECK(child_fail == 0, "%d writer processes failed", child_fail);
    for (int t = 0; t < NTHREADS; t++) CHECK(thread_err[t][0] == 0, "%s", thread_err[t]);
    CHECK(atomic_load(&reader_errors) == 0, "reader error: %s", reader_err);
    CHECK(atomic_load(&reads_done) > 10, "readers barely ran (%d)", atomic_load(&reads_done));

    char err[ERRLEN];
    Store *s;
    CHECK(store_open(&s, db, 0, err) == 0, "%s", err);
    CHECK(store_integrity_check(s, err) == 0, "%s", err);
    StoreRun *runs;
    int n;
    CHECK(store_list_runs(s, &runs, &n, err) == 0, "%s", err);
    CHECK(n == NTHREADS + NPROCS, "%d runs", n);
    int bad = 0;
    char why[256] = "";
    for (int i = 0; i < n; i++) {
        int w = -1;
        sscanf(runs[i].name, "writer %d", &w);
        if (strcmp(runs[i].status, "done") != 0 || runs[i].step != NSTEPS) {
            bad++;
            snprintf(why, sizeof why, "%s: %s at %ld", runs[i].name, runs[i].status, runs[i].step);
        }
        for (int k = 0; k < NKEYS; k++) {
            StoreSeries ser;
            if (store_series(s, runs[i].id, keys[k], -1, &ser, err) != 0) { bad++; continue; }
            if (ser.n != NSTEPS) { bad++; snprintf(why, sizeof why, "%s %s: %ld points", runs[i].name, keys[k], ser.n); }
            for (long j = 0; j < ser.n && j < NSTEPS; j++)
                if (ser.step[j] != j + 1 || ser.value[j] != value_of(w, j + 1, k)) {
                    bad++;
                    snprintf(why, sizeof why, "%s %s: point %ld is step %ld value %g", runs[i].name, keys[k], j,
                             ser.step[j], ser.value[j]);
                    break;
                }
            store_series_free(&ser);
        }
    }
    store_runs_free(runs, n);
    store_close(s);
    CHECK(bad == 0, "%d problems, e.g. %s", bad, why);
}

int main(void) {
    char dir[200], err[ERRLEN];
    snprintf(dir, sizeof dir, "/tmp/repae_test_store_conc_%d", (int)getpid());
    if (mkdir_p(dir, err) != 0) { printf("FAIL setup: %s\n", err); return 1; }
    snprintf(db, sizeof db, "%s/runs.db", dir);
    RUN(writers_and_readers_at_once);
    test_rm_rf(dir);
    return test_summary();
}
