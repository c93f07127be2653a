// run_hooks.h: TrainHooks that write a run into the store (glue between src/train/train.h and
// store/store.h; no SQL here).
//
// The training thread never touches the database: metrics, samples and checkpoint records are
// appended to an in-memory queue under a mutex, and a writer thread owned by the RunHooks (with
// its own store connection) commits the queue about once a second, updates the heartbeat and
// polls the run's stop_requested flag. So a step never waits on readers or other writers.
//
// Typical use (cmd_train.c):
//
//   RunHooks *rh;
//   if (run_hooks_open(&rh, g->db, name, config_json, cfg.train.steps, err)) fail(err);
//   TrainHooks h = run_hooks_get(rh);
//   TrainStatus st = train_run(&cfg, run_hooks_dir(rh), 0, &h, err);
//   run_hooks_finish(rh, train_status_name(st), st == TRAIN_DONE || st == TRAIN_STOPPED ? NULL : err);
//
// and to continue a run (repae resume RUN):
//
//   if (run_hooks_resume(&rh, g->db, ref, -1, err)) fail(err);
//   config_parse(&cfg, run_hooks_config(rh), "stored config", err);
//   ... train_run(&cfg, run_hooks_dir(rh), 1, &h, err) ... run_hooks_finish(...)
//
// SIGINT: call run_hooks_stop(rh) from the handler (async-signal-safe); should_stop then
// returns 1 and the core stops with a checkpoint.
#ifndef REPAE_RUN_HOOKS_H
#define REPAE_RUN_HOOKS_H
#include <stddef.h>
#include <stdint.h>
#include "train/train.h"

typedef struct RunHooks RunHooks;

// Creates a run named name (NULL or "": "run-<id>") in the store at db (created if missing),
// status "running", with this process's pid, makes its directory and starts the writer thread.
// Fails if the name is taken.
int run_hooks_open(RunHooks **rh, const char *db, const char *name, const char *config_json, long total_steps,
                   char *err);
// Reopens an existing run (id or name) that is not live (queued, stopped, interrupted, failed,
// diverged; not running in a live process, not done), marks it running again, starts the
// writer. from_step >= 0 forgets metrics and samples logged after from_step (the checkpoint the
// core resumes from; pass run_hooks_last_checkpoint(rh) after opening with -1 if unknown
// beforehand, through run_hooks_truncate). A re-logged step replaces the old point anyway.
int run_hooks_resume(RunHooks **rh, const char *db, const char *run_ref, long from_step, char *err);

// The hooks for train_run; valid until run_hooks_finish.
TrainHooks run_hooks_get(RunHooks *rh);

int64_t run_hooks_id(const RunHooks *rh);
const char *run_hooks_name(const RunHooks *rh);
const char *run_hooks_dir(const RunHooks *rh);      // <dir of db>/runs/<id>, exists
const char *run_hooks_config(const RunHooks *rh);   // the stored config JSON
long run_hooks_total_steps(const RunHooks *rh);
long run_hooks_last_checkpoint(const RunHooks *rh); // step of the latest recorded checkpoint, -1 if none
int run_hooks_truncate(RunHooks *rh, long after_step, char *err);

// Records the number of processes (MPI world size) training this stretch of the run: rank 0
// calls it after opening or resuming, so `repae runs` and `show` tell a 4-process run from a
// 1-process one. Written at once (not queued). 0 or -1 with err.
int run_hooks_set_world_size(RunHooks *rh, int n, char *err);

// The run's console (store_console_add): warnings, notes and the final error, for the
// dashboard to show whichever process trains the run. run_hooks_console queues a line (level
// "error", "warn" or "note") for the writer thread, like a metric; any thread, not from signal
// handlers. The problems run_hooks itself tells (run_hooks_set_warn) and the error given to
// run_hooks_finish/end go there too.
void run_hooks_console(RunHooks *rh, const char *level, const char *msg);
// TrainRunOpts.warn and .note with ctx = the RunHooks: the line goes to the run's console and,
// as the core's defaults do, to stderr ("repae: warning: MSG", "repae: MSG").
void run_hooks_warn_hook(void *rh, const char *msg);
void run_hooks_note_hook(void *rh, const char *msg);

// Commit interval of the writer thread in seconds (default 1.0; tests use less).
void run_hooks_set_interval(RunHooks *rh, double seconds);
// Commits everything queued so far and waits for it. Returns 0 or -1 with err.
int run_hooks_flush(RunHooks *rh, char *err);
// The largest step whose metrics are all committed (-1 before the first commit).
long run_hooks_committed_step(RunHooks *rh);
// The last error of the writer thread ("" if none): the queue is kept and retried.
void run_hooks_last_error(RunHooks *rh, char *err);
// Makes should_stop return 1 from now on. Async-signal-safe.
void run_hooks_stop(RunHooks *rh);

// Where problems are told (a sample that cannot be encoded, points that could not be written,
// a run deleted while training): warn(ctx, msg) from the training thread, without the "repae: "
// prefix. Default (or warn NULL): stderr. The dashboard routes them to its notice line, since
// stderr is the terminal it draws on.
void run_hooks_set_warn(RunHooks *rh, void (*warn)(void *ctx, const char *msg), void *ctx);

// Flushes, stops the writer, records the final status ("done", "stopped", "failed",
// "diverged") and error text (NULL = none), and frees rh. Returns 0 or -1 if the final commit
// failed (told through the warn callback; the run then reads "interrupted").
int run_hooks_finish(RunHooks *rh, const char *status, const char *error);
// run_hooks_finish in two halves, for an owner that other threads may still ask to stop: end
// does everything but free (run_hooks_stop stays safe to call afterwards), free releases rh.
int run_hooks_end(RunHooks *rh, const char *status, const char *error);
void run_hooks_free(RunHooks *rh);

// PNG encoding of 8-bit RGB (used for sample grids; also handy for tests). Returns malloc'd
// bytes and their count in *len.
unsigned char *run_hooks_png_rgb(const uint8_t *rgb, int w, int h, size_t *len);

#endif
