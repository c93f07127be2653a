// test_ui_charts.c: reading charts by scripted keys on generated runs: the cursor's readout
// (checked against the series the backend gives and chart_ema), zoom and back, continuous
// smoothing, the metric picker with globs and its memory, unused losses, the pinned baseline
// across screens, hiding a run in Compare, and mouse clicks.
#include <ctype.h>
#include <locale.h>
#define _XOPEN_SOURCE_EXTENDED 1
#include <ncurses.h>
#include "test.h"
#include "ui/app.h"
#include "ui/chart.h"
#include "fake_backend.h"
#include "fake_app.h"

// The run the Runs screen selects first (the newest) and its series of key.
static int64_t newest(App *a, UiRun *out) {
    UiRun *r = NULL;
    int n;
    char err[ERRLEN];
    app_model(a)->ops->list_runs(app_model(a), &r, &n, err);
    *out = r[0];
    free(r);
    return out->id;
}

TEST(cursor_reads_step_smoothed_and_raw) {
    App *a = fake_app(2);
    UiRun run;
    int64_t id = newest(a, &run);
    app_feed_key(a, 10); // open it
    app_feed_key(a, 'm');
    app_feed_key(a, 21);
    type(a, "recon");
    app_feed_key(a, 10);
    app_feed_key(a, 'v');
    for (int i = 0; i < 30; i++) app_feed_key(a, KEY_LEFT); // 30 dot columns back from the newest point
    const char *s = screen_text(a, 160, 40);
    CHECK(app_depth(a) == 2, "left with a cursor should move it, not go back");
    // the readout "recon @STEP SMOOTH raw RAW": recompute both from the backend's series
    const char *p = strstr(s, "recon @");
    CHECK(p, "no readout:\n%s", s);
    long step = atol(p + 7);
    UiSeries ser = {0};
    char err[ERRLEN];
    app_model(a)->ops->series_append(app_model(a), id, "recon", &ser, err);
    long i = 0;
    while (i < ser.n && ser.step[i] != step) i++;
    CHECK(i < ser.n && step < ser.step[ser.n - 1], "step %ld not a logged step before the last:\n%s", step, s);
    float *e = xmalloc(sizeof(float) * (size_t)ser.n);
    chart_ema(ser.value, e, (int)ser.n, 0.9);
    char want[128], v1[16], v2[16];
    chart_fmt(e[i], v1, 8);
    chart_fmt(ser.value[i], v2, 8);
    snprintf(want, sizeof want, "recon @%ld  %s  raw %s", step, v1, v2);
    CHECK(strstr(s, want), "want '%s':\n%s", want, s);
    free(e);
    ui_series_free(&ser);
    app_feed_key(a, UI_KEY_ESC); // the cursor goes first
    CHECK(app_depth(a) == 2, "Esc should hide the cursor, not go back");
    app_feed_key(a, KEY_LEFT);
    CHECK(app_depth(a) == 1, "left without a cursor goes back");
    free_app(a);
}

TEST(zoom_and_back) {
    App *a = fake_app(2);
    app_feed_key(a, 10);
    app_feed_key(a, '/');
    type(a, "500-900");
    app_feed_key(a, 10);
    const char *s = screen_text(a, 160, 40);
    CHECK(strstr(s, "zoom 500..900"), "zoom not in the status:\n%s", s);
    CHECK(strstr(s, "600") && strstr(s, "800") && !strstr(s, "1.5k"), "x labels should span 500..900:\n%s", s);
    app_feed_key(a, 'Z');
    s = screen_text(a, 160, 40);
    CHECK(strstr(s, "zoom 300..1.1k"), "zoom out doubles around the middle:\n%s", s);
    app_feed_key(a, '0');
    s = screen_text(a, 160, 40);
    CHECK(!strstr(s, "(0: all)"), "0 should show everything:\n%s", s);
    app_feed_key(a, 'z');
    s = screen_text(a, 160, 40);
    CHECK(strstr(s, "zoom 500..1.5k"), "z halves the range around the middle:\n%s", s);
    free_app(a);
}

