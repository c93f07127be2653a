// main.c: the `repae` binary: global options, then one command from the table below.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "base/blas.h"
#include "base/suggest.h"
#include "cli/cli.h"

typedef struct {
    const char *name;
    int (*fn)(const Globals *, int, char **);
    const ArgSpec *args;  // its options: which take a value, for the --db scan
    const char *synopsis; // its arguments, for `repae --help`; its options are in its own --help
    const char *summary;
} Command;

static const Command commands[] = {
    {"train", cmd_train, &train_args, "train CONFIG", "a headless training run"},
    {"resume", cmd_resume, &resume_args, "resume RUN", "continue a stopped or interrupted run"},
    {"runs", cmd_runs, &runs_args, "runs", "the runs table"},
    {"show", cmd_show, &show_args, "show RUN", "status, config, metrics, checkpoints, samples"},
    {"compare", cmd_compare, &compare_args, "compare RUN RUN...", "differing config keys and metrics side by side"},
    {"export", cmd_export, &export_args, "export RUN", "metrics as CSV, weights as safetensors, sample images"},
    {"sample", cmd_sample, &sample_args, "sample RUN --out F.png", "a grid of generated images"},
    {"reconstruct", cmd_reconstruct, &reconstruct_args, "reconstruct RUN IN.png OUT.png", "VAE round trip (posterior mean)"},
    {"eval", cmd_eval, &eval_args, "eval RUN", "generation metrics (fd, is, accuracy, PSNR) into the store"},
    {"encoder", cmd_encoder, &encoder_args, "encoder train", "train the frozen REPA target encoder"},
    {"evaluator", cmd_evaluator, &evaluator_args, "evaluator train", "train the evaluation network"},
    {"data", cmd_data, &data_args, "data [CONFIG]", "a dataset: its facts, or its images"},
    {"bench", cmd_bench, &bench_args, "bench", "training-step throughput, one JSON line"},
    {"rm", cmd_rm, &rm_args, "rm RUN...", "delete runs and their files (asks first)"},
    {"tag", cmd_tag, &tag_args, "tag RUN TAG", "add (or remove) a tag"},
    {"note", cmd_note, &note_args, "note RUN TEXT", "set the run's note"},
};
#define NCOMMANDS (int)(sizeof commands / sizeof commands[0])

static void usage(FILE *f) {
    fprintf(f, "usage: repae [--db PATH] [COMMAND [ARGS]]\n\n"
               "With no command, opens the dashboard. The run store is --db PATH, else $REPAE_DB,\n"
               "else ./runs.db. `repae COMMAND --help` shows a command's options.\n\ncommands:\n");
    int w = 0; // the summaries in one column
    for (int i = 0; i < NCOMMANDS; i++)
        if ((int)strlen(commands[i].synopsis) > w) w = (int)strlen(commands[i].synopsis);
    for (int i = 0; i < NCOMMANDS; i++) fprintf(f, "  %-*s  %s\n", w, commands[i].synopsis, commands[i].summary);
}

// libgomp reads OMP_WAIT_POLICY once, when it loads, so it has to be in the environment
// before the process starts: re-exec once with it set. Spinning waits (the default) made a
// tiny training step 10-30x slower whenever the 2 cores were shared (other processes, or
// several runs training in one dashboard), against ~1x when the machine is quiet.
static void ensure_passive_omp(char **argv) {
    if (getenv("OMP_WAIT_POLICY")) return;
    setenv("OMP_WAIT_POLICY", "passive", 1);
    execv("/proc/self/exe", argv);
    // exec failed (no /proc): carry on with the default policy.
}

static const Command *find_command(const char *name) {
    for (int i = 0; i < NCOMMANDS; i++)
        if (strcmp(name, commands[i].name) == 0) return &commands[i];
    return NULL;
}

// "repae rnus": the nearest command, if it is only a slip or two away.
static int unknown_command(const char *name) {
    const char *names[NCOMMANDS + 1];
    for (int i = 0; i < NCOMMANDS; i++) names[i] = commands[i].name;
    names[NCOMMANDS] = "help";
    const char *near = suggest_nearest(name, names, NCOMMANDS + 1, suggest_max_dist(name));
    if (near) {
        fprintf(stderr, "repae: unknown command '%s' (did you mean '%s'?); `repae --help` lists them all\n", name, near);
    } else {
        fprintf(stderr, "repae: unknown command '%s'\n\n", name);
        usage(stderr);
    }
    return 2;
}

int main(int argc, char **argv) {
    ensure_passive_omp(argv);
    Globals g = {0};
    g.db = getenv("REPAE_DB");
    // --db may appear anywhere on the line; take it out before the command sees argv. Not as
    // the value of a command's option (`--name --db` names a run "--db"... and is refused by
    // the store), and not after "--". Which options take a value is the command's own table.
    const Command *cmd = NULL;
    int n = 0, literal = 0, value_next = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (literal || value_next) {
            argv[++n] = argv[i];
            value_next = 0;
        } else if (strcmp(arg, "--") == 0) {
            literal = 1;
            argv[++n] = argv[i];
        } else if (strcmp(arg, "--db") == 0) {
            if (i + 1 >= argc) { fprintf(stderr, "repae: --db needs a path\n"); return 2; }
            g.db = argv[++i];
        } else if (strncmp(arg, "--db=", 5) == 0) {
            g.db = arg + 5;
        } else {
            argv[++n] = argv[i];
            if (n == 1) cmd = find_command(arg); // the first word left is the command
            else if (cmd) value_next = args_takes_value(cmd->args, arg);
        }
    }
    argc = n + 1;
    if (!g.db || !*g.db) g.db = "runs.db";

    char err[512];
    if (blas_setup(err) != 0) { fprintf(stderr, "repae: %s\n", err); return 1; }

    if (argc < 2) return cmd_dashboard(&g, 0, argv + 1);
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (cmd) return cmd->fn(&g, argc - 2, argv + 2);
    return unknown_command(argv[1]);
}
