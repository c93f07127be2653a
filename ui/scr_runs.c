// scr_runs.c: the home screen: every run with live status, progress and latest losses;
// sort, filter, mark for comparison, open, launch, stop, resume, delete, tag, note.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ui/runs_filter.h"
#include "ui/screens.h"
#include "base/util.h"

enum { RA_UP = 1, RA_DOWN, RA_PGUP, RA_PGDN, RA_HOME, RA_END, RA_OPEN, RA_MARK, RA_COMPARE, RA_NEW, RA_STOP, RA_RESUME,
       RA_DELETE, RA_TAG, RA_NOTE, RA_SORT, RA_REVERSE, RA_FILTER, RA_UNMARK, RA_BEST, RA_COLUMNS, RA_BASELINE };

static const KeyBinding keys[] = {
    {10, RA_OPEN, "open", "open the run: curves, samples, config"},
    {13, RA_OPEN, NULL, "open the run"},
    {KEY_ENTER, RA_OPEN, NULL, "open the run"},
    {' ', RA_MARK, "mark", "mark / unmark for comparison"},
    {'c', RA_COMPARE, "compare", "compare the marked runs (or the selected one)"},
    {'n', RA_NEW, "new", "launch a new run from configs/*.json"},
    {'x', RA_STOP, "stop", "stop the selected run (checkpoint first)"},
    {'r', RA_RESUME, "resume", "resume a stopped or interrupted run"},
    {'d', RA_DELETE, "delete", "delete the run (or the marked runs) and their files (asks first)"},
    {KEY_DC, RA_DELETE, NULL, "delete the run (asks first)"},
    {'t', RA_TAG, "tag", "add a tag to the run or the marked runs (-name removes it)"},
    {'e', RA_NOTE, "note", "edit the run's note"},
    {'s', RA_SORT, "sort", "next sort column"},
    {'S', RA_REVERSE, NULL, "reverse the sort order"},
    {'/', RA_FILTER, "filter", "filter as you type: lr>=1e-3 status:done tag:sweep fd<5 word !tag:x"},
    {'b', RA_BEST, "best", "metric columns: last value or best so far (in each metric's direction)"},
    {'C', RA_COLUMNS, NULL, "extra columns: metrics or config keys (lr eval.fd latent_sstd)"},
    {'B', RA_BASELINE, NULL, "pin the selected run as the baseline of every chart (again: unpin)"},
    {'u', RA_UNMARK, NULL, "unmark all"},
    {KEY_UP, RA_UP, NULL, "previous run"}, {'k', RA_UP, NULL, "previous run"},
    {KEY_DOWN, RA_DOWN, NULL, "next run"}, {'j', RA_DOWN, NULL, "next run"},
    {KEY_PPAGE, RA_PGUP, NULL, "page up"}, {KEY_NPAGE, RA_PGDN, NULL, "page down"},
    {KEY_HOME, RA_HOME, NULL, "first run"}, {'g', RA_HOME, NULL, "first run"},
    {KEY_END, RA_END, NULL, "last run"}, {'G', RA_END, NULL, "last run"},
    {0, 0, NULL, NULL},
};

// Sort keys: the metric columns of base/metrics.h (S_METRIC + k for column k) between progress
// and elapsed.
enum { S_NEWEST, S_NAME, S_STATUS, S_PROGRESS, S_METRIC, S_ELAPSED = S_METRIC + METRIC_NCOLUMNS, NSORT };
static const char *sort_name(int s) {
    static const char *const fixed[] = {"newest", "name", "status", "progress"};
    return s < S_METRIC ? fixed[s] : s < S_ELAPSED ? metric_at(s - S_METRIC)->name : "elapsed";
}

