// test_ui_app.c: the dashboard frame without a terminal: key tables, the status line, and
// the screens driven by keys on generated runs (model_fake), checked on the rendered cells.
#include <locale.h>
#define _XOPEN_SOURCE_EXTENDED 1
#include <ncurses.h>
#include "test.h"
#include "ui/app.h"
#include "ui/app_priv.h"
#include "fake_backend.h"
#include "fake_app.h"

enum { X_ONE = 1, X_TWO };
static const KeyBinding table[] = {{'a', X_ONE, "alpha", "first"}, {KEY_UP, X_TWO, NULL, "hidden"},
                                   {'b', X_TWO, "bravo", "second"}, {' ', X_ONE, "mark", "space"}, {0, 0, NULL, NULL}};

TEST(key_table) {
    CHECK(keytable_lookup(table, 'a') == X_ONE, "a");
    CHECK(keytable_lookup(table, KEY_UP) == X_TWO, "up");
    CHECK(keytable_lookup(table, 'z') == 0, "unbound key found");
    char out[128];
    int n = keytable_status(table, out, 80);
    CHECK(!strcmp(out, "a alpha  b bravo  space mark") && n == (int)strlen(out), "status line '%s'", out);
    n = keytable_status(table, out, 17);
    CHECK(!strcmp(out, "a alpha  b bravo"), "cut status line '%s' (a pair must not be split)", out);
    char kb[16];
    CHECK(!strcmp(ui_key_name(10, kb), "enter") && !strcmp(ui_key_name(12, kb), "^L") && !strcmp(ui_key_name('x', kb), "x"), "key names");
}

// Without 256 colours the selected row is reverse video; a progress bar's coloured full blocks
// must not be reversed with it (they then drew in the background colour: an empty bar on the
// selected row of the Runs list in a light 8-colour xterm), while the text around them is.
TEST(selected_row_keeps_progress_blocks) {
    App *a = fake_app(1);
    a->colors = 8; // an 8-colour terminal with a light background
    a->theme = 1;
    CellBuf b;
    cb_init(&b, 4, 1);
    cb_put(&b, 0, 0, 0x2588, C_CYAN, 0);
    cb_put(&b, 1, 0, 'x', CB_DEFAULT, 0);
    app_select_row(a, &b, 0, 0, 4);
    CHECK(!(b.c[0].attr & CB_REVERSE) && b.c[0].fg == C_CYAN, "the full block was reversed (attr %d)", b.c[0].attr);
    CHECK(b.c[1].attr & CB_REVERSE, "the row's text is not reversed");
    cb_free(&b);
    free_app(a);
}

TEST(runs_screen_lists_and_filters) {
    App *a = fake_app(6);
    const char *s = screen_text(a, 100, 30);
    CHECK(strstr(s, "Runs") && strstr(s, "base-lr3e-4-1") && strstr(s, "repa-lr1e-4-6"), "runs missing:\n%s", s);
    CHECK(strstr(s, "recon") && strstr(s, "diff") && strstr(s, "? help"), "header or status line missing:\n%s", s);
    app_feed_key(a, '/');
    for (const char *p = "repa"; *p; p++) app_feed_key(a, *p);
    s = screen_text(a, 100, 30);
    CHECK(strstr(s, "filter: repa"), "prompt not shown:\n%s", s);
    app_feed_key(a, 10);
    s = screen_text(a, 100, 30);
    CHECK(strstr(s, "repa-lr1e-4-6") && !strstr(s, "base-lr3e-4-1"), "filter not applied:\n%s", s);
    app_feed_key(a, UI_KEY_ESC); // clears the filter, does not quit
    s = screen_text(a, 100, 30);
    CHECK(strstr(s, "base-lr3e-4-1") && !app_quitting(a), "Esc should clear the filter:\n%s", s);
    free_app(a);
}

