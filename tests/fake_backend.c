// fake_backend.c: a UiBackend on generated data (see fake_backend.h), so the screens can be developed and
// tested without a store or training. Curves are smooth functions of the step with
// deterministic noise; "running" runs advance with wall time.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fake_backend.h"
#include "base/util.h"

typedef struct {
    UiRun r;
    double t0;       // wall time of step 0
    double rate;     // steps per second while running
    float lr;        // differs between runs, so Compare has a key to show
    int align;       // 0 none, 1 repa
} FakeRun;

typedef struct {
    UiBackend base;
    FakeRun *runs;
    int n;
    int64_t next_id;
    UiPrefs prefs;
} Fake;

// The losses, then the other metrics a run logs (the metric picker charts any of them); run 5's
// latents collapse (latent_sstd falls 10x below its peak, collapse becomes 1 at step 600).
static const char *keys[] = {"recon", "kl", "diffusion", "align", "smooth", "total", "latent_std",
                             "latent_sstd", "collapse", "grad_norm_vae", "lr_sit", "eval.fd"};
#define NKEYS 12

static float noise(int64_t id, long step, int k) {
    uint64_t h = (uint64_t)id * 0x9E3779B97F4A7C15ull ^ (uint64_t)step * 0xBF58476D1CE4E5B9ull ^ (uint64_t)k * 0x94D049BB133111EBull;
    h ^= h >> 31; h *= 0xD6E8FEB86659FD93ull; h ^= h >> 32;
    return (float)((h & 0xFFFF) / 65535.0 - 0.5);
}

static float value(const FakeRun *f, long step, int k) {
    double d = exp(-step / (800.0 + 200 * (f->r.id % 3)));
    double z = noise(f->r.id, step, k);
    switch (k) {
    case 0: return (float)((0.25 * d + 0.03) * (1 + 0.3 * z));
    case 1: return (float)(0.5 + 0.8 * (1 - d) + 0.05 * z);
    case 2: return (float)((0.9 * d + 0.35) * (1 + 0.4 * z) + (step % 997 == 0 ? 1.5 : 0)); // rare spikes
    case 3: return f->align ? (float)(-0.2 - 0.5 * (1 - d) + 0.03 * z) : NAN;
    case 4: return (float)(0.01 * d + 0.002 + 0.001 * z);
    case 5: return value(f, step, 0) + 1e-3f * value(f, step, 1) + value(f, step, 2) +
                   (f->align ? 0.5f * value(f, step, 3) : 0);
    case 6: return (float)(1.0 + 0.2 * d + 0.01 * z);
    case 7: return f->r.id == 5 ? (float)(step < 600 ? 0.8 : 0.05) : (float)(0.8 + 0.1 * d);
    case 8: return f->r.id == 5 && step >= 600 ? 1.0f : 0.0f;
    case 9: return (float)(2.0 * d + 0.5 + 0.2 * z);
    case 10: return (float)(f->lr * fmin(1.0, step / 200.0));
    default: return (float)(20.0 + 100.0 * d + f->r.id);
    }
}

static void advance(FakeRun *f) {
    if (strcmp(f->r.status, "running")) return;
    long s = (long)((wall_seconds() - f->t0) * f->rate);
    if (s >= f->r.total_steps) { s = f->r.total_steps; strcpy(f->r.status, "done"); f->r.ended = wall_seconds(); f->r.local = 0; }
    f->r.step = s;
    f->r.heartbeat = wall_seconds();
    f->r.active = (f->r.ended > 0 ? f->r.ended : f->r.heartbeat) - f->r.started;
}

static void fill_latest(FakeRun *f) {
    f->r.nlatest = 0;
    long s = f->r.step - f->r.step % 10;
    for (int k = 0; k < NKEYS; k++) {
        UiLatest *l = &f->r.latest[f->r.nlatest++];
        snprintf(l->key, sizeof l->key, "%s", keys[k]);
        l->last = value(f, s, k);
        l->last_step = s;
        // the true best so far over the logged points (every 10 steps), as the store keeps it
        l->min = l->max = l->last;
        l->min_step = s;
        for (long st = 0; st <= s; st += 10) {
            float v = value(f, st, k);
            if (!isfinite(v)) continue;
            if (v < l->min) { l->min = v; l->min_step = st; }
            if (v > l->max) l->max = v;
        }
    }
    UiLatest *l = &f->r.latest[f->r.nlatest++];
    snprintf(l->key, sizeof l->key, "img_per_s");
    l->last = f->rate * 16;
    l->last_step = s;
}

