// test_ui_runs.c: the Runs table by scripted keys on generated runs: the filter language
// applied as you type, best-so-far values, chosen columns remembered per store, bulk tag and
// delete on marked runs, the latent-collapse flag, and the Launch screen's name check.
// Expectations come from the runs the backend reports, not from numbers written here.
#include <locale.h>
#define _XOPEN_SOURCE_EXTENDED 1
#include <ncurses.h>
#include "test.h"
#include "ui/app.h"
#include "ui/chart.h"
#include "ui/runs_filter.h"
#include "fake_backend.h"
#include "fake_app.h"

static UiRun *runs_of(App *a, int *n) {
    UiRun *r = NULL;
    char err[ERRLEN];
    UiBackend *m = app_model(a);
    m->ops->list_runs(m, &r, n, err);
    return r;
}

// A run's name shown as a row: two spaces before it (the mark column) and a space after.
static int shows(const char *screen, const char *name) {
    char k[80];
    snprintf(k, sizeof k, "  %s ", name);
    return strstr(screen, k) != NULL;
}

TEST(filter_language_parses_and_rejects) {
    RunsFilter f;
    char err[160];
    CHECK(runs_filter_parse(&f, "lr>=1e-3 status:done tag:sweep fd<5 repa !tag:old", err, sizeof err) == 0, "%s", err);
    CHECK(f.n == 6 && f.needs_config, "%d terms", f.n);
    CHECK(runs_filter_parse(&f, "lr>", err, sizeof err) && strstr(err, "lr>"), "an operator with no value: '%s'", err);
    CHECK(runs_filter_parse(&f, "name<abc", err, sizeof err) && strstr(err, "numbers"), "text with <: '%s'", err);
    CHECK(ui_config_key("lr") == ui_config_key("train.lr") && ui_config_key("lr") >= 0, "lr is train.lr");
    CHECK(ui_config_key("no_such_key") < 0, "unknown key");
}

TEST(filter_applies_as_you_type) {
    App *a = fake_app(8);
    int n;
    UiRun *runs = runs_of(a, &n);
    // the median of eval.fd: a threshold that keeps some runs and drops others
    double fd[16], thr;
    for (int i = 0; i < n; i++) fd[i] = ui_run_metric(&runs[i], "fd")->last;
    for (int i = 0; i < n; i++) for (int j = i + 1; j < n; j++) if (fd[j] < fd[i]) { double t = fd[i]; fd[i] = fd[j]; fd[j] = t; }
    thr = (fd[n / 2 - 1] + fd[n / 2]) / 2;
    char q[64];
    snprintf(q, sizeof q, "fd<%.6g", thr);
    app_feed_key(a, '/');
    type(a, q);
    const char *s = screen_text(a, 140, 30); // no Enter yet: applied as typed
    int want = 0;
    for (int i = 0; i < n; i++) {
        int pass = ui_run_metric(&runs[i], "eval.fd")->last < thr;
        want += pass;
        CHECK(shows(s, runs[i].name) == pass, "%s (fd %g) %s with %s:\n%s", runs[i].name, ui_run_metric(&runs[i], "eval.fd")->last,
              pass ? "hidden" : "shown", q, s);
    }
    char hint[32];
    snprintf(hint, sizeof hint, "%d of %d", want, n);
    CHECK(strstr(s, hint), "no '%s' hint:\n%s", hint, s);
    // config and status terms together: lr is train.lr of each run's stored config
    app_feed_key(a, 21); // ^U
    type(a, "lr>=2e-4 status:done");
    s = screen_text(a, 140, 30);
    for (int i = 0; i < n; i++) {
        int pass = strstr(runs[i].name, "lr3e-4") && !strcmp(runs[i].status, "done");
        CHECK(shows(s, runs[i].name) == !!pass, "%s %s with lr>=2e-4 status:done:\n%s", runs[i].name, pass ? "hidden" : "shown", s);
    }
    // a half-typed term says what is wrong and keeps the last filter that parsed
    app_feed_key(a, 21);
    type(a, "tag:baseline !status:failed lr>");
    s = screen_text(a, 140, 30);
    CHECK(strstr(s, "needs a value"), "no error hint:\n%s", s);
    app_feed_key(a, 127);
    s = screen_text(a, 140, 30);
    for (int i = 0; i < n; i++) { // "lr" alone is a bare word: a substring of the name
        int pass = strstr(runs[i].tags, "baseline") && strcmp(runs[i].status, "failed") && strstr(runs[i].name, "lr");
        CHECK(shows(s, runs[i].name) == !!pass, "%s with tag:baseline !status:failed lr:\n%s", runs[i].name, s);
    }
    app_feed_key(a, UI_KEY_ESC); // gives back the filter the prompt opened with (none)
    s = screen_text(a, 140, 30);
    for (int i = 0; i < n; i++) CHECK(shows(s, runs[i].name), "Esc should restore the unfiltered list:\n%s", s);
    free(runs);
    free_app(a);
}

