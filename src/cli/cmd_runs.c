// cmd_runs.c: the run-management commands: runs, show, compare, export, rm, tag, note.
// All reads and writes go through store/store.h; this file only formats.
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>
#include "cli/cli.h"
#include "base/safetensors.h"
#include "store/store.h"
#include "base/util.h"

// ---- text helpers ---------------------------------------------------------------------------

// Decodes one UTF-8 sequence; returns its length (1 for a bad byte, with *cp = the byte).
static int utf8_next(const char *s, unsigned *cp) {
    const unsigned char *u = (const unsigned char *)s;
    int n = u[0] < 0x80 ? 1 : (u[0] >> 5) == 6 ? 2 : (u[0] >> 4) == 14 ? 3 : (u[0] >> 3) == 30 ? 4 : 0;
    if (n == 0) { *cp = u[0]; return 1; }
    unsigned c = n == 1 ? u[0] : u[0] & (0x7f >> n);
    for (int i = 1; i < n; i++) {
        if ((u[i] & 0xc0) != 0x80) { *cp = u[0]; return 1; }
        c = (c << 6) | (u[i] & 0x3f);
    }
    *cp = c;
    return n;
}

static int cp_width(unsigned cp) {
    if (cp < 0x20 || cp == 0x7f) return 1; // shown as '?'
    int w = wcwidth((wchar_t)cp);
    return w < 0 ? 1 : w;
}

// Display width of s in terminal columns.
static int dispw(const char *s) {
    int w = 0;
    unsigned cp;
    while (*s) { s += utf8_next(s, &cp); w += cp_width(cp); }
    return w;
}

// Prints s in a cell of `width` columns (left- or right-aligned), cutting with "…" if longer.
// Control characters are shown as '?' so that a name can never break the table.
static void cell(const char *s, int width, int right) {
    int w = dispw(s);
    if (right && w < width) printf("%*s", width - w, "");
    int used = 0;
    unsigned cp;
    const char *p = s;
    while (*p) {
        int n = utf8_next(p, &cp);
        int cw = cp_width(cp);
        if (w > width && used + cw > width - 1) { fputs("…", stdout); used++; break; }
        if (cp < 0x20 || cp == 0x7f) putchar('?');
        else fwrite(p, 1, n, stdout);
        used += cw;
        p += n;
    }
    if (!right && used < width) printf("%*s", width - used, "");
}

static void fmt_num(char *buf, size_t n, double v) {
    if (isnan(v)) snprintf(buf, n, "-");
    else snprintf(buf, n, "%.4g", v);
}

static void fmt_duration(char *buf, size_t n, double s) {
    if (!(s >= 0)) { snprintf(buf, n, "-"); return; }
    long t = (long)(s + 0.5);
    if (t >= 86400) snprintf(buf, n, "%ldd%02ldh", t / 86400, (t / 3600) % 24);
    else if (t >= 3600) snprintf(buf, n, "%ldh%02ldm", t / 3600, (t / 60) % 60);
    else if (t >= 60) snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, n, "%lds", t);
}

static void fmt_time(char *buf, size_t n, double t) {
    if (t <= 0) { snprintf(buf, n, "-"); return; }
    time_t tt = (time_t)t;
    struct tm tm;
    localtime_r(&tt, &tm);
    strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm);
}

static double elapsed_of(const StoreRun *r) {
    if (r->started <= 0) return NAN;
    double end = r->ended > 0 ? r->ended : strcmp(r->status, "running") == 0 ? wall_seconds() : r->heartbeat;
    return end > r->started ? end - r->started : 0;
}

static void setup_locale(void) {
    // For wcwidth: the user's locale, or at least UTF-8, so names in any script align.
    if (!setlocale(LC_CTYPE, "") || MB_CUR_MAX == 1) setlocale(LC_CTYPE, "C.UTF-8");
}

static int open_store(const Globals *g, Store **s, const char *cmd) {
    char err[ERRLEN];
    if (store_open(s, g->db, 0, err) != 0) { fprintf(stderr, "repae %s: %s\n", cmd, err); return -1; }
    return 0;
}

// Opens the store and loads the run named by ref (id or name).
static int load_run(const Globals *g, const char *cmd, const char *ref, Store **s, StoreRun *r) {
    char err[ERRLEN];
    if (open_store(g, s, cmd) != 0) return -1;
    int64_t id;
    if (store_resolve(*s, ref, &id, err) != 0 || store_get_run(*s, id, r, err) != 0) {
        fprintf(stderr, "repae %s: %s\n", cmd, err);
        store_close(*s);
        return -1;
    }
    return 0;
}

static int bad_usage(const char *cmd, const char *usage, const char *fmt, const char *arg) {
    fprintf(stderr, "repae %s: ", cmd);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n%s", usage);
    return 2;
}

