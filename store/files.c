// files.c: what a run holds beside its metrics: sample grids, checkpoint rows, tags, notes,
// its name and stop flag; and deleting a run, rows and directory.
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "store/store.h"
#include "store/store_internal.h"
#include "base/util.h"

// ---- samples and checkpoints ----------------------------------------------------------------

int store_sample_steps(Store *s, int64_t run, long **steps, int *n, char *err) {
    sqlite3_stmt *st = stmt_bind(s, S_SAMPLE_STEPS, "I", run);
    long *v = NULL;
    int k = 0, cap = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (k == cap) { cap = cap ? 2 * cap : 64; v = xrealloc(v, cap * sizeof *v); }
        v[k++] = (long)sqlite3_column_int64(st, 0);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) { free(v); return dberr(s, err, "cannot read samples"); }
    *steps = v;
    *n = k;
    return 0;
}

int store_sample_get(Store *s, int64_t run, long step, long *got_step, unsigned char **png, size_t *len, int *w,
                     int *h, char *err) {
    *png = NULL;
    *len = 0;
    sqlite3_stmt *st = stmt_bind(s, S_SAMPLE_GET, "IL", run, step);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        if (rc == SQLITE_DONE) {
            if (step < 0) return seterr(err, "run %lld has no samples yet", (long long)run);
            return seterr(err, "run %lld has no sample at or before step %ld", (long long)run, step);
        }
        return dberr(s, err, "cannot read a sample");
    }
    if (got_step) *got_step = (long)sqlite3_column_int64(st, 0);
    *len = (size_t)sqlite3_column_bytes(st, 1);
    *png = xmalloc(*len);
    memcpy(*png, sqlite3_column_blob(st, 1), *len);
    if (w) *w = sqlite3_column_int(st, 2);
    if (h) *h = sqlite3_column_int(st, 3);
    sqlite3_reset(st);
    return 0;
}

int store_add_sample(Store *s, int64_t run, long step, const void *png, size_t len, int w, int h, char *err) {
    if (tx_begin(s, err) != 0) return -1;
    int ok = stmt_exec(s, S_SAMPLE_INSERT, "ILBiiD", run, step, png, len, w, h, wall_seconds()) == SQLITE_DONE;
    if (!ok) dberr(s, err, "cannot write a sample");
    return tx_end(s, ok, err);
}

int store_add_checkpoint(Store *s, int64_t run, long step, const char *weights, const char *state, char *err) {
    if (tx_begin(s, err) != 0) return -1;
    int ok = stmt_exec(s, S_CKPT_INSERT, "ILTTD", run, step, weights, state, wall_seconds()) == SQLITE_DONE;
    if (!ok) dberr(s, err, "cannot record a checkpoint");
    return tx_end(s, ok, err);
}

int store_checkpoints(Store *s, int64_t run, StoreCheckpoint **c, int *n, char *err) {
    sqlite3_stmt *st = stmt_bind(s, S_CKPT_LIST, "I", run);
    StoreCheckpoint *v = NULL;
    int k = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        v = xrealloc(v, (k + 1) * sizeof *v);
        v[k].step = (long)sqlite3_column_int64(st, 0);
        v[k].weights = col_strdup(st, 1);
        v[k].state = col_strdup(st, 2);
        v[k].wall = sqlite3_column_double(st, 3);
        k++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) { store_checkpoints_free(v, k); return dberr(s, err, "cannot read checkpoints"); }
    *c = v;
    *n = k;
    return 0;
}

void store_checkpoints_free(StoreCheckpoint *c, int n) {
    for (int i = 0; i < n; i++) { free(c[i].weights); free(c[i].state); }
    free(c);
}

// ---- housekeeping ---------------------------------------------------------------------------

// One-statement writes of the form (run id, text).
static int write_run_text(Store *s, int which, int64_t run, const char *text, const char *what, char *err) {
    if (tx_begin(s, err) != 0) return -1;
    int rc = stmt_exec(s, which, "IT", run, text);
    int ok = rc == SQLITE_DONE;
    if (!ok) {
        if (rc == SQLITE_CONSTRAINT && which == S_RENAME)
            seterr(err, "a run named '%s' already exists in %s", text, s->path);
        else dberr(s, err, what);
    }
    return tx_end(s, ok, err);
}

