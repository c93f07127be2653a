// test_app_console.c: a run's surroundings through the app layer: run_hooks puts the console
// lines it is given, its own warnings and the final error into the store; the dashboard's
// store backend reads them back, reads the process training a run from /proc (this machine's
// pid, another host, not training, a process that is gone), and refuses a launch on several
// processes clearly when mpirun is missing. mpi_argv carries the flags this machine needs.
#include <signal.h>
#include <sqlite3.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "test.h"
#include "testutil.h"
#include "app/mpi_launch.h"
#include "app/proc_stats.h"
#include "app/run_hooks.h"
#include "app/store_backend.h"
#include "store/store.h"

static char tmp[256];

static UiRun find_run(UiBackend *m, int64_t id) {
    UiRun *rs = NULL, out;
    int k = 0;
    char err[ERRLEN];
    memset(&out, 0, sizeof out);
    if (m->ops->list_runs(m, &rs, &k, err) == 0)
        for (int i = 0; i < k; i++) if (rs[i].id == id) out = rs[i];
    free(rs);
    return out;
}

TEST(run_hooks_write_the_console) {
    char db[300], err[ERRLEN];
    snprintf(db, sizeof db, "%s/hooks.db", tmp);
    RunHooks *rh;
    CHECK(run_hooks_open(&rh, db, "chatty", "{}", 10, err) == 0, "%s", err);
    int64_t id = run_hooks_id(rh);
    run_hooks_set_interval(rh, 0.01);
    run_hooks_note_hook(rh, "building the REPA target cache");
    run_hooks_warn_hook(rh, "checkpoint 40 set aside");
    CHECK(run_hooks_flush(rh, err) == 0, "%s", err);
    // Committed by the writer, while the run trains: another connection sees them.
    Store *s;
    CHECK(store_open(&s, db, 0, err) == 0, "%s", err);
    StoreConsoleLine *l;
    int n;
    CHECK(store_console_lines(s, id, 0, &l, &n, err) == 0 && n == 2, "%d lines while training: %s", n, err);
    CHECK(!strcmp(l[0].level, "note") && !strcmp(l[0].text, "building the REPA target cache") &&
          !strcmp(l[1].level, "warn") && !strcmp(l[1].text, "checkpoint 40 set aside"), "lines %s %s / %s %s",
          l[0].level, l[0].text, l[1].level, l[1].text);
    store_console_free(l, n);
    run_hooks_console(rh, "note", "queued just before the end");
    CHECK(run_hooks_finish(rh, "failed", "loss became NaN at step 7") == 0, "finish");
    CHECK(store_console_lines(s, id, 0, &l, &n, err) == 0 && n == 4, "%d lines after the end", n);
    CHECK(!strcmp(l[2].text, "queued just before the end"), "line 3: %s", l[2].text);
    CHECK(!strcmp(l[3].level, "error") && !strcmp(l[3].text, "loss became NaN at step 7"), "the final error: %s %s",
          l[3].level, l[3].text);
    store_console_free(l, n);
    // A clean end adds no error line.
    CHECK(run_hooks_resume(&rh, db, "chatty", -1, err) == 0, "%s", err);
    CHECK(run_hooks_finish(rh, "stopped", NULL) == 0, "finish");
    CHECK(store_console_lines(s, id, 0, &l, &n, err) == 0 && n == 4, "%d lines after a clean stretch", n);
    store_console_free(l, n);
    // The backend hands them to the screens, and only the new ones after a given id.
    UiBackend *m = store_backend_open(db, err);
    CHECK(m, "%s", err);
    UiConsoleLine *u;
    CHECK(m->ops->console(m, id, 0, &u, &n, err) == 0 && n == 4 && !strcmp(u[3].level, "error"), "backend: %d", n);
    int64_t after = u[1].id;
    free(u);
    CHECK(m->ops->console(m, id, after, &u, &n, err) == 0 && n == 2 && !strcmp(u[0].text, "queued just before the end"),
          "after: %d", n);
    free(u);
    m->ops->close(m);
    store_close(s);
}

TEST(proc_stats_of_this_process) {
    char err[ERRLEN];
    ProcStats a, b;
    CHECK(proc_stats_read((int)getpid(), &a, err) == 0, "%s", err);
    // 0.3 s of this process' CPU time (by its own clock: the machine may be shared), then
    // /proc must have seen about as much.
    volatile double x = 0;
    struct timespec t0, t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
    do {
        for (int i = 0; i < 100000; i++) x += 1e-9;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    } while ((t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) * 1e-9 < 0.3);
    CHECK(proc_stats_read((int)getpid(), &b, err) == 0, "%s", err);
    CHECK(b.cpu_s - a.cpu_s > 0.2 && b.cpu_s - a.cpu_s < 0.6, "0.3 s of CPU read as %.3f s", b.cpu_s - a.cpu_s);
    CHECK(a.rss_bytes > 1e6 && a.rss_bytes < 1e11 && a.threads >= 1 && a.state == 'R', "rss %g threads %d state %c",
          a.rss_bytes, a.threads, a.state);
    // A child that exited and was reaped is gone.
    pid_t c = fork();
    if (c == 0) _exit(0);
    waitpid(c, NULL, 0);
    CHECK(proc_stats_read((int)c, &a, err) != 0 && strstr(err, "gone"), "a reaped child reads: %s", err);
}

