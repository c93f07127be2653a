// cmd_admin.c: the commands that change a run's record: `repae rm`, `repae tag`, `repae note`.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "base/util.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "cli/run_ref.h"
#include "store/store.h"

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
        int live = now.state == RUN_RUNNING;
        store_run_free(&now);
        if (!live) return 0;
        usleep(200000);
    }
    // Its writer notices the deletion at its next commit and stops.
    fprintf(stderr, "repae rm: run %lld did not stop within %d s; deleting it anyway\n", (long long)r->id,
            RM_WAIT_SECONDS);
    return 0;
}

const ArgSpec rm_args = {
    .cmd = "rm",
    .usage = "usage: repae rm [--yes] [--force] RUN...\n\n"
    "Deletes runs: their metrics, samples, checkpoints and files. It lists what it will\n"
    "delete and asks (y/N) on a terminal; --yes deletes without asking (and is needed\n"
    "when stdin is not a terminal). Every RUN is checked before any is deleted, and all\n"
    "go in one transaction: one unknown or training run and nothing is deleted. A run\n"
    "that is still training is refused unless --force, which stops it (with a\n"
    "checkpoint) and waits for it to end before deleting.\n",
    .opts = (const ArgOpt[]){ARG_OPT_FLAG("--force"), ARG_OPT_FLAG("--yes"), ARG_OPT_END},
};

// The y/N question on stderr, the answer from stdin. 1 for yes.
static int confirm(int n) {
    fprintf(stderr, "delete %s? [y/N] ", n == 1 ? "this run" : "these runs");
    fflush(stderr);
    char line[64];
    if (!fgets(line, sizeof line, stdin)) { fprintf(stderr, "\n"); return 0; }
    return (line[0] == 'y' || line[0] == 'Y') && (line[1] == '\n' || line[1] == 0 || strncasecmp(line, "yes", 3) == 0);
}

int cmd_rm(const Globals *g, int argc, char **argv) {
    Args a;
    if (args_parse(&a, &rm_args, argc, argv) != 0) return a.status;
    if (!a.npos) return args_usage_error(&a, "missing RUN");
    int force = args_has(&a, "--force"), yes = args_has(&a, "--yes");
    // Refused before anything is read, so a script learns at once what it must pass.
    if (!yes && !isatty(STDIN_FILENO)) {
        fprintf(stderr, "repae rm: not deleting without a yes: stdin is not a terminal to ask on; "
                        "pass --yes to delete without asking\n");
        return 2;
    }
    Store *s;
    if (cli_open_store(g, "rm", &s) != 0) return 1;
    char err[ERRLEN], dir[4096];
    StoreRun *r = xcalloc((size_t)a.npos, sizeof *r);
    int64_t *ids = xcalloc((size_t)a.npos, sizeof *ids);
    int bad = 0, nr = 0;
    // Every run first: all must exist and (without --force) none may be training.
    for (int i = 0; i < a.npos; i++) {
        int64_t id;
        if (store_resolve(s, args_pos(&a, i), &id, err) != 0 || store_get_run(s, id, &r[nr], err) != 0) {
            fprintf(stderr, "repae rm: %s\n", err);
            bad = 1;
            continue;
        }
        int dup = 0;
        for (int k = 0; k < nr; k++) dup |= ids[k] == id;
        if (dup) { store_run_free(&r[nr]); continue; }
        ids[nr] = id;
        if (r[nr].state == RUN_RUNNING && !force) {
            fprintf(stderr, "repae rm: run %lld '%s' is still training (pid %d); stop it first, or use --force\n",
                    (long long)id, r[nr].name, r[nr].pid);
            bad = 1;
        }
        nr++;
    }
    int rc = 1;
    if (bad) fprintf(stderr, "repae rm: nothing was deleted\n");
    else {
        if (!yes) {
            for (int k = 0; k < nr; k++)
                fprintf(stderr, "  run %lld '%s': %s, step %ld/%ld%s\n", (long long)ids[k], r[k].name, r[k].status,
                        r[k].step, r[k].total_steps, r[k].state == RUN_RUNNING ? " (will be stopped first)" : "");
        }
        if (!yes && !confirm(nr)) fprintf(stderr, "repae rm: nothing was deleted\n");
        else {
            rc = 0;
            for (int k = 0; rc == 0 && k < nr; k++)
                if (r[k].state == RUN_RUNNING && stop_and_wait(s, &r[k], err) != 0) {
                    fprintf(stderr, "repae rm: %s; nothing was deleted\n", err);
                    rc = 1;
                }
            if (rc == 0 && store_delete_runs(s, ids, nr, !force, err) != 0) {
                fprintf(stderr, "repae rm: %s\n", err);
                rc = 1;
            }
            for (int k = 0; rc == 0 && k < nr; k++)
                printf("deleted run %lld '%s' and %s\n", (long long)ids[k], r[k].name,
                       store_run_dir(s, ids[k], dir, sizeof dir));
        }
    }
    store_runs_free(r, nr);
    free(ids);
    store_close(s);
    return rc;
}

