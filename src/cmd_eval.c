// cmd_eval.c: `repae eval`, `repae encoder train`, `repae evaluator train`. (placeholder until issue 6 lands)
#include <stdio.h>
#include "cli.h"
#define NOT_YET(fn, name) int fn(const Globals *g, int argc, char **argv) { (void)g; (void)argc; (void)argv; \
    fprintf(stderr, "repae " name ": not built yet\n"); return 2; }
NOT_YET(cmd_eval, "eval") NOT_YET(cmd_encoder, "encoder") NOT_YET(cmd_evaluator, "evaluator")
