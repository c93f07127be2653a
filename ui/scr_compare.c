// scr_compare.c: marked runs side by side: each metric overlaid (a run keeps its colour),
// the config keys that differ, final and best metrics with the best highlighted, and the
// sample grids at one step.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ui/chart.h"
#include "ui/screens.h"
#include "base/config_keys.h"
#include "base/metrics.h"
#include "base/util.h"

#define MAXR 8
enum { CA_PANE = 1, CA_P1, CA_P2, CA_P3, CA_SMOOTH_UP, CA_SMOOTH_DOWN, CA_LOGY, CA_XAXIS, CA_PREV, CA_NEXT };

static const KeyBinding keys[] = {
    {'\t', CA_PANE, "view", "next view: curves, table, samples"},
    {'1', CA_P1, "curves", "curves overlaid per metric"},
    {'2', CA_P2, "table", "differing config keys, final and best metrics"},
    {'3', CA_P3, "samples", "sample grids side by side"},
    {'+', CA_SMOOTH_UP, "smooth", "more smoothing"}, {'=', CA_SMOOTH_UP, NULL, "more smoothing"},
    {'-', CA_SMOOTH_DOWN, NULL, "less smoothing"},
    {'l', CA_LOGY, "log-y", "toggle log y axis"},
    {'t', CA_XAXIS, "x:step/time", "x axis: step or wall time"},
    {'[', CA_PREV, "step<", "samples: previous step"}, {',', CA_PREV, NULL, "samples: previous step"},
    {']', CA_NEXT, "step>", "samples: next step"}, {'.', CA_NEXT, NULL, "samples: next step"},
    {0, 0, NULL, NULL},
};

static const double ema_levels[] = {0, 0.6, 0.8, 0.9, 0.95, 0.98, 0.99};

typedef struct { char *key; char *val[MAXR]; } DiffRow;

typedef struct {
    Screen base;
    int64_t ids[MAXR];
    int n;
    UiRun runs[MAXR];
    int have[MAXR];
    UiSeries ser[MAXR][UI_NMETRICS];
    ChartCache *cache[MAXR][UI_NMETRICS];
    DiffRow *diff;
    int ndiff, diff_done;
    long *steps;       // sample steps: the union over the runs, ascending
    int nsteps, sidx;  // -1 = latest
    int color[MAXR];   // each run's colour: distinct (app_claim_color), fixed while shown
    Image img[MAXR];
    long img_step[MAXR];
    long img_got[MAXR];  // the step of the sample shown (a run without one at img_step shows its nearest before)
    int pane, ema, logy, xtime;
    double last_poll;
} Cmp;

// The config keys that differ (every key when one run is shown), valued as `--set` takes
// them: each stored config parsed over the defaults, as `repae compare` and `repae show` do.
static void build_diff(Cmp *c, App *a) {
    UiBackend *m = app_model(a);
    Config *cfg = xcalloc(MAXR, sizeof *cfg);
    int ok[MAXR] = {0};
    char err[ERRLEN];
    for (int i = 0; i < c->n; i++) {
        char *json = NULL;
        if (m->ops->config(m, c->ids[i], &json, err)) continue;
        config_defaults(&cfg[i]);
        ok[i] = config_parse(&cfg[i], json, "the run's stored config", err) == 0;
        free(json);
    }
    char val[MAXR][4 * CFG_STRLEN];
    for (int k = 0; k < config_nkeys(); k++) {
        int differs = 0;
        for (int r = 0; r < c->n; r++) {
            if (ok[r]) config_key_value(&cfg[r], k, CFG_TEXT, val[r], sizeof val[r]);
            else snprintf(val[r], sizeof val[r], "(unreadable)");
            if (r && strcmp(val[r], val[0])) differs = 1;
        }
        if (!differs && c->n > 1) continue;
        DiffRow row = {xstrdup(config_key_path(k)), {0}};
        for (int r = 0; r < c->n; r++) row.val[r] = xstrdup(val[r]);
        c->diff = xrealloc(c->diff, sizeof(DiffRow) * (size_t)(c->ndiff + 1));
        c->diff[c->ndiff++] = row;
    }
    free(cfg);
    c->diff_done = 1;
}

