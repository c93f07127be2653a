// runs_filter.c: see runs_filter.h.
#include "ui/runs_filter.h"
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/config_keys.h"
#include "base/metrics.h"
#include "ui/chart.h"
#include "ui/screens.h"
#include "base/util.h"

enum { RF_WORD, RF_STATUS, RF_TAG, RF_NAME, RF_ID, RF_CMP };
enum { RF_EQ, RF_NE, RF_LT, RF_LE, RF_GT, RF_GE };

int ui_config_key(const char *name) {
    int k = config_key_find(name);
    if (k >= 0) return k;
    char tr[96]; // train.* first: "lr" is the training's, not the discriminator's disc.lr
    snprintf(tr, sizeof tr, "train.%s", name);
    if ((k = config_key_find(tr)) >= 0) return k;
    for (int i = 0; i < config_nkeys(); i++) {
        const char *p = config_key_path(i), *dot = strrchr(p, '.');
        if (!strcmp(dot ? dot + 1 : p, name)) return i;
    }
    return -1;
}

const UiLatest *ui_run_metric(const UiRun *r, const char *name) {
    const UiLatest *l = ui_run_latest(r, name);
    if (l) return l;
    char ev[64];
    snprintf(ev, sizeof ev, "eval.%s", name);
    if ((l = ui_run_latest(r, ev))) return l;
    for (int i = 0; i < r->nlatest; i++) {
        const Metric *m = metric_find(r->latest[i].key);
        if (m && m->label && !strcasecmp(m->label, name)) return &r->latest[i];
    }
    return NULL;
}

static int parse_num(const char *s, double *v) {
    char *end;
    *v = strtod(s, &end);
    return *s && end != s && *end == 0;
}

static int parse_term(RfTerm *t, const char *tok, char *err, size_t n) {
    memset(t, 0, sizeof *t);
    t->cfg = -1;
    if (*tok == '!') { t->neg = 1; tok++; }
    if (!*tok) { snprintf(err, n, "'!' needs a term after it"); return -1; }
    static const struct { const char *pre; int kind; } fields[] = {
        {"status:", RF_STATUS}, {"tag:", RF_TAG}, {"name:", RF_NAME}, {"id:", RF_ID}};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        size_t l = strlen(fields[i].pre);
        if (!strncmp(tok, fields[i].pre, l)) {
            t->kind = fields[i].kind;
            snprintf(t->val, sizeof t->val, "%s", tok + l);
            if (!t->val[0]) { snprintf(err, n, "'%s' needs a value, e.g. %sdone", fields[i].pre, fields[i].pre); return -1; }
            if (t->kind == RF_ID && !parse_num(t->val, &t->num)) { snprintf(err, n, "id:%s: an id is a number", t->val); return -1; }
            return 0;
        }
    }
    const char *op = strpbrk(tok, "<>=!");
    if (!op) { t->kind = RF_WORD; snprintf(t->val, sizeof t->val, "%s", tok); return 0; }
    t->kind = RF_CMP;
    int kl = (int)(op - tok), ol;
    if (op[0] == '!' && op[1] == '=') { t->op = RF_NE; ol = 2; }
    else if (op[0] == '<') { t->op = op[1] == '=' ? RF_LE : RF_LT; ol = op[1] == '=' ? 2 : 1; }
    else if (op[0] == '>') { t->op = op[1] == '=' ? RF_GE : RF_GT; ol = op[1] == '=' ? 2 : 1; }
    else if (op[0] == '=') { t->op = RF_EQ; ol = op[1] == '=' ? 2 : 1; }
    else { snprintf(err, n, "'%s': '!' goes before a term or in '!='", tok); return -1; }
    if (kl == 0 || kl >= (int)sizeof t->key) { snprintf(err, n, "'%s': a comparison is key<op>value, e.g. lr>=1e-3", tok); return -1; }
    snprintf(t->key, sizeof t->key, "%.*s", kl, tok);
    snprintf(t->val, sizeof t->val, "%s", op + ol);
    if (!t->val[0]) { snprintf(err, n, "'%s' needs a value after the operator", tok); return -1; }
    t->isnum = parse_num(t->val, &t->num);
    if (!t->isnum && t->op != RF_EQ && t->op != RF_NE) {
        snprintf(err, n, "'%s': < and > take numbers (text compares only with = and !=)", tok);
        return -1;
    }
    t->cfg = ui_config_key(t->key);
    return 0;
}