TEST(smoothing_is_continuous_and_remembered) {
    App *a = fake_app(2);
    app_feed_key(a, 10);
    const char *s = screen_text(a, 160, 40);
    CHECK(strstr(s, "smoothing 0.90"), "default smoothing:\n%s", s);
    app_feed_key(a, '+');
    s = screen_text(a, 160, 40);
    CHECK(strstr(s, "smoothing 0.91"), "+ is a small step near 1:\n%s", s);
    app_feed_key(a, 'S');
    app_feed_key(a, 21);
    type(a, "0.37");
    app_feed_key(a, 10);
    s = screen_text(a, 160, 40);
    CHECK(strstr(s, "smoothing 0.37"), "S sets any value:\n%s", s);
    app_feed_key(a, 'S');
    app_feed_key(a, 21);
    type(a, "2");
    app_feed_key(a, 10);
    s = screen_text(a, 160, 40);
    CHECK(strstr(s, "smoothing '2'") && strstr(s, "0.99"), "out of range should say the range:\n%s", s);
    app_feed_key(a, 'q');
    app_feed_key(a, 10);
    s = screen_text(a, 160, 40);
    CHECK(strstr(s, "smoothing 0.37"), "smoothing not remembered:\n%s", s);
    free_app(a);
}

TEST(metric_picker_globs_and_unused) {
    App *a = fake_app(2);
    UiRun run;
    newest(a, &run); // run 2: a repa run; run 1 has align kind none
    app_feed_key(a, KEY_DOWN);
    app_feed_key(a, 10);
    const char *s = screen_text(a, 160, 40);
    CHECK(strstr(s, "not charted, unused: align"), "align with kind none should be left out and said:\n%s", s);
    app_feed_key(a, 'm');
    type(a, "grad_*");
    s = screen_text(a, 160, 40);
    CHECK(strstr(s, "grad_norm_vae"), "the picker should say what it matches as typed:\n%s", s);
    app_feed_key(a, 21);
    type(a, "eval.* lat*");
    app_feed_key(a, 10);
    s = screen_text(a, 160, 40);
    CHECK(strstr(s, "eval.fd ") && strstr(s, "latent_std ") && strstr(s, "latent_sstd ") && !strstr(s, "recon "),
          "charts should be eval.fd latent_std latent_sstd:\n%s", s);
    app_feed_key(a, 'q');
    app_feed_key(a, 10);
    s = screen_text(a, 160, 40);
    CHECK(strstr(s, "eval.fd ") && !strstr(s, "recon "), "the pick should be remembered:\n%s", s);
    free_app(a);
}

TEST(baseline_pinned_across_screens_and_hide) {
    App *a = fake_app(4);
    UiRun run;
    newest(a, &run);
    app_feed_key(a, KEY_END); // the oldest run
    app_feed_key(a, 10);
    app_feed_key(a, 'B');
    app_feed_key(a, 'q');
    CHECK(app_baseline(a) != 0 && app_baseline(a) != run.id, "B should pin the oldest run");
    int64_t base = app_baseline(a);
    app_feed_key(a, KEY_HOME);
    app_feed_key(a, ' ');
    app_feed_key(a, ' ');
    app_feed_key(a, 'c');
    const char *s = screen_text(a, 160, 40);
    char want[96];
    snprintf(want, sizeof want, "base-lr3e-4-1 (baseline)"); // run 1 is the oldest
    CHECK(base == 1 && strstr(s, want), "the baseline should be in Compare's legend:\n%s", s);
    app_feed_key(a, 'v');
    s = screen_text(a, 160, 40);
    // with the cursor, each chart's title gives the values of the two runs and the baseline
    const char *t = strstr(s, "total @");
    CHECK(t, "no readout:\n%s", s);
    int nvals = 0;
    for (const char *q = t; *q && *q != '\n'; q++) nvals += *q == '(';
    CHECK(nvals == 3, "%d values in the total readout, want 3 (2 runs + baseline):\n%s", nvals, s);
    app_feed_key(a, 'h'); // hide the first run
    s = screen_text(a, 160, 40);
    CHECK(strstr(s, "(hidden)"), "no hidden mark:\n%s", s);
    t = strstr(s, "total @");
    nvals = 0;
    for (const char *q = t; t && *q && *q != '\n'; q++) nvals += *q == '(';
    CHECK(nvals == 2, "%d values after hiding one, want 2:\n%s", nvals, s);
    app_feed_key(a, 'h');
    s = screen_text(a, 160, 40);
    CHECK(!strstr(s, "(hidden)"), "h again should show it:\n%s", s);
    // the table has the eval metrics and full names
    app_feed_key(a, '2');
    s = screen_text(a, 160, 40);
    CHECK(strstr(s, "eval.fd") && strstr(s, "repa-lr3e-4-4") && strstr(s, "base-lr1e-4-3"), "table:\n%s", s);
    free_app(a);
}

