// app_priv.h: the App structure, shared by the files of the dashboard's frame (app.c, and
// app_theme.c for colours and the background) and by nothing else.
#ifndef REPAE_UI_APP_PRIV_H
#define REPAE_UI_APP_PRIV_H
#ifndef _XOPEN_SOURCE_EXTENDED
#define _XOPEN_SOURCE_EXTENDED 1
#endif
#include <ncurses.h>
#include "ui/app.h"

#define MAXSTACK 8
#define NRUNCOLORS 8
#define MIN_W 80
#define MIN_H 24
#define FRAME_SECONDS 0.1  // at most ~10 redraws a second
#define TICK_SECONDS 0.25  // how often screens poll for new data

struct App {
    UiBackend *model;
    Screen *stack[MAXSTACK];
    int depth;
    int quit, dirty, help, full_repaint;
    int colors;         // 0, 8 or 256
    int headless;
    ImageOverlays *ov;
    ImageMode imode;
    TermCaps caps;
    char msg[1024];
    int msg_error;
    char starting[300]; // runs launched on several processes still starting, "" if none
    char stale[512];    // the model's lasting warning (store file deleted or replaced), "" if none
    double msg_until;
    // bottom-line prompt / confirmation
    int prompt;         // 0 none, 1 line input, 2 y/n
    char plabel[128], ptext[256];
    int plen;
    PromptDone pdone;
    PromptChange pchange; // live prompts only (NULL otherwise)
    char pinit[256];      // the text the prompt opened with (Esc gives it back to pchange)
    char phint[160];      // pchange's hint for the text so far
    ConfirmYes pyes;
    Screen *powner;
    WINDOW *wmain, *wstatus, *whelp;
    CellBuf bmain, bstatus, bhelp;
    short cmap[256];    // colour index -> what the terminal has (8-colour fold)
    int64_t focus;      // run the Runs screen should select next
    int64_t baseline;   // the pinned baseline run, 0 if none
    int mouse_x, mouse_y, mouse_button; // the mouse event being handled (button 0: none)
    int baseline_read;  // the pref was read
    int theme;          // 1 light background, 0 dark, -1 unknown
    int help_top;       // first row of the help overlay's scrolling part
    int64_t color_run[NRUNCOLORS]; // the run holding each run colour (0: free)
};

// app_theme.c: in the finished frame, yellow and white text made readable on a light background.
void app_fold_theme(const App *a, CellBuf *b);

// The help overlay of the top screen into b (resized to the box), and where the box goes on
// an sw x sh screen (app_help.c).
void app_draw_help(App *a, CellBuf *b, int sw, int sh, int *ox, int *oy);

#endif
