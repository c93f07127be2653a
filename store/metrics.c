// metrics.c: logging and reading metrics. Keys are small integers (metric_keys); each
// connection caches the ids it has seen so a training step's batch does no lookups, and the
// summary table keeps one row per (run, key) so listing runs never scans the metrics.
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "store/store.h"
#include "store/store_internal.h"
#include "base/util.h"

void store_strings_free(char **v, int n) {
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

int store_metric_keys(Store *s, int64_t run, char ***keys, int *n, char *err) {
    sqlite3_stmt *st = stmt_bind(s, S_KEYS_RUN, "I", run);
    char **v = NULL;
    int k = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        v = xrealloc(v, (k + 1) * sizeof *v);
        v[k++] = col_strdup(st, 0);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) { store_strings_free(v, k); return dberr(s, err, "cannot read metric keys"); }
    *keys = v;
    *n = k;
    return 0;
}

static void key_remember(Store *s, const char *key, int64_t id, int committed);

// Key id lookup for reading: 0 if the key was never logged.
static int key_lookup(Store *s, const char *key, int64_t *id, char *err) {
    for (int i = 0; i < s->nkeys; i++)
        if (strcmp(s->keys[i].key, key) == 0) { *id = s->keys[i].id; return 0; }
    sqlite3_stmt *st = stmt_bind(s, S_KEY_FIND, "T", key);
    int rc = sqlite3_step(st);
    *id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return dberr(s, err, "cannot read metric keys");
    if (rc == SQLITE_ROW) key_remember(s, key, *id, 1);
    return 0;
}

static void key_remember(Store *s, const char *key, int64_t id, int committed) {
    if (s->nkeys == s->capkeys) {
        s->capkeys = s->capkeys ? 2 * s->capkeys : 32;
        s->keys = xrealloc(s->keys, s->capkeys * sizeof *s->keys);
    }
    // An id inserted by a transaction that later rolls back must not stay cached: mark it
    // with a negative id until the commit.
    s->keys[s->nkeys].key = xstrdup(key);
    s->keys[s->nkeys].id = committed ? id : -id;
    s->nkeys++;
}

void metrics_free_keys(Store *s) {
    for (int i = 0; i < s->nkeys; i++) free(s->keys[i].key);
    free(s->keys);
    s->keys = NULL;
    s->nkeys = s->capkeys = 0;
}

void metrics_forget_uncommitted(Store *s) {
    int j = 0;
    for (int i = 0; i < s->nkeys; i++) {
        if (s->keys[i].id < 0) free(s->keys[i].key);
        else s->keys[j++] = s->keys[i];
    }
    s->nkeys = j;
}

static void confirm_keys(Store *s) {
    for (int i = 0; i < s->nkeys; i++)
        if (s->keys[i].id < 0) s->keys[i].id = -s->keys[i].id;
}

// Key id for writing, inside a write transaction: creates the key if needed.
static int key_id(Store *s, const char *key, int64_t *id, char *err) {
    for (int i = 0; i < s->nkeys; i++)
        if (strcmp(s->keys[i].key, key) == 0) { *id = s->keys[i].id < 0 ? -s->keys[i].id : s->keys[i].id; return 0; }
    sqlite3_stmt *st = stmt_bind(s, S_KEY_FIND, "T", key);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        key_remember(s, key, *id, 1);
        return 0;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) return dberr(s, err, "cannot read metric keys");
    if (stmt_exec(s, S_KEY_INSERT, "T", key) != SQLITE_DONE) return dberr(s, err, "cannot add a metric key");
    *id = sqlite3_last_insert_rowid(s->db);
    key_remember(s, key, *id, 0);
    return 0;
}

int store_series(Store *s, int64_t run, const char *key, long after_step, StoreSeries *out, char *err) {
    memset(out, 0, sizeof *out);
    int64_t kid;
    if (key_lookup(s, key, &kid, err) != 0) return -1;
    if (kid == 0) return 0;
    sqlite3_stmt *st = stmt_bind(s, S_SERIES, "IIL", run, kid, after_step);
    long cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (out->n == cap) {
            cap = cap ? 2 * cap : 1024;
            out->step = xrealloc(out->step, cap * sizeof *out->step);
            out->value = xrealloc(out->value, cap * sizeof *out->value);
            out->wall = xrealloc(out->wall, cap * sizeof *out->wall);
        }
        out->step[out->n] = (long)sqlite3_column_int64(st, 0);
        out->value[out->n] = (float)col_real(st, 1);
        out->wall[out->n] = sqlite3_column_double(st, 2);
        out->n++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) { store_series_free(out); return dberr(s, err, "cannot read metrics"); }
    return 0;
}

