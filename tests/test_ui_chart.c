// test_ui_chart.c: braille chart rendering into a cell buffer (no terminal needed).
#include <locale.h>
#include "test.h"
#include "ui/cellbuf.h"
#include "ui/chart.h"
#include "ui/screens.h"
#include "base/fmt.h"

// The plot cells of row y: everything right of the axis character (│ or ┤).
static int axis_col(const CellBuf *b, int y) {
    for (int x = 0; x < b->w; x++) {
        uint32_t c = b->c[y * b->w + x].ch;
        if (c == 0x2502 || c == 0x2524) return x;
    }
    return -1;
}

TEST(diagonal_renders_expected_braille) {
    CellBuf b;
    cb_init(&b, 4, 1);
    double x[] = {0, 1, 2, 3};
    float y[] = {0, 1, 2, 3};
    ChartSeries s = {x, y, 4, 2, NULL, NULL, 0};
    ChartOpts o = {.no_xlabels = 1};
    chart_render(&b, 0, 0, 4, 1, &s, 1, &o);
    int a = axis_col(&b, 0);
    CHECK(a == 1, "axis at column %d, want 1 (labels '0' and '2')", a);
    // dots (col,row from bottom): (0,0) (1,1) in cell 0; (2,2) (3,3) in cell 1
    CHECK(b.c[2].ch == 0x2860, "cell 0 is U+%04X, want U+2860", b.c[2].ch);
    CHECK(b.c[3].ch == 0x280A, "cell 1 is U+%04X, want U+280A", b.c[3].ch);
    CHECK(b.c[2].fg == 2 && b.c[2].attr == 0, "colour %d attr %d", b.c[2].fg, b.c[2].attr);
    cb_free(&b);
}

TEST(log_axis_straightens_exponential) {
    CellBuf b;
    cb_init(&b, 8, 1);
    double x[] = {0, 1, 2, 3};
    float y[] = {1, 10, 100, 1000};
    ChartSeries s = {x, y, 4, 1, NULL, NULL, 0};
    ChartOpts o = {.no_xlabels = 1, .logy = 1};
    chart_render(&b, 0, 0, 8, 1, &s, 1, &o);
    int a = axis_col(&b, 0);
    CHECK(a >= 0 && a + 2 < 8, "no axis");
    // pw = 8 - a - 1 cells; only check the curve is the same diagonal shape when pw == 2
    char row[64];
    cb_row_text(&b, 0, row);
    CHECK(a == 5 || a == 2 || a == 1 || a == 3 || a == 4, "axis at %d: '%s'", a, row);
    int pw = 8 - a - 1;
    if (pw == 2) {
        CHECK(b.c[a + 1].ch == 0x2860 && b.c[a + 2].ch == 0x280A, "log curve not straight: '%s'", row);
    }
    // a straight line through pw*2 dot columns: every cell holds exactly 2 dots
    for (int i = a + 1; i < 8; i++) {
        unsigned d = b.c[i].ch - 0x2800;
        CHECK(b.c[i].ch >= 0x2800 && b.c[i].ch <= 0x28FF && __builtin_popcount(d) >= 1, "cell %d empty: '%s'", i, row);
    }
    cb_free(&b);
}

TEST(nan_is_a_gap) {
    CellBuf b;
    cb_init(&b, 6, 1);
    double x[8];
    float y[8];
    for (int i = 0; i < 8; i++) { x[i] = i; y[i] = 1; }
    y[4] = NAN;
    ChartSeries s = {x, y, 8, 3, NULL, NULL, 0};
    ChartOpts o = {.no_xlabels = 1};
    chart_render(&b, 0, 0, 6, 1, &s, 1, &o);
    int a = axis_col(&b, 0);
    int pw = 6 - a - 1;
    CHECK(pw == 4, "plot is %d cells wide, want 4 (axis at %d)", pw, a);
    unsigned left = 0x01 | 0x02 | 0x04 | 0x40, right = 0x08 | 0x10 | 0x20 | 0x80;
    unsigned c2 = b.c[a + 1 + 2].ch - 0x2800, c1 = b.c[a + 1 + 1].ch - 0x2800;
    CHECK((c2 & left) == 0, "dot column 4 (the NaN) has dots: U+%04X", c2 + 0x2800);
    CHECK((c2 & right) != 0, "dot column 5 is empty");
    CHECK((c1 & left) && (c1 & right), "dot columns 2,3 should be drawn: U+%04X", c1 + 0x2800);
    // Inf is a gap too
    y[4] = INFINITY;
    cb_clear(&b);
    chart_render(&b, 0, 0, 6, 1, &s, 1, &o);
    c2 = b.c[a + 1 + 2].ch - 0x2800;
    CHECK((c2 & left) == 0, "Inf drawn: U+%04X", c2 + 0x2800);
    cb_free(&b);
}