int store_tag_check(const char *tag, char *err) {
    if (!tag || !*tag) return seterr(err, "a tag cannot be empty");
    size_t n = strlen(tag);
    if (n > STORE_TAG_MAX) return seterr(err, "tag '%.40s...' has %zu bytes, at most %d", tag, n, STORE_TAG_MAX);
    for (const unsigned char *p = (const unsigned char *)tag; *p; p++) {
        if (*p == ',')
            return seterr(err, "tag '%s' has a comma; tags are listed comma-separated, so use '-' or '_' instead", tag);
        if (*p == ' ' || (*p >= '\t' && *p <= '\r'))
            return seterr(err, "tag '%s' has a space; tags are single words: use '-' or '_' instead", tag);
        if (*p < 0x20 || *p == 0x7f) return seterr(err, "tag '%s' has a control character; use printable text", tag);
    }
    return 0;
}

int store_tag_add(Store *s, int64_t run, const char *tag, char *err) {
    if (store_tag_check(tag, err) != 0) return -1;
    return write_run_text(s, S_TAG_ADD, run, tag, "cannot add the tag", err);
}
int store_tag_remove(Store *s, int64_t run, const char *tag, char *err) {
    return write_run_text(s, S_TAG_DEL, run, tag, "cannot remove the tag", err);
}
int store_set_note(Store *s, int64_t run, const char *text, char *err) {
    return write_run_text(s, S_NOTE_SET, run, text, "cannot set the note", err);
}
int store_check_name(const char *name, char *err) {
    if (!name || !*name) return seterr(err, "a run name cannot be empty");
    if (is_digits(name))
        return seterr(err, "run name '%s' is all digits and would be read as a run id; add a letter", name);
    int blank = 1;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return seterr(err, "a run name cannot hold control characters (tab, newline, ...): '%s'", name);
        if (*p != ' ') blank = 0;
    }
    if (blank) return seterr(err, "a run name cannot be only spaces");
    if (strlen(name) > STORE_NAME_MAX)
        return seterr(err, "a run name can have at most %d bytes (this one has %zu)", STORE_NAME_MAX, strlen(name));
    return 0;
}

int store_rename(Store *s, int64_t run, const char *name, char *err) {
    if (store_check_name(name, err) != 0) return -1;
    return write_run_text(s, S_RENAME, run, name, "cannot rename the run", err);
}
int store_request_stop(Store *s, int64_t run, char *err) {
    if (tx_begin(s, err) != 0) return -1;
    int ok = stmt_exec(s, S_STOP_SET, "I", run) == SQLITE_DONE;
    if (!ok) dberr(s, err, "cannot request the stop");
    return tx_end(s, ok, err);
}

static int rm_entry(const char *p, const struct stat *sb, int type, struct FTW *ftw) {
    (void)sb; (void)type; (void)ftw;
    return remove(p) != 0 && errno != ENOENT ? -1 : 0;
}

int store_delete_run(Store *s, int64_t run, char *err) { return store_delete_runs(s, &run, 1, 0, err); }

int store_delete_runs(Store *s, const int64_t *runs, int n, int refuse_live, char *err) {
    if (tx_begin(s, err) != 0) return -1;
    int ok = 1;
    // Every run checked inside the transaction that deletes them: nothing can start or vanish
    // between the check and the delete.
    for (int k = 0; ok && k < n; k++) {
        int exists, live;
        char *name = NULL;
        if (runs_probe(s, runs[k], &exists, &live, &name, err) != 0) ok = 0;
        else if (!exists && n > 1)
            ok = 0, seterr(err, "no run with id %lld in %s; nothing was deleted", (long long)runs[k], s->path);
        else if (refuse_live && live)
            ok = 0, seterr(err, "run %lld '%s' is training; stop it first; nothing was deleted", (long long)runs[k], name);
        free(name);
    }
    static const int dels[] = {S_DEL_METRICS, S_DEL_SUMMARY, S_DEL_SAMPLES, S_DEL_CKPT, S_DEL_TAGS, S_DEL_CONSOLE,
                               S_DEL_RUN};
    for (int k = 0; ok && k < n; k++)
        for (size_t i = 0; ok && i < sizeof dels / sizeof dels[0]; i++)
            if (stmt_exec(s, dels[i], "I", runs[k]) != SQLITE_DONE) { ok = 0; dberr(s, err, "cannot delete the run"); }
    if (!ok) { tx_end(s, 0, NULL); return -1; }
    if (tx_end(s, 1, err) != 0) return -1;
    for (int k = 0; k < n; k++) {
        char dir[PATH_MAX];
        store_run_dir(s, runs[k], dir, sizeof dir);
        struct stat sb;
        if (stat(dir, &sb) == 0 && nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
            return seterr(err, "run %lld deleted from the store, but removing %s failed: %s", (long long)runs[k], dir,
                          strerror(errno));
    }
    return 0;
}
