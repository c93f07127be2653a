// test_ui_defects.c: the on-screen defects of issue 13, each checked on the rendered cells of
// the dashboard without a terminal (generated runs, tests/fake_backend.c): the Runs list's
// position counter, the sort arrow, the footer and the help overlay at 80x24, the selection
// bar and text colours on light and dark backgrounds, distinct run colours in Compare, and
// Compare's sample slider over every run's steps.
#include <locale.h>
#define _XOPEN_SOURCE_EXTENDED 1
#include <ncurses.h>
#include "test.h"
#include "ui/app.h"
#include "fake_backend.h"

typedef struct {
    CellBuf b;
    char text[64 * 1024];
} Shot;

// Renders a w x h frame into sh (cells and text, one line per row).
static const char *shoot(App *a, Shot *sh, int w, int h) {
    cb_resize(&sh->b, w, h);
    app_render(a, &sh->b);
    char row[4096];
    sh->text[0] = 0;
    for (int y = 0; y < h; y++) { cb_row_text(&sh->b, y, row); strcat(sh->text, row); strcat(sh->text, "\n"); }
    return sh->text;
}

static const char *row_of(Shot *sh, int y) {
    static char row[4096];
    cb_row_text(&sh->b, y, row);
    return row;
}

static App *fake_app(int nruns) {
    App *a = app_headless_new(fake_backend_new(nruns, 2000));
    app_push(a, screen_runs_new(a));
    return a;
}

static void free_app(App *a, Shot *sh) {
    UiBackend *m = app_model(a);
    app_headless_free(a);
    m->ops->close(m);
    cb_free(&sh->b);
}