static int poll_data(Cmp *c, App *a) {
    UiBackend *m = app_model(a);
    char err[ERRLEN];
    UiRun *runs = NULL;
    int n = 0, changed = 0;
    c->last_poll = now_seconds();
    if (m->ops->list_runs(m, &runs, &n, err) == 0) {
        for (int i = 0; i < c->n; i++) {
            int found = 0;
            for (int j = 0; j < n; j++)
                if (runs[j].id == c->ids[i]) {
                    if (memcmp(&runs[j], &c->runs[i], sizeof(UiRun))) changed = 1;
                    c->runs[i] = runs[j];
                    found = 1;
                }
            c->have[i] = found;
        }
        free(runs);
    }
    for (int i = 0; i < c->n; i++) // a resume from an earlier checkpoint forgot points: refetch
        for (int k = 0; k < UI_NMETRICS; k++) {
            UiSeries *s = &c->ser[i][k];
            if (c->have[i] && s->n && s->step[s->n - 1] > c->runs[i].step) {
                for (int j = 0; j < UI_NMETRICS; j++) { ui_series_free(&c->ser[i][j]); chart_cache_reset(c->cache[i][j]); }
                changed = 1;
                break;
            }
        }
    for (int i = 0; i < c->n; i++)
        for (int k = 0; k < UI_NMETRICS; k++) {
            long before = c->ser[i][k].n;
            if (c->have[i] && m->ops->series_append(m, c->ids[i], ui_metric(k), &c->ser[i][k], err) == 0 &&
                c->ser[i][k].n != before)
                changed = 1;
        }
    // One slider over every run's sample steps (each run then shows its sample at or before
    // the step): following only the first run's steps left longer runs' last samples unreachable.
    long *all = NULL;
    int nall = 0;
    for (int i = 0; i < c->n; i++) {
        long *steps = NULL;
        int ns = 0;
        if (!c->have[i] || m->ops->sample_steps(m, c->ids[i], &steps, &ns, err) || ns == 0) { free(steps); continue; }
        long *u = xmalloc(sizeof(long) * (size_t)(nall + ns));
        int nu = 0, p = 0, q = 0;
        while (p < nall || q < ns) { // merge two ascending lists, without duplicates
            long v = q >= ns || (p < nall && all[p] <= steps[q]) ? all[p++] : steps[q++];
            if (!nu || u[nu - 1] != v) u[nu++] = v;
        }
        free(all);
        free(steps);
        all = u;
        nall = nu;
    }
    if (nall != c->nsteps || (nall && memcmp(all, c->steps, sizeof(long) * (size_t)nall))) changed = 1;
    free(c->steps);
    c->steps = all;
    c->nsteps = nall;
    if (c->sidx >= c->nsteps) c->sidx = c->nsteps - 1;
    if (!c->diff_done) { build_diff(c, a); changed = 1; }
    return changed;
}

static int tick(Screen *s, App *a) {
    Cmp *c = (Cmp *)s;
    if (now_seconds() - c->last_poll < 0.5) return 0;
    return poll_data(c, a) ? UI_REDRAW : 0;
}

static int action(Screen *s, App *a, int act, int key) {
    (void)a; (void)key;
    Cmp *c = (Cmp *)s;
    switch (act) {
    case CA_PANE: c->pane = (c->pane + 1) % 3; break;
    case CA_P1: case CA_P2: case CA_P3: c->pane = act - CA_P1; break;
    case CA_SMOOTH_UP: if (c->ema < 6) c->ema++; break;
    case CA_SMOOTH_DOWN: if (c->ema > 0) c->ema--; break;
    case CA_LOGY: c->logy = !c->logy; break;
    case CA_XAXIS: c->xtime = !c->xtime; break;
    case CA_PREV: if (c->nsteps) { c->sidx = (c->sidx < 0 ? c->nsteps - 1 : c->sidx) - 1; if (c->sidx < 0) c->sidx = 0; } break;
    case CA_NEXT: if (c->sidx >= 0 && ++c->sidx >= c->nsteps - 1) c->sidx = -1; break;
    default: return 0;
    }
    return UI_HANDLED | UI_REDRAW;
}

static void draw_curves(Cmp *c, CellBuf *b, int top) {
    int W = b->w, H = b->h, bh = H - top;
    int cw = W / 3, chh = bh / 2;
    for (int k = 0; k < UI_NMETRICS; k++) {
        ChartSeries cs[MAXR];
        int ns = 0;
        for (int i = 0; i < c->n; i++) {
            UiSeries *s = &c->ser[i][k];
            if (!s->n) continue;
            cs[ns++] = (ChartSeries){ui_series_x(s, c->xtime), s->value, (int)s->n, c->color[i], c->cache[i][k]};
        }
        int x = (k % 3) * cw, y = top + (k / 3) * chh;
        ChartOpts o = {.title = ui_metric(k), .ema = ema_levels[c->ema], .logy = c->logy, .xtime = c->xtime};
        if (ns) chart_render(b, x, y, cw - 1, chh, cs, ns, &o);
        else { cb_text(b, x, y, cw - 1, ui_metric(k), CB_DEFAULT, CB_BOLD); cb_text(b, x + 2, y + 2, cw - 3, "no data", CB_DEFAULT, CB_DIM); }
    }
}