TEST(bucketing_keeps_a_spike) {
    enum { N = 20000 };
    static double x[N];
    static float y[N];
    for (int i = 0; i < N; i++) { x[i] = i; y[i] = 0.1f; }
    y[12345] = 5; // one step out of 20000, far below one dot column
    CellBuf b;
    cb_init(&b, 30, 4);
    ChartSeries s = {x, y, N, 1, NULL, NULL, 0};
    ChartOpts o = {.no_xlabels = 1};
    chart_render(&b, 0, 0, 30, 4, &s, 1, &o);
    int a = axis_col(&b, 0), pw = 30 - a - 1;
    int found = -1;
    for (int i = a + 1; i < 30; i++) if (b.c[i].ch > 0x2800 && b.c[i].ch <= 0x28FF) found = i - a - 1;
    CHECK(found >= 0, "the spike is not on the top row");
    int want = (int)(12345.0 / (N - 1) * (pw * 2 - 1)) / 2;
    CHECK(abs(found - want) <= 1, "spike at cell %d, want about %d", found, want);
    cb_free(&b);
}

TEST(ema_smooths_and_raw_is_faint) {
    float y[6] = {2, 2, 2, 2, 2, 2}, out[6];
    chart_ema(y, out, 6, 0.9);
    for (int i = 0; i < 6; i++) CHECK(fabsf(out[i] - 2) < 1e-5, "debiased EMA of a constant: %g at %d", out[i], i);
    float z[4] = {0, NAN, 10, 10}, oz[4];
    chart_ema(z, oz, 4, 0.5);
    CHECK(isnan(oz[1]), "NaN input should stay a gap");
    CHECK(fabsf(oz[2] - 20.0f / 3) < 1e-4, "ema[2] = %g, want 6.667", oz[2]);

    enum { N = 400 };
    double x[N];
    float v[N];
    for (int i = 0; i < N; i++) { x[i] = i; v[i] = 1.0f + ((i * 7919) % 13) * 0.3f; }
    CellBuf b;
    cb_init(&b, 40, 8);
    ChartSeries s = {x, v, N, 4, NULL, NULL, 0};
    ChartOpts o = {.ema = 0.95};
    chart_render(&b, 0, 0, 40, 8, &s, 1, &o);
    int dim = 0, bright = 0;
    for (int i = 0; i < b.w * b.h; i++)
        if (b.c[i].ch > 0x2800 && b.c[i].ch <= 0x28FF) { if (b.c[i].attr & CB_DIM) dim++; else bright++; }
    CHECK(dim > 0 && bright > 0, "want faint raw and bright smoothed cells: %d dim, %d bright", dim, bright);
    cb_free(&b);
}