TEST(best_so_far_and_columns_remembered) {
    App *a = fake_app(4);
    int n;
    UiRun *runs = runs_of(a, &n);
    app_feed_key(a, 'b');
    const char *s = screen_text(a, 140, 30);
    CHECK(strstr(s, "best so far"), "no best mode:\n%s", s);
    for (int i = 0; i < n; i++) { // recon is lower-better: its best is the minimum
        char v[16];
        chart_fmt(ui_run_latest(&runs[i], "recon")->min, v, 7);
        CHECK(strstr(s, v), "%s: best recon %s not shown:\n%s", runs[i].name, v, s);
    }
    app_feed_key(a, 'C');
    app_feed_key(a, 21);
    type(a, "lr eval.fd");
    app_feed_key(a, 10);
    s = screen_text(a, 140, 30);
    CHECK(strstr(s, " lr ") && strstr(s, "eval.fd"), "no lr / eval.fd columns:\n%s", s);
    CHECK(strstr(s, "0.0003") && strstr(s, "0.0001"), "lr values missing:\n%s", s);
    // a new Runs screen on the same store comes back with the same columns and mode
    app_push(a, screen_runs_new(a));
    s = screen_text(a, 140, 30);
    CHECK(strstr(s, "eval.fd") && strstr(s, "best so far"), "layout not remembered:\n%s", s);
    free(runs);
    free_app(a);
}

TEST(bulk_tag_and_delete_marked) {
    App *a = fake_app(4);
    app_feed_key(a, ' '); // marks the selected run and moves down
    app_feed_key(a, ' ');
    int n;
    UiRun *before = runs_of(a, &n);
    app_feed_key(a, 't');
    type(a, "sweep");
    app_feed_key(a, 10);
    UiRun *after = runs_of(a, &n);
    int tagged = 0;
    for (int i = 0; i < n; i++) tagged += strstr(after[i].tags, "sweep") != NULL;
    CHECK(tagged == 2, "%d runs tagged, 2 marked", tagged);
    // the two newest are marked; a training one would stay, and the question says how many go
    int live = ui_run_live(&after[0]) + ui_run_live(&after[1]);
    app_feed_key(a, 'd');
    const char *s = screen_text(a, 140, 30);
    char q[64];
    snprintf(q, sizeof q, "delete %d marked runs", 2 - live);
    CHECK(live == 2 || (strstr(s, q) && strstr(s, "[y/N]")), "no bulk question '%s':\n%s", q, s);
    app_feed_key(a, 'y');
    free(after);
    after = runs_of(a, &n);
    CHECK(n == 4 - (2 - live), "%d runs left of 4", n);
    for (int i = 0; i < n; i++) CHECK(ui_run_live(&before[0]) || strcmp(after[i].name, before[0].name), "%s not deleted", before[0].name);
    free(before);
    free(after);
    free_app(a);
}

