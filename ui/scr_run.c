// scr_run.c: one run: small multiples of the five losses and the total (braille charts),
// progress with it/s and ETA, latent_std, the sample grid with a step slider, and the config.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ui/chart.h"
#include "ui/screens.h"
#include "base/util.h"

enum { RA_SMOOTH_UP = 1, RA_SMOOTH_DOWN, RA_LOGY, RA_XAXIS, RA_PREV, RA_NEXT, RA_LATEST, RA_FIRST, RA_PANE, RA_STOP,
       RA_RESUME, RA_CFG_UP, RA_CFG_DOWN };

static const KeyBinding keys[] = {
    {'+', RA_SMOOTH_UP, "smooth", "more EMA smoothing (raw curve stays faint behind)"},
    {'=', RA_SMOOTH_UP, NULL, "more smoothing"},
    {'-', RA_SMOOTH_DOWN, NULL, "less smoothing"},
    {'l', RA_LOGY, "log-y", "toggle log y axis"},
    {'t', RA_XAXIS, "x:step/time", "x axis: step or wall time"},
    {'[', RA_PREV, "sample<", "previous sample step"}, {',', RA_PREV, NULL, "previous sample step"},
    {']', RA_NEXT, "sample>", "next sample step"}, {'.', RA_NEXT, NULL, "next sample step"},
    {KEY_END, RA_LATEST, NULL, "latest sample (follow the run)"}, {'$', RA_LATEST, NULL, "latest sample"},
    {KEY_HOME, RA_FIRST, NULL, "first sample"},
    {'c', RA_PANE, "config", "right pane: samples or config"},
    {'x', RA_STOP, "stop", "stop the run (checkpoint first)"},
    {'r', RA_RESUME, "resume", "resume the run"},
    {'j', RA_CFG_DOWN, NULL, "scroll the config"}, {KEY_DOWN, RA_CFG_DOWN, NULL, "scroll the config"},
    {'k', RA_CFG_UP, NULL, "scroll the config"}, {KEY_UP, RA_CFG_UP, NULL, "scroll the config"},
    {0, 0, NULL, NULL},
};

static const double ema_levels[] = {0, 0.6, 0.8, 0.9, 0.95, 0.98, 0.99};
#define NEMA 7

typedef struct {
    Screen base;
    int64_t id;
    UiRun run;
    int have_run;
    UiSeries ser[UI_NMETRICS + 1]; // + latent_std
    ChartCache *cache[UI_NMETRICS];
    char *config;
    long *steps;                   // sample steps
    int nsteps;
    int sidx;                      // slider position; -1 follows the latest
    Image img;
    long img_step;                 // step of img (-1 none)
    int ema, logy, xtime, pane, cfg_top;
    double last_poll;
    char err[ERRLEN];
} RunScr;

static int poll_data(RunScr *r, App *a) {
    UiBackend *m = app_model(a);
    char err[ERRLEN];
    UiRun *runs = NULL;
    int n = 0, changed = 0;
    r->last_poll = now_seconds();
    if (m->ops->list_runs(m, &runs, &n, err) == 0) {
        int found = 0;
        for (int i = 0; i < n; i++)
            if (runs[i].id == r->id) {
                if (!r->have_run || memcmp(&runs[i], &r->run, sizeof r->run)) changed = 1;
                r->run = runs[i];
                found = 1;
            }
        r->have_run = found;
        free(runs);
    }
    if (!r->have_run) { snprintf(r->err, sizeof r->err, "run %lld is gone (deleted?)", (long long)r->id); return 1; }
    // Points beyond the run's step were forgotten by a resume from an earlier checkpoint:
    // start the curves again rather than mix the two continuations.
    for (int k = 0; k <= UI_NMETRICS; k++)
        if (r->ser[k].n && r->ser[k].step[r->ser[k].n - 1] > r->run.step) {
            for (int j = 0; j <= UI_NMETRICS; j++) ui_series_free(&r->ser[j]);
            for (int j = 0; j < UI_NMETRICS; j++) chart_cache_reset(r->cache[j]);
            changed = 1;
            break;
        }
    for (int k = 0; k <= UI_NMETRICS; k++) {
        long before = r->ser[k].n;
        const char *key = k < UI_NMETRICS ? ui_metric(k) : "latent_std";
        if (m->ops->series_append(m, r->id, key, &r->ser[k], err) == 0 && r->ser[k].n != before) changed = 1;
    }
    long *steps = NULL;
    int ns = 0;
    if (m->ops->sample_steps(m, r->id, &steps, &ns, err) == 0) {
        if (ns != r->nsteps) changed = 1;
        free(r->steps);
        r->steps = steps;
        r->nsteps = ns;
    }
    if (r->sidx >= r->nsteps) r->sidx = r->nsteps - 1;
    if (!r->config && m->ops->config(m, r->id, &r->config, err) == 0) changed = 1;
    return changed;
}

