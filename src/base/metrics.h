// metrics.h: what the CLI and the dashboard know about each logged metric: which way is
// better, whether it is charted and tabulated by default, and a short label. The names are
// the store's keys (the trainer's train_metric_names and `repae eval`'s eval.*); a metric
// missing here still shows everywhere, as "neither better" and not charted.
#ifndef REPAE_METRICS_H
#define REPAE_METRICS_H

typedef enum { BETTER_LOWER = -1, BETTER_NEITHER = 0, BETTER_HIGHER = 1 } MetricBetter;

enum {
    METRIC_CHARTED = 1, // a curve on the Run and Compare screens and in the CLI's progress line
    METRIC_COLUMN = 2,  // a column of the runs tables (`repae runs`, the runs screen)
};

typedef struct {
    const char *name;   // the store's key: "recon", "eval.fd"
    MetricBetter better;
    unsigned flags;     // METRIC_*
    const char *label;  // at most 6 characters, for narrow columns: "diff", "FD"
} Metric;

// The charted metrics come first in the table, in display order, and the columns first of
// them: the dashboard sizes its per-metric arrays with these counts (test_facts checks).
#define METRIC_NCHARTED 6 // recon kl diffusion align smooth total
#define METRIC_NCOLUMNS 5 // recon kl diffusion align smooth

int metric_count(void);
const Metric *metric_at(int i);             // NULL out of range
const Metric *metric_find(const char *name); // NULL if unknown
// BETTER_NEITHER for a metric not in the table.
MetricBetter metric_better(const char *name);
// The label of a known metric, else the name itself.
const char *metric_label(const char *name);

// 1 if a is strictly better than b in the metric's own direction; NaN is never better and
// anything beats NaN. Always 0 for BETTER_NEITHER.
int metric_beats(MetricBetter better, double a, double b);

#endif