// ---- runs -----------------------------------------------------------------------------------

static const char *const table_keys[] = {"recon", "kl", "diffusion", "align", "smooth"};
#define NTABLE_KEYS 5

static cJSON *json_num(double v) { return isnan(v) || isinf(v) ? cJSON_CreateNull() : cJSON_CreateNumber(v); }

static cJSON *run_json(const StoreRun *r) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)r->id);
    cJSON_AddStringToObject(o, "name", r->name);
    cJSON_AddStringToObject(o, "status", r->status);
    cJSON_AddStringToObject(o, "stored_status", r->stored_status);
    cJSON_AddNumberToObject(o, "step", (double)r->step);
    cJSON_AddNumberToObject(o, "total_steps", (double)r->total_steps);
    cJSON_AddItemToObject(o, "created", json_num(r->created > 0 ? r->created : NAN));
    cJSON_AddItemToObject(o, "started", json_num(r->started > 0 ? r->started : NAN));
    cJSON_AddItemToObject(o, "ended", json_num(r->ended > 0 ? r->ended : NAN));
    cJSON_AddItemToObject(o, "heartbeat", json_num(r->heartbeat > 0 ? r->heartbeat : NAN));
    cJSON_AddItemToObject(o, "elapsed", json_num(elapsed_of(r)));
    cJSON_AddNumberToObject(o, "pid", r->pid);
    cJSON_AddStringToObject(o, "host", r->host);
    cJSON_AddStringToObject(o, "error", r->error);
    cJSON_AddStringToObject(o, "notes", r->notes);
    cJSON_AddItemToObject(o, "parent", r->parent ? cJSON_CreateNumber((double)r->parent) : cJSON_CreateNull());
    cJSON *tags = cJSON_AddArrayToObject(o, "tags");
    for (int i = 0; i < r->ntags; i++) cJSON_AddItemToArray(tags, cJSON_CreateString(r->tags[i]));
    cJSON *lat = cJSON_AddObjectToObject(o, "metrics");
    for (int i = 0; i < r->nlatest; i++) {
        const StoreLatest *l = &r->latest[i];
        cJSON *m = cJSON_AddObjectToObject(lat, l->key);
        cJSON_AddItemToObject(m, "last", json_num(l->last));
        cJSON_AddNumberToObject(m, "last_step", (double)l->last_step);
        cJSON_AddItemToObject(m, "min", json_num(l->min));
        cJSON_AddNumberToObject(m, "min_step", (double)l->min_step);
        cJSON_AddItemToObject(m, "max", json_num(l->max));
    }
    return o;
}

int cmd_runs(const Globals *g, int argc, char **argv) {
    const char *usage = "usage: repae runs [--json]\n\n"
                        "Lists the runs in the store, newest first: id, name, status, progress, the latest\n"
                        "losses, elapsed time and tags. --json prints every field as a JSON array.\n";
    if (wants_help(argc, argv)) { fputs(usage, stdout); return 0; }
    int json = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) json = 1;
        else return bad_usage("runs", usage, "unexpected argument '%s'", argv[i]);
    }
    setup_locale();
    struct stat sb;
    if (stat(g->db, &sb) != 0) { // no store yet: an empty list, not an error
        if (json) puts("[]");
        else fprintf(stderr, "repae runs: no runs yet (no store at %s)\n", g->db);
        return 0;
    }
    Store *s;
    if (open_store(g, &s, "runs") != 0) return 1;
    char err[ERRLEN];
    StoreRun *runs;
    int n;
    if (store_list_runs(s, &runs, &n, err) != 0) {
        fprintf(stderr, "repae runs: %s\n", err);
        store_close(s);
        return 1;
    }
    if (json) {
        cJSON *a = cJSON_CreateArray();
        for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, run_json(&runs[i]));
        char *t = cJSON_Print(a);
        puts(t);
        free(t);
        cJSON_Delete(a);
    } else if (n == 0) {
        printf("no runs in %s\n", store_path(s));
    } else {
        int wid = 2, wname = 4;
        char buf[64];
        for (int i = 0; i < n; i++) {
            int w = snprintf(buf, sizeof buf, "%lld", (long long)runs[i].id);
            if (w > wid) wid = w;
            w = dispw(runs[i].name);
            if (w > wname) wname = w;
        }
        if (wname > 40) wname = 40;
        cell("ID", wid, 1); printf("  "); cell("NAME", wname, 0);
        printf("  %-11s  %-16s", "STATUS", "PROGRESS");
        static const char *const heads[] = {"RECON", "KL", "DIFF", "ALIGN", "SMOOTH"};
        for (int k = 0; k < NTABLE_KEYS; k++) printf("  %9s", heads[k]);
        printf("  %8s  TAGS\n", "ELAPSED");
        for (int i = 0; i < n; i++) {
            StoreRun *r = &runs[i];
            snprintf(buf, sizeof buf, "%lld", (long long)r->id);
            cell(buf, wid, 1);
            printf("  ");
            cell(r->name, wname, 0);
            printf("  %-11s  ", r->status);
            if (r->total_steps > 0)
                snprintf(buf, sizeof buf, "%ld/%ld %3.0f%%", r->step, r->total_steps, 100.0 * r->step / r->total_steps);
            else snprintf(buf, sizeof buf, "%ld", r->step);
            printf("%-16s", buf);
            for (int k = 0; k < NTABLE_KEYS; k++) {
                const StoreLatest *l = store_run_latest(r, table_keys[k]);
                fmt_num(buf, sizeof buf, l ? l->last : NAN);
                printf("  %9s", buf);
            }
            fmt_duration(buf, sizeof buf, elapsed_of(r));
            printf("  %8s  ", buf);
            for (int t = 0; t < r->ntags; t++) {
                if (t) printf(",");
                cell(r->tags[t], dispw(r->tags[t]), 0);
            }
            printf("\n");
        }
    }
    store_runs_free(runs, n);
    store_close(s);
    return 0;
}