int runs_filter_parse(RunsFilter *f, const char *text, char *err, size_t n) {
    memset(f, 0, sizeof *f);
    char buf[512];
    snprintf(buf, sizeof buf, "%s", text);
    for (char *save = NULL, *tok = strtok_r(buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
        if (f->n == RF_MAXTERMS) { snprintf(err, n, "at most %d terms", RF_MAXTERMS); return -1; }
        if (parse_term(&f->t[f->n], tok, err, n)) return -1;
        if (f->t[f->n].cfg >= 0) f->needs_config = 1;
        f->n++;
    }
    return 0;
}

static int has_tag(const char *tags, const char *tag) {
    size_t l = strlen(tag);
    for (const char *p = tags; *p;) {
        const char *e = strchr(p, ',');
        size_t tl = e ? (size_t)(e - p) : strlen(p);
        if (tl == l && !strncasecmp(p, tag, l)) return 1;
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

static int cmp_num(int op, double a, double b) {
    switch (op) {
    case RF_EQ: return a == b;
    case RF_NE: return a != b;
    case RF_LT: return a < b;
    case RF_LE: return a <= b;
    case RF_GT: return a > b;
    default: return a >= b;
    }
}

static int term_holds(const RfTerm *t, const UiRun *r, const Config *cfg) {
    switch (t->kind) {
    case RF_WORD: return ui_contains(r->name, t->val) || ui_contains(r->status, t->val) || ui_contains(r->tags, t->val) ||
                         ui_contains(r->notes, t->val);
    case RF_STATUS: return !strncasecmp(r->status, t->val, strlen(t->val));
    case RF_TAG: return has_tag(r->tags, t->val);
    case RF_NAME: return ui_contains(r->name, t->val);
    case RF_ID: return (double)r->id == t->num;
    }
    // a metric first (the values that change), then the config
    const UiLatest *l = ui_run_metric(r, t->key);
    if (l) return t->isnum ? isfinite(l->last) && cmp_num(t->op, l->last, t->num) : 0;
    if (t->cfg < 0 || !cfg) return 0; // a run without the value does not match
    char v[4 * CFG_STRLEN];
    config_key_value(cfg, t->cfg, CFG_TEXT, v, sizeof v);
    double x;
    if (t->isnum && parse_num(v, &x)) return cmp_num(t->op, x, t->num);
    if (!strcmp(v, "true") || !strcmp(v, "false")) { // booleans also as 1/0
        if (t->isnum) return cmp_num(t->op, !strcmp(v, "true"), t->num);
    }
    int eq = !strcasecmp(v, t->val);
    return t->op == RF_EQ ? eq : t->op == RF_NE ? !eq : 0;
}

int runs_filter_match(const RunsFilter *f, const UiRun *r, const Config *cfg) {
    for (int i = 0; i < f->n; i++)
        if (term_holds(&f->t[i], r, cfg) == f->t[i].neg) return 0;
    return 1;
}

const Config *run_configs_get(RunConfigs *c, UiBackend *m, int64_t id) {
    for (int i = 0; i < c->n; i++) if (c->id[i] == id) return c->cfg[i];
    c->id = xrealloc(c->id, sizeof(int64_t) * (size_t)(c->n + 1));
    c->cfg = xrealloc(c->cfg, sizeof(Config *) * (size_t)(c->n + 1));
    Config *cfg = xmalloc(sizeof *cfg);
    char *json = NULL, err[ERRLEN];
    config_defaults(cfg);
    if (m->ops->config(m, id, &json, err) || config_parse(cfg, json, "the run's stored config", err)) {
        free(cfg);
        cfg = NULL; // remembered as unreadable: not asked again on every keystroke
    }
    free(json);
    c->id[c->n] = id;
    c->cfg[c->n++] = cfg;
    return cfg;
}

void run_configs_free(RunConfigs *c) {
    for (int i = 0; i < c->n; i++) free(c->cfg[i]);
    free(c->id);
    free(c->cfg);
    memset(c, 0, sizeof *c);
}

void ui_run_value(const UiRun *r, const Config *cfg, const char *name, int best, char *out, int w) {
    const UiLatest *l = ui_run_metric(r, name);
    if (l) {
        MetricBetter b = metric_better(l->key);
        double v = !best || b == BETTER_NEITHER ? l->last : b == BETTER_HIGHER ? l->max : l->min;
        chart_fmt(v, out, w);
        return;
    }
    int k = ui_config_key(name);
    if (k >= 0 && cfg) {
        char v[4 * CFG_STRLEN];
        config_key_value(cfg, k, CFG_TEXT, v, sizeof v);
        double x;
        if (parse_num(v, &x) && (int)strlen(v) > w) chart_fmt(x, out, w);
        else snprintf(out, (size_t)w + 1, "%s", v);
        return;
    }
    snprintf(out, (size_t)w + 1, "-");
}

int ui_value_known(const UiRun *runs, int n, const char *name) {
    if (ui_config_key(name) >= 0 || metric_find(name)) return 1;
    for (int i = 0; i < n; i++) if (ui_run_metric(&runs[i], name)) return 1;
    return 0;
}
