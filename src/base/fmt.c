// fmt.c: see fmt.h.
#include "base/fmt.h"
#include <math.h>
#include <stdio.h>

void fmt_duration(char *buf, size_t n, double s) {
    if (!isfinite(s) || s < 0) { snprintf(buf, n, "-"); return; }
    long t = (long)llround(s);
    if (t >= 86400) snprintf(buf, n, "%ldd%02ldh", t / 86400, t % 86400 / 3600);
    else if (t >= 3600) snprintf(buf, n, "%ldh%02ldm", t / 3600, t % 3600 / 60);
    else if (t >= 60) snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, n, "%lds", t);
}

void fmt_duration_axis(char *buf, size_t n, double s) {
    long t = isfinite(s) && s > 0 ? (long)llround(s) : 0;
    if (t < 60) snprintf(buf, n, "%lds", t);
    else if (t < 3600) {
        if (t % 60) snprintf(buf, n, "%ldm%02ld", t / 60, t % 60);
        else snprintf(buf, n, "%ldm", t / 60);
    } else if (t < 86400) {
        if (t % 3600 / 60) snprintf(buf, n, "%ldh%02ld", t / 3600, t % 3600 / 60);
        else snprintf(buf, n, "%ldh", t / 3600);
    } else if (t % 86400 / 3600) snprintf(buf, n, "%ldd%ldh", t / 86400, t % 86400 / 3600);
    else snprintf(buf, n, "%ldd", t / 86400);
}

double run_elapsed_seconds(double active, double heartbeat, int live, double now) {
    double extra = live && heartbeat > 0 ? now - heartbeat : 0;
    if (!(extra > 0)) extra = 0;
    if (extra > 15) extra = 15;
    return (active > 0 ? active : 0) + extra;
}

void fmt_bytes(char *buf, size_t n, double b) {
    if (b >= 1e15) snprintf(buf, n, "%.3g PB", b / 1e15);
    else if (b >= 1e12) snprintf(buf, n, "%.1f TB", b / 1e12);
    else if (b >= 1e9) snprintf(buf, n, "%.1f GB", b / 1e9);
    else if (b >= 1e7) snprintf(buf, n, "%.0f MB", b / 1e6);
    else snprintf(buf, n, "%.2g MB", b / 1e6);
}
