// dashboard.c: the terminal checks, then the ncurses dashboard on a backend.
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <ncurses.h>
#include <term.h>
#include "app/dashboard.h"
#include "ui/app.h"
#include "base/util.h"

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

int dashboard_check_terminal(void) {
    char err[ERRLEN];
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        fprintf(stderr, "repae: the dashboard needs a terminal; for scripts use `repae runs`, `repae show RUN`\n");
        return 2;
    }
    if (terminal_unusable(err)) { fprintf(stderr, "repae: %s\n", err); return 2; }
    return 0;
}

int dashboard_run(UiBackend *b) {
    int rc = app_run(b, NULL);
    b->ops->close(b);
    return rc;
}