// ---- flattened configs ----------------------------------------------------------------------

typedef struct { char **key, **val; int n; } Flat;

static void flat_add(Flat *f, const char *key, const char *val) {
    f->key = xrealloc(f->key, (f->n + 1) * sizeof *f->key);
    f->val = xrealloc(f->val, (f->n + 1) * sizeof *f->val);
    f->key[f->n] = xstrdup(key);
    f->val[f->n] = xstrdup(val);
    f->n++;
}

// Objects become dotted keys; arrays and scalars are compared as their compact JSON text.
static void flatten(const cJSON *j, const char *prefix, Flat *f) {
    if (cJSON_IsObject(j) && j->child) {
        const cJSON *c;
        cJSON_ArrayForEach(c, j) {
            size_t n = strlen(prefix) + strlen(c->string) + 2;
            char *k = xmalloc(n);
            snprintf(k, n, "%s%s%s", prefix, *prefix ? "." : "", c->string);
            flatten(c, k, f);
            free(k);
        }
        return;
    }
    char *t = cJSON_IsString(j) ? xstrdup(j->valuestring) : cJSON_PrintUnformatted(j);
    flat_add(f, prefix, t);
    free(t);
}

static const char *flat_get(const Flat *f, const char *key) {
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->key[i], key) == 0) return f->val[i];
    return NULL;
}

static void flat_free(Flat *f) {
    for (int i = 0; i < f->n; i++) { free(f->key[i]); free(f->val[i]); }
    free(f->key);
    free(f->val);
}

// ---- show -----------------------------------------------------------------------------------

