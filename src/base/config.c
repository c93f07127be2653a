// config.c: one table of keys drives the defaults, parsing, --set overrides, range messages
// and JSON output, so that a key added to the table is handled everywhere at once. The
// cross-field checks are in config_validate.c.
#include "base/config.h"
#include "base/config_keys.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/suggest.h"
#include "base/util.h"

typedef enum { K_INT, K_FLOAT, K_BOOL, K_STR, K_ENUM, K_INTARR, K_FLOAT2, K_STEPS } KeyType;

// Range flags: which bounds are exclusive.
enum { LO_OPEN = 1, HI_OPEN = 2 };

typedef struct {
    const char *path;
    const char *def;             // the default, written as `--set path=def` takes it
    KeyType type;
    size_t off;                  // offsetof(Config, field)
    size_t size;                 // string buffer size (K_STR, K_ENUM)
    double lo, hi;               // allowed range of numbers (each element for arrays)
    int open;                    // LO_OPEN | HI_OPEN
    const char *const *choices;  // K_ENUM, NULL-terminated
    // Keys added after runs were first stored: since = the key's config generation (0: as old
    // as the store), legacy = the value (JSON text) runs of earlier generations had. A run's
    // stored config is a config_to_json dump listing every key of its time, so a config that
    // gives every key of generations <= g but misses a key of generation > g was written at
    // generation g, and keys newer than that get their legacy value instead of the default:
    // resuming, sampling or evaluating an old run keeps the objective it was trained with.
    // Every key added later needs both (and config_parse keeps working for the old dumps).
    int since;
    const char *legacy;
} Key;

static const char *const DATASETS[] = {"shapes", "simple-shapes", "fashion-mnist", "folder", NULL};
static const char *const PATHS[] = {"linear", "cosine", NULL};
static const char *const PREDICTIONS[] = {"velocity", "noise", "score", NULL};
static const char *const TSAMPLING[] = {"uniform", "logit-normal", NULL};
static const char *const RECONS[] = {"l1", "mse", NULL};
static const char *const ALIGNS[] = {"none", "score", "repa", NULL};
static const char *const PRECISIONS[] = {"fp32", "bf16", NULL};
static const char *const SOLVERS[] = {"euler", "heun", "sde", NULL};
static const char *const KL_REDUCES[] = {"sum", "mean", NULL};
static const char *const VAE_BNS[] = {"running", "batch", NULL};
static const char *const ALIGN_TARGETS[] = {"ssl", "supervised", NULL};

