// store.h: the run store, one SQLite database (the only code in repae with SQL).
//
// A Store is one connection. SQLite connections are not shared between threads here: every
// thread (a training run's writer, the dashboard, a CLI command) opens its own Store on the same
// file. WAL mode lets readers run while a writer commits; writers use BEGIN IMMEDIATE with a
// busy timeout and retry, so "database is locked" never reaches the caller under normal load.
//
// Run files (checkpoints, training state) live beside the database in <dir of db>/runs/<id>/
// for the default runs.db, and in <db>-runs/<id>/ for any other name, so that two stores in one
// directory never share run directories (store_run_dir); the store records the checkpoint
// paths, and store_delete_run removes the rows and that directory.
//
// Every function returning int returns 0 on success or -1 with a message in err (ERRLEN bytes,
// see util.h). Strings and arrays handed back are malloc'd and released with the matching
// *_free function. Run ids are int64_t and never given twice, not even after the newest run
// was deleted (so `repae show 43` cannot come to mean another run); steps are long; times are
// unix seconds (double).
//
// Statuses: see RunStatus. A run stored as "running" whose writer died (its pid is gone on this
// host, or its heartbeat is older than STORE_STALE_SECONDS) is reported as "interrupted" by every
// read function; store_reap_dead writes that status back.
#ifndef REPAE_STORE_H
#define REPAE_STORE_H
#include <stddef.h>
#include <stdint.h>

#define STORE_SCHEMA_VERSION 6   // PRAGMA user_version this code writes and understands
#define STORE_STALE_SECONDS 15.0 // a running run without a heartbeat for this long is dead

#include "base/run_status.h"

typedef struct Store Store;

// Run statuses (RunStatus, run_status_name/parse/live): base/run_status.h, shared by every layer.


// ---- opening --------------------------------------------------------------------------------
enum {
    STORE_CREATE = 1, // create the file (and its directory) when it does not exist
};

// Opens (and if needed creates and migrates) the store at path. A file that is not a SQLite
// database, a SQLite database of another program, or one written by a newer repae
// (user_version > STORE_SCHEMA_VERSION) is refused before anything is written to it.
int store_open(Store **s, const char *path, int flags, char *err);
void store_close(Store *s);
const char *store_path(const Store *s);
// The directory for a run's files (not created): <dir of db>/runs/<id> for a store named
// runs.db, else <db path>-runs/<id> (older stores whose checkpoints are under runs/ keep it).
// Returns buf.
char *store_run_dir(const Store *s, int64_t run, char *buf, size_t n);

// ---- reading runs ---------------------------------------------------------------------------
typedef struct {
    char *key;
    double last;      // value at last_step (NaN stored as NaN)
    long last_step;
    double min, max;  // over the values logged, NaN excepted (NaN if none)
    long min_step;    // step of the minimum (the "best")
    double last_wall;
} StoreLatest;

typedef struct {
    int64_t id;
    char *name;
    RunStatus state;        // effective status (a dead "running" reads RUN_INTERRUPTED)
    RunStatus stored_state; // as written in the database
    char status[16];        // run_status_name(state), for printing
    char stored_status[16]; // the name as written in the database
    char *config;          // JSON text; NULL from store_list_runs (use store_get_run)
    double created, started, ended, heartbeat; // 0 = never
    double active;       // seconds spent training, over every stretch (the time a run was down excluded)
    int pid;
    char *host;
    long step, total_steps;// last logged step, planned steps
    char *error;           // "" when none
    char *notes;           // "" when none
    int64_t parent;        // 0 = none
    int stop_requested;
    int world_size;        // MPI processes of the latest stretch; 0 = not recorded (before schema 5)
    double ips_rank;       // images/s per process: the last img_per_s_rank metric, NaN if none
    char **tags; int ntags;
    StoreLatest *latest; int nlatest; // one per metric key, sorted by key
} StoreRun;

// All runs, newest first, with tags and latest metrics (no config). Fast: reads only the runs,
// tags and summary tables.
int store_list_runs(Store *s, StoreRun **runs, int *n, char *err);
void store_runs_free(StoreRun *runs, int n);

