// chart.c: see chart.h. Points are bucketed by dot column: each column draws the span from the
// lowest to the highest of its consecutive points, and neighbouring columns are joined by a
// line, so the work per frame is O(points + dots) however long the run is.
#include "ui/chart.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/fmt.h"
#include "base/util.h"

#define C_CURSOR 3 // yellow (the app's C_YELLOW; a light theme darkens it)

void chart_ema(const float *y, float *out, int n, double alpha) {
    if (alpha <= 0) { if (out != y) memmove(out, y, sizeof(float) * (size_t)n); return; }
    if (alpha >= 1) alpha = 0.999;
    double s = 0, w = 0; // w = 1 - alpha^k: the debias weight after k finite points
    for (int i = 0; i < n; i++) {
        float v = y[i];
        if (!isfinite(v)) { out[i] = NAN; continue; }
        s = alpha * s + (1 - alpha) * v;
        w = alpha * w + (1 - alpha);
        out[i] = (float)(s / w);
    }
}

static double nice_step(double range, int maxn) {
    if (maxn < 2) maxn = 2;
    double raw = range / (maxn - 1);
    double p = pow(10, floor(log10(raw)));
    static const double m[] = {1, 2, 2.5, 5, 10};
    for (int i = 0; i < 5; i++) {
        double st = m[i] * p;
        if (floor(range / st + 1e-9) + 1 <= maxn) return st;
    }
    return 10 * p;
}

static int ticks_with_step(double lo, double hi, double st, int maxn, double *t) {
    int n = 0;
    for (double v = ceil(lo / st - 1e-9) * st; v <= hi + st * 1e-9 && n < maxn; v += st) {
        t[n++] = fabs(v) < st * 1e-9 ? 0 : v;
    }
    return n;
}

int chart_ticks(double lo, double hi, int maxn, double *t) {
    if (!(hi > lo) || maxn < 1) { if (maxn >= 1 && isfinite(lo)) { t[0] = lo; return 1; } return 0; }
    return ticks_with_step(lo, hi, nice_step(hi - lo, maxn), maxn, t);
}

int chart_time_ticks(double lo, double hi, int maxn, double *t) {
    static const double steps[] = {1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200,
                                   10800, 21600, 43200, 86400};
    if (!(hi > lo) || maxn < 1) return chart_ticks(lo, hi, maxn, t);
    double st = 0;
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        if (floor((hi - lo) / steps[i] + 1e-9) + 1 <= maxn) { st = steps[i]; break; }
    if (st == 0) st = 86400 * nice_step((hi - lo) / 86400, maxn);
    return ticks_with_step(lo, hi, st, maxn, t);
}