#define O(f) offsetof(Config, f)
#define S(f) sizeof(((Config *)0)->f)
#define BIG 1e9
static const Key KEYS[] = {
    {"data.dataset", "shapes", K_ENUM, O(data.dataset), S(data.dataset), 0, 0, 0, DATASETS, 0, NULL},
    {"data.path", "", K_STR, O(data.path), S(data.path), 0, 0, 0, NULL, 0, NULL},
    {"data.image_size", "16", K_INT, O(data.image_size), 0, 2, 4096, 0, NULL, 0, NULL},
    {"data.channels", "3", K_INT, O(data.channels), 0, 1, 3, 0, NULL, 0, NULL},
    {"data.seed", "0", K_INT, O(data.seed), 0, 0, 2147483647.0, 0, NULL, 0, NULL},
    {"vae.ch", "[8,16]", K_INTARR, O(vae.ch), 0, 1, 4096, 0, NULL, 0, NULL},
    {"vae.num_res_blocks", "1", K_INT, O(vae.num_res_blocks), 0, 1, 16, 0, NULL, 0, NULL},
    {"vae.z_channels", "4", K_INT, O(vae.z_channels), 0, 1, 256, 0, NULL, 0, NULL},
    {"vae.groups", "4", K_INT, O(vae.groups), 0, 1, 4096, 0, NULL, 0, NULL},
    {"vae.mid_attn", "false", K_BOOL, O(vae.mid_attn), 0, 0, 0, 0, NULL, 0, NULL},
    {"vae.latent_bn", "false", K_BOOL, O(vae.latent_bn), 0, 0, 0, 0, NULL, 0, NULL},
    {"sit.hidden", "32", K_INT, O(sit.hidden), 0, 4, 16384, 0, NULL, 0, NULL},
    {"sit.depth", "2", K_INT, O(sit.depth), 0, 1, 128, 0, NULL, 0, NULL},
    {"sit.heads", "2", K_INT, O(sit.heads), 0, 1, 256, 0, NULL, 0, NULL},
    {"sit.patch", "2", K_INT, O(sit.patch), 0, 1, 64, 0, NULL, 0, NULL},
    {"sit.mlp_ratio", "4", K_FLOAT, O(sit.mlp_ratio), 0, 0, 64, LO_OPEN, NULL, 0, NULL},
    {"sit.num_classes", "0", K_INT, O(sit.num_classes), 0, 0, 1000000, 0, NULL, 0, NULL},
    {"sit.class_dropout", "0.1", K_FLOAT, O(sit.class_dropout), 0, 0, 1, HI_OPEN, NULL, 0, NULL},
    {"diffusion.path", "linear", K_ENUM, O(diffusion.path), S(diffusion.path), 0, 0, 0, PATHS, 0, NULL},
    {"diffusion.prediction", "velocity", K_ENUM, O(diffusion.prediction), S(diffusion.prediction), 0, 0, 0, PREDICTIONS, 0, NULL},
    {"diffusion.t_sampling", "uniform", K_ENUM, O(diffusion.t_sampling), S(diffusion.t_sampling), 0, 0, 0, TSAMPLING, 0, NULL},
    {"diffusion.grad_to_vae", "false", K_BOOL, O(diffusion.grad_to_vae), 0, 0, 0, 0, NULL, 0, NULL},
    {"loss.recon", "l1", K_ENUM, O(loss.recon), S(loss.recon), 0, 0, 0, RECONS, 0, NULL},
    {"loss.w_recon", "1", K_FLOAT, O(loss.w_recon), 0, 0, BIG, 0, NULL, 0, NULL},
    {"loss.w_kl", "1e-6", K_FLOAT, O(loss.w_kl), 0, 0, BIG, 0, NULL, 0, NULL},
    {"loss.w_diff", "1", K_FLOAT, O(loss.w_diff), 0, 0, BIG, 0, NULL, 0, NULL},
    {"loss.w_align", "0.5", K_FLOAT, O(loss.w_align), 0, 0, BIG, 0, NULL, 0, NULL},
    {"loss.w_smooth", "0", K_FLOAT, O(loss.w_smooth), 0, 0, BIG, 0, NULL, 0, NULL},
    {"loss.kl_reduce", "sum", K_ENUM, O(loss.kl_reduce), S(loss.kl_reduce), 0, 0, 0, KL_REDUCES, 1, "\"mean\""},
    // The GAN term (generation 2; runs from before it have none: w_gan 0).
    {"loss.w_gan", "0", K_FLOAT, O(loss.w_gan), 0, 0, BIG, 0, NULL, 2, "0"},
    // The perceptual term on the frozen target encoder (generation 2; runs from before: none).
    {"loss.w_perc", "0", K_FLOAT, O(loss.w_perc), 0, 0, BIG, 0, NULL, 2, "0"},
    {"loss.gan_start", "0", K_INT, O(loss.gan_start), 0, 0, BIG, 0, NULL, 2, "0"},
    {"disc.layers", "2", K_INT, O(disc.layers), 0, 1, 6, 0, NULL, 2, "2"},
    {"disc.ch", "32", K_INT, O(disc.ch), 0, 1, 4096, 0, NULL, 2, "32"},
    {"disc.lr", "1e-4", K_FLOAT, O(disc.lr), 0, 0, 10, LO_OPEN, NULL, 2, "1e-4"},
    {"align.kind", "none", K_ENUM, O(align.kind), S(align.kind), 0, 0, 0, ALIGNS, 0, NULL},
    {"align.depth", "1", K_INT, O(align.depth), 0, 1, 128, 0, NULL, 0, NULL},
    {"align.w_sit", "0.5", K_FLOAT, O(align.w_sit), 0, 0, BIG, 0, NULL, 0, NULL},
    {"align.w_vae", "1.5", K_FLOAT, O(align.w_vae), 0, 0, BIG, 0, NULL, 0, NULL},
    {"align.encoder", "", K_STR, O(align.encoder), S(align.encoder), 0, 0, 0, NULL, 0, NULL},
    {"align.target", "ssl", K_ENUM, O(align.target), S(align.target), 0, 0, 0, ALIGN_TARGETS, 2, "\"supervised\""},
    {"align.projector_dim", "64", K_INT, O(align.projector_dim), 0, 1, 65536, 0, NULL, 0, NULL},
    {"align.vae_bn", "running", K_ENUM, O(align.vae_bn), S(align.vae_bn), 0, 0, 0, VAE_BNS, 1, "\"running\""},
    {"train.steps", "1000", K_INT, O(train.steps), 0, 1, BIG, 0, NULL, 0, NULL},
    {"train.batch_size", "8", K_INT, O(train.batch_size), 0, 1, 65536, 0, NULL, 0, NULL},
    {"train.lr", "1e-4", K_FLOAT, O(train.lr), 0, 0, 10, LO_OPEN, NULL, 0, NULL},
    {"train.lr_vae", "0", K_FLOAT, O(train.lr_vae), 0, -BIG, 10, 0, NULL, 0, NULL},
    {"train.warmup", "0", K_INT, O(train.warmup), 0, 0, BIG, 0, NULL, 0, NULL},
    {"train.clip", "1", K_FLOAT, O(train.clip), 0, 0, BIG, 0, NULL, 0, NULL},
    {"train.ema", "0.9999", K_FLOAT, O(train.ema), 0, 0, 1, HI_OPEN, NULL, 0, NULL},
    {"train.ema_warmup", "true", K_BOOL, O(train.ema_warmup), 0, 0, 0, 0, NULL, 1, "false"},
    {"train.vae", "true", K_BOOL, O(train.train_vae), 0, 0, 0, 0, NULL, 0, NULL},
    {"train.sit", "true", K_BOOL, O(train.train_sit), 0, 0, 0, 0, NULL, 0, NULL},
    {"train.seed", "0", K_INT, O(train.seed), 0, 0, 2147483647.0, 0, NULL, 0, NULL},
    {"train.threads", "0", K_INT, O(train.threads), 0, 0, 1024, 0, NULL, 0, NULL},
    {"train.precision", "fp32", K_ENUM, O(train.precision), S(train.precision), 0, 0, 0, PRECISIONS, 2, "\"fp32\""},
    {"train.log_every", "10", K_INT, O(train.log_every), 0, 1, BIG, 0, NULL, 0, NULL},
    {"train.sample_every", "500", K_INT, O(train.sample_every), 0, 0, BIG, 0, NULL, 0, NULL},
    {"train.ckpt_every", "1000", K_INT, O(train.ckpt_every), 0, 0, BIG, 0, NULL, 0, NULL},
    // Checkpoints kept for later evaluation (generation 2; runs from before keep only the newest).
    {"train.ckpt_keep", "[]", K_STEPS, O(train.ckpt_keep), 0, 1, BIG, 0, NULL, 2, "[]"},
    {"train.eval_every", "0", K_INT, O(train.eval_every), 0, 0, BIG, 0, NULL, 1, "0"},
    {"train.eval_n", "500", K_INT, O(train.eval_n), 0, 2, 100000, 0, NULL, 1, "500"},
    {"init.vae", "", K_STR, O(init.vae), S(init.vae), 0, 0, 0, NULL, 0, NULL},
    {"init.sit", "", K_STR, O(init.sit), S(init.sit), 0, 0, 0, NULL, 0, NULL},
    {"sample.steps", "50", K_INT, O(sample.steps), 0, 1, 100000, 0, NULL, 0, NULL},
    {"sample.solver", "euler", K_ENUM, O(sample.solver), S(sample.solver), 0, 0, 0, SOLVERS, 0, NULL},
    {"sample.cfg", "1", K_FLOAT, O(sample.cfg), 0, 0, 1000, 0, NULL, 0, NULL},
    {"sample.cfg_interval", "[0,1]", K_FLOAT2, O(sample.cfg_interval), 0, 0, 1, 0, NULL, 0, NULL},
    {"sample.n", "16", K_INT, O(sample.n), 0, 1, 1024, 0, NULL, 0, NULL},
};
#undef O
#undef S
#define NKEYS ((int)(sizeof KEYS / sizeof KEYS[0]))

