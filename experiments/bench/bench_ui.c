// bench_ui.c: the dashboard at scale, headless (no terminal: app_render into a cell buffer,
// which is all the drawing work but the terminal writes). Fills a temporary store with R runs
// x S steps (default 200 x 20,000) of the six charted metrics, then times:
//   - the first frame: opening the store, the Runs screen's first poll and its render;
//   - the Run screen of one 20k-step run: its first frame (loading the curves) and a redraw;
//   - the Compare screen with 8 runs: its first frame (loading 8 x 6 curves) and a redraw;
// and finally a tiny training run's step time with and without a dashboard polling and
// drawing the same store at 10 frames a second from another thread.
//   usage: bench_ui [--runs R] [--steps S] [--db PATH (reuse or keep a filled store)]
//                   [--train-steps N] [--no-train]
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "ui/app.h"
#include "app/store_backend.h"
#include "base/config.h"
#include "app/run_hooks.h"
#include "store/store.h"
#include "train/train.h"
#include "base/util.h"

#define NKEYS 7
static const char *const keys[NKEYS] = {"recon", "kl", "diffusion", "align", "smooth", "total", "latent_std"};

static void die(const char *what, const char *err) {
    fprintf(stderr, "bench_ui: %s: %s\n", what, err);
    exit(1);
}

