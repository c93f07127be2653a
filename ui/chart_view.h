// chart_view.h: what the Run and Compare screens share about reading charts: the smoothing (a
// continuous EMA factor), log-y, the x axis (steps or time), a cursor with the value of every
// curve under it, and a zoom to an x range; their keys, the status text, and the readout.
#ifndef REPAE_UI_CHART_VIEW_H
#define REPAE_UI_CHART_VIEW_H
#include "ui/app.h"
#include "ui/backend.h"
#include "ui/chart.h"

// Action ids for the screens' key tables (beyond any screen's own).
enum { CV_SMOOTH_UP = 100, CV_SMOOTH_DOWN, CV_SMOOTH_SET, CV_LOGY, CV_XAXIS, CV_CURSOR, CV_LEFT, CV_RIGHT,
       CV_LEFT_FAST, CV_RIGHT_FAST, CV_ZOOM_IN, CV_ZOOM_OUT, CV_ZOOM_RESET, CV_ZOOM_SET };
// The bindings, for a screen's key table.
#define CHART_VIEW_KEYS \
    {'+', CV_SMOOTH_UP, "smooth", "more smoothing (EMA; the raw curve stays faint behind)"}, \
    {'=', CV_SMOOTH_UP, NULL, "more smoothing"}, {'-', CV_SMOOTH_DOWN, NULL, "less smoothing"}, \
    {'S', CV_SMOOTH_SET, NULL, "set the smoothing factor (0 raw .. 0.99)"}, \
    {'l', CV_LOGY, "log-y", "toggle log y axis"}, {'t', CV_XAXIS, "x:step/time", "x axis: step or wall time"}, \
    {'v', CV_CURSOR, "cursor", "cursor: step, smoothed and raw value of every curve"}, \
    {KEY_LEFT, CV_LEFT, NULL, "cursor left (without a cursor: back)"}, {KEY_RIGHT, CV_RIGHT, NULL, "cursor right"}, \
    {KEY_SLEFT, CV_LEFT_FAST, NULL, "cursor left, fast"}, {'<', CV_LEFT_FAST, NULL, "cursor left, fast"}, \
    {KEY_SRIGHT, CV_RIGHT_FAST, NULL, "cursor right, fast"}, {'>', CV_RIGHT_FAST, NULL, "cursor right, fast"}, \
    {'z', CV_ZOOM_IN, "zoom", "zoom in around the cursor (or the middle); the mouse wheel too"}, \
    {'Z', CV_ZOOM_OUT, NULL, "zoom out"}, {'0', CV_ZOOM_RESET, NULL, "zoom back to everything"}, \
    {'/', CV_ZOOM_SET, NULL, "zoom to a step range (2000-5000; empty: everything)"}

typedef struct {
    double ema;        // smoothing in [0, 0.99]
    int logy, xtime;
    int cursor;        // the cursor is shown
    double cx;         // its x (steps, or seconds with xtime)
    double zlo, zhi;   // the zoom (zhi <= zlo: everything)
    double dlo, dhi;   // the x range last drawn, and its width in dot columns: cursor moves are
    int pw;            // one dot column, zooms halve the range around the cursor
    double full;       // the width of everything, when last drawn unzoomed
} ChartView;

// A screen with a ChartView starts with this, so the view's prompts find it from the Screen.
typedef struct { Screen base; ChartView cv; } ChartViewScreen;

void chart_view_init(ChartView *v, UiBackend *m); // the smoothing remembered for the store
// Handles a CV_* action: UI_HANDLED | UI_REDRAW, or 0 (CV_LEFT and CV_RIGHT without a cursor:
// the arrow keys keep their meaning).
int chart_view_action(ChartView *v, App *a, int act);
// The mouse wheel over a chart, frac across its plot (0..1): in halves the range around that
// point, out doubles it; the cursor moves there.
void chart_view_wheel(ChartView *v, int in, double frac);
// The options for chart_render (title left to the caller), writing back the range drawn.
void chart_view_opts(ChartView *v, ChartOpts *o);
// "smoothing 0.90  log-y  x: step  zoom 2k..5k  cursor 3.4k"
void chart_view_status(const ChartView *v, char *out, int n);
// The raw and smoothed values at the cursor (the last point at or before it) of series s:
// 1 and the point's step, or 0 when the series has no point there.
int chart_view_at(const ChartView *v, UiSeries *s, ChartCache *c, float *raw, float *sm, long *step);

#endif
