// console.c: a run's console lines (schema 6): the warnings, notes and final error the trainer
// reported, kept with the run so the dashboard can show them whichever process trained it.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "store/store.h"
#include "store/store_internal.h"
#include "base/util.h"

static int level_ok(const char *l) { return !strcmp(l, "error") || !strcmp(l, "warn") || !strcmp(l, "note"); }

int store_console_add(Store *s, int64_t run, const StoreConsoleLine *lines, int n, char *err) {
    for (int i = 0; i < n; i++)
        if (!level_ok(lines[i].level))
            return seterr(err, "%s: console line level '%s' is none of error, warn, note", s->path, lines[i].level);
    if (n <= 0) return 0;
    if (tx_begin(s, err) != 0) return -1;
    int ok = 1;
    double now = wall_seconds();
    for (int i = 0; ok && i < n; i++) {
        const char *t = lines[i].text ? lines[i].text : "";
        char cut[STORE_CONSOLE_LINE_MAX + 1];
        if (strlen(t) > STORE_CONSOLE_LINE_MAX) { // cut on a UTF-8 boundary
            size_t k = STORE_CONSOLE_LINE_MAX;
            while (k > 0 && ((unsigned char)t[k] & 0xC0) == 0x80) k--;
            memcpy(cut, t, k);
            cut[k] = 0;
            t = cut;
        }
        double wall = lines[i].wall > 0 ? lines[i].wall : now;
        if (stmt_exec(s, S_CONSOLE_INSERT, "IDTT", run, wall, lines[i].level, t) != SQLITE_DONE) ok = 0;
    }
    if (ok && stmt_exec(s, S_CONSOLE_CAP, "Ii", run, STORE_CONSOLE_MAX) != SQLITE_DONE) ok = 0;
    if (!ok) dberr(s, err, "cannot write the run's console lines");
    return tx_end(s, ok, err);
}

int store_console_lines(Store *s, int64_t run, int64_t after_id, StoreConsoleLine **out, int *n, char *err) {
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = stmt_bind(s, S_CONSOLE_GET, "II", run, after_id);
    StoreConsoleLine *v = NULL;
    int k = 0, cap = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (k == cap) { cap = cap ? 2 * cap : 32; v = xrealloc(v, (size_t)cap * sizeof *v); }
        StoreConsoleLine *l = &v[k++];
        l->id = sqlite3_column_int64(st, 0);
        l->wall = sqlite3_column_double(st, 1);
        const unsigned char *lv = sqlite3_column_text(st, 2);
        snprintf(l->level, sizeof l->level, "%s", lv ? (const char *)lv : "");
        l->text = col_strdup(st, 3);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) { store_console_free(v, k); return dberr(s, err, "cannot read the run's console lines"); }
    *out = v;
    *n = k;
    return 0;
}

void store_console_free(StoreConsoleLine *lines, int n) {
    for (int i = 0; i < n; i++) free(lines[i].text);
    free(lines);
}