TEST(latent_collapse_flagged) {
    App *a = fake_app(6);
    int n;
    UiRun *runs = runs_of(a, &n);
    const char *s = screen_text(a, 140, 30);
    int found = 0;
    for (int i = 0; i < n; i++) {
        const UiLatest *c = ui_run_latest(&runs[i], "collapse");
        if (!c || c->last < 1) continue;
        char v[16];
        chart_fmt(ui_run_latest(&runs[i], "latent_sstd")->last, v, 7);
        strcat(v, "!");
        CHECK(strstr(s, v), "collapsed run %s: no '%s':\n%s", runs[i].name, v, s);
        found++;
    }
    CHECK(found, "the fake has no collapsed run");
    int said = 0;
    for (int i = 0; i < n && !said; i++, app_feed_key(a, 'j')) said = strstr(screen_text(a, 140, 30), "latent collapse") != NULL;
    CHECK(said, "selecting the collapsed run should say so:\n%s", screen_text(a, 140, 30));
    free(runs);
    free_app(a);
}

TEST(launch_name_clash_as_you_type) {
    App *a = fake_app(3);
    app_feed_key(a, 'n');
    app_feed_key(a, 'N');
    type(a, "base-lr3e-4-");
    const char *s = screen_text(a, 120, 30);
    CHECK(!strstr(s, "taken by"), "a prefix is no clash:\n%s", s);
    app_feed_key(a, '1');
    s = screen_text(a, 120, 30);
    CHECK(strstr(s, "taken by run 1"), "no clash reported as typed:\n%s", s);
    app_feed_key(a, '0');
    s = screen_text(a, 120, 30);
    CHECK(!strstr(s, "taken by"), "clash still shown:\n%s", s);
    free_app(a);
}

TEST(launch_preview_effective_scrolls_estimates) {
    App *a = fake_app(1);
    app_feed_key(a, 'n');
    const char *s = screen_text(a, 120, 30);
    CHECK(strstr(s, ".json, effective") && strstr(s, "\"data\""), "no effective config:\n%s", s);
    CHECK(strstr(s, "memory ~") && strstr(s, "b measures"), "no estimate:\n%s", s);
    app_feed_key(a, 'o');
    type(a, "train.batch_size=3");
    app_feed_key(a, 10);
    int seen = 0; // scrolled into view, page by page
    for (int i = 0; i < 10 && !seen; i++, app_feed_key(a, KEY_NPAGE)) {
        s = screen_text(a, 120, 30);
        seen = strstr(s, "\"batch_size\": 3,") != NULL;
    }
    CHECK(seen, "override not applied in the preview:\n%s", s);
    for (int i = 0; i < 10; i++) app_feed_key(a, KEY_PPAGE);
    s = screen_text(a, 120, 30);
    char mem[32];
    snprintf(mem, sizeof mem, "memory ~%.0f MB", (50e6 + 3 * 2e6) / 1e6); // the fake's cost model
    CHECK(strstr(s, mem), "estimate should follow the override ('%s'):\n%s", mem, s);
    app_feed_key(a, 'b');
    s = screen_text(a, 120, 30);
    CHECK(strstr(s, "step 0.003 s") && strstr(s, "steps: ~"), "no measured step and total time:\n%s", s);
    // the preview scrolls: its position counter moves
    const char *pos = strstr(s, " 1/");
    CHECK(pos, "no scroll position (the effective config is longer than the screen):\n%s", s);
    app_feed_key(a, KEY_NPAGE);
    s = screen_text(a, 120, 30);
    CHECK(strstr(s, " 11/"), "page down should scroll 10 lines:\n%s", s);
    free_app(a);
}

int main(void) {
    setlocale(LC_ALL, "C.UTF-8");
    RUN(filter_language_parses_and_rejects);
    RUN(filter_applies_as_you_type);
    RUN(best_so_far_and_columns_remembered);
    RUN(bulk_tag_and_delete_marked);
    RUN(latent_collapse_flagged);
    RUN(launch_name_clash_as_you_type);
    RUN(launch_preview_effective_scrolls_estimates);
    return test_summary();
}
