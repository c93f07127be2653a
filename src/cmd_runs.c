// cmd_runs.c: the run-management commands. (placeholder until the store lands)
#include <stdio.h>
#include "cli.h"
#define NOT_YET(fn, name) int fn(const Globals *g, int argc, char **argv) { (void)g; (void)argc; (void)argv; \
    fprintf(stderr, "repae " name ": not built yet\n"); return 2; }
NOT_YET(cmd_runs, "runs") NOT_YET(cmd_show, "show") NOT_YET(cmd_compare, "compare") NOT_YET(cmd_export, "export")
NOT_YET(cmd_rm, "rm") NOT_YET(cmd_tag, "tag") NOT_YET(cmd_note, "note")