static const char *const SECTIONS[] = {"data", "vae", "sit", "diffusion", "loss", "disc", "align", "train", "init", "sample"};
#define NSECTIONS ((int)(sizeof SECTIONS / sizeof SECTIONS[0]))

static void setstr(char *dst, size_t size, const char *src) {
    // Zero-fill so that two equal configs are equal byte for byte.
    memset(dst, 0, size);
    strncpy(dst, src, size - 1);
}

// ---- key lookup and suggestions -------------------------------------------------------------

int config_nkeys(void) { return NKEYS; }
const char *config_key_path(int i) { return i >= 0 && i < NKEYS ? KEYS[i].path : NULL; }

int config_key_find(const char *path) {
    for (int i = 0; i < NKEYS; i++)
        if (strcmp(KEYS[i].path, path) == 0) return i;
    return -1;
}

static const char *leaf_of(const char *path) {
    const char *d = strchr(path, '.');
    return d ? d + 1 : path;
}

// The valid key nearest to an unknown one: by whole path, or by the part after the dot
// (so "vae.hidden" finds "sit.hidden" when the leaf is right but the section wrong).
static const char *nearest_key(const char *path) {
    int best = 1 << 30;
    const char *bk = KEYS[0].path;
    for (int i = 0; i < NKEYS; i++) {
        int d = edit_distance(path, KEYS[i].path);
        int dl = edit_distance(leaf_of(path), leaf_of(KEYS[i].path)) + 1;
        if (dl < d) d = dl;
        if (d < best) { best = d; bk = KEYS[i].path; }
    }
    return bk;
}

