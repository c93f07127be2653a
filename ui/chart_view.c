// chart_view.c: see chart_view.h.
#include "ui/chart_view.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ui/screens.h"

void chart_view_init(ChartView *v, UiBackend *m) {
    memset(v, 0, sizeof *v);
    v->ema = 0.9;
    char s[32];
    if (ui_pref_get(m, "smoothing", s, sizeof s)) {
        double e = atof(s);
        if (e >= 0 && e <= 0.99) v->ema = e;
    }
}

static void set_ema(ChartView *v, App *a, double e) {
    if (e < 0) e = 0;
    if (e > 0.99) e = 0.99;
    v->ema = round(e * 100) / 100;
    char s[32];
    snprintf(s, sizeof s, "%.2f", v->ema);
    ui_pref_set(app_model(a), "smoothing", s);
}

static void smooth_done(Screen *s, App *a, const char *text) {
    ChartView *v = &((ChartViewScreen *)s)->cv;
    char *end;
    double e = strtod(text, &end);
    if (!*text || *end || !(e >= 0 && e < 1)) { app_message(a, 1, "smoothing '%s': a number from 0 (raw) to 0.99", text); return; }
    set_ema(v, a, e);
}

static void zoom_done(Screen *s, App *a, const char *text) {
    ChartView *v = &((ChartViewScreen *)s)->cv;
    if (!*text) { v->zlo = v->zhi = 0; return; }
    char *end;
    double lo = strtod(text, &end), hi;
    if (end == text || (*end != '-' && *end != ' ' && *end != ':')) goto bad;
    hi = strtod(end + 1, &end);
    if (*end || !(hi > lo)) goto bad;
    v->zlo = lo;
    v->zhi = hi;
    if (v->cursor && (v->cx < lo || v->cx > hi)) v->cx = (lo + hi) / 2;
    return;
bad:
    app_message(a, 1, "zoom '%s': give a range FROM-TO with FROM < TO (e.g. 2000-5000), or nothing for everything", text);
}

// The x range the zoom acts on: the zoom, else what was drawn.
static void range(const ChartView *v, double *lo, double *hi) {
    if (v->zhi > v->zlo) { *lo = v->zlo; *hi = v->zhi; }
    else { *lo = v->dlo; *hi = v->dhi; }
    if (!(*hi > *lo)) { *lo = 0; *hi = 1; }
}

static void zoom(ChartView *v, double factor, double centre) {
    double lo, hi;
    range(v, &lo, &hi);
    double w = (hi - lo) * factor;
    if (w < 2) w = 2;
    double f = (centre - lo) / (hi - lo);
    if (!(f >= 0 && f <= 1)) f = 0.5;
    v->zlo = centre - w * f;
    v->zhi = v->zlo + w;
}

