// dashboard.c: the ncurses dashboard. (placeholder until the dashboard lands)
#include <stdio.h>
#include "cli.h"
int cmd_dashboard(const Globals *g, int argc, char **argv) { (void)argc; (void)argv;
    fprintf(stderr, "repae: the dashboard is not built yet (store: %s); see `repae --help`\n", g->db); return 2; }