static int section_known(const char *name) {
    for (int i = 0; i < NSECTIONS; i++)
        if (strcmp(SECTIONS[i], name) == 0) return 1;
    return 0;
}

static const char *nearest_section(const char *name) {
    int best = 1 << 30;
    const char *bs = SECTIONS[0];
    for (int i = 0; i < NSECTIONS; i++) {
        int d = edit_distance(name, SECTIONS[i]);
        if (d < best) { best = d; bs = SECTIONS[i]; }
    }
    return bs;
}

// ---- setting one key from a JSON value ------------------------------------------------------

static void range_text(const Key *k, char *buf, size_t n) {
    int isint = k->type == K_INT || k->type == K_INTARR || k->type == K_STEPS;
    char lo[32], hi[32];
    if (isint) {
        snprintf(lo, sizeof lo, "%.0f", k->lo);
        snprintf(hi, sizeof hi, "%.0f", k->hi);
    } else {
        snprintf(lo, sizeof lo, "%g", k->lo);
        snprintf(hi, sizeof hi, "%g", k->hi);
    }
    if (k->hi >= BIG && k->lo <= -BIG) snprintf(buf, n, "any number");
    else if (k->hi >= BIG) snprintf(buf, n, "%s %s", k->open & LO_OPEN ? ">" : ">=", lo);
    else snprintf(buf, n, "in %c%s, %s%c", k->open & LO_OPEN ? '(' : '[', lo, hi, k->open & HI_OPEN ? ')' : ']');
}

static int in_range(const Key *k, double v) {
    if (!isfinite(v)) return 0;
    if (k->open & LO_OPEN ? !(v > k->lo) : !(v >= k->lo)) return 0;
    if (k->open & HI_OPEN ? !(v < k->hi) : !(v <= k->hi)) return 0;
    return 1;
}

static int is_integral(double v) { return isfinite(v) && v == floor(v) && fabs(v) < 2147483648.0; }

static void choices_text(const Key *k, char *buf, size_t n) {
    buf[0] = 0;
    size_t used = 0;
    for (int i = 0; k->choices[i]; i++) {
        int w = snprintf(buf + used, n - used, "%s\"%s\"", i ? (k->choices[i + 1] ? ", " : " or ") : "", k->choices[i]);
        if (w < 0 || (size_t)w >= n - used) break;
        used += (size_t)w;
    }
}