static double cpu_seconds(clockid_t id) {
    struct timespec t;
    clock_gettime(id, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

// Noisy decaying curves with the odd spike and NaN, like real losses.
static void fill(const char *db, int nruns, long nsteps) {
    char err[ERRLEN];
    Store *s;
    if (store_open(&s, db, STORE_CREATE, err)) die("open", err);
    size_t nm = (size_t)nsteps * NKEYS;
    StoreMetric *m = xmalloc(nm * sizeof *m);
    double t0 = now_seconds(), wall0 = wall_seconds() - nsteps * 0.05;
    for (int r = 0; r < nruns; r++) {
        char name[64], cfg[160];
        snprintf(name, sizeof name, "bench-%03d", r);
        snprintf(cfg, sizeof cfg, "{\"train\":{\"lr\":%g,\"steps\":%ld},\"loss\":{\"w_align\":%g}}", 1e-4 * (1 + r % 7),
                 nsteps, 0.5 * (r % 3));
        int64_t id;
        if (store_create_run(s, name, cfg, nsteps, 0, "queued", &id, err)) die("create", err);
        size_t j = 0;
        for (long step = 1; step <= nsteps; step++)
            for (int k = 0; k < NKEYS; k++) {
                double v = (k + 1) * (0.2 + exp(-step / 4000.0)) * (1 + 0.05 * sin(step * 0.7 + r + k));
                if ((step + r) % 5003 == 0) v *= 3;     // a spike
                if ((step * 7 + r) % 9973 == 0) v = NAN; // a gap
                m[j++] = (StoreMetric){keys[k], step, v, wall0 + step * 0.05};
            }
        if (store_log_metrics(s, id, m, (int)nm, err)) die("log", err);
        if (store_set_status(s, id, "done", NULL, err)) die("status", err);
        if ((r + 1) % 20 == 0) { fprintf(stderr, "\rfilled %d/%d runs (%.0f s)", r + 1, nruns, now_seconds() - t0); fflush(stderr); }
    }
    fprintf(stderr, "\n");
    free(m);
    store_close(s);
}

static CellBuf frame_buf;
static void render(App *a, int w, int h) {
    if (frame_buf.w != w || frame_buf.h != h) cb_resize(&frame_buf, w, h);
    app_render(a, &frame_buf);
}

// ---- a dashboard watching a training run (another thread) ----------------------------------
typedef struct {
    const char *db;
    int64_t run;        // the run to open on the Run screen (0: stay on Runs)
    volatile int quit;
    long frames;
    double cpu;         // this thread's CPU seconds
} Watcher;

static void *watch_main(void *arg) {
    Watcher *w = arg;
    char err[ERRLEN];
    UiBackend *m = store_backend_open(w->db, err);
    if (!m) die("watcher open", err);
    App *a = app_headless_new(m);
    app_push(a, screen_runs_new(a));
    CellBuf b;
    cb_init(&b, 160, 48);
    double c0 = cpu_seconds(CLOCK_THREAD_CPUTIME_ID);
    while (!w->quit) {
        if (w->run && app_depth(a) == 1) {
            // wait until the run exists, then watch its curves as a person would
            UiRun *runs = NULL;
            int n = 0;
            if (m->ops->list_runs(m, &runs, &n, err) == 0)
                for (int i = 0; i < n; i++) if (runs[i].id == w->run) app_push(a, screen_run_new(a, w->run));
            free(runs);
        }
        app_tick(a);     // polls the store (rate-limited inside the screens, as in the dashboard)
        app_render(a, &b);
        w->frames++;
        usleep(100000);  // the dashboard's redraw cap: 10 frames a second
    }
    w->cpu = cpu_seconds(CLOCK_THREAD_CPUTIME_ID) - c0;
    cb_free(&b);
    app_headless_free(a);
    m->ops->close(m);
    return NULL;
}

// One tiny training run of nsteps in the store at db; returns seconds per step (wall).
static double train_once(const char *db, int nsteps, int watch, double *watch_cpu, long *frames) {
    char err[ERRLEN];
    Config cfg;
    config_defaults(&cfg);
    if (config_load(&cfg, "configs/tiny.json", err)) die("config", err);
    cfg.train.steps = nsteps;
    cfg.train.sample_every = nsteps / 2;  // one sample mid-run (and the final one), as a run has
    cfg.train.ckpt_every = 0;
    cfg.train.log_every = 1;              // every step: the most the dashboard has to follow
    if (config_validate(&cfg, err)) die("config", err);
    char *json = config_to_json(&cfg);
    RunHooks *rh;
    if (run_hooks_open(&rh, db, NULL, json, nsteps, err)) die("hooks", err);
    free(json);
    Watcher w = {db, run_hooks_id(rh), 0, 0, 0};
    pthread_t th;
    if (watch && pthread_create(&th, NULL, watch_main, &w)) die("thread", "cannot start the watcher");
    if (watch) usleep(300000); // let it open the Run screen first
    TrainHooks h = run_hooks_get(rh);
    double t0 = now_seconds();
    TrainStatus st = train_run(&cfg, run_hooks_dir(rh), 0, &h, err);
    double dt = now_seconds() - t0;
    run_hooks_finish(rh, train_status_name(st), NULL);
    if (st != TRAIN_DONE) die("train", err);
    if (watch) {
        w.quit = 1;
        pthread_join(th, NULL);
        *watch_cpu = w.cpu;
        *frames = w.frames;
    }
    return dt / nsteps;
}

int main(int argc, char **argv) {
    int nruns = 200, train_steps = 150, do_train = 1;
    long nsteps = 20000;
    const char *keep = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--runs") && i + 1 < argc) nruns = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc) nsteps = atol(argv[++i]);
        else if (!strcmp(argv[i], "--db") && i + 1 < argc) keep = argv[++i];
        else if (!strcmp(argv[i], "--train-steps") && i + 1 < argc) train_steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-train")) do_train = 0;
        else { fprintf(stderr, "usage: bench_ui [--runs R] [--steps S] [--db PATH] [--train-steps N] [--no-train]\n"); return 2; }
    }
    char dir[512], db[600], err[ERRLEN];
    if (keep) snprintf(db, sizeof db, "%s", keep);
    else {
        snprintf(dir, sizeof dir, "/tmp/repae_bench_ui_%d", (int)getpid());
        if (mkdir_p(dir, err)) die("mkdir", err);
        snprintf(db, sizeof db, "%s/runs.db", dir);
    }
    struct stat sb;
    double fill_s = 0;
    if (stat(db, &sb) != 0) {
        double t0 = now_seconds();
        fill(db, nruns, nsteps);
        fill_s = now_seconds() - t0;
    } else fprintf(stderr, "bench_ui: reusing %s\n", db);
    cb_init(&frame_buf, 0, 0);
    const int W = 160, H = 48;
    enum { TRIES = 7 };

    // First frame: what `repae` does before anything is on screen (minus initscr).
    double first[TRIES], first_cpu[TRIES], runs_redraw[TRIES];
    int64_t ids[8] = {0};
    int nids = 0;
    for (int t = 0; t < TRIES; t++) {
        double a0 = now_seconds(), ca = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID);
        UiBackend *m = store_backend_open(db, err);
        if (!m) die("open", err);
        App *a = app_headless_new(m);
        app_push(a, screen_runs_new(a));
        render(a, W, H);
        first[t] = now_seconds() - a0;
        first_cpu[t] = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID) - ca;
        a0 = now_seconds();
        render(a, W, H);
        runs_redraw[t] = now_seconds() - a0;
        if (t == 0) {
            UiRun *runs;
            int n;
            if (m->ops->list_runs(m, &runs, &n, err)) die("list", err);
            for (int i = 0; i < n && nids < 8; i++) if (runs[i].step >= nsteps) ids[nids++] = runs[i].id;
            free(runs);
        }
        app_headless_free(a);
        m->ops->close(m);
    }
    if (nids < 8) die("store", "fewer than 8 finished runs");

    UiBackend *m = store_backend_open(db, err);
    if (!m) die("open", err);
    App *a = app_headless_new(m);
    app_push(a, screen_runs_new(a));
    // Run screen: load, then redraws (a key press, the elapsed clock ticking, a resize).
    double t0 = now_seconds(), c0 = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID);
    app_push(a, screen_run_new(a, ids[0]));
    render(a, W, H);
    double run_first = now_seconds() - t0, run_first_cpu = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID) - c0;
    double run_redraw[TRIES];
    for (int t = 0; t < TRIES; t++) { t0 = now_seconds(); render(a, W, H); run_redraw[t] = now_seconds() - t0; }
    app_pop(a);
    // Compare 8 runs.
    t0 = now_seconds();
    c0 = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID);
    app_push(a, screen_compare_new(a, ids, 8));
    double cmp_load = now_seconds() - t0, cmp_load_cpu = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID) - c0;
    render(a, W, H);
    double cmp_first = now_seconds() - t0, cmp_first_cpu = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID) - c0;
    double cmp_redraw[TRIES], cmp_resize[TRIES], cmp_resize_cpu[TRIES], cmp_cpu[TRIES];
    for (int t = 0; t < TRIES; t++) {
        double c0 = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID);
        t0 = now_seconds();
        render(a, W, H);
        cmp_redraw[t] = now_seconds() - t0;
        cmp_cpu[t] = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID) - c0;
    }
    for (int t = 0; t < TRIES; t++) { // every frame at a new size: nothing cached fits
        t0 = now_seconds();
        c0 = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID);
        render(a, W - 1 - t % 2, H);
        cmp_resize[t] = now_seconds() - t0;
        cmp_resize_cpu[t] = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID) - c0;
    }
    app_feed_key(a, '2');
    double tbl[TRIES];
    for (int t = 0; t < TRIES; t++) { t0 = now_seconds(); render(a, W, H); tbl[t] = now_seconds() - t0; }
    app_headless_free(a);
    m->ops->close(m);

    printf("store: %d runs x %ld steps x %d metrics%s\n", nruns, nsteps, NKEYS, fill_s > 0 ? "" : " (reused)");
    if (fill_s > 0) printf("fill: %.1f s\n", fill_s);
    printf("first frame (open store, Runs screen, render %dx%d): %.1f ms median, %.1f ms CPU (first %.1f ms)"
           "    target < 300 ms\n", W, H, median(first, TRIES) * 1e3, median(first_cpu, TRIES) * 1e3, first[0] * 1e3);
    printf("Runs redraw: %.2f ms median\n", median(runs_redraw, TRIES) * 1e3);
    printf("Run screen, one run of %ld steps: first frame %.1f ms, %.1f ms CPU (loads 7 curves), redraw %.2f ms median\n",
           nsteps, run_first * 1e3, run_first_cpu * 1e3, median(run_redraw, TRIES) * 1e3);
    printf("Compare, 8 runs x 6 metrics x %ld steps: first frame %.1f ms, %.1f ms CPU; of which loading the 48 curves "
           "%.1f ms, %.1f ms CPU\n", nsteps, cmp_first * 1e3, cmp_first_cpu * 1e3, cmp_load * 1e3, cmp_load_cpu * 1e3);
    printf("Compare redraw: %.2f ms median, %.2f ms CPU    target < 30 ms\n", median(cmp_redraw, TRIES) * 1e3,
           median(cmp_cpu, TRIES) * 1e3);
    printf("Compare redraw at a new size each frame (resize): %.2f ms median, %.2f ms CPU\n", median(cmp_resize, TRIES) * 1e3,
           median(cmp_resize_cpu, TRIES) * 1e3);
    printf("Compare table view redraw: %.2f ms median\n", median(tbl, TRIES) * 1e3);
    fflush(stdout);

    if (do_train) {
        // A/B/A/B...: alone, then watched; medians of the step times. The load on a shared
        // machine drifts, so the pairs are interleaved rather than run as two blocks.
        enum { PAIRS = 3 };
        double alone[PAIRS], watched[PAIRS], wcpu = 0, wall_watched = 0;
        long frames = 0;
        train_once(db, 20, 0, NULL, NULL); // warm-up (page cache, BLAS buffers)
        for (int p = 0; p < PAIRS; p++) {
            double c;
            long f;
            alone[p] = train_once(db, train_steps, 0, NULL, NULL);
            watched[p] = train_once(db, train_steps, 1, &c, &f);
            wcpu += c;
            frames += f;
            wall_watched += watched[p] * train_steps;
            fprintf(stderr, "pair %d: alone %.2f ms/step, watched %.2f ms/step\n", p, alone[p] * 1e3, watched[p] * 1e3);
        }
        double ma = median(alone, PAIRS), mw = median(watched, PAIRS);
        printf("tiny training step (%d steps, log every step): alone %.2f ms, watched by a dashboard %.2f ms: %+.1f%%"
               "    target < 2%%\n", train_steps, ma * 1e3, mw * 1e3, 100 * (mw - ma) / ma);
        printf("the watching dashboard: %ld frames, %.1f%% of one core (%.2f ms CPU per frame)\n", frames,
               100 * wcpu / (wall_watched + 1e-9), frames ? wcpu / frames * 1e3 : 0);
    }
    cb_free(&frame_buf);
    if (!keep) {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) fprintf(stderr, "bench_ui: could not remove %s\n", dir);
    }
    return 0;
}