#define MAXMARK 8
typedef struct {
    Screen base;
    UiRun *runs;
    int n;
    int *view; // indexes into runs after filter and sort
    int nview;
    int cur, top;
    int64_t cur_id;
    int64_t marks[MAXMARK];
    int nmarks;
    int sort, reverse;
    char filter[128];
    RunsFilter rf;
    char rf_err[160];   // why the filter does not parse ("" if it does); the last good one applies
    RunConfigs cfgs;    // for config terms and columns
    char columns[256];  // the extra columns as typed ("latent_sstd lr")
    char col[8][32];
    int ncol;
    int best;           // metric columns show the best so far instead of the last value
    double last_poll;
    int page;
    App *app;
} Runs;

#define MAXCOL 8
// The extra columns from r->columns: names separated by spaces or commas.
static void parse_columns(Runs *r) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", r->columns);
    r->ncol = 0;
    for (char *sv = NULL, *t = strtok_r(buf, " ,", &sv); t && r->ncol < MAXCOL; t = strtok_r(NULL, " ,", &sv))
        snprintf(r->col[r->ncol++], sizeof r->col[0], "%s", t);
}

static int columns_need_config(const Runs *r) {
    for (int i = 0; i < r->ncol; i++) if (!metric_find(r->col[i]) && ui_config_key(r->col[i]) >= 0) return 1;
    return 0;
}

static int marked(const Runs *r, int64_t id) {
    for (int i = 0; i < r->nmarks; i++) if (r->marks[i] == id) return i + 1;
    return 0;
}

static const UiRun *current(const Runs *r) { return r->nview ? &r->runs[r->view[r->cur]] : NULL; }

// The value a metric column shows: the last, or the best so far in the metric's direction.
static double metric_or_nan(const UiRun *u, const char *key, int best) {
    const UiLatest *l = ui_run_latest(u, key);
    if (!l) return NAN;
    MetricBetter b = metric_better(key);
    double v = !best || b == BETTER_NEITHER ? l->last : b == BETTER_HIGHER ? l->max : l->min;
    return isfinite(v) ? v : NAN;
}

static const Runs *sort_ctx;
static int cmp(const void *pa, const void *pb) {
    const UiRun *a = &sort_ctx->runs[*(const int *)pa], *b = &sort_ctx->runs[*(const int *)pb];
    double d = 0;
    switch (sort_ctx->sort) {
    case S_NEWEST: d = b->created - a->created; if (d == 0) d = (double)(b->id - a->id); break;
    case S_NAME: d = strcmp(a->name, b->name); break;
    case S_STATUS: d = strcmp(a->status, b->status); break;
    case S_PROGRESS: d = (b->total_steps ? (double)b->step / b->total_steps : 0) - (a->total_steps ? (double)a->step / a->total_steps : 0); break;
    case S_ELAPSED: d = ui_run_elapsed(b) - ui_run_elapsed(a); break;
    default: { // the best first in the metric's own direction (lowest where it has none); missing last
        const Metric *m = metric_at(sort_ctx->sort - S_METRIC);
        MetricBetter bt = m->better != BETTER_NEITHER ? m->better : BETTER_LOWER;
        double x = metric_or_nan(a, m->name, sort_ctx->best), y = metric_or_nan(b, m->name, sort_ctx->best);
        d = metric_beats(bt, x, y) ? -1 : metric_beats(bt, y, x) ? 1 : 0;
    }
    }
    if (d == 0) d = (double)(b->id - a->id);
    if (sort_ctx->reverse) d = -d;
    return d < 0 ? -1 : d > 0 ? 1 : 0;
}

static void rebuild(Runs *r) {
    r->view = xrealloc(r->view, sizeof(int) * (size_t)(r->n + 1));
    r->nview = 0;
    for (int i = 0; i < r->n; i++) {
        const UiRun *u = &r->runs[i];
        const Config *cfg = r->rf.needs_config ? run_configs_get(&r->cfgs, app_model(r->app), u->id) : NULL;
        if (!runs_filter_match(&r->rf, u, cfg)) continue;
        r->view[r->nview++] = i;
    }
    sort_ctx = r;
    qsort(r->view, (size_t)r->nview, sizeof(int), cmp);
    r->cur = 0;
    for (int i = 0; i < r->nview; i++) if (r->runs[r->view[i]].id == r->cur_id) r->cur = i;
    if (r->nview) r->cur_id = r->runs[r->view[r->cur]].id;
    // forget marks of deleted runs
    int k = 0;
    for (int i = 0; i < r->nmarks; i++) {
        int found = 0;
        for (int j = 0; j < r->n; j++) if (r->runs[j].id == r->marks[i]) found = 1;
        if (found) r->marks[k++] = r->marks[i];
    }
    r->nmarks = k;
}