int chart_view_action(ChartView *v, App *a, int act) {
    double lo, hi;
    range(v, &lo, &hi);
    double dx = (hi - lo) / (v->pw > 1 ? v->pw - 1 : 100);
    switch (act) {
    case CV_SMOOTH_UP: set_ema(v, a, v->ema >= 0.9 ? v->ema + 0.01 : v->ema + 0.05); break;
    case CV_SMOOTH_DOWN: set_ema(v, a, v->ema > 0.9 ? v->ema - 0.01 : v->ema - 0.05); break;
    case CV_SMOOTH_SET: {
        char cur[16];
        snprintf(cur, sizeof cur, "%.2f", v->ema);
        app_prompt(a, "smoothing (0 raw .. 0.99)", cur, smooth_done);
        break;
    }
    case CV_LOGY: v->logy = !v->logy; break;
    case CV_XAXIS: v->xtime = !v->xtime; v->zlo = v->zhi = 0; v->cursor = 0; break; // steps and seconds do not mix
    case CV_CURSOR:
        v->cursor = !v->cursor;
        if (v->cursor) v->cx = hi; // starts on the newest point
        break;
    case CV_LEFT: case CV_RIGHT: case CV_LEFT_FAST: case CV_RIGHT_FAST: {
        if (!v->cursor) return 0;
        double d = (act == CV_LEFT_FAST || act == CV_RIGHT_FAST ? 10 : 1) * dx;
        v->cx += act == CV_LEFT || act == CV_LEFT_FAST ? -d : d;
        if (v->cx < lo) v->cx = lo;
        if (v->cx > hi) v->cx = hi;
        break;
    }
    case CV_ZOOM_IN: zoom(v, 0.5, v->cursor ? v->cx : (lo + hi) / 2); break;
    case CV_ZOOM_OUT:
        if (!(v->zhi > v->zlo)) return UI_HANDLED;
        zoom(v, 2, v->cursor ? v->cx : (lo + hi) / 2);
        if (v->full > 0 && v->zhi - v->zlo >= v->full) v->zlo = v->zhi = 0; // as wide as the data: everything again
        break;
    case CV_ZOOM_RESET: v->zlo = v->zhi = 0; break;
    case CV_ZOOM_SET: {
        char cur[64] = "";
        if (v->zhi > v->zlo) snprintf(cur, sizeof cur, "%.0f-%.0f", v->zlo, v->zhi);
        app_prompt(a, v->xtime ? "zoom to seconds FROM-TO" : "zoom to steps FROM-TO", cur, zoom_done);
        break;
    }
    default: return 0;
    }
    return UI_HANDLED | UI_REDRAW;
}

void chart_view_wheel(ChartView *v, int in, double frac) {
    double lo, hi;
    range(v, &lo, &hi);
    double at = lo + (hi - lo) * (frac < 0 ? 0 : frac > 1 ? 1 : frac);
    v->cursor = 1;
    v->cx = at;
    if (in) zoom(v, 0.5, at);
    else if (v->zhi > v->zlo) zoom(v, 2, at);
}

void chart_view_opts(ChartView *v, ChartOpts *o) {
    if (!(v->zhi > v->zlo) && v->dhi > v->dlo) v->full = v->dhi - v->dlo;
    o->ema = v->ema;
    o->logy = v->logy;
    o->xtime = v->xtime;
    o->xmin = v->zlo;
    o->xmax = v->zhi;
    o->cursor = v->cursor;
    o->cursor_x = v->cx;
    o->out_xlo = &v->dlo;
    o->out_xhi = &v->dhi;
    o->out_pw = &v->pw;
}

void chart_view_status(const ChartView *v, char *out, int n) {
    int l = snprintf(out, (size_t)n, "smoothing %.2f  %s  x: %s", v->ema, v->logy ? "log-y" : "linear-y", v->xtime ? "time" : "step");
    if (v->zhi > v->zlo && l < n) {
        char a[16], b[16];
        if (v->xtime) { chart_fmt_dur(v->zlo, a, 8); chart_fmt_dur(v->zhi, b, 8); }
        else { chart_fmt(v->zlo, a, 8); chart_fmt(v->zhi, b, 8); }
        l += snprintf(out + l, (size_t)(n - l), "  zoom %s..%s (0: all)", a, b);
    }
}

int chart_view_at(const ChartView *v, UiSeries *s, ChartCache *c, float *raw, float *sm, long *step) {
    if (!s->n) return 0;
    const double *x = ui_series_x(s, v->xtime);
    long i = chart_index_at(x, s->n, v->cx);
    if (i < 0) return 0;
    *raw = s->value[i];
    *step = s->step[i];
    *sm = *raw;
    if (v->ema > 0) {
        ChartSeries cs = {x, s->value, (int)s->n, 0, c, NULL, 0};
        if (c) *sm = chart_cache_smoothed(c, &cs, v->ema)[i];
        else {
            float *e = malloc(sizeof(float) * (size_t)s->n);
            if (e) { chart_ema(s->value, e, (int)s->n, v->ema); *sm = e[i]; free(e); }
        }
    }
    return 1;
}
