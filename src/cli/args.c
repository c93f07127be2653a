// args.c: see args.h. One scanner walks the line for parsing and again for every accessor,
// so the two can never disagree about which argument is a value and which a positional.
#include "cli/args.h"
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/suggest.h"

int wants_help(int argc, char **argv) {
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) return 1;
    return 0;
}

// The option of spec called name (the first len bytes of it), or NULL.
static const ArgOpt *find_opt(const ArgSpec *s, const char *name, size_t len) {
    for (const ArgOpt *o = s->opts; o && o->name; o++)
        if (strlen(o->name) == len && strncmp(o->name, name, len) == 0) return o;
    return NULL;
}

int args_takes_value(const ArgSpec *spec, const char *arg) {
    const ArgOpt *o = spec ? find_opt(spec, arg, strlen(arg)) : NULL;
    return o && o->kind != ARG_FLAG;
}

// ---- the scanner ----------------------------------------------------------------------------

typedef struct {
    int i;       // next argument
    int literal; // after "--": everything is positional
    int npos;    // positionals seen
} Scan;

typedef struct {
    const ArgOpt *opt; // NULL: a positional
    const char *val;   // the option's value (NULL for a flag), or the positional
} Token;

static void range_text(const ArgOpt *o, char *buf, size_t n) {
    const char *what = o->kind == ARG_INT ? "an integer" : "a number";
    if (o->kind == ARG_INT) snprintf(buf, n, "%s in [%.0f, %.0f]", what, o->lo, o->hi);
    else snprintf(buf, n, "%s in [%g, %g]", what, o->lo, o->hi);
}

// Checks a number against its option; 0, or -1 with the message in err.
static int check_number(const ArgOpt *o, const char *v, double *out, char *err, size_t en) {
    char *end;
    errno = 0;
    double x;
    if (o->kind == ARG_INT) {
        long l = strtol(v, &end, 10);
        x = (double)l;
    } else {
        x = strtod(v, &end);
    }
    int ok = *v && !*end && errno != ERANGE && isfinite(x) && x >= o->lo && x <= o->hi;
    if (!ok) {
        char range[96];
        range_text(o, range, sizeof range);
        snprintf(err, en, "%s must be %s, not '%s'", o->name, range, v);
        return -1;
    }
    if (out) *out = x;
    return 0;
}

static void unknown_option(const ArgSpec *s, const char *arg, size_t len, char *err, size_t en) {
    const char *names[64];
    int n = 0;
    for (const ArgOpt *o = s->opts; o && o->name && n < 64; o++) names[n++] = o->name;
    char word[64];
    snprintf(word, sizeof word, "%.*s", (int)(len < 63 ? len : 63), arg);
    const char *near = suggest_nearest(word, names, n, suggest_max_dist(word));
    if (near) snprintf(err, en, "unknown option '%s' (did you mean %s?)", word, near);
    else snprintf(err, en, "unknown option '%s' (an argument that starts with '-' goes after --)", word);
}

// The next token at sc, into *t. 1 for a token, 0 at the end, -1 on an error (message in err).
static int scan_next(const ArgSpec *s, int argc, char **argv, Scan *sc, Token *t, char *err, size_t en) {
    while (sc->i < argc) {
        const char *arg = argv[sc->i];
        int text = s->text_after > 0 && sc->npos >= s->text_after;
        if (!sc->literal && !text && strcmp(arg, "--") == 0) {
            sc->literal = 1;
            sc->i++;
            continue;
        }
        if (sc->literal || text || arg[0] != '-' || arg[1] == 0) { // "-" alone is a value (stdout)
            t->opt = NULL;
            t->val = arg;
            sc->npos++;
            sc->i++;
            return 1;
        }
        // Only long options carry "=value"; "-x=1" is the unknown option "-x=1".
        const char *eq = arg[1] == '-' ? strchr(arg, '=') : NULL;
        size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
        const ArgOpt *o = find_opt(s, arg, len);
        if (!o) { unknown_option(s, arg, len, err, en); return -1; }
        t->opt = o;
        if (o->kind == ARG_FLAG) {
            if (eq) { snprintf(err, en, "%s takes no value (given '%s')", o->name, eq + 1); return -1; }
            t->val = NULL;
            sc->i++;
            return 1;
        }
        if (eq) {
            t->val = eq + 1;
            sc->i++;
        } else if (sc->i + 1 < argc) {
            t->val = argv[sc->i + 1];
            sc->i += 2;
        } else {
            snprintf(err, en, "%s needs a value", o->name);
            return -1;
        }
        if (o->kind != ARG_STR && check_number(o, t->val, NULL, err, en) != 0) return -1;
        return 1;
    }
    return 0;
}