void chart_fmt(double v, char *out, int maxw) {
    char buf[32];
    double a = fabs(v);
    if (maxw > 31) maxw = 31;
    if (!isfinite(v)) snprintf(buf, sizeof buf, "%s", isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
    else if (a < 1e-12) snprintf(buf, sizeof buf, "0");
    else if (a >= 999.5) {
        static const char *suf = "kMGTPE";
        int k = 0;
        while (a >= 999.5 && k < 6) { a /= 1000; v /= 1000; k++; }
        for (int p = 3; p >= 1; p--) {
            snprintf(buf, sizeof buf, "%.*g%c", p, v, suf[k - 1]);
            if ((int)strlen(buf) <= maxw) break;
        }
    } else if (a >= 1e-3) {
        for (int p = 4; p >= 1; p--) {
            snprintf(buf, sizeof buf, "%.*g", p, v);
            if ((int)strlen(buf) <= maxw && !strchr(buf, 'e')) break;
        }
        if (strchr(buf, 'e')) snprintf(buf, sizeof buf, "%.3f", v);
    } else {
        int e = (int)floor(log10(a));
        double m = v / pow(10, e);
        if (fabs(m) >= 9.95) { m /= 10; e++; }
        snprintf(buf, sizeof buf, "%.2ge%d", m, e);
        if ((int)strlen(buf) > maxw) snprintf(buf, sizeof buf, "%.0fe%d", m, e);
    }
    buf[maxw > 0 ? maxw : 0] = 0;
    strcpy(out, buf);
}

void chart_fmt_dur(double s, char *out, int maxw) {
    char buf[32];
    fmt_duration_axis(buf, sizeof buf, s); // base/fmt.h: rounded as every other duration
    if (maxw > 31) maxw = 31;
    buf[maxw > 0 ? maxw : 0] = 0;
    strcpy(out, buf);
}

// ---- dot canvas ------------------------------------------------------------------------------
// Two layers: 0 = faint raw curves, 1 = the curves that matter. A cell with any layer-1 dots
// shows only those, so a smoothed line reads cleanly over the noise behind it.
typedef struct {
    int pw, ph;             // cells
    int PW, PH;             // dots
    unsigned char *dots[2]; // per cell
    short *color[2];
} Canvas;

static void dot(Canvas *c, int layer, int color, int px, int py) {
    if (px < 0 || py < 0 || px >= c->PW || py >= c->PH) return;
    int row = c->PH - 1 - py; // py counts up from the bottom
    long cell = (long)(row / 4) * c->pw + px / 2;
    c->dots[layer][cell] |= (unsigned char)chart_dot_bit(px & 1, row & 3);
    c->color[layer][cell] = (short)color;
}

static void vspan(Canvas *c, int layer, int color, int px, int ya, int yb) {
    if (ya > yb) { int t = ya; ya = yb; yb = t; }
    for (int y = ya; y <= yb; y++) dot(c, layer, color, px, y);
}

// Rounds to the nearest dot row, breaking a tie toward the row the line passes at this column,
// so a 45-degree line is one dot per column.
static int round_toward(double v, double own) {
    double f = floor(v);
    if (fabs(v - f - 0.5) < 1e-9) return (int)(own < v ? f : f + 1);
    return (int)floor(v + 0.5);
}

// Joins (x0, y0) to (x1, y1), x0 < x1, filling each column between so steep lines stay solid.
static void join(Canvas *c, int layer, int color, int x0, double y0, int x1, double y1) {
    double dx = x1 - x0;
    // a zoomed chart joins to points beyond its edges: only the columns on the plot matter
    for (int x = x0 < -1 ? -1 : x0; x <= x1 && x <= c->PW; x++) {
        double fa = (x - 0.5 - x0) / dx, fb = (x + 0.5 - x0) / dx;
        if (fa < 0) fa = 0;
        if (fb > 1) fb = 1;
        double ya = y0 + (y1 - y0) * fa, yb = y0 + (y1 - y0) * fb, own = y0 + (y1 - y0) * (x - x0) / dx;
        vspan(c, layer, color, x, round_toward(ya, own), round_toward(yb, own));
    }
}

typedef struct { double xlo, xhi, ylo, yhi; int logy; } Frame;

static int to_dot(const Canvas *c, const Frame *f, double x, double v, int *px, double *py) {
    if (!isfinite(v)) return 0;
    if (f->logy) { if (v <= 0) return 0; v = log10(v); }
    double fx = (x - f->xlo) / (f->xhi - f->xlo), fy = (v - f->ylo) / (f->yhi - f->ylo);
    *px = (int)lround(fx * (c->PW - 1));
    *py = fy * (c->PH - 1);
    if (*py < 0) *py = 0;
    if (*py > c->PH - 1) *py = c->PH - 1;
    return 1;
}

static void draw_curve(Canvas *c, const Frame *f, int layer, int color, const double *x, const float *y, int n) {
    int have = 0, col = 0, mn = 0, mx = 0;
    double last = 0;
    for (int i = 0; i < n; i++) {
        int px;
        double py;
        if (!to_dot(c, f, x[i], y[i], &px, &py)) {
            if (have) vspan(c, layer, color, col, mn, mx);
            have = 0;
            continue;
        }
        int iy = (int)lround(py);
        if (have && px == col) {
            if (iy < mn) mn = iy;
            if (iy > mx) mx = iy;
        } else {
            if (have) {
                vspan(c, layer, color, col, mn, mx);
                if (px > col) join(c, layer, color, col, last, px, py);
            }
            col = px;
            mn = mx = iy;
            have = 1;
        }
        last = py;
    }
    if (have) vspan(c, layer, color, col, mn, mx);
}

typedef struct {
    int n;
    double x0, xmid, xlast;  // identify the x values (step vs time axis) without a key from the caller
    double xlo, xhi;
    int PW, logy, ema;       // ema: 0 = the raw layer, 1 = the smoothed one
    double alpha;
    double *x;
    float *y;
    int rn, cap;
} Reduced;

// The points of (x, y) that draw_curve would draw the same from: for each dot column and each
// unbroken stretch of drawable points in it, the first, lowest, highest and last point (in
// their order), with a NaN between stretches. The mapping to columns and rows is monotone, so
// the column spans and the joins between columns come out identical.
static void reduce(const Canvas *c, const Frame *f, const double *x, const float *y, int n, Reduced *r) {
    r->rn = 0;
    int have = 0, col = 0, first = 0, lo = 0, hi = 0, last = 0, gap = 0;
    double lov = 0, hiv = 0;
#define PUSH(i) do { \
        if (r->rn == r->cap) { r->cap = r->cap ? r->cap * 2 : 1024; \
            r->x = xrealloc(r->x, sizeof(double) * (size_t)r->cap); r->y = xrealloc(r->y, sizeof(float) * (size_t)r->cap); } \
        r->x[r->rn] = x[i]; r->y[r->rn] = (i) < 0 ? NAN : y[i]; r->rn++; } while (0)
    for (int i = 0; i <= n; i++) {
        int px = 0, ok = 0;
        double py, v = 0;
        if (i < n) { ok = to_dot(c, f, x[i], y[i], &px, &py); v = f->logy && ok ? log10(y[i]) : y[i]; }
        if (have && (!ok || px != col)) { // flush the stretch in index order, each point once
            int idx[4] = {first, lo < hi ? lo : hi, lo < hi ? hi : lo, last}, prev = -1;
            for (int k = 0; k < 4; k++) if (idx[k] > prev) { PUSH(idx[k]); prev = idx[k]; }
            have = 0;
        }
        if (i == n) break;
        if (!ok) {
            if (!gap && r->rn) { // a NaN marker, once per gap
                if (r->rn == r->cap) { r->cap = r->cap ? r->cap * 2 : 1024;
                    r->x = xrealloc(r->x, sizeof(double) * (size_t)r->cap); r->y = xrealloc(r->y, sizeof(float) * (size_t)r->cap); }
                r->x[r->rn] = x[i]; r->y[r->rn] = NAN; r->rn++;
            }
            gap = 1;
            continue;
        }
        gap = 0;
        if (!have) { have = 1; col = px; first = lo = hi = last = i; lov = hiv = v; continue; }
        last = i;
        if (v < lov) { lov = v; lo = i; }
        if (v > hiv) { hiv = v; hi = i; }
    }
#undef PUSH
}