static void raw_sql(const char *db, const char *sql) {
    sqlite3 *d;
    sqlite3_open(db, &d);
    sqlite3_exec(d, sql, NULL, NULL, NULL);
    sqlite3_close(d);
}

TEST(backend_reads_the_training_process) {
    char db[300], err[ERRLEN], sql[256];
    snprintf(db, sizeof db, "%s/proc.db", tmp);
    Store *s;
    CHECK(store_open(&s, db, STORE_CREATE, err) == 0, "%s", err);
    int64_t here, remote, done, gone;
    CHECK(store_create_run(s, "here", "{}", 10, 0, "running", &here, err) == 0 &&
          store_create_run(s, "remote", "{}", 10, 0, "running", &remote, err) == 0 &&
          store_create_run(s, "done", "{}", 10, 0, "done", &done, err) == 0 &&
          store_create_run(s, "gone", "{}", 10, 0, "running", &gone, err) == 0, "%s", err);
    // "here" trains in this process as another program would (its pid, this host); "remote" on
    // another machine; "gone" names a process that is no more (and beats, so it reads running).
    CHECK(store_set_status(s, here, "running", NULL, err) == 0 && store_set_status(s, remote, "running", NULL, err) == 0 &&
          store_set_status(s, gone, "running", NULL, err) == 0, "%s", err);
    pid_t c = fork();
    if (c == 0) _exit(0);
    waitpid(c, NULL, 0);
    snprintf(sql, sizeof sql, "UPDATE runs SET host = 'gpu7' WHERE id = %lld; UPDATE runs SET pid = %d WHERE id = %lld;",
             (long long)remote, (int)c, (long long)gone);
    raw_sql(db, sql);
    UiBackend *m = store_backend_open(db, err);
    CHECK(m, "%s", err);
    UiProc p;
    UiRun u = find_run(m, here);
    CHECK(u.pid == (int)getpid() && u.host[0], "UiRun pid %d host '%s'", u.pid, u.host);
    CHECK(m->ops->proc(m, &u, &p, err) == 0 && p.kind == UI_PROC_PID && p.rss_bytes > 1e6 && p.threads >= 1 &&
          p.cpu_s > 0, "this machine's pid: kind %d '%s' rss %g", p.kind, p.what, p.rss_bytes);
    char want[32];
    snprintf(want, sizeof want, "pid %d", (int)getpid());
    CHECK(!strcmp(p.what, want), "'%s', want '%s'", p.what, want);
    u = find_run(m, remote);
    CHECK(m->ops->proc(m, &u, &p, err) == 0 && p.kind == UI_PROC_REMOTE && strstr(p.what, "on host gpu7"),
          "another host: kind %d '%s'", p.kind, p.what);
    u = find_run(m, done);
    CHECK(m->ops->proc(m, &u, &p, err) == 0 && p.kind == UI_PROC_NONE && strstr(p.what, "not training (done)"),
          "a done run: kind %d '%s'", p.kind, p.what);
    u = find_run(m, gone);
    CHECK(m->ops->proc(m, &u, &p, err) == 0 && (p.kind == UI_PROC_GONE || strcmp(u.status, "running")),
          "a dead pid: kind %d '%s' (%s)", p.kind, p.what, u.status);
    m->ops->close(m);
    store_close(s);
}