// RUN as typed by a user: an id (all digits) if such a run exists, else a name (exact match).
int store_resolve(Store *s, const char *ref, int64_t *id, char *err);
// One run with everything, including config. Free with store_run_free.
int store_get_run(Store *s, int64_t id, StoreRun *r, char *err);
void store_run_free(StoreRun *r);
// The StoreLatest entry for key, or NULL.
const StoreLatest *store_run_latest(const StoreRun *r, const char *key);

// ---- metrics --------------------------------------------------------------------------------
typedef struct {
    long *step;
    float *value;  // NaN where NaN was logged
    double *wall;
    long n;
} StoreSeries;

// Metric keys logged by a run, sorted.
int store_metric_keys(Store *s, int64_t run, char ***keys, int *n, char *err);
void store_strings_free(char **v, int n);
// One metric's points with step > after_step, in step order (after_step = -1 for all). The
// dashboard polls with the last step it has to fetch only new points.
int store_series(Store *s, int64_t run, const char *key, long after_step, StoreSeries *out, char *err);
void store_series_free(StoreSeries *ser);

// ---- samples and checkpoints ----------------------------------------------------------------
// Steps that have a sample grid, ascending.
int store_sample_steps(Store *s, int64_t run, long **steps, int *n, char *err);
// The sample at the largest step <= step (step < 0: the latest). *png is malloc'd PNG bytes,
// *got_step the step it belongs to. Fails if the run has no sample at or before step.
int store_sample_get(Store *s, int64_t run, long step, long *got_step, unsigned char **png, size_t *len,
                     int *w, int *h, char *err);

typedef struct { long step; char *weights; char *state; double wall; } StoreCheckpoint;
// Checkpoints in step order.
int store_checkpoints(Store *s, int64_t run, StoreCheckpoint **c, int *n, char *err);
void store_checkpoints_free(StoreCheckpoint *c, int n);

// ---- housekeeping (CLI, dashboard) ----------------------------------------------------------
// A tag is 1..STORE_TAG_MAX bytes without commas (lists of tags are comma-separated: `runs`,
// CSV, filters), spaces or other whitespace, and control characters. store_tag_add refuses
// other tags (store_tag_check says why); store_tag_remove takes any, so an old one can go.
#define STORE_TAG_MAX 64
int store_tag_check(const char *tag, char *err);
int store_tag_add(Store *s, int64_t run, const char *tag, char *err);
int store_tag_remove(Store *s, int64_t run, const char *tag, char *err);
int store_set_note(Store *s, int64_t run, const char *text, char *err);
int store_rename(Store *s, int64_t run, const char *name, char *err);
// A run name must be non-empty, not all digits (it would read as an id), not only spaces,
// without control characters and at most STORE_NAME_MAX bytes. store_create_run and
// store_rename check it; callers may check earlier for a better message.
#define STORE_NAME_MAX 200
int store_check_name(const char *name, char *err);
// Asks the run's writer to stop cleanly; its hooks see it within about a second.
int store_request_stop(Store *s, int64_t run, char *err);
// Deletes the run's rows and its directory. Does not check whether it is still running:
// callers refuse or stop it first (a live writer would keep adding rows for a missing run).
int store_delete_run(Store *s, int64_t run, char *err);
// Deletes several runs at once: every run is checked first (it exists; with refuse_live, it
// is not training in a live process) and the rows of all go in one transaction, so either all
// are deleted or none is (err names the run that stopped it). Then their directories go.
int store_delete_runs(Store *s, const int64_t *runs, int n, int refuse_live, char *err);
// The metric a training run logs as its images/s per process (StoreRun.ips_rank reads it).
#define STORE_IPS_RANK_KEY "img_per_s_rank"