TEST(ticks_and_labels) {
    double t[16];
    int n = chart_ticks(0, 1, 6, t);
    CHECK(n == 6 && fabs(t[5] - 1) < 1e-12 && fabs(t[1] - 0.2) < 1e-12, "ticks 0..1: n=%d", n);
    n = chart_ticks(0.013, 0.87, 4, t);
    CHECK(n >= 2 && n <= 4 && t[0] >= 0.013, "ticks 0.013..0.87: n=%d t0=%g", n, t[0]);
    char s[32];
    chart_fmt(12500, s, 6); CHECK(!strcmp(s, "12.5k"), "12500 -> '%s'", s);
    chart_fmt(20000, s, 6); CHECK(!strcmp(s, "20k"), "20000 -> '%s'", s);
    chart_fmt(0.0001, s, 6); CHECK(!strcmp(s, "1e-4"), "1e-4 -> '%s'", s);
    chart_fmt(0.25, s, 6); CHECK(!strcmp(s, "0.25"), "0.25 -> '%s'", s);
    chart_fmt(-3, s, 6); CHECK(!strcmp(s, "-3"), "-3 -> '%s'", s);
    chart_fmt(2.5e6, s, 6); CHECK(!strcmp(s, "2.5M"), "2.5e6 -> '%s'", s);
    chart_fmt_dur(5400, s, 6); CHECK(!strcmp(s, "1h30"), "5400s -> '%s'", s);
    chart_fmt_dur(45, s, 6); CHECK(!strcmp(s, "45s"), "45s -> '%s'", s);
    n = chart_time_ticks(0, 3600, 5, t);
    CHECK(n >= 2 && fmod(t[1] - t[0], 60) == 0, "time ticks 0..1h: step %g", n > 1 ? t[1] - t[0] : 0);
}

TEST(axes_are_labelled) {
    enum { N = 200 };
    double x[N];
    float y[N];
    for (int i = 0; i < N; i++) { x[i] = i * 100; y[i] = 1.0f / (1 + i); }
    CellBuf b;
    cb_init(&b, 50, 10);
    ChartSeries s = {x, y, N, 1, NULL, NULL, 0};
    ChartOpts o = {.title = "recon 0.005"};
    chart_render(&b, 0, 0, 50, 10, &s, 1, &o);
    char row[512], all[8192] = "";
    for (int r = 0; r < 10; r++) { cb_row_text(&b, r, row); strcat(all, row); strcat(all, "\n"); }
    CHECK(strstr(all, "recon 0.005"), "no title:\n%s", all);
    CHECK(strstr(all, "10k") && strstr(all, "└"), "no x labels:\n%s", all);
    CHECK(strstr(all, "┤1\n") == NULL && strstr(all, "1┤") != NULL, "no y label 1:\n%s", all);
    cb_free(&b);
}

static int same_cells(const CellBuf *a, const CellBuf *b, int *at) {
    for (int i = 0; i < a->w * a->h; i++)
        if (a->c[i].ch != b->c[i].ch || a->c[i].fg != b->c[i].fg || a->c[i].attr != b->c[i].attr) { *at = i; return 0; }
    return 1;
}

// The cached path (EMA extended in place, points decimated per dot column) must draw exactly
// what the plain path draws: long noisy series with spikes, NaN and non-positive values, at
// several sizes, log and linear axes, with and without smoothing, while points are appended.
TEST(cache_draws_the_same_as_no_cache) {
    enum { N = 30000 };
    double *x = xmalloc(sizeof(double) * N);
    float *y1 = xmalloc(sizeof(float) * N), *y2 = xmalloc(sizeof(float) * N);
    for (int i = 0; i < N; i++) {
        x[i] = i * 10 + (i > N / 2 ? 5000 : 0); // a jump in x (a resumed run)
        y1[i] = (float)(exp(-i / 5000.0) + 0.1 * sin(i * 0.37) + (i % 997 == 0 ? 2 : 0));
        if (i % 4001 == 7 || (i > 20000 && i < 20300)) y1[i] = NAN;
        y2[i] = (float)(0.5 * cos(i / 3000.0) + 0.02 * sin(i * 1.3)); // crosses zero: log-axis gaps
    }
    ChartCache *c1 = chart_cache_new(), *c2 = chart_cache_new();
    CellBuf a, b;
    cb_init(&a, 90, 14);
    cb_init(&b, 90, 14);
    const int ns[] = {1, 2, 3, 50, 999, 12345, N, N};
    const double emas[] = {0, 0.9, 0.9, 0.6, 0.99};
    for (int t = 0; t < (int)(sizeof ns / sizeof ns[0]); t++)
        for (int e = 0; e < 5; e++)
            for (int lg = 0; lg < 2; lg++)
                for (int w = 20; w <= 90; w += 35) {
                    ChartSeries plain[2] = {{x, y1, ns[t], 3, NULL, NULL, 0}, {x, y2, ns[t], 5, NULL, NULL, 0}};
                    ChartSeries cached[2] = {{x, y1, ns[t], 3, c1, NULL, 0}, {x, y2, ns[t], 5, c2, NULL, 0}};
                    ChartOpts o = {.title = "t", .ema = emas[e], .logy = lg};
                    cb_clear(&a);
                    cb_clear(&b);
                    chart_render(&a, 0, 0, w, 14, plain, 2, &o);
                    chart_render(&b, 0, 0, w, 14, cached, 2, &o);
                    int at = 0;
                    CHECK(same_cells(&a, &b, &at), "n %d ema %.2f log %d width %d: cell (%d,%d) U+%04X vs U+%04X",
                          ns[t], emas[e], lg, w, at % 90, at / 90, a.c[at].ch, b.c[at].ch);
                }
    // a replaced (shorter) series resets the cache by itself
    ChartSeries cached = {x, y2, 100, 5, c1, NULL, 0}, plain = {x, y2, 100, 5, NULL, NULL, 0};
    ChartOpts o = {.ema = 0.9};
    cb_clear(&a); cb_clear(&b);
    chart_render(&a, 0, 0, 60, 10, &plain, 1, &o);
    chart_render(&b, 0, 0, 60, 10, &cached, 1, &o);
    int at = 0;
    CHECK(same_cells(&a, &b, &at), "after a replacement: cell %d differs", at);
    chart_cache_free(c1);
    chart_cache_free(c2);
    cb_free(&a);
    cb_free(&b);
    free(x); free(y1); free(y2);
}

