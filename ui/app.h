// app.h: the dashboard's frame: a stack of screens (one small vtable each), key tables, a
// status line of keys, a help overlay, prompts and confirmations on the bottom line, and a
// main loop that polls input without blocking and redraws at most about 10 times a second.
//
// Screens draw into a CellBuf the size of the terminal minus the status line; the app blits
// it into the main window, the status line into its own window, the help overlay into a third,
// wnoutrefresh on each and one doupdate; then writes image overlays (sixel, truecolor).
#ifndef REPAE_UI_APP_H
#define REPAE_UI_APP_H
#include <stdint.h>
#include "ui/cellbuf.h"
#include "ui/image.h"
#include "ui/backend.h"

// Key handler result flags.
enum { UI_HANDLED = 1, UI_REDRAW = 2, UI_QUIT = 4 };

// Special key codes (ncurses KEY_* values are passed through unchanged; these are for the
// ones the app itself synthesises or tests use).
#define UI_KEY_ESC 27
#define UI_KEY_ENTER 10

typedef struct {
    int key;            // a character or an ncurses KEY_* code
    int action;         // screen-defined action id (> 0)
    const char *label;  // in the status line ("sort"); NULL: help overlay only
    const char *help;   // in the help overlay
} KeyBinding;

// The action bound to key in a table ending with {0}, or 0.
int keytable_lookup(const KeyBinding *t, int key);
// A key as the user types it: "q", "enter", "space", "up", "^L".
const char *ui_key_name(int key, char *buf);
// The status line for a table: "key label" pairs separated by two spaces, cut to width
// without splitting a pair. Returns the number of columns written to out.
int keytable_status(const KeyBinding *t, char *out, int width);

typedef struct App App;
typedef struct Screen Screen;

typedef struct {
    const char *name;              // title bar
    const KeyBinding *keys;
    void (*draw)(Screen *s, App *a, CellBuf *b);
    int (*action)(Screen *s, App *a, int action, int key); // a bound key: UI_* flags
    int (*key)(Screen *s, App *a, int key);                // unbound keys (may be NULL)
    int (*tick)(Screen *s, App *a);                        // polls data: UI_REDRAW if changed
    void (*free)(Screen *s);
} ScreenVt;

struct Screen {
    const ScreenVt *vt;
};

// Colour roles: palette indexes that also read in 8 colours.
enum { C_RED = 1, C_GREEN = 2, C_YELLOW = 3, C_BLUE = 4, C_MAGENTA = 5, C_CYAN = 6, C_WHITE = 7 };
// A colour per run (by id) among those visible on dark and light backgrounds; runs whose ids
// differ by 6 share it. Screens that show several runs at once use app_run_color.
int ui_run_color(int64_t run);
// Run colours that never collide: a marked run claims the first free colour of a palette of
// 8 (6 in 8-colour terminals, which have no more) and keeps it until it is released, so
// marking or unmarking other runs does not recolour it. app_run_color is the claimed colour,
// or ui_run_color for a run that has none.
int app_claim_color(App *a, int64_t run);
void app_release_color(App *a, int64_t run);
void app_keep_colors(App *a, const int64_t *runs, int n); // releases every colour of a run not in runs
int app_run_color(App *a, int64_t run);

// The terminal's background: 1 light, 0 dark, -1 unknown. From $REPAE_THEME (light|dark), else
// the terminal's answer to OSC 11, else $COLORFGBG. In a light theme yellow and white text on
// the default background are drawn darker (they would vanish on white).
int app_theme(App *a);
void app_set_theme(App *a, int theme);
// Marks row y (w cells from x) as the selection: a grey bar chosen for the background when it
// is known (256 colours), else reverse video, which reads on any background. The row's text
// takes the bar's own foreground (a cyan status read badly on either); a progress bar's
// block characters keep their colour.
void app_select_row(App *a, CellBuf *b, int x, int y, int w);
// The colour of a status word.
int ui_status_color(const char *status);

UiBackend *app_model(App *a);
ImageOverlays *app_overlays(App *a);
ImageMode app_image_mode(App *a);
int app_colors(App *a); // 0 (NO_COLOR or monochrome), 8 or 256

void app_push(App *a, Screen *s);   // takes ownership
void app_pop(App *a);
void app_dirty(App *a);             // redraw at the next chance
// The pinned baseline run (0: none): drawn faint in every chart of the Run and Compare screens
// and kept across screens; remembered per store ("baseline" pref).
int64_t app_baseline(App *a);
void app_set_baseline(App *a, int64_t run);
// Asks the Runs screen to select run id (a launch from the Launch screen); app_take_focus
// returns it once (0 if none).
void app_focus_run(App *a, int64_t id);
int64_t app_take_focus(App *a);
// A message on the status line for a few seconds (errors stay until the next key).
void app_message(App *a, int is_error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

// Line input on the bottom line; done(s, a, text) runs on enter, not on Esc.
typedef void (*PromptDone)(Screen *s, App *a, const char *text);
void app_prompt(App *a, const char *label, const char *initial, PromptDone done);
// A prompt that reacts as you type: change(s, a, text, hint, n) runs on opening and after
// every edit (a filter applied at once, a name checked against the runs) and may write a
// short hint (n bytes) shown after the text (in red when it starts with '!'); Esc runs it once more with the initial text, so
// whatever it applied is undone.
typedef void (*PromptChange)(Screen *s, App *a, const char *text, char *hint, int n);
void app_prompt_live(App *a, const char *label, const char *initial, PromptDone done, PromptChange change);
// y/n question on the bottom line; yes(s, a) runs on y.
typedef void (*ConfirmYes)(Screen *s, App *a);
void app_confirm(App *a, const char *question, ConfirmYes yes);

// Runs the dashboard until quit. Probes the terminal, initialises ncurses, restores it.
int app_run(UiBackend *m, Screen *home);

// The home screen and the others (scr_*.c).
Screen *screen_runs_new(App *a);
Screen *screen_launch_new(App *a);
Screen *screen_run_new(App *a, int64_t run);
Screen *screen_compare_new(App *a, const int64_t *runs, int n);

// The mouse, where the terminal reports it (off with REPAE_MOUSE=0): screens get KEY_MOUSE as
// a key and read the event here: 1 and the cell and what happened, or 0 if there is none.
enum { UI_MOUSE_CLICK = 1, UI_MOUSE_WHEEL_UP, UI_MOUSE_WHEEL_DOWN };
int app_mouse(App *a, int *x, int *y, int *button);
// For tests (and the input loop): a mouse event at cell (x, y), handled as KEY_MOUSE.
int app_feed_mouse(App *a, int x, int y, int button);

// For tests: feeds key and draws one frame into b (w x h, status line included) with no
// terminal. app_headless_new makes an App with no ncurses.
App *app_headless_new(UiBackend *m);
void app_headless_free(App *a);
int app_feed_key(App *a, int key); // UI_* flags of the handling
void app_render(App *a, CellBuf *b);
void app_tick(App *a);
int app_depth(App *a);
int app_quitting(App *a);

#endif