// The readouts of a Compare frame's chart titles ("key @STEP v(r) v(r) ..."), in order: how
// many values each shows, whether it ends in an ellipsis, and whether a value was cut short
// (a "v(r" without its ')'). Returns the number of titles.
static char seen[32][512]; // the readouts' text, for the messages
static int readouts(const char *s, int *vals, int *ell, int *cut, int max) {
    int n = 0;
    for (const char *line = s; *line;) {
        int len = (int)strcspn(line, "\n");
        char row[2048];
        snprintf(row, sizeof row, "%.*s", len, line);
        line += len + (line[len] == '\n');
        for (char *at = strstr(row, " @"); at && n < max;) { // each "@STEP" starts a readout
            char *next = strstr(at + 2, " @");
            char seg[512];
            snprintf(seg, sizeof seg, "%.*s", next ? (int)(next - at) : (int)strlen(at), at);
            snprintf(seen[n], sizeof seen[n], "%s", seg);
            vals[n] = 0; ell[n] = strstr(seg, "…") != NULL; cut[n] = 0;
            char *tok = strtok(seg + 2, " ");
            tok = tok ? strtok(NULL, " ") : NULL; // past the step
            for (; tok; tok = strtok(NULL, " ")) {
                if (!(isdigit((unsigned char)tok[0]) || tok[0] == '-' || tok[0] == '.')) continue;
                vals[n]++;
                size_t tl = strlen(tok);
                if (tl >= 3 && !strcmp(tok + tl - 3, "…")) tok[tl - 3] = 0; // the mark, glued at the edge
                if (strchr(tok, '(') && tok[strlen(tok) - 1] != ')') cut[n] = 1;
            }
            n++;
            at = next;
        }
    }
    return n;
}

// At 110x24, with three runs and a baseline, Compare's chart titles cannot hold every value
// of the readout: each shows whole values, and an ellipsis where some were left out (the
// values a title holds at 300 columns are the truth), never a number cut short.
TEST(compare_readout_titles_not_cut_at_110) {
    App *a = fake_app(4);
    app_feed_key(a, KEY_END);
    app_feed_key(a, 'B'); // the oldest run is the baseline
    app_feed_key(a, KEY_HOME);
    for (int i = 0; i < 3; i++) app_feed_key(a, ' ');
    app_feed_key(a, 'c');
    app_feed_key(a, 'v');
    int wv[32], we[32], wc[32], v[32], e[32], c[32];
    int nw = readouts(screen_text(a, 300, 24), wv, we, wc, 32);
    const char *s = screen_text(a, 110, 24);
    int n = readouts(s, v, e, c, 32);
    CHECK(n >= 2 && n == nw, "%d readouts at 110 columns, %d at 300:\n%s", n, nw, s);
    int left_out = 0;
    for (int k = 0; k < n && k < nw; k++) {
        CHECK(!c[k], "title %d has a value cut short: '%s'", k, seen[k]);
        CHECK(v[k] == wv[k] || e[k], "title %d shows %d of %d values and no ellipsis: '%s'", k, v[k], wv[k], seen[k]);
        left_out += v[k] < wv[k];
    }
    CHECK(left_out, "fixture: every value fits at 110 columns, nothing tested:\n%s", s);
    free_app(a);
}

