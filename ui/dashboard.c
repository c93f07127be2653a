// dashboard.c: `repae` with no command: the ncurses dashboard on the run store.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "app.h"
#include "cli.h"
#include "util.h"

int cmd_dashboard(const Globals *g, int argc, char **argv) {
    if (wants_help(argc, argv)) {
        printf("usage: repae [--db PATH]\n\nThe dashboard: runs (live), launch, curves, samples, compare.\n"
               "Press ? inside for the keys. NO_COLOR=1 disables colour; REPAE_IMAGES=sixel|truecolor|256|8|none\n"
               "forces how sample images are drawn.\n");
        return 0;
    }
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        fprintf(stderr, "repae: the dashboard needs a terminal; for scripts use `repae runs`, `repae show RUN`\n");
        return 2;
    }
    char err[ERRLEN];
    Model *m;
    const char *fake = getenv("REPAE_UI_FAKE"); // generated runs, for developing the screens
    if (fake && *fake) m = model_fake_new(atoi(fake), 20000);
    else if (!(m = model_store_open(g->db, err))) {
        fprintf(stderr, "repae: %s\n", err);
        return 1;
    }
    int rc = app_run(m, NULL);
    m->ops->close(m);
    return rc;
}