static void load_image(RunScr *r, App *a) {
    if (!r->nsteps) return;
    long want = r->sidx < 0 ? r->steps[r->nsteps - 1] : r->steps[r->sidx];
    if (r->img.rgb && r->img_step == want) return;
    UiBackend *m = app_model(a);
    Image im = {0};
    long got = -1;
    char err[ERRLEN];
    if (m->ops->sample(m, r->id, want, &got, &im, err) == 0) {
        image_free(&r->img);
        r->img = im;
        r->img_step = want;
    } else app_message(a, 1, "sample at step %ld: %s", want, err);
}

static int tick(Screen *s, App *a) {
    RunScr *r = (RunScr *)s;
    if (now_seconds() - r->last_poll < 0.5) return 0;
    return poll_data(r, a) ? UI_REDRAW : 0;
}

static int action(Screen *s, App *a, int act, int key) {
    (void)key;
    RunScr *r = (RunScr *)s;
    UiBackend *m = app_model(a);
    char err[ERRLEN];
    switch (act) {
    case RA_SMOOTH_UP: if (r->ema < NEMA - 1) r->ema++; break;
    case RA_SMOOTH_DOWN: if (r->ema > 0) r->ema--; break;
    case RA_LOGY: r->logy = !r->logy; break;
    case RA_XAXIS: r->xtime = !r->xtime; break;
    case RA_PREV:
        if (r->nsteps) r->sidx = (r->sidx < 0 ? r->nsteps - 1 : r->sidx) - 1;
        if (r->sidx < 0) r->sidx = 0;
        break;
    case RA_NEXT:
        if (r->sidx >= 0 && ++r->sidx >= r->nsteps - 1) r->sidx = -1; // at the end: follow the run again
        break;
    case RA_LATEST: r->sidx = -1; break;
    case RA_FIRST: if (r->nsteps) r->sidx = 0; break;
    case RA_PANE: r->pane = !r->pane; break;
    case RA_CFG_DOWN: if (r->pane) r->cfg_top++; else return 0; break;
    case RA_CFG_UP: if (r->pane && r->cfg_top > 0) r->cfg_top--; else return 0; break;
    case RA_STOP:
        if (m->ops->stop(m, r->id, err)) app_message(a, 1, "stop: %s", err);
        else app_message(a, 0, "asked %s to stop; it checkpoints first", r->run.name);
        poll_data(r, a);
        break;
    case RA_RESUME:
        if (m->ops->resume(m, r->id, err)) app_message(a, 1, "resume: %s", err);
        else app_message(a, 0, "resumed %s", r->run.name);
        poll_data(r, a);
        break;
    default: return 0;
    }
    return UI_HANDLED | UI_REDRAW;
}

