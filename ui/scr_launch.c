// scr_launch.c: a new run: pick a config from configs/*.json (with a preview), add
// key=value overrides, a name and a process count, start it as a background training thread
// (one process) or under mpirun on N local processes, detached from the dashboard.
#include <dirent.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/config.h"
#include "ui/screens.h"
#include "base/util.h"

enum { LA_UP = 1, LA_DOWN, LA_START, LA_SET, LA_UNSET, LA_NAME, LA_RESCAN, LA_PGUP, LA_PGDN, LA_MEASURE, LA_PROCS };
static const KeyBinding keys[] = {
    {10, LA_START, "start", "start training in the background"}, {13, LA_START, NULL, "start"},
    {KEY_ENTER, LA_START, NULL, "start"},
    {'o', LA_SET, "override", "add a key=value override (e.g. train.steps=500)"},
    {'O', LA_UNSET, "drop", "drop the last override"},
    {'N', LA_NAME, "name", "name the run"},
    {'p', LA_PROCS, "procs", "processes: 1 trains in the dashboard; N > 1 starts mpirun -np N, which outlives the dashboard"},
    {KEY_UP, LA_UP, NULL, "previous config"}, {'k', LA_UP, NULL, "previous config"},
    {KEY_DOWN, LA_DOWN, NULL, "next config"}, {'j', LA_DOWN, NULL, "next config"},
    {'R', LA_RESCAN, NULL, "re-read configs/"},
    {'b', LA_MEASURE, "measure", "time a few steps of this config (repae bench) for the step and total time"},
    {KEY_NPAGE, LA_PGDN, NULL, "scroll the preview"}, {'J', LA_PGDN, NULL, "scroll the preview"},
    {KEY_PPAGE, LA_PGUP, NULL, "scroll the preview back"}, {'K', LA_PGUP, NULL, "scroll the preview back"},
    {0, 0, NULL, NULL},
};

#define MAXSET 32
typedef struct {
    Screen base;
    char **files;
    int nfiles, cur;
    char *preview;     // the effective config: the file's JSON over the defaults, overrides applied
    int preview_for, preview_nsets, preview_top, preview_lines;
    UiEstimate est;
    int have_est, est_for, est_nsets; // the measurement is for this config and overrides
    char est_err[ERRLEN];
    char *sets[MAXSET];
    int nsets;
    char name[64];
    int np;             // processes (1: a thread of the dashboard)
    char dir[PATH_MAX]; // where the configs were found
} Launch;

static int cmpstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int is_dir(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

// configs/ of the working directory, else the one of the repae checkout the binary was built
// in (build/repae -> ../configs), so that a dashboard started from elsewhere can still launch.
static void find_configs(Launch *l) {
    snprintf(l->dir, sizeof l->dir, "configs");
    if (is_dir(l->dir)) return;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return;
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash) return;
    *slash = 0;
    static const char *const rel[] = {"../configs", "configs", "../share/repae/configs"};
    for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
        char p[PATH_MAX + 32];
        snprintf(p, sizeof p, "%s/%s", exe, rel[i]);
        char real[PATH_MAX];
        if (is_dir(p) && realpath(p, real)) { snprintf(l->dir, sizeof l->dir, "%s", real); return; }
    }
}

static void scan(Launch *l) {
    for (int i = 0; i < l->nfiles; i++) free(l->files[i]);
    free(l->files);
    l->files = NULL;
    l->nfiles = 0;
    find_configs(l);
    DIR *d = opendir(l->dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            size_t n = strlen(e->d_name);
            if (n < 6 || strcmp(e->d_name + n - 5, ".json")) continue;
            l->files = xrealloc(l->files, sizeof(char *) * (size_t)(l->nfiles + 1));
            char p[PATH_MAX + 256];
            snprintf(p, sizeof p, "%s/%s", l->dir, e->d_name);
            l->files[l->nfiles++] = xstrdup(p);
        }
        closedir(d);
    }
    if (l->nfiles) qsort(l->files, (size_t)l->nfiles, sizeof(char *), cmpstr);
    // Start on the newcomer's first run (configs/first-run.json: a minute or two, samples that
    // visibly learn), else on tiny (seconds), else the first file.
    for (int i = 0; i < l->nfiles; i++) if (strstr(l->files[i], "/tiny.json")) l->cur = i;
    for (int i = 0; i < l->nfiles; i++) if (strstr(l->files[i], "/first-run.json")) l->cur = i;
    l->preview_for = -1;
}