// ---- cache -------------------------------------------------------------------------------------

struct ChartCache {
    int n;                   // points folded into the range and the EMA so far
    float y0;                // the first value, to notice a replaced series
    double x0;
    // value range over finite points, and over positive finite ones (log axis)
    double ylo[2], yhi[2], xlo[2], xhi[2];
    double alpha, es, ew;    // EMA state after n points
    float *ema;
    int ecap, en;
    Reduced red[2];
};

ChartCache *chart_cache_new(void) {
    ChartCache *c = xcalloc(1, sizeof *c);
    chart_cache_reset(c);
    return c;
}

void chart_cache_reset(ChartCache *c) {
    if (!c) return;
    free(c->ema);
    for (int i = 0; i < 2; i++) { free(c->red[i].x); free(c->red[i].y); }
    memset(c, 0, sizeof *c);
    for (int l = 0; l < 2; l++) { c->ylo[l] = c->xlo[l] = INFINITY; c->yhi[l] = c->xhi[l] = -INFINITY; }
    c->red[0].n = c->red[1].n = -1;
}

void chart_cache_free(ChartCache *c) {
    if (!c) return;
    chart_cache_reset(c);
    free(c);
}

// Folds points [c->n, n) into the range and, when asked for, the EMA.
static void cache_extend(ChartCache *c, const ChartSeries *s, double alpha) {
    if (s->n < c->n || (c->n > 0 && s->n > 0 && (memcmp(&c->y0, &s->y[0], sizeof(float)) || c->x0 != s->x[0])))
        chart_cache_reset(c);
    if (c->n == 0 && s->n > 0) { c->y0 = s->y[0]; c->x0 = s->x[0]; }
    for (int i = c->n; i < s->n; i++) {
        double v = s->y[i];
        if (!isfinite(v)) continue;
        for (int l = 0; l < 2; l++) {
            double u = v;
            if (l) { if (v <= 0) break; u = log10(v); }
            if (u < c->ylo[l]) c->ylo[l] = u;
            if (u > c->yhi[l]) c->yhi[l] = u;
            if (s->x[i] < c->xlo[l]) c->xlo[l] = s->x[i];
            if (s->x[i] > c->xhi[l]) c->xhi[l] = s->x[i];
        }
    }
    c->n = s->n;
    if (alpha <= 0) return;
    if (alpha >= 1) alpha = 0.999;
    if (alpha != c->alpha || c->en > s->n) { c->alpha = alpha; c->en = 0; c->es = c->ew = 0; }
    if (c->ecap < s->n) {
        c->ecap = s->n + s->n / 2 + 64;
        c->ema = xrealloc(c->ema, sizeof(float) * (size_t)c->ecap);
    }
    // the same recurrence as chart_ema, resumed where it stopped
    for (int i = c->en; i < s->n; i++) {
        float v = s->y[i];
        if (!isfinite(v)) { c->ema[i] = NAN; continue; }
        c->es = alpha * c->es + (1 - alpha) * v;
        c->ew = alpha * c->ew + (1 - alpha);
        c->ema[i] = (float)(c->es / c->ew);
    }
    c->en = s->n;
}