// A launcher named mpirun (PR_SET_NAME) with two children, as a 2-rank job on this machine:
// seen from either child, both are its ranks and their figures add up.
TEST(ranks_of_a_local_mpi_job) {
    int pfd[2];
    CHECK(pipe(pfd) == 0, "pipe");
    pid_t launcher = fork();
    if (launcher == 0) {
        prctl(PR_SET_NAME, "mpirun");
        pid_t kids[2];
        for (int k = 0; k < 2; k++) {
            kids[k] = fork();
            if (kids[k] == 0) { close(pfd[0]); close(pfd[1]); for (;;) pause(); } // until the test kills it
        }
        if (write(pfd[1], kids, sizeof kids) < 0) _exit(1);
        close(pfd[1]);
        while (wait(NULL) > 0) {}
        _exit(0);
    }
    close(pfd[1]);
    pid_t kids[2] = {0, 0};
    ssize_t got = read(pfd[0], kids, sizeof kids);
    ProcStats sum = {0}, one;
    char err[ERRLEN];
    int n = got == (ssize_t)sizeof kids ? proc_stats_ranks((int)kids[1], &sum) : -1;
    int ok1 = proc_stats_read((int)kids[0], &one, err) == 0;
    int mine = proc_stats_ranks((int)getpid(), &one); // this test's parent is no launcher
    close(pfd[0]);
    for (int k = 0; k < 2; k++) if (kids[k] > 0) kill(kids[k], SIGKILL); // the two this test started
    waitpid(launcher, NULL, 0);
    CHECK(got == (ssize_t)sizeof kids, "the launcher did not report its children");
    CHECK(n == 2 && ok1 && sum.threads == 2 && sum.rss_bytes >= one.rss_bytes && one.ppid > 0,
          "ranks %d (want 2), threads %d", n, sum.threads);
    CHECK(mine == 0, "a process without a launcher has %d ranks", mine);
}

TEST(launch_on_several_processes_without_mpirun) {
    char db[300], err[ERRLEN];
    snprintf(db, sizeof db, "%s/np.db", tmp);
    UiBackend *m = store_backend_open(db, err);
    CHECK(m, "%s", err);
    char *path = getenv("PATH") ? xstrdup(getenv("PATH")) : NULL;
    setenv("PATH", tmp, 1); // nothing in it
    unsetenv("REPAE_MPIRUN");
    int64_t id = 7;
    char *sets[] = {"train.steps=2"};
    int rc = m->ops->launch_np(m, 2, "configs/tiny.json", "np2", 1, sets, &id, err);
    if (path) { setenv("PATH", path, 1); free(path); }
    CHECK(rc != 0 && strstr(err, "mpirun not found") && strstr(err, "openmpi-bin") && id == 0,
          "no mpirun: rc %d id %lld '%s'", rc, (long long)id, err);
    setenv("REPAE_MPIRUN", "/nonexistent/mpirun", 1);
    rc = m->ops->launch_np(m, 2, "configs/tiny.json", "np2", 1, sets, &id, err);
    unsetenv("REPAE_MPIRUN");
    CHECK(rc != 0 && strstr(err, "REPAE_MPIRUN=/nonexistent/mpirun"), "a bad REPAE_MPIRUN: '%s'", err);
    // A bad override is said at once, not in a log.
    char *bad[] = {"train.steps=-4"};
    CHECK(m->ops->launch_np(m, 2, "configs/tiny.json", "np2", 1, bad, &id, err) != 0 && strstr(err, "train.steps"),
          "bad override: '%s'", err);
    UiRun *rs;
    int n;
    CHECK(m->ops->list_runs(m, &rs, &n, err) == 0 && n == 0, "a failed launch left %d runs", n);
    free(rs);
    m->ops->close(m);
}

TEST(mpirun_command_line) {
    char *sets[] = {"train.steps=5", "train.threads=1"};
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    for (int np = 2; np <= (int)cpus + 1; np += (int)cpus - 1 > 0 ? (int)cpus - 1 : 1) {
        char **v = mpi_argv("/usr/bin/mpirun", np, "/x/repae", "/d/runs.db", "/c/tiny.json", "n1", 2, sets);
        char line[1024] = "";
        for (char **p = v; *p; p++) { strcat(line, *p); strcat(line, " "); }
        mpi_argv_free(v);
        char want[128];
        snprintf(want, sizeof want, "/usr/bin/mpirun -np %d ", np);
        CHECK(strstr(line, want) == line, "'%s'", line);
        CHECK(strstr(line, "--oversubscribe"), "np %d on %ld cpus: '%s'", np, cpus, line);
        CHECK(!strstr(line, "--allow-run-as-root") == !(geteuid() == 0), "root flag: '%s'", line);
        CHECK(strstr(line, "--mca btl tcp,self --mca btl_tcp_if_include lo /x/repae --db /d/runs.db train "
                           "/c/tiny.json --name n1 --set train.steps=5 --set train.threads=1 "), "'%s'", line);
    }
}

int main(void) {
    snprintf(tmp, sizeof tmp, "/tmp/repae_test_app_console_%d", (int)getpid());
    char err[ERRLEN];
    if (mkdir_p(tmp, err) != 0) { printf("FAIL setup: %s\n", err); return 1; }
    RUN(run_hooks_write_the_console);
    RUN(proc_stats_of_this_process);
    RUN(backend_reads_the_training_process);
    RUN(ranks_of_a_local_mpi_job);
    RUN(launch_on_several_processes_without_mpirun);
    RUN(mpirun_command_line);
    test_rm_rf(tmp);
    return test_summary();
}
