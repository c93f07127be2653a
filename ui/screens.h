// screens.h: helpers shared by the screen files (scr_*.c).
#ifndef REPAE_UI_SCREENS_H
#define REPAE_UI_SCREENS_H
#ifndef _XOPEN_SOURCE_EXTENDED
#define _XOPEN_SOURCE_EXTENDED 1
#endif
#include <ncurses.h> // KEY_* codes for the key tables
#include "ui/app.h"
#include "ui/cellbuf.h"
#include "ui/backend.h"
#include "base/metrics.h"

// The charted metrics (the five losses and the total), in the order the Run and Compare
// screens show them: the first UI_NMETRICS entries of base/metrics.h's table.
#define UI_NMETRICS METRIC_NCHARTED
static inline const char *ui_metric(int k) { return metric_at(k)->name; }

// "35s", "1h02m": base/fmt.h's fmt_duration, so the runs screen and `repae runs` agree.
void ui_fmt_elapsed(double seconds, char *out, int n);
double ui_run_elapsed(const UiRun *r);
// Seconds per step from the run's timing (0 if unknown) and an ETA string.
void ui_progress_text(const UiRun *r, char *out, int n);
// A progress bar of w cells with eighth blocks.
void ui_progress_bar(CellBuf *b, int x, int y, int w, double frac, int color);
// A metric value in at most w columns ("-" when absent).
void ui_fmt_metric(const UiRun *r, const char *key, char *out, int w);
// Draws a boxed section title: "── title ──────".
void ui_section(CellBuf *b, int x, int y, int w, const char *title);
// The metrics to chart for runs: the picker's names and globs (total grad_norm_* eval.*) over
// what the runs logged, in the order typed (a plain name not logged yet too: its chart waits);
// or, for an empty pick, the charted defaults less those no run uses (never logged, or only
// NaN or 0: weight 0, align with kind none), named in unused (un bytes; NULL: not wanted).
int ui_pick_metrics(const UiRun *runs, int nr, const char *pick, char out[][24], int max, char *unused, int un);
// Case-insensitive substring.
int ui_contains(const char *hay, const char *needle);

#endif