const float *chart_cache_smoothed(ChartCache *c, const ChartSeries *s, double alpha) {
    cache_extend(c, s, alpha);
    return alpha > 0 ? c->ema : s->y;
}

long chart_index_at(const double *x, long n, double xv) {
    long lo = 0, hi = n; // first index with x > xv
    while (lo < hi) { long m = (lo + hi) / 2; if (x[m] <= xv) lo = m + 1; else hi = m; }
    return lo - 1;
}

long chart_index_near(const double *x, long n, double xv) {
    if (n <= 0) return -1;
    long i = chart_index_at(x, n, xv);
    if (i < 0) return 0;
    if (i + 1 < n && x[i + 1] - xv < xv - x[i]) return i + 1;
    return i;
}

// ---- the chart -------------------------------------------------------------------------------
static void data_range(const ChartSeries *s, int ns, int logy, Frame *f) {
    f->xlo = INFINITY; f->xhi = -INFINITY; f->ylo = INFINITY; f->yhi = -INFINITY;
    for (int k = 0; k < ns; k++) {
        const ChartCache *c = s[k].cache;
        if (c) { // kept up to date by cache_extend
            int l = logy != 0;
            if (c->ylo[l] < f->ylo) f->ylo = c->ylo[l];
            if (c->yhi[l] > f->yhi) f->yhi = c->yhi[l];
            if (c->xlo[l] < f->xlo) f->xlo = c->xlo[l];
            if (c->xhi[l] > f->xhi) f->xhi = c->xhi[l];
            continue;
        }
        for (int i = 0; i < s[k].n; i++) {
            double v = s[k].y[i];
            if (!isfinite(v) || (logy && v <= 0)) continue;
            if (logy) v = log10(v);
            if (v < f->ylo) f->ylo = v;
            if (v > f->yhi) f->yhi = v;
            if (s[k].x[i] < f->xlo) f->xlo = s[k].x[i];
            if (s[k].x[i] > f->xhi) f->xhi = s[k].x[i];
        }
    }
    if (!(f->xlo <= f->xhi)) { f->xlo = 0; f->xhi = 1; }
    if (!(f->ylo <= f->yhi)) { f->ylo = 0; f->yhi = 1; }
    if (f->xhi == f->xlo) { f->xhi = f->xlo + 1; }
    if (f->yhi == f->ylo) {
        double d = fabs(f->ylo) * 0.1;
        if (d == 0) d = 1;
        f->ylo -= d; f->yhi += d;
    }
}