static int reload(Runs *r, App *a) {
    UiRun *runs = NULL;
    int n = 0;
    char err[ERRLEN];
    UiBackend *m = app_model(a);
    if (m->ops->list_runs(m, &runs, &n, err)) { app_message(a, 1, "reading runs: %s", err); return 0; }
    int same = n == r->n && (n == 0 || !memcmp(runs, r->runs, sizeof(UiRun) * (size_t)n));
    free(r->runs);
    r->runs = runs;
    r->n = n;
    r->last_poll = now_seconds();
    if (!same) rebuild(r);
    // a running row shows elapsed time: redraw at least once a second while anything runs
    for (int i = 0; i < n && same; i++) if (ui_run_live(&runs[i])) return 1;
    return !same;
}

static int tick(Screen *s, App *a) {
    Runs *r = (Runs *)s;
    int64_t f = app_take_focus(a);
    if (f) { // a run just launched: show it at once, selected
        r->cur_id = f;
        reload(r, a);
        rebuild(r);
        return UI_REDRAW;
    }
    if (now_seconds() - r->last_poll < 0.5) return 0;
    return reload(r, a) ? UI_REDRAW : 0;
}

static void move_cur(Runs *r, int to) {
    if (to >= r->nview) to = r->nview - 1;
    if (to < 0) to = 0;
    r->cur = to;
    if (r->nview) r->cur_id = r->runs[r->view[to]].id;
}

static void set_filter(Screen *s, App *a, const char *text) {
    Runs *r = (Runs *)s;
    snprintf(r->filter, sizeof r->filter, "%s", text);
    RunsFilter f;
    char err[160];
    if (runs_filter_parse(&f, text, err, sizeof err) == 0) { r->rf = f; r->rf_err[0] = 0; }
    else snprintf(r->rf_err, sizeof r->rf_err, "%s", err); // half-typed: keep the last filter that parsed
    rebuild(r);
    app_dirty(a);
}

// As you type: the filter applies at once, and the prompt says how many runs pass or what is wrong.
static void live_filter(Screen *s, App *a, const char *text, char *hint, int n) {
    Runs *r = (Runs *)s;
    set_filter(s, a, text);
    if (r->rf_err[0]) snprintf(hint, (size_t)n, "!%s", r->rf_err);
    else snprintf(hint, (size_t)n, "%d of %d", r->nview, r->n);
}

static void set_columns(Screen *s, App *a, const char *text) {
    Runs *r = (Runs *)s;
    snprintf(r->columns, sizeof r->columns, "%s", text);
    parse_columns(r);
    for (int i = 0; i < r->ncol; i++)
        if (!ui_value_known(r->runs, r->n, r->col[i]))
            app_message(a, 1, "column %s: no run logged a metric of that name and no config key has it", r->col[i]);
    ui_pref_set(app_model(a), "runs.columns", r->columns);
}

// The runs an action applies to: the marked ones if any, else the selected one.
static int targets(const Runs *r, int64_t *ids) {
    if (r->nmarks) { memcpy(ids, r->marks, sizeof(int64_t) * (size_t)r->nmarks); return r->nmarks; }
    const UiRun *u = current(r);
    if (!u) return 0;
    ids[0] = u->id;
    return 1;
}

static const UiRun *by_id(const Runs *r, int64_t id) {
    for (int i = 0; i < r->n; i++) if (r->runs[i].id == id) return &r->runs[i];
    return NULL;
}

