// test_ui_mouse.c: click to select, by scripted mouse events on generated runs: a click on a
// row of the Runs list selects that run (Enter then opens it), a click below the rows changes
// nothing, the wheel moves the selection; in Compare a click on a legend name or on a run's
// column of the table selects that run (B then pins the clicked one).
#define _XOPEN_SOURCE_EXTENDED 1
#include <ncurses.h>
#include "test.h"
#include "ui/app.h"
#include "fake_backend.h"
#include "fake_app.h"

static UiRun *list(App *a, int *n) {
    UiRun *r = NULL;
    char err[ERRLEN];
    app_model(a)->ops->list_runs(app_model(a), &r, n, err);
    return r;
}

// Row y of a frame.
static const char *row_of(const char *s, int y, char *out, size_t n) {
    for (; y > 0 && s; y--) { s = strchr(s, '\n'); if (s) s++; }
    const char *e = s ? strchr(s, '\n') : NULL;
    snprintf(out, n, "%.*s", s ? (int)(e ? e - s : (long)strlen(s)) : 0, s ? s : "");
    return out;
}

// The run of list r (n) whose name is on row y of the Runs screen (the longest match: names
// may contain each other).
static const UiRun *run_on_row(App *a, const UiRun *r, int n, int y) {
    char row[4096];
    row_of(screen_text(a, 120, 30), y, row, sizeof row);
    const UiRun *best = NULL;
    for (int i = 0; i < n; i++)
        if (strstr(row, r[i].name) && (!best || strlen(r[i].name) > strlen(best->name))) best = &r[i];
    return best;
}

// The name on the first line of the Run screen.
static int run_screen_shows(App *a, const char *name) {
    const char *s = screen_text(a, 120, 30);
    const char *l2 = strchr(s, '\n');
    return l2 && !strncmp(l2 + 2, name, strlen(name));
}

TEST(click_selects_a_row_of_the_runs_list) {
    App *a = fake_app(6);
    int n;
    UiRun *r = list(a, &n);
    // The list from y = 3, in the screen's own order.
    const UiRun *third = run_on_row(a, r, n, 3 + 2), *fourth = run_on_row(a, r, n, 3 + 3);
    CHECK(third && fourth, "rows 3 and 4 name no run:\n%s", screen_text(a, 120, 30));
    app_feed_mouse(a, 20, 3 + 2, UI_MOUSE_CLICK);
    app_feed_key(a, 10);
    CHECK(app_depth(a) == 2 && run_screen_shows(a, third->name), "a click on row 3 should select %s:\n%s", third->name,
          screen_text(a, 120, 30));
    app_feed_key(a, UI_KEY_ESC);
    screen_text(a, 120, 30);
    app_feed_mouse(a, 20, 3 + n + 3, UI_MOUSE_CLICK); // below the last run
    app_feed_key(a, 10);
    CHECK(run_screen_shows(a, third->name), "a click below the rows moved the selection:\n%s", screen_text(a, 120, 30));
    app_feed_key(a, UI_KEY_ESC);
    screen_text(a, 120, 30);
    app_feed_mouse(a, 20, 3, UI_MOUSE_CLICK);
    app_feed_mouse(a, 20, 10, UI_MOUSE_WHEEL_DOWN);
    app_feed_key(a, 10);
    CHECK(run_screen_shows(a, fourth->name), "the wheel should move the selection 3 rows down to %s:\n%s", fourth->name,
          screen_text(a, 120, 30));
    free(r);
    free_app(a);
}

TEST(click_selects_a_run_in_compare) {
    App *a = fake_app(6);
    int n;
    UiRun *all = list(a, &n);
    UiRun r[2];
    screen_text(a, 120, 30);
    const UiRun *r0 = run_on_row(a, all, n, 3), *r1 = run_on_row(a, all, n, 4);
    CHECK(r0 && r1, "no runs on rows 3 and 4");
    r[0] = *r0;
    r[1] = *r1;
    free(all);
    app_feed_key(a, ' '); // mark the first two (space moves on), then compare
    app_feed_key(a, ' ');
    app_feed_key(a, 'c');
    const char *s = screen_text(a, 140, 40);
    const char *row1 = strchr(s, '\n') + 1, *end = strchr(row1, '\n');
    // The legend: a click on each name selects it (B pins the selected run).
    for (int k = 0; k < 2; k++) {
        const char *p = strstr(row1, r[k].name);
        CHECK(p && p < end, "no %s in the legend:\n%s", r[k].name, s);
        int col = 0;
        for (const char *q = row1; q < p; q++) col += (*q & 0xC0) != 0x80; // cells: UTF-8 lead bytes
        app_feed_mouse(a, col + 1, 1, UI_MOUSE_CLICK);
        app_feed_key(a, 'B');
        CHECK(app_baseline(a) == r[k].id, "a click on %s in the legend pinned run %lld", r[k].name,
              (long long)app_baseline(a));
        app_feed_key(a, 'B'); // unpin
        s = screen_text(a, 140, 40);
        row1 = strchr(s, '\n') + 1;
        end = strchr(row1, '\n');
    }
    // The table: a click in a run's column.
    app_feed_key(a, '2');
    s = screen_text(a, 140, 40);
    int hit = -1;
    for (int k = 0; k < 2; k++) {
        // the name's occurrence below the legend: the table's header
        const char *p = strstr(s, r[k].name), *line = NULL;
        int col = 0, y = 0;
        for (; p; p = strstr(p + 1, r[k].name)) {
            line = p;
            while (line > s && line[-1] != '\n') line--;
            y = 0;
            for (const char *q = s; q < line; q++) y += *q == '\n';
            if (y >= 3) break;
        }
        CHECK(p, "no %s in the table:\n%s", r[k].name, s);
        for (const char *q = line; q < p; q++) col += (*q & 0xC0) != 0x80;
        app_feed_mouse(a, col + 1, y + 2, UI_MOUSE_CLICK); // a value below the header
        app_feed_key(a, 'B');
        hit = k;
        CHECK(app_baseline(a) == r[k].id, "a click in %s's column pinned %lld", r[k].name, (long long)app_baseline(a));
        app_feed_key(a, 'B');
        s = screen_text(a, 140, 40);
    }
    CHECK(hit == 1, "the table's header was not found:\n%s", s);
    free_app(a);
}

int main(void) {
    RUN(click_selects_a_row_of_the_runs_list);
    RUN(click_selects_a_run_in_compare);
    return test_summary();
}
