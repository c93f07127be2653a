// dashboard.c: `repae` with no command: the ncurses dashboard on the run store.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <ncurses.h>
#include <term.h>
#include "app.h"
#include "cli.h"
#include "util.h"

// ncurses' initscr exits on an unknown TERM with a bare "Error opening terminal", and on a
// terminal that cannot address the cursor (TERM=dumb, emacs shell buffers) it starts and draws
// garbage. Check first, and say what to do.
static int terminal_unusable(char *err) {
    const char *term = getenv("TERM");
    const char *hint = "set TERM to your terminal's type (e.g. TERM=xterm-256color), or for scripts use `repae runs`";
    if (!term || !*term) return seterr(err, "TERM is not set, so the dashboard cannot drive this terminal; %s", hint);
    int e = 0;
    if (setupterm(NULL, STDOUT_FILENO, &e) != OK) {
        if (e == 0) return seterr(err, "TERM=%s is a terminal type this system does not know (no terminfo entry); %s", term, hint);
        return seterr(err, "cannot read the terminfo database for TERM=%s; %s", term, hint);
    }
    const char *cup = tigetstr("cup");
    int ok = cup && cup != (char *)-1 && !tigetflag("hc");
    del_curterm(cur_term);
    if (!ok) return seterr(err, "TERM=%s cannot move the cursor, and the dashboard needs a full-screen terminal; %s", term, hint);
    return 0;
}

int cmd_dashboard(const Globals *g, int argc, char **argv) {
    if (wants_help(argc, argv)) {
        printf("usage: repae [--db PATH]\n\nThe dashboard: runs (live), launch, curves, samples, compare.\n"
               "Press ? inside for the keys. NO_COLOR=1 disables colour; REPAE_IMAGES=sixel|truecolor|256|8|none\n"
               "forces how sample images are drawn.\n");
        return 0;
    }
    char err[ERRLEN];
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        fprintf(stderr, "repae: the dashboard needs a terminal; for scripts use `repae runs`, `repae show RUN`\n");
        return 2;
    }
    if (terminal_unusable(err)) { fprintf(stderr, "repae: %s\n", err); return 2; }
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