int cmd_show(const Globals *g, int argc, char **argv) {
    const char *usage = "usage: repae show RUN\n\n"
                        "Status, config, latest metrics (last, best and worst), checkpoints and samples of a\n"
                        "run. RUN is an id or a name.\n";
    if (wants_help(argc, argv)) { fputs(usage, stdout); return 0; }
    if (argc != 1) return bad_usage("show", usage, "expected one RUN%s", "");
    setup_locale();
    Store *s;
    StoreRun r;
    if (load_run(g, "show", argv[0], &s, &r) != 0) return 1;
    char err[ERRLEN], a[64], b[64], c[64];
    printf("run %lld  ", (long long)r.id);
    cell(r.name, dispw(r.name), 0);
    printf("\n");
    printf("status       %s", r.status);
    if (strcmp(r.status, r.stored_status) != 0) printf(" (stored as %s; its process is gone)", r.stored_status);
    if (strcmp(r.status, "running") == 0) printf(" (pid %d on %s)", r.pid, r.host);
    if (r.stop_requested && strcmp(r.status, "running") == 0) printf(", stop requested");
    printf("\n");
    if (r.total_steps > 0) printf("progress     %ld/%ld steps (%.1f%%)\n", r.step, r.total_steps, 100.0 * r.step / r.total_steps);
    else printf("progress     %ld steps\n", r.step);
    fmt_time(a, sizeof a, r.created);
    fmt_time(b, sizeof b, r.started);
    fmt_time(c, sizeof c, r.ended);
    printf("created      %s\nstarted      %s\nended        %s\n", a, b, c);
    fmt_duration(a, sizeof a, elapsed_of(&r));
    printf("elapsed      %s\n", a);
    if (r.parent) printf("parent       %lld\n", (long long)r.parent);
    if (r.ntags) {
        printf("tags         ");
        for (int i = 0; i < r.ntags; i++) printf("%s%s", i ? ", " : "", r.tags[i]);
        printf("\n");
    }
    if (r.notes[0]) printf("notes        %s\n", r.notes);
    if (r.error[0]) printf("error        %s\n", r.error);
    char dir[4096];
    printf("directory    %s\n", store_run_dir(s, r.id, dir, sizeof dir));

    if (r.nlatest) {
        printf("\nmetrics %*s %12s %10s %12s %10s %12s\n", 14, "", "last", "at step", "best (min)", "at step", "max");
        for (int i = 0; i < r.nlatest; i++) {
            const StoreLatest *l = &r.latest[i];
            fmt_num(a, sizeof a, l->last);
            fmt_num(b, sizeof b, l->min);
            fmt_num(c, sizeof c, l->max);
            printf("  %-20s %12s %10ld %12s %10ld %12s\n", l->key, a, l->last_step, b, l->min_step, c);
        }
    } else printf("\nmetrics      none yet\n");

    StoreCheckpoint *ck;
    int nck;
    if (store_checkpoints(s, r.id, &ck, &nck, err) == 0) {
        printf("\ncheckpoints  %s\n", nck ? "" : "none");
        for (int i = 0; i < nck; i++) printf("  step %-8ld %s\n", ck[i].step, ck[i].weights);
        store_checkpoints_free(ck, nck);
    }
    long *steps;
    int ns;
    if (store_sample_steps(s, r.id, &steps, &ns, err) == 0) {
        if (ns == 0) printf("\nsamples      none\n");
        else printf("\nsamples      %d grids, steps %ld..%ld (repae export RUN --samples DIR)\n", ns, steps[0], steps[ns - 1]);
        free(steps);
    }
    // Dotted keys, as `repae train --set key.path=value` and `repae compare` spell them.
    cJSON *cfg = cJSON_Parse(r.config);
    printf("\nconfig\n");
    if (!cfg) printf("  %s\n", r.config);
    else {
        Flat f = {0};
        flatten(cfg, "", &f);
        int kw = 0;
        for (int i = 0; i < f.n; i++) if ((int)strlen(f.key[i]) > kw) kw = (int)strlen(f.key[i]);
        for (int i = 0; i < f.n; i++) printf("  %-*s  %s\n", kw, f.key[i], f.val[i]);
        flat_free(&f);
    }
    cJSON_Delete(cfg);
    store_run_free(&r);
    store_close(s);
    return 0;
}

// ---- compare --------------------------------------------------------------------------------

// Which way is better: -1 lower (losses, Frechet distances), +1 higher (generation scores),
// 0 neither (rates, norms, latent_std).
static int metric_sense(const char *k) {
    static const char *const lower[] = {"recon", "kl", "diffusion", "align", "smooth", "total", "eval.fd", "eval.rfd"};
    static const char *const higher[] = {"eval.is", "eval.acc", "eval.psnr"};
    for (size_t i = 0; i < sizeof lower / sizeof lower[0]; i++)
        if (strcmp(k, lower[i]) == 0) return -1;
    for (size_t i = 0; i < sizeof higher / sizeof higher[0]; i++)
        if (strcmp(k, higher[i]) == 0) return 1;
    return 0;
}

