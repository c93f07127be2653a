// backend.h: what the dashboard screens need from the outside world, as one small interface:
// the runs, their metric series and samples, and the actions (launch, stop, resume, delete,
// tag, note). app/store_backend.c implements it on the run store (and trains launched runs in
// background threads); tests/fake_backend.c on generated data, for developing and testing the screens.
// Screens call it from the UI thread only.
#ifndef REPAE_UI_BACKEND_H
#define REPAE_UI_BACKEND_H
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include "ui/image.h"

#define UI_MAXLATEST 24

typedef struct {
    char key[24];
    double last, min, max; // min/max over finite values (NaN if none)
    long last_step, min_step;
} UiLatest;

typedef struct {
    int64_t id;
    char name[64];
    char status[16];      // queued running done stopped failed diverged interrupted
    long step, total_steps;
    double created, started, ended, heartbeat;
    double active;        // seconds trained up to the heartbeat (the time a run was down excluded)
    char tags[128];       // comma-separated
    char notes[256];
    char error[160];
    int local;            // training in a thread of this process
    int world_size;       // MPI processes of its latest stretch (0: not recorded, 1: one process)
    int pid;              // of the process that trains (or trained) it, 0 if unknown
    char host[64];        // the machine of that process ("" if unknown)
    UiLatest latest[UI_MAXLATEST];
    int nlatest;
} UiRun;

const UiLatest *ui_run_latest(const UiRun *r, const char *key);
int ui_run_live(const UiRun *r); // running or queued

// A growing metric series: series_append fetches only the points after the last one held.
typedef struct {
    long *step;
    float *value;
    double *wall;   // unix seconds
    long n, cap;
    double *x;      // chart x values (ui_series_x), kept up to date as points are appended
    long xn;
    int xtime;
} UiSeries;
void ui_series_push(UiSeries *s, long step, float value, double wall);
void ui_series_free(UiSeries *s);
// The x positions for a chart: steps, or seconds since the first point (xtime). Extended
// incrementally, so a redraw does not rebuild them.
const double *ui_series_x(UiSeries *s, int xtime);

// What a launch would cost: the memory estimate, and with a measurement (a few steps on
// synthetic input, as `repae bench`) the step time and its work.
typedef struct {
    double mem_bytes;      // < 0 unknown
    double step_s;         // 0 not measured
    double gflop_per_step; // 0 not measured
    long steps;            // the config's train.steps
} UiEstimate;

// A line of a run's console: what its trainer told the person running it.
typedef struct {
    int64_t id;           // increasing; console() returns the lines after a given one
    double wall;
    char level[8];        // error warn note
    char text[240];
} UiConsoleLine;

// The process training a run, read from the system (Linux /proc) where the backend can.
enum {
    UI_PROC_NONE,   // not training (what says why)
    UI_PROC_PID,    // the run's own process on this machine: the figures are its own
    UI_PROC_SHARED, // trains in this dashboard's process: the figures are the whole process'
    UI_PROC_REMOTE, // on another machine (what names it): no figures
    UI_PROC_GONE,   // should be training here but its process cannot be read
};
typedef struct {
    int kind;             // UI_PROC_*
    char what[96];        // "pid 4242", "dashboard process (2 runs)", "on host gpu7 (pid 17)", ...
    double cpu_s;         // user + system CPU seconds of the process so far
    double wall;          // when cpu_s was read (monotonic seconds)
    double rss_bytes;     // resident memory
    int threads;
} UiProc;

