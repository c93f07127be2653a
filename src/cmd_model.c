// cmd_model.c: `repae sample`, `repae reconstruct`. (placeholder until the training core lands)
#include <stdio.h>
#include "cli.h"
int cmd_sample(const Globals *g, int argc, char **argv) { (void)g; (void)argc; (void)argv; fprintf(stderr, "repae sample: not built yet\n"); return 2; }
int cmd_reconstruct(const Globals *g, int argc, char **argv) { (void)g; (void)argc; (void)argv; fprintf(stderr, "repae reconstruct: not built yet\n"); return 2; }
