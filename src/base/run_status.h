// run_status.h: the statuses of a run, one list for every layer: the store writes their names,
// the trainer ends a run in one, the CLI and the dashboard show and colour them.
#ifndef REPAE_BASE_RUN_STATUS_H
#define REPAE_BASE_RUN_STATUS_H

// The one list of statuses. The database holds their names (run_status_name), never these
// numbers, so the order here may change without touching any store. Compare statuses as
// RunStatus (StoreRun.state), print them by name.
typedef enum {
    RUN_QUEUED,      // created, not started yet
    RUN_RUNNING,     // a writer is training it (effective status: and is alive)
    RUN_DONE,        // reached its planned steps
    RUN_STOPPED,     // stopped cleanly before its planned steps (a stop request); can be resumed
    RUN_FAILED,      // an error ended it (StoreRun.error says which)
    RUN_DIVERGED,    // a loss or gradient norm was not finite (StoreRun.error says where)
    RUN_INTERRUPTED, // its writer died (killed, crashed, machine rebooted); can be resumed
    RUN_STATUS_COUNT,
    // What a read gives for a stored name this build does not know (a newer repae's status):
    // not live, never written (store_set_status refuses it), named "unknown".
    RUN_STATUS_UNKNOWN = RUN_STATUS_COUNT,
} RunStatus;

// "queued", "running", ...; "unknown" for RUN_STATUS_UNKNOWN or any value out of range.
const char *run_status_name(RunStatus st);
// The status with that exact name. Returns 0, or -1 with err naming the known statuses
// (err may be NULL when the caller words its own message).
int run_status_parse(const char *name, RunStatus *st, char *err);
// 1 for a run that is not finished and may still change by itself (queued, running), else 0.
// Meant for effective statuses (StoreRun.state), where a dead writer already reads interrupted.
int run_status_live(RunStatus st);

#endif