static void do_delete(Screen *s, App *a) {
    Runs *r = (Runs *)s;
    int64_t ids[MAXMARK];
    int n = targets(r, ids), done = 0;
    char err[ERRLEN], name[64] = "";
    UiBackend *m = app_model(a);
    for (int i = 0; i < n; i++) {
        const UiRun *u = by_id(r, ids[i]);
        if (!u || ui_run_live(u)) continue; // asked about only the ones not training
        snprintf(name, sizeof name, "%s", u->name);
        if (m->ops->remove(m, ids[i], err)) { app_message(a, 1, "delete %s: %s", name, err); reload(r, a); return; }
        done++;
    }
    if (done == 1) app_message(a, 0, "deleted %s", name);
    else app_message(a, 0, "deleted %d runs", done);
    r->nmarks = 0;
    reload(r, a);
}

static void do_tag(Screen *s, App *a, const char *text) {
    Runs *r = (Runs *)s;
    int64_t ids[MAXMARK];
    int n = targets(r, ids);
    if (!n || !*text) return;
    char err[ERRLEN];
    UiBackend *m = app_model(a);
    int rm = text[0] == '-';
    for (int i = 0; i < n; i++)
        if (m->ops->tag(m, ids[i], text + rm, rm, err)) { app_message(a, 1, "tag: %s", err); break; }
    if (n > 1) app_message(a, 0, "%s %s on %d runs", rm ? "removed" : "tagged", text + rm, n);
    reload(r, a);
}

static void do_note(Screen *s, App *a, const char *text) {
    Runs *r = (Runs *)s;
    const UiRun *u = current(r);
    if (!u) return;
    char err[ERRLEN];
    UiBackend *m = app_model(a);
    if (m->ops->note(m, u->id, text, err)) app_message(a, 1, "note: %s", err);
    reload(r, a);
}