static void add_set(Screen *s, App *a, const char *text) {
    Launch *l = (Launch *)s;
    if (!*text) return;
    if (!strchr(text, '=')) { app_message(a, 1, "an override is key.path=value, e.g. train.steps=500"); return; }
    // Check it now, against the selected config and the overrides so far, rather than at start.
    Config c;
    char err[ERRLEN];
    config_defaults(&c);
    if (l->nfiles && config_load(&c, l->files[l->cur], err) == 0) {
        for (int i = 0; i < l->nsets; i++) config_set(&c, l->sets[i], err);
        if (config_set(&c, text, err)) { app_message(a, 1, "override %s: %s", text, err); return; }
    }
    if (l->nsets < MAXSET) l->sets[l->nsets++] = xstrdup(text);
}

// The id of the run already named name, or 0: a name is the handle `repae show` and the
// filters use, so the store refuses a second one; saying so as it is typed saves a round trip.
static int64_t name_taken(App *a, const char *name) {
    if (!*name) return 0;
    UiBackend *m = app_model(a);
    UiRun *runs = NULL;
    int n = 0;
    char err[ERRLEN];
    int64_t id = 0;
    if (m->ops->list_runs(m, &runs, &n, err)) return 0;
    for (int i = 0; i < n && !id; i++) if (!strcmp(runs[i].name, name)) id = runs[i].id;
    free(runs);
    return id;
}

static void check_name(Screen *s, App *a, const char *text, char *hint, int n) {
    (void)s;
    int64_t id = name_taken(a, text);
    if (id) snprintf(hint, (size_t)n, "!taken by run %lld", (long long)id);
}

static void set_name(Screen *s, App *a, const char *text) {
    (void)a;
    snprintf(((Launch *)s)->name, sizeof ((Launch *)s)->name, "%s", text);
}

#define MAXPROCS 256
static void set_procs(Screen *s, App *a, const char *text) {
    Launch *l = (Launch *)s;
    char *end;
    long n = strtol(text, &end, 10);
    if (!*text || *end || n < 1 || n > MAXPROCS) {
        app_message(a, 1, "processes: a whole number from 1 to %d, not '%s'", MAXPROCS, text);
        return;
    }
    if (n > 1 && !app_model(a)->ops->launch_np) {
        app_message(a, 1, "this backend trains on one process only");
        return;
    }
    l->np = (int)n;
}

static int action(Screen *s, App *a, int act, int key) {
    (void)key;
    Launch *l = (Launch *)s;
    switch (act) {
    case LA_UP: if (l->cur > 0) l->cur--; break;
    case LA_DOWN: if (l->cur < l->nfiles - 1) l->cur++; break;
    case LA_SET: app_prompt(a, "override key=value", "", add_set); break;
    case LA_UNSET: if (l->nsets) free(l->sets[--l->nsets]); break;
    case LA_NAME: app_prompt_live(a, "run name (empty: run-<id>)", l->name, set_name, check_name); break;
    case LA_RESCAN: scan(l); break;
    case LA_PROCS: {
        char cur[16];
        snprintf(cur, sizeof cur, "%d", l->np);
        app_prompt(a, "processes (1 here; N > 1 through mpirun, detached)", cur, set_procs);
        break;
    }
    case LA_PGDN: l->preview_top += 10; break;
    case LA_PGUP: l->preview_top = l->preview_top > 10 ? l->preview_top - 10 : 0; break;
    case LA_MEASURE: {
        UiBackend *m = app_model(a);
        if (!l->nfiles || !m->ops->estimate) break;
        app_message(a, 0, "timing a few steps of %s...", l->files[l->cur]);
        char err[ERRLEN];
        UiEstimate e;
        if (m->ops->estimate(m, l->files[l->cur], l->nsets, l->sets, 1, &e, err)) app_message(a, 1, "measure: %s", err);
        else { l->est = e; l->have_est = 1; l->preview_for = -2; app_message(a, 0, "measured %.3g s a step", e.step_s); }
        l->est_for = l->cur;
        l->est_nsets = l->nsets;
        break;
    }
    case LA_START: {
        if (!l->nfiles) { app_message(a, 1, "no configs/*.json here or beside repae: run the dashboard from the repae directory"); break; }
        int64_t taken = name_taken(a, l->name);
        if (taken) { app_message(a, 1, "a run named '%s' exists already (run %lld): N gives another name", l->name, (long long)taken); break; }
        UiBackend *m = app_model(a);
        int64_t id = 0;
        char err[ERRLEN];
        if (l->np > 1) {
            if (m->ops->launch_np(m, l->np, l->files[l->cur], l->name, l->nsets, l->sets, &id, err)) {
                app_message(a, 1, "launch on %d processes: %s", l->np, err);
                break;
            }
            // Not up yet: the status line says what is starting until it is (app.c, launch_poll).
            if (id) app_message(a, 0, "started run %lld on %d processes (mpirun; it goes on if you quit)", (long long)id, l->np);
        } else if (m->ops->launch(m, l->files[l->cur], l->name, l->nsets, l->sets, &id, err)) {
            app_message(a, 1, "launch: %s", err);
            break;
        } else app_message(a, 0, "started run %lld from %s", (long long)id, l->files[l->cur]);
        app_focus_run(a, id);
        app_pop(a); // back to Runs, where the run shows at once, selected
        return UI_HANDLED | UI_REDRAW;
    }
    default: return 0;
    }
    return UI_HANDLED | UI_REDRAW;
}

