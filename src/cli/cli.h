// cli.h: the commands of the `repae` binary. main.c takes out the global --db option and
// dispatches; each cmd_*.c file implements one group. Every command takes the argv after its
// own name, handles --help, prints errors to stderr and returns the exit status (0, 1 when
// the work failed, 2 for a wrong command line). Each command's options are its ArgSpec
// (cli/args.h), which main.c reads too.
#ifndef REPAE_CLI_H
#define REPAE_CLI_H
#include "cli/args.h"

typedef struct {
    const char *db; // the run store: --db PATH, else $REPAE_DB, else ./runs.db
} Globals;

// cmd_train.c
int cmd_train(const Globals *g, int argc, char **argv);
int cmd_resume(const Globals *g, int argc, char **argv);
int cmd_bench(const Globals *g, int argc, char **argv);
extern const ArgSpec train_args, resume_args, bench_args;
// cmd_model.c
int cmd_sample(const Globals *g, int argc, char **argv);
int cmd_reconstruct(const Globals *g, int argc, char **argv);
extern const ArgSpec sample_args, reconstruct_args;
// cmd_runs.c
int cmd_runs(const Globals *g, int argc, char **argv);
int cmd_show(const Globals *g, int argc, char **argv);
extern const ArgSpec runs_args, show_args;
// cmd_compare.c
int cmd_compare(const Globals *g, int argc, char **argv);
extern const ArgSpec compare_args;
// cmd_export.c
int cmd_export(const Globals *g, int argc, char **argv);
extern const ArgSpec export_args;
// cmd_admin.c
int cmd_rm(const Globals *g, int argc, char **argv);
int cmd_tag(const Globals *g, int argc, char **argv);
int cmd_note(const Globals *g, int argc, char **argv);
extern const ArgSpec rm_args, tag_args, note_args;
// cmd_eval.c
int cmd_eval(const Globals *g, int argc, char **argv);
int cmd_evaluator(const Globals *g, int argc, char **argv);
extern const ArgSpec eval_args, evaluator_args;
// cmd_encoder.c
int cmd_encoder(const Globals *g, int argc, char **argv);
extern const ArgSpec encoder_args;
// cmd_data.c
int cmd_data(const Globals *g, int argc, char **argv);
extern const ArgSpec data_args;
// cmd_dashboard.c
int cmd_dashboard(const Globals *g, int argc, char **argv);

#endif