static void draw_chart(CellBuf *b, int x, int y, int w, int h, UiSeries *s, ChartCache *cache, const char *name,
                       int color, const RunScr *r) {
    char title[96], v[16] = "-";
    if (s->n) chart_fmt(s->value[s->n - 1], v, 8);
    snprintf(title, sizeof title, "%s %s", name, v);
    if (!s->n) {
        cb_text(b, x, y, w, title, CB_DEFAULT, CB_BOLD);
        cb_text(b, x + 2, y + h / 2, w - 2, "no data yet", CB_DEFAULT, CB_DIM);
        return;
    }
    ChartSeries cs = {ui_series_x(s, r->xtime), s->value, (int)s->n, color, cache};
    ChartOpts o = {.title = title, .ema = ema_levels[r->ema], .logy = r->logy, .xtime = r->xtime};
    chart_render(b, x, y, w, h, &cs, 1, &o);
}

static void draw_config(CellBuf *b, int x, int y, int w, int h, RunScr *r) {
    if (!r->config) { cb_text(b, x, y, w, "(no config)", CB_DEFAULT, CB_DIM); return; }
    const char *p = r->config;
    int line = 0;
    if (r->cfg_top < 0) r->cfg_top = 0;
    while (*p && y < y + h) {
        const char *e = strchr(p, '\n');
        int len = e ? (int)(e - p) : (int)strlen(p);
        if (line >= r->cfg_top) {
            if (h-- <= 0) break;
            char buf[256];
            snprintf(buf, sizeof buf, "%.*s", len < 255 ? len : 255, p);
            cb_text(b, x, y++, w, buf, CB_DEFAULT, 0);
        }
        line++;
        if (!e) break;
        p = e + 1;
    }
}

