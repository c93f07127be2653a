// screens.c: see screens.h.
#include "ui/screens.h"
#include <ctype.h>
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