// The Run screen's readout titles ("recon @STEP  v  raw r  base b") at 110 columns: whole, or
// a prefix of the whole (300 columns) ending in an ellipsis, never cut silently.
TEST(run_readout_titles_marked_when_shortened) {
    App *a = fake_app(4);
    app_feed_key(a, KEY_END);
    app_feed_key(a, 'B');
    app_feed_key(a, KEY_HOME);
    app_feed_key(a, 10);
    app_feed_key(a, 'v');
    for (int i = 0; i < 5; i++) app_feed_key(a, KEY_LEFT);
    char wide[8][512], row[4096];
    int nw = 0, shortened = 0;
    const char *s = screen_text(a, 300, 40);
    for (const char *p = strstr(s, " @"); p && nw < 8; p = strstr(p + 2, " @")) {
        const char *st = p;
        while (st > s && st[-1] != ' ' && st[-1] != '\n') st--; // the metric's name
        const char *nl = strchr(p, '\n'), *e = strstr(p, "  base ");
        if (!e || (nl && e > nl) || (unsigned char)*st >= 0x80) continue; // this row's, after a chart's edge
        // the next readout on the row comes after this one's baseline value
        const char *nx = strstr(p + 2, " @");
        if (nx && nx < e) continue;
        e += 7;
        while (*e && *e != ' ' && *e != '\n') e++;
        snprintf(wide[nw++], sizeof wide[0], "%.*s", (int)(e - st), st);
    }
    CHECK(nw >= 2, "no readouts with a baseline at 300 columns:\n%s", s);
    s = screen_text(a, 110, 24);
    for (int k = 0; k < nw; k++) {
        char key[64];
        snprintf(key, sizeof key, "%.*s @", (int)strcspn(wide[k], " "), wide[k]);
        const char *p = strstr(s, key);
        if (!p) continue; // not shown in 24 rows
        int n = (int)strcspn(p, "\n");
        snprintf(row, sizeof row, "%.*s", n, p);
        size_t wl = strlen(wide[k]);
        if (!strncmp(row, wide[k], wl)) continue; // whole
        char *ell = strstr(row, "…");
        CHECK(ell && !strncmp(row, wide[k], (size_t)(ell - row)), "'%s' shortened without a mark: '%s'", wide[k], row);
        shortened++;
    }
    CHECK(shortened, "fixture: every title fits at 110 columns, nothing tested:\n%s", s);
    free_app(a);
}

TEST(mouse_click_puts_the_cursor) {
    App *a = fake_app(2);
    app_feed_key(a, 10);
    screen_text(a, 160, 40);
    app_feed_mouse(a, 30, 10, UI_MOUSE_CLICK);
    const char *s = screen_text(a, 160, 40);
    CHECK(strstr(s, " @"), "a click on a chart should show the cursor's readout:\n%s", s);
    app_feed_mouse(a, 30, 10, UI_MOUSE_WHEEL_UP);
    s = screen_text(a, 160, 40);
    CHECK(strstr(s, "(0: all)"), "the wheel should zoom:\n%s", s);
    free_app(a);
}

TEST(baseline_from_the_runs_list) {
    App *a = fake_app(3);
    UiRun run;
    newest(a, &run);
    app_feed_key(a, 'B');
    CHECK(app_baseline(a) == run.id, "B on Runs should pin the selected run");
    const char *s = screen_text(a, 140, 30);
    char want[96];
    snprintf(want, sizeof want, "\xe2\x97\x87 %s", run.name); // ◇ before its name
    CHECK(strstr(s, want), "the baseline row should be marked:\n%s", s);
    app_feed_key(a, 'B');
    CHECK(app_baseline(a) == 0, "B again should unpin");
    free_app(a);
}

int main(void) {
    setlocale(LC_ALL, "C.UTF-8");
    RUN(cursor_reads_step_smoothed_and_raw);
    RUN(zoom_and_back);
    RUN(smoothing_is_continuous_and_remembered);
    RUN(metric_picker_globs_and_unused);
    RUN(baseline_pinned_across_screens_and_hide);
    RUN(compare_readout_titles_not_cut_at_110);
    RUN(run_readout_titles_marked_when_shortened);
    RUN(mouse_click_puts_the_cursor);
    RUN(baseline_from_the_runs_list);
    return test_summary();
}
