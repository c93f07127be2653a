// backend_common.c: helpers shared by the model backends.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "ui/backend.h"
#include "base/run_status.h"
#include "base/util.h"

const UiLatest *ui_run_latest(const UiRun *r, const char *key) {
    for (int i = 0; i < r->nlatest; i++)
        if (!strcmp(r->latest[i].key, key)) return &r->latest[i];
    return NULL;
}

int ui_run_live(const UiRun *r) {
    RunStatus st;
    return run_status_parse(r->status, &st, NULL) == 0 && run_status_live(st);
}

void ui_series_push(UiSeries *s, long step, float value, double wall) {
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 256;
        s->step = xrealloc(s->step, sizeof(long) * (size_t)s->cap);
        s->value = xrealloc(s->value, sizeof(float) * (size_t)s->cap);
        s->wall = xrealloc(s->wall, sizeof(double) * (size_t)s->cap);
    }
    s->step[s->n] = step;
    s->value[s->n] = value;
    s->wall[s->n] = wall;
    s->n++;
}

const double *ui_series_x(UiSeries *s, int xtime) {
    if (s->xtime != xtime || s->xn > s->n) { s->xn = 0; s->xtime = xtime; }
    if (s->xn < s->n) {
        s->x = xrealloc(s->x, sizeof(double) * (size_t)s->cap);
        for (long i = s->xn; i < s->n; i++) s->x[i] = xtime ? s->wall[i] - s->wall[0] : (double)s->step[i];
        s->xn = s->n;
    }
    return s->x;
}

void ui_series_free(UiSeries *s) {
    free(s->step); free(s->value); free(s->wall); free(s->x);
    memset(s, 0, sizeof *s);
}