static void draw_table(Cmp *c, CellBuf *b, int top) {
    int W = b->w, H = b->h;
    int kw = 22, vw = (W - kw - 1) / (c->n ? c->n : 1);
    if (vw > 18) vw = 18;
    int y = top;
    ui_section(b, 0, y++, W, "final / best; the best run in bold");
    cb_text(b, 0, y, kw, "metric", CB_DEFAULT, CB_UNDERLINE);
    for (int i = 0; i < c->n; i++) cb_text(b, kw + 1 + i * vw, y, vw - 1, c->runs[i].name, c->color[i], CB_BOLD | CB_UNDERLINE);
    y++;
    for (int k = 0; k < UI_NMETRICS && y < H; k++) {
        cb_text(b, 0, y, kw, ui_metric(k), CB_DEFAULT, 0);
        // The best final value and the best value ever, in the metric's own direction: a
        // run's best is its minimum for a lower-is-better metric, its maximum for a higher one.
        MetricBetter better = metric_at(k)->better;
        int best_last = -1, best_own = -1;
        double top_last = NAN, top_own = NAN;
        for (int i = 0; i < c->n; i++) {
            const UiLatest *l = ui_run_latest(&c->runs[i], ui_metric(k));
            if (!l) continue;
            double own = better == BETTER_HIGHER ? l->max : l->min;
            if (isfinite(l->last) && metric_beats(better, l->last, top_last)) { best_last = i; top_last = l->last; }
            if (isfinite(own) && metric_beats(better, own, top_own)) { best_own = i; top_own = own; }
        }
        for (int i = 0; i < c->n; i++) {
            const UiLatest *l = ui_run_latest(&c->runs[i], ui_metric(k));
            char f[16] = "-", m[16] = "-";
            if (l) { chart_fmt(l->last, f, 7); chart_fmt(better == BETTER_HIGHER ? l->max : l->min, m, 7); }
            int x = kw + 1 + i * vw;
            int n = cb_text(b, x, y, 7, f, i == best_last && c->n > 1 ? C_GREEN : CB_DEFAULT, i == best_last && c->n > 1 ? CB_BOLD | CB_UNDERLINE : 0);
            n += cb_text(b, x + n, y, 1, "/", CB_DEFAULT, CB_DIM);
            cb_text(b, x + n, y, vw - n - 1, m, i == best_own && c->n > 1 ? C_GREEN : CB_DEFAULT, i == best_own && c->n > 1 ? CB_BOLD | CB_UNDERLINE : CB_DIM);
        }
        y++;
    }
    y++;
    if (y >= H) return;
    ui_section(b, 0, y++, W, c->n > 1 ? "config keys that differ" : "config");
    if (c->n > 1 && c->ndiff == 0 && y < H) cb_text(b, 2, y++, W - 2, "(the configs are identical)", CB_DEFAULT, CB_DIM);
    for (int d = 0; d < c->ndiff && y < H; d++, y++) {
        cb_text(b, 0, y, kw, c->diff[d].key, CB_DEFAULT, 0);
        for (int i = 0; i < c->n; i++) cb_text(b, kw + 1 + i * vw, y, vw - 1, c->diff[d].val[i], c->color[i], 0);
    }
}