static int list_runs(UiBackend *m, UiRun **out, int *n, char *err) {
    (void)err;
    Fake *fk = (Fake *)m;
    *out = xmalloc(sizeof(UiRun) * (size_t)(fk->n + 1));
    for (int i = 0; i < fk->n; i++) {
        FakeRun *f = &fk->runs[fk->n - 1 - i];
        advance(f);
        fill_latest(f);
        (*out)[i] = f->r;
    }
    *n = fk->n;
    return 0;
}

static FakeRun *find(Fake *fk, int64_t id, char *err) {
    for (int i = 0; i < fk->n; i++)
        if (fk->runs[i].r.id == id) return &fk->runs[i];
    seterr(err, "run %lld does not exist (deleted?)", (long long)id);
    return NULL;
}

static int config(UiBackend *m, int64_t id, char **json, char *err) {
    FakeRun *f = find((Fake *)m, id, err);
    if (!f) return -1;
    char buf[1024];
    snprintf(buf, sizeof buf,
             "{\n  \"data\": {\"dataset\": \"shapes\", \"image_size\": 16},\n  \"vae\": {\"ch\": [32, 64], \"z_channels\": 4},\n"
             "  \"align\": {\"kind\": \"%s\", \"depth\": 2},\n  \"train\": {\"steps\": %ld, \"batch_size\": 16, \"lr\": %g}\n}\n",
             f->align ? "repa" : "none", f->r.total_steps, f->lr);
    *json = xstrdup(buf);
    return 0;
}

static int series_append(UiBackend *m, int64_t id, const char *key, UiSeries *s, char *err) {
    FakeRun *f = find((Fake *)m, id, err);
    if (!f) return -1;
    int k = -1;
    for (int i = 0; i < NKEYS; i++) if (!strcmp(keys[i], key)) k = i;
    if (k < 0) return 0;
    if (k == 3 && !f->align) return 0;
    long from = s->n ? s->step[s->n - 1] + 10 : 0;
    for (long st = from; st <= f->r.step; st += 10) ui_series_push(s, st, value(f, st, k), f->t0 + st / f->rate);
    return 0;
}

static int sample_steps(UiBackend *m, int64_t id, long **steps, int *n, char *err) {
    FakeRun *f = find((Fake *)m, id, err);
    if (!f) return -1;
    *n = (int)(f->r.step / 500) + (f->r.step > 0);
    *steps = xmalloc(sizeof(long) * (size_t)(*n + 1));
    for (int i = 0; i < *n; i++) (*steps)[i] = i * 500L;
    return 0;
}

// A 4x4 grid of 16x16 "shapes" whose sharpness grows with the step.
static int sample(UiBackend *m, int64_t id, long step, long *got, Image *img, char *err) {
    FakeRun *f = find((Fake *)m, id, err);
    if (!f) return -1;
    if (step < 0 || step > f->r.step) step = f->r.step;
    step -= step % 500;
    *got = step;
    int W = 4 * 16 + 3 * 2, H = W;
    img->w = W; img->h = H;
    img->rgb = xcalloc((size_t)W * H * 3, 1);
    double q = fmin(1, (double)step / 3000);
    for (int gy = 0; gy < 4; gy++)
        for (int gx = 0; gx < 4; gx++) {
            int c = (gy * 4 + gx + (int)id) % 6;
            static const uint8_t pal[6][3] = {{230, 60, 60}, {60, 200, 80}, {70, 110, 240}, {240, 200, 50}, {200, 80, 220}, {60, 210, 210}};
            for (int y = 0; y < 16; y++)
                for (int x = 0; x < 16; x++) {
                    double dx = x - 7.5, dy = y - 7.5, r = sqrt(dx * dx + dy * dy);
                    int inside = ((gx + gy) % 2) ? (fabs(dx) < 5 && fabs(dy) < 5) : r < 5.5;
                    double nz = noise(id, step + x * 31 + y * 17, gx + 4 * gy) * (1 - q) * 2;
                    double v = (inside ? 1.0 : 0.0) * q + (1 - q) * 0.5 + nz * 0.5;
                    if (v < 0) v = 0;
                    if (v > 1) v = 1;
                    uint8_t *p = img->rgb + ((long)(gy * 18 + y) * W + gx * 18 + x) * 3;
                    for (int ch = 0; ch < 3; ch++) p[ch] = (uint8_t)(20 + v * (pal[c][ch] - 20));
                }
        }
    return 0;
}

