// test_store_crash.c: a child process logging a run through run_hooks is killed with SIGKILL
// at random moments, 20 times (the first kill can land while it creates the store itself).
// After each kill: the store passes PRAGMA integrity_check, every step the child saw committed
// is there with the right values, and the run reads "interrupted". Each new child resumes the
// run where the store says it was; a last one finishes it.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include "app/run_hooks.h"
#include "store/store.h"
#include "base/rng.h"
#include "test.h"
#include "testutil.h"

#define NKEYS 3
#define ROUNDS 20
static char db[256];
static const char *const keys[NKEYS] = {"recon", "kl", "total"};

static float value_of(long step, int k) { return (float)step * 0.5f + (float)k; }

// The child: resumes (or creates) the run "crash", logs `limit` more steps (0: until killed),
// and writes each newly committed step to fd.
static void child(int fd, long limit) {
    char err[ERRLEN];
    RunHooks *rh;
    if (run_hooks_resume(&rh, db, "crash", -1, err) != 0 &&
        run_hooks_open(&rh, db, "crash", "{\"what\":\"crash test\"}", 1000000, err) != 0) {
        fprintf(stderr, "child: %s\n", err);
        _exit(1);
    }
    run_hooks_set_interval(rh, 0.01);
    Store *s;
    StoreRun r;
    if (store_open(&s, db, 0, err) != 0 || store_get_run(s, run_hooks_id(rh), &r, err) != 0) {
        fprintf(stderr, "child: %s\n", err);
        _exit(1);
    }
    long start = r.step + 1;
    store_run_free(&r);
    store_close(s);
    TrainHooks h = run_hooks_get(rh);
    long reported = -1;
    uint8_t img[16 * 16 * 3];
    memset(img, 90, sizeof img);
    for (long step = start; limit == 0 || step < start + limit; step++) {
        float v[NKEYS];
        for (int k = 0; k < NKEYS; k++) v[k] = value_of(step, k);
        h.metrics(h.ctx, step, NKEYS, keys, v);
        if (step % 50 == 0) h.sample(h.ctx, step, img, 16, 16);
        long c = run_hooks_committed_step(rh);
        if (c != reported) {
            reported = c;
            if (write(fd, &c, sizeof c) != sizeof c) _exit(3);
        }
        usleep(100);
    }
    if (run_hooks_finish(rh, "done", NULL) != 0) _exit(2);
    _exit(0);
}

// Checks the store after a kill; returns 0 or -1 with err. *last gets the run's step.
static int check_store(long committed, const char *want_status, long *last, char *err) {
    Store *s;
    if (store_open(&s, db, 0, err) != 0) {
        // killed before the store existed (or while it was being created) is fine
        return committed < 0 ? 0 : -1;
    }
    int rc = -1;
    if (store_integrity_check(s, err) != 0) goto out;
    int64_t id;
    if (store_resolve(s, "crash", &id, err) != 0) { rc = committed < 0 ? 0 : -1; goto out; }
    StoreRun r;
    if (store_get_run(s, id, &r, err) != 0) goto out;
    int status_ok = strcmp(r.status, want_status) == 0;
    if (!status_ok) seterr(err, "run reads '%s' (stored '%s'), want '%s'", r.status, r.stored_status, want_status);
    *last = r.step;
    store_run_free(&r);
    if (!status_ok) goto out;
    for (int k = 0; k < NKEYS; k++) {
        StoreSeries ser;
        if (store_series(s, id, keys[k], -1, &ser, err) != 0) goto out;
        long bad = -1;
        if (ser.n < committed) bad = ser.n;
        for (long j = 0; bad < 0 && j < ser.n; j++)
            if (ser.step[j] != j + 1 || ser.value[j] != value_of(j + 1, k)) bad = j;
        if (bad >= 0) {
            seterr(err, "%s: %ld points, committed %ld, first bad index %ld", keys[k], ser.n, committed, bad);
            store_series_free(&ser);
            goto out;
        }
        store_series_free(&ser);
    }
    rc = 0;
out:
    store_close(s);
    return rc;
}

TEST(sigkill_at_random_moments) {
    Rng rng;
    rng_seed(&rng, 1234);
    char err[ERRLEN];
    long total_committed = -1, last = 0;
    int kills_after_commit = 0;
    for (int round = 0; round < ROUNDS; round++) {
        int fds[2];
        CHECK(pipe(fds) == 0, "pipe");
        pid_t pid = fork();
        CHECK(pid >= 0, "fork");
        if (pid == 0) { close(fds[0]); child(fds[1], 0); }
        close(fds[1]);
        // The first round can be killed while the store is created; later ones at any point.
        int ms = round == 0 ? 3 : 20 + (int)(rng_uniform(&rng) * 180);
        usleep(ms * 1000);
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        CHECK(WIFSIGNALED(st), "round %d: child exited on its own (status %d)", round, WEXITSTATUS(st));
        long c, committed = -1;
        while (read(fds[0], &c, sizeof c) == sizeof c) committed = c;
        close(fds[0]);
        if (committed > 0) kills_after_commit++;
        CHECK(check_store(committed, "interrupted", &last, err) == 0, "round %d (killed after %d ms, committed %ld): %s",
              round, ms, committed, err);
        CHECK(last >= committed, "round %d: run at step %ld, child saw %ld committed", round, last, committed);
        if (committed > total_committed) total_committed = committed;
    }
    CHECK(kills_after_commit >= ROUNDS / 2, "only %d kills after a commit: timing too short", kills_after_commit);
    // the last child resumes and finishes the run
    pid_t pid = fork();
    if (pid == 0) child(open("/dev/null", O_WRONLY), 100);
    int st;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "final child failed (status %d)", st);
    long before = last;
    CHECK(check_store(before + 100, "done", &last, err) == 0, "after finishing: %s", err);
    CHECK(last == before + 100, "finished at %ld, want %ld", last, before + 100);
}

int main(void) {
    char dir[200], err[ERRLEN];
    snprintf(dir, sizeof dir, "/tmp/repae_test_store_crash_%d", (int)getpid());
    if (mkdir_p(dir, err) != 0) { printf("FAIL setup: %s\n", err); return 1; }
    snprintf(db, sizeof db, "%s/runs.db", dir);
    RUN(sigkill_at_random_moments);
    test_rm_rf(dir);
    return test_summary();
}
