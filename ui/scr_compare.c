// scr_compare.c: marked runs side by side: each metric overlaid (a run keeps its colour),
// the config keys that differ, final and best metrics with the best highlighted, and the
// sample grids at one step.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ui/chart.h"
#include "ui/chart_view.h"
#include "ui/screens.h"
#include "base/config_keys.h"
#include "base/metrics.h"
#include "base/util.h"

#define MAXR 8
#define MAXCH 12
enum { CA_PANE = 1, CA_P1, CA_P2, CA_P3, CA_PREV, CA_NEXT, CA_SEL_UP, CA_SEL_DOWN, CA_HIDE, CA_BASELINE, CA_PICK };

static const KeyBinding keys[] = {
    {'\t', CA_PANE, "view", "next view: curves, table, samples"},
    {'1', CA_P1, "curves", "curves overlaid per metric"},
    {'2', CA_P2, "table", "differing config keys, final and best metrics (eval too)"},
    {'3', CA_P3, "samples", "sample grids side by side"},
    {'m', CA_PICK, "metrics", "chart metrics by name or glob (total grad_norm_* eval.*); empty: the defaults"},
    {'h', CA_HIDE, "hide", "hide / show the selected run (up/down select)"}, {' ', CA_HIDE, NULL, "hide / show the selected run"},
    {'B', CA_BASELINE, "baseline", "pin the selected run as the baseline, in every chart and screen (again: unpin)"},
    {KEY_UP, CA_SEL_UP, NULL, "select the previous run"}, {'k', CA_SEL_UP, NULL, "select the previous run"},
    {KEY_DOWN, CA_SEL_DOWN, NULL, "select the next run"}, {'j', CA_SEL_DOWN, NULL, "select the next run"},
    CHART_VIEW_KEYS,
    {'[', CA_PREV, "step<", "samples: previous step"}, {',', CA_PREV, NULL, "samples: previous step"},
    {']', CA_NEXT, "step>", "samples: next step"}, {'.', CA_NEXT, NULL, "samples: next step"},
    {0, 0, NULL, NULL},
};

typedef struct { char *key; char *val[MAXR]; } DiffRow;

typedef struct {
    Screen base;
    ChartView cv;      // second: see ChartViewScreen
    int64_t ids[MAXR];
    int n;
    UiRun runs[MAXR];
    int have[MAXR];
    int hidden[MAXR];  // hidden in place: kept in the legend and tables, not drawn
    int sel;           // the legend's selected run
    char pick[256];    // the metric picker as typed ("": the defaults)
    char key[MAXCH][24];
    int nch;
    char unused[128];
    UiSeries ser[MAXR][MAXCH];
    ChartCache *cache[MAXR][MAXCH];
    int64_t bid;       // the baseline when it is not one of the runs (0: none or one of them)
    UiRun brun;
    UiSeries bser[MAXCH];
    ChartCache *bcache[MAXCH];
    DiffRow *diff;
    int ndiff, diff_done;
    long *steps;       // sample steps: the union over the runs, ascending
    int nsteps, sidx;  // -1 = latest
    int color[MAXR];   // each run's colour: distinct (app_claim_color), fixed while shown
    Image img[MAXR];
    long img_step[MAXR];
    long img_got[MAXR];  // the step of the sample shown (a run without one at img_step shows its nearest before)
    int pane;
    int table_kw, table_vw;  // the table's key column and run columns (the mouse)
    int legend_x[MAXR + 1], chart_w; // where the legend names and the charts were drawn (the mouse)
    double last_poll;
} Cmp;

