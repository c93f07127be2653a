// test_facts.c: the small facts the CLI and the dashboard share: UTF-8 decoding and display
// width (base/utf8.h), durations and bytes (base/fmt.h), the metric table (base/metrics.h),
// did-you-mean (base/suggest.h) and the one option parser (cli/args.h).
#include <fcntl.h>
#include <locale.h>
#include <unistd.h>
#include "base/fmt.h"
#include "base/metrics.h"
#include "base/suggest.h"
#include "base/utf8.h"
#include "cli/args.h"
#include "test.h"

// ---- utf8 -----------------------------------------------------------------------------------

static uint32_t decode1(const char *s, int *len) {
    const char *p = s;
    uint32_t c = utf8_next(&p);
    *len = (int)(p - s);
    return c;
}

TEST(utf8_decodes_and_rejects) {
    int n;
    CHECK(decode1("a", &n) == 'a' && n == 1, "ascii");
    CHECK(decode1("\xc3\xbc", &n) == 0xFC && n == 2, "2 bytes");
    CHECK(decode1("\xe2\x80\xa6", &n) == 0x2026 && n == 3, "3 bytes");
    CHECK(decode1("\xf0\x9f\x98\x80", &n) == 0x1F600 && n == 4, "4 bytes");
    CHECK(decode1("\xff", &n) == 0xFFFD && n == 1, "a bad lead byte");
    CHECK(decode1("\x80", &n) == 0xFFFD && n == 1, "a stray continuation");
    CHECK(decode1("\xc0\xaf", &n) == 0xFFFD && n == 2, "overlong '/'");
    CHECK(decode1("\xed\xa0\x80", &n) == 0xFFFD, "a surrogate");
    CHECK(decode1("\xf4\x90\x80\x80", &n) == 0xFFFD, "above U+10FFFF");
    // A sequence cut by the end of the string never reads past the NUL.
    CHECK(decode1("\xe2\x80", &n) == 0xFFFD && n == 2, "truncated: advanced %d", n);
    char b[4];
    const uint32_t cps[] = {'x', 0xFC, 0x2026, 0x1F600};
    for (int i = 0; i < 4; i++) {
        int len = utf8_encode(cps[i], b);
        char z[5] = {0};
        memcpy(z, b, (size_t)len);
        CHECK(decode1(z, &n) == cps[i] && n == len, "round trip of U+%04X", cps[i]);
    }
}

TEST(utf8_display_rule) {
    // Controls are shown as '?' (tab, newline, CR as a space), one column each.
    CHECK(utf8_visible('\t') == ' ' && utf8_visible('\n') == ' ' && utf8_visible('\r') == ' ', "whitespace");
    CHECK(utf8_visible(0x1B) == '?' && utf8_visible(0x7F) == '?' && utf8_visible(0x9B) == '?', "controls");
    CHECK(utf8_visible(0xFC) == 0xFC, "printable unchanged");
    CHECK(utf8_width("a\x1b[2Jb") == 6, "escape sequence: width %d", utf8_width("a\x1b[2Jb"));
    CHECK(utf8_width("ünï") == 3, "latin: %d", utf8_width("ünï"));
    CHECK(utf8_width("日本") == 4, "wide: %d", utf8_width("日本"));
    CHECK(utf8_width("e\xcc\x81") == 1, "combining accent: %d", utf8_width("e\xcc\x81"));
    CHECK(utf8_width("\xff") == 1, "a bad byte is one U+FFFD");
}

// ---- fmt ------------------------------------------------------------------------------------