static FakeRun *add(Fake *fk, const char *name, long total, const char *status, long step, float lr, int align) {
    fk->runs = xrealloc(fk->runs, sizeof(FakeRun) * (size_t)(fk->n + 1));
    FakeRun *f = &fk->runs[fk->n++];
    memset(f, 0, sizeof *f);
    f->r.id = fk->next_id++;
    snprintf(f->r.name, sizeof f->r.name, "%s", name);
    snprintf(f->r.status, sizeof f->r.status, "%s", status);
    f->r.total_steps = total;
    f->r.step = step;
    f->rate = 40;
    f->t0 = wall_seconds() - step / f->rate - 60.0 * (100 - fk->n);
    f->r.created = f->r.started = f->t0;
    if (strcmp(status, "running")) f->r.ended = f->t0 + step / f->rate;
    f->r.active = f->r.ended > 0 ? f->r.ended - f->r.started : 0;
    f->lr = lr;
    f->align = align;
    return f;
}

static int launch(UiBackend *m, const char *path, const char *name, int nset, char *const *sets, int64_t *id, char *err) {
    Fake *fk = (Fake *)m;
    char nm[64];
    if (!name || !*name) snprintf(nm, sizeof nm, "run-%lld", (long long)fk->next_id);
    else snprintf(nm, sizeof nm, "%s", name);
    for (int i = 0; i < fk->n; i++)
        if (!strcmp(fk->runs[i].r.name, nm)) return seterr(err, "a run named '%s' exists already: pick another name", nm);
    long total = 2000;
    for (int i = 0; i < nset; i++) if (!strncmp(sets[i], "train.steps=", 12)) total = atol(sets[i] + 12);
    FakeRun *f = add(fk, nm, total, "running", 0, 1e-4f, strstr(path, "repa") != NULL);
    f->t0 = wall_seconds();
    f->r.local = 1;
    *id = f->r.id;
    return 0;
}

static int stop(UiBackend *m, int64_t id, char *err) {
    FakeRun *f = find((Fake *)m, id, err);
    if (!f) return -1;
    advance(f);
    if (strcmp(f->r.status, "running")) return seterr(err, "run '%s' is %s, not running", f->r.name, f->r.status);
    strcpy(f->r.status, "stopped");
    f->r.local = 0;
    f->r.ended = wall_seconds();
    return 0;
}

static int resume(UiBackend *m, int64_t id, char *err) {
    FakeRun *f = find((Fake *)m, id, err);
    if (!f) return -1;
    if (!strcmp(f->r.status, "running") || !strcmp(f->r.status, "done"))
        return seterr(err, "run '%s' is %s: only stopped or interrupted runs resume", f->r.name, f->r.status);
    strcpy(f->r.status, "running");
    f->t0 = wall_seconds() - f->r.step / f->rate;
    f->r.local = 1;
    return 0;
}

static int removerun(UiBackend *m, int64_t id, char *err) {
    Fake *fk = (Fake *)m;
    FakeRun *f = find(fk, id, err);
    if (!f) return -1;
    int i = (int)(f - fk->runs);
    memmove(&fk->runs[i], &fk->runs[i + 1], sizeof(FakeRun) * (size_t)(fk->n - i - 1));
    fk->n--;
    return 0;
}

static int tag(UiBackend *m, int64_t id, const char *t, int remove, char *err) {
    FakeRun *f = find((Fake *)m, id, err);
    if (!f) return -1;
    if (remove) { f->r.tags[0] = 0; return 0; }
    size_t l = strlen(f->r.tags);
    snprintf(f->r.tags + l, sizeof f->r.tags - l, "%s%s", l ? "," : "", t);
    return 0;
}

static int note(UiBackend *m, int64_t id, const char *text, char *err) {
    FakeRun *f = find((Fake *)m, id, err);
    if (!f) return -1;
    snprintf(f->r.notes, sizeof f->r.notes, "%s", text);
    return 0;
}

static int local_active(UiBackend *m) {
    Fake *fk = (Fake *)m;
    int n = 0;
    for (int i = 0; i < fk->n; i++) { advance(&fk->runs[i]); n += fk->runs[i].r.local && !strcmp(fk->runs[i].r.status, "running"); }
    return n;
}

static void stop_local(UiBackend *m) {
    Fake *fk = (Fake *)m;
    char err[ERRLEN];
    for (int i = 0; i < fk->n; i++) if (fk->runs[i].r.local) stop(m, fk->runs[i].r.id, err);
}

static void close_(UiBackend *m) {
    Fake *fk = (Fake *)m;
    free(fk->runs);
    ui_prefs_free(&fk->prefs);
    free(fk);
}

static const char *where(UiBackend *m) { (void)m; return "(generated runs)"; }

static int pref_get(UiBackend *m, const char *key, char *val, size_t n) { return ui_prefs_get(&((Fake *)m)->prefs, key, val, n); }
static int pref_set(UiBackend *m, const char *key, const char *val, char *err) {
    (void)err;
    ui_prefs_set(&((Fake *)m)->prefs, key, val);
    return 0;
}

