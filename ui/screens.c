// screens.c: see screens.h.
#include "ui/screens.h"
#include <ctype.h>
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "ui/chart.h"
#include "base/fmt.h"
#include "base/util.h"

void ui_fmt_elapsed(double s, char *out, int n) { fmt_duration(out, (size_t)n, s); }

double ui_run_elapsed(const UiRun *r) {
    if (r->started <= 0) return 0;
    return run_elapsed_seconds(r->active, r->heartbeat, ui_run_live(r), wall_seconds());
}

void ui_progress_text(const UiRun *r, char *out, int n) {
    double el = ui_run_elapsed(r);
    double its = el > 0 && r->step > 0 ? r->step / el : 0;
    char eta[32] = "-";
    if (its > 0 && r->total_steps > r->step && ui_run_live(r)) ui_fmt_elapsed((r->total_steps - r->step) / its, eta, sizeof eta);
    snprintf(out, (size_t)n, "step %ld/%ld  %.1f it/s  ETA %s", r->step, r->total_steps, its, eta);
}

void ui_progress_bar(CellBuf *b, int x, int y, int w, double frac, int color) {
    if (!(frac >= 0)) frac = 0;
    if (frac > 1) frac = 1;
    int eighths = (int)lround(frac * w * 8);
    for (int i = 0; i < w; i++) {
        int e = eighths - i * 8;
        uint32_t ch = e >= 8 ? 0x2588 : e <= 0 ? 0x00B7 : 0x2590 - e; // U+2589..U+258F: 7/8 .. 1/8
        cb_put(b, x + i, y, ch, e <= 0 ? CB_DEFAULT : color, e <= 0 ? CB_DIM : 0);
    }
}

void ui_fmt_metric(const UiRun *r, const char *key, char *out, int w) {
    const UiLatest *l = ui_run_latest(r, key);
    if (!l || !isfinite(l->last)) { snprintf(out, (size_t)w + 1, "%s", l ? "nan" : "-"); return; }
    chart_fmt(l->last, out, w);
}

void ui_section(CellBuf *b, int x, int y, int w, const char *title) {
    for (int i = 0; i < w; i++) cb_put(b, x + i, y, 0x2500, CB_DEFAULT, CB_DIM);
    char t[128];
    snprintf(t, sizeof t, " %s ", title);
    cb_text(b, x + 1, y, w - 2, t, CB_DEFAULT, CB_BOLD);
}

int ui_contains(const char *hay, const char *needle) {
    if (!*needle) return 1;
    for (; *hay; hay++) {
        const char *h = hay, *n = needle;
        while (*h && *n && tolower((unsigned char)*h) == tolower((unsigned char)*n)) { h++; n++; }
        if (!*n) return 1;
    }
    return 0;
}

// A default chart a run does not use: a loss it never logged, or logged only as NaN or 0
// (weight 0, align with kind none).
static int unused(const UiRun *runs, int nr, const char *key) {
    for (int i = 0; i < nr; i++) {
        const UiLatest *l = ui_run_latest(&runs[i], key);
        if (l && (isfinite(l->min) || isfinite(l->max) || isfinite(l->last)) && !(l->min == 0 && l->max == 0)) return 0;
    }
    return 1;
}

int ui_pick_metrics(const UiRun *runs, int nr, const char *pick, char out[][24], int max, char *unused_out, int un) {
    int n = 0;
    if (unused_out) unused_out[0] = 0;
    if (!pick[0]) {
        for (int k = 0; k < UI_NMETRICS; k++) {
            if (unused(runs, nr, ui_metric(k))) {
                if (unused_out) { size_t l = strlen(unused_out); snprintf(unused_out + l, (size_t)un - l, "%s%s", l ? " " : "", ui_metric(k)); }
                continue;
            }
            snprintf(out[n++], 24, "%s", ui_metric(k));
        }
        return n;
    }
    char buf[256];
    snprintf(buf, sizeof buf, "%s", pick);
    for (char *sv = NULL, *t = strtok_r(buf, " ,", &sv); t && n < max; t = strtok_r(NULL, " ,", &sv)) {
        int matched = 0;
        for (int r = 0; r < nr; r++) {
            const UiRun *u = &runs[r];
            for (int i = 0; i < u->nlatest && n < max; i++) {
                if (fnmatch(t, u->latest[i].key, 0)) continue;
                matched = 1;
                int dup = 0;
                for (int j = 0; j < n; j++) dup |= !strcmp(out[j], u->latest[i].key);
                if (!dup) snprintf(out[n++], 24, "%s", u->latest[i].key);
            }
        }
        if (!matched && !strpbrk(t, "*?[")) { // a name not logged yet: its chart waits for data
            int dup = 0;
            for (int j = 0; j < n; j++) dup |= !strcmp(out[j], t);
            if (!dup) snprintf(out[n++], 24, "%s", t);
        }
    }
    return n;
}

