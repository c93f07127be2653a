// bench_store.c: the run store at dashboard scale. Fills a temporary store with R runs x S steps
// x 10 metrics (default 200 x 20,000, one transaction per run), then times what the dashboard
// and CLI do most: listing runs with their latest metrics, and loading one run's curves (all
// keys); then the cost of logging through run_hooks, per metrics call on the training thread
// and amortised with the writer's commits.
//   usage: bench_store [--runs R] [--steps S] [--keep DIR]
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "app/run_hooks.h"
#include "store/store.h"
#include "base/util.h"

#define NKEYS 10
static const char *const keys[NKEYS] = {"recon", "kl", "diffusion", "align", "smooth", "total", "latent_std",
                                        "grad_norm_vae", "grad_norm_sit", "lr_sit"};

// CPU time of this process: on a shared machine, wall times include other people's work.
static double cpu_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, n, sizeof *v, cmp_double);
    return v[n / 2];
}

static void die(const char *what, const char *err) {
    fprintf(stderr, "bench_store: %s: %s\n", what, err);
    exit(1);
}

int main(int argc, char **argv) {
    int nruns = 200;
    long nsteps = 20000;
    const char *keep = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) nruns = atoi(argv[++i]);
        else if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc) nsteps = atol(argv[++i]);
        else if (strcmp(argv[i], "--keep") == 0 && i + 1 < argc) keep = argv[++i];
        else { fprintf(stderr, "usage: bench_store [--runs R] [--steps S] [--keep DIR]\n"); return 2; }
    }
    char dir[512], db[600], err[ERRLEN];
    if (keep) snprintf(dir, sizeof dir, "%s", keep);
    else snprintf(dir, sizeof dir, "/tmp/repae_bench_store_%d", (int)getpid());
    if (mkdir_p(dir, err) != 0) die("mkdir", err);
    snprintf(db, sizeof db, "%s/runs.db", dir);
    unlink(db);

    Store *s;
    if (store_open(&s, db, STORE_CREATE, err) != 0) die("open", err);
    size_t nm = (size_t)nsteps * NKEYS;
    StoreMetric *m = xmalloc(nm * sizeof *m);
    double t0 = now_seconds(), c0 = cpu_seconds(), wall0 = wall_seconds();
    int64_t mid = 0;
    for (int r = 0; r < nruns; r++) {
        char name[64], cfg[128];
        snprintf(name, sizeof name, "bench-%03d", r);
        snprintf(cfg, sizeof cfg, "{\"train\":{\"lr\":%g,\"steps\":%ld}}", 1e-4 * (1 + r % 7), nsteps);
        int64_t id;
        if (store_create_run(s, name, cfg, nsteps, 0, "queued", &id, err) != 0) die("create", err);
        if (r == nruns / 2) mid = id;
        size_t j = 0;
        for (long step = 1; step <= nsteps; step++)
            for (int k = 0; k < NKEYS; k++)
                m[j++] = (StoreMetric){keys[k], step, exp(-step / 5000.0) * (k + 1) + 0.01 * sin(step + r),
                                       wall0 + step * 0.05};
        if (store_log_metrics(s, id, m, (int)nm, err) != 0) die("log", err);
        if (store_set_status(s, id, "done", NULL, err) != 0) die("status", err);
        if ((r + 1) % 20 == 0) { fprintf(stderr, "\rfilled %d/%d runs", r + 1, nruns); fflush(stderr); }
    }
    double fill_s = now_seconds() - t0, fill_cpu = cpu_seconds() - c0;
    fprintf(stderr, "\n");
    free(m);
    store_close(s);
    struct stat sb;
    stat(db, &sb);
    double db_mb = sb.st_size / 1e6;

    // Timings on a fresh connection, as a new dashboard or CLI process would have.
    if (store_open(&s, db, 0, err) != 0) die("reopen", err);
    enum { TRIES = 9 };
    double tl[TRIES], tc[TRIES], tcc[TRIES];
    long npoints = 0;
    for (int t = 0; t < TRIES; t++) {
        StoreRun *runs;
        int n;
        double a = now_seconds();
        if (store_list_runs(s, &runs, &n, err) != 0) die("list", err);
        tl[t] = now_seconds() - a;
        if (n != nruns) die("list", "wrong number of runs");
        store_runs_free(runs, n);

        a = now_seconds();
        double ca = cpu_seconds();
        char **k;
        int nk;
        if (store_metric_keys(s, mid, &k, &nk, err) != 0) die("keys", err);
        npoints = 0;
        for (int i = 0; i < nk; i++) {
            StoreSeries ser;
            if (store_series(s, mid, k[i], -1, &ser, err) != 0) die("series", err);
            npoints += ser.n;
            store_series_free(&ser);
        }
        tc[t] = now_seconds() - a;
        tcc[t] = cpu_seconds() - ca;
        store_strings_free(k, nk);
    }
    double first_list = tl[0], first_curves = tc[0];
    double list_ms = median(tl, TRIES) * 1e3, curves_ms = median(tc, TRIES) * 1e3, curves_cpu = median(tcc, TRIES) * 1e3;
    store_close(s);

    // Logging overhead: a training loop calling hooks->metrics with 12 keys per step.
    RunHooks *rh;
    if (run_hooks_open(&rh, db, "bench-logging", "{}", nsteps, err) != 0) die("hooks", err);
    TrainHooks h = run_hooks_get(rh);
    static const char *const lk[12] = {"recon", "kl", "diffusion", "align", "smooth", "total", "latent_std",
                                       "grad_norm_vae", "grad_norm_sit", "lr_vae", "lr_sit", "img_per_s"};
    float vals[12];
    long logsteps = nsteps;
    double call_s = 0, a = now_seconds();
    for (long step = 1; step <= logsteps; step++) {
        for (int i = 0; i < 12; i++) vals[i] = (float)(1.0 / step + i);
        double c0 = now_seconds();
        h.metrics(h.ctx, step, 12, lk, vals);
        call_s += now_seconds() - c0;
    }
    if (run_hooks_flush(rh, err) != 0) die("flush", err);
    double total_s = now_seconds() - a;
    if (run_hooks_finish(rh, "done", NULL) != 0) die("finish", "failed");

    printf("store: %d runs x %ld steps x %d metrics = %.1fM points, %.0f MB on disk\n", nruns, nsteps, NKEYS,
           nruns * (double)nsteps * NKEYS / 1e6, db_mb);
    printf("fill:          %.1f s, %.1f s CPU (%.2fM points/s, one transaction per run)\n", fill_s, fill_cpu,
           nruns * (double)nsteps * NKEYS / fill_s / 1e6);
    printf("list runs:     %.2f ms median (first %.2f ms)    target < 100 ms\n", list_ms, first_list * 1e3);
    printf("one run's curves (%ld points, %d keys): %.1f ms median, %.1f ms CPU (first %.1f ms)    target < 100 ms\n",
           npoints, NKEYS, curves_ms, curves_cpu, first_curves * 1e3);
    printf("logging, 12 metrics per step: %.2f us per call on the training thread, %.2f us per step with "
           "flush (%ld steps)\n", call_s / logsteps * 1e6, total_s / logsteps * 1e6, logsteps);
    const char *step_s = getenv("REPAE_TINY_STEP_S");
    if (step_s && atof(step_s) > 0)
        printf("logging overhead vs a tiny training step of %s s: %.4f%%\n", step_s,
               100.0 * (call_s / logsteps) / atof(step_s));
    if (!keep) {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) fprintf(stderr, "bench_store: could not remove %s\n", dir);
    }
    return 0;
}
