// cmd_compare.c: `repae compare RUN RUN...`: the config keys that differ, and the final and
// best metrics side by side with the best of each marked in the metric's own direction.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/config_keys.h"
#include "base/metrics.h"
#include "base/util.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "cli/run_ref.h"
#include "cli/table.h"
#include "store/store.h"

// Key i of every run as text ("(unreadable)" where a stored config did not parse); 1 if they
// are not all the same.
static int key_differs(const Config *cfg, const int *ok, int n, int i, char (*val)[4 * CFG_STRLEN]) {
    int differ = 0;
    for (int r = 0; r < n; r++) {
        if (ok[r]) config_key_value(&cfg[r], i, CFG_TEXT, val[r], sizeof val[r]);
        else snprintf(val[r], sizeof val[r], "(unreadable)");
        if (r && strcmp(val[r], val[0]) != 0) differ = 1;
    }
    return differ;
}

static void print_config_diff(const Config *cfg, const int *ok, int n, const int *differs, int keyw, int colw) {
    printf("\n\nconfig keys that differ:\n");
    char (*val)[4 * CFG_STRLEN] = xmalloc((size_t)n * sizeof *val);
    int ndiff = 0;
    for (int i = 0; i < config_nkeys(); i++) {
        if (!differs[i]) continue;
        key_differs(cfg, ok, n, i, val);
        ndiff++;
        table_cell(config_key_path(i), keyw, 0);
        for (int k = 0; k < n; k++) { printf("  "); table_cell(val[k], colw, 0); }
        printf("\n");
    }
    if (!ndiff) printf("  (none: the configs are identical)\n");
    free(val);
}

// The metric keys of all runs, in order of first appearance (pointers into the runs).
static int metric_union(const StoreRun *r, int n, const char ***out) {
    const char **keys = NULL;
    int nk = 0;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < r[i].nlatest; k++) {
            int seen = 0;
            for (int j = 0; j < nk && !seen; j++) seen = strcmp(keys[j], r[i].latest[k].key) == 0;
            if (seen) continue;
            keys = xrealloc(keys, (size_t)(nk + 1) * sizeof *keys);
            keys[nk++] = r[i].latest[k].key;
        }
    *out = keys;
    return nk;
}

static void print_metrics(const StoreRun *r, int n, int keyw, int colw) {
    const char **keys;
    int nk = metric_union(r, n, &keys);
    printf("\nmetrics (final / best):\n");
    char buf[96], b2[64];
    for (int k = 0; k < nk; k++) {
        const char *key = keys[k];
        // A run's best is its minimum for a lower-is-better metric and its maximum for a
        // higher-is-better one; '*' marks the best final and the best best over the runs.
        MetricBetter better = metric_better(key);
        int mark = better != BETTER_NEITHER && n > 1;
        double top_final = NAN, top_best = NAN;
        for (int i = 0; i < n; i++) {
            const StoreLatest *l = store_run_latest(&r[i], key);
            if (!l) continue;
            double own = better == BETTER_HIGHER ? l->max : l->min;
            if (metric_beats(better, l->last, top_final)) top_final = l->last;
            if (metric_beats(better, own, top_best)) top_best = own;
        }
        table_cell(key, keyw, 0);
        for (int i = 0; i < n; i++) {
            const StoreLatest *l = store_run_latest(&r[i], key);
            if (!l) snprintf(buf, sizeof buf, "-");
            else {
                double own = better == BETTER_HIGHER ? l->max : l->min;
                table_num(b2, sizeof b2, l->last);
                int len = snprintf(buf, sizeof buf, "%s%s / ", b2, mark && l->last == top_final ? "*" : "");
                table_num(b2, sizeof b2, own);
                snprintf(buf + len, sizeof buf - len, "%s%s", b2, mark && own == top_best ? "*" : "");
            }
            printf("  ");
            table_cell(buf, colw, 0);
        }
        printf("\n");
    }
    if (!nk) printf("  (no metrics logged yet)\n");
    free(keys);
}

const ArgSpec compare_args = {
    .cmd = "compare",
    .usage = "usage: repae compare RUN RUN...\n\n"
    "The config keys that differ between the runs, and their final and best metrics side by\n"
    "side; '*' marks the best (lowest loss or FD, highest IS, accuracy, PSNR). RUN is an id\n"
    "or a name.\n",
    .opts = NULL,
};

int cmd_compare(const Globals *g, int argc, char **argv) {
    Args a;
    if (args_parse(&a, &compare_args, argc, argv) != 0) return a.status;
    if (a.npos < 2) return args_usage_error(&a, "needs at least two runs");
    table_setup_locale();
    Store *s;
    if (cli_open_store(g, "compare", &s) != 0) return 1;
    int n = a.npos, rc = 1, loaded = 0;
    StoreRun *r = xcalloc((size_t)n, sizeof *r);
    Config *cfg = xcalloc((size_t)n, sizeof *cfg);
    int *ok = xcalloc((size_t)n, sizeof *ok);
    char err[ERRLEN];
    for (int i = 0; i < n; i++, loaded++) {
        int64_t id;
        if (store_resolve(s, args_pos(&a, i), &id, err) != 0 || store_get_run(s, id, &r[i], err) != 0) {
            fprintf(stderr, "repae compare: %s\n", err);
            goto out;
        }
        ok[i] = cli_run_config(&r[i], &cfg[i], err) == 0;
        if (!ok[i]) fprintf(stderr, "repae compare: %s\n", err);
    }
    // Column width: the widest run name, a final / best pair at least 21, at most 30.
    int colw = 21, keyw = 6;
    for (int i = 0; i < n; i++) table_fit(&colw, r[i].name, 30);
    // Key column: the differing keys and the metric names.
    int *differs = xcalloc((size_t)config_nkeys(), sizeof *differs);
    char (*val)[4 * CFG_STRLEN] = xmalloc((size_t)n * sizeof *val);
    for (int i = 0; i < config_nkeys(); i++)
        if ((differs[i] = key_differs(cfg, ok, n, i, val))) table_fit(&keyw, config_key_path(i), 40);
    free(val);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < r[i].nlatest; k++) table_fit(&keyw, r[i].latest[k].key, 40);
    table_cell("", keyw, 0);
    for (int i = 0; i < n; i++) { printf("  "); table_cell(r[i].name, colw, 0); }
    printf("\n");
    table_cell("run", keyw, 0);
    char buf[96];
    for (int i = 0; i < n; i++) {
        snprintf(buf, sizeof buf, "#%lld %s %ld/%ld", (long long)r[i].id, r[i].status, r[i].step, r[i].total_steps);
        printf("  ");
        table_cell(buf, colw, 0);
    }
    print_config_diff(cfg, ok, n, differs, keyw, colw);
    print_metrics(r, n, keyw, colw);
    free(differs);
    rc = 0;
out:
    for (int i = 0; i < loaded; i++) store_run_free(&r[i]);
    free(r);
    free(cfg);
    free(ok);
    store_close(s);
    return rc;
}