static void forget_all(Cmp *c) {
    for (int k = 0; k < MAXCH; k++) {
        for (int i = 0; i < MAXR; i++) { ui_series_free(&c->ser[i][k]); chart_cache_reset(c->cache[i][k]); }
        ui_series_free(&c->bser[k]);
        chart_cache_reset(c->bcache[k]);
    }
}

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
    int64_t bid = app_baseline(a);
    for (int i = 0; i < c->n; i++) if (c->ids[i] == bid) bid = 0; // one of the runs: drawn as such
    int bfound = 0;
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
        for (int j = 0; j < n && bid; j++) if (runs[j].id == bid) { c->brun = runs[j]; bfound = 1; }
        free(runs);
    }
    if (!bfound) bid = 0;
    // the charts: the picker's metrics over every run's, else the defaults some run uses
    UiRun known[MAXR];
    int na = 0;
    for (int i = 0; i < c->n; i++) if (c->have[i]) known[na++] = c->runs[i];
    char keys[MAXCH][24];
    int nk = ui_pick_metrics(known, na, c->pick, keys, MAXCH, c->unused, (int)sizeof c->unused);
    int stale = nk != c->nch || memcmp(keys, c->key, sizeof keys[0] * (size_t)nk) || bid != c->bid;
    for (int i = 0; i < c->n; i++) // a resume from an earlier checkpoint forgot points: refetch
        for (int k = 0; k < c->nch; k++) {
            UiSeries *s = &c->ser[i][k];
            stale |= c->have[i] && s->n && s->step[s->n - 1] > c->runs[i].step;
        }
    if (stale) {
        forget_all(c);
        memcpy(c->key, keys, sizeof keys[0] * (size_t)nk);
        c->nch = nk;
        c->bid = bid;
        changed = 1;
    }
    for (int i = 0; i < c->n; i++)
        for (int k = 0; k < c->nch; k++) {
            long before = c->ser[i][k].n;
            if (c->have[i] && m->ops->series_append(m, c->ids[i], c->key[k], &c->ser[i][k], err) == 0 &&
                c->ser[i][k].n != before)
                changed = 1;
        }
    for (int k = 0; k < c->nch && c->bid; k++) {
        long before = c->bser[k].n;
        if (m->ops->series_append(m, c->bid, c->key[k], &c->bser[k], err) == 0 && c->bser[k].n != before) changed = 1;
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

static void set_pick(Screen *s, App *a, const char *text) {
    Cmp *c = (Cmp *)s;
    snprintf(c->pick, sizeof c->pick, "%s", text);
    ui_pref_set(app_model(a), "compare.metrics", c->pick);
    poll_data(c, a);
}

static int action(Screen *s, App *a, int act, int key) {
    (void)key;
    Cmp *c = (Cmp *)s;
    if (act >= CV_SMOOTH_UP) return chart_view_action(&c->cv, a, act);
    switch (act) {
    case CA_PANE: c->pane = (c->pane + 1) % 3; break;
    case CA_P1: case CA_P2: case CA_P3: c->pane = act - CA_P1; break;
    case CA_PREV: if (c->nsteps) { c->sidx = (c->sidx < 0 ? c->nsteps - 1 : c->sidx) - 1; if (c->sidx < 0) c->sidx = 0; } break;
    case CA_NEXT: if (c->sidx >= 0 && ++c->sidx >= c->nsteps - 1) c->sidx = -1; break;
    case CA_SEL_UP: if (c->sel > 0) c->sel--; break;
    case CA_SEL_DOWN: if (c->sel < c->n - 1) c->sel++; break;
    case CA_HIDE: if (c->n) c->hidden[c->sel] = !c->hidden[c->sel]; break;
    case CA_PICK: app_prompt(a, "metrics (names or globs; empty: the defaults)", c->pick, set_pick); break;
    case CA_BASELINE:
        if (!c->n) break;
        if (app_baseline(a) == c->ids[c->sel]) { app_set_baseline(a, 0); app_message(a, 0, "no baseline"); }
        else {
            app_set_baseline(a, c->ids[c->sel]);
            app_message(a, 0, "%s is the baseline: drawn in every chart, here and on the Run screens", c->runs[c->sel].name);
        }
        poll_data(c, a);
        break;
    default: return 0;
    }
    return UI_HANDLED | UI_REDRAW;
}

// The mouse: a click on a legend name selects that run; on a chart, puts the cursor there; the
// wheel zooms around the pointer.
static int keyfn(Screen *s, App *a, int key) {
    Cmp *c = (Cmp *)s;
    if (key == UI_KEY_ESC && c->cv.cursor) { c->cv.cursor = 0; return UI_HANDLED | UI_REDRAW; }
    int mx, my, button;
    if (key != KEY_MOUSE || !app_mouse(a, &mx, &my, &button)) return 0;
    if (my == 1) { // the legend
        for (int i = 0; i < c->n; i++) if (mx >= c->legend_x[i] && mx < c->legend_x[i + 1]) c->sel = i;
        return UI_HANDLED | UI_REDRAW;
    }
    if (c->pane == 1 && my >= 3 && c->table_vw > 0 && mx > c->table_kw) { // a run's column of the table
        int i = (mx - c->table_kw - 1) / c->table_vw;
        if (i >= c->n) return 0;
        c->sel = i;
        return UI_HANDLED | UI_REDRAW;
    }
    if (c->pane != 0 || my < 3) return 0;
    int cw = s ? c->chart_w : 0;
    if (cw <= 8) return 0;
    double frac = (double)(mx % cw - 7) / (cw - 8);
    if (button == UI_MOUSE_WHEEL_UP || button == UI_MOUSE_WHEEL_DOWN) chart_view_wheel(&c->cv, button == UI_MOUSE_WHEEL_UP, frac);
    else { c->cv.cursor = 1; c->cv.cx = c->cv.dlo + (c->cv.dhi - c->cv.dlo) * (frac < 0 ? 0 : frac > 1 ? 1 : frac); }
    return UI_HANDLED | UI_REDRAW;
}

static void draw_curves(Cmp *c, CellBuf *b, int top) {
    int W = b->w, H = b->h, bh = H - top;
    int ncols = c->nch <= 4 ? 2 : 3, nrows = (c->nch + ncols - 1) / ncols;
    if (c->nch <= 3) { ncols = c->nch ? c->nch : 1; nrows = 1; }
    if (c->nch == 6 || c->nch == 5) { ncols = 3; nrows = 2; }
    if (!nrows) nrows = 1;
    int cw = W / ncols, chh = bh / nrows;
    c->chart_w = cw;
    if (!c->nch) cb_wrap(b, 2, top + 1, W - 4, 3, "no metric to chart: m picks them (names or globs)", CB_DEFAULT, CB_DIM);
    for (int k = 0; k < c->nch; k++) {
        ChartSeries cs[MAXR + 1];
        int ns = 0;
        if (c->bid && c->bser[k].n)
            cs[ns++] = (ChartSeries){ui_series_x(&c->bser[k], c->cv.xtime), c->bser[k].value, (int)c->bser[k].n, CB_DEFAULT, c->bcache[k], NULL, 1};
        for (int i = 0; i < c->n; i++) {
            UiSeries *s = &c->ser[i][k];
            if (!s->n || c->hidden[i]) continue;
            cs[ns++] = (ChartSeries){ui_series_x(s, c->cv.xtime), s->value, (int)s->n, c->color[i], c->cache[i][k], NULL, 0};
        }
        int x = (k % ncols) * cw, y = top + (k / ncols) * chh;
        // the title row: the metric, and with the cursor each visible run's smoothed (raw) value
        // there in its colour
        int tx = x + cb_text(b, x, y, cw - 1, c->key[k], CB_DEFAULT, CB_BOLD);
        if (c->cv.cursor) {
            long st = -1;
            for (int i = -1; i < c->n; i++) {
                UiSeries *s = i < 0 ? &c->bser[k] : &c->ser[i][k];
                ChartCache *cc = i < 0 ? c->bcache[k] : c->cache[i][k];
                if ((i < 0 && !c->bid) || (i >= 0 && c->hidden[i])) continue;
                float raw, sm;
                long at;
                if (!chart_view_at(&c->cv, s, cc, &raw, &sm, &at)) continue;
                if (st < 0) { st = at; tx += cb_printf(b, tx + 1, y, x + cw - tx - 2, CB_DEFAULT, CB_DIM, "@%ld", at) + 1; }
                char v1[16], v2[16]; // narrow: several runs share the title row
                chart_fmt(sm, v1, 5);
                chart_fmt(raw, v2, 5);
                // where the pair does not fit, the smoothed value alone; where not even that, an
                // ellipsis says values were left out (readable in the Run screen, or wider)
                char val[40];
                int avail = x + cw - tx - 4; // two columns kept for the ellipsis
                snprintf(val, sizeof val, "%s(%s)", v1, v2);
                if (utf8_width(val) > avail) snprintf(val, sizeof val, "%s", v1);
                if (utf8_width(val) > avail) {
                    if (tx + 1 < x + cw - 1) cb_put(b, tx + 1, y, 0x2026, CB_DEFAULT, CB_DIM);
                    break;
                }
                tx += cb_text(b, tx + 1, y, avail, val, i < 0 ? CB_DEFAULT : c->color[i], i < 0 ? CB_DIM : CB_BOLD) + 1;
            }
        }
        ChartOpts o = {.title = NULL};
        chart_view_opts(&c->cv, &o);
        if (ns) chart_render(b, x, y + 1, cw - 1, chh - 1, cs, ns, &o);
        else cb_text(b, x + 2, y + 2, cw - 3, "no data", CB_DEFAULT, CB_DIM);
    }
}

static void draw_table(Cmp *c, CellBuf *b, int top) {
    int W = b->w, H = b->h;
    // a column as wide as the longest name (names are not cut while there is room), at least 16
    int kw = 22, vw = 16;
    for (int i = 0; i < c->n; i++) { int l = utf8_width(c->runs[i].name) + 2; if (l > vw) vw = l; }
    if (vw > 40) vw = 40;
    if (c->n && kw + 1 + vw * c->n > W) vw = (W - kw - 1) / c->n;
    c->table_kw = kw;
    c->table_vw = vw;
    // the rows: the charted metrics, then every eval.* metric and the latent statistics a run logged
    char rows[32][24];
    int nrows = 0;
    for (int k = 0; k < c->nch && nrows < 32; k++) memcpy(rows[nrows++], c->key[k], 24);
    for (int i = 0; i < c->n; i++)
        for (int j = 0; j < c->runs[i].nlatest && nrows < 32; j++) {
            const char *key = c->runs[i].latest[j].key;
            if (strncmp(key, "eval.", 5) && strcmp(key, "latent_sstd")) continue;
            int dup = 0;
            for (int r = 0; r < nrows; r++) dup |= !strcmp(rows[r], key);
            if (!dup) snprintf(rows[nrows++], 24, "%s", key);
        }
    int y = top;
    ui_section(b, 0, y++, W, "final / best; the best run in bold");
    cb_text(b, 0, y, kw, "metric", CB_DEFAULT, CB_UNDERLINE);
    for (int i = 0; i < c->n; i++) // the selected run (legend, clicks) in reverse, as in the legend
        cb_text(b, kw + 1 + i * vw, y, vw - 1, c->runs[i].name, c->color[i],
                CB_BOLD | CB_UNDERLINE | (i == c->sel && c->n > 1 ? CB_REVERSE : 0));
    y++;
    for (int k = 0; k < nrows && y < H; k++) {
        const char *key = rows[k];
        cb_text(b, 0, y, kw, key, CB_DEFAULT, 0);
        // The best final value and the best value ever, in the metric's own direction: a
        // run's best is its minimum for a lower-is-better metric, its maximum for a higher one.
        MetricBetter better = metric_better(key);
        int best_last = -1, best_own = -1;
        double top_last = NAN, top_own = NAN;
        for (int i = 0; i < c->n; i++) {
            const UiLatest *l = ui_run_latest(&c->runs[i], key);
            if (!l) continue;
            double own = better == BETTER_HIGHER ? l->max : l->min;
            if (isfinite(l->last) && metric_beats(better, l->last, top_last)) { best_last = i; top_last = l->last; }
            if (isfinite(own) && metric_beats(better, own, top_own)) { best_own = i; top_own = own; }
        }
        for (int i = 0; i < c->n; i++) {
            const UiLatest *l = ui_run_latest(&c->runs[i], key);
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
    // legend: the selected run reversed, hidden ones dim and hollow, the baseline marked
    int x = 1;
    int64_t base = app_baseline(a);
    for (int i = 0; i < c->n; i++) {
        c->legend_x[i] = x;
        cb_put(b, x, 1, c->hidden[i] ? 0x25CB : 0x25CF, c->color[i], CB_BOLD); // ○ ●
        x += 2;
        char nm[96];
        snprintf(nm, sizeof nm, "%s%s%s", c->have[i] ? c->runs[i].name : "(deleted)", c->ids[i] == base ? " (baseline)" : "",
                 c->hidden[i] ? " (hidden)" : "");
        x += cb_text(b, x, 1, b->w - x, nm, c->color[i], (c->hidden[i] ? CB_DIM : CB_BOLD) | (i == c->sel ? CB_REVERSE : 0)) + 2;
    }
    if (c->bid && x < b->w - 4) {
        cb_put(b, x, 1, 0x25C7, CB_DEFAULT, CB_DIM); // ◇
        x += 2 + cb_printf(b, x + 2, 1, b->w - x - 2, CB_DEFAULT, CB_DIM, "%s (baseline)", c->brun.name);
    }
    c->legend_x[c->n] = x;
    static const char *panes[] = {"1 curves", "2 table", "3 samples"};
    x = 1;
    for (int p = 0; p < 3; p++) x += cb_text(b, x, 2, 12, panes[p], CB_DEFAULT, p == c->pane ? CB_REVERSE | CB_BOLD : CB_DIM) + 2;
    if (c->pane == 0) {
        char st[256];
        chart_view_status(&c->cv, st, sizeof st);
        if (c->unused[0]) { size_t l = strlen(st); snprintf(st + l, sizeof st - l, "  unused: %s", c->unused); }
        cb_text(b, x + 2, 2, b->w - x - 2, st, CB_DEFAULT, CB_DIM);
    }
    if (c->pane == 0) draw_curves(c, b, 3);
    else if (c->pane == 1) draw_table(c, b, 3);
    else draw_samples(c, a, b, 3);
}

static void fr(Screen *s) {
    Cmp *c = (Cmp *)s;
    for (int i = 0; i < c->n; i++) {
        for (int k = 0; k < MAXCH; k++) { ui_series_free(&c->ser[i][k]); chart_cache_free(c->cache[i][k]); }
        image_free(&c->img[i]);
    }
    for (int d = 0; d < c->ndiff; d++) {
        free(c->diff[d].key);
        for (int i = 0; i < c->n; i++) free(c->diff[d].val[i]);
    }
    for (int k = 0; k < MAXCH; k++) { ui_series_free(&c->bser[k]); chart_cache_free(c->bcache[k]); }
    free(c->diff);
    free(c->steps);
    free(c);
}

static const ScreenVt vt = {"Compare", keys, draw, action, keyfn, tick, fr};

Screen *screen_compare_new(App *a, const int64_t *runs, int n) {
    Cmp *c = xcalloc(1, sizeof *c);
    c->base.vt = &vt;
    c->n = n < MAXR ? n : MAXR;
    memcpy(c->ids, runs, sizeof(int64_t) * (size_t)c->n);
    for (int i = 0; i < MAXR; i++) c->img_step[i] = -1;
    for (int i = 0; i < c->n; i++)
        for (int k = 0; k < MAXCH; k++) c->cache[i][k] = chart_cache_new();
    for (int k = 0; k < MAXCH; k++) c->bcache[k] = chart_cache_new();
    c->sidx = -1;
    chart_view_init(&c->cv, app_model(a));
    ui_pref_get(app_model(a), "compare.metrics", c->pick, sizeof c->pick);
    for (int i = 0; i < c->n; i++) c->color[i] = app_claim_color(a, c->ids[i]);
    poll_data(c, a);
    return &c->base;
}