int cmd_compare(const Globals *g, int argc, char **argv) {
    const char *usage = "usage: repae compare RUN RUN...\n\n"
                        "The config keys that differ between the runs, and their final and best\n"
                        "metrics side by side; '*' marks the best (lowest loss or FD, highest IS, accuracy, PSNR). RUN is an id or a name.\n";
    if (wants_help(argc, argv)) { fputs(usage, stdout); return 0; }
    if (argc < 2) return bad_usage("compare", usage, "needs at least two runs%s", "");
    setup_locale();
    Store *s;
    if (open_store(g, &s, "compare") != 0) return 1;
    int n = argc, rc = 1;
    StoreRun *r = xcalloc(n, sizeof *r);
    Flat *flat = xcalloc(n, sizeof *flat);
    char err[ERRLEN];
    int loaded = 0;
    for (int i = 0; i < n; i++, loaded++) {
        int64_t id;
        if (store_resolve(s, argv[i], &id, err) != 0 || store_get_run(s, id, &r[i], err) != 0) {
            fprintf(stderr, "repae compare: %s\n", err);
            goto out;
        }
        cJSON *j = cJSON_Parse(r[i].config);
        if (!j) { fprintf(stderr, "repae compare: run %lld: its stored config is not valid JSON\n", (long long)r[i].id); }
        else flatten(j, "", &flat[i]);
        cJSON_Delete(j);
    }
    // Column width: the widest run name, final/best pair at least 21.
    int colw = 21;
    for (int i = 0; i < n; i++) if (dispw(r[i].name) > colw) colw = dispw(r[i].name);
    if (colw > 30) colw = 30;

    // The union of config keys, in order of first appearance.
    Flat all = {0};
    for (int i = 0; i < n; i++)
        for (int k = 0; k < flat[i].n; k++)
            if (!flat_get(&all, flat[i].key[k])) flat_add(&all, flat[i].key[k], "");
    int keyw = 6;
    for (int k = 0; k < all.n; k++) if ((int)strlen(all.key[k]) > keyw) keyw = (int)strlen(all.key[k]);
    cell("", keyw, 0);
    for (int i = 0; i < n; i++) { printf("  "); cell(r[i].name, colw, 0); }
    printf("\n");
    cell("run", keyw, 0);
    char buf[96], b2[64];
    for (int i = 0; i < n; i++) {
        snprintf(buf, sizeof buf, "#%lld %s %ld/%ld", (long long)r[i].id, r[i].status, r[i].step, r[i].total_steps);
        printf("  ");
        cell(buf, colw, 0);
    }
    printf("\n\nconfig keys that differ:\n");
    int ndiff = 0;
    for (int k = 0; k < all.n; k++) {
        const char *v0 = flat_get(&flat[0], all.key[k]);
        int differ = 0;
        for (int i = 1; i < n && !differ; i++) {
            const char *v = flat_get(&flat[i], all.key[k]);
            differ = (!v != !v0) || (v && strcmp(v, v0) != 0);
        }
        if (!differ) continue;
        ndiff++;
        cell(all.key[k], keyw, 0);
        for (int i = 0; i < n; i++) {
            const char *v = flat_get(&flat[i], all.key[k]);
            printf("  ");
            cell(v ? v : "(absent)", colw, 0);
        }
        printf("\n");
    }
    if (!ndiff) printf("  (none: the configs are identical)\n");
    flat_free(&all);

    // Metrics: final and best per run, lowest loss marked.
    Flat keys = {0};
    for (int i = 0; i < n; i++)
        for (int k = 0; k < r[i].nlatest; k++)
            if (!flat_get(&keys, r[i].latest[k].key)) flat_add(&keys, r[i].latest[k].key, "");
    printf("\nmetrics (final / best):\n");
    for (int k = 0; k < keys.n; k++) {
        const char *key = keys.key[k];
        // Best final and best-ever values over the runs, in the metric's own sense; for a
        // higher-is-better metric a run's "best" is its maximum.
        int sense = metric_sense(key);
        double top_final = -INFINITY, top_best = -INFINITY;
        for (int i = 0; i < n; i++) {
            const StoreLatest *l = store_run_latest(&r[i], key);
            if (!l || !sense) continue;
            double own_best = sense < 0 ? l->min : l->max;
            if (sense * l->last > top_final) top_final = sense * l->last;
            if (sense * own_best > top_best) top_best = sense * own_best;
        }
        cell(key, keyw, 0);
        for (int i = 0; i < n; i++) {
            const StoreLatest *l = store_run_latest(&r[i], key);
            if (!l) snprintf(buf, sizeof buf, "-");
            else {
                int mark = sense && n > 1;
                double own_best = sense > 0 ? l->max : l->min;
                fmt_num(b2, sizeof b2, l->last);
                int len = snprintf(buf, sizeof buf, "%s%s / ", b2, mark && sense * l->last == top_final ? "*" : "");
                fmt_num(b2, sizeof b2, own_best);
                snprintf(buf + len, sizeof buf - len, "%s%s", b2, mark && sense * own_best == top_best ? "*" : "");
            }
            printf("  ");
            cell(buf, colw, 0);
        }
        printf("\n");
    }
    if (!keys.n) printf("  (no metrics logged yet)\n");
    flat_free(&keys);
    rc = 0;
out:
    for (int i = 0; i < loaded; i++) store_run_free(&r[i]);
    for (int i = 0; i < n; i++) flat_free(&flat[i]);
    free(r);
    free(flat);
    store_close(s);
    return rc;
}

// ---- export ---------------------------------------------------------------------------------

static void csv_field(FILE *f, const char *s) {
    if (!strpbrk(s, ",\"\n\r")) { fputs(s, f); return; }
    fputc('"', f);
    for (; *s; s++) { if (*s == '"') fputc('"', f); fputc(*s, f); }
    fputc('"', f);
}