static void draw_samples(Cmp *c, App *a, CellBuf *b, int top) {
    int W = b->w, H = b->h;
    if (!c->nsteps) { cb_text(b, 2, top + 1, W - 4, "no samples yet", CB_DEFAULT, CB_DIM); return; }
    int cur = c->sidx < 0 ? c->nsteps - 1 : c->sidx;
    long step = c->steps[cur];
    cb_printf(b, 1, top, W - 2, CB_DEFAULT, CB_BOLD, "samples at step %ld  (%d/%d%s)  [ ] to move", step, cur + 1, c->nsteps,
              c->sidx < 0 ? ", latest" : "");
    int per = c->n <= 4 ? c->n : 4, rowsn = (c->n + per - 1) / per;
    int cw = W / (per ? per : 1), ch = (H - top - 1) / (rowsn ? rowsn : 1) - 1;
    UiBackend *m = app_model(a);
    for (int i = 0; i < c->n; i++) {
        int x = (i % per) * cw, y = top + 1 + (i / per) * (ch + 1);
        int nx = cb_text(b, x + 1, y, cw - 2, c->runs[i].name, c->color[i], CB_BOLD);
        if (c->img_step[i] != step || !c->img[i].rgb) {
            Image im = {0};
            long got = -1;
            char err[ERRLEN];
            image_free(&c->img[i]);
            c->img_step[i] = step;
            if (m->ops->sample(m, c->ids[i], step, &got, &im, err) == 0) c->img[i] = im;
            c->img_got[i] = got;
        }
        if (c->img[i].rgb && c->img_got[i] != step)
            cb_printf(b, x + 2 + nx, y, cw - 3 - nx, CB_DEFAULT, CB_DIM, "(step %ld)", c->img_got[i]);
        if (!c->img[i].rgb) { cb_text(b, x + 1, y + 1, cw - 2, "(no sample)", CB_DEFAULT, CB_DIM); continue; }
        ImageMode mode = app_image_mode(a);
        int uw, uh;
        image_fit_cells(&c->img[i], cw - 2, ch - 1, &uw, &uh);
        if (mode == IMG_HALF256 || mode == IMG_HALF8) image_halfblock(b, x + 1, y + 1, cw - 2, ch - 1, &c->img[i], mode);
        else if ((mode == IMG_SIXEL || mode == IMG_TRUECOLOR) && app_overlays(a))
            overlays_add(app_overlays(a), x + 1, y + 1, mode == IMG_SIXEL ? cw - 2 : uw, mode == IMG_SIXEL ? ch - 1 : uh,
                         &c->img[i], ((uint64_t)c->ids[i] << 32) ^ (uint64_t)step);
        else if (mode == IMG_NONE) image_shades(b, x + 1, y + 1, cw - 2, ch - 1, &c->img[i]);
    }
}

static void draw(Screen *s, App *a, CellBuf *b) {
    Cmp *c = (Cmp *)s;
    // legend: a run keeps its colour everywhere
    int x = 1;
    for (int i = 0; i < c->n; i++) {
        cb_put(b, x, 1, 0x25CF, c->color[i], CB_BOLD);
        x += 2;
        x += cb_text(b, x, 1, b->w - x, c->have[i] ? c->runs[i].name : "(deleted)", c->color[i], CB_BOLD) + 2;
    }
    static const char *panes[] = {"1 curves", "2 table", "3 samples"};
    x = 1;
    for (int p = 0; p < 3; p++) x += cb_text(b, x, 2, 12, panes[p], CB_DEFAULT, p == c->pane ? CB_REVERSE | CB_BOLD : CB_DIM) + 2;
    if (c->pane == 0) cb_printf(b, x + 2, 2, b->w - x - 2, CB_DEFAULT, CB_DIM, "smoothing %.2f  %s  x: %s", ema_levels[c->ema],
                                c->logy ? "log-y" : "linear-y", c->xtime ? "time" : "step");
    if (c->pane == 0) draw_curves(c, b, 3);
    else if (c->pane == 1) draw_table(c, b, 3);
    else draw_samples(c, a, b, 3);
}

static void fr(Screen *s) {
    Cmp *c = (Cmp *)s;
    for (int i = 0; i < c->n; i++) {
        for (int k = 0; k < UI_NMETRICS; k++) { ui_series_free(&c->ser[i][k]); chart_cache_free(c->cache[i][k]); }
        image_free(&c->img[i]);
    }
    for (int d = 0; d < c->ndiff; d++) {
        free(c->diff[d].key);
        for (int i = 0; i < c->n; i++) free(c->diff[d].val[i]);
    }
    free(c->diff);
    free(c->steps);
    free(c);
}

static const ScreenVt vt = {"Compare", keys, draw, action, NULL, tick, fr};

Screen *screen_compare_new(App *a, const int64_t *runs, int n) {
    Cmp *c = xcalloc(1, sizeof *c);
    c->base.vt = &vt;
    c->n = n < MAXR ? n : MAXR;
    memcpy(c->ids, runs, sizeof(int64_t) * (size_t)c->n);
    for (int i = 0; i < MAXR; i++) c->img_step[i] = -1;
    for (int i = 0; i < c->n; i++)
        for (int k = 0; k < UI_NMETRICS; k++) c->cache[i][k] = chart_cache_new();
    c->sidx = -1;
    c->ema = 3;
    for (int i = 0; i < c->n; i++) c->color[i] = app_claim_color(a, c->ids[i]);
    poll_data(c, a);
    return &c->base;
}
