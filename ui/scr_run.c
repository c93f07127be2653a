// scr_run.c: one run: small multiples of the five losses and the total (braille charts),
// progress with it/s and ETA, latent_std, and on the right the sample grid with a step slider,
// the config, or the run's console with its process' CPU and memory (ui/run_console.c).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fnmatch.h>
#include "ui/chart.h"
#include "ui/chart_view.h"
#include "ui/run_console.h"
#include "ui/screens.h"
#include "base/util.h"

enum { RA_PREV = 1, RA_NEXT, RA_LATEST, RA_FIRST, RA_PANE, RA_STOP, RA_RESUME, RA_CFG_UP, RA_CFG_DOWN, RA_PICK,
       RA_BASELINE, RA_CONSOLE };

static const KeyBinding keys[] = {
    {'m', RA_PICK, "metrics", "chart metrics by name or glob (total grad_norm_* eval.*); empty: the defaults"},
    CHART_VIEW_KEYS,
    {'B', RA_BASELINE, "baseline", "pin this run as the baseline drawn in every chart (again: unpin)"},
    {'[', RA_PREV, "sample<", "previous sample step"}, {',', RA_PREV, NULL, "previous sample step"},
    {']', RA_NEXT, "sample>", "next sample step"}, {'.', RA_NEXT, NULL, "next sample step"},
    {KEY_END, RA_LATEST, NULL, "latest sample (follow the run)"}, {'$', RA_LATEST, NULL, "latest sample"},
    {KEY_HOME, RA_FIRST, NULL, "first sample"},
    {'c', RA_PANE, "config", "right pane: samples or config"},
    {'o', RA_CONSOLE, "console", "right pane: the run's console (warnings, errors, notes) and its process' CPU and memory"},
    {'x', RA_STOP, "stop", "stop the run (checkpoint first)"},
    {'r', RA_RESUME, "resume", "resume the run"},
    {'j', RA_CFG_DOWN, NULL, "scroll the config or console"}, {KEY_DOWN, RA_CFG_DOWN, NULL, "scroll the config or console"},
    {'k', RA_CFG_UP, NULL, "scroll the config or console"}, {KEY_UP, RA_CFG_UP, NULL, "scroll the config or console"},
    {0, 0, NULL, NULL},
};

#define MAXCH 12
enum { I_TOTAL, I_LSTD, I_SSTD, NINFO }; // series for the header: the rate, the latent statistics
static const char *const info_key[NINFO] = {"total", "latent_std", "latent_sstd"};

typedef struct {
    Screen base;
    ChartView cv;                  // second: see ChartViewScreen
    int64_t id;
    UiRun run;
    int have_run;
    char pick[256];                // the metric picker as typed ("": the defaults)
    char key[MAXCH][24];           // the charted metrics
    int nch;
    char unused[128];              // default charts left out: losses this run does not use
    UiSeries ser[MAXCH];
    ChartCache *cache[MAXCH];
    int64_t bid;                   // the baseline whose curves bser holds (0 none)
    char bname[64];
    UiSeries bser[MAXCH];
    ChartCache *bcache[MAXCH];
    UiSeries info[NINFO];
    char *config;
    long *steps;                   // sample steps
    int nsteps;
    int sidx;                      // slider position; -1 follows the latest
    Image img;
    long img_step;                 // step of img (-1 none)
    int pane, cfg_top;             // pane: 0 samples, 1 config, 2 console
    RunConsole con;
    int chart_x0, chart_y0, chart_w, chart_h, chart_cols; // the grid, for the mouse
    double last_poll;
    char err[ERRLEN];
} RunScr;

static int choose(const UiRun *u, const char *pick, char out[MAXCH][24], char *unused_out, int un) {
    return ui_pick_metrics(u, 1, pick, out, MAXCH, unused_out, un);
}

