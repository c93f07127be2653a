// chart.h: braille line charts (U+2800 block: 2x4 dots per cell) with labelled axes, rendered
// into a CellBuf. Several series overlay with a colour each; EMA smoothing draws the smoothed
// curve over the raw one, which stays faint behind (CB_DIM); NaN and Inf are gaps; when there
// are more points than dot columns each column draws the min..max of its points, so a one-step
// spike stays visible at any zoom.
#ifndef REPAE_UI_CHART_H
#define REPAE_UI_CHART_H
#include "ui/cellbuf.h"

// Per-series memo for chart_render: the EMA (extended as points are appended), the value range,
// and the series decimated to the plot's dot columns (first, lowest, highest and last point of
// each column), so that a redraw costs O(plot width) rather than O(points), and new points
// cost O(new points) plus one O(points) decimation. For series that only grow by appending;
// chart_cache_reset when a series is replaced (and a series that shrinks resets itself).
typedef struct ChartCache ChartCache;
ChartCache *chart_cache_new(void);
void chart_cache_free(ChartCache *c);
void chart_cache_reset(ChartCache *c);

typedef struct {
    const double *x;  // n x positions (step or wall seconds), non-decreasing
    const float *y;   // n values; NaN/Inf are gaps
    int n;
    int color;        // colour index for the curve
    ChartCache *cache;// NULL: everything is computed from the points on every call
    const float *ys;  // the smoothed values, when the caller has them (NULL: computed here)
    int dim;          // drawn faint (a baseline behind the runs)
} ChartSeries;

typedef struct {
    const char *title; // drawn on the first row (NULL: no title row)
    double ema;        // smoothing factor in [0, 1): 0 = raw only; 0.9 = strong
    int logy;          // log10 y axis; values <= 0 become gaps
    int xtime;         // x values are seconds: label the axis as durations
    int no_xlabels;    // skip the x label row (tiny charts)
    double xmin, xmax; // zoom: only this x range (and the y range of its points); off when xmax <= xmin
    int cursor;        // draw a vertical cursor at x = cursor_x
    double cursor_x;
    double *out_xlo, *out_xhi; // where to write the x range drawn (NULL: nowhere)
    int *out_pw;       // and the plot's width in dot columns
} ChartOpts;

// Renders into the w x h rectangle at (x0, y0) of b: title row, plot rows with y labels on the
// left, and x labels on the last row.
void chart_render(CellBuf *b, int x0, int y0, int w, int h, const ChartSeries *s, int ns, const ChartOpts *o);

// The index of the last point with x <= xv in non-decreasing x (-1 if none), and of the point
// nearest xv (-1 if n == 0).
long chart_index_at(const double *x, long n, double xv);
long chart_index_near(const double *x, long n, double xv);
// The cache's smoothed values of s with alpha (extended as points are appended): the same
// numbers the chart draws, for a readout.
const float *chart_cache_smoothed(ChartCache *c, const ChartSeries *s, double alpha);

// Debiased exponential moving average (as TensorBoard/W&B): out[i] smooths y[0..i]; NaN/Inf
// inputs give NaN outputs and do not disturb the average. out may alias y.
void chart_ema(const float *y, float *out, int n, double alpha);

// Up to maxn "nice" ticks (1, 2, 5 x 10^k steps) covering [lo, hi]; returns the count.
int chart_ticks(double lo, double hi, int maxn, double *ticks);
// Durations for the time axis in nice units (seconds..days).
int chart_time_ticks(double lo, double hi, int maxn, double *ticks);
// Short labels: 12.5k, 3M, 0.25, 1e-4 (at most maxw columns).
void chart_fmt(double v, char *out, int maxw);
// 45s, 12m, 1h30, 2d3h.
void chart_fmt_dur(double seconds, char *out, int maxw);

// The braille dot bit of dot column dx (0..1) and row dy (0..3) inside a cell.
static inline unsigned chart_dot_bit(int dx, int dy) {
    static const unsigned char bits[4][2] = {{0x01, 0x08}, {0x02, 0x10}, {0x04, 0x20}, {0x40, 0x80}};
    return bits[dy][dx];
}

#endif