void store_series_free(StoreSeries *ser) {
    free(ser->step);
    free(ser->value);
    free(ser->wall);
    memset(ser, 0, sizeof *ser);
}

typedef struct {
    const char *key;
    int64_t kid;
    long last_step, min_step;
    double last, last_wall, min, max;
} KeyAgg;

typedef struct { int64_t kid; long step; int i, ai; } Order;

static int order_cmp(const void *a, const void *b) {
    const Order *x = a, *y = b;
    if (x->kid != y->kid) return x->kid < y->kid ? -1 : 1;
    if (x->step != y->step) return x->step < y->step ? -1 : 1;
    return x->i - y->i; // a repeated (key, step): the later one is written last and wins
}

int store_log_metrics(Store *s, int64_t run, const StoreMetric *m, int n, char *err) {
    if (n <= 0) return 0;
    if (tx_begin(s, err) != 0) return -1;
    KeyAgg *agg = NULL;
    int nagg = 0, capagg = 0, ok = 0;
    long maxstep = -1;
    Order *ord = xmalloc((size_t)n * sizeof *ord);
    const char *prevkey = NULL;
    int64_t prevkid = 0;
    int previdx = -1;
    for (int i = 0; i < n; i++) {
        // Batches repeat the same few keys; skip the lookups when the key pointer repeats.
        if (!prevkey || (m[i].key != prevkey && strcmp(m[i].key, prevkey) != 0)) {
            int64_t kid = 0;
            int ai;
            for (ai = 0; ai < nagg && strcmp(agg[ai].key, m[i].key) != 0; ai++) {}
            if (ai == nagg) {
                if (key_id(s, m[i].key, &kid, err) != 0) goto out;
                if (nagg == capagg) { capagg = capagg ? 2 * capagg : 16; agg = xrealloc(agg, capagg * sizeof *agg); }
                agg[nagg++] = (KeyAgg){m[i].key, kid, LONG_MIN, 0, NAN, NAN, NAN, NAN};
            }
            prevkey = m[i].key;
            prevkid = agg[ai].kid;
            previdx = ai;
        }
        ord[i] = (Order){prevkid, m[i].step, i, previdx};
    }
    // Insert in primary-key order rather than the step-major order training produces, so a
    // batch appends to each key's range in turn instead of hopping between them.
    qsort(ord, n, sizeof *ord, order_cmp);
    for (int o = 0; o < n; o++) {
        const StoreMetric *mi = &m[ord[o].i];
        if (stmt_exec(s, S_METRIC_INSERT, "IILDD", run, ord[o].kid, mi->step, mi->value, mi->wall) != SQLITE_DONE) { dberr(s, err, "cannot write metrics"); goto out; }
        KeyAgg *a = &agg[ord[o].ai];
        double v = mi->value;
        if (mi->step >= a->last_step) { a->last_step = mi->step; a->last = v; a->last_wall = mi->wall; }
        if (!isnan(v)) {
            if (isnan(a->min) || v < a->min) { a->min = v; a->min_step = mi->step; }
            if (isnan(a->max) || v > a->max) a->max = v;
        }
        if (mi->step > maxstep) maxstep = mi->step;
    }
    for (int i = 0; i < nagg; i++) {
        const KeyAgg *a = &agg[i];
        if (stmt_exec(s, S_SUMMARY_UPSERT, "IIDLDDLD", run, a->kid, a->last, a->last_step, a->last_wall, a->min,
                      a->min_step, a->max) != SQLITE_DONE) { dberr(s, err, "cannot update the metric summary"); goto out; }
    }
    if (stmt_exec(s, S_RUN_PROGRESS, "IDL", run, wall_seconds(), maxstep) != SQLITE_DONE) { dberr(s, err, "cannot update the run's progress"); goto out; }
    ok = 1;
out:
    free(agg);
    free(ord);
    if (tx_end(s, ok, err) != 0) return -1;
    confirm_keys(s);
    return 0;
}

int store_truncate_after(Store *s, int64_t run, long step, char *err) {
    if (tx_begin(s, err) != 0) return -1;
    int ok = stmt_exec(s, S_TRUNC_METRICS, "IL", run, step) == SQLITE_DONE &&
             stmt_exec(s, S_TRUNC_SAMPLES, "IL", run, step) == SQLITE_DONE &&
             stmt_exec(s, S_DEL_SUMMARY, "I", run) == SQLITE_DONE &&
             stmt_exec(s, S_SUMMARY_REBUILD, "I", run) == SQLITE_DONE &&
             stmt_exec(s, S_RUN_STEP_CAP, "IL", run, step) == SQLITE_DONE;
    if (!ok) dberr(s, err, "cannot forget metrics after the checkpoint");
    return tx_end(s, ok, err);
}