// The decimated raw (layer 0) or smoothed (layer 1) points of a cached series for this frame,
// recomputed only when the points, the frame or the plot width changed.
static const Reduced *cached_points(ChartCache *c, const ChartSeries *s, const Canvas *cv, const Frame *f, int layer,
                                    double alpha) {
    Reduced *r = &c->red[layer];
    double xmid = s->x[s->n / 2], xlast = s->x[s->n - 1];
    if (r->n == s->n && r->x0 == s->x[0] && r->xmid == xmid && r->xlast == xlast && r->xlo == f->xlo &&
        r->xhi == f->xhi && r->PW == cv->PW && r->logy == f->logy && (!layer || r->alpha == alpha))
        return r;
    reduce(cv, f, s->x, layer ? c->ema : s->y, s->n, r);
    r->n = s->n; r->x0 = s->x[0]; r->xmid = xmid; r->xlast = xlast;
    r->xlo = f->xlo; r->xhi = f->xhi; r->PW = cv->PW; r->logy = f->logy; r->alpha = alpha;
    return r;
}

// Y ticks in axis space (log10 values when logy) and their labels.
static int y_ticks(const Frame *f, int maxn, double *t, char lab[][16], int lw) {
    int n;
    if (f->logy && f->yhi - f->ylo >= 1) {
        double lo = ceil(f->ylo - 1e-9), hi = floor(f->yhi + 1e-9);
        int stride = 1;
        while ((hi - lo) / stride + 1 > maxn) stride++;
        n = 0;
        for (double e = lo; e <= hi && n < maxn; e += stride) t[n++] = e;
        for (int i = 0; i < n; i++) chart_fmt(pow(10, t[i]), lab[i], lw);
    } else if (f->logy) {
        n = chart_ticks(pow(10, f->ylo), pow(10, f->yhi), maxn, t);
        for (int i = 0; i < n; i++) { chart_fmt(t[i], lab[i], lw); t[i] = t[i] > 0 ? log10(t[i]) : -INFINITY; }
    } else {
        n = chart_ticks(f->ylo, f->yhi, maxn, t);
        for (int i = 0; i < n; i++) chart_fmt(t[i], lab[i], lw);
    }
    return n;
}

static void render(CellBuf *b, int x0, int y0, int w, int h, const ChartSeries *s, int ns, const ChartOpts *o, const Frame *zf);