// ---- preferences (the dashboard's layout, per store) ------------------------------------------
// A small key-value table for settings of the store as a whole. Keys are 1..STORE_PREF_KEY_MAX
// bytes of printable text; values are any text up to STORE_PREF_VALUE_MAX bytes.
#define STORE_PREF_KEY_MAX 200
#define STORE_PREF_VALUE_MAX 65536
// *value: the malloc'd value, or NULL when key was never set (not an error).
int store_pref_get(Store *s, const char *key, char **value, char *err);
// Sets key to value (replacing it); value NULL removes the key.
int store_pref_set(Store *s, const char *key, const char *value, char *err);

// ---- a run's console (warnings, notes, the final error) ---------------------------------------
// What the trainer told the person running it, kept with the run so that the dashboard shows it
// for runs in other processes too. Levels: "error", "warn", "note". A run keeps its newest
// STORE_CONSOLE_MAX lines (older ones go as new ones come, so a chatty run cannot grow the
// store without bound); a line longer than STORE_CONSOLE_LINE_MAX bytes is cut there.
#define STORE_CONSOLE_MAX 500
#define STORE_CONSOLE_LINE_MAX 1000
typedef struct {
    int64_t id;     // increasing in the order the lines were written
    double wall;
    char level[8];
    char *text;
} StoreConsoleLine;
// Appends n lines (wall 0: now) in one transaction, then drops the run's lines beyond the cap.
// A level other than the three is refused (nothing written).
int store_console_add(Store *s, int64_t run, const StoreConsoleLine *lines, int n, char *err);
// The run's lines with id > after_id (0: all kept), oldest first. Free with store_console_free.
int store_console_lines(Store *s, int64_t run, int64_t after_id, StoreConsoleLine **lines, int *n, char *err);
void store_console_free(StoreConsoleLine *lines, int n);

// Writes "interrupted" over every dead "running" run. Returns how many, or -1.
int store_reap_dead(Store *s, char *err);

// ---- writing (training; normally through src/app/run_hooks.h) ----------------------------------
// Writers take a status by its name (run_status_name(RUN_QUEUED) or "queued"); a name that
// run_status_parse does not know is refused, and so is "unknown".
//
// A new run with status (usually "queued" or "running"), created = now, and an id larger than
// every id this store ever gave. Fails if the name is taken. parent = 0 for none.
int store_create_run(Store *s, const char *name, const char *config_json, long total_steps, int64_t parent,
                     const char *status, int64_t *id, char *err);
// status "running": records this process's pid and host, heartbeat now, started (if not yet),
// clears ended, error and stop_requested. Other statuses: sets ended = now and error (NULL = none).
int store_set_status(Store *s, int64_t run, const char *status, const char *error, char *err);

// The run's world size (MPI processes) for its current stretch: rank 0 writes it when it creates
// or resumes the run. n >= 1.
int store_set_world_size(Store *s, int64_t run, int n, char *err);

typedef struct {
    const char *key;
    long step;
    double value;
    double wall;
} StoreMetric;

// One transaction: the metrics (a re-logged (key, step) replaces the old point), the summary
// table, runs.step = max(step, largest step given) and the heartbeat.
int store_log_metrics(Store *s, int64_t run, const StoreMetric *m, int n, char *err);
// Heartbeat (and runs.step if step >= 0) without metrics. *stop gets stop_requested if non-NULL,
// or 2 when the run no longer exists (deleted while its writer lived; nothing is written then).
int store_heartbeat(Store *s, int64_t run, long step, int *stop, char *err);
int store_add_sample(Store *s, int64_t run, long step, const void *png, size_t len, int w, int h, char *err);
int store_add_checkpoint(Store *s, int64_t run, long step, const char *weights, const char *state, char *err);
// Forgets metrics and samples after step (resuming from a checkpoint at step) and rebuilds
// the run's summary rows.
int store_truncate_after(Store *s, int64_t run, long step, char *err);

// ---- diagnostics ----------------------------------------------------------------------------
// PRAGMA integrity_check: 0 when "ok", else -1 with the first problem in err.
int store_integrity_check(Store *s, char *err);
// The schema version of the open database.
int store_schema_version(Store *s);

#endif