static void print_error(const ArgSpec *s, const char *msg) {
    fprintf(stderr, "repae %s: %s\n", s->cmd, msg);
    if (s->usage) fputs(s->usage, stderr);
}

int args_parse(Args *a, const ArgSpec *spec, int argc, char **argv) {
    *a = (Args){spec, argc, argv, 0, 0};
    if (wants_help(argc, argv)) {
        if (spec->usage) fputs(spec->usage, stdout);
        a->status = 0;
        return -1;
    }
    Scan sc = {0};
    Token t;
    char err[512];
    int r;
    while ((r = scan_next(spec, argc, argv, &sc, &t, err, sizeof err)) > 0) {}
    if (r < 0) {
        print_error(spec, err);
        a->status = 2;
        return -1;
    }
    a->npos = sc.npos;
    return 0;
}

// ---- accessors ------------------------------------------------------------------------------

// The option called name, which the command's own table must list: reading one it does not
// list is a programming error (the option could never be given), caught at its first use.
static const ArgOpt *need_opt(const Args *a, const char *name) {
    const ArgOpt *o = find_opt(a->spec, name, strlen(name));
    if (!o) {
        fprintf(stderr, "repae %s: internal error: option %s is read but not in the command's table\n",
                a->spec->cmd, name);
        abort();
    }
    return o;
}

// The k-th value of opt (k < 0: the last); *count gets how many times it was given.
static const char *occurrence(const Args *a, const ArgOpt *opt, int k, int *count) {
    Scan sc = {0};
    Token t;
    char err[512];
    const char *found = NULL;
    int n = 0;
    while (scan_next(a->spec, a->argc, a->argv, &sc, &t, err, sizeof err) > 0) {
        if (t.opt != opt) continue;
        const char *v = t.val ? t.val : "";
        if (k < 0 || n == k) found = v;
        n++;
    }
    if (count) *count = n;
    return found;
}

const char *args_pos(const Args *a, int i) {
    Scan sc = {0};
    Token t;
    char err[512];
    int n = 0;
    while (scan_next(a->spec, a->argc, a->argv, &sc, &t, err, sizeof err) > 0)
        if (!t.opt && n++ == i) return t.val;
    return NULL;
}

int args_has(const Args *a, const char *name) {
    int n;
    occurrence(a, need_opt(a, name), -1, &n);
    return n;
}

const char *args_str(const Args *a, const char *name, const char *def) {
    const char *v = occurrence(a, need_opt(a, name), -1, NULL);
    return v ? v : def;
}

const char *args_nth(const Args *a, const char *name, int k) {
    return k < 0 ? NULL : occurrence(a, need_opt(a, name), k, NULL);
}

double args_num(const Args *a, const char *name, double def) {
    const ArgOpt *o = need_opt(a, name);
    if (o->kind != ARG_INT && o->kind != ARG_NUM) {
        fprintf(stderr, "repae %s: internal error: option %s is read as a number but its table says otherwise\n",
                a->spec->cmd, name);
        abort();
    }
    const char *v = occurrence(a, o, -1, NULL);
    double x;
    char err[512];
    // args_parse checked every value, so only an option never given falls back to def.
    return v && check_number(o, v, &x, err, sizeof err) == 0 ? x : def;
}

long args_long(const Args *a, const char *name, long def) {
    return (long)args_num(a, name, (double)def);
}

int args_usage_error(const Args *a, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    print_error(a->spec, msg);
    return 2;
}
