// cli.h: the commands of the `repae` binary. main.c parses the global --db option and
// dispatches; each cmd_*.c file implements one group. Every command takes the argv after
// its own name, handles --help, prints errors to stderr and returns the exit status.
#ifndef REPAE_CLI_H
#define REPAE_CLI_H

typedef struct {
    const char *db; // the run store: --db PATH, else $REPAE_DB, else ./runs.db
} Globals;

// cmd_train.c
int cmd_train(const Globals *g, int argc, char **argv);
int cmd_resume(const Globals *g, int argc, char **argv);
int cmd_bench(const Globals *g, int argc, char **argv);
// cmd_model.c
int cmd_sample(const Globals *g, int argc, char **argv);
int cmd_reconstruct(const Globals *g, int argc, char **argv);
// cmd_runs.c
int cmd_runs(const Globals *g, int argc, char **argv);
int cmd_show(const Globals *g, int argc, char **argv);
int cmd_compare(const Globals *g, int argc, char **argv);
int cmd_export(const Globals *g, int argc, char **argv);
int cmd_rm(const Globals *g, int argc, char **argv);
int cmd_tag(const Globals *g, int argc, char **argv);
int cmd_note(const Globals *g, int argc, char **argv);
// cmd_eval.c
int cmd_eval(const Globals *g, int argc, char **argv);
int cmd_encoder(const Globals *g, int argc, char **argv);
int cmd_evaluator(const Globals *g, int argc, char **argv);
// cmd_dashboard.c
int cmd_dashboard(const Globals *g, int argc, char **argv);

// True if argv holds -h or --help.
int wants_help(int argc, char **argv);

#endif