// Applies v to key k of c. `where` prefixes messages ("configs/x.json: " or "--set ").
static int set_key(Config *c, const Key *k, const cJSON *v, const char *where, char *err) {
    char *base = (char *)c + k->off;
    char allowed[256];
    switch (k->type) {
    case K_INT: {
        range_text(k, allowed, sizeof allowed);
        if (!cJSON_IsNumber(v) || !is_integral(v->valuedouble))
            return seterr(err, "%s%s: must be an integer %s", where, k->path, allowed);
        if (!in_range(k, v->valuedouble))
            return seterr(err, "%s%s: %.0f is out of range: must be an integer %s", where, k->path, v->valuedouble, allowed);
        *(int *)base = (int)v->valuedouble;
        return 0;
    }
    case K_FLOAT: {
        range_text(k, allowed, sizeof allowed);
        if (!cJSON_IsNumber(v)) return seterr(err, "%s%s: must be a number %s", where, k->path, allowed);
        if (!in_range(k, v->valuedouble))
            return seterr(err, "%s%s: %g is out of range: must be a number %s", where, k->path, v->valuedouble, allowed);
        *(float *)base = (float)v->valuedouble;
        return 0;
    }
    case K_BOOL:
        if (!cJSON_IsBool(v)) return seterr(err, "%s%s: must be true or false", where, k->path);
        *(int *)base = cJSON_IsTrue(v) ? 1 : 0;
        return 0;
    case K_STR:
        if (!cJSON_IsString(v)) return seterr(err, "%s%s: must be a string", where, k->path);
        if (strlen(v->valuestring) >= k->size)
            return seterr(err, "%s%s: is %zu characters long; at most %zu are allowed", where, k->path,
                          strlen(v->valuestring), k->size - 1);
        setstr(base, k->size, v->valuestring);
        return 0;
    case K_ENUM:
        choices_text(k, allowed, sizeof allowed);
        if (!cJSON_IsString(v)) return seterr(err, "%s%s: must be one of %s", where, k->path, allowed);
        for (int i = 0; k->choices[i]; i++)
            if (strcmp(v->valuestring, k->choices[i]) == 0) {
                setstr(base, k->size, v->valuestring);
                return 0;
            }
        return seterr(err, "%s%s: \"%s\" is not allowed: must be one of %s", where, k->path, v->valuestring, allowed);
    case K_INTARR: {
        // Only vae.ch has this type; its length lives in vae.nlevels.
        range_text(k, allowed, sizeof allowed);
        int n = cJSON_GetArraySize(v);
        if (!cJSON_IsArray(v) || n < 1 || n > CFG_MAXLEVELS)
            return seterr(err, "%s%s: must be an array of 1 to %d integers %s, e.g. [8, 16]", where, k->path,
                          CFG_MAXLEVELS, allowed);
        int vals[CFG_MAXLEVELS];
        for (int i = 0; i < n; i++) {
            const cJSON *e = cJSON_GetArrayItem(v, i);
            if (!cJSON_IsNumber(e) || !is_integral(e->valuedouble) || !in_range(k, e->valuedouble))
                return seterr(err, "%s%s[%d]: must be an integer %s", where, k->path, i, allowed);
            vals[i] = (int)e->valuedouble;
        }
        int *arr = (int *)base;
        for (int i = 0; i < CFG_MAXLEVELS; i++) arr[i] = i < n ? vals[i] : 0;
        c->vae.nlevels = n;
        return 0;
    }
    case K_STEPS: {
        // A list of steps, possibly empty; config_validate asks for ascending order.
        range_text(k, allowed, sizeof allowed);
        int n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : -1;
        if (n < 0 || n > CFG_MAXSTEPS)
            return seterr(err, "%s%s: must be an array of at most %d steps %s, e.g. [250, 500, 1000] ([] = none)",
                          where, k->path, CFG_MAXSTEPS, allowed);
        CfgSteps st = {n, {0}};
        for (int i = 0; i < n; i++) {
            const cJSON *e = cJSON_GetArrayItem(v, i);
            if (!cJSON_IsNumber(e) || !is_integral(e->valuedouble) || !in_range(k, e->valuedouble))
                return seterr(err, "%s%s[%d]: must be an integer step %s", where, k->path, i, allowed);
            st.step[i] = (int)e->valuedouble;
        }
        memcpy(base, &st, sizeof st);
        return 0;
    }
    case K_FLOAT2: {
        range_text(k, allowed, sizeof allowed);
        if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2)
            return seterr(err, "%s%s: must be an array of 2 numbers %s, e.g. [0, 1]", where, k->path, allowed);
        float vals[2];
        for (int i = 0; i < 2; i++) {
            const cJSON *e = cJSON_GetArrayItem(v, i);
            if (!cJSON_IsNumber(e) || !in_range(k, e->valuedouble))
                return seterr(err, "%s%s[%d]: must be a number %s", where, k->path, i, allowed);
            vals[i] = (float)e->valuedouble;
        }
        memcpy(base, vals, sizeof vals);
        return 0;
    }
    }
    return seterr(err, "%s%s: internal error: unknown key type", where, k->path);
}