static int action(Screen *s, App *a, int act, int key) {
    (void)key;
    Runs *r = (Runs *)s;
    const UiRun *u = current(r);
    UiBackend *m = app_model(a);
    char err[ERRLEN];
    switch (act) {
    case RA_UP: move_cur(r, r->cur - 1); break;
    case RA_DOWN: move_cur(r, r->cur + 1); break;
    case RA_PGUP: move_cur(r, r->cur - (r->page > 1 ? r->page : 10)); break;
    case RA_PGDN: move_cur(r, r->cur + (r->page > 1 ? r->page : 10)); break;
    case RA_HOME: move_cur(r, 0); break;
    case RA_END: move_cur(r, r->nview - 1); break;
    case RA_OPEN: if (u) app_push(a, screen_run_new(a, u->id)); break;
    case RA_MARK:
        if (!u) break;
        if (marked(r, u->id)) {
            int k = marked(r, u->id) - 1;
            memmove(&r->marks[k], &r->marks[k + 1], sizeof(int64_t) * (size_t)(r->nmarks - k - 1));
            r->nmarks--;
        } else if (r->nmarks < MAXMARK) r->marks[r->nmarks++] = u->id;
        else app_message(a, 1, "at most %d runs can be compared", MAXMARK);
        move_cur(r, r->cur + 1);
        break;
    case RA_UNMARK: r->nmarks = 0; break;
    case RA_COMPARE:
        if (r->nmarks) app_push(a, screen_compare_new(a, r->marks, r->nmarks));
        else if (u) app_push(a, screen_compare_new(a, &u->id, 1));
        break;
    case RA_NEW: app_push(a, screen_launch_new(a)); break;
    case RA_STOP:
        if (!u) break;
        if (m->ops->stop(m, u->id, err)) app_message(a, 1, "stop: %s", err);
        else app_message(a, 0, "asked %s to stop; it checkpoints first", u->name);
        reload(r, a);
        break;
    case RA_RESUME:
        if (!u) break;
        if (m->ops->resume(m, u->id, err)) app_message(a, 1, "resume: %s", err);
        else app_message(a, 0, "resumed %s", u->name);
        reload(r, a);
        break;
    case RA_DELETE: {
        int64_t ids[MAXMARK];
        int nt = targets(r, ids), live = 0;
        const UiRun *one = NULL;
        for (int i = 0; i < nt; i++) { const UiRun *t = by_id(r, ids[i]); if (t && ui_run_live(t)) { live++; one = t; } }
        if (!nt) break;
        char q[160];
        if (live == nt) {
            if (nt == 1) app_message(a, 1, "%s is %s: stop it (x) before deleting", one->name, one->status);
            else app_message(a, 1, "the %d marked runs are all training: stop them (x) before deleting", nt);
            break;
        }
        if (nt == 1) snprintf(q, sizeof q, "delete run %s and its checkpoints?", by_id(r, ids[0])->name);
        else snprintf(q, sizeof q, "delete %d marked runs and their checkpoints%s?", nt - live,
                      live ? " (the training ones stay)" : "");
        app_confirm(a, q, do_delete);
        break;
    }
    case RA_TAG:
        if (r->nmarks) {
            char lab[64];
            snprintf(lab, sizeof lab, "tag %d marked runs (-tag removes)", r->nmarks);
            app_prompt(a, lab, "", do_tag);
        } else if (u) app_prompt(a, "tag (-tag removes)", "", do_tag);
        break;
    case RA_BEST:
        r->best = !r->best;
        ui_pref_set(m, "runs.best", r->best ? "1" : "0");
        app_message(a, 0, "metric columns: %s", r->best ? "best so far (each in its own direction)" : "last value");
        break;
    case RA_BASELINE:
        if (!u) break;
        if (app_baseline(a) == u->id) { app_set_baseline(a, 0); app_message(a, 0, "no baseline"); }
        else { app_set_baseline(a, u->id); app_message(a, 0, "%s is the baseline: drawn faint in every chart", u->name); }
        break;
    case RA_COLUMNS: app_prompt(a, "extra columns (metrics or config keys)", r->columns, set_columns); break;
    case RA_NOTE: if (u) app_prompt(a, "note", u->notes, do_note); break;
    case RA_SORT: r->sort = (r->sort + 1) % NSORT; rebuild(r); app_message(a, 0, "sorted by %s", sort_name(r->sort)); break;
    case RA_REVERSE: r->reverse = !r->reverse; rebuild(r); break;
    case RA_FILTER: app_prompt_live(a, "filter", r->filter, set_filter, live_filter); break;
    default: return 0;
    }
    return UI_HANDLED | UI_REDRAW;
}

#define LIST_Y0 3 // the first row of the list (below the summary and the header)

static int keyfn(Screen *s, App *a, int key) {
    Runs *r = (Runs *)s;
    // Esc clears an active filter before it would mean "back"
    if (key == UI_KEY_ESC && r->filter[0]) { set_filter(s, a, ""); return UI_HANDLED | UI_REDRAW; }
    // The mouse: a click selects the row under it, the wheel moves the selection by 3.
    int mx, my, button;
    if (key != KEY_MOUSE || !app_mouse(a, &mx, &my, &button)) return 0;
    if (button == UI_MOUSE_WHEEL_UP || button == UI_MOUSE_WHEEL_DOWN) {
        move_cur(r, r->cur + (button == UI_MOUSE_WHEEL_UP ? -3 : 3));
        return UI_HANDLED | UI_REDRAW;
    }
    int row = my - LIST_Y0;
    if (row < 0 || row >= r->page || r->top + row >= r->nview) return 0;
    move_cur(r, r->top + row);
    return UI_HANDLED | UI_REDRAW;
}

typedef struct { const char *title; int w; int sort; int right; } Col;

