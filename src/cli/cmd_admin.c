// cmd_admin.c: the commands that change a run's record: `repae rm`, `repae tag`, `repae note`.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    .usage = "usage: repae rm [--force] RUN...\n\n"
    "Deletes runs: their metrics, samples, checkpoints and files. A run that is still\n"
    "training is refused unless --force, which stops it (with a checkpoint) and\n"
    "waits for it to end before deleting.\n",
    .opts = (const ArgOpt[]){ARG_OPT_FLAG("--force"), ARG_OPT_END},
};

// Deletes one run; 0, or 1 after saying why not.
static int rm_one(Store *s, const char *ref, int force) {
    char err[ERRLEN], dir[4096];
    int64_t id;
    StoreRun r;
    if (store_resolve(s, ref, &id, err) != 0 || store_get_run(s, id, &r, err) != 0) {
        fprintf(stderr, "repae rm: %s\n", err);
        return 1;
    }
    int rc = 1, live = r.state == RUN_RUNNING;
    if (live && !force)
        fprintf(stderr, "repae rm: run %lld '%s' is still training (pid %d); stop it first, or use --force\n",
                (long long)id, r.name, r.pid);
    else if (live && stop_and_wait(s, &r, err) != 0) fprintf(stderr, "repae rm: %s\n", err);
    else if (store_delete_run(s, id, err) != 0) fprintf(stderr, "repae rm: %s\n", err);
    else {
        printf("deleted run %lld '%s' and %s\n", (long long)id, r.name, store_run_dir(s, id, dir, sizeof dir));
        rc = 0;
    }
    store_run_free(&r);
    return rc;
}

int cmd_rm(const Globals *g, int argc, char **argv) {
    Args a;
    if (args_parse(&a, &rm_args, argc, argv) != 0) return a.status;
    if (!a.npos) return args_usage_error(&a, "missing RUN");
    Store *s;
    if (cli_open_store(g, "rm", &s) != 0) return 1;
    int rc = 0, force = args_has(&a, "--force");
    for (int i = 0; i < a.npos; i++) rc |= rm_one(s, args_pos(&a, i), force);
    store_close(s);
    return rc;
}

const ArgSpec tag_args = {
    .cmd = "tag",
    .usage = "usage: repae tag [--remove] RUN TAG\n\n"
    "Adds a tag to a run (or removes it with --remove). Tags show in `repae runs`.\n"
    "A tag that starts with '-' goes after --: repae tag RUN -- -x.\n",
    .opts = (const ArgOpt[]){ARG_OPT_FLAG("--remove"), ARG_OPT_END},
};

int cmd_tag(const Globals *g, int argc, char **argv) {
    Args a;
    if (args_parse(&a, &tag_args, argc, argv) != 0) return a.status;
    if (a.npos > 2) return args_usage_error(&a, "too many arguments ('%s'); quote a tag with spaces", args_pos(&a, 2));
    if (a.npos != 2) return args_usage_error(&a, "expected RUN and TAG");
    const char *tag = args_pos(&a, 1);
    if (!tag[0]) return args_usage_error(&a, "a tag cannot be empty");
    Store *s;
    StoreRun r;
    if (cli_load_run(g, "tag", args_pos(&a, 0), &s, &r) != 0) return 1;
    char err[ERRLEN];
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
