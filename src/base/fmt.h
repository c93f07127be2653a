// fmt.h: durations and byte counts as text, the same in the CLI and the dashboard.
// Every duration is rounded to the nearest second first, so `repae runs` and the runs screen
// never disagree by one second about the same run.
#ifndef REPAE_FMT_H
#define REPAE_FMT_H
#include <stddef.h>

// A run's elapsed training time: the active seconds the store recorded up to its last
// heartbeat, plus, while it trains, the time since (at most the store's stale limit, 15 s). The
// time a run was down between an interruption and its resume is never counted.
double run_elapsed_seconds(double active, double heartbeat, int live, double now);

// Elapsed times and ETAs, two units: "45s", "3m05s", "1h02m", "2d03h". "-" when unknown
// (NaN, infinite or negative seconds).
void fmt_duration(char *buf, size_t n, double seconds);
// Compact time-axis labels, the second unit dropped when zero: "45s", "12m", "1h30", "2d3h".
// Negative or unknown seconds read as 0.
void fmt_duration_axis(char *buf, size_t n, double seconds);
// Sizes in decimal units with about three significant digits: "0.52 MB", "75 MB", "1.6 GB".
void fmt_bytes(char *buf, size_t n, double bytes);

#endif
