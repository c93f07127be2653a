// cmd_dashboard.c: `repae` with no command: the ncurses dashboard on the run store.
#include <stdio.h>
#include "app/dashboard.h"
#include "app/store_backend.h"
#include "cli/cli.h"
#include "base/util.h"

int cmd_dashboard(const Globals *g, int argc, char **argv) {
    if (wants_help(argc, argv)) {
        printf("usage: repae [--db PATH]\n\nThe dashboard: runs (live), launch, curves, samples, compare.\n"
               "Press ? inside for the keys. NO_COLOR=1 disables colour; REPAE_IMAGES=sixel|truecolor|256|8|none\n"
               "forces how sample images are drawn.\n");
        return 0;
    }
    int rc = dashboard_check_terminal();
    if (rc) return rc;
    char err[ERRLEN];
    UiBackend *b = store_backend_open(g->db, err);
    if (!b) { fprintf(stderr, "repae: %s\n", err); return 1; }
    return dashboard_run(b);
}
