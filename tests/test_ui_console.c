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

int main(void) {
    RUN(console_pane_shows_the_runs_lines);
    RUN(process_line_gives_cpu_share_and_memory);
    return test_summary();
}