// The runs screen once truncated elapsed times while `repae runs` rounded them, so the two
// disagreed by a second (59.6 s: "59s" against "1m00s"). Both now go through base/fmt.h.
TEST(durations_round_like_the_cli) {
    static const double secs[] = {0.4, 59.6, 89.5, 3599.5, 86399.6};
    char ui[32], cli[32], axis[32], want[32];
    for (size_t i = 0; i < sizeof secs / sizeof secs[0]; i++) {
        ui_fmt_elapsed(secs[i], ui, sizeof ui);
        fmt_duration(cli, sizeof cli, secs[i]);
        CHECK(!strcmp(ui, cli), "%g s: runs screen '%s', CLI '%s'", secs[i], ui, cli);
        chart_fmt_dur(secs[i], axis, 6);
        fmt_duration_axis(want, sizeof want, secs[i]);
        want[6] = 0;
        CHECK(!strcmp(axis, want), "%g s: axis '%s', want '%s'", secs[i], axis, want);
    }
    ui_fmt_elapsed(59.6, ui, sizeof ui);
    CHECK(!strcmp(ui, "1m00s"), "59.6 s -> '%s'", ui);
}

// The dashboard draws text by base/utf8.h's rule, as the CLI prints it: controls as '?',
// tab and newline as a space, wide characters over two cells.
TEST(text_follows_the_display_rule) {
    CellBuf b;
    cb_init(&b, 12, 1);
    int n = cb_text(&b, 0, 0, 12, "a\x1b" "b\tc\xff日", CB_DEFAULT, 0);
    char row[64];
    cb_row_text(&b, 0, row);
    cb_free(&b);
    CHECK(n == 8 && !strncmp(row, "a?b c\xef\xbf\xbd日", strlen("a?b c\xef\xbf\xbd日")), "%d columns: '%s'", n, row);
    CHECK(utf8_width("a\x1b" "b\tc\xff日") == n, "width %d differs from the columns drawn", utf8_width("a\x1b" "b\tc\xff日"));
}

int main(void) {
    setlocale(LC_ALL, "C.UTF-8");
    RUN(diagonal_renders_expected_braille);
    RUN(log_axis_straightens_exponential);
    RUN(nan_is_a_gap);
    RUN(bucketing_keeps_a_spike);
    RUN(ema_smooths_and_raw_is_faint);
    RUN(ticks_and_labels);
    RUN(axes_are_labelled);
    RUN(cache_draws_the_same_as_no_cache);
    RUN(durations_round_like_the_cli);
    RUN(text_follows_the_display_rule);
    return test_summary();
}
