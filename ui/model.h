// model.h: what the dashboard screens need from the outside world, as one small interface:
// the runs, their metric series and samples, and the actions (launch, stop, resume, delete,
// tag, note). model_store.c implements it on the run store (and trains launched runs in
// background threads); model_fake.c on generated data, for developing and testing the screens.
// Screens call it from the UI thread only.
#ifndef REPAE_UI_MODEL_H
#define REPAE_UI_MODEL_H
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include "image.h"

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
    char tags[128];       // comma-separated
    char notes[256];
    char error[160];
    int local;            // training in a thread of this process
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

typedef struct Model Model;
typedef struct {
    int (*list_runs)(Model *m, UiRun **runs, int *n, char *err); // newest first; free()
    int (*config)(Model *m, int64_t run, char **json, char *err);  // free()
    int (*series_append)(Model *m, int64_t run, const char *key, UiSeries *s, char *err);
    int (*sample_steps)(Model *m, int64_t run, long **steps, int *n, char *err); // ascending; free()
    // The sample at the largest step <= step (step < 0: the latest).
    int (*sample)(Model *m, int64_t run, long step, long *got_step, Image *img, char *err);
    // A run from a config file with "key.path=value" overrides, trained in the background.
    int (*launch)(Model *m, const char *config_path, const char *name, int nset, char *const *sets, int64_t *id,
                  char *err);
    int (*stop)(Model *m, int64_t run, char *err);
    int (*resume)(Model *m, int64_t run, char *err);
    int (*remove)(Model *m, int64_t run, char *err);
    int (*tag)(Model *m, int64_t run, const char *tag, int remove, char *err);
    int (*note)(Model *m, int64_t run, const char *text, char *err);
    int (*local_active)(Model *m);          // runs training in this process
    void (*stop_local)(Model *m);           // asks them all to stop, waits for their checkpoints
    void (*close)(Model *m);
    const char *(*where)(Model *m);         // the store's path, for the title bar
    // Polled by the app on every tick; NULL when the backend has nothing to say. Each returns
    // 0, or 1 with a message in msg (n bytes):
    // a warning from a run training in this process, once (an unusable checkpoint set aside)
    int (*take_notice)(Model *m, char *msg, size_t n);
    // a lasting problem with what is shown (the store file was deleted or replaced: the
    // screens show what the open connection still sees, which nobody else writes any more)
    int (*check)(Model *m, char *msg, size_t n);
} ModelOps;

struct Model {
    const ModelOps *ops;
};

// Generated runs (nruns of total steps each, half finished); launch adds runs that advance
// with wall time. REPAE_UI_FAKE=N in the environment makes the dashboard use it.
Model *model_fake_new(int nruns, long steps);
// The run store at path (created if missing). NULL with err on failure.
Model *model_store_open(const char *path, char *err);
// The store backend's check: 0 while path is still the file opened (at_open, from stat),
// else 1 with a message saying it was deleted, moved or replaced and what to do.
int model_store_file_check(const char *path, const struct stat *at_open, char *msg, size_t n);

#endif
