// mpi_launch.c: see mpi_launch.h. The double fork leaves no child for the dashboard to reap
// and makes init the launcher's parent, so it lives on when the dashboard exits; the session
// of its own keeps the terminal's SIGHUP away from it. A close-on-exec pipe tells the parent
// whether the exec happened, so a failure is an error on the Launch screen and not a silent
// log line.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "app/mpi_launch.h"
#include "base/util.h"

int mpi_launcher_find(char *out, size_t n, char *err) {
    const char *env = getenv("REPAE_MPIRUN");
    if (env && *env) {
        if (access(env, X_OK) == 0) { snprintf(out, n, "%s", env); return 0; }
        return seterr(err, "REPAE_MPIRUN=%s is not an executable file: point it at mpirun, or unset it", env);
    }
    const char *path = getenv("PATH");
    char dir[PATH_MAX];
    for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
        const char *e = strchr(p, ':');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        snprintf(dir, sizeof dir, "%.*s/mpirun", (int)l, l ? p : ".");
        if (access(dir, X_OK) == 0) { snprintf(out, n, "%s", dir); return 0; }
        if (!e) break;
        p = e + 1;
    }
    return seterr(err, "mpirun not found on PATH: install Open MPI (sudo apt-get install -y openmpi-bin "
                       "libopenmpi-dev) to train on several processes, or launch on 1 process");
}

char **mpi_argv(const char *mpirun, int np, const char *bin, const char *db, const char *config, const char *name,
                int nset, char *const *sets) {
    char **v = xcalloc((size_t)(24 + 2 * nset), sizeof *v);
    int k = 0;
    char npbuf[16];
    snprintf(npbuf, sizeof npbuf, "%d", np);
    v[k++] = xstrdup(mpirun);
    v[k++] = xstrdup("-np");
    v[k++] = xstrdup(npbuf);
    // Always: Open MPI counts one slot per core it sees (hwloc's view, which a container's CPU
    // limit or hyperthreads can make smaller than expected) and refuses more ranks than slots;
    // oversubscribed ranks also yield when idle, which a machine shared with the dashboard wants.
    v[k++] = xstrdup("--oversubscribe");
    if (geteuid() == 0) v[k++] = xstrdup("--allow-run-as-root");
    const char *mca[] = {"--mca", "btl", "tcp,self", "--mca", "btl_tcp_if_include", "lo"};
    for (int i = 0; i < 6; i++) v[k++] = xstrdup(mca[i]);
    v[k++] = xstrdup(bin);
    v[k++] = xstrdup("--db");
    v[k++] = xstrdup(db);
    v[k++] = xstrdup("train");
    v[k++] = xstrdup(config);
    v[k++] = xstrdup("--name");
    v[k++] = xstrdup(name);
    for (int i = 0; i < nset; i++) { v[k++] = xstrdup("--set"); v[k++] = xstrdup(sets[i]); }
    v[k] = NULL;
    return v;
}

void mpi_argv_free(char **argv) {
    if (!argv) return;
    for (char **p = argv; *p; p++) free(*p);
    free(argv);
}

int mpi_spawn_detached(char *const *argv, const char *log, char *err) {
    int logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (logfd < 0) return seterr(err, "cannot create the launch log %s: %s", log, strerror(errno));
    int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int pfd[2];
    if (nullfd < 0 || pipe2(pfd, O_CLOEXEC) != 0) {
        int e = errno;
        close(logfd);
        if (nullfd >= 0) close(nullfd);
        return seterr(err, "cannot prepare the launch: %s", strerror(e));
    }
    pid_t child = fork();
    if (child < 0) {
        int e = errno;
        close(logfd); close(nullfd); close(pfd[0]); close(pfd[1]);
        return seterr(err, "cannot start %s: fork: %s", argv[0], strerror(e));
    }
    if (child == 0) {
        // Only async-signal-safe calls from here on (the dashboard has threads).
        if (setsid() < 0) _exit(126);
        pid_t g = fork();
        if (g != 0) _exit(g < 0 ? 126 : 0);
        dup2(nullfd, 0);
        dup2(logfd, 1);
        dup2(logfd, 2);
        // The dashboard's signal dispositions must not leak into the run (SIGINT/SIGHUP ignored
        // or caught there): back to the defaults, nothing blocked.
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        for (int sig = 1; sig < 32; sig++) if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, NULL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execv(argv[0], argv);
        int e = errno;
        if (write(pfd[1], &e, sizeof e) < 0) {}
        _exit(127);
    }
    close(pfd[1]);
    close(logfd);
    close(nullfd);
    int st = 0;
    while (waitpid(child, &st, 0) < 0 && errno == EINTR) {}
    int e = 0;
    ssize_t r;
    while ((r = read(pfd[0], &e, sizeof e)) < 0 && errno == EINTR) {}
    close(pfd[0]);
    if (r == (ssize_t)sizeof e) return seterr(err, "cannot run %s: %s", argv[0], strerror(e));
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) return seterr(err, "cannot start %s in its own session", argv[0]);
    return 0;
}

int mpi_launch_settle(Store *s, const char *name, const char *log, const char *cmd, int64_t *id, char *err) {
    char e2[ERRLEN];
    int64_t got;
    if (store_resolve(s, name, &got, e2) != 0) return 0; // not there yet (or a read error: next time)
    *id = got;
    char dir[PATH_MAX], dst[PATH_MAX + 16], note[PATH_MAX + ERRLEN + 700];
    store_run_dir(s, got, dir, sizeof dir);
    struct stat sb;
    if (stat(dir, &sb) != 0) return 0; // the row is there, its directory a moment later
    snprintf(dst, sizeof dst, "%s/mpirun.log", dir);
    // The launcher keeps writing to the open file: a rename moves it without a gap.
    const char *where = rename(log, dst) == 0 ? dst : log;
    snprintf(note, sizeof note, "started by the dashboard: %s; its output (the command first) in %s", cmd, where);
    StoreConsoleLine l = {.level = "note", .text = note};
    if (store_console_add(s, got, &l, 1, err) != 0) return -1;
    return 1;
}

void mpi_log_tail(const char *log, char *out, size_t n) {
    out[0] = 0;
    FILE *f = fopen(log, "r");
    if (!f) return;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        size_t l = strlen(line);
        while (l && (line[l - 1] == '\n' || line[l - 1] == '\r' || line[l - 1] == ' ')) line[--l] = 0;
        if (l) snprintf(out, n, "%s", line);
    }
    fclose(f);
}