TEST(durations_round_alike) {
    char a[32], b[32];
    static const struct { double s; const char *clock, *axis; } cases[] = {
        {0, "0s", "0s"},         {44.4, "44s", "44s"},       {59.6, "1m00s", "1m"},
        {89.5, "1m30s", "1m30"}, {3599.5, "1h00m", "1h"},    {5400, "1h30m", "1h30"},
        {86400, "1d00h", "1d"},  {97200, "1d03h", "1d3h"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fmt_duration(a, sizeof a, cases[i].s);
        fmt_duration_axis(b, sizeof b, cases[i].s);
        CHECK(!strcmp(a, cases[i].clock), "%g s -> '%s', want '%s'", cases[i].s, a, cases[i].clock);
        CHECK(!strcmp(b, cases[i].axis), "%g s on an axis -> '%s', want '%s'", cases[i].s, b, cases[i].axis);
    }
    fmt_duration(a, sizeof a, NAN);
    CHECK(!strcmp(a, "-"), "unknown: '%s'", a);
    fmt_duration(a, sizeof a, -3);
    CHECK(!strcmp(a, "-"), "negative: '%s'", a);
    fmt_duration(a, sizeof a, INFINITY);
    CHECK(!strcmp(a, "-"), "infinite ETA: '%s'", a);
    fmt_bytes(a, sizeof a, 75e6);
    fmt_bytes(b, sizeof b, 1.6e9);
    CHECK(!strcmp(a, "75 MB") && !strcmp(b, "1.6 GB"), "bytes: '%s' '%s'", a, b);
}

// ---- metrics --------------------------------------------------------------------------------

TEST(metric_table_invariants) {
    // The screens size arrays with these counts and take the first entries.
    int nchart = 0, ncol = 0;
    for (int i = 0; i < metric_count(); i++) {
        const Metric *m = metric_at(i);
        if (m->flags & METRIC_CHARTED) { CHECK(i == nchart, "%s charted but not among the first", m->name); nchart++; }
        if (m->flags & METRIC_COLUMN) { CHECK(i == ncol, "%s a column but not among the first", m->name); ncol++; }
        CHECK(strlen(m->label) <= 6, "label of %s too long", m->name);
        CHECK(metric_find(m->name) == m, "%s listed twice", m->name);
    }
    CHECK(nchart == METRIC_NCHARTED && ncol == METRIC_NCOLUMNS, "%d charted, %d columns", nchart, ncol);
    CHECK(metric_better("recon") == BETTER_LOWER && metric_better("eval.fd") == BETTER_LOWER, "losses and FD");
    CHECK(metric_better("eval.is") == BETTER_HIGHER && metric_better("eval.psnr") == BETTER_HIGHER, "scores");
    CHECK(metric_better("latent_std") == BETTER_NEITHER && metric_better("no.such") == BETTER_NEITHER, "neither");
    CHECK(!strcmp(metric_label("diffusion"), "diff") && !strcmp(metric_label("x.y"), "x.y"), "labels");
    CHECK(metric_beats(BETTER_LOWER, 1, 2) && !metric_beats(BETTER_LOWER, 2, 1), "lower");
    CHECK(metric_beats(BETTER_HIGHER, 2, 1) && !metric_beats(BETTER_HIGHER, 1, 1), "higher, strictly");
    CHECK(metric_beats(BETTER_LOWER, 5, NAN) && !metric_beats(BETTER_LOWER, NAN, 5), "NaN never wins");
    CHECK(!metric_beats(BETTER_NEITHER, 1, 2), "neither has no best");
}

// ---- suggest --------------------------------------------------------------------------------

TEST(did_you_mean) {
    CHECK(edit_distance("rnus", "runs") == 1, "a swap is one edit: %d", edit_distance("rnus", "runs"));
    CHECK(edit_distance("kitten", "sitting") == 3, "classic: %d", edit_distance("kitten", "sitting"));
    const char *cmds[] = {"train", "runs", "show", "rm", "resume"};
    const char *s = suggest_nearest("rnus", cmds, 5, suggest_max_dist("rnus"));
    CHECK(s && !strcmp(s, "runs"), "rnus -> %s", s ? s : "(none)");
    s = suggest_nearest("trian", cmds, 5, suggest_max_dist("trian"));
    CHECK(s && !strcmp(s, "train"), "trian -> %s", s ? s : "(none)");
    CHECK(!suggest_nearest("zzzzzz", cmds, 5, suggest_max_dist("zzzzzz")), "nothing near zzzzzz");
}

// ---- args -----------------------------------------------------------------------------------

static const ArgSpec spec = {
    .cmd = "demo",
    .usage = "usage: repae demo RUN [--n N] [--cfg W] [--out F] [--set K=V]... [--force]\n",
    .opts = (const ArgOpt[]){ARG_OPT_INT("--n", 1, 1024), ARG_OPT_NUM("--cfg", 0, 100), ARG_OPT_STR("--out"),
                             ARG_OPT_STR("--set"), ARG_OPT_FLAG("--force"), ARG_OPT_END},
};
static const ArgSpec text_spec = {.cmd = "note", .usage = NULL, .opts = NULL, .text_after = 1};

static char errtext[2048];

// args_parse with stderr captured into errtext; returns args_parse's result.
static int parse(Args *a, const ArgSpec *s, int argc, char **argv) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/repae_test_facts_%d.err", (int)getpid());
    fflush(stderr);
    int saved = dup(2), fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 2);
    close(fd);
    int saved_out = dup(1), devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1); // --help's usage
    close(devnull);
    int rc = args_parse(a, s, argc, argv);
    fflush(stderr);
    fflush(stdout);
    dup2(saved, 2);
    close(saved);
    dup2(saved_out, 1);
    close(saved_out);
    char err[ERRLEN];
    char *t = read_file(path, NULL, err);
    snprintf(errtext, sizeof errtext, "%s", t ? t : "");
    free(t);
    remove(path);
    return rc;
}

