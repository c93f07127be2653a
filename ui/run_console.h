// run_console.h: a run's surroundings on the Run screen: its console lines (the warnings,
// notes and final error its trainer reported, from the store whichever process trained it)
// and the CPU share and memory of the process training it.
#ifndef REPAE_UI_RUN_CONSOLE_H
#define REPAE_UI_RUN_CONSOLE_H
#include "ui/backend.h"
#include "ui/cellbuf.h"

typedef struct {
    UiConsoleLine *lines;
    int n, cap;
    int nwarn, nerr;
    UiProc cur, prev;  // the last two readings of the process
    int have_cur, have_prev;
    double cpu_pct;    // between them, 100 = one core busy (-1 unknown)
    int scroll;        // lines scrolled back from the newest
} RunConsole;

// Fetches the lines after those held and reads the process (at most every poll). Returns 1
// when something shown changed.
int run_console_poll(RunConsole *c, UiBackend *m, const UiRun *r);
// "pid 4242  cpu 97%  mem 312 MB  9 threads" (or where the run is / why nothing is known);
// compact: "pid 4242 97% 312MB", for a narrow header.
void run_console_proc_text(const RunConsole *c, char *out, int n, int compact);
// The pane: the process line, then the console lines, newest at the bottom, wrapped to w.
void run_console_draw(RunConsole *c, CellBuf *b, int x, int y, int w, int h);
void run_console_free(RunConsole *c);

#endif