static void draw(Screen *s, App *a, CellBuf *b) {
    RunScr *r = (RunScr *)s;
    int W = b->w, H = b->h;
    if (!r->have_run) { cb_text(b, 2, 2, W - 4, r->err[0] ? r->err : "loading...", C_RED, CB_BOLD); return; }
    const UiRun *u = &r->run;
    // header: name, status, progress
    int x = cb_text(b, 1, 1, W / 2, u->name, CB_DEFAULT, CB_BOLD);
    x += 2;
    x += cb_text(b, x, 1, 14, u->status, ui_status_color(u->status), CB_BOLD);
    char prog[128];
    ui_progress_text(u, prog, sizeof prog);
    // Logged wall times give the rate of this stretch of training (resumes, pauses excluded).
    const UiSeries *ts = &r->ser[UI_NMETRICS - 1];
    if (ts->n >= 2 && ts->wall[ts->n - 1] > ts->wall[0]) {
        long a0 = ts->n > 50 ? ts->n - 50 : 0;
        double its = (ts->step[ts->n - 1] - ts->step[a0]) / (ts->wall[ts->n - 1] - ts->wall[a0] + 1e-9);
        char eta[32] = "-";
        if (its > 0 && ui_run_live(u) && u->total_steps > u->step) ui_fmt_elapsed((u->total_steps - u->step) / its, eta, sizeof eta);
        snprintf(prog, sizeof prog, "step %ld/%ld  %.1f it/s  ETA %s", u->step, u->total_steps, its, eta);
    }
    x += 2;
    x += cb_text(b, x, 1, W - x, prog, CB_DEFAULT, 0);
    const UiSeries *ls = &r->ser[UI_NMETRICS];
    if (ls->n && x + 20 < W) cb_printf(b, x + 2, 1, W - x - 2, CB_DEFAULT, 0, "latent_std %.3g", ls->value[ls->n - 1]);
    double frac = u->total_steps > 0 ? (double)u->step / u->total_steps : 0;
    ui_progress_bar(b, 1, 2, W - 2, frac, ui_status_color(u->status));
    char opts[128];
    snprintf(opts, sizeof opts, "smoothing %.2f  %s  x: %s", ema_levels[r->ema], r->logy ? "log-y" : "linear-y",
             r->xtime ? "time" : "step");
    if (u->error[0]) cb_printf(b, 1, 3, W - 2, C_RED, 0, "error: %s", u->error);
    else cb_text(b, 1, 3, W - 2, opts, CB_DEFAULT, CB_DIM);

    // body: 2x3 charts left, samples/config right
    int top = 4, bh = H - top;
    int rw = W * 36 / 100;
    if (rw < 26) rw = 26;
    int lw = W - rw - 1;
    int cw = lw / 2, chh = bh / 3;
    for (int k = 0; k < UI_NMETRICS; k++) {
        int cx = (k % 2) * cw, cy = top + (k / 2) * chh;
        // total in the terminal's own foreground: white vanished on light backgrounds
        static const int colors[] = {C_CYAN, C_YELLOW, C_MAGENTA, C_GREEN, C_BLUE, CB_DEFAULT};
        draw_chart(b, cx, cy, cw - 1, chh, &r->ser[k], r->cache[k], ui_metric(k), colors[k], r);
    }
    for (int y = top; y < H; y++) cb_put(b, lw, y, 0x2502, CB_DEFAULT, CB_DIM);
    int px = lw + 2, pw = W - px - 1;
    if (r->pane) {
        ui_section(b, px - 1, top, pw + 1, "config");
        draw_config(b, px, top + 1, pw, H - top - 1, r);
        return;
    }
    ui_section(b, px - 1, top, pw + 1, "samples");
    if (!r->nsteps) { cb_text(b, px, top + 2, pw, "no samples yet", CB_DEFAULT, CB_DIM); return; }
    load_image(r, a);
    int ih = H - top - 4; // image cells; two rows below for the slider
    if (r->img.rgb) {
        int uw, uh;
        image_fit_cells(&r->img, pw, ih, &uw, &uh);
        int ix = px + (pw - uw) / 2, iy = top + 1;
        ImageMode mode = app_image_mode(a);
        if (mode == IMG_HALF256 || mode == IMG_HALF8) image_halfblock(b, ix, iy, pw, ih, &r->img, mode);
        else if (mode == IMG_SIXEL || mode == IMG_TRUECOLOR) {
            if (app_overlays(a)) overlays_add(app_overlays(a), mode == IMG_SIXEL ? px : ix, iy, mode == IMG_SIXEL ? pw : uw, uh,
                                              &r->img, ((uint64_t)r->id << 32) ^ (uint64_t)r->img_step);
        } else image_shades(b, ix, iy, pw, ih, &r->img);
    }
    // slider: a track with one tick per sample step and the selected one highlighted
    int sy = H - 2, cur = r->sidx < 0 ? r->nsteps - 1 : r->sidx;
    for (int i = 0; i < pw; i++) cb_put(b, px + i, sy, 0x2500, CB_DEFAULT, CB_DIM);
    int pos = r->nsteps > 1 ? (int)((long)cur * (pw - 1) / (r->nsteps - 1)) : 0;
    cb_put(b, px + pos, sy, 0x25C6, C_YELLOW, CB_BOLD); // ◆
    cb_printf(b, px, sy + 1, pw, CB_DEFAULT, 0, "step %ld  %d/%d%s", r->steps[cur], cur + 1, r->nsteps,
              r->sidx < 0 ? "  (latest)" : "");
}

static void fr(Screen *s) {
    RunScr *r = (RunScr *)s;
    for (int k = 0; k <= UI_NMETRICS; k++) ui_series_free(&r->ser[k]);
    for (int k = 0; k < UI_NMETRICS; k++) chart_cache_free(r->cache[k]);
    free(r->config);
    free(r->steps);
    image_free(&r->img);
    free(r);
}

static const ScreenVt vt = {"Run", keys, draw, action, NULL, tick, fr};

Screen *screen_run_new(App *a, int64_t run) {
    RunScr *r = xcalloc(1, sizeof *r);
    r->base.vt = &vt;
    r->id = run;
    r->sidx = -1;
    r->img_step = -1;
    r->ema = 3;
    for (int k = 0; k < UI_NMETRICS; k++) r->cache[k] = chart_cache_new();
    poll_data(r, a);
    return &r->base;
}