typedef struct UiBackend UiBackend;
typedef struct {
    int (*list_runs)(UiBackend *m, UiRun **runs, int *n, char *err); // newest first; free()
    int (*config)(UiBackend *m, int64_t run, char **json, char *err);  // free()
    int (*series_append)(UiBackend *m, int64_t run, const char *key, UiSeries *s, char *err);
    int (*sample_steps)(UiBackend *m, int64_t run, long **steps, int *n, char *err); // ascending; free()
    // The sample at the largest step <= step (step < 0: the latest).
    int (*sample)(UiBackend *m, int64_t run, long step, long *got_step, Image *img, char *err);
    // A run from a config file with "key.path=value" overrides, trained in the background.
    int (*launch)(UiBackend *m, const char *config_path, const char *name, int nset, char *const *sets, int64_t *id,
                  char *err);
    int (*stop)(UiBackend *m, int64_t run, char *err);
    int (*resume)(UiBackend *m, int64_t run, char *err);
    int (*remove)(UiBackend *m, int64_t run, char *err);
    int (*tag)(UiBackend *m, int64_t run, const char *tag, int remove, char *err);
    int (*note)(UiBackend *m, int64_t run, const char *text, char *err);
    int (*local_active)(UiBackend *m);          // runs training in this process
    void (*stop_local)(UiBackend *m);           // asks them all to stop, waits for their checkpoints
    void (*close)(UiBackend *m);
    const char *(*where)(UiBackend *m);         // the store's path, for the title bar
    // Polled by the app on every tick; NULL when the backend has nothing to say. Each returns
    // 0, or 1 with a message in msg (n bytes):
    // a warning from a run training in this process, once (an unusable checkpoint set aside)
    int (*take_notice)(UiBackend *m, char *msg, size_t n);
    // a lasting problem with what is shown (the store file was deleted or replaced: the
    // screens show what the open connection still sees, which nobody else writes any more)
    int (*check)(UiBackend *m, char *msg, size_t n);
    // The dashboard's layout, remembered per store (the charted metrics, the Runs columns,
    // the baseline): pref_get gives 1 and the value (n bytes) of a key set before, else 0.
    // NULL: nothing is remembered.
    int (*pref_get)(UiBackend *m, const char *key, char *val, size_t n);
    int (*pref_set)(UiBackend *m, const char *key, const char *val, char *err);
    // The cost of launching config_path with overrides (see UiEstimate); measure: also time a
    // few steps (blocks for them). NULL: no estimates.
    int (*estimate)(UiBackend *m, const char *config_path, int nset, char *const *sets, int measure, UiEstimate *e, char *err);
    // The run's console lines with id > after (0: all kept), oldest first; free(). NULL: none.
    int (*console)(UiBackend *m, int64_t run, int64_t after, UiConsoleLine **out, int *n, char *err);
    // The process training r now (a screen turns two readings into a CPU share). NULL: unknown.
    int (*proc)(UiBackend *m, const UiRun *r, UiProc *p, char *err);
    // launch on np > 1 local processes (mpirun), detached: the run outlives the dashboard.
    // *id: the run once it shows in the store (0 if not yet). NULL: one process only.
    // Returns at once: the start-up is followed by launch_poll.
    int (*launch_np)(UiBackend *m, int np, const char *config_path, const char *name, int nset, char *const *sets,
                     int64_t *id, char *err);
    // Polled by the app on every tick: how many launch_np runs are still starting, the oldest
    // one described in what (n bytes) with the seconds since its launch in *elapsed; *settled
    // is a run that showed in the store since the last call (0: none), for the app to select.
    // A launch that never shows is given up through take_notice. NULL: none to follow.
    int (*launch_poll)(UiBackend *m, char *what, size_t n, double *elapsed, int64_t *settled);
} UiBackendOps;

// Preferences held in memory, for backends with no place to keep them (the fake one).
typedef struct { char (*kv)[2][256]; int n; } UiPrefs;
int ui_prefs_get(const UiPrefs *p, const char *key, char *val, size_t n);
void ui_prefs_set(UiPrefs *p, const char *key, const char *val);
void ui_prefs_free(UiPrefs *p);

// The backend's pref_get / pref_set, or nothing where it has none.
int ui_pref_get(UiBackend *m, const char *key, char *val, size_t n);
void ui_pref_set(UiBackend *m, const char *key, const char *val);

struct UiBackend {
    const UiBackendOps *ops;
};

#endif