static int unknown_key(const char *path, const char *where, char *err) {
    char sect[64];
    const char *dot = strchr(path, '.');
    size_t sl = dot ? (size_t)(dot - path) : strlen(path);
    if (sl >= sizeof sect) sl = sizeof sect - 1;
    memcpy(sect, path, sl);
    sect[sl] = 0;
    if (!section_known(sect) && !dot)
        return seterr(err, "%sunknown section \"%s\" (did you mean \"%s\"?)", where, sect, nearest_section(sect));
    return seterr(err, "%sunknown key \"%s\" (did you mean \"%s\"?)", where, path, nearest_key(path));
}

// ---- parsing --------------------------------------------------------------------------------

static void line_col(const char *text, const char *at, int *line, int *col) {
    *line = 1;
    *col = 1;
    for (const char *p = text; p < at && *p; p++) {
        if (*p == '\n') { (*line)++; *col = 1; }
        else (*col)++;
    }
}

// The generation of a parsed config (Key.since): the largest g such that it gives every key of
// generations <= g. A partial config (a recipe file listing what it changes) is of none (-1) and
// gets the defaults; a complete dump of generation g gets the legacy values of newer keys.
static int apply_legacy(Config *c, const char *seen, const char *where, char *err) {
    int maxgen = 0;
    for (int i = 0; i < NKEYS; i++)
        if (KEYS[i].since > maxgen) maxgen = KEYS[i].since;
    int gen = -1;
    for (int g = 0; g <= maxgen; g++) {
        int all = 1;
        for (int i = 0; i < NKEYS && all; i++)
            if (KEYS[i].since == g && !seen[i]) all = 0;
        if (!all) break;
        gen = g;
    }
    if (gen < 0) return 0;
    for (int i = 0; i < NKEYS; i++) {
        if (KEYS[i].since <= gen || seen[i]) continue;
        cJSON *v = KEYS[i].legacy ? cJSON_Parse(KEYS[i].legacy) : NULL;
        int rc = v ? set_key(c, &KEYS[i], v, where, err)
                   : seterr(err, "%s%s: internal error: no legacy value for a key of generation %d", where,
                            KEYS[i].path, KEYS[i].since);
        cJSON_Delete(v);
        if (rc) return rc;
    }
    return 0;
}

