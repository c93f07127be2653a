// dashboard.h: the dashboard on a backend, with the terminal checks that come first.
#ifndef REPAE_APP_DASHBOARD_H
#define REPAE_APP_DASHBOARD_H
#include "ui/backend.h"

// 0 when stdin/stdout are a terminal that ncurses can drive, else 2 with a message on stderr
// that says what to do.
int dashboard_check_terminal(void);
// Runs the dashboard on b until the user quits, then closes b. Returns the exit status.
int dashboard_run(UiBackend *b);

#endif