// Metrics as a wide CSV: step, wall, then one column per key (empty where not logged).
static int export_csv(Store *s, const StoreRun *r, const char *path, char *err) {
    char **keys;
    int nk;
    if (store_metric_keys(s, r->id, &keys, &nk, err) != 0) return -1;
    StoreSeries *ser = xcalloc(nk ? nk : 1, sizeof *ser);
    long *pos = xcalloc(nk ? nk : 1, sizeof *pos);
    int rc = -1;
    for (int k = 0; k < nk; k++)
        if (store_series(s, r->id, keys[k], -1, &ser[k], err) != 0) goto out;
    // Built in memory and written atomically, so an interrupted export never leaves half a file.
    char *buf = NULL;
    size_t blen = 0;
    FILE *f = open_memstream(&buf, &blen);
    if (!f) { seterr(err, "out of memory for the CSV of %s", path); goto out; }
    fputs("step,wall", f);
    for (int k = 0; k < nk; k++) { fputc(',', f); csv_field(f, keys[k]); }
    fputc('\n', f);
    for (;;) { // a merge of the sorted series
        long step = -1;
        for (int k = 0; k < nk; k++)
            if (pos[k] < ser[k].n && (step < 0 || ser[k].step[pos[k]] < step)) step = ser[k].step[pos[k]];
        if (step < 0) break;
        double wall = NAN;
        for (int k = 0; k < nk && isnan(wall); k++)
            if (pos[k] < ser[k].n && ser[k].step[pos[k]] == step) wall = ser[k].wall[pos[k]];
        fprintf(f, "%ld,%.3f", step, wall);
        for (int k = 0; k < nk; k++) {
            fputc(',', f);
            if (pos[k] < ser[k].n && ser[k].step[pos[k]] == step) {
                float v = ser[k].value[pos[k]++];
                if (isnan(v)) fputs("nan", f);
                else fprintf(f, "%.9g", v);
            }
        }
        fputc('\n', f);
    }
    fclose(f);
    if (strcmp(path, "-") == 0) {
        rc = fwrite(buf, 1, blen, stdout) == blen && fflush(stdout) == 0 ? 0 : seterr(err, "writing the CSV to stdout failed");
    } else {
        rc = write_file_atomic(path, buf, blen, err);
    }
    free(buf);
out:
    for (int k = 0; k < nk; k++) store_series_free(&ser[k]);
    free(ser);
    free(pos);
    store_strings_free(keys, nk);
    return rc;
}

static int is_dir(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

// A checkpoint directory (the training core writes vae.safetensors, sit.safetensors,
// sit_ema.safetensors and state.safetensors) becomes one file: every weights file's tensors
// under its file stem ("vae.", "sit.", "sit_ema."); the optimiser state is left out.
static int merge_weights(const char *ckdir, const StoreRun *r, long step, const char *path, char *err) {
    DIR *d = opendir(ckdir);
    if (!d) return seterr(err, "cannot read checkpoint %s: %s", ckdir, strerror(errno));
    char **files = NULL;
    int nf = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n <= 12 || strcmp(e->d_name + n - 12, ".safetensors") != 0 || strcmp(e->d_name, "state.safetensors") == 0)
            continue;
        files = xrealloc(files, (nf + 1) * sizeof *files);
        files[nf++] = xstrdup(e->d_name);
    }
    closedir(d);
    qsort(files, nf, sizeof *files, cmp_str);
    SafeTensors *st = xcalloc(nf ? nf : 1, sizeof *st);
    StWriter w;
    st_writer_init(&w);
    char **names = NULL;
    int nn = 0, rc = -1, loaded = 0;
    for (int i = 0; i < nf; i++, loaded++) {
        char fp[4096];
        snprintf(fp, sizeof fp, "%s/%s", ckdir, files[i]);
        if (st_read(&st[i], fp, err) != 0) goto out;
        size_t stem = strlen(files[i]) - 12;
        for (int t = 0; t < st[i].n; t++) {
            const StTensor *x = &st[i].t[t];
            size_t len = stem + strlen(x->name) + 2;
            names = xrealloc(names, (nn + 1) * sizeof *names);
            names[nn] = xmalloc(len);
            snprintf(names[nn], len, "%.*s.%s", (int)stem, files[i], x->name);
            st_writer_add(&w, names[nn], x->data, x->ndim, x->shape);
            nn++;
        }
    }
    if (nf == 0) { seterr(err, "checkpoint %s holds no weights files", ckdir); goto out; }
    char buf[32];
    snprintf(buf, sizeof buf, "%ld", step);
    st_writer_meta(&w, "step", buf);
    st_writer_meta(&w, "run", r->name);
    st_writer_meta(&w, "config", r->config ? r->config : "{}");
    rc = st_writer_save(&w, path, err);
out:
    st_writer_free(&w);
    for (int i = 0; i < loaded; i++) st_free(&st[i]);
    free(st);
    for (int i = 0; i < nn; i++) free(names[i]);
    free(names);
    for (int i = 0; i < nf; i++) free(files[i]);
    free(files);
    return rc;
}