// The config the run would start with, as JSON: the file over the defaults with the overrides
// applied (what the store will keep), or why it cannot be built. Also refreshes the estimate.
static char *effective(Launch *l, App *a) {
    Config c;
    char err[ERRLEN];
    config_defaults(&c);
    l->est_err[0] = 0;
    if (config_load(&c, l->files[l->cur], err)) { snprintf(l->est_err, sizeof l->est_err, "%s", err); return xstrdup(""); }
    for (int i = 0; i < l->nsets; i++)
        if (config_set(&c, l->sets[i], err)) { snprintf(l->est_err, sizeof l->est_err, "%s", err); return xstrdup(""); }
    UiBackend *m = app_model(a);
    UiEstimate e;
    int measured = l->have_est && l->est_for == l->cur && l->est_nsets == l->nsets;
    if (!measured && m->ops->estimate && m->ops->estimate(m, l->files[l->cur], l->nsets, l->sets, 0, &e, err) == 0) {
        l->est = e;
        l->have_est = 1;
    } else if (!measured && m->ops->estimate) snprintf(l->est_err, sizeof l->est_err, "%s", err);
    return config_to_json(&c);
}

static void draw(Screen *s, App *a, CellBuf *b) {
    Launch *l = (Launch *)s;
    int W = b->w, H = b->h, lw = 28;
    ui_section(b, 0, 1, lw, strcmp(l->dir, "configs") == 0 ? "configs/" : l->dir);
    if (!l->nfiles) {
        cb_text(b, 1, 3, lw - 2, "(no configs/*.json)", C_RED, 0);
        cb_text(b, 1, 4, lw - 2, "start repae in the", CB_DEFAULT, CB_DIM);
        cb_text(b, 1, 5, lw - 2, "repae directory", CB_DEFAULT, CB_DIM);
    }
    for (int i = 0; i < l->nfiles && 2 + i < H - 8; i++) {
        const char *f = strrchr(l->files[i], '/') + 1;
        cb_text(b, 1, 2 + i, lw - 2, f, CB_DEFAULT, i == l->cur ? CB_BOLD : 0);
        if (i == l->cur) app_select_row(a, b, 0, 2 + i, lw);
    }
    int oy = H - 8;
    ui_section(b, 0, oy, lw, "overrides (o adds)");
    for (int i = 0; i < l->nsets && oy + 1 + i < H - 2; i++) cb_text(b, 1, oy + 1 + i, lw - 2, l->sets[i], C_YELLOW, 0);
    if (!l->nsets) cb_text(b, 1, oy + 1, lw - 2, "none", CB_DEFAULT, CB_DIM);
    int nx = cb_printf(b, 0, H - 1, lw, CB_DEFAULT, 0, "name: %s", l->name[0] ? l->name : "(auto)");
    if (l->name[0] && name_taken(a, l->name)) cb_text(b, nx + 1, H - 1, lw - nx - 1, "taken", C_RED, CB_BOLD);
    if (l->np > 1) cb_printf(b, 0, H - 2, lw, C_CYAN, CB_BOLD, "processes: %d (mpirun)", l->np);
    else cb_text(b, 0, H - 2, lw, "processes: 1 (p: more)", CB_DEFAULT, CB_DIM);
    for (int y = 1; y < H; y++) cb_put(b, lw, y, 0x2502, CB_DEFAULT, CB_DIM);
    // preview
    if (!l->nfiles) return;
    if (l->preview_for != l->cur || l->preview_nsets != l->nsets) {
        if (l->preview_for != l->cur) l->preview_top = 0;
        free(l->preview);
        l->preview = effective(l, a);
        l->preview_for = l->cur;
        l->preview_nsets = l->nsets;
    }
    char title[PATH_MAX + 64];
    snprintf(title, sizeof title, "%s, effective%s", l->files[l->cur], l->nsets ? " (overrides applied)" : "");
    ui_section(b, lw + 1, 1, W - lw - 1, title);
    int y = 2;
    // the estimate: memory from the builders' count, step and total time once measured (b)
    if (l->est_err[0]) cb_text(b, lw + 2, y++, W - lw - 3, l->est_err, C_RED, 0);
    else if (l->have_est) {
        char mem[32] = "?", line[256];
        if (l->est.mem_bytes >= 0) snprintf(mem, sizeof mem, "%.0f MB", l->est.mem_bytes / 1e6);
        int measured = l->est_for == l->cur && l->est_nsets == l->nsets && l->est.step_s > 0;
        if (measured) {
            char tot[32];
            ui_fmt_elapsed(l->est.step_s * (double)l->est.steps, tot, sizeof tot);
            snprintf(line, sizeof line, "memory ~%s   step %.3g s (%.3g GFLOP)   %ld steps: ~%s", mem, l->est.step_s,
                     l->est.gflop_per_step, l->est.steps, tot);
        } else snprintf(line, sizeof line, "memory ~%s   %ld steps   (b measures the step and total time)", mem, l->est.steps);
        if (!measured && utf8_width(line) > W - lw - 3) // the short form in a narrow terminal
            snprintf(line, sizeof line, "memory ~%s  %ld steps  (b: time it)", mem, l->est.steps);
        cb_text_fit(b, lw + 2, y++, W - lw - 3, line, CB_DEFAULT, CB_BOLD);
    }
    const char *p = l->preview;
    int line = 0, rows = H - y;
    l->preview_lines = 0;
    for (const char *q = p; *q; q++) l->preview_lines += *q == '\n';
    if (l->preview_top > l->preview_lines - rows) l->preview_top = l->preview_lines - rows > 0 ? l->preview_lines - rows : 0;
    while (*p && y < H) {
        const char *e = strchr(p, '\n');
        int len = e ? (int)(e - p) : (int)strlen(p);
        if (line++ >= l->preview_top) {
            char ln[256];
            snprintf(ln, sizeof ln, "%.*s", len < 255 ? len : 255, p);
            cb_text(b, lw + 2, y++, W - lw - 3, ln, CB_DEFAULT, 0);
        }
        if (!e) break;
        p = e + 1;
    }
    if (l->preview_lines > rows) cb_printf(b, W - 12, 1, 11, CB_DEFAULT, CB_DIM, " %d/%d ", l->preview_top + 1, l->preview_lines);
}

static void fr(Screen *s) {
    Launch *l = (Launch *)s;
    for (int i = 0; i < l->nfiles; i++) free(l->files[i]);
    free(l->files);
    for (int i = 0; i < l->nsets; i++) free(l->sets[i]);
    free(l->preview);
    free(l);
}

static const ScreenVt vt = {"Launch", keys, draw, action, NULL, NULL, fr};

Screen *screen_launch_new(App *a) {
    (void)a;
    Launch *l = xcalloc(1, sizeof *l);
    l->base.vt = &vt;
    l->est_for = -1;
    l->np = 1;
    scan(l);
    return &l->base;
}