// A zoomed chart draws the points in [xmin, xmax] (and one beyond each edge, so the lines run
// to the edges) without the caches' decimation, which is for the whole series; the smoothed
// values still come from the whole series, so zooming does not change them.
void chart_render(CellBuf *b, int x0, int y0, int w, int h, const ChartSeries *s, int ns, const ChartOpts *o) {
    if (!o || !(o->xmax > o->xmin)) { render(b, x0, y0, w, h, s, ns, o, NULL); return; }
    ChartSeries *z = xcalloc((size_t)(ns ? ns : 1), sizeof *z);
    float **own = xcalloc((size_t)(ns ? ns : 1), sizeof *own);
    Frame f = {o->xmin, o->xmax, INFINITY, -INFINITY, o->logy};
    for (int k = 0; k < ns; k++) {
        const float *sm = NULL;
        if (o->ema > 0) {
            if (s[k].ys) sm = s[k].ys;
            else if (s[k].cache) sm = chart_cache_smoothed(s[k].cache, &s[k], o->ema >= 1 ? 0.999 : o->ema);
            else { own[k] = xmalloc(sizeof(float) * (size_t)(s[k].n ? s[k].n : 1)); chart_ema(s[k].y, own[k], s[k].n, o->ema); sm = own[k]; }
        }
        long i0 = chart_index_at(s[k].x, s[k].n, o->xmin), i1 = chart_index_at(s[k].x, s[k].n, o->xmax) + 1;
        if (i0 < 0) i0 = 0;
        if (i1 >= s[k].n) i1 = s[k].n - 1;
        z[k] = s[k];
        z[k].cache = NULL;
        if (s[k].n <= 0 || i1 < i0) { z[k].n = 0; continue; }
        z[k].x = s[k].x + i0;
        z[k].y = s[k].y + i0;
        z[k].ys = sm ? sm + i0 : NULL;
        z[k].n = (int)(i1 - i0 + 1);
        for (long i = i0; i <= i1; i++) { // the y range of the points inside the window
            double v = s[k].y[i];
            if (s[k].x[i] < o->xmin || s[k].x[i] > o->xmax || !isfinite(v) || (o->logy && v <= 0)) continue;
            if (o->logy) v = log10(v);
            if (v < f.ylo) f.ylo = v;
            if (v > f.yhi) f.yhi = v;
        }
    }
    if (!(f.ylo <= f.yhi)) { f.ylo = 0; f.yhi = 1; }
    if (f.yhi == f.ylo) { double d = fabs(f.ylo) * 0.1; if (d == 0) d = 1; f.ylo -= d; f.yhi += d; }
    render(b, x0, y0, w, h, z, ns, o, &f);
    for (int k = 0; k < ns; k++) free(own[k]);
    free(own);
    free(z);
}

