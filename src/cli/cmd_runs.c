// cmd_runs.c: `repae runs` (the runs table, or every field as JSON) and `repae show RUN`.
// All reads go through store/store.h; this file only formats.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "base/config_keys.h"
#include "base/fmt.h"
#include "base/metrics.h"
#include "base/util.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "cli/run_ref.h"
#include "cli/table.h"
#include "store/store.h"

static void fmt_time(char *buf, size_t n, double t) {
    if (t <= 0) { snprintf(buf, n, "-"); return; }
    time_t tt = (time_t)t;
    struct tm tm;
    localtime_r(&tt, &tm);
    strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm);
}

// Seconds spent training (the time a run was down excluded); NaN if the run never started.
static double elapsed_of(const StoreRun *r) {
    if (r->started <= 0) return NAN;
    return run_elapsed_seconds(r->active, r->heartbeat, r->state == RUN_RUNNING, wall_seconds());
}

// ---- runs -----------------------------------------------------------------------------------

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
    // null: not recorded (runs from before the store knew world sizes).
    cJSON_AddItemToObject(o, "world_size", r->world_size > 0 ? cJSON_CreateNumber(r->world_size) : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "img_per_s_rank", json_num(r->ips_rank));
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

static void print_json(const StoreRun *runs, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, run_json(&runs[i]));
    char *t = cJSON_Print(a);
    puts(t);
    free(t);
    cJSON_Delete(a);
}

static void print_table(const StoreRun *runs, int n) {
    int wid = 2, wname = 4;
    char buf[64];
    for (int i = 0; i < n; i++) {
        snprintf(buf, sizeof buf, "%lld", (long long)runs[i].id);
        table_fit(&wid, buf, 20);
        table_fit(&wname, runs[i].name, 40);
    }
    table_cell("ID", wid, 1);
    printf("  ");
    table_cell("NAME", wname, 0);
    printf("  %-11s  %-16s", "STATUS", "PROGRESS");
    for (int k = 0; k < METRIC_NCOLUMNS; k++) {
        char head[16];
        snprintf(head, sizeof head, "%s", metric_at(k)->label);
        for (char *c = head; *c; c++) if (*c >= 'a' && *c <= 'z') *c -= 'a' - 'A';
        printf("  %9s", head);
    }
    printf("  %5s  %7s  %8s  TAGS\n", "PROCS", "IMG/S/P", "ELAPSED");
    for (int i = 0; i < n; i++) {
        const StoreRun *r = &runs[i];
        snprintf(buf, sizeof buf, "%lld", (long long)r->id);
        table_cell(buf, wid, 1);
        printf("  ");
        table_cell(r->name, wname, 0);
        printf("  %-11s  ", r->status);
        if (r->total_steps > 0)
            snprintf(buf, sizeof buf, "%ld/%ld %3.0f%%", r->step, r->total_steps, 100.0 * r->step / r->total_steps);
        else snprintf(buf, sizeof buf, "%ld", r->step);
        printf("%-16s", buf);
        for (int k = 0; k < METRIC_NCOLUMNS; k++) {
            const StoreLatest *l = store_run_latest(r, metric_at(k)->name);
            table_num(buf, sizeof buf, l ? l->last : NAN);
            printf("  %9s", buf);
        }
        // Processes of the latest stretch ("-": not recorded) and the images/s each trains.
        if (r->world_size > 0) snprintf(buf, sizeof buf, "%d", r->world_size);
        else snprintf(buf, sizeof buf, "-");
        printf("  %5s", buf);
        table_num(buf, sizeof buf, r->ips_rank);
        printf("  %7s", buf);
        fmt_duration(buf, sizeof buf, elapsed_of(r));
        printf("  %8s  ", buf);
        for (int t = 0; t < r->ntags; t++) {
            if (t) printf(",");
            table_text(r->tags[t]);
        }
        printf("\n");
    }
}

const ArgSpec runs_args = {
    .cmd = "runs",
    .usage = "usage: repae runs [--json]\n\n"
    "Lists the runs in the store, newest first: id, name, status, progress, the latest\n"
    "losses, processes (MPI world size) and images/s per process, elapsed time and tags. --json prints every field as a JSON array.\n",
    .opts = (const ArgOpt[]){ARG_OPT_FLAG("--json"), ARG_OPT_END},
};

int cmd_runs(const Globals *g, int argc, char **argv) {
    Args a;
    if (args_parse(&a, &runs_args, argc, argv) != 0) return a.status;
    if (a.npos) return args_usage_error(&a, "unexpected argument '%s'", args_pos(&a, 0));
    int json = args_has(&a, "--json");
    table_setup_locale();
    struct stat sb;
    if (stat(g->db, &sb) != 0) { // no store yet: an empty list, not an error
        if (json) puts("[]");
        else fprintf(stderr, "repae runs: no runs yet (no store at %s)\n", g->db);
        return 0;
    }
    Store *s;
    if (cli_open_store(g, "runs", &s) != 0) return 1;
    char err[ERRLEN];
    StoreRun *runs;
    int n;
    if (store_list_runs(s, &runs, &n, err) != 0) {
        fprintf(stderr, "repae runs: %s\n", err);
        store_close(s);
        return 1;
    }
    if (json) print_json(runs, n);
    else if (n == 0) printf("no runs in %s\n", store_path(s));
    else print_table(runs, n);
    store_runs_free(runs, n);
    store_close(s);
    return 0;
}

// ---- show -----------------------------------------------------------------------------------

