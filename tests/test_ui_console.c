// test_ui_console.c: a run's surroundings on the Run screen, by scripted keys on generated runs:
// the console pane (o) with the lines the backend holds, the final error in it, scrolling back;
// the warnings count in the header while the pane shows something else; and the process line
// (where the run trains, its CPU share from two readings, memory, threads).
#include <unistd.h>
#define _XOPEN_SOURCE_EXTENDED 1
#include <ncurses.h>
#include "test.h"
#include "ui/app.h"
#include "fake_backend.h"
#include "fake_app.h"

// Opens the k-th run of the list (0: the newest) and returns it.
static UiRun open_row(App *a, int k) {
    UiRun *r = NULL, out;
    int n;
    char err[ERRLEN];
    app_model(a)->ops->list_runs(app_model(a), &r, &n, err);
    out = r[k];
    free(r);
    for (int i = 0; i < k; i++) app_feed_key(a, KEY_DOWN);
    app_feed_key(a, 10);
    return out;
}

TEST(console_pane_shows_the_runs_lines) {
    App *a = fake_app(6);
    UiRun u = open_row(a, 1); // run 5: failed, and its latents collapsed
    CHECK(u.id == 5 && u.error[0], "fixture: run %lld '%s'", (long long)u.id, u.error);
    const char *s = screen_text(a, 140, 40);
    CHECK(strstr(s, "2 warnings (o)"), "the header should count the console's warning and error:\n%s", s);
    CHECK(!strstr(s, "latent collapse:"), "the console is not shown before o:\n%s", s);
    app_feed_key(a, 'o');
    s = screen_text(a, 140, 40);
    CHECK(strstr(s, "─ console ─"), "no console pane:\n%s", s);
    CHECK(strstr(s, "latent collapse: latent_sstd"), "the collapse warning is missing:\n%s", s);
    CHECK(strstr(s, "error") && strstr(s, u.error), "the final error '%s' is missing:\n%s", u.error, s);
    CHECK(strstr(s, "checkpoint at step 500"), "notes missing:\n%s", s);
    CHECK(!strstr(s, "warnings (o)"), "the count goes while the console shows:\n%s", s);
    CHECK(strstr(s, "not training (failed)"), "the process line of a finished run:\n%s", s);
    // The error is the newest line: at the bottom, below the warning.
    const char *w = strstr(s, "latent collapse:"), *e = w ? strstr(w, u.error) : NULL;
    CHECK(w && e && e > w, "the lines are not oldest first");
    // Back one line: the error goes out of view, and the pane says how many are newer.
    app_feed_key(a, 'k');
    s = screen_text(a, 140, 40);
    CHECK(strstr(s, "1 newer (j)"), "scrolled back:\n%s", s);
    app_feed_key(a, 'j');
    s = screen_text(a, 140, 40);
    CHECK(!strstr(s, "newer (j)"), "j should come back to the newest:\n%s", s);
    app_feed_key(a, 'o');
    s = screen_text(a, 140, 40);
    CHECK(strstr(s, " samples ") && !strstr(s, "─ console ─"), "o again shows the samples:\n%s", s);
    free_app(a);
}

TEST(process_line_gives_cpu_share_and_memory) {
    App *a = fake_app(6);
    UiBackend *m = app_model(a);
    int64_t id;
    char err[ERRLEN];
    CHECK(m->ops->launch(m, "configs/tiny.json", "here", 0, NULL, &id, err) == 0, "%s", err);
    app_push(a, screen_run_new(a, id)); // trains in this process (the fake's 1.9 cores)
    const char *s = screen_text(a, 140, 40);
    char want[64];
    CHECK(strstr(s, "dashboard process (1 run)"), "the process is not named:\n%s", s);
    CHECK(strstr(s, "cpu -"), "one reading gives no share yet:\n%s", s);
    usleep(600000); // the screen polls every half second
    app_tick(a);
    s = screen_text(a, 140, 40);
    const char *p = strstr(s, "cpu ");
    CHECK(p && p[4] != '-', "no CPU share after two readings:\n%s", s);
    int pct = atoi(p + 4);
    CHECK(pct >= 150 && pct <= 230, "the fake process uses 1.9 cores, the screen says %d%%", pct);
    snprintf(want, sizeof want, "mem %d MB  5 threads", 312 + (int)id);
    CHECK(strstr(s, want), "want '%s':\n%s", want, s);
    free_app(a);
}

// Whether the words of msg appear in s in their order (a message wrapped over rows still
// matches; one cut short misses its last words).
static int words_in_order(const char *s, const char *msg) {
    char w[64];
    const char *p = s;
    for (const char *m = msg; *m;) {
        while (*m == ' ') m++;
        int n = (int)strcspn(m, " ");
        if (!n) break;
        snprintf(w, sizeof w, "%.*s", n < 63 ? n : 63, m);
        p = strstr(p, w);
        if (!p) return 0;
        p += n;
        m += n;
    }
    return 1;
}

// Row y of a screen_text frame.
static void row_of(const char *s, int y, char *out, size_t n) {
    for (int i = 0; i < y && s; i++) { s = strchr(s, '\n'); if (s) s++; }
    int l = s ? (int)strcspn(s, "\n") : 0;
    snprintf(out, n, "%.*s", l, s ? s : "");
}

// At 80 and 110 columns the console pane of a run with no lines yet says so in full (wrapped
// to the pane), its process line is not cut, and the header row of options and process either
// fits or shows where it was shortened.
TEST(console_pane_messages_fit_at_80_and_110_columns) {
    static const int widths[] = {80, 110};
    for (int k = 0; k < 2; k++) {
        App *a = fake_app(6);
        UiBackend *m = app_model(a);
        int64_t id;
        char err[ERRLEN], row[2048];
        CHECK(m->ops->launch(m, "configs/tiny.json", "fresh", 0, NULL, &id, err) == 0, "%s", err);
        app_push(a, screen_run_new(a, id));
        app_feed_key(a, 'o');
        const char *s = screen_text(a, widths[k], 24);
        CHECK(strstr(s, "─ console ─"), "no console pane at %d columns:\n%s", widths[k], s);
        CHECK(words_in_order(s, "no console lines: nothing to report so far"),
              "the empty console's message is cut at %dx24:\n%s", widths[k], s);
        CHECK(words_in_order(s, "dashboard process (1 run) cpu - mem MB 5 threads"),
              "the pane's process line is cut at %dx24:\n%s", widths[k], s);
        row_of(s, 3, row, sizeof row);
        CHECK(strstr(row, "smoothing") && (strstr(row, "…") || strstr(row, "linear-y  x: step  ")),
              "the header's options are cut without a mark at %d columns: '%s'", widths[k], row);
        CHECK(strstr(row, "5 threads") || strstr(row, "MB"), "the header's process figures are gone at %d: '%s'", widths[k], row);
        free_app(a);
    }
}

int main(void) {
    RUN(console_pane_shows_the_runs_lines);
    RUN(process_line_gives_cpu_share_and_memory);
    RUN(console_pane_messages_fit_at_80_and_110_columns);
    return test_summary();
}