// Costs that follow the overrides: memory grows with the batch, a step takes 1 ms per image.
static int estimate(UiBackend *m, const char *path, int nset, char *const *sets, int measure, UiEstimate *e, char *err) {
    (void)m; (void)path; (void)err;
    long steps = 2000, batch = 16;
    for (int i = 0; i < nset; i++) {
        if (!strncmp(sets[i], "train.steps=", 12)) steps = atol(sets[i] + 12);
        if (!strncmp(sets[i], "train.batch_size=", 17)) batch = atol(sets[i] + 17);
    }
    memset(e, 0, sizeof *e);
    e->steps = steps;
    e->mem_bytes = 50e6 + batch * 2e6;
    if (measure) { e->step_s = batch * 1e-3; e->gflop_per_step = batch * 0.5; }
    return 0;
}

// Console lines a run's trainer would have reported: the REPA cache being built (align runs),
// the collapse warning (run 5), the final error (failed runs), and a note per 500 steps.
static int console(UiBackend *m, int64_t id, int64_t after, UiConsoleLine **out, int *n, char *err) {
    FakeRun *f = find((Fake *)m, id, err);
    if (!f) return -1;
    UiConsoleLine v[64];
    int k = 0;
    #define LINE(lv, at, ...) do { if (k < 64) { v[k].id = k + 1; v[k].wall = f->t0 + (at) / f->rate; \
        snprintf(v[k].level, sizeof v[k].level, "%s", lv); snprintf(v[k].text, sizeof v[k].text, __VA_ARGS__); k++; } } while (0)
    if (f->align) LINE("note", 0, "building the REPA target cache of shapes (2000 images)...");
    for (long st = 500; st <= f->r.step && k < 40; st += 500) {
        LINE("note", st, "checkpoint at step %ld", st);
        if (f->r.id == 5 && st == 500 && f->r.step >= 600)
            LINE("warn", 600, "latent collapse: latent_sstd 0.05 is 10x below its peak 0.8 (step 600); the latents "
                              "carry little spatial information");
    }
    if (f->r.error[0]) LINE("error", f->r.step, "%s", f->r.error);
    #undef LINE
    int from = 0;
    while (from < k && v[from].id <= after) from++;
    *n = k - from;
    *out = xmalloc(sizeof **out * (size_t)(*n + 1));
    memcpy(*out, v + from, sizeof *v * (size_t)*n);
    return 0;
}

// A running run's process: this dashboard's for one launched here, else a pid of its own; its CPU
// time grows at 1.9 cores.
static int proc(UiBackend *m, const UiRun *r, UiProc *p, char *err) {
    FakeRun *f = find((Fake *)m, r->id, err);
    if (!f) return -1;
    memset(p, 0, sizeof *p);
    p->wall = now_seconds();
    if (strcmp(f->r.status, "running")) {
        p->kind = UI_PROC_NONE;
        snprintf(p->what, sizeof p->what, "not training (%s)", f->r.status);
        return 0;
    }
    p->kind = f->r.local ? UI_PROC_SHARED : UI_PROC_PID;
    if (f->r.local) snprintf(p->what, sizeof p->what, "dashboard process (1 run)");
    else snprintf(p->what, sizeof p->what, "pid %d", 4000 + (int)f->r.id);
    p->cpu_s = 1.9 * p->wall;
    p->rss_bytes = 312e6 + 1e6 * (double)f->r.id;
    p->threads = 5;
    return 0;
}

static const UiBackendOps fake_ops = {list_runs, config, series_append, sample_steps, sample, launch, stop, resume,
                                  removerun, tag, note, local_active, stop_local, close_, where, NULL, NULL, pref_get, pref_set, estimate, console, proc, NULL, NULL};

UiBackend *fake_backend_new(int nruns, long steps) {
    Fake *fk = xcalloc(1, sizeof *fk);
    fk->base.ops = &fake_ops;
    fk->next_id = 1;
    static const char *status[] = {"done", "done", "running", "stopped", "failed", "interrupted", "done", "diverged"};
    for (int i = 0; i < nruns; i++) {
        char nm[64];
        snprintf(nm, sizeof nm, "%s-%s-%d", i % 2 ? "repa" : "base", i % 3 ? "lr1e-4" : "lr3e-4", i + 1);
        const char *st = status[i % 8];
        long at = !strcmp(st, "done") ? steps : steps / 2 + (i * 37) % (steps / 3 + 1);
        FakeRun *f = add(fk, nm, steps, st, at, i % 3 ? 1e-4f : 3e-4f, i % 2);
        if (i % 4 == 0) snprintf(f->r.tags, sizeof f->r.tags, "baseline");
        if (!strcmp(st, "failed")) snprintf(f->r.error, sizeof f->r.error, "loss became NaN at step %ld", at);
    }
    return &fk->base;
}