static void show_metrics(const StoreRun *r) {
    if (!r->nlatest) { printf("\nmetrics      none yet\n"); return; }
    printf("\nmetrics %*s %12s %10s %12s %10s %12s\n", 14, "", "last", "at step", "min", "at step", "max");
    int marked = 0;
    for (int i = 0; i < r->nlatest; i++) {
        const StoreLatest *l = &r->latest[i];
        MetricBetter better = metric_better(l->key);
        char a[64], b[64], c[64];
        table_num(a, sizeof a, l->last);
        table_num(b, sizeof b, l->min);
        table_num(c, sizeof c, l->max);
        // The best value in the metric's own direction: the minimum of a loss, the maximum of a score.
        if (better != BETTER_NEITHER) strcat(better == BETTER_LOWER ? b : c, "*");
        marked |= better != BETTER_NEITHER;
        printf("  %-20s %12s %10ld %12s %10ld %12s\n", l->key, a, l->last_step, b, l->min_step, c);
    }
    if (marked) printf("  (* the best: lower for losses and Frechet distances, higher for IS, accuracy, PSNR)\n");
}

// Every key, dotted and valued as `repae train --set key.path=value` takes them.
static void show_config(const StoreRun *r) {
    printf("\nconfig\n");
    Config c;
    char err[ERRLEN];
    if (cli_run_config(r, &c, err) != 0) {
        printf("  (%s; as stored:)\n  %s\n", err, r->config ? r->config : "");
        return;
    }
    int kw = 0;
    for (int i = 0; i < config_nkeys(); i++)
        if ((int)strlen(config_key_path(i)) > kw) kw = (int)strlen(config_key_path(i));
    for (int i = 0; i < config_nkeys(); i++) {
        char v[4 * CFG_STRLEN];
        config_key_value(&c, i, CFG_TEXT, v, sizeof v);
        printf("  %-*s  ", kw, config_key_path(i));
        table_text(v);
        printf("\n");
    }
}

const ArgSpec show_args = {
    .cmd = "show",
    .usage = "usage: repae show RUN\n\n"
    "Status, config, latest metrics (last, minimum and maximum, the best marked), checkpoints\n"
    "and samples of a run. RUN is an id or a name.\n",
    .opts = NULL,
};

// The newest lines of the run's console (warnings, notes, the final error), as the dashboard's
// console pane shows them; the dashboard keeps all STORE_CONSOLE_MAX.
#define SHOW_CONSOLE_LINES 10
static void show_console(Store *s, int64_t run) {
    StoreConsoleLine *l;
    int n;
    char err[ERRLEN];
    if (store_console_lines(s, run, 0, &l, &n, err) != 0) {
        printf("\nconsole      unreadable: %s\n", err);
        return;
    }
    if (n == 0) printf("\nconsole      empty (no warnings or notes)\n");
    else if (n > SHOW_CONSOLE_LINES) printf("\nconsole      %d lines, the newest %d:\n", n, SHOW_CONSOLE_LINES);
    else printf("\nconsole      %d line%s\n", n, n == 1 ? "" : "s");
    for (int i = n > SHOW_CONSOLE_LINES ? n - SHOW_CONSOLE_LINES : 0; i < n; i++) {
        char t[64];
        fmt_time(t, sizeof t, l[i].wall);
        printf("  %s %-5s ", t, l[i].level);
        table_text(l[i].text);
        printf("\n");
    }
    store_console_free(l, n);
}

int cmd_show(const Globals *g, int argc, char **argv) {
    Args args;
    if (args_parse(&args, &show_args, argc, argv) != 0) return args.status;
    if (args.npos != 1) return args_usage_error(&args, "expected one RUN");
    table_setup_locale();
    Store *s;
    StoreRun r;
    if (cli_load_run(g, "show", args_pos(&args, 0), &s, &r) != 0) return 1;
    char err[ERRLEN], a[64], b[64], c[64];
    printf("run %lld  ", (long long)r.id);
    table_text(r.name);
    printf("\n");
    printf("status       %s", r.status);
    if (strcmp(r.status, r.stored_status) != 0) printf(" (stored as %s; its process is gone)", r.stored_status);
    if (r.state == RUN_RUNNING) printf(" (pid %d on %s)", r.pid, r.host);
    if (r.stop_requested && r.state == RUN_RUNNING) printf(", stop requested");
    printf("\n");
    if (r.total_steps > 0) printf("progress     %ld/%ld steps (%.1f%%)\n", r.step, r.total_steps, 100.0 * r.step / r.total_steps);
    else printf("progress     %ld steps\n", r.step);
    fmt_time(a, sizeof a, r.created);
    fmt_time(b, sizeof b, r.started);
    fmt_time(c, sizeof c, r.ended);
    printf("created      %s\nstarted      %s\nended        %s\n", a, b, c);
    fmt_duration(a, sizeof a, elapsed_of(&r));
    printf("elapsed      %s\n", a);
    if (r.world_size > 0) printf("processes    %d", r.world_size);
    else printf("processes    not recorded (a run from before repae recorded it)");
    if (!isnan(r.ips_rank)) printf(", %.4g img/s each (%.4g img/s in all, at the last logged step)", r.ips_rank,
                                   r.ips_rank * (r.world_size > 0 ? r.world_size : 1));
    printf("\n");
    if (r.parent) printf("parent       %lld\n", (long long)r.parent);
    if (r.ntags) {
        printf("tags         ");
        for (int i = 0; i < r.ntags; i++) { printf("%s", i ? ", " : ""); table_text(r.tags[i]); }
        printf("\n");
    }
    if (r.notes[0]) { printf("notes        "); table_text(r.notes); printf("\n"); }
    if (r.error[0]) { printf("error        "); table_text(r.error); printf("\n"); }
    char dir[4096];
    printf("directory    %s\n", store_run_dir(s, r.id, dir, sizeof dir));
    show_metrics(&r);

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
    show_console(s, r.id);
    show_config(&r);
    store_run_free(&r);
    store_close(s);
    return 0;
}
