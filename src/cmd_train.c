// cmd_train.c: `repae train`, `repae resume`, `repae bench`. (placeholder until the training core lands)
#include <stdio.h>
#include "cli.h"
int cmd_train(const Globals *g, int argc, char **argv) { (void)g; (void)argc; (void)argv; fprintf(stderr, "repae train: not built yet\n"); return 2; }
int cmd_resume(const Globals *g, int argc, char **argv) { (void)g; (void)argc; (void)argv; fprintf(stderr, "repae resume: not built yet\n"); return 2; }
int cmd_bench(const Globals *g, int argc, char **argv) { (void)g; (void)argc; (void)argv; fprintf(stderr, "repae bench: not built yet\n"); return 2; }