// Moves the series of metrics still charted to their new places and starts the others afresh.
static void set_keys(RunScr *r, char keys[MAXCH][24], int n) {
    if (n == r->nch && !memcmp(keys, r->key, sizeof(r->key[0]) * (size_t)n)) return;
    UiSeries ser[MAXCH] = {{0}}, bser[MAXCH] = {{0}};
    ChartCache *cache[MAXCH] = {0}, *bcache[MAXCH] = {0};
    for (int i = 0; i < n; i++)
        for (int j = 0; j < r->nch; j++)
            if (r->cache[j] && !strcmp(keys[i], r->key[j])) {
                ser[i] = r->ser[j]; bser[i] = r->bser[j]; cache[i] = r->cache[j]; bcache[i] = r->bcache[j];
                r->cache[j] = r->bcache[j] = NULL;
                memset(&r->ser[j], 0, sizeof r->ser[j]);
                memset(&r->bser[j], 0, sizeof r->bser[j]);
            }
    for (int j = 0; j < r->nch; j++) {
        ui_series_free(&r->ser[j]); ui_series_free(&r->bser[j]);
        chart_cache_free(r->cache[j]); chart_cache_free(r->bcache[j]);
    }
    for (int i = 0; i < n; i++) {
        if (!cache[i]) { cache[i] = chart_cache_new(); bcache[i] = chart_cache_new(); }
        r->ser[i] = ser[i]; r->bser[i] = bser[i]; r->cache[i] = cache[i]; r->bcache[i] = bcache[i];
        memcpy(r->key[i], keys[i], sizeof r->key[i]);
    }
    r->nch = n;
}

static void forget(UiSeries *s, ChartCache **c, int n) {
    for (int j = 0; j < n; j++) { ui_series_free(&s[j]); chart_cache_reset(c[j]); }
}