static void draw(Screen *s, App *a, CellBuf *b) {
    Runs *r = (Runs *)s;
    int W = b->w, H = b->h;
    // the marked runs hold their colours (claimed in the order they were marked); others let go
    app_keep_colors(a, r->marks, r->nmarks);
    for (int i = 0; i < r->nmarks; i++) app_claim_color(a, r->marks[i]);
    // columns: mark, name, status, progress, 5 losses, elapsed, tags (the rest). Below 110
    // columns the numbers and the bar narrow; tags then move to the line under the table.
    int wide = W >= 110, mw = wide ? 7 : 6, bar = wide ? 8 : 5;
    // the extra columns (C) sit between the losses and elapsed, as wide as their title or a number
    int nx = r->ncol;
    enum { C_METRIC = 4, C_EXTRA = C_METRIC + METRIC_NCOLUMNS };
    int C_ELAPSED = C_EXTRA + nx, NC = C_ELAPSED + 2;
    Col cols[C_EXTRA + MAXCOL + 2] = {{"", 1, -1, 0}, {"name", 0, S_NAME, 0}, {"status", 11, S_STATUS, 0}, {"progress", bar + 5, S_PROGRESS, 0}};
    for (int k = 0; k < METRIC_NCOLUMNS; k++) { // the metric's name where it fits, else its label
        const Metric *m = metric_at(k);
        const char *t = wide || (int)strlen(m->name) <= mw ? m->name : m->label;
        int tw = (int)strlen(t);
        cols[C_METRIC + k] = (Col){t, tw > mw ? tw : mw, S_METRIC + k, 1};
    }
    for (int k = 0; k < nx; k++) {
        const char *t = r->col[k];
        const Metric *m = metric_find(t);
        if (m && m->label && (int)strlen(t) > mw) t = m->label;
        const char *tail = strrchr(t, '_') ? strrchr(t, '_') : strrchr(t, '.'); // latent_sstd: "sstd"
        if ((int)strlen(t) > mw && tail && tail[1]) t = tail + 1;
        int tw = (int)strlen(t);
        cols[C_EXTRA + k] = (Col){t, tw > mw ? (tw < 16 ? tw : 16) : mw, -1, 1};
    }
    if (columns_need_config(r))
        for (int i = 0; i < r->n; i++) run_configs_get(&r->cfgs, app_model(a), r->runs[i].id);
    cols[C_ELAPSED] = (Col){wide ? "elapsed" : "time", wide ? 8 : 6, S_ELAPSED, 1};
    cols[C_ELAPSED + 1] = (Col){"tags", 0, -1, 0};
    int fixed = 0;
    for (int i = 0; i < NC; i++) fixed += cols[i].w + (i > 0 && i < NC - 1);
    // extra columns that would squeeze the names below 14 cells wait for a wider terminal
    while (nx > 0 && W - fixed < 15) {
        fixed -= cols[C_EXTRA + nx - 1].w + 1;
        nx--;
        memmove(&cols[C_EXTRA + nx], &cols[C_EXTRA + nx + 1], sizeof(Col) * 2);
        C_ELAPSED--;
        NC--;
    }
    int rest = W - fixed;
    int namew = rest - 10 > 14 ? (rest - 10 < 32 ? rest - 10 : 32) : rest < 14 ? rest : 14;
    cols[1].w = namew;
    cols[NC - 1].w = W - fixed - namew - 1;
    if (cols[NC - 1].w < 4) cols[NC - 1].w = 0;

    // row 1: summary
    int live = 0;
    for (int i = 0; i < r->n; i++) live += ui_run_live(&r->runs[i]);
    char sum[256];
    snprintf(sum, sizeof sum, " %d run%s, %d live%s%s%s  sort: %s%s  %s", r->n, r->n == 1 ? "" : "s", live,
             r->filter[0] ? "  filter: " : "", r->filter, r->rf_err[0] ? " (?)" : "", sort_name(r->sort),
             r->reverse ? " (reversed)" : "", r->best ? "best so far" : "last values");
    int x = cb_text(b, 0, 1, W, sum, CB_DEFAULT, 0);
    if (r->nmarks) cb_printf(b, x + 2, 1, W - x - 2, C_MAGENTA, CB_BOLD, "%d marked (c compares)", r->nmarks);

    // row 2: header
    x = 0;
    for (int i = 0; i < NC; i++) {
        // the sort arrow: a glyph after a space ("name \u25bc"), or glued where the column has no room
        char t[64];
        int sorted = cols[i].sort == r->sort && r->sort != S_NEWEST, tl = (int)strlen(cols[i].title);
        snprintf(t, sizeof t, "%s%s%s", cols[i].title, sorted && (cols[i].w == 0 || tl + 2 <= cols[i].w) ? " " : "",
                 sorted ? (r->reverse ? "\u25b2" : "\u25bc") : "");
        int l = utf8_width(t);
        int tx = cols[i].right ? x + cols[i].w - l : x;
        cb_text(b, tx, 2, cols[i].w, t, CB_DEFAULT, CB_BOLD | CB_UNDERLINE);
        x += cols[i].w + 1;
    }
    int y0 = LIST_Y0, rows = H - y0 - 1; // the last row: the selected run's note or error
    r->page = rows;
    if (r->n == 0 || r->nview == 0) {
        const char *m1 = r->n ? "No run matches the filter (Esc clears it)." : "No runs yet.";
        cb_text(b, 2, y0 + 1, W - 4, m1, CB_DEFAULT, CB_BOLD);
        if (!r->n) {
            cb_text(b, 2, y0 + 3, W - 4, "n        launch a run from configs/*.json (trains in the background)", CB_DEFAULT, 0);
            cb_text(b, 2, y0 + 4, W - 4, "elsewhere: repae train configs/tiny.json  (runs show up here live)", CB_DEFAULT, 0);
            cb_text(b, 2, y0 + 5, W - 4, "?        all keys", CB_DEFAULT, 0);
        }
        return;
    }
    if (r->cur < r->top) r->top = r->cur;
    if (r->cur >= r->top + rows) r->top = r->cur - rows + 1;
    if (r->top < 0) r->top = 0;
    for (int row = 0; row < rows && r->top + row < r->nview; row++) {
        int idx = r->top + row, y = y0 + row;
        const UiRun *u = &r->runs[r->view[idx]];
        int sel = idx == r->cur;
        x = 0;
        int mk = marked(r, u->id);
        if (mk) cb_put(b, x, y, 0x25CF, app_run_color(a, u->id), CB_BOLD); // ●
        else if (u->id == app_baseline(a)) cb_put(b, x, y, 0x25C7, CB_DEFAULT, CB_BOLD); // ◇ the baseline
        x += cols[0].w + 1;
        cb_text(b, x, y, cols[1].w, u->name, CB_DEFAULT, sel ? CB_BOLD : 0);
        if (utf8_width(u->name) > cols[1].w) cb_put(b, x + cols[1].w - 1, y, 0x2026, CB_DEFAULT, 0);
        x += cols[1].w + 1;
        cb_text(b, x, y, cols[2].w, u->status, ui_status_color(u->status), ui_run_live(u) ? CB_BOLD : 0);
        x += cols[2].w + 1;
        double frac = u->total_steps > 0 ? (double)u->step / u->total_steps : 0;
        ui_progress_bar(b, x, y, bar, frac, ui_status_color(u->status));
        cb_printf(b, x + bar, y, 5, CB_DEFAULT, 0, "%4.0f%%", frac * 100);
        x += cols[3].w + 1;
        for (int k = 0; k < METRIC_NCOLUMNS; k++) {
            char v[16];
            if (r->best && ui_run_latest(u, metric_at(k)->name)) ui_run_value(u, NULL, metric_at(k)->name, 1, v, cols[C_METRIC + k].w);
            else ui_fmt_metric(u, metric_at(k)->name, v, cols[C_METRIC + k].w);
            int l = (int)strlen(v);
            cb_text(b, x + cols[C_METRIC + k].w - l, y, l, v, CB_DEFAULT, !strcmp(v, "nan") ? CB_BOLD : 0);
            x += cols[C_METRIC + k].w + 1;
        }
        // The latent-collapse flag (the trainer's "collapse" metric) turns the latent
        // statistics red: the one failure of this method the losses do not show.
        const UiLatest *col = ui_run_latest(u, "collapse");
        int collapsed = col && col->last >= 1;
        for (int k = 0; k < nx; k++) {
            char v[40];
            int cw = cols[C_EXTRA + k].w;
            const Config *cfg = metric_find(r->col[k]) ? NULL : run_configs_get(&r->cfgs, app_model(a), u->id);
            ui_run_value(u, cfg, r->col[k], r->best, v, cw);
            int latent = !strncmp(r->col[k], "latent_", 7) || !strcmp(r->col[k], "collapse");
            if (latent && collapsed && (int)strlen(v) < cw) strcat(v, "!");
            int l = utf8_width(v);
            if (l > cw) l = cw;
            cb_text(b, x + cw - l, y, l, v, latent && collapsed ? C_RED : CB_DEFAULT, latent && collapsed ? CB_BOLD : 0);
            x += cw + 1;
        }
        char el[16];
        ui_fmt_elapsed(ui_run_elapsed(u), el, sizeof el);
        cb_text(b, x + cols[C_ELAPSED].w - (int)strlen(el), y, cols[C_ELAPSED].w, el, CB_DEFAULT, 0);
        x += cols[C_ELAPSED].w + 1;
        if (cols[NC - 1].w) cb_text(b, x, y, cols[NC - 1].w, u->tags, C_MAGENTA, 0);
        if (sel) app_select_row(a, b, 0, y, W);
    }
    if (r->nview > rows) { // the position, on the summary row: over the last row it hid that run's data
        char pos[32];
        int pl = snprintf(pos, sizeof pos, "%d/%d", r->cur + 1, r->nview);
        cb_fill(b, W - pl - 2, 1, pl + 2, 1, ' ', CB_DEFAULT, CB_DEFAULT, 0);
        cb_text(b, W - pl - 1, 1, pl, pos, CB_DEFAULT, CB_DIM);
    }
    const UiRun *u = current(r);
    if (u) {
        char line[512];
        if (u->error[0]) snprintf(line, sizeof line, "%s: %s", u->name, u->error);
        else snprintf(line, sizeof line, "%s  id %lld%s%s  %s%s", u->name, (long long)u->id, u->tags[0] ? "  tags: " : "",
                      u->tags, u->notes[0] ? "note: " : "", u->notes);
        int lx = 1;
        const UiLatest *cl = ui_run_latest(u, "collapse");
        if (cl && cl->last >= 1) lx += cb_text(b, lx, H - 1, W - 2, "latent collapse (latent_sstd 10x below its peak)  ", C_RED, CB_BOLD);
        cb_text(b, lx, H - 1, W - 1 - lx, line, u->error[0] ? C_RED : CB_DEFAULT, u->error[0] ? 0 : CB_DIM);
    }
}

static void fr(Screen *s) {
    Runs *r = (Runs *)s;
    run_configs_free(&r->cfgs);
    free(r->runs);
    free(r->view);
    free(r);
}

static const ScreenVt vt = {"Runs", keys, draw, action, keyfn, tick, fr};

Screen *screen_runs_new(App *a) {
    Runs *r = xcalloc(1, sizeof *r);
    r->base.vt = &vt;
    r->cur_id = -1;
    r->app = a;
    char v[256];
    UiBackend *m = app_model(a);
    if (!ui_pref_get(m, "runs.columns", r->columns, sizeof r->columns)) snprintf(r->columns, sizeof r->columns, "latent_sstd");
    parse_columns(r);
    r->best = ui_pref_get(m, "runs.best", v, sizeof v) && v[0] == '1';
    reload(r, a);
    return &r->base;
}
