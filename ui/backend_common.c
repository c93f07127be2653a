// backend_common.c: helpers shared by the model backends.
#include <math.h>
#include <stdio.h>
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

int ui_pref_get(UiBackend *m, const char *key, char *val, size_t n) {
    if (!m->ops->pref_get || !m->ops->pref_get(m, key, val, n)) { if (n) val[0] = 0; return 0; }
    return 1;
}

void ui_pref_set(UiBackend *m, const char *key, const char *val) {
    char err[ERRLEN];
    if (m->ops->pref_set) m->ops->pref_set(m, key, val, err); // a layout not remembered is no reason to stop
}

int ui_prefs_get(const UiPrefs *p, const char *key, char *val, size_t n) {
    for (int i = 0; i < p->n; i++)
        if (!strcmp(p->kv[i][0], key)) { snprintf(val, n, "%s", p->kv[i][1]); return 1; }
    return 0;
}

void ui_prefs_set(UiPrefs *p, const char *key, const char *val) {
    int i = 0;
    while (i < p->n && strcmp(p->kv[i][0], key)) i++;
    if (i == p->n) p->kv = xrealloc(p->kv, sizeof *p->kv * (size_t)++p->n);
    snprintf(p->kv[i][0], sizeof p->kv[i][0], "%s", key);
    snprintf(p->kv[i][1], sizeof p->kv[i][1], "%s", val);
}

void ui_prefs_free(UiPrefs *p) { free(p->kv); p->kv = NULL; p->n = 0; }