TEST(help_overlay_and_too_small) {
    App *a = fake_app(3);
    app_feed_key(a, '?');
    const char *s = screen_text(a, 100, 30);
    CHECK(strstr(s, "Help: Runs") && strstr(s, "compare the marked runs"), "no help:\n%s", s);
    app_feed_key(a, 'x'); // any key closes it, and does nothing else
    s = screen_text(a, 100, 30);
    CHECK(!strstr(s, "Help: Runs") && !strstr(s, "asked"), "help did not close cleanly:\n%s", s);
    app_feed_key(a, KEY_RESIZE);
    s = screen_text(a, 60, 20);
    CHECK(strstr(s, "terminal too small (60x20): need 80x24"), "no too-small message:\n%s", s);
    s = screen_text(a, 80, 24);
    CHECK(strstr(s, "base-lr3e-4-1") && !strstr(s, "too small"), "80x24 must work:\n%s", s);
    free_app(a);
}

TEST(open_run_compare_and_back) {
    App *a = fake_app(4);
    app_feed_key(a, 10);
    CHECK(app_depth(a) == 2, "enter did not open the run");
    const char *s = screen_text(a, 100, 30);
    CHECK(strstr(s, "Run") && strstr(s, "recon") && strstr(s, "total") && strstr(s, "samples") && strstr(s, "it/s"),
          "run screen:\n%s", s);
    CHECK(strstr(s, "\xe2\x96\x80"), "no half-block sample image:\n%s", s);
    app_feed_key(a, 'c');
    s = screen_text(a, 100, 30);
    CHECK(strstr(s, "config") && strstr(s, "\"train\""), "config pane:\n%s", s);
    app_feed_key(a, 'q');
    CHECK(app_depth(a) == 1 && !app_quitting(a), "q should go back, not quit");
    app_feed_key(a, ' ');
    app_feed_key(a, ' ');
    app_feed_key(a, 'c');
    CHECK(app_depth(a) == 2, "c did not open Compare");
    s = screen_text(a, 100, 30);
    CHECK(strstr(s, "Compare") && strstr(s, "\xe2\x97\x8f repa-lr3e-4-4") && strstr(s, "\xe2\x97\x8f base-lr1e-4-3"), "legend:\n%s", s);
    app_feed_key(a, '2');
    s = screen_text(a, 100, 30);
    CHECK(strstr(s, "final / best") && strstr(s, "align.kind"), "table view:\n%s", s);
    app_feed_key(a, '3');
    s = screen_text(a, 100, 30);
    CHECK(strstr(s, "samples at step"), "samples view:\n%s", s);
    app_feed_key(a, UI_KEY_ESC);
    app_feed_key(a, 'q');
    CHECK(app_quitting(a), "q on Runs should quit");
    free_app(a);
}

TEST(delete_asks_first) {
    App *a = fake_app(3);
    const char *s = screen_text(a, 100, 30);
    CHECK(strstr(s, "done") && strstr(s, "base-lr1e-4-3"), "setup:\n%s", s);
    app_feed_key(a, 'd'); // the newest run (3) is done
    s = screen_text(a, 100, 30);
    CHECK(strstr(s, "delete run base-lr1e-4-3") && strstr(s, "[y/N]"), "no confirmation:\n%s", s);
    app_feed_key(a, 'n');
    s = screen_text(a, 100, 30);
    CHECK(strstr(s, "base-lr1e-4-3"), "deleted without a yes");
    app_feed_key(a, 'd');
    app_feed_key(a, 'y');
    s = screen_text(a, 100, 30);
    CHECK(!strstr(s, "  base-lr1e-4-3 ") && strstr(s, "deleted base-lr1e-4-3"), "not deleted:\n%s", s);
    free_app(a);
}

int main(void) {
    setlocale(LC_ALL, "C.UTF-8");
    RUN(key_table);
    RUN(selected_row_keeps_progress_blocks);
    RUN(runs_screen_lists_and_filters);
    RUN(help_overlay_and_too_small);
    RUN(open_run_compare_and_back);
    RUN(delete_asks_first);
    return test_summary();
}