int config_parse(Config *c, const char *json, const char *origin, char *err) {
    char where[CFG_STRLEN + 8];
    snprintf(where, sizeof where, "%s: ", origin ? origin : "config");
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(json, &end, 1);
    if (!root) {
        int line, col;
        const char *at = end ? end : json + strlen(json);
        line_col(json, at, &line, &col);
        // cJSON stops just past the offending token: quote the line up to there.
        const char *from = at;
        while (from > json && from[-1] != '\n' && at - from < 40) from--;
        while (from < at && (*from == ' ' || *from == '\t')) from++;
        if (!*at)
            return seterr(err, "%s:%d:%d: malformed JSON: the text ends early (an unclosed { [ or \"?)",
                          origin ? origin : "config", line, col);
        if (from < at)
            return seterr(err, "%s:%d:%d: malformed JSON after \"%.*s\" (a stray or missing , : \" } or ]?)",
                          origin ? origin : "config", line, col, (int)(at - from), from);
        return seterr(err, "%s:%d:%d: malformed JSON (an unclosed { [ or \", or not JSON at all?)",
                      origin ? origin : "config", line, col);
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return seterr(err, "%sthe config must be one JSON object {...}", where);
    }
    // Work on a copy so a failed parse leaves *c untouched.
    Config tmp = *c;
    char seen[NKEYS];
    memset(seen, 0, sizeof seen);
    int rc = 0;
    for (const cJSON *sec = root->child; sec && rc == 0; sec = sec->next) {
        if (!section_known(sec->string)) {
            // A dotted key at the top level ("train.steps": 10) is a common slip: say so.
            if (config_key_find(sec->string) >= 0)
                rc = seterr(err, "%s\"%s\" must be written nested, as {\"%.*s\": {\"%s\": ...}}", where, sec->string,
                            (int)(strchr(sec->string, '.') - sec->string), sec->string, leaf_of(sec->string));
            else
                rc = seterr(err, "%sunknown section \"%s\" (did you mean \"%s\"?)", where, sec->string,
                            nearest_section(sec->string));
            break;
        }
        if (!cJSON_IsObject(sec)) {
            rc = seterr(err, "%s%s: must be an object of keys, e.g. \"%s\": {...}", where, sec->string, sec->string);
            break;
        }
        for (const cJSON *kv = sec->child; kv; kv = kv->next) {
            char path[128];
            snprintf(path, sizeof path, "%s.%s", sec->string, kv->string);
            int ki = config_key_find(path);
            if (ki < 0) { rc = unknown_key(path, where, err); break; }
            if (seen[ki]) { rc = seterr(err, "%s%s: given twice", where, path); break; }
            seen[ki] = 1;
            if ((rc = set_key(&tmp, &KEYS[ki], kv, where, err)) != 0) break;
        }
    }
    if (rc == 0) rc = apply_legacy(&tmp, seen, where, err);
    cJSON_Delete(root);
    if (rc == 0) *c = tmp;
    return rc;
}

int config_load(Config *c, const char *path, char *err) {
    size_t len;
    // read_file's message already names the file: passed on as is, the path said once.
    char *text = read_file(path, &len, err);
    if (!text) return -1;
    if (strlen(text) != len) {
        free(text);
        return seterr(err, "%s: contains a NUL byte: not a JSON text file", path);
    }
    int rc = config_parse(c, text, path, err);
    free(text);
    return rc;
}

// One value written as `--set` takes it: JSON, except that a bare word is a string, and so is
// anything given to a string-valued key (a path "123").
static int set_text(Config *c, const Key *k, const char *val, const char *where, char *err) {
    cJSON *v = cJSON_Parse(val);
    if (!v || ((k->type == K_STR || k->type == K_ENUM) && !cJSON_IsString(v))) {
        cJSON_Delete(v);
        v = cJSON_CreateString(val);
    }
    Config tmp = *c;
    int rc = set_key(&tmp, k, v, where, err);
    cJSON_Delete(v);
    if (rc == 0) *c = tmp;
    return rc;
}

int config_set(Config *c, const char *assignment, char *err) {
    const char *eq = strchr(assignment, '=');
    if (!eq || eq == assignment)
        return seterr(err, "--set \"%s\": expected key.path=value, e.g. train.steps=100", assignment);
    char path[128];
    size_t pl = (size_t)(eq - assignment);
    if (pl >= sizeof path) return seterr(err, "--set: key \"%.*s\" is too long", (int)pl, assignment);
    memcpy(path, assignment, pl);
    path[pl] = 0;
    int ki = config_key_find(path);
    if (ki < 0) return unknown_key(path, "--set: ", err);
    return set_text(c, &KEYS[ki], eq + 1, "--set ", err);
}

void config_defaults(Config *c) {
    memset(c, 0, sizeof *c);
    for (int i = 0; i < NKEYS; i++) {
        char err[ERRLEN];
        // Through the same checks as a user's value: a default out of its own range is a
        // programming error, caught by the first test that makes a Config.
        if (set_text(c, &KEYS[i], KEYS[i].def, "the default of ", err) != 0) {
            fprintf(stderr, "repae: internal error in config.c: %s\n", err);
            abort();
        }
    }
}

