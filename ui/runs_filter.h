// runs_filter.h: the Runs screen's filter language, and the lookup of a run's value by a name
// the user types (a metric or a config key), shared with the chosen columns.
//
//   lr>=1e-3 status:done tag:sweep fd<5 repa !tag:old
//
// Terms are separated by spaces and must all hold. `key OP value` (OP: = != < <= > >=) compares
// a metric's last value or a config value, numerically when both sides are numbers, else as
// text (= and != only). `status:`, `tag:`, `name:` and `id:` test the run itself; a bare word
// is a case-insensitive substring of the name, status, tags or notes (the old filter); `!`
// before a term negates it.
#ifndef REPAE_UI_RUNS_FILTER_H
#define REPAE_UI_RUNS_FILTER_H
#include "base/config.h"
#include "ui/backend.h"

#define RF_MAXTERMS 16

typedef struct {
    int kind;      // RF_WORD, RF_STATUS, RF_TAG, RF_NAME, RF_ID, RF_CMP
    int neg, op;   // op: RF_EQ ...
    char key[64], val[96];
    double num;
    int isnum;
    int cfg;       // config key index for a key that names one (-1 none)
} RfTerm;

typedef struct {
    RfTerm t[RF_MAXTERMS];
    int n;
    int needs_config; // some term may compare a config value: the caller passes configs
} RunsFilter;

// Parses text into f. 0, or -1 with what was wrong (and where) in err (n bytes).
int runs_filter_parse(RunsFilter *f, const char *text, char *err, size_t n);
// 1 if run r (with its parsed config, or NULL when not loaded) passes every term.
int runs_filter_match(const RunsFilter *f, const UiRun *r, const Config *cfg);

// The config key a typed name means: its dotted path, else train.<name>, else the first key
// whose last part it is in the table's order ("lr" is train.lr, not disc.lr); -1 if none.
int ui_config_key(const char *name);
// The metric a typed name means among r's logged metrics: the key itself, else eval.<name>,
// else the metric whose short label it is ("FD"); NULL if none.
const UiLatest *ui_run_metric(const UiRun *r, const char *name);

// The parsed configs of runs, each loaded once (a run's config does not change) and only when
// a filter term or a column needs one.
typedef struct { int64_t *id; Config **cfg; int n; } RunConfigs;
const Config *run_configs_get(RunConfigs *c, UiBackend *m, int64_t id); // NULL if unreadable
void run_configs_free(RunConfigs *c);

// Run r's value by a typed name, for a column (w columns): a metric's last value or, with best,
// its best so far in its own direction (the last for a metric with no direction); else the
// config value; "-" when the run has neither.
void ui_run_value(const UiRun *r, const Config *cfg, const char *name, int best, char *out, int w);
// 1 if name means a metric some run logged or a config key (for checking typed columns).
int ui_value_known(const UiRun *runs, int n, const char *name);

#endif