static void render(CellBuf *b, int x0, int y0, int w, int h, const ChartSeries *s, int ns, const ChartOpts *o, const Frame *zf) {
    ChartOpts dflt = {0};
    if (!o) o = &dflt;
    int row = y0;
    if (o->title && h > 0) { cb_text_fit(b, x0, row++, w, o->title, CB_DEFAULT, CB_BOLD); h--; }
    int xl = !o->no_xlabels && h >= 3;
    int ph = h - xl;
    if (ph < 1 || w < 3) return;

    for (int k = 0; k < ns; k++) if (s[k].cache) cache_extend(s[k].cache, &s[k], o->ema);
    Frame f;
    if (zf) f = *zf;
    else data_range(s, ns, o->logy, &f);
    f.logy = o->logy;

    // Y labels first: their width decides the plot width.
    double yt[16];
    char ylab[16][16];
    int maxy = ph >= 4 ? ph / 2 + 1 : 2;
    if (maxy > 6) maxy = 6;
    int nyt = y_ticks(&f, maxy, yt, ylab, 6);
    int lw = 1;
    for (int i = 0; i < nyt; i++) { int l = (int)strlen(ylab[i]); if (l > lw) lw = l; }
    int axis = x0 + lw, px0 = axis + 1, pw = w - lw - 1;
    if (pw < 2) return;

    Canvas c = {pw, ph, pw * 2, ph * 4, {0}, {0}};
    for (int l = 0; l < 2; l++) {
        c.dots[l] = xcalloc((size_t)pw * ph, 1);
        c.color[l] = xcalloc((size_t)pw * ph, sizeof(short));
    }
    for (int k = 0; k < ns; k++) {
        if (s[k].n <= 0) continue;
        int dl = s[k].dim ? 0 : 1; // a dim series stays on the faint layer
        if (s[k].cache) {
            ChartCache *cc = s[k].cache;
            double alpha = o->ema >= 1 ? 0.999 : o->ema;
            const Reduced *raw = cached_points(cc, &s[k], &c, &f, 0, 0);
            if (o->ema > 0) {
                const Reduced *sm = cached_points(cc, &s[k], &c, &f, 1, alpha);
                if (!s[k].dim) draw_curve(&c, &f, 0, s[k].color, raw->x, raw->y, raw->rn);
                draw_curve(&c, &f, dl, s[k].color, sm->x, sm->y, sm->rn);
            } else draw_curve(&c, &f, dl, s[k].color, raw->x, raw->y, raw->rn);
            continue;
        }
        if (o->ema > 0) {
            float *sm = NULL;
            if (!s[k].ys) { sm = xmalloc(sizeof(float) * (size_t)s[k].n); chart_ema(s[k].y, sm, s[k].n, o->ema); }
            if (!s[k].dim) draw_curve(&c, &f, 0, s[k].color, s[k].x, s[k].y, s[k].n);
            draw_curve(&c, &f, dl, s[k].color, s[k].x, s[k].ys ? s[k].ys : sm, s[k].n);
            free(sm);
        } else {
            draw_curve(&c, &f, dl, s[k].color, s[k].x, s[k].y, s[k].n);
        }
    }
    if (o->out_xlo) *o->out_xlo = f.xlo;
    if (o->out_xhi) *o->out_xhi = f.xhi;
    if (o->out_pw) *o->out_pw = c.PW;
    int curcol = -1; // the cursor's cell column, drawn where no curve is
    if (o->cursor && o->cursor_x >= f.xlo && o->cursor_x <= f.xhi)
        curcol = (int)lround((o->cursor_x - f.xlo) / (f.xhi - f.xlo) * (c.PW - 1)) / 2;
    for (int r = 0; r < ph; r++) {
        cb_put(b, axis, row + r, 0x2502, CB_DEFAULT, CB_DIM); // │
        if (curcol >= 0) cb_put(b, px0 + curcol, row + r, 0x2502, C_CURSOR, 0);
        for (int i = 0; i < pw; i++) {
            long k = (long)r * pw + i;
            Cell *cell = cb_at(b, px0 + i, row + r);
            if (!cell) continue;
            if (c.dots[1][k]) { cell->ch = 0x2800u + c.dots[1][k]; cell->fg = c.color[1][k]; cell->attr = i == curcol ? CB_REVERSE : 0; }
            else if (c.dots[0][k]) { cell->ch = 0x2800u + c.dots[0][k]; cell->fg = c.color[0][k]; cell->attr = i == curcol ? CB_REVERSE : CB_DIM; }
        }
    }
    for (int i = 0; i < nyt; i++) {
        if (!isfinite(yt[i])) continue;
        double fy = (yt[i] - f.ylo) / (f.yhi - f.ylo);
        int r = ph - 1 - (int)((long)lround(fy * (c.PH - 1)) / 4);
        if (r < 0 || r >= ph) continue;
        int l = (int)strlen(ylab[i]);
        cb_text(b, axis - l, row + r, l, ylab[i], CB_DEFAULT, 0);
        cb_put(b, axis, row + r, 0x2524, CB_DEFAULT, CB_DIM); // ┤
    }
    if (xl) {
        int xr = row + ph;
        cb_put(b, axis, xr, 0x2514, CB_DEFAULT, CB_DIM); // └
        double xt[16];
        int maxx = pw / 7 + 1;
        if (maxx > 8) maxx = 8;
        int nxt = o->xtime ? chart_time_ticks(f.xlo, f.xhi, maxx, xt) : chart_ticks(f.xlo, f.xhi, maxx, xt);
        int free_from = px0;
        for (int i = 0; i < nxt; i++) {
            char lab[16];
            if (o->xtime) chart_fmt_dur(xt[i], lab, 6);
            else chart_fmt(xt[i], lab, 6);
            int l = (int)strlen(lab);
            int cx = px0 + (int)lround((xt[i] - f.xlo) / (f.xhi - f.xlo) * (c.PW - 1)) / 2;
            int lx = cx - l / 2;
            if (lx + l > x0 + w) lx = x0 + w - l;
            if (lx < free_from) { if (i == 0) lx = free_from; else continue; }
            cb_text(b, lx, xr, l, lab, CB_DEFAULT, CB_DIM);
            free_from = lx + l + 1;
        }
    }
    for (int l = 0; l < 2; l++) { free(c.dots[l]); free(c.color[l]); }
}