static int export_weights(Store *s, const StoreRun *r, const char *path, char *err) {
    StoreCheckpoint *c;
    int n;
    if (store_checkpoints(s, r->id, &c, &n, err) != 0) return -1;
    // The newest checkpoint still on disk (the training core prunes old ones).
    int k = n - 1;
    while (k >= 0 && access(c[k].weights, R_OK) != 0) k--;
    if (k < 0) {
        store_checkpoints_free(c, n);
        return seterr(err, "run '%s' has no checkpoint on disk%s", r->name, n ? " (the recorded ones were removed)" : " yet");
    }
    int rc;
    if (is_dir(c[k].weights)) {
        rc = merge_weights(c[k].weights, r, c[k].step, path, err);
    } else {
        size_t len;
        char *data = read_file(c[k].weights, &len, err);
        rc = data ? write_file_atomic(path, data, len, err) : -1;
        free(data);
    }
    if (rc == 0) fprintf(stderr, "repae export: weights of step %ld -> %s\n", c[k].step, path);
    store_checkpoints_free(c, n);
    return rc;
}

static int export_samples(Store *s, const StoreRun *r, const char *dir, char *err) {
    long *steps;
    int n;
    if (store_sample_steps(s, r->id, &steps, &n, err) != 0) return -1;
    if (n == 0) { free(steps); return seterr(err, "run '%s' has no samples yet", r->name); }
    int rc = mkdir_p(dir, err);
    for (int i = 0; rc == 0 && i < n; i++) {
        unsigned char *png;
        size_t len;
        long got;
        if ((rc = store_sample_get(s, r->id, steps[i], &got, &png, &len, NULL, NULL, err)) != 0) break;
        char path[4096];
        snprintf(path, sizeof path, "%s/step_%08ld.png", dir, got);
        rc = write_file_atomic(path, png, len, err);
        free(png);
    }
    if (rc == 0) fprintf(stderr, "repae export: %d sample grids -> %s/\n", n, dir);
    free(steps);
    return rc;
}

int cmd_export(const Globals *g, int argc, char **argv) {
    const char *usage = "usage: repae export RUN [--csv F] [--safetensors F] [--samples DIR]\n\n"
                        "  --csv F          metrics as CSV: step, wall time, one column per metric (F '-' = stdout)\n"
                        "  --safetensors F  the weights of the latest checkpoint (VAE, SiT and EMA in one file)\n"
                        "  --samples DIR    every sample grid as DIR/step_NNNNNNNN.png\n";
    if (wants_help(argc, argv)) { fputs(usage, stdout); return 0; }
    const char *ref = NULL, *csv = NULL, *st = NULL, *smp = NULL;
    for (int i = 0; i < argc; i++) {
        const char **opt = strcmp(argv[i], "--csv") == 0 ? &csv : strcmp(argv[i], "--safetensors") == 0 ? &st
                         : strcmp(argv[i], "--samples") == 0 ? &smp : NULL;
        if (opt) {
            if (i + 1 >= argc) return bad_usage("export", usage, "%s needs a value", argv[i]);
            *opt = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return bad_usage("export", usage, "unknown option '%s'", argv[i]);
        } else if (ref) {
            return bad_usage("export", usage, "more than one RUN ('%s')", argv[i]);
        } else ref = argv[i];
    }
    if (!ref) return bad_usage("export", usage, "missing RUN%s", "");
    if (!csv && !st && !smp) return bad_usage("export", usage, "nothing to export: give --csv, --safetensors or --samples%s", "");
    Store *s;
    StoreRun r;
    if (load_run(g, "export", ref, &s, &r) != 0) return 1;
    char err[ERRLEN];
    int rc = 0;
    if (csv && export_csv(s, &r, csv, err) != 0) { fprintf(stderr, "repae export: %s\n", err); rc = 1; }
    if (st && export_weights(s, &r, st, err) != 0) { fprintf(stderr, "repae export: %s\n", err); rc = 1; }
    if (smp && export_samples(s, &r, smp, err) != 0) { fprintf(stderr, "repae export: %s\n", err); rc = 1; }
    store_run_free(&r);
    store_close(s);
    return rc;
}

// ---- rm, tag, note --------------------------------------------------------------------------

// rm --force of a live run: deleting under a live writer would leave it training into a run
// that no longer exists, so ask it to stop (it checkpoints) and wait for it to end first.
#define RM_WAIT_SECONDS 60
static int stop_and_wait(Store *s, const StoreRun *r, char *err) {
    if (store_request_stop(s, r->id, err) != 0) return -1;
    fprintf(stderr, "repae rm: stopping run %lld '%s' (pid %d) first...\n", (long long)r->id, r->name, r->pid);
    double t0 = now_seconds();
    while (now_seconds() - t0 < RM_WAIT_SECONDS) {
        StoreRun now;
        if (store_get_run(s, r->id, &now, err) != 0) return -1;
        int live = strcmp(now.status, "running") == 0;
        store_run_free(&now);
        if (!live) return 0;
        usleep(200000);
    }
    // Its writer notices the deletion at its next commit and stops.
    fprintf(stderr, "repae rm: run %lld did not stop within %d s; deleting it anyway\n", (long long)r->id,
            RM_WAIT_SECONDS);
    return 0;
}

