// run_status.c: see run_status.h.
#include "base/run_status.h"
#include <stdio.h>
#include <string.h>
#include "base/util.h"

// Indexed by RunStatus; these are the texts in the database (never change one: stores hold them).
static const char *const status_names[RUN_STATUS_COUNT] = {
    [RUN_QUEUED] = "queued",   [RUN_RUNNING] = "running", [RUN_DONE] = "done",
    [RUN_STOPPED] = "stopped", [RUN_FAILED] = "failed",   [RUN_DIVERGED] = "diverged",
    [RUN_INTERRUPTED] = "interrupted",
};

const char *run_status_name(RunStatus st) {
    return (unsigned)st < RUN_STATUS_COUNT ? status_names[st] : "unknown";
}

int run_status_parse(const char *name, RunStatus *st, char *err) {
    for (int i = 0; name && i < RUN_STATUS_COUNT; i++)
        if (strcmp(name, status_names[i]) == 0) { *st = (RunStatus)i; return 0; }
    if (!err) return -1;
    char known[128] = "";
    for (int i = 0; i < RUN_STATUS_COUNT; i++) {
        size_t n = strlen(known);
        snprintf(known + n, sizeof known - n, "%s%s", i ? ", " : "", status_names[i]);
    }
    return seterr(err, "unknown run status '%s' (the statuses are %s)", name ? name : "(null)", known);
}

int run_status_live(RunStatus st) { return st == RUN_QUEUED || st == RUN_RUNNING; }