TEST(args_options_values_positionals) {
    char *argv[] = {"--n", "8", "run1", "--out=x.png", "--set", "a=1", "--force", "--set", "b=2", "--", "--n"};
    Args a;
    CHECK(parse(&a, &spec, 11, argv) == 0, "rejected: %s", errtext);
    CHECK(a.npos == 2 && !strcmp(args_pos(&a, 0), "run1") && !strcmp(args_pos(&a, 1), "--n") && !args_pos(&a, 2),
          "positionals: %d", a.npos);
    CHECK(args_long(&a, "--n", 16) == 8 && args_num(&a, "--cfg", 1.5) == 1.5, "numbers");
    CHECK(!strcmp(args_str(&a, "--out", NULL), "x.png"), "--key=value");
    CHECK(args_has(&a, "--force") == 1 && args_has(&a, "--cfg") == 0, "flags");
    CHECK(args_has(&a, "--set") == 2 && !strcmp(args_nth(&a, "--set", 0), "a=1") && !strcmp(args_nth(&a, "--set", 1), "b=2") &&
          !args_nth(&a, "--set", 2), "repeated --set in order");
    char *argv2[] = {"--n", "3", "--n", "5"};
    CHECK(parse(&a, &spec, 4, argv2) == 0 && args_long(&a, "--n", 0) == 5, "the last one wins");
    // A value that looks like an option is still the value.
    char *argv3[] = {"--out", "--force"};
    CHECK(parse(&a, &spec, 2, argv3) == 0 && !strcmp(args_str(&a, "--out", ""), "--force") && !args_has(&a, "--force"),
          "option-like value");
}

TEST(args_errors_say_what_and_range) {
    Args a;
    char *bad_n[] = {"--n", "0"};
    CHECK(parse(&a, &spec, 2, bad_n) != 0 && a.status == 2, "out of range accepted");
    CHECK(strstr(errtext, "repae demo: --n must be an integer in [1, 1024], not '0'") && strstr(errtext, "usage: repae demo"),
          "range message: %s", errtext);
    char *bad_cfg[] = {"--cfg=abc"};
    CHECK(parse(&a, &spec, 1, bad_cfg) != 0 && strstr(errtext, "--cfg must be a number in [0, 100], not 'abc'"), "%s", errtext);
    char *frac[] = {"--n", "2.5"};
    CHECK(parse(&a, &spec, 2, frac) != 0 && strstr(errtext, "integer"), "fraction for an integer: %s", errtext);
    char *missing[] = {"run", "--out"};
    CHECK(parse(&a, &spec, 2, missing) != 0 && strstr(errtext, "--out needs a value"), "%s", errtext);
    char *typo[] = {"--froce"};
    CHECK(parse(&a, &spec, 1, typo) != 0 && strstr(errtext, "unknown option '--froce' (did you mean --force?)"), "%s", errtext);
    char *far[] = {"-x"};
    CHECK(parse(&a, &spec, 1, far) != 0 && strstr(errtext, "unknown option '-x'") && strstr(errtext, "after --"), "%s", errtext);
    char *flagval[] = {"--force=yes"};
    CHECK(parse(&a, &spec, 1, flagval) != 0 && strstr(errtext, "--force takes no value"), "%s", errtext);
    char *help[] = {"--n", "0", "-h"};
    CHECK(parse(&a, &spec, 3, help) != 0 && a.status == 0 && !errtext[0], "--help wins: status %d, %s", a.status, errtext);
}

TEST(args_text_after_and_takes_value) {
    Args a;
    char *argv[] = {"run", "--force", "-5", "--", "dB"};
    CHECK(parse(&a, &text_spec, 5, argv) == 0 && a.npos == 5 && !strcmp(args_pos(&a, 1), "--force") &&
          !strcmp(args_pos(&a, 3), "--"), "note words: %d %s", a.npos, errtext);
    char *before[] = {"--force", "run"};
    CHECK(parse(&a, &text_spec, 2, before) != 0, "an option before RUN is still checked");
    CHECK(args_takes_value(&spec, "--n") && args_takes_value(&spec, "--set") && !args_takes_value(&spec, "--force") &&
          !args_takes_value(&spec, "--db") && !args_takes_value(&spec, "--n=3") && !args_takes_value(&text_spec, "--n"),
          "takes_value");
    char *h[] = {"x", "--help"};
    CHECK(wants_help(2, h) && !wants_help(1, h), "wants_help");
}

int main(void) {
    setlocale(LC_CTYPE, "C.UTF-8");
    RUN(utf8_decodes_and_rejects);
    RUN(utf8_display_rule);
    RUN(durations_round_alike);
    RUN(metric_table_invariants);
    RUN(did_you_mean);
    RUN(args_options_values_positionals);
    RUN(args_errors_say_what_and_range);
    RUN(args_text_after_and_takes_value);
    return test_summary();
}