int cmd_rm(const Globals *g, int argc, char **argv) {
    const char *usage = "usage: repae rm [--force] RUN...\n\n"
                        "Deletes runs: their metrics, samples, checkpoints and files. A run that is still\n"
                        "training is refused unless --force, which stops it (with a checkpoint) and\n"
                        "waits for it to end before deleting.\n";
    if (wants_help(argc, argv)) { fputs(usage, stdout); return 0; }
    int force = 0, nref = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--force") == 0) force = 1;
        else if (argv[i][0] == '-' && argv[i][1]) return bad_usage("rm", usage, "unknown option '%s'", argv[i]);
        else nref++;
    }
    if (!nref) return bad_usage("rm", usage, "missing RUN%s", "");
    Store *s;
    if (open_store(g, &s, "rm") != 0) return 1;
    char err[ERRLEN], dir[4096];
    int rc = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--force") == 0) continue;
        int64_t id;
        StoreRun r;
        if (store_resolve(s, argv[i], &id, err) != 0 || store_get_run(s, id, &r, err) != 0) {
            fprintf(stderr, "repae rm: %s\n", err);
            rc = 1;
            continue;
        }
        int live = strcmp(r.status, "running") == 0;
        if (live && !force) {
            fprintf(stderr, "repae rm: run %lld '%s' is still training (pid %d); stop it first, or use --force\n",
                    (long long)id, r.name, r.pid);
            rc = 1;
        } else if (live && stop_and_wait(s, &r, err) != 0) {
            fprintf(stderr, "repae rm: %s\n", err);
            rc = 1;
        } else if (store_delete_run(s, id, err) != 0) {
            fprintf(stderr, "repae rm: %s\n", err);
            rc = 1;
        } else {
            printf("deleted run %lld '%s' and %s\n", (long long)id, r.name, store_run_dir(s, id, dir, sizeof dir));
        }
        store_run_free(&r);
    }
    store_close(s);
    return rc;
}

int cmd_tag(const Globals *g, int argc, char **argv) {
    const char *usage = "usage: repae tag [--remove] RUN TAG\n\n"
                        "Adds a tag to a run (or removes it with --remove). Tags show in `repae runs`.\n";
    if (wants_help(argc, argv)) { fputs(usage, stdout); return 0; }
    int remove = 0;
    const char *pos[2];
    int npos = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--remove") == 0) remove = 1;
        else if (npos < 2) pos[npos++] = argv[i];
        else return bad_usage("tag", usage, "too many arguments ('%s'); quote a tag with spaces", argv[i]);
    }
    if (npos != 2) return bad_usage("tag", usage, "expected RUN and TAG%s", "");
    if (!pos[1][0]) return bad_usage("tag", usage, "a tag cannot be empty%s", "");
    Store *s;
    StoreRun r;
    if (load_run(g, "tag", pos[0], &s, &r) != 0) return 1;
    char err[ERRLEN];
    int rc = remove ? store_tag_remove(s, r.id, pos[1], err) : store_tag_add(s, r.id, pos[1], err);
    if (rc != 0) fprintf(stderr, "repae tag: %s\n", err);
    store_run_free(&r);
    store_close(s);
    return rc ? 1 : 0;
}

int cmd_note(const Globals *g, int argc, char **argv) {
    const char *usage = "usage: repae note RUN TEXT...\n\n"
                        "Sets the run's note (the words of TEXT joined by spaces; \"\" clears it).\n";
    if (wants_help(argc, argv)) { fputs(usage, stdout); return 0; }
    if (argc < 2) return bad_usage("note", usage, "expected RUN and TEXT%s", "");
    size_t len = 1;
    for (int i = 1; i < argc; i++) len += strlen(argv[i]) + 1;
    char *text = xcalloc(1, len);
    for (int i = 1; i < argc; i++) {
        if (i > 1) strcat(text, " ");
        strcat(text, argv[i]);
    }
    Store *s;
    StoreRun r;
    if (load_run(g, "note", argv[0], &s, &r) != 0) { free(text); return 1; }
    char err[ERRLEN];
    int rc = store_set_note(s, r.id, text, err);
    if (rc != 0) fprintf(stderr, "repae note: %s\n", err);
    free(text);
    store_run_free(&r);
    store_close(s);
    return rc ? 1 : 0;
}
