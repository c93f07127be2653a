// args_pending.c: the option tables of the commands whose files do not parse with args.h yet
// (cmd_eval.c: eval, encoder train, evaluator train). main.c
// reads them to tell an option's value from a global --db, so each must list exactly the
// options its command accepts, with the same ranges. When a command switches to args_parse,
// its table moves into its own file (with the usage text) and leaves this one.
#include <stddef.h>
#include "cli/cli.h"

const ArgSpec eval_args = {
    .cmd = "eval",
    .opts = (const ArgOpt[]){ARG_OPT_INT("--n", 2, 10000000),
                     ARG_OPT_INT("--steps", 1, 10000),
                     ARG_OPT_INT("--seed", 0, 2147483647),
                     ARG_OPT_INT("--batch", 1, 4096),
                     ARG_OPT_NUM("--cfg", 0, 100),
                     ARG_OPT_STR("--evaluator"),
                     ARG_OPT_FLAG("--no-store"),
                     ARG_OPT_END},
};

// `repae encoder train` and `repae evaluator train` take the same options.
#define NET_TRAIN_OPTS                                                                              \
    (const ArgOpt[]) {                                                                              \
        ARG_OPT_STR("--dataset"), ARG_OPT_STR("--data-path"), ARG_OPT_STR("--config"),              \
            ARG_OPT_STR("--out"), ARG_OPT_INT("--steps", 1, 10000000), ARG_OPT_INT("--batch", 1, 4096), \
            ARG_OPT_INT("--seed", 0, 2147483647), ARG_OPT_INT("--image-size", 2, 4096),             \
            ARG_OPT_INT("--channels", 1, 3), ARG_OPT_NUM("--lr", 1e-8, 1.0), ARG_OPT_END            \
    }
const ArgSpec encoder_args = {.cmd = "encoder train", .opts = NET_TRAIN_OPTS};
const ArgSpec evaluator_args = {.cmd = "evaluator train", .opts = NET_TRAIN_OPTS};