static int poll_data(RunScr *r, App *a) {
    UiBackend *m = app_model(a);
    char err[ERRLEN];
    UiRun *runs = NULL;
    int n = 0, changed = 0;
    r->last_poll = now_seconds();
    int64_t bid = app_baseline(a);
    if (bid == r->id) bid = 0;
    int bfound = 0;
    if (m->ops->list_runs(m, &runs, &n, err) == 0) {
        int found = 0;
        for (int i = 0; i < n; i++) {
            if (runs[i].id == r->id) {
                if (!r->have_run || memcmp(&runs[i], &r->run, sizeof r->run)) changed = 1;
                r->run = runs[i];
                found = 1;
            }
            if (bid && runs[i].id == bid) { bfound = 1; snprintf(r->bname, sizeof r->bname, "%s", runs[i].name); }
        }
        r->have_run = found;
        free(runs);
    }
    if (!r->have_run) { snprintf(r->err, sizeof r->err, "run %lld is gone (deleted?)", (long long)r->id); return 1; }
    char keys[MAXCH][24];
    int nk = choose(&r->run, r->pick, keys, r->unused, (int)sizeof r->unused);
    if (nk != r->nch || memcmp(keys, r->key, sizeof keys[0] * (size_t)nk)) { set_keys(r, keys, nk); changed = 1; }
    if (!bfound) bid = 0;
    if (bid != r->bid) { forget(r->bser, r->bcache, r->nch); r->bid = bid; changed = 1; }
    // Points beyond the run's step were forgotten by a resume from an earlier checkpoint:
    // start the curves again rather than mix the two continuations.
    int stale = 0;
    for (int k = 0; k < r->nch; k++) stale |= r->ser[k].n && r->ser[k].step[r->ser[k].n - 1] > r->run.step;
    for (int k = 0; k < NINFO; k++) stale |= r->info[k].n && r->info[k].step[r->info[k].n - 1] > r->run.step;
    if (stale) {
        forget(r->ser, r->cache, r->nch);
        for (int k = 0; k < NINFO; k++) ui_series_free(&r->info[k]);
        changed = 1;
    }
    for (int k = 0; k < r->nch; k++) {
        long before = r->ser[k].n, bb = r->bser[k].n;
        if (m->ops->series_append(m, r->id, r->key[k], &r->ser[k], err) == 0 && r->ser[k].n != before) changed = 1;
        if (bid && m->ops->series_append(m, bid, r->key[k], &r->bser[k], err) == 0 && r->bser[k].n != bb) changed = 1;
    }
    for (int k = 0; k < NINFO; k++) {
        long before = r->info[k].n;
        if (m->ops->series_append(m, r->id, info_key[k], &r->info[k], err) == 0 && r->info[k].n != before) changed = 1;
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
    changed |= run_console_poll(&r->con, m, &r->run);
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

static void set_pick(Screen *s, App *a, const char *text) {
    RunScr *r = (RunScr *)s;
    snprintf(r->pick, sizeof r->pick, "%s", text);
    ui_pref_set(app_model(a), "run.metrics", r->pick);
    poll_data(r, a);
}

// As the picker is typed: which metrics it would chart.
static void live_pick(Screen *s, App *a, const char *text, char *hint, int n) {
    (void)a;
    RunScr *r = (RunScr *)s;
    char keys[MAXCH][24];
    int k = choose(&r->run, text, keys, NULL, 0), l = 0;
    if (!k) { snprintf(hint, (size_t)n, "!matches no metric of this run"); return; }
    for (int i = 0; i < k && l < n - 24; i++) l += snprintf(hint + l, (size_t)(n - l), "%s%s", i ? " " : "", keys[i]);
}

static int action(Screen *s, App *a, int act, int key) {
    (void)key;
    RunScr *r = (RunScr *)s;
    UiBackend *m = app_model(a);
    char err[ERRLEN];
    if (act >= CV_SMOOTH_UP) return chart_view_action(&r->cv, a, act);
    switch (act) {
    case RA_PREV:
        if (r->nsteps) r->sidx = (r->sidx < 0 ? r->nsteps - 1 : r->sidx) - 1;
        if (r->sidx < 0) r->sidx = 0;
        break;
    case RA_NEXT:
        if (r->sidx >= 0 && ++r->sidx >= r->nsteps - 1) r->sidx = -1; // at the end: follow the run again
        break;
    case RA_LATEST: r->sidx = -1; break;
    case RA_FIRST: if (r->nsteps) r->sidx = 0; break;
    case RA_PANE: r->pane = r->pane == 1 ? 0 : 1; break;
    case RA_CONSOLE: r->pane = r->pane == 2 ? 0 : 2; break;
    case RA_CFG_DOWN:
        if (r->pane == 1) r->cfg_top++;
        else if (r->pane == 2 && r->con.scroll > 0) r->con.scroll--;
        else return 0;
        break;
    case RA_CFG_UP:
        if (r->pane == 1 && r->cfg_top > 0) r->cfg_top--;
        else if (r->pane == 2) r->con.scroll++;
        else return 0;
        break;
    case RA_PICK: {
        char avail[512];
        int l = snprintf(avail, sizeof avail, "metrics");
        (void)l;
        app_prompt_live(a, avail, r->pick, set_pick, live_pick);
        break;
    }
    case RA_BASELINE:
        if (app_baseline(a) == r->id) { app_set_baseline(a, 0); app_message(a, 0, "no baseline"); }
        else { app_set_baseline(a, r->id); app_message(a, 0, "%s is the baseline: drawn faint in every chart", r->run.name); }
        poll_data(r, a);
        break;
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

// The mouse: a click on a chart puts the cursor there, the wheel zooms around it.
static int keyfn(Screen *s, App *a, int key) {
    RunScr *r = (RunScr *)s;
    if (key == UI_KEY_ESC && r->cv.cursor) { r->cv.cursor = 0; return UI_HANDLED | UI_REDRAW; }
    int mx, my, button;
    if (key != KEY_MOUSE || !app_mouse(a, &mx, &my, &button) || !r->chart_w || !r->chart_cols) return 0;
    if (my < r->chart_y0 || mx < r->chart_x0 || mx >= r->chart_x0 + r->chart_w * r->chart_cols) return 0;
    double frac = (double)((mx - r->chart_x0) % r->chart_w - 7) / (r->chart_w - 8); // past the y labels
    if (button == UI_MOUSE_WHEEL_UP || button == UI_MOUSE_WHEEL_DOWN) chart_view_wheel(&r->cv, button == UI_MOUSE_WHEEL_UP, frac);
    else { double lo = r->cv.dlo, hi = r->cv.dhi; r->cv.cursor = 1; r->cv.cx = lo + (hi - lo) * (frac < 0 ? 0 : frac > 1 ? 1 : frac); }
    return UI_HANDLED | UI_REDRAW;
}

static void draw_chart(CellBuf *b, int x, int y, int w, int h, int k, int color, RunScr *r) {
    UiSeries *s = &r->ser[k];
    char title[160], v[16] = "-";
    if (s->n) chart_fmt(s->value[s->n - 1], v, 8);
    snprintf(title, sizeof title, "%s %s", r->key[k], v);
    float raw, sm;
    long st;
    if (r->cv.cursor && chart_view_at(&r->cv, s, r->cache[k], &raw, &sm, &st)) { // the readout replaces the last value
        char a1[16], a2[16];
        chart_fmt(raw, a1, 8);
        chart_fmt(sm, a2, 8);
        int l = snprintf(title, sizeof title, "%s @%ld  %s  raw %s", r->key[k], st, a2, a1);
        if (r->bid && chart_view_at(&r->cv, &r->bser[k], r->bcache[k], &raw, &sm, &st)) {
            chart_fmt(sm, a2, 8);
            snprintf(title + l, sizeof title - (size_t)l, "  base %s", a2);
        }
    }
    if (!s->n && !r->bser[k].n) {
        cb_text(b, x, y, w, title, CB_DEFAULT, CB_BOLD);
        cb_text(b, x + 2, y + h / 2, w - 2, "no data yet", CB_DEFAULT, CB_DIM);
        return;
    }
    ChartSeries cs[2];
    int ns = 0;
    if (r->bid && r->bser[k].n) // the baseline behind, in the terminal's own colour
        cs[ns++] = (ChartSeries){ui_series_x(&r->bser[k], r->cv.xtime), r->bser[k].value, (int)r->bser[k].n, CB_DEFAULT, r->bcache[k], NULL, 1};
    if (s->n) cs[ns++] = (ChartSeries){ui_series_x(s, r->cv.xtime), s->value, (int)s->n, color, r->cache[k], NULL, 0};
    ChartOpts o = {.title = title};
    chart_view_opts(&r->cv, &o);
    chart_render(b, x, y, w, h, cs, ns, &o);
}

static void draw_config(CellBuf *b, int x, int y, int w, int h, RunScr *r) {
    if (!r->config) { cb_text(b, x, y, w, "(no config)", CB_DEFAULT, CB_DIM); return; }
    const char *p = r->config;
    int line = 0;
    if (r->cfg_top < 0) r->cfg_top = 0;
    while (*p) {
        const char *e = strchr(p, '\n');
        int len = e ? (int)(e - p) : (int)strlen(p);
        if (line >= r->cfg_top) {
            if (h-- <= 0) break;
            char buf[256];
            snprintf(buf, sizeof buf, "%.*s", len < 255 ? len : 255, p);
            cb_text_fit(b, x, y++, w, buf, CB_DEFAULT, 0);
        }
        line++;
        if (!e) break;
        p = e + 1;
    }
}

static void draw_header(RunScr *r, CellBuf *b) {
    int W = b->w;
    const UiRun *u = &r->run;
    int x = cb_text(b, 1, 1, W / 2, u->name, CB_DEFAULT, CB_BOLD);
    x += 2;
    x += cb_text(b, x, 1, 14, u->status, ui_status_color(u->status), CB_BOLD);
    char prog[128];
    ui_progress_text(u, prog, sizeof prog);
    // Logged wall times give the rate of this stretch of training (resumes, pauses excluded).
    const UiSeries *ts = &r->info[I_TOTAL];
    if (ts->n >= 2 && ts->wall[ts->n - 1] > ts->wall[0]) {
        long a0 = ts->n > 50 ? ts->n - 50 : 0;
        double its = (ts->step[ts->n - 1] - ts->step[a0]) / (ts->wall[ts->n - 1] - ts->wall[a0] + 1e-9);
        char eta[32] = "-";
        if (its > 0 && ui_run_live(u) && u->total_steps > u->step) ui_fmt_elapsed((u->total_steps - u->step) / its, eta, sizeof eta);
        snprintf(prog, sizeof prog, "step %ld/%ld  %.1f it/s  ETA %s", u->step, u->total_steps, its, eta);
    }
    // A data-parallel run (mpirun -np N) says so: its it/s is the whole world's.
    if (u->world_size > 1) {
        size_t l = strlen(prog);
        snprintf(prog + l, sizeof prog - l, "  %d processes", u->world_size);
    }
    x += 2;
    x += cb_text(b, x, 1, W - x, prog, CB_DEFAULT, 0);
    // The latent statistics, and the collapse flag the trainer raises (latent_sstd 10x below its
    // peak): the failure of this method no loss curve shows.
    const UiSeries *ls = &r->info[I_LSTD], *ss = &r->info[I_SSTD];
    const UiLatest *cl = ui_run_latest(u, "collapse");
    if (ls->n && x + 18 < W) x += 2 + cb_printf(b, x + 2, 1, W - x - 2, CB_DEFAULT, 0, "latent_std %.3g", ls->value[ls->n - 1]);
    if (ss->n && x + 18 < W) x += 2 + cb_printf(b, x + 2, 1, W - x - 2, cl && cl->last >= 1 ? C_RED : CB_DEFAULT, 0, "sstd %.3g", ss->value[ss->n - 1]);
    if (cl && cl->last >= 1) cb_text(b, x + 2, 1, W - x - 2, "LATENT COLLAPSE", C_RED, CB_BOLD | CB_REVERSE);
    double frac = u->total_steps > 0 ? (double)u->step / u->total_steps : 0;
    ui_progress_bar(b, 1, 2, W - 2, frac, ui_status_color(u->status));
    char opts[256];
    chart_view_status(&r->cv, opts, sizeof opts);
    size_t l = strlen(opts), base_l;
    if (r->bid) l += (size_t)snprintf(opts + l, sizeof opts - l, "  baseline %s (B)", r->bname);
    base_l = l < sizeof opts ? l : sizeof opts - 1;
    if (r->unused[0] && l < sizeof opts) snprintf(opts + l, sizeof opts - l, "  not charted, unused: %s (m picks)", r->unused);
    // The process beside it, right-aligned: what it costs the machine while it trains, and
    // the console's warnings when the console is not shown.
    char pt[200] = "", warn[32] = "";
    if (r->pane != 2 && r->con.nwarn + r->con.nerr)
        snprintf(warn, sizeof warn, "%d warning%s (o)", r->con.nwarn + r->con.nerr, r->con.nwarn + r->con.nerr == 1 ? "" : "s");
    // Both in one row: the long forms where they fit, else the short ones, and what still
    // does not fit ends in an ellipsis rather than being cut silently.
    int avail = W - 2;
    for (int compact = 0; compact < 2; compact++) {
        run_console_proc_text(&r->con, pt, sizeof pt, compact);
        if (warn[0]) { size_t pl = strlen(pt); snprintf(pt + pl, sizeof pt - pl, "%s%s", pl ? "  " : "", warn); }
        if (utf8_width(pt) + 2 + utf8_width(opts) <= avail) break;
        if (compact && r->unused[0] && base_l < sizeof opts) // the short form of the note
            snprintf(opts + base_l, sizeof opts - base_l, "  unused: %s", r->unused);
    }
    int pw = utf8_width(pt), ow = pt[0] && pw < W * 2 / 3 ? W - 4 - pw : W - 2;
    if (u->error[0]) {
        char e[256];
        snprintf(e, sizeof e, "error: %s", u->error);
        cb_text_fit(b, 1, 3, ow, e, C_RED, 0);
    } else cb_text_fit(b, 1, 3, ow, opts, CB_DEFAULT, CB_DIM);
    if (ow < W - 2) cb_text(b, W - 1 - pw, 3, pw, pt, r->con.nerr && r->pane != 2 ? C_RED : CB_DEFAULT, 0);
}

static void draw(Screen *s, App *a, CellBuf *b) {
    RunScr *r = (RunScr *)s;
    int W = b->w, H = b->h;
    if (!r->have_run) { cb_text(b, 2, 2, W - 4, r->err[0] ? r->err : "loading...", C_RED, CB_BOLD); return; }
    draw_header(r, b);
    // body: the charts in a grid on the left, samples/config on the right
    int top = 4, bh = H - top;
    int rw = W * 36 / 100;
    if (rw < 26) rw = 26;
    int lw = W - rw - 1;
    int ncols = r->nch <= 1 ? 1 : 2, nrows = (r->nch + ncols - 1) / ncols;
    if (nrows && bh / nrows < 5 && r->nch > 2) { ncols = 3; nrows = (r->nch + 2) / 3; }
    if (!nrows) nrows = 1;
    int cw = lw / ncols, chh = bh / nrows;
    r->chart_x0 = 0; r->chart_y0 = top; r->chart_w = cw; r->chart_h = chh; r->chart_cols = ncols;
    if (!r->nch) cb_wrap(b, 2, top + 1, lw - 2, bh - 1, "no metric to chart: m picks them (names or globs)", CB_DEFAULT, CB_DIM);
    // each metric keeps its colour; total in the terminal's own foreground (white vanished on
    // light backgrounds), or blue when the baseline takes the foreground
    static const int colors[] = {C_CYAN, C_YELLOW, C_MAGENTA, C_GREEN, C_BLUE, CB_DEFAULT};
    for (int k = 0; k < r->nch; k++) {
        int cx = (k % ncols) * cw, cy = top + (k / ncols) * chh;
        const Metric *mt = metric_find(r->key[k]);
        int ci = mt ? (int)(mt - metric_at(0)) : k;
        int color = ci < UI_NMETRICS ? colors[ci] : colors[k % 5];
        if (color == CB_DEFAULT && r->bid) color = C_BLUE;
        draw_chart(b, cx, cy, cw - 1, chh, k, color, r);
    }
    for (int y = top; y < H; y++) cb_put(b, lw, y, 0x2502, CB_DEFAULT, CB_DIM);
    int px = lw + 2, pw = W - px - 1;
    if (r->pane == 2) {
        ui_section(b, px - 1, top, pw + 1, "console");
        run_console_draw(&r->con, b, px, top + 1, pw, H - top - 1);
        return;
    }
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
    for (int k = 0; k < r->nch; k++) {
        ui_series_free(&r->ser[k]); ui_series_free(&r->bser[k]);
        chart_cache_free(r->cache[k]); chart_cache_free(r->bcache[k]);
    }
    for (int k = 0; k < NINFO; k++) ui_series_free(&r->info[k]);
    free(r->config);
    run_console_free(&r->con);
    free(r->steps);
    image_free(&r->img);
    free(r);
}

static const ScreenVt vt = {"Run", keys, draw, action, keyfn, tick, fr};

Screen *screen_run_new(App *a, int64_t run) {
    RunScr *r = xcalloc(1, sizeof *r);
    r->base.vt = &vt;
    r->id = run;
    r->sidx = -1;
    r->img_step = -1;
    chart_view_init(&r->cv, app_model(a));
    ui_pref_get(app_model(a), "run.metrics", r->pick, sizeof r->pick);
    poll_data(r, a);
    return &r->base;
}