static int count(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

// M2: "1/40" was printed over the last visible row (its elapsed time and tags).
TEST(runs_counter_leaves_rows_alone) {
    App *a = fake_app(40);
    Shot sh = {0};
    app_feed_key(a, 'G');
    shoot(a, &sh, 120, 30);
    // rows: 0 title, 1 summary, 2 header, 3.. runs; the main area is 29 rows, the last of them
    // the selected run's line, so the runs end at row 27.
    char last[4096];
    snprintf(last, sizeof last, "%s", row_of(&sh, 27));
    CHECK(!strstr(last, "/40"), "the counter is over the last row: '%s'", last);
    CHECK(strstr(last, "base-lr3e-4-1"), "the last row is not the last run: '%s'", last);
    CHECK(strstr(row_of(&sh, 1), "40/40"), "no position counter on the summary row: '%s'", row_of(&sh, 1));
    free_app(a, &sh);
}

// L2: the arrow was glued to the title ("namev").
TEST(sort_arrow_apart_from_title) {
    App *a = fake_app(5);
    Shot sh = {0};
    app_feed_key(a, 's'); // by name
    shoot(a, &sh, 120, 30);
    const char *hdr = row_of(&sh, 2);
    CHECK(!strstr(hdr, "namev") && strstr(hdr, "name \xe2\x96\xbc"), "header: '%s'", hdr);
    app_feed_key(a, 'S');
    shoot(a, &sh, 120, 30);
    hdr = row_of(&sh, 2);
    CHECK(strstr(hdr, "name \xe2\x96\xb2"), "reversed header: '%s'", hdr);
    free_app(a, &sh);
}

// L1: at 80 columns the footer ended at "d delete", with no q; now q and ? always show.
TEST(footer_shows_q_and_help_at_80) {
    App *a = fake_app(5);
    Shot sh = {0};
    shoot(a, &sh, 80, 24);
    const char *st = row_of(&sh, 23);
    CHECK(strstr(st, "q quit") && strstr(st, "? help") && strstr(st, "enter open"), "Runs footer: '%s'", st);
    CHECK(strstr(st, "\xe2\x80\xa6"), "no ellipsis for the keys that did not fit: '%s'", st);
    app_feed_key(a, 10);
    shoot(a, &sh, 80, 24);
    st = row_of(&sh, 23);
    CHECK(strstr(st, "q back") && strstr(st, "? help"), "Run footer: '%s'", st);
    free_app(a, &sh);
}

// M6: at 80x24 the help box was cut before the global keys, listed "enter" three times and
// could not scroll.
TEST(help_fits_80x24_and_scrolls) {
    App *a = fake_app(5);
    Shot sh = {0};
    app_feed_key(a, '?');
    const char *s = shoot(a, &sh, 80, 24);
    CHECK(strstr(s, "Help: Runs") && strstr(s, "everywhere"), "no global section:\n%s", s);
    CHECK(strstr(s, " q ") && strstr(s, "esc") && strstr(s, "^L") && strstr(s, "repaint"), "q, esc or ^L missing:\n%s", s);
    CHECK(count(s, "\xe2\x94\x82 enter") == 1, "'enter' listed %d times:\n%s", count(s, "\xe2\x94\x82 enter"), s);
    CHECK(strstr(s, "j/k scroll"), "no scroll hint:\n%s", s);
    CHECK(!strstr(s, "last run"), "the last entry should need scrolling at 80x24:\n%s", s);
    for (int i = 0; i < 30; i++) app_feed_key(a, 'j');
    s = shoot(a, &sh, 80, 24);
    CHECK(strstr(s, "Help: Runs") && strstr(s, "last run") && strstr(s, "^L"), "scrolled help:\n%s", s);
    CHECK(!strstr(s, "open the run"), "the first entry should have scrolled away:\n%s", s);
    app_feed_key(a, 'x'); // any other key closes it
    s = shoot(a, &sh, 80, 24);
    CHECK(!strstr(s, "Help: Runs"), "help did not close:\n%s", s);
    free_app(a, &sh);
}

// The help overlay's entries of a frame: the text between the box's sides, trimmed.
static int help_entries(const char *s, char out[][256], int max) {
    int n = 0;
    const char *bar = "\xe2\x94\x82 "; // "│ "
    for (const char *line = s; *line && n < max;) {
        int len = (int)strcspn(line, "\n");
        const char *p = strstr(line, bar);
        if (p && p < line + len) {
            p += 4;
            const char *e = line + len;
            const char *q = NULL;
            for (const char *t = p; t + 3 <= e; t++) if (!memcmp(t, "\xe2\x94\x82", 3)) q = t; // the right side
            if (q) {
                while (q > p && q[-1] == ' ') q--;
                if (q > p && p[0] != ' ') snprintf(out[n++], 256, "%.*s", (int)(q - p), p);
            }
        }
        line += len + (line[len] == '\n');
    }
    return n;
}

// Help entries were cut silently at 80 and 110 columns (the box was 76 wide at most): from 104
// columns each is whole; narrower, one cut short ends in an ellipsis. The entries of a 200x60
// frame are the truth.
TEST(help_entries_whole_or_marked) {
    App *a = fake_app(5);
    Shot sh = {0};
    app_feed_key(a, '?');
    static char all[64][256], got[64][256];
    int n = help_entries(shoot(a, &sh, 200, 60), all, 64);
    CHECK(n >= 15, "fixture: %d help entries at 200x60", n);
    static const int widths[] = {110, 80};
    for (int k = 0; k < 2; k++) {
        int cut = 0, seen = 0;
        for (int top = 0; top < 3; top++) { // the first screenful and two scrolled down
            const char *s = shoot(a, &sh, widths[k], 24);
            int m = help_entries(s, got, 64);
            for (int i = 0; i < m; i++) {
                int j = 0;
                while (j < n && strncmp(all[j], got[i], 9)) j++; // by the key column
                if (j == n) continue;
                seen++;
                if (!strcmp(all[j], got[i])) continue;
                const char *e = strstr(got[i], "…");
                CHECK(widths[k] < 104 && e && !strncmp(all[j], got[i], (size_t)(e - got[i])),
                      "at %d columns '%s' is shown as '%s'", widths[k], all[j], got[i]);
                cut++;
            }
            for (int i = 0; i < 10; i++) app_feed_key(a, 'j');
        }
        for (int i = 0; i < 30; i++) app_feed_key(a, 'k');
        CHECK(seen >= 10, "only %d entries found at %d columns", seen, widths[k]);
        if (widths[k] == 80) CHECK(cut, "fixture: nothing is cut at 80 columns");
    }
    free_app(a, &sh);
}

// H2: the selected row was background 236 with the default foreground: a black bar on a
// light terminal. Light: a light grey bar; dark: 236 as before; unknown: reverse video.
TEST(selection_reads_on_light_and_dark) {
    static const struct { int theme, bg, reverse; } want[] = {{1, 254, 0}, {0, 236, 0}, {-1, CB_DEFAULT, 1}};
    for (int t = 0; t < 3; t++) {
        App *a = fake_app(5);
        Shot sh = {0};
        app_set_theme(a, want[t].theme);
        shoot(a, &sh, 120, 30);
        const Cell *c = cb_at(&sh.b, 2, 3); // the selected run's name
        CHECK(c && c->ch != ' ', "no name at the selected row");
        CHECK(c->bg == want[t].bg && !!(c->attr & CB_REVERSE) == want[t].reverse,
              "theme %d: selected name has bg %d attr %d, want bg %d%s", want[t].theme, c->bg, c->attr, want[t].bg,
              want[t].reverse ? " reversed" : "");
        app_feed_key(a, 'n'); // the Launch screen's config list
        shoot(a, &sh, 120, 30);
        int found = 0;
        for (int y = 2; y < 20 && !found; y++) {
            const Cell *l = cb_at(&sh.b, 1, y);
            if (l->ch != ' ' && (l->attr & CB_BOLD)) {
                found = 1;
                CHECK(l->bg == want[t].bg && !!(l->attr & CB_REVERSE) == want[t].reverse,
                      "theme %d: Launch selection has bg %d attr %d", want[t].theme, l->bg, l->attr);
            }
        }
        CHECK(found || !strstr(sh.text, ".json"), "no selected config:\n%s", sh.text);
        free_app(a, &sh);
    }
}

// H2: on a light background the Run screen drew the total curve white and kl yellow, which
// vanish on white. No text or dot there may be white or the 8-colour yellow on the default
// background.
TEST(light_theme_has_no_white_or_yellow_text) {
    App *a = fake_app(5);
    Shot sh = {0};
    app_set_theme(a, 1);
    app_feed_key(a, 10);
    shoot(a, &sh, 120, 40);
    int bad = 0, bx = -1, by = -1;
    for (int y = 1; y < 40; y++)
        for (int x = 0; x < 120; x++) {
            const Cell *c = cb_at(&sh.b, x, y);
            if (c->ch != ' ' && c->bg < 0 && (c->fg == C_WHITE || c->fg == 15 || c->fg == C_YELLOW || c->fg == 11)) {
                if (!bad) { bx = x; by = y; }
                bad++;
            }
        }
    CHECK(!bad, "%d white or yellow cells on the light background, the first at %d,%d:\n%s", bad, bx, by, sh.text);
    free_app(a, &sh);
}

// The colour of the legend dot before the name of each run in Compare's row 1.
static int legend_colors(Shot *sh, int *col, int max) {
    int n = 0;
    for (int x = 0; x < sh->b.w && n < max; x++) {
        const Cell *c = cb_at(&sh->b, x, 1);
        if (c->ch == 0x25CF) col[n++] = c->fg;
    }
    return n;
}

// H4: colour was id mod 6, so runs 2 and 8 were both magenta. Marked runs get distinct
// colours, and keep them when other runs are unmarked.
TEST(compare_colours_distinct_and_stable) {
    App *a = fake_app(10); // newest first: ids 10, 9, ..., 1
    Shot sh = {0};
    app_feed_key(a, 'j');
    app_feed_key(a, 'j');
    app_feed_key(a, ' '); // id 8 (the cursor moves on to id 7)
    app_feed_key(a, ' '); // id 7
    for (int i = 0; i < 4; i++) app_feed_key(a, 'j');
    app_feed_key(a, ' '); // id 2
    app_feed_key(a, 'c');
    shoot(a, &sh, 120, 40);
    int col[8];
    int n = legend_colors(&sh, col, 8);
    CHECK(n == 3, "%d legend dots:\n%s", n, sh.text);
    CHECK(strstr(row_of(&sh, 1), "repa-lr1e-4-8") && strstr(row_of(&sh, 1), "repa-lr1e-4-2"), "legend: %s", row_of(&sh, 1));
    CHECK(col[0] != col[1] && col[0] != col[2] && col[1] != col[2], "legend colours %d %d %d collide", col[0], col[1], col[2]);
    int c2 = col[2];
    app_feed_key(a, 'q');
    app_feed_key(a, 'g');
    app_feed_key(a, 'j');
    app_feed_key(a, 'j');
    app_feed_key(a, ' '); // unmark id 8
    app_feed_key(a, 'c');
    shoot(a, &sh, 120, 40);
    n = legend_colors(&sh, col, 8);
    CHECK(n == 2 && strstr(row_of(&sh, 1), "repa-lr1e-4-2") && !strstr(row_of(&sh, 1), "lr1e-4-8"), "legend: %s", row_of(&sh, 1));
    CHECK(col[1] == c2, "run 2 changed colour (%d -> %d) when run 8 was unmarked", c2, col[1]);
    free_app(a, &sh);
}

// M1: the slider followed the first marked run's sample steps only; now it spans every run's,
// and "latest" is the latest of any run.
TEST(compare_slider_spans_all_runs) {
    App *a = fake_app(4); // ids 4 (stopped at step 1111: samples 0..1000) .. 1 (done, 2000: 0..2000)
    Shot sh = {0};
    app_feed_key(a, ' '); // id 4 first
    app_feed_key(a, 'G');
    app_feed_key(a, ' '); // id 1
    app_feed_key(a, 'c');
    app_feed_key(a, '3');
    const char *s = shoot(a, &sh, 120, 40);
    CHECK(strstr(s, "samples at step 2000  (5/5, latest)"), "slider:\n%s", s);
    CHECK(strstr(s, "(step 1000)"), "the shorter run should say which sample it shows:\n%s", s);
    app_feed_key(a, '[');
    s = shoot(a, &sh, 120, 40);
    CHECK(strstr(s, "samples at step 1500  (4/5)"), "one step back:\n%s", s);
    free_app(a, &sh);
}

int main(void) {
    setlocale(LC_ALL, "C.UTF-8");
    RUN(runs_counter_leaves_rows_alone);
    RUN(sort_arrow_apart_from_title);
    RUN(footer_shows_q_and_help_at_80);
    RUN(help_fits_80x24_and_scrolls);
    RUN(help_entries_whole_or_marked);
    RUN(selection_reads_on_light_and_dark);
    RUN(light_theme_has_no_white_or_yellow_text);
    RUN(compare_colours_distinct_and_stable);
    RUN(compare_slider_spans_all_runs);
    return test_summary();
}
