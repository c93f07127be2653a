// args.h: the options of every `repae` command, parsed one way from one table per command.
//
// A command's ArgSpec lists its options and whether each takes a value; args_parse checks the
// whole line against it (unknown options with a did-you-mean, missing values, numbers out of
// range, saying the range) and main.c reads the same table to know which arguments are the
// values of options, so that a global --db is never taken from inside `--name --db`. An
// option that is not in the table cannot be read either: the accessors abort on a name their
// command's table does not list.
//
// A command parses like this:
//
//     const ArgSpec sample_args = {.cmd = "sample", .usage = "usage: repae sample RUN ...\n",
//         .opts = (const ArgOpt[]){ARG_OPT_INT("--n", 1, 1024), ARG_OPT_STR("--out"), ARG_OPT_END}};
//     ...
//     Args a;
//     if (args_parse(&a, &sample_args, argc, argv) != 0) return a.status; // help, or a bad line
//     if (a.npos != 1) return args_usage_error(&a, "expected one RUN");
//     int n = (int)args_long(&a, "--n", 16);
//     const char *out = args_str(&a, "--out", NULL);
//
// Options come anywhere on the line, as `--key value` or `--key=value`; the last one given
// wins (args_nth reads each of a repeated one, such as --set, in order). `--` ends the
// options. -h or --help anywhere prints the usage. Nothing is allocated: the accessors read
// argv again, so Args needs no freeing and argv must outlive it.
#ifndef REPAE_ARGS_H
#define REPAE_ARGS_H

typedef enum {
    ARG_FLAG, // --force: no value
    ARG_STR,  // --out F: any text
    ARG_INT,  // --steps N: a decimal integer in [lo, hi]
    ARG_NUM,  // --cfg W: a finite number in [lo, hi]
} ArgKind;

typedef struct {
    const char *name; // "--steps"
    ArgKind kind;
    double lo, hi;    // ARG_INT, ARG_NUM: the allowed range, both ends included
} ArgOpt;

// Table rows: ARG_OPT_INT("--n", 1, 1024), ..., ARG_OPT_END.
#define ARG_OPT_FLAG(name) {name, ARG_FLAG, 0, 0}
#define ARG_OPT_STR(name) {name, ARG_STR, 0, 0}
#define ARG_OPT_INT(name, lo, hi) {name, ARG_INT, lo, hi}
#define ARG_OPT_NUM(name, lo, hi) {name, ARG_NUM, lo, hi}
#define ARG_OPT_END {NULL, ARG_FLAG, 0, 0}

typedef struct {
    const char *cmd;     // "sample", "encoder train": messages start "repae CMD: "
    const char *usage;   // printed by --help (stdout) and after a usage error (stderr); may be NULL
    const ArgOpt *opts;  // ends with {NULL}; NULL: no options
    int text_after;      // > 0: after this many positionals every argument is text (`note`'s words)
} ArgSpec;

typedef struct {
    const ArgSpec *spec;
    int argc;
    char **argv;
    int npos;   // positional arguments
    int status; // when args_parse returned -1: the command's exit status (0 after --help, 2)
} Args;

// Parses argv (the arguments after the command's name). 0 when the command should go on;
// -1 when it should return a->status now: --help was printed (0), or the line was wrong (2,
// the message and the usage on stderr).
int args_parse(Args *a, const ArgSpec *spec, int argc, char **argv);

// Positional argument i (0-based), or NULL past the last.
const char *args_pos(const Args *a, int i);
// How many times the option was given.
int args_has(const Args *a, const char *name);
// The last value of an option, or def when it was not given.
const char *args_str(const Args *a, const char *name, const char *def);
long args_long(const Args *a, const char *name, long def);
double args_num(const Args *a, const char *name, double def);
// The k-th value (0-based) of a repeated option, NULL past the last.
const char *args_nth(const Args *a, const char *name, int k);

// "repae CMD: MESSAGE" and the usage on stderr; returns 2, the exit status of a usage error.
int args_usage_error(const Args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// 1 if arg (one whole argument, as "--name") is an option of spec that takes a value in the
// next argument; main.c's --db scan.
int args_takes_value(const ArgSpec *spec, const char *arg);

// True if argv holds -h or --help.
int wants_help(int argc, char **argv);

#endif