const ArgSpec tag_args = {
    .cmd = "tag",
    .usage = "usage: repae tag [--remove] RUN TAG\n\n"
    "Adds a tag to a run (or removes it with --remove). Tags show in `repae runs`.\n"
    "A tag is one word: no spaces or commas (at most 64 bytes).\n"
    "A tag that starts with '-' goes after --: repae tag RUN -- -x.\n",
    .opts = (const ArgOpt[]){ARG_OPT_FLAG("--remove"), ARG_OPT_END},
};

int cmd_tag(const Globals *g, int argc, char **argv) {
    Args a;
    if (args_parse(&a, &tag_args, argc, argv) != 0) return a.status;
    if (a.npos > 2) return args_usage_error(&a, "too many arguments ('%s'); a tag is one word, without spaces", args_pos(&a, 2));
    if (a.npos != 2) return args_usage_error(&a, "expected RUN and TAG");
    const char *tag = args_pos(&a, 1);
    char err[ERRLEN];
    // Checked here for a message before the store is opened; the store refuses them too.
    if (!args_has(&a, "--remove") && store_tag_check(tag, err) != 0) {
        fprintf(stderr, "repae tag: %s\n", err);
        return 2;
    }
    if (!tag[0]) return args_usage_error(&a, "a tag cannot be empty");
    Store *s;
    StoreRun r;
    if (cli_load_run(g, "tag", args_pos(&a, 0), &s, &r) != 0) return 1;
    int rc = args_has(&a, "--remove") ? store_tag_remove(s, r.id, tag, err) : store_tag_add(s, r.id, tag, err);
    if (rc != 0) fprintf(stderr, "repae tag: %s\n", err);
    store_run_free(&r);
    store_close(s);
    return rc ? 1 : 0;
}

// Every word after RUN is the note's text, whatever it looks like ("--force", "-5 dB").
const ArgSpec note_args = {
    .cmd = "note",
    .usage = "usage: repae note RUN TEXT...\n\n"
    "Sets the run's note (the words of TEXT joined by spaces; \"\" clears it).\n",
    .opts = NULL,
    .text_after = 1,
};

int cmd_note(const Globals *g, int argc, char **argv) {
    Args a;
    if (args_parse(&a, &note_args, argc, argv) != 0) return a.status;
    if (a.npos < 2) return args_usage_error(&a, "expected RUN and TEXT");
    size_t len = 1;
    for (int i = 1; i < a.npos; i++) len += strlen(args_pos(&a, i)) + 1;
    char *text = xcalloc(1, len);
    for (int i = 1; i < a.npos; i++) {
        if (i > 1) strcat(text, " ");
        strcat(text, args_pos(&a, i));
    }
    Store *s;
    StoreRun r;
    if (cli_load_run(g, "note", args_pos(&a, 0), &s, &r) != 0) { free(text); return 1; }
    char err[ERRLEN];
    int rc = store_set_note(s, r.id, text, err);
    if (rc != 0) fprintf(stderr, "repae note: %s\n", err);
    free(text);
    store_run_free(&r);
    store_close(s);
    return rc ? 1 : 0;
}