int config_check_keys(const Config *c, char *err) {
    char e[ERRLEN];
    for (int i = 0; i < NKEYS; i++) {
        const Key *k = &KEYS[i];
        char buf[6 * CFG_STRLEN + 64]; // room for escaped control characters
        config_key_value(c, i, CFG_JSON, buf, sizeof buf);
        cJSON *v = cJSON_Parse(buf);
        Config tmp = *c;
        int rc = v ? set_key(&tmp, k, v, "", e) : seterr(e, "%s: unprintable value", k->path);
        cJSON_Delete(v);
        if (rc) return seterr(err, "%s", e);
    }
    return 0;
}

// ---- output ---------------------------------------------------------------------------------

// The shortest decimal that reads back as the same float, as a double: cJSON then prints
// "0.0001" rather than the float's exact binary value "9.9999997473787516e-05".
static double short_double(float f) {
    char buf[40];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
        if (strtof(buf, NULL) == f) break;
    }
    return strtod(buf, NULL);
}

static cJSON *key_json(const Config *c, const Key *k) {
    const char *base = (const char *)c + k->off;
    switch (k->type) {
    case K_INT: return cJSON_CreateNumber(*(const int *)base);
    case K_FLOAT: return cJSON_CreateNumber(short_double(*(const float *)base));
    case K_BOOL: return cJSON_CreateBool(*(const int *)base);
    case K_STR:
    case K_ENUM: {
        char tmp[CFG_STRLEN + 1];
        size_t n = strnlen(base, k->size);
        memcpy(tmp, base, n);
        tmp[n] = 0;
        return cJSON_CreateString(tmp);
    }
    case K_INTARR: {
        cJSON *a = cJSON_CreateArray();
        int n = c->vae.nlevels < 0 ? 0 : c->vae.nlevels > CFG_MAXLEVELS ? CFG_MAXLEVELS : c->vae.nlevels;
        for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(((const int *)base)[i]));
        return a;
    }
    case K_STEPS: {
        const CfgSteps *st = (const CfgSteps *)base;
        cJSON *a = cJSON_CreateArray();
        int n = st->n < 0 ? 0 : st->n > CFG_MAXSTEPS ? CFG_MAXSTEPS : st->n;
        for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(st->step[i]));
        return a;
    }
    case K_FLOAT2: {
        cJSON *a = cJSON_CreateArray();
        for (int i = 0; i < 2; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(short_double(((const float *)base)[i])));
        return a;
    }
    }
    return cJSON_CreateNull();
}

void config_key_value(const Config *c, int i, CfgValueStyle style, char *buf, size_t n) {
    if (n == 0) return;
    buf[0] = 0;
    if (i < 0 || i >= NKEYS) return;
    cJSON *v = key_json(c, &KEYS[i]);
    if (style == CFG_TEXT && cJSON_IsString(v) && v->valuestring[0]) {
        snprintf(buf, n, "%s", v->valuestring);
    } else {
        char *s = cJSON_PrintUnformatted(v);
        if (s) snprintf(buf, n, "%s", s);
        cJSON_free(s);
    }
    cJSON_Delete(v);
}

char *config_to_json(const Config *c) {
    cJSON *root = cJSON_CreateObject();
    for (int si = 0; si < NSECTIONS; si++) {
        cJSON *sec = cJSON_CreateObject();
        size_t sl = strlen(SECTIONS[si]);
        for (int i = 0; i < NKEYS; i++)
            if (strncmp(KEYS[i].path, SECTIONS[si], sl) == 0 && KEYS[i].path[sl] == '.')
                cJSON_AddItemToObject(sec, KEYS[i].path + sl + 1, key_json(c, &KEYS[i]));
        cJSON_AddItemToObject(root, SECTIONS[si], sec);
    }
    char *s = cJSON_Print(root);
    cJSON_Delete(root);
    if (!s) return NULL;
    // Hand the caller memory from our allocator so that free() is always right.
    char *out = xstrdup(s);
    cJSON_free(s);
    return out;
}

int config_equal(const Config *a, const Config *b) {
    char va[6 * CFG_STRLEN + 64], vb[6 * CFG_STRLEN + 64];
    for (int i = 0; i < NKEYS; i++) {
        config_key_value(a, i, CFG_JSON, va, sizeof va);
        config_key_value(b, i, CFG_JSON, vb, sizeof vb);
        if (strcmp(va, vb) != 0) return 0;
    }
    return 1;
}
